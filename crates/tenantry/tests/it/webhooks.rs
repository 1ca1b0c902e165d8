//! Webhook deliveries through the job queue, end to end: a real `tenantry
//! serve` on each backend (its in-process worker on), a subscription to
//! a local receiver, a change that makes an audit event; the receiver is
//! refused once (503) and gets the same signed message again on the retry
//! schedule, and the subscription's delivery log shows both attempts.
//! With `--no-worker` nothing is delivered until a `tenantry worker` of its
//! own runs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tenantry_core::webhook::{WebhookSecret, sign};
use tenantry_test_support::postgres::PostgresTestDb;

use crate::support::{Tenantry, http, key_file};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: Vec<(String, String)>,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers.iter().find(|(header, _)| header == name).map_or("", |(_, value)| value.as_str())
    }
}

/// A receiver on a loopback port answering each request with the next
/// status of `statuses` (the last one repeats).
fn receiver(statuses: Vec<u16>) -> (SocketAddr, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    std::thread::spawn(move || {
        for (index, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut headers = Vec::new();
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            loop {
                line.clear();
                reader.read_line(&mut line).unwrap();
                let trimmed = line.trim_end();
                if trimmed.is_empty() {
                    break;
                }
                if let Some((name, value)) = trimmed.split_once(':') {
                    headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
                }
            }
            let length: usize = headers
                .iter()
                .find(|(name, _)| name == "content-length")
                .map_or(0, |(_, value)| value.parse().unwrap());
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            log.lock().unwrap().push(Received { headers, body: String::from_utf8(body).unwrap() });
            let status = statuses[index.min(statuses.len() - 1)];
            let response = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (address, received)
}

fn wait_for(received: &Mutex<Vec<Received>>, count: usize, limit: Duration) -> Vec<Received> {
    let deadline = Instant::now() + limit;
    loop {
        let got = received.lock().unwrap().clone();
        if got.len() >= count || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn delivery_flow(tenantry: &Tenantry, data_dir: &std::path::Path) {
    let (target, received) = receiver(vec![503, 200]);
    let mut server = tenantry.serve(&["--webhook-allow-private-targets"]);
    let address = server.wait_until_ready();
    let key = std::fs::read_to_string(key_file(data_dir)).unwrap().trim().to_owned();
    let auth = [("Authorization", format!("Bearer {key}"))];
    let subscribed = http(
        address,
        "POST",
        "/v1/webhooks",
        &auth,
        Some(&json!({ "url": format!("http://{target}/hook"), "event_types": ["workspace.*"] })),
    );
    assert_eq!(subscribed.status, 201, "{}", subscribed.body);
    let subscription = subscribed.json();
    let secret = WebhookSecret::parse(subscription["secret"].as_str().unwrap()).unwrap();
    let id = subscription["id"].as_str().unwrap();
    let created = http(address, "POST", "/v1/workspaces", &auth, Some(&json!({ "name": "prod" })));
    assert_eq!(created.status, 201, "{}", created.body);

    // Refused once, tried again 5 s later by the schedule.
    let got = wait_for(&received, 2, Duration::from_secs(30));
    assert_eq!(got.len(), 2, "two attempts reached the receiver; server log:\n{}", server.log());
    let message: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(message["type"], "workspace.created");
    assert_eq!(message["data"]["resource"]["id"], created.json()["id"]);
    for attempt in &got {
        let timestamp: i64 = attempt.header("webhook-timestamp").parse().unwrap();
        let expected = sign(&secret, attempt.header("webhook-id"), timestamp, &attempt.body);
        assert_eq!(attempt.header("webhook-signature"), expected, "a valid signature");
    }
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"), "a retry is the same message");
    let deliveries = http(address, "GET", &format!("/v1/webhooks/{id}/deliveries"), &auth, None).json();
    let attempts: Vec<(Value, Value)> = deliveries["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|delivery| (delivery["attempt"].clone(), delivery["status"].clone()))
        .collect();
    assert!(
        attempts.contains(&(json!(1), json!(503))) && attempts.contains(&(json!(2), json!(200))),
        "{deliveries}"
    );
    server.terminate();

    // Without a worker, nothing is delivered.
    let mut quiet = tenantry.serve(&["--webhook-allow-private-targets", "--no-worker"]);
    let address = quiet.wait_until_ready();
    let created = http(address, "POST", "/v1/workspaces", &auth, Some(&json!({ "name": "dev" })));
    assert_eq!(created.status, 201, "{}", created.body);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(received.lock().unwrap().len(), 2, "no worker, no delivery");
    // A worker of its own delivers what waited.
    let mut worker = tenantry.command();
    worker.args(["worker", "--name", "standalone", "--webhook-allow-private-targets"]);
    let mut worker = crate::support::ServerProcess::spawn(worker);
    let got = wait_for(&received, 3, Duration::from_secs(30));
    assert_eq!(got.len(), 3, "the standalone worker delivered; its log:\n{}", worker.log());
    let message: Value = serde_json::from_str(&got[2].body).unwrap();
    assert_eq!(message["data"]["resource"]["id"], created.json()["id"]);
    worker.terminate();
    quiet.terminate();
}

#[test]
fn webhooks_are_delivered_through_the_queue_on_sqlite() {
    let data_dir = tempfile::tempdir().unwrap();
    let tenantry = Tenantry::sqlite(data_dir.path());
    delivery_flow(&tenantry, data_dir.path());
}

#[tokio::test]
async fn webhooks_are_delivered_through_the_queue_on_postgres() {
    let Some(database) = PostgresTestDb::create().await else { return };
    let data_dir = tempfile::tempdir().unwrap();
    let tenantry = Tenantry::postgres(data_dir.path(), &database);
    tokio::task::spawn_blocking(move || delivery_flow(&tenantry, data_dir.path())).await.unwrap();
}
