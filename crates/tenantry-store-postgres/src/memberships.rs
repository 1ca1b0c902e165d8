//! Memberships on PostgreSQL. A membership is one role relationship
//! (`<resource>#<role>@user:<id>` or `...@group:<id>#member`) and nothing
//! else; the rules the relationship alone cannot keep (one role per member
//! per resource, the last admin stays) are checked here, under the
//! partition's lock, so no concurrent writer can slip between a check and
//! the write it permits.

use async_trait::async_trait;
use sqlx::PgConnection;
use tenantry_core::membership::{is_live, removal_needs_another_admin};
use tenantry_core::relationship::{self, ObjectRef, Relationship, SubjectRef, names};
use tenantry_core::{
    ConflictCode, Error, GroupId, Member, Membership, MembershipResource, Page, PageRequest, Result, Role,
    TenantId, TenantScope, Timestamp,
};
use tenantry_core::{MembershipStore, audit};

use crate::PostgresStore;
use crate::audit::{Write, WriteScope};
use crate::error::{DatabaseResultExt, Operation};
use crate::partition::{Partition, PartitionWriter};
use crate::rows::{self, relationship_columns};
use crate::service_accounts::user_standing;
use crate::store::{TransactionScope, commit, overfetch_limit};

/// Every relation that stores a role, on any kind of resource: a member's
/// other roles are found and replaced by these.
fn role_relations() -> Vec<&'static str> {
    Role::ALL.iter().map(|role| role.relation()).collect()
}

/// Fails with `NotFound` naming the resource's kind unless it exists in the
/// tenant.
pub(crate) async fn require_resource(
    connection: &mut PgConnection,
    tenant_id: &TenantId,
    resource: &MembershipResource,
    operation: Operation,
) -> Result<()> {
    let tenant_id = tenant_id.to_string();
    let query = match resource {
        MembershipResource::Tenant => {
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM tenants WHERE id = $1)").bind(&tenant_id)
        }
        MembershipResource::Workspace(workspace_id) => {
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM workspaces WHERE tenant_id = $1 AND id = $2)")
                .bind(&tenant_id)
                .bind(workspace_id.to_string())
        }
        MembershipResource::Group(group_id) => {
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM groups WHERE tenant_id = $1 AND id = $2)")
                .bind(&tenant_id)
                .bind(group_id.to_string())
        }
    };
    let exists: bool = query.fetch_one(&mut *connection).await.during(operation)?;
    if exists { Ok(()) } else { Err(Error::not_found(resource.kind())) }
}

/// Fails with `Invalid` on `member` unless the member exists (a user of the
/// deployment, or a group of the tenant) and, a user, may belong to the
/// tenant ([`tenantry_core::UserStanding`]: not a service account of
/// another tenant, nor a deleted one).
async fn require_member(
    connection: &mut PgConnection,
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
            let exists: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM groups WHERE tenant_id = $1 AND id = $2)")
                    .bind(tenant_id.to_string())
                    .bind(group_id.to_string())
                    .fetch_one(&mut *connection)
                    .await
                    .during(operation)?;
            if exists {
                Ok(())
            } else {
                Err(Error::invalid("member", "no group with this id exists in this tenant"))
            }
        }
    }
}

/// The role relationships `subject` holds on `resource`, expired ones
/// included: one, unless written around the store.
async fn held_roles(
    connection: &mut PgConnection,
    tenant_id: &TenantId,
    resource: &ObjectRef,
    subject: &SubjectRef,
    operation: Operation,
) -> Result<Vec<Relationship>> {
    let found = sqlx::query(concat!(
        "SELECT ",
        relationship_columns!(),
        " FROM relationships WHERE tenant_id = $1 AND resource_type = $2 AND resource_id = $3 \
          AND relation = ANY($4) AND subject_type = $5 AND subject_id = $6 AND subject_relation = $7 \
          ORDER BY relation"
    ))
    .bind(tenant_id.to_string())
    .bind(resource.object_type())
    .bind(resource.id())
    .bind(role_relations())
    .bind(subject.object_ref().object_type())
    .bind(subject.object_ref().id())
    .bind(subject.relation().unwrap_or_default())
    .fetch_all(&mut *connection)
    .await
    .during(operation)?;
    found.iter().map(|row| rows::relationship(row, operation)).collect()
}

/// Refuses, with `LastAdmin`, to take the roles `held` from `subject` when
/// the rule of [`removal_needs_another_admin`] asks for another admin and
/// no other user that exists holds the admin role live.
async fn keep_an_admin(
    connection: &mut PgConnection,
    tenant_id: &TenantId,
    resource: &ObjectRef,
    subject: &SubjectRef,
    held: &[Relationship],
    now: Timestamp,
    operation: Operation,
) -> Result<()> {
    if !removal_needs_another_admin(subject, held, now) {
        return Ok(());
    }
    let another_admin: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM relationships WHERE tenant_id = $1 AND resource_type = $2 \
           AND resource_id = $3 AND relation = $4 \
           AND NOT (subject_type = $5 AND subject_id = $6 AND subject_relation = $7) \
           AND (expires_at IS NULL OR expires_at > $8) \
           AND subject_type = 'user' AND subject_relation = '' \
           AND subject_id IN (SELECT id FROM users))",
    )
    .bind(tenant_id.to_string())
    .bind(resource.object_type())
    .bind(resource.id())
    .bind(names::ADMIN)
    .bind(subject.object_ref().object_type())
    .bind(subject.object_ref().id())
    .bind(subject.relation().unwrap_or_default())
    .bind(now)
    .fetch_one(&mut *connection)
    .await
    .during(operation)?;
    if another_admin { Ok(()) } else { Err(Error::conflict(ConflictCode::LastAdmin)) }
}

/// The membership as stored: expiry at the database's precision.
fn as_stored(membership: Membership) -> Result<Membership> {
    let expires_at = membership
        .expires_at()
        .map(|expires_at| relationship::timestamp_from_micros(relationship::timestamp_micros(expires_at)));
    Membership::new(membership.resource().clone(), membership.member().clone(), membership.role(), expires_at)
}

/// See [`tenantry_core::MembershipStore::set_membership`].
pub(crate) async fn set_membership(
    store: &PostgresStore,
    scope: &TenantScope,
    membership: Membership,
) -> Result<Membership> {
    let operation = Operation::SetMembership;
    let tenant_id = scope.tenant_id();
    let mut transaction = store.begin_write(WriteScope::Tenant(scope), operation).await?;
    let mut partition =
        PartitionWriter::lock_existing(&mut transaction, Partition::tenant(tenant_id), operation).await?;
    // The partition's lock is held, so no concurrent nesting can deepen the
    // groups between this check and the commit.
    if let (MembershipResource::Group(container), Member::Group(nested)) =
        (membership.resource(), membership.member())
    {
        let at_most = store.limits.max_group_depth.get().saturating_add(1);
        let depth =
            group_nesting_depth(&mut transaction, tenant_id, (container, nested), at_most, operation).await?;
        store.limits.check_group_depth(depth)?;
    }
    grant_membership(&mut transaction, &mut partition, tenant_id, &membership, tenantry_core::now()).await?;
    partition.finish(&mut transaction)?;
    transaction.commit().await?;
    as_stored(membership)
}

/// Grants a membership inside the caller's transaction, through the
/// partition writer it locked, with every rule of
/// [`tenantry_core::MembershipStore::set_membership`]: the resource and the member
/// exist, the last admin is not demoted, and the member's other role on the
/// resource goes in the same revision as the new one arrives. Records the
/// grant's audit event, if it changed anything.
pub(crate) async fn grant_membership(
    write: &mut Write,
    partition: &mut PartitionWriter,
    tenant_id: &TenantId,
    membership: &Membership,
    now: Timestamp,
) -> Result<()> {
    let operation = write.operation();
    let connection: &mut PgConnection = write;
    require_resource(connection, tenant_id, membership.resource(), operation).await?;
    require_member(connection, tenant_id, membership.member(), operation).await?;
    let resource = relationship::membership_object(tenant_id, membership.resource());
    let subject = relationship::member_subject(membership.member());
    let held = held_roles(connection, tenant_id, &resource, &subject, operation).await?;
    if membership.role() != Role::Admin {
        keep_an_admin(connection, tenant_id, &resource, &subject, &held, now, operation).await?;
    }
    // One role per member per resource: the others go, in the same
    // revision as the new one arrives.
    for other_role in held.iter().filter(|held| held.relation() != membership.role().relation()) {
        partition.delete(connection, other_role, operation).await?;
    }
    let stored = relationship::membership_relationship(tenant_id, membership);
    partition.touch(connection, &stored, operation).await?;
    let before = held.iter().find_map(|held| membership_of(membership.resource(), held));
    if let Some(record) = audit::membership_set(tenant_id, before.as_ref(), &as_stored(membership.clone())?) {
        write.record(record);
    }
    Ok(())
}

/// Whether `member` holds a live role on the tenant itself, read inside
/// the caller's transaction.
pub(crate) async fn holds_tenant_role(
    connection: &mut PgConnection,
    tenant_id: &TenantId,
    member: &Member,
    now: Timestamp,
    operation: Operation,
) -> Result<bool> {
    let resource = relationship::membership_object(tenant_id, &MembershipResource::Tenant);
    let subject = relationship::member_subject(member);
    let held = held_roles(connection, tenant_id, &resource, &subject, operation).await?;
    Ok(held.iter().any(|role| is_live(role, now)))
}

/// The group nesting a new `group:G#role@group:H#member` would make, in
/// groups: the longest shortest route from a group containing G (G
/// included) down to G, one hop to H, and the longest shortest route from
/// H to a group nested in it, plus the two ends. Walks are over distinct
/// (group, hops) pairs and stop one hop past the limit, so a cycle (which
/// is allowed) ends the walk and the cost is at most groups times levels.
/// Every role counts, and expired relationships too: a conservative bound.
async fn group_nesting_depth(
    connection: &mut PgConnection,
    tenant_id: &TenantId,
    (container, nested): (&GroupId, &GroupId),
    at_most: u32,
    operation: Operation,
) -> Result<u64> {
    // $2 the group walked from; the walk follows `subject -> resource`
    // upwards and `resource -> subject` downwards.
    let walk = |from: &str, to: &str| {
        format!(
            "WITH RECURSIVE walk (id, hops) AS ( \
                 SELECT $2::text COLLATE \"C\", 0 \
                 UNION \
                 SELECT r.{to}, walk.hops + 1 FROM relationships r JOIN walk ON r.{from} = walk.id \
                 WHERE r.tenant_id = $1 AND r.resource_type = 'group' AND r.relation = ANY($4) \
                   AND r.subject_type = 'group' AND r.subject_relation = 'member' AND walk.hops < $3 \
             ) \
             SELECT COALESCE(max(shortest), 0)::bigint FROM (SELECT min(hops) AS shortest FROM walk GROUP BY id) routes"
        )
    };
    let relations: Vec<&str> = Role::ALL.iter().map(|role| role.relation()).collect();
    let mut hops = 0;
    for (sql, from) in
        [(walk("subject_id", "resource_id"), container), (walk("resource_id", "subject_id"), nested)]
    {
        let longest: i64 = sqlx::query_scalar(&sql)
            .bind(tenant_id.to_string())
            .bind(from.to_string())
            .bind(i32::try_from(at_most).unwrap_or(i32::MAX))
            .bind(&relations)
            .fetch_one(&mut *connection)
            .await
            .during(operation)?;
        hops += u64::try_from(longest).unwrap_or(0);
    }
    // Two ends and the new hop between them: hops + 2 groups.
    Ok(hops + 2)
}

/// See [`tenantry_core::MembershipStore::remove_membership`].
pub(crate) async fn remove_membership(
    store: &PostgresStore,
    scope: &TenantScope,
    resource: &MembershipResource,
    member: &Member,
) -> Result<()> {
    let operation = Operation::RemoveMembership;
    let tenant_id = scope.tenant_id();
    let mut transaction = store.begin_write(WriteScope::Tenant(scope), operation).await?;
    let mut partition =
        PartitionWriter::lock_existing(&mut transaction, Partition::tenant(tenant_id), operation).await?;
    require_resource(&mut transaction, tenant_id, resource, operation).await?;
    let object = relationship::membership_object(tenant_id, resource);
    let subject = relationship::member_subject(member);
    let held = held_roles(&mut transaction, tenant_id, &object, &subject, operation).await?;
    if held.is_empty() {
        return Err(Error::not_found("membership"));
    }
    let now = tenantry_core::now();
    keep_an_admin(&mut transaction, tenant_id, &object, &subject, &held, now, operation).await?;
    for role in &held {
        partition.delete(&mut transaction, role, operation).await?;
    }
    partition.finish(&mut transaction)?;
    if let Some(removed) = held.iter().find_map(|held| membership_of(resource, held)) {
        transaction.record(audit::membership_removed(tenant_id, &removed));
    }
    transaction.commit().await
}

/// The membership a role relationship on `resource` stands for, if it is
/// one: the relationships API can store role relations whose subject is no
/// member (an id that is not a user id, a group made a member of itself),
/// and those are not listed.
fn membership_of(resource: &MembershipResource, relationship: &Relationship) -> Option<Membership> {
    let member = relationship::member_of_subject(relationship.subject())?;
    let role = Role::from_relation(relationship.relation())?;
    let expires_at = relationship.expires_at().map(relationship::timestamp_from_micros);
    Membership::new(resource.clone(), member, role, expires_at).ok()
}

/// See [`tenantry_core::MembershipStore::list_memberships`].
pub(crate) async fn list_memberships(
    store: &PostgresStore,
    scope: &TenantScope,
    resource: &MembershipResource,
    page: PageRequest<Member>,
) -> Result<Page<Membership>> {
    let operation = Operation::ListMemberships;
    let tenant_id = scope.tenant_id();
    let object = relationship::membership_object(tenant_id, resource);
    let roles: Vec<&str> = resource.roles().iter().map(|role| role.relation()).collect();
    let now = tenantry_core::now();
    let wanted = overfetch_limit(&page);
    // Members sort by kind, then id; the empty strings sort before every
    // member, so the first page needs no query of its own.
    let (mut after_type, mut after_id) =
        page.after.as_ref().map(|member| (member.kind().to_owned(), member.id_string())).unwrap_or_default();
    let mut transaction = store.begin(TransactionScope::Tenant(scope), operation).await?;
    require_resource(&mut transaction, tenant_id, resource, operation).await?;
    let mut memberships = Vec::new();
    // Rows that are no membership are skipped, and the query reads on from
    // the last row it saw, so a page is never cut short while more members
    // follow.
    loop {
        let found = sqlx::query(concat!(
            "SELECT ",
            relationship_columns!(),
            " FROM relationships WHERE tenant_id = $1 AND resource_type = $2 AND resource_id = $3 \
              AND relation = ANY($4) \
              AND ((subject_type = 'user' AND subject_relation = '') \
                   OR (subject_type = 'group' AND subject_relation = 'member')) \
              AND (expires_at IS NULL OR expires_at > $5) \
              AND (subject_type, subject_id) > ($6, $7) \
              ORDER BY subject_type, subject_id, relation LIMIT $8"
        ))
        .bind(tenant_id.to_string())
        .bind(object.object_type())
        .bind(object.id())
        .bind(&roles)
        .bind(now)
        .bind(&after_type)
        .bind(&after_id)
        .bind(wanted)
        .fetch_all(&mut *transaction)
        .await
        .during(operation)?;
        let relationships =
            found.iter().map(|row| rows::relationship(row, operation)).collect::<Result<Vec<_>>>()?;
        memberships
            .extend(relationships.iter().filter_map(|relationship| membership_of(resource, relationship)));
        let read_everything = (relationships.len() as i64) < wanted;
        let Some(last) =
            relationships.last().filter(|_| !read_everything && (memberships.len() as i64) < wanted)
        else {
            break;
        };
        after_type = last.subject().object_ref().object_type().to_owned();
        after_id = last.subject().object_ref().id().to_owned();
    }
    commit(transaction, operation).await?;
    Ok(Page::from_overfetched(memberships, page.limit, |membership| membership.member().to_string()))
}

#[async_trait]
impl MembershipStore for PostgresStore {
    async fn set_membership(&self, scope: &TenantScope, membership: Membership) -> Result<Membership> {
        set_membership(self, scope, membership).await
    }

    async fn remove_membership(
        &self,
        scope: &TenantScope,
        resource: &MembershipResource,
        member: &Member,
    ) -> Result<()> {
        remove_membership(self, scope, resource, member).await
    }

    async fn list_memberships(
        &self,
        scope: &TenantScope,
        resource: &MembershipResource,
        page: PageRequest<Member>,
    ) -> Result<Page<Membership>> {
        list_memberships(self, scope, resource, page).await
    }
}
