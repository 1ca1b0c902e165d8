//! Row-level security as the runtime role meets it with raw SQL, below the
//! store: the database itself confines every tenant-owned row.

use sqlx::{Connection, PgConnection, PgPool};
use tenantry_core::Error;
use tenantry_core::prelude::*;
use tenantry_test_support::RawSql;
use tenantry_test_support::postgres::{PostgresTestDb, RawPostgres};

use tenantry_store_postgres::PostgresStore;

use crate::fixtures::{
    SeededTenant, TABLES_WITH_ROW_LEVEL_SECURITY, count_sql, runtime_store, seed_two_tenants,
    single_connection_pool, tenant_column,
};

/// PostgreSQL's SQLSTATE for a row refused by a policy's WITH CHECK
/// (`insufficient_privilege`).
const POLICY_VIOLATION: &str = "42501";

async fn count(executor: impl sqlx::PgExecutor<'_>, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(executor).await.unwrap()
}

/// The SQLSTATE of a failed statement.
fn sqlstate(error: &sqlx::Error) -> Option<String> {
    error.as_database_error().and_then(|error| error.code()).map(|code| code.into_owned())
}

#[tokio::test]
async fn without_a_tenant_setting_the_runtime_role_sees_no_rows() {
    let Some(db) = PostgresTestDb::create().await else { return };
    let (alpha, beta) = seed_two_tenants(&db).await;
    let owner = RawPostgres::connect(&db.owner_url).await;
    let runtime = PgPool::connect(&db.runtime_url).await.unwrap();
    for table in TABLES_WITH_ROW_LEVEL_SECURITY {
        // The owner (BYPASSRLS) sees both tenants' rows: there is
        // something to hide.
        for tenant in [&alpha, &beta] {
            let condition = format!("{} = '{}'", tenant_column(table), tenant.id());
            let rows = owner.scalar_i64(&count_sql(table, &condition)).await.unwrap();
            assert!(rows >= 1, "{table} holds rows of {}", tenant.id());
        }
        // Outside a transaction, and inside one, with no setting.
        assert_eq!(count(&runtime, &count_sql(table, "")).await, 0, "{table} outside a transaction");
        let mut transaction = runtime.begin().await.unwrap();
        assert_eq!(count(&mut *transaction, &count_sql(table, "")).await, 0, "{table} in a transaction");
        transaction.commit().await.unwrap();
    }
    // The global tables have no policy: the runtime role reads them (two
    // people and each tenant's service account's user).
    assert_eq!(count(&runtime, "SELECT count(*) FROM users").await, 4);
}

#[tokio::test]
async fn with_a_tenant_setting_the_runtime_role_sees_only_that_tenants_rows() {
    let Some(db) = PostgresTestDb::create().await else { return };
    let (alpha, beta) = seed_two_tenants(&db).await;
    let runtime = PgPool::connect(&db.runtime_url).await.unwrap();
    // Both ways of setting it: `set_config(..., true)`, and the store's
    // `SET LOCAL`, which Citus propagates to its workers.
    for setting in ["set_config", "SET LOCAL"] {
        let mut transaction = runtime.begin().await.unwrap();
        if setting == "set_config" {
            sqlx::query("SELECT set_config('tenantry.tenant_id', $1, true)")
                .bind(alpha.id())
                .execute(&mut *transaction)
                .await
                .unwrap();
        } else {
            sqlx::raw_sql(&format!("SET LOCAL tenantry.tenant_id = '{}'", alpha.id()))
                .execute(&mut *transaction)
                .await
                .unwrap();
        }
        for table in TABLES_WITH_ROW_LEVEL_SECURITY {
            let column = tenant_column(table);
            let all = count(&mut *transaction, &count_sql(table, "")).await;
            let alphas =
                count(&mut *transaction, &count_sql(table, &format!("{column} = '{}'", alpha.id()))).await;
            let betas =
                count(&mut *transaction, &count_sql(table, &format!("{column} = '{}'", beta.id()))).await;
            assert!(alphas >= 1, "{table} via {setting}: alpha's rows are visible");
            assert_eq!(betas, 0, "{table} via {setting}: none of beta's rows");
            assert_eq!(all, alphas, "{table} via {setting}: nothing but alpha's rows");
        }
        transaction.rollback().await.unwrap();
    }
}

#[tokio::test]
async fn policies_refuse_writing_another_tenants_rows() {
    let Some(db) = PostgresTestDb::create().await else { return };
    let (alpha, beta) = seed_two_tenants(&db).await;
    let owner = RawPostgres::connect(&db.owner_url).await;
    let mut runtime = PgConnection::connect(&db.runtime_url).await.unwrap();
    let insert_workspace = |tenant_id: &str, parent_workspace_id: &str| {
        format!(
            "INSERT INTO workspaces (tenant_id, id, name, parent_workspace_id, is_root, status, environment, \
             created_at, updated_at) VALUES ('{tenant_id}', 'ws_01HZZZZZZZZZZZZZZZZZZZZZZZ', 'Intruder', \
             '{parent_workspace_id}', false, 'active', 'production', now(), now())"
        )
    };
    let insert_api_key = |tenant_id: &str, user_id: &str| {
        format!(
            "INSERT INTO api_keys (tenant_id, id, user_id, name, secret_hash, created_at, expires_at) \
             VALUES ('{tenant_id}', 'key_01HZZZZZZZZZZZZZZZZZZZZZZZ', '{user_id}', 'intruder', '\\x00', now(), \
             now() + interval '1 day')"
        )
    };
    let insert_relationship = |tenant_id: &str| {
        format!(
            "INSERT INTO relationships (tenant_id, resource_type, resource_id, relation, subject_type, \
             subject_id, subject_relation) VALUES ('{tenant_id}', 'tenant', '{tenant_id}', 'admin', 'user', \
             'usr_01HZZZZZZZZZZZZZZZZZZZZZZZ', '')"
        )
    };
    let insert_group = |tenant_id: &str| {
        format!(
            "INSERT INTO groups (tenant_id, id, name, created_at, updated_at) \
             VALUES ('{tenant_id}', 'grp_01HZZZZZZZZZZZZZZZZZZZZZZZ', 'intruders', now(), now())"
        )
    };
    let insert_invitation = |tenant_id: &str| {
        format!(
            "INSERT INTO invitations (tenant_id, id, resource_type, role, invitee_user_id, invited_by, status, \
             created_at, expires_at) VALUES ('{tenant_id}', 'inv_01HZZZZZZZZZZZZZZZZZZZZZZZ', 'tenant', 'admin', \
             'usr_01HZZZZZZZZZZZZZZZZZZZZZZZ', 'usr_01HZZZZZZZZZZZZZZZZZZZZZZZ', 'pending', now(), \
             now() + interval '1 day')"
        )
    };
    let user_id = alpha.api_key.user_id.to_string();
    let refused = [
        insert_invitation(&beta.id()),
        insert_workspace(&beta.id(), &beta.root.id.to_string()),
        insert_api_key(&beta.id(), &user_id),
        insert_relationship(&beta.id()),
        insert_group(&beta.id()),
        format!(
            "INSERT INTO tenants (id, name, display_name, status, deployment_model, data_residency, \
             created_at, updated_at) VALUES ('{}', 'gamma', 'gamma', 'active', 'hosted_saas', 'global', \
             now(), now())",
            tenantry_core::TenantId::generate()
        ),
    ];
    for statement in &refused {
        let mut transaction = runtime.begin().await.unwrap();
        sqlx::query("SELECT set_config('tenantry.tenant_id', $1, true)")
            .bind(alpha.id())
            .execute(&mut *transaction)
            .await
            .unwrap();
        let error = sqlx::query(statement).execute(&mut *transaction).await.unwrap_err();
        assert_eq!(sqlstate(&error).as_deref(), Some(POLICY_VIOLATION), "{statement}: {error}");
        assert!(error.to_string().contains("row-level security policy"), "{error}");
        transaction.rollback().await.unwrap();
    }
    // Positive control: the same statements for alpha's own tenant pass the
    // policy, so the refusals above are the policy's and not a typo's.
    let mut transaction = runtime.begin().await.unwrap();
    sqlx::query("SELECT set_config('tenantry.tenant_id', $1, true)")
        .bind(alpha.id())
        .execute(&mut *transaction)
        .await
        .unwrap();
    sqlx::query(&insert_workspace(&alpha.id(), &alpha.root.id.to_string()))
        .execute(&mut *transaction)
        .await
        .unwrap();
    sqlx::query(&insert_api_key(&alpha.id(), &user_id)).execute(&mut *transaction).await.unwrap();
    sqlx::query(&insert_relationship(&alpha.id())).execute(&mut *transaction).await.unwrap();
    sqlx::query(&insert_group(&alpha.id())).execute(&mut *transaction).await.unwrap();
    sqlx::query(&insert_invitation(&alpha.id())).execute(&mut *transaction).await.unwrap();
    // Updates and deletes of beta's rows find nothing to change.
    for statement in [
        format!(
            "UPDATE invitations SET status = 'revoked', answered_at = now() WHERE tenant_id = '{}'",
            beta.id()
        ),
        format!("UPDATE invitations SET invitee_user_id = '{user_id}' WHERE tenant_id = '{}'", beta.id()),
        format!("DELETE FROM invitations WHERE tenant_id = '{}'", beta.id()),
        format!(
            "UPDATE relationship_revisions SET revision = revision + 1 WHERE tenant_id = '{}'",
            beta.id()
        ),
        format!("DELETE FROM relationships WHERE tenant_id = '{}'", beta.id()),
        format!("DELETE FROM relationship_changes WHERE tenant_id = '{}'", beta.id()),
        format!("UPDATE groups SET name = 'Hijacked' WHERE tenant_id = '{}'", beta.id()),
        format!("UPDATE workspaces SET name = 'Hijacked' WHERE tenant_id = '{}'", beta.id()),
        format!("UPDATE api_keys SET revoked_at = now() WHERE tenant_id = '{}'", beta.id()),
        format!("UPDATE tenants SET display_name = 'Hijacked' WHERE id = '{}'", beta.id()),
        format!("DELETE FROM api_keys WHERE tenant_id = '{}'", beta.id()),
    ] {
        let outcome = sqlx::query(&statement).execute(&mut *transaction).await.unwrap();
        assert_eq!(outcome.rows_affected(), 0, "{statement}");
    }
    transaction.rollback().await.unwrap();
    // Moving one of alpha's rows into beta is refused too.
    let mut transaction = runtime.begin().await.unwrap();
    sqlx::query("SELECT set_config('tenantry.tenant_id', $1, true)")
        .bind(alpha.id())
        .execute(&mut *transaction)
        .await
        .unwrap();
    let statement =
        format!("UPDATE api_keys SET tenant_id = '{}' WHERE tenant_id = '{}'", beta.id(), alpha.id());
    let error = sqlx::query(&statement).execute(&mut *transaction).await.unwrap_err();
    assert!(sqlstate(&error).is_some(), "{error}");
    transaction.rollback().await.unwrap();
    // Nor can an invitation of alpha's be pointed at a workspace of beta's:
    // the composite foreign key, below the policy, refuses it.
    let mut transaction = runtime.begin().await.unwrap();
    sqlx::query("SELECT set_config('tenantry.tenant_id', $1, true)")
        .bind(alpha.id())
        .execute(&mut *transaction)
        .await
        .unwrap();
    let statement = format!(
        "UPDATE invitations SET resource_type = 'workspace', workspace_id = '{}' WHERE tenant_id = '{}'",
        beta.root.id,
        alpha.id()
    );
    let error = sqlx::query(&statement).execute(&mut *transaction).await.unwrap_err();
    assert!(error.to_string().contains("invitations_workspace_fkey"), "{error}");
    transaction.rollback().await.unwrap();
    // Beta's invitation is still pending and still its invitee's.
    let pending = owner
        .scalar_i64(&format!(
            "SELECT count(*) FROM invitations WHERE tenant_id = '{}' AND status = 'pending' \
             AND invitee_user_id <> '{user_id}'",
            beta.id()
        ))
        .await
        .unwrap();
    assert_eq!(pending, 1);
    // Nothing of beta's changed.
    let untouched = owner
        .scalar_i64(&format!(
            "SELECT count(*) FROM workspaces WHERE tenant_id = '{}' AND name <> 'Hijacked'",
            beta.id()
        ))
        .await
        .unwrap();
    assert_eq!(untouched, 3);
}

/// A transaction of the runtime role in the tenant's scope.
async fn begin_in<'c>(
    runtime: &'c mut PgConnection,
    tenant: &SeededTenant,
) -> sqlx::Transaction<'c, sqlx::Postgres> {
    let mut transaction = runtime.begin().await.unwrap();
    sqlx::query("SELECT set_config('tenantry.tenant_id', $1, true)")
        .bind(tenant.id())
        .execute(&mut *transaction)
        .await
        .unwrap();
    transaction
}

/// As the runtime role in alpha's scope, raw SQL can neither read nor
/// write beta's service accounts, nor give any service user (even alpha's
/// own) an OIDC identity: the policies and the CHECK below the store
/// refuse it, while the same statements on alpha's rows and a person pass.
#[tokio::test]
async fn the_runtime_role_cannot_reach_another_tenants_service_accounts_or_sign_one_in() {
    let Some(db) = PostgresTestDb::create().await else { return };
    let (alpha, beta) = seed_two_tenants(&db).await;
    let mut runtime = PgConnection::connect(&db.runtime_url).await.unwrap();
    let mut transaction = begin_in(&mut runtime, &alpha).await;
    let beta_rows = format!("SELECT count(*) FROM service_accounts WHERE tenant_id = '{}'", beta.id());
    assert_eq!(count(&mut *transaction, &beta_rows).await, 0, "beta's service accounts are invisible");
    let alpha_rows = format!("SELECT count(*) FROM service_accounts WHERE tenant_id = '{}'", alpha.id());
    assert_eq!(count(&mut *transaction, &alpha_rows).await, 1, "alpha's own are visible");
    for statement in [
        format!("UPDATE service_accounts SET name = 'hijacked' WHERE tenant_id = '{}'", beta.id()),
        format!("DELETE FROM service_accounts WHERE tenant_id = '{}'", beta.id()),
    ] {
        let outcome = sqlx::query(&statement).execute(&mut *transaction).await.unwrap();
        assert_eq!(outcome.rows_affected(), 0, "{statement}");
    }
    transaction.rollback().await.unwrap();
    // Inserting a row into beta is refused by the policy; the same row in
    // alpha passes it.
    let insert = |tenant_id: &str| {
        format!(
            "INSERT INTO service_accounts (tenant_id, user_id, name, created_at) \
             VALUES ('{tenant_id}', '{}', 'intruder', now())",
            alpha.api_key.user_id
        )
    };
    let mut transaction = begin_in(&mut runtime, &alpha).await;
    let error = sqlx::query(&insert(&beta.id())).execute(&mut *transaction).await.unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some(POLICY_VIOLATION), "{error}");
    transaction.rollback().await.unwrap();
    let mut transaction = begin_in(&mut runtime, &alpha).await;
    sqlx::query(&insert(&alpha.id())).execute(&mut *transaction).await.unwrap();
    transaction.rollback().await.unwrap();
    // No service user gets an OIDC identity, whichever tenant's it is; a
    // person does.
    let give_identity = |user_id: &str| {
        format!(
            "UPDATE users SET oidc_issuer = 'https://issuer.example', oidc_subject = 'sub-{user_id}' \
             WHERE id = '{user_id}'"
        )
    };
    for service_account in [&alpha.service_account, &beta.service_account] {
        let mut transaction = begin_in(&mut runtime, &alpha).await;
        let statement = give_identity(&service_account.user_id.to_string());
        let error = sqlx::query(&statement).execute(&mut *transaction).await.unwrap_err();
        assert!(error.to_string().contains("users_service_no_oidc_check"), "{error}");
        transaction.rollback().await.unwrap();
    }
    let mut transaction = begin_in(&mut runtime, &alpha).await;
    let outcome = sqlx::query(&give_identity(&alpha.api_key.user_id.to_string()))
        .execute(&mut *transaction)
        .await
        .unwrap();
    assert_eq!(outcome.rows_affected(), 1);
    transaction.rollback().await.unwrap();
}

/// As the runtime role in alpha's scope, raw SQL neither reads beta's
/// webhooks (their secrets included) or deliveries, nor changes them, nor
/// adds a delivery to beta's subscription or a subscription to beta.
#[tokio::test]
async fn the_runtime_role_cannot_reach_another_tenants_webhooks_or_their_secrets() {
    let Some(db) = PostgresTestDb::create().await else { return };
    let (alpha, beta) = seed_two_tenants(&db).await;
    let mut runtime = PgConnection::connect(&db.runtime_url).await.unwrap();
    let mut transaction = begin_in(&mut runtime, &alpha).await;
    for table in ["webhooks", "webhook_deliveries"] {
        let beta_rows = format!("SELECT count(*) FROM {table} WHERE tenant_id = '{}'", beta.id());
        assert_eq!(count(&mut *transaction, &beta_rows).await, 0, "beta's {table} are invisible");
        let alpha_rows = format!("SELECT count(*) FROM {table} WHERE tenant_id = '{}'", alpha.id());
        assert_eq!(count(&mut *transaction, &alpha_rows).await, 1, "alpha's own {table} are visible");
    }
    let secrets: Vec<String> =
        sqlx::query_scalar("SELECT secret FROM webhooks").fetch_all(&mut *transaction).await.unwrap();
    assert_eq!(secrets.len(), 1, "only alpha's secret is readable");
    for statement in [
        format!("UPDATE webhooks SET url = 'https://attacker.example/' WHERE tenant_id = '{}'", beta.id()),
        format!("UPDATE webhooks SET delivered_through = 0 WHERE tenant_id = '{}'", beta.id()),
        format!("DELETE FROM webhooks WHERE tenant_id = '{}'", beta.id()),
        format!("DELETE FROM webhook_deliveries WHERE tenant_id = '{}'", beta.id()),
    ] {
        let outcome = sqlx::query(&statement).execute(&mut *transaction).await.unwrap();
        assert_eq!(outcome.rows_affected(), 0, "{statement}");
    }
    transaction.rollback().await.unwrap();
    let beta_webhook: String = {
        let owner = sqlx::PgPool::connect(&db.owner_url).await.unwrap();
        sqlx::query_scalar("SELECT id FROM webhooks WHERE tenant_id = $1")
            .bind(beta.id())
            .fetch_one(&owner)
            .await
            .unwrap()
    };
    let refused = [
        format!(
            "INSERT INTO webhooks (tenant_id, id, url, event_types, secret, created_at, delivered_through) \
             VALUES ('{}', 'whk_01HZZZZZZZZZZZZZZZZZZZZZZZ', 'https://attacker.example/', '[\"*\"]', \
             'whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=', now(), 0)",
            beta.id()
        ),
        format!(
            "INSERT INTO webhook_deliveries (tenant_id, webhook_id, id, message_id, action, attempt, \
             attempted_at, duration_micros) VALUES ('{}', '{beta_webhook}', 'whd_01HZZZZZZZZZZZZZZZZZZZZZZZ', \
             'msg_x', 'x.y', 1, now(), 0)",
            beta.id()
        ),
    ];
    for statement in refused {
        let mut transaction = begin_in(&mut runtime, &alpha).await;
        let error = sqlx::query(&statement).execute(&mut *transaction).await.unwrap_err();
        assert_eq!(sqlstate(&error).as_deref(), Some(POLICY_VIOLATION), "{statement}: {error}");
        transaction.rollback().await.unwrap();
    }
    // A delivery in alpha naming beta's subscription fails the composite
    // foreign key (beta's row is invisible, and not alpha's).
    let mut transaction = begin_in(&mut runtime, &alpha).await;
    let statement = format!(
        "INSERT INTO webhook_deliveries (tenant_id, webhook_id, id, message_id, action, attempt, attempted_at, \
         duration_micros) VALUES ('{}', '{beta_webhook}', 'whd_01HZZZZZZZZZZZZZZZZZZZZZZZ', 'msg_x', 'x.y', 1, \
         now(), 0)",
        alpha.id()
    );
    let error = sqlx::query(&statement).execute(&mut *transaction).await.unwrap_err();
    assert!(error.to_string().contains("webhook_deliveries_webhook_fkey"), "{error}");
    transaction.rollback().await.unwrap();
}

#[tokio::test]
async fn a_tenant_setting_does_not_outlive_its_transaction() {
    let Some(db) = PostgresTestDb::create().await else { return };
    let (alpha, _beta) = seed_two_tenants(&db).await;
    // One connection, so the second transaction reuses the first's session,
    // as a pooled connection serves one request after another.
    let pool = single_connection_pool(&db.runtime_url).await;
    let backend_pid = |pool: PgPool| async move {
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&pool).await.unwrap();
        pid
    };
    let session = backend_pid(pool.clone()).await;

    let mut transaction = pool.begin().await.unwrap();
    sqlx::query("SELECT set_config('tenantry.tenant_id', $1, true)")
        .bind(alpha.id())
        .execute(&mut *transaction)
        .await
        .unwrap();
    assert_eq!(count(&mut *transaction, "SELECT count(*) FROM workspaces").await, 3);
    transaction.commit().await.unwrap();

    let mut transaction = pool.begin().await.unwrap();
    assert_eq!(count(&mut *transaction, "SELECT count(*) FROM workspaces").await, 0);
    let setting: Option<String> = sqlx::query_scalar("SELECT current_setting('tenantry.tenant_id', true)")
        .fetch_one(&mut *transaction)
        .await
        .unwrap();
    assert!(setting.as_deref().unwrap_or_default().is_empty(), "setting left behind: {setting:?}");
    transaction.commit().await.unwrap();
    assert_eq!(count(&pool, "SELECT count(*) FROM api_keys").await, 0);
    assert_eq!(backend_pid(pool.clone()).await, session, "the same session served every transaction");
}

#[tokio::test]
async fn the_store_pool_never_carries_a_scope_into_the_next_operation() {
    let Some(db) = PostgresTestDb::create().await else { return };
    let (alpha, beta) = seed_two_tenants(&db).await;
    let store = runtime_store(&db).await;
    // Alternate tenants on the store's pooled connections: each scoped read
    // sees its own tenant only, whatever the connection served before.
    for _ in 0..5 {
        for (own, other) in [(&alpha, &beta), (&beta, &alpha)] {
            let page = store.list_workspaces(&own.scope, tenantry_core::PageRequest::first()).await.unwrap();
            assert_eq!(page.items.len(), 3);
            assert!(page.items.iter().all(|workspace| workspace.tenant_id == own.tenant.id));
            let error = store.get_workspace(&own.scope, &other.child.id).await.unwrap_err();
            assert!(matches!(error, Error::NotFound { resource: "workspace" }), "{error}");
            let error = store.get_api_key(&own.scope, &other.api_key.id).await.unwrap_err();
            assert!(matches!(error, Error::NotFound { resource: "api key" }), "{error}");
        }
    }
    // And the operator path sees every tenant.
    let page = store
        .list_tenants(&tenantry_core::PlatformScope::operator_cli(), tenantry_core::PageRequest::first())
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2);
}

/// Sets a transaction-local setting, when there is one.
async fn set_local(transaction: &mut sqlx::PgConnection, setting: Option<&(&str, String)>) {
    if let Some((name, value)) = setting {
        sqlx::query("SELECT set_config($1, $2, true)")
            .bind(name)
            .bind(value)
            .execute(transaction)
            .await
            .unwrap();
    }
}

/// The platform's tables, which the runtime role may neither read nor
/// write, and a statement that would write each.
fn platform_table_writes(user_id: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "platform_relationships",
            format!(
                "INSERT INTO platform_relationships (resource_type, resource_id, relation, subject_type, \
                 subject_id, subject_relation) VALUES ('platform', 'main', 'admin', 'user', '{user_id}', '')"
            ),
        ),
        ("platform_relationship_revisions", "UPDATE platform_relationship_revisions SET revision = revision + 1".to_owned()),
        ("platform_relationship_changes", "DELETE FROM platform_relationship_changes".to_owned()),
        ("deployment_settings", "UPDATE deployment_settings SET value = '\\x00'".to_owned()),
        (
            "authorization_schemas",
            "INSERT INTO authorization_schemas (version, text, created_at) VALUES (99, 'definition user {}', now())"
                .to_owned(),
        ),
    ]
}

#[tokio::test]
async fn only_the_platform_role_reaches_the_platform_tables() {
    let Some(db) = PostgresTestDb::create().await else { return };
    let (alpha, _beta) = seed_two_tenants(&db).await;
    let mut runtime = PgConnection::connect(&db.runtime_url).await.unwrap();
    let writes = platform_table_writes(&alpha.api_key.user_id.to_string());
    // In a tenant's scope (a bug or an injection in a tenant request), in
    // none, and with the setting that admitted the platform scope before
    // the platform role existed: no platform table can be written, and only
    // the schema can be read.
    let settings = [
        vec![("tenantry.tenant_id", alpha.id())],
        vec![],
        vec![("tenantry.tenant_id", alpha.id()), ("tenantry.platform", "on".to_owned())],
    ];
    for setting in &settings {
        for (table, statement) in &writes {
            let mut transaction = runtime.begin().await.unwrap();
            set_local_all(&mut transaction, setting).await;
            let error = sqlx::query(statement).execute(&mut *transaction).await.unwrap_err();
            assert_eq!(sqlstate(&error).as_deref(), Some(POLICY_VIOLATION), "{statement}: {error}");
            transaction.rollback().await.unwrap();
            if *table != "authorization_schemas" {
                let mut transaction = runtime.begin().await.unwrap();
                set_local_all(&mut transaction, setting).await;
                let error = sqlx::query(&format!("SELECT count(*) FROM {table}"))
                    .execute(&mut *transaction)
                    .await
                    .unwrap_err();
                assert_eq!(sqlstate(&error).as_deref(), Some(POLICY_VIOLATION), "reading {table}: {error}");
                transaction.rollback().await.unwrap();
            }
        }
    }
    // Nor can it become the platform role.
    let error =
        sqlx::query(&format!("SET ROLE \"{}\"", db.platform_role)).execute(&mut runtime).await.unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some(POLICY_VIOLATION), "{error}");
    // Anyone may read the schema in force.
    assert_eq!(count(&mut runtime, "SELECT count(*) FROM authorization_schemas").await, 0);

    // Positive control: the platform role, with no setting at all, reads
    // the bootstrap's revision and writes every platform table.
    let mut platform = PgConnection::connect(&db.platform_url).await.unwrap();
    let mut transaction = platform.begin().await.unwrap();
    assert!(count(&mut *transaction, "SELECT count(*) FROM platform_relationship_revisions").await >= 1);
    for (_, statement) in &writes {
        sqlx::query(statement).execute(&mut *transaction).await.unwrap();
    }
    transaction.rollback().await.unwrap();
}

/// Sets transaction-local settings.
async fn set_local_all(transaction: &mut PgConnection, settings: &[(&str, String)]) {
    for (name, value) in settings {
        set_local(transaction, Some(&(*name, value.clone()))).await;
    }
}

/// Counts rows of every tenant-owned table as the connection sees them,
/// asserting that none but `visible`'s are among them.
async fn assert_sees_only(connection: &mut PgConnection, visible: Option<&SeededTenant>, context: &str) {
    for table in TABLES_WITH_ROW_LEVEL_SECURITY {
        let all = count(&mut *connection, &count_sql(table, "")).await;
        let expected = match visible {
            Some(tenant) => {
                let condition = format!("{} = '{}'", tenant_column(table), tenant.id());
                count(&mut *connection, &count_sql(table, &condition)).await
            }
            None => 0,
        };
        assert_eq!(all, expected, "{context}: {table} shows rows of another tenant");
    }
}

#[tokio::test]
async fn the_probe_set_config_inside_a_where_reaches_no_other_tenant() {
    let Some(db) = PostgresTestDb::create().await else { return };
    let (alpha, beta) = seed_two_tenants(&db).await;
    let mut runtime = PgConnection::connect(&db.runtime_url).await.unwrap();
    let mut transaction = runtime.begin().await.unwrap();
    sqlx::raw_sql(&format!("SET LOCAL tenantry.tenant_id = '{}'", alpha.id()))
        .execute(&mut *transaction)
        .await
        .unwrap();
    // The review's probe: switch the old platform setting on from inside
    // the statement itself. It counts alpha's workspaces, not everyone's.
    for table in TABLES_WITH_ROW_LEVEL_SECURITY {
        let probed = count(
            &mut *transaction,
            &count_sql(table, "set_config('tenantry.platform', 'on', true) IS NOT NULL"),
        )
        .await;
        let alphas = count(
            &mut *transaction,
            &count_sql(table, &format!("{} = '{}'", tenant_column(table), alpha.id())),
        )
        .await;
        assert_eq!(probed, alphas, "{table}");
    }
    assert_sees_only(&mut transaction, Some(&alpha), "after the probe").await;
    // And in the same transaction, no platform admin can be made.
    let (_, make_admin) = &platform_table_writes(&beta.api_key.user_id.to_string())[0];
    let error = sqlx::query(make_admin).execute(&mut *transaction).await.unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some(POLICY_VIOLATION), "{error}");
    transaction.rollback().await.unwrap();
}

#[tokio::test]
async fn a_session_level_setting_reaches_no_other_tenant() {
    let Some(db) = PostgresTestDb::create().await else { return };
    let (alpha, _beta) = seed_two_tenants(&db).await;
    let mut runtime = PgConnection::connect(&db.runtime_url).await.unwrap();
    sqlx::raw_sql("SET tenantry.platform = 'on'").execute(&mut runtime).await.unwrap();
    assert_sees_only(&mut runtime, None, "session-level platform setting, no tenant").await;
    let mut transaction = runtime.begin().await.unwrap();
    sqlx::raw_sql(&format!("SET LOCAL tenantry.tenant_id = '{}'", alpha.id()))
        .execute(&mut *transaction)
        .await
        .unwrap();
    assert_sees_only(&mut transaction, Some(&alpha), "session-level platform setting, alpha's scope").await;
    transaction.rollback().await.unwrap();
    let error =
        sqlx::query("SELECT count(*) FROM platform_relationships").execute(&mut runtime).await.unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some(POLICY_VIOLATION), "{error}");
}

#[tokio::test]
async fn a_default_setting_on_the_role_or_database_reaches_nothing_and_is_refused_at_start() {
    let Some(db) = PostgresTestDb::create().await else { return };
    let (alpha, _beta) = seed_two_tenants(&db).await;
    let mut admin = PgConnection::connect(&db.admin_url).await.unwrap();
    // A careless DBA's defaults, on the database and on the runtime role.
    // (PostgreSQL lets only a superuser set a default for a custom setting
    // such as these, even on a database the role owns.)
    let defaults = [
        (format!("ALTER DATABASE \"{}\" SET tenantry.platform = 'on'", db.database), "ALTER DATABASE"),
        (
            format!(
                "ALTER ROLE \"{}\" IN DATABASE \"{}\" SET tenantry.platform = 'on'",
                db.runtime_role, db.database
            ),
            "ALTER ROLE",
        ),
    ];
    for (statement, kind) in defaults {
        sqlx::raw_sql(&statement).execute(&mut admin).await.unwrap();
        let mut runtime = PgConnection::connect(&db.runtime_url).await.unwrap();
        let setting: Option<String> = sqlx::query_scalar("SELECT current_setting('tenantry.platform', true)")
            .fetch_one(&mut runtime)
            .await
            .unwrap();
        assert_eq!(setting.as_deref(), Some("on"), "{kind}: the default is in force");
        assert_sees_only(&mut runtime, None, kind).await;
        let error = sqlx::query("SELECT count(*) FROM platform_relationships")
            .execute(&mut runtime)
            .await
            .unwrap_err();
        assert_eq!(sqlstate(&error).as_deref(), Some(POLICY_VIOLATION), "{kind}: {error}");
        let error = PostgresStore::connect(&db.runtime_url, &db.platform_url).await.unwrap_err();
        match error {
            Error::Invalid { field, reason } => {
                assert_eq!(field, "database_url", "{kind}");
                assert!(reason.contains("carries a default for tenantry.platform"), "{kind}: {reason}");
            }
            other => panic!("{kind}: expected a refusal, got {other:?}"),
        }
        let reset = statement.replace("SET tenantry.platform = 'on'", "RESET tenantry.platform");
        sqlx::raw_sql(&reset).execute(&mut admin).await.unwrap();
    }
    // A default tenant on the role is refused too, and once removed the
    // store connects.
    sqlx::raw_sql(&format!("ALTER ROLE \"{}\" SET tenantry.tenant_id = '{}'", db.runtime_role, alpha.id()))
        .execute(&mut admin)
        .await
        .unwrap();
    let error = PostgresStore::connect(&db.runtime_url, &db.platform_url).await.unwrap_err();
    assert!(error.to_string().contains("carries a default for tenantry.tenant_id"), "{error}");
    sqlx::raw_sql(&format!("ALTER ROLE \"{}\" RESET tenantry.tenant_id", db.runtime_role))
        .execute(&mut admin)
        .await
        .unwrap();
    PostgresStore::connect(&db.runtime_url, &db.platform_url).await.unwrap().close().await;
}

#[tokio::test]
async fn a_pooled_connection_handed_back_with_a_stray_setting_is_clean_at_its_next_use() {
    let Some(db) = PostgresTestDb::create().await else { return };
    let (alpha, beta) = seed_two_tenants(&db).await;
    let store = runtime_store(&db).await;
    let pool = store.runtime_pool();
    // Take every idle connection, so that the next acquire must reuse one
    // of those handed back.
    let mut stray = Vec::new();
    let mut backends = std::collections::BTreeSet::new();
    for _ in 0..pool.num_idle().max(1) {
        let mut connection = pool.acquire().await.unwrap();
        sqlx::raw_sql(&format!("SET tenantry.tenant_id = '{}'", beta.id()))
            .execute(&mut *connection)
            .await
            .unwrap();
        sqlx::raw_sql("SET tenantry.platform = 'on'").execute(&mut *connection).await.unwrap();
        let backend: i32 =
            sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut *connection).await.unwrap();
        backends.insert(backend);
        stray.push(connection);
    }
    drop(stray);
    // The reset runs in the pool's own task; wait (bounded) until every
    // connection is back, so the next acquire reuses one.
    for _ in 0..500 {
        if pool.num_idle() >= backends.len() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let mut connection = pool.acquire().await.unwrap();
    let backend: i32 =
        sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut *connection).await.unwrap();
    assert!(backends.contains(&backend), "the pool handed out a connection it had before");
    for setting in ["tenantry.tenant_id", "tenantry.platform"] {
        let value: Option<String> = sqlx::query_scalar("SELECT current_setting($1, true)")
            .bind(setting)
            .fetch_one(&mut *connection)
            .await
            .unwrap();
        assert_eq!(value.unwrap_or_default(), "", "{setting} was reset");
    }
    assert_sees_only(&mut connection, None, "a reused connection").await;
    drop(connection);
    // And the store's own operations see their tenant only.
    let page = store.list_workspaces(&alpha.scope, tenantry_core::PageRequest::first()).await.unwrap();
    assert!(page.items.iter().all(|workspace| workspace.tenant_id == alpha.tenant.id));
    store.close().await;
}

/// The audit log as the runtime role meets it with raw SQL, in its own
/// tenant's scope: it can neither change nor delete an event, a subtree or
/// a checkpoint (no privilege at all, before any trigger), cannot sign a
/// checkpoint of its own, cannot append to another tenant's log, and
/// cannot reach the platform's log.
#[tokio::test]
async fn the_runtime_role_cannot_rewrite_or_forge_evidence() {
    let Some(db) = PostgresTestDb::create().await else { return };
    let (alpha, beta) = seed_two_tenants(&db).await;
    let mut runtime = PgConnection::connect(&db.runtime_url).await.unwrap();
    let own = alpha.id();
    let other = beta.id();
    let refused = [
        format!("UPDATE audit_events SET action = 'forged.action' WHERE tenant_id = '{own}'"),
        format!("DELETE FROM audit_events WHERE tenant_id = '{own}'"),
        format!("UPDATE audit_nodes SET hash = '\\x00' WHERE tenant_id = '{own}'"),
        format!("DELETE FROM audit_nodes WHERE tenant_id = '{own}'"),
        format!("DELETE FROM audit_checkpoints WHERE tenant_id = '{own}'"),
        format!("INSERT INTO audit_checkpoints (tenant_id, size, note) VALUES ('{own}', 999, 'forged')"),
        "TRUNCATE audit_events".to_owned(),
        // Another tenant's log: refused by the policy's WITH CHECK.
        format!(
            "INSERT INTO audit_events (tenant_id, seq, id, occurred_at, action, resource_type, resource_id, \
             actor_type, body) VALUES ('{other}', 999, 'evt_x', now(), 'forged.action', 'x', 'x', 'system', '{{}}')"
        ),
        format!("INSERT INTO audit_nodes (tenant_id, level, idx, hash) VALUES ('{other}', 9, 9, '\\x00')"),
        format!("UPDATE audit_logs SET size = 0 WHERE tenant_id = '{other}' RETURNING 1"),
        "SELECT count(*) FROM platform_audit_events".to_owned(),
        "INSERT INTO platform_audit_checkpoints (size, note) VALUES (999, 'forged')".to_owned(),
    ];
    for statement in &refused {
        let mut transaction = runtime.begin().await.unwrap();
        set_local_all(&mut transaction, &[("tenantry.tenant_id", own.clone())]).await;
        let outcome = sqlx::query(statement).fetch_all(&mut *transaction).await;
        match outcome {
            Err(error) => {
                assert_eq!(sqlstate(&error).as_deref(), Some(POLICY_VIOLATION), "{statement}: {error}")
            }
            // An UPDATE of another tenant's head matches no row it may see.
            Ok(rows) => assert!(rows.is_empty(), "{statement} changed rows"),
        }
        transaction.rollback().await.unwrap();
    }
    // The other tenant's log is untouched, and both still hold what the
    // fixtures wrote.
    let owner = RawPostgres::connect(&db.owner_url).await;
    for tenant in [&own, &other] {
        let events = owner
            .scalar_i64(&format!("SELECT count(*) FROM audit_events WHERE tenant_id = '{tenant}'"))
            .await
            .unwrap();
        let head = owner
            .scalar_i64(&format!("SELECT size FROM audit_logs WHERE tenant_id = '{tenant}'"))
            .await
            .unwrap();
        assert!(events > 0 && events == head, "{tenant}: {events} events, head {head}");
    }
}
