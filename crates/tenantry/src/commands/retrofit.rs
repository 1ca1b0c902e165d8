//! `tenantry retrofit plan|backfill|enforce CONFIG`: workspace isolation
//! for an existing application database. The work on that database is
//! `tenantry_retrofit`'s; this module reads tenantry's tenants and
//! workspaces for it, starts the backfill as an operation run (its jobs
//! run in the job queue's workers) and prints what happened.

use std::path::Path;

use anyhow::Context;
use tenantry_core::operation_run::{NewJob, NewRun, OperationRun, RunRequest, RunStatus, WorkName, throttle};
use tenantry_core::{Error, PlatformScope, Store, TenantId, TenantScope, WorkspaceId};
use tenantry_retrofit::backfill::{self, TableJob};
use tenantry_retrofit::plan::{Directory, DirectoryTenant, Plan};
use tenantry_retrofit::{AppDatabase, RetrofitConfig, RetrofitError, config::masked_url};

use super::{collect_pages, operations};
use crate::cli::{BackfillArgs, RetrofitCommand};
use crate::output::Output;

/// Reads and checks the configuration file.
fn read_config(path: &Path) -> anyhow::Result<RetrofitConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the retrofit's configuration {}", path.display()))?;
    RetrofitConfig::parse(&text).with_context(|| format!("in {}", path.display()))
}

/// tenantry's tenants and their workspaces.
async fn directory(store: &dyn Store) -> anyhow::Result<Directory> {
    let platform = PlatformScope::operator_cli();
    let tenants = collect_pages(async |page| store.list_tenants(&platform, page).await, TenantId::parse)
        .await
        .context("listing tenantry's tenants")?;
    let mut directory = Directory::default();
    for tenant in tenants {
        let scope = TenantScope::system(tenant.id.clone(), "retrofit");
        let workspaces =
            collect_pages(async |page| store.list_workspaces(&scope, page).await, WorkspaceId::parse)
                .await
                .with_context(|| format!("listing the workspaces of {}", tenant.id))?;
        let Some(root) = workspaces.iter().find(|workspace| workspace.is_root) else { continue };
        directory.tenants.push(DirectoryTenant {
            id: tenant.id.to_string(),
            name: tenant.name.to_string(),
            root_workspace_id: root.id.to_string(),
            workspace_ids: workspaces.iter().map(|workspace| workspace.id.to_string()).collect(),
        });
    }
    Ok(directory)
}

async fn connect(config: &RetrofitConfig) -> anyhow::Result<AppDatabase> {
    Ok(AppDatabase::connect(&config.database_url()?).await?)
}

fn indent(lines: &[String]) -> String {
    lines.iter().map(|line| format!("  {line}\n")).collect()
}

/// The plan, for people.
fn describe(plan: &Plan) -> String {
    let header = ["TABLE", "ROWS", "MISSING", "WORKSPACE FROM"];
    let rows: Vec<Vec<String>> = plan
        .tables
        .iter()
        .map(|table| {
            vec![
                table.table.clone(),
                table.rows.to_string(),
                table.missing.to_string(),
                table.derivation.clone(),
            ]
        })
        .collect();
    let mut text = format!("application database: {:?}\n", plan.dialect).to_lowercase();
    text.push_str(&crate::output::table(&header, &rows));
    text.push('\n');
    let backfill: Vec<String> = plan
        .setup_ddl
        .iter()
        .chain(plan.tables.iter().flat_map(|table| &table.backfill_ddl))
        .cloned()
        .collect();
    text.push_str(&format!(
        "the backfill's start runs ({} workspaces of {} tenants go into tenantry_workspaces):\n{}",
        plan.pairs.len(),
        plan.pairs.iter().filter(|pair| pair.is_default).count(),
        indent(&backfill)
    ));
    let indexes: Vec<String> = plan.tables.iter().flat_map(|table| table.indexes.clone()).collect();
    text.push_str(&format!("enforce adds the indexes:\n{}", indent(&indexes)));
    let enforce: Vec<String> = plan.tables.iter().flat_map(|table| table.enforce_ddl.clone()).collect();
    text.push_str(&format!("enforce runs:\n{}", indent(&enforce)));
    text.push_str(&format!(
        "validation (every count must be 0 once the backfill is over):\n{}",
        indent(&plan.validation_sql)
    ));
    if plan.blockers.is_empty() {
        text.push_str("nothing blocks the backfill\n");
    } else {
        text.push_str(&format!("blocked:\n{}", indent(&plan.blockers)));
    }
    text
}

fn blocked(plan: &Plan) -> anyhow::Error {
    RetrofitError::Refused(format!(
        "nothing was written; the backfill is blocked: {}",
        plan.blockers.join("; ")
    ))
    .into()
}

/// Runs one retrofit subcommand.
pub async fn run(store: &dyn Store, command: RetrofitCommand, output: Output) -> anyhow::Result<()> {
    match command {
        RetrofitCommand::Plan { config, table } => {
            let config = read_config(&config)?;
            let app = connect(&config).await?;
            let plan =
                tenantry_retrofit::plan::plan(&app, &config, &directory(store).await?, table.as_deref())
                    .await?;
            output.emit(&plan, || describe(&plan))?;
            if plan.blockers.is_empty() { Ok(()) } else { Err(blocked(&plan)) }
        }
        RetrofitCommand::Backfill(arguments) => start_backfill(store, *arguments, output).await,
        RetrofitCommand::Enforce { config } => {
            let config = read_config(&config)?;
            let app = connect(&config).await?;
            if let Some(holder) = app.lock_holder().await?
                && let Ok(run) = store.get_run(&PlatformScope::operator_cli(), &parse_run(&holder)?).await
                && !run.status.is_terminal()
            {
                return Err(RetrofitError::Refused(format!(
                    "operation run {} (a backfill, {}) holds the retrofit's lock; enforce once it is over",
                    run.id, run.status
                ))
                .into());
            }
            let applied = tenantry_retrofit::enforce::enforce(&app, &config).await?;
            output.emit(&applied, || {
                applied
                    .iter()
                    .map(|step| {
                        let mut line = format!(
                            "{}: {} ({})\n",
                            step.table,
                            step.step,
                            if step.ran { "done now" } else { "already in place" }
                        );
                        line.push_str(&indent(&step.sql));
                        line
                    })
                    .collect()
            })
        }
    }
}

fn parse_run(id: &str) -> anyhow::Result<tenantry_core::RunId> {
    tenantry_core::RunId::parse(id)
        .map_err(|error| anyhow::anyhow!("the retrofit's lock names {id:?}: {error}"))
}

/// What a dry run would do to one table.
#[derive(Debug, serde::Serialize)]
struct DryRunCount<'a> {
    table: &'a str,
    rows: u64,
    missing: u64,
    would_scan: u64,
}

fn check_arguments(arguments: &BackfillArgs, config: &RetrofitConfig) -> Result<(), Error> {
    if !(1..=backfill::MAX_BATCH_SIZE).contains(&arguments.batch_size) {
        return Err(Error::invalid(
            "--batch-size",
            format!("must be from 1 to {}", backfill::MAX_BATCH_SIZE),
        ));
    }
    throttle(i64::from(arguments.throttle_ms)).map_err(|rule| Error::invalid("--throttle-ms", rule))?;
    if arguments.max_rows == Some(0) {
        return Err(Error::invalid("--max-rows", "must be at least 1"));
    }
    if let Some(table) = &arguments.table
        && config.table(table).is_none()
    {
        return Err(Error::invalid("--table", format!("{table} is not a configured table")));
    }
    if let (Some(cursor), Some(table)) = (&arguments.resume_from, &arguments.table) {
        let key_length = config.table(table).map_or(0, |table| table.key.len());
        let valid = serde_json::from_str::<serde_json::Value>(cursor).ok().is_some_and(|value| {
            value.as_array().is_some_and(|items| {
                items.len() == key_length && items.iter().all(|item| item.is_string() || item.is_number())
            })
        });
        if !valid {
            return Err(Error::invalid(
                "--resume-from",
                format!(
                    "must be a JSON array of the {key_length} values of {table}'s key, as `operations show` prints the cursor"
                ),
            ));
        }
    }
    Ok(())
}

async fn start_backfill(store: &dyn Store, arguments: BackfillArgs, output: Output) -> anyhow::Result<()> {
    let config = read_config(&arguments.config)?;
    check_arguments(&arguments, &config)?;
    if let Some(url) = &config.database.url
        && tenantry_retrofit::config::has_password(url)
        && !arguments.dry_run
    {
        return Err(Error::invalid(
            "database.url",
            "holds a password, which the operation run would store; name an environment variable holding the URL with database.url_env (the workers read it)",
        )
        .into());
    }
    let app = connect(&config).await?;
    let platform = PlatformScope::operator_cli();
    let plan =
        tenantry_retrofit::plan::plan(&app, &config, &directory(store).await?, arguments.table.as_deref())
            .await?;
    if arguments.dry_run {
        let counts: Vec<DryRunCount> = plan
            .tables
            .iter()
            .map(|table| DryRunCount {
                table: &table.table,
                rows: table.rows,
                missing: table.missing,
                would_scan: arguments.max_rows.map_or(table.rows, |max| table.rows.min(max)),
            })
            .collect();
        let report = serde_json::json!({"dry_run": true, "tables": counts, "blockers": plan.blockers});
        output.emit(&report, || {
            let rows: Vec<Vec<String>> = counts
                .iter()
                .map(|count| {
                    vec![
                        count.table.to_owned(),
                        count.rows.to_string(),
                        count.missing.to_string(),
                        count.would_scan.to_string(),
                    ]
                })
                .collect();
            let mut text = crate::output::table(&["TABLE", "ROWS", "MISSING", "WOULD SCAN"], &rows);
            text.push_str("\ndry run: nothing was written\n");
            if !plan.blockers.is_empty() {
                text.push_str(&format!("blocked:\n{}", indent(&plan.blockers)));
            }
            text
        })?;
        return if plan.blockers.is_empty() { Ok(()) } else { Err(blocked(&plan)) };
    }
    if !plan.blockers.is_empty() {
        return Err(blocked(&plan));
    }
    let mut start = app.begin_start(&plan).await?;
    if let Some(holder) = start.holder().await? {
        let holder_id = parse_run(&holder)?;
        match store.get_run(&platform, &holder_id).await {
            Ok(run) if !run.status.is_terminal() => {
                return resume_or_refuse(store, run, &config, &arguments, output).await;
            }
            Ok(_) | Err(Error::NotFound { .. }) => {}
            Err(error) => return Err(anyhow::Error::new(error).context("reading the run holding the lock")),
        }
    }
    start.prepare(&plan).await?;
    let new_run = NewRun {
        kind: WorkName::parse(backfill::RUN_KIND).map_err(Error::internal)?,
        parameters: parameters(&config, &arguments),
        target_tenant_id: None,
        throttle_ms: arguments.throttle_ms,
        jobs: plan
            .tables
            .iter()
            .map(|table| {
                let configured = config.table(&table.table).expect("planned tables are configured");
                let wait_for = configured
                    .workspace_via
                    .as_ref()
                    .map(|lookup| lookup.table.clone())
                    .filter(|other| plan.table(other).is_some());
                let job = TableJob {
                    config: stored_config(&config),
                    table: table.table.clone(),
                    batch_size: arguments.batch_size,
                    max_rows: arguments.max_rows,
                    resume_from: arguments.resume_from.clone(),
                    wait_for,
                    total: table.rows,
                };
                Ok(NewJob {
                    kind: WorkName::parse(backfill::JOB_KIND).map_err(Error::internal)?,
                    payload: serde_json::to_value(job).map_err(Error::internal)?,
                })
            })
            .collect::<Result<_, Error>>()?,
    };
    let run = store
        .create_run(&platform, new_run, tenantry_core::now())
        .await
        .context("creating the operation run")?;
    if let Err(error) = start.commit(&run.id.to_string()).await {
        // The lock was not taken: the run must not go on without it.
        let _ = store.request_run(&platform, &run.id, RunRequest::Cancel, tenantry_core::now()).await;
        return Err(
            anyhow::Error::new(error).context(format!("taking the retrofit's lock for run {}", run.id))
        );
    }
    if arguments.wait {
        // The summary is the output; the run's id goes to stderr.
        eprintln!("backfill started: operation run {}", run.id);
        wait(store, &app, &config, &plan, &run.id, output).await
    } else {
        announce(&run, output, "started")
    }
}

/// The configuration as runs and jobs store it: no password (refused
/// before), the URL masked all the same.
fn stored_config(config: &RetrofitConfig) -> RetrofitConfig {
    let mut stored = config.clone();
    stored.database.url = stored.database.url.as_deref().map(masked_url);
    stored
}

fn parameters(config: &RetrofitConfig, arguments: &BackfillArgs) -> serde_json::Value {
    serde_json::json!({
        "config": stored_config(config),
        "table": arguments.table,
        "batch_size": arguments.batch_size,
        "max_rows": arguments.max_rows,
        "resume_from": arguments.resume_from,
    })
}

fn announce(run: &OperationRun, output: Output, what: &str) -> anyhow::Result<()> {
    output.emit(run, || {
        format!(
            "backfill {what}: operation run {id}\nwatch it with: tenantry operations watch {id}",
            id = run.id
        )
    })
}

/// A backfill holds the lock: the same backfill, paused or interrupted, is
/// resumed; anything else is refused, naming it.
async fn resume_or_refuse(
    store: &dyn Store,
    run: OperationRun,
    config: &RetrofitConfig,
    arguments: &BackfillArgs,
    output: Output,
) -> anyhow::Result<()> {
    let same = run.kind.as_str() == backfill::RUN_KIND && run.parameters == parameters(config, arguments);
    if same && matches!(run.status, RunStatus::Paused | RunStatus::Interrupted) {
        let resumed = store
            .request_run(&PlatformScope::operator_cli(), &run.id, RunRequest::Resume, tenantry_core::now())
            .await
            .with_context(|| format!("resuming operation run {}", run.id))?;
        return announce(&resumed, output, "resumed");
    }
    Err(RetrofitError::Refused(format!(
        "operation run {} (a backfill, {}) holds the retrofit's lock; watch it with `tenantry operations watch {}`, \
         or cancel it with `tenantry operations cancel {}`",
        run.id, run.status, run.id, run.id
    ))
    .into())
}

/// Follows the run, then prints the summary and exits with its outcome.
async fn wait(
    store: &dyn Store,
    app: &AppDatabase,
    config: &RetrofitConfig,
    plan: &Plan,
    run_id: &tenantry_core::RunId,
    output: Output,
) -> anyhow::Result<()> {
    let run = operations::follow(store, run_id).await?;
    let progress = app.progress().await?;
    let mine: Vec<_> = progress.iter().filter(|(_, run, _)| *run == run_id.to_string()).collect();
    let duration = match (run.started_at, run.finished_at) {
        (Some(started), Some(finished)) => (finished - started).num_milliseconds() as f64 / 1000.0,
        _ => 0.0,
    };
    let validation: Vec<String> = plan
        .tables
        .iter()
        .flat_map(|table| tenantry_retrofit::plan::validation(config, &table.table))
        .collect();
    let summary = serde_json::json!({
        "run": run,
        "duration_seconds": duration,
        "tables": mine.iter().map(|(table, _, progress)| serde_json::json!({
            "table": table, "scanned": progress.scanned, "missing": progress.missing,
            "updated": progress.updated, "done": progress.done, "cursor": progress.cursor,
        })).collect::<Vec<_>>(),
        "validation_sql": validation,
    });
    output.emit(&summary, || {
        let rows: Vec<Vec<String>> = mine
            .iter()
            .map(|(table, _, progress)| {
                vec![
                    table.clone(),
                    progress.scanned.to_string(),
                    progress.missing.to_string(),
                    progress.updated.to_string(),
                    if progress.done { "yes".to_owned() } else { "no".to_owned() },
                ]
            })
            .collect();
        format!(
            "operation run {} {} in {duration:.1} s\n{}\nvalidation (every count must be 0):\n{}",
            run.id,
            run.status,
            crate::output::table(&["TABLE", "SCANNED", "MISSING", "UPDATED", "DONE"], &rows),
            indent(&validation)
        )
    })?;
    operations::outcome(&run)
}
