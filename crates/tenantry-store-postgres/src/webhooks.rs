//! Webhook subscriptions on PostgreSQL, their delivery log and their
//! cursor in the tenant's audit log; both tables are tenant-owned, under
//! row-level security, and every statement carries the scope's
//! `tenant_id`. Creating and deleting a subscription are audited in the
//! tenant's log; recording an attempt and moving the cursor are
//! bookkeeping, outside the audit log.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use tenantry_core::webhook::{
    DeliveryOutcome, DeliveryRecord, EventTypes, NewWebhook, Webhook, WebhookDelivery, WebhookSecret,
    WebhookUrl,
};
use tenantry_core::{
    Error, Page, PageRequest, PlatformScope, Result, TenantId, TenantScope, UserId, WebhookDeliveryId,
    WebhookDescription, WebhookId, WebhookStore, audit,
};

use crate::PostgresStore;
use crate::audit::WriteScope;
use crate::error::{DatabaseResultExt, Operation};
use crate::rows::{self, column, corrupt, parsed, parsed_optional};
use crate::store::{TransactionScope, commit, tenant_rows_page};

/// The columns [`webhook`] reads (never the secret).
macro_rules! webhook_columns {
    () => {
        "tenant_id, id, url, event_types::text AS event_types, description, created_by, created_at, \
         delivered_through"
    };
}

/// The columns [`delivery`] reads, of `webhook_deliveries` aliased `d`.
macro_rules! delivery_columns {
    () => {
        "d.tenant_id, d.webhook_id, d.id, d.message_id, d.event_seq, d.action, d.attempt, d.attempted_at, \
         d.status, d.error, d.duration_micros, d.next_attempt_at"
    };
}

/// A subscription from a row selected with [`webhook_columns`].
fn webhook(row: &PgRow, operation: Operation) -> Result<Webhook> {
    Ok(Webhook {
        id: parsed(row, "id", operation, WebhookId::parse)?,
        tenant_id: parsed(row, "tenant_id", operation, TenantId::parse)?,
        url: parsed(row, "url", operation, WebhookUrl::from_stored)?,
        event_types: parsed(row, "event_types", operation, EventTypes::from_stored)?,
        description: parsed_optional(row, "description", operation, WebhookDescription::parse)?,
        created_by: parsed_optional(row, "created_by", operation, UserId::parse)?,
        created_at: column(row, "created_at", operation)?,
        delivered_through: unsigned(row, "delivered_through", operation)?,
    })
}

/// A delivery from a row selected with [`delivery_columns`].
fn delivery(row: &PgRow, operation: Operation) -> Result<WebhookDelivery> {
    let event_seq: Option<i64> = column(row, "event_seq", operation)?;
    let status: Option<i32> = column(row, "status", operation)?;
    let attempt: i32 = column(row, "attempt", operation)?;
    let duration: i64 = column(row, "duration_micros", operation)?;
    let out_of_range = |name: &str, value: i64| corrupt(operation, name, &value.to_string(), "out of range");
    Ok(WebhookDelivery {
        id: parsed(row, "id", operation, WebhookDeliveryId::parse)?,
        webhook_id: parsed(row, "webhook_id", operation, WebhookId::parse)?,
        tenant_id: parsed(row, "tenant_id", operation, TenantId::parse)?,
        record: DeliveryRecord {
            message_id: rows::text(row, "message_id", operation)?,
            event_seq: event_seq
                .map(|seq| u64::try_from(seq).map_err(|_| out_of_range("event_seq", seq)))
                .transpose()?,
            action: rows::text(row, "action", operation)?,
            attempt: u32::try_from(attempt).map_err(|_| out_of_range("attempt", attempt.into()))?,
            attempted_at: column(row, "attempted_at", operation)?,
            outcome: DeliveryOutcome {
                status: status
                    .map(|status| u16::try_from(status).map_err(|_| out_of_range("status", status.into())))
                    .transpose()?,
                error: column(row, "error", operation)?,
                duration: Duration::from_micros(
                    u64::try_from(duration).map_err(|_| out_of_range("duration_micros", duration))?,
                ),
            },
            next_attempt_at: column(row, "next_attempt_at", operation)?,
        },
    })
}

/// A non-negative `bigint` column.
fn unsigned(row: &PgRow, name: &str, operation: Operation) -> Result<u64> {
    let value: i64 = column(row, name, operation)?;
    u64::try_from(value).map_err(|_| corrupt(operation, name, &value.to_string(), "negative"))
}

/// A count or seq as PostgreSQL stores integers.
fn stored(number: u64) -> i64 {
    i64::try_from(number).unwrap_or(i64::MAX)
}

/// See [`WebhookStore::create_webhook`]. The subscription starts after the
/// tenant's log as it will be once its own event is appended: the head the
/// transaction locked as it began, plus that one event. A tenant that does
/// not exist has no head, and is not found.
pub(crate) async fn create_webhook(
    store: &PostgresStore,
    scope: &TenantScope,
    new_webhook: NewWebhook,
) -> Result<(Webhook, WebhookSecret)> {
    let operation = Operation::CreateWebhook;
    let tenant_id = scope.tenant_id();
    let mut transaction = store.begin_write(WriteScope::Tenant(scope), operation).await?;
    let head = transaction.locked_tenant_head()?;
    let webhook = new_webhook.begin(tenant_id, tenantry_core::now(), head.size() + 1);
    let secret = WebhookSecret::generate();
    sqlx::query(
        "INSERT INTO webhooks (tenant_id, id, url, event_types, description, secret, created_by, \
                               created_at, delivered_through) \
         VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9)",
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
    .during(operation)?;
    transaction.record(audit::webhook_created(&webhook));
    transaction.commit().await?;
    Ok((webhook, secret))
}

/// One subscription with its secret.
async fn webhook_secret(
    store: &PostgresStore,
    scope: &TenantScope,
    id: &WebhookId,
    operation: Operation,
) -> Result<(Webhook, WebhookSecret)> {
    let mut transaction = store.begin(TransactionScope::Tenant(scope), operation).await?;
    let row = sqlx::query(concat!(
        "SELECT ",
        webhook_columns!(),
        ", secret FROM webhooks WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(scope.tenant_id().to_string())
    .bind(id.to_string())
    .fetch_optional(&mut *transaction)
    .await
    .during(operation)?;
    commit(transaction, operation).await?;
    let row = row.ok_or(Error::not_found("webhook"))?;
    Ok((webhook(&row, operation)?, parsed(&row, "secret", operation, WebhookSecret::parse)?))
}

/// See [`WebhookStore::list_webhooks`].
pub(crate) async fn list_webhooks(
    store: &PostgresStore,
    scope: &TenantScope,
    page: PageRequest<WebhookId>,
) -> Result<Page<Webhook>> {
    let sql = concat!(
        "SELECT ",
        webhook_columns!(),
        " FROM webhooks WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3"
    );
    let found = tenant_rows_page(store, scope, sql, &page, webhook, Operation::ListWebhooks).await?;
    Ok(Page::from_overfetched(found, page.limit, |webhook| webhook.id.to_string()))
}

/// See [`WebhookStore::delete_webhook`]: its deliveries go by the foreign
/// key's cascade.
pub(crate) async fn delete_webhook(store: &PostgresStore, scope: &TenantScope, id: &WebhookId) -> Result<()> {
    let operation = Operation::DeleteWebhook;
    let mut transaction = store.begin_write(WriteScope::Tenant(scope), operation).await?;
    let row = sqlx::query(concat!(
        "DELETE FROM webhooks WHERE tenant_id = $1 AND id = $2 RETURNING ",
        webhook_columns!()
    ))
    .bind(scope.tenant_id().to_string())
    .bind(id.to_string())
    .fetch_optional(&mut *transaction)
    .await
    .during(operation)?;
    let deleted = webhook(&row.ok_or(Error::not_found("webhook"))?, operation)?;
    transaction.record(audit::webhook_deleted(&deleted));
    transaction.commit().await
}

/// See [`WebhookStore::record_delivery`]: one statement, which inserts
/// nothing when the tenant has no such subscription.
pub(crate) async fn record_delivery(
    store: &PostgresStore,
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
    let mut transaction = store.begin(TransactionScope::Tenant(scope), operation).await?;
    let inserted = sqlx::query(
        "INSERT INTO webhook_deliveries (tenant_id, webhook_id, id, message_id, event_seq, action, attempt, \
                                         attempted_at, status, error, duration_micros, next_attempt_at) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 \
         WHERE EXISTS (SELECT 1 FROM webhooks WHERE tenant_id = $1 AND id = $2)",
    )
    .bind(delivery.tenant_id.to_string())
    .bind(webhook_id.to_string())
    .bind(delivery.id.to_string())
    .bind(&record.message_id)
    .bind(record.event_seq.map(stored))
    .bind(&record.action)
    .bind(i32::try_from(record.attempt).unwrap_or(i32::MAX))
    .bind(record.attempted_at)
    .bind(record.outcome.status.map(i32::from))
    .bind(record.outcome.error.as_deref())
    .bind(i64::try_from(record.outcome.duration.as_micros()).unwrap_or(i64::MAX))
    .bind(record.next_attempt_at)
    .execute(&mut *transaction)
    .await
    .during(operation)?;
    commit(transaction, operation).await?;
    if inserted.rows_affected() == 0 {
        return Err(Error::not_found("webhook"));
    }
    Ok(delivery)
}

/// See [`WebhookStore::list_deliveries`]: one statement, the subscription
/// joined with its page of deliveries, so that an unknown subscription (no
/// row) differs from one without deliveries (one row of nulls).
pub(crate) async fn list_deliveries(
    store: &PostgresStore,
    scope: &TenantScope,
    webhook_id: &WebhookId,
    page: PageRequest<WebhookDeliveryId>,
) -> Result<Page<WebhookDelivery>> {
    let operation = Operation::ListWebhookDeliveries;
    let mut transaction = store.begin(TransactionScope::Tenant(scope), operation).await?;
    let found = sqlx::query(concat!(
        "SELECT ",
        delivery_columns!(),
        " FROM webhooks w \
          LEFT JOIN webhook_deliveries d \
            ON d.tenant_id = w.tenant_id AND d.webhook_id = w.id AND d.id > $3 \
          WHERE w.tenant_id = $1 AND w.id = $2 ORDER BY d.id LIMIT $4"
    ))
    .bind(scope.tenant_id().to_string())
    .bind(webhook_id.to_string())
    .bind(page.after.as_ref().map(ToString::to_string).unwrap_or_default())
    .bind(i64::from(page.limit.get()) + 1)
    .fetch_all(&mut *transaction)
    .await
    .during(operation)?;
    commit(transaction, operation).await?;
    if found.is_empty() {
        return Err(Error::not_found("webhook"));
    }
    let mut deliveries = Vec::with_capacity(found.len());
    for row in &found {
        let id: Option<String> = column(row, "id", operation)?;
        if id.is_some() {
            deliveries.push(delivery(row, operation)?);
        }
    }
    Ok(Page::from_overfetched(deliveries, page.limit, |delivery| delivery.id.to_string()))
}

/// See [`WebhookStore::advance_delivered_through`]: one update that moves
/// the cursor only forward and only within the tenant's log; when it
/// changes nothing, the same statement tells which rule stopped it.
pub(crate) async fn advance_delivered_through(
    store: &PostgresStore,
    scope: &TenantScope,
    webhook_id: &WebhookId,
    seq: u64,
) -> Result<u64> {
    let operation = Operation::AdvanceWebhookCursor;
    let mut transaction = store.begin(TransactionScope::Tenant(scope), operation).await?;
    let (exists, delivered_through): (bool, Option<i64>) = sqlx::query_as(
        "WITH advanced AS ( \
             UPDATE webhooks SET delivered_through = GREATEST(delivered_through, $3) \
             WHERE tenant_id = $1 AND id = $2 \
               AND $3 <= (SELECT size FROM audit_logs WHERE tenant_id = $1) \
             RETURNING delivered_through) \
         SELECT EXISTS (SELECT 1 FROM webhooks WHERE tenant_id = $1 AND id = $2), \
                (SELECT delivered_through FROM advanced)",
    )
    .bind(scope.tenant_id().to_string())
    .bind(webhook_id.to_string())
    .bind(stored(seq))
    .fetch_one(&mut *transaction)
    .await
    .during(operation)?;
    commit(transaction, operation).await?;
    match (exists, delivered_through) {
        (_, Some(delivered_through)) => u64::try_from(delivered_through)
            .map_err(|_| corrupt(operation, "delivered_through", &delivered_through.to_string(), "negative")),
        (true, None) => Err(Error::invalid("seq", "past the end of the tenant's audit log")),
        (false, None) => Err(Error::not_found("webhook")),
    }
}

#[async_trait]
impl WebhookStore for PostgresStore {
    async fn create_webhook(
        &self,
        scope: &TenantScope,
        webhook: NewWebhook,
    ) -> Result<(Webhook, WebhookSecret)> {
        create_webhook(self, scope, webhook).await
    }

    async fn get_webhook(&self, scope: &TenantScope, id: &WebhookId) -> Result<Webhook> {
        Ok(webhook_secret(self, scope, id, Operation::GetWebhook).await?.0)
    }

    async fn list_webhooks(
        &self,
        scope: &TenantScope,
        page: PageRequest<WebhookId>,
    ) -> Result<Page<Webhook>> {
        list_webhooks(self, scope, page).await
    }

    async fn webhook_secret(&self, scope: &TenantScope, id: &WebhookId) -> Result<(Webhook, WebhookSecret)> {
        webhook_secret(self, scope, id, Operation::GetWebhookSecret).await
    }

    async fn delete_webhook(&self, scope: &TenantScope, id: &WebhookId) -> Result<()> {
        delete_webhook(self, scope, id).await
    }

    async fn record_delivery(
        &self,
        scope: &TenantScope,
        webhook_id: &WebhookId,
        record: DeliveryRecord,
    ) -> Result<WebhookDelivery> {
        record_delivery(self, scope, webhook_id, record).await
    }

    async fn list_deliveries(
        &self,
        scope: &TenantScope,
        webhook_id: &WebhookId,
        page: PageRequest<WebhookDeliveryId>,
    ) -> Result<Page<WebhookDelivery>> {
        list_deliveries(self, scope, webhook_id, page).await
    }

    async fn advance_delivered_through(
        &self,
        scope: &TenantScope,
        webhook_id: &WebhookId,
        seq: u64,
    ) -> Result<u64> {
        advance_delivered_through(self, scope, webhook_id, seq).await
    }

    async fn webhooks_behind(&self, platform: &PlatformScope) -> Result<Vec<(TenantId, WebhookId)>> {
        let operation = Operation::WebhooksBehind;
        let mut transaction = self.begin(TransactionScope::Platform(platform), operation).await?;
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT w.tenant_id, w.id FROM webhooks w JOIN audit_logs l ON l.tenant_id = w.tenant_id \
             WHERE l.size > w.delivered_through ORDER BY w.tenant_id, w.id",
        )
        .fetch_all(&mut *transaction)
        .await
        .during(operation)?;
        commit(transaction, operation).await?;
        rows.into_iter()
            .map(|(tenant_id, id)| {
                Ok((
                    TenantId::parse(&tenant_id)
                        .map_err(|error| corrupt(operation, "tenant_id", &tenant_id, error))?,
                    WebhookId::parse(&id).map_err(|error| corrupt(operation, "id", &id, error))?,
                ))
            })
            .collect()
    }
}
