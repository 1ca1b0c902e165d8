//! `tenantry operations list|show|watch|pause|resume|cancel|throttle`: operation
//! runs, for operators, directly on the database, as the API's
//! `/v1/operations` (changes are the platform's audit events, as the
//! operator CLI's). `watch` draws a progress bar (rate and ETA) until the
//! run is over, and exits with its outcome.

use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tenantry_core::decision::NewestFirstCursor;
use tenantry_core::operation_run::{OperationRun, RunRequest, RunStatus};
use tenantry_core::{PlatformScope, Store};

use super::collect_pages_with;
use crate::cli::OperationsCommand;
use crate::failure::ExitStatus;
use crate::output::{self, Output};

const HEADER: [&str; 7] = ["ID", "KIND", "STATUS", "JOBS", "SCANNED", "CREATED", "TENANT"];

/// How often `watch` reads the run.
const WATCH_POLL: Duration = Duration::from_millis(500);

fn row(run: &OperationRun) -> Vec<String> {
    vec![
        run.id.to_string(),
        run.kind.to_string(),
        run.status.to_string(),
        format!("{}/{}", run.jobs_done, run.jobs_total),
        run.scanned().to_string(),
        output::timestamp(&run.created_at),
        run.target_tenant_id.as_ref().map_or_else(|| "-".to_owned(), ToString::to_string),
    ]
}

fn details(run: &OperationRun) -> String {
    let now = tenantry_core::now();
    let mut lines = vec![output::table(&HEADER, &[row(run)])];
    for unit in &run.progress {
        lines.push(format!(
            "  {:<24} scanned {} of {}, missing {}, updated {}{}",
            unit.unit,
            unit.scanned,
            unit.total.map_or_else(|| "?".to_owned(), |total| total.to_string()),
            unit.missing,
            unit.updated,
            if unit.done { ", done" } else { "" }
        ));
    }
    if let Some(cursor) = &run.cursor {
        lines.push(format!("  cursor: {cursor}"));
    }
    if let Some(rate) = run.throughput(now) {
        lines.push(format!("  {rate:.1} items/s"));
    }
    if let Some(eta) = run.eta(now) {
        lines.push(format!("  about {} s left", eta.num_seconds()));
    }
    if let Some(error) = &run.error {
        lines.push(format!("  error: {error}"));
    }
    lines.join("\n")
}

/// The bar's position and length: items over every unit when each unit's
/// total is known, else jobs.
fn position(run: &OperationRun) -> (u64, u64) {
    let totals: Option<u64> = run.progress.iter().map(|unit| unit.total).sum();
    match totals {
        Some(total) if !run.progress.is_empty() => (run.scanned(), total),
        _ => (u64::from(run.jobs_done), u64::from(run.jobs_total)),
    }
}

/// Follows a run until it is over; the outcome decides the exit status.
async fn watch(store: &dyn Store, run_id: &tenantry_core::RunId, output: Output) -> anyhow::Result<()> {
    let run = follow(store, run_id).await?;
    output.emit(&run, || details(&run))?;
    outcome(&run)
}

/// Draws a run's progress on stderr until it is over; the run as it ended.
pub(crate) async fn follow(store: &dyn Store, run_id: &tenantry_core::RunId) -> anyhow::Result<OperationRun> {
    let platform = PlatformScope::operator_cli();
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} {per_sec} ETA {eta} {msg}",
        )
        .context("the progress bar's template")?,
    );
    let run = loop {
        let run = store
            .get_run(&platform, run_id)
            .await
            .with_context(|| format!("reading operation run {run_id}"))?;
        let (position, length) = position(&run);
        bar.set_length(length);
        bar.set_position(position);
        bar.set_message(run.status.to_string());
        if run.status.is_terminal() {
            break run;
        }
        tokio::time::sleep(WATCH_POLL).await;
    };
    bar.finish_and_clear();
    Ok(run)
}

/// A run that is over as the command's outcome: success, or exit 1
/// (errored) or 6 (cancelled).
pub(crate) fn outcome(run: &OperationRun) -> anyhow::Result<()> {
    let run_id = &run.id;
    match run.status {
        RunStatus::Succeeded => Ok(()),
        RunStatus::Cancelled => Err(crate::failure::RunOutcome(
            ExitStatus::Cancelled,
            format!("operation run {run_id} was cancelled"),
        )
        .into()),
        _ => Err(crate::failure::RunOutcome(
            ExitStatus::Internal,
            format!(
                "operation run {run_id} errored: {}",
                run.error.as_deref().unwrap_or("no reason recorded")
            ),
        )
        .into()),
    }
}

/// Runs one operations subcommand.
pub async fn run(store: &dyn Store, command: OperationsCommand, output: Output) -> anyhow::Result<()> {
    let platform = PlatformScope::operator_cli();
    let at = tenantry_core::now();
    match command {
        OperationsCommand::List => {
            let runs = collect_pages_with(
                async |page| store.list_runs(&platform, page).await,
                NewestFirstCursor::parse,
            )
            .await
            .context("listing operation runs")?;
            let rows: Vec<Vec<String>> = runs.iter().map(row).collect();
            output.emit(&runs, || output::table(&HEADER, &rows))
        }
        OperationsCommand::Show { id } => {
            let run =
                store.get_run(&platform, &id).await.with_context(|| format!("reading operation run {id}"))?;
            output.emit(&run, || details(&run))
        }
        OperationsCommand::Watch { id } => watch(store, &id, output).await,
        OperationsCommand::Pause { id } => {
            control(store, &platform, &id, RunRequest::Pause, at, output).await
        }
        OperationsCommand::Resume { id } => {
            control(store, &platform, &id, RunRequest::Resume, at, output).await
        }
        OperationsCommand::Cancel { id } => {
            control(store, &platform, &id, RunRequest::Cancel, at, output).await
        }
        OperationsCommand::Throttle { id, ms } => {
            tenantry_core::operation_run::throttle(i64::from(ms))
                .map_err(|rule| tenantry_core::Error::invalid("--ms", rule))?;
            let run = store
                .set_run_throttle(&platform, &id, ms, at)
                .await
                .with_context(|| format!("changing the throttle of operation run {id}"))?;
            output.emit(&run, || details(&run))
        }
    }
}

async fn control(
    store: &dyn Store,
    platform: &PlatformScope,
    id: &tenantry_core::RunId,
    request: RunRequest,
    at: tenantry_core::Timestamp,
    output: Output,
) -> anyhow::Result<()> {
    let run = store
        .request_run(platform, id, request, at)
        .await
        .with_context(|| format!("changing operation run {id}"))?;
    output.emit(&run, || details(&run))
}
