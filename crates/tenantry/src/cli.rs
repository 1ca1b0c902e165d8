//! The command line: every flag, argument and environment variable the
//! binary accepts, declared with clap's derive API.
//!
//! Values are parsed into the core's validated types right here, so a bad
//! name, id or enum value is a usage error (exit code 2) before anything
//! touches the database.

use std::ffi::OsStr;
use std::num::NonZeroU32;
use std::path::PathBuf;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use tenantry_core::approval::ApprovalState;
use tenantry_core::decision::{DecisionOutcome, Reason, RecordKey, SessionState, Severity};
use tenantry_core::name::NameError;
use tenantry_core::{
    ApiKeyId, ApiKeyLifetime, ApiKeyName, ApprovalId, DataResidency, DeploymentModel, DisplayName, Email,
    Environment, GroupId, GroupName, Label, Role, RunId, ServiceAccountName, StoreLimits, TenantId,
    TenantName, TenantStatus, UserId, Username, WorkspaceId, WorkspaceName,
};

/// What each exit code means; shown at the end of `--help`.
const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  internal failure (database unreachable, unexpected error), or an audit
     log or bundle that does not verify
  2  usage error, invalid input or a limit exceeded
  3  not found
  4  conflict (duplicate name, root workspace, children, already revoked, ...)
  5  forbidden
  6  the operation run `operations watch` followed was cancelled (1: it errored)";

/// tenantry: a multi-tenant control plane.
///
/// With no configuration, `tenantry serve` runs the REST API on an embedded
/// SQLite database in the data directory. Point `--database-url` at
/// PostgreSQL to run the same API there, with row-level security.
#[derive(Debug, Parser)]
#[command(name = "tenantry", version, after_help = EXIT_CODES_HELP, propagate_version = true)]
pub struct Cli {
    /// Options every subcommand accepts.
    #[command(flatten)]
    pub global: GlobalOptions,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every subcommand.
#[derive(Debug, Args)]
pub struct GlobalOptions {
    /// Directory for the SQLite database and the bootstrap operator key file.
    #[arg(long, env = "TENANTRY_DATA_DIR", default_value = "./tenantry-data", global = true)]
    pub data_dir: PathBuf,

    /// Database to use: `postgres://...` or `postgresql://...` for PostgreSQL,
    /// `sqlite://PATH` for a SQLite file. Defaults to SQLite at
    /// `<data dir>/tenantry.db`.
    #[arg(long, env = "TENANTRY_DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<String>,

    /// PostgreSQL only: the platform role's URL. `serve` runs the
    /// platform's operations as this role (and tenants' requests as the
    /// runtime role of `--database-url`); operator commands run as it
    /// alone.
    #[arg(long, env = "TENANTRY_PLATFORM_DATABASE_URL", hide_env_values = true, global = true)]
    pub platform_database_url: Option<String>,

    /// Log line format (logs go to stderr).
    #[arg(long, env = "TENANTRY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    /// Log filter: a level (`error`, `warn`, `info`, `debug`, `trace`) or
    /// tracing directives such as `info,tenantry_api=debug`.
    #[arg(long, env = "TENANTRY_LOG", default_value = "info", global = true)]
    pub log_level: String,

    /// Print command output as JSON, for scripts.
    #[arg(long, env = "TENANTRY_JSON", value_parser = clap::builder::BoolishValueParser::new(), global = true)]
    pub json: bool,

    /// The most levels a tenant's workspace tree may have, the root
    /// included; a create or move beyond it is refused (422
    /// `workspace_too_deep`). Kept by the store inside the write, for the
    /// server and operator commands alike.
    #[arg(long, env = "TENANTRY_MAX_WORKSPACE_DEPTH", default_value = "64", value_parser = clap::value_parser!(u32).range(1..=10_000), global = true)]
    pub max_workspace_depth: u32,

    /// The most groups on a chain of groups nested in groups; adding a
    /// group to a group beyond it is refused (422 `group_too_deep`).
    #[arg(long, env = "TENANTRY_MAX_GROUP_DEPTH", default_value = "16", value_parser = clap::value_parser!(u32).range(1..=10_000), global = true)]
    pub max_group_depth: u32,

    /// The deployment's audit signing key (an Ed25519 key in signed-note
    /// form), kept outside the database. `serve` creates it (mode 0600) if
    /// it does not exist; a key file anyone else may read is refused.
    /// Defaults to `<data dir>/audit-signing.key`.
    #[arg(long, env = "TENANTRY_AUDIT_KEY", global = true)]
    pub audit_key: Option<PathBuf>,

    /// The most pending, unexpired invitations a tenant may have at once;
    /// one more is refused (422 `too_many_pending_invitations`).
    #[arg(long, env = "TENANTRY_MAX_PENDING_INVITATIONS", default_value = "1000", value_parser = clap::value_parser!(u32).range(1..=1_000_000), global = true)]
    pub max_pending_invitations: u32,
}

impl GlobalOptions {
    /// Where the audit signing key is.
    pub fn audit_key_path(&self) -> PathBuf {
        self.audit_key.clone().unwrap_or_else(|| self.data_dir.join("audit-signing.key"))
    }

    /// The limits the store keeps. The parsers refuse 0, so the fallbacks
    /// are never used.
    pub fn store_limits(&self) -> StoreLimits {
        StoreLimits {
            max_workspace_depth: NonZeroU32::new(self.max_workspace_depth)
                .unwrap_or(StoreLimits::DEFAULT_MAX_WORKSPACE_DEPTH),
            max_group_depth: NonZeroU32::new(self.max_group_depth)
                .unwrap_or(StoreLimits::DEFAULT_MAX_GROUP_DEPTH),
            max_pending_invitations: NonZeroU32::new(self.max_pending_invitations)
                .unwrap_or(StoreLimits::DEFAULT_MAX_PENDING_INVITATIONS),
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API (migrating SQLite, bootstrapping the default tenant).
    Serve(Box<ServeArgs>),
    /// Apply pending database migrations.
    Migrate(MigrateArgs),
    /// Write a snapshot of the whole database (every tenant, user, key
    /// hash, relationship, decision, approval, webhook, run and audit log)
    /// as JSON Lines, to move it to another database with `import`. It
    /// holds no secret: API keys travel as their hashes with the
    /// fingerprint of the pepper, webhooks without their signing secrets.
    Export(ExportArgs),
    /// Load a snapshot written by `export` into an empty database (one
    /// that `tenantry migrate` made and nothing else wrote to), in one
    /// transaction; then check the counts and verify every audit log.
    /// A database that already holds data is refused (exit 4), so an
    /// import is never applied twice.
    Import(ImportArgs),
    /// Move a deployment from one database to another in one step (export
    /// then import, with the same checks), recorded as an operation run
    /// (`backend.migrate`) in the target database.
    MigrateBackend(MigrateBackendArgs),
    /// Run a worker of the job queue alone (webhook deliveries), beside or
    /// instead of the one `serve` runs; any number may run against one
    /// PostgreSQL database. Stops on SIGTERM or Ctrl-C.
    Worker(WorkerArgs),
    /// Manage tenants (operator, directly on the database).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage a tenant's workspaces (operator, directly on the database).
    #[command(subcommand)]
    Workspace(WorkspaceCommand),
    /// Manage API keys (operator, directly on the database).
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
    /// Manage users (operator, directly on the database).
    #[command(subcommand)]
    User(UserCommand),
    /// Manage a tenant's service accounts (operator, directly on the
    /// database).
    #[command(subcommand)]
    ServiceAccount(ServiceAccountCommand),
    /// Manage roles on a tenant, workspace or group (operator, directly on
    /// the database).
    #[command(subcommand)]
    Member(MemberCommand),
    /// See a tenant's invitations (operator, directly on the database).
    /// `member add` grants directly; invitations are made through the API.
    #[command(subcommand)]
    Invitation(InvitationCommand),
    /// Ask whether a subject has a permission on an object in a tenant.
    Check(CheckArgs),
    /// Validate, show or apply the authorization schema.
    #[command(subcommand)]
    Schema(SchemaCommand),
    /// Read, verify and export the audit logs; verify evidence bundles.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Record and read AI-agent decisions (operator, directly on the
    /// database).
    #[command(subcommand)]
    Decision(DecisionCommand),
    /// Read and summarise the sessions of AI agents (operator, directly on
    /// the database).
    #[command(subcommand)]
    Session(SessionCommand),
    /// Read, decide and review approval requests, and break the glass
    /// (operator, directly on the database, acting as the user named by
    /// `--as`, with the permissions of the API).
    #[command(subcommand)]
    Approval(ApprovalCommand),
    /// Create and list a tenant's groups (operator, directly on the
    /// database); who belongs to one is `tenantry member ... --group`.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Watch and control operation runs, the job queue's long work
    /// (operator, directly on the database).
    #[command(subcommand)]
    Operations(OperationsCommand),
    /// Retrofit workspace isolation onto an existing application database:
    /// plan, backfill (as an operation run), enforce.
    #[command(subcommand)]
    Retrofit(RetrofitCommand),
}

/// Which audit log a command reads: one tenant's, or the platform's.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct AuditLogOption {
    /// The tenant whose log to read (id or name).
    #[arg(long, value_name = "TENANT", value_parser = parse_tenant_reference)]
    pub tenant: Option<TenantReference>,
    /// The platform's log (tenants created and deleted, users, platform
    /// relationships, the schema, the bootstrap).
    #[arg(long)]
    pub platform: bool,
}

/// `tenantry audit ...`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List a log's events, newest first.
    List {
        /// The log.
        #[command(flatten)]
        log: AuditLogOption,
        /// Only this action (`workspace.created`).
        #[arg(long)]
        action: Option<String>,
        /// The most events to print.
        #[arg(long, default_value = "100", value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
    },
    /// Print one event and its inclusion proof in the latest checkpoint
    /// (or the log's current tree when the event is newer).
    Show {
        /// The log.
        #[command(flatten)]
        log: AuditLogOption,
        /// The event's seq.
        #[arg(value_name = "SEQ", value_parser = clap::value_parser!(u64).range(1..))]
        seq: u64,
    },
    /// Recompute a log from its stored events and check every checkpoint;
    /// names the first event or checkpoint that does not match. Exits 0
    /// when the log is valid, 1 when it is not.
    Verify {
        /// The log.
        #[command(flatten)]
        log: AuditLogOption,
        /// The verifier key to trust (its text, or a file holding it);
        /// the public half of `--audit-key` when absent.
        #[arg(long, value_name = "KEY")]
        public_key: Option<String>,
    },
    /// Write an evidence bundle of a log's events (all up to the latest
    /// checkpoint by default), verifiable offline.
    Export {
        /// The log.
        #[command(flatten)]
        log: AuditLogOption,
        /// The first seq.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        from: Option<u64>,
        /// The last seq; at most the latest checkpoint's size.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        to: Option<u64>,
        /// Where to write it (`-`: standard output).
        #[arg(long, short, default_value = "-")]
        output: PathBuf,
    },
    /// Verify an evidence bundle offline: no database, no server. Exits 0
    /// when it verifies, 1 when it does not.
    VerifyBundle {
        /// The bundle file (`-` for standard input).
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The verifier key to trust (its text, or a file holding it).
        /// Without it the bundle is checked against the key it carries,
        /// which proves only that it is consistent.
        #[arg(long, value_name = "KEY")]
        public_key: Option<String>,
    },
    /// Sign a checkpoint of every log that grew since its latest one, now.
    Checkpoint,
    /// Print the verifier key auditors check checkpoints and bundles with.
    PublicKey,
}

/// Where the API key pepper comes from; shared by `serve` and
/// `api-key create`, which must hash keys the same way.
#[derive(Debug, Args)]
pub struct PepperOptions {
    /// File whose contents (trailing white space removed, at least 32
    /// bytes) key API key hashes. Without it, the pepper kept in the
    /// database is used.
    #[arg(long, env = "TENANTRY_API_KEY_PEPPER_FILE")]
    pub api_key_pepper_file: Option<PathBuf>,
}

/// Options of `tenantry serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "TENANTRY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,

    /// PostgreSQL only: the schema owner's URL. When given, pending
    /// migrations are applied with it at start, the role of
    /// `--database-url` is granted what the runtime role needs and the role
    /// of `--platform-database-url` what the platform role needs.
    #[arg(long, env = "TENANTRY_OWNER_DATABASE_URL", hide_env_values = true)]
    pub owner_database_url: Option<String>,

    /// Name of the default tenant the bootstrap ensures.
    #[arg(long, env = "TENANTRY_DEFAULT_TENANT_NAME", default_value = "default", value_parser = parse_tenant_name)]
    pub default_tenant_name: TenantName,

    /// Name of the default tenant's root workspace.
    #[arg(long, env = "TENANTRY_ROOT_WORKSPACE_NAME", default_value = "Root", value_parser = parse_workspace_name)]
    pub root_workspace_name: WorkspaceName,

    /// Username of the bootstrap operator (a platform admin).
    #[arg(long, env = "TENANTRY_OPERATOR_USERNAME", default_value = "operator", value_parser = parse_username)]
    pub operator_username: Username,

    /// Largest accepted request body, in bytes (the API's default when absent).
    #[arg(long, env = "TENANTRY_MAX_BODY_BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_body_bytes: Option<u64>,

    /// Largest accepted body of a decision batch (`POST
    /// /v1/decisions/batch`), in bytes (the API's default when absent).
    #[arg(long, env = "TENANTRY_MAX_BATCH_BODY_BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_batch_body_bytes: Option<u64>,

    /// Where API key hashes get their pepper.
    #[command(flatten)]
    pub pepper: PepperOptions,

    /// How often, in milliseconds, a checkpoint is signed for every audit
    /// log that grew: the longest a change waits to be covered by one.
    #[arg(long, env = "TENANTRY_AUDIT_CHECKPOINT_INTERVAL_MS", default_value = "10000", value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub audit_checkpoint_interval_ms: u64,

    /// How connections are served: timeouts, the connection limit, shutdown.
    #[command(flatten)]
    pub connections: ConnectionOptions,

    /// Single-tenant mode: an OIDC-authenticated request without
    /// `X-Tenant-ID` acts in the default tenant.
    #[arg(long, env = "TENANTRY_SINGLE_TENANT", value_parser = clap::builder::BoolishValueParser::new())]
    pub single_tenant: bool,

    /// How long, in milliseconds, this process may answer authorization
    /// questions from its in-memory index before it first reads the
    /// database's change log again (requests with a revision token or a
    /// write are always at least as fresh as needed).
    #[arg(long, env = "TENANTRY_AUTHZ_MAX_STALENESS_MS", default_value = "1000", value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub authz_max_staleness_ms: u64,

    /// How long, in minutes, a tenant's authorization index may go unused
    /// before it is dropped from this process's memory (it is loaded again
    /// at the next question about the tenant).
    #[arg(long, env = "TENANTRY_AUTHZ_IDLE_EVICTION_MINUTES", default_value = "30", value_parser = clap::value_parser!(u64).range(1..=10_080))]
    pub authz_idle_eviction_minutes: u64,

    /// How long, in hours, the relationship change log keeps entries; a
    /// process further behind reloads a tenant's relationships instead.
    #[arg(long, env = "TENANTRY_RELATIONSHIP_LOG_RETENTION_HOURS", default_value = "24", value_parser = clap::value_parser!(u64).range(1..=8760))]
    pub relationship_log_retention_hours: u64,

    /// The most engine steps (graph nodes and edges visited) one
    /// authorization evaluation may take: a check, or all the questions of
    /// a bulk check together. Beyond it the request is refused (422
    /// `too_complex`) instead of burning CPU.
    #[arg(long, env = "TENANTRY_EVALUATION_BUDGET", default_value = "2000000", value_parser = clap::value_parser!(u64).range(1..))]
    pub evaluation_budget: u64,

    /// How many heavy authorization evaluations (explanations, bulk checks,
    /// lookups, expand) run at once, each on a blocking thread; default:
    /// the cores less one, at least one.
    #[arg(long, env = "TENANTRY_EVALUATION_THREADS", value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub evaluation_threads: Option<u64>,

    /// The `nice` value (0 to 19) the threads answering heavy evaluations
    /// set for themselves, so that they run on the CPU time the async
    /// workers serving cheap requests leave; 0 keeps the process's
    /// priority. Linux only.
    #[arg(long, env = "TENANTRY_EVALUATION_NICENESS", default_value = "10", value_parser = clap::value_parser!(u8).range(0..=19))]
    pub evaluation_niceness: u8,

    /// The most questions one bulk check may hold (422 `too_many_items`
    /// beyond it).
    #[arg(long, env = "TENANTRY_MAX_BULK_CHECK_ITEMS", default_value = "1000", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub max_bulk_check_items: u64,

    /// The largest page a list or lookup answers, 1 to 1000: a larger
    /// `limit` is refused (422 `invalid_field`), and a request without one
    /// gets 100 items or this, whichever is smaller. The OpenAPI document
    /// the server serves states it.
    #[arg(long, env = "TENANTRY_MAX_PAGE_SIZE", default_value = "1000", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_page_size: u32,

    /// Run no worker of the job queue in this process (webhook deliveries
    /// then wait for a `tenantry worker`).
    #[arg(long, env = "TENANTRY_NO_WORKER", value_parser = clap::builder::BoolishValueParser::new())]
    pub no_worker: bool,

    /// Let webhooks target loopback, private (RFC 1918, fc00::/7),
    /// link-local, unspecified and cloud metadata addresses, and plain
    /// `http`: for tests and closed networks only. Off, such targets are
    /// refused when subscribed and again at every delivery.
    #[arg(long, env = "TENANTRY_WEBHOOK_ALLOW_PRIVATE_TARGETS", value_parser = clap::builder::BoolishValueParser::new())]
    pub webhook_allow_private_targets: bool,

    /// The most requests of one tenant in progress at once; one more is
    /// refused (429 `rate_limited`, with `Retry-After`).
    #[arg(long, env = "TENANTRY_MAX_TENANT_CONCURRENCY", default_value = "16", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub max_tenant_concurrency: u64,

    /// OIDC sign-in.
    #[command(flatten)]
    pub oidc: OidcOptions,
}

/// Options of `tenantry worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The worker's name, as job leases record it; the host name and the
    /// process id when absent.
    #[arg(long, env = "TENANTRY_WORKER_NAME")]
    pub name: Option<String>,

    /// Let webhooks target loopback, private and link-local addresses and
    /// plain `http` (as `serve --webhook-allow-private-targets`).
    #[arg(long, env = "TENANTRY_WEBHOOK_ALLOW_PRIVATE_TARGETS", value_parser = clap::builder::BoolishValueParser::new())]
    pub webhook_allow_private_targets: bool,

    /// How long a claim holds a job, in seconds (1 to 3600): a job whose
    /// worker died is claimed again this long after its last heartbeat.
    #[arg(long, env = "TENANTRY_WORKER_LEASE_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub lease_seconds: u64,
}

/// How `serve` treats connections. Every timeout is in whole seconds, at
/// least 1: a zero would mean "never", which is what these guard against.
#[derive(Debug, Args)]
pub struct ConnectionOptions {
    /// How long a client may take to send a request's head (request line
    /// and headers), counted from its first byte, or from the connection's
    /// opening for its first request; then the connection is closed.
    #[arg(long, env = "TENANTRY_HEADER_READ_TIMEOUT_SECS", default_value = "10", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_read_timeout_secs: u64,

    /// How long a request may take once its head is read, body included;
    /// then it is abandoned with a 503 `request_timeout`.
    #[arg(long, env = "TENANTRY_REQUEST_TIMEOUT_SECS", default_value = "30", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout_secs: u64,

    /// How long a kept-alive connection may wait for its next request
    /// before it is closed.
    #[arg(long, env = "TENANTRY_KEEP_ALIVE_TIMEOUT_SECS", default_value = "60", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub keep_alive_timeout_secs: u64,

    /// How many connections may be open at once. Beyond it, new
    /// connections wait in the listen backlog, and idle kept-alive
    /// connections (and new ones silent for a second) are closed to make
    /// room.
    #[arg(long, env = "TENANTRY_MAX_CONNECTIONS", default_value = "1024", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,

    /// How long a graceful shutdown (SIGTERM, SIGINT) waits for in-flight
    /// requests before it closes every connection still open.
    #[arg(long, env = "TENANTRY_SHUTDOWN_TIMEOUT_SECS", default_value = "30", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub shutdown_timeout_secs: u64,
}

/// OIDC bearer-token sign-in; off unless `--oidc-issuer` is given, which
/// then needs `--oidc-audience` and `--oidc-jwks-url`.
#[derive(Debug, Args)]
pub struct OidcOptions {
    /// The issuer (`iss`) tokens must come from, exactly as it appears in them.
    #[arg(long, env = "TENANTRY_OIDC_ISSUER", requires_all = ["oidc_audience", "oidc_jwks_url"])]
    pub oidc_issuer: Option<String>,

    /// The audience (`aud`) tokens must be meant for.
    #[arg(long, env = "TENANTRY_OIDC_AUDIENCE", requires = "oidc_issuer")]
    pub oidc_audience: Option<String>,

    /// Where the issuer publishes its signing keys (JWKS); https, or http on
    /// a loopback host.
    #[arg(long, env = "TENANTRY_OIDC_JWKS_URL", requires = "oidc_issuer")]
    pub oidc_jwks_url: Option<String>,

    /// How long fetched signing keys are kept, in seconds (20 to 86400).
    #[arg(long, env = "TENANTRY_OIDC_JWKS_CACHE_TTL_SECS", default_value = "300")]
    pub oidc_jwks_cache_ttl_secs: u64,

    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds (at most 600).
    #[arg(long, env = "TENANTRY_OIDC_CLOCK_SKEW_SECS", default_value = "60")]
    pub oidc_clock_skew_secs: u64,
}

/// Options of `tenantry export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Where to write the snapshot (`-`: standard output). A file is
    /// written beside its final name and renamed into place once whole.
    #[arg(long, short, default_value = "-")]
    pub output: PathBuf,

    /// The pepper the database's API key hashes are keyed with, when the
    /// deployment keeps it in a file (as `serve --api-key-pepper-file`).
    #[command(flatten)]
    pub pepper: PepperOptions,

    /// Also write the API key pepper itself to this new file (mode 0600),
    /// apart from the snapshot, for `import --api-key-pepper-file`: the
    /// way a deployment that keeps its pepper in the database hands it to
    /// the next one. Treat it as a secret.
    #[arg(long, value_name = "FILE")]
    pub api_key_pepper_output: Option<PathBuf>,
}

/// Options of `tenantry import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The snapshot to load (`-`: standard input).
    #[arg(long, short, default_value = "-")]
    pub input: PathBuf,

    /// The pepper the snapshot's API key hashes were keyed with (its
    /// fingerprint must match the snapshot's). When the exporting
    /// deployment kept its pepper in the database, the import stores this
    /// one in the target database too; otherwise the target keeps using
    /// the file. Without it, the pepper the target database keeps.
    #[command(flatten)]
    pub pepper: PepperOptions,

    /// Where to write the new signing secrets of the snapshot's webhook
    /// subscriptions (a new file, mode 0600, JSON Lines of tenant, webhook,
    /// url and secret). A snapshot carries no webhook secret, so the import
    /// issues new ones; give each to its tenant's receiver. Required when
    /// the snapshot holds webhooks.
    #[arg(long, value_name = "FILE")]
    pub webhook_secrets_output: Option<PathBuf>,

    /// The verifier key the audit checkpoints are checked with (its text,
    /// or a file holding it); by default the public half of `--audit-key`
    /// (the key the target deployment signs with, which must be the
    /// source's), else the key the snapshot names.
    #[arg(long, value_name = "KEY")]
    pub public_key: Option<String>,
}

/// Options of `tenantry migrate-backend`.
#[derive(Debug, Args)]
pub struct MigrateBackendArgs {
    /// The database to move from: `sqlite://PATH`, or a PostgreSQL URL of
    /// its platform role (`postgres://PLATFORM_ROLE:PASSWORD@HOST/DB`).
    #[arg(long, value_name = "URL", env = "TENANTRY_MIGRATE_FROM", hide_env_values = true)]
    pub from: String,

    /// The database to move to, migrated and empty: `sqlite://PATH`, or a
    /// PostgreSQL URL of its platform role.
    #[arg(long, value_name = "URL", env = "TENANTRY_MIGRATE_TO", hide_env_values = true)]
    pub to: String,

    /// The pepper the source's API key hashes are keyed with, when the
    /// deployment keeps it in a file; the target then keeps using that
    /// file. Without it, the pepper the source database keeps is copied
    /// into the target database, database to database.
    #[command(flatten)]
    pub pepper: PepperOptions,

    /// As `import --webhook-secrets-output`.
    #[arg(long, value_name = "FILE")]
    pub webhook_secrets_output: Option<PathBuf>,

    /// As `import --public-key`.
    #[arg(long, value_name = "KEY")]
    pub public_key: Option<String>,
}

/// Options of `tenantry migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// PostgreSQL only: the server's runtime role, granted what it needs on
    /// the migrated schema. `--database-url` must be the schema owner's URL.
    #[arg(long, env = "TENANTRY_RUNTIME_ROLE")]
    pub runtime_role: Option<String>,

    /// PostgreSQL only: the role the platform's operations run as (the
    /// server's `--platform-database-url`, and operator commands), granted
    /// row access to every table and admitted by the `platform_scope`
    /// policies. Without it, the role the policies already admit keeps them.
    #[arg(long, env = "TENANTRY_PLATFORM_ROLE")]
    pub platform_role: Option<String>,
}

/// `tenantry tenant ...`
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant and its root workspace.
    Create(TenantCreateArgs),
    /// List every tenant.
    List,
    /// Show one tenant.
    Show {
        /// Tenant id or name.
        #[arg(value_name = "TENANT", value_parser = parse_tenant_reference)]
        tenant: TenantReference,
    },
    /// Change a tenant.
    Update(TenantUpdateArgs),
    /// Delete a tenant and everything it owns.
    Delete {
        /// Tenant id or name.
        #[arg(value_name = "TENANT", value_parser = parse_tenant_reference)]
        tenant: TenantReference,
        /// Confirm the deletion of the tenant, its workspaces and its API keys.
        #[arg(long)]
        yes: bool,
    },
}

/// Options of `tenantry tenant create`.
#[derive(Debug, Args)]
pub struct TenantCreateArgs {
    /// Unique name of the new tenant.
    #[arg(value_name = "NAME", value_parser = parse_tenant_name)]
    pub name: TenantName,
    /// Name for people to read (defaults to the name).
    #[arg(long, value_parser = parse_display_name)]
    pub display_name: Option<DisplayName>,
    /// Where the tenant's control plane runs.
    #[arg(long, default_value = "hosted_saas", value_parser = DomainEnumParser::new(DeploymentModel::ALL))]
    pub deployment_model: DeploymentModel,
    /// Where the tenant's data must stay.
    #[arg(long, default_value = "global", value_parser = DomainEnumParser::new(DataResidency::ALL))]
    pub data_residency: DataResidency,
    /// Name of the root workspace created with the tenant.
    #[arg(long, default_value = "Root", value_parser = parse_workspace_name)]
    pub root_workspace_name: WorkspaceName,
}

/// Options of `tenantry tenant update`.
#[derive(Debug, Args)]
pub struct TenantUpdateArgs {
    /// Tenant id or name.
    #[arg(value_name = "TENANT", value_parser = parse_tenant_reference)]
    pub tenant: TenantReference,
    /// New unique name.
    #[arg(long, value_parser = parse_tenant_name)]
    pub name: Option<TenantName>,
    /// New display name.
    #[arg(long, value_parser = parse_display_name)]
    pub display_name: Option<DisplayName>,
    /// New status.
    #[arg(long, value_parser = DomainEnumParser::new(TenantStatus::ALL))]
    pub status: Option<TenantStatus>,
    /// New deployment model.
    #[arg(long, value_parser = DomainEnumParser::new(DeploymentModel::ALL))]
    pub deployment_model: Option<DeploymentModel>,
    /// New data residency.
    #[arg(long, value_parser = DomainEnumParser::new(DataResidency::ALL))]
    pub data_residency: Option<DataResidency>,
}

/// The `--tenant` option of the workspace and API key commands.
#[derive(Debug, Args)]
pub struct TenantOption {
    /// Tenant id or name.
    #[arg(long, value_name = "TENANT", value_parser = parse_tenant_reference)]
    pub tenant: TenantReference,
}

/// `tenantry workspace ...`
#[derive(Debug, Subcommand)]
pub enum WorkspaceCommand {
    /// Create a workspace (beneath the root unless `--parent` is given).
    Create {
        /// The tenant.
        #[command(flatten)]
        tenant: TenantOption,
        /// Name, unique within the tenant.
        #[arg(value_name = "NAME", value_parser = parse_workspace_name)]
        name: WorkspaceName,
        /// Parent workspace id or name.
        #[arg(long, value_name = "WS", value_parser = parse_workspace_reference)]
        parent: Option<WorkspaceReference>,
        /// Environment label.
        #[arg(long, default_value = "production", value_parser = parse_environment)]
        environment: Environment,
    },
    /// List a tenant's workspaces.
    List {
        /// The tenant.
        #[command(flatten)]
        tenant: TenantOption,
    },
    /// Draw a tenant's workspace hierarchy.
    Tree {
        /// The tenant.
        #[command(flatten)]
        tenant: TenantOption,
    },
    /// Move a workspace (and its subtree) beneath another parent.
    Move {
        /// The tenant.
        #[command(flatten)]
        tenant: TenantOption,
        /// Workspace id or name.
        #[arg(value_name = "WS", value_parser = parse_workspace_reference)]
        workspace: WorkspaceReference,
        /// New parent workspace id or name.
        #[arg(long, value_name = "WS", value_parser = parse_workspace_reference)]
        parent: WorkspaceReference,
    },
    /// Delete a workspace that is not the root and has no children.
    Delete {
        /// The tenant.
        #[command(flatten)]
        tenant: TenantOption,
        /// Workspace id or name.
        #[arg(value_name = "WS", value_parser = parse_workspace_reference)]
        workspace: WorkspaceReference,
    },
}

/// `tenantry api-key ...`
#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Mint an API key for a user in a tenant (creating the user if new).
    Create(ApiKeyCreateArgs),
    /// List a tenant's API keys.
    List {
        /// The tenant.
        #[command(flatten)]
        tenant: TenantOption,
    },
    /// Revoke an API key.
    Revoke {
        /// The tenant.
        #[command(flatten)]
        tenant: TenantOption,
        /// The key's id (`key_...`).
        #[arg(value_name = "KEY_ID", value_parser = parse_api_key_id)]
        api_key_id: ApiKeyId,
    },
}

/// Options of `tenantry api-key create`.
#[derive(Debug, Args)]
pub struct ApiKeyCreateArgs {
    /// The tenant the key acts in.
    #[command(flatten)]
    pub tenant: TenantOption,
    /// The user the key acts as; created if no user has this username.
    #[arg(long, value_parser = parse_username)]
    pub username: Username,
    /// Name of the key, unique per tenant and user.
    #[arg(long, value_parser = parse_api_key_name)]
    pub name: ApiKeyName,
    /// Days until the key expires (1 to 3650).
    #[arg(long, default_value = "30", value_parser = parse_api_key_lifetime)]
    pub expires_in_days: ApiKeyLifetime,
    /// Where API key hashes get their pepper (must match the server's).
    #[command(flatten)]
    pub pepper: PepperOptions,
}

/// `tenantry service-account ...`
#[derive(Debug, Subcommand)]
pub enum ServiceAccountCommand {
    /// Create a service account: a user of kind `service` that belongs to
    /// the tenant, a member of it, and authenticates only with API keys.
    Create {
        /// The tenant.
        #[command(flatten)]
        tenant: TenantOption,
        /// Its name, unique within the tenant, without white space.
        #[arg(long, value_parser = parse_service_account_name)]
        name: ServiceAccountName,
    },
    /// List a tenant's service accounts.
    List {
        /// The tenant.
        #[command(flatten)]
        tenant: TenantOption,
    },
    /// Delete a service account: revoke its keys and remove its roles.
    Delete {
        /// The tenant.
        #[command(flatten)]
        tenant: TenantOption,
        /// The service account's (user) id (`usr_...`).
        #[arg(value_name = "ID", value_parser = parse_user_id)]
        id: UserId,
    },
}

/// `tenantry user ...`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Create(UserCreateArgs),
    /// Show a user, by id or username.
    Show {
        /// User id (`usr_...`) or username.
        #[arg(value_name = "USER")]
        user: String,
    },
    /// Make a user a platform admin (`platform:main#admin`): they may create,
    /// list, suspend and delete tenants and mint keys in any tenant.
    GrantPlatformAdmin {
        /// User id (`usr_...`) or username.
        #[arg(value_name = "USER")]
        user: String,
    },
    /// Take the platform admin role away from a user.
    RevokePlatformAdmin {
        /// User id (`usr_...`) or username.
        #[arg(value_name = "USER")]
        user: String,
    },
}

/// Options of `tenantry user create`.
#[derive(Debug, Args)]
pub struct UserCreateArgs {
    /// Unique username, no white space.
    #[arg(value_name = "USERNAME", value_parser = parse_username)]
    pub username: Username,
    /// Name for people to read (defaults to the username).
    #[arg(long, value_parser = parse_display_name)]
    pub display_name: Option<DisplayName>,
    /// E-mail address.
    #[arg(long, value_parser = parse_email)]
    pub email: Option<Email>,
}

/// What a membership command is about: the tenant itself, or one of its
/// workspaces or groups.
#[derive(Debug, Args)]
pub struct MembershipTarget {
    /// The tenant.
    #[command(flatten)]
    pub tenant: TenantOption,
    /// A workspace of the tenant (id or name) instead of the tenant itself.
    #[arg(long, value_name = "WS", value_parser = parse_workspace_reference, conflicts_with = "group")]
    pub workspace: Option<WorkspaceReference>,
    /// A group of the tenant (id or name) instead of the tenant itself.
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
}

/// Who a membership command is about: a user or a group.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct MemberOption {
    /// The user (id or username).
    #[arg(long = "user", value_name = "USER")]
    pub user: Option<String>,
    /// A group (id or name), all of whose members get the role.
    #[arg(long = "member-group", value_name = "GROUP")]
    pub member_group: Option<String>,
}

/// `tenantry member ...`
#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Give a user or group a role, replacing the role it had there.
    Add {
        /// The tenant, workspace or group.
        #[command(flatten)]
        target: MembershipTarget,
        /// Who.
        #[command(flatten)]
        member: MemberOption,
        /// `admin`, `editor` (workspaces only) or `member`.
        #[arg(long, value_parser = DomainEnumParser::new(Role::ALL))]
        role: Role,
    },
    /// Remove a user's or group's role.
    Remove {
        /// The tenant, workspace or group.
        #[command(flatten)]
        target: MembershipTarget,
        /// Who.
        #[command(flatten)]
        member: MemberOption,
    },
    /// List the members and their roles.
    List {
        /// The tenant, workspace or group.
        #[command(flatten)]
        target: MembershipTarget,
    },
}

/// `tenantry invitation ...`
#[derive(Debug, Subcommand)]
pub enum InvitationCommand {
    /// List a tenant's invitations, whatever their status.
    List {
        /// The tenant.
        #[command(flatten)]
        tenant: TenantOption,
    },
}

/// `tenantry decision ...`
#[derive(Debug, Subcommand)]
pub enum DecisionCommand {
    /// Record one decision (the same id with the same content again
    /// changes nothing).
    Record(Box<RecordDecisionArgs>),
    /// List a tenant's decisions, newest first.
    List {
        /// The tenant.
        #[command(flatten)]
        tenant: TenantOption,
        /// Only this workspace (id or name).
        #[arg(long, value_name = "WS", value_parser = parse_workspace_reference)]
        workspace: Option<WorkspaceReference>,
        /// Only this session.
        #[arg(long, value_parser = parse_record_key)]
        session: Option<RecordKey>,
        /// Only this agent.
        #[arg(long, value_parser = parse_label)]
        agent: Option<Label>,
        /// Only this outcome.
        #[arg(long, value_parser = DomainEnumParser::new(DecisionOutcome::ALL))]
        decision: Option<DecisionOutcome>,
        /// Only this severity.
        #[arg(long, value_parser = DomainEnumParser::new(Severity::ALL))]
        severity: Option<Severity>,
    },
    /// Show one decision.
    Show {
        /// The tenant.
        #[command(flatten)]
        tenant: TenantOption,
        /// The decision's id.
        #[arg(value_parser = parse_record_key)]
        id: RecordKey,
    },
}

/// Options of `tenantry decision record`.
#[derive(Debug, Args)]
pub struct RecordDecisionArgs {
    /// The tenant.
    #[command(flatten)]
    pub tenant: TenantOption,
    /// The workspace it was taken in (id or name).
    #[arg(long, value_name = "WS", value_parser = parse_workspace_reference)]
    pub workspace: WorkspaceReference,
    /// The session (the agent's run) it belongs to.
    #[arg(long, value_parser = parse_record_key)]
    pub session: RecordKey,
    /// The platform's id for it; generated when absent.
    #[arg(long, value_parser = parse_record_key)]
    pub id: Option<RecordKey>,
    /// The platform's name for the agent.
    #[arg(long, value_parser = parse_label)]
    pub agent: Label,
    /// What kind of action (`shell`, `deploy`, ...).
    #[arg(long, value_parser = parse_label)]
    pub action_type: Label,
    /// What was decided.
    #[arg(long, value_parser = DomainEnumParser::new(DecisionOutcome::ALL))]
    pub decision: DecisionOutcome,
    /// How severe it is.
    #[arg(long, value_parser = DomainEnumParser::new(Severity::ALL))]
    pub severity: Severity,
    /// On whose behalf the agent acted.
    #[arg(long, value_parser = parse_label)]
    pub actor: Option<Label>,
    /// The repository acted on.
    #[arg(long, value_parser = parse_label)]
    pub repository: Option<Label>,
    /// What the action targets.
    #[arg(long, value_parser = parse_label)]
    pub target: Option<Label>,
    /// The operation the agent asked for.
    #[arg(long, value_parser = parse_label)]
    pub requested_operation: Option<Label>,
    /// The policy pack evaluated.
    #[arg(long, value_parser = parse_label)]
    pub policy_pack: Option<Label>,
    /// The policy within it.
    #[arg(long, value_parser = parse_label)]
    pub policy_id: Option<Label>,
    /// The rule that decided.
    #[arg(long, value_parser = parse_label)]
    pub rule_id: Option<Label>,
    /// Why, in words.
    #[arg(long, value_parser = parse_reason)]
    pub reason: Option<Reason>,
    /// A reference to evidence kept elsewhere; repeat for more (at most 100).
    #[arg(long = "evidence-ref", value_parser = parse_label)]
    pub evidence_refs: Vec<Label>,
    /// The group whose members may approve it.
    #[arg(long, value_parser = parse_group_id)]
    pub approver_group: Option<GroupId>,
    /// When it was decided (RFC 3339); now when absent.
    #[arg(long, value_parser = parse_time)]
    pub occurred_at: Option<tenantry_core::Timestamp>,
    /// The platform's id tying it to other records.
    #[arg(long, value_parser = parse_label)]
    pub correlation_id: Option<Label>,
}

/// `tenantry session ...`
#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// List a tenant's sessions, most recently updated first.
    List {
        /// The tenant.
        #[command(flatten)]
        tenant: TenantOption,
        /// Only this workspace (id or name).
        #[arg(long, value_name = "WS", value_parser = parse_workspace_reference)]
        workspace: Option<WorkspaceReference>,
        /// Only this state.
        #[arg(long, value_parser = DomainEnumParser::new(SessionState::ALL))]
        state: Option<SessionState>,
    },
    /// Show one session.
    Show {
        /// The tenant.
        #[command(flatten)]
        tenant: TenantOption,
        /// The session's id.
        #[arg(value_parser = parse_record_key)]
        id: RecordKey,
    },
    /// Count a tenant's (or one workspace's) sessions and decisions.
    Summary {
        /// The tenant.
        #[command(flatten)]
        tenant: TenantOption,
        /// Only this workspace (id or name).
        #[arg(long, value_name = "WS", value_parser = parse_workspace_reference)]
        workspace: Option<WorkspaceReference>,
    },
}

/// `tenantry operations ...`
#[derive(Debug, Subcommand)]
pub enum OperationsCommand {
    /// List operation runs, newest first.
    List,
    /// Show one run with its progress per unit, rate and ETA.
    Show {
        /// The run's id.
        #[arg(value_parser = parse_run_id)]
        id: RunId,
    },
    /// Draw the run's progress (rate, ETA) until it is over; exit 0 when it
    /// succeeded, 1 when it errored, 6 when it was cancelled.
    Watch {
        /// The run's id.
        #[arg(value_parser = parse_run_id)]
        id: RunId,
    },
    /// Pause a run (at once between jobs, else after the current step).
    Pause {
        /// The run's id.
        #[arg(value_parser = parse_run_id)]
        id: RunId,
    },
    /// Resume a paused or interrupted run.
    Resume {
        /// The run's id.
        #[arg(value_parser = parse_run_id)]
        id: RunId,
    },
    /// Cancel a run (at once between jobs, else after the current step).
    Cancel {
        /// The run's id.
        #[arg(value_parser = parse_run_id)]
        id: RunId,
    },
    /// Change the pause a run takes between its steps, while it runs (as
    /// `PATCH /v1/operations/{id}`).
    Throttle {
        /// The run's id.
        #[arg(value_parser = parse_run_id)]
        id: RunId,
        /// The pause, 0 to 60000 milliseconds.
        #[arg(long, value_name = "MS")]
        ms: u32,
    },
}

/// `tenantry retrofit ...`
#[derive(Debug, Subcommand)]
pub enum RetrofitCommand {
    /// Inspect the application's database and print, per table, its rows,
    /// the rows missing a workspace, the DDL the backfill and `enforce`
    /// will run, the indexes they add, and anything that blocks them.
    /// Writes nothing; exits 4 when something blocks.
    Plan {
        /// The retrofit's configuration (TOML; see the README).
        #[arg(value_name = "CONFIG")]
        config: PathBuf,
        /// Only this table.
        #[arg(long, value_name = "NAME")]
        table: Option<String>,
    },
    /// Fill every row's workspace, in key-ordered batches run by the job
    /// queue's workers as an operation run. Takes the retrofit's lock (a
    /// second backfill is refused, naming the run that holds it), aborts
    /// before writing anything when a tenant's workspace cannot be
    /// resolved, prints the run's id; `--wait` draws its progress and
    /// prints the summary.
    Backfill(Box<BackfillArgs>),
    /// Once no row lacks its workspace: add NOT NULL, the composite foreign
    /// key to the tenant's workspaces, the trigger that keeps the tenant
    /// column from changing and (PostgreSQL) row-level security, each step
    /// safe on a live table. Refuses while rows are missing.
    Enforce {
        /// The retrofit's configuration (TOML; see the README).
        #[arg(value_name = "CONFIG")]
        config: PathBuf,
    },
}

/// `tenantry retrofit backfill`
#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// The retrofit's configuration (TOML; see the README).
    #[arg(value_name = "CONFIG")]
    pub config: PathBuf,
    /// Count what would be done per table and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Only this table.
    #[arg(long, value_name = "NAME")]
    pub table: Option<String>,
    /// Rows per batch (1 to 100000).
    #[arg(long, value_name = "N", default_value_t = tenantry_retrofit::backfill::DEFAULT_BATCH_SIZE)]
    pub batch_size: u32,
    /// Start the table (`--table` is required) after this key, a JSON array
    /// as `operations show` prints the cursor (`[1042]`, `["acme", 7]`).
    #[arg(long, value_name = "CURSOR", requires = "table")]
    pub resume_from: Option<String>,
    /// Stop each table after reading this many rows.
    #[arg(long, value_name = "N")]
    pub max_rows: Option<u64>,
    /// Pause this long between batches (0 to 60000 ms); `PATCH
    /// /v1/operations/{id}` changes it while the run goes on.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub throttle_ms: u32,
    /// Follow the run until it is over, drawing its progress, then print
    /// the summary; exit as `operations watch` does.
    #[arg(long)]
    pub wait: bool,
}

/// `tenantry group ...`
#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create a group in a tenant; the tenant's admins manage it.
    Create {
        /// The tenant.
        #[command(flatten)]
        tenant: TenantOption,
        /// The group's name, unique within the tenant.
        #[arg(value_parser = parse_group_name)]
        name: GroupName,
    },
    /// List a tenant's groups.
    List {
        /// The tenant.
        #[command(flatten)]
        tenant: TenantOption,
    },
}

/// `tenantry approval ...`
#[derive(Debug, Subcommand)]
pub enum ApprovalCommand {
    /// List a tenant's approvals, newest request first.
    List {
        /// The tenant.
        #[command(flatten)]
        tenant: TenantOption,
        /// Only this workspace (id or name).
        #[arg(long, value_name = "WS", value_parser = parse_workspace_reference)]
        workspace: Option<WorkspaceReference>,
        /// Only this state (as of now: a pending request past its deadline
        /// is `expired`).
        #[arg(long, value_parser = DomainEnumParser::new(ApprovalState::ALL))]
        state: Option<ApprovalState>,
        /// Only requests routed to this group (id or name).
        #[arg(long, value_name = "GROUP")]
        group: Option<String>,
        /// Only break-glass grants whose review is open.
        #[arg(long)]
        awaiting_review: bool,
    },
    /// Show one approval with its history.
    Show {
        /// The tenant.
        #[command(flatten)]
        tenant: TenantOption,
        /// The approval's id.
        #[arg(value_parser = parse_approval_id)]
        id: ApprovalId,
    },
    /// Approve a pending request, as a member of its approver group.
    Approve(ApprovalStepArgs),
    /// Deny a pending request, as a member of its approver group.
    Deny(ApprovalStepArgs),
    /// Complete a break-glass grant's review, as a second member of its
    /// approver group.
    Review(ApprovalStepArgs),
    /// Grant a decision at once, for a short time, subject to review.
    BreakGlass(Box<BreakGlassArgs>),
}

/// Options of `tenantry approval approve|deny|review`.
#[derive(Debug, Args)]
pub struct ApprovalStepArgs {
    /// The tenant.
    #[command(flatten)]
    pub tenant: TenantOption,
    /// The approval's id.
    #[arg(value_parser = parse_approval_id)]
    pub id: ApprovalId,
    /// The user acting (id or username).
    #[arg(long = "as", value_name = "USER")]
    pub user: String,
    /// Why (mandatory).
    #[arg(long, value_parser = parse_reason)]
    pub reason: Reason,
    /// A ticket or change request.
    #[arg(long, value_parser = parse_label)]
    pub external_ref: Option<Label>,
}

/// Options of `tenantry approval break-glass`.
#[derive(Debug, Args)]
pub struct BreakGlassArgs {
    /// The tenant.
    #[command(flatten)]
    pub tenant: TenantOption,
    /// The decision (it must have blocked or required approval).
    #[arg(long, value_parser = parse_record_key)]
    pub decision: RecordKey,
    /// The user breaking the glass (id or username); needs `break_glass`
    /// on the decision's workspace.
    #[arg(long = "as", value_name = "USER")]
    pub user: String,
    /// Why (mandatory).
    #[arg(long, value_parser = parse_reason)]
    pub reason: Reason,
    /// The group whose members review it (id or name); else the routing
    /// rules', else the decision's.
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    /// How long the grant lasts, in seconds: 300 to 86400; 14400 when
    /// absent.
    #[arg(long)]
    pub ttl_seconds: Option<i64>,
    /// An incident or ticket.
    #[arg(long, value_parser = parse_label)]
    pub external_ref: Option<Label>,
}

/// Options of `tenantry check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The tenant whose relationships answer.
    #[command(flatten)]
    pub tenant: TenantOption,
    /// The object, `type:id`; for a workspace the id may be its name, for
    /// example `workspace:billing`.
    #[arg(value_name = "RESOURCE")]
    pub resource: String,
    /// The permission or relation, for example `edit`.
    #[arg(value_name = "PERMISSION")]
    pub permission: String,
    /// The subject, `type:id` or `type:id#relation`; for a user the id may
    /// be the username, for example `user:ada`.
    #[arg(value_name = "SUBJECT")]
    pub subject: String,
    /// Also print why: the relationships that grant it.
    #[arg(long)]
    pub explain: bool,
}

/// `tenantry schema ...`
#[derive(Debug, Subcommand)]
pub enum SchemaCommand {
    /// Check a schema file: syntax, types, relations, cycles, and that it
    /// keeps what tenantry's routes use. Reads no database.
    Validate {
        /// The schema file (`-` for standard input).
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Print the schema in force and its version.
    Show,
    /// Replace the schema in force, if it still allows every stored
    /// relationship.
    Apply {
        /// The schema file (`-` for standard input).
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The version this replaces, as `schema show` printed it (0 for the
        /// built-in default); refused if the schema changed since.
        #[arg(long)]
        expected_version: Option<i64>,
    },
}

/// A tenant named on the command line, by id or by name. Text that parses
/// as a tenant id is taken as one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantReference {
    /// `ten_...`
    Id(TenantId),
    /// Any other valid tenant name.
    Name(TenantName),
}

/// A workspace named on the command line, by id or by name within its
/// tenant. Text that parses as a workspace id is taken as one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkspaceReference {
    /// `ws_...`
    Id(WorkspaceId),
    /// Any other valid workspace name.
    Name(WorkspaceName),
}

fn parse_tenant_name(input: &str) -> Result<TenantName, NameError> {
    TenantName::parse(input)
}

fn parse_workspace_name(input: &str) -> Result<WorkspaceName, NameError> {
    WorkspaceName::parse(input)
}

fn parse_display_name(input: &str) -> Result<DisplayName, NameError> {
    DisplayName::parse(input)
}

fn parse_username(input: &str) -> Result<Username, NameError> {
    Username::parse(input)
}

fn parse_email(input: &str) -> Result<Email, NameError> {
    Email::parse(input)
}

fn parse_service_account_name(input: &str) -> Result<ServiceAccountName, NameError> {
    ServiceAccountName::parse(input)
}

fn parse_api_key_name(input: &str) -> Result<ApiKeyName, NameError> {
    ApiKeyName::parse(input)
}

fn parse_environment(input: &str) -> Result<Environment, NameError> {
    Environment::parse(input)
}

fn parse_user_id(input: &str) -> Result<UserId, tenantry_core::IdError> {
    UserId::parse(input)
}

fn parse_api_key_id(input: &str) -> Result<ApiKeyId, tenantry_core::IdError> {
    ApiKeyId::parse(input)
}

fn parse_api_key_lifetime(input: &str) -> Result<ApiKeyLifetime, String> {
    let days: i64 = input.trim().parse().map_err(|_| "must be a whole number of days".to_owned())?;
    ApiKeyLifetime::from_days(days).map_err(str::to_owned)
}

fn parse_tenant_reference(input: &str) -> Result<TenantReference, NameError> {
    match TenantId::parse(input.trim()) {
        Ok(tenant_id) => Ok(TenantReference::Id(tenant_id)),
        Err(_) => TenantName::parse(input).map(TenantReference::Name),
    }
}

fn parse_record_key(input: &str) -> Result<RecordKey, NameError> {
    RecordKey::parse(input)
}

fn parse_label(input: &str) -> Result<Label, NameError> {
    Label::parse(input)
}

fn parse_reason(input: &str) -> Result<Reason, NameError> {
    Reason::parse(input)
}

fn parse_group_name(input: &str) -> Result<GroupName, NameError> {
    GroupName::parse(input)
}

fn parse_run_id(input: &str) -> Result<RunId, tenantry_core::IdError> {
    RunId::parse(input.trim())
}

fn parse_approval_id(input: &str) -> Result<ApprovalId, tenantry_core::IdError> {
    ApprovalId::parse(input.trim())
}

fn parse_group_id(input: &str) -> Result<GroupId, tenantry_core::IdError> {
    GroupId::parse(input.trim())
}

fn parse_time(input: &str) -> Result<tenantry_core::Timestamp, String> {
    use chrono::SubsecRound;
    chrono::DateTime::parse_from_rfc3339(input.trim())
        .map(|at| at.with_timezone(&chrono::Utc).trunc_subsecs(6))
        .map_err(|_| "must be an RFC 3339 time such as 2026-12-06T10:00:00Z".to_owned())
}

fn parse_workspace_reference(input: &str) -> Result<WorkspaceReference, NameError> {
    match WorkspaceId::parse(input.trim()) {
        Ok(workspace_id) => Ok(WorkspaceReference::Id(workspace_id)),
        Err(_) => WorkspaceName::parse(input).map(WorkspaceReference::Name),
    }
}

/// The core's closed enums, as far as the command line needs them.
pub trait DomainEnum: Copy + Send + Sync + 'static {
    /// The value's text, as stored and shown.
    fn as_str(self) -> &'static str;
}

macro_rules! domain_enum {
    ($($name:ty),+) => {
        $(impl DomainEnum for $name {
            fn as_str(self) -> &'static str {
                <$name>::as_str(self)
            }
        })+
    };
}
domain_enum!(
    TenantStatus,
    DeploymentModel,
    DataResidency,
    Role,
    DecisionOutcome,
    Severity,
    SessionState,
    ApprovalState
);

/// A clap value parser for one of the core's enums: lists the allowed values
/// in `--help` and suggests the closest one on a typo.
#[derive(Debug, Clone)]
pub struct DomainEnumParser<T: 'static> {
    values: &'static [T],
}

impl<T: DomainEnum> DomainEnumParser<T> {
    fn new(values: &'static [T]) -> Self {
        Self { values }
    }

    fn text_parser(&self) -> PossibleValuesParser {
        PossibleValuesParser::new(self.values.iter().map(|value| PossibleValue::new(value.as_str())))
    }
}

impl<T: DomainEnum> TypedValueParser for DomainEnumParser<T> {
    type Value = T;

    fn parse_ref(
        &self,
        command: &clap::Command,
        argument: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        let text = self.text_parser().parse_ref(command, argument, value)?;
        self.values.iter().copied().find(|candidate| candidate.as_str() == text).ok_or_else(|| {
            clap::Error::raw(clap::error::ErrorKind::InvalidValue, format!("unknown value {text:?}\n"))
                .with_cmd(command)
        })
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(self.values.iter().map(|value| PossibleValue::new(value.as_str()))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn references_prefer_ids_and_fall_back_to_names() {
        let tenant_id = TenantId::generate();
        assert_eq!(parse_tenant_reference(&tenant_id.to_string()), Ok(TenantReference::Id(tenant_id)));
        assert_eq!(
            parse_tenant_reference(" acme "),
            Ok(TenantReference::Name(TenantName::parse("acme").unwrap()))
        );
        assert!(parse_tenant_reference("  ").is_err());
        let workspace_id = WorkspaceId::generate();
        assert_eq!(
            parse_workspace_reference(&workspace_id.to_string()),
            Ok(WorkspaceReference::Id(workspace_id))
        );
    }

    /// Every limit refuses 0 with a message naming its flag, and the
    /// defaults parse.
    #[test]
    fn limits_refuse_zero_naming_the_flag() {
        for flag in [
            "--max-workspace-depth",
            "--max-group-depth",
            "--max-pending-invitations",
            "--evaluation-budget",
            "--evaluation-threads",
            "--max-bulk-check-items",
            "--max-page-size",
            "--max-tenant-concurrency",
        ] {
            let error = Cli::try_parse_from(["tenantry", "serve", flag, "0"]).unwrap_err();
            assert!(error.to_string().contains(flag), "{flag}: {error}");
        }
        let cli = Cli::try_parse_from(["tenantry", "serve"]).unwrap();
        assert_eq!(cli.global.store_limits(), StoreLimits::defaults());
    }

    #[test]
    fn api_key_lifetimes_are_whole_days_in_range() {
        assert!(parse_api_key_lifetime("30").is_ok());
        for bad in ["0", "3651", "-1", "1.5", "soon"] {
            assert!(parse_api_key_lifetime(bad).is_err(), "{bad:?}");
        }
    }
}
