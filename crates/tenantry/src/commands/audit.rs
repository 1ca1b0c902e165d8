//! `tenantry audit list|show|verify|export|verify-bundle|checkpoint|public-key`.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::Context;
use serde::Serialize;
use tenantry_core::audit::AuditFilter;
use tenantry_core::audit_service::{self, AuditSigner, VerifyFailure, verify_bundle};
use tenantry_core::{PageLimit, PageRequest, PartitionScope, PlatformScope, Store};

use crate::audit_key;
use crate::cli::{AuditCommand, AuditLogOption, GlobalOptions};
use crate::commands::{operator_scope, resolve_tenant};
use crate::failure::EvidenceInvalid;
use crate::output::{Output, table};

/// Runs `tenantry audit verify-bundle`, which needs no database.
pub fn verify_bundle_file(file: &Path, public_key: Option<&str>, output: Output) -> anyhow::Result<()> {
    let bytes = if file.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes).context("reading the bundle from standard input")?;
        bytes
    } else {
        std::fs::read(file).with_context(|| format!("reading the bundle {}", file.display()))?
    };
    let trusted = public_key.map(audit_key::parse_verifier_key).transpose()?;
    let summary = verify_bundle(&bytes, trusted.as_ref()).map_err(|error| {
        EvidenceInvalid(format!("the bundle {} does not verify: {error}", file.display()))
    })?;
    let (first_seq, last_seq) = (summary.first_seq, summary.last_seq);
    let events = last_seq - first_seq + 1;
    let view = serde_json::json!({
        "valid": true,
        "log": summary.log.to_string(),
        "first_seq": first_seq,
        "last_seq": last_seq,
        "events": events,
        "tree_size": summary.checkpoint.size(),
        "root": summary.checkpoint.root().to_base64(),
        "verifier_key": summary.verifier_key.to_string(),
        "key_trusted": summary.key_trusted,
    });
    output.emit(&view, || {
        let trust = if summary.key_trusted {
            "signed by the trusted key"
        } else {
            "signed by the key it carries (pass --public-key to trust a key of your own)"
        };
        format!(
            "valid: {events} events (seq {first_seq}..={last_seq}) of the log {}, included in its checkpoint of size {}, {trust}",
            summary.log,
            summary.checkpoint.size()
        )
    })
}

/// The log a command names.
async fn log_scope(store: &dyn Store, log: &AuditLogOption) -> anyhow::Result<PartitionScope> {
    match &log.tenant {
        Some(reference) => {
            let tenant = resolve_tenant(store, reference).await?;
            Ok(PartitionScope::Tenant(operator_scope(tenant.id)))
        }
        None => Ok(PartitionScope::Platform(PlatformScope::operator_cli())),
    }
}

/// One event as `audit list` prints it.
#[derive(Debug, Serialize)]
struct EventLine {
    seq: u64,
    occurred_at: String,
    action: String,
    resource: String,
    actor: String,
}

/// Runs the audit commands that read the database.
pub async fn run(
    store: &dyn Store,
    global: &GlobalOptions,
    command: AuditCommand,
    output: Output,
) -> anyhow::Result<()> {
    match command {
        AuditCommand::VerifyBundle { file, public_key } => {
            verify_bundle_file(&file, public_key.as_deref(), output)
        }
        AuditCommand::PublicKey => {
            let signer = audit_key::load(&global.audit_key_path())?;
            let key = signer.verifier_key().to_string();
            output.emit(&serde_json::json!({ "verifier_key": key }), || key.clone())
        }
        AuditCommand::Checkpoint => {
            let signer = AuditSigner::new(audit_key::load_or_create(&global.audit_key_path())?);
            let signed = signer
                .checkpoint_logs(store, &PlatformScope::audit_checkpointer())
                .await
                .context("signing audit checkpoints")?;
            output.emit(&serde_json::json!({ "signed": signed }), || {
                format!("signed {signed} checkpoint(s): every log that grew since its latest one")
            })
        }
        AuditCommand::List { log, action, limit } => {
            let scope = log_scope(store, &log).await?;
            let limit =
                PageLimit::new(limit).map_err(|reason| tenantry_core::Error::invalid("limit", reason))?;
            let filter = AuditFilter { action, ..AuditFilter::default() };
            let page = store
                .list_audit_events(&scope, &filter, PageRequest { limit, after: None })
                .await
                .context("listing audit events")?;
            let mut lines = Vec::with_capacity(page.items.len());
            for row in &page.items {
                let event = row.event()?;
                let actor = match event.actor() {
                    tenantry_core::Actor::User { user_id, .. } => format!("user {user_id}"),
                    tenantry_core::Actor::ApiKey { api_key_id, .. } => format!("api_key {api_key_id}"),
                    tenantry_core::Actor::System { reason } => {
                        format!("system ({})", reason.as_deref().unwrap_or("-"))
                    }
                };
                lines.push(EventLine {
                    seq: event.seq(),
                    occurred_at: event.occurred_at().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                    action: event.action().to_owned(),
                    resource: format!("{}:{}", event.resource().resource_type(), event.resource().id()),
                    actor,
                });
            }
            output.emit(&lines, || {
                let rows: Vec<Vec<String>> = lines
                    .iter()
                    .map(|line| {
                        vec![
                            line.seq.to_string(),
                            line.occurred_at.clone(),
                            line.action.clone(),
                            line.resource.clone(),
                            line.actor.clone(),
                        ]
                    })
                    .collect();
                table(&["SEQ", "OCCURRED_AT", "ACTION", "RESOURCE", "ACTOR"], &rows)
            })
        }
        AuditCommand::Show { log, seq } => {
            let scope = log_scope(store, &log).await?;
            let (proven, checkpoint) = audit_service::prove_in_checkpoint(store, &scope, seq, None)
                .await
                .with_context(|| format!("reading audit event seq {seq}"))?;
            let event: serde_json::Value = serde_json::from_slice(&proven.event.canonical_bytes())
                .context("reading the event's canonical bytes")?;
            let view = serde_json::json!({
                "event": event,
                "leaf_index": proven.proof.leaf_index(),
                "tree_size": proven.proof.tree_size(),
                "inclusion_proof": proven.proof.hashes().iter().map(|hash| hash.to_base64()).collect::<Vec<_>>(),
                "checkpoint": checkpoint.map(|checkpoint| checkpoint.note),
            });
            output.emit(&view, || serde_json::to_string_pretty(&view).unwrap_or_default())
        }
        AuditCommand::Verify { log, public_key } => {
            let scope = log_scope(store, &log).await?;
            let key = match public_key {
                Some(text) => audit_key::parse_verifier_key(&text)?,
                None => audit_key::load(&global.audit_key_path())?.verifier_key(),
            };
            let log_name = tenantry_core::audit::log_of(&scope).to_string();
            let summary = match audit_service::verify_log(store, &scope, &key).await {
                Ok(summary) => summary,
                Err(VerifyFailure::Store(error)) => {
                    return Err(anyhow::Error::new(error).context(format!("reading the log {log_name}")));
                }
                Err(failure) => {
                    return Err(
                        EvidenceInvalid(format!("the audit log {log_name} is not valid: {failure}")).into()
                    );
                }
            };
            let view = serde_json::json!({
                "valid": true,
                "log": log_name,
                "events": summary.events,
                "checkpoints": summary.checkpoints,
                "root": summary.root.to_base64(),
                "events_after_latest_checkpoint": summary.events_after_latest_checkpoint,
            });
            output.emit(&view, || {
                format!(
                    "valid: the log {log_name} has {} events and {} checkpoints, each signed by the key and \
                     matching the events; {} events are newer than the latest checkpoint",
                    summary.events, summary.checkpoints, summary.events_after_latest_checkpoint
                )
            })
        }
        AuditCommand::Export { log, from, to, output: path } => {
            let scope = log_scope(store, &log).await?;
            if store.latest_audit_checkpoint(&scope).await?.is_none() {
                return Err(tenantry_core::Error::invalid(
                    "log",
                    "has no signed checkpoint yet; sign one first (`tenantry audit checkpoint`)",
                ))
                .context("exporting the audit log");
            }
            let key = audit_key::load(&global.audit_key_path())?.verifier_key();
            let bundle = audit_service::export_bundle(store, &scope, &key, from, to)
                .await
                .context("exporting the audit log")?;
            if path.as_os_str() == "-" {
                let mut stdout = std::io::stdout().lock();
                stdout.write_all(&bundle).and_then(|()| stdout.flush()).context("writing the bundle")?;
            } else {
                std::fs::write(&path, &bundle)
                    .with_context(|| format!("writing the bundle {}", path.display()))?;
                tracing::info!(path = %path.display(), bytes = bundle.len(), "audit bundle written");
            }
            Ok(())
        }
    }
}
