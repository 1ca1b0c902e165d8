//! One webhook delivery attempt: the HTTP request that core, which knows
//! no HTTP, leaves to this crate. Nothing here retries or queues; the job
//! queue (not wired yet) will call [`deliver_once`] for each attempt and
//! record what it returns, as `POST /v1/webhooks/{id}/test` does now.
//!
//! The target policy is applied to every address the target's host
//! resolves to, at each attempt, by the client's own resolver: a name that
//! resolved to a public address when the subscription was made and to a
//! private one now (DNS rebinding) is refused before any connection. An IP
//! literal host is checked here, since the resolver never sees it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use tenantry_core::webhook::{DeliveryOutcome, TargetPolicy, Webhook, WebhookMessage, WebhookSecret, sign};

/// How long one attempt may take, connection included.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// The most of a response body read, in bytes; the rest is dropped.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024;

/// Resolves host names, then refuses them when any address they resolve to
/// breaks the target policy.
#[derive(Debug, Clone, Copy)]
struct PolicyResolver {
    policy: TargetPolicy,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addresses.is_empty() {
                return Err(format!("{host} resolves to no address").into());
            }
            for address in &addresses {
                policy
                    .check_address(address.ip())
                    .map_err(|reason| format!("the target {host} resolves to {reason}"))?;
            }
            Ok(Box::new(addresses.into_iter()) as Addrs)
        })
    }
}

/// The HTTP client of webhook deliveries under `policy`: its resolver
/// applies the policy, it follows no redirect (a redirect would lead past
/// the policy), uses no proxy from the environment, and gives up after
/// [`DELIVERY_TIMEOUT`].
pub fn webhook_client(policy: TargetPolicy) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(PolicyResolver { policy }))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(DELIVERY_TIMEOUT)
        .connect_timeout(DELIVERY_TIMEOUT)
        .user_agent(concat!("tenantry-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Makes one attempt to deliver `message` to `webhook`, signed with
/// `secret` as Standard Webhooks says: a `POST` of the message's JSON with
/// `webhook-id`, `webhook-timestamp` and `webhook-signature`. A 2xx answer
/// is a success; anything else, no answer, or a refused target is a
/// failure, described in the outcome. `client` must be
/// [`webhook_client`]'s, under the same `policy`.
pub async fn deliver_once(
    client: &reqwest::Client,
    policy: TargetPolicy,
    webhook: &Webhook,
    secret: &WebhookSecret,
    message: &WebhookMessage,
) -> DeliveryOutcome {
    let started = Instant::now();
    let literal = match webhook.url.host() {
        Some(url::Host::Ipv4(address)) => Some(std::net::IpAddr::V4(address)),
        Some(url::Host::Ipv6(address)) => Some(std::net::IpAddr::V6(address)),
        _ => None,
    };
    if let Some(address) = literal {
        if let Err(reason) = policy.check_address(address) {
            return DeliveryOutcome::failed(format!("the target is {reason}"), started.elapsed());
        }
    }
    let timestamp = chrono::Utc::now().timestamp();
    let signature = sign(secret, &message.id, timestamp, &message.payload);
    let sent = client
        .post(webhook.url.as_str())
        .header("webhook-id", &message.id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .header("content-type", "application/json")
        .body(message.payload.clone())
        .send()
        .await;
    let mut response = match sent {
        Ok(response) => response,
        Err(error) => return DeliveryOutcome::failed(error_chain(&error), started.elapsed()),
    };
    let status = response.status().as_u16();
    // Read a little of the body, so that the receiver sees its answer
    // taken, and never more: a receiver cannot make us buffer much.
    let mut read = 0;
    while read < MAX_RESPONSE_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => read += chunk.len(),
            Ok(None) | Err(_) => break,
        }
    }
    DeliveryOutcome { status: Some(status), error: None, duration: started.elapsed() }
}

/// An error with its causes, one sentence each, as reqwest puts the reason
/// (a refused target, a timeout) in the source.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
