//! The log verifier names the first event or checkpoint that does not
//! match, for each way of tampering with a log.

use tenantry_audit::{
    AuditEvent, Checkpoint, CheckpointError, Finding, LogId, LogToVerify, NoteError, StoredEvent, verify_log,
};

use crate::support::{BuiltLog, build_log, event, other_signer, signer, time};

const SIZE: u64 = 50;
const CHECKPOINTS: [u64; 4] = [10, 20, 35, 50];

/// The events as a store returns them: each with the leaf it recorded.
fn stored(log: &BuiltLog) -> Vec<StoredEvent> {
    log.events
        .iter()
        .map(|event| StoredEvent {
            event: event.clone(),
            recorded_leaf_hash: Some(log.nodes[&tenantry_audit::NodeId::leaf(event.leaf_index())]),
        })
        .collect()
}

fn verify(
    log: &BuiltLog,
    events: Vec<StoredEvent>,
    checkpoints: &[String],
) -> Result<tenantry_audit::Summary, Finding> {
    let key = signer().verifier_key();
    verify_log(LogToVerify { log: &log.log, origin: &log.origin, key: &key }, events, checkpoints)
}

/// Event `seq` with another revision: a field changed in place.
fn changed(log: &BuiltLog, seq: u64) -> AuditEvent {
    let original = String::from_utf8(log.events[seq as usize - 1].canonical_bytes()).unwrap();
    let altered = original.replace(&format!("\"revision\":{}", seq * 2), "\"revision\":999");
    assert_ne!(altered, original);
    AuditEvent::from_json(altered.as_bytes()).unwrap()
}

#[test]
fn an_untouched_log_verifies() {
    let log = build_log(SIZE + 3, &CHECKPOINTS);
    let summary = verify(&log, stored(&log), &log.checkpoints).unwrap();
    assert_eq!(summary.events, SIZE + 3);
    assert_eq!(summary.checkpoints, 4);
    assert_eq!(summary.events_after_latest_checkpoint, 3);
    assert_eq!(summary.latest_checkpoint.unwrap().size(), SIZE);
    assert_eq!(summary.root, log.roots[SIZE as usize + 3]);
    // Without recorded leaves too, and with no checkpoint at all.
    let plain: Vec<StoredEvent> = log.events.iter().cloned().map(StoredEvent::from).collect();
    assert!(verify(&log, plain, &log.checkpoints).is_ok());
    let empty: [String; 0] = [];
    assert_eq!(verify(&log, stored(&log), &empty).unwrap().events_after_latest_checkpoint, SIZE + 3);
}

#[test]
fn a_changed_event_is_named_by_its_seq() {
    let log = build_log(SIZE, &CHECKPOINTS);
    let mut events = stored(&log);
    events[16].event = changed(&log, 17);
    assert_eq!(verify(&log, events, &log.checkpoints), Err(Finding::EventChanged { seq: 17 }));
}

#[test]
fn a_changed_event_whose_recorded_leaf_was_rewritten_too_is_caught_by_the_checkpoint_that_covers_it() {
    let log = build_log(SIZE, &CHECKPOINTS);
    let mut events = stored(&log);
    let altered = changed(&log, 17);
    events[16] = StoredEvent { recorded_leaf_hash: Some(altered.leaf_hash()), event: altered };
    let finding = verify(&log, events, &log.checkpoints).unwrap_err();
    assert_eq!(finding, Finding::CheckpointMismatch { index: 2, size: 20, previous_size: 10 });
    assert!(finding.to_string().contains("seq 11..=20"), "{finding}");
}

#[test]
fn a_deleted_event_is_named() {
    let log = build_log(SIZE, &CHECKPOINTS);
    let mut events = stored(&log);
    events.remove(16);
    assert_eq!(verify(&log, events, &log.checkpoints), Err(Finding::EventMissing { seq: 17, next: 18 }));
}

#[test]
fn swapped_events_are_named() {
    let log = build_log(SIZE, &CHECKPOINTS);
    // Two rows returned in the wrong order.
    let mut events = stored(&log);
    events.swap(16, 17);
    assert_eq!(
        verify(&log, events, &log.checkpoints),
        Err(Finding::EventReordered { seq: 17, came_after: 18 })
    );
    // Two events' contents swapped, each renumbered to the other's seq,
    // with their recorded leaves moved along.
    let mut events = stored(&log);
    let renumber = |from: &AuditEvent, seq: u64| {
        let text = String::from_utf8(from.canonical_bytes()).unwrap();
        let text = text.replacen(&format!("\"seq\":{}", from.seq()), &format!("\"seq\":{seq}"), 1);
        AuditEvent::from_json(text.as_bytes()).unwrap()
    };
    let (seventeen, eighteen) = (events[16].clone(), events[17].clone());
    events[16] =
        StoredEvent { event: renumber(&eighteen.event, 17), recorded_leaf_hash: eighteen.recorded_leaf_hash };
    events[17] = StoredEvent {
        event: renumber(&seventeen.event, 18),
        recorded_leaf_hash: seventeen.recorded_leaf_hash,
    };
    assert_eq!(verify(&log, events, &log.checkpoints), Err(Finding::EventChanged { seq: 17 }));
    // Far out of order.
    let mut events = stored(&log);
    let moved = events.remove(3);
    events.insert(10, moved);
    assert_eq!(verify(&log, events, &log.checkpoints), Err(Finding::EventMissing { seq: 4, next: 5 }));
}

#[test]
fn a_truncated_tail_is_named() {
    let log = build_log(SIZE, &CHECKPOINTS);
    let mut events = stored(&log);
    events.truncate(45);
    let finding = verify(&log, events, &log.checkpoints).unwrap_err();
    assert_eq!(finding, Finding::Truncated { index: 4, size: 50, events: 45 });
    assert!(finding.to_string().contains("seq 46 onwards"), "{finding}");
}

#[test]
fn an_inserted_event_is_named() {
    let log = build_log(SIZE, &CHECKPOINTS);
    // A forged event with a seq that already exists.
    let mut events = stored(&log);
    let forged = event(&log.log, 17);
    events.insert(17, StoredEvent::from(forged.clone()));
    assert_eq!(verify(&log, events, &log.checkpoints), Err(Finding::EventDuplicated { seq: 17 }));
    // A forged event slipped in with every later event renumbered and
    // every leaf recomputed: the checkpoint that covers it does not match.
    let mut renumbered: Vec<StoredEvent> = Vec::new();
    for seq in 1..=SIZE + 1 {
        let event = if seq < 17 {
            log.events[seq as usize - 1].clone()
        } else {
            let mut text = String::from_utf8(event(&log.log, seq).canonical_bytes()).unwrap();
            if seq == 17 {
                text = text.replace("workspace.renamed", "workspace.deleted");
            }
            AuditEvent::from_json(text.as_bytes()).unwrap()
        };
        renumbered.push(StoredEvent { recorded_leaf_hash: Some(event.leaf_hash()), event });
    }
    assert_eq!(
        verify(&log, renumbered, &log.checkpoints),
        Err(Finding::CheckpointMismatch { index: 2, size: 20, previous_size: 10 })
    );
}

#[test]
fn a_checkpoint_signed_by_another_key_is_named() {
    let log = build_log(SIZE, &CHECKPOINTS);
    let mut checkpoints = log.checkpoints.clone();
    checkpoints[2] = Checkpoint::new(&log.origin, 35, log.roots[35], Some(time(35)))
        .unwrap()
        .sign(&other_signer())
        .unwrap();
    let finding = verify(&log, stored(&log), &checkpoints).unwrap_err();
    assert!(
        matches!(
            &finding,
            Finding::CheckpointInvalid {
                index: 3,
                error: CheckpointError::Note(NoteError::NotSignedByTrustedKey { .. })
            }
        ),
        "{finding:?}"
    );
    // Altered after signing.
    let mut checkpoints = log.checkpoints.clone();
    checkpoints[1] = checkpoints[1].replacen("\n20\n", "\n21\n", 1);
    assert!(matches!(
        verify(&log, stored(&log), &checkpoints),
        Err(Finding::CheckpointInvalid {
            index: 2,
            error: CheckpointError::Note(NoteError::BadSignature { .. })
        })
    ));
}

#[test]
fn a_checkpoint_that_does_not_extend_the_previous_one_is_named() {
    let log = build_log(SIZE, &CHECKPOINTS);
    // Signed by the real key, but over another history (a fork).
    let fork = build_log(SIZE, &[]);
    let mut fork_root_bytes = *fork.roots[35].as_bytes();
    fork_root_bytes[0] ^= 1;
    let mut checkpoints = log.checkpoints.clone();
    checkpoints[2] =
        Checkpoint::new(&log.origin, 35, tenantry_audit::Hash::from_bytes(fork_root_bytes), None)
            .unwrap()
            .sign(&signer())
            .unwrap();
    assert_eq!(
        verify(&log, stored(&log), &checkpoints),
        Err(Finding::CheckpointMismatch { index: 3, size: 35, previous_size: 20 })
    );
    // Smaller than the one before it.
    let mut checkpoints = log.checkpoints.clone();
    checkpoints.swap(1, 2);
    assert_eq!(
        verify(&log, stored(&log), &checkpoints),
        Err(Finding::CheckpointShrinks { index: 3, size: 20, previous_size: 35 })
    );
    // Another log's checkpoint.
    let mut checkpoints = log.checkpoints.clone();
    checkpoints[0] = Checkpoint::new(&LogId::Platform.origin("test"), 10, log.roots[10], None)
        .unwrap()
        .sign(&signer())
        .unwrap();
    assert!(matches!(
        verify(&log, stored(&log), &checkpoints),
        Err(Finding::CheckpointForAnotherLog { index: 1, .. })
    ));
}

#[test]
fn an_event_of_another_log_is_named() {
    let log = build_log(SIZE, &CHECKPOINTS);
    let mut events = stored(&log);
    events[4] = StoredEvent::from(event(&LogId::tenant("ten_other").unwrap(), 5));
    assert!(matches!(
        verify(&log, events, &log.checkpoints),
        Err(Finding::EventFromAnotherLog { seq: 5, .. })
    ));
}

#[test]
fn a_long_log_streams_through_the_verifier_without_being_held() {
    // 20,000 events made one at a time by the iterator, never collected;
    // the bench runs a million.
    let log = build_log(0, &[]);
    let size = 20_000;
    let mut frontier = tenantry_audit::Frontier::empty();
    let mut notes = Vec::new();
    for seq in 1..=size {
        frontier.append(event(&log.log, seq).leaf_hash()).unwrap();
        if seq % 5_000 == 0 {
            notes.push(
                Checkpoint::new(&log.origin, seq, frontier.root(), None).unwrap().sign(&signer()).unwrap(),
            );
        }
    }
    let events = (1..=size).map(|seq| event(&log.log, seq));
    let summary = verify(&log, Vec::new(), &[]).unwrap();
    assert_eq!(summary.events, 0);
    let key = signer().verifier_key();
    let summary =
        verify_log(LogToVerify { log: &log.log, origin: &log.origin, key: &key }, events, &notes).unwrap();
    assert_eq!((summary.events, summary.checkpoints), (size, 4));
}
