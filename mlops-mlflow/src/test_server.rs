//! Starts a real `mlflow server` for the MLflow backends' tests and benches (feature
//! `test-support`; not part of the stable API).
//!
//! The server uses a SQLite backend store and a local artifact root in a temp dir, listens on a
//! free port of 127.0.0.1 and is shared by all tests of one test binary. It runs under a small
//! `sh` watchdog in its own process group: when the test process exits (its end of the
//! watchdog's stdin closes) or [`MlflowServer::stop`] is called, the whole group, uvicorn's
//! workers included, is killed by its process-group id.
//!
//! The `mlflow` command is `$MLOPS_MLFLOW` when set, else `mlflow` on `PATH`.
//!
//! Tests that need the server are marked `#[ignore = "needs mlflow"]` (so a plain `cargo test`
//! reports them as ignored, never as passed) and get it from [`server`], which panics with a
//! message saying what to install when MLflow is missing or does not start: an ignored test run
//! with `--include-ignored` without its server fails, it never passes silently. [`shared`] is the
//! older, skipping form, kept for benches (which may skip) and callers not yet moved.
#![allow(clippy::print_stderr, missing_docs)]

use std::ffi::OsString;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use mlops_testkit::ProcessGroup;

/// How long the server may take to answer `/health` (a first start migrates its database, and
/// a loaded 2-core machine is slow).
const START_TIMEOUT: Duration = Duration::from_secs(240);

/// Environment that turns MLflow's usage telemetry off, for the test server and for any MLflow
/// Python client a test runs beside it: the machines have no route out, and the client's
/// telemetry thread can fail a request (a `KeyError` on `_MLFLOW_TELEMETRY_SESSION_ID` seen in
/// CI). The peer benchmarks set the same (`benches/peers/mlflow_common.py`).
pub const NO_TELEMETRY: &[(&str, &str)] = &[
    ("MLFLOW_DISABLE_TELEMETRY", "true"),
    ("DO_NOT_TRACK", "true"),
];

/// A running MLflow tracking server.
pub struct MlflowServer {
    /// `http://127.0.0.1:<port>`.
    pub uri: String,
    /// The directory holding the database, the artifacts and the server's log (removed when
    /// the server stops).
    pub dir: PathBuf,
    group: ProcessGroup,
}

impl std::fmt::Debug for MlflowServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MlflowServer({})", self.uri)
    }
}

/// Whether tests must fail rather than skip when a server is missing.
pub fn servers_required() -> bool {
    std::env::var("MLOPS_REQUIRE_SERVERS").is_ok_and(|v| v == "1")
}

/// The `mlflow` executable to run.
pub fn mlflow_command() -> String {
    std::env::var("MLOPS_MLFLOW").unwrap_or_else(|_| "mlflow".to_owned())
}

/// The one server of this test binary, started on first use (or why it could not start).
fn started() -> &'static Result<MlflowServer, String> {
    static SERVER: OnceLock<Result<MlflowServer, String>> = OnceLock::new();
    SERVER.get_or_init(|| MlflowServer::start(1))
}

/// The server shared by this test binary, started on first use. For tests marked
/// `#[ignore = "needs mlflow"]`.
///
/// # Panics
/// When MLflow is missing or the server does not start, with a message saying what to install
/// and why it failed (whatever `MLOPS_REQUIRE_SERVERS` says: a test that needs the server and
/// runs without it fails).
pub fn server() -> &'static MlflowServer {
    match started() {
        Ok(server) => server,
        Err(why) => panic!(
            "this test needs an MLflow server and none could be started: {why}\n\
             install MLflow (`pip install mlflow`, so that `mlflow` is on PATH) or set \
             MLOPS_MLFLOW to the mlflow executable; without a server, run the tests without \
             --include-ignored (they are #[ignore = \"needs mlflow\"])"
        ),
    }
}

/// The server shared by this test binary, started on first use; `None` (after saying why on
/// stderr) when MLflow is not available and servers are not required. Tests use [`server`],
/// which never skips silently; this form is for benches, which may skip.
///
/// # Panics
/// When the server cannot start and `MLOPS_REQUIRE_SERVERS=1`.
pub fn shared() -> Option<&'static MlflowServer> {
    match started() {
        Ok(server) => Some(server),
        // The caller says that it skipped: a library does not print.
        Err(_) if !servers_required() => None,
        Err(why) => panic!("MLOPS_REQUIRE_SERVERS=1 but no MLflow server: {why}"),
    }
}

impl MlflowServer {
    /// Start a fresh server with `workers` uvicorn workers in a new temp dir.
    ///
    /// # Errors
    /// Why it did not start (command missing, exited, no answer in time), with its log's tail.
    pub fn start(workers: u32) -> Result<Self, String> {
        let cmd = mlflow_command();
        let version = Command::new(&cmd)
            .arg("--version")
            .output()
            .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
        if !version.status.success() {
            return Err(format!("{cmd:?} --version failed"));
        }
        let dir = tempfile::Builder::new()
            .prefix("mlops-mlflow-server-")
            .tempdir()
            .map_err(|e| e.to_string())?
            .keep();
        std::fs::create_dir_all(dir.join("artifacts")).map_err(|e| e.to_string())?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let log = dir.join("server.log");
        // The watchdog: start the server in the background, wait for stdin to close (the test
        // process exited or stop() was called), then kill the whole process group (itself
        // excepted), wait for it and remove the directory.
        // The server runs in the background of a watchdog that removes the directory once the
        // group has stopped.
        let group = ProcessGroup::spawn(
            r#""$0" server --backend-store-uri "sqlite:///$1/mlflow.db" --artifacts-destination "$1/artifacts" \
  --host 127.0.0.1 --port "$2" --workers "$3" >"$1/server.log" 2>&1"#,
            r#"rm -rf "$1""#,
            &[
                OsString::from(&cmd),
                dir.clone().into_os_string(),
                port.to_string().into(),
                workers.to_string().into(),
            ],
            NO_TELEMETRY,
        )?;
        let server = Self {
            uri: format!("http://127.0.0.1:{port}"),
            dir,
            group,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if health(port) {
                return Ok(server);
            }
            if server.group.has_exited() || Instant::now() > deadline {
                let tail = log_tail(&log);
                server.stop();
                return Err(format!(
                    "mlflow server on port {port} did not answer /health within {START_TIMEOUT:?}; log tail:\n{tail}"
                ));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Stop the server: close the watchdog's stdin so it kills the process group and removes
    /// the directory; after 15 s, kill the group by its id with SIGKILL.
    pub fn stop(&self) {
        if self.group.stop(Duration::from_secs(15)) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// The server's log so far (for test failure messages).
    pub fn log(&self) -> String {
        log_tail(&self.dir.join("server.log"))
    }
}

impl Drop for MlflowServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `GET /health` answers 200 `OK`.
fn health(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    ) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200")
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
