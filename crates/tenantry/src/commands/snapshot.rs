//! `tenantry export`, `tenantry import` and `tenantry migrate-backend`:
//! moving a whole deployment between databases, through a snapshot file
//! (`tenantry_core::snapshot`) or in one step.
//!
//! The pepper: API keys travel as their hashes, which only the pepper that
//! keyed them verifies. The snapshot carries the pepper's fingerprint;
//! `import` refuses a target whose pepper (its `--api-key-pepper-file`, or
//! the one its database keeps) has another. A deployment that kept its
//! pepper in the database hands it over out of band (`export
//! --api-key-pepper-output`, then `import --api-key-pepper-file`, which
//! stores it in the target database as the source kept it);
//! `migrate-backend` copies it database to database.
//!
//! An import commits in one transaction, then checks what the target holds
//! against the snapshot's trailer and verifies every audit log, as `audit
//! verify` does. `migrate-backend` then records the move as an operation
//! run in the target, whose one job it runs in-process: a run's events go
//! to the platform's audit log, which in an empty target must first
//! receive the source's log with its seqs and hashes, so the run can only
//! begin once the import committed (nor could a separate transaction write
//! to SQLite while the import holds its write lock).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use serde::Serialize;
use tenantry_core::audit_service::{self, VerifierKey, VerifyFailure};
use tenantry_core::operation_run::{JobEnd, NewJob, NewRun, Step, UnitProgress, WorkName, masked_url};
use tenantry_core::snapshot::{
    Header, ImportSource, PepperKeptIn, PepperNote, RECORD_KINDS, RecordCounts, ReissuedWebhookSecret,
    SnapshotReader, SnapshotWriter, pepper_fingerprint,
};
use tenantry_core::{Error, PartitionScope, PlatformScope, Store};

use crate::audit_key;
use crate::backend::{self, DatabaseLocation};
use crate::cli::{ExportArgs, GlobalOptions, ImportArgs, MigrateBackendArgs};
use crate::commands::{all_tenants, operator_scope};
use crate::failure::EvidenceInvalid;
use crate::output::Output;
use crate::pepper::read_pepper_file;

/// The kind of the run `migrate-backend` records, and of its one job.
pub const MIGRATE_BACKEND: &str = "backend.migrate";

/// What `export` prints.
#[derive(Debug, Serialize)]
struct ExportOutcome {
    output: String,
    records: u64,
    counts: RecordCounts,
    api_key_pepper_fingerprint: String,
}

/// One audit log an import verified.
#[derive(Debug, Serialize)]
struct VerifiedLog {
    log: String,
    events: u64,
    checkpoints: u64,
}

/// What `import` and `migrate-backend` print.
#[derive(Debug, Serialize)]
struct ImportOutcome {
    backend: &'static str,
    records: u64,
    counts: RecordCounts,
    logs_verified: usize,
    events_verified: u64,
    checkpoints_verified: u64,
    verifier_key: String,
    api_key_pepper_stored: bool,
    webhook_secrets_reissued: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    run_id: Option<String>,
}

impl ImportOutcome {
    fn describe(&self) -> String {
        let mut text = format!(
            "imported {} records into the {} database; every count matches the snapshot's trailer",
            self.records, self.backend
        );
        text.push_str(&format!(
            "\nverified {} audit logs ({} events, {} checkpoints) with the key {}",
            self.logs_verified, self.events_verified, self.checkpoints_verified, self.verifier_key
        ));
        if self.api_key_pepper_stored {
            text.push_str("\nstored the API key pepper in the target database, as the source kept it");
        }
        if self.webhook_secrets_reissued > 0 {
            text.push_str(&format!(
                "\nissued new signing secrets to {} webhook subscriptions; give each to its tenant's receiver",
                self.webhook_secrets_reissued
            ));
        }
        if let Some(run_id) = &self.run_id {
            text.push_str(&format!(
                "\nrecorded as operation run {run_id} (`tenantry operations show {run_id}`)"
            ));
        }
        text
    }
}

/// A database named by URL, opened for an operator as
/// [`backend::open_for_operator`] does: never created, never migrated.
async fn open_url(
    global: &GlobalOptions,
    url: &str,
    flag: &'static str,
) -> anyhow::Result<(Arc<dyn Store>, DatabaseLocation)> {
    let location = DatabaseLocation::from_url(&global.data_dir, Some(url))
        .map_err(|_| Error::invalid(flag, "must start with sqlite://, postgres:// or postgresql://"))?;
    let store: Arc<dyn Store> = match &location {
        DatabaseLocation::Sqlite { path } => {
            if !path.is_file() {
                return Err(Error::invalid(
                    flag,
                    format!(
                        "no tenantry database at {}; run `tenantry migrate --database-url {url}` first",
                        path.display()
                    ),
                )
                .into());
            }
            let store = tenantry_store_sqlite::SqliteStore::open(path)
                .await
                .with_context(|| format!("opening the SQLite database {}", path.display()))?;
            Arc::new(store.with_limits(global.store_limits()))
        }
        DatabaseLocation::Postgres { url } => {
            let store = tenantry_store_postgres::PostgresStore::connect_platform(url)
                .await
                .with_context(|| format!("connecting to PostgreSQL as the platform role of {flag}"))?;
            Arc::new(store.with_limits(global.store_limits()))
        }
    };
    backend::require_current_schema(store.as_ref(), &location).await?;
    Ok((store, location))
}

/// The pepper the source's keys are hashed with, and where it is kept.
async fn source_pepper(
    store: &dyn Store,
    pepper_file: Option<&Path>,
) -> anyhow::Result<(Vec<u8>, PepperKeptIn)> {
    if let Some(path) = pepper_file {
        return Ok((read_pepper_file(path)?, PepperKeptIn::File));
    }
    let stored = store.stored_api_key_pepper().await.context("reading the database's API key pepper")?;
    let pepper = stored.ok_or_else(|| {
        Error::invalid(
            "--api-key-pepper-file",
            "the database keeps no API key pepper; pass the file its `serve` was given",
        )
    })?;
    Ok((pepper, PepperKeptIn::Database))
}

/// The verifier key of the deployment's audit signing key, when the file
/// is there.
fn deployment_verifier_key(global: &GlobalOptions) -> Option<VerifierKey> {
    let path = global.audit_key_path();
    path.exists().then(|| audit_key::load(&path).ok().map(|signer| signer.verifier_key())).flatten()
}

/// Creates a new file readable by its owner only; an existing one is
/// refused, never overwritten.
fn create_private_file(path: &Path, flag: &'static str) -> anyhow::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map_err(|error| {
        let reason = if error.kind() == std::io::ErrorKind::AlreadyExists {
            format!("{} exists; name a new file (it is never overwritten)", path.display())
        } else {
            format!("cannot create {}: {error}", path.display())
        };
        Error::invalid(flag, reason).into()
    })
}

/// Writes the snapshot of `store` to `output` (a file, written beside its
/// name and renamed into place when whole, or standard output).
async fn write_snapshot(store: &dyn Store, header: &Header, output: &Path) -> anyhow::Result<RecordCounts> {
    let platform = PlatformScope::operator_cli();
    if output.as_os_str() == "-" {
        let mut writer = SnapshotWriter::new(std::io::BufWriter::new(std::io::stdout()), header)?;
        store.export_snapshot(&platform, &mut writer).await.context("exporting the database")?;
        return Ok(writer.finish()?.1);
    }
    let mut partial = output.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let file = create_private_file(&partial, "--output")?;
    let mut writer = SnapshotWriter::new(std::io::BufWriter::new(file), header)?;
    let exported = store.export_snapshot(&platform, &mut writer).await.context("exporting the database");
    let finished = exported.and_then(|()| Ok(writer.finish()?));
    match finished {
        Ok((file, counts)) => {
            file.into_inner()
                .map_err(|error| error.into_error())
                .and_then(|file| file.sync_all())
                .with_context(|| format!("writing {}", partial.display()))?;
            if output.exists() {
                let _ = std::fs::remove_file(&partial);
                return Err(Error::invalid(
                    "--output",
                    format!("{} exists; it is never overwritten", output.display()),
                )
                .into());
            }
            std::fs::rename(&partial, output)
                .with_context(|| format!("renaming {} to {}", partial.display(), output.display()))?;
            Ok(counts)
        }
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            Err(error)
        }
    }
}

/// Runs `tenantry export`.
pub async fn export(global: &GlobalOptions, arguments: ExportArgs, output: Output) -> anyhow::Result<()> {
    let location = DatabaseLocation::from_options(global)?;
    let store = backend::open_for_operator(global).await?;
    let (pepper, kept_in) =
        source_pepper(store.as_ref(), arguments.pepper.api_key_pepper_file.as_deref()).await?;
    let fingerprint = pepper_fingerprint(&pepper);
    let header = tenantry_core::snapshot::header(
        tenantry_core::now(),
        location.backend_name(),
        PepperNote { fingerprint: fingerprint.clone(), kept_in },
        deployment_verifier_key(global).map(|key| key.to_string()),
    );
    if let Some(path) = &arguments.api_key_pepper_output {
        let mut file = create_private_file(path, "--api-key-pepper-output")?;
        file.write_all(&pepper)
            .and_then(|()| file.sync_all())
            .with_context(|| format!("writing the API key pepper to {}", path.display()))?;
    }
    let counts = write_snapshot(store.as_ref(), &header, &arguments.output).await?;
    let outcome = ExportOutcome {
        output: arguments.output.display().to_string(),
        records: counts.values().sum(),
        counts,
        api_key_pepper_fingerprint: fingerprint,
    };
    let describe = || {
        format!(
            "exported {} records to {}; API keys travel as hashes under the pepper {}",
            outcome.records, outcome.output, outcome.api_key_pepper_fingerprint
        )
    };
    if arguments.output.as_os_str() == "-" {
        // Standard output holds the snapshot: the summary goes to stderr.
        eprintln!("{}", describe());
        Ok(())
    } else {
        output.emit(&outcome, describe)
    }
}

/// The pepper the target checks the snapshot's fingerprint against, and
/// the pepper the import is to store in the target database (when the
/// source kept its pepper in its database and a file brings it).
async fn target_pepper(
    target: &dyn Store,
    note: &PepperNote,
    pepper_file: Option<&Path>,
) -> anyhow::Result<Option<Vec<u8>>> {
    let how_to = "pass the source's pepper with --api-key-pepper-file FILE: the file its `serve` was given, \
                  or, when it kept the pepper in its database, the file `tenantry export --api-key-pepper-output \
                  FILE` wrote";
    let (pepper, from) = match pepper_file {
        Some(path) => (read_pepper_file(path)?, format!("the file {}", path.display())),
        None => match target.stored_api_key_pepper().await.context("reading the target's API key pepper")? {
            Some(pepper) => (pepper, "the target database".to_owned()),
            None => {
                return Err(Error::invalid(
                    "--api-key-pepper-file",
                    format!(
                        "the snapshot's API keys are hashed under the pepper {}, and the target database \
                         keeps no pepper; {how_to}",
                        note.fingerprint
                    ),
                )
                .into());
            }
        },
    };
    let fingerprint = pepper_fingerprint(&pepper);
    if fingerprint != note.fingerprint {
        return Err(Error::invalid(
            "--api-key-pepper-file",
            format!(
                "the pepper of {from} has the fingerprint {fingerprint}, but the snapshot's API keys were hashed \
                 under {}: no key would authenticate; {how_to}",
                note.fingerprint
            ),
        )
        .into());
    }
    Ok((pepper_file.is_some() && note.kept_in == PepperKeptIn::Database).then_some(pepper))
}

/// The key the import checks checkpoints with: `--public-key`, else the
/// deployment's own audit key (which must be the one the snapshot names),
/// else the key the snapshot names.
fn import_verifier_key(
    global: &GlobalOptions,
    public_key: Option<&str>,
    header: &Header,
) -> anyhow::Result<VerifierKey> {
    if let Some(text) = public_key {
        return audit_key::parse_verifier_key(text);
    }
    let named = header.audit_verifier_key.as_deref().map(audit_key::parse_verifier_key).transpose()?;
    let path = global.audit_key_path();
    if path.exists() {
        let own = audit_key::load(&path)?.verifier_key();
        if let Some(named) = named.filter(|named| named.to_string() != own.to_string()) {
            bail!(
                "the audit signing key {} is not the one that signed the snapshot's checkpoints ({named}); copy \
                 the source deployment's audit signing key there (or point --audit-key at it), so that the \
                 imported checkpoints verify and the new deployment signs the next ones with the same key",
                path.display()
            );
        }
        return Ok(own);
    }
    named.ok_or_else(|| {
        anyhow::anyhow!(
            "no key to verify the audit checkpoints with: copy the source deployment's audit signing key to {} \
             (or point --audit-key at it), or pass --public-key",
            path.display()
        )
    })
}

/// What an import did, before the checks.
struct Imported {
    counts: RecordCounts,
    trailer: RecordCounts,
    reissued: Vec<ReissuedWebhookSecret>,
    pepper_stored: bool,
}

/// Reads the snapshot from `input` and imports it into `target`.
async fn import_from(
    target: &dyn Store,
    pepper: Option<Vec<u8>>,
    reissue_webhook_secrets: bool,
    reader: SnapshotReader<Box<dyn BufRead + Send>>,
) -> anyhow::Result<Imported> {
    let progress = indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    let bar = progress.clone();
    let mut source = ImportSource::new(
        reader,
        reissue_webhook_secrets,
        Box::new(move |kind, count| {
            if count % 1000 == 1 {
                bar.set_message(format!("importing {}: {count}", kind.name));
                bar.tick();
            }
        }),
    );
    let imported =
        target.import_snapshot(&PlatformScope::operator_cli(), &mut source, pepper.as_deref()).await;
    progress.finish_and_clear();
    let counts =
        imported.with_context(|| format!("importing the snapshot (read up to line {})", source.line()))?;
    let trailer = source.trailer().map(|trailer| trailer.counts.clone()).unwrap_or_default();
    Ok(Imported { counts, trailer, reissued: source.reissued().to_vec(), pepper_stored: pepper.is_some() })
}

/// Opens a snapshot file (or standard input) and reads its header.
fn open_snapshot(path: &Path) -> anyhow::Result<SnapshotReader<Box<dyn BufRead + Send>>> {
    let input: Box<dyn BufRead + Send> = if path.as_os_str() == "-" {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        let file = std::fs::File::open(path)
            .map_err(|error| Error::invalid("--input", format!("cannot open {}: {error}", path.display())))?;
        Box::new(BufReader::new(file))
    };
    Ok(SnapshotReader::new(input)?)
}

/// The checks after an import: the target's counts against the trailer,
/// and every audit log verified.
async fn verify_target(
    target: &dyn Store,
    trailer: &RecordCounts,
    key: &VerifierKey,
) -> anyhow::Result<(RecordCounts, Vec<VerifiedLog>)> {
    let platform = PlatformScope::operator_cli();
    let counts = target.snapshot_counts(&platform).await.context("counting the target's records")?;
    for (kind, expected) in trailer {
        let found = counts.get(kind).copied().unwrap_or_default();
        if found != *expected {
            return Err(EvidenceInvalid(format!(
                "the target holds {found} {kind} records where the snapshot has {expected}"
            ))
            .into());
        }
    }
    let mut logs = vec![PartitionScope::Platform(platform)];
    for tenant in all_tenants(target).await? {
        logs.push(PartitionScope::Tenant(operator_scope(tenant.id)));
    }
    let mut verified = Vec::with_capacity(logs.len());
    for log in &logs {
        let name = tenantry_core::audit::log_of(log).to_string();
        match audit_service::verify_log(target, log, key).await {
            Ok(summary) => verified.push(VerifiedLog {
                log: name,
                events: summary.events,
                checkpoints: summary.checkpoints,
            }),
            Err(VerifyFailure::Store(error)) => {
                return Err(anyhow::Error::new(error).context(format!("reading the log {name}")));
            }
            Err(failure) => {
                return Err(EvidenceInvalid(format!(
                    "the imported audit log {name} is not valid: {failure}"
                ))
                .into());
            }
        }
    }
    Ok((counts, verified))
}

/// Writes the reissued webhook secrets, one JSON line each.
fn write_secrets(file: Option<std::fs::File>, reissued: &[ReissuedWebhookSecret]) -> anyhow::Result<()> {
    let Some(file) = file else { return Ok(()) };
    let mut writer = std::io::BufWriter::new(file);
    for secret in reissued {
        serde_json::to_writer(&mut writer, secret).context("writing the webhook secrets")?;
        writer.write_all(b"\n").context("writing the webhook secrets")?;
    }
    writer
        .into_inner()
        .map_err(|error| error.into_error())
        .and_then(|file| file.sync_all())
        .context("writing the webhook secrets")
}

/// The whole of an import into `target`: the checks that come before any
/// write, the import, the checks after it.
async fn import_into(
    global: &GlobalOptions,
    target: &dyn Store,
    reader: SnapshotReader<Box<dyn BufRead + Send>>,
    pepper_file: Option<&Path>,
    pepper_to_store: Option<Vec<u8>>,
    webhook_secrets_output: Option<&Path>,
    public_key: Option<&str>,
) -> anyhow::Result<(Imported, RecordCounts, Vec<VerifiedLog>, VerifierKey)> {
    let header = reader.header().clone();
    let key = import_verifier_key(global, public_key, &header)?;
    target
        .snapshot_occupancy(&PlatformScope::operator_cli())
        .await
        .context("reading what the target database holds")?
        .check()?;
    let pepper = match pepper_to_store {
        Some(pepper) => Some(pepper),
        None => target_pepper(target, &header.api_key_pepper, pepper_file).await?,
    };
    let secrets_file = webhook_secrets_output
        .map(|path| create_private_file(path, "--webhook-secrets-output"))
        .transpose()?;
    let reissue = secrets_file.is_some();
    let imported = import_from(target, pepper, reissue, reader).await;
    let imported = match imported {
        Ok(imported) => imported,
        Err(error) => {
            if let Some(path) = webhook_secrets_output {
                let _ = std::fs::remove_file(path);
            }
            return Err(error);
        }
    };
    write_secrets(secrets_file, &imported.reissued)?;
    let (counts, logs) = verify_target(target, &imported.trailer, &key).await?;
    Ok((imported, counts, logs, key))
}

fn outcome(
    location: &DatabaseLocation,
    imported: &Imported,
    counts: RecordCounts,
    logs: &[VerifiedLog],
    key: &VerifierKey,
    run_id: Option<String>,
) -> ImportOutcome {
    ImportOutcome {
        backend: location.backend_name(),
        records: imported.counts.values().sum(),
        counts,
        logs_verified: logs.len(),
        events_verified: logs.iter().map(|log| log.events).sum(),
        checkpoints_verified: logs.iter().map(|log| log.checkpoints).sum(),
        verifier_key: key.to_string(),
        api_key_pepper_stored: imported.pepper_stored,
        webhook_secrets_reissued: imported.reissued.len(),
        run_id,
    }
}

/// Runs `tenantry import`.
pub async fn import(global: &GlobalOptions, arguments: ImportArgs, output: Output) -> anyhow::Result<()> {
    let location = DatabaseLocation::from_options(global)?;
    let target = backend::open_for_operator(global).await?;
    let reader = open_snapshot(&arguments.input)?;
    let (imported, counts, logs, key) = import_into(
        global,
        target.as_ref(),
        reader,
        arguments.pepper.api_key_pepper_file.as_deref(),
        None,
        arguments.webhook_secrets_output.as_deref(),
        arguments.public_key.as_deref(),
    )
    .await?;
    let outcome = outcome(&location, &imported, counts, &logs, &key, None);
    output.emit(&outcome, || outcome.describe())
}

/// Runs `tenantry migrate-backend`.
pub async fn migrate_backend(
    global: &GlobalOptions,
    arguments: MigrateBackendArgs,
    output: Output,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let (source, source_location) = open_url(global, &arguments.from, "--from").await?;
    let (target, target_location) = open_url(global, &arguments.to, "--to").await?;
    if source_location == target_location {
        return Err(Error::invalid("--to", "is the database of --from").into());
    }
    // Refused before anything is read, and again inside the import.
    target
        .snapshot_occupancy(&PlatformScope::operator_cli())
        .await
        .context("reading what the target database holds")?
        .check()?;
    let pepper_file = arguments.pepper.api_key_pepper_file.as_deref();
    let (pepper, kept_in) = source_pepper(source.as_ref(), pepper_file).await?;
    let header = tenantry_core::snapshot::header(
        tenantry_core::now(),
        source_location.backend_name(),
        PepperNote { fingerprint: pepper_fingerprint(&pepper), kept_in },
        deployment_verifier_key(global).map(|key| key.to_string()),
    );
    // The snapshot is spooled to a private temporary file (it holds no
    // secret), so that the source is read whole, in one snapshot, before
    // the target's transaction begins.
    let spool_directory = tempfile::tempdir().context("creating a directory for the snapshot")?;
    let spool = spool_directory.path().join("snapshot.jsonl");
    let exported = write_snapshot(source.as_ref(), &header, &spool).await?;
    let export_seconds = started.elapsed().as_secs_f64();
    let reader = open_snapshot(&spool)?;
    let pepper_to_store = (kept_in == PepperKeptIn::Database).then_some(pepper);
    let (imported, counts, logs, key) = import_into(
        global,
        target.as_ref(),
        reader,
        pepper_file,
        pepper_to_store,
        arguments.webhook_secrets_output.as_deref(),
        arguments.public_key.as_deref(),
    )
    .await?;
    let run_id = record_run(
        target.as_ref(),
        &arguments,
        &exported,
        &imported.counts,
        &counts,
        &logs,
        export_seconds,
        started.elapsed().as_secs_f64(),
    )
    .await?;
    let outcome = outcome(&target_location, &imported, counts, &logs, &key, Some(run_id));
    output.emit(&outcome, || outcome.describe())
}

/// Records the move as a `backend.migrate` run in the target and runs its
/// one job in-process: a step per record kind (its total in the snapshot,
/// what the target holds, what the import wrote), a step for the audit
/// logs, then its end. Returns the run's id.
#[allow(clippy::too_many_arguments)]
async fn record_run(
    target: &dyn Store,
    arguments: &MigrateBackendArgs,
    exported: &RecordCounts,
    written: &RecordCounts,
    found: &RecordCounts,
    logs: &[VerifiedLog],
    export_seconds: f64,
    seconds: f64,
) -> anyhow::Result<String> {
    let platform = PlatformScope::operator_cli();
    let kind = WorkName::parse(MIGRATE_BACKEND).map_err(Error::internal)?;
    let run = NewRun {
        kind: kind.clone(),
        parameters: serde_json::json!({
            "from": masked_url(&arguments.from),
            "to": masked_url(&arguments.to),
            "format_version": tenantry_core::snapshot::FORMAT_VERSION,
            "records": exported.values().sum::<u64>(),
            "export_ms": (export_seconds * 1000.0).round() as u64,
            "export_and_import_ms": (seconds * 1000.0).round() as u64,
        }),
        target_tenant_id: None,
        throttle_ms: 0,
        jobs: vec![NewJob { kind, payload: serde_json::json!({ "counts": exported }) }],
    };
    let run = target.create_run(&platform, run, tenantry_core::now()).await.context("creating the run")?;
    let worker = format!("migrate-backend:{}", std::process::id());
    let claimed = target
        .claim_run_job(&platform, &run.id, &worker, chrono::Duration::minutes(5), tenantry_core::now())
        .await
        .context("claiming the run's job")?
        .ok_or_else(|| Error::internal(format!("the job of run {} could not be claimed", run.id)))?;
    let lease = claimed.lease;
    let mut progress: Vec<UnitProgress> = Vec::new();
    let mut failure = None;
    for kind in RECORD_KINDS.iter().filter(|kind| !kind.singleton) {
        let total = exported.get(kind.name).copied().unwrap_or_default();
        let scanned = found.get(kind.name).copied().unwrap_or_default();
        if scanned != total && failure.is_none() {
            failure = Some(format!(
                "the target holds {scanned} {} records where the source had {total}",
                kind.name
            ));
        }
        progress.push(UnitProgress {
            unit: kind.name.to_owned(),
            total: Some(total),
            scanned,
            missing: total.saturating_sub(scanned),
            updated: written.get(kind.name).copied().unwrap_or_default(),
            done: true,
        });
        let step = Step {
            checkpoint: serde_json::json!({ "verified": kind.name }),
            progress: progress.clone(),
            cursor: Some(kind.name.to_owned()),
        };
        target
            .commit_step(&platform, &lease, step, tenantry_core::now())
            .await
            .context("recording the run's progress")?;
    }
    let events: u64 = logs.iter().map(|log| log.events).sum();
    progress.push(UnitProgress {
        unit: "audit_logs".to_owned(),
        total: Some(logs.len() as u64),
        scanned: logs.len() as u64,
        missing: 0,
        updated: events,
        done: true,
    });
    let step = Step {
        checkpoint: serde_json::json!({ "verified": "audit_logs", "logs": BTreeMap::from_iter(logs.iter().map(|log| (log.log.clone(), log.events))) }),
        progress,
        cursor: Some("audit_logs".to_owned()),
    };
    target
        .commit_step(&platform, &lease, step, tenantry_core::now())
        .await
        .context("recording the run's progress")?;
    let end = match &failure {
        Some(reason) => JobEnd::Failed(reason.clone()),
        None => JobEnd::Done,
    };
    let run = target.end_job(&platform, &lease, end, tenantry_core::now()).await.context("ending the run")?;
    if let Some(reason) = failure {
        return Err(EvidenceInvalid(format!("operation run {} errored: {reason}", run.id)).into());
    }
    Ok(run.id.to_string())
}
