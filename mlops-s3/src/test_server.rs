//! Starts a real S3-compatible server, moto's `moto_server`, for the S3 backends' tests and
//! benches, and a TCP proxy that can cut the connection mid-transfer (feature `test-support`;
//! not part of the stable API).
//!
//! The command is `$MLOPS_MOTO` when set, else `moto_server` on `PATH`; install it with
//! `python3 -m venv /root/.cache/mlops/venvs/moto-5.2.5 &&
//! /root/.cache/mlops/venvs/moto-5.2.5/bin/pip install 'moto[server]==5.2.5'` and set
//! `MLOPS_MOTO=/root/.cache/mlops/venvs/moto-5.2.5/bin/moto_server`. Tests that need it are
//! `#[ignore = "needs moto_server"]`; run with `--include-ignored`, they fail (never skip) when
//! the server is missing. The server listens on a free port of 127.0.0.1 under a small `sh`
//! watchdog in its own process group: when the test process exits (its end of the watchdog's
//! stdin closes) or the server is dropped, the group is killed by its process-group id.
#![allow(clippy::print_stderr, missing_docs, clippy::missing_panics_doc)]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use mlops_testkit::ProcessGroup;

use crate::S3Config;

const START_TIMEOUT: Duration = Duration::from_secs(60);

/// What to tell a developer whose machine lacks the server.
pub const INSTALL_HINT: &str = "install moto's server (python3 -m venv /root/.cache/mlops/venvs/moto-5.2.5 && \
/root/.cache/mlops/venvs/moto-5.2.5/bin/pip install 'moto[server]==5.2.5') and set \
MLOPS_MOTO=/root/.cache/mlops/venvs/moto-5.2.5/bin/moto_server, or put moto_server on PATH";

/// The `moto_server` executable to run.
#[must_use]
pub fn moto_command() -> String {
    std::env::var("MLOPS_MOTO").unwrap_or_else(|_| "moto_server".to_owned())
}

/// A running moto server.
pub struct MotoServer {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    /// The port.
    pub port: u16,
    group: ProcessGroup,
}

impl std::fmt::Debug for MotoServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MotoServer({})", self.endpoint)
    }
}

/// The server shared by this test binary, started on first use.
///
/// # Panics
/// When it cannot start, with what to install (tests needing it are ignored with a reason, so
/// this runs only when they were asked for).
pub fn shared() -> &'static MotoServer {
    static SERVER: OnceLock<Result<MotoServer, String>> = OnceLock::new();
    match SERVER.get_or_init(|| MotoServer::start(&[])) {
        Ok(server) => server,
        Err(why) => panic!("this test needs moto_server: {why}; {INSTALL_HINT}"),
    }
}

/// A fresh bucket name, unique in this process.
#[must_use]
pub fn unique_bucket(tag: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "mlops-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

impl MotoServer {
    /// Start a fresh server with extra environment variables.
    ///
    /// # Errors
    /// Why it did not start.
    pub fn start(env: &[(&str, &str)]) -> Result<Self, String> {
        let cmd = moto_command();
        let port = free_port()?;
        // Make sure the command exists before waiting for a port.
        let found = Command::new("sh")
            .arg("-c")
            .arg("command -v \"$0\"")
            .arg(&cmd)
            .stdout(Stdio::null())
            .status()
            .map_err(|e| e.to_string())?;
        if !found.success() {
            return Err(format!("{cmd:?} not found"));
        }
        let group = ProcessGroup::spawn(
            r#""$0" -H 127.0.0.1 -p "$1" >/dev/null 2>&1"#,
            "",
            &[cmd.clone(), port.to_string()],
            env,
        )?;
        let server = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            group,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if http(port, "GET", "/moto-api/", b"").is_ok_and(|(status, _)| status == 200) {
                return Ok(server);
            }
            if Instant::now() > deadline {
                server.stop();
                return Err(format!(
                    "{cmd} on port {port} did not answer within {START_TIMEOUT:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A configuration for `bucket` on this server (any credentials; plain http allowed; few
    /// retries so that faults show quickly).
    #[must_use]
    pub fn config(&self, bucket: &str) -> S3Config {
        config_for(&self.endpoint, bucket)
    }

    /// Create a bucket (moto accepts the unsigned request while authentication is off).
    ///
    /// # Panics
    /// When the server refuses.
    pub fn create_bucket(&self, bucket: &str) {
        let (status, body) = http(self.port, "PUT", &format!("/{bucket}"), b"")
            .unwrap_or_else(|e| panic!("create bucket {bucket}: {e}"));
        assert!(status == 200, "create bucket {bucket}: {status} {body}");
    }

    /// Turn moto's request authentication on: from now on only credentials created through
    /// its IAM API are accepted.
    ///
    /// # Panics
    /// When the server refuses.
    pub fn require_auth(&self) {
        let (status, body) = http(self.port, "POST", "/moto-api/reset-auth", b"0")
            .unwrap_or_else(|e| panic!("reset-auth: {e}"));
        assert!(status == 200, "reset-auth: {status} {body}");
    }

    /// Stop the server (kill its process group).
    pub fn stop(&self) {
        self.group.stop(Duration::from_secs(10));
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A configuration for `bucket` at `endpoint` for tests: dummy credentials, plain http, one
/// retry within 2 s, short timeouts, the smallest part size.
#[must_use]
pub fn config_for(endpoint: &str, bucket: &str) -> S3Config {
    S3Config::new(bucket)
        .endpoint(endpoint)
        .allow_http(true)
        .credentials("testing-key-id", "testing-secret-key")
        .retries(1, Duration::from_secs(2))
        .timeouts(Duration::from_secs(30), Duration::from_secs(2))
        .part_size(crate::MIN_PART_SIZE)
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// One plain HTTP/1.1 request to 127.0.0.1:`port`: status and body.
///
/// # Errors
/// Connection or parse errors.
pub fn http(port: u16, method: &str, path: &str, body: &[u8]) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    )
    .map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
    s.write_all(body).map_err(|e| e.to_string())?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).map_err(|e| e.to_string())?;
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad answer: {answer:.200}"))?;
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// A TCP proxy in front of a server that can cut every connection and refuse new ones, as if
/// the server had died, and come back: the server keeps its state, so a test can check that
/// nothing partial is visible and that a re-run completes.
pub struct FaultProxy {
    /// `http://127.0.0.1:<port>` of the proxy.
    pub endpoint: String,
    state: Arc<ProxyState>,
}

struct ProxyState {
    down: AtomicBool,
    /// Cut when this many bytes went from clients to the server (`u64::MAX`: never).
    cut_after: AtomicU64,
    sent: AtomicU64,
    /// HTTP/1.1 request lines seen from clients.
    requests: AtomicU64,
    /// A byte pattern to count in what clients send (see [`FaultProxy::watch`]), and its count.
    watch: Mutex<Vec<u8>>,
    watched: AtomicU64,
    conns: Mutex<Vec<TcpStream>>,
}

impl ProxyState {
    fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FaultProxy({})", self.endpoint)
    }
}

impl FaultProxy {
    /// A proxy to 127.0.0.1:`target_port`.
    ///
    /// # Panics
    /// When it cannot listen.
    #[must_use]
    pub fn start(target_port: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy listen");
        let port = listener.local_addr().expect("proxy addr").port();
        let state = Arc::new(ProxyState {
            down: AtomicBool::new(false),
            cut_after: AtomicU64::new(u64::MAX),
            sent: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            watch: Mutex::new(Vec::new()),
            watched: AtomicU64::new(0),
            conns: Mutex::new(Vec::new()),
        });
        let st = Arc::clone(&state);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if st.down.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) =
                    TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], target_port)))
                else {
                    continue;
                };
                if let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) {
                    let mut conns = st.conns.lock().unwrap();
                    conns.push(c2);
                    conns.push(s2);
                }
                pipe(
                    client.try_clone(),
                    server.try_clone(),
                    Some(Arc::clone(&st)),
                );
                pipe(Ok(server), Ok(client), None);
            }
        });
        Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            state,
        }
    }

    /// Cut every connection now and refuse new ones until [`restore`](Self::restore).
    pub fn cut(&self) {
        self.state.cut();
    }

    /// Cut (as [`cut`](Self::cut)) once `bytes` more bytes went from clients to the server.
    pub fn cut_after(&self, bytes: u64) {
        let sent = self.state.sent.load(Ordering::SeqCst);
        self.state
            .cut_after
            .store(sent.saturating_add(bytes), Ordering::SeqCst);
    }

    /// Forward again.
    pub fn restore(&self) {
        self.state.cut_after.store(u64::MAX, Ordering::SeqCst);
        self.state.down.store(false, Ordering::SeqCst);
    }

    /// Bytes forwarded from clients to the server so far.
    #[must_use]
    pub fn sent(&self) -> u64 {
        self.state.sent.load(Ordering::SeqCst)
    }

    /// HTTP requests forwarded from clients so far (request lines ending in ` HTTP/1.1`; a
    /// body that happens to hold such a line would count too).
    #[must_use]
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Count the occurrences of `pattern` (a header name such as `x-amz-checksum-sha256:`) in
    /// what clients send from now on (see [`watched`](Self::watched)); resets the count.
    pub fn watch(&self, pattern: &[u8]) {
        *self.state.watch.lock().unwrap() = pattern.to_vec();
        self.state.watched.store(0, Ordering::SeqCst);
    }

    /// How often the [`watch`](Self::watch)ed pattern was sent (a body that happens to hold it
    /// would count too).
    #[must_use]
    pub fn watched(&self) -> u64 {
        self.state.watched.load(Ordering::SeqCst)
    }

    /// Whether the proxy is cutting connections.
    #[must_use]
    pub fn is_down(&self) -> bool {
        self.state.down.load(Ordering::SeqCst)
    }
}

fn pipe(
    from: std::io::Result<TcpStream>,
    to: std::io::Result<TcpStream>,
    count: Option<Arc<ProxyState>>,
) {
    let (Ok(mut from), Ok(mut to)) = (from, to) else {
        return;
    };
    std::thread::spawn(move || {
        const REQUEST_LINE_END: &[u8] = b" HTTP/1.1\r\n";
        let mut buf = vec![0u8; 64 * 1024];
        // The last bytes of the previous read, so a request line split across reads counts.
        let mut seen: Vec<u8> = Vec::new();
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if let Some(st) = &count {
                if st.down.load(Ordering::SeqCst) {
                    break;
                }
                seen.extend_from_slice(&buf[..n]);
                let count = |pattern: &[u8]| {
                    seen.windows(pattern.len().max(1))
                        .filter(|w| *w == pattern)
                        .count() as u64
                };
                st.requests
                    .fetch_add(count(REQUEST_LINE_END), Ordering::SeqCst);
                let watch = st.watch.lock().unwrap().clone();
                if !watch.is_empty() {
                    st.watched.fetch_add(count(&watch), Ordering::SeqCst);
                }
                let longest = REQUEST_LINE_END.len().max(watch.len());
                let keep = seen.len().min(longest - 1);
                seen.drain(..seen.len() - keep);
                let sent = st.sent.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
                if sent >= st.cut_after.load(Ordering::SeqCst) {
                    st.cut();
                    break;
                }
            }
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}
