//! The deployment on PostgreSQL: reachability, migrations, the API key
//! pepper and the start-up bootstrap.

use async_trait::async_trait;
use tenantry_core::{
    ApiKeyHasher, BootstrapOutcome, BootstrapRequest, DeploymentStore, NewApiKey, PlatformScope, Result,
};
use tenantry_core::{audit, relationship};

use crate::PostgresStore;
use crate::api_keys::insert_api_key;
use crate::audit::{WriteScope, create_tenant_log};
use crate::error::{DatabaseResultExt, Operation, internal};
use crate::partition::{Partition, PartitionWriter, create_partition};
use crate::rows::{self, tenant_columns};
use crate::store::{TransactionScope, commit};
use crate::tenants::insert_root_workspace;
use crate::users::ensure_user;
use crate::workspaces::root_workspace;

/// The `deployment_settings` row holding the API key pepper.
pub(crate) const API_KEY_PEPPER_SETTING: &str = "api_key_pepper";

#[async_trait]
impl DeploymentStore for PostgresStore {
    async fn ping(&self) -> Result<()> {
        // Both roles must be able to connect for the server to be ready.
        sqlx::query("SELECT 1").execute(&self.tenant_pool).await.during(Operation::Ping)?;
        sqlx::query("SELECT 1").execute(&self.platform_pool).await.during(Operation::Ping)?;
        Ok(())
    }

    async fn pending_migrations(&self) -> Result<Vec<i64>> {
        let operation = Operation::ReadMigrations;
        let mut transaction = self.begin(TransactionScope::Global, operation).await?;
        let applied = crate::applied_versions(&mut transaction, operation).await?;
        commit(transaction, operation).await?;
        Ok(crate::embedded_versions().difference(&applied).copied().collect())
    }

    async fn api_key_pepper(&self) -> Result<Vec<u8>> {
        let operation = Operation::ApiKeyPepper;
        let mut transaction = self.begin(TransactionScope::Deployment, operation).await?;
        let select = "SELECT value FROM deployment_settings WHERE name = $1";
        let existing: Option<Vec<u8>> = sqlx::query_scalar(select)
            .bind(API_KEY_PEPPER_SETTING)
            .fetch_optional(&mut *transaction)
            .await
            .during(operation)?;
        let pepper = match existing {
            Some(pepper) => pepper,
            None => {
                // Insert-if-absent, then read: of concurrent first callers,
                // one inserts and every one reads the winner's bytes.
                sqlx::query(
                    "INSERT INTO deployment_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                )
                .bind(API_KEY_PEPPER_SETTING)
                .bind(ApiKeyHasher::generate_pepper())
                .execute(&mut *transaction)
                .await
                .during(operation)?;
                sqlx::query_scalar(select)
                    .bind(API_KEY_PEPPER_SETTING)
                    .fetch_one(&mut *transaction)
                    .await
                    .during(operation)?
            }
        };
        commit(transaction, operation).await?;
        Ok(pepper)
    }

    async fn bootstrap(
        &self,
        platform: &PlatformScope,
        request: BootstrapRequest,
    ) -> Result<BootstrapOutcome> {
        let operation = Operation::Bootstrap;
        let mut transaction = self.begin_write(WriteScope::Platform(platform), operation).await?;
        let now = tenantry_core::now();
        // Of concurrent callers, exactly one inserts; the others wait for
        // it to commit, insert nothing, and read its tenant below.
        let inserted = sqlx::query(concat!(
            "INSERT INTO tenants (",
            tenant_columns!(),
            ") VALUES ($1, $2, $3, 'active', $4, $5, $6, $6) ON CONFLICT (name) DO NOTHING RETURNING ",
            tenant_columns!()
        ))
        .bind(request.tenant_id.to_string())
        .bind(request.tenant.name.as_str())
        .bind(request.tenant.display_name.as_str())
        .bind(request.tenant.deployment_model.as_str())
        .bind(request.tenant.data_residency.as_str())
        .bind(now)
        .fetch_optional(&mut *transaction)
        .await
        .during(operation)?;
        let outcome = match inserted {
            Some(row) => {
                let tenant = rows::tenant(&row, operation)?;
                let root_workspace = insert_root_workspace(
                    &mut transaction,
                    &tenant.id,
                    &request.tenant.root_workspace_name,
                    now,
                    operation,
                )
                .await?;
                let operator = ensure_user(&mut transaction, &request.operator).await?;
                let operator_key = NewApiKey { user_id: operator.id.clone(), ..request.operator_key };
                let operator_key =
                    insert_api_key(&mut transaction, &tenant.id, &operator_key, operation).await?;
                // The operator administers the platform: the one platform
                // relationship the store writes by itself.
                let mut platform = PartitionWriter::lock(&mut transaction, Partition::Platform, operation)
                    .await?
                    .ok_or_else(|| internal(operation, "the platform partition has no revision row"))?;
                platform
                    .touch(
                        &mut transaction,
                        &relationship::platform_admin_relationship(&operator.id),
                        operation,
                    )
                    .await?;
                platform.finish(&mut transaction)?;
                // And it created the tenant, so it is the tenant's admin.
                let mut relationships = relationship::new_tenant_relationships(
                    &tenant.id,
                    &root_workspace.id,
                    Some(&operator.id),
                );
                relationships.extend(relationship::new_api_key_relationships(&operator_key));
                create_partition(&mut transaction, &tenant.id, &relationships).await?;
                create_tenant_log(&mut transaction, &tenant.id, operation).await?;
                transaction.record(audit::deployment_bootstrapped(
                    &tenant,
                    &root_workspace,
                    &operator,
                    &operator_key,
                ));
                BootstrapOutcome { tenant, root_workspace, operator: Some(operator), created: true }
            }
            None => {
                let row = sqlx::query(concat!("SELECT ", tenant_columns!(), " FROM tenants WHERE name = $1"))
                    .bind(request.tenant.name.as_str())
                    .fetch_optional(&mut *transaction)
                    .await
                    .during(operation)?
                    .ok_or_else(|| {
                        internal(
                            operation,
                            format!(
                                "tenant {:?} conflicted on insert but cannot be read",
                                request.tenant.name
                            ),
                        )
                    })?;
                let tenant = rows::tenant(&row, operation)?;
                let root_workspace = root_workspace(&mut transaction, &tenant.id, operation).await?;
                BootstrapOutcome { tenant, root_workspace, operator: None, created: false }
            }
        };
        transaction.commit().await?;
        Ok(outcome)
    }
}
