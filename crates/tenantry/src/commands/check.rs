//! `tenantry check`: asks the authorization engine, fully consistently,
//! whether a subject has a permission on an object in a tenant.

use anyhow::Context;
use serde::Serialize;
use tenantry_authz::{ObjectRef, SubjectRef};
use tenantry_core::relationship::object_types;
use tenantry_core::{Authorizer, Consistency, Error, Store, TenantScope};

use super::{operator_scope, resolve_tenant, resolve_user, resolve_workspace};
use crate::cli::{CheckArgs, WorkspaceReference};
use crate::output::Output;

/// The answer as the CLI prints it.
#[derive(Debug, Serialize)]
struct CheckView {
    allowed: bool,
    resource: String,
    permission: String,
    subject: String,
    revision: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    relationships: Option<Vec<String>>,
}

/// Runs `tenantry check`.
pub async fn run(
    store: &dyn Store,
    authorizer: &Authorizer,
    arguments: CheckArgs,
    output: Output,
) -> anyhow::Result<()> {
    let tenant = resolve_tenant(store, &arguments.tenant.tenant).await?;
    let scope = operator_scope(tenant.id.clone());
    let resource = resolve_resource(store, &scope, &arguments.resource).await?;
    let subject = resolve_subject(store, &arguments.subject).await?;
    let permission = arguments.permission;
    let explain = arguments.explain;
    let (answer, token) = authorizer
        .evaluate(&scope, &Consistency::FullyConsistent, |engine| {
            if explain {
                engine.explain(&resource, &permission, &subject).map(|explanation| {
                    let relationships = explanation.as_ref().map(|explanation| {
                        explanation.relationships().iter().map(ToString::to_string).collect::<Vec<_>>()
                    });
                    (explanation.is_some(), relationships)
                })
            } else {
                engine.check(&resource, &permission, &subject).map(|allowed| (allowed, None))
            }
        })
        .await
        .with_context(|| format!("checking {resource}#{permission}@{subject} in tenant {}", tenant.name))?;
    let (allowed, relationships) = answer.map_err(tenantry_core::authorizer::eval_error)?;
    let view = CheckView {
        allowed,
        resource: resource.to_string(),
        permission: permission.clone(),
        subject: subject.to_string(),
        revision: token.to_string(),
        relationships,
    };
    output.emit(&view, || {
        let mut text = format!(
            "{}: {subject} {} `{permission}` on {resource} (revision {token})",
            if allowed { "allowed" } else { "denied" },
            if allowed { "has" } else { "does not have" },
        );
        if let Some(relationships) = &view.relationships {
            text.push_str("\nbecause:");
            for relationship in relationships {
                text.push_str("\n  ");
                text.push_str(relationship);
            }
        }
        text
    })
}

/// `type:id`, where a workspace may be named by name.
async fn resolve_resource(store: &dyn Store, scope: &TenantScope, text: &str) -> anyhow::Result<ObjectRef> {
    let (object_type, id) = split(text, "RESOURCE")?;
    let id = if object_type == object_types::WORKSPACE && tenantry_core::WorkspaceId::parse(id).is_err() {
        let name =
            tenantry_core::WorkspaceName::parse(id).map_err(|reason| Error::invalid("RESOURCE", reason))?;
        let workspace = resolve_workspace(store, scope, &WorkspaceReference::Name(name)).await?;
        workspace.id.to_string()
    } else {
        id.to_owned()
    };
    Ok(ObjectRef::new(object_type, id).map_err(|error| Error::invalid("RESOURCE", error))?)
}

/// `type:id` or `type:id#relation`, where a user may be named by username.
async fn resolve_subject(store: &dyn Store, text: &str) -> anyhow::Result<SubjectRef> {
    let (object, relation) = match text.split_once('#') {
        Some((object, relation)) => (object, Some(relation)),
        None => (text, None),
    };
    let (object_type, id) = split(object, "SUBJECT")?;
    let id = if object_type == object_types::USER && relation.is_none() {
        resolve_user(store, id).await?.id.to_string()
    } else {
        id.to_owned()
    };
    let object = ObjectRef::new(object_type, id).map_err(|error| Error::invalid("SUBJECT", error))?;
    Ok(match relation {
        Some(relation) => {
            SubjectRef::set(object, relation).map_err(|error| Error::invalid("SUBJECT", error))?
        }
        None => SubjectRef::object(object),
    })
}

fn split<'t>(text: &'t str, field: &str) -> Result<(&'t str, &'t str), Error> {
    text.trim()
        .split_once(':')
        .filter(|(object_type, id)| !object_type.is_empty() && !id.is_empty())
        .ok_or_else(|| Error::invalid(field, format!("{text:?} is not `type:id`")))
}
