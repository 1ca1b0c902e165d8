//! Structured logs with `tracing`: text or JSON lines on stderr, so that
//! stdout carries only command output.

use std::io::IsTerminal;

use anyhow::Context;
use tenantry_core::Error;
use tracing_subscriber::EnvFilter;

use crate::cli::{GlobalOptions, LogFormat};

/// Installs the global subscriber for the configured format and filter.
pub fn init(options: &GlobalOptions) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&options.log_level)
        .map_err(|error| Error::invalid("--log-level", error))
        .with_context(|| format!("reading the log filter {:?}", options.log_level))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let installed = match options.log_format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
    };
    installed.map_err(|error| anyhow::anyhow!(error)).context("installing the log subscriber")
}
