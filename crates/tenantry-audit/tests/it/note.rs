//! Signed notes against the C2SP spec's example and Go's sumdb/note vectors.

use tenantry_audit::{NoteError, NoteSigner, VerifierKey};

// From golang.org/x/mod/sumdb/note/note_test.go (BSD-3-Clause), TestSign
// and TestOpen: a private key, its verifier key, a text and the exact note
// Go signs (Ed25519 is deterministic).
const GO_PRIVATE_KEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const GO_VERIFIER_KEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const GO_ENOCH_KEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                       then you don't know what your problem is.\n";
const GO_PETER_SIGNATURE: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const GO_ENOCH_SIGNATURE: &str = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

#[test]
fn signing_matches_go_sumdb_note_byte_for_byte() {
    let signer = NoteSigner::from_private_key_text(GO_PRIVATE_KEY).unwrap();
    assert_eq!(signer.name(), "PeterNeumann");
    assert_eq!(signer.key_id(), 0xc74f20a3);
    assert_eq!(signer.verifier_key().to_string(), GO_VERIFIER_KEY);
    assert_eq!(signer.to_private_key_text(), GO_PRIVATE_KEY);
    let note = signer.sign(GO_TEXT).unwrap();
    assert_eq!(note, format!("{GO_TEXT}\n{GO_PETER_SIGNATURE}"));
}

#[test]
fn opening_go_notes_ignores_unknown_keys_and_verifies_known_ones() {
    let peter = VerifierKey::parse(GO_VERIFIER_KEY).unwrap();
    let enoch = VerifierKey::parse(GO_ENOCH_KEY).unwrap();
    let both = format!("{GO_TEXT}\n{GO_PETER_SIGNATURE}{GO_ENOCH_SIGNATURE}");
    assert_eq!(peter.open(&both).unwrap(), GO_TEXT);
    assert_eq!(enoch.open(&both).unwrap(), GO_TEXT);
    let only_enoch = format!("{GO_TEXT}\n{GO_ENOCH_SIGNATURE}");
    assert_eq!(
        peter.open(&only_enoch),
        Err(NoteError::NotSignedByTrustedKey { name: "PeterNeumann".to_owned(), key_id: 0xc74f20a3 })
    );
}

#[test]
fn the_c2sp_signed_note_example_verifies() {
    // c2sp.org/signed-note, "Verifier keys", "Example" (C2SP/C2SP commit 5ba5ee8).
    let key =
        VerifierKey::parse("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k").unwrap();
    let note = "This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
    assert_eq!(key.open(note).unwrap(), "This is an example message.\n");
}

#[test]
fn tampered_notes_are_refused_with_the_reason() {
    let peter = VerifierKey::parse(GO_VERIFIER_KEY).unwrap();
    let note = format!("{GO_TEXT}\n{GO_PETER_SIGNATURE}");
    let bad_signature = Err(NoteError::BadSignature { name: "PeterNeumann".to_owned(), key_id: 0xc74f20a3 });
    // The text altered.
    assert_eq!(peter.open(&note.replacen("problem", "Problem", 1)), bad_signature);
    // The signature altered (a base64 character that keeps the key ID).
    let altered_signature = note.replacen("ZJkuBS9", "ZJkuBS8", 1);
    assert_eq!(peter.open(&altered_signature), bad_signature);
    // Another key under the same name: its ID differs, so it is ignored,
    // and the note is not signed by the trusted key.
    let impostor = NoteSigner::from_seed("PeterNeumann", [1; 32]).unwrap();
    let forged = impostor.sign(GO_TEXT).unwrap();
    assert!(matches!(peter.open(&forged), Err(NoteError::NotSignedByTrustedKey { .. })));
    // The right key under another name.
    let renamed = note.replace("— PeterNeumann", "— PeterNeuman");
    assert!(matches!(peter.open(&renamed), Err(NoteError::NotSignedByTrustedKey { .. })));
    // Malformed notes.
    for malformed in [
        GO_TEXT.to_owned(),
        format!("{GO_TEXT}{GO_PETER_SIGNATURE}"),
        format!("{GO_TEXT}\n{}", GO_PETER_SIGNATURE.trim_end()),
        format!("{GO_TEXT}\n- PeterNeumann x08go/ZJkuBS9UG\n"),
        format!("{GO_TEXT}\n— PeterNeumann !!!\n"),
        format!("{GO_TEXT}\n— PeterNeumann AAAA\n"),
        format!("tab\there\n\n{GO_PETER_SIGNATURE}"),
    ] {
        assert!(
            matches!(peter.open(&malformed), Err(NoteError::Malformed(_))),
            "{malformed:?} gave {:?}",
            peter.open(&malformed)
        );
    }
}

#[test]
fn every_mangling_of_a_verifier_key_is_refused() {
    // As Go's TestNewVerifier: every proper substring, and every byte
    // changed by one.
    let bytes = GO_VERIFIER_KEY.as_bytes();
    for start in 0..=bytes.len() {
        for end in start + 1..=bytes.len() {
            if (start, end) != (0, bytes.len()) {
                let part = &GO_VERIFIER_KEY[start..end];
                assert!(VerifierKey::parse(part).is_err(), "{part}");
            }
        }
    }
    for position in 0..bytes.len() {
        let mut changed = bytes.to_vec();
        changed[position] = changed[position].wrapping_add(1);
        if let Ok(text) = std::str::from_utf8(&changed) {
            assert!(VerifierKey::parse(text).is_err(), "{text}");
        }
    }
    // Go's wrong-length and unknown-algorithm keys.
    assert!(
        VerifierKey::parse("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==")
            .is_err()
    );
    assert!(
        VerifierKey::parse("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").is_err()
    );
}

#[test]
fn every_mangling_of_a_private_key_is_refused() {
    let bytes = GO_PRIVATE_KEY.as_bytes();
    for start in 0..=bytes.len() {
        for end in start + 1..=bytes.len() {
            if (start, end) != (0, bytes.len()) {
                let part = &GO_PRIVATE_KEY[start..end];
                // A key file may end with whitespace; a part is only
                // accepted if it is the whole key.
                assert!(NoteSigner::from_private_key_text(part).is_err(), "{part}");
            }
        }
    }
    for position in 0..bytes.len() {
        let mut changed = bytes.to_vec();
        changed[position] = changed[position].wrapping_add(1);
        if let Ok(text) = std::str::from_utf8(&changed) {
            assert!(NoteSigner::from_private_key_text(text).is_err(), "{text}");
        }
    }
}

#[test]
fn a_generated_key_round_trips_through_its_texts_and_never_prints_itself() {
    let signer = NoteSigner::generate("tenantry/prod").unwrap();
    let text = signer.to_private_key_text();
    let loaded = NoteSigner::from_private_key_text(&format!("{text}\n")).unwrap();
    assert_eq!(loaded.verifier_key(), signer.verifier_key());
    let vkey = signer.verifier_key().to_string();
    assert_eq!(VerifierKey::parse(&vkey).unwrap(), signer.verifier_key());
    let note = loaded.sign("hello\n").unwrap();
    assert_eq!(signer.verifier_key().open(&note).unwrap(), "hello\n");
    // `PRIVATE+KEY+<name>+<key id>+<base64>`; the base64 may hold `+` too.
    let secret_part = text.splitn(5, '+').nth(4).unwrap();
    let debug = format!("{signer:?}");
    assert!(!debug.contains(secret_part), "{debug}");
    assert!(debug.contains("tenantry/prod"));
    // Two generated keys differ.
    assert_ne!(NoteSigner::generate("tenantry/prod").unwrap().verifier_key(), signer.verifier_key());
}

#[test]
fn invalid_names_and_texts_are_refused() {
    for name in ["", "has space", "has+plus", "tab\tname"] {
        assert_eq!(NoteSigner::from_seed(name, [1; 32]).unwrap_err(), NoteError::InvalidKeyName);
    }
    let signer = NoteSigner::from_seed("ok", [1; 32]).unwrap();
    assert!(matches!(signer.sign("no newline"), Err(NoteError::Malformed(_))));
    assert!(matches!(signer.sign("bell\u{7}\n"), Err(NoteError::Malformed(_))));
}
