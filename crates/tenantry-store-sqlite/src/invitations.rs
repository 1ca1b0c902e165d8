//! Invitations: a role offered to a user who is not yet a member of the
//! tenant (see `tenantry_core::invitation`). Every statement carries the
//! scope's `tenant_id`, except the two named platform reads of the
//! invitations addressed to one user, which use the invitee indexes.
//! Accepting grants the memberships in the same write transaction as the
//! answer is recorded, through the memberships' own rules, after reading
//! the tenant's status in it. Inviting finds the pending invitation to the
//! same invitee and resource, and counts the tenant's pending invitations,
//! in its write transaction: SQLite's single writer makes the check and the
//! insert one step, and the unique index `invitations_one_pending_per_invitee`
//! is the backstop. Every invitation stored and every change of status
//! (expired, revoked, accepted, declined) is recorded in the tenant's
//! audit log, an acceptance with the memberships it grants.

use async_trait::async_trait;
use sqlx::SqliteConnection;
use tenantry_core::invitation::{PendingKey, StoredResource, email_key};
use tenantry_core::relationship::timestamp_micros;
use tenantry_core::{
    ConflictCode, Error, Invitation, InvitationAnswer, InvitationId, InvitationStatus, InvitationStore,
    Invitee, Member, NewInvitation, Page, PageRequest, PendingInvitation, PlatformScope, Respondent, Result,
    StoreLimits, TenantId, TenantScope, TenantStatus, Timestamp, audit, now,
};

use crate::SqliteStore;
use crate::audit::{Write, WriteScope};
use crate::error::{Operation, map_database_error};
use crate::memberships::{grant_membership, holds_tenant_role, require_resource};
use crate::relationships::{Partition, RelationshipWriter};
use crate::rows::{self, INVITATION_COLUMNS};
use crate::tenant_tables::TenantTable;
use crate::{Connections, overfetch_limit, page_after};

/// The `invitations` table.
pub(crate) const INVITATIONS: TenantTable<Invitation> = TenantTable {
    name: "invitations",
    id_column: "id",
    columns: INVITATION_COLUMNS,
    read: rows::invitation,
    id_of: |invitation| invitation.id.to_string(),
};

/// The invitee's user id, address as given, and address as compared.
fn invitee_columns(invitee: &Invitee) -> (Option<String>, Option<String>, Option<String>) {
    match invitee {
        Invitee::User(user_id) => (Some(user_id.to_string()), None, None),
        Invitee::Email(email) => (None, Some(email.as_str().to_owned()), Some(email_key(email))),
    }
}

/// The pending invitation of the tenant to the same invitee for the same
/// resource, if there is one (at most one: the unique index).
async fn pending_invitation_like(
    connection: &mut SqliteConnection,
    tenant_id: &TenantId,
    invitation: &NewInvitation,
    operation: Operation,
) -> Result<Option<Invitation>> {
    let key = PendingKey::of(invitation);
    let row = sqlx::query(&format!(
        "SELECT {INVITATION_COLUMNS} FROM invitations \
         WHERE tenant_id = ?1 AND resource_type = ?2 AND coalesce(workspace_id, group_id, '') = ?3 \
           AND coalesce(invitee_user_id, invitee_email_key) = ?4 AND status = 'pending'"
    ))
    .bind(tenant_id.to_string())
    .bind(key.resource_type)
    .bind(key.resource_id)
    .bind(key.invitee)
    .fetch_optional(&mut *connection)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    row.as_ref().map(rows::invitation).transpose()
}

/// How many pending, unexpired invitations the tenant has.
async fn count_pending_invitations(
    connection: &mut SqliteConnection,
    tenant_id: &TenantId,
    at: Timestamp,
    operation: Operation,
) -> Result<u64> {
    let pending: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM invitations WHERE tenant_id = ?1 AND status = 'pending' AND expires_at > ?2",
    )
    .bind(tenant_id.to_string())
    .bind(timestamp_micros(at))
    .fetch_one(&mut *connection)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    Ok(u64::try_from(pending).unwrap_or_default())
}

/// See [`tenantry_core::InvitationStore::create_invitation`]. The write lock taken
/// first keeps every other writer out between the checks and the insert.
/// The tenant's partition is read as PostgreSQL locks it, though nothing
/// in it changes, so that the events carry its revision on both backends.
pub(crate) async fn create_invitation(
    pool: &Connections,
    limits: &StoreLimits,
    scope: &TenantScope,
    new_invitation: NewInvitation,
) -> Result<Invitation> {
    let operation = Operation::CreateInvitation;
    let tenant_id = scope.tenant_id();
    let at = now();
    let mut transaction = Write::begin(pool, WriteScope::Tenant(scope), operation).await?;
    let writer = RelationshipWriter::begin(&mut transaction, Partition::Tenant(tenant_id), operation).await?;
    require_resource(&mut transaction, tenant_id, new_invitation.resource(), operation).await?;
    if let Some(existing) =
        pending_invitation_like(&mut transaction, tenant_id, &new_invitation, operation).await?
    {
        match new_invitation.against_pending(existing, at)? {
            PendingInvitation::Standing(existing) => return Ok(existing),
            PendingInvitation::Expired(existing) => {
                let expires_at = existing.expires_at;
                record_status(&mut transaction, existing, InvitationStatus::Expired, expires_at).await?;
            }
        }
    }
    limits.check_pending_invitations(
        count_pending_invitations(&mut transaction, tenant_id, at, operation).await?,
    )?;
    let invitation = new_invitation.into_invitation(tenant_id.clone(), at);
    let resource = StoredResource::of(&invitation.resource);
    let (invitee_user_id, invitee_email, invitee_email_key) = invitee_columns(&invitation.invitee);
    sqlx::query(
        "INSERT INTO invitations (tenant_id, id, resource_type, workspace_id, group_id, role, \
             invitee_user_id, invitee_email, invitee_email_key, invited_by, status, created_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )
    .bind(tenant_id.to_string())
    .bind(invitation.id.to_string())
    .bind(resource.resource_type)
    .bind(resource.workspace_id)
    .bind(resource.group_id)
    .bind(invitation.role.as_str())
    .bind(invitee_user_id)
    .bind(invitee_email)
    .bind(invitee_email_key)
    .bind(invitation.invited_by.to_string())
    .bind(invitation.status.as_str())
    .bind(invitation.created_at)
    .bind(timestamp_micros(invitation.expires_at))
    .execute(&mut *transaction)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    writer.finish(&mut transaction, at);
    transaction.record(audit::invitation_created(&invitation));
    transaction.commit().await?;
    Ok(invitation)
}

/// The tenant's status, read inside the caller's transaction.
async fn tenant_status(
    connection: &mut SqliteConnection,
    tenant_id: &TenantId,
    operation: Operation,
) -> Result<TenantStatus> {
    let row = sqlx::query("SELECT status AS tenant_status FROM tenants WHERE id = ?1")
        .bind(tenant_id.to_string())
        .fetch_optional(&mut *connection)
        .await
        .map_err(|error| map_database_error(error, operation))?;
    row.as_ref().map(rows::tenant_status).transpose()?.ok_or(Error::not_found("tenant"))
}

/// One invitation of the tenant, read on the caller's connection.
async fn read_invitation(
    connection: &mut SqliteConnection,
    tenant_id: &TenantId,
    invitation_id: &InvitationId,
    operation: Operation,
) -> Result<Invitation> {
    let row = sqlx::query(&format!(
        "SELECT {INVITATION_COLUMNS} FROM invitations WHERE tenant_id = ?1 AND id = ?2"
    ))
    .bind(tenant_id.to_string())
    .bind(invitation_id.to_string())
    .fetch_optional(&mut *connection)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    match row {
        Some(row) => rows::invitation(&row),
        None => Err(Error::not_found("invitation")),
    }
}

/// Records an answer (or a revocation, or an expiry) of a pending
/// invitation, and its audit event.
async fn record_status(
    write: &mut Write,
    invitation: Invitation,
    status: InvitationStatus,
    at: Timestamp,
) -> Result<Invitation> {
    let operation = write.operation();
    let updated = sqlx::query(
        "UPDATE invitations SET status = ?3, answered_at = ?4 \
         WHERE tenant_id = ?1 AND id = ?2 AND status = 'pending'",
    )
    .bind(invitation.tenant_id.to_string())
    .bind(invitation.id.to_string())
    .bind(status.as_str())
    .bind(at)
    .execute(&mut **write)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    // The row was read under the transaction's lock and found pending, so
    // this changes it; if it did not, someone answered it in between.
    if updated.rows_affected() != 1 {
        return Err(Error::conflict(ConflictCode::InvitationNotPending));
    }
    let answered = Invitation { status, answered_at: Some(at), ..invitation.clone() };
    write.record(audit::invitation_answered(&invitation, &answered));
    Ok(answered)
}

/// See [`tenantry_core::InvitationStore::get_invitation`].
pub(crate) async fn get_invitation(
    pool: &Connections,
    scope: &TenantScope,
    invitation_id: &InvitationId,
) -> Result<Invitation> {
    let mut connection = pool.read_connection(Operation::GetInvitation).await?;
    read_invitation(&mut connection, scope.tenant_id(), invitation_id, Operation::GetInvitation).await
}

/// See [`tenantry_core::InvitationStore::list_invitations`].
pub(crate) async fn list_invitations(
    pool: &Connections,
    scope: &TenantScope,
    page: PageRequest<InvitationId>,
) -> Result<Page<Invitation>> {
    INVITATIONS.page(pool, scope, page, Operation::ListInvitations).await
}

/// See [`tenantry_core::InvitationStore::revoke_invitation`].
pub(crate) async fn revoke_invitation(
    pool: &Connections,
    scope: &TenantScope,
    invitation_id: &InvitationId,
    at: Timestamp,
) -> Result<Invitation> {
    let operation = Operation::RevokeInvitation;
    let mut transaction = Write::begin(pool, WriteScope::Tenant(scope), operation).await?;
    let invitation = read_invitation(&mut transaction, scope.tenant_id(), invitation_id, operation).await?;
    invitation.check_revocable(at)?;
    let revoked = record_status(&mut transaction, invitation, InvitationStatus::Revoked, at).await?;
    transaction.commit().await?;
    Ok(revoked)
}

/// See [`tenantry_core::InvitationStore::answer_invitation`]. The write lock taken
/// first keeps every other writer out between the checks and the writes:
/// a suspension cannot commit between reading the tenant's status and
/// granting the roles.
pub(crate) async fn answer_invitation(
    pool: &Connections,
    scope: &TenantScope,
    invitation_id: &InvitationId,
    respondent: &Respondent,
    answer: InvitationAnswer,
    at: Timestamp,
) -> Result<Invitation> {
    let operation = Operation::AnswerInvitation;
    let tenant_id = scope.tenant_id();
    let mut transaction = Write::begin(pool, WriteScope::Tenant(scope), operation).await?;
    let mut writer =
        RelationshipWriter::begin(&mut transaction, Partition::Tenant(tenant_id), operation).await?;
    let invitation = read_invitation(&mut transaction, tenant_id, invitation_id, operation).await?;
    invitation.check_answerable(respondent, at)?;
    answer.check_tenant_status(tenant_status(&mut transaction, tenant_id, operation).await?)?;
    if answer == InvitationAnswer::Accept {
        let member = Member::User(respondent.user_id.clone());
        let holds_tenant_role =
            holds_tenant_role(&mut transaction, tenant_id, &member, at, operation).await?;
        for membership in invitation.memberships_on_accept(&respondent.user_id, holds_tenant_role)? {
            grant_membership(&mut transaction, &mut writer, tenant_id, &membership, at).await?;
        }
    }
    writer.finish(&mut transaction, at);
    let answered = record_status(&mut transaction, invitation, answer.status(), at).await?;
    transaction.commit().await?;
    Ok(answered)
}

/// The address a respondent's invitations may be sent to, as compared; an
/// empty string, which no stored key equals, when they have none.
fn respondent_email_key(respondent: &Respondent) -> String {
    respondent.verified_email.as_ref().map(email_key).unwrap_or_default()
}

/// See [`tenantry_core::InvitationStore::pending_invitations_for`]: a read across
/// tenants, on the invitee indexes.
pub(crate) async fn pending_invitations_for(
    pool: &Connections,
    platform: &PlatformScope,
    respondent: &Respondent,
    at: Timestamp,
    page: PageRequest<InvitationId>,
) -> Result<Page<Invitation>> {
    let operation = Operation::PendingInvitationsFor;
    tracing::debug!(reason = platform.reason(), user_id = %respondent.user_id, "listing the invitations addressed to a user");
    let rows = sqlx::query(&format!(
        "SELECT {INVITATION_COLUMNS} FROM invitations \
         WHERE (invitee_user_id = ?1 OR invitee_email_key = ?2) \
           AND status = 'pending' AND expires_at > ?3 AND id > ?4 \
         ORDER BY id LIMIT ?5"
    ))
    .bind(respondent.user_id.to_string())
    .bind(respondent_email_key(respondent))
    .bind(timestamp_micros(at))
    .bind(page_after(page.after.as_ref()))
    .bind(overfetch_limit(page.limit))
    .fetch_all(pool.reads())
    .await
    .map_err(|error| map_database_error(error, operation))?;
    let items = rows.iter().map(rows::invitation).collect::<Result<Vec<_>>>()?;
    Ok(Page::from_overfetched(items, page.limit, |invitation| invitation.id.to_string()))
}

/// See [`tenantry_core::InvitationStore::find_invitation_for`].
pub(crate) async fn find_invitation_for(
    pool: &Connections,
    platform: &PlatformScope,
    respondent: &Respondent,
    invitation_id: &InvitationId,
) -> Result<Option<Invitation>> {
    let operation = Operation::FindInvitationFor;
    tracing::debug!(reason = platform.reason(), user_id = %respondent.user_id, %invitation_id, "finding an invitation addressed to a user");
    let row = sqlx::query(&format!(
        "SELECT {INVITATION_COLUMNS} FROM invitations \
         WHERE (invitee_user_id = ?1 OR invitee_email_key = ?2) AND id = ?3"
    ))
    .bind(respondent.user_id.to_string())
    .bind(respondent_email_key(respondent))
    .bind(invitation_id.to_string())
    .fetch_optional(pool.reads())
    .await
    .map_err(|error| map_database_error(error, operation))?;
    row.as_ref().map(rows::invitation).transpose()
}

#[async_trait]
impl InvitationStore for SqliteStore {
    async fn create_invitation(&self, scope: &TenantScope, invitation: NewInvitation) -> Result<Invitation> {
        create_invitation(&self.pool, &self.limits, scope, invitation).await
    }

    async fn get_invitation(&self, scope: &TenantScope, invitation_id: &InvitationId) -> Result<Invitation> {
        get_invitation(&self.pool, scope, invitation_id).await
    }

    async fn list_invitations(
        &self,
        scope: &TenantScope,
        page: PageRequest<InvitationId>,
    ) -> Result<Page<Invitation>> {
        list_invitations(&self.pool, scope, page).await
    }

    async fn revoke_invitation(
        &self,
        scope: &TenantScope,
        invitation_id: &InvitationId,
        at: Timestamp,
    ) -> Result<Invitation> {
        revoke_invitation(&self.pool, scope, invitation_id, at).await
    }

    async fn answer_invitation(
        &self,
        scope: &TenantScope,
        invitation_id: &InvitationId,
        respondent: &Respondent,
        answer: InvitationAnswer,
        at: Timestamp,
    ) -> Result<Invitation> {
        answer_invitation(&self.pool, scope, invitation_id, respondent, answer, at).await
    }

    async fn pending_invitations_for(
        &self,
        platform: &PlatformScope,
        respondent: &Respondent,
        at: Timestamp,
        page: PageRequest<InvitationId>,
    ) -> Result<Page<Invitation>> {
        pending_invitations_for(&self.pool, platform, respondent, at, page).await
    }

    async fn find_invitation_for(
        &self,
        platform: &PlatformScope,
        respondent: &Respondent,
        invitation_id: &InvitationId,
    ) -> Result<Option<Invitation>> {
        find_invitation_for(&self.pool, platform, respondent, invitation_id).await
    }
}
