//! Events: their rules and their canonical bytes.

use std::collections::BTreeMap;

use serde_json::json;
use tenantry_audit::{
    Actor, AuditEvent, Change, EventError, LogId, NewAuditEvent, Resource, leaf_hash, looks_like_a_secret,
};

use crate::support::{event, tenant_log, time};

fn new_event(changes: BTreeMap<String, Change>) -> NewAuditEvent {
    NewAuditEvent {
        log: LogId::Platform,
        seq: 1,
        id: "evt_1".to_owned(),
        occurred_at: time(1),
        actor: Actor::System { reason: Some("bootstrap".to_owned()) },
        action: "tenant.created".to_owned(),
        resource: Resource::new("tenant", "ten_1").unwrap(),
        workspace_id: None,
        revision: None,
        changes,
    }
}

fn one_change(field: &str, before: serde_json::Value, after: serde_json::Value) -> BTreeMap<String, Change> {
    BTreeMap::from([(field.to_owned(), Change::new(before, after))])
}

#[test]
fn canonical_bytes_are_fixed() {
    let event = event(&tenant_log(), 3);
    let expected = concat!(
        r#"{"log":"tenant/ten_01JTEST","seq":3,"id":"evt_00000003","occurred_at":"2026-12-06T17:00:03.703701Z","#,
        r#""actor":{"type":"api_key","api_key_id":"key_01JKEY","user_id":"usr_01JUSER","request_id":"req_3"},"#,
        r#""action":"workspace.renamed","resource":{"type":"workspace","id":"ws_3"},"#,
        r#""tenant_id":"ten_01JTEST","workspace_id":"ws_3","revision":6,"#,
        r#""changes":{"name":{"before":"before-3","after":"after-3"}}}"#
    );
    assert_eq!(String::from_utf8(event.canonical_bytes()).unwrap(), expected);
    assert_eq!(event.leaf_hash(), leaf_hash(expected.as_bytes()));
    assert_eq!(event.tenant_id(), Some("ten_01JTEST"));

    let platform = AuditEvent::new(new_event(one_change(
        "settings",
        json!(null),
        json!({"b": [1, -2, true], "a": "é\"\\\n\u{1}", "c": {"z": 1, "y": null}}),
    )))
    .unwrap();
    let expected = concat!(
        r#"{"log":"platform","seq":1,"id":"evt_1","occurred_at":"2026-12-06T17:00:01.234567Z","#,
        r#""actor":{"type":"system","reason":"bootstrap"},"action":"tenant.created","#,
        r#""resource":{"type":"tenant","id":"ten_1"},"tenant_id":null,"workspace_id":null,"revision":null,"#,
        r#""changes":{"settings":{"before":null,"after":{"a":"é\"\\\n\u0001","b":[1,-2,true],"c":{"y":null,"z":1}}}}}"#
    );
    assert_eq!(String::from_utf8(platform.canonical_bytes()).unwrap(), expected);
}

#[test]
fn events_read_back_give_the_same_bytes() {
    let event = event(&tenant_log(), 9);
    let bytes = event.canonical_bytes();
    assert_eq!(AuditEvent::from_canonical_json(&bytes).unwrap(), event);
    // serde_json writes the same bytes from the parsed value: the canonical
    // form is its compact form with sorted keys.
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let pretty = serde_json::to_vec_pretty(&value).unwrap();
    let reread = AuditEvent::from_json(&pretty).unwrap();
    assert_eq!(reread.canonical_bytes(), bytes);
    assert!(AuditEvent::from_canonical_json(&pretty).is_err());
    // Times are kept to the microsecond.
    let mut new = new_event(BTreeMap::new());
    new.occurred_at = time(1) + chrono::Duration::nanoseconds(999);
    assert_eq!(AuditEvent::new(new).unwrap().occurred_at(), time(1));
}

#[test]
fn secrets_are_refused_in_changes() {
    for field in [
        "secret",
        "secret_hash",
        "token",
        "password",
        "pepper",
        "api_key_secret",
        "SecretHash",
        "refresh-token",
        "private_key",
        "client_credentials",
        "key_hash",
        "salt",
    ] {
        assert!(looks_like_a_secret(field), "{field}");
        let refused = AuditEvent::new(new_event(one_change(field, json!(null), json!("x"))));
        assert_eq!(refused, Err(EventError::Secret { field: field.to_owned() }), "{field}");
    }
    // Inside a value too, at any depth.
    let nested = AuditEvent::new(new_event(one_change(
        "settings",
        json!(null),
        json!({"oidc": [{"client_secret": "x"}]}),
    )));
    assert_eq!(
        nested,
        Err(EventError::Secret { field: "changes.settings.after.oidc.client_secret".to_owned() })
    );
    for field in ["name", "status", "parent_workspace_id", "role", "expires_at"] {
        assert!(!looks_like_a_secret(field), "{field}");
        AuditEvent::new(new_event(one_change(field, json!(null), json!("x")))).unwrap();
    }
    // Nor can one be read in from JSON.
    let mut bytes = event(&tenant_log(), 1).canonical_bytes();
    let text = String::from_utf8(bytes.clone()).unwrap().replace("\"name\"", "\"password\"");
    bytes = text.into_bytes();
    assert!(matches!(AuditEvent::from_json(&bytes), Err(EventError::Secret { .. })));
}

#[test]
fn invalid_events_are_refused() {
    let float = AuditEvent::new(new_event(one_change("quota", json!(1), json!(1.5))));
    assert!(matches!(float, Err(EventError::Invalid { .. })), "{float:?}");
    let mut zero = new_event(BTreeMap::new());
    zero.seq = 0;
    assert!(AuditEvent::new(zero).is_err());
    for action in ["created", "Workspace.created", "workspace.", ".created", "workspace created"] {
        let mut bad = new_event(BTreeMap::new());
        bad.action = action.to_owned();
        assert!(AuditEvent::new(bad).is_err(), "{action}");
    }
    let mut bad_id = new_event(BTreeMap::new());
    bad_id.id = "has space".to_owned();
    assert!(AuditEvent::new(bad_id).is_err());
    assert!(Resource::new("Workspace", "ws_1").is_err());
    assert!(LogId::tenant("").is_err());

    let good = String::from_utf8(event(&tenant_log(), 1).canonical_bytes()).unwrap();
    for bad in [
        good.replace("\"tenant_id\":\"ten_01JTEST\"", "\"tenant_id\":\"ten_other\""),
        good.replace("\"tenant_id\":\"ten_01JTEST\"", "\"tenant_id\":null"),
        good.replace(".234567Z", ".234567+00:00"),
        good.replace(".234567Z", "Z"),
        good.replace("\"revision\":2", "\"revision\":2,\"extra\":1"),
        good.replace("\"api_key\"", "\"robot\""),
        good.replace("\"log\":\"tenant/ten_01JTEST\"", "\"log\":\"tenants/ten_01JTEST\""),
    ] {
        assert_ne!(bad, good);
        assert!(AuditEvent::from_json(bad.as_bytes()).is_err(), "{bad}");
    }
}
