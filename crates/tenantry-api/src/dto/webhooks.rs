//! Wire types of webhooks.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tenantry_core::{Webhook, WebhookDelivery, WebhookDescription};
use utoipa::ToSchema;

/// A webhook subscription of the caller's tenant. Its secret is never
/// part of it: only the response that created it carries the secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookResponse {
    #[schema(example = "whk_01J9Z8Y7X6W5V4T3S2R1Q0P9N8")]
    pub id: String,
    pub tenant_id: String,
    /// Where messages are sent.
    #[schema(example = "https://hooks.example.com/tenantry")]
    pub url: String,
    /// The audit actions it is sent: exact (`approval.requested`), a
    /// prefix (`approval.*`) or `*`.
    pub event_types: Vec<String>,
    #[schema(required = true)]
    pub description: Option<String>,
    /// The user who created it; null when an operator did.
    #[schema(required = true)]
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The seq of the tenant's audit log it has been delivered through.
    pub delivered_through: u64,
}

impl From<Webhook> for WebhookResponse {
    fn from(webhook: Webhook) -> Self {
        Self {
            id: webhook.id.to_string(),
            tenant_id: webhook.tenant_id.to_string(),
            url: webhook.url.to_string(),
            event_types: webhook.event_types.texts(),
            description: webhook.description.map(WebhookDescription::into_string),
            created_by: webhook.created_by.map(|user_id| user_id.to_string()),
            created_at: webhook.created_at,
            delivered_through: webhook.delivered_through,
        }
    }
}

/// A new subscription and its signing secret, shown here once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedWebhookResponse {
    #[serde(flatten)]
    pub webhook: WebhookResponse,
    /// The signing secret, `whsec_<base64>`: verify each message's
    /// `webhook-signature` with it. It is never shown again.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
}

/// The body of `POST /v1/webhooks`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// An `https` URL whose host is a DNS name or an IPv4 address, with
    /// no user name and no fragment (`http` too where the server allows
    /// private targets); loopback, private, link-local and metadata
    /// addresses are refused unless the server allows them.
    #[schema(max_length = 2048, example = "https://hooks.example.com/tenantry")]
    pub url: String,
    /// 1 to 50 audit actions: exact (`approval.requested`), a prefix
    /// (`approval.*`) or `*`.
    #[schema(min_items = 1, max_items = 50, example = json!(["approval.*"]))]
    pub event_types: Vec<String>,
    /// What it is for; 1 to 255 characters after trimming.
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 255)]
    pub description: Option<WebhookDescription>,
}

/// One recorded delivery attempt.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookDeliveryResponse {
    #[schema(example = "whd_01J9Z8Y7X6W5V4T3S2R1Q0P9N8")]
    pub id: String,
    pub webhook_id: String,
    /// The message's `webhook-id`, the same on every attempt of it.
    pub message_id: String,
    /// The audit event's seq; null for a test message.
    #[schema(required = true)]
    pub event_seq: Option<u64>,
    /// The event's action, or `webhook.test`.
    pub event_type: String,
    /// 1 for a message's first attempt, then 2, 3, ...
    pub attempt: u32,
    pub attempted_at: DateTime<Utc>,
    /// Whether the receiver answered 2xx.
    pub succeeded: bool,
    /// The receiver's status; null when no response came.
    #[schema(required = true)]
    pub status: Option<u16>,
    /// Why no response came, or why the target was refused.
    #[schema(required = true)]
    pub error: Option<String>,
    pub duration_ms: u64,
    /// When the message is to be tried again; null after a success or
    /// once retries ran out.
    #[schema(required = true)]
    pub next_attempt_at: Option<DateTime<Utc>>,
}

impl From<WebhookDelivery> for WebhookDeliveryResponse {
    fn from(delivery: WebhookDelivery) -> Self {
        let record = delivery.record;
        Self {
            id: delivery.id.to_string(),
            webhook_id: delivery.webhook_id.to_string(),
            message_id: record.message_id,
            event_seq: record.event_seq,
            event_type: record.action,
            attempt: record.attempt,
            attempted_at: record.attempted_at,
            succeeded: record.outcome.succeeded(),
            status: record.outcome.status,
            error: record.outcome.error,
            duration_ms: u64::try_from(record.outcome.duration.as_millis()).unwrap_or(u64::MAX),
            next_attempt_at: record.next_attempt_at,
        }
    }
}
