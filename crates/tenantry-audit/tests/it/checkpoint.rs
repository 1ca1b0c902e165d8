//! Checkpoints: their one text form, signing and opening.

use tenantry_audit::{Checkpoint, CheckpointError, Hash, NoteError};

use crate::support::{other_signer, signer, time};

#[test]
fn the_c2sp_example_checkpoint_text_parses() {
    // c2sp.org/tlog-checkpoint's example (C2SP/C2SP commit 5ba5ee8).
    let text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    let checkpoint = Checkpoint::parse_text(text).unwrap();
    assert_eq!(checkpoint.origin(), "example.com/behind-the-sofa");
    assert_eq!(checkpoint.size(), 20852163);
    assert_eq!(checkpoint.root().to_base64(), "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=");
    assert_eq!(checkpoint.time(), None);
    assert_eq!(checkpoint.text(), text);
}

#[test]
fn a_signed_checkpoint_opens_with_its_key_and_only_with_it() {
    let checkpoint =
        Checkpoint::new("tenantry/test/tenant/ten_1", 42, Hash::from_bytes([9; 32]), Some(time(3))).unwrap();
    let note = checkpoint.sign(&signer()).unwrap();
    assert_eq!(
        note.lines().take(4).collect::<Vec<_>>(),
        [
            "tenantry/test/tenant/ten_1",
            "42",
            "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=",
            "time 2026-12-06T17:00:03.703701Z",
        ]
    );
    assert_eq!(Checkpoint::open(&note, &signer().verifier_key()).unwrap(), checkpoint);
    assert!(matches!(
        Checkpoint::open(&note, &other_signer().verifier_key()),
        Err(CheckpointError::Note(NoteError::NotSignedByTrustedKey { .. }))
    ));
    let altered = note.replacen("\n42\n", "\n43\n", 1);
    assert!(matches!(
        Checkpoint::open(&altered, &signer().verifier_key()),
        Err(CheckpointError::Note(NoteError::BadSignature { .. }))
    ));
}

#[test]
fn texts_other_than_the_one_form_are_refused() {
    let root = "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=";
    for text in [
        String::new(),
        "origin\n42\n".to_owned(),
        format!("origin\n042\n{root}\n"),
        format!("origin\n-1\n{root}\n"),
        format!("origin\n42\n{root}"),
        "origin\n42\nCQkJ\n".to_owned(),
        format!("origin\n42\n{root}\nother extension\n"),
        format!("origin\n42\n{root}\ntime 2026-12-06T17:00:03Z\n"),
        format!("origin\n42\n{root}\ntime 2026-12-06T17:00:03.000000Z\ntime 2026-12-06T17:00:03.000000Z\n"),
        format!("\n42\n{root}\n"),
    ] {
        assert!(Checkpoint::parse_text(&text).is_err(), "{text:?}");
    }
    assert!(
        Checkpoint::parse_text(&format!("origin\n42\n{root}\ntime 2026-12-06T17:00:03.000000Z\n")).is_ok()
    );
}
