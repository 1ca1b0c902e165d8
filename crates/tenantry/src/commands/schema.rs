//! `tenantry schema validate|show|apply`.

use std::io::Read;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;
use tenantry_authz::Schema;
use tenantry_core::authorizer::product_requirements;
use tenantry_core::{Authorizer, Consistency, Error};

use crate::cli::SchemaCommand;
use crate::output::Output;

/// The schema as the CLI prints it.
#[derive(Debug, Serialize)]
struct SchemaView {
    /// Null while the built-in default is in force.
    version: Option<i64>,
    schema: String,
}

/// Runs `tenantry schema validate`, which needs no database.
pub fn validate(file: &Path, output: Output) -> anyhow::Result<()> {
    let text = read_schema(file)?;
    let schema = parse(&text)?;
    let definitions = schema.type_names().count();
    output.emit(&serde_json::json!({ "valid": true, "definitions": definitions }), || {
        format!(
            "{}: valid ({definitions} definitions); keeps everything tenantry's routes use",
            file.display()
        )
    })
}

/// Runs `tenantry schema show` and `tenantry schema apply`.
pub async fn run(authorizer: &Authorizer, command: SchemaCommand, output: Output) -> anyhow::Result<()> {
    match command {
        SchemaCommand::Validate { file } => validate(&file, output),
        SchemaCommand::Show => show(authorizer, output).await,
        SchemaCommand::Apply { file, expected_version } => {
            let text = read_schema(&file)?;
            parse(&text)?;
            let expected = match expected_version {
                Some(0) => None,
                Some(version) => Some(version),
                None => authorizer.schema(&Consistency::FullyConsistent).await?.1,
            };
            let (stored, _) = authorizer
                .put_schema(&tenantry_core::PlatformScope::operator_cli(), &text, expected)
                .await
                .with_context(|| format!("applying the schema in {}", file.display()))?;
            tracing::info!(version = stored.version, "authorization schema replaced");
            show(authorizer, output).await
        }
    }
}

async fn show(authorizer: &Authorizer, output: Output) -> anyhow::Result<()> {
    let (schema, version) =
        authorizer.schema(&Consistency::FullyConsistent).await.context("reading the schema in force")?;
    let view = SchemaView { version, schema: schema.to_string() };
    output.emit(&view, || match view.version {
        Some(version) => format!("// version {version}\n{}", view.schema),
        None => format!("// the built-in default schema (no version stored)\n{}", view.schema),
    })
}

fn read_schema(file: &Path) -> anyhow::Result<String> {
    let mut text = String::new();
    if file == Path::new("-") {
        std::io::stdin().read_to_string(&mut text).context("reading the schema from standard input")?;
    } else {
        text = std::fs::read_to_string(file)
            .with_context(|| format!("reading the schema file {}", file.display()))?;
    }
    Ok(text)
}

/// Parses and validates, and checks the product's needs: each failure is an
/// invalid-input error naming where.
fn parse(text: &str) -> anyhow::Result<Schema> {
    let schema = Schema::parse(text).map_err(|error| Error::invalid("schema", error))?;
    product_requirements(&schema).map_err(|missing| {
        Error::invalid(
            "schema",
            format!("it must keep what tenantry's routes use; missing or changed: {}", missing.join("; ")),
        )
    })?;
    Ok(schema)
}
