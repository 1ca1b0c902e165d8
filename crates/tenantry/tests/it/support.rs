//! Running the real `tenantry` binary: one-shot CLI commands, server
//! processes that are killed when dropped, and a minimal HTTP/1.1 client
//! over a raw TCP stream.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;
use tenantry_test_support::postgres::PostgresTestDb;

/// How long a server may take to start listening or become ready before
/// the test gives up. Not a timing assertion: only a guard against hanging
/// forever on a broken build, generous for a loaded two-core machine.
const STARTUP_LIMIT: Duration = Duration::from_secs(180);

/// The path of the binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_tenantry")
}

/// A `tenantry` command with no `TENANTRY_*` variables inherited from the
/// environment running the tests, so only what a test sets applies.
pub fn clean_command() -> Command {
    let mut command = Command::new(binary());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("TENANTRY_") {
            command.env_remove(name);
        }
    }
    command
}

/// The outcome of one finished command.
#[derive(Debug)]
pub struct Finished {
    /// The exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Everything written to stdout.
    pub stdout: String,
    /// Everything written to stderr.
    pub stderr: String,
}

impl Finished {
    fn from_output(output: std::process::Output) -> Self {
        Self {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts the exit code, showing both streams when it differs.
    #[track_caller]
    pub fn assert_code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(expected),
            "unexpected exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Asserts success and parses stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        self.assert_code(0);
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|error| panic!("stdout is not JSON ({error}):\n{}", self.stdout))
    }

    /// The stderr line that starts with `error`, which every failure prints.
    #[track_caller]
    pub fn error_line(&self) -> &str {
        self.stderr
            .lines()
            .find(|line| line.starts_with("error"))
            .unwrap_or_else(|| panic!("no error line on stderr:\n{}", self.stderr))
    }
}

/// Runs CLI commands against one database: the SQLite file in a data
/// directory, or a PostgreSQL URL. Both are passed through the environment
/// variables the binary documents.
#[derive(Debug, Clone)]
pub struct Tenantry {
    data_dir: PathBuf,
    database_url: Option<String>,
    platform_database_url: Option<String>,
    env: Vec<(String, String)>,
}

impl Tenantry {
    /// Commands on the SQLite database in `data_dir`.
    pub fn sqlite(data_dir: &Path) -> Self {
        Self {
            data_dir: data_dir.to_owned(),
            database_url: None,
            platform_database_url: None,
            env: Vec::new(),
        }
    }

    /// Commands on a PostgreSQL test database, as a deployment runs them:
    /// `serve` as the runtime role with the platform role beside it, and
    /// operator commands as the platform role.
    pub fn postgres(data_dir: &Path, database: &PostgresTestDb) -> Self {
        Self::postgres_url(data_dir, &database.runtime_url).with_platform_url(&database.platform_url)
    }

    /// Commands with `--database-url` alone (the owner's, for `migrate`),
    /// with `data_dir` for files.
    pub fn postgres_url(data_dir: &Path, database_url: &str) -> Self {
        Self {
            data_dir: data_dir.to_owned(),
            database_url: Some(database_url.to_owned()),
            platform_database_url: None,
            env: Vec::new(),
        }
    }

    /// The same commands with `--platform-database-url` too.
    pub fn with_platform_url(mut self, platform_database_url: &str) -> Self {
        self.platform_database_url = Some(platform_database_url.to_owned());
        self
    }

    /// The same commands with one more environment variable.
    pub fn with_env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// A command with this database configured.
    pub fn command(&self) -> Command {
        let mut command = clean_command();
        command.env("TENANTRY_DATA_DIR", &self.data_dir);
        if let Some(database_url) = &self.database_url {
            command.env("TENANTRY_DATABASE_URL", database_url);
        }
        if let Some(platform_database_url) = &self.platform_database_url {
            command.env("TENANTRY_PLATFORM_DATABASE_URL", platform_database_url);
        }
        command.envs(self.env.iter().map(|(name, value)| (name, value)));
        command.stdin(Stdio::null());
        command
    }

    /// Runs `tenantry ARGS...` to completion.
    pub fn run(&self, arguments: &[&str]) -> Finished {
        let output = self.command().args(arguments).output().expect("the tenantry binary runs");
        Finished::from_output(output)
    }

    /// Runs `tenantry --json ARGS...`, asserts success and parses stdout.
    #[track_caller]
    pub fn json(&self, arguments: &[&str]) -> Value {
        let mut with_json = vec!["--json"];
        with_json.extend_from_slice(arguments);
        self.run(&with_json).json()
    }

    /// Starts `tenantry serve` on a free port with extra arguments.
    pub fn serve(&self, extra_arguments: &[&str]) -> ServerProcess {
        let mut command = self.command();
        command.args(["serve", "--listen", "127.0.0.1:0"]).args(extra_arguments);
        ServerProcess::spawn(command)
    }
}

/// A running `tenantry serve`. Dropping it kills the process, so no server
/// outlives a failed test.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    log: Arc<Mutex<String>>,
    address: Option<SocketAddr>,
    address_receiver: mpsc::Receiver<SocketAddr>,
    exit_status: Option<ExitStatus>,
}

/// The address in a log line containing `listening on <address>`, in text
/// or JSON format.
fn listening_address(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("listening on ")? + "listening on ".len()..];
    let end =
        rest.find(|character: char| character.is_whitespace() || character == '"').unwrap_or(rest.len());
    rest[..end].parse().ok()
}

impl ServerProcess {
    /// Spawns the command with stderr captured into the log; nothing waits
    /// for it to listen yet, so many servers can start at once.
    pub fn spawn(mut command: Command) -> Self {
        command.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = command.spawn().expect("tenantry serve starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(String::new()));
        let (address_sender, address_receiver) = mpsc::channel();
        let thread_log = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(address) = listening_address(&line) {
                    let _ = address_sender.send(address);
                }
                let mut log = thread_log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        Self { child, log, address: None, address_receiver, exit_status: None }
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the server logs its address, and returns it. Panics with
    /// the log if the server exits first.
    pub fn address(&mut self) -> SocketAddr {
        if let Some(address) = self.address {
            return address;
        }
        match self.address_receiver.recv_timeout(STARTUP_LIMIT) {
            Ok(address) => {
                self.address = Some(address);
                address
            }
            Err(error) => {
                let status = self.child.try_wait().ok().flatten();
                panic!(
                    "the server did not log `listening on` ({error}; exit status {status:?}); its log:\n{}",
                    self.log()
                )
            }
        }
    }

    /// Waits until `/readyz` answers 200 and returns the address.
    pub fn wait_until_ready(&mut self) -> SocketAddr {
        let address = self.address();
        let deadline = Instant::now() + STARTUP_LIMIT;
        loop {
            let last = try_http_get(address, "/readyz", None);
            if matches!(&last, Ok(response) if response.status == 200) {
                return address;
            }
            assert!(
                Instant::now() < deadline,
                "the server never became ready ({last:?}); its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        self.send_terminate();
        self.wait_for_exit()
    }

    /// Sends SIGTERM without waiting.
    pub fn send_terminate(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("the kill command runs");
        assert!(sent.success(), "kill -TERM failed");
    }

    /// Waits for the process to exit on its own, within the start-up limit.
    pub fn wait_for_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + STARTUP_LIMIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("the server's status can be read") {
                self.exit_status = Some(status);
                // Let the reader thread drain the last lines of the log.
                std::thread::sleep(Duration::from_millis(200));
                return status;
            }
            assert!(Instant::now() < deadline, "the server did not exit; its log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if self.exit_status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// An HTTP response, as far as tests look at it.
#[derive(Debug)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Header names (lowercased) and values.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: String,
}

impl HttpResponse {
    /// The value of a header, by lowercase name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(header, _)| header == name).map(|(_, value)| value.as_str())
    }

    /// The body parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|error| panic!("body is not JSON ({error}): {}", self.body))
    }
}

/// `GET path` with an optional bearer token; panics on a transport error.
#[track_caller]
pub fn http_get(address: SocketAddr, path: &str, bearer_token: Option<&str>) -> HttpResponse {
    try_http_get(address, path, bearer_token)
        .unwrap_or_else(|error| panic!("GET {path} on {address}: {error}"))
}

/// `GET path` over a fresh connection with `Connection: close`, reading the
/// response to the end.
pub fn try_http_get(
    address: SocketAddr,
    path: &str,
    bearer_token: Option<&str>,
) -> Result<HttpResponse, String> {
    let headers: Vec<(&str, String)> =
        bearer_token.map(|token| ("Authorization", format!("Bearer {token}"))).into_iter().collect();
    try_http(address, "GET", path, &headers, None)
}

/// Any request, with headers and an optional JSON body; panics on a
/// transport error.
#[track_caller]
pub fn http(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Option<&Value>,
) -> HttpResponse {
    try_http(address, method, path, headers, body)
        .unwrap_or_else(|error| panic!("{method} {path} on {address}: {error}"))
}

/// Any request over a fresh connection with `Connection: close`, reading the
/// response to the end.
pub fn try_http(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Option<&Value>,
) -> Result<HttpResponse, String> {
    let mut stream = TcpStream::connect(address).map_err(|error| error.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(60))).map_err(|error| error.to_string())?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = body.map(|body| serde_json::to_vec(body).expect("JSON")).unwrap_or_default();
    if !body.is_empty() {
        request.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(&body);
    stream.write_all(&bytes).map_err(|error| error.to_string())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(|error| error.to_string())?;
    parse_response(&raw)
}

/// How long a raw-socket read may block before the test gives up: a guard
/// against hanging, not a timing assertion.
pub const READ_LIMIT: Duration = Duration::from_secs(60);

/// A connection to the server with the read limit set.
pub fn connect(address: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(address).expect("the server accepts connections");
    stream.set_read_timeout(Some(READ_LIMIT)).unwrap();
    stream
}

/// Writes `request` as it is on a new connection, then reads until the
/// server closes the connection, and parses what it sent.
pub fn raw_exchange(address: SocketAddr, request: &[u8]) -> Result<HttpResponse, String> {
    let mut stream = connect(address);
    stream.write_all(request).map_err(|error| error.to_string())?;
    read_until_closed(&mut stream).and_then(|raw| parse_response(&raw))
}

/// Everything the server sends until it closes the connection.
pub fn read_until_closed(stream: &mut TcpStream) -> Result<Vec<u8>, String> {
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|error| format!("{error} after {:?}", String::from_utf8_lossy(&raw)))?;
    Ok(raw)
}

/// Reads one response with a `content-length` from a kept-alive connection.
pub fn read_one_response(stream: &mut TcpStream) -> Result<HttpResponse, String> {
    let mut raw = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        if let Some(split) = raw.windows(4).position(|window| window == b"\r\n\r\n") {
            let head = parse_response(&raw[..split + 4])?;
            let length: usize =
                head.header("content-length").and_then(|value| value.parse().ok()).unwrap_or(0);
            if raw.len() >= split + 4 + length {
                return parse_response(&raw);
            }
        }
        let read = stream.read(&mut buffer).map_err(|error| error.to_string())?;
        if read == 0 {
            return Err(format!("the connection closed after {:?}", String::from_utf8_lossy(&raw)));
        }
        raw.extend_from_slice(&buffer[..read]);
    }
}

/// Parses a whole response as the server sent it.
pub fn parse_response(raw: &[u8]) -> Result<HttpResponse, String> {
    let split = raw.windows(4).position(|window| window == b"\r\n\r\n").ok_or("no end of headers")?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|error| error.to_string())?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or("no status line")?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(name, value)| name == "transfer-encoding" && value.eq_ignore_ascii_case("chunked"));
    if chunked {
        body = dechunk(&body)?;
    }
    Ok(HttpResponse { status, headers, body: String::from_utf8_lossy(&body).into_owned() })
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|window| window == b"\r\n").ok_or("truncated chunk size")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).map_err(|error| error.to_string())?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|error| format!("bad chunk size {size_text:?}: {error}"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(rest.get(..size).ok_or("truncated chunk")?);
        rest = rest.get(size + 2..).ok_or("truncated chunk")?;
    }
}

/// The bootstrap key file of a data directory.
pub fn key_file(data_dir: &Path) -> PathBuf {
    data_dir.join("bootstrap-operator-key")
}

/// The files in a data directory whose names start with the key file's.
pub fn key_files(data_dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(data_dir)
        .map(|entries| {
            entries
                .map(|entry| entry.unwrap().path())
                .filter(|path| {
                    path.file_name()
                        .is_some_and(|name| name.to_string_lossy().starts_with("bootstrap-operator-key"))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The ids of a JSON array of objects.
pub fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a JSON array")
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The objects of a JSON array whose `field` equals `value`.
pub fn with_field<'list>(list: &'list Value, field: &str, value: &str) -> Vec<&'list Value> {
    list.as_array().expect("a JSON array").iter().filter(|item| item[field] == value).collect()
}

#[test]
fn finds_the_listening_address_in_text_and_json_logs() {
    let cases = [
        (
            "2024-01-01T00:00:00Z  INFO tenantry::serve: listening on 127.0.0.1:4321 address=127.0.0.1:4321",
            Some(4321),
        ),
        (r#"{"fields":{"message":"listening on 127.0.0.1:5555","address":"127.0.0.1:5555"}}"#, Some(5555)),
        ("INFO bootstrap found the default tenant", None),
    ];
    for (line, port) in cases {
        assert_eq!(listening_address(line).map(|address| address.port()), port, "{line}");
    }
}

#[test]
fn reads_plain_and_chunked_responses() {
    let plain = parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").unwrap();
    assert_eq!((plain.status, plain.body.as_str()), (200, "ok"));
    let chunked = parse_response(
        b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    )
    .unwrap();
    assert_eq!((chunked.status, chunked.body.as_str()), (404, "abcde"));
    assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
}
