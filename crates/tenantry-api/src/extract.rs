//! Extractors whose rejections are [`ApiError`]s with the API's codes: a JSON
//! body, an id in the path, and the pagination query.

use std::str::FromStr;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;
use serde_json::error::Category;
use tenantry_core::{IdError, PageLimit, PageRequest};

use crate::ApiState;
use crate::error::{ApiError, ErrorCode};

/// The field name used when an error concerns the body as a whole.
pub(crate) const BODY_FIELD: &str = "body";

/// A JSON request body. Unlike axum's `Json`, every failure is an
/// [`ApiError`]: 415 `unsupported_media_type` without a JSON content type,
/// 413 `payload_too_large` over the body limit, 400 `malformed_json` for bad
/// syntax, 422 `unknown_field` for a field the type does not accept, and 422
/// `invalid_field` naming the field and the rule for anything else.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !has_json_content_type(request.headers()) {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "the request body must be JSON, sent with `Content-Type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(request, state).await.map_err(bytes_rejection_error)?;
        parse_json_body(&bytes).map(JsonBody)
    }
}

fn has_json_content_type(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()) else {
        return false;
    };
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json"
        || essence.strip_prefix("application/").is_some_and(|subtype| subtype.ends_with("+json"))
}

fn bytes_rejection_error(rejection: BytesRejection) -> ApiError {
    match rejection {
        BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_)) => {
            ApiError::new(ErrorCode::PayloadTooLarge, "the request body is larger than the server accepts")
        }
        other => ApiError::new(ErrorCode::BadRequest, format!("the request body could not be read: {other}")),
    }
}

/// Parses a JSON body into `T`, mapping serde's errors to the API's codes.
pub(crate) fn parse_json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Most bodies are valid: parse them without tracking the path, which
    // costs as much again as the parse, and track it only to say where a
    // bad body went wrong. `from_slice` also refuses anything after the
    // value, so both parses accept exactly the same bodies.
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|error| json_error(bytes, error))?;
    // Anything after the value (`{} {}`) is a syntax error, not ignored.
    deserializer.end().map_err(|error| {
        ApiError::new(ErrorCode::MalformedJson, format!("the body is not valid JSON: {error}"))
    })?;
    Ok(value)
}

fn json_error(bytes: &[u8], error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = error.path().to_string();
    let inner = error.into_inner();
    match inner.classify() {
        // serde_json reports some type mismatches as syntax errors (a
        // boolean where an enum's string belongs gives "expected value"), so
        // a "syntax error" in a body that parses as JSON is a type error at
        // that path.
        Category::Syntax if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() => {
            let field = if path == "." { BODY_FIELD } else { path.as_str() };
            ApiError::for_field(ErrorCode::InvalidField, field, "has the wrong JSON type")
        }
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::new(ErrorCode::MalformedJson, format!("the body is not valid JSON: {inner}"))
        }
        Category::Data => data_error(&path, &message_without_position(&inner)),
    }
}

/// serde_json appends ` at line L column C` to its messages; in a field
/// error, the field's name says more.
fn message_without_position(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    message.strip_suffix(&suffix).map(str::to_owned).unwrap_or(message)
}

/// A type or value error from serde. `path` is where it happened (`.` for
/// the body itself); serde's own messages for unknown and missing fields
/// carry the field's name in backquotes.
fn data_error(path: &str, message: &str) -> ApiError {
    let quoted_name = |prefix: &str| {
        message.strip_prefix(prefix).and_then(|rest| rest.split('`').next()).map(str::to_owned)
    };
    let parent = if path == "." { None } else { Some(path) };
    // For some errors (an unknown field) serde_path_to_error's path already
    // ends at the field; for others (a missing field) it ends at its parent.
    let qualified = |name: String| match parent {
        Some(parent) if parent == name || parent.ends_with(&format!(".{name}")) => parent.to_owned(),
        Some(parent) => format!("{parent}.{name}"),
        None => name,
    };
    if let Some(name) = quoted_name("unknown field `") {
        // serde's message goes on to list the accepted fields, which helps.
        return ApiError::for_field(ErrorCode::UnknownField, qualified(name), message);
    }
    if let Some(name) = quoted_name("missing field `") {
        return ApiError::for_field(ErrorCode::InvalidField, qualified(name), "is required");
    }
    if let Some(name) = quoted_name("duplicate field `") {
        return ApiError::for_field(ErrorCode::InvalidField, qualified(name), "appears more than once");
    }
    ApiError::for_field(ErrorCode::InvalidField, parent.unwrap_or(BODY_FIELD), message)
}

/// An id taken from the `{id}` segment of the path; a malformed one is a
/// 400 `invalid_id`, never a lookup.
#[derive(Debug, Clone)]
pub struct PathId<Id>(pub Id);

impl<Id, S> FromRequestParts<S> for PathId<Id>
where
    Id: FromStr<Err = IdError> + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state).await.map_err(|_| {
            ApiError::for_field(ErrorCode::InvalidId, "id", "is not valid percent-encoded UTF-8")
        })?;
        raw.parse()
            .map(PathId)
            .map_err(|error: IdError| ApiError::for_field(ErrorCode::InvalidId, "id", error))
    }
}

/// The pagination query of a list: `limit` (1 to the server's largest page,
/// `--max-page-size`, 1000 by default; 100 when absent, or the largest page
/// when that is smaller) and `cursor` (the previous page's `next_cursor`).
/// Any other parameter is a 422 `unknown_field`, so that a misspelt one is
/// not silently ignored.
#[derive(Debug, Clone)]
pub struct ListQuery<Id>(pub PageRequest<Id>);

impl<Id> FromRequestParts<ApiState> for ListQuery<Id>
where
    Id: FromStr<Err = IdError> + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let Query(pairs) =
            Query::<Vec<(String, String)>>::from_request_parts(parts, state).await.map_err(|rejection| {
                ApiError::new(
                    ErrorCode::InvalidQuery,
                    format!("the query string cannot be decoded: {rejection}"),
                )
            })?;
        parse_list_query(pairs, state.config.max_page_size).map(ListQuery)
    }
}

/// A page size given as query text: [`page_limit`] of it, and text that is
/// no whole number refused with the same rule.
pub(crate) fn page_limit_text(text: Option<&str>, largest: PageLimit) -> Result<PageLimit, ApiError> {
    match text {
        None => page_limit(None, largest),
        Some(text) => page_limit(Some(text.parse::<u32>().unwrap_or(0)), largest),
    }
}

/// The page size a request asks for in its `limit` field: 1 to the
/// server's largest page (422 `invalid_field` naming the rule, and the flag
/// when the server lowered it); when absent, [`PageLimit::DEFAULT`] or the
/// largest page when that is smaller.
pub(crate) fn page_limit(requested: Option<u32>, largest: PageLimit) -> Result<PageLimit, ApiError> {
    let Some(requested) = requested else {
        return Ok(PageLimit::default_at_most(largest));
    };
    PageLimit::at_most(requested, largest).map_err(|rule| {
        let rule = if largest < PageLimit::LARGEST {
            format!("{rule} on this server (--max-page-size)")
        } else {
            rule
        };
        ApiError::for_field(ErrorCode::InvalidField, "limit", rule)
    })
}

fn parse_list_query<Id: FromStr<Err = IdError>>(
    pairs: Vec<(String, String)>,
    largest: PageLimit,
) -> Result<PageRequest<Id>, ApiError> {
    let mut limit = None;
    let mut cursor = None;
    for (name, value) in pairs {
        let slot = match name.as_str() {
            "limit" => &mut limit,
            "cursor" => &mut cursor,
            _ => {
                return Err(ApiError::for_field(
                    ErrorCode::UnknownField,
                    name,
                    "is not a query parameter of this list; use `limit` and `cursor`",
                ));
            }
        };
        if slot.replace(value).is_some() {
            return Err(ApiError::for_field(ErrorCode::InvalidField, name, "appears more than once"));
        }
    }
    let limit = page_limit_text(limit.as_deref(), largest)?;
    let after = match cursor {
        None => None,
        Some(text) => Some(text.parse().map_err(|_: IdError| {
            ApiError::for_field(
                ErrorCode::InvalidCursor,
                "cursor",
                "is not a cursor of this list; pass the previous page's `next_cursor` unchanged",
            )
        })?),
    };
    Ok(PageRequest { limit, after })
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use tenantry_core::{WorkspaceId, WorkspaceName};

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: WorkspaceName,
        count: Option<u32>,
        status: Option<tenantry_core::WorkspaceStatus>,
    }

    fn check(input: &str, code: ErrorCode, field: Option<&str>) {
        let error = parse_json_body::<Body>(input.as_bytes()).unwrap_err();
        assert_eq!((error.code(), error.field()), (code, field), "{input}: {error}");
        if let Some(field) = field {
            assert!(error.message().starts_with(&format!("{field}: ")), "{input}: {error}");
        }
    }

    #[test]
    fn json_errors_get_the_api_codes() {
        check("", ErrorCode::MalformedJson, None);
        check("{\"name\": ", ErrorCode::MalformedJson, None);
        check("{\"name\": \"a\"} {}", ErrorCode::MalformedJson, None);
        check("{\"name\": \"a\", \"colour\": 1}", ErrorCode::UnknownField, Some("colour"));
        check("{\"count\": 1}", ErrorCode::InvalidField, Some("name"));
        check("{\"name\": 5}", ErrorCode::InvalidField, Some("name"));
        check("{\"name\": \"\"}", ErrorCode::InvalidField, Some("name"));
        check("{\"name\": \"a\", \"count\": -1}", ErrorCode::InvalidField, Some("count"));
        check("{\"name\": \"a\", \"name\": \"b\"}", ErrorCode::InvalidField, Some("name"));
        check("[]", ErrorCode::InvalidField, Some("body"));
        check("{\"name\": \"a\", \"status\": true}", ErrorCode::InvalidField, Some("status"));
        let too_long = format!("{{\"name\": \"{}\"}}", "x".repeat(256));
        let error = parse_json_body::<Body>(too_long.as_bytes()).unwrap_err();
        assert_eq!(error.message(), "name: must be at most 255 characters");
    }

    #[test]
    fn list_queries_are_checked() {
        let pairs = |items: &[(&str, &str)]| -> Vec<(String, String)> {
            items.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect()
        };
        let largest = PageLimit::LARGEST;
        let page = parse_list_query::<WorkspaceId>(pairs(&[]), largest).unwrap();
        assert_eq!(page, PageRequest::first());
        let cursor = WorkspaceId::generate();
        let page = parse_list_query::<WorkspaceId>(
            pairs(&[("limit", "5"), ("cursor", &cursor.to_string())]),
            largest,
        )
        .unwrap();
        assert_eq!((page.limit.get(), page.after), (5, Some(cursor)));
        let cases: [(&[(&str, &str)], ErrorCode); 7] = [
            (&[("limit", "0")], ErrorCode::InvalidField),
            (&[("limit", "1001")], ErrorCode::InvalidField),
            (&[("limit", "ten")], ErrorCode::InvalidField),
            (&[("limit", "1"), ("limit", "2")], ErrorCode::InvalidField),
            (&[("cursor", "ten_01HZX3J4Q8W6E5R7T9Y2U4I6O8")], ErrorCode::InvalidCursor),
            (&[("cursor", "")], ErrorCode::InvalidCursor),
            (&[("page", "2")], ErrorCode::UnknownField),
        ];
        for (query, code) in cases {
            let error = parse_list_query::<WorkspaceId>(pairs(query), largest).unwrap_err();
            assert_eq!(error.code(), code, "{query:?}");
        }
        let error = parse_list_query::<WorkspaceId>(pairs(&[("limit", "-1")]), largest).unwrap_err();
        assert_eq!(error.message(), "limit: must be an integer between 1 and 1000");
    }

    #[test]
    fn a_lowered_largest_page_bounds_the_limit_and_the_default() {
        let pairs = |items: &[(&str, &str)]| -> Vec<(String, String)> {
            items.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect()
        };
        let largest = PageLimit::new(50).unwrap();
        let page = parse_list_query::<WorkspaceId>(pairs(&[]), largest).unwrap();
        assert_eq!(page.limit, largest, "the default page is no larger than the largest");
        let page = parse_list_query::<WorkspaceId>(pairs(&[("limit", "50")]), largest).unwrap();
        assert_eq!(page.limit.get(), 50);
        let error = parse_list_query::<WorkspaceId>(pairs(&[("limit", "51")]), largest).unwrap_err();
        assert_eq!((error.code(), error.field()), (ErrorCode::InvalidField, Some("limit")));
        assert_eq!(
            error.message(),
            "limit: must be an integer between 1 and 50 on this server (--max-page-size)"
        );
        let page = parse_list_query::<WorkspaceId>(pairs(&[]), PageLimit::new(500).unwrap()).unwrap();
        assert_eq!(page.limit, PageLimit::DEFAULT);
    }

    #[test]
    fn json_content_types_are_recognised() {
        let headers = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, axum::http::HeaderValue::from_static(value));
            headers
        };
        assert!(has_json_content_type(&headers("application/json")));
        assert!(has_json_content_type(&headers("Application/JSON; charset=utf-8")));
        assert!(has_json_content_type(&headers("application/merge-patch+json")));
        assert!(!has_json_content_type(&headers("text/plain")));
        assert!(!has_json_content_type(&headers("application/jsonx")));
        assert!(!has_json_content_type(&HeaderMap::new()));
    }
}
