//! How many SQL statements each main route sends, counted through the real
//! router on both backends, with bounds on the request paths that must stay
//! cheap.
//!
//! A separate test binary, against the house rule of one per crate, for one
//! reason: it installs a process-wide `tracing` subscriber that counts
//! `sqlx::query` events. On SQLite sqlx emits that event on the
//! connection's worker thread, outside any task or span of the request, so
//! only a global subscriber sees it, and only a binary whose cases run one at
//! a time (the `SERIAL` lock below) can tell whose statement it is. In the
//! shared `it` binary the other tests' statements would be counted too.
//!
//! sqlx logs one event per query it executes (its `QueryLogger`), at the
//! connection's `log_statements` level, DEBUG unless changed; the layer
//! enables DEBUG for the `sqlx::query` target, so every query is seen. A
//! query is one round trip; on SQLite it may hold several statements (the
//! store's `batch.rs`: the writes a change makes last, in one query text),
//! and it is counted once.
//! Two kinds of statement bypass the logger and are not counted: `BEGIN` on
//! both backends (on PostgreSQL a round trip of its own, so its round trips
//! are the statements counted plus one per transaction, that is per
//! `COMMIT` counted), and SQLite's `COMMIT`, which its connection worker
//! sends itself.
//!
//! Run with `cargo test -p tenantry-api --test statements -- --nocapture`
//! to print the table recorded in BENCHMARKS.md.

#[allow(dead_code, reason = "the statement counts use only part of the shared test app")]
#[path = "it/support.rs"]
mod support;

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;
use support::{Actor, Call, TestApp};
use tenantry_core::ApiKeyToken;
use tenantry_test_support::TestBackend;
use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

/// The statements seen since the counter was last taken, in order.
static STATEMENTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// One case at a time: the counter is process-wide.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Counts sqlx's statement events, keeping each statement's text.
struct StatementCounter;

#[derive(Default)]
struct StatementText {
    summary: String,
    statement: String,
}

impl Visit for StatementText {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "summary" => self.summary = value.to_owned(),
            "db.statement" => self.statement = value.trim().to_owned(),
            _ => {}
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
}

impl<S: tracing::Subscriber> Layer<S> for StatementCounter {
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _context: Context<'_, S>) -> bool {
        metadata.target() == "sqlx::query"
    }

    fn on_event(&self, event: &tracing::Event<'_>, _context: Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let mut text = StatementText::default();
        event.record(&mut text);
        let statement = if text.statement.is_empty() { text.summary } else { text.statement };
        STATEMENTS.lock().unwrap().push(statement.split_whitespace().collect::<Vec<_>>().join(" "));
    }
}

fn install_counter() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let subscriber = tracing_subscriber::registry().with(StatementCounter);
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber is set");
    });
}

fn take_statements() -> Vec<String> {
    std::mem::take(&mut *STATEMENTS.lock().unwrap())
}

/// Waits until no statement has arrived for a while: the pool's
/// after-release work (PostgreSQL's `RESET ALL`) runs in the pool's own task
/// after the response. Only the attribution waits on this; the bounds below
/// are on statements sent before the response, which no wait can change.
async fn until_quiet() {
    let mut seen = STATEMENTS.lock().unwrap().len();
    let mut quiet_polls = 0;
    while quiet_polls < 4 {
        tokio::time::sleep(Duration::from_millis(25)).await;
        let now = STATEMENTS.lock().unwrap().len();
        if now == seen {
            quiet_polls += 1;
        } else {
            seen = now;
            quiet_polls = 0;
        }
    }
}

/// What one request sent.
#[derive(Debug)]
struct Counted {
    route: &'static str,
    /// Statements on the request's path, in order.
    request_path: Vec<String>,
    /// The pool's `RESET ALL` on each connection handed back.
    after_release: usize,
}

/// Sends `call`, expects `status`, and counts what the database was sent
/// from the request's start until the pools are quiet again.
async fn count(app: &TestApp, route: &'static str, call: Call, status: StatusCode) -> Counted {
    until_quiet().await;
    take_statements();
    app.send(call).await.expect(status);
    until_quiet().await;
    let statements = take_statements();
    let (after_release, request_path): (Vec<String>, Vec<String>) =
        statements.into_iter().partition(|statement| statement == "RESET ALL");
    // A connection the pool opens while the request waits sets itself up
    // first (SQLite's `PRAGMA`s): whether one is opened depends on when the
    // previous request's connections came back, not on the route, so it
    // is not the route's to count.
    let request_path =
        request_path.into_iter().filter(|statement| !statement.starts_with("PRAGMA ")).collect();
    Counted { route, request_path, after_release: after_release.len() }
}

fn check_body(actor: &Actor, workspace_id: &str) -> serde_json::Value {
    json!({
        "resource": { "type": "workspace", "id": workspace_id },
        "permission": "edit",
        "subject": { "type": "user", "id": actor.user_id.to_string() },
    })
}

/// The most statements each bounded route may send on its request path,
/// on SQLite and on PostgreSQL. The named-parent create and the first check
/// follow writes to the tenant: a write that changes only relationships
/// must not make the next request read its key's credentials again.
///
/// A create records its audit event in its own transaction, sent with the
/// other writes a change makes last (the relationship partition's new
/// revision and change log) in one round trip: on PostgreSQL one statement
/// of data-modifying common table expressions (the log's head is locked in
/// the round trip that sets the transaction's scope), on SQLite one batch
/// of statements in one query text, which sqlx logs, and this test counts,
/// once. The hardening issue's 15 (PostgreSQL) and 13 (SQLite) became 16
/// and 14 with the append as a statement of its own, and 15 and 10 with
/// the batch.
const BOUNDS: [(&str, usize, usize); 5] = [
    ("POST /v1/workspaces (default parent)", 10, 15),
    ("POST /v1/workspaces (named parent)", 10, 15),
    ("GET /v1/workspaces/{id} (warm)", 4, 4),
    ("POST /v1/permissions/check (first)", 1, 1),
    ("POST /v1/permissions/check (warm)", 1, 1),
];

async fn count_routes(backend: TestBackend) {
    let name = backend.name;
    let app = TestApp::new(backend).await;
    let actor = app.tenant_with_key("counted");
    let actor = actor.await;
    let root = actor.root_id();
    let mut counted = Vec::new();

    let get_root = || Call::get(format!("/v1/workspaces/{root}")).key(&actor.token);
    counted.push(count(&app, "GET /v1/workspaces/{id} (first)", get_root(), StatusCode::OK).await);
    counted.push(count(&app, "GET /v1/workspaces/{id} (warm)", get_root(), StatusCode::OK).await);
    let create = |name: &str, parent: Option<&str>| {
        Call::post("/v1/workspaces")
            .key(&actor.token)
            .json(json!({ "name": name, "parent_workspace_id": parent }))
    };
    let first =
        count(&app, "POST /v1/workspaces (default parent)", create("first", None), StatusCode::CREATED);
    counted.push(first.await);
    let child_of_root = app.create_workspace(&actor.token, "second", Some(&root)).await;
    let second_id = child_of_root["id"].as_str().unwrap().to_owned();
    let nested = count(
        &app,
        "POST /v1/workspaces (named parent)",
        create("third", Some(&second_id)),
        StatusCode::CREATED,
    );
    counted.push(nested.await);
    let check = || Call::post("/v1/permissions/check").key(&actor.token).json(check_body(&actor, &second_id));
    counted.push(count(&app, "POST /v1/permissions/check (first)", check(), StatusCode::OK).await);
    counted.push(count(&app, "POST /v1/permissions/check (warm)", check(), StatusCode::OK).await);
    let list = Call::get("/v1/workspaces").key(&actor.token);
    counted.push(count(&app, "GET /v1/workspaces (warm)", list, StatusCode::OK).await);
    let rename = Call::patch(format!("/v1/workspaces/{second_id}"))
        .key(&actor.token)
        .json(json!({ "name": "renamed" }));
    counted.push(count(&app, "PATCH /v1/workspaces/{id} (rename)", rename, StatusCode::OK).await);
    let person = app.person(&actor, "counted-person", None).await;
    let person_key_id = ApiKeyToken::parse(&person.token).unwrap().api_key_id().to_string();
    let revoke = Call::delete(format!("/v1/api-keys/{person_key_id}")).key(&actor.token);
    counted.push(count(&app, "DELETE /v1/api-keys/{id} (revoke)", revoke, StatusCode::NO_CONTENT).await);

    println!("| route | backend | request path | of which `COMMIT` | after release (`RESET ALL`) |");
    for counted in &counted {
        let commits = counted.request_path.iter().filter(|statement| *statement == "COMMIT").count();
        println!(
            "| `{}` | {name} | {} | {commits} | {} |",
            counted.route,
            counted.request_path.len(),
            counted.after_release
        );
    }
    for counted in &counted {
        println!("{name} {}:\n    {}", counted.route, counted.request_path.join("\n    "));
    }
    for (route, sqlite_bound, postgres_bound) in BOUNDS {
        let bound = if name == "sqlite" { sqlite_bound } else { postgres_bound };
        let counted = counted.iter().find(|counted| counted.route == route).expect("the route was counted");
        assert!(
            counted.request_path.len() <= bound,
            "{name} {route}: {} statements on the request path, at most {bound} allowed:\n    {}",
            counted.request_path.len(),
            counted.request_path.join("\n    ")
        );
    }
    // Every PostgreSQL connection the request used is reset once after it;
    // SQLite resets nothing.
    let reset_total: usize = counted.iter().map(|counted| counted.after_release).sum();
    if name == "sqlite" {
        assert_eq!(reset_total, 0);
    } else {
        assert!(reset_total > 0, "the PostgreSQL pools reset their connections after release");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_per_route_on_sqlite() {
    let _serial = SERIAL.lock().await;
    install_counter();
    count_routes(tenantry_test_support::sqlite::backend().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_per_route_on_postgres() {
    let _serial = SERIAL.lock().await;
    install_counter();
    let Some(backend) = tenantry_test_support::postgres::backend().await else {
        return;
    };
    count_routes(backend).await;
}
