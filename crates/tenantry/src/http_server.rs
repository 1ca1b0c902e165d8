//! Serving the router over HTTP/1.1 with hyper directly: header read,
//! keep-alive idle and shutdown deadlines, a connection limit, and hyper's
//! own answers to unparseable requests put in the error envelope.
//!
//! `axum::serve` sets no timer on hyper, so hyper's header read timeout is
//! off there (hyper only warns) and a client that sends half a request head
//! keeps its connection for ever. hyper's timeout, when a timer is set,
//! starts when the connection begins waiting for a request head, so it also
//! bounds the idle time between kept-alive requests: one number for two
//! different things. This module therefore keeps its own clock per
//! connection ([`ConnectionActivity`]): the header read timeout runs from a
//! request head's first byte (or from the connection's opening), the idle
//! timeout from the end of the previous response, and the request timeout
//! is the router's (see `tenantry_api::ApiConfig::request_timeout`).

use std::convert::Infallible;
use std::io;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tenantry_api::{ApiError, ErrorCode, RequestId, error_envelope_body};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::ServiceExt;

/// How connections are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionSettings {
    /// How long a request head may take, from its first byte (or from the
    /// connection's opening, for the first request).
    pub header_read_timeout: Duration,
    /// How long a kept-alive connection may wait for its next request.
    pub keep_alive_timeout: Duration,
    /// How many connections may be open at once.
    pub max_connections: usize,
    /// How long a graceful shutdown waits before closing what is left.
    pub shutdown_timeout: Duration,
}

/// How long a new connection may stay silent while the server is saturated:
/// a client sends its request as soon as it has connected, so a second is
/// ample, and connections opened only to be held are closed well before the
/// header read timeout.
const SILENCE_UNDER_PRESSURE: Duration = Duration::from_secs(1);

/// How long the accept loop pauses after a failed accept (typically out of
/// file descriptors) before it tries again, instead of spinning.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// Serves `router` on `listener` until `shutdown` resolves, then stops
/// accepting, lets in-flight requests finish, and closes every connection
/// still open when `settings.shutdown_timeout` has passed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: ConnectionSettings,
    shutdown: impl Future<Output = ()>,
) {
    let mut shutdown = pin!(shutdown);
    let permits = Arc::new(Semaphore::new(settings.max_connections));
    // `true` while the server cannot take another connection: idle
    // kept-alive connections then close, so they cannot starve new clients.
    let (saturated_sender, saturated) = watch::channel(false);
    let (stopping_sender, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut accept_failing = false;
    loop {
        while connections.try_join_next().is_some() {}
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    accept_failing = false;
                    stream
                }
                Err(error) => {
                    // Once per run of failures: they repeat every pause.
                    if !std::mem::replace(&mut accept_failing, true) {
                        tracing::warn!(%error, "accepting connections fails; closing idle connections and retrying");
                    }
                    // Idle connections close, giving their descriptors back,
                    // until an accept succeeds again (a failing accept means a
                    // connection is waiting).
                    set_saturated(&saturated_sender, true);
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        let permit = match Arc::clone(&permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if set_saturated(&saturated_sender, true) {
                    tracing::warn!(
                        max_connections = settings.max_connections,
                        "connection limit reached; new connections wait, idle ones are closed"
                    );
                }
                tokio::select! {
                    () = &mut shutdown => break,
                    permit = Arc::clone(&permits).acquire_owned() => permit.expect("the semaphore is never closed"),
                }
            }
        };
        set_saturated(&saturated_sender, false);
        connections.spawn(serve_connection(
            stream,
            router.clone(),
            settings,
            ConnectionSignals { saturated: saturated.clone(), stopping: stopping.clone() },
            permit,
        ));
    }
    drop(listener);
    while connections.try_join_next().is_some() {}
    tracing::info!(open_connections = connections.len(), "stopped accepting connections; draining");
    stopping_sender.send_replace(true);
    let drained = tokio::time::timeout(settings.shutdown_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        let remaining = connections.len();
        connections.shutdown().await;
        tracing::warn!(
            closed_connections = remaining,
            shutdown_timeout = ?settings.shutdown_timeout,
            "closed the connections still open at the shutdown deadline"
        );
    }
}

/// Sets the saturation signal, waking the connections only if it changes
/// (every accept would otherwise wake every connection); tells whether it
/// changed.
fn set_saturated(sender: &watch::Sender<bool>, saturated: bool) -> bool {
    sender.send_if_modified(|current| std::mem::replace(current, saturated) != saturated)
}

/// What the accept loop tells every connection.
#[derive(Debug)]
struct ConnectionSignals {
    /// The server is at its connection limit (or out of descriptors).
    saturated: watch::Receiver<bool>,
    /// A graceful shutdown has begun.
    stopping: watch::Receiver<bool>,
}

/// Serves one connection until the client or hyper closes it, or one of
/// this module's deadlines passes, which drops it (closing the socket).
async fn serve_connection(
    stream: TcpStream,
    router: Router,
    settings: ConnectionSettings,
    mut signals: ConnectionSignals,
    _permit: OwnedSemaphorePermit,
) {
    let activity = Arc::new(ConnectionActivity::new());
    let io = TokioIo::new(ObservedStream::new(stream, Arc::clone(&activity)));
    let service_activity = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        service_activity.request_started();
        // Dropped with the response body, once hyper has sent it all (or
        // given up on it): the connection is then idle.
        let response_finished = ResponseFinished(Arc::clone(&service_activity));
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await?;
            Ok::<_, Infallible>(response.map(move |body| {
                body.map_frame(move |frame| {
                    let _still_sending = &response_finished;
                    frame
                })
            }))
        }
    });
    let mut builder = http1::Builder::new();
    builder
        // Our clock replaces hyper's; see the module documentation.
        .header_read_timeout(None)
        // One buffer per write, so `ObservedStream` sees hyper's canned
        // error responses whole.
        .writev(false);
    let mut connection = pin!(builder.serve_connection(io, service));
    let mut stopping = false;
    let mut saturation_watched = true;
    loop {
        if !stopping && *signals.stopping.borrow_and_update() {
            stopping = true;
            connection.as_mut().graceful_shutdown();
        }
        let deadline = activity.deadline(&settings, *signals.saturated.borrow_and_update());
        let expired = async {
            match deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(error) = served {
                    tracing::debug!(%error, "connection ended with an error");
                }
                return;
            }
            () = activity.changed.notified() => {}
            changed = signals.saturated.changed(), if saturation_watched => {
                saturation_watched = changed.is_ok();
            }
            changed = signals.stopping.changed(), if !stopping => {
                if changed.is_err() {
                    stopping = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
            () = expired => {
                let saturated = *signals.saturated.borrow();
                if activity.deadline(&settings, saturated).is_some_and(|deadline| deadline <= Instant::now()) {
                    tracing::debug!(phase = ?activity.phase(), saturated, "closing the connection: its deadline passed");
                    return;
                }
            }
        }
    }
}

/// Where a connection is in its request cycle, and since when.
#[derive(Debug)]
struct ConnectionActivity {
    state: Mutex<ActivityState>,
    /// Woken when the phase changes in a way that can bring the deadline
    /// forward.
    changed: Notify,
}

#[derive(Debug, Clone, Copy)]
struct ActivityState {
    phase: Phase,
    since: Instant,
    /// hyper has written bytes it has not flushed yet: the client is slow
    /// to read the last response, which must not be cut short.
    unflushed: bool,
    /// The client has sent at least one byte.
    spoke: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading a request head: the header read timeout runs.
    ReadingHead,
    /// A request is being handled or its response sent: the router's
    /// request timeout applies.
    Busy,
    /// Kept alive between requests: the idle timeout runs.
    Idle,
}

impl ConnectionActivity {
    /// A new connection waits for its first request head.
    fn new() -> Self {
        let state = ActivityState {
            phase: Phase::ReadingHead,
            since: Instant::now(),
            unflushed: false,
            spoke: false,
        };
        Self { state: Mutex::new(state), changed: Notify::new() }
    }

    fn phase(&self) -> Phase {
        self.lock().phase
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ActivityState> {
        // The state is two plain values; a panic elsewhere cannot leave it
        // half written.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Bytes arrived: on an idle connection, a new request head begins.
    fn bytes_read(&self) {
        let mut state = self.lock();
        state.spoke = true;
        if state.phase == Phase::Idle {
            (state.phase, state.since) = (Phase::ReadingHead, Instant::now());
            drop(state);
            self.changed.notify_one();
        }
    }

    fn request_started(&self) {
        let mut state = self.lock();
        (state.phase, state.since) = (Phase::Busy, Instant::now());
    }

    fn response_finished(&self) {
        let mut state = self.lock();
        (state.phase, state.since) = (Phase::Idle, Instant::now());
        drop(state);
        self.changed.notify_one();
    }

    fn bytes_written(&self) {
        self.lock().unflushed = true;
    }

    fn flushed(&self) {
        if std::mem::replace(&mut self.lock().unflushed, false) {
            self.changed.notify_one();
        }
    }

    /// When the connection is to be closed if nothing changes; `None`
    /// while a request is in the router's hands. On a saturated server, an
    /// idle connection is due at once (once its last response is flushed),
    /// and a new one that has sent nothing after [`SILENCE_UNDER_PRESSURE`].
    fn deadline(&self, settings: &ConnectionSettings, saturated: bool) -> Option<Instant> {
        let ActivityState { phase, since, unflushed, spoke } = *self.lock();
        match phase {
            Phase::ReadingHead if saturated && !spoke => {
                Some(since + SILENCE_UNDER_PRESSURE.min(settings.header_read_timeout))
            }
            Phase::ReadingHead => Some(since + settings.header_read_timeout),
            Phase::Busy => None,
            Phase::Idle if saturated && !unflushed => Some(since),
            Phase::Idle => Some(since + settings.keep_alive_timeout),
        }
    }
}

/// Marks the response as finished when dropped.
#[derive(Debug)]
struct ResponseFinished(Arc<ConnectionActivity>);

impl Drop for ResponseFinished {
    fn drop(&mut self) {
        self.0.response_finished();
    }
}

/// hyper answers a request it cannot parse with one of these heads, an
/// empty body and a closed connection (`Server::on_error` and the header
/// encoding in hyper's `proto/h1/role.rs`), then writes nothing more. Each
/// is followed by the date (`IMF-fixdate`, 29 bytes) and an empty line.
const HYPER_CANNED_ERRORS: [(StatusCode, &[u8]); 3] = [
    (
        StatusCode::BAD_REQUEST,
        b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\ndate: ",
    ),
    (
        StatusCode::URI_TOO_LONG,
        b"HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-length: 0\r\ndate: ",
    ),
    (
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\ndate: ",
    ),
];
const HTTP_DATE_BYTES: usize = 29;

/// Where hyper's canned error response starts in `written`, if `written`
/// ends with one, with its status and date. None of our own responses can
/// end so: every error response of the router has a JSON body and an
/// `x-request-id` header.
fn canned_error_at_end(written: &[u8]) -> Option<(usize, StatusCode, &[u8])> {
    HYPER_CANNED_ERRORS.iter().find_map(|(status, head)| {
        let start = written.len().checked_sub(head.len() + HTTP_DATE_BYTES + 4)?;
        let canned = &written[start..];
        let date = &canned[head.len()..head.len() + HTTP_DATE_BYTES];
        (canned.starts_with(head) && canned.ends_with(b"\r\n\r\n")).then_some((start, *status, date))
    })
}

/// The enveloped replacement of hyper's canned answer with this status.
fn enveloped_protocol_error(status: StatusCode, date: &[u8]) -> Vec<u8> {
    let api_error = if status == StatusCode::BAD_REQUEST {
        ApiError::new(ErrorCode::MalformedRequest, "the request is not valid HTTP/1.1")
    } else {
        ApiError::from_status(status)
    };
    let request_id = RequestId::from_incoming(None);
    tracing::info!(
        status = status.as_u16(),
        request_id = request_id.as_str(),
        "refused an unparseable request"
    );
    let body = error_envelope_body(&api_error, &request_id);
    let mut response = format!(
        "HTTP/1.1 {} {}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         x-request-id: {}\r\ndate: ",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len(),
        request_id.as_str()
    )
    .into_bytes();
    response.extend_from_slice(date);
    response.extend_from_slice(b"\r\n\r\n");
    response.extend_from_slice(&body);
    response
}

/// The TCP stream as hyper sees it: reads tell the connection's clock that
/// bytes arrived, and a canned error response that hyper writes is replaced
/// by the same status with the error envelope and a request id.
#[derive(Debug)]
struct ObservedStream {
    stream: TcpStream,
    activity: Arc<ConnectionActivity>,
    /// Bytes accepted from hyper but not yet written (only ever the
    /// replacement of a canned response and what preceded it).
    pending: Vec<u8>,
}

impl ObservedStream {
    fn new(stream: TcpStream, activity: Arc<ConnectionActivity>) -> Self {
        Self { stream, activity, pending: Vec::new() }
    }

    fn poll_write_pending(&mut self, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            let written = ready!(Pin::new(&mut self.stream).poll_write(context, &self.pending))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending.drain(..written);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for ObservedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buffer.filled().len();
        let read = ready!(Pin::new(&mut this.stream).poll_read(context, buffer));
        if read.is_ok() && buffer.filled().len() > before {
            this.activity.bytes_read();
        }
        Poll::Ready(read)
    }
}

impl AsyncWrite for ObservedStream {
    fn poll_write(self: Pin<&mut Self>, context: &mut Context<'_>, bytes: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_write_pending(context))?;
        // hyper hands over everything it has buffered, so a canned response,
        // written in one piece as the last thing on the connection, arrives
        // whole at the end of one call.
        if let Some((start, status, date)) = canned_error_at_end(bytes) {
            this.pending.extend_from_slice(&bytes[..start]);
            this.pending.extend_from_slice(&enveloped_protocol_error(status, date));
            // Best effort now; flush and shutdown finish it.
            if let Poll::Ready(Err(error)) = this.poll_write_pending(context) {
                return Poll::Ready(Err(error));
            }
            return Poll::Ready(Ok(bytes.len()));
        }
        this.activity.bytes_written();
        Pin::new(&mut this.stream).poll_write(context, bytes)
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_write_pending(context))?;
        ready!(Pin::new(&mut this.stream).poll_flush(context))?;
        // hyper flushes only once its own buffer is written out.
        this.activity.flushed();
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_write_pending(context))?;
        Pin::new(&mut this.stream).poll_shutdown(context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_hyper_canned_errors_only_at_the_end_of_a_write() {
        let date = b"Sun, 06 Dec 2026 07:17:40 GMT";
        let canned = |head: &[u8]| [head, date.as_slice(), b"\r\n\r\n"].concat();
        for (status, head) in HYPER_CANNED_ERRORS {
            let alone = canned(head);
            assert_eq!(canned_error_at_end(&alone), Some((0, status, date.as_slice())));
            let earlier_response = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".as_slice();
            let after_a_response = [earlier_response, &alone].concat();
            assert_eq!(
                canned_error_at_end(&after_a_response).map(|(start, ..)| start),
                Some(earlier_response.len())
            );
            let followed = [alone.as_slice(), b"x"].concat();
            assert_eq!(canned_error_at_end(&followed), None);
        }
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nx-request-id: a\r\n\r\n{}";
        assert_eq!(canned_error_at_end(ours), None);
    }

    #[test]
    fn the_replacement_is_an_enveloped_response_of_the_same_status() {
        let date = b"Sun, 06 Dec 2026 07:17:40 GMT";
        for (status, code) in [
            (StatusCode::BAD_REQUEST, "malformed_request"),
            (StatusCode::URI_TOO_LONG, "uri_too_long"),
            (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "headers_too_large"),
        ] {
            let response = String::from_utf8(enveloped_protocol_error(status, date)).unwrap();
            let (head, body) = response.split_once("\r\n\r\n").unwrap();
            assert!(head.starts_with(&format!("HTTP/1.1 {} ", status.as_u16())), "{head}");
            assert!(head.contains(&format!("content-length: {}\r\n", body.len())), "{head}");
            let envelope: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(envelope["error"]["code"], code);
            let request_id = envelope["error"]["request_id"].as_str().unwrap();
            assert!(head.contains(&format!("x-request-id: {request_id}\r\n")), "{head}");
        }
    }
}
