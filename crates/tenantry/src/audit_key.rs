//! The deployment's audit signing key: an Ed25519 key in a file, never in
//! the database, so that whoever can write the database still cannot sign
//! a checkpoint over a rewritten log.
//!
//! The file holds one line, the key in the signed-note text form
//! (`PRIVATE+KEY+<name>+<key id>+<base64>`). It is created on first use,
//! mode 0600, and refused when anyone but its owner may read it, as ssh
//! refuses a private key.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use tenantry_core::audit_service::{NoteSigner, VerifierKey};

/// The name a new key gets; it becomes the deployment's name in every
/// checkpoint origin (`tenantry/<name>/tenant/<id>`).
pub const NEW_KEY_NAME: &str = "tenantry-audit";

/// The key in `path`, created (mode 0600) when the file does not exist.
pub fn load_or_create(path: &Path) -> anyhow::Result<NoteSigner> {
    if path.exists() {
        return load(path);
    }
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating the directory of the audit key {}", path.display()))?;
    }
    let signer = NoteSigner::generate(NEW_KEY_NAME).context("generating the audit signing key")?;
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(mut file) => {
            writeln!(file, "{}", signer.to_private_key_text())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("writing the audit key {}", path.display()))?;
            tracing::info!(
                path = %path.display(),
                verifier_key = %signer.verifier_key(),
                "created the audit signing key; give auditors its verifier key"
            );
            Ok(signer)
        }
        // Another process created it first: use theirs.
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => load(path),
        Err(error) => Err(error).with_context(|| format!("creating the audit key {}", path.display())),
    }
}

/// The key in `path`, which must exist and be readable by its owner only.
pub fn load(path: &Path) -> anyhow::Result<NoteSigner> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("reading the audit key {}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            bail!(
                "the audit key {} may be read by others (mode {:o}); run `chmod 600 {}`",
                path.display(),
                mode & 0o777,
                path.display()
            );
        }
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading the audit key {}", path.display()))?;
    NoteSigner::from_private_key_text(&text)
        .with_context(|| format!("the audit key {} is not a signed-note private key", path.display()))
}

/// A verifier key given on the command line: the key text itself
/// (`<name>+<key id>+<base64>`), or a file holding it.
pub fn parse_verifier_key(text_or_path: &str) -> anyhow::Result<VerifierKey> {
    if let Ok(key) = VerifierKey::parse(text_or_path.trim()) {
        return Ok(key);
    }
    let text = std::fs::read_to_string(text_or_path).with_context(|| {
        format!("--public-key {text_or_path:?} is neither a verifier key nor a readable file")
    })?;
    VerifierKey::parse(text.trim())
        .with_context(|| format!("the file {text_or_path} does not hold a verifier key"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_is_private_to_its_owner_and_loads_again() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let path = directory.path().join("keys").join("audit.key");
        let created = load_or_create(&path).expect("created");
        let loaded = load_or_create(&path).expect("loaded");
        assert_eq!(created.verifier_key(), loaded.verifier_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("metadata").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_key_others_may_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let directory = tempfile::tempdir().expect("temporary directory");
        let path = directory.path().join("audit.key");
        load_or_create(&path).expect("created");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let error = load(&path).expect_err("refused").to_string();
        assert!(error.contains("chmod 600"), "{error}");
    }

    #[test]
    fn a_verifier_key_is_read_from_text_or_a_file() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let signer = load_or_create(&directory.path().join("audit.key")).expect("created");
        let text = signer.verifier_key().to_string();
        assert_eq!(parse_verifier_key(&text).expect("text"), signer.verifier_key());
        let file = directory.path().join("audit.pub");
        std::fs::write(&file, format!("{text}\n")).expect("written");
        assert_eq!(parse_verifier_key(file.to_str().expect("utf-8")).expect("file"), signer.verifier_key());
        assert!(parse_verifier_key("nonsense").is_err());
    }
}
