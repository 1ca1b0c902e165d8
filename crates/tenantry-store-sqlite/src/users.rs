//! Users: global to the deployment, so no tenant scope applies. Their
//! changes are the platform's, recorded in its audit log as the platform
//! scope's actor made them.

use async_trait::async_trait;
use sqlx::SqliteConnection;
use tenantry_core::{
    Error, NewUser, OidcIdentity, OidcSignIn, PlatformScope, Result, Timestamp, User, UserId, UserKind,
    UserStore, Username, audit, now,
};

use crate::Connections;
use crate::SqliteStore;
use crate::audit::{Write, WriteScope};
use crate::error::{Failure, Operation, map_database_error};
use crate::json_id_array;
use crate::rows::{self, USER_COLUMNS};

/// Reads a user by username on the caller's connection.
async fn select_user_by_username(
    connection: &mut SqliteConnection,
    username: &Username,
    operation: Operation,
) -> Result<Option<User>> {
    let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?1"))
        .bind(username.as_str())
        .fetch_optional(&mut *connection)
        .await
        .map_err(|error| map_database_error(error, operation))?;
    row.as_ref().map(rows::user).transpose()
}

/// See [`tenantry_core::UserStore::create_user`].
pub(crate) async fn create_user(
    pool: &Connections,
    platform: &PlatformScope,
    new_user: NewUser,
) -> Result<User> {
    let operation = Operation::CreateUser;
    let at = now();
    let user = User {
        id: UserId::generate(),
        username: new_user.username,
        kind: UserKind::Person,
        display_name: new_user.display_name,
        email: new_user.email,
        created_at: at,
        updated_at: at,
    };
    let mut transaction = Write::begin(pool, WriteScope::Platform(platform), operation).await?;
    insert_user(&mut transaction, &user, None, operation).await?;
    transaction.record(audit::user_created(&user));
    transaction.commit().await?;
    Ok(user)
}

/// Inserts a user as given, with the OIDC identity it signs in with, if
/// any, inside the caller's write transaction.
async fn insert_user(
    connection: &mut SqliteConnection,
    user: &User,
    identity: Option<&OidcIdentity>,
    operation: Operation,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO users \
         (id, username, display_name, email, oidc_issuer, oidc_subject, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .bind(user.id.to_string())
    .bind(user.username.as_str())
    .bind(user.display_name.as_str())
    .bind(user.email.as_ref().map(|email| email.as_str()))
    .bind(identity.map(|identity| identity.issuer.as_str()))
    .bind(identity.map(|identity| identity.subject.as_str()))
    .bind(user.created_at)
    .bind(user.updated_at)
    .execute(&mut *connection)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    Ok(())
}

/// Returns the user with the new user's username, inserting it first (and
/// recording `user.created`) if there is none, inside the caller's write
/// transaction.
pub(crate) async fn ensure_user_on(write: &mut Write, new_user: NewUser, at: Timestamp) -> Result<User> {
    let operation = write.operation();
    let inserted = sqlx::query(&format!(
        "INSERT INTO users (id, username, display_name, email, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?5) \
         ON CONFLICT (username) DO NOTHING RETURNING {USER_COLUMNS}"
    ))
    .bind(UserId::generate().to_string())
    .bind(new_user.username.as_str())
    .bind(new_user.display_name.as_str())
    .bind(new_user.email.as_ref().map(|email| email.as_str()))
    .bind(at)
    .fetch_optional(&mut **write)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    if let Some(row) = inserted {
        let created = rows::user(&row)?;
        write.record(audit::user_created(&created));
        return Ok(created);
    }
    select_user_by_username(write, &new_user.username, operation).await?.ok_or_else(|| {
        Error::internal(Failure::message(format!(
            "the user {} was neither inserted nor found",
            new_user.username
        )))
    })
}

/// See [`tenantry_core::UserStore::ensure_user`]. The write transaction makes
/// the insert-if-absent and the read one step against concurrent callers.
pub(crate) async fn ensure_user(
    pool: &Connections,
    platform: &PlatformScope,
    new_user: NewUser,
) -> Result<User> {
    let operation = Operation::EnsureUser;
    let mut transaction = Write::begin(pool, WriteScope::Platform(platform), operation).await?;
    let user = ensure_user_on(&mut transaction, new_user, now()).await?;
    transaction.commit().await?;
    Ok(user)
}

/// See [`tenantry_core::UserStore::get_user`].
pub(crate) async fn get_user(pool: &Connections, user_id: &UserId) -> Result<User> {
    let operation = Operation::GetUser;
    let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))
        .bind(user_id.to_string())
        .fetch_optional(pool.reads())
        .await
        .map_err(|error| map_database_error(error, operation))?;
    match row {
        Some(row) => rows::user(&row),
        None => Err(Error::not_found("user")),
    }
}

/// See [`tenantry_core::UserStore::find_user_by_username`].
pub(crate) async fn find_user_by_username(pool: &Connections, username: &Username) -> Result<Option<User>> {
    let operation = Operation::FindUserByUsername;
    let mut connection = pool.read_connection(operation).await?;
    select_user_by_username(&mut connection, username, operation).await
}

/// See [`tenantry_core::UserStore::users_by_ids`].
pub(crate) async fn users_by_ids(pool: &Connections, user_ids: &[UserId]) -> Result<Vec<User>> {
    let operation = Operation::UsersByIds;
    let rows = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY id"
    ))
    .bind(json_id_array(user_ids))
    .fetch_all(pool.reads())
    .await
    .map_err(|error| map_database_error(error, operation))?;
    rows.iter().map(rows::user).collect()
}

/// What a sign-in does to the users table.
#[derive(Debug)]
enum SignInPlan {
    /// The identity's user, already in step with the profile.
    Unchanged(User),
    /// The identity's user (as it is), and as brought in step with the
    /// profile.
    Update { before: User, after: User },
    /// A new user for an identity seen for the first time.
    Create(User),
}

/// Whether another user than `except` holds `username`.
async fn username_taken(
    connection: &mut SqliteConnection,
    username: &Username,
    except: Option<&UserId>,
    operation: Operation,
) -> Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE username = ?1 AND id IS NOT ?2)")
        .bind(username.as_str())
        .bind(except.map(ToString::to_string))
        .fetch_one(&mut *connection)
        .await
        .map_err(|error| map_database_error(error, operation))
}

/// Decides what a sign-in changes, reading on the caller's connection.
async fn plan_sign_in(
    connection: &mut SqliteConnection,
    sign_in: &OidcSignIn,
    at: Timestamp,
    operation: Operation,
) -> Result<SignInPlan> {
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE oidc_issuer = ?1 AND oidc_subject = ?2"
    ))
    .bind(&sign_in.identity.issuer)
    .bind(&sign_in.identity.subject)
    .fetch_optional(&mut *connection)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    let profile = &sign_in.profile;
    let Some(user) = row.as_ref().map(rows::user).transpose()? else {
        let username = if username_taken(connection, &profile.username, None, operation).await? {
            sign_in.fallback_username.clone()
        } else {
            profile.username.clone()
        };
        return Ok(SignInPlan::Create(User {
            id: UserId::generate(),
            username,
            kind: UserKind::Person,
            display_name: profile.display_name.clone(),
            email: profile.email.clone(),
            created_at: at,
            updated_at: at,
        }));
    };
    // A username someone else took meanwhile stays with them; the user
    // keeps the one it has.
    let username = if username_taken(connection, &profile.username, Some(&user.id), operation).await? {
        user.username.clone()
    } else {
        profile.username.clone()
    };
    let synced = User {
        username,
        display_name: profile.display_name.clone(),
        email: profile.email.clone(),
        ..user.clone()
    };
    Ok(if synced == user {
        SignInPlan::Unchanged(user)
    } else {
        SignInPlan::Update { after: User { updated_at: at, ..synced }, before: user }
    })
}

/// See [`tenantry_core::UserStore::sign_in_oidc_user`]. A sign-in that changes
/// nothing, the usual case, is one read without the write lock; otherwise
/// the plan is made again under the write lock, which serializes
/// concurrent first sign-ins of one identity so that the later ones find
/// the user the first created. A user created is recorded as
/// `user.created`, a profile changed as `user.updated`, both in the
/// platform's audit log.
pub(crate) async fn sign_in_oidc_user(
    pool: &Connections,
    platform: &PlatformScope,
    sign_in: OidcSignIn,
) -> Result<User> {
    let operation = Operation::SignInOidcUser;
    {
        let mut connection = pool.read_connection(operation).await?;
        if let SignInPlan::Unchanged(user) = plan_sign_in(&mut connection, &sign_in, now(), operation).await?
        {
            return Ok(user);
        }
    }
    let mut transaction = Write::begin(pool, WriteScope::Platform(platform), operation).await?;
    let user = match plan_sign_in(&mut transaction, &sign_in, now(), operation).await? {
        SignInPlan::Unchanged(user) => user,
        SignInPlan::Update { before, after: user } => {
            sqlx::query(
                "UPDATE users SET username = ?2, display_name = ?3, email = ?4, updated_at = ?5 WHERE id = ?1",
            )
            .bind(user.id.to_string())
            .bind(user.username.as_str())
            .bind(user.display_name.as_str())
            .bind(user.email.as_ref().map(|email| email.as_str()))
            .bind(user.updated_at)
            .execute(&mut *transaction)
            .await
            .map_err(|error| map_database_error(error, operation))?;
            transaction.record_all(audit::user_updated(&before, &user));
            user
        }
        SignInPlan::Create(user) => {
            insert_user(&mut transaction, &user, Some(&sign_in.identity), operation).await?;
            transaction.record(audit::user_created(&user));
            user
        }
    };
    transaction.commit().await?;
    Ok(user)
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, platform: &PlatformScope, user: NewUser) -> Result<User> {
        create_user(&self.pool, platform, user).await
    }

    async fn ensure_user(&self, platform: &PlatformScope, user: NewUser) -> Result<User> {
        ensure_user(&self.pool, platform, user).await
    }

    async fn get_user(&self, user_id: &UserId) -> Result<User> {
        get_user(&self.pool, user_id).await
    }

    async fn find_user_by_username(&self, username: &Username) -> Result<Option<User>> {
        find_user_by_username(&self.pool, username).await
    }

    async fn users_by_ids(&self, user_ids: &[UserId]) -> Result<Vec<User>> {
        users_by_ids(&self.pool, user_ids).await
    }

    async fn sign_in_oidc_user(&self, platform: &PlatformScope, sign_in: OidcSignIn) -> Result<User> {
        sign_in_oidc_user(&self.pool, platform, sign_in).await
    }
}
