//! Users on PostgreSQL: looking many up at once, creating them, and signing
//! in with an OIDC identity. `users` is a global table, without row-level
//! security, so reads run without a scope; changes are the platform's and
//! recorded in its audit log, so they run in the platform scope.

use async_trait::async_trait;
use sqlx::PgConnection;
use tenantry_core::{
    ConflictCode, Error, NewUser, OidcIdentity, OidcSignIn, PlatformScope, Result, User, UserId, UserStore,
    Username, audit,
};

use crate::PostgresStore;
use crate::audit::{Write, WriteScope};
use crate::error::{DatabaseResultExt, Operation, internal};
use crate::rows::{self, person_insert_columns, user_columns};
use crate::store::{TransactionScope, commit};

/// See [`tenantry_core::UserStore::users_by_ids`].
pub(crate) async fn users_by_ids(store: &PostgresStore, user_ids: &[UserId]) -> Result<Vec<User>> {
    let operation = Operation::UsersByIds;
    let ids: Vec<String> = user_ids.iter().map(ToString::to_string).collect();
    let mut transaction = store.begin(TransactionScope::Global, operation).await?;
    let found =
        sqlx::query(concat!("SELECT ", user_columns!(), " FROM users WHERE id = ANY($1) ORDER BY id"))
            .bind(ids)
            .fetch_all(&mut *transaction)
            .await
            .during(operation)?;
    commit(transaction, operation).await?;
    found.iter().map(|row| rows::user(row, operation)).collect()
}

/// The user an identity signed in as before, if any.
async fn find_by_identity(
    connection: &mut PgConnection,
    identity: &OidcIdentity,
    operation: Operation,
) -> Result<Option<User>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE oidc_issuer = $1 AND oidc_subject = $2"
    ))
    .bind(&identity.issuer)
    .bind(&identity.subject)
    .fetch_optional(&mut *connection)
    .await
    .during(operation)?;
    row.map(|row| rows::user(&row, operation)).transpose()
}

/// Inserts the identity's user under `username`, unless that username or
/// the identity is taken: `ON CONFLICT DO NOTHING` covers both unique
/// constraints, and waits for a concurrent insert of either to commit.
async fn insert_if_free(
    connection: &mut PgConnection,
    identity: &OidcIdentity,
    profile: &NewUser,
    username: &Username,
    operation: Operation,
) -> Result<Option<User>> {
    let row = sqlx::query(concat!(
        "INSERT INTO users (",
        person_insert_columns!(),
        ", oidc_issuer, oidc_subject) VALUES ($1, $2, $3, $4, $5, $5, $6, $7) \
         ON CONFLICT DO NOTHING RETURNING ",
        user_columns!()
    ))
    .bind(UserId::generate().to_string())
    .bind(username.as_str())
    .bind(profile.display_name.as_str())
    .bind(profile.email.as_ref().map(|email| email.as_str()))
    .bind(tenantry_core::now())
    .bind(&identity.issuer)
    .bind(&identity.subject)
    .fetch_optional(&mut *connection)
    .await
    .during(operation)?;
    row.map(|row| rows::user(&row, operation)).transpose()
}

/// Brings a stored user in step with the profile: display name and e-mail
/// always, the username when nobody holds the new one, and records the
/// change. Writes nothing when nothing changed.
async fn bring_in_step(write: &mut Write, user: User, profile: &NewUser) -> Result<User> {
    let operation = write.operation();
    let connection: &mut PgConnection = write;
    let username_is_free = profile.username != user.username && {
        let taken: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE username = $1)")
            .bind(profile.username.as_str())
            .fetch_one(&mut *connection)
            .await
            .during(operation)?;
        !taken
    };
    let username = if username_is_free { &profile.username } else { &user.username };
    if *username == user.username && profile.display_name == user.display_name && profile.email == user.email
    {
        return Ok(user);
    }
    // A username taken between the check and this update is the unique
    // constraint's conflict, mapped by name: the next sign-in succeeds.
    let row = sqlx::query(concat!(
        "UPDATE users SET username = $2, display_name = $3, email = $4, updated_at = $5 WHERE id = $1 \
         RETURNING ",
        user_columns!()
    ))
    .bind(user.id.to_string())
    .bind(username.as_str())
    .bind(profile.display_name.as_str())
    .bind(profile.email.as_ref().map(|email| email.as_str()))
    .bind(tenantry_core::now())
    .fetch_one(&mut *connection)
    .await
    .during(operation)?;
    let updated = rows::user(&row, operation)?;
    if let Some(record) = audit::user_updated(&user, &updated) {
        write.record(record);
    }
    Ok(updated)
}

/// See [`tenantry_core::UserStore::sign_in_oidc_user`].
pub(crate) async fn sign_in_oidc_user(
    store: &PostgresStore,
    platform: &PlatformScope,
    sign_in: OidcSignIn,
) -> Result<User> {
    let operation = Operation::SignInOidcUser;
    let mut transaction = store.begin_write(WriteScope::Platform(platform), operation).await?;
    let user = match find_by_identity(&mut transaction, &sign_in.identity, operation).await? {
        Some(user) => bring_in_step(&mut transaction, user, &sign_in.profile).await?,
        None => {
            let mut signed_in = None;
            for username in [&sign_in.profile.username, &sign_in.fallback_username] {
                let inserted = insert_if_free(
                    &mut transaction,
                    &sign_in.identity,
                    &sign_in.profile,
                    username,
                    operation,
                )
                .await?;
                if let Some(user) = inserted {
                    transaction.record(audit::user_created(&user));
                    signed_in = Some(user);
                    break;
                }
                // Nothing inserted: either a concurrent first sign-in of
                // the same identity committed its user (found here, under
                // READ COMMITTED's new snapshot), or another user holds
                // the username, and the fallback is tried.
                if let Some(user) = find_by_identity(&mut transaction, &sign_in.identity, operation).await? {
                    signed_in = Some(bring_in_step(&mut transaction, user, &sign_in.profile).await?);
                    break;
                }
            }
            signed_in.ok_or_else(|| Error::conflict(ConflictCode::DuplicateUsername))?
        }
    };
    transaction.commit().await?;
    Ok(user)
}

/// Returns the user with this username, inserting it (and recording its
/// creation) if there is none. `ON CONFLICT DO NOTHING` waits for a
/// concurrent insert of the same username to finish, and the following read
/// (a new snapshot under READ COMMITTED) then sees its row.
pub(crate) async fn ensure_user(write: &mut Write, user: &NewUser) -> Result<User> {
    let operation = write.operation();
    let connection: &mut PgConnection = write;
    let now = tenantry_core::now();
    let inserted = sqlx::query(concat!(
        "INSERT INTO users (",
        person_insert_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (username) DO NOTHING RETURNING ",
        user_columns!()
    ))
    .bind(UserId::generate().to_string())
    .bind(user.username.as_str())
    .bind(user.display_name.as_str())
    .bind(user.email.as_ref().map(|email| email.as_str()))
    .bind(now)
    .fetch_optional(&mut *connection)
    .await
    .during(operation)?;
    let row = match inserted {
        Some(row) => {
            let created = rows::user(&row, operation)?;
            write.record(audit::user_created(&created));
            return Ok(created);
        }
        None => sqlx::query(concat!("SELECT ", user_columns!(), " FROM users WHERE username = $1"))
            .bind(user.username.as_str())
            .fetch_optional(&mut *connection)
            .await
            .during(operation)?
            .ok_or_else(|| {
                internal(
                    operation,
                    format!("user {:?} conflicted on insert but cannot be read", user.username),
                )
            })?,
    };
    rows::user(&row, operation)
}

#[async_trait]
impl UserStore for PostgresStore {
    async fn create_user(&self, platform: &PlatformScope, user: NewUser) -> Result<User> {
        let operation = Operation::CreateUser;
        let mut transaction = self.begin_write(WriteScope::Platform(platform), operation).await?;
        let now = tenantry_core::now();
        let row = sqlx::query(concat!(
            "INSERT INTO users (",
            person_insert_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $5) RETURNING ",
            user_columns!()
        ))
        .bind(UserId::generate().to_string())
        .bind(user.username.as_str())
        .bind(user.display_name.as_str())
        .bind(user.email.as_ref().map(|email| email.as_str()))
        .bind(now)
        .fetch_one(&mut *transaction)
        .await
        .during(operation)?;
        let created = rows::user(&row, operation)?;
        transaction.record(audit::user_created(&created));
        transaction.commit().await?;
        Ok(created)
    }

    async fn ensure_user(&self, platform: &PlatformScope, user: NewUser) -> Result<User> {
        let operation = Operation::EnsureUser;
        let mut transaction = self.begin_write(WriteScope::Platform(platform), operation).await?;
        let ensured = ensure_user(&mut transaction, &user).await?;
        transaction.commit().await?;
        Ok(ensured)
    }

    async fn get_user(&self, user_id: &UserId) -> Result<User> {
        let operation = Operation::GetUser;
        let mut transaction = self.begin(TransactionScope::Global, operation).await?;
        let row = sqlx::query(concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1"))
            .bind(user_id.to_string())
            .fetch_optional(&mut *transaction)
            .await
            .during(operation)?;
        commit(transaction, operation).await?;
        row.map(|row| rows::user(&row, operation)).transpose()?.ok_or(Error::not_found("user"))
    }

    async fn find_user_by_username(&self, username: &Username) -> Result<Option<User>> {
        let operation = Operation::FindUserByUsername;
        let mut transaction = self.begin(TransactionScope::Global, operation).await?;
        let row = sqlx::query(concat!("SELECT ", user_columns!(), " FROM users WHERE username = $1"))
            .bind(username.as_str())
            .fetch_optional(&mut *transaction)
            .await
            .during(operation)?;
        commit(transaction, operation).await?;
        row.map(|row| rows::user(&row, operation)).transpose()
    }

    async fn users_by_ids(&self, user_ids: &[UserId]) -> Result<Vec<User>> {
        users_by_ids(self, user_ids).await
    }

    async fn sign_in_oidc_user(&self, platform: &PlatformScope, sign_in: OidcSignIn) -> Result<User> {
        sign_in_oidc_user(self, platform, sign_in).await
    }
}
