//! Conformance cases for webhooks: subscriptions created (with a secret
//! that no event carries), listed, read and deleted in their tenant only;
//! a subscription starts after the tenant's log as it was; delivery
//! attempts recorded and listed per subscription and gone with it; the
//! cursor only moves forward and never past the log.

use tenantry_core::webhook::TEST_EVENT_TYPE;
use tenantry_core::{
    DeliveryOutcome, DeliveryRecord, EventTypes, NewWebhook, TargetPolicy, Webhook, WebhookDescription,
    WebhookId, WebhookSecret, WebhookUrl,
};

use super::*;

async fn create_webhook(backend: &TestBackend, scope: &TenantScope, path: &str) -> (Webhook, WebhookSecret) {
    let new = NewWebhook {
        url: WebhookUrl::parse(
            &format!("https://hooks.example.com/{path}"),
            TargetPolicy { allow_private: false },
        )
        .unwrap(),
        event_types: EventTypes::parse(&["approval.*", "webhook.deleted"]).unwrap(),
        description: Some(WebhookDescription::parse("chat-ops").unwrap()),
        created_by: None,
    };
    backend.store.create_webhook(scope, new).await.unwrap()
}

fn record(attempt: u32, status: Option<u16>) -> DeliveryRecord {
    let attempted_at = tenantry_core::now();
    DeliveryRecord {
        message_id: "msg_one".to_owned(),
        event_seq: Some(1),
        action: "approval.requested".to_owned(),
        attempt,
        attempted_at,
        outcome: DeliveryOutcome {
            status,
            error: status.is_none().then(|| "connection refused".to_owned()),
            duration: Duration::from_micros(1_234),
        },
        next_attempt_at: status.is_none().then(|| attempted_at + chrono::Duration::seconds(5)),
    }
}

fn not_found<T: Debug>(outcome: Result<T, Error>, context: &str) {
    assert!(matches!(outcome, Err(Error::NotFound { .. })), "{context}: {outcome:?}");
}

/// A subscription is created with a secret, starts at the tenant's log
/// size (its own event included), is read and listed in its tenant only,
/// and creating and deleting it are events of the tenant's log that never
/// carry the secret.
async fn webhooks_are_created_listed_read_and_deleted(backend: &TestBackend) {
    let acme = create_tenant(backend, "acme").await;
    let globex = create_tenant(backend, "globex").await;
    let store = &backend.store;
    let (created, secret) = create_webhook(backend, &acme.scope, "a").await;
    assert_eq!(created.tenant_id, acme.tenant.id);
    let head = store.audit_head(&tenant_partition(&acme.scope)).await.unwrap();
    assert_eq!(created.delivered_through, head.size(), "starts after its own event");
    assert_eq!(store.get_webhook(&acme.scope, &created.id).await.unwrap(), created);
    let (with_secret, read_secret) = store.webhook_secret(&acme.scope, &created.id).await.unwrap();
    assert_eq!((with_secret, read_secret), (created.clone(), secret.clone()));
    let (second, second_secret) = create_webhook(backend, &acme.scope, "b").await;
    assert_ne!(second_secret, secret, "each subscription has its own secret");
    assert_eq!(second.delivered_through, created.delivered_through + 1);
    let mut ids = [created.id.clone(), second.id.clone()];
    ids.sort();
    let first_page = store
        .list_webhooks(&acme.scope, PageRequest { after: None, limit: PageLimit::new(1).unwrap() })
        .await
        .unwrap();
    assert_eq!(first_page.items.iter().map(|webhook| webhook.id.clone()).collect::<Vec<_>>(), ids[..1]);
    let next = store
        .list_webhooks(&acme.scope, PageRequest { after: Some(ids[0].clone()), limit: PageLimit::DEFAULT })
        .await
        .unwrap();
    assert_eq!(next.items.iter().map(|webhook| webhook.id.clone()).collect::<Vec<_>>(), ids[1..]);
    // Another tenant sees nothing of them.
    not_found(store.get_webhook(&globex.scope, &created.id).await, "get from another tenant");
    not_found(store.webhook_secret(&globex.scope, &created.id).await, "secret from another tenant");
    not_found(store.delete_webhook(&globex.scope, &created.id).await, "delete from another tenant");
    assert!(store.list_webhooks(&globex.scope, PageRequest::first()).await.unwrap().items.is_empty());
    // Deleting it.
    store.delete_webhook(&acme.scope, &created.id).await.unwrap();
    not_found(store.get_webhook(&acme.scope, &created.id).await, "get after delete");
    not_found(store.delete_webhook(&acme.scope, &created.id).await, "second delete");
    // The events: created twice, deleted once; the secret is in none.
    let rows = store.audit_events_after(&tenant_partition(&acme.scope), 0, 1000).await.unwrap();
    let actions: Vec<String> = rows
        .iter()
        .map(|row| row.event().unwrap().action().to_owned())
        .filter(|action| action.starts_with("webhook."))
        .collect();
    assert_eq!(actions, ["webhook.created", "webhook.created", "webhook.deleted"]);
    for row in &rows {
        for exposed in [secret.expose(), second_secret.expose()] {
            assert!(!row.body.contains(&exposed), "an event carries a secret: {}", row.body);
            assert!(!row.body.contains(&exposed["whsec_".len()..]), "an event carries a key: {}", row.body);
        }
    }
    let created_event =
        rows.iter().map(|row| row.event().unwrap()).find(|event| event.action() == "webhook.created");
    let created_event = created_event.unwrap();
    assert_eq!(created_event.seq(), created.delivered_through);
    assert_eq!(created_event.resource().id(), created.id.to_string());
}

/// Attempts are recorded and listed per subscription, in pages, in its
/// tenant only, and go with the subscription.
async fn deliveries_are_recorded_per_webhook_and_go_with_it(backend: &TestBackend) {
    let acme = create_tenant(backend, "acme").await;
    let globex = create_tenant(backend, "globex").await;
    let store = &backend.store;
    let (webhook, _) = create_webhook(backend, &acme.scope, "a").await;
    let (other, _) = create_webhook(backend, &acme.scope, "b").await;
    assert!(
        store.list_deliveries(&acme.scope, &webhook.id, PageRequest::first()).await.unwrap().items.is_empty()
    );
    let failed = store.record_delivery(&acme.scope, &webhook.id, record(1, None)).await.unwrap();
    let succeeded = store.record_delivery(&acme.scope, &webhook.id, record(2, Some(200))).await.unwrap();
    let mut test_record = record(1, Some(204));
    test_record.event_seq = None;
    test_record.action = TEST_EVENT_TYPE.to_owned();
    let on_other = store.record_delivery(&acme.scope, &other.id, test_record).await.unwrap();
    assert_eq!(failed.tenant_id, acme.tenant.id);
    assert_eq!(failed.webhook_id, webhook.id);
    let mut expected = vec![failed.clone(), succeeded.clone()];
    expected.sort_by(|a, b| a.id.cmp(&b.id));
    let listed = store.list_deliveries(&acme.scope, &webhook.id, PageRequest::first()).await.unwrap();
    assert_eq!(listed.items, expected, "every field reads back as recorded");
    let first = store
        .list_deliveries(
            &acme.scope,
            &webhook.id,
            PageRequest { after: None, limit: PageLimit::new(1).unwrap() },
        )
        .await
        .unwrap();
    assert_eq!(first.items, expected[..1]);
    assert!(first.next_cursor.is_some());
    let rest = store
        .list_deliveries(
            &acme.scope,
            &webhook.id,
            PageRequest { after: Some(expected[0].id.clone()), limit: PageLimit::DEFAULT },
        )
        .await
        .unwrap();
    assert_eq!(rest.items, expected[1..]);
    assert_eq!(
        store.list_deliveries(&acme.scope, &other.id, PageRequest::first()).await.unwrap().items,
        vec![on_other]
    );
    // Another tenant can neither read nor add to the log.
    not_found(
        store.list_deliveries(&globex.scope, &webhook.id, PageRequest::first()).await,
        "list elsewhere",
    );
    not_found(store.record_delivery(&globex.scope, &webhook.id, record(3, None)).await, "record elsewhere");
    not_found(
        store.record_delivery(&acme.scope, &WebhookId::generate(), record(1, None)).await,
        "record for an unknown webhook",
    );
    // Recording is not an audit event.
    let rows = store.audit_events_after(&tenant_partition(&acme.scope), 0, 1000).await.unwrap();
    assert_eq!(rows.len() as u64, other.delivered_through, "no event after the second subscription");
    // Deleting the subscription deletes its log, and only its.
    store.delete_webhook(&acme.scope, &webhook.id).await.unwrap();
    not_found(
        store.list_deliveries(&acme.scope, &webhook.id, PageRequest::first()).await,
        "list after delete",
    );
    let left = backend
        .raw
        .scalar_i64(&format!("SELECT count(*) FROM webhook_deliveries WHERE webhook_id = '{}'", webhook.id))
        .await
        .unwrap();
    assert_eq!(left, 0);
    assert_eq!(
        store.list_deliveries(&acme.scope, &other.id, PageRequest::first()).await.unwrap().items.len(),
        1
    );
}

/// The cursor moves forward only, never past the tenant's log, and only
/// for the subscription's own tenant.
async fn the_delivery_cursor_moves_forward_within_the_log(backend: &TestBackend) {
    let acme = create_tenant(backend, "acme").await;
    let globex = create_tenant(backend, "globex").await;
    let store = &backend.store;
    let (webhook, _) = create_webhook(backend, &acme.scope, "a").await;
    let start = webhook.delivered_through;
    assert!(start >= 1, "the subscription's creation is in the log");
    // Another change, so there is one more event to deliver.
    create_webhook(backend, &acme.scope, "b").await;
    let size = store.audit_head(&tenant_partition(&acme.scope)).await.unwrap().size();
    assert_eq!(size, start + 1);
    assert_eq!(store.advance_delivered_through(&acme.scope, &webhook.id, size).await.unwrap(), size);
    assert_eq!(
        store.advance_delivered_through(&acme.scope, &webhook.id, start).await.unwrap(),
        size,
        "never back"
    );
    assert_eq!(store.get_webhook(&acme.scope, &webhook.id).await.unwrap().delivered_through, size);
    match store.advance_delivered_through(&acme.scope, &webhook.id, size + 1).await {
        Err(Error::Invalid { field, .. }) => assert_eq!(field, "seq"),
        other => panic!("past the log: {other:?}"),
    }
    not_found(store.advance_delivered_through(&globex.scope, &webhook.id, 1).await, "another tenant's");
    not_found(store.advance_delivered_through(&acme.scope, &WebhookId::generate(), 1).await, "unknown");
}

/// A tenant with subscriptions and deliveries can be deleted, and takes
/// them with it.
async fn deleting_a_tenant_deletes_its_webhooks(backend: &TestBackend) {
    let acme = create_tenant(backend, "acme").await;
    let (webhook, _) = create_webhook(backend, &acme.scope, "a").await;
    backend.store.record_delivery(&acme.scope, &webhook.id, record(1, Some(500))).await.unwrap();
    backend.store.delete_tenant(&platform(), &acme.tenant.id).await.unwrap();
    for table in ["webhooks", "webhook_deliveries"] {
        let left = backend
            .raw
            .scalar_i64(&format!("SELECT count(*) FROM {table} WHERE tenant_id = '{}'", acme.tenant.id))
            .await
            .unwrap();
        assert_eq!(left, 0, "{table}");
    }
}

cases!(
    CASES,
    webhooks_are_created_listed_read_and_deleted,
    deliveries_are_recorded_per_webhook_and_go_with_it,
    the_delivery_cursor_moves_forward_within_the_log,
    deleting_a_tenant_deletes_its_webhooks,
);
