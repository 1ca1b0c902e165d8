//! Approval requests, break-glass grants and routing rules on PostgreSQL.
//! An approval's record is the JSON of [`Approval`] in `body`, written
//! with the columns lists filter on from the same value. Every change
//! reads the approval locked (`FOR UPDATE`) in the write transaction,
//! applies the rule of core and writes the result with one audit event per
//! new history entry; every write of a tenant also locks its audit head
//! first, so two approvers of one request are applied one after the other.

use async_trait::async_trait;
use sqlx::PgConnection;
use sqlx::postgres::PgRow;
use tenantry_core::approval::{
    Approval, ApprovalChange, ApprovalFilter, ApprovalKind, ApprovalRouting, ApprovalState, NewApproval,
    RoutingRule, acting_user, open_approval,
};
use tenantry_core::decision::{NewestFirstCursor, RecordKey};
use tenantry_core::{
    ApprovalId, ApprovalStore, Error, Page, PageRequest, PlatformScope, Result, TenantId, TenantScope,
    Timestamp, audit,
};

use crate::PostgresStore;
use crate::audit::WriteScope;
use crate::decisions::{find_decision, workspace_condition, workspace_ids};
use crate::error::{DatabaseResultExt, Operation, internal};
use crate::rows::{column, corrupt};
use crate::store::{TransactionScope, commit};

fn approval_body(row: &PgRow, operation: Operation) -> Result<Approval> {
    let body: String = column(row, "body", operation)?;
    serde_json::from_str(&body).map_err(|error| corrupt(operation, "body", &body, error))
}

/// Writes an approval: its columns and its body, from the same value.
async fn put_approval(
    connection: &mut PgConnection,
    approval: &Approval,
    operation: Operation,
) -> Result<()> {
    let body = serde_json::to_string(approval).map_err(|error| internal(operation, error))?;
    sqlx::query(
        "INSERT INTO approvals (tenant_id, id, workspace_id, decision_id, state, approver_group, \
         required_approvals, requested_by, requested_at, expires_at, awaiting_review, updated_at, body) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb) \
         ON CONFLICT (tenant_id, id) DO UPDATE SET state = excluded.state, \
         awaiting_review = excluded.awaiting_review, updated_at = excluded.updated_at, body = excluded.body",
    )
    .bind(approval.tenant_id.to_string())
    .bind(approval.id.to_string())
    .bind(approval.workspace_id.to_string())
    .bind(approval.decision_id.as_str())
    .bind(approval.state.as_str())
    .bind(approval.approver_group.to_string())
    .bind(i32::try_from(approval.required_approvals).unwrap_or(i32::MAX))
    .bind(&approval.requested_by)
    .bind(approval.requested_at)
    .bind(approval.expires_at)
    .bind(approval.awaiting_review())
    .bind(approval.updated_at)
    .bind(body)
    .execute(&mut *connection)
    .await
    .during(operation)?;
    Ok(())
}

/// One stored approval, as stored; locked when `lock`.
async fn find_approval(
    connection: &mut PgConnection,
    tenant_id: &TenantId,
    approval_id: &ApprovalId,
    lock: bool,
    operation: Operation,
) -> Result<Approval> {
    let sql = if lock {
        "SELECT body::text AS body FROM approvals WHERE tenant_id = $1 AND id = $2 FOR UPDATE"
    } else {
        "SELECT body::text AS body FROM approvals WHERE tenant_id = $1 AND id = $2"
    };
    let row = sqlx::query(sql)
        .bind(tenant_id.to_string())
        .bind(approval_id.to_string())
        .fetch_optional(&mut *connection)
        .await
        .during(operation)?;
    approval_body(&row.ok_or(Error::not_found("approval"))?, operation)
}

async fn read_routing(
    connection: &mut PgConnection,
    tenant_id: &TenantId,
    operation: Operation,
) -> Result<ApprovalRouting> {
    let rules: Option<String> =
        sqlx::query_scalar("SELECT rules::text FROM approval_routing WHERE tenant_id = $1")
            .bind(tenant_id.to_string())
            .fetch_optional(&mut *connection)
            .await
            .during(operation)?;
    let Some(rules) = rules else { return Ok(ApprovalRouting::default()) };
    let parsed: Vec<RoutingRule> =
        serde_json::from_str(&rules).map_err(|error| corrupt(operation, "rules", &rules, error))?;
    Ok(ApprovalRouting { rules: parsed })
}

/// Which of these groups the tenant has.
async fn existing_groups(
    connection: &mut PgConnection,
    tenant_id: &TenantId,
    groups: &[tenantry_core::GroupId],
    operation: Operation,
) -> Result<Vec<String>> {
    sqlx::query_scalar("SELECT id FROM groups WHERE tenant_id = $1 AND id = ANY($2)")
        .bind(tenant_id.to_string())
        .bind(groups.iter().map(ToString::to_string).collect::<Vec<_>>())
        .fetch_all(&mut *connection)
        .await
        .during(operation)
}

async fn open(
    store: &PostgresStore,
    scope: &TenantScope,
    new: NewApproval,
    at: Timestamp,
) -> Result<(Approval, bool)> {
    let operation = Operation::OpenApproval;
    let tenant_id = scope.tenant_id();
    let requester = acting_user(scope.actor())?;
    let mut transaction = store.begin_write(WriteScope::Tenant(scope), operation).await?;
    let decision = find_decision(&mut transaction, tenant_id, &new.decision_id, operation)
        .await?
        .ok_or(Error::not_found("decision"))?;
    if new.kind == ApprovalKind::Request {
        let pending = sqlx::query(
            "SELECT body::text AS body FROM approvals WHERE tenant_id = $1 AND decision_id = $2 \
             AND state = 'pending' AND expires_at > $3 ORDER BY requested_at LIMIT 1",
        )
        .bind(tenant_id.to_string())
        .bind(decision.id.as_str())
        .bind(at)
        .fetch_optional(&mut *transaction)
        .await
        .during(operation)?;
        if let Some(row) = pending {
            return Ok((approval_body(&row, operation)?, false));
        }
    }
    let routing = read_routing(&mut transaction, tenant_id, operation).await?;
    let approval = open_approval(new, &decision, &routing, &requester, at)?;
    let group = std::slice::from_ref(&approval.approver_group);
    if existing_groups(&mut transaction, tenant_id, group, operation).await?.is_empty() {
        return Err(Error::invalid("approver_group", "no group with this id exists in this tenant"));
    }
    put_approval(&mut transaction, &approval, operation).await?;
    transaction.record_all(audit::approval_changed(None, &approval));
    transaction.commit().await?;
    Ok((approval, true))
}

async fn change(
    store: &PostgresStore,
    scope: &TenantScope,
    approval_id: &ApprovalId,
    change: ApprovalChange,
) -> Result<Approval> {
    let operation = Operation::ChangeApproval;
    let mut transaction = store.begin_write(WriteScope::Tenant(scope), operation).await?;
    let before = find_approval(&mut transaction, scope.tenant_id(), approval_id, true, operation).await?;
    let after = change.apply(before.clone())?;
    put_approval(&mut transaction, &after, operation).await?;
    transaction.record_all(audit::approval_changed(Some(&before), &after));
    transaction.commit().await?;
    Ok(after)
}

/// The condition on `state` for a filter's state as of the time bound as
/// `$6`: a pending request past its deadline is expired.
const STATE_CONDITION: &str = "($5::text IS NULL \
     OR ($5 = 'pending' AND state = 'pending' AND expires_at > $6) \
     OR ($5 = 'expired' AND (state = 'expired' OR (state = 'pending' AND expires_at <= $6))) \
     OR ($5 NOT IN ('pending', 'expired') AND state = $5))";

async fn list(
    store: &PostgresStore,
    scope: &TenantScope,
    filter: &ApprovalFilter,
    at: Timestamp,
    page: PageRequest<NewestFirstCursor>,
) -> Result<Page<Approval>> {
    let operation = Operation::ListApprovals;
    let (before_at, before_id) = match page.after.as_ref() {
        Some(cursor) => (Some(cursor.at), cursor.id.as_str().to_owned()),
        None => (None, String::new()),
    };
    let sql = format!(
        "SELECT body::text AS body FROM approvals WHERE tenant_id = $1 \
         AND ($2::timestamptz IS NULL OR (requested_at, id) < ($2, $3)) \
         AND {} AND {STATE_CONDITION} \
         AND ($7::text[] IS NULL OR approver_group = ANY($7)) \
         AND ($8::text IS NULL OR requested_by = $8) AND ($9::text IS NULL OR requested_by <> $9) \
         AND ($10::text IS NULL OR decision_id = $10) AND (NOT $11 OR awaiting_review) \
         ORDER BY requested_at DESC, id DESC LIMIT $12",
        workspace_condition(&filter.workspaces, 4)
    );
    let groups: Option<Vec<String>> =
        filter.approver_groups.as_ref().map(|groups| groups.iter().map(ToString::to_string).collect());
    let mut transaction = store.begin(TransactionScope::Tenant(scope), operation).await?;
    let rows = sqlx::query(&sql)
        .bind(scope.tenant_id().to_string())
        .bind(before_at)
        .bind(before_id)
        .bind(workspace_ids(&filter.workspaces))
        .bind(filter.state.map(ApprovalState::as_str))
        .bind(at)
        .bind(groups)
        .bind(filter.requested_by.as_deref())
        .bind(filter.not_requested_by.as_deref())
        .bind(filter.decision_id.as_ref().map(RecordKey::as_str))
        .bind(filter.awaiting_review)
        .bind(i64::from(page.limit.get()) + 1)
        .fetch_all(&mut *transaction)
        .await
        .during(operation)?;
    commit(transaction, operation).await?;
    let approvals = rows
        .iter()
        .map(|row| approval_body(row, operation).map(|approval| approval.as_of(at)))
        .collect::<Result<Vec<_>>>()?;
    Ok(Page::from_overfetched(approvals, page.limit, |approval| {
        NewestFirstCursor::encode(approval.requested_at, &approval.cursor_key())
    }))
}

async fn expire(store: &PostgresStore, scope: &TenantScope, at: Timestamp) -> Result<u64> {
    let operation = Operation::ExpireApprovals;
    let mut transaction = store.begin_write(WriteScope::Tenant(scope), operation).await?;
    let rows = sqlx::query(
        "SELECT body::text AS body FROM approvals \
         WHERE tenant_id = $1 AND state = 'pending' AND expires_at <= $2 FOR UPDATE",
    )
    .bind(scope.tenant_id().to_string())
    .bind(at)
    .fetch_all(&mut *transaction)
    .await
    .during(operation)?;
    let mut expired = 0;
    for row in &rows {
        let before = approval_body(row, operation)?;
        let after = before.clone().as_of(at);
        put_approval(&mut transaction, &after, operation).await?;
        transaction.record_all(audit::approval_changed(Some(&before), &after));
        expired += 1;
    }
    transaction.commit().await?;
    Ok(expired)
}

async fn put_routing(
    store: &PostgresStore,
    scope: &TenantScope,
    routing: ApprovalRouting,
) -> Result<ApprovalRouting> {
    let operation = Operation::PutApprovalRouting;
    let tenant_id = scope.tenant_id();
    let mut transaction = store.begin_write(WriteScope::Tenant(scope), operation).await?;
    let existing = existing_groups(&mut transaction, tenant_id, &routing.groups(), operation).await?;
    if let Some(index) =
        routing.rules.iter().position(|rule| !existing.contains(&rule.approver_group.to_string()))
    {
        return Err(Error::invalid(
            format!("rules[{index}].approver_group"),
            "no group with this id exists in this tenant",
        ));
    }
    let before = read_routing(&mut transaction, tenant_id, operation).await?;
    if let Some(record) = audit::approval_routing_updated(&before, &routing) {
        let rules = serde_json::to_string(&routing.rules).map_err(|error| internal(operation, error))?;
        sqlx::query(
            "INSERT INTO approval_routing (tenant_id, rules, updated_at) VALUES ($1, $2::jsonb, $3) \
             ON CONFLICT (tenant_id) DO UPDATE SET rules = excluded.rules, updated_at = excluded.updated_at",
        )
        .bind(tenant_id.to_string())
        .bind(rules)
        .bind(tenantry_core::now())
        .execute(&mut *transaction)
        .await
        .during(operation)?;
        transaction.record(record);
    }
    transaction.commit().await?;
    Ok(routing)
}

#[async_trait]
impl ApprovalStore for PostgresStore {
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
        let mut transaction = self.begin(TransactionScope::Tenant(scope), operation).await?;
        let approval =
            find_approval(&mut transaction, scope.tenant_id(), approval_id, false, operation).await?;
        commit(transaction, operation).await?;
        Ok(approval.as_of(at))
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
        platform: &PlatformScope,
        at: Timestamp,
    ) -> Result<Vec<TenantId>> {
        let operation = Operation::TenantsWithDueApprovals;
        let mut transaction = self.begin(TransactionScope::Platform(platform), operation).await?;
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT tenant_id FROM approvals WHERE state = 'pending' AND expires_at <= $1 \
             ORDER BY tenant_id",
        )
        .bind(at)
        .fetch_all(&mut *transaction)
        .await
        .during(operation)?;
        commit(transaction, operation).await?;
        ids.iter()
            .map(|id| TenantId::parse(id).map_err(|error| corrupt(operation, "tenant_id", id, error)))
            .collect()
    }

    async fn approval_routing(&self, scope: &TenantScope) -> Result<ApprovalRouting> {
        let operation = Operation::GetApprovalRouting;
        let mut transaction = self.begin(TransactionScope::Tenant(scope), operation).await?;
        let routing = read_routing(&mut transaction, scope.tenant_id(), operation).await?;
        commit(transaction, operation).await?;
        Ok(routing)
    }

    async fn put_approval_routing(
        &self,
        scope: &TenantScope,
        routing: ApprovalRouting,
    ) -> Result<ApprovalRouting> {
        put_routing(self, scope, routing).await
    }
}
