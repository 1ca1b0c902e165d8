//! Users: global to the deployment, so no tenant scope applies.

use sqlx::{SqliteConnection, SqlitePool};
use tenantry_core::{Error, NewUser, Result, Timestamp, User, UserId, Username, now};

use crate::error::{Failure, Operation, map_database_error};
use crate::rows::{self, USER_COLUMNS};
use crate::{begin_write, commit};

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

/// See [`tenantry_core::Store::create_user`].
pub(crate) async fn create_user(pool: &SqlitePool, new_user: NewUser) -> Result<User> {
    let operation = Operation::CreateUser;
    let at = now();
    let user = User {
        id: UserId::generate(),
        username: new_user.username,
        display_name: new_user.display_name,
        email: new_user.email,
        is_platform_admin: false,
        created_at: at,
        updated_at: at,
    };
    let mut transaction = begin_write(pool, operation).await?;
    sqlx::query(
        "INSERT INTO users (id, username, display_name, email, is_platform_admin, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6)",
    )
    .bind(user.id.to_string())
    .bind(user.username.as_str())
    .bind(user.display_name.as_str())
    .bind(user.email.as_ref().map(|email| email.as_str()))
    .bind(user.created_at)
    .bind(user.updated_at)
    .execute(&mut *transaction)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    commit(transaction, operation).await?;
    Ok(user)
}

/// Returns the user with the new user's username, inserting it first if
/// there is none, inside the caller's write transaction.
pub(crate) async fn ensure_user_on(
    connection: &mut SqliteConnection,
    new_user: NewUser,
    at: Timestamp,
    operation: Operation,
) -> Result<User> {
    sqlx::query(
        "INSERT INTO users (id, username, display_name, email, is_platform_admin, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, 0, ?5, ?5) \
         ON CONFLICT (username) DO NOTHING",
    )
    .bind(UserId::generate().to_string())
    .bind(new_user.username.as_str())
    .bind(new_user.display_name.as_str())
    .bind(new_user.email.as_ref().map(|email| email.as_str()))
    .bind(at)
    .execute(&mut *connection)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    select_user_by_username(connection, &new_user.username, operation).await?.ok_or_else(|| {
        Error::internal(Failure::message(format!(
            "the user {} was neither inserted nor found",
            new_user.username
        )))
    })
}

/// Makes a user a platform admin, inside the caller's write transaction,
/// touching `updated_at` only when that changes something.
pub(crate) async fn make_platform_admin(
    connection: &mut SqliteConnection,
    user: User,
    at: Timestamp,
    operation: Operation,
) -> Result<User> {
    if user.is_platform_admin {
        return Ok(user);
    }
    sqlx::query("UPDATE users SET is_platform_admin = 1, updated_at = ?2 WHERE id = ?1")
        .bind(user.id.to_string())
        .bind(at)
        .execute(&mut *connection)
        .await
        .map_err(|error| map_database_error(error, operation))?;
    Ok(User { is_platform_admin: true, updated_at: at, ..user })
}

/// See [`tenantry_core::Store::ensure_user`]. The write transaction makes
/// the insert-if-absent and the read one step against concurrent callers.
pub(crate) async fn ensure_user(pool: &SqlitePool, new_user: NewUser) -> Result<User> {
    let operation = Operation::EnsureUser;
    let mut transaction = begin_write(pool, operation).await?;
    let user = ensure_user_on(&mut transaction, new_user, now(), operation).await?;
    commit(transaction, operation).await?;
    Ok(user)
}

/// See [`tenantry_core::Store::get_user`].
pub(crate) async fn get_user(pool: &SqlitePool, user_id: &UserId) -> Result<User> {
    let operation = Operation::GetUser;
    let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))
        .bind(user_id.to_string())
        .fetch_optional(pool)
        .await
        .map_err(|error| map_database_error(error, operation))?;
    match row {
        Some(row) => rows::user(&row),
        None => Err(Error::not_found("user")),
    }
}

/// See [`tenantry_core::Store::find_user_by_username`].
pub(crate) async fn find_user_by_username(pool: &SqlitePool, username: &Username) -> Result<Option<User>> {
    let operation = Operation::FindUserByUsername;
    let mut connection = pool.acquire().await.map_err(|error| map_database_error(error, operation))?;
    select_user_by_username(&mut connection, username, operation).await
}
