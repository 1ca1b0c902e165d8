//! `/v1/relationships`: the caller's tenant's relationships, read and
//! written directly: for the types a platform adds to the schema (documents,
//! projects, ...) and for roles with an expiry.
//!
//! Writes are checked against the schema in force. The relationships that
//! describe tenantry's own structure (a workspace's tenant and parent, a
//! key's owner, ...) are written by tenantry alone and refused here; a role
//! on a tenant, workspace or group goes through the same rules as the
//! members routes (one role per member, the last admin stays, and a user
//! outside the tenant is invited rather than granted the role). Writing
//! needs `manage` on the resource for tenantry's types and on the tenant for
//! the others; relationships on `platform:main` need a platform admin.
//! Listing needs `manage` on the tenant.

use axum::Json;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use tenantry_authz::{ObjectRef, RefError, Relationship, SubjectRef};
use tenantry_core::relationship::{
    member_of_subject, names, object_types, tenant_object, timestamp_from_micros,
};
use tenantry_core::{
    Error, GroupId, InvitationLifetime, Invitee, Member, Membership, MembershipResource, NewInvitation,
    PageLimit, PageRequest, PartitionScope, RelationshipFilter, RelationshipWrite, Role, TenantScope,
    WorkspaceId,
};

use crate::ApiState;
use crate::auth::Caller;
use crate::dto::{
    DeleteRelationshipRequest, InvitationResponse, ListResponse, RelationshipDto, RelationshipListParams,
    WriteRelationshipRequest, WrittenRelationshipResponse,
};
use crate::error::{ApiError, ErrorCode, ErrorEnvelope};
use crate::extract::{JsonBody, page_limit_text};
use crate::routes::support::{self, Revisioned};

/// The query of `GET /v1/relationships`.
#[derive(Debug, Clone)]
pub(crate) struct RelationshipQuery {
    filter: RelationshipFilter,
    page: PageRequest<Relationship>,
}

impl FromRequestParts<ApiState> for RelationshipQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let Query(pairs) =
            Query::<Vec<(String, String)>>::from_request_parts(parts, state).await.map_err(|rejection| {
                ApiError::new(
                    ErrorCode::InvalidQuery,
                    format!("the query string cannot be decoded: {rejection}"),
                )
            })?;
        let mut filter = RelationshipFilter::default();
        let mut limit = None;
        let mut cursor = None;
        for (name, value) in pairs {
            let slot = match name.as_str() {
                "resource_type" => &mut filter.resource_type,
                "resource_id" => &mut filter.resource_id,
                "relation" => &mut filter.relation,
                "subject_type" => &mut filter.subject_type,
                "subject_id" => &mut filter.subject_id,
                "subject_relation" => &mut filter.subject_relation,
                "limit" => &mut limit,
                "cursor" => &mut cursor,
                _ => {
                    return Err(ApiError::for_field(
                        ErrorCode::UnknownField,
                        name,
                        "is not a query parameter of this list; use resource_type, resource_id, relation, subject_type, subject_id, subject_relation, limit and cursor",
                    ));
                }
            };
            if slot.replace(value).is_some() {
                return Err(ApiError::for_field(ErrorCode::InvalidField, name, "appears more than once"));
            }
        }
        let limit = page_limit_text(limit.as_deref(), state.config.max_page_size)?;
        let after = cursor
            .map(|text| {
                text.parse::<Relationship>().map_err(|_| {
                    ApiError::for_field(
                        ErrorCode::InvalidCursor,
                        "cursor",
                        "is not a cursor of this list; pass the previous page's `next_cursor` unchanged",
                    )
                })
            })
            .transpose()?;
        check_filter(&filter)?;
        Ok(Self { filter, page: PageRequest { limit, after } })
    }
}

/// Refuses a filter value no relationship can hold, naming its field: a
/// malformed value (one with a NUL, say, which PostgreSQL cannot even
/// compare) never reaches the database. The rules are the engine's own,
/// applied through its constructors with `_`, a valid name and id, in the
/// other places.
fn check_filter(filter: &RelationshipFilter) -> Result<(), ApiError> {
    const ANY: &str = "_";
    let invalid = |field: &'static str| {
        move |error: RefError| ApiError::for_field(ErrorCode::InvalidField, field, error)
    };
    let present = |field: &'static str, value: &Option<String>| value.clone().map(|value| (field, value));
    for (field, value) in
        [present("resource_type", &filter.resource_type), present("subject_type", &filter.subject_type)]
            .into_iter()
            .flatten()
    {
        ObjectRef::new(value, ANY).map_err(invalid(field))?;
    }
    for (field, value) in
        [present("resource_id", &filter.resource_id), present("subject_id", &filter.subject_id)]
            .into_iter()
            .flatten()
    {
        ObjectRef::new(ANY, value).map_err(invalid(field))?;
    }
    // An empty `subject_relation` asks for plain subjects.
    let subject_relation = filter.subject_relation.clone().filter(|relation| !relation.is_empty());
    for (field, value) in
        [present("relation", &filter.relation), present("subject_relation", &subject_relation)]
            .into_iter()
            .flatten()
    {
        let any_object = ObjectRef::new(ANY, ANY).map_err(invalid(field))?;
        SubjectRef::set(any_object, value).map_err(invalid(field))?;
    }
    Ok(())
}

/// Requires `manage` on the caller's tenant.
async fn require_tenant_manage(state: &ApiState, caller: &Caller) -> Result<(), ApiError> {
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

/// Lists the tenant's stored relationships matching the query, ordered by
/// resource, relation and subject; expired ones are listed until swept.
/// Needs `manage` on the tenant.
#[utoipa::path(
    get,
    path = "/v1/relationships",
    tag = "relationships",
    params(RelationshipListParams),
    responses(
        (status = 200, description = "One page of relationships", body = ListResponse<RelationshipDto>),
        (status = 403, description = "`forbidden`: needs `manage` on the tenant", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn list_relationships(
    State(state): State<ApiState>,
    caller: Caller,
    query: RelationshipQuery,
) -> Result<Json<ListResponse<RelationshipDto>>, ApiError> {
    require_tenant_manage(&state, &caller).await?;
    let partition = PartitionScope::Tenant(caller.tenant_scope().clone());
    let page = state.store.list_relationships(&partition, &query.filter, query.page).await?;
    Ok(Json(ListResponse {
        items: page.items.iter().map(RelationshipDto::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Where a relationship goes, decided by its resource and relation.
enum Destination {
    /// `platform:main`: the platform partition.
    Platform,
    /// A role on a tenant, workspace or group, held by a user or a group.
    Membership(MembershipResource, Member, Role),
    /// Anything else: the tenant's partition, as written.
    Tenant,
}

/// Sorts a relationship and checks the caller may write it.
async fn destination(
    state: &ApiState,
    caller: &Caller,
    relationship: &Relationship,
) -> Result<Destination, ApiError> {
    let resource = relationship.resource();
    let resource_type = resource.object_type();
    if resource_type == object_types::PLATFORM {
        if !caller.authenticated().has_platform_permission_for_change(state, names::ADMIN).await? {
            return Err(ApiError::forbidden(
                "only a platform admin may write relationships on `platform:main`",
            ));
        }
        return Ok(Destination::Platform);
    }
    if names::STRUCTURAL.contains(&(resource_type, relationship.relation())) {
        return Err(ApiError::for_field(
            ErrorCode::InvalidField,
            "relation",
            format!(
                "`{resource_type}#{}` describes tenantry's own structure and is written by tenantry alone",
                relationship.relation()
            ),
        ));
    }
    let scope = caller.tenant_scope();
    // Tenantry's own types are managed by their `manage`; the types a
    // platform adds, by the tenant's.
    let (object, kind, builtin) = match resource_type {
        object_types::TENANT => (resource.clone(), object_types::TENANT, true),
        object_types::WORKSPACE => (resource.clone(), object_types::WORKSPACE, true),
        object_types::GROUP => (resource.clone(), object_types::GROUP, true),
        _ => (tenant_object(scope.tenant_id()), object_types::TENANT, false),
    };
    state
        .authorizer
        .require(scope, &object, names::MANAGE, caller.user_id(), &caller.change_consistency(), kind)
        .await
        .map_err(|error| match error {
            Error::NotFound { .. } => ApiError::for_field(
                ErrorCode::InvalidField,
                "resource",
                format!("no such {kind} exists in this tenant"),
            ),
            other => other.into(),
        })?;
    if let (true, Some(role)) = (builtin, Role::from_relation(relationship.relation())) {
        // A role on a tenant, workspace or group is a membership, held by a
        // user or by a group's members, and kept by the membership rules.
        let member = member_of_subject(relationship.subject()).ok_or_else(|| {
            ApiError::for_field(
                ErrorCode::InvalidField,
                "subject",
                "a role is held by a user (`user:<user id>`) or by a group's members (`group:<group id>#member`)",
            )
        })?;
        return Ok(Destination::Membership(membership_resource(scope, resource)?, member, role));
    }
    Ok(Destination::Tenant)
}

fn membership_resource(scope: &TenantScope, resource: &ObjectRef) -> Result<MembershipResource, ApiError> {
    let invalid = || {
        ApiError::for_field(
            ErrorCode::InvalidField,
            "resource",
            format!("no such {} exists in this tenant", resource.object_type()),
        )
    };
    match resource.object_type() {
        object_types::TENANT if resource.id() == scope.tenant_id().to_string() => {
            Ok(MembershipResource::Tenant)
        }
        object_types::WORKSPACE => {
            WorkspaceId::parse(resource.id()).map(MembershipResource::Workspace).map_err(|_| invalid())
        }
        object_types::GROUP => {
            GroupId::parse(resource.id()).map(MembershipResource::Group).map_err(|_| invalid())
        }
        _ => Err(invalid()),
    }
}

/// Writes one relationship (or replaces its expiry) and returns it with the
/// revision that includes it.
#[utoipa::path(
    post,
    path = "/v1/relationships",
    tag = "relationships",
    request_body = WriteRelationshipRequest,
    responses(
        (status = 201, description = "The relationship as stored", body = WrittenRelationshipResponse),
        (status = 202, description = "A role on the tenant, a workspace or a group for a user who is not yet a member of the tenant: invited instead, and granted nothing until they accept; the same answer whether or not the user exists; writing it again while the invitation is pending answers with it unchanged", body = InvitationResponse),
        (status = 403, description = "`forbidden`: needs `manage` on the resource (or tenant)", body = ErrorEnvelope),
        (status = 409, description = "`last_admin`: the write would demote the last admin; `invitation_pending`: a pending invitation already offers this user (or address) another role here (the same role answers 202 with that invitation, unchanged)", body = ErrorEnvelope),
        (status = 422, description = "`invalid_field`: the schema does not allow it, the expiry is past, or tenantry writes this relation itself; `too_many_pending_invitations`: the tenant has as many pending invitations as the server allows (`--max-pending-invitations`)", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn write_relationship(
    State(state): State<ApiState>,
    caller: Caller,
    JsonBody(request): JsonBody<WriteRelationshipRequest>,
) -> Result<Response, ApiError> {
    let relationship = request.parse()?;
    let scope = caller.tenant_scope();
    let token = match destination(&state, &caller, &relationship).await? {
        Destination::Platform => {
            let write = RelationshipWrite { touch: vec![relationship.clone()], delete: Vec::new() };
            state.authorizer.write_platform_relationships(write).await?;
            state.authorizer.synced(scope).await?
        }
        Destination::Membership(resource, member, role) => {
            if request.expires_at.is_some_and(|expires_at| expires_at <= tenantry_core::now()) {
                return Err(ApiError::for_field(
                    ErrorCode::InvalidField,
                    "expires_at",
                    "must be in the future",
                ));
            }
            // A role for a user outside the tenant is an invitation, as on
            // the members routes.
            if let Member::User(target) = &member
                && !support::may_grant_directly(&state, caller.authenticated(), scope, target).await?
            {
                if request.expires_at.is_some() {
                    return Err(support::invitation_expiry_refused());
                }
                let invitation = NewInvitation::new(
                    resource,
                    role,
                    Invitee::User(target.clone()),
                    caller.user_id().clone(),
                    InvitationLifetime::default_lifetime(),
                )?;
                return support::invite(&state, scope, invitation).await;
            }
            let expires_at = relationship.expires_at().map(timestamp_from_micros);
            state.store.set_membership(scope, Membership::new(resource, member, role, expires_at)?).await?;
            state.authorizer.synced(scope).await?
        }
        Destination::Tenant => {
            let write = RelationshipWrite { touch: vec![relationship.clone()], delete: Vec::new() };
            state.authorizer.write_relationships(scope, write).await?
        }
    };
    tracing::info!(tenant_id = %scope.tenant_id(), relationship = %relationship, "relationship written");
    let response =
        WrittenRelationshipResponse { relationship: (&relationship).into(), revision: token.to_string() };
    Ok((StatusCode::CREATED, Revisioned(token, Json(response))).into_response())
}

/// Deletes one relationship; it grants nothing from the returned revision on.
#[utoipa::path(
    delete,
    path = "/v1/relationships",
    tag = "relationships",
    request_body = DeleteRelationshipRequest,
    responses(
        (status = 204, description = "The relationship is deleted"),
        (status = 403, description = "`forbidden`: needs `manage` on the resource (or tenant)", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such relationship is stored", body = ErrorEnvelope),
        (status = 409, description = "`last_admin`: the relationship is the last admin", body = ErrorEnvelope),
        (status = 422, description = "`invalid_field`: tenantry writes this relation itself", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn delete_relationship(
    State(state): State<ApiState>,
    caller: Caller,
    JsonBody(request): JsonBody<DeleteRelationshipRequest>,
) -> Result<Revisioned<StatusCode>, ApiError> {
    let relationship = request.parse()?;
    let scope = caller.tenant_scope();
    let destination = destination(&state, &caller, &relationship).await?;
    let partition = match destination {
        Destination::Platform => PartitionScope::Platform(caller.authenticated().platform_scope()),
        _ => PartitionScope::Tenant(scope.clone()),
    };
    if !is_stored(&state, &partition, &relationship).await? {
        return Err(ApiError::not_found("relationship"));
    }
    let token = match destination {
        Destination::Platform => {
            let write = RelationshipWrite { touch: Vec::new(), delete: vec![relationship.clone()] };
            state.authorizer.write_platform_relationships(write).await?;
            state.authorizer.synced(scope).await?
        }
        Destination::Membership(resource, member, _) => {
            state.store.remove_membership(scope, &resource, &member).await?;
            state.authorizer.synced(scope).await?
        }
        Destination::Tenant => {
            let write = RelationshipWrite { touch: Vec::new(), delete: vec![relationship.clone()] };
            state.authorizer.write_relationships(scope, write).await?
        }
    };
    tracing::info!(tenant_id = %scope.tenant_id(), relationship = %relationship, "relationship deleted");
    Ok(Revisioned(token, StatusCode::NO_CONTENT))
}

async fn is_stored(
    state: &ApiState,
    partition: &PartitionScope,
    relationship: &Relationship,
) -> Result<bool, ApiError> {
    let filter = RelationshipFilter::between(
        relationship.resource(),
        Some(relationship.relation()),
        relationship.subject(),
    );
    let page = PageRequest { limit: PageLimit::new(1).expect("valid literal"), after: None };
    Ok(!state.store.list_relationships(partition, &filter, page).await?.items.is_empty())
}
