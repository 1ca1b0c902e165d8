//! The HTTP benchmark: the real `tenantry serve` binary on each backend,
//! driven over loopback by a small keep-alive HTTP/1.1 load generator.
//!
//! ```sh
//! cargo build --release -p tenantry
//! cargo bench -p tenantry-bench --bench http              # both backends
//! cargo bench -p tenantry-bench --bench http -- sqlite    # or: postgres
//! ```
//!
//! For each backend it starts a server on a fresh database, then measures,
//! one route at a time with the same number of connections for the same
//! time, requests per second and the median and 99th percentile latency of
//! `GET /healthz` (the HTTP ceiling: no database, no authentication),
//! `GET /v1/workspaces?limit=10`, `POST /v1/permissions/check` and
//! `POST /v1/workspaces`; the three read routes in alternating windows (see
//! [`ROUNDS`]), the write last. The server binary is `TENANTRY_BIN`, or
//! `target/release/tenantry`. PostgreSQL runs on a throwaway database on
//! `TENANTRY_TEST_POSTGRES_URL`, with the three roles a deployment uses.
//! Every loop is bounded in time; the load generator shares the machine's
//! cores with the server, so compare ratios measured in one run.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tenantry_bench::timing::Samples;
use tenantry_test_support::postgres::PostgresTestDb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Concurrent keep-alive connections per measurement.
const CONNECTIONS: usize = 16;
/// How long each route is driven before each measured window.
const WARM_UP: Duration = Duration::from_millis(300);
/// How long each route is measured, in all.
const MEASURE: Duration = Duration::from_secs(3);
/// The read routes are measured in this many windows each, taken in turn
/// (ceiling, list, check, ceiling, list, check, ...), so that a change in
/// the machine's other load during the run falls on every route alike
/// instead of on whichever route was being measured.
const ROUNDS: u32 = 3;
/// How long the server may take to start.
const STARTUP_LIMIT: Duration = Duration::from_secs(60);

/// The server binary.
fn server_binary() -> PathBuf {
    std::env::var_os("TENANTRY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/release/tenantry"))
}

/// A running server, killed when dropped.
struct Server {
    child: Child,
    address: SocketAddr,
    token: String,
    _data_dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `tenantry serve` with `environment` and waits for its address
    /// and bootstrap key.
    fn start(environment: &[(&str, &str)]) -> Server {
        let binary = server_binary();
        assert!(
            binary.is_file(),
            "{} is missing: run `cargo build --release -p tenantry` first, or set TENANTRY_BIN",
            binary.display()
        );
        let data_dir = tempfile::tempdir().unwrap();
        let mut command = Command::new(&binary);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--log-level", "warn,tenantry=info"])
            .env("TENANTRY_DATA_DIR", data_dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, value) in environment {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("the server starts");
        let stderr = child.stderr.take().unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let address = rest.split_whitespace().next().unwrap_or_default().to_owned();
                    let _ = sender.send(address);
                }
            }
        });
        let address: SocketAddr = receiver
            .recv_timeout(STARTUP_LIMIT)
            .expect("the server logs its address")
            .parse()
            .expect("a socket address");
        let token = std::fs::read_to_string(data_dir.path().join("bootstrap-operator-key"))
            .expect("the bootstrap key file")
            .trim()
            .to_owned();
        Server { child, address, token, _data_dir: data_dir }
    }
}

/// One HTTP/1.1 keep-alive connection.
struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
    /// The request being sent, reused from one request to the next.
    outgoing: Vec<u8>,
}

/// What a request is: method, path and JSON body (already serialized, so
/// that a request sent again and again is not serialized again each time:
/// the load generator shares the cores with the server, and should spend
/// as little of them as a real client would).
#[derive(Clone)]
struct Request {
    method: &'static str,
    path: Arc<str>,
    body: Option<Arc<str>>,
}

impl Request {
    fn new(method: &'static str, path: &str, body: Option<&Value>) -> Request {
        Request { method, path: path.into(), body: body.map(|body| body.to_string().into()) }
    }
}

impl Connection {
    async fn open(address: SocketAddr) -> Connection {
        let stream = TcpStream::connect(address).await.expect("connect");
        stream.set_nodelay(true).unwrap();
        Connection { stream, buffer: Vec::with_capacity(16 * 1024), outgoing: Vec::with_capacity(1024) }
    }

    /// Sends one request and reads its response: the status and the body.
    async fn send(&mut self, request: &Request, token: &str) -> (u16, &[u8]) {
        use std::io::Write;
        let body = request.body.as_deref().unwrap_or_default();
        self.outgoing.clear();
        write!(
            self.outgoing,
            "{} {} HTTP/1.1\r\nhost: bench\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            request.method,
            request.path,
            body.len()
        )
        .expect("writing to a vector");
        self.stream.write_all(&self.outgoing).await.expect("write");
        self.buffer.clear();
        let mut chunk = [0u8; 8192];
        let head_end = loop {
            if let Some(end) = find(&self.buffer, b"\r\n\r\n") {
                break end + 4;
            }
            let read = self.stream.read(&mut chunk).await.expect("read");
            assert!(read > 0, "the server closed the connection");
            self.buffer.extend_from_slice(&chunk[..read]);
        };
        let head = std::str::from_utf8(&self.buffer[..head_end]).expect("an ASCII response head");
        let status: u16 =
            head.split_whitespace().nth(1).and_then(|code| code.parse().ok()).expect("a status");
        let length: usize = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length").then_some(value)
            })
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0);
        while self.buffer.len() < head_end + length {
            let read = self.stream.read(&mut chunk).await.expect("read");
            assert!(read > 0, "the server closed the connection");
            self.buffer.extend_from_slice(&chunk[..read]);
        }
        (status, &self.buffer[head_end..head_end + length])
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

/// One request, for set-up, answering JSON.
async fn call(server: &Server, request: Request) -> Value {
    let mut connection = Connection::open(server.address).await;
    let (status, body) = connection.send(&request, &server.token).await;
    assert!(
        (200..300).contains(&status),
        "{} {}: {status} {}",
        request.method,
        request.path,
        String::from_utf8_lossy(body)
    );
    serde_json::from_slice(body).unwrap_or(Value::Null)
}

/// What one route did under load.
#[derive(Default)]
struct Outcome {
    measured: Duration,
    samples: Samples,
}

impl Outcome {
    fn requests_per_second(&self) -> f64 {
        self.samples.len() as f64 / self.measured.as_secs_f64()
    }

    fn add(&mut self, other: Outcome) {
        self.measured += other.measured;
        self.samples.append(other.samples);
    }
}

/// Drives `make_request` over `CONNECTIONS` connections: a warm-up, then a
/// measured window of `measure`. Each connection numbers its requests, so
/// that writes can make unique names.
async fn drive(
    server: &Server,
    measure: Duration,
    make_request: impl Fn(usize, u64) -> Request + Send + Sync + Clone + 'static,
) -> Outcome {
    let started = Instant::now();
    let measure_from = started + WARM_UP;
    let stop_at = measure_from + measure;
    let mut tasks = Vec::new();
    for connection_index in 0..CONNECTIONS {
        let make_request = make_request.clone();
        let (address, token) = (server.address, server.token.clone());
        tasks.push(tokio::spawn(async move {
            let mut connection = Connection::open(address).await;
            let mut samples = Samples::with_capacity(4096);
            let mut sequence = 0u64;
            loop {
                let request = make_request(connection_index, sequence);
                sequence += 1;
                let sent = Instant::now();
                if sent >= stop_at {
                    break;
                }
                let (status, body) = connection.send(&request, &token).await;
                assert!(
                    (200..300).contains(&status),
                    "{} {}: {status} {}",
                    request.method,
                    request.path,
                    String::from_utf8_lossy(body)
                );
                if sent >= measure_from {
                    samples.push(sent.elapsed());
                }
            }
            samples
        }));
    }
    let mut samples = Samples::with_capacity(CONNECTIONS * 4096);
    for task in tasks {
        samples.append(task.await.unwrap());
    }
    Outcome { measured: measure, samples }
}

fn report(backend: &str, route: &str, outcome: &Outcome, ceiling: f64) {
    println!(
        "{backend:<9} {route:<34} {:>9.0} req/s  ({:>4.2}x ceiling)  p50={:>8.2} ms  p99={:>8.2} ms",
        outcome.requests_per_second(),
        outcome.requests_per_second() / ceiling,
        outcome.samples.median().as_secs_f64() * 1e3,
        outcome.samples.percentile(0.99).as_secs_f64() * 1e3,
    );
}

/// Measures every route on one running server; returns the read routes'
/// throughput (list, check) for the cross-backend ratio.
async fn bench_server(backend: &str, server: &Server) -> (f64, f64) {
    let me = call(server, Request::new("GET", "/v1/me", None)).await;
    let user_id = me["id"].as_str().expect("the caller's id").to_owned();
    let listed = call(server, Request::new("GET", "/v1/workspaces?limit=1", None)).await;
    let root_id = listed["items"][0]["id"].as_str().expect("the root workspace").to_owned();
    for index in 0..20 {
        call(
            server,
            Request::new("POST", "/v1/workspaces", Some(&json!({ "name": format!("seed-{index}") }))),
        )
        .await;
    }

    let healthz_request = Request::new("GET", "/healthz", None);
    let list_request = Request::new("GET", "/v1/workspaces?limit=10", None);
    let check_body = json!({
        "resource": { "type": "workspace", "id": root_id },
        "permission": "view",
        "subject": { "type": "user", "id": user_id },
    });
    let check_request = Request::new("POST", "/v1/permissions/check", Some(&check_body));
    let (mut healthz, mut list, mut check) = (Outcome::default(), Outcome::default(), Outcome::default());
    let window = MEASURE / ROUNDS;
    for _ in 0..ROUNDS {
        let request = healthz_request.clone();
        healthz.add(drive(server, window, move |_, _| request.clone()).await);
        let request = list_request.clone();
        list.add(drive(server, window, move |_, _| request.clone()).await);
        let request = check_request.clone();
        check.add(drive(server, window, move |_, _| request.clone()).await);
    }
    let ceiling = healthz.requests_per_second();
    report(backend, "GET /healthz (ceiling)", &healthz, ceiling);
    report(backend, "GET /v1/workspaces?limit=10", &list, ceiling);
    report(backend, "POST /v1/permissions/check", &check, ceiling);
    let create = drive(server, MEASURE, |connection, sequence| {
        Request::new(
            "POST",
            "/v1/workspaces",
            Some(&json!({ "name": format!("bench-{connection}-{sequence}") })),
        )
    })
    .await;
    report(backend, "POST /v1/workspaces", &create, ceiling);
    (list.requests_per_second(), check.requests_per_second())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let filter: Vec<String> =
        std::env::args().skip(1).filter(|argument| !argument.starts_with('-')).collect();
    let wants = |name: &str| filter.is_empty() || filter.iter().any(|wanted| name.contains(wanted.as_str()));
    println!(
        "HTTP benchmark: {CONNECTIONS} keep-alive connections, {MEASURE:?} per route (the read routes in {ROUNDS} alternating windows), {WARM_UP:?} of warm-up before each window"
    );
    let mut reads = Vec::new();
    if wants("sqlite") {
        let server = Server::start(&[]);
        reads.push(("sqlite", bench_server("sqlite", &server).await));
    }
    if wants("postgres") {
        match PostgresTestDb::create().await {
            None => println!("postgres skipped: PostgreSQL is not reachable"),
            Some(db) => {
                let server = Server::start(&[
                    ("TENANTRY_DATABASE_URL", db.runtime_url.as_str()),
                    ("TENANTRY_PLATFORM_DATABASE_URL", db.platform_url.as_str()),
                ]);
                reads.push(("postgres", bench_server("postgres", &server).await));
                drop(server);
            }
        }
    }
    if let [("sqlite", (sqlite_list, sqlite_check)), ("postgres", (postgres_list, postgres_check))] =
        reads.as_slice()
    {
        println!(
            "postgres / sqlite throughput: GET /v1/workspaces {:.2}x, POST /v1/permissions/check {:.2}x",
            postgres_list / sqlite_list,
            postgres_check / sqlite_check
        );
    }
}
