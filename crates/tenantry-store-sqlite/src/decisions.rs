//! Decisions and sessions on SQLite. A batch of decisions is one write
//! transaction: each decision is checked against what is stored (a retry
//! answers the stored record, other content under the same id is a
//! conflict), its session is started or updated, and its event recorded;
//! the first refusal rolls everything back. The write lock `BEGIN
//! IMMEDIATE` takes keeps every other writer out, so the session's
//! counters are read and written without a race.

use std::collections::HashSet;

use async_trait::async_trait;
use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteRow;
use tenantry_core::decision::{
    ActivitySummary, Decision, DecisionFilter, DecisionOutcome, NewDecision, NewestFirstCursor, RecordKey,
    Recorded, Session, SessionFilter, SessionState, Severity, StoredForBatch, WorkspaceSelection, named_by,
    plan_recording,
};
use tenantry_core::relationship::{timestamp_from_micros, timestamp_micros};
use tenantry_core::{
    DecisionStore, Error, GroupId, Label, Page, PageRequest, Result, TenantId, TenantScope, Timestamp,
    WorkspaceId, audit,
};

use crate::audit::{Write, WriteScope};
use crate::error::{Operation, map_database_error};
use crate::rows::{decode, invalid_stored_value, optional_parsed, parsed};
use crate::{SqliteStore, json_id_array, overfetch_limit};

/// The columns [`decision_row`] reads.
const DECISION_COLUMNS: &str = "tenant_id, id, workspace_id, session_id, agent_id, actor, repository, \
     action_type, target, requested_operation, policy_pack, policy_id, rule_id, decision, severity, reason, \
     evidence_refs, approver_group, occurred_at, correlation_id, recorded_by, recorded_by_api_key, recorded_at";

/// The columns [`session_row`] reads.
const SESSION_COLUMNS: &str = "tenant_id, id, workspace_id, state, agent_id, actor, repository, policy_pack, \
     decision_count, blocked_count, approval_required_count, evidence_refs, started_at, updated_at";

/// The workspaces a read covers, as a condition on `workspace_id` with the
/// JSON array of ids bound as `?{parameter}` (NULL for every workspace).
/// One text per shape of selection, as on PostgreSQL: one workspace is an
/// equality the `(tenant_id, workspace_id, time, id)` index serves in order.
pub(crate) fn workspace_condition(selection: &WorkspaceSelection, parameter: usize) -> String {
    match selection {
        WorkspaceSelection::All => format!("?{parameter} IS NULL"),
        WorkspaceSelection::Only(ids) if ids.len() == 1 => {
            format!("workspace_id = json_extract(?{parameter}, '$[0]')")
        }
        WorkspaceSelection::Only(_) => {
            format!("workspace_id IN (SELECT value FROM json_each(?{parameter}))")
        }
    }
}

/// The JSON array bound for [`workspace_condition`].
pub(crate) fn workspace_ids(selection: &WorkspaceSelection) -> Option<String> {
    match selection {
        WorkspaceSelection::All => None,
        WorkspaceSelection::Only(ids) => Some(json_id_array(ids)),
    }
}

fn micros_column(row: &SqliteRow, column: &'static str) -> Result<Timestamp> {
    Ok(timestamp_from_micros(decode(row, column)?))
}

fn labels_column(row: &SqliteRow, column: &'static str) -> Result<Vec<Label>> {
    let text: String = decode(row, column)?;
    let strings: Vec<String> =
        serde_json::from_str(&text).map_err(|error| invalid_stored_value(column, error))?;
    strings
        .iter()
        .map(|label| Label::parse(label).map_err(|error| invalid_stored_value(column, error)))
        .collect()
}

fn labels_json(labels: &[Label]) -> String {
    serde_json::to_string(labels).unwrap_or_else(|_| "[]".to_owned())
}

fn count_column(row: &SqliteRow, column: &'static str) -> Result<u64> {
    let count: i64 = decode(row, column)?;
    u64::try_from(count).map_err(|error| invalid_stored_value(column, error))
}

fn decision_row(row: &SqliteRow) -> Result<Decision> {
    Ok(Decision {
        id: parsed(row, "id", RecordKey::parse)?,
        tenant_id: parsed(row, "tenant_id", TenantId::parse)?,
        workspace_id: parsed(row, "workspace_id", WorkspaceId::parse)?,
        session_id: parsed(row, "session_id", RecordKey::parse)?,
        agent_id: parsed(row, "agent_id", Label::parse)?,
        actor: optional_parsed(row, "actor", Label::parse)?,
        repository: optional_parsed(row, "repository", Label::parse)?,
        action_type: parsed(row, "action_type", Label::parse)?,
        target: optional_parsed(row, "target", Label::parse)?,
        requested_operation: optional_parsed(row, "requested_operation", Label::parse)?,
        policy_pack: optional_parsed(row, "policy_pack", Label::parse)?,
        policy_id: optional_parsed(row, "policy_id", Label::parse)?,
        rule_id: optional_parsed(row, "rule_id", Label::parse)?,
        decision: parsed(row, "decision", DecisionOutcome::parse)?,
        severity: parsed(row, "severity", Severity::parse)?,
        reason: optional_parsed(row, "reason", tenantry_core::decision::Reason::parse)?,
        evidence_refs: labels_column(row, "evidence_refs")?,
        approver_group: optional_parsed(row, "approver_group", GroupId::parse)?,
        occurred_at: micros_column(row, "occurred_at")?,
        correlation_id: optional_parsed(row, "correlation_id", Label::parse)?,
        recorded_by: decode(row, "recorded_by")?,
        recorded_by_api_key: decode(row, "recorded_by_api_key")?,
        recorded_at: micros_column(row, "recorded_at")?,
    })
}

fn session_row(row: &SqliteRow) -> Result<Session> {
    Ok(Session {
        id: parsed(row, "id", RecordKey::parse)?,
        tenant_id: parsed(row, "tenant_id", TenantId::parse)?,
        workspace_id: parsed(row, "workspace_id", WorkspaceId::parse)?,
        state: parsed(row, "state", SessionState::parse)?,
        agent_id: parsed(row, "agent_id", Label::parse)?,
        actor: optional_parsed(row, "actor", Label::parse)?,
        repository: optional_parsed(row, "repository", Label::parse)?,
        policy_pack: optional_parsed(row, "policy_pack", Label::parse)?,
        decision_count: count_column(row, "decision_count")?,
        blocked_count: count_column(row, "blocked_count")?,
        approval_required_count: count_column(row, "approval_required_count")?,
        evidence_refs: labels_column(row, "evidence_refs")?,
        started_at: micros_column(row, "started_at")?,
        updated_at: micros_column(row, "updated_at")?,
    })
}

fn stored_count(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// One stored decision, by id.
pub(crate) async fn find_decision(
    connection: &mut SqliteConnection,
    tenant_id: &TenantId,
    id: &RecordKey,
    operation: Operation,
) -> Result<Option<Decision>> {
    let table = ("decisions", DECISION_COLUMNS);
    let found = rows_by_ids(connection, tenant_id, table, std::slice::from_ref(id), decision_row, operation);
    Ok(found.await?.pop())
}

/// One stored session, by id.
async fn find_session(
    connection: &mut SqliteConnection,
    tenant_id: &TenantId,
    id: &RecordKey,
    operation: Operation,
) -> Result<Option<Session>> {
    let table = ("sessions", SESSION_COLUMNS);
    let found = rows_by_ids(connection, tenant_id, table, std::slice::from_ref(id), session_row, operation);
    Ok(found.await?.pop())
}

/// Writes a session's summary: inserts it, or replaces the stored one.
async fn put_session(
    connection: &mut SqliteConnection,
    session: &Session,
    operation: Operation,
) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO sessions ({SESSION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
         ON CONFLICT (tenant_id, id) DO UPDATE SET state = excluded.state, actor = excluded.actor, \
         repository = excluded.repository, policy_pack = excluded.policy_pack, \
         decision_count = excluded.decision_count, blocked_count = excluded.blocked_count, \
         approval_required_count = excluded.approval_required_count, evidence_refs = excluded.evidence_refs, \
         started_at = excluded.started_at, updated_at = excluded.updated_at"
    ))
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
    .bind(timestamp_micros(session.started_at))
    .bind(timestamp_micros(session.updated_at))
    .execute(&mut *connection)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    Ok(())
}

/// The stored rows of `table` with these ids, read in the write
/// transaction.
async fn rows_by_ids<T>(
    connection: &mut SqliteConnection,
    tenant_id: &TenantId,
    (table, columns): (&str, &str),
    ids: &[RecordKey],
    read: fn(&SqliteRow) -> Result<T>,
    operation: Operation,
) -> Result<Vec<T>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(&format!(
        "SELECT {columns} FROM {table} WHERE tenant_id = ?1 AND id IN (SELECT value FROM json_each(?2))"
    ))
    .bind(tenant_id.to_string())
    .bind(json_id_array(ids))
    .fetch_all(&mut *connection)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    rows.iter().map(read).collect()
}

/// Which of these workspaces the tenant has.
async fn existing_workspaces(
    connection: &mut SqliteConnection,
    tenant_id: &TenantId,
    workspace_ids: &[WorkspaceId],
    operation: Operation,
) -> Result<HashSet<WorkspaceId>> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM workspaces WHERE tenant_id = ?1 AND id IN (SELECT value FROM json_each(?2))",
    )
    .bind(tenant_id.to_string())
    .bind(json_id_array(workspace_ids))
    .fetch_all(&mut *connection)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    Ok(ids.iter().filter_map(|id| WorkspaceId::parse(id).ok()).collect())
}

/// Inserts new decisions, one statement for the batch: the rows go as a
/// JSON array of objects, unpacked with `json_each`.
async fn insert_decisions(
    connection: &mut SqliteConnection,
    tenant_id: &TenantId,
    decisions: &[Decision],
    operation: Operation,
) -> Result<()> {
    if decisions.is_empty() {
        return Ok(());
    }
    let text = |label: &Option<Label>| label.as_ref().map(|label| label.as_str().to_owned());
    let rows: Vec<serde_json::Value> = decisions
        .iter()
        .map(|decision| {
            serde_json::json!({
                "id": decision.id.as_str(),
                "workspace_id": decision.workspace_id.to_string(),
                "session_id": decision.session_id.as_str(),
                "agent_id": decision.agent_id.as_str(),
                "actor": text(&decision.actor),
                "repository": text(&decision.repository),
                "action_type": decision.action_type.as_str(),
                "target": text(&decision.target),
                "requested_operation": text(&decision.requested_operation),
                "policy_pack": text(&decision.policy_pack),
                "policy_id": text(&decision.policy_id),
                "rule_id": text(&decision.rule_id),
                "decision": decision.decision.as_str(),
                "severity": decision.severity.as_str(),
                "reason": decision.reason.as_ref().map(|reason| reason.as_str()),
                "evidence_refs": labels_json(&decision.evidence_refs),
                "approver_group": decision.approver_group.as_ref().map(ToString::to_string),
                "occurred_at": timestamp_micros(decision.occurred_at),
                "correlation_id": text(&decision.correlation_id),
                "recorded_by": decision.recorded_by,
                "recorded_by_api_key": decision.recorded_by_api_key,
                "recorded_at": timestamp_micros(decision.recorded_at),
            })
        })
        .collect();
    let columns: Vec<&str> = DECISION_COLUMNS.split(", ").skip(1).collect();
    let values: Vec<String> = columns.iter().map(|column| format!("d.value ->> '{column}'")).collect();
    sqlx::query(&format!(
        "INSERT INTO decisions ({DECISION_COLUMNS}) SELECT ?1, {} FROM json_each(?2) AS d",
        values.join(", ")
    ))
    .bind(tenant_id.to_string())
    .bind(serde_json::Value::Array(rows).to_string())
    .execute(&mut *connection)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    Ok(())
}

/// See [`DecisionStore::record_decisions`]: what the batch names is read in
/// three statements, planned in core, and written in two.
async fn record_decisions(
    store: &SqliteStore,
    scope: &TenantScope,
    decisions: Vec<NewDecision>,
) -> Result<Vec<Recorded>> {
    let operation = Operation::RecordDecisions;
    let tenant_id = scope.tenant_id();
    let (ids, workspaces, session_ids) = named_by(&decisions);
    let mut transaction = Write::begin(&store.pool, WriteScope::Tenant(scope), operation).await?;
    let stored_decisions = rows_by_ids(
        &mut transaction,
        tenant_id,
        ("decisions", DECISION_COLUMNS),
        &ids,
        decision_row,
        operation,
    )
    .await?;
    let stored_sessions = rows_by_ids(
        &mut transaction,
        tenant_id,
        ("sessions", SESSION_COLUMNS),
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

/// The rows of a read-only query, on a pooled connection.
async fn read_all<'q, T>(
    store: &SqliteStore,
    query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    operation: Operation,
    read: fn(&SqliteRow) -> Result<T>,
) -> Result<Vec<T>> {
    let rows =
        query.fetch_all(store.pool.reads()).await.map_err(|error| map_database_error(error, operation))?;
    rows.iter().map(read).collect()
}

/// The `(time, id)` bound of a newest-first page: the cursor, or past
/// every row.
fn newest_first_bound(after: Option<&NewestFirstCursor>) -> (i64, String) {
    match after {
        Some(cursor) => (timestamp_micros(cursor.at), cursor.id.as_str().to_owned()),
        None => (i64::MAX, String::new()),
    }
}

async fn list_decisions(
    store: &SqliteStore,
    scope: &TenantScope,
    filter: &DecisionFilter,
    page: PageRequest<NewestFirstCursor>,
) -> Result<Page<Decision>> {
    let (before_at, before_id) = newest_first_bound(page.after.as_ref());
    let sql = format!(
        "SELECT {DECISION_COLUMNS} FROM decisions WHERE tenant_id = ?1 \
         AND (occurred_at < ?2 OR (occurred_at = ?2 AND ?3 <> '' AND id < ?3)) \
         AND {} \
         AND (?5 IS NULL OR session_id = ?5) AND (?6 IS NULL OR agent_id = ?6) \
         AND (?7 IS NULL OR repository = ?7) AND (?8 IS NULL OR policy_pack = ?8) \
         AND (?9 IS NULL OR decision = ?9) AND (?10 IS NULL OR severity = ?10) \
         AND (?11 IS NULL OR action_type = ?11) AND (?12 IS NULL OR occurred_at >= ?12) \
         AND (?13 IS NULL OR occurred_at < ?13) \
         ORDER BY occurred_at DESC, id DESC LIMIT ?14",
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
        .bind(filter.since.map(timestamp_micros))
        .bind(filter.until.map(timestamp_micros))
        .bind(overfetch_limit(page.limit));
    let decisions = read_all(store, query, Operation::ListDecisions, decision_row).await?;
    Ok(Page::from_overfetched(decisions, page.limit, |decision| {
        NewestFirstCursor::encode(decision.occurred_at, &decision.id)
    }))
}

async fn list_sessions(
    store: &SqliteStore,
    scope: &TenantScope,
    filter: &SessionFilter,
    page: PageRequest<NewestFirstCursor>,
) -> Result<Page<Session>> {
    let (before_at, before_id) = newest_first_bound(page.after.as_ref());
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM sessions WHERE tenant_id = ?1 \
         AND (updated_at < ?2 OR (updated_at = ?2 AND ?3 <> '' AND id < ?3)) \
         AND {} \
         AND (?5 IS NULL OR agent_id = ?5) AND (?6 IS NULL OR repository = ?6) \
         AND (?7 IS NULL OR policy_pack = ?7) AND (?8 IS NULL OR state = ?8) \
         ORDER BY updated_at DESC, id DESC LIMIT ?9",
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
        .bind(overfetch_limit(page.limit));
    let sessions = read_all(store, query, Operation::ListSessions, session_row).await?;
    Ok(Page::from_overfetched(sessions, page.limit, |session| {
        NewestFirstCursor::encode(session.updated_at, &session.id)
    }))
}

async fn set_session_state(
    store: &SqliteStore,
    scope: &TenantScope,
    session_id: &RecordKey,
    state: SessionState,
) -> Result<Session> {
    let operation = Operation::SetSessionState;
    let mut transaction = Write::begin(&store.pool, WriteScope::Tenant(scope), operation).await?;
    let before = find_session(&mut transaction, scope.tenant_id(), session_id, operation)
        .await?
        .ok_or(Error::not_found("session"))?;
    let after = Session { state, ..before.clone() };
    if let Some(record) = audit::session_state_changed(&before, &after) {
        sqlx::query("UPDATE sessions SET state = ?3 WHERE tenant_id = ?1 AND id = ?2")
            .bind(scope.tenant_id().to_string())
            .bind(session_id.as_str())
            .bind(state.as_str())
            .execute(&mut *transaction)
            .await
            .map_err(|error| map_database_error(error, operation))?;
        transaction.record(record);
    }
    transaction.commit().await?;
    Ok(after)
}

async fn activity_summary(
    store: &SqliteStore,
    scope: &TenantScope,
    workspaces: &WorkspaceSelection,
) -> Result<ActivitySummary> {
    let operation = Operation::ActivitySummary;
    let sql = format!(
        "SELECT count(*) AS total_sessions, COALESCE(sum(decision_count), 0) AS total_decisions, \
         COALESCE(sum(blocked_count), 0) AS total_blocked, \
         COALESCE(sum(approval_required_count), 0) AS total_approval_required, \
         max(updated_at) AS latest_session_at, \
         (SELECT count(*) FROM approvals WHERE tenant_id = ?1 AND state = 'pending' AND expires_at > ?3 \
          AND {condition}) AS pending_approvals, \
         (SELECT count(*) FROM approvals WHERE tenant_id = ?1 AND state = 'break_glass' AND awaiting_review = 1 \
          AND {condition}) AS break_glass_awaiting_review \
         FROM sessions WHERE tenant_id = ?1 AND {condition}",
        condition = workspace_condition(workspaces, 2)
    );
    let row = sqlx::query(&sql)
        .bind(scope.tenant_id().to_string())
        .bind(workspace_ids(workspaces))
        .bind(timestamp_micros(tenantry_core::now()))
        .fetch_one(store.pool.reads())
        .await
        .map_err(|error| map_database_error(error, operation))?;
    let latest: Option<i64> = decode(&row, "latest_session_at")?;
    Ok(ActivitySummary {
        total_sessions: count_column(&row, "total_sessions")?,
        total_decisions: count_column(&row, "total_decisions")?,
        total_blocked: count_column(&row, "total_blocked")?,
        total_approval_required: count_column(&row, "total_approval_required")?,
        latest_session_at: latest.map(timestamp_from_micros),
        pending_approvals: count_column(&row, "pending_approvals")?,
        break_glass_awaiting_review: count_column(&row, "break_glass_awaiting_review")?,
    })
}

#[async_trait]
impl DecisionStore for SqliteStore {
    async fn record_decisions(
        &self,
        scope: &TenantScope,
        decisions: Vec<NewDecision>,
    ) -> Result<Vec<Recorded>> {
        record_decisions(self, scope, decisions).await
    }

    async fn get_decision(&self, scope: &TenantScope, decision_id: &RecordKey) -> Result<Decision> {
        let mut connection = self.pool.read_connection(Operation::GetDecision).await?;
        find_decision(&mut connection, scope.tenant_id(), decision_id, Operation::GetDecision)
            .await?
            .ok_or(Error::not_found("decision"))
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
        let mut connection = self.pool.read_connection(Operation::GetSession).await?;
        find_session(&mut connection, scope.tenant_id(), session_id, Operation::GetSession)
            .await?
            .ok_or(Error::not_found("session"))
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
