//! The tenantry binary: `serve`, `migrate` and the operator subcommands.
//!
//! `main` only parses the command line, installs logging, runs the command
//! and turns its outcome into an exit code; everything else lives in the
//! modules below.

mod audit_key;
mod backend;
mod cli;
mod commands;
mod failure;
mod http_server;
mod logging;
mod output;
mod pepper;
mod serve;
mod worker;

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use crate::cli::{Cli, Command};
use crate::failure::ExitStatus;
use crate::output::Output;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(error) = logging::init(&cli.global) {
        return report_failure(&error);
    }
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
        .and_then(|runtime| runtime.block_on(run(cli)));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => report_failure(&error),
    }
}

/// Prints `error (code): message` on stderr and returns the exit code for
/// the kind of failure.
fn report_failure(error: &anyhow::Error) -> ExitCode {
    let status = failure::exit_status(error);
    if status == ExitStatus::Internal && failure::error_code(error) == "internal" {
        // The cause chain is in the message; the log line ties the failure
        // to the rest of the run's logs.
        tracing::error!(error = format!("{error:#}"), "command failed");
    }
    eprintln!("{}", failure::error_line(error));
    ExitCode::from(status as u8)
}

/// Runs the chosen subcommand.
async fn run(cli: Cli) -> anyhow::Result<()> {
    let Cli { global, command } = cli;
    let output = Output::new(global.json);
    match command {
        Command::Serve(arguments) => serve::run(&global, *arguments).await,
        Command::Worker(arguments) => {
            let store = backend::open_for_operator(&global).await?;
            let policy = tenantry_core::webhook::TargetPolicy {
                allow_private: arguments.webhook_allow_private_targets,
            };
            let handlers = worker::Handlers::standard(store.clone(), policy)?;
            let name = arguments.name.unwrap_or_else(worker::default_name);
            let settings = worker::WorkerSettings {
                lease: std::time::Duration::from_secs(arguments.lease_seconds),
                ..worker::WorkerSettings::named(name)
            };
            worker::run(store, handlers, settings, serve::shutdown_signal()).await;
            Ok(())
        }
        Command::Migrate(arguments) => commands::migrate::run(&global, arguments, output).await,
        Command::Export(arguments) => commands::snapshot::export(&global, arguments, output).await,
        Command::Import(arguments) => commands::snapshot::import(&global, arguments, output).await,
        Command::MigrateBackend(arguments) => {
            commands::snapshot::migrate_backend(&global, arguments, output).await
        }
        Command::Tenant(command) => {
            let store = backend::open_for_operator(&global).await?;
            commands::tenant::run(store.as_ref(), command, output).await
        }
        Command::Workspace(command) => {
            let store = backend::open_for_operator(&global).await?;
            commands::workspace::run(store.as_ref(), command, output).await
        }
        Command::ApiKey(command) => {
            let (store, authorizer) = operator_authorizer(&global).await?;
            commands::api_key::run(store.as_ref(), &authorizer, command, output).await
        }
        Command::Schema(cli::SchemaCommand::Validate { file }) => commands::schema::validate(&file, output),
        Command::Schema(command) => {
            let (_, authorizer) = operator_authorizer(&global).await?;
            commands::schema::run(&authorizer, command, output).await
        }
        Command::User(command) => {
            let (store, authorizer) = operator_authorizer(&global).await?;
            commands::user::run(store.as_ref(), &authorizer, command, output).await
        }
        Command::Member(command) => {
            let (store, authorizer) = operator_authorizer(&global).await?;
            commands::member::run(store.as_ref(), &authorizer, command, output).await
        }
        Command::Invitation(command) => {
            let store = backend::open_for_operator(&global).await?;
            commands::invitation::run(store.as_ref(), command, output).await
        }
        Command::Audit(cli::AuditCommand::VerifyBundle { file, public_key }) => {
            commands::audit::verify_bundle_file(&file, public_key.as_deref(), output)
        }
        Command::Audit(command) => {
            let store = backend::open_for_operator(&global).await?;
            commands::audit::run(store.as_ref(), &global, command, output).await
        }
        Command::ServiceAccount(command) => {
            let store = backend::open_for_operator(&global).await?;
            commands::service_account::run(store.as_ref(), command, output).await
        }
        Command::Decision(command) => {
            let store = backend::open_for_operator(&global).await?;
            commands::decision::run_decision(store.as_ref(), command, output).await
        }
        Command::Session(command) => {
            let store = backend::open_for_operator(&global).await?;
            commands::decision::run_session(store.as_ref(), command, output).await
        }
        Command::Approval(command) => {
            let (store, authorizer) = operator_authorizer(&global).await?;
            commands::approval::run(store.as_ref(), &authorizer, command, output).await
        }
        Command::Operations(command) => {
            let store = backend::open_for_operator(&global).await?;
            commands::operations::run(store.as_ref(), command, output).await
        }
        Command::Retrofit(command) => {
            let store = backend::open_for_operator(&global).await?;
            commands::retrofit::run(store.as_ref(), command, output).await
        }
        Command::Group(command) => {
            let store = backend::open_for_operator(&global).await?;
            commands::group::run(store.as_ref(), command, output).await
        }
        Command::Check(arguments) => {
            let (store, authorizer) = operator_authorizer(&global).await?;
            commands::check::run(store.as_ref(), &authorizer, arguments, output).await
        }
    }
}

/// The operator's store and an authorizer over it. A command runs once, so
/// every question reads the database (no staleness allowed).
async fn operator_authorizer(
    global: &cli::GlobalOptions,
) -> anyhow::Result<(std::sync::Arc<dyn tenantry_core::Store>, tenantry_core::Authorizer)> {
    let store = backend::open_for_operator(global).await?;
    let config =
        tenantry_core::AuthorizerConfig::with_freshness(std::time::Duration::ZERO, std::time::Duration::ZERO);
    Ok((store.clone(), tenantry_core::Authorizer::new(store, config)))
}
