//! Moving between backends: export and import rates, both directions.
//!
//! Run: `cargo bench -p tenantry-bench --bench snapshot`.
//! `SNAPSHOT_BENCH_DECISIONS` sets the decisions recorded in the source
//! (50,000 unless given, over 10 tenants; each also writes its audit event
//! and the log's nodes). PostgreSQL runs on throwaway databases of the
//! server of `TENANTRY_TEST_POSTGRES_URL`, the store as the server connects
//! (snapshots are platform operations, run as the platform role); without a
//! server the bench prints a line and stops.
//!
//! Measured, in one run: records per second of `export_snapshot` into an
//! in-memory JSON Lines file (every line checksummed) from SQLite and from
//! PostgreSQL, and of `import_snapshot` of that file (every line read and
//! checked, one transaction) into the other backend, empty; the file's
//! size.

use std::sync::Arc;
use std::time::Instant;

use tenantry_bench::store_fixtures::create_tenant;
use tenantry_bench::timing::{rate, report_rate};
use tenantry_core::decision::{DecisionOutcome, NewDecision, RecordKey, Severity};
use tenantry_core::snapshot::{
    ImportSource, PepperKeptIn, PepperNote, SnapshotReader, SnapshotWriter, header, pepper_fingerprint,
};
use tenantry_core::{Label, PlatformScope, Store};

const TENANTS: usize = 10;

fn label(text: &str) -> Label {
    Label::parse(text).expect("label")
}

async fn populate(store: &dyn Store, decisions: usize) {
    for tenant in 0..TENANTS {
        let (scope, root) = create_tenant(store, &format!("snapshot-{tenant}")).await;
        let per_tenant = decisions / TENANTS;
        for batch in 0..per_tenant.div_ceil(1_000) {
            let items = (batch * 1_000..((batch + 1) * 1_000).min(per_tenant))
                .map(|index| NewDecision {
                    id: Some(RecordKey::parse(&format!("d-{index}")).expect("key")),
                    workspace_id: root.id.clone(),
                    session_id: RecordKey::parse(&format!("s-{}", index / 100)).expect("key"),
                    agent_id: label("agent"),
                    actor: Some(label("ada")),
                    repository: None,
                    action_type: label("shell"),
                    target: None,
                    requested_operation: None,
                    policy_pack: None,
                    policy_id: None,
                    rule_id: None,
                    decision: if index % 10 == 0 { DecisionOutcome::Block } else { DecisionOutcome::Allow },
                    severity: Severity::Low,
                    reason: None,
                    evidence_refs: Vec::new(),
                    approver_group: None,
                    occurred_at: None,
                    correlation_id: None,
                })
                .collect();
            store.record_decisions(&scope, items).await.expect("record");
        }
    }
}

/// Exports `store`; returns the file and its records.
async fn export(name: &str, store: &dyn Store) -> (Vec<u8>, u64, Option<Vec<u8>>) {
    let platform = PlatformScope::operator_cli();
    let pepper = store.stored_api_key_pepper().await.expect("pepper");
    let note = PepperNote {
        fingerprint: pepper_fingerprint(pepper.as_deref().unwrap_or_default()),
        kept_in: PepperKeptIn::Database,
    };
    let started = Instant::now();
    let mut writer =
        SnapshotWriter::new(Vec::new(), &header(tenantry_core::now(), name, note, None)).expect("writer");
    store.export_snapshot(&platform, &mut writer).await.expect("export");
    let (file, counts) = writer.finish().expect("finish");
    let records: u64 = counts.values().sum();
    let elapsed = started.elapsed();
    report_rate(
        &format!("export from {name}"),
        records as usize,
        rate(records as usize, elapsed),
        "records/s",
    );
    println!("export from {name}: {records} records, {:.1} MiB", file.len() as f64 / 1_048_576.0);
    (file, records, pepper)
}

async fn import(name: &str, store: &dyn Store, file: &[u8], records: u64, pepper: Option<Vec<u8>>) {
    let platform = PlatformScope::operator_cli();
    let started = Instant::now();
    let reader = SnapshotReader::new(file).expect("reader");
    let mut source = ImportSource::new(reader, true, Box::new(|_, _| {}));
    let written = store.import_snapshot(&platform, &mut source, pepper.as_deref()).await.expect("import");
    let elapsed = started.elapsed();
    assert_eq!(written.values().sum::<u64>(), records, "every record written");
    report_rate(
        &format!("import into {name}"),
        records as usize,
        rate(records as usize, elapsed),
        "records/s",
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let decisions: usize =
        std::env::var("SNAPSHOT_BENCH_DECISIONS").ok().and_then(|value| value.parse().ok()).unwrap_or(50_000);
    runtime.block_on(async {
        let Some(source_pg) = tenantry_test_support::postgres::PostgresTestDb::create().await else {
            println!("snapshot: skipped (no PostgreSQL server at TENANTRY_TEST_POSTGRES_URL)");
            return;
        };
        let Some(target_pg) = tenantry_test_support::postgres::PostgresTestDb::create().await else { return };
        let directory = tempfile::tempdir().expect("temporary directory");
        let sqlite = |file: &str| {
            let path = directory.path().join(file);
            async move {
                let store = tenantry_store_sqlite::SqliteStore::open(&path).await.expect("open");
                store.migrate().await.expect("migrate");
                Arc::new(store) as Arc<dyn Store>
            }
        };
        let source_sqlite = sqlite("source.db").await;
        let target_sqlite = sqlite("target.db").await;
        let source_postgres: Arc<dyn Store> = Arc::new(source_pg.server_store().await);
        let target_postgres: Arc<dyn Store> = Arc::new(target_pg.server_store().await);
        populate(source_sqlite.as_ref(), decisions).await;
        populate(source_postgres.as_ref(), decisions).await;
        let (file, records, pepper) = export("sqlite", source_sqlite.as_ref()).await;
        import("postgres", target_postgres.as_ref(), &file, records, pepper).await;
        let (file, records, pepper) = export("postgres", source_postgres.as_ref()).await;
        import("sqlite", target_sqlite.as_ref(), &file, records, pepper).await;
    });
}
