//! How a failed command ends: an `error (code): message` line on stderr and
//! an exit code that tells scripts what kind of failure it was.

use tenantry_core::Error;
use tenantry_retrofit::RetrofitError;

/// The exit codes, as documented in `--help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Something failed that the caller cannot fix, or evidence (an audit
    /// log, a bundle) did not verify.
    Internal = 1,
    /// A usage error or an invalid value (clap's own errors are 2 too).
    Invalid = 2,
    /// A named resource does not exist.
    NotFound = 3,
    /// The operation conflicts with stored state.
    Conflict = 4,
    /// The operation is not allowed.
    Forbidden = 5,
    /// The operation run `operations watch` followed was cancelled.
    Cancelled = 6,
}

/// Evidence that does not verify: an audit log or a bundle that was
/// changed. `audit verify` and `audit verify-bundle` exit 1 with it, the
/// code the issue of an auditor's script is about.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EvidenceInvalid(pub String);

/// How an operation run `operations watch` followed ended, when not in
/// success: it exits 1 (errored) or 6 (cancelled).
#[derive(Debug, thiserror::Error)]
#[error("{1}")]
pub struct RunOutcome(pub ExitStatus, pub String);

/// The domain error somewhere in the chain, if there is one. Context added
/// with `anyhow` sits on top of it and does not change the kind of failure.
fn domain_error(error: &anyhow::Error) -> Option<&Error> {
    error.chain().find_map(|cause| cause.downcast_ref::<Error>())
}

/// The retrofit's error somewhere in the chain, if there is one.
fn retrofit_error(error: &anyhow::Error) -> Option<&RetrofitError> {
    error.chain().find_map(|cause| cause.downcast_ref::<RetrofitError>())
}

/// The exit status for a failure.
pub fn exit_status(error: &anyhow::Error) -> ExitStatus {
    if error.chain().any(|cause| cause.is::<EvidenceInvalid>()) {
        return ExitStatus::Internal;
    }
    if let Some(RunOutcome(status, _)) = error.chain().find_map(|cause| cause.downcast_ref::<RunOutcome>()) {
        return *status;
    }
    if let Some(retrofit) = retrofit_error(error) {
        return match retrofit {
            RetrofitError::Config(_) => ExitStatus::Invalid,
            RetrofitError::Refused(_) | RetrofitError::LeaseLost { .. } => ExitStatus::Conflict,
            RetrofitError::Connect(..) | RetrofitError::Sql(..) => ExitStatus::Internal,
        };
    }
    match domain_error(error) {
        Some(Error::Invalid { .. } | Error::LimitExceeded { .. }) => ExitStatus::Invalid,
        Some(Error::NotFound { .. }) => ExitStatus::NotFound,
        Some(Error::Conflict { .. }) => ExitStatus::Conflict,
        Some(Error::Forbidden { .. } | Error::TenantInactive { .. }) => ExitStatus::Forbidden,
        Some(Error::Internal(_)) | None => ExitStatus::Internal,
    }
}

/// The stable snake_case code of a failure, the same word the API uses.
pub fn error_code(error: &anyhow::Error) -> &'static str {
    if error.chain().any(|cause| cause.is::<EvidenceInvalid>()) {
        return "evidence_invalid";
    }
    if let Some(RunOutcome(status, _)) = error.chain().find_map(|cause| cause.downcast_ref::<RunOutcome>()) {
        return if *status == ExitStatus::Cancelled { "run_cancelled" } else { "run_errored" };
    }
    if let Some(retrofit) = retrofit_error(error) {
        return match retrofit {
            RetrofitError::Config(_) => "invalid_field",
            RetrofitError::Refused(_) => "retrofit_refused",
            RetrofitError::LeaseLost { .. } => "lease_lost",
            RetrofitError::Connect(..) | RetrofitError::Sql(..) => "internal",
        };
    }
    match domain_error(error) {
        Some(Error::Invalid { .. }) => "invalid_field",
        Some(Error::NotFound { .. }) => "not_found",
        Some(Error::Conflict { code, .. }) => code.as_str(),
        Some(Error::LimitExceeded { code, .. }) => code.as_str(),
        Some(Error::Forbidden { .. }) => "forbidden",
        Some(Error::TenantInactive { .. }) => "tenant_inactive",
        Some(Error::Internal(_)) | None => "internal",
    }
}

/// The line printed on stderr: the code, then every layer of context down
/// to the root cause.
pub fn error_line(error: &anyhow::Error) -> String {
    format!("error ({}): {error:#}", error_code(error))
}

#[cfg(test)]
mod tests {
    use anyhow::Context;
    use tenantry_core::ConflictCode;

    use super::*;

    #[test]
    fn domain_errors_keep_their_kind_beneath_context() {
        let cases = [
            (Error::invalid("name", "must not be empty"), ExitStatus::Invalid, "invalid_field"),
            (Error::not_found("tenant"), ExitStatus::NotFound, "not_found"),
            (Error::conflict(ConflictCode::DuplicateTenantName), ExitStatus::Conflict, "duplicate_name"),
            (Error::forbidden("no"), ExitStatus::Forbidden, "forbidden"),
            (
                Error::TenantInactive { status: tenantry_core::TenantStatus::Suspended },
                ExitStatus::Forbidden,
                "tenant_inactive",
            ),
            (Error::internal("disk on fire"), ExitStatus::Internal, "internal"),
        ];
        for (domain, status, code) in cases {
            let error = Err::<(), _>(domain).context("doing the thing").unwrap_err();
            assert_eq!(exit_status(&error), status);
            assert_eq!(error_code(&error), code);
            assert!(error_line(&error).starts_with(&format!("error ({code}): doing the thing: ")));
        }
        assert_eq!(exit_status(&anyhow::anyhow!("plain")), ExitStatus::Internal);
    }
}
