//! Wire types of operation runs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tenantry_core::Timestamp;
use tenantry_core::operation_run::{OperationRun, RunStatus, UnitProgress};
use utoipa::ToSchema;
use utoipa::openapi::schema::Object;

use super::decisions::text_enum_schema;

pub(crate) fn run_status_schema() -> Object {
    let values: Vec<&'static str> = RunStatus::ALL.iter().map(|status| status.as_str()).collect();
    text_enum_schema(&values, "Where the run stands.")
}

/// The progress of one unit of work (for a backfill, one table).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UnitProgressResponse {
    /// The unit's name.
    pub unit: String,
    /// How many items it has, when known.
    pub total: Option<u64>,
    /// Items looked at.
    pub scanned: u64,
    /// Items that needed work.
    pub missing: u64,
    /// Items changed.
    pub updated: u64,
    /// Whether the unit is finished.
    pub done: bool,
}

impl From<UnitProgress> for UnitProgressResponse {
    fn from(unit: UnitProgress) -> Self {
        Self {
            unit: unit.unit,
            total: unit.total,
            scanned: unit.scanned,
            missing: unit.missing,
            updated: unit.updated,
            done: unit.done,
        }
    }
}

/// An operation run, as of the response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OperationRunResponse {
    /// The run's id (`run_…`).
    pub id: String,
    /// What kind of work it is (`webhook.deliver`, …).
    pub kind: String,
    /// Its parameters, secrets masked.
    #[schema(value_type = Object)]
    pub parameters: serde_json::Value,
    /// The tenant it acts on, if one.
    pub target_tenant_id: Option<String>,
    /// Who started it (a user id); null when tenantry did.
    pub started_by: Option<String>,
    /// Where it stands.
    #[schema(schema_with = run_status_schema)]
    pub status: String,
    /// Progress per unit of work.
    pub progress: Vec<UnitProgressResponse>,
    /// Where its last step ended, as its job put it.
    pub cursor: Option<String>,
    /// The pause between steps, in milliseconds.
    pub throttle_ms: u32,
    /// How many jobs it has.
    pub jobs_total: u32,
    /// How many of them finished.
    pub jobs_done: u32,
    /// Items scanned per second since it started; null before it started.
    pub throughput_per_second: Option<f64>,
    /// Seconds left at that rate, when every unit's total is known.
    pub eta_seconds: Option<i64>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When a worker first started it.
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Why it errored, or was last interrupted.
    pub error: Option<String>,
}

impl OperationRunResponse {
    /// The run as of `now` (its throughput and ETA).
    pub fn at(run: OperationRun, now: Timestamp) -> Self {
        let throughput_per_second = run.throughput(now);
        let eta_seconds = run.eta(now).map(|eta| eta.num_seconds());
        Self {
            id: run.id.to_string(),
            kind: run.kind.to_string(),
            parameters: run.parameters,
            target_tenant_id: run.target_tenant_id.map(|tenant| tenant.to_string()),
            started_by: run.started_by,
            status: run.status.as_str().to_owned(),
            progress: run.progress.into_iter().map(Into::into).collect(),
            cursor: run.cursor,
            throttle_ms: run.throttle_ms,
            jobs_total: run.jobs_total,
            jobs_done: run.jobs_done,
            throughput_per_second,
            eta_seconds,
            created_at: run.created_at,
            started_at: run.started_at,
            finished_at: run.finished_at,
            updated_at: run.updated_at,
            error: run.error,
        }
    }
}

/// The body of `PATCH /v1/operations/{id}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOperationRequest {
    /// The pause between the run's steps, 0 to 60,000 milliseconds.
    #[serde(deserialize_with = "super::whole_number_required")]
    #[schema(minimum = 0, maximum = 60000)]
    pub throttle_ms: i64,
}

/// One server-sent event of `GET /v1/operations/{id}/events`, as a client
/// reads it: `event` is `progress`, `data` the run as JSON (an
/// `OperationRunResponse`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OperationProgressEvent {
    /// The event's name: `progress`.
    #[schema(example = "progress")]
    pub event: String,
    /// The run, as JSON text.
    pub data: String,
}
