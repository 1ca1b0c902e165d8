//! The deployment on SQLite: reachability, migrations, the API key pepper
//! and the start-up bootstrap.

use async_trait::async_trait;
use tenantry_core::{BootstrapOutcome, BootstrapRequest, DeploymentStore, PlatformScope, Result};

use crate::error::{Operation, map_database_error};
use crate::{MIGRATOR, SqliteStore, tenants};

#[async_trait]
impl DeploymentStore for SqliteStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(self.pool.reads())
            .await
            .map(|_| ())
            .map_err(|error| map_database_error(error, Operation::Ping))
    }

    async fn pending_migrations(&self) -> Result<Vec<i64>> {
        let applied = self.applied_migration_versions().await?;
        Ok(MIGRATOR
            .iter()
            .filter(|migration| !migration.migration_type.is_down_migration())
            .map(|migration| migration.version)
            .filter(|version| !applied.contains(version))
            .collect())
    }

    async fn api_key_pepper(&self) -> Result<Vec<u8>> {
        self.read_or_create_api_key_pepper().await
    }

    async fn bootstrap(
        &self,
        platform: &PlatformScope,
        request: BootstrapRequest,
    ) -> Result<BootstrapOutcome> {
        tenants::bootstrap(&self.pool, platform, request).await
    }
}
