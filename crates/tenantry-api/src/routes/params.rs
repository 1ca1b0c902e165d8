//! Query strings parsed strictly: each parameter at most once, none a
//! route does not name (422 `unknown_field`), and each value checked
//! against its rule with the parameter's name in the error.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;

use crate::ApiState;
use crate::error::{ApiError, ErrorCode};

/// The query parameters of one route, each at most once, and none it
/// does not name (422 `unknown_field`).
pub(crate) async fn query_params(
    parts: &mut Parts,
    state: &ApiState,
    allowed: &'static [&'static str],
) -> Result<HashMap<String, String>, ApiError> {
    let Query(pairs) =
        Query::<Vec<(String, String)>>::from_request_parts(parts, state).await.map_err(|rejection| {
            ApiError::new(ErrorCode::InvalidQuery, format!("the query string cannot be decoded: {rejection}"))
        })?;
    let mut params = HashMap::new();
    for (name, value) in pairs {
        if !allowed.contains(&name.as_str()) {
            return Err(ApiError::for_field(
                ErrorCode::UnknownField,
                name,
                format!("is not a query parameter of this route; use {}", allowed.join(", ")),
            ));
        }
        if params.insert(name.clone(), value).is_some() {
            return Err(ApiError::for_field(ErrorCode::InvalidField, name, "appears more than once"));
        }
    }
    Ok(params)
}

/// A positive whole number in the query, or `None` when absent.
pub(crate) fn number(
    params: &HashMap<String, String>,
    name: &'static str,
    minimum: u64,
) -> Result<Option<u64>, ApiError> {
    params
        .get(name)
        .map(|text| {
            text.parse::<u64>().ok().filter(|value| *value >= minimum).ok_or_else(|| {
                ApiError::for_field(
                    ErrorCode::InvalidField,
                    name,
                    format!("must be a whole number, at least {minimum}"),
                )
            })
        })
        .transpose()
}

pub(crate) fn time(
    params: &HashMap<String, String>,
    name: &'static str,
) -> Result<Option<tenantry_core::Timestamp>, ApiError> {
    params
        .get(name)
        .map(|text| {
            chrono::DateTime::parse_from_rfc3339(text).map(|time| time.with_timezone(&chrono::Utc)).map_err(
                |_| {
                    ApiError::for_field(
                        ErrorCode::InvalidField,
                        name,
                        "must be an RFC 3339 time (`2026-12-06T10:00:00Z`)",
                    )
                },
            )
        })
        .transpose()
}

/// A filter value: 1 to 256 characters without control characters.
pub(crate) fn text(
    params: &mut HashMap<String, String>,
    name: &'static str,
) -> Result<Option<String>, ApiError> {
    params
        .remove(name)
        .map(|value| {
            if value.is_empty() || value.chars().count() > 256 || value.chars().any(char::is_control) {
                Err(ApiError::for_field(
                    ErrorCode::InvalidField,
                    name,
                    "must be 1 to 256 characters without control characters",
                ))
            } else {
                Ok(value)
            }
        })
        .transpose()
}
