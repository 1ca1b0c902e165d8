//! The API key pepper: from a file when the operator configures one,
//! otherwise the one kept in the database. `serve` and `api-key create`
//! must agree on it, or keys minted by one would not verify in the other.

use std::path::Path;

use anyhow::Context;
use tenantry_core::service::api_key_hasher;
use tenantry_core::{ApiKeyHasher, Store};

use crate::cli::PepperOptions;

/// Reads a pepper file. Trailing white space is not part of the pepper, so
/// that a newline added by an editor or `echo` does not change every hash.
pub fn read_pepper_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut pepper =
        std::fs::read(path).with_context(|| format!("reading the API key pepper file {}", path.display()))?;
    let trimmed_length =
        pepper.iter().rposition(|byte| !byte.is_ascii_whitespace()).map_or(0, |last| last + 1);
    pepper.truncate(trimmed_length);
    warn_if_readable_by_others(path);
    Ok(pepper)
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(metadata) = std::fs::metadata(path) {
        if metadata.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                "the API key pepper file is readable by other users; restrict it with chmod 600"
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

/// The hasher for API keys under the configured pepper.
pub async fn hasher_for(store: &dyn Store, options: &PepperOptions) -> anyhow::Result<ApiKeyHasher> {
    match &options.api_key_pepper_file {
        Some(path) => {
            let pepper = read_pepper_file(path)?;
            api_key_hasher(store, Some(&pepper))
                .await
                .with_context(|| format!("using the API key pepper file {}", path.display()))
        }
        None => api_key_hasher(store, None).await.context("reading the API key pepper from the database"),
    }
}
