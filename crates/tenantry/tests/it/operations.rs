//! `tenantry operations ...` and `tenantry worker` through the real binary
//! on SQLite: a run no worker can do errors and `watch` exits 1; a run is
//! paused, resumed and cancelled from the command line, and `watch` exits
//! 6; a finished run cannot be cancelled (exit 4); bad ids are refused by
//! the parser.

use std::time::Duration;

use serde_json::json;
use tenantry_core::operation_run::{NewJob, NewRun, WorkName};
use tenantry_core::{PlatformScope, RunStore};
use tenantry_store_sqlite::SqliteStore;

use crate::support::{ServerProcess, Tenantry};

async fn enqueue(data_dir: &std::path::Path, kind: &str) -> String {
    let store = SqliteStore::open(&data_dir.join("tenantry.db")).await.unwrap();
    let kind = WorkName::parse(kind).unwrap();
    let run = NewRun {
        kind: kind.clone(),
        parameters: json!({ "note": "from the test" }),
        target_tenant_id: None,
        throttle_ms: 0,
        jobs: vec![NewJob { kind, payload: json!({}) }],
    };
    let id = store.create_run(&PlatformScope::operator_cli(), run, tenantry_core::now()).await.unwrap().id;
    drop(store);
    id.to_string()
}

#[tokio::test]
async fn operations_commands_watch_and_control_runs() {
    let data_dir = tempfile::tempdir().unwrap();
    let tenantry = Tenantry::sqlite(data_dir.path());
    tenantry.run(&["migrate"]).assert_code(0);

    // Controlled from the command line while no worker runs.
    let held = enqueue(data_dir.path(), "test.held").await;
    let listed = tenantry.json(&["operations", "list"]);
    assert_eq!(listed[0]["id"], held);
    assert_eq!(tenantry.json(&["operations", "pause", &held])["status"], "paused");
    tenantry.run(&["operations", "pause", &held]).assert_code(4);
    assert_eq!(tenantry.json(&["operations", "resume", &held])["status"], "enqueued");
    assert_eq!(tenantry.json(&["operations", "cancel", &held])["status"], "cancelled");
    let watched = tenantry.run(&["operations", "watch", &held]);
    watched.assert_code(6);
    assert!(watched.error_line().contains("run_cancelled"), "{}", watched.stderr);
    let shown = tenantry.run(&["operations", "show", &held]);
    shown.assert_code(0);
    assert!(shown.stdout.contains("test.held") && shown.stdout.contains("cancelled"), "{}", shown.stdout);

    // A worker has no handler for this kind: the run errors, and `watch`
    // (started before the worker) follows it to the end and exits 1.
    let orphan = enqueue(data_dir.path(), "test.unknown").await;
    let watcher = {
        let mut command = tenantry.command();
        command.args(["operations", "watch", &orphan]);
        std::thread::spawn(move || command.output().unwrap())
    };
    std::thread::sleep(Duration::from_millis(300));
    let mut worker = tenantry.command();
    worker.args(["worker", "--name", "cli-test"]);
    let mut worker = ServerProcess::spawn(worker);
    let output = tokio::task::spawn_blocking(move || watcher.join().unwrap()).await.unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no worker handles jobs of kind test.unknown"));
    worker.terminate();
    tenantry.run(&["operations", "cancel", &orphan]).assert_code(4);

    for bad in [
        vec!["operations", "show", "run_nope"],
        vec!["operations", "watch", "ten_01M975XFQ4MC63B8ZXNEKH1R7S"],
    ] {
        tenantry.run(&bad).assert_code(2);
    }
    tenantry.run(&["operations", "show", "run_01M975XFQ4MC63B8ZXNEKH1R7S"]).assert_code(3);
}
