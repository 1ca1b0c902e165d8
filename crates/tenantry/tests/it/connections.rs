//! How `tenantry serve` treats connections, over raw TCP: errors of the
//! HTTP layer in the envelope, slow and idle clients disconnected, the
//! connection limit, and a shutdown that stalled clients cannot hold up.
//!
//! Timeouts are set to the minimum (1 s) and nothing asserts how long
//! anything took: a read that does not end fails on the read limit.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use crate::support::{
    HttpResponse, READ_LIMIT, ServerProcess, Tenantry, connect, key_file, parse_response, raw_exchange,
    read_one_response, read_until_closed,
};

/// Asserts an error response in the envelope with this status and code,
/// whose request id is the one of the `x-request-id` header.
#[track_caller]
fn assert_envelope(response: &HttpResponse, status: u16, code: &str, case: &str) {
    assert_eq!(response.status, status, "{case}: {response:?}");
    assert_eq!(response.header("content-type"), Some("application/json"), "{case}: {response:?}");
    let envelope = response.json();
    assert_eq!(envelope["error"]["code"], code, "{case}: {response:?}");
    assert!(envelope["error"]["message"].as_str().is_some_and(|message| !message.is_empty()), "{case}");
    let request_id = response.header("x-request-id");
    assert!(request_id.is_some(), "{case}: no x-request-id: {response:?}");
    assert_eq!(envelope["error"]["request_id"].as_str(), request_id, "{case}: {response:?}");
}

/// A server on SQLite started with `flags`, ready, with its data directory
/// (kept alive with it), its address and the bootstrap operator's token.
fn ready_server(flags: &[&str]) -> (tempfile::TempDir, ServerProcess, SocketAddr, String) {
    let data_dir = tempfile::tempdir().unwrap();
    let mut server = Tenantry::sqlite(data_dir.path()).serve(flags);
    let address = server.wait_until_ready();
    let token = std::fs::read_to_string(key_file(data_dir.path())).unwrap().trim().to_owned();
    (data_dir, server, address, token)
}

/// The head of a request creating a workspace with a `length`-byte body,
/// with `extra` header lines.
fn create_workspace_head(token: &str, length: usize, extra: &str) -> String {
    format!(
        "POST /v1/workspaces HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\n{extra}\r\n"
    )
}

#[test]
fn errors_of_the_http_layer_come_in_the_envelope() {
    let (_data_dir, _server, address, _token) = ready_server(&[]);
    let many_headers: String = (0..200).map(|index| format!("X-Header-{index}: v\r\n")).collect();
    let cases: [(&str, Vec<u8>, u16, &str); 6] = [
        ("not HTTP at all", b"GARBAGE\r\n\r\n".to_vec(), 400, "malformed_request"),
        (
            "a header line without a colon",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n".to_vec(),
            400,
            "malformed_request",
        ),
        (
            "a 20 KB URI (our limit)",
            format!(
                "GET /healthz?pad={} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                "a".repeat(20_000)
            )
            .into_bytes(),
            414,
            "uri_too_long",
        ),
        (
            "a 70 KB URI (hyper's limit)",
            format!("GET /healthz?pad={} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000)).into_bytes(),
            414,
            "uri_too_long",
        ),
        (
            "100 KB of headers (our limit)",
            format!(
                "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: {}\r\n\r\n",
                "a".repeat(100_000)
            )
            .into_bytes(),
            431,
            "headers_too_large",
        ),
        (
            "200 headers (hyper's limit)",
            format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n").into_bytes(),
            431,
            "headers_too_large",
        ),
    ];
    for (case, request, status, code) in cases {
        let response = raw_exchange(address, &request).unwrap_or_else(|error| panic!("{case}: {error}"));
        assert_envelope(&response, status, code, case);
    }
    // A caller's own request id is kept where the request could be read.
    let response = raw_exchange(
        address,
        format!(
            "GET /healthz?pad={} HTTP/1.1\r\nX-Request-Id: mine-1\r\nConnection: close\r\n\r\n",
            "a".repeat(9000)
        )
        .as_bytes(),
    )
    .unwrap();
    assert_envelope(&response, 414, "uri_too_long", "own request id");
    assert_eq!(response.header("x-request-id"), Some("mine-1"));
}

#[test]
fn slow_and_idle_clients_are_disconnected() {
    let (_data_dir, mut server, address, token) = ready_server(&[
        "--header-read-timeout-secs",
        "1",
        "--keep-alive-timeout-secs",
        "1",
        "--request-timeout-secs",
        "1",
    ]);

    // Half a request head, then nothing: closed without an answer.
    let mut slow_head = connect(address);
    slow_head.write_all(b"GET /healthz HTTP/1.1\r\nHo").unwrap();
    assert_eq!(read_until_closed(&mut slow_head).unwrap(), b"", "the slow head got an answer");

    // Nothing at all: the same.
    let mut silent = connect(address);
    assert_eq!(read_until_closed(&mut silent).unwrap(), b"", "the silent connection got an answer");

    // A kept-alive connection is answered, then closed when idle.
    let mut kept_alive = connect(address);
    kept_alive.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let response = read_one_response(&mut kept_alive).unwrap();
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(read_until_closed(&mut kept_alive).unwrap(), b"", "more than one response");

    // A body that stops halfway: the request times out in the envelope.
    let mut slow_body = connect(address);
    slow_body.write_all(format!("{}{{\"name\":", create_workspace_head(&token, 100, "")).as_bytes()).unwrap();
    let response = read_one_response(&mut slow_body).unwrap();
    assert_envelope(&response, 503, "request_timeout", "a stalled body");
    assert_eq!(server.wait_until_ready(), address, "the server still serves");
}

#[test]
fn beyond_the_connection_limit_new_connections_wait_and_idle_or_silent_ones_make_room() {
    let (_data_dir, _server, address, _token) = ready_server(&[
        "--max-connections",
        "1",
        "--header-read-timeout-secs",
        "600",
        "--keep-alive-timeout-secs",
        "600",
    ]);

    // The only connection is reading a head: a second one waits for it.
    let mut first = connect(address);
    first.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
    let mut waiting = connect(address);
    waiting.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    waiting.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut byte = [0u8; 1];
    let early = waiting.read(&mut byte);
    assert!(early.is_err(), "a connection beyond the limit was served: {early:?}");
    waiting.set_read_timeout(Some(READ_LIMIT)).unwrap();

    // The first request completes and stays kept alive; being idle while
    // another connection waits, it is closed, and the waiting one is served.
    first.write_all(b"\r\n").unwrap();
    assert_eq!(read_one_response(&mut first).unwrap().status, 200);
    let served = parse_response(&read_until_closed(&mut waiting).unwrap()).unwrap();
    assert_eq!(served.status, 200, "{served:?}");
    assert_eq!(read_until_closed(&mut first).unwrap(), b"", "the idle connection was not closed");

    // A connection that says nothing keeps its place only briefly (not the
    // 600 s header read timeout) while another waits.
    let mut silent = connect(address);
    let served =
        raw_exchange(address, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    assert_eq!(served.status, 200, "{served:?}");
    assert_eq!(read_until_closed(&mut silent).unwrap(), b"", "the silent connection was not closed");
}

#[test]
fn sigterm_finishes_in_flight_requests_and_closes_stalled_connections_at_the_deadline() {
    let (_data_dir, mut server, address, token) = ready_server(&[
        "--shutdown-timeout-secs",
        "5",
        "--header-read-timeout-secs",
        "600",
        "--request-timeout-secs",
        "600",
    ]);

    // Stalled in a request head, and in a request body.
    let mut stalled_head = connect(address);
    stalled_head.write_all(b"GET /healthz HTTP/1.1\r\nHo").unwrap();
    let mut stalled_body = connect(address);
    stalled_body
        .write_all(format!("{}{{\"name\":", create_workspace_head(&token, 100, "")).as_bytes())
        .unwrap();

    // A normal request, in flight: its handler is reading the body, which
    // hyper announces with `100 Continue`.
    let body = br#"{"name":"drained"}"#;
    let mut in_flight = connect(address);
    in_flight
        .write_all(
            create_workspace_head(&token, body.len(), "Expect: 100-continue\r\nConnection: close\r\n")
                .as_bytes(),
        )
        .unwrap();
    let mut continue_line = [0u8; 25];
    in_flight.read_exact(&mut continue_line).unwrap();
    assert_eq!(&continue_line, b"HTTP/1.1 100 Continue\r\n\r\n");

    server.send_terminate();
    in_flight.write_all(body).unwrap();
    let response = parse_response(&read_until_closed(&mut in_flight).unwrap()).unwrap();
    assert_eq!(response.status, 201, "the in-flight request did not complete: {response:?}");

    let status = server.wait_for_exit();
    assert!(status.success(), "{status:?}; log:\n{}", server.log());
    assert!(
        server.log().contains("closed the connections still open at the shutdown deadline"),
        "{}",
        server.log()
    );
    assert_eq!(read_until_closed(&mut stalled_head).unwrap(), b"");
    assert_eq!(read_until_closed(&mut stalled_body).unwrap(), b"");
}
