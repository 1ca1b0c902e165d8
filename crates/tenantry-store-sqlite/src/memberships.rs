//! Memberships: a member's role on the tenant, a workspace or a group,
//! stored only as one relationship in the tenant's partition (see
//! `tenantry_core::membership`). The rules the relationship alone cannot
//! express, one role per member per resource and a last admin who cannot
//! leave, are checked here inside the write transaction, whose lock keeps
//! every other writer out between the check and the write. Every grant,
//! change and removal is recorded in the tenant's audit log.

use async_trait::async_trait;
use sqlx::SqliteConnection;
use tenantry_core::membership::removal_needs_another_admin;
use tenantry_core::relationship::{
    Relationship, member_of_subject, member_subject, membership_object, membership_relationship,
    timestamp_from_micros, timestamp_micros,
};
use tenantry_core::{
    ConflictCode, Error, GroupId, Member, Membership, MembershipResource, MembershipStore, Page, PageRequest,
    Result, Role, StoreLimits, TenantId, TenantScope, Timestamp, audit, now,
};

use crate::SqliteStore;
use crate::audit::{Write, WriteScope};
use crate::error::{Operation, map_database_error};
use crate::groups::GROUPS;
use crate::relationships::{Partition, RelationshipWriter};
use crate::rows::{self, RELATIONSHIP_COLUMNS};
use crate::service_accounts::user_standing;
use crate::tenants::tenant_exists;
use crate::workspaces::WORKSPACES;
use crate::{Connections, commit, overfetch_limit};

/// `'admin', 'editor', 'member'`: the role relations, as SQL literals (the
/// names are fixed identifiers, nothing to escape).
fn role_relations_sql(roles: &[Role]) -> String {
    let quoted: Vec<String> = roles.iter().map(|role| format!("'{}'", role.relation())).collect();
    quoted.join(", ")
}

/// A relationship that has not expired at `at` (expiry is exclusive: from
/// that instant on it grants nothing), as SQL over `expires_at` compared
/// with the parameter `?{parameter}`.
fn live_sql(parameter: usize) -> String {
    format!("(expires_at IS NULL OR expires_at > ?{parameter})")
}

/// Fails with the resource's kind when it is not in the tenant.
pub(crate) async fn require_resource(
    connection: &mut SqliteConnection,
    tenant_id: &TenantId,
    resource: &MembershipResource,
    operation: Operation,
) -> Result<()> {
    let exists = match resource {
        MembershipResource::Tenant => tenant_exists(connection, tenant_id, operation).await?,
        MembershipResource::Workspace(workspace_id) => {
            WORKSPACES.exists(connection, tenant_id, workspace_id, operation).await?
        }
        MembershipResource::Group(group_id) => {
            GROUPS.exists(connection, tenant_id, group_id, operation).await?
        }
    };
    if exists { Ok(()) } else { Err(Error::not_found(resource.kind())) }
}

/// Fails with [`Error::Invalid`] on `member` when the member does not
/// exist (a user anywhere, a group in the tenant), or is a user that may
/// not belong to the tenant ([`tenantry_core::UserStanding`]: a service
/// account of another tenant, or a deleted one).
async fn require_member(
    connection: &mut SqliteConnection,
    tenant_id: &TenantId,
    member: &Member,
    operation: Operation,
) -> Result<()> {
    match member {
        Member::User(user_id) => match user_standing(connection, tenant_id, user_id, operation).await? {
            Some(standing) => standing.check("member"),
            None => Err(Error::invalid("member", "no user with this id exists")),
        },
        Member::Group(group_id) => {
            if GROUPS.exists(connection, tenant_id, group_id, operation).await? {
                Ok(())
            } else {
                Err(Error::invalid("member", "no group with this id exists in this tenant"))
            }
        }
    }
}

/// The member's stored role relationships on the resource, expired ones
/// included, by relation: normally at most one.
async fn member_roles(
    connection: &mut SqliteConnection,
    tenant_id: &TenantId,
    resource: &MembershipResource,
    member: &Member,
    operation: Operation,
) -> Result<Vec<Relationship>> {
    let object = membership_object(tenant_id, resource);
    let subject = member_subject(member);
    let rows = sqlx::query(&format!(
        "SELECT {RELATIONSHIP_COLUMNS} FROM relationships \
         WHERE tenant_id = ?1 AND resource_type = ?2 AND resource_id = ?3 AND relation IN ({}) \
           AND subject_type = ?4 AND subject_id = ?5 AND subject_relation = ?6 \
         ORDER BY relation",
        role_relations_sql(Role::ALL)
    ))
    .bind(tenant_id.to_string())
    .bind(object.object_type())
    .bind(object.id())
    .bind(subject.object_ref().object_type())
    .bind(subject.object_ref().id())
    .bind(subject.relation().unwrap_or(""))
    .fetch_all(&mut *connection)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    rows.iter().map(rows::relationship).collect()
}

/// Whether the resource has a live admin other than `member` who is a user
/// that exists. An admin role held by a group does not count: its
/// membership changes without touching the resource, so it may be empty.
async fn has_other_live_admin(
    connection: &mut SqliteConnection,
    tenant_id: &TenantId,
    resource: &MembershipResource,
    member: &Member,
    at: Timestamp,
    operation: Operation,
) -> Result<bool> {
    let object = membership_object(tenant_id, resource);
    let subject = member_subject(member);
    sqlx::query_scalar(&format!(
        "SELECT EXISTS (SELECT 1 FROM relationships \
         WHERE tenant_id = ?1 AND resource_type = ?2 AND resource_id = ?3 AND relation = ?4 \
           AND NOT (subject_type = ?5 AND subject_id = ?6 AND subject_relation = ?7) AND {} \
           AND subject_type = 'user' AND subject_relation = '' \
           AND subject_id IN (SELECT id FROM users))",
        live_sql(8)
    ))
    .bind(tenant_id.to_string())
    .bind(object.object_type())
    .bind(object.id())
    .bind(Role::Admin.relation())
    .bind(subject.object_ref().object_type())
    .bind(subject.object_ref().id())
    .bind(subject.relation().unwrap_or(""))
    .bind(timestamp_micros(at))
    .fetch_one(&mut *connection)
    .await
    .map_err(|error| map_database_error(error, operation))
}

/// Refuses, with `LastAdmin`, a change that takes the roles `current_roles`
/// from `member` when the rule of [`removal_needs_another_admin`] asks for
/// another admin and no other user holds the admin role live (see
/// [`has_other_live_admin`]).
async fn refuse_removing_last_admin(
    connection: &mut SqliteConnection,
    tenant_id: &TenantId,
    resource: &MembershipResource,
    member: &Member,
    current_roles: &[Relationship],
    at: Timestamp,
    operation: Operation,
) -> Result<()> {
    if removal_needs_another_admin(&member_subject(member), current_roles, at)
        && !has_other_live_admin(connection, tenant_id, resource, member, at, operation).await?
    {
        return Err(Error::conflict(ConflictCode::LastAdmin));
    }
    Ok(())
}

/// See [`tenantry_core::MembershipStore::set_membership`].
pub(crate) async fn set_membership(
    pool: &Connections,
    limits: &StoreLimits,
    scope: &TenantScope,
    membership: Membership,
) -> Result<Membership> {
    let operation = Operation::SetMembership;
    let tenant_id = scope.tenant_id();
    let mut transaction = Write::begin(pool, WriteScope::Tenant(scope), operation).await?;
    // The write transaction excludes every other writer, so no concurrent
    // nesting can deepen the groups between this check and the commit.
    if let (MembershipResource::Group(container), Member::Group(nested)) =
        (membership.resource(), membership.member())
    {
        let at_most = limits.max_group_depth.get().saturating_add(1);
        let depth =
            group_nesting_depth(&mut transaction, tenant_id, (container, nested), at_most, operation).await?;
        limits.check_group_depth(depth)?;
    }
    let at = now();
    let mut writer =
        RelationshipWriter::begin(&mut transaction, Partition::Tenant(tenant_id), operation).await?;
    grant_membership(&mut transaction, &mut writer, tenant_id, &membership, at).await?;
    writer.finish(&mut transaction, at);
    transaction.commit().await?;
    Ok(membership)
}

/// The group nesting a new `group:G#role@group:H#member` would make, in
/// groups: the longest shortest route from a group containing G (G
/// included) down to G, one hop to H, and the longest shortest route from
/// H to a group nested in it, plus the two ends. Walks are over distinct
/// (group, hops) pairs and stop one hop past the limit, so a cycle (which
/// is allowed) ends the walk and the cost is at most groups times levels.
/// Every role counts, and expired relationships too: a conservative bound.
async fn group_nesting_depth(
    connection: &mut SqliteConnection,
    tenant_id: &TenantId,
    (container, nested): (&GroupId, &GroupId),
    at_most: u32,
    operation: Operation,
) -> Result<u64> {
    // ?2 the group walked from; the walk follows `subject -> resource`
    // upwards and `resource -> subject` downwards.
    let walk = |from: &str, to: &str| {
        format!(
            "WITH RECURSIVE walk (id, hops) AS ( \
                 SELECT ?2, 0 \
                 UNION \
                 SELECT r.{to}, walk.hops + 1 FROM relationships AS r JOIN walk ON r.{from} = walk.id \
                 WHERE r.tenant_id = ?1 AND r.resource_type = 'group' AND r.relation IN ({}) \
                   AND r.subject_type = 'group' AND r.subject_relation = 'member' AND walk.hops < ?3 \
             ) \
             SELECT COALESCE(max(shortest), 0) FROM (SELECT min(hops) AS shortest FROM walk GROUP BY id)",
            role_relations_sql(Role::ALL)
        )
    };
    let mut hops = 0;
    for (sql, from) in
        [(walk("subject_id", "resource_id"), container), (walk("resource_id", "subject_id"), nested)]
    {
        let longest: i64 = sqlx::query_scalar(&sql)
            .bind(tenant_id.to_string())
            .bind(from.to_string())
            .bind(i64::from(at_most))
            .fetch_one(&mut *connection)
            .await
            .map_err(|error| map_database_error(error, operation))?;
        hops += u64::try_from(longest).unwrap_or(0);
    }
    // Two ends and the new hop between them: hops + 2 groups.
    Ok(hops + 2)
}

/// Grants a membership inside the caller's write transaction, through its
/// partition writer, with every rule of
/// [`tenantry_core::MembershipStore::set_membership`]: the resource and the member
/// exist, the last admin is not demoted, and the member's other role on the
/// resource goes in the same revision as the new one arrives. Records the
/// grant's audit event (`membership.granted` or `membership.changed`), if
/// it changed anything.
pub(crate) async fn grant_membership(
    write: &mut Write,
    writer: &mut RelationshipWriter<'_>,
    tenant_id: &TenantId,
    membership: &Membership,
    at: Timestamp,
) -> Result<()> {
    let operation = write.operation();
    let connection: &mut SqliteConnection = write;
    let resource = membership.resource();
    let member = membership.member();
    require_resource(connection, tenant_id, resource, operation).await?;
    require_member(connection, tenant_id, member, operation).await?;
    let granted = membership_relationship(tenant_id, membership);
    let current_roles = member_roles(connection, tenant_id, resource, member, operation).await?;
    if membership.role() != Role::Admin {
        refuse_removing_last_admin(connection, tenant_id, resource, member, &current_roles, at, operation)
            .await?;
    }
    for other_role in current_roles.iter().filter(|stored| stored.relation() != granted.relation()) {
        writer.delete(connection, other_role).await?;
    }
    writer.touch(connection, &granted).await?;
    let before = current_roles.iter().find_map(|held| membership_of(resource, held));
    write.record_all(audit::membership_set(tenant_id, before.as_ref(), &as_stored(membership)?));
    Ok(())
}

/// The membership as stored: its expiry at the microseconds a relationship
/// keeps, which is what its audit events record.
fn as_stored(membership: &Membership) -> Result<Membership> {
    let expires_at =
        membership.expires_at().map(|expires_at| timestamp_from_micros(timestamp_micros(expires_at)));
    Membership::new(membership.resource().clone(), membership.member().clone(), membership.role(), expires_at)
}

/// Whether `member` holds a live role on the tenant itself, read inside
/// the caller's transaction.
pub(crate) async fn holds_tenant_role(
    connection: &mut SqliteConnection,
    tenant_id: &TenantId,
    member: &Member,
    at: Timestamp,
    operation: Operation,
) -> Result<bool> {
    let roles = member_roles(connection, tenant_id, &MembershipResource::Tenant, member, operation).await?;
    Ok(roles.iter().any(|role| role.expires_at().is_none_or(|expires_at| expires_at > timestamp_micros(at))))
}

/// See [`tenantry_core::MembershipStore::remove_membership`]: recorded as
/// `membership.revoked`.
pub(crate) async fn remove_membership(
    pool: &Connections,
    scope: &TenantScope,
    resource: &MembershipResource,
    member: &Member,
) -> Result<()> {
    let operation = Operation::RemoveMembership;
    let tenant_id = scope.tenant_id();
    let mut transaction = Write::begin(pool, WriteScope::Tenant(scope), operation).await?;
    require_resource(&mut transaction, tenant_id, resource, operation).await?;
    let current_roles = member_roles(&mut transaction, tenant_id, resource, member, operation).await?;
    if current_roles.is_empty() {
        return Err(Error::not_found("membership"));
    }
    let at = now();
    refuse_removing_last_admin(&mut transaction, tenant_id, resource, member, &current_roles, at, operation)
        .await?;
    let mut writer =
        RelationshipWriter::begin(&mut transaction, Partition::Tenant(tenant_id), operation).await?;
    for role in &current_roles {
        writer.delete(&mut transaction, role).await?;
    }
    writer.finish(&mut transaction, at);
    if let Some(removed) = current_roles.iter().find_map(|held| membership_of(resource, held)) {
        transaction.record(audit::membership_removed(tenant_id, &removed));
    }
    transaction.commit().await
}

/// The membership a role relationship on `resource` stands for, if it is
/// one: the relationships API can store role relations whose subject is no
/// member (an id that is not a user id, a group as a group's admin), and
/// those are neither listed nor recorded as memberships.
fn membership_of(resource: &MembershipResource, relationship: &Relationship) -> Option<Membership> {
    let member = member_of_subject(relationship.subject())?;
    let role = Role::from_relation(relationship.relation())?;
    let expires_at = relationship.expires_at().map(timestamp_from_micros);
    Membership::new(resource.clone(), member, role, expires_at).ok()
}

/// See [`tenantry_core::MembershipStore::list_memberships`]: the live role
/// relationships on the resource whose subject is a user or a group's
/// members, by `(subject_type, subject_id)`. Rows that are no membership
/// are skipped; the query then reads on from the last row it saw, so a
/// page is never cut short while more members follow.
pub(crate) async fn list_memberships(
    pool: &Connections,
    scope: &TenantScope,
    resource: &MembershipResource,
    page: PageRequest<Member>,
) -> Result<Page<Membership>> {
    let operation = Operation::ListMemberships;
    let tenant_id = scope.tenant_id();
    let mut transaction = pool.reads().begin().await.map_err(|error| map_database_error(error, operation))?;
    require_resource(&mut transaction, tenant_id, resource, operation).await?;
    let object = membership_object(tenant_id, resource);
    let sql = format!(
        "SELECT {RELATIONSHIP_COLUMNS} FROM relationships \
         WHERE tenant_id = ?1 AND resource_type = ?2 AND resource_id = ?3 AND relation IN ({}) \
           AND ((subject_type = 'user' AND subject_relation = '') \
                OR (subject_type = 'group' AND subject_relation = 'member')) \
           AND {} AND (subject_type, subject_id) > (?5, ?6) \
         ORDER BY subject_type, subject_id, relation LIMIT ?7",
        role_relations_sql(resource.roles()),
        live_sql(4),
    );
    let at = timestamp_micros(now());
    let (mut after_type, mut after_id) = match &page.after {
        Some(member) => (member.kind().to_owned(), member.id_string()),
        None => (String::new(), String::new()),
    };
    let wanted = overfetch_limit(page.limit);
    let mut memberships = Vec::new();
    loop {
        let rows = sqlx::query(&sql)
            .bind(tenant_id.to_string())
            .bind(object.object_type())
            .bind(object.id())
            .bind(at)
            .bind(&after_type)
            .bind(&after_id)
            .bind(wanted)
            .fetch_all(&mut *transaction)
            .await
            .map_err(|error| map_database_error(error, operation))?;
        for row in &rows {
            memberships.extend(membership_of(resource, &rows::relationship(row)?));
        }
        let read_everything = (rows.len() as i64) < wanted;
        let Some(last) = rows.last().filter(|_| !read_everything && (memberships.len() as i64) < wanted)
        else {
            break;
        };
        let last = rows::relationship(last)?;
        after_type = last.subject().object_ref().object_type().to_owned();
        after_id = last.subject().object_ref().id().to_owned();
    }
    commit(transaction, operation).await?;
    Ok(Page::from_overfetched(memberships, page.limit, |membership| membership.member().to_string()))
}

#[async_trait]
impl MembershipStore for SqliteStore {
    async fn set_membership(&self, scope: &TenantScope, membership: Membership) -> Result<Membership> {
        set_membership(&self.pool, &self.limits, scope, membership).await
    }

    async fn remove_membership(
        &self,
        scope: &TenantScope,
        resource: &MembershipResource,
        member: &Member,
    ) -> Result<()> {
        remove_membership(&self.pool, scope, resource, member).await
    }

    async fn list_memberships(
        &self,
        scope: &TenantScope,
        resource: &MembershipResource,
        page: PageRequest<Member>,
    ) -> Result<Page<Membership>> {
        list_memberships(&self.pool, scope, resource, page).await
    }
}
