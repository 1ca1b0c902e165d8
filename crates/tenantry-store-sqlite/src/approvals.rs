//! Approval requests, break-glass grants and routing rules on SQLite. An
//! approval's record is the JSON of [`Approval`] in `body`, written with
//! the columns lists filter on from the same value. Every change reads the
//! approval in the write transaction (`BEGIN IMMEDIATE` keeps every other
//! writer out), applies the rule of core and writes the result with one
//! audit event per new history entry.

use async_trait::async_trait;
use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteRow;
use tenantry_core::approval::{
    Approval, ApprovalChange, ApprovalFilter, ApprovalKind, ApprovalRouting, ApprovalState, NewApproval,
    RoutingRule, acting_user, open_approval,
};
use tenantry_core::decision::{NewestFirstCursor, RecordKey};
use tenantry_core::relationship::timestamp_micros;
use tenantry_core::{
    ApprovalId, ApprovalStore, Error, Page, PageRequest, PlatformScope, Result, TenantId, TenantScope,
    Timestamp, audit,
};

use crate::audit::{Write, WriteScope};
use crate::decisions::{find_decision, workspace_condition, workspace_ids};
use crate::error::{Operation, map_database_error};
use crate::groups::GROUPS;
use crate::rows::{decode, invalid_stored_value};
use crate::{SqliteStore, json_id_array, overfetch_limit};

fn approval_body(row: &SqliteRow) -> Result<Approval> {
    let body: String = decode(row, "body")?;
    serde_json::from_str(&body).map_err(|error| invalid_stored_value("body", error))
}

/// Writes an approval: its columns and its body, from the same value.
async fn put_approval(
    connection: &mut SqliteConnection,
    approval: &Approval,
    operation: Operation,
) -> Result<()> {
    let body = serde_json::to_string(approval).map_err(Error::internal)?;
    sqlx::query(
        "INSERT INTO approvals (tenant_id, id, workspace_id, decision_id, state, approver_group, \
         required_approvals, requested_by, requested_at, expires_at, awaiting_review, updated_at, body) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
         ON CONFLICT (tenant_id, id) DO UPDATE SET state = excluded.state, \
         awaiting_review = excluded.awaiting_review, updated_at = excluded.updated_at, body = excluded.body",
    )
    .bind(approval.tenant_id.to_string())
    .bind(approval.id.to_string())
    .bind(approval.workspace_id.to_string())
    .bind(approval.decision_id.as_str())
    .bind(approval.state.as_str())
    .bind(approval.approver_group.to_string())
    .bind(i64::from(approval.required_approvals))
    .bind(&approval.requested_by)
    .bind(timestamp_micros(approval.requested_at))
    .bind(timestamp_micros(approval.expires_at))
    .bind(approval.awaiting_review())
    .bind(timestamp_micros(approval.updated_at))
    .bind(body)
    .execute(&mut *connection)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    Ok(())
}

/// One stored approval, as stored (not yet as of any time).
async fn find_approval(
    connection: &mut SqliteConnection,
    tenant_id: &TenantId,
    approval_id: &ApprovalId,
    operation: Operation,
) -> Result<Approval> {
    let row = sqlx::query("SELECT body FROM approvals WHERE tenant_id = ?1 AND id = ?2")
        .bind(tenant_id.to_string())
        .bind(approval_id.to_string())
        .fetch_optional(&mut *connection)
        .await
        .map_err(|error| map_database_error(error, operation))?;
    approval_body(&row.ok_or(Error::not_found("approval"))?)
}

/// The pending request on a decision that is still open at `at`, if any.
async fn pending_request_for(
    connection: &mut SqliteConnection,
    tenant_id: &TenantId,
    decision_id: &RecordKey,
    at: Timestamp,
    operation: Operation,
) -> Result<Option<Approval>> {
    let row = sqlx::query(
        "SELECT body FROM approvals WHERE tenant_id = ?1 AND decision_id = ?2 \
         AND state = 'pending' AND expires_at > ?3 ORDER BY requested_at LIMIT 1",
    )
    .bind(tenant_id.to_string())
    .bind(decision_id.as_str())
    .bind(timestamp_micros(at))
    .fetch_optional(&mut *connection)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    row.as_ref().map(approval_body).transpose()
}

async fn read_routing(
    connection: &mut SqliteConnection,
    tenant_id: &TenantId,
    operation: Operation,
) -> Result<ApprovalRouting> {
    let rules: Option<String> = sqlx::query_scalar("SELECT rules FROM approval_routing WHERE tenant_id = ?1")
        .bind(tenant_id.to_string())
        .fetch_optional(&mut *connection)
        .await
        .map_err(|error| map_database_error(error, operation))?;
    let Some(rules) = rules else { return Ok(ApprovalRouting::default()) };
    let rules: Vec<RoutingRule> =
        serde_json::from_str(&rules).map_err(|error| invalid_stored_value("rules", error))?;
    Ok(ApprovalRouting { rules })
}

async fn open(
    store: &SqliteStore,
    scope: &TenantScope,
    new: NewApproval,
    at: Timestamp,
) -> Result<(Approval, bool)> {
    let operation = Operation::OpenApproval;
    let tenant_id = scope.tenant_id();
    let requester = acting_user(scope.actor())?;
    let mut transaction = Write::begin(&store.pool, WriteScope::Tenant(scope), operation).await?;
    let decision = find_decision(&mut transaction, tenant_id, &new.decision_id, operation)
        .await?
        .ok_or(Error::not_found("decision"))?;
    if new.kind == ApprovalKind::Request
        && let Some(pending) =
            pending_request_for(&mut transaction, tenant_id, &decision.id, at, operation).await?
    {
        return Ok((pending, false));
    }
    let routing = read_routing(&mut transaction, tenant_id, operation).await?;
    let approval = open_approval(new, &decision, &routing, &requester, at)?;
    if !GROUPS.exists(&mut transaction, tenant_id, &approval.approver_group, operation).await? {
        return Err(Error::invalid("approver_group", "no group with this id exists in this tenant"));
    }
    put_approval(&mut transaction, &approval, operation).await?;
    transaction.record_all(audit::approval_changed(None, &approval));
    transaction.commit().await?;
    Ok((approval, true))
}

async fn change(
    store: &SqliteStore,
    scope: &TenantScope,
    approval_id: &ApprovalId,
    change: ApprovalChange,
) -> Result<Approval> {
    let operation = Operation::ChangeApproval;
    let mut transaction = Write::begin(&store.pool, WriteScope::Tenant(scope), operation).await?;
    let before = find_approval(&mut transaction, scope.tenant_id(), approval_id, operation).await?;
    let after = change.apply(before.clone())?;
    put_approval(&mut transaction, &after, operation).await?;
    transaction.record_all(audit::approval_changed(Some(&before), &after));
    transaction.commit().await?;
    Ok(after)
}

/// The condition on `state` for a filter's state as of the time bound as
/// `?6`: a pending request past its deadline is expired.
const STATE_CONDITION: &str = "(?5 IS NULL \
     OR (?5 = 'pending' AND state = 'pending' AND expires_at > ?6) \
     OR (?5 = 'expired' AND (state = 'expired' OR (state = 'pending' AND expires_at <= ?6))) \
     OR (?5 NOT IN ('pending', 'expired') AND state = ?5))";

async fn list(
    store: &SqliteStore,
    scope: &TenantScope,
    filter: &ApprovalFilter,
    at: Timestamp,
    page: PageRequest<NewestFirstCursor>,
) -> Result<Page<Approval>> {
    let operation = Operation::ListApprovals;
    let (before_at, before_id) = match page.after.as_ref() {
        Some(cursor) => (timestamp_micros(cursor.at), cursor.id.as_str().to_owned()),
        None => (i64::MAX, String::new()),
    };
    let sql = format!(
        "SELECT body FROM approvals WHERE tenant_id = ?1 \
         AND (requested_at < ?2 OR (requested_at = ?2 AND ?3 <> '' AND id < ?3)) \
         AND {} AND {STATE_CONDITION} \
         AND (?7 IS NULL OR approver_group IN (SELECT value FROM json_each(?7))) \
         AND (?8 IS NULL OR requested_by = ?8) AND (?9 IS NULL OR requested_by <> ?9) \
         AND (?10 IS NULL OR decision_id = ?10) AND (?11 = 0 OR awaiting_review = 1) \
         ORDER BY requested_at DESC, id DESC LIMIT ?12",
        workspace_condition(&filter.workspaces, 4)
    );
    let rows = sqlx::query(&sql)
        .bind(scope.tenant_id().to_string())
        .bind(before_at)
        .bind(before_id)
        .bind(workspace_ids(&filter.workspaces))
        .bind(filter.state.map(ApprovalState::as_str))
        .bind(timestamp_micros(at))
        .bind(filter.approver_groups.as_deref().map(json_id_array))
        .bind(filter.requested_by.as_deref())
        .bind(filter.not_requested_by.as_deref())
        .bind(filter.decision_id.as_ref().map(RecordKey::as_str))
        .bind(filter.awaiting_review)
        .bind(overfetch_limit(page.limit))
        .fetch_all(store.pool.reads())
        .await
        .map_err(|error| map_database_error(error, operation))?;
    let approvals = rows
        .iter()
        .map(|row| approval_body(row).map(|approval| approval.as_of(at)))
        .collect::<Result<Vec<_>>>()?;
    Ok(Page::from_overfetched(approvals, page.limit, |approval| {
        NewestFirstCursor::encode(approval.requested_at, &approval.cursor_key())
    }))
}

async fn expire(store: &SqliteStore, scope: &TenantScope, at: Timestamp) -> Result<u64> {
    let operation = Operation::ExpireApprovals;
    let mut transaction = Write::begin(&store.pool, WriteScope::Tenant(scope), operation).await?;
    let rows = sqlx::query(
        "SELECT body FROM approvals WHERE tenant_id = ?1 AND state = 'pending' AND expires_at <= ?2",
    )
    .bind(scope.tenant_id().to_string())
    .bind(timestamp_micros(at))
    .fetch_all(&mut *transaction)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    let mut expired = 0;
    for row in &rows {
        let before = approval_body(row)?;
        let after = before.clone().as_of(at);
        put_approval(&mut transaction, &after, operation).await?;
        transaction.record_all(audit::approval_changed(Some(&before), &after));
        expired += 1;
    }
    transaction.commit().await?;
    Ok(expired)
}

async fn put_routing(
    store: &SqliteStore,
    scope: &TenantScope,
    routing: ApprovalRouting,
) -> Result<ApprovalRouting> {
    let operation = Operation::PutApprovalRouting;
    let tenant_id = scope.tenant_id();
    let mut transaction = Write::begin(&store.pool, WriteScope::Tenant(scope), operation).await?;
    for (index, rule) in routing.rules.iter().enumerate() {
        if !GROUPS.exists(&mut transaction, tenant_id, &rule.approver_group, operation).await? {
            return Err(Error::invalid(
                format!("rules[{index}].approver_group"),
                "no group with this id exists in this tenant",
            ));
        }
    }
    let before = read_routing(&mut transaction, tenant_id, operation).await?;
    if let Some(record) = audit::approval_routing_updated(&before, &routing) {
        let rules = serde_json::to_string(&routing.rules).map_err(Error::internal)?;
        sqlx::query(
            "INSERT INTO approval_routing (tenant_id, rules, updated_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (tenant_id) DO UPDATE SET rules = excluded.rules, updated_at = excluded.updated_at",
        )
        .bind(tenant_id.to_string())
        .bind(rules)
        .bind(timestamp_micros(tenantry_core::now()))
        .execute(&mut *transaction)
        .await
        .map_err(|error| map_database_error(error, operation))?;
        transaction.record(record);
    }
    transaction.commit().await?;
    Ok(routing)
}

#[async_trait]
impl ApprovalStore for SqliteStore {
    async fn open_approval(
        &self,
        scope: &TenantScope,
        approval: NewApproval,
        at: Timestamp,
    ) -> Result<(Approval, bool)> {
        open(self, scope, approval, at).await
    }

    async fn get_approval(
        &self,
        scope: &TenantScope,
        approval_id: &ApprovalId,
        at: Timestamp,
    ) -> Result<Approval> {
        let operation = Operation::GetApproval;
        let mut connection = self.pool.read_connection(operation).await?;
        Ok(find_approval(&mut connection, scope.tenant_id(), approval_id, operation).await?.as_of(at))
    }

    async fn list_approvals(
        &self,
        scope: &TenantScope,
        filter: &ApprovalFilter,
        at: Timestamp,
        page: PageRequest<NewestFirstCursor>,
    ) -> Result<Page<Approval>> {
        list(self, scope, filter, at, page).await
    }

    async fn change_approval(
        &self,
        scope: &TenantScope,
        approval_id: &ApprovalId,
        change_to_make: ApprovalChange,
    ) -> Result<Approval> {
        change(self, scope, approval_id, change_to_make).await
    }

    async fn expire_approvals(&self, scope: &TenantScope, at: Timestamp) -> Result<u64> {
        expire(self, scope, at).await
    }

    async fn tenants_with_due_approvals(
        &self,
        _platform: &PlatformScope,
        at: Timestamp,
    ) -> Result<Vec<TenantId>> {
        let operation = Operation::TenantsWithDueApprovals;
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT tenant_id FROM approvals WHERE state = 'pending' AND expires_at <= ?1 ORDER BY tenant_id",
        )
        .bind(timestamp_micros(at))
        .fetch_all(self.pool.reads())
        .await
        .map_err(|error| map_database_error(error, operation))?;
        ids.iter()
            .map(|id| TenantId::parse(id).map_err(|error| invalid_stored_value("tenant_id", error)))
            .collect()
    }

    async fn approval_routing(&self, scope: &TenantScope) -> Result<ApprovalRouting> {
        let operation = Operation::GetApprovalRouting;
        let mut connection = self.pool.read_connection(operation).await?;
        read_routing(&mut connection, scope.tenant_id(), operation).await
    }

    async fn put_approval_routing(
        &self,
        scope: &TenantScope,
        routing: ApprovalRouting,
    ) -> Result<ApprovalRouting> {
        put_routing(self, scope, routing).await
    }
}
