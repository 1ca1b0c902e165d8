//! Webhook subscriptions, their delivery log and their cursor in the
//! tenant's audit log. Every statement carries the scope's `tenant_id`.
//! Creating and deleting a subscription are audited in the tenant's log;
//! recording an attempt and moving the cursor are bookkeeping, single
//! statements outside the audit log.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use tenantry_core::webhook::{
    DeliveryOutcome, DeliveryRecord, EventTypes, NewWebhook, Webhook, WebhookDelivery, WebhookSecret,
    WebhookUrl,
};
use tenantry_core::{
    Error, Page, PageRequest, PlatformScope, Result, TenantId, TenantScope, UserId, WebhookDeliveryId,
    WebhookDescription, WebhookId, WebhookStore, audit, now,
};

use crate::SqliteStore;
use crate::audit::{Log, Write, WriteScope, read_head};
use crate::error::{Operation, map_database_error};
use crate::rows::{self, decode, invalid_stored_value, optional_parsed, parsed};
use crate::tenant_tables::TenantTable;
use crate::tenants::tenant_exists;
use crate::{Connections, overfetch_limit, page_after};

/// The columns [`webhook`] reads (never the secret).
const WEBHOOK_COLUMNS: &str =
    "tenant_id, id, url, event_types, description, created_by, created_at, delivered_through";

/// The columns [`delivery`] reads, from `webhook_deliveries`.
const DELIVERY_COLUMNS: &str = "tenant_id, webhook_id, id, message_id, event_seq, action, attempt, \
     attempted_at, status, error, duration_micros, next_attempt_at";

/// The `webhooks` table.
const WEBHOOKS: TenantTable<Webhook> = TenantTable {
    name: "webhooks",
    id_column: "id",
    columns: WEBHOOK_COLUMNS,
    read: webhook,
    id_of: |webhook| webhook.id.to_string(),
};

/// A subscription from a row selected with [`WEBHOOK_COLUMNS`].
fn webhook(row: &SqliteRow) -> Result<Webhook> {
    Ok(Webhook {
        id: parsed(row, "id", WebhookId::parse)?,
        tenant_id: parsed(row, "tenant_id", TenantId::parse)?,
        url: parsed(row, "url", WebhookUrl::from_stored)?,
        event_types: parsed(row, "event_types", EventTypes::from_stored)?,
        description: optional_parsed(row, "description", WebhookDescription::parse)?,
        created_by: optional_parsed(row, "created_by", UserId::parse)?,
        created_at: decode(row, "created_at")?,
        delivered_through: unsigned(row, "delivered_through")?,
    })
}

/// A delivery from a row selected with [`DELIVERY_COLUMNS`].
fn delivery(row: &SqliteRow) -> Result<WebhookDelivery> {
    let event_seq: Option<i64> = decode(row, "event_seq")?;
    let status: Option<i64> = decode(row, "status")?;
    let attempt: i64 = decode(row, "attempt")?;
    Ok(WebhookDelivery {
        id: parsed(row, "id", WebhookDeliveryId::parse)?,
        webhook_id: parsed(row, "webhook_id", WebhookId::parse)?,
        tenant_id: parsed(row, "tenant_id", TenantId::parse)?,
        record: DeliveryRecord {
            message_id: decode(row, "message_id")?,
            event_seq: event_seq
                .map(|seq| u64::try_from(seq).map_err(|reason| invalid_stored_value("event_seq", reason)))
                .transpose()?,
            action: decode(row, "action")?,
            attempt: u32::try_from(attempt).map_err(|reason| invalid_stored_value("attempt", reason))?,
            attempted_at: decode(row, "attempted_at")?,
            outcome: DeliveryOutcome {
                status: status
                    .map(|status| {
                        u16::try_from(status).map_err(|reason| invalid_stored_value("status", reason))
                    })
                    .transpose()?,
                error: decode(row, "error")?,
                duration: Duration::from_micros(unsigned(row, "duration_micros")?),
            },
            next_attempt_at: decode(row, "next_attempt_at")?,
        },
    })
}

/// A non-negative integer column.
fn unsigned(row: &SqliteRow, column: &'static str) -> Result<u64> {
    u64::try_from(rows::integer(row, column)?).map_err(|reason| invalid_stored_value(column, reason))
}

/// A count or seq as SQLite stores integers.
fn stored(number: u64) -> i64 {
    i64::try_from(number).unwrap_or(i64::MAX)
}

/// See [`WebhookStore::create_webhook`]. The subscription starts after the
/// tenant's log as it will be once its own event is appended: the head read
/// under the write lock, plus that one event.
pub(crate) async fn create_webhook(
    pool: &Connections,
    scope: &TenantScope,
    new_webhook: NewWebhook,
) -> Result<(Webhook, WebhookSecret)> {
    let operation = Operation::CreateWebhook;
    let tenant_id = scope.tenant_id();
    let mut transaction = Write::begin(pool, WriteScope::Tenant(scope), operation).await?;
    if !tenant_exists(&mut transaction, tenant_id, operation).await? {
        return Err(Error::not_found("tenant"));
    }
    let head = read_head(&mut transaction, &Log::tenant(tenant_id), operation).await?;
    let webhook = new_webhook.begin(tenant_id, now(), head.size() + 1);
    let secret = WebhookSecret::generate();
    sqlx::query(
        "INSERT INTO webhooks (tenant_id, id, url, event_types, description, secret, created_by, \
                               created_at, delivered_through) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .bind(tenant_id.to_string())
    .bind(webhook.id.to_string())
    .bind(webhook.url.as_str())
    .bind(webhook.event_types.to_stored())
    .bind(webhook.description.as_ref().map(WebhookDescription::as_str))
    .bind(secret.expose())
    .bind(webhook.created_by.as_ref().map(ToString::to_string))
    .bind(webhook.created_at)
    .bind(stored(webhook.delivered_through))
    .execute(&mut *transaction)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    transaction.record(audit::webhook_created(&webhook));
    transaction.commit().await?;
    Ok((webhook, secret))
}

/// See [`WebhookStore::get_webhook`].
pub(crate) async fn get_webhook(pool: &Connections, scope: &TenantScope, id: &WebhookId) -> Result<Webhook> {
    Ok(webhook_secret(pool, scope, id, Operation::GetWebhook).await?.0)
}

/// One subscription with its secret.
async fn webhook_secret(
    pool: &Connections,
    scope: &TenantScope,
    id: &WebhookId,
    operation: Operation,
) -> Result<(Webhook, WebhookSecret)> {
    let row = sqlx::query(&format!(
        "SELECT {WEBHOOK_COLUMNS}, secret FROM webhooks WHERE tenant_id = ?1 AND id = ?2"
    ))
    .bind(scope.tenant_id().to_string())
    .bind(id.to_string())
    .fetch_optional(pool.reads())
    .await
    .map_err(|error| map_database_error(error, operation))?;
    let row = row.ok_or(Error::not_found("webhook"))?;
    Ok((webhook(&row)?, parsed(&row, "secret", WebhookSecret::parse)?))
}

/// See [`WebhookStore::delete_webhook`]: its deliveries go by the foreign
/// key's cascade.
pub(crate) async fn delete_webhook(pool: &Connections, scope: &TenantScope, id: &WebhookId) -> Result<()> {
    let operation = Operation::DeleteWebhook;
    let mut transaction = Write::begin(pool, WriteScope::Tenant(scope), operation).await?;
    let row = sqlx::query(&format!(
        "DELETE FROM webhooks WHERE tenant_id = ?1 AND id = ?2 RETURNING {WEBHOOK_COLUMNS}"
    ))
    .bind(scope.tenant_id().to_string())
    .bind(id.to_string())
    .fetch_optional(&mut *transaction)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    let deleted = webhook(&row.ok_or(Error::not_found("webhook"))?)?;
    transaction.record(audit::webhook_deleted(&deleted));
    transaction.commit().await
}

/// See [`WebhookStore::record_delivery`]: one statement, which inserts
/// nothing when the tenant has no such subscription.
pub(crate) async fn record_delivery(
    pool: &Connections,
    scope: &TenantScope,
    webhook_id: &WebhookId,
    record: DeliveryRecord,
) -> Result<WebhookDelivery> {
    let operation = Operation::RecordWebhookDelivery;
    let delivery = WebhookDelivery {
        id: WebhookDeliveryId::generate(),
        webhook_id: webhook_id.clone(),
        tenant_id: scope.tenant_id().clone(),
        record,
    };
    let record = &delivery.record;
    let inserted = sqlx::query(
        "INSERT INTO webhook_deliveries (tenant_id, webhook_id, id, message_id, event_seq, action, attempt, \
                                         attempted_at, status, error, duration_micros, next_attempt_at) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12 \
         WHERE EXISTS (SELECT 1 FROM webhooks WHERE tenant_id = ?1 AND id = ?2)",
    )
    .bind(delivery.tenant_id.to_string())
    .bind(webhook_id.to_string())
    .bind(delivery.id.to_string())
    .bind(&record.message_id)
    .bind(record.event_seq.map(stored))
    .bind(&record.action)
    .bind(i64::from(record.attempt))
    .bind(record.attempted_at)
    .bind(record.outcome.status.map(i64::from))
    .bind(record.outcome.error.as_deref())
    .bind(i64::try_from(record.outcome.duration.as_micros()).unwrap_or(i64::MAX))
    .bind(record.next_attempt_at)
    .execute(pool.writer())
    .await
    .map_err(|error| map_database_error(error, operation))?;
    if inserted.rows_affected() == 0 {
        return Err(Error::not_found("webhook"));
    }
    Ok(delivery)
}

/// See [`WebhookStore::list_deliveries`]: one statement, the subscription
/// joined with its page of deliveries, so that an unknown subscription (no
/// row) differs from one without deliveries (one row of nulls).
pub(crate) async fn list_deliveries(
    pool: &Connections,
    scope: &TenantScope,
    webhook_id: &WebhookId,
    page: PageRequest<WebhookDeliveryId>,
) -> Result<Page<WebhookDelivery>> {
    let operation = Operation::ListWebhookDeliveries;
    let columns = DELIVERY_COLUMNS.split(", ").map(|column| format!("d.{column}")).collect::<Vec<_>>();
    let found = sqlx::query(&format!(
        "SELECT {} FROM webhooks w \
         LEFT JOIN webhook_deliveries d \
           ON d.tenant_id = w.tenant_id AND d.webhook_id = w.id AND d.id > ?3 \
         WHERE w.tenant_id = ?1 AND w.id = ?2 ORDER BY d.id LIMIT ?4",
        columns.join(", ")
    ))
    .bind(scope.tenant_id().to_string())
    .bind(webhook_id.to_string())
    .bind(page_after(page.after.as_ref()))
    .bind(overfetch_limit(page.limit))
    .fetch_all(pool.reads())
    .await
    .map_err(|error| map_database_error(error, operation))?;
    if found.is_empty() {
        return Err(Error::not_found("webhook"));
    }
    let mut deliveries = Vec::with_capacity(found.len());
    for row in &found {
        let id: Option<String> = decode(row, "id")?;
        if id.is_some() {
            deliveries.push(delivery(row)?);
        }
    }
    Ok(Page::from_overfetched(deliveries, page.limit, |delivery| delivery.id.to_string()))
}

/// See [`WebhookStore::advance_delivered_through`]: one update that moves
/// the cursor only forward and only within the tenant's log; when it
/// changes nothing, a second read tells which rule stopped it.
pub(crate) async fn advance_delivered_through(
    pool: &Connections,
    scope: &TenantScope,
    webhook_id: &WebhookId,
    seq: u64,
) -> Result<u64> {
    let operation = Operation::AdvanceWebhookCursor;
    let updated: Option<i64> = sqlx::query_scalar(
        "UPDATE webhooks SET delivered_through = max(delivered_through, ?3) \
         WHERE tenant_id = ?1 AND id = ?2 \
           AND ?3 <= (SELECT size FROM audit_logs WHERE tenant_id = ?1) \
         RETURNING delivered_through",
    )
    .bind(scope.tenant_id().to_string())
    .bind(webhook_id.to_string())
    .bind(stored(seq))
    .fetch_optional(pool.writer())
    .await
    .map_err(|error| map_database_error(error, operation))?;
    match updated {
        Some(delivered_through) => u64::try_from(delivered_through)
            .map_err(|reason| invalid_stored_value("delivered_through", reason)),
        None => {
            let mut connection = pool.read_connection(operation).await?;
            if WEBHOOKS.exists(&mut connection, scope.tenant_id(), webhook_id, operation).await? {
                Err(Error::invalid("seq", "past the end of the tenant's audit log"))
            } else {
                Err(Error::not_found("webhook"))
            }
        }
    }
}

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn create_webhook(
        &self,
        scope: &TenantScope,
        webhook: NewWebhook,
    ) -> Result<(Webhook, WebhookSecret)> {
        create_webhook(&self.pool, scope, webhook).await
    }

    async fn get_webhook(&self, scope: &TenantScope, id: &WebhookId) -> Result<Webhook> {
        get_webhook(&self.pool, scope, id).await
    }

    async fn list_webhooks(
        &self,
        scope: &TenantScope,
        page: PageRequest<WebhookId>,
    ) -> Result<Page<Webhook>> {
        WEBHOOKS.page(&self.pool, scope, page, Operation::ListWebhooks).await
    }

    async fn webhook_secret(&self, scope: &TenantScope, id: &WebhookId) -> Result<(Webhook, WebhookSecret)> {
        webhook_secret(&self.pool, scope, id, Operation::GetWebhookSecret).await
    }

    async fn delete_webhook(&self, scope: &TenantScope, id: &WebhookId) -> Result<()> {
        delete_webhook(&self.pool, scope, id).await
    }

    async fn record_delivery(
        &self,
        scope: &TenantScope,
        webhook_id: &WebhookId,
        record: DeliveryRecord,
    ) -> Result<WebhookDelivery> {
        record_delivery(&self.pool, scope, webhook_id, record).await
    }

    async fn list_deliveries(
        &self,
        scope: &TenantScope,
        webhook_id: &WebhookId,
        page: PageRequest<WebhookDeliveryId>,
    ) -> Result<Page<WebhookDelivery>> {
        list_deliveries(&self.pool, scope, webhook_id, page).await
    }

    async fn advance_delivered_through(
        &self,
        scope: &TenantScope,
        webhook_id: &WebhookId,
        seq: u64,
    ) -> Result<u64> {
        advance_delivered_through(&self.pool, scope, webhook_id, seq).await
    }

    async fn webhooks_behind(&self, _platform: &PlatformScope) -> Result<Vec<(TenantId, WebhookId)>> {
        let operation = Operation::WebhooksBehind;
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT w.tenant_id, w.id FROM webhooks w JOIN audit_logs l ON l.tenant_id = w.tenant_id \
             WHERE l.size > w.delivered_through ORDER BY w.tenant_id, w.id",
        )
        .fetch_all(self.pool.reads())
        .await
        .map_err(|error| map_database_error(error, operation))?;
        rows.into_iter()
            .map(|(tenant_id, id)| {
                Ok((
                    TenantId::parse(&tenant_id).map_err(|error| invalid_stored_value("tenant_id", error))?,
                    WebhookId::parse(&id).map_err(|error| invalid_stored_value("id", error))?,
                ))
            })
            .collect()
    }
}
