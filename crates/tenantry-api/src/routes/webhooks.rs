//! `/v1/webhooks`: the webhook subscriptions of the caller's tenant, their
//! delivery log, and a test delivery. Every route needs `manage` on the
//! tenant (its admins): a subscription's target and log are its admins'
//! business. The signing secret is in the creation's response only.
//!
//! Deliveries of audit events go through the job queue, which is not wired
//! yet; `POST /v1/webhooks/{id}/test` makes one signed delivery now.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use tenantry_core::relationship::{names, tenant_object};
use tenantry_core::webhook::{DeliveryRecord, RetrySchedule, TargetPolicy, WebhookMessage};
use tenantry_core::{EventTypes, NewWebhook, WebhookDeliveryId, WebhookId, WebhookUrl};

use crate::ApiState;
use crate::auth::Caller;
use crate::dto::{
    CreateWebhookRequest, CreatedWebhookResponse, ListParams, ListResponse, WebhookDeliveryResponse,
    WebhookResponse,
};
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{JsonBody, ListQuery, PathId};
use crate::webhook_delivery::deliver_once;

/// Requires `manage` on the caller's tenant, with a change's consistency.
async fn require_tenant_admin(state: &ApiState, caller: &Caller) -> Result<(), ApiError> {
    let scope = caller.tenant_scope();
    state
        .authorizer
        .require(
            scope,
            &tenant_object(scope.tenant_id()),
            names::MANAGE,
            caller.user_id(),
            &caller.change_consistency(),
            "tenant",
        )
        .await?;
    Ok(())
}

/// The target policy the server was started with.
fn target_policy(state: &ApiState) -> TargetPolicy {
    TargetPolicy { allow_private: state.config.webhook_allow_private_targets }
}

/// Subscribes an endpoint to audit actions of the caller's tenant. The
/// response carries the signing secret, which is never shown again. Needs
/// `manage` on the tenant.
#[utoipa::path(
    post,
    path = "/v1/webhooks",
    tag = "webhooks",
    request_body = CreateWebhookRequest,
    responses(
        (status = 201, description = "The subscription, with its signing secret", body = CreatedWebhookResponse),
        (status = 403, description = "`forbidden`: webhooks need `manage` on the tenant", body = ErrorEnvelope),
        (status = 422, description = "`invalid_field`: a bad `url` (not https, a private target) or `event_types`", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn create_webhook(
    State(state): State<ApiState>,
    caller: Caller,
    JsonBody(request): JsonBody<CreateWebhookRequest>,
) -> Result<(StatusCode, Json<CreatedWebhookResponse>), ApiError> {
    let url = WebhookUrl::parse(&request.url, target_policy(&state))?;
    let event_types = EventTypes::parse(&request.event_types)?;
    require_tenant_admin(&state, &caller).await?;
    let new = NewWebhook {
        url,
        event_types,
        description: request.description,
        created_by: Some(caller.user_id().clone()),
    };
    let (webhook, secret) = state.store.create_webhook(caller.tenant_scope(), new).await?;
    tracing::info!(tenant_id = %webhook.tenant_id, webhook_id = %webhook.id, "webhook created");
    let response = CreatedWebhookResponse { webhook: webhook.into(), secret: secret.expose() };
    Ok((StatusCode::CREATED, Json(response)))
}

/// Lists the webhook subscriptions of the caller's tenant, by id. Needs
/// `manage` on the tenant.
#[utoipa::path(
    get,
    path = "/v1/webhooks",
    tag = "webhooks",
    params(ListParams),
    responses(
        (status = 200, description = "One page of subscriptions", body = ListResponse<WebhookResponse>),
        (status = 403, description = "`forbidden`: webhooks need `manage` on the tenant", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn list_webhooks(
    State(state): State<ApiState>,
    caller: Caller,
    ListQuery(page_request): ListQuery<WebhookId>,
) -> Result<Json<ListResponse<WebhookResponse>>, ApiError> {
    require_tenant_admin(&state, &caller).await?;
    let page = state.store.list_webhooks(caller.tenant_scope(), page_request).await?;
    Ok(Json(ListResponse::from_page(page)))
}

/// Reads a webhook subscription of the caller's tenant (never its secret).
/// Needs `manage` on the tenant.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "The subscription's id")),
    responses(
        (status = 200, description = "The subscription", body = WebhookResponse),
        (status = 404, description = "`not_found`: no such subscription in the caller's tenant", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn get_webhook(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(id): PathId<WebhookId>,
) -> Result<Json<WebhookResponse>, ApiError> {
    require_tenant_admin(&state, &caller).await?;
    let webhook = state.store.get_webhook(caller.tenant_scope(), &id).await?;
    Ok(Json(webhook.into()))
}

/// Deletes a webhook subscription and its delivery log. Needs `manage` on
/// the tenant.
#[utoipa::path(
    delete,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "The subscription's id")),
    responses(
        (status = 204, description = "The subscription and its delivery log are deleted"),
        (status = 404, description = "`not_found`: no such subscription in the caller's tenant", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn delete_webhook(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(id): PathId<WebhookId>,
) -> Result<StatusCode, ApiError> {
    require_tenant_admin(&state, &caller).await?;
    state.store.delete_webhook(caller.tenant_scope(), &id).await?;
    tracing::info!(tenant_id = %caller.tenant_id(), webhook_id = %id, "webhook deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Lists a subscription's delivery attempts, oldest first. Needs `manage`
/// on the tenant.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}/deliveries",
    tag = "webhooks",
    params(("id" = String, Path, description = "The subscription's id"), ListParams),
    responses(
        (status = 200, description = "One page of delivery attempts", body = ListResponse<WebhookDeliveryResponse>),
        (status = 404, description = "`not_found`: no such subscription in the caller's tenant", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn list_webhook_deliveries(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(id): PathId<WebhookId>,
    ListQuery(page_request): ListQuery<WebhookDeliveryId>,
) -> Result<Json<ListResponse<WebhookDeliveryResponse>>, ApiError> {
    require_tenant_admin(&state, &caller).await?;
    let page = state.store.list_deliveries(caller.tenant_scope(), &id, page_request).await?;
    Ok(Json(ListResponse::from_page(page)))
}

/// Sends one signed `webhook.test` message to the subscription now,
/// records the attempt in its delivery log and answers it (200 whatever
/// the receiver said: the attempt is the result). A failed test is not
/// retried. Needs `manage` on the tenant.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/test",
    tag = "webhooks",
    params(("id" = String, Path, description = "The subscription's id")),
    responses(
        (status = 200, description = "The recorded attempt", body = WebhookDeliveryResponse),
        (status = 404, description = "`not_found`: no such subscription in the caller's tenant", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn test_webhook(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(id): PathId<WebhookId>,
) -> Result<Json<WebhookDeliveryResponse>, ApiError> {
    require_tenant_admin(&state, &caller).await?;
    let scope = caller.tenant_scope();
    let (webhook, secret) = state.store.webhook_secret(scope, &id).await?;
    let attempted_at = tenantry_core::now();
    let message = WebhookMessage::test(&webhook, attempted_at);
    let outcome =
        deliver_once(&state.webhook_client, target_policy(&state), &webhook, &secret, &message).await;
    // Were it a message of the log, a failure would be tried again on the
    // schedule; the log shows when.
    let next_attempt_at =
        if outcome.succeeded() { None } else { RetrySchedule.next_attempt_at(attempted_at, 1, attempted_at) };
    let record = DeliveryRecord {
        message_id: message.id,
        event_seq: message.event_seq,
        action: message.event_type,
        attempt: 1,
        attempted_at,
        outcome,
        next_attempt_at,
    };
    let delivery = state.store.record_delivery(scope, &id, record).await?;
    tracing::info!(
        tenant_id = %caller.tenant_id(),
        webhook_id = %id,
        status = ?delivery.record.outcome.status,
        succeeded = delivery.record.outcome.succeeded(),
        "webhook test delivered"
    );
    Ok(Json(delivery.into()))
}
