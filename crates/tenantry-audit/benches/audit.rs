//! The audit log's evidence core: what verifying, proving and signing cost.
//!
//! `cargo bench -p tenantry-audit --bench audit` (a harness-less binary, as
//! every tenantry bench: see ARCHITECTURE.md). It measures:
//! - `verify_log` over 1,000,000 events made one at a time (never held),
//!   with a checkpoint every 10,000, beside making the events alone and
//!   making and leaf-hashing them, so the verifier's own share shows;
//! - appending to a `Frontier` (what a store does per event);
//! - inclusion and consistency proofs at 1,000,000 leaves, computed from an
//!   in-memory map of every complete subtree through the same two steps a
//!   store takes (list the node ids, fetch them, compute), and verified;
//! - signing and opening a checkpoint.

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use serde_json::json;
use tenantry_audit::{
    Actor, AuditEvent, Change, Checkpoint, Frontier, Hash, LogId, LogToVerify, NewAuditEvent, NodeId,
    NoteSigner, Resource, consistency_proof, consistency_proof_node_ids, inclusion_proof,
    inclusion_proof_node_ids, leaf_hash, verify_log,
};

const EVENTS: u64 = 1_000_000;
const CHECKPOINT_EVERY: u64 = 10_000;
const PROOF_SAMPLES: usize = 20_000;
const SIGNATURE_SAMPLES: usize = 5_000;

/// Durations of single operations.
struct Samples(Vec<Duration>);

impl Samples {
    fn percentile(&self, fraction: f64) -> Duration {
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
        sorted[index]
    }
}

fn report(name: &str, samples: &Samples) {
    println!(
        "{name:<58} n={:<7} median={:>9.2} µs  p99={:>9.2} µs",
        samples.0.len(),
        samples.percentile(0.5).as_secs_f64() * 1e6,
        samples.percentile(0.99).as_secs_f64() * 1e6,
    );
}

fn report_throughput(name: &str, count: u64, elapsed: Duration) {
    println!(
        "{name:<58} n={count:<7} total={:>8.3} s  {:>12.0} events/s",
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64()
    );
}

/// A small deterministic generator (xorshift64*), enough to pick leaves.
struct Random(u64);

impl Random {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % bound
    }
}

/// Event `seq`: a membership grant by an API key, like most of a tenant's
/// log, with two changed fields.
fn event(log: &LogId, seq: u64) -> AuditEvent {
    let occurred_at = Utc.with_ymd_and_hms(2026, 12, 6, 0, 0, 0).unwrap()
        + chrono::Duration::milliseconds(i64::try_from(seq).unwrap());
    AuditEvent::new(NewAuditEvent {
        log: log.clone(),
        seq,
        id: format!("evt_01JEVENT{seq:016}"),
        occurred_at,
        actor: Actor::ApiKey {
            api_key_id: "key_01JBENCHKEY0000000000000".to_owned(),
            user_id: "usr_01JBENCHUSER000000000000".to_owned(),
            request_id: Some(format!("req_{seq:016}")),
        },
        action: "membership.granted".to_owned(),
        resource: Resource::new("membership", format!("mem_{seq:016}")).unwrap(),
        workspace_id: Some("ws_01JBENCHWORKSPACE00000000".to_owned()),
        revision: Some(seq),
        changes: BTreeMap::from([
            ("role".to_owned(), Change::new(json!(null), json!("editor"))),
            ("user_id".to_owned(), Change::new(json!(null), json!("usr_01JBENCHMEMBER0000000000"))),
        ]),
    })
    .unwrap()
}

fn main() {
    let log = LogId::tenant("ten_01JBENCHTENANT00000000000").unwrap();
    let origin = log.origin("bench");
    let signer = NoteSigner::from_seed("tenantry/bench", [42; 32]).unwrap();
    let key = signer.verifier_key();
    println!(
        "tenantry-audit: {EVENTS} events (canonical bytes of one: {} bytes)",
        event(&log, 1).canonical_bytes().len()
    );

    // Setup: the checkpoints of the log, one every 10,000 events.
    let mut frontier = Frontier::empty();
    let mut checkpoints = Vec::new();
    for seq in 1..=EVENTS {
        frontier.append(event(&log, seq).leaf_hash()).unwrap();
        if seq % CHECKPOINT_EVERY == 0 {
            checkpoints
                .push(Checkpoint::new(&origin, seq, frontier.root(), None).unwrap().sign(&signer).unwrap());
        }
    }

    let started = Instant::now();
    for seq in 1..=EVENTS {
        black_box(event(&log, black_box(seq)));
    }
    let making = started.elapsed();
    report_throughput("making events alone (the input's cost)", EVENTS, making);

    let started = Instant::now();
    for seq in 1..=EVENTS {
        black_box(event(&log, black_box(seq)).leaf_hash());
    }
    let hashing = started.elapsed();
    report_throughput("making + canonical bytes + leaf hash", EVENTS, hashing);

    let started = Instant::now();
    let summary = verify_log(
        LogToVerify { log: &log, origin: &origin, key: &key },
        (1..=EVENTS).map(|seq| event(&log, seq)),
        &checkpoints,
    )
    .unwrap();
    let verifying = started.elapsed();
    assert_eq!(summary.checkpoints, EVENTS / CHECKPOINT_EVERY);
    report_throughput("verify_log (making included, 100 checkpoints)", EVENTS, verifying);
    report_throughput(
        "verify_log, the verifier's own share (minus making)",
        EVENTS,
        verifying.saturating_sub(making),
    );

    // Appending: what a store computes per event, given the frontier.
    let leaves: Vec<Hash> = (0..EVENTS).map(|seq| leaf_hash(&seq.to_be_bytes())).collect();
    let mut nodes: HashMap<NodeId, Hash> = HashMap::with_capacity(2 * EVENTS as usize);
    let mut frontier = Frontier::empty();
    let started = Instant::now();
    for leaf in &leaves {
        frontier
            .append_with(*leaf, |id, hash| {
                nodes.insert(id, hash);
            })
            .unwrap();
    }
    report_throughput("Frontier::append into a HashMap of nodes", EVENTS, started.elapsed());
    let root = frontier.root();

    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let mut proving = Vec::with_capacity(PROOF_SAMPLES);
    let mut verifying_proofs = Vec::with_capacity(PROOF_SAMPLES);
    let mut fetched_counts = Vec::with_capacity(PROOF_SAMPLES);
    for _ in 0..PROOF_SAMPLES {
        let leaf = random.below(EVENTS);
        let started = Instant::now();
        let ids = inclusion_proof_node_ids(leaf, EVENTS).unwrap();
        let fetched: HashMap<NodeId, Hash> = ids.iter().map(|id| (*id, nodes[id])).collect();
        let proof = inclusion_proof(leaf, EVENTS, &fetched).unwrap();
        proving.push(started.elapsed());
        fetched_counts.push(ids.len());
        let started = Instant::now();
        proof.verify(&leaves[leaf as usize], &root).unwrap();
        verifying_proofs.push(started.elapsed());
    }
    report("inclusion proof at 1M: node ids + fetch + compute", &Samples(proving));
    report("inclusion proof at 1M: verify", &Samples(verifying_proofs));
    println!(
        "{:<58} max={} nodes",
        "inclusion proof at 1M: nodes read",
        fetched_counts.iter().max().unwrap()
    );

    let mut proving = Vec::with_capacity(PROOF_SAMPLES);
    let mut verifying_proofs = Vec::with_capacity(PROOF_SAMPLES / 10);
    let mut fetched_counts = Vec::with_capacity(PROOF_SAMPLES);
    for sample in 0..PROOF_SAMPLES {
        let old = 1 + random.below(EVENTS - 1);
        let started = Instant::now();
        let ids = consistency_proof_node_ids(old, EVENTS).unwrap();
        let fetched: HashMap<NodeId, Hash> = ids.iter().map(|id| (*id, nodes[id])).collect();
        let proof = consistency_proof(old, EVENTS, &fetched).unwrap();
        proving.push(started.elapsed());
        fetched_counts.push(ids.len());
        if sample % 10 == 0 {
            let old_root = tenantry_audit::root(old, &nodes).unwrap();
            let started = Instant::now();
            proof.verify(&old_root, &root).unwrap();
            verifying_proofs.push(started.elapsed());
        }
    }
    report("consistency proof at 1M: node ids + fetch + compute", &Samples(proving));
    report("consistency proof at 1M: verify", &Samples(verifying_proofs));
    println!(
        "{:<58} max={} nodes",
        "consistency proof at 1M: nodes read",
        fetched_counts.iter().max().unwrap()
    );

    let checkpoint = Checkpoint::new(&origin, EVENTS, root, Some(Utc::now())).unwrap();
    let mut signing = Vec::with_capacity(SIGNATURE_SAMPLES);
    let mut opening = Vec::with_capacity(SIGNATURE_SAMPLES);
    for _ in 0..SIGNATURE_SAMPLES {
        let started = Instant::now();
        let note = black_box(checkpoint.sign(&signer).unwrap());
        signing.push(started.elapsed());
        let started = Instant::now();
        black_box(Checkpoint::open(&note, &key).unwrap());
        opening.push(started.elapsed());
    }
    report("checkpoint: sign", &Samples(signing));
    report("checkpoint: open (verify + parse)", &Samples(opening));
}
