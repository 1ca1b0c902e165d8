//! Decisions and sessions on PostgreSQL. A batch of decisions is one write
//! transaction: each decision is checked against what is stored (a retry
//! answers the stored record, other content under the same id is a
//! conflict), its session is started or updated, and its event recorded;
//! the first refusal rolls everything back. Every write of a tenant locks
//! the tenant's audit head first (see `audit.rs`), so a session's counters
//! are read and written by one transaction at a time: exact under
//! concurrent writers.

use std::collections::HashSet;

use async_trait::async_trait;
use sqlx::PgConnection;
use sqlx::postgres::PgRow;
use tenantry_core::decision::{
    ActivitySummary, Decision, DecisionFilter, DecisionOutcome, NewDecision, NewestFirstCursor, Reason,
    RecordKey, Recorded, Session, SessionFilter, SessionState, Severity, StoredForBatch, WorkspaceSelection,
    named_by, plan_recording,
};
use tenantry_core::{
    DecisionStore, Error, GroupId, Label, Page, PageRequest, Result, TenantId, TenantScope, WorkspaceId,
    audit,
};

use crate::PostgresStore;
use crate::audit::WriteScope;
use crate::error::{DatabaseResultExt, Operation};
use crate::rows::{column, corrupt, parsed, parsed_optional};
use crate::store::{TransactionScope, commit};

/// The columns [`decision_row`] reads.
const DECISION_COLUMNS: &str = "tenant_id, id, workspace_id, session_id, agent_id, actor, repository, \
     action_type, target, requested_operation, policy_pack, policy_id, rule_id, decision, severity, reason, \
     evidence_refs::text AS evidence_refs, approver_group, occurred_at, correlation_id, recorded_by, \
     recorded_by_api_key, recorded_at";

/// The columns [`session_row`] reads.
const SESSION_COLUMNS: &str = "tenant_id, id, workspace_id, state, agent_id, actor, repository, policy_pack, \
     decision_count, blocked_count, approval_required_count, evidence_refs::text AS evidence_refs, started_at, \
     updated_at";

/// The workspaces a read covers, as a condition on `workspace_id` with the
/// ids bound as `${parameter}` (NULL for every workspace). One text per
/// shape of selection, so that the plan fits it: one workspace is an
/// equality, which the `(tenant_id, workspace_id, time, id)` index serves
/// in order (`= ANY` of one would make the planner sort the workspace's
/// rows), several a list.
pub(crate) fn workspace_condition(selection: &WorkspaceSelection, parameter: usize) -> String {
    match selection {
        WorkspaceSelection::All => format!("${parameter}::text[] IS NULL"),
        WorkspaceSelection::Only(ids) if ids.len() == 1 => {
            format!("workspace_id = (${parameter}::text[])[1]")
        }
        WorkspaceSelection::Only(_) => format!("workspace_id = ANY(${parameter}::text[])"),
    }
}

/// The ids bound for [`workspace_condition`].
pub(crate) fn workspace_ids(selection: &WorkspaceSelection) -> Option<Vec<String>> {
    match selection {
        WorkspaceSelection::All => None,
        WorkspaceSelection::Only(ids) => Some(ids.iter().map(ToString::to_string).collect()),
    }
}

fn labels_column(row: &PgRow, name: &str, operation: Operation) -> Result<Vec<Label>> {
    let text: String = column(row, name, operation)?;
    let strings: Vec<String> =
        serde_json::from_str(&text).map_err(|error| corrupt(operation, name, &text, error))?;
    strings
        .iter()
        .map(|label| Label::parse(label).map_err(|error| corrupt(operation, name, label, error)))
        .collect()
}

fn labels_json(labels: &[Label]) -> String {
    serde_json::to_string(labels).unwrap_or_else(|_| "[]".to_owned())
}

fn count_column(row: &PgRow, name: &str, operation: Operation) -> Result<u64> {
    let count: i64 = column(row, name, operation)?;
    u64::try_from(count).map_err(|error| corrupt(operation, name, &count.to_string(), error))
}

fn decision_row(row: &PgRow, operation: Operation) -> Result<Decision> {
    Ok(Decision {
        id: parsed(row, "id", operation, RecordKey::parse)?,
        tenant_id: parsed(row, "tenant_id", operation, TenantId::parse)?,
        workspace_id: parsed(row, "workspace_id", operation, WorkspaceId::parse)?,
        session_id: parsed(row, "session_id", operation, RecordKey::parse)?,
        agent_id: parsed(row, "agent_id", operation, Label::parse)?,
        actor: parsed_optional(row, "actor", operation, Label::parse)?,
        repository: parsed_optional(row, "repository", operation, Label::parse)?,
        action_type: parsed(row, "action_type", operation, Label::parse)?,
        target: parsed_optional(row, "target", operation, Label::parse)?,
        requested_operation: parsed_optional(row, "requested_operation", operation, Label::parse)?,
        policy_pack: parsed_optional(row, "policy_pack", operation, Label::parse)?,
        policy_id: parsed_optional(row, "policy_id", operation, Label::parse)?,
        rule_id: parsed_optional(row, "rule_id", operation, Label::parse)?,
        decision: parsed(row, "decision", operation, DecisionOutcome::parse)?,
        severity: parsed(row, "severity", operation, Severity::parse)?,
        reason: parsed_optional(row, "reason", operation, Reason::parse)?,
        evidence_refs: labels_column(row, "evidence_refs", operation)?,
        approver_group: parsed_optional(row, "approver_group", operation, GroupId::parse)?,
        occurred_at: column(row, "occurred_at", operation)?,
        correlation_id: parsed_optional(row, "correlation_id", operation, Label::parse)?,
        recorded_by: column(row, "recorded_by", operation)?,
        recorded_by_api_key: column(row, "recorded_by_api_key", operation)?,
        recorded_at: column(row, "recorded_at", operation)?,
    })
}

fn session_row(row: &PgRow, operation: Operation) -> Result<Session> {
    Ok(Session {
        id: parsed(row, "id", operation, RecordKey::parse)?,
        tenant_id: parsed(row, "tenant_id", operation, TenantId::parse)?,
        workspace_id: parsed(row, "workspace_id", operation, WorkspaceId::parse)?,
        state: parsed(row, "state", operation, SessionState::parse)?,
        agent_id: parsed(row, "agent_id", operation, Label::parse)?,
        actor: parsed_optional(row, "actor", operation, Label::parse)?,
        repository: parsed_optional(row, "repository", operation, Label::parse)?,
        policy_pack: parsed_optional(row, "policy_pack", operation, Label::parse)?,
        decision_count: count_column(row, "decision_count", operation)?,
        blocked_count: count_column(row, "blocked_count", operation)?,
        approval_required_count: count_column(row, "approval_required_count", operation)?,
        evidence_refs: labels_column(row, "evidence_refs", operation)?,
        started_at: column(row, "started_at", operation)?,
        updated_at: column(row, "updated_at", operation)?,
    })
}

fn stored_count(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// One stored decision, by id.
pub(crate) async fn find_decision(
    connection: &mut PgConnection,
    tenant_id: &TenantId,
    id: &RecordKey,
    operation: Operation,
) -> Result<Option<Decision>> {
    let table = ("decisions", DECISION_COLUMNS, "");
    let found = rows_by_ids(connection, tenant_id, table, std::slice::from_ref(id), decision_row, operation);
    Ok(found.await?.pop())
}

/// One stored session, by id; locked when `lock`.
async fn find_session(
    connection: &mut PgConnection,
    tenant_id: &TenantId,
    id: &RecordKey,
    lock: bool,
    operation: Operation,
) -> Result<Option<Session>> {
    let table = ("sessions", SESSION_COLUMNS, if lock { " FOR UPDATE" } else { "" });
    let found = rows_by_ids(connection, tenant_id, table, std::slice::from_ref(id), session_row, operation);
    Ok(found.await?.pop())
}

/// Writes a session's summary: inserts it, or replaces the stored one.
async fn put_session(connection: &mut PgConnection, session: &Session, operation: Operation) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (tenant_id, id, workspace_id, state, agent_id, actor, repository, policy_pack, \
         decision_count, blocked_count, approval_required_count, evidence_refs, started_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13, $14) \
         ON CONFLICT (tenant_id, id) DO UPDATE SET state = excluded.state, actor = excluded.actor, \
         repository = excluded.repository, policy_pack = excluded.policy_pack, \
         decision_count = excluded.decision_count, blocked_count = excluded.blocked_count, \
         approval_required_count = excluded.approval_required_count, evidence_refs = excluded.evidence_refs, \
         started_at = excluded.started_at, updated_at = excluded.updated_at",
    )
    .bind(session.tenant_id.to_string())
    .bind(session.id.as_str())
    .bind(session.workspace_id.to_string())
    .bind(session.state.as_str())
    .bind(session.agent_id.as_str())
    .bind(session.actor.as_ref().map(Label::as_str))
    .bind(session.repository.as_ref().map(Label::as_str))
    .bind(session.policy_pack.as_ref().map(Label::as_str))
    .bind(stored_count(session.decision_count))
    .bind(stored_count(session.blocked_count))
    .bind(stored_count(session.approval_required_count))
    .bind(labels_json(&session.evidence_refs))
    .bind(session.started_at)
    .bind(session.updated_at)
    .execute(&mut *connection)
    .await
    .during(operation)?;
    Ok(())
}

/// The stored rows of `table` with these ids, read in the write
/// transaction; sessions are locked, so the counters are read and written
/// by one transaction at a time.
async fn rows_by_ids<T>(
    connection: &mut PgConnection,
    tenant_id: &TenantId,
    (table, columns, lock): (&str, &str, &str),
    ids: &[RecordKey],
    read: fn(&PgRow, Operation) -> Result<T>,
    operation: Operation,
) -> Result<Vec<T>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(&format!(
        "SELECT {columns} FROM {table} WHERE tenant_id = $1 AND id = ANY($2) ORDER BY id{lock}"
    ))
    .bind(tenant_id.to_string())
    .bind(ids.iter().map(|id| id.as_str().to_owned()).collect::<Vec<String>>())
    .fetch_all(&mut *connection)
    .await
    .during(operation)?;
    rows.iter().map(|row| read(row, operation)).collect()
}

/// Which of these workspaces the tenant has.
async fn existing_workspaces(
    connection: &mut PgConnection,
    tenant_id: &TenantId,
    workspace_ids: &[WorkspaceId],
    operation: Operation,
) -> Result<HashSet<WorkspaceId>> {
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT id FROM workspaces WHERE tenant_id = $1 AND id = ANY($2)")
            .bind(tenant_id.to_string())
            .bind(workspace_ids.iter().map(ToString::to_string).collect::<Vec<String>>())
            .fetch_all(&mut *connection)
            .await
            .during(operation)?;
    Ok(ids.iter().filter_map(|id| WorkspaceId::parse(id).ok()).collect())
}

/// Inserts new decisions, one statement for the batch: the rows go as one
/// JSON array, unpacked with `jsonb_to_recordset`.
async fn insert_decisions(
    connection: &mut PgConnection,
    tenant_id: &TenantId,
    decisions: &[Decision],
    operation: Operation,
) -> Result<()> {
    if decisions.is_empty() {
        return Ok(());
    }
    // `Decision` serializes with the columns' names, its times as RFC 3339
    // and its evidence as an array: the rows as `jsonb_to_recordset` reads
    // them (it ignores `tenant_id`, which is bound apart).
    let rows = serde_json::to_string(decisions)
        .map_err(|error| tenantry_core::Error::internal(format!("encoding decisions: {error}")))?;
    sqlx::query(
        "INSERT INTO decisions (tenant_id, id, workspace_id, session_id, agent_id, actor, repository, \
         action_type, target, requested_operation, policy_pack, policy_id, rule_id, decision, severity, reason, \
         evidence_refs, approver_group, occurred_at, correlation_id, recorded_by, recorded_by_api_key, \
         recorded_at) \
         SELECT $1, r.id, r.workspace_id, r.session_id, r.agent_id, r.actor, r.repository, r.action_type, \
         r.target, r.requested_operation, r.policy_pack, r.policy_id, r.rule_id, r.decision, r.severity, \
         r.reason, r.evidence_refs, r.approver_group, r.occurred_at, r.correlation_id, r.recorded_by, \
         r.recorded_by_api_key, r.recorded_at \
         FROM jsonb_to_recordset($2::jsonb) AS r (id text, workspace_id text, session_id text, agent_id text, \
         actor text, repository text, action_type text, target text, requested_operation text, \
         policy_pack text, policy_id text, rule_id text, decision text, severity text, reason text, \
         evidence_refs jsonb, approver_group text, occurred_at timestamptz, correlation_id text, \
         recorded_by text, recorded_by_api_key text, recorded_at timestamptz)",
    )
    .bind(tenant_id.to_string())
    .bind(rows)
    .execute(&mut *connection)
    .await
    .during(operation)?;
    Ok(())
}

/// See [`DecisionStore::record_decisions`]: what the batch names is read in
/// three statements, planned in core, and written in two.
async fn record_decisions(
    store: &PostgresStore,
    scope: &TenantScope,
    decisions: Vec<NewDecision>,
) -> Result<Vec<Recorded>> {
    let operation = Operation::RecordDecisions;
    let tenant_id = scope.tenant_id();
    let (ids, workspaces, session_ids) = named_by(&decisions);
    let mut transaction = store.begin_write(WriteScope::Tenant(scope), operation).await?;
    let stored_decisions = rows_by_ids(
        &mut transaction,
        tenant_id,
        ("decisions", DECISION_COLUMNS, ""),
        &ids,
        decision_row,
        operation,
    )
    .await?;
    let stored_sessions = rows_by_ids(
        &mut transaction,
        tenant_id,
        ("sessions", SESSION_COLUMNS, " FOR UPDATE"),
        &session_ids,
        session_row,
        operation,
    )
    .await?;
    let stored = StoredForBatch {
        decisions: stored_decisions.into_iter().map(|decision| (decision.id.clone(), decision)).collect(),
        workspaces: existing_workspaces(&mut transaction, tenant_id, &workspaces, operation).await?,
        sessions: stored_sessions.into_iter().map(|session| (session.id.clone(), session)).collect(),
    };
    let plan = plan_recording(tenant_id, scope.actor(), decisions, tenantry_core::now(), stored)?;
    for session in &plan.sessions {
        put_session(&mut transaction, session, operation).await?;
    }
    insert_decisions(&mut transaction, tenant_id, &plan.inserts, operation).await?;
    transaction.record_all(plan.inserts.iter().map(audit::decision_recorded));
    transaction.commit().await?;
    Ok(plan.recorded)
}

/// The `(time, id)` bound of a newest-first page: the cursor, or past
/// every row.
fn newest_first_bound(after: Option<&NewestFirstCursor>) -> (Option<tenantry_core::Timestamp>, String) {
    match after {
        Some(cursor) => (Some(cursor.at), cursor.id.as_str().to_owned()),
        None => (None, String::new()),
    }
}

async fn read_page<T>(
    store: &PostgresStore,
    scope: &TenantScope,
    query: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
    operation: Operation,
    read: fn(&PgRow, Operation) -> Result<T>,
) -> Result<Vec<T>> {
    let mut transaction = store.begin(TransactionScope::Tenant(scope), operation).await?;
    let rows = query.fetch_all(&mut *transaction).await.during(operation)?;
    commit(transaction, operation).await?;
    rows.iter().map(|row| read(row, operation)).collect()
}

async fn list_decisions(
    store: &PostgresStore,
    scope: &TenantScope,
    filter: &DecisionFilter,
    page: PageRequest<NewestFirstCursor>,
) -> Result<Page<Decision>> {
    let (before_at, before_id) = newest_first_bound(page.after.as_ref());
    let sql = format!(
        "SELECT {DECISION_COLUMNS} FROM decisions WHERE tenant_id = $1 \
         AND ($2::timestamptz IS NULL OR (occurred_at, id) < ($2, $3)) \
         AND {} \
         AND ($5::text IS NULL OR session_id = $5) AND ($6::text IS NULL OR agent_id = $6) \
         AND ($7::text IS NULL OR repository = $7) AND ($8::text IS NULL OR policy_pack = $8) \
         AND ($9::text IS NULL OR decision = $9) AND ($10::text IS NULL OR severity = $10) \
         AND ($11::text IS NULL OR action_type = $11) AND ($12::timestamptz IS NULL OR occurred_at >= $12) \
         AND ($13::timestamptz IS NULL OR occurred_at < $13) \
         ORDER BY occurred_at DESC, id DESC LIMIT $14",
        workspace_condition(&filter.workspaces, 4)
    );
    let query = sqlx::query(&sql)
        .bind(scope.tenant_id().to_string())
        .bind(before_at)
        .bind(before_id)
        .bind(workspace_ids(&filter.workspaces))
        .bind(filter.session_id.as_ref().map(RecordKey::as_str))
        .bind(filter.agent_id.as_ref().map(Label::as_str))
        .bind(filter.repository.as_ref().map(Label::as_str))
        .bind(filter.policy_pack.as_ref().map(Label::as_str))
        .bind(filter.decision.map(DecisionOutcome::as_str))
        .bind(filter.severity.map(Severity::as_str))
        .bind(filter.action_type.as_ref().map(Label::as_str))
        .bind(filter.since)
        .bind(filter.until)
        .bind(i64::from(page.limit.get()) + 1);
    let decisions = read_page(store, scope, query, Operation::ListDecisions, decision_row).await?;
    Ok(Page::from_overfetched(decisions, page.limit, |decision| {
        NewestFirstCursor::encode(decision.occurred_at, &decision.id)
    }))
}

async fn list_sessions(
    store: &PostgresStore,
    scope: &TenantScope,
    filter: &SessionFilter,
    page: PageRequest<NewestFirstCursor>,
) -> Result<Page<Session>> {
    let (before_at, before_id) = newest_first_bound(page.after.as_ref());
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM sessions WHERE tenant_id = $1 \
         AND ($2::timestamptz IS NULL OR (updated_at, id) < ($2, $3)) \
         AND {} \
         AND ($5::text IS NULL OR agent_id = $5) AND ($6::text IS NULL OR repository = $6) \
         AND ($7::text IS NULL OR policy_pack = $7) AND ($8::text IS NULL OR state = $8) \
         ORDER BY updated_at DESC, id DESC LIMIT $9",
        workspace_condition(&filter.workspaces, 4)
    );
    let query = sqlx::query(&sql)
        .bind(scope.tenant_id().to_string())
        .bind(before_at)
        .bind(before_id)
        .bind(workspace_ids(&filter.workspaces))
        .bind(filter.agent_id.as_ref().map(Label::as_str))
        .bind(filter.repository.as_ref().map(Label::as_str))
        .bind(filter.policy_pack.as_ref().map(Label::as_str))
        .bind(filter.state.map(SessionState::as_str))
        .bind(i64::from(page.limit.get()) + 1);
    let sessions = read_page(store, scope, query, Operation::ListSessions, session_row).await?;
    Ok(Page::from_overfetched(sessions, page.limit, |session| {
        NewestFirstCursor::encode(session.updated_at, &session.id)
    }))
}

async fn set_session_state(
    store: &PostgresStore,
    scope: &TenantScope,
    session_id: &RecordKey,
    state: SessionState,
) -> Result<Session> {
    let operation = Operation::SetSessionState;
    let mut transaction = store.begin_write(WriteScope::Tenant(scope), operation).await?;
    let before = find_session(&mut transaction, scope.tenant_id(), session_id, true, operation)
        .await?
        .ok_or(Error::not_found("session"))?;
    let after = Session { state, ..before.clone() };
    if let Some(record) = audit::session_state_changed(&before, &after) {
        sqlx::query("UPDATE sessions SET state = $3 WHERE tenant_id = $1 AND id = $2")
            .bind(scope.tenant_id().to_string())
            .bind(session_id.as_str())
            .bind(state.as_str())
            .execute(&mut *transaction)
            .await
            .during(operation)?;
        transaction.record(record);
    }
    transaction.commit().await?;
    Ok(after)
}

async fn activity_summary(
    store: &PostgresStore,
    scope: &TenantScope,
    workspaces: &WorkspaceSelection,
) -> Result<ActivitySummary> {
    let operation = Operation::ActivitySummary;
    let sql = format!(
        "SELECT count(*) AS total_sessions, COALESCE(sum(decision_count), 0)::bigint AS total_decisions, \
         COALESCE(sum(blocked_count), 0)::bigint AS total_blocked, \
         COALESCE(sum(approval_required_count), 0)::bigint AS total_approval_required, \
         max(updated_at) AS latest_session_at, \
         (SELECT count(*) FROM approvals WHERE tenant_id = $1 AND state = 'pending' AND expires_at > $3 \
          AND {condition}) AS pending_approvals, \
         (SELECT count(*) FROM approvals WHERE tenant_id = $1 AND state = 'break_glass' AND awaiting_review \
          AND {condition}) AS break_glass_awaiting_review \
         FROM sessions WHERE tenant_id = $1 AND {condition}",
        condition = workspace_condition(workspaces, 2)
    );
    let mut transaction = store.begin(TransactionScope::Tenant(scope), operation).await?;
    let row = sqlx::query(&sql)
        .bind(scope.tenant_id().to_string())
        .bind(workspace_ids(workspaces))
        .bind(tenantry_core::now())
        .fetch_one(&mut *transaction)
        .await
        .during(operation)?;
    commit(transaction, operation).await?;
    Ok(ActivitySummary {
        total_sessions: count_column(&row, "total_sessions", operation)?,
        total_decisions: count_column(&row, "total_decisions", operation)?,
        total_blocked: count_column(&row, "total_blocked", operation)?,
        total_approval_required: count_column(&row, "total_approval_required", operation)?,
        latest_session_at: column(&row, "latest_session_at", operation)?,
        pending_approvals: count_column(&row, "pending_approvals", operation)?,
        break_glass_awaiting_review: count_column(&row, "break_glass_awaiting_review", operation)?,
    })
}

#[async_trait]
impl DecisionStore for PostgresStore {
    async fn record_decisions(
        &self,
        scope: &TenantScope,
        decisions: Vec<NewDecision>,
    ) -> Result<Vec<Recorded>> {
        record_decisions(self, scope, decisions).await
    }

    async fn get_decision(&self, scope: &TenantScope, decision_id: &RecordKey) -> Result<Decision> {
        let operation = Operation::GetDecision;
        let mut transaction = self.begin(TransactionScope::Tenant(scope), operation).await?;
        let decision = find_decision(&mut transaction, scope.tenant_id(), decision_id, operation).await?;
        commit(transaction, operation).await?;
        decision.ok_or(Error::not_found("decision"))
    }

    async fn list_decisions(
        &self,
        scope: &TenantScope,
        filter: &DecisionFilter,
        page: PageRequest<NewestFirstCursor>,
    ) -> Result<Page<Decision>> {
        list_decisions(self, scope, filter, page).await
    }

    async fn get_session(&self, scope: &TenantScope, session_id: &RecordKey) -> Result<Session> {
        let operation = Operation::GetSession;
        let mut transaction = self.begin(TransactionScope::Tenant(scope), operation).await?;
        let session = find_session(&mut transaction, scope.tenant_id(), session_id, false, operation).await?;
        commit(transaction, operation).await?;
        session.ok_or(Error::not_found("session"))
    }

    async fn list_sessions(
        &self,
        scope: &TenantScope,
        filter: &SessionFilter,
        page: PageRequest<NewestFirstCursor>,
    ) -> Result<Page<Session>> {
        list_sessions(self, scope, filter, page).await
    }

    async fn set_session_state(
        &self,
        scope: &TenantScope,
        session_id: &RecordKey,
        state: SessionState,
    ) -> Result<Session> {
        set_session_state(self, scope, session_id, state).await
    }

    async fn activity_summary(
        &self,
        scope: &TenantScope,
        workspaces: &WorkspaceSelection,
    ) -> Result<ActivitySummary> {
        activity_summary(self, scope, workspaces).await
    }
}
