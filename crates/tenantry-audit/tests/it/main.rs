//! The integration tests of tenantry-audit, one binary (see STYLE.md).

mod bundle;
mod checkpoint;
mod event;
mod merkle;
mod note;
mod support;
mod verify;
