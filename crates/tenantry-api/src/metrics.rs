//! Prometheus metrics: request counts and latencies by route template.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::error::{ApiError, ErrorCode};
use crate::request_context::route_of;

/// The content type of the OpenMetrics text format that
/// `prometheus_client` writes (Prometheus reads it natively).
const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Latency buckets in seconds: Prometheus' defaults with 1 ms added, since
/// most control-plane requests finish in a few milliseconds.
const DURATION_BUCKETS_SECONDS: [f64; 12] =
    [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DurationLabels {
    method: &'static str,
    route: String,
}

/// The HTTP metrics of one router, and the registry they are exposed from.
pub(crate) struct HttpMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<DurationLabels, Histogram, fn() -> Histogram>,
}

impl std::fmt::Debug for HttpMetrics {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("HttpMetrics").finish_non_exhaustive()
    }
}

fn new_duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS_SECONDS)
}

impl HttpMetrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let durations: Family<DurationLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(new_duration_histogram);
        // Counters get the `_total` suffix from the encoder.
        registry.register(
            "http_requests",
            "HTTP requests served, by method, route template and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to produce the response, by method and route template, in seconds",
            durations.clone(),
        );
        Self { registry, requests, durations }
    }

    fn record(&self, method: &Method, route: String, status: u16, seconds: f64) {
        let method = method_label(method);
        self.requests.get_or_create(&RequestLabels { method, route: route.clone(), status }).inc();
        self.durations.get_or_create(&DurationLabels { method, route }).observe(seconds);
    }

    fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// The method as a label value. Methods outside the standard set become
/// `other`, so that a client cannot grow the label set without bound.
fn method_label(method: &Method) -> &'static str {
    const STANDARD: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::PATCH, "PATCH"),
        (Method::DELETE, "DELETE"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::TRACE, "TRACE"),
        (Method::CONNECT, "CONNECT"),
    ];
    STANDARD.iter().find(|(standard, _)| standard == method).map_or("other", |(_, label)| label)
}

/// Counts and times every request under its route template.
pub(crate) async fn track_metrics(
    State(metrics): State<Arc<HttpMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let route = route_of(&request);
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.record(&method, route, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

/// Writes the metrics in the Prometheus (OpenMetrics) text format.
pub(crate) fn render(metrics: &HttpMetrics) -> Response {
    match metrics.encode() {
        Ok(text) => ([(header::CONTENT_TYPE, HeaderValue::from_static(OPENMETRICS_CONTENT_TYPE))], text)
            .into_response(),
        Err(error) => {
            tracing::error!(error = %error, "could not encode the metrics");
            ApiError::new(ErrorCode::Internal, "the metrics could not be encoded").into_response()
        }
    }
}
