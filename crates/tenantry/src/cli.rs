//! The command line: every flag, argument and environment variable the
//! binary accepts, declared with clap's derive API.
//!
//! Values are parsed into the core's validated types right here, so a bad
//! name, id or enum value is a usage error (exit code 2) before anything
//! touches the database.

use std::ffi::OsStr;
use std::path::PathBuf;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use tenantry_core::name::NameError;
use tenantry_core::{
    ApiKeyId, ApiKeyLifetime, ApiKeyName, DataResidency, DeploymentModel, DisplayName, Environment, TenantId,
    TenantName, TenantStatus, Username, WorkspaceId, WorkspaceName,
};

/// What each exit code means; shown at the end of `--help`.
const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  internal failure (database unreachable, unexpected error)
  2  usage error or invalid input
  3  not found
  4  conflict (duplicate name, root workspace, children, already revoked, ...)
  5  forbidden";

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
    Serve(ServeArgs),
    /// Apply pending database migrations.
    Migrate(MigrateArgs),
    /// Manage tenants (operator, directly on the database).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage a tenant's workspaces (operator, directly on the database).
    #[command(subcommand)]
    Workspace(WorkspaceCommand),
    /// Manage API keys (operator, directly on the database).
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
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
    /// migrations are applied with it at start and the role of
    /// `--database-url` is granted what it needs.
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

    /// Where API key hashes get their pepper.
    #[command(flatten)]
    pub pepper: PepperOptions,
}

/// Options of `tenantry migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// PostgreSQL only: the server's runtime role, granted what it needs on
    /// the migrated schema. `--database-url` must be the schema owner's URL.
    #[arg(long, env = "TENANTRY_RUNTIME_ROLE")]
    pub runtime_role: Option<String>,
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

fn parse_api_key_name(input: &str) -> Result<ApiKeyName, NameError> {
    ApiKeyName::parse(input)
}

fn parse_environment(input: &str) -> Result<Environment, NameError> {
    Environment::parse(input)
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
domain_enum!(TenantStatus, DeploymentModel, DataResidency);

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

    #[test]
    fn api_key_lifetimes_are_whole_days_in_range() {
        assert!(parse_api_key_lifetime("30").is_ok());
        for bad in ["0", "3651", "-1", "1.5", "soon"] {
            assert!(parse_api_key_lifetime(bad).is_err(), "{bad:?}");
        }
    }
}
