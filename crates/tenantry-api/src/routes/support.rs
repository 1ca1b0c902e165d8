//! What several handlers share: the revision header on responses, the
//! member path, lists filtered by what the caller may view, and the
//! members routes of tenants, workspaces and groups.

use std::num::NonZeroUsize;
use std::str::FromStr;

use axum::Json;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tenantry_authz::{Cursor, LookupResources};
use tenantry_core::relationship::{
    member_subject, membership_object, names, tenant_object, timestamp_micros, user_subject,
};
use tenantry_core::{
    Consistency, Error, GroupId, IdError, Invitee, Member, Membership, MembershipResource, NewInvitation,
    Page, PageRequest, RelationshipFilter, RevisionToken, Role, TenantScope, UserId,
};

use crate::ApiState;
use crate::auth::{Authenticated, REVISION_HEADER};
use crate::dto::{
    AddMemberRequest, InvitationResponse, ListResponse, MemberReference, MemberResponse, UpdateMemberRequest,
};
use crate::error::{ApiError, ErrorCode};

/// A response with the revision it reflects in `x-tenantry-revision`.
#[derive(Debug)]
pub(crate) struct Revisioned<T>(pub RevisionToken, pub T);

impl<T: IntoResponse> IntoResponse for Revisioned<T> {
    fn into_response(self) -> Response {
        let mut response = self.1.into_response();
        if let Ok(value) = HeaderValue::from_str(&self.0.to_string()) {
            response.headers_mut().insert(REVISION_HEADER, value);
        }
        response
    }
}

/// A member in a path: `usr_...` for a user, `grp_...` for a group.
pub(crate) fn parse_member(text: &str) -> Result<Member, ApiError> {
    if let Ok(user_id) = UserId::parse(text) {
        return Ok(Member::User(user_id));
    }
    GroupId::parse(text).map(Member::Group).map_err(|_| {
        ApiError::for_field(
            ErrorCode::InvalidId,
            "member_id",
            "must be a user id (`usr_...`) or a group id (`grp_...`)",
        )
    })
}

/// The `{id}` and `{member_id}` segments of a `.../{id}/members/{member_id}`
/// path.
#[derive(Debug, Clone)]
pub(crate) struct MemberPath<Id> {
    pub(crate) id: Id,
    pub(crate) member: Member,
}

impl<Id, S> FromRequestParts<S> for MemberPath<Id>
where
    Id: FromStr<Err = IdError> + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path((id, member)) =
            Path::<(String, String)>::from_request_parts(parts, state).await.map_err(|_| {
                ApiError::for_field(ErrorCode::InvalidId, "id", "is not valid percent-encoded UTF-8")
            })?;
        let id =
            id.parse().map_err(|error: IdError| ApiError::for_field(ErrorCode::InvalidId, "id", error))?;
        Ok(Self { id, member: parse_member(&member)? })
    }
}

/// One page of the ids of `resource_type` objects the user may view, as
/// the engine finds them (complete, ascending), and the revision.
pub(crate) async fn viewable_ids<Id: std::fmt::Display>(
    state: &ApiState,
    scope: &TenantScope,
    user_id: &UserId,
    consistency: &Consistency,
    resource_type: &str,
    page: &PageRequest<Id>,
) -> Result<(Vec<String>, Option<String>, RevisionToken), ApiError> {
    let subject = user_subject(user_id);
    let after = page.after.as_ref().map(|after| Cursor::new(after.to_string()));
    let limit = NonZeroUsize::new(page.limit.get() as usize).expect("a page limit is at least 1");
    let (found, token) = state
        .authorizer
        .evaluate(scope, consistency, |engine| {
            engine.lookup_resources(&LookupResources {
                resource_type,
                permission: names::VIEW,
                subject: &subject,
                after: after.as_ref(),
                limit,
            })
        })
        .await?;
    let found = found.map_err(tenantry_core::authorizer::eval_error)?;
    let ids = found.items.iter().map(|object| object.id().to_owned()).collect();
    Ok((ids, found.next.map(|cursor| cursor.as_str().to_owned()), token))
}

/// Parses ids the engine returned; an id that is not of the kind (a
/// relationship written by hand) is skipped.
pub(crate) fn parse_ids<Id: FromStr>(ids: &[String]) -> Vec<Id> {
    ids.iter().filter_map(|id| id.parse().ok()).collect()
}

/// The page the engine's ids and the store's rows make.
pub(crate) fn page_of<T>(items: Vec<T>, next_cursor: Option<String>) -> Page<T> {
    Page { items, next_cursor }
}

fn expiry_in_future(expires_at: Option<chrono::DateTime<chrono::Utc>>) -> Result<(), ApiError> {
    match expires_at {
        Some(expires_at) if expires_at <= tenantry_core::now() => {
            Err(ApiError::for_field(ErrorCode::InvalidField, "expires_at", "must be in the future"))
        }
        _ => Ok(()),
    }
}

async fn member_responses(
    state: &ApiState,
    memberships: &[Membership],
) -> Result<Vec<MemberResponse>, ApiError> {
    let user_ids: Vec<UserId> = memberships
        .iter()
        .filter_map(|membership| match membership.member() {
            Member::User(user_id) => Some(user_id.clone()),
            Member::Group(_) => None,
        })
        .collect();
    let users = if user_ids.is_empty() { Vec::new() } else { state.store.users_by_ids(&user_ids).await? };
    Ok(memberships
        .iter()
        .map(|membership| {
            let user = match membership.member() {
                Member::User(user_id) => users.iter().find(|user| &user.id == user_id),
                Member::Group(_) => None,
            };
            MemberResponse::new(membership, user)
        })
        .collect())
}

/// `GET .../members`: needs `view` on the resource.
pub(crate) async fn list_members(
    state: &ApiState,
    scope: &TenantScope,
    resource: MembershipResource,
    user_id: &UserId,
    consistency: &Consistency,
    page: PageRequest<Member>,
) -> Result<Revisioned<Json<ListResponse<MemberResponse>>>, ApiError> {
    let object = membership_object(scope.tenant_id(), &resource);
    let token =
        state.authorizer.require(scope, &object, names::VIEW, user_id, consistency, resource.kind()).await?;
    let page = state.store.list_memberships(scope, &resource, page).await?;
    let items = member_responses(state, &page.items).await?;
    Ok(Revisioned(token, Json(ListResponse { items, next_cursor: page.next_cursor })))
}

/// `POST .../members`: needs `manage` on the resource.
///
/// A group of the tenant, and a user who is already a member of the tenant,
/// get the role at once (201 with the member). A user who is not (named by
/// `user_id` or `email`) is invited instead (202 with the invitation):
/// nothing is granted until they accept, and the answer is the same whether
/// or not the id belongs to anyone, so that it tells the inviter nothing
/// about users outside their tenant. Platform admins, who see every user
/// anyway, grant to any user id directly.
///
/// Naming the member by username needs a platform admin: usernames are
/// global and chosen by their users (an OIDC user's comes from their
/// token), so a tenant's admin could otherwise probe which usernames exist
/// in other tenants, or grant a role to whoever took a name first.
pub(crate) async fn add_member(
    state: &ApiState,
    scope: &TenantScope,
    resource: MembershipResource,
    caller: &Authenticated,
    request: AddMemberRequest,
) -> Result<Response, ApiError> {
    let user_id = caller.user_id();
    // A change: the read its credentials were checked with, or the newest.
    let consistency = caller.change_consistency();
    let object = membership_object(scope.tenant_id(), &resource);
    let kind = resource.kind();
    state.authorizer.require(scope, &object, names::MANAGE, user_id, &consistency, kind).await?;
    expiry_in_future(request.expires_at)?;
    let lifetime = request.invitation_lifetime()?;
    let invitee = match request.member()? {
        MemberReference::Member(Member::Group(group_id)) => {
            let membership =
                Membership::new(resource, Member::Group(group_id), request.role, request.expires_at)?;
            return grant(state, scope, membership).await;
        }
        MemberReference::Member(Member::User(target)) => {
            if may_grant_directly(state, caller, scope, &target).await? {
                let membership =
                    Membership::new(resource, Member::User(target), request.role, request.expires_at)?;
                return grant(state, scope, membership).await;
            }
            Invitee::User(target)
        }
        MemberReference::Email(email) => Invitee::Email(email),
        MemberReference::Username(_)
            if !caller.has_platform_permission_for_change(state, names::ADMIN).await? =>
        {
            return Err(ApiError::forbidden(
                "only a platform admin may name a member by username; name them by `user_id` (GET /v1/me shows a user their id)",
            ));
        }
        MemberReference::Username(username) => match state.store.find_user_by_username(&username).await? {
            Some(user) => {
                let membership =
                    Membership::new(resource, Member::User(user.id), request.role, request.expires_at)?;
                return grant(state, scope, membership).await;
            }
            None => {
                return Err(ApiError::for_field(
                    ErrorCode::InvalidField,
                    "username",
                    "no user with this username exists",
                ));
            }
        },
    };
    if request.expires_at.is_some() {
        return Err(invitation_expiry_refused());
    }
    invite(state, scope, NewInvitation::new(resource, request.role, invitee, user_id.clone(), lifetime)?)
        .await
}

/// The error for a role expiry on a request that makes an invitation.
pub(crate) fn invitation_expiry_refused() -> ApiError {
    ApiError::for_field(
        ErrorCode::InvalidField,
        "expires_at",
        "applies to members of the tenant only; this user is invited instead, and a role they accept does not lapse (change it once they are a member)",
    )
}

/// Whether a role may be granted to `target` at once rather than by
/// invitation: they already hold a role on the tenant (directly or through
/// a group), or the caller is a platform admin. The caller's `manage` was
/// just checked fully consistently, so the index is fresh for the first
/// question; the second reads the platform's newest state.
pub(crate) async fn may_grant_directly(
    state: &ApiState,
    caller: &Authenticated,
    scope: &TenantScope,
    target: &UserId,
) -> Result<bool, ApiError> {
    let tenant = tenant_object(scope.tenant_id());
    let subject = user_subject(target);
    let (is_member, _) = state
        .authorizer
        .evaluate(scope, &Consistency::MinimizeLatency, |engine| -> Result<bool, Error> {
            let holds = |relation| {
                engine.check(&tenant, relation, &subject).map_err(tenantry_core::authorizer::eval_error)
            };
            Ok(holds(names::MEMBER)? || holds(names::ADMIN)?)
        })
        .await?;
    if is_member? {
        return Ok(true);
    }
    caller.has_platform_permission_for_change(state, names::ADMIN).await
}

/// Grants a membership directly: 201 with the member as stored.
async fn grant(state: &ApiState, scope: &TenantScope, membership: Membership) -> Result<Response, ApiError> {
    let object = membership_object(scope.tenant_id(), membership.resource());
    let stored = state.store.set_membership(scope, membership).await?;
    let token = state.authorizer.synced(scope).await?;
    tracing::info!(
        tenant_id = %scope.tenant_id(),
        resource = %object,
        member = %stored.member(),
        role = %stored.role(),
        "membership granted"
    );
    let response = member_responses(state, std::slice::from_ref(&stored)).await?.remove(0);
    Ok((StatusCode::CREATED, Revisioned(token, Json(response))).into_response())
}

/// Stores an invitation: 202 with it, or with the pending invitation to
/// the same invitee for the same role on the resource, unchanged (the
/// store decides, inside its transaction). No relationship is written, so
/// there is no revision to return.
pub(crate) async fn invite(
    state: &ApiState,
    scope: &TenantScope,
    new_invitation: NewInvitation,
) -> Result<Response, ApiError> {
    let object = membership_object(scope.tenant_id(), new_invitation.resource());
    let invitation = state.store.create_invitation(scope, new_invitation).await?;
    tracing::info!(
        tenant_id = %scope.tenant_id(),
        invitation_id = %invitation.id,
        resource = %object,
        role = %invitation.role,
        created_at = %invitation.created_at,
        "invitation pending"
    );
    let response = InvitationResponse::new(invitation, tenantry_core::now());
    Ok((StatusCode::ACCEPTED, Json(response)).into_response())
}

/// Whether `member` holds a role on `resource` now, read from the store.
async fn has_role(
    state: &ApiState,
    scope: &TenantScope,
    resource: &MembershipResource,
    member: &Member,
) -> Result<bool, ApiError> {
    let object = membership_object(scope.tenant_id(), resource);
    let filter = RelationshipFilter::between(&object, None, &member_subject(member));
    let partition = tenantry_core::PartitionScope::Tenant(scope.clone());
    let now = timestamp_micros(tenantry_core::now());
    let page = PageRequest { limit: tenantry_core::PageLimit::new(10).expect("valid literal"), after: None };
    let found = state.store.list_relationships(&partition, &filter, page).await?;
    Ok(found.items.iter().any(|relationship| {
        Role::from_relation(relationship.relation()).is_some_and(|role| resource.roles().contains(&role))
            && relationship.expires_at().is_none_or(|expires_at| expires_at > now)
    }))
}

/// `PATCH .../members/{member_id}`: needs `manage`; the member must hold a
/// role there already.
pub(crate) async fn update_member(
    state: &ApiState,
    scope: &TenantScope,
    resource: MembershipResource,
    member: Member,
    caller: &Authenticated,
    request: UpdateMemberRequest,
) -> Result<Revisioned<Json<MemberResponse>>, ApiError> {
    let user_id = caller.user_id();
    // A change: the read its credentials were checked with, or the newest.
    let consistency = caller.change_consistency();
    let object = membership_object(scope.tenant_id(), &resource);
    let kind = resource.kind();
    state.authorizer.require(scope, &object, names::MANAGE, user_id, &consistency, kind).await?;
    expiry_in_future(request.expires_at)?;
    if !has_role(state, scope, &resource, &member).await? {
        return Err(ApiError::not_found("membership"));
    }
    let membership = Membership::new(resource, member, request.role, request.expires_at)?;
    let stored = state.store.set_membership(scope, membership).await?;
    let token = state.authorizer.synced(scope).await?;
    tracing::info!(tenant_id = %scope.tenant_id(), resource = %object, member = %stored.member(), role = %stored.role(), "membership changed");
    let response = member_responses(state, std::slice::from_ref(&stored)).await?.remove(0);
    Ok(Revisioned(token, Json(response)))
}

/// `DELETE .../members/{member_id}`: needs `manage`, except that a user may
/// always leave (remove their own role) if they can see the resource.
pub(crate) async fn remove_member(
    state: &ApiState,
    scope: &TenantScope,
    resource: MembershipResource,
    member: Member,
    caller: &Authenticated,
) -> Result<Revisioned<StatusCode>, ApiError> {
    let user_id = caller.user_id();
    // A change: the read its credentials were checked with, or the newest.
    let consistency = caller.change_consistency();
    let object = membership_object(scope.tenant_id(), &resource);
    let kind = resource.kind();
    let leaving = member == Member::User(user_id.clone());
    let permission = if leaving { names::VIEW } else { names::MANAGE };
    state.authorizer.require(scope, &object, permission, user_id, &consistency, kind).await?;
    state.store.remove_membership(scope, &resource, &member).await.map_err(|error| match error {
        Error::NotFound { resource: "membership" } => ApiError::not_found("membership"),
        other => other.into(),
    })?;
    let token = state.authorizer.synced(scope).await?;
    tracing::info!(tenant_id = %scope.tenant_id(), resource = %object, member = %member, "membership removed");
    Ok(Revisioned(token, StatusCode::NO_CONTENT))
}

/// The pagination query of a members list: the cursor is a member
/// (`user:usr_...` or `group:grp_...`).
pub(crate) fn member_page(page: PageRequest<MemberCursor>) -> PageRequest<Member> {
    PageRequest { limit: page.limit, after: page.after.map(|cursor| cursor.0) }
}

/// A members list cursor, parsed like an id so the list extractor can take it.
#[derive(Debug, Clone)]
pub(crate) struct MemberCursor(Member);

impl FromStr for MemberCursor {
    type Err = IdError;

    fn from_str(text: &str) -> Result<Self, IdError> {
        text.parse::<Member>().map(MemberCursor).map_err(|_| IdError { kind: "member", prefix: "user:usr" })
    }
}
