//! Webhooks through HTTP, against a real receiver: an axum server on
//! 127.0.0.1 inside the test (private targets allowed) that verifies each
//! message's signature with the `standardwebhooks` crate, independently
//! of our signer. A receiver answering 500 shows a failed attempt with its
//! next attempt from the schedule; loopback is refused where private
//! targets are not allowed; another tenant's key sees nothing; the secret
//! is in exactly one response and in no audit event.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use tenantry_api::ApiConfig;

use crate::support::{Call, TestApp, unused_id};

crate::on_both_backends!(
    a_test_delivery_reaches_a_receiver_that_verifies_its_signature,
    a_failing_receiver_shows_a_failed_attempt_and_its_retry_time,
    private_targets_are_refused_unless_allowed,
    another_tenants_key_sees_no_webhook_or_delivery,
    bad_input_names_the_field_and_stores_nothing,
);

/// What the receiver saw: each message's body, and whether its signature
/// verified.
#[derive(Debug, Default, Clone)]
struct Received {
    messages: Vec<(Value, bool)>,
}

/// A receiver on 127.0.0.1 answering `status`, verifying signatures with
/// the secret put in `secret` once the subscription exists. Returns its URL.
async fn receiver(status: StatusCode, secret: Arc<Mutex<Option<String>>>) -> (String, Arc<Mutex<Received>>) {
    let received = Arc::new(Mutex::new(Received::default()));
    let seen = received.clone();
    let handler = move |headers: HeaderMap, body: String| {
        let seen = seen.clone();
        let secret = secret.clone();
        async move {
            let secret = secret.lock().unwrap().clone().expect("the secret is known before a delivery");
            let verifier = standardwebhooks::Webhook::new(&secret).unwrap();
            let verified = verifier.verify(body.as_bytes(), &headers).is_ok()
                && headers.get("content-type").is_some_and(|value| value == "application/json");
            seen.lock().unwrap().messages.push((serde_json::from_str(&body).unwrap(), verified));
            status
        }
    };
    let app = axum::Router::new().route("/hook", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}/hook"), received)
}

fn allowing_private_targets(app: TestApp) -> TestApp {
    app.with_config(ApiConfig { webhook_allow_private_targets: true, ..ApiConfig::defaults() })
}

async fn a_test_delivery_reaches_a_receiver_that_verifies_its_signature(app: TestApp) {
    let app = allowing_private_targets(app);
    let admin = app.tenant_with_key("acme").await;
    let secret_slot = Arc::new(Mutex::new(None));
    let (url, received) = receiver(StatusCode::NO_CONTENT, secret_slot.clone()).await;
    let created = app
        .send(Call::post("/v1/webhooks").key(&admin.token).json(json!({
            "url": url, "event_types": ["approval.*", "webhook.deleted"], "description": "chat-ops",
        })))
        .await
        .expect(StatusCode::CREATED);
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    *secret_slot.lock().unwrap() = Some(secret.clone());
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["event_types"], json!(["approval.*", "webhook.deleted"]));
    assert_eq!(created["created_by"], admin.user_id.to_string());
    // Every later response about it leaves the secret out.
    let read =
        app.send(Call::get(format!("/v1/webhooks/{id}")).key(&admin.token)).await.expect(StatusCode::OK);
    let mut without_secret = created.clone();
    without_secret.as_object_mut().unwrap().remove("secret");
    assert_eq!(read, without_secret);
    let listed = app.send(Call::get("/v1/webhooks").key(&admin.token)).await.expect(StatusCode::OK);
    assert_eq!(listed["items"], json!([without_secret]));

    let attempt = app
        .send(Call::post(format!("/v1/webhooks/{id}/test")).key(&admin.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(attempt["succeeded"], true);
    assert_eq!(attempt["status"], 204);
    assert_eq!(attempt["event_type"], "webhook.test");
    assert_eq!(attempt["next_attempt_at"], Value::Null);
    let messages = received.lock().unwrap().messages.clone();
    assert_eq!(messages.len(), 1);
    let (body, verified) = &messages[0];
    assert!(verified, "the receiver verified the signature independently: {body}");
    assert_eq!(body["type"], "webhook.test");
    assert_eq!(body["data"]["webhook_id"], id);
    assert_eq!(body["data"]["tenant_id"], admin.tenant_id());
    let log = app
        .send(Call::get(format!("/v1/webhooks/{id}/deliveries")).key(&admin.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(log["items"], json!([attempt]));

    // The secret is in no audit event, nor any response but the first.
    let events = app.send(Call::get("/v1/audit-events").key(&admin.token)).await.expect(StatusCode::OK);
    let key_part = &secret["whsec_".len()..];
    assert!(!events.to_string().contains(key_part));
    assert!(events.to_string().contains("webhook.created"));
    for text in [read.to_string(), listed.to_string(), log.to_string()] {
        assert!(!text.contains(key_part));
    }

    app.send(Call::delete(format!("/v1/webhooks/{id}")).key(&admin.token))
        .await
        .expect(StatusCode::NO_CONTENT);
    app.send(Call::get(format!("/v1/webhooks/{id}")).key(&admin.token))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.send(Call::get(format!("/v1/webhooks/{id}/deliveries")).key(&admin.token))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
}

async fn a_failing_receiver_shows_a_failed_attempt_and_its_retry_time(app: TestApp) {
    let app = allowing_private_targets(app);
    let admin = app.tenant_with_key("acme").await;
    let secret_slot = Arc::new(Mutex::new(None));
    let (url, received) = receiver(StatusCode::INTERNAL_SERVER_ERROR, secret_slot.clone()).await;
    let created = app
        .send(Call::post("/v1/webhooks").key(&admin.token).json(json!({ "url": url, "event_types": ["*"] })))
        .await
        .expect(StatusCode::CREATED);
    *secret_slot.lock().unwrap() = Some(created["secret"].as_str().unwrap().to_owned());
    let id = created["id"].as_str().unwrap();
    let attempt = app
        .send(Call::post(format!("/v1/webhooks/{id}/test")).key(&admin.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(attempt["succeeded"], false);
    assert_eq!(attempt["status"], 500);
    assert_eq!(attempt["attempt"], 1);
    let attempted_at: chrono::DateTime<chrono::Utc> =
        attempt["attempted_at"].as_str().unwrap().parse().unwrap();
    let next: chrono::DateTime<chrono::Utc> = attempt["next_attempt_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(next - attempted_at, chrono::Duration::seconds(5), "the schedule's first retry");
    assert!(received.lock().unwrap().messages[0].1, "the message was signed even though it failed");
    let log = app
        .send(Call::get(format!("/v1/webhooks/{id}/deliveries")).key(&admin.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(log["items"], json!([attempt]));

    // A receiver that is not there: no status, an error, a retry time.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gone = format!("http://{}/hook", closed.local_addr().unwrap());
    drop(closed);
    let created = app
        .send(Call::post("/v1/webhooks").key(&admin.token).json(json!({ "url": gone, "event_types": ["*"] })))
        .await
        .expect(StatusCode::CREATED);
    let id = created["id"].as_str().unwrap();
    let attempt = app
        .send(Call::post(format!("/v1/webhooks/{id}/test")).key(&admin.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(attempt["status"], Value::Null);
    assert!(!attempt["error"].as_str().unwrap().is_empty());
    assert!(attempt["next_attempt_at"].is_string());
}

async fn private_targets_are_refused_unless_allowed(app: TestApp) {
    let admin = app.tenant_with_key("acme").await;
    let counts = app.row_counts().await;
    for (url, rule) in [
        ("http://127.0.0.1:9/hook", "must start with https://"),
        ("https://127.0.0.1:9/hook", "loopback"),
        ("https://localhost/hook", "loopback"),
        ("https://10.0.0.8/hook", "private"),
        ("https://169.254.169.254/latest", "metadata"),
        ("https://[::1]/hook", "or an IPv4 address"),
        ("https://hooks.exa*mple.com/", "letters, digits and hyphens"),
    ] {
        let error = app
            .send(
                Call::post("/v1/webhooks")
                    .key(&admin.token)
                    .json(json!({ "url": url, "event_types": ["*"] })),
            )
            .await
            .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains("url") && message.contains(rule), "{url}: {message}");
    }
    assert_eq!(app.row_counts().await, counts, "nothing stored");
    // A name is checked again at delivery, address by address: a
    // subscription to a name that resolves to loopback (made here through
    // a server that allows it) fails on a server that does not.
    let open = allowing_private_targets(app);
    let created = open
        .send(
            Call::post("/v1/webhooks")
                .key(&admin.token)
                .json(json!({ "url": "http://localhost:9/hook", "event_types": ["*"] })),
        )
        .await
        .expect(StatusCode::CREATED);
    let id = created["id"].as_str().unwrap();
    let strict = open.with_config(ApiConfig::defaults());
    let attempt = strict
        .send(Call::post(format!("/v1/webhooks/{id}/test")).key(&admin.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(attempt["status"], Value::Null);
    let error = attempt["error"].as_str().unwrap();
    assert!(error.contains("loopback"), "{error}");
}

async fn another_tenants_key_sees_no_webhook_or_delivery(app: TestApp) {
    let app = allowing_private_targets(app);
    let alpha = app.tenant_with_key("alpha").await;
    let beta = app.tenant_with_key("beta").await;
    let secret_slot = Arc::new(Mutex::new(None));
    let (url, received) = receiver(StatusCode::OK, secret_slot.clone()).await;
    let created = app
        .send(Call::post("/v1/webhooks").key(&alpha.token).json(json!({ "url": url, "event_types": ["*"] })))
        .await
        .expect(StatusCode::CREATED);
    *secret_slot.lock().unwrap() = Some(created["secret"].as_str().unwrap().to_owned());
    let id = created["id"].as_str().unwrap();
    app.send(Call::post(format!("/v1/webhooks/{id}/test")).key(&alpha.token)).await.expect(StatusCode::OK);
    let counts = app.row_counts().await;
    for call in [
        Call::get(format!("/v1/webhooks/{id}")),
        Call::delete(format!("/v1/webhooks/{id}")),
        Call::get(format!("/v1/webhooks/{id}/deliveries")),
        Call::post(format!("/v1/webhooks/{id}/test")),
    ] {
        app.send(call.key(&beta.token)).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    }
    let listed = app.send(Call::get("/v1/webhooks").key(&beta.token)).await.expect(StatusCode::OK);
    assert_eq!(listed["items"], json!([]));
    assert_eq!(app.row_counts().await, counts, "B changed nothing");
    assert_eq!(received.lock().unwrap().messages.len(), 1, "B's test sent nothing");
}

async fn bad_input_names_the_field_and_stores_nothing(app: TestApp) {
    let admin = app.tenant_with_key("acme").await;
    let member = app.person(&admin, "mia", Some(tenantry_core::Role::Member)).await;
    let counts = app.row_counts().await;
    let url = "https://hooks.example.com/in";
    for (body, field) in [
        (json!({ "url": url, "event_types": [] }), "event_types"),
        (json!({ "url": url, "event_types": ["Approval.Requested"] }), "event_types"),
        (json!({ "url": url, "event_types": ["a.*", "a.*"] }), "event_types"),
        (json!({ "url": "not a url", "event_types": ["*"] }), "url"),
        (json!({ "url": url, "event_types": ["*"], "description": "" }), "description"),
        (json!({ "url": url }), "event_types"),
    ] {
        let error = app
            .send(Call::post("/v1/webhooks").key(&admin.token).json(body.clone()))
            .await
            .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
        assert!(error["message"].as_str().unwrap().contains(field), "{body}: {error}");
    }
    app.send(Call::get(format!("/v1/webhooks/{}", unused_id("whk"))).key(&admin.token))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.send(Call::get("/v1/webhooks/whk_nope").key(&admin.token))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_id");
    // Members who are not admins are refused.
    app.send(Call::post("/v1/webhooks").key(&member.token).json(json!({ "url": url, "event_types": ["*"] })))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    app.send(Call::get("/v1/webhooks").key(&member.token))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(app.row_counts().await, counts, "nothing stored");
}
