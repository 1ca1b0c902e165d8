//! Fixtures: events, a deterministic signing key, and a log built with its
//! stored nodes and checkpoints.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use tenantry_audit::{
    Actor, AuditEvent, Change, Checkpoint, Frontier, Hash, LogId, NewAuditEvent, NodeId, NoteSigner, Resource,
};

pub const DEPLOYMENT: &str = "test";

pub fn tenant_log() -> LogId {
    LogId::tenant("ten_01JTEST").unwrap()
}

pub fn time(seq: u64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 6, 17, 0, 0).unwrap()
        + chrono::Duration::microseconds(i64::try_from(seq).unwrap() * 1_234_567)
}

/// Event `seq` of `log`: a workspace rename, with one change.
pub fn event(log: &LogId, seq: u64) -> AuditEvent {
    let mut changes = BTreeMap::new();
    changes.insert(
        "name".to_owned(),
        Change::new(json!(format!("before-{seq}")), json!(format!("after-{seq}"))),
    );
    AuditEvent::new(NewAuditEvent {
        log: log.clone(),
        seq,
        id: format!("evt_{seq:08}"),
        occurred_at: time(seq),
        actor: Actor::ApiKey {
            api_key_id: "key_01JKEY".to_owned(),
            user_id: "usr_01JUSER".to_owned(),
            request_id: Some(format!("req_{seq}")),
        },
        action: "workspace.renamed".to_owned(),
        resource: Resource::new("workspace", format!("ws_{seq}")).unwrap(),
        workspace_id: Some(format!("ws_{seq}")),
        revision: Some(seq * 2),
        changes,
    })
    .unwrap()
}

pub fn signer() -> NoteSigner {
    NoteSigner::from_seed("tenantry/test", [7; 32]).unwrap()
}

pub fn other_signer() -> NoteSigner {
    NoteSigner::from_seed("tenantry/test", [8; 32]).unwrap()
}

/// A log of `size` events, its stored nodes, and signed checkpoints at
/// `checkpoint_sizes`.
#[derive(Debug)]
pub struct BuiltLog {
    pub log: LogId,
    pub origin: String,
    pub events: Vec<AuditEvent>,
    pub nodes: HashMap<NodeId, Hash>,
    pub checkpoints: Vec<String>,
    pub roots: Vec<Hash>,
}

pub fn build_log(size: u64, checkpoint_sizes: &[u64]) -> BuiltLog {
    let log = tenant_log();
    let origin = log.origin(DEPLOYMENT);
    let signer = signer();
    let mut frontier = Frontier::empty();
    let mut nodes = HashMap::new();
    let mut events = Vec::new();
    let mut roots = vec![frontier.root()];
    for seq in 1..=size {
        let event = event(&log, seq);
        for (id, hash) in frontier.append(event.leaf_hash()).unwrap() {
            assert!(nodes.insert(id, hash).is_none(), "{id:?} stored twice");
        }
        roots.push(frontier.root());
        events.push(event);
    }
    let checkpoints = checkpoint_sizes
        .iter()
        .map(|&checkpoint_size| {
            let index = usize::try_from(checkpoint_size).unwrap();
            Checkpoint::new(&origin, checkpoint_size, roots[index], Some(time(checkpoint_size)))
                .unwrap()
                .sign(&signer)
                .unwrap()
        })
        .collect();
    BuiltLog { log, origin, events, nodes, checkpoints, roots }
}
