//! Evidence bundles: written, verified offline, and refused when any byte
//! is changed.

use tenantry_audit::{BundleContents, BundleError, bundle_node_ids, verify_bundle, write_bundle};

use crate::support::{BuiltLog, build_log, other_signer, signer};

fn bundle_of(log: &BuiltLog, first_seq: u64, last_seq: u64, checkpoint: usize) -> Vec<u8> {
    let key = signer().verifier_key();
    let events = &log.events[first_seq as usize - 1..last_seq as usize];
    write_bundle(BundleContents {
        log: &log.log,
        verifier_key: &key,
        checkpoint: &log.checkpoints[checkpoint],
        events,
        nodes: &log.nodes,
    })
    .unwrap()
}

#[test]
fn a_bundle_round_trips_and_verifies_offline() {
    let log = build_log(30, &[13, 30]);
    let bundle = bundle_of(&log, 4, 9, 0);
    let text = String::from_utf8(bundle.clone()).unwrap();
    assert_eq!(text.lines().count(), 1 + 2 * 6);
    assert!(text.starts_with("{\"format\":\"tenantry-audit-bundle/1\",\"log\":\"tenant/ten_01JTEST\""));
    let key = signer().verifier_key();
    let summary = verify_bundle(&bundle, Some(&key)).unwrap();
    assert_eq!((summary.first_seq, summary.last_seq), (4, 9));
    assert_eq!(summary.checkpoint.size(), 13);
    assert!(summary.key_trusted);
    assert_eq!(summary.log, log.log);
    let untrusted = verify_bundle(&bundle, None).unwrap();
    assert!(!untrusted.key_trusted);
    // The whole log against the latest checkpoint.
    verify_bundle(&bundle_of(&log, 1, 30, 1), Some(&key)).unwrap();
    // The nodes a store fetches in one query are enough.
    let ids = bundle_node_ids(4, 9, 13).unwrap();
    let fetched: std::collections::HashMap<_, _> = ids.iter().map(|id| (*id, log.nodes[id])).collect();
    let events = &log.events[3..9];
    let from_fetched = write_bundle(BundleContents {
        log: &log.log,
        verifier_key: &key,
        checkpoint: &log.checkpoints[0],
        events,
        nodes: &fetched,
    })
    .unwrap();
    assert_eq!(from_fetched, bundle);
}

#[test]
fn another_key_is_refused() {
    let log = build_log(10, &[10]);
    let bundle = bundle_of(&log, 1, 10, 0);
    assert!(matches!(
        verify_bundle(&bundle, Some(&other_signer().verifier_key())),
        Err(BundleError::UntrustedKey { .. })
    ));
}

#[test]
fn a_bundle_with_any_one_byte_changed_fails() {
    let log = build_log(12, &[12]);
    let bundle = bundle_of(&log, 3, 7, 0);
    let key = signer().verifier_key();
    for position in 0..bundle.len() {
        for flip in [0x01u8, 0x20] {
            let mut altered = bundle.clone();
            altered[position] ^= flip;
            for trusted in [Some(&key), None] {
                let result = verify_bundle(&altered, trusted);
                assert!(
                    result.is_err(),
                    "byte {position} ({:?}) ^ {flip:#04x} still verifies",
                    char::from(bundle[position])
                );
            }
        }
    }
    // Cut short, or with bytes added.
    for cut in [1, 2, bundle.len() / 2] {
        assert!(verify_bundle(&bundle[..bundle.len() - cut], Some(&key)).is_err());
    }
    let mut longer = bundle.clone();
    longer.extend_from_slice(b"\n");
    assert!(verify_bundle(&longer, Some(&key)).is_err());
}

#[test]
fn the_reasons_name_what_was_changed() {
    let log = build_log(12, &[12]);
    let bundle = String::from_utf8(bundle_of(&log, 3, 7, 0)).unwrap();
    let key = signer().verifier_key();
    let event_altered = bundle.replacen("\"revision\":8", "\"revision\":9", 1);
    assert_ne!(event_altered, bundle);
    let error = verify_bundle(event_altered.as_bytes(), Some(&key)).unwrap_err();
    assert!(matches!(error, BundleError::NotIncluded { seq: 4, .. }), "{error}");
    assert!(error.to_string().starts_with("event seq 4 is not in the checkpoint's tree"), "{error}");

    let count_altered = bundle.replacen("\"event_count\":5", "\"event_count\":4", 1);
    assert!(matches!(verify_bundle(count_altered.as_bytes(), Some(&key)), Err(BundleError::Mismatch(_))));
    let hash_start = bundle.find("\"events_sha256\":\"").unwrap() + 17;
    let mut hash_altered = bundle.clone().into_bytes();
    hash_altered[hash_start] = if hash_altered[hash_start] == b'0' { b'1' } else { b'0' };
    assert_eq!(
        verify_bundle(&hash_altered, Some(&key)),
        Err(BundleError::SectionHash { section: "event lines" })
    );
}
