//! Webhooks: a tenant's subscriptions of an HTTPS endpoint to the actions
//! of its audit log, and the rules of delivering to them.
//!
//! A subscription ([`Webhook`]) names a target URL ([`WebhookUrl`]), the
//! actions it wants ([`EventTypes`]) and how far through the tenant's audit
//! log it has been delivered (`delivered_through`, a seq). It starts at the
//! log's size when it is created, so it gets only what happens after it.
//! The events of the tenant's own log are all it can ever get: a tenant
//! never receives another tenant's events because a subscription only ever
//! follows the log of the tenant that owns it.
//!
//! Messages are signed as the Standard Webhooks specification says
//! ([`sign`]): headers `webhook-id`, `webhook-timestamp` and
//! `webhook-signature`, the signature `v1,<base64 HMAC-SHA256>` of
//! `{id}.{timestamp}.{body}` under the subscription's [`WebhookSecret`].
//! The secret is shown once, when the subscription is created; it is stored
//! (it must sign every message) but never returned again, never logged and
//! never part of an audit event.
//!
//! Failed deliveries are retried on the [`RetrySchedule`], for up to 24
//! hours. Performing a delivery (the HTTP request) is not this crate's: it
//! knows no HTTP. [`TargetPolicy`] is the rule that the delivering code
//! applies to every address a target's host resolves to.
//!
//! Recording delivery attempts is operational bookkeeping, not a change of
//! the tenant's configuration: it is not an audit event. Creating and
//! deleting a subscription are.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::Timestamp;
use crate::audit::AuditEvent;
use crate::error::{Error, Result};
use crate::id::{TenantId, UserId, WebhookDeliveryId, WebhookId};
use crate::name::WebhookDescription;

/// The longest target URL accepted, in bytes.
pub const MAX_URL_BYTES: usize = 2048;

/// The most event type filters one subscription may have.
pub const MAX_EVENT_TYPES: usize = 50;

/// The longest event type filter, in bytes.
pub const MAX_EVENT_TYPE_BYTES: usize = 128;

/// The longest error text a delivery record keeps, in characters.
pub const MAX_DELIVERY_ERROR_CHARS: usize = 500;

/// The action of the message `POST /v1/webhooks/{id}/test` sends.
pub const TEST_EVENT_TYPE: &str = "webhook.test";

/// A webhook subscription as stored, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Webhook {
    /// Its id.
    pub id: WebhookId,
    /// The tenant it belongs to, whose audit log it follows.
    pub tenant_id: TenantId,
    /// Where its messages are sent.
    pub url: WebhookUrl,
    /// The actions it is sent.
    pub event_types: EventTypes,
    /// What it is for, for people.
    pub description: Option<WebhookDescription>,
    /// The user who created it; `None` for an operator.
    pub created_by: Option<UserId>,
    /// When it was created.
    pub created_at: Timestamp,
    /// The seq of the tenant's audit log it has been delivered through: the
    /// next event it may be sent is the one after. It starts at the log's
    /// size just after the subscription's own `webhook.created` event.
    pub delivered_through: u64,
}

/// What it takes to create a webhook subscription.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    /// Where its messages are sent, checked against the target policy.
    pub url: WebhookUrl,
    /// The actions it is sent.
    pub event_types: EventTypes,
    /// What it is for, for people.
    pub description: Option<WebhookDescription>,
    /// The user creating it; `None` for an operator.
    pub created_by: Option<UserId>,
}

impl NewWebhook {
    /// The subscription this creates in `tenant_id` at `at`, delivered
    /// through `delivered_through`, with a new id. Both stores make it
    /// here.
    pub fn begin(self, tenant_id: &TenantId, at: Timestamp, delivered_through: u64) -> Webhook {
        Webhook {
            id: WebhookId::generate(),
            tenant_id: tenant_id.clone(),
            url: self.url,
            event_types: self.event_types,
            description: self.description,
            created_by: self.created_by,
            created_at: at,
            delivered_through,
        }
    }
}

// --- Event types -------------------------------------------------------------

/// Which audit actions a subscription wants: one exact action
/// (`approval.requested`), every action under a prefix (`approval.*`), or
/// every action (`*`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventTypeFilter {
    /// Every action.
    All,
    /// Every action starting with this text, which ends with a `.`.
    Prefix(String),
    /// This action exactly.
    Exact(String),
}

/// Whether `text` is an action as the audit log writes them: segments of
/// `a-z`, `0-9` and `_`, separated by single dots.
fn is_action(text: &str) -> bool {
    !text.is_empty()
        && text.split('.').all(|segment| {
            !segment.is_empty()
                && segment
                    .bytes()
                    .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_')
        })
}

impl EventTypeFilter {
    /// Parses `*`, `<action prefix>.*` or an action.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        if text.len() > MAX_EVENT_TYPE_BYTES {
            return Err(format!("an event type is at most {MAX_EVENT_TYPE_BYTES} bytes"));
        }
        if text == "*" {
            return Ok(Self::All);
        }
        if let Some(prefix) = text.strip_suffix(".*") {
            return if is_action(prefix) {
                Ok(Self::Prefix(format!("{prefix}.")))
            } else {
                Err(format!(
                    "`{text}` is not `*`, an action such as `approval.requested` or a prefix such as `approval.*`"
                ))
            };
        }
        if is_action(text) {
            Ok(Self::Exact(text.to_owned()))
        } else {
            Err(format!(
                "`{text}` is not `*`, an action such as `approval.requested` or a prefix such as `approval.*`"
            ))
        }
    }

    /// Whether an event of `action` is wanted.
    pub fn matches(&self, action: &str) -> bool {
        match self {
            Self::All => true,
            Self::Prefix(prefix) => action.starts_with(prefix.as_str()),
            Self::Exact(exact) => action == exact,
        }
    }
}

impl fmt::Display for EventTypeFilter {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => formatter.write_str("*"),
            Self::Prefix(prefix) => write!(formatter, "{prefix}*"),
            Self::Exact(exact) => formatter.write_str(exact),
        }
    }
}

impl Serialize for EventTypeFilter {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A subscription's event type filters: 1 to [`MAX_EVENT_TYPES`], each
/// once, in the order given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct EventTypes(Vec<EventTypeFilter>);

impl EventTypes {
    /// Parses the filters; a bad one, none, too many or one given twice is
    /// [`Error::Invalid`] on `event_types`.
    pub fn parse<S: AsRef<str>>(texts: &[S]) -> Result<Self> {
        const FIELD: &str = "event_types";
        if texts.is_empty() {
            return Err(Error::invalid(FIELD, "at least one event type is required"));
        }
        if texts.len() > MAX_EVENT_TYPES {
            return Err(Error::invalid(FIELD, format!("at most {MAX_EVENT_TYPES} event types")));
        }
        let mut filters = Vec::with_capacity(texts.len());
        for text in texts {
            let filter =
                EventTypeFilter::parse(text.as_ref()).map_err(|reason| Error::invalid(FIELD, reason))?;
            if filters.contains(&filter) {
                return Err(Error::invalid(FIELD, format!("`{filter}` is given twice")));
            }
            filters.push(filter);
        }
        Ok(Self(filters))
    }

    /// The filters, in the order given.
    pub fn filters(&self) -> &[EventTypeFilter] {
        &self.0
    }

    /// Whether an event of `action` is wanted by any filter.
    pub fn matches(&self, action: &str) -> bool {
        self.0.iter().any(|filter| filter.matches(action))
    }

    /// The filters as text, as stored and shown.
    pub fn texts(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }

    /// The filters as the stores keep them: a JSON array of their texts.
    pub fn to_stored(&self) -> String {
        Value::from(self.texts()).to_string()
    }

    /// Reads filters kept by [`EventTypes::to_stored`].
    pub fn from_stored(text: &str) -> std::result::Result<Self, String> {
        let texts: Vec<String> = serde_json::from_str(text).map_err(|error| error.to_string())?;
        Self::parse(&texts).map_err(|error| error.to_string())
    }
}

// --- Secrets and signatures ---------------------------------------------------

/// The text a secret starts with, as Standard Webhooks writes secrets.
pub const SECRET_PREFIX: &str = "whsec_";

/// A subscription's signing secret: 32 random bytes, written
/// `whsec_<base64>`. Its `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret {
    key: Vec<u8>,
}

impl WebhookSecret {
    /// A new random secret.
    pub fn generate() -> Self {
        let mut key = vec![0u8; 32];
        getrandom::fill(&mut key).expect("the operating system's random source is available");
        Self { key }
    }

    /// Reads a secret written `whsec_<base64>` (as stored); the key must
    /// be 24 to 64 bytes, the range Standard Webhooks allows.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let encoded = text.strip_prefix(SECRET_PREFIX).ok_or("a webhook secret starts with whsec_")?;
        let key = BASE64.decode(encoded).map_err(|_| "a webhook secret is base64 after whsec_")?;
        if !(24..=64).contains(&key.len()) {
            return Err("a webhook secret's key is 24 to 64 bytes".to_owned());
        }
        Ok(Self { key })
    }

    /// The secret as text, `whsec_<base64>`: what the subscriber is shown
    /// once and the store keeps.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", BASE64.encode(&self.key))
    }

    /// The HMAC key.
    fn key(&self) -> &[u8] {
        &self.key
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("WebhookSecret(<redacted>)")
    }
}

/// The `webhook-signature` header of a message: `v1,` and the base64 of
/// HMAC-SHA256 of `{msg_id}.{timestamp}.{payload}` under the secret's key,
/// as Standard Webhooks specifies.
pub fn sign(secret: &WebhookSecret, msg_id: &str, timestamp: i64, payload: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.key()).expect("HMAC takes a key of any length");
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload.as_bytes());
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

// --- Messages ----------------------------------------------------------------

/// One message to a subscription: its id (the `webhook-id` header, the
/// same on every attempt), its type, when it was made and its JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookMessage {
    /// The `webhook-id`: `msg_<audit event id>`, or a new id for a test.
    pub id: String,
    /// The audit action (or `webhook.test`).
    pub event_type: String,
    /// The audit event's seq, when the message carries one.
    pub event_seq: Option<u64>,
    /// The body: `{"type", "timestamp", "data"}`.
    pub payload: String,
}

impl WebhookMessage {
    /// The message of an audit event: `data` is the event as the log holds
    /// it. Events carry no secrets (the audit log refuses fields that look
    /// like one), so neither does this.
    pub fn of_event(event: &AuditEvent) -> Result<Self> {
        let data: Value = serde_json::from_slice(&event.canonical_bytes())
            .map_err(|error| Error::internal(format!("an audit event is not JSON: {error}")))?;
        Ok(Self {
            id: format!("msg_{}", event.id()),
            event_type: event.action().to_owned(),
            event_seq: Some(event.seq()),
            payload: body(event.action(), event.occurred_at(), data),
        })
    }

    /// The message `POST /v1/webhooks/{id}/test` sends: type
    /// `webhook.test`, naming the subscription and its tenant.
    pub fn test(webhook: &Webhook, at: Timestamp) -> Self {
        let data = json!({
            "webhook_id": webhook.id.to_string(),
            "tenant_id": webhook.tenant_id.to_string(),
            "message": "a test message from tenantry",
        });
        Self {
            id: format!("msg_{}", ulid::Ulid::new()),
            event_type: TEST_EVENT_TYPE.to_owned(),
            event_seq: None,
            payload: body(TEST_EVENT_TYPE, at, data),
        }
    }
}

/// The body of a message, as Standard Webhooks recommends.
fn body(event_type: &str, at: Timestamp, data: Value) -> String {
    json!({
        "type": event_type,
        "timestamp": at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "data": data,
    })
    .to_string()
}

// --- Targets -----------------------------------------------------------------

/// Which targets the operator allows: private ones (loopback, private
/// networks, link-local, the cloud metadata address) and plain `http`
/// only when `allow_private` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetPolicy {
    /// Whether private and loopback targets (and `http`) are allowed.
    pub allow_private: bool,
}

impl TargetPolicy {
    /// Whether a connection to `address` is allowed; if not, why.
    pub fn check_address(self, address: IpAddr) -> std::result::Result<(), String> {
        match private_kind(address) {
            Some(kind) if !self.allow_private => {
                Err(format!("{address} is {kind}; private targets are not allowed on this server"))
            }
            _ => Ok(()),
        }
    }
}

/// What kind of address that must not be reached from a server `address`
/// is, or `None` for a public address.
pub fn private_kind(address: IpAddr) -> Option<&'static str> {
    match address {
        IpAddr::V4(v4) => private_kind_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => private_kind_v4(v4),
            None => private_kind_v6(v6),
        },
    }
}

fn private_kind_v4(address: Ipv4Addr) -> Option<&'static str> {
    let [first, second, ..] = address.octets();
    if address == Ipv4Addr::new(169, 254, 169, 254) {
        Some("the cloud metadata address")
    } else if address.is_loopback() {
        Some("a loopback address")
    } else if address.is_unspecified() || first == 0 {
        Some("an unspecified address")
    } else if address.is_private() {
        Some("a private address")
    } else if first == 100 && (64..128).contains(&second) {
        Some("a shared (carrier-grade NAT) address")
    } else if address.is_link_local() {
        Some("a link-local address")
    } else if address.is_broadcast() || address.is_multicast() {
        Some("a broadcast or multicast address")
    } else {
        None
    }
}

fn private_kind_v6(address: Ipv6Addr) -> Option<&'static str> {
    let first = address.segments()[0];
    if address == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        Some("the cloud metadata address")
    } else if address.is_loopback() {
        Some("a loopback address")
    } else if address.is_unspecified() {
        Some("an unspecified address")
    } else if first & 0xfe00 == 0xfc00 {
        Some("a unique local (private) address")
    } else if first & 0xffc0 == 0xfe80 {
        Some("a link-local address")
    } else if address.is_multicast() {
        Some("a multicast address")
    } else {
        None
    }
}

/// A webhook's target: an absolute `https` URL (or `http`, where private
/// targets are allowed) whose host is a DNS name or an IPv4 address, with
/// no user name or password and no fragment ([`WebhookUrl::check_syntax`]),
/// and whose host is not a private address or `localhost` unless the policy
/// allows them. A host name is checked again, address by address, each time
/// it is resolved for a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(url::Url);

impl WebhookUrl {
    /// Parses and checks `text` against `policy`; anything refused is
    /// [`Error::Invalid`] on `url`, saying which rule it broke.
    pub fn parse(text: &str, policy: TargetPolicy) -> Result<Self> {
        const FIELD: &str = "url";
        if text.len() > MAX_URL_BYTES {
            return Err(Error::invalid(FIELD, format!("a URL is at most {MAX_URL_BYTES} bytes")));
        }
        Self::check_syntax(text, policy.allow_private).map_err(|rule| Error::invalid(FIELD, rule))?;
        // The syntax leaves no user name, password or fragment, and only
        // `https` (or `http` where private targets are allowed).
        let url = url::Url::parse(text)
            .map_err(|error| Error::invalid(FIELD, format!("not an absolute URL: {error}")))?;
        let refused = |reason: String| Error::invalid(FIELD, reason);
        match url.host() {
            None => return Err(Error::invalid(FIELD, "must name a host")),
            Some(url::Host::Ipv4(address)) => policy.check_address(IpAddr::V4(address)).map_err(refused)?,
            Some(url::Host::Ipv6(address)) => policy.check_address(IpAddr::V6(address)).map_err(refused)?,
            Some(url::Host::Domain(domain)) => {
                let domain = domain.trim_end_matches('.').to_ascii_lowercase();
                if !policy.allow_private && (domain == "localhost" || domain.ends_with(".localhost")) {
                    return Err(Error::invalid(
                        FIELD,
                        "localhost is a loopback target; private targets are not allowed on this server",
                    ));
                }
            }
        }
        Ok(Self(url))
    }

    /// Whether `text` is written as the API's document states a target:
    /// `https://` (or `http://` with `allow_http`), a host that is a DNS
    /// name of letters, digits and hyphens (labels of 1 to 63, neither end
    /// a hyphen, the last starting with a letter) or a dotted IPv4 address
    /// without leading zeros, an optional port 1 to 65535, then optionally
    /// `/` or `?` and printable ASCII other than `#`. The URL parser alone
    /// takes more (`*` or `_` in a name, IPv6 literals, other letter case,
    /// non-ASCII), which the document's pattern refuses; this keeps the
    /// two the same. If not, the rule it breaks.
    pub fn check_syntax(text: &str, allow_http: bool) -> std::result::Result<(), &'static str> {
        let rest = match (text.strip_prefix("https://"), text.strip_prefix("http://")) {
            (Some(rest), _) => rest,
            (None, Some(rest)) if allow_http => rest,
            _ => return Err("must start with https://"),
        };
        let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
        if tail.bytes().any(|byte| !(0x21..=0x7e).contains(&byte) || byte == b'#') {
            return Err("the path and query must be printable ASCII without spaces, and no fragment (`#`)");
        }
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let labels: Vec<&str> = host.split('.').collect();
        let last_is_name = labels
            .last()
            .and_then(|label| label.bytes().next())
            .is_some_and(|byte| byte.is_ascii_alphabetic());
        if last_is_name {
            if !labels.iter().all(|label| is_host_label(label)) {
                return Err(
                    "the host must be a DNS name of letters, digits and hyphens (labels of 1 to 63 that neither start nor end with a hyphen) or an IPv4 address",
                );
            }
        } else if labels.len() != 4 || !labels.iter().all(|octet| is_decimal_octet(octet)) {
            return Err(
                "the host must be a DNS name whose last label starts with a letter, or an IPv4 address of four decimal octets without leading zeros",
            );
        }
        match port {
            None => Ok(()),
            Some(port) if is_port(port) => Ok(()),
            Some(_) => Err("the port must be 1 to 65535, without leading zeros"),
        }
    }

    /// Reads a stored URL, which was checked when it was created; the
    /// policy is applied again when it is delivered to.
    pub fn from_stored(text: &str) -> std::result::Result<Self, String> {
        url::Url::parse(text).map(Self).map_err(|error| error.to_string())
    }

    /// The URL as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The host, as written in the URL (an IP literal or a name).
    pub fn host(&self) -> Option<url::Host<&str>> {
        self.0.host()
    }
}

fn is_host_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    (1..=63).contains(&bytes.len())
        && bytes.iter().all(|byte| byte.is_ascii_alphanumeric() || *byte == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

/// `0` to `255`, written without leading zeros.
fn is_decimal_octet(text: &str) -> bool {
    is_plain_number(text, 3) && text.parse::<u16>().is_ok_and(|value| value <= 255)
}

/// `1` to `65535`, written without leading zeros.
fn is_port(text: &str) -> bool {
    is_plain_number(text, 5) && text.parse::<u32>().is_ok_and(|value| (1..=65_535).contains(&value))
}

/// Decimal digits, at most `digits` of them, with no leading zero.
fn is_plain_number(text: &str, digits: usize) -> bool {
    (1..=digits).contains(&text.len())
        && text.bytes().all(|byte| byte.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'))
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl Serialize for WebhookUrl {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

// --- Retries ------------------------------------------------------------------

/// When failed deliveries are tried again: after 5 s, 30 s, 2 min, 5 min,
/// 15 min, 30 min, 1 h, 2 h, 4 h, then every 8 h, until 24 hours have
/// passed since the first attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySchedule;

impl RetrySchedule {
    /// The delays before the second, third, ... attempt; the last repeats.
    const DELAYS_SECONDS: [u64; 10] = [5, 30, 120, 300, 900, 1800, 3600, 7200, 14_400, 28_800];

    /// How long retries go on after the first attempt.
    pub const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

    /// The delay before attempt `attempt` (1 is the first, made at once).
    pub fn delay_before(self, attempt: u32) -> Duration {
        let Some(retry) = attempt.checked_sub(2) else { return Duration::ZERO };
        let index = usize::try_from(retry).unwrap_or(usize::MAX).min(Self::DELAYS_SECONDS.len() - 1);
        Duration::from_secs(Self::DELAYS_SECONDS[index])
    }

    /// Whether retries have run out: 24 hours after the first attempt.
    pub fn gives_up(self, first_attempt_at: Timestamp, now: Timestamp) -> bool {
        now.signed_duration_since(first_attempt_at)
            >= chrono::Duration::from_std(Self::GIVE_UP_AFTER).unwrap_or(chrono::TimeDelta::MAX)
    }

    /// When to make the attempt after `attempt`, which failed at
    /// `attempted_at`; `None` when that would be past the 24 hours, and so
    /// the message is given up.
    pub fn next_attempt_at(
        self,
        first_attempt_at: Timestamp,
        attempt: u32,
        attempted_at: Timestamp,
    ) -> Option<Timestamp> {
        let delay = chrono::Duration::from_std(self.delay_before(attempt.saturating_add(1))).ok()?;
        let next = attempted_at.checked_add_signed(delay)?;
        (!self.gives_up(first_attempt_at, next)).then_some(next)
    }
}

// --- Deliveries ---------------------------------------------------------------

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryOutcome {
    /// The response's status, when a response came.
    pub status: Option<u16>,
    /// Why the attempt failed before a response, or was refused.
    pub error: Option<String>,
    /// How long the attempt took.
    pub duration: Duration,
}

impl DeliveryOutcome {
    /// A 2xx response: the subscriber has the message.
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|status| (200..300).contains(&status))
    }

    /// An attempt that failed before any response, for `reason` (cut to
    /// [`MAX_DELIVERY_ERROR_CHARS`]).
    pub fn failed(reason: impl fmt::Display, duration: Duration) -> Self {
        let error: String = reason.to_string().chars().take(MAX_DELIVERY_ERROR_CHARS).collect();
        Self { status: None, error: Some(error), duration }
    }
}

/// One attempt to record in a subscription's delivery log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// The message's `webhook-id`.
    pub message_id: String,
    /// The seq of the audit event delivered; `None` for a test message.
    pub event_seq: Option<u64>,
    /// The message's type: the event's action, or `webhook.test`.
    pub action: String,
    /// 1 for the first attempt of this message, then 2, 3, ...
    pub attempt: u32,
    /// When it was made.
    pub attempted_at: Timestamp,
    /// What came of it.
    pub outcome: DeliveryOutcome,
    /// When it is to be tried again; `None` after a success, or when
    /// retries ran out.
    pub next_attempt_at: Option<Timestamp>,
}

/// A recorded delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    /// Its id.
    pub id: WebhookDeliveryId,
    /// The subscription it was for.
    pub webhook_id: WebhookId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// What was recorded.
    pub record: DeliveryRecord,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// The test vector the Standard Webhooks specification publishes.
    #[test]
    fn signatures_match_the_specifications_test_vector() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signature =
            sign(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, r#"{"test": 2432232314}"#);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn secrets_round_trip_and_never_show_in_debug() {
        let secret = WebhookSecret::generate();
        let text = secret.expose();
        assert!(text.starts_with("whsec_"));
        assert_eq!(WebhookSecret::parse(&text).unwrap(), secret);
        assert!(!format!("{secret:?}").contains(&text[6..]));
        assert_ne!(WebhookSecret::generate(), secret);
        for bad in ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_!!!", "whsec_AAAA"] {
            assert!(WebhookSecret::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn event_type_filters_match_actions() {
        let cases = [
            ("*", "approval.requested", true),
            ("approval.*", "approval.requested", true),
            ("approval.*", "approvals.requested", false),
            ("approval.*", "approval", false),
            ("approval.requested", "approval.requested", true),
            ("approval.requested", "approval.decided", false),
            ("service_account.*", "service_account.created", true),
        ];
        for (filter, action, expected) in cases {
            assert_eq!(
                EventTypeFilter::parse(filter).unwrap().matches(action),
                expected,
                "{filter} {action}"
            );
        }
        for bad in [
            "",
            "Approval.requested",
            "approval..x",
            "approval*",
            "*.requested",
            ".*",
            "a b",
            "approval.",
            "**",
        ] {
            assert!(EventTypeFilter::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(EventTypes::parse(&["approval.*", "*"]).unwrap().texts(), ["approval.*", "*"]);
        for bad in [vec![], vec!["a.b", "a.b"], vec!["x"; 51]] {
            match EventTypes::parse(&bad) {
                Err(Error::Invalid { field, .. }) => assert_eq!(field, "event_types"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn targets_follow_the_policy() {
        let strict = TargetPolicy { allow_private: false };
        let open = TargetPolicy { allow_private: true };
        let cases = [
            ("https://hooks.example.com/in", true, true),
            ("https://203.0.113.9/in", true, true),
            ("http://hooks.example.com/in", false, true),
            ("http://127.0.0.1:8080/in", false, true),
            ("https://127.0.0.1/in", false, true),
            ("https://localhost/in", false, true),
            ("https://api.localhost/in", false, true),
            ("https://api.localhost./in", false, false),
            ("https://10.1.2.3/", false, true),
            ("https://172.16.0.1/", false, true),
            ("https://192.168.1.1/", false, true),
            ("https://169.254.169.254/latest/meta-data", false, true),
            ("https://169.254.10.1/", false, true),
            ("https://0.0.0.0/", false, true),
            ("https://100.100.100.200/", false, true),
            // IPv6 literals are not a target's syntax (a name resolving to
            // IPv6 addresses is, and each is checked at delivery).
            ("https://[::1]/", false, false),
            ("https://[::ffff:127.0.0.1]/", false, false),
            ("https://[2001:db8::1]/", false, false),
            ("https://1password.example.com:8443/in?x=1", true, true),
            ("https://hooks.exa*mple.com/", false, false),
            ("https://hooks_1.example.com/", false, false),
            ("https://hooks.example.com:0/", false, false),
            ("https://hooks.example.com/ä", false, false),
            ("HTTPS://hooks.example.com/", false, false),
            ("https://010.1.2.3/", false, false),
            ("https://user:pw@hooks.example.com/", false, false),
            ("https://hooks.example.com/#x", false, false),
            ("ftp://hooks.example.com/", false, false),
            ("hooks.example.com/in", false, false),
            ("file:///etc/passwd", false, false),
        ];
        for (text, strictly, openly) in cases {
            for (policy, expected) in [(strict, strictly), (open, openly)] {
                match WebhookUrl::parse(text, policy) {
                    Ok(url) => assert!(expected, "{text} accepted under {policy:?}: {url}"),
                    Err(Error::Invalid { field, reason }) => {
                        assert!(!expected, "{text} refused under {policy:?}: {reason}");
                        assert_eq!(field, "url");
                    }
                    Err(other) => panic!("{text}: {other:?}"),
                }
            }
        }
        let long = format!("https://hooks.example.com/{}", "a".repeat(MAX_URL_BYTES));
        assert!(WebhookUrl::parse(&long, open).is_err());
    }

    #[test]
    fn retries_back_off_and_stop_after_a_day() {
        let schedule = RetrySchedule;
        let delays: Vec<u64> = (1..=12).map(|attempt| schedule.delay_before(attempt).as_secs()).collect();
        assert_eq!(delays, [0, 5, 30, 120, 300, 900, 1800, 3600, 7200, 14_400, 28_800, 28_800]);
        let first = chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(schedule.next_attempt_at(first, 1, first), Some(first + chrono::Duration::seconds(5)));
        // Walk the schedule: every attempt is later than the one before,
        // and the last is within the day.
        let mut at = first;
        let mut attempt = 1;
        while let Some(next) = schedule.next_attempt_at(first, attempt, at) {
            assert!(next > at);
            at = next;
            attempt += 1;
        }
        assert!(!schedule.gives_up(first, at));
        assert!(schedule.gives_up(first, first + chrono::Duration::hours(24)));
        assert_eq!(attempt, 12, "attempts within 24 hours");
    }

    #[test]
    fn outcomes_succeed_on_2xx_only() {
        let outcome = |status| DeliveryOutcome { status, error: None, duration: Duration::ZERO };
        assert!(outcome(Some(200)).succeeded());
        assert!(outcome(Some(204)).succeeded());
        assert!(!outcome(Some(301)).succeeded());
        assert!(!outcome(Some(500)).succeeded());
        assert!(!outcome(None).succeeded());
        assert_eq!(DeliveryOutcome::failed("x".repeat(900), Duration::ZERO).error.unwrap().len(), 500);
    }
}
