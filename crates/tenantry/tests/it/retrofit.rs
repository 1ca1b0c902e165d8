//! `tenantry retrofit plan|backfill|enforce` end to end, through the real
//! binary and real workers, on an application database of twelve legacy
//! tables (integer, bigint, text and composite keys; workspaces from the
//! tenant or looked up through another table), on SQLite and PostgreSQL:
//! the plan and its blockers, an abort that writes nothing, a dry run, the
//! backfill with its summary, idempotence, the lock that refuses a second
//! backfill, pause/resume/cancel mid-run, `kill -9` of a worker and the
//! exact resume, `--max-rows` and `--resume-from`, throttling on lock
//! waits, and `enforce` attacked with raw SQL afterwards (as a role that
//! row-level security binds, on PostgreSQL).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::{AnyPool, Row};
use tenantry_test_support::postgres::PostgresTestDb;

use crate::support::{ServerProcess, Tenantry};

/// The legacy schema: tenant-owned tables with a tenant column and no
/// workspace.
const SCHEMA: &str = "
CREATE TABLE projects (id integer PRIMARY KEY, tenant_id text NOT NULL, name text NOT NULL);
CREATE TABLE tasks (id integer PRIMARY KEY, tenant_id text NOT NULL, project_id integer NOT NULL, title text NOT NULL);
CREATE TABLE comments (id bigint PRIMARY KEY, tenant_id text NOT NULL, task_id integer NOT NULL, body text NOT NULL);
CREATE TABLE documents (id text PRIMARY KEY, tenant_id text NOT NULL, title text NOT NULL);
CREATE TABLE document_versions (tenant_id text NOT NULL, document_id text NOT NULL, version integer NOT NULL,
    body text, PRIMARY KEY (tenant_id, document_id, version));
CREATE TABLE customers (id integer PRIMARY KEY, tenant_id text NOT NULL, name text NOT NULL);
CREATE TABLE contacts (id integer PRIMARY KEY, tenant_id text NOT NULL, customer_id integer NOT NULL, email text NOT NULL);
CREATE TABLE invoices (id integer PRIMARY KEY, tenant_id text NOT NULL, customer_id integer NOT NULL, total integer NOT NULL);
CREATE TABLE invoice_lines (invoice_id integer NOT NULL, line_no integer NOT NULL, tenant_id text NOT NULL,
    amount integer NOT NULL, PRIMARY KEY (invoice_id, line_no));
CREATE TABLE settings (tenant_id text NOT NULL, name text NOT NULL, value text NOT NULL, PRIMARY KEY (tenant_id, name));
CREATE TABLE events (id bigint PRIMARY KEY, tenant_id text NOT NULL, kind text NOT NULL);
CREATE TABLE audit_trail (id integer PRIMARY KEY, tenant_id text NOT NULL, path text NOT NULL);
";

/// The tenant of row `x` (of a table keyed 1, 2, 3, ...).
fn tenant_of(x: &str) -> String {
    format!("(CASE ({x}) % 3 WHEN 0 THEN 'acme' WHEN 1 THEN 'globex' ELSE 'initech' END)")
}

/// (table, rows, insert): every insert walks `n(i)` from 1 to `rows`.
fn seeds() -> Vec<(&'static str, u64, String)> {
    vec![
        (
            "projects",
            300,
            format!("INSERT INTO projects SELECT i, {}, 'project ' || i FROM n", tenant_of("i")),
        ),
        (
            "tasks",
            900,
            format!(
                "INSERT INTO tasks SELECT i, {}, ((i - 1) % 300) + 1, 'task ' || i FROM n",
                tenant_of("((i - 1) % 300) + 1")
            ),
        ),
        (
            "comments",
            1500,
            format!(
                "INSERT INTO comments SELECT i, {}, ((i - 1) % 900) + 1, 'comment' FROM n",
                tenant_of("((((i - 1) % 900) + 1 - 1) % 300) + 1")
            ),
        ),
        (
            "documents",
            200,
            format!("INSERT INTO documents SELECT 'doc-' || i, {}, 'document' FROM n", tenant_of("i")),
        ),
        (
            "document_versions",
            600,
            format!(
                "INSERT INTO document_versions SELECT {}, 'doc-' || (((i - 1) % 200) + 1), ((i - 1) / 200) + 1, 'v' FROM n",
                tenant_of("((i - 1) % 200) + 1")
            ),
        ),
        ("customers", 150, format!("INSERT INTO customers SELECT i, {}, 'customer' FROM n", tenant_of("i"))),
        (
            "contacts",
            450,
            format!(
                "INSERT INTO contacts SELECT i, {}, ((i - 1) % 150) + 1, 'c' || i || '@example.com' FROM n",
                tenant_of("((i - 1) % 150) + 1")
            ),
        ),
        (
            "invoices",
            450,
            format!(
                "INSERT INTO invoices SELECT i, {}, ((i - 1) % 150) + 1, i * 10 FROM n",
                tenant_of("((i - 1) % 150) + 1")
            ),
        ),
        (
            "invoice_lines",
            1350,
            format!(
                "INSERT INTO invoice_lines SELECT ((i - 1) % 450) + 1, ((i - 1) / 450) + 1, {}, i FROM n",
                tenant_of("((((i - 1) % 450) + 1 - 1) % 150) + 1")
            ),
        ),
        (
            "settings",
            30,
            format!("INSERT INTO settings SELECT {}, 'setting-' || i, 'on' FROM n", tenant_of("i")),
        ),
        ("events", 2000, format!("INSERT INTO events SELECT i, {}, 'kind' FROM n", tenant_of("i"))),
        (
            "audit_trail",
            1000,
            format!("INSERT INTO audit_trail SELECT i, {}, '/path' FROM n", tenant_of("i")),
        ),
    ]
}

const TABLES: &str = r#"
[[tables]]
name = "projects"
key = ["id"]

[[tables]]
name = "tasks"
key = ["id"]
workspace_via = { column = "project_id", table = "projects" }

[[tables]]
name = "comments"
key = ["id"]
workspace_via = { column = "task_id", table = "tasks" }

[[tables]]
name = "documents"
key = ["id"]

[[tables]]
name = "document_versions"
key = ["tenant_id", "document_id", "version"]
workspace_via = { column = "document_id", table = "documents", references = "id" }

[[tables]]
name = "customers"
key = ["id"]

[[tables]]
name = "contacts"
key = ["id"]
workspace_via = { column = "customer_id", table = "customers" }

[[tables]]
name = "invoices"
key = ["id"]

[[tables]]
name = "invoice_lines"
key = ["invoice_id", "line_no"]
workspace_via = { column = "invoice_id", table = "invoices" }

[[tables]]
name = "settings"
key = ["tenant_id", "name"]

[[tables]]
name = "events"
key = ["id"]

[[tables]]
name = "audit_trail"
key = ["id"]
"#;

/// Everything one test works on: tenantry (its CLI on its database), the
/// application's database, the configuration file, and the root workspace
/// of each tenant.
struct Setup {
    tenantry: Tenantry,
    _data_dir: tempfile::TempDir,
    config: PathBuf,
    app: AnyPool,
    roots: BTreeMap<String, String>,
    postgres: Option<(PostgresTestDb, PostgresTestDb)>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

async fn setup(backend: Backend) -> Option<Setup> {
    sqlx::any::install_default_drivers();
    let data_dir = tempfile::tempdir().unwrap();
    let (tenantry, app_url, postgres) = match backend {
        Backend::Sqlite => {
            let app_path = data_dir.path().join("app.db");
            (Tenantry::sqlite(data_dir.path()), format!("sqlite://{}", app_path.display()), None)
        }
        Backend::Postgres => {
            let tenantry_db = PostgresTestDb::create().await?;
            let app_db = PostgresTestDb::create_unmigrated().await?;
            // The URL holds a password: the workers read it from the
            // environment, as the configuration names it.
            let tenantry = Tenantry::postgres(data_dir.path(), &tenantry_db)
                .with_env("APP_DATABASE_URL", &app_db.owner_url);
            (tenantry, app_db.owner_url.clone(), Some((tenantry_db, app_db)))
        }
    };
    if backend == Backend::Sqlite {
        tenantry.run(&["migrate"]).assert_code(0);
    }
    let mut roots = BTreeMap::new();
    for name in ["acme", "globex", "initech"] {
        let created = tenantry.json(&["tenant", "create", name]);
        roots.insert(name.to_owned(), created["root_workspace"]["id"].as_str().unwrap().to_owned());
    }
    let connect_url =
        if backend == Backend::Sqlite { format!("{app_url}?mode=rwc") } else { app_url.clone() };
    let app = sqlx::any::AnyPoolOptions::new().max_connections(4).connect(&connect_url).await.unwrap();
    sqlx::raw_sql(SCHEMA).execute(&app).await.unwrap();
    for (table, rows, insert) in seeds() {
        let sql = format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) {insert}"
        );
        sqlx::raw_sql(&sql).execute(&app).await.unwrap_or_else(|error| panic!("seeding {table}: {error}"));
    }
    let config = data_dir.path().join("retrofit.toml");
    let database = if backend == Backend::Postgres {
        "url_env = \"APP_DATABASE_URL\"".to_owned()
    } else {
        format!("url = \"{app_url}\"")
    };
    write_config(&config, &database, "");
    Some(Setup { tenantry, _data_dir: data_dir, config, app, roots, postgres })
}

fn write_config(path: &Path, database: &str, extra: &str) {
    let text = format!(
        "[database]\n{database}\n\n[workspaces]\nfrom = \"root_workspace\"\nmatch_tenants_by = \"name\"\n{extra}\n{TABLES}"
    );
    std::fs::write(path, text).unwrap();
}

impl Setup {
    fn config(&self) -> &str {
        self.config.to_str().unwrap()
    }

    fn worker(&self, name: &str) -> ServerProcess {
        let mut command = self.tenantry.command();
        command.args(["worker", "--name", name, "--lease-seconds", "2"]);
        ServerProcess::spawn(command)
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(&self.app)
            .await
            .unwrap_or_else(|error| panic!("{sql}: {error}"))
    }

    async fn has_column(&self, table: &str, column: &str) -> bool {
        let sql = if self.postgres.is_some() {
            format!(
                "SELECT count(*) FROM information_schema.columns WHERE table_name = '{table}' AND column_name = '{column}'"
            )
        } else {
            format!("SELECT count(*) FROM pragma_table_info('{table}') WHERE name = '{column}'")
        };
        self.count(&sql).await > 0
    }

    /// table -> (scanned, missing, updated, done) of the progress rows of
    /// `run`.
    async fn progress(&self, run: &str) -> BTreeMap<String, (i64, i64, i64, bool)> {
        let rows = sqlx::query(
            "SELECT table_name, scanned, missing, updated, CAST(done AS bigint) AS done FROM tenantry_retrofit_progress \
             WHERE run_id = $1",
        )
        .bind(run)
        .fetch_all(&self.app)
        .await
        .unwrap_or_default();
        rows.iter()
            .map(|row| {
                (
                    row.get::<String, _>("table_name"),
                    (
                        row.get("scanned"),
                        row.get("missing"),
                        row.get("updated"),
                        row.get::<i64, _>("done") != 0,
                    ),
                )
            })
            .collect()
    }

    /// A checksum of every seeded table's rows (and of the set of tables):
    /// PostgreSQL's `md5` of the rows as text in key order; SQLite's rows
    /// as `quote()`d values in rowid order.
    async fn checksums(&self) -> Vec<String> {
        let mut sums = Vec::new();
        for (table, _, _) in seeds() {
            let sql = if self.postgres.is_some() {
                format!(
                    "SELECT md5(string_agg(CAST(t AS text), ',' ORDER BY CAST(t AS text))) FROM {table} AS t"
                )
            } else {
                let columns: Vec<String> =
                    sqlx::query(&format!("SELECT name FROM pragma_table_info('{table}')"))
                        .fetch_all(&self.app)
                        .await
                        .unwrap()
                        .iter()
                        .map(|row| format!("quote({})", row.get::<String, _>("name")))
                        .collect();
                format!(
                    "SELECT group_concat({}, ',') FROM (SELECT * FROM {table} ORDER BY rowid)",
                    columns.join(" || '|' || ")
                )
            };
            sums.push(sqlx::query_scalar::<_, String>(&sql).fetch_one(&self.app).await.unwrap());
        }
        let tables = if self.postgres.is_some() {
            "SELECT string_agg(CAST(tablename AS text), ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'"
        } else {
            "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master ORDER BY name)"
        };
        sums.push(sqlx::query_scalar::<_, String>(tables).fetch_one(&self.app).await.unwrap());
        sums
    }

    /// Waits until `check` holds on the run (as `operations show` prints it).
    fn wait_for_run(&self, run: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let shown = self.tenantry.json(&["operations", "show", run]);
            if check(&shown) {
                return shown;
            }
            assert!(Instant::now() < deadline, "the run never became {what}: {shown}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Every row of every table has its tenant's root workspace.
    async fn assert_all_filled(&self) {
        for (table, rows, _) in seeds() {
            let grouped = sqlx::query(&format!(
                "SELECT tenant_id, workspace_id, CAST(count(*) AS bigint) AS rows FROM {table} GROUP BY tenant_id, workspace_id"
            ))
            .fetch_all(&self.app)
            .await
            .unwrap();
            let mut total = 0;
            for row in &grouped {
                let tenant: String = row.get("tenant_id");
                let workspace: Option<String> = row.get("workspace_id");
                assert_eq!(workspace.as_ref(), self.roots.get(&tenant), "{table}: tenant {tenant}");
                total += row.get::<i64, _>("rows");
            }
            assert_eq!(total, i64::try_from(rows).unwrap(), "{table}");
        }
    }
}

fn run_id(value: &Value) -> String {
    value["id"].as_str().unwrap_or_else(|| panic!("no run id in {value}")).to_owned()
}

async fn plan_backfill_and_enforce(backend: Backend) {
    let Some(setup) = setup(backend).await else { return };
    let tenantry = &setup.tenantry;

    // The plan: every row of every table misses its workspace.
    let plan = tenantry.json(&["retrofit", "plan", setup.config()]);
    assert_eq!(plan["tables"].as_array().unwrap().len(), 12, "{plan}");
    for table in plan["tables"].as_array().unwrap() {
        assert_eq!(table["rows"], table["missing"], "{table}");
        assert!(
            table["backfill_ddl"][0].as_str().unwrap().contains("ADD COLUMN \"workspace_id\""),
            "{table}"
        );
    }
    assert_eq!(plan["tables"][0]["table"], "projects", "lookups first");
    assert_eq!(plan["pairs"].as_array().unwrap().len(), 3, "{plan}");
    let human = tenantry.run(&["retrofit", "plan", setup.config()]);
    human.assert_code(0);
    assert!(human.stdout.contains("nothing blocks the backfill"), "{}", human.stdout);
    assert!(
        human.stdout.contains("SELECT count(*) FROM \"events\" WHERE \"workspace_id\" IS NULL;"),
        "{}",
        human.stdout
    );

    // A tenant tenantry does not have blocks everything, named with its
    // rows; the backfill then writes nothing at all.
    sqlx::raw_sql("INSERT INTO projects VALUES (10001, 'umbrella', 'x'); INSERT INTO events VALUES (10001, 'umbrella', 'x'), (10002, 'umbrella', 'y')")
        .execute(&setup.app)
        .await
        .unwrap();
    let blocked = tenantry.run(&["retrofit", "plan", setup.config()]);
    blocked.assert_code(4);
    assert!(
        blocked.stdout.contains("tenant umbrella: no tenantry tenant has this name (3 rows)"),
        "{}",
        blocked.stdout
    );
    let refused = tenantry.run(&["retrofit", "backfill", setup.config()]);
    refused.assert_code(4);
    assert!(refused.error_line().contains("retrofit_refused"), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("tenant umbrella") && refused.stderr.contains("(3 rows)"),
        "{}",
        refused.stderr
    );
    let only_documents = tenantry.run(&["retrofit", "plan", setup.config(), "--table", "documents"]);
    only_documents.assert_code(0);
    assert!(!setup.has_column("projects", "workspace_id").await, "nothing was written");
    assert_eq!(tenantry.json(&["operations", "list"]), serde_json::json!([]));
    sqlx::raw_sql("DELETE FROM projects WHERE id = 10001; DELETE FROM events WHERE id > 10000")
        .execute(&setup.app)
        .await
        .unwrap();

    // A dry run counts and writes nothing: every table's checksum is as
    // it was.
    let before = setup.checksums().await;
    let dry = tenantry.json(&["retrofit", "backfill", setup.config(), "--dry-run", "--max-rows", "100"]);
    assert_eq!(dry["tables"][0]["would_scan"], 100, "{dry}");
    assert_eq!(setup.checksums().await, before, "the dry run changed the application's database");
    assert!(!setup.has_column("projects", "workspace_id").await);

    // The backfill, by a worker, in batches of 97 rows.
    let _worker = setup.worker("first");
    let finished =
        tenantry.run(&["--json", "retrofit", "backfill", setup.config(), "--batch-size", "97", "--wait"]);
    finished.assert_code(0);
    let summary = finished.json();
    assert_eq!(summary["run"]["status"], "succeeded", "{summary}");
    let first = run_id(&summary["run"]);
    for (table, rows, _) in seeds() {
        let reported =
            summary["tables"].as_array().unwrap().iter().find(|entry| entry["table"] == table).unwrap();
        assert_eq!(reported["scanned"], rows, "{reported}");
        assert_eq!(reported["updated"], rows, "{reported}");
        assert_eq!(reported["done"], true, "{reported}");
    }
    assert_eq!(summary["validation_sql"].as_array().unwrap().len(), 24);
    for sql in summary["validation_sql"].as_array().unwrap() {
        assert_eq!(setup.count(sql.as_str().unwrap().trim_end_matches(';')).await, 0, "{sql}");
    }
    setup.assert_all_filled().await;
    let units = &summary["run"]["progress"];
    assert_eq!(units.as_array().unwrap().len(), 12, "{units}");

    // Again: a new run reads every row and changes none.
    let again = tenantry.json(&["retrofit", "backfill", setup.config(), "--wait"]);
    assert_ne!(run_id(&again["run"]), first);
    for table in again["tables"].as_array().unwrap() {
        assert_eq!(table["updated"], 0, "{table}");
        assert_eq!(table["missing"], 0, "{table}");
    }
    let platform = tenantry.json(&["audit", "list", "--platform"]);
    let actions: Vec<&str> =
        platform.as_array().unwrap().iter().filter_map(|event| event["action"].as_str()).collect();
    assert!(actions.contains(&"operation.created") && actions.contains(&"operation.finished"), "{actions:?}");

    // Enforce, then again: every step is in place.
    let enforced = tenantry.json(&["retrofit", "enforce", setup.config()]);
    assert!(enforced.as_array().unwrap().iter().all(|step| step["ran"] == true), "{enforced}");
    let again = tenantry.json(&["retrofit", "enforce", setup.config()]);
    assert!(again.as_array().unwrap().iter().all(|step| step["ran"] == false), "{again}");
    let plan = tenantry.json(&["retrofit", "plan", setup.config()]);
    assert!(plan["tables"].as_array().unwrap().iter().all(|table| table["missing"] == 0), "{plan}");

    attack_enforced(&setup).await;
}

/// The rules `enforce` added, attacked with raw SQL.
async fn attack_enforced(setup: &Setup) {
    let acme = &setup.roots["acme"];
    let globex = &setup.roots["globex"];
    let attacker = match &setup.postgres {
        // A role that is neither owner nor superuser: row-level security
        // binds it.
        Some((_, app_db)) => {
            sqlx::raw_sql(&format!(
                "GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO {}",
                app_db.runtime_role
            ))
            .execute(&setup.app)
            .await
            .unwrap();
            sqlx::any::AnyPoolOptions::new().max_connections(1).connect(&app_db.runtime_url).await.unwrap()
        }
        None => setup.app.clone(),
    };
    let postgres = setup.postgres.is_some();
    let as_acme = |sql: String| {
        let attacker = attacker.clone();
        async move {
            let mut transaction = attacker.begin().await.unwrap();
            if postgres {
                sqlx::raw_sql("SELECT set_config('tenantry.tenant_id', 'acme', true)")
                    .execute(&mut *transaction)
                    .await
                    .unwrap();
            }
            let outcome =
                sqlx::raw_sql(&sql).execute(&mut *transaction).await.map(|done| done.rows_affected());
            transaction.commit().await.unwrap();
            outcome
        }
    };
    let refusals = [
        "INSERT INTO projects (id, tenant_id, name) VALUES (20001, 'acme', 'no workspace')".to_owned(),
        format!(
            "INSERT INTO projects (id, tenant_id, name, workspace_id) VALUES (20002, 'acme', 'x', '{globex}')"
        ),
        "INSERT INTO projects (id, tenant_id, name, workspace_id) VALUES (20003, 'acme', 'x', 'ws_nowhere')"
            .to_owned(),
        "UPDATE projects SET tenant_id = 'globex' WHERE id = 3".to_owned(),
        "UPDATE projects SET workspace_id = NULL WHERE id = 3".to_owned(),
    ];
    for sql in refusals {
        let outcome = as_acme(sql.clone()).await;
        assert!(outcome.is_err(), "{sql} was allowed: {outcome:?}");
    }
    let allowed = as_acme(format!(
        "INSERT INTO projects (id, tenant_id, name, workspace_id) VALUES (20004, 'acme', 'ok', '{acme}')"
    ))
    .await;
    assert_eq!(allowed.unwrap(), 1);
    if postgres {
        // Row-level security: acme sees acme's rows alone, writes no other
        // tenant's, and without the setting sees nothing.
        let mut transaction = attacker.begin().await.unwrap();
        sqlx::raw_sql("SELECT set_config('tenantry.tenant_id', 'acme', true)")
            .execute(&mut *transaction)
            .await
            .unwrap();
        let visible: i64 =
            sqlx::query_scalar("SELECT count(*) FROM projects").fetch_one(&mut *transaction).await.unwrap();
        let others: i64 = sqlx::query_scalar("SELECT count(*) FROM projects WHERE tenant_id <> 'acme'")
            .fetch_one(&mut *transaction)
            .await
            .unwrap();
        transaction.rollback().await.unwrap();
        assert_eq!((visible, others), (101, 0), "100 seeded acme projects and the one just added");
        let foreign = as_acme(format!(
            "INSERT INTO events (id, tenant_id, kind, workspace_id) VALUES (30001, 'globex', 'x', '{globex}')"
        ))
        .await;
        assert!(foreign.is_err(), "another tenant's row was written: {foreign:?}");
        let unset: i64 =
            sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&attacker).await.unwrap();
        assert_eq!(unset, 0, "without the setting no row is visible");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_backfill_and_enforce_on_sqlite() {
    plan_backfill_and_enforce(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_backfill_and_enforce_on_postgres() {
    plan_backfill_and_enforce(Backend::Postgres).await;
}

/// A second backfill is refused while one holds the lock, naming it; the
/// same backfill, paused, is resumed; once cancelled, the lock is free.
async fn the_lock_refuses_a_second_backfill(backend: Backend) {
    let Some(setup) = setup(backend).await else { return };
    let tenantry = &setup.tenantry;
    let first = run_id(&tenantry.json(&["retrofit", "backfill", setup.config(), "--table", "events"]));
    let second = tenantry.run(&["retrofit", "backfill", setup.config(), "--table", "audit_trail"]);
    second.assert_code(4);
    assert!(
        second
            .stderr
            .contains(&format!("operation run {first} (a backfill, enqueued) holds the retrofit's lock")),
        "{}",
        second.stderr
    );
    tenantry.json(&["operations", "pause", &first]);
    let resumed = tenantry.run(&["retrofit", "backfill", setup.config(), "--table", "events"]);
    resumed.assert_code(0);
    assert!(
        resumed.stdout.contains(&format!("backfill resumed: operation run {first}")),
        "{}",
        resumed.stdout
    );
    assert_eq!(tenantry.json(&["operations", "show", &first])["status"], "enqueued");
    tenantry.json(&["operations", "cancel", &first]);
    let third = tenantry.json(&["retrofit", "backfill", setup.config(), "--table", "audit_trail"]);
    assert_ne!(run_id(&third), first);
    let lock: String =
        sqlx::query_scalar("SELECT run_id FROM tenantry_retrofit_lock").fetch_one(&setup.app).await.unwrap();
    assert_eq!(lock, run_id(&third));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lock_refuses_a_second_backfill_on_sqlite() {
    the_lock_refuses_a_second_backfill(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lock_refuses_a_second_backfill_on_postgres() {
    the_lock_refuses_a_second_backfill(Backend::Postgres).await;
}

/// A worker killed with SIGKILL mid-run: another claims the job after its
/// lease and resumes from the last committed batch; the counts add up
/// exactly.
async fn a_killed_worker_is_resumed_exactly(backend: Backend) {
    let Some(setup) = setup(backend).await else { return };
    let tenantry = &setup.tenantry;
    let run = run_id(&tenantry.json(&[
        "retrofit",
        "backfill",
        setup.config(),
        "--table",
        "events",
        "--batch-size",
        "20",
        "--throttle-ms",
        "40",
    ]));
    let doomed = setup.worker("doomed");
    let deadline = Instant::now() + Duration::from_secs(60);
    while setup.progress(&run).await.get("events").is_none_or(|progress| progress.0 < 300) {
        assert!(Instant::now() < deadline, "the first worker never got going");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(doomed); // SIGKILL
    let at_kill = setup.progress(&run).await["events"];
    assert!(at_kill.0 < 2000, "the run finished before the kill: {at_kill:?}");
    let _second = setup.worker("second");
    let watched = tenantry.run(&["operations", "watch", &run]);
    watched.assert_code(0);
    let events = setup.progress(&run).await["events"];
    assert_eq!(events, (2000, 2000, 2000, true), "every row read, missed and filled exactly once");
    assert_eq!(setup.count("SELECT count(*) FROM events WHERE workspace_id IS NULL").await, 0);
    let shown = tenantry.json(&["operations", "show", &run]);
    assert_eq!(shown["progress"][0]["updated"], 2000, "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_is_resumed_exactly_on_sqlite() {
    a_killed_worker_is_resumed_exactly(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_is_resumed_exactly_on_postgres() {
    a_killed_worker_is_resumed_exactly(Backend::Postgres).await;
}

/// Paused mid-run, nothing moves; resumed, it goes on; cancelled, it stops,
/// and a new backfill fills the rest.
async fn pause_resume_and_cancel_mid_run(backend: Backend) {
    let Some(setup) = setup(backend).await else { return };
    let tenantry = &setup.tenantry;
    let _worker = setup.worker("only");
    let run = run_id(&tenantry.json(&[
        "retrofit",
        "backfill",
        setup.config(),
        "--table",
        "audit_trail",
        "--batch-size",
        "5",
        "--throttle-ms",
        "30",
    ]));
    setup
        .wait_for_run(&run, "under way", |shown| shown["progress"][0]["scanned"].as_u64().unwrap_or(0) >= 50);
    tenantry.json(&["operations", "pause", &run]);
    setup.wait_for_run(&run, "paused", |shown| shown["status"] == "paused");
    let paused_at = setup.progress(&run).await["audit_trail"];
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(setup.progress(&run).await["audit_trail"], paused_at, "nothing moves while paused");
    assert!(paused_at.0 < 1000, "{paused_at:?}");
    tenantry.json(&["operations", "resume", &run]);
    setup.wait_for_run(&run, "moving again", |shown| {
        shown["progress"][0]["scanned"].as_i64().unwrap_or(0) > paused_at.0 + 20
    });
    // A throttle of a minute, set while it runs: at most the batch in
    // hand goes on, and a cancel still acts at once.
    let throttled = tenantry.json(&["operations", "throttle", &run, "--ms", "60000"]);
    assert_eq!(throttled["throttle_ms"], 60000, "{throttled}");
    // The slice in hand ends (within a second), the next claim (within
    // the idle poll's half second) does one batch, and the job waits.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let slowed = setup.progress(&run).await["audit_trail"];
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        setup.progress(&run).await["audit_trail"],
        slowed,
        "nothing moves within the throttle's pause"
    );
    tenantry.run(&["operations", "throttle", &run, "--ms", "60001"]).assert_code(2);
    tenantry.json(&["operations", "cancel", &run]);
    let cancelled = setup.wait_for_run(&run, "cancelled", |shown| shown["status"] == "cancelled");
    let stopped_at = setup.progress(&run).await["audit_trail"];
    assert!(stopped_at.0 < 1000 && !stopped_at.3, "{stopped_at:?} {cancelled}");
    let missing = setup.count("SELECT count(*) FROM audit_trail WHERE workspace_id IS NULL").await;
    assert_eq!(missing, 1000 - stopped_at.2, "the rows filled are the rows counted");
    let rest = tenantry.json(&["retrofit", "backfill", setup.config(), "--table", "audit_trail", "--wait"]);
    assert_eq!(rest["tables"][0]["updated"], missing, "{rest}");
    assert_eq!(setup.count("SELECT count(*) FROM audit_trail WHERE workspace_id IS NULL").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_and_cancel_mid_run_on_sqlite() {
    pause_resume_and_cancel_mid_run(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_and_cancel_mid_run_on_postgres() {
    pause_resume_and_cancel_mid_run(Backend::Postgres).await;
}

/// `--max-rows` stops a table part way; `--resume-from` goes on from the
/// cursor it left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_rows_and_resume_from() {
    let Some(setup) = setup(Backend::Sqlite).await else { return };
    let tenantry = &setup.tenantry;
    let _worker = setup.worker("only");
    let part = tenantry.json(&[
        "retrofit",
        "backfill",
        setup.config(),
        "--table",
        "events",
        "--max-rows",
        "500",
        "--batch-size",
        "120",
        "--wait",
    ]);
    assert_eq!(part["run"]["status"], "succeeded");
    let events = &part["tables"][0];
    assert_eq!(
        (events["scanned"].as_u64(), events["updated"].as_u64(), events["done"].as_bool()),
        (Some(500), Some(500), Some(false))
    );
    assert_eq!(events["cursor"], "[500]");
    assert_eq!(setup.count("SELECT count(*) FROM events WHERE workspace_id IS NULL").await, 1500);
    let rest = tenantry.json(&[
        "retrofit",
        "backfill",
        setup.config(),
        "--table",
        "events",
        "--resume-from",
        "[500]",
        "--wait",
    ]);
    let events = &rest["tables"][0];
    assert_eq!(
        (events["scanned"].as_u64(), events["updated"].as_u64(), events["done"].as_bool()),
        (Some(1500), Some(1500), Some(true))
    );
    assert_eq!(setup.count("SELECT count(*) FROM events WHERE workspace_id IS NULL").await, 0);

    // Every table stops at `--max-rows`, and a table that looks up another
    // goes on once that one stopped there (it does not wait for ever).
    let all = tenantry.json(&[
        "retrofit",
        "backfill",
        setup.config(),
        "--max-rows",
        "100",
        "--batch-size",
        "30",
        "--wait",
    ]);
    assert_eq!(all["run"]["status"], "succeeded", "{all}");
    let tables = all["tables"].as_array().unwrap();
    let tasks = tables.iter().find(|table| table["table"] == "tasks").unwrap();
    assert_eq!((tasks["scanned"].as_u64(), tasks["updated"].as_u64()), (Some(100), Some(100)), "{tasks}");
    let events = tables.iter().find(|table| table["table"] == "events").unwrap();
    assert_eq!((events["scanned"].as_u64(), events["updated"].as_u64()), (Some(100), Some(0)), "{events}");
}

/// Bad configurations and arguments are refused, naming the field and the
/// rule, before anything is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_the_field_and_the_rule() {
    let Some(setup) = setup(Backend::Sqlite).await else { return };
    let tenantry = &setup.tenantry;
    let config = setup.config();
    let cases: [(&[&str], i32, &str); 6] = [
        (&["retrofit", "backfill", config, "--batch-size", "0"], 2, "--batch-size: must be from 1 to 100000"),
        (
            &["retrofit", "backfill", config, "--throttle-ms", "60001"],
            2,
            "--throttle-ms: must be from 0 to 60000",
        ),
        (
            &["retrofit", "backfill", config, "--table", "events", "--resume-from", "[1, 2]"],
            2,
            "--resume-from: must be a JSON array of the 1 values",
        ),
        (
            &["retrofit", "backfill", config, "--table", "nowhere"],
            2,
            "--table: nowhere is not a configured table",
        ),
        (&["retrofit", "backfill", config, "--resume-from", "[1]"], 2, "--table"),
        (&["retrofit", "plan", "/nonexistent/retrofit.toml"], 1, "reading the retrofit's configuration"),
    ];
    for (arguments, code, expected) in cases {
        let finished = tenantry.run(arguments);
        finished.assert_code(code);
        assert!(finished.stderr.contains(expected), "{arguments:?}: {}", finished.stderr);
    }
    let broken = setup._data_dir.path().join("broken.toml");
    std::fs::write(&broken, std::fs::read_to_string(config).unwrap().replace("key = [\"id\"]", "key = []"))
        .unwrap();
    let finished = tenantry.run(&["retrofit", "plan", broken.to_str().unwrap()]);
    finished.assert_code(2);
    assert!(finished.stderr.contains("tables[0].key: must name 1 to 8 columns"), "{}", finished.stderr);
    write_config(&broken, "url = \"postgres://app:hunter2@127.0.0.1:1/app\"", "");
    let finished = tenantry.run(&["retrofit", "backfill", broken.to_str().unwrap()]);
    finished.assert_code(2);
    assert!(finished.stderr.contains("database.url: holds a password"), "{}", finished.stderr);
    assert!(!finished.stderr.contains("hunter2"), "{}", finished.stderr);
    let enforce = tenantry.run(&["retrofit", "enforce", config]);
    enforce.assert_code(4);
    assert!(enforce.stderr.contains("events has no column workspace_id yet"), "{}", enforce.stderr);
    assert!(!setup.has_column("events", "workspace_id").await);
}

/// The start gives up, changing nothing, when a table's lock does not
/// come; while sessions wait for locks on the tables (beyond
/// `max_lock_waits`), the backfill holds back and says so; it goes on by
/// itself once they are through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backfill_holds_back_while_sessions_wait_for_locks() {
    let Some(setup) = setup(Backend::Postgres).await else { return };
    let tenantry = &setup.tenantry;
    // A long transaction that has read events: the start gives up on the
    // lock `ADD COLUMN` needs after its timeout, and changes nothing.
    let mut reader = setup.app.begin().await.unwrap();
    sqlx::raw_sql("SELECT count(*) FROM events").execute(&mut *reader).await.unwrap();
    let stalled = tenantry.run(&["retrofit", "backfill", setup.config()]);
    stalled.assert_code(1);
    assert!(stalled.stderr.contains("lock timeout"), "{}", stalled.stderr);
    reader.rollback().await.unwrap();
    assert!(!setup.has_column("projects", "workspace_id").await, "nothing was written");
    assert_eq!(tenantry.json(&["operations", "list"]), serde_json::json!([]));
    // One session holds a row of events; another waits for it.
    let mut holder = setup.app.begin().await.unwrap();
    sqlx::raw_sql("UPDATE events SET kind = 'held' WHERE id = 1").execute(&mut *holder).await.unwrap();
    let waiter = {
        let app = setup.app.clone();
        tokio::spawn(async move {
            sqlx::raw_sql("UPDATE events SET kind = 'waited' WHERE id = 1").execute(&app).await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _worker = setup.worker("only");
    let run = run_id(&tenantry.json(&["retrofit", "backfill", setup.config(), "--table", "settings"]));
    let throttled = setup.wait_for_run(&run, "throttled", |shown| {
        shown["cursor"].as_str().is_some_and(|cursor| cursor.contains("throttled: 1 sessions wait for locks"))
    });
    assert_eq!(throttled["status"], "running", "{throttled}");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(
        setup.progress(&run).await.get("settings").is_none_or(|progress| progress.0 == 0),
        "nothing read while held back"
    );
    holder.rollback().await.unwrap();
    waiter.await.unwrap().unwrap();
    let done = tenantry.run(&["operations", "watch", &run]);
    done.assert_code(0);
    assert_eq!(setup.progress(&run).await["settings"], (30, 30, 30, true));
}

/// Fencing in the application's database: a batch under an older claim of
/// the job than the one the progress row records commits nothing; a run
/// the lock does not name does nothing.
async fn a_stale_claim_commits_nothing(backend: Backend) {
    use tenantry_retrofit::backfill::{SliceEnd, TableJob, run_slice};
    let Some(setup) = setup(backend).await else { return };
    let tenantry = &setup.tenantry;
    // Started, with no worker: the lock names the run, the columns exist.
    let run = run_id(&tenantry.json(&["retrofit", "backfill", setup.config(), "--table", "events"]));
    let config =
        tenantry_retrofit::RetrofitConfig::parse(&std::fs::read_to_string(&setup.config).unwrap()).unwrap();
    let url = match &setup.postgres {
        Some((_, app_db)) => app_db.owner_url.clone(),
        None => config.database.url.clone().unwrap(),
    };
    let app = tenantry_retrofit::AppDatabase::connect(&url).await.unwrap();
    let job = TableJob {
        config,
        table: "events".to_owned(),
        batch_size: 100,
        max_rows: None,
        resume_from: None,
        wait_for: None,
        total: 2000,
    };
    let missing = "SELECT count(*) FROM events WHERE workspace_id IS NULL";
    // The claim with token 5 does one batch.
    let slice = run_slice(&app, &job, &run, 5, Duration::ZERO, Duration::ZERO).await.unwrap();
    assert_eq!((slice.end, slice.progress.updated), (SliceEnd::More, 100));
    assert_eq!(setup.count(missing).await, 1900);
    // The stale claim, token 4, is refused and writes nothing.
    let stale = run_slice(&app, &job, &run, 4, Duration::ZERO, Duration::ZERO).await.unwrap_err();
    assert!(
        matches!(stale, tenantry_retrofit::RetrofitError::LeaseLost { recorded: 5, token: 4, .. }),
        "{stale}"
    );
    assert_eq!(setup.count(missing).await, 1900);
    // Another run, which the lock does not name, waits and writes nothing.
    let other = run_slice(&app, &job, "run_01M97AAAAAAAAAAAAAAAAAAAAA", 9, Duration::ZERO, Duration::ZERO)
        .await
        .unwrap();
    assert!(matches!(&other.end, SliceEnd::Waiting(reason) if reason.contains(&run)), "{other:?}");
    assert_eq!(setup.count(missing).await, 1900);
    // A newer claim, token 6, goes on from the recorded cursor.
    let newer = run_slice(&app, &job, &run, 6, Duration::ZERO, Duration::ZERO).await.unwrap();
    assert_eq!((newer.progress.scanned, newer.progress.updated), (200, 200));
    assert_eq!(newer.progress.cursor.as_deref(), Some("[200]"));
    assert_eq!(setup.count(missing).await, 1800);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_claim_commits_nothing_on_sqlite() {
    a_stale_claim_commits_nothing(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_claim_commits_nothing_on_postgres() {
    a_stale_claim_commits_nothing(Backend::Postgres).await;
}

/// The README's configuration, as written, drives plan, backfill and
/// enforce on an application database of its two tables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_configuration_runs_as_written() {
    const HEADING: &str = "## Retrofitting workspace isolation onto an application database";
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")).unwrap();
    let section = &readme[readme.find(HEADING).expect("README.md has the retrofit section")..];
    let start = section.find("```toml\n").expect("the section has a toml block") + "```toml\n".len();
    let end = start + section[start..].find("\n```").expect("the toml block ends");
    let data_dir = tempfile::tempdir().unwrap();
    let config = data_dir.path().join("retrofit.toml");
    std::fs::write(&config, &section[start..end]).unwrap();

    sqlx::any::install_default_drivers();
    let app_url = format!("sqlite://{}", data_dir.path().join("app.db").display());
    let app = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&format!("{app_url}?mode=rwc"))
        .await
        .unwrap();
    sqlx::raw_sql(
        "CREATE TABLE projects (id integer PRIMARY KEY, tenant_id text NOT NULL, name text NOT NULL);
         CREATE TABLE tasks (id integer PRIMARY KEY, tenant_id text NOT NULL, project_id integer NOT NULL);
         INSERT INTO projects VALUES (1, 'acme', 'a'), (2, 'globex', 'b');
         INSERT INTO tasks VALUES (1, 'acme', 1), (2, 'globex', 2), (3, 'acme', 1);",
    )
    .execute(&app)
    .await
    .unwrap();
    let tenantry = Tenantry::sqlite(data_dir.path()).with_env("APP_DATABASE_URL", &app_url);
    tenantry.run(&["migrate"]).assert_code(0);
    let acme_root =
        tenantry.json(&["tenant", "create", "acme"])["root_workspace"]["id"].as_str().unwrap().to_owned();
    tenantry.json(&["tenant", "create", "globex"]);
    let config = config.to_str().unwrap();
    tenantry.run(&["retrofit", "plan", config]).assert_code(0);
    let mut worker = tenantry.command();
    worker.args(["worker", "--name", "readme"]);
    let _worker = ServerProcess::spawn(worker);
    let summary = tenantry.json(&["retrofit", "backfill", config, "--wait"]);
    assert_eq!(summary["run"]["status"], "succeeded", "{summary}");
    tenantry.json(&["retrofit", "enforce", config]);
    let workspace: String =
        sqlx::query_scalar("SELECT workspace_id FROM tasks WHERE id = 3").fetch_one(&app).await.unwrap();
    assert_eq!(workspace, acme_root);
    let refused = sqlx::raw_sql("INSERT INTO tasks VALUES (4, 'acme', 1, NULL)").execute(&app).await;
    assert!(refused.is_err(), "enforce keeps rows from going without a workspace");
}

/// Workspaces from a mapping table of the application's (integer tenant
/// ids, one tenant mapped to a workspace below its root): blockers name a
/// tenant mapped to a workspace tenantry does not have and one mapped to
/// two; rows get the mapped workspace, rows of a lookup table theirs; after
/// `enforce` a row may name any workspace of its own tenant and no other.
async fn workspaces_from_a_mapping_table(backend: Backend) {
    sqlx::any::install_default_drivers();
    let data_dir = tempfile::tempdir().unwrap();
    let (tenantry, app_url, _databases) = match backend {
        Backend::Sqlite => {
            let url = format!("sqlite://{}", data_dir.path().join("app.db").display());
            let tenantry = Tenantry::sqlite(data_dir.path()).with_env("APP_DATABASE_URL", &url);
            tenantry.run(&["migrate"]).assert_code(0);
            (tenantry, url, None)
        }
        Backend::Postgres => {
            let Some(tenantry_db) = PostgresTestDb::create().await else { return };
            let Some(app_db) = PostgresTestDb::create_unmigrated().await else { return };
            let tenantry = Tenantry::postgres(data_dir.path(), &tenantry_db)
                .with_env("APP_DATABASE_URL", &app_db.owner_url);
            let url = app_db.owner_url.clone();
            (tenantry, url, Some((tenantry_db, app_db)))
        }
    };
    let acme = tenantry.json(&["tenant", "create", "acme"]);
    let acme_root = acme["root_workspace"]["id"].as_str().unwrap().to_owned();
    let globex_root =
        tenantry.json(&["tenant", "create", "globex"])["root_workspace"]["id"].as_str().unwrap().to_owned();
    let billing = tenantry.json(&["workspace", "create", "--tenant", "acme", "billing"])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let connect = if backend == Backend::Sqlite { format!("{app_url}?mode=rwc") } else { app_url.clone() };
    let app = sqlx::any::AnyPoolOptions::new().max_connections(2).connect(&connect).await.unwrap();
    sqlx::raw_sql(&format!(
        "CREATE TABLE tenant_workspaces (tenant_id bigint NOT NULL, workspace_id text NOT NULL);
         INSERT INTO tenant_workspaces VALUES (1, '{billing}'), (2, '{globex_root}'), (3, 'ws_01M97NOWHERE000000000000000'),
             (4, '{acme_root}'), (4, '{globex_root}');
         CREATE TABLE orders (id bigint PRIMARY KEY, tenant_id bigint NOT NULL, total integer NOT NULL);
         CREATE TABLE order_items (order_id bigint NOT NULL, line integer NOT NULL, tenant_id bigint NOT NULL,
             PRIMARY KEY (order_id, line));
         INSERT INTO orders VALUES (10, 1, 5), (11, 1, 6), (20, 2, 7), (30, 3, 8), (40, 4, 9), (41, 4, 9);
         INSERT INTO order_items VALUES (10, 1, 1), (10, 2, 1), (11, 1, 1), (20, 1, 2), (30, 1, 3), (40, 1, 4);"
    ))
    .execute(&app)
    .await
    .unwrap();
    let config = data_dir.path().join("retrofit.toml");
    std::fs::write(
        &config,
        r#"
[database]
url_env = "APP_DATABASE_URL"

[workspaces]
from = "mapping_table"
table = "tenant_workspaces"

[[tables]]
name = "order_items"
key = ["order_id", "line"]
workspace_via = { column = "order_id", table = "orders", references = "id" }

[[tables]]
name = "orders"
key = ["id"]
"#,
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let blocked = tenantry.run(&["retrofit", "plan", config]);
    blocked.assert_code(4);
    assert!(
        blocked.stdout.contains("tenant 3: tenant_workspaces maps it to ws_01M97NOWHERE000000000000000, which is no workspace of tenantry (2 rows)"),
        "{}",
        blocked.stdout
    );
    assert!(
        blocked.stdout.contains("tenant 4: tenant_workspaces maps it to 2 workspaces"),
        "{}",
        blocked.stdout
    );
    sqlx::raw_sql("DELETE FROM order_items WHERE tenant_id > 2; DELETE FROM orders WHERE tenant_id > 2")
        .execute(&app)
        .await
        .unwrap();
    let plan = tenantry.json(&["retrofit", "plan", config]);
    assert_eq!(plan["tables"][0]["table"], "orders", "{plan}");
    let mut worker = tenantry.command();
    worker.args(["worker", "--name", "mapping"]);
    let _worker = ServerProcess::spawn(worker);
    let summary = tenantry.json(&["retrofit", "backfill", config, "--wait"]);
    assert_eq!(summary["run"]["status"], "succeeded", "{summary}");
    let placed = |table: &'static str| {
        let app = app.clone();
        async move {
            sqlx::query(&format!(
                "SELECT CAST(tenant_id AS bigint) AS tenant, workspace_id FROM {table} ORDER BY 1, 2"
            ))
            .fetch_all(&app)
            .await
            .unwrap()
            .iter()
            .map(|row| (row.get::<i64, _>("tenant"), row.get::<String, _>("workspace_id")))
            .collect::<Vec<_>>()
        }
    };
    let b = billing.clone();
    let g = globex_root.clone();
    assert_eq!(placed("orders").await, [(1, b.clone()), (1, b.clone()), (2, g.clone())]);
    assert_eq!(placed("order_items").await, [(1, b.clone()), (1, b.clone()), (1, b.clone()), (2, g.clone())]);
    tenantry.json(&["retrofit", "enforce", config]);
    // Any workspace of the row's own tenant; none of another's.
    sqlx::raw_sql(&format!("INSERT INTO orders VALUES (12, 1, 1, '{acme_root}')"))
        .execute(&app)
        .await
        .unwrap();
    let foreign =
        sqlx::raw_sql(&format!("INSERT INTO orders VALUES (13, 1, 1, '{globex_root}')")).execute(&app).await;
    assert!(foreign.is_err(), "a row of tenant 1 took globex's workspace");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspaces_from_a_mapping_table_on_sqlite() {
    workspaces_from_a_mapping_table(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspaces_from_a_mapping_table_on_postgres() {
    workspaces_from_a_mapping_table(Backend::Postgres).await;
}
