//! The one place that picks a database backend.
//!
//! `--database-url` (or `TENANTRY_DATABASE_URL`) starting with `postgres://`
//! or `postgresql://` selects PostgreSQL; `sqlite://PATH`, or no URL at all,
//! selects the SQLite file (by default `<data dir>/tenantry.db`). On
//! PostgreSQL, `serve` connects as two roles (`--database-url`, the runtime
//! role; `--platform-database-url`, the platform role) and operator commands
//! as the platform role alone. Every subcommand opens its store through
//! this module.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tenantry_core::prelude::*;

use anyhow::{Context, bail};
use tenantry_core::{Error, Store};
use tenantry_store_postgres::PostgresStore;
use tenantry_store_sqlite::SqliteStore;

use crate::cli::GlobalOptions;

/// The SQLite file's name inside the data directory.
pub const SQLITE_FILE_NAME: &str = "tenantry.db";

/// Which database the command works on.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    /// An embedded SQLite file.
    Sqlite {
        /// The database file.
        path: PathBuf,
    },
    /// A PostgreSQL server.
    Postgres {
        /// The connection URL, which may carry a password: never logged.
        url: String,
    },
}

impl fmt::Debug for DatabaseLocation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite { path } => formatter.debug_struct("Sqlite").field("path", path).finish(),
            Self::Postgres { .. } => formatter.debug_struct("Postgres").finish_non_exhaustive(),
        }
    }
}

impl DatabaseLocation {
    /// Picks the backend from the global options.
    pub fn from_options(options: &GlobalOptions) -> Result<Self, Error> {
        Self::from_url(&options.data_dir, options.database_url.as_deref())
    }

    /// Picks the backend from an optional database URL, defaulting to the
    /// SQLite file in `data_dir`.
    pub fn from_url(data_dir: &Path, database_url: Option<&str>) -> Result<Self, Error> {
        let Some(url) = database_url.map(str::trim).filter(|url| !url.is_empty()) else {
            return Ok(Self::Sqlite { path: data_dir.join(SQLITE_FILE_NAME) });
        };
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres { url: url.to_owned() });
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(Error::invalid("--database-url", "sqlite:// must be followed by a file path"));
            }
            return Ok(Self::Sqlite { path: PathBuf::from(path) });
        }
        Err(Error::invalid(
            "--database-url",
            "must start with postgres://, postgresql:// or sqlite:// (or be absent for SQLite in the data directory)",
        ))
    }

    /// `sqlite` or `postgres`, for logs and JSON output.
    pub fn backend_name(&self) -> &'static str {
        match self {
            Self::Sqlite { .. } => "sqlite",
            Self::Postgres { .. } => "postgres",
        }
    }
}

/// Creates a directory (and its parents) readable by its owner only, since
/// it holds the database and the bootstrap key. An existing directory is
/// left as it is.
pub fn create_private_directory(directory: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(directory).with_context(|| format!("creating the directory {}", directory.display()))
}

/// Opens (creating if needed) the SQLite file and applies its pending
/// migrations. Returns the store and the versions applied.
pub async fn open_and_migrate_sqlite(path: &Path) -> anyhow::Result<(SqliteStore, Vec<i64>)> {
    if let Some(directory) = path.parent().filter(|directory| !directory.as_os_str().is_empty()) {
        create_private_directory(directory)?;
    }
    let store = SqliteStore::open(path)
        .await
        .with_context(|| format!("opening the SQLite database {}", path.display()))?;
    let pending = store
        .pending_migrations()
        .await
        .with_context(|| format!("reading the migration state of {}", path.display()))?;
    store.migrate().await.with_context(|| format!("migrating the SQLite database {}", path.display()))?;
    Ok((store, pending))
}

/// The platform role's URL from `--platform-database-url`, which PostgreSQL
/// needs; `why` says what it is needed for.
pub fn platform_database_url<'options>(
    options: &'options GlobalOptions,
    why: &str,
) -> Result<&'options str, Error> {
    options.platform_database_url.as_deref().map(str::trim).filter(|url| !url.is_empty()).ok_or_else(|| {
        Error::invalid(
            "--platform-database-url",
            format!(
                "is required on PostgreSQL: {why}; pass the platform role's URL \
                 (postgres://PLATFORM_ROLE:PASSWORD@HOST/DATABASE), the role `tenantry migrate \
                 --platform-role` granted"
            ),
        )
    })
}

/// Connects the server's store: the runtime role of `url` for tenants'
/// requests, the platform role of `platform_url` for the platform's
/// operations. The store refuses roles that would bypass row-level
/// security (superuser, BYPASSRLS, the owner) and mixed-up roles.
pub async fn connect_postgres(url: &str, platform_url: &str) -> anyhow::Result<PostgresStore> {
    PostgresStore::connect(url, platform_url).await.context(
        "connecting to PostgreSQL as the runtime role of --database-url and the platform role of \
         --platform-database-url",
    )
}

/// Fails with a message naming `tenantry migrate` when the schema is behind
/// this binary.
pub async fn require_current_schema(store: &dyn Store, location: &DatabaseLocation) -> anyhow::Result<()> {
    let pending = store.pending_migrations().await.context("reading the database's migration state")?;
    if pending.is_empty() {
        return Ok(());
    }
    let versions = pending.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
    match location {
        DatabaseLocation::Sqlite { .. } => {
            bail!("the database has pending migrations (versions {versions}); run `tenantry migrate` first")
        }
        DatabaseLocation::Postgres { .. } => bail!(
            "the database has pending migrations (versions {versions}); run `tenantry migrate \
             --database-url <owner url> --runtime-role <runtime role> --platform-role <platform role>` \
             as the schema owner first, or start `tenantry serve` with --owner-database-url"
        ),
    }
}

/// Opens the store for an operator command. Operator commands never change
/// the schema and never create a database: a mistyped data directory must
/// not silently produce an empty one. On PostgreSQL they act across
/// tenants, so they connect as the platform role of
/// `--platform-database-url`; `--database-url` may then be left out.
pub async fn open_for_operator(options: &GlobalOptions) -> anyhow::Result<Arc<dyn Store>> {
    let platform_url = options.platform_database_url.as_deref().map(str::trim).filter(|url| !url.is_empty());
    let location = match platform_url {
        Some(url) if options.database_url.is_none() => {
            DatabaseLocation::from_url(&options.data_dir, Some(url)).map_err(|_| {
                Error::invalid("--platform-database-url", "must start with postgres:// or postgresql://")
            })?
        }
        _ => DatabaseLocation::from_options(options)?,
    };
    let store: Arc<dyn Store> = match &location {
        DatabaseLocation::Sqlite { path } => {
            if !path.is_file() {
                return Err(Error::invalid(
                    "--data-dir",
                    format!(
                        "no tenantry database at {}; run `tenantry migrate` or `tenantry serve` first, \
                         or point --data-dir or --database-url at an existing database",
                        path.display()
                    ),
                )
                .into());
            }
            let store = SqliteStore::open(path)
                .await
                .with_context(|| format!("opening the SQLite database {}", path.display()))?;
            Arc::new(store.with_limits(options.store_limits()))
        }
        DatabaseLocation::Postgres { .. } => {
            let platform_url = platform_database_url(
                options,
                "operator commands act across tenants, so they connect as the platform role, not the \
                 runtime role of --database-url",
            )?;
            let store = PostgresStore::connect_platform(platform_url)
                .await
                .context("connecting to PostgreSQL as the platform role of --platform-database-url")?;
            Arc::new(store.with_limits(options.store_limits()))
        }
    };
    require_current_schema(store.as_ref(), &location).await?;
    Ok(store)
}

/// The role a PostgreSQL URL logs in as: the user part of the URL, or a
/// `user` query parameter. The server grants this role what it needs when
/// it migrates with an owner URL. `flag` names the URL's flag in errors.
pub fn role_of_postgres_url(url: &str, flag: &'static str) -> Result<String, Error> {
    let missing = || {
        Error::invalid(
            flag,
            "names no user; put the role in the URL (postgres://ROLE:PASSWORD@HOST/DATABASE)",
        )
    };
    let rest = url.split_once("://").map(|(_, rest)| rest).ok_or_else(missing)?;
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let authority = before_query.split(['/', '#']).next().unwrap_or_default();
    let from_authority = authority
        .rsplit_once('@')
        .map(|(user_info, _host)| user_info.split(':').next().unwrap_or_default())
        .filter(|user| !user.is_empty());
    let from_query = query.and_then(|query| {
        query
            .split(['&', '#'])
            .filter_map(|pair| pair.split_once('='))
            .find(|(key, _)| *key == "user")
            .map(|(_, value)| value)
            .filter(|value| !value.is_empty())
    });
    let encoded = from_authority.or(from_query).ok_or_else(missing)?;
    percent_decode(encoded)
        .ok_or_else(|| Error::invalid(flag, "the user name is not valid percent-encoded UTF-8"))
}

/// Decodes `%XX` escapes, as URLs carry special characters in user names.
fn percent_decode(encoded: &str) -> Option<String> {
    let bytes = encoded.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = encoded.get(index + 1..index + 3)?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_backend_from_the_url() {
        let data_dir = Path::new("/var/lib/tenantry");
        let cases: [(Option<&str>, Option<DatabaseLocation>); 7] = [
            (None, Some(DatabaseLocation::Sqlite { path: data_dir.join("tenantry.db") })),
            (Some("  "), Some(DatabaseLocation::Sqlite { path: data_dir.join("tenantry.db") })),
            (Some("sqlite:///tmp/x.db"), Some(DatabaseLocation::Sqlite { path: PathBuf::from("/tmp/x.db") })),
            (Some("postgres://u@h/d"), Some(DatabaseLocation::Postgres { url: "postgres://u@h/d".into() })),
            (
                Some("postgresql://u@h/d"),
                Some(DatabaseLocation::Postgres { url: "postgresql://u@h/d".into() }),
            ),
            (Some("sqlite://"), None),
            (Some("mysql://u@h/d"), None),
        ];
        for (url, expected) in cases {
            let actual = DatabaseLocation::from_url(data_dir, url);
            match expected {
                Some(expected) => assert_eq!(actual.unwrap(), expected, "{url:?}"),
                None => assert!(matches!(actual, Err(Error::Invalid { .. })), "{url:?}"),
            }
        }
    }

    #[test]
    fn finds_the_role_of_a_postgres_url() {
        let cases = [
            ("postgres://runtime:secret@localhost:5432/tenantry", Some("runtime")),
            ("postgres://runtime@localhost/tenantry", Some("runtime")),
            ("postgresql://r%40x:p%3Aw@host/db?sslmode=disable", Some("r@x")),
            ("postgres://localhost/db?user=app&sslmode=disable", Some("app")),
            ("postgres://localhost/db", None),
            ("postgres://:secret@localhost/db", None),
            ("postgres://bad%zz@localhost/db", None),
        ];
        for (url, expected) in cases {
            assert_eq!(role_of_postgres_url(url, "--database-url").ok().as_deref(), expected, "{url}");
        }
    }
}
