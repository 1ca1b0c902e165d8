//! `tenantry serve`: prepare the database, bootstrap the default tenant,
//! then serve the HTTP API until SIGINT or SIGTERM.

use std::io::Write;
use std::num::{NonZeroU64, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use tenantry_api::{ApiConfig, ApiState, router};
use tenantry_core::audit_service::AuditSigner;
use tenantry_core::service::{BootstrapConfig, authenticate, bootstrap};
use tenantry_core::{
    ApiKeyHasher, ApiKeyToken, Authorizer, AuthorizerConfig, Error, PageLimit, PlatformScope, Store,
};
use tenantry_oidc::{OidcConfig, OidcSettings, OidcVerifier};

use crate::backend::{self, DatabaseLocation};
use crate::cli::{GlobalOptions, OidcOptions, ServeArgs};
use crate::http_server::{self, ConnectionSettings};
use crate::pepper::hasher_for;

/// How often expired relationships are swept and the change log pruned.
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// The bootstrap operator key's file name inside the data directory.
pub const BOOTSTRAP_KEY_FILE_NAME: &str = "bootstrap-operator-key";

/// Runs the server until a shutdown signal arrives.
pub async fn run(global: &GlobalOptions, arguments: ServeArgs) -> anyhow::Result<()> {
    let location = DatabaseLocation::from_options(global)?;
    // Before anything commits: a bootstrap that creates the operator's key
    // must be able to save it, or no usable key would exist.
    check_data_dir_writable(&global.data_dir)?;
    let store = prepare_store(global, &location, arguments.owner_database_url.as_deref()).await?;
    let hasher = hasher_for(store.as_ref(), &arguments.pepper).await?;

    let bootstrap_config = BootstrapConfig {
        tenant_name: arguments.default_tenant_name,
        root_workspace_name: arguments.root_workspace_name,
        operator_username: arguments.operator_username,
    };
    let (outcome, token) =
        bootstrap(store.as_ref(), &hasher, &bootstrap_config).await.with_context(|| {
            format!("bootstrapping the default tenant {:?}", bootstrap_config.tenant_name.as_str())
        })?;
    if let Some(token) = token {
        let key_path = write_bootstrap_key(&global.data_dir, &token)?;
        tracing::info!(
            tenant_id = %outcome.tenant.id,
            root_workspace_id = %outcome.root_workspace.id,
            operator_user_id = outcome.operator.as_ref().map(|operator| tracing::field::display(&operator.id)),
            api_key_id = %token.api_key_id(),
            key_file = %key_path.display(),
            "bootstrap created the default tenant and the operator's first API key; the key is in the key file"
        );
    } else {
        tracing::info!(
            tenant_id = %outcome.tenant.id,
            root_workspace_id = %outcome.root_workspace.id,
            "bootstrap found the default tenant already in place"
        );
        if let Some(problem) = bootstrap_key_problem(store.as_ref(), &hasher, &global.data_dir).await {
            tracing::warn!(
                key_file = %global.data_dir.join(BOOTSTRAP_KEY_FILE_NAME).display(),
                "{problem}; if no operator holds a working key, mint one with `tenantry api-key create \
                 --tenant {} --username {} --name operator`{} and keep the printed key",
                bootstrap_config.tenant_name.as_str(),
                bootstrap_config.operator_username.as_str(),
                match location {
                    DatabaseLocation::Sqlite { .. } => "",
                    DatabaseLocation::Postgres { .. } => " --platform-database-url <platform role URL>",
                }
            );
        }
    }

    let mut api_config = ApiConfig::defaults();
    if let Some(max_body_bytes) = arguments.max_body_bytes {
        api_config.max_body_bytes = usize::try_from(max_body_bytes)
            .map_err(|_| Error::invalid("--max-body-bytes", "is larger than this platform can address"))?;
    }
    if let Some(max_batch_body_bytes) = arguments.max_batch_body_bytes {
        api_config.max_batch_body_bytes = usize::try_from(max_batch_body_bytes).map_err(|_| {
            Error::invalid("--max-batch-body-bytes", "is larger than this platform can address")
        })?;
    }
    let connections = &arguments.connections;
    api_config.request_timeout = Duration::from_secs(connections.request_timeout_secs);
    let connection_settings = ConnectionSettings {
        header_read_timeout: Duration::from_secs(connections.header_read_timeout_secs),
        keep_alive_timeout: Duration::from_secs(connections.keep_alive_timeout_secs),
        max_connections: usize::try_from(connections.max_connections)
            .map_err(|_| Error::invalid("--max-connections", "is larger than this platform can count"))?,
        shutdown_timeout: Duration::from_secs(connections.shutdown_timeout_secs),
    };
    if arguments.single_tenant {
        api_config.single_tenant = Some(outcome.tenant.id.clone());
    }
    api_config.max_bulk_check_items =
        nonzero_usize("--max-bulk-check-items", arguments.max_bulk_check_items)?;
    api_config.max_tenant_concurrency =
        nonzero_usize("--max-tenant-concurrency", arguments.max_tenant_concurrency)?;
    api_config.max_page_size =
        PageLimit::new(arguments.max_page_size).map_err(|rule| Error::invalid("--max-page-size", rule))?;
    api_config.webhook_allow_private_targets = arguments.webhook_allow_private_targets;
    let mut authorizer_config = AuthorizerConfig::with_freshness(
        Duration::from_millis(arguments.authz_max_staleness_ms),
        Duration::from_secs(arguments.authz_idle_eviction_minutes * 60),
    );
    authorizer_config.evaluation_budget = NonZeroU64::new(arguments.evaluation_budget)
        .ok_or_else(|| Error::invalid("--evaluation-budget", "must be at least 1"))?;
    if let Some(evaluation_threads) = arguments.evaluation_threads {
        authorizer_config.evaluation_threads = nonzero_usize("--evaluation-threads", evaluation_threads)?;
    }
    authorizer_config.evaluation_niceness = arguments.evaluation_niceness;
    let authorizer = Arc::new(Authorizer::new(store.clone(), authorizer_config));
    let audit_signer = AuditSigner::new(crate::audit_key::load_or_create(&global.audit_key_path())?);
    let mut state = ApiState::new(store.clone(), authorizer.clone(), hasher, api_config)
        .with_audit_key(audit_signer.verifier_key());
    if let Some(verifier) = oidc_verifier(&arguments.oidc)? {
        tracing::info!(issuer = %verifier.config().issuer(), jwks_url = %verifier.config().jwks_url(), "OIDC sign-in enabled");
        state = state.with_oidc(Arc::new(verifier));
    }
    let app = router(state);
    let log_retention = Duration::from_secs(arguments.relationship_log_retention_hours * 3600);
    let sweeper = tokio::spawn(sweep_forever(authorizer, log_retention));
    let expirer = tokio::spawn(expire_approvals_forever(store.clone()));
    let (stop_worker, mut worker_stopped) = tokio::sync::watch::channel(false);
    let worker = if arguments.no_worker {
        None
    } else {
        let policy =
            tenantry_core::webhook::TargetPolicy { allow_private: arguments.webhook_allow_private_targets };
        let handlers = crate::worker::Handlers::standard(store.clone(), policy)?;
        let settings = crate::worker::WorkerSettings::named(crate::worker::default_name());
        let stopped = async move {
            let _ = worker_stopped.changed().await;
        };
        Some(tokio::spawn(crate::worker::run(store.clone(), handlers, settings, stopped)))
    };
    let checkpoint_interval = Duration::from_millis(arguments.audit_checkpoint_interval_ms);
    let checkpointer =
        tokio::spawn(checkpoint_forever(store.clone(), audit_signer.clone(), checkpoint_interval));

    let listener = tokio::net::TcpListener::bind(&arguments.listen)
        .await
        .with_context(|| format!("listening on {}", arguments.listen))?;
    let address = listener.local_addr().context("reading the address the server is bound to")?;
    tracing::info!(%address, backend = location.backend_name(), "listening on {address}");
    http_server::serve(listener, app, connection_settings, shutdown_signal()).await;
    sweeper.abort();
    expirer.abort();
    if let Some(worker) = worker {
        // The job in hand finishes (a delivery takes at most its timeout);
        // one that does not is claimed again after its lease.
        let _ = stop_worker.send(true);
        let abort = worker.abort_handle();
        if tokio::time::timeout(Duration::from_secs(15), worker).await.is_err() {
            abort.abort();
        }
    }
    checkpointer.abort();
    // The changes of the last moments get their checkpoint too.
    if let Err(error) =
        audit_signer.checkpoint_logs(store.as_ref(), &PlatformScope::audit_checkpointer()).await
    {
        tracing::warn!(%error, "signing the final audit checkpoints failed");
    }
    tracing::info!("server stopped");
    Ok(())
}

/// A count flag's value as a non-zero `usize`, refusing 0 (and values this
/// platform cannot hold) with a message naming the flag.
fn nonzero_usize(flag: &str, value: u64) -> Result<NonZeroUsize, Error> {
    usize::try_from(value)
        .ok()
        .and_then(NonZeroUsize::new)
        .ok_or_else(|| Error::invalid(flag, "must be at least 1 and fit this platform"))
}

/// The OIDC verifier the options describe, or `None` when OIDC is off.
fn oidc_verifier(options: &OidcOptions) -> anyhow::Result<Option<OidcVerifier>> {
    let (Some(issuer), Some(audience), Some(jwks_url)) =
        (&options.oidc_issuer, &options.oidc_audience, &options.oidc_jwks_url)
    else {
        return Ok(None);
    };
    let settings = OidcSettings {
        issuer: issuer.clone(),
        audience: audience.clone(),
        jwks_url: jwks_url.clone(),
        jwks_cache_ttl: Duration::from_secs(options.oidc_jwks_cache_ttl_secs),
        clock_skew: Duration::from_secs(options.oidc_clock_skew_secs),
    };
    let config = OidcConfig::new(settings).map_err(|error| Error::invalid("--oidc-*", error))?;
    Ok(Some(OidcVerifier::new(config).map_err(|error| Error::invalid("--oidc-*", error))?))
}

/// Signs a checkpoint of every audit log that grew, every `interval`, for
/// as long as the server runs: a change is covered by a signed checkpoint
/// at most about `interval` after it commits. A failed round is logged and
/// retried at the next tick.
async fn checkpoint_forever(store: Arc<dyn Store>, signer: AuditSigner, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let platform = PlatformScope::audit_checkpointer();
    loop {
        ticks.tick().await;
        match signer.checkpoint_logs(store.as_ref(), &platform).await {
            Ok(0) => {}
            Ok(signed) => tracing::debug!(signed, "signed audit checkpoints"),
            Err(error) => {
                tracing::warn!(%error, "signing audit checkpoints failed; retrying at the next tick")
            }
        }
    }
}

/// Deletes expired relationships and prunes the change log, once a minute,
/// for as long as the server runs. A failed sweep is logged and retried at
/// the next tick: expired relationships grant nothing meanwhile.
async fn sweep_forever(authorizer: Arc<Authorizer>, log_retention: Duration) {
    let mut ticks = tokio::time::interval(SWEEP_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match authorizer.sweep(log_retention).await {
            Ok(report) if report == tenantry_core::SweepReport::default() => {}
            Ok(report) => tracing::info!(
                expired_relationships = report.expired_relationships,
                pruned_changes = report.pruned_changes,
                evicted_indexes = report.evicted_indexes,
                "swept expired relationships, old change-log entries and idle indexes"
            ),
            Err(error) => {
                tracing::warn!(error = %error, "sweeping expired relationships failed; retrying in a minute")
            }
        }
    }
}

/// Stores the expiry of approval requests past their deadline, once a
/// minute, for as long as the server runs. Reads show a request expired
/// from its deadline on whether or not this has run; it makes the expiry
/// an audit event and keeps lists' state filters exact. A failed round is
/// logged and retried at the next tick.
async fn expire_approvals_forever(store: Arc<dyn Store>) {
    let mut ticks = tokio::time::interval(SWEEP_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match tenantry_core::service::expire_due_approvals(store.as_ref(), tenantry_core::now()).await {
            Ok(0) => {}
            Ok(expired) => tracing::info!(expired, "expired approval requests past their deadline"),
            Err(error) => {
                tracing::warn!(%error, "expiring approval requests failed; retrying in a minute")
            }
        }
    }
}

/// Opens the store and makes sure its schema is current: SQLite is
/// migrated in place; PostgreSQL is migrated only with an owner URL, since
/// the runtime role may not change the schema.
async fn prepare_store(
    global: &GlobalOptions,
    location: &DatabaseLocation,
    owner_database_url: Option<&str>,
) -> anyhow::Result<Arc<dyn Store>> {
    let limits = global.store_limits();
    match location {
        DatabaseLocation::Sqlite { path } => {
            if owner_database_url.is_some() {
                return Err(Error::invalid(
                    "--owner-database-url",
                    "only applies to PostgreSQL; SQLite is migrated in place",
                )
                .into());
            }
            if global.platform_database_url.is_some() {
                return Err(Error::invalid(
                    "--platform-database-url",
                    "only applies to PostgreSQL; --database-url selects SQLite",
                )
                .into());
            }
            let (store, applied) = backend::open_and_migrate_sqlite(path).await?;
            tracing::info!(
                backend = "sqlite",
                path = %path.display(),
                applied_migrations = ?applied,
                "database ready"
            );
            Ok(Arc::new(store.with_limits(limits)))
        }
        DatabaseLocation::Postgres { url } => {
            let platform_url = backend::platform_database_url(
                global,
                "the server runs the platform's operations (tenants, platform admins, the \
                 authorization schema) as the platform role and tenants' requests as the runtime role",
            )?;
            if let Some(owner_database_url) = owner_database_url {
                let runtime_role = backend::role_of_postgres_url(url, "--database-url")?;
                let platform_role = backend::role_of_postgres_url(platform_url, "--platform-database-url")?;
                let roles = tenantry_store_postgres::MigrationRoles {
                    runtime_role: Some(&runtime_role),
                    platform_role: Some(&platform_role),
                };
                let report =
                    tenantry_store_postgres::migrate(owner_database_url, roles).await.with_context(|| {
                        format!(
                            "migrating PostgreSQL with --owner-database-url and granting to the runtime role \
                         {runtime_role:?} and the platform role {platform_role:?}"
                        )
                    })?;
                tracing::info!(
                    backend = "postgres",
                    runtime_role = %runtime_role,
                    platform_role = %platform_role,
                    report = ?report,
                    "migrations applied"
                );
            }
            let store = backend::connect_postgres(url, platform_url).await?;
            backend::require_current_schema(&store, location).await?;
            tracing::info!(backend = "postgres", "database ready");
            Ok(Arc::new(store.with_limits(limits)))
        }
    }
}

/// Fails unless a file can be created in the data directory (creating the
/// directory if needed): checked before the bootstrap commits, so that a
/// key it creates can always be saved.
fn check_data_dir_writable(data_dir: &Path) -> anyhow::Result<()> {
    let unwritable = |error: String| {
        anyhow::Error::new(Error::invalid(
            "--data-dir",
            format!(
                "{} is not a writable directory ({error}); the bootstrap could not save the operator's \
                 API key there, so nothing was started: fix its permissions or point --data-dir elsewhere",
                data_dir.display()
            ),
        ))
    };
    backend::create_private_directory(data_dir).map_err(|error| unwritable(format!("{error:#}")))?;
    let probe = data_dir.join(format!(".write-check-{}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .and_then(|mut file| file.write_all(b"tenantry").and_then(|()| file.sync_all()));
    let _ = std::fs::remove_file(&probe);
    written.map_err(|error| unwritable(error.to_string()))
}

/// Why the bootstrap key file does not hold a usable key, if it does not:
/// missing, unreadable, or a key that no longer authenticates (revoked,
/// expired, or minted under another pepper or for another database).
async fn bootstrap_key_problem(store: &dyn Store, hasher: &ApiKeyHasher, data_dir: &Path) -> Option<String> {
    let key_path = data_dir.join(BOOTSTRAP_KEY_FILE_NAME);
    let contents = match std::fs::read_to_string(&key_path) {
        Ok(contents) => contents,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Some("there is no bootstrap key file".to_owned());
        }
        Err(error) => return Some(format!("the bootstrap key file cannot be read ({error})")),
    };
    match authenticate(store, hasher, contents.trim(), tenantry_core::now()).await {
        Ok(_) => None,
        Err(error) => Some(format!("the key in the bootstrap key file does not authenticate ({error})")),
    }
}

/// Writes the bootstrap operator key to a new file readable by its owner
/// only. An existing file is never overwritten: it may hold the only copy of
/// an earlier key.
fn write_bootstrap_key(data_dir: &Path, token: &ApiKeyToken) -> anyhow::Result<PathBuf> {
    backend::create_private_directory(data_dir)?;
    let key_path = data_dir.join(BOOTSTRAP_KEY_FILE_NAME);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = match options.open(&key_path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => bail!(
            "the bootstrap created a new operator API key (id {}), but {} already exists and is never \
             overwritten, so the new key was not saved. Move the old file away if it is stale, then mint \
             an operator key with `tenantry api-key create`",
            token.api_key_id(),
            key_path.display()
        ),
        Err(error) => {
            return Err(error).with_context(|| format!("creating the key file {}", key_path.display()));
        }
    };
    let written = file.write_all(format!("{}\n", token.expose()).as_bytes()).and_then(|()| file.sync_all());
    if let Err(error) = written {
        // A partial file would look like a key and fail every request.
        drop(file);
        let _ = std::fs::remove_file(&key_path);
        return Err(error).with_context(|| format!("writing the key file {}", key_path.display()));
    }
    Ok(key_path)
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM, starting a graceful
/// shutdown: no new connections are accepted, in-flight requests finish,
/// and what is still open at the shutdown deadline is closed.
pub(crate) async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for SIGINT; stop the server with SIGTERM");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut terminate) => {
                terminate.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; stop the server with SIGINT");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("received SIGINT, shutting down"),
        () = terminate => tracing::info!("received SIGTERM, shutting down"),
    }
}
