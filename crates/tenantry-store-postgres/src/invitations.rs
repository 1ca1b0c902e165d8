//! Invitations on PostgreSQL: a role offered to a user who is not yet a
//! member of the tenant (see `tenantry_core::invitation`). Every statement
//! runs in the scope's tenant and carries `tenant_id = $1`, except the two
//! named platform reads of the invitations addressed to one user, which run
//! as the platform role on the invitee indexes. Accepting locks the
//! partition and then the invitation's row, reads the tenant's status, and
//! grants the memberships in the same transaction as the answer is
//! recorded, through the memberships' own rules. Inviting locks the
//! partition too, so that finding the pending invitation to the same
//! invitee and resource, counting the tenant's pending invitations and
//! inserting are one step; the unique index
//! `invitations_one_pending_per_invitee` is the backstop.

use async_trait::async_trait;
use sqlx::PgConnection;
use tenantry_core::invitation::{PendingKey, StoredResource, email_key};
use tenantry_core::{
    ConflictCode, Error, Invitation, InvitationAnswer, InvitationId, InvitationStatus, Invitee, Member,
    NewInvitation, Page, PageRequest, PendingInvitation, PlatformScope, Respondent, Result, TenantId,
    TenantScope, TenantStatus, Timestamp,
};
use tenantry_core::{InvitationStore, audit};

use crate::PostgresStore;
use crate::audit::{Write, WriteScope};
use crate::error::{DatabaseResultExt, Operation};
use crate::memberships::{grant_membership, holds_tenant_role, require_resource};
use crate::partition::{Partition, PartitionWriter};
use crate::rows::{self, invitation_columns};
use crate::store::{TransactionScope, after_cursor, commit, overfetch_limit, tenant_rows_page};

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
    connection: &mut PgConnection,
    tenant_id: &TenantId,
    invitation: &NewInvitation,
    operation: Operation,
) -> Result<Option<Invitation>> {
    let key = PendingKey::of(invitation);
    let row = sqlx::query(concat!(
        "SELECT ",
        invitation_columns!(),
        " FROM invitations \
         WHERE tenant_id = $1 AND resource_type = $2 AND coalesce(workspace_id, group_id, '') = $3 \
           AND coalesce(invitee_user_id, invitee_email_key) = $4 AND status = 'pending'"
    ))
    .bind(tenant_id.to_string())
    .bind(key.resource_type)
    .bind(key.resource_id)
    .bind(key.invitee)
    .fetch_optional(&mut *connection)
    .await
    .during(operation)?;
    row.map(|row| rows::invitation(&row, operation)).transpose()
}

/// How many pending, unexpired invitations the tenant has.
async fn count_pending_invitations(
    connection: &mut PgConnection,
    tenant_id: &TenantId,
    at: Timestamp,
    operation: Operation,
) -> Result<u64> {
    let pending: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM invitations WHERE tenant_id = $1 AND status = 'pending' AND expires_at > $2",
    )
    .bind(tenant_id.to_string())
    .bind(at)
    .fetch_one(&mut *connection)
    .await
    .during(operation)?;
    Ok(u64::try_from(pending).unwrap_or_default())
}

/// See [`tenantry_core::InvitationStore::create_invitation`]. The partition's lock,
/// taken first as by every membership write, makes concurrent invitations
/// of one tenant run one after another, so that neither two identical ones
/// nor two at the limit can both pass the checks; it changes no revision.
pub(crate) async fn create_invitation(
    store: &PostgresStore,
    scope: &TenantScope,
    new_invitation: NewInvitation,
) -> Result<Invitation> {
    let operation = Operation::CreateInvitation;
    let tenant_id = scope.tenant_id();
    let mut transaction = store.begin_write(WriteScope::Tenant(scope), operation).await?;
    let partition =
        PartitionWriter::lock_existing(&mut transaction, Partition::tenant(tenant_id), operation).await?;
    let at = tenantry_core::now();
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
    store.limits.check_pending_invitations(
        count_pending_invitations(&mut transaction, tenant_id, at, operation).await?,
    )?;
    let invitation = new_invitation.into_invitation(tenant_id.clone(), at);
    let resource = StoredResource::of(&invitation.resource);
    let (invitee_user_id, invitee_email, invitee_email_key) = invitee_columns(&invitation.invitee);
    sqlx::query(
        "INSERT INTO invitations (tenant_id, id, resource_type, workspace_id, group_id, role, \
             invitee_user_id, invitee_email, invitee_email_key, invited_by, status, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
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
    .bind(invitation.expires_at)
    .execute(&mut *transaction)
    .await
    .during(operation)?;
    partition.finish(&mut transaction)?;
    transaction.record(audit::invitation_created(&invitation));
    transaction.commit().await?;
    Ok(invitation)
}

/// The tenant's status, read inside the caller's transaction.
async fn tenant_status(
    connection: &mut PgConnection,
    tenant_id: &TenantId,
    operation: Operation,
) -> Result<TenantStatus> {
    let row = sqlx::query("SELECT status AS tenant_status FROM tenants WHERE id = $1")
        .bind(tenant_id.to_string())
        .fetch_optional(&mut *connection)
        .await
        .during(operation)?;
    row.map(|row| rows::tenant_status(&row, operation)).transpose()?.ok_or(Error::not_found("tenant"))
}

/// One invitation of the tenant, read (and, `FOR UPDATE`, locked) inside
/// the caller's transaction.
async fn read_invitation(
    connection: &mut PgConnection,
    tenant_id: &TenantId,
    invitation_id: &InvitationId,
    lock: bool,
    operation: Operation,
) -> Result<Invitation> {
    let sql = format!(
        "SELECT {} FROM invitations WHERE tenant_id = $1 AND id = $2{}",
        invitation_columns!(),
        if lock { " FOR UPDATE" } else { "" }
    );
    let row = sqlx::query(&sql)
        .bind(tenant_id.to_string())
        .bind(invitation_id.to_string())
        .fetch_optional(&mut *connection)
        .await
        .during(operation)?;
    row.map(|row| rows::invitation(&row, operation)).transpose()?.ok_or(Error::not_found("invitation"))
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
        "UPDATE invitations SET status = $3, answered_at = $4 \
         WHERE tenant_id = $1 AND id = $2 AND status = 'pending'",
    )
    .bind(invitation.tenant_id.to_string())
    .bind(invitation.id.to_string())
    .bind(status.as_str())
    .bind(at)
    .execute(&mut **write)
    .await
    .during(operation)?;
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
    store: &PostgresStore,
    scope: &TenantScope,
    invitation_id: &InvitationId,
) -> Result<Invitation> {
    let operation = Operation::GetInvitation;
    let mut transaction = store.begin(TransactionScope::Tenant(scope), operation).await?;
    let invitation =
        read_invitation(&mut transaction, scope.tenant_id(), invitation_id, false, operation).await?;
    commit(transaction, operation).await?;
    Ok(invitation)
}

/// See [`tenantry_core::InvitationStore::list_invitations`].
pub(crate) async fn list_invitations(
    store: &PostgresStore,
    scope: &TenantScope,
    page: PageRequest<InvitationId>,
) -> Result<Page<Invitation>> {
    let sql = concat!(
        "SELECT ",
        invitation_columns!(),
        " FROM invitations WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3"
    );
    let invitations =
        tenant_rows_page(store, scope, sql, &page, rows::invitation, Operation::ListInvitations).await?;
    Ok(Page::from_overfetched(invitations, page.limit, |invitation| invitation.id.to_string()))
}

/// See [`tenantry_core::InvitationStore::revoke_invitation`].
pub(crate) async fn revoke_invitation(
    store: &PostgresStore,
    scope: &TenantScope,
    invitation_id: &InvitationId,
    at: Timestamp,
) -> Result<Invitation> {
    let operation = Operation::RevokeInvitation;
    let mut transaction = store.begin_write(WriteScope::Tenant(scope), operation).await?;
    let invitation =
        read_invitation(&mut transaction, scope.tenant_id(), invitation_id, true, operation).await?;
    invitation.check_revocable(at)?;
    let revoked = record_status(&mut transaction, invitation, InvitationStatus::Revoked, at).await?;
    transaction.commit().await?;
    Ok(revoked)
}

/// See [`tenantry_core::InvitationStore::answer_invitation`]. The partition is locked
/// first, as by every membership write, then the invitation's row, so that
/// a concurrent answer or revocation waits and then finds it answered.
///
/// The tenant's status is read after the partition's lock is held: a
/// change of status locks the same row (after updating the tenant's), so
/// a suspension that committed first is seen (each statement reads what
/// was committed before it began), and one that commits later waits for
/// this transaction. Reading the status `FOR SHARE` instead would wait for
/// a suspension that holds the tenant's row and waits for the partition:
/// a deadlock.
pub(crate) async fn answer_invitation(
    store: &PostgresStore,
    scope: &TenantScope,
    invitation_id: &InvitationId,
    respondent: &Respondent,
    answer: InvitationAnswer,
    at: Timestamp,
) -> Result<Invitation> {
    let operation = Operation::AnswerInvitation;
    let tenant_id = scope.tenant_id();
    let mut transaction = store.begin_write(WriteScope::Tenant(scope), operation).await?;
    let mut partition =
        PartitionWriter::lock_existing(&mut transaction, Partition::tenant(tenant_id), operation).await?;
    let invitation = read_invitation(&mut transaction, tenant_id, invitation_id, true, operation).await?;
    invitation.check_answerable(respondent, at)?;
    answer.check_tenant_status(tenant_status(&mut transaction, tenant_id, operation).await?)?;
    if answer == InvitationAnswer::Accept {
        let member = Member::User(respondent.user_id.clone());
        let holds_tenant_role =
            holds_tenant_role(&mut transaction, tenant_id, &member, at, operation).await?;
        for membership in invitation.memberships_on_accept(&respondent.user_id, holds_tenant_role)? {
            grant_membership(&mut transaction, &mut partition, tenant_id, &membership, at).await?;
        }
    }
    partition.finish(&mut transaction)?;
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
/// tenants, as the platform role, on the invitee indexes.
pub(crate) async fn pending_invitations_for(
    store: &PostgresStore,
    platform: &PlatformScope,
    respondent: &Respondent,
    at: Timestamp,
    page: PageRequest<InvitationId>,
) -> Result<Page<Invitation>> {
    let operation = Operation::PendingInvitationsFor;
    let mut transaction = store.begin(TransactionScope::Platform(platform), operation).await?;
    let found = sqlx::query(concat!(
        "SELECT ",
        invitation_columns!(),
        " FROM invitations WHERE (invitee_user_id = $1 OR invitee_email_key = $2) \
          AND status = 'pending' AND expires_at > $3 AND id > $4 ORDER BY id LIMIT $5"
    ))
    .bind(respondent.user_id.to_string())
    .bind(respondent_email_key(respondent))
    .bind(at)
    .bind(after_cursor(&page))
    .bind(overfetch_limit(&page))
    .fetch_all(&mut *transaction)
    .await
    .during(operation)?;
    commit(transaction, operation).await?;
    let invitations = found.iter().map(|row| rows::invitation(row, operation)).collect::<Result<Vec<_>>>()?;
    Ok(Page::from_overfetched(invitations, page.limit, |invitation| invitation.id.to_string()))
}

/// See [`tenantry_core::InvitationStore::find_invitation_for`].
pub(crate) async fn find_invitation_for(
    store: &PostgresStore,
    platform: &PlatformScope,
    respondent: &Respondent,
    invitation_id: &InvitationId,
) -> Result<Option<Invitation>> {
    let operation = Operation::FindInvitationFor;
    let mut transaction = store.begin(TransactionScope::Platform(platform), operation).await?;
    let found = sqlx::query(concat!(
        "SELECT ",
        invitation_columns!(),
        " FROM invitations WHERE (invitee_user_id = $1 OR invitee_email_key = $2) AND id = $3"
    ))
    .bind(respondent.user_id.to_string())
    .bind(respondent_email_key(respondent))
    .bind(invitation_id.to_string())
    .fetch_optional(&mut *transaction)
    .await
    .during(operation)?;
    commit(transaction, operation).await?;
    found.map(|row| rows::invitation(&row, operation)).transpose()
}

#[async_trait]
impl InvitationStore for PostgresStore {
    async fn create_invitation(&self, scope: &TenantScope, invitation: NewInvitation) -> Result<Invitation> {
        create_invitation(self, scope, invitation).await
    }

    async fn get_invitation(&self, scope: &TenantScope, invitation_id: &InvitationId) -> Result<Invitation> {
        get_invitation(self, scope, invitation_id).await
    }

    async fn list_invitations(
        &self,
        scope: &TenantScope,
        page: PageRequest<InvitationId>,
    ) -> Result<Page<Invitation>> {
        list_invitations(self, scope, page).await
    }

    async fn revoke_invitation(
        &self,
        scope: &TenantScope,
        invitation_id: &InvitationId,
        at: Timestamp,
    ) -> Result<Invitation> {
        revoke_invitation(self, scope, invitation_id, at).await
    }

    async fn answer_invitation(
        &self,
        scope: &TenantScope,
        invitation_id: &InvitationId,
        respondent: &Respondent,
        answer: InvitationAnswer,
        at: Timestamp,
    ) -> Result<Invitation> {
        answer_invitation(self, scope, invitation_id, respondent, answer, at).await
    }

    async fn pending_invitations_for(
        &self,
        platform: &PlatformScope,
        respondent: &Respondent,
        at: Timestamp,
        page: PageRequest<InvitationId>,
    ) -> Result<Page<Invitation>> {
        pending_invitations_for(self, platform, respondent, at, page).await
    }

    async fn find_invitation_for(
        &self,
        platform: &PlatformScope,
        respondent: &Respondent,
        invitation_id: &InvitationId,
    ) -> Result<Option<Invitation>> {
        find_invitation_for(self, platform, respondent, invitation_id).await
    }
}
