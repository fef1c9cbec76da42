//! The Redis online store against a real `redis-server`, started by each test on a free port
//! of 127.0.0.1 (no persistence, in a temp dir) and killed by its pid when the test ends.
//!
//! Every test but the harness's own check is `#[ignore = "needs redis-server"]`, so a plain
//! `cargo test` reports them as ignored; run them with
//! `cargo test -p mlops-features --all-features -- --include-ignored`. Run so without
//! `redis-server` on PATH, they fail saying what to install.
#![cfg(all(feature = "redis", feature = "conformance"))]
#![allow(clippy::print_stderr)]

mod common;

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use mlops_features::conformance::{self, Subject, t};
use mlops_features::{
    EntityKey, FeatureError, FeatureGroup, FeatureRow, FeatureStatus, FeatureValue, ManualClock,
    OnlineStore, ReadRequest, RedisOnlineStore, Timestamp, Value, ValueType,
};

/// A `redis-server` child process; killed (by pid) and reaped on drop.
struct RedisServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn start_on(port: u16, dir: &std::path::Path) -> Option<Child> {
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir)
            .args(["--daemonize", "no", "--loglevel", "warning"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return None; // exited: most likely the port was taken meanwhile
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                // Make sure the server answering is ours, not another test's that took the
                // port first.
                if answers_as(port, child.id()) {
                    return Some(child);
                }
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Kill the server (SIGKILL) by its pid.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Start a fresh server on the same port (after [`RedisServer::kill`]).
    fn restart(&mut self) {
        self.child = Self::start_on(self.port, self._dir.path()).expect("restart redis-server");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn on_path(bin: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d: PathBuf| d.join(bin).is_file()))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

/// Whether the server answering on `port` is the process `pid`. Anything else (another test's
/// server, or a connection closed or reset unanswered, as by a server being killed) is not.
fn answers_as(port: u16, pid: u32) -> bool {
    let ours = format!("process_id:{pid}\r\n");
    matches!(
        redis_value::try_run(port, &[b"INFO", b"server"]),
        Ok(Reply::Bulk(Some(info))) if String::from_utf8_lossy(&info).contains(&ours)
    )
}

/// The harness's own check, without a server: a port whose listener closes the identity probe's
/// connection unanswered (after reading the request: a clean close; with it unread: a reset)
/// is not ours, so `server()` tries another port instead of panicking. A CI run panicked so:
/// the probe's read was reset while a test started its server (the cause not established; a
/// port freed by another test's killed server and reused is one way).
#[test]
fn a_port_that_drops_the_identity_probe_is_not_ours() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let closer = std::thread::spawn(move || {
        // First the request read whole, then closed (the client reads end-of-stream); then the
        // request left unread and the connection closed (the kernel answers with a reset).
        for read_first in [true, false] {
            let (mut conn, _) = listener.accept().expect("accept");
            if read_first {
                let want = b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n";
                let mut got = vec![0; want.len()];
                conn.read_exact(&mut got).expect("request");
                assert_eq!(got, want);
            } else {
                std::thread::sleep(Duration::from_millis(200));
            }
            drop(conn);
        }
    });
    assert!(!answers_as(port, std::process::id()));
    assert!(!answers_as(port, std::process::id()));
    closer.join().expect("closer");
}

/// A running server; fails the test, saying what to install, without `redis-server`.
fn server() -> RedisServer {
    assert!(
        on_path("redis-server"),
        "redis-server is not on PATH: install Redis (e.g. `apt-get install redis-server`) to run \
         the Redis tests, or run without --include-ignored"
    );
    for _ in 0..5 {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        if let Some(child) = RedisServer::start_on(port, dir.path()) {
            return RedisServer {
                child,
                port,
                _dir: dir,
            };
        }
    }
    panic!("redis-server did not start");
}

/// A store whose physical-expiry clock is at t=0 like the conformance suite's data.
fn store_on(server: &RedisServer) -> RedisOnlineStore {
    RedisOnlineStore::builder(&server.url())
        .clock(Arc::new(ManualClock::new(Timestamp::from_secs(0))))
        .build()
        .expect("connect")
}

/// The conformance subject: a store on a fresh server; reopen connects another handle to a
/// second server of its own.
fn subject() -> Subject<dyn OnlineStore> {
    let main = server();
    let durable = Arc::new(server());
    let reopen_server = Arc::clone(&durable);
    Subject::<dyn OnlineStore>::new(Box::new(store_on(&main)))
        .with_reopen(move || Box::new(store_on(&reopen_server)))
        .with_guard((main, durable))
}

mod conformance_suite {
    mlops_features::conformance_tests!(online; ignore = "needs redis-server"; super::subject);
}

fn x_group(name: &str, ttl: Option<Duration>) -> FeatureGroup {
    conformance::small_group(name, ttl)
}

fn x_row(key: &str, event: i64, x: i64) -> FeatureRow {
    FeatureRow::new(key, t(event), vec![Value::Int64(x)])
}

fn read_one(store: &dyn OnlineStore, group: &str, key: &str, now: i64) -> FeatureValue {
    conformance::read(store, group, &[EntityKey::from(key)], &[0], t(now)).remove(0)
}

fn redis_cmd(server: &RedisServer, args: &[&[u8]]) -> Reply {
    redis_value::run(server.port, args)
}

/// A tiny RESP client for the tests' own pokes at the server (wrong types, garbage, TTLs), so
/// they do not go through the code under test.
mod redis_value {
    use std::io::{self, BufRead, BufReader, Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    #[derive(Debug, PartialEq)]
    pub enum Reply {
        Int(i64),
        Status(String),
        Bulk(Option<Vec<u8>>),
        Error(String),
    }

    /// One command and its reply, or the I/O error, timeout or malformed reply that stopped it.
    /// Bounded in time: a peer that accepts and never answers (a stopped server) is an error.
    pub fn try_run(port: u16, args: &[&[u8]]) -> io::Result<Reply> {
        let bad = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut req = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            req.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            req.extend_from_slice(a);
            req.extend_from_slice(b"\r\n");
        }
        s.write_all(&req)?;
        let mut r = BufReader::new(s);
        let mut line = Vec::new();
        r.read_until(b'\n', &mut line)?;
        let Some(head) = line.strip_suffix(b"\r\n") else {
            return Err(bad(format!(
                "no complete reply line: {:?}",
                String::from_utf8_lossy(&line)
            )));
        };
        let Some((&kind, rest)) = head.split_first() else {
            return Err(bad("an empty reply line".into()));
        };
        let rest = String::from_utf8_lossy(rest).into_owned();
        Ok(match kind {
            b':' => Reply::Int(rest.parse().map_err(|_| bad(format!("int {rest:?}")))?),
            b'+' => Reply::Status(rest),
            b'-' => Reply::Error(rest),
            b'$' => {
                let n: i64 = rest.parse().map_err(|_| bad(format!("length {rest:?}")))?;
                if n == -1 {
                    return Ok(Reply::Bulk(None));
                }
                let n = usize::try_from(n)
                    .ok()
                    .filter(|&n| n <= 512 << 20)
                    .ok_or_else(|| bad(format!("bulk length {n}")))?;
                let mut buf = vec![0; n + 2];
                r.read_exact(&mut buf)?;
                if !buf.ends_with(b"\r\n") {
                    return Err(bad(format!("bulk of {n} bytes not followed by CRLF")));
                }
                buf.truncate(n);
                Reply::Bulk(Some(buf))
            }
            other => return Err(bad(format!("unexpected reply type {:?}", other as char))),
        })
    }

    /// [`try_run`], failing the test on any error.
    pub fn run(port: u16, args: &[&[u8]]) -> Reply {
        try_run(port, args).expect("redis reply")
    }
}

use redis_value::Reply;

#[test]
#[ignore = "needs redis-server"]
fn physical_expiry_follows_event_time_and_the_store_clock() {
    let server = server();
    let clock = ManualClock::new(t(1_000));
    let store = RedisOnlineStore::builder(&server.url())
        .clock(Arc::new(clock.clone()))
        .expiry_grace(Duration::from_secs(10))
        .build()
        .unwrap();
    store
        .apply_group(&x_group("exp", Some(Duration::from_secs(100))))
        .unwrap();
    store.apply_group(&x_group("exp_none", None)).unwrap();
    // event 950 + ttl 100 + grace 10 - now 1000 = 60 s left.
    store
        .write_batch(
            "exp",
            &[
                x_row("fresh", 950, 1),
                x_row("dead", 800, 2),
                x_row("edge", 895, 3),
            ],
        )
        .unwrap();
    store
        .write_batch("exp_none", &[x_row("forever", 0, 1)])
        .unwrap();
    let pttl = |group: &str, key: &str| {
        let k = store.entity_key(group, &EntityKey::from(key));
        match redis_cmd(&server, &[b"PTTL", &k]) {
            Reply::Int(ms) => ms,
            other => panic!("PTTL: {other:?}"),
        }
    };
    let left = pttl("exp", "fresh");
    assert!((59_000..=60_000).contains(&left), "PTTL {left}");
    // Past its TTL and grace at the store clock's time: its hash is reclaimed at once, but it
    // still reads as expired (the same answer as in memory, before or after eviction).
    assert_eq!(pttl("exp", "dead"), -2);
    let dead = read_one(&store, "exp", "dead", 1000);
    assert_eq!(
        (dead.status, dead.event_ts),
        (FeatureStatus::OutsideMaxAge, Some(t(800)))
    );
    // Past the TTL but within the grace: stored, reported OutsideMaxAge, then reclaimed.
    let left = pttl("exp", "edge");
    assert!((4_000..=5_000).contains(&left), "PTTL {left}");
    assert_eq!(
        read_one(&store, "exp", "edge", 1000).status,
        FeatureStatus::OutsideMaxAge
    );
    // Eviction does not change that answer either.
    store.evict_expired(t(1000)).unwrap();
    assert_eq!(read_one(&store, "exp", "dead", 1000), dead);
    // An older row cannot take the reclaimed row's place.
    let stats = store.write_batch("exp", &[x_row("dead", 700, 9)]).unwrap();
    assert_eq!((stats.written, stats.stale), (0, 1));
    assert_eq!(read_one(&store, "exp", "dead", 1000), dead);
    // Written with the write's time, a row already past its TTL is not stored at all.
    let stats = store
        .write_batch_at("exp", &[x_row("late", 800, 1)], t(1000))
        .unwrap();
    assert_eq!((stats.written, stats.expired), (0, 1));
    assert_eq!(pttl("exp", "late"), -2);
    assert_eq!(
        read_one(&store, "exp", "late", 1000).status,
        FeatureStatus::NotFound
    );
    // No TTL: no expiry.
    assert_eq!(pttl("exp_none", "forever"), -1);
    // A newer row moves the expiry; a stale one does not touch it.
    clock.set(t(2_000));
    store
        .write_batch("exp", &[x_row("fresh", 1_990, 4)])
        .unwrap();
    let left = pttl("exp", "fresh");
    assert!((99_000..=100_000).contains(&left), "PTTL {left}");
    let stats = store
        .write_batch("exp", &[x_row("fresh", 1_000, 5)])
        .unwrap();
    assert_eq!((stats.written, stats.stale), (0, 1));
    assert!(pttl("exp", "fresh") >= 99_000);
    assert_eq!(
        read_one(&store, "exp", "fresh", 2_000).value,
        Value::Int64(4)
    );
    // A TTL change moves the expiry of the stored rows: longer, then none, then shorter.
    store
        .apply_group(&x_group("exp", Some(Duration::from_secs(1_000))))
        .unwrap();
    let left = pttl("exp", "fresh");
    assert!((999_000..=1_000_000).contains(&left), "PTTL {left}");
    store.apply_group(&x_group("exp", None)).unwrap();
    assert_eq!(pttl("exp", "fresh"), -1);
    store
        .apply_group(&x_group("exp", Some(Duration::from_secs(5))))
        .unwrap();
    // event 1990 + 5 + grace 10 - now 2000 = 5 s left.
    let left = pttl("exp", "fresh");
    assert!((4_000..=5_000).contains(&left), "PTTL {left}");
}

#[test]
#[ignore = "needs redis-server"]
fn racing_writers_never_leave_an_older_row() {
    let server = server();
    let setup = store_on(&server);
    setup.apply_group(&x_group("race", None)).unwrap();
    let writers = 4;
    let versions: i64 = 200;
    let keys = 8;
    let barrier = Arc::new(Barrier::new(writers));
    let handles: Vec<_> = (0..writers)
        .map(|w| {
            // Each writer is its own replica: its own store handle and connections.
            let store = store_on(&server);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                // Writers walk the versions in different orders, in small batches.
                let mut order: Vec<i64> = (0..versions).collect();
                if w % 2 == 1 {
                    order.reverse();
                }
                order.rotate_left(w * 37 % 200);
                for chunk in order.chunks(10) {
                    let rows: Vec<FeatureRow> = chunk
                        .iter()
                        .flat_map(|&v| (0..keys).map(move |k| x_row(&format!("k{k}"), v, v)))
                        .collect();
                    store.write_batch("race", &rows).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    for k in 0..keys {
        let v = read_one(&setup, "race", &format!("k{k}"), versions);
        assert_eq!(v.value, Value::Int64(versions - 1), "key k{k}");
        assert_eq!(v.event_ts, Some(t(versions - 1)));
    }
}

#[test]
#[ignore = "needs redis-server"]
fn racing_group_evolutions_lose_no_feature() {
    let server = server();
    store_on(&server)
        .apply_group(&x_group("evo_race", None))
        .unwrap();
    // Each replica appends its own features to whatever definition it last read; a replica
    // that read a definition another one has since changed is refused (Conflict) and retries.
    // Without an atomic check-and-set, one replica would overwrite the other's feature.
    let (threads, each) = (4, 3);
    let handles: Vec<_> = (0..threads)
        .map(|w| {
            let store = store_on(&server);
            std::thread::spawn(move || {
                let mut conflicts = 0;
                for n in 0..each {
                    loop {
                        let mut g = store
                            .groups()
                            .unwrap()
                            .into_iter()
                            .find(|g| g.name == "evo_race")
                            .unwrap();
                        g.features.push(mlops_features::FeatureDef::new(
                            &format!("w{w}_{n}"),
                            ValueType::Int64,
                        ));
                        match store.apply_group(&g) {
                            Ok(()) => break,
                            Err(FeatureError::Conflict(_)) => conflicts += 1,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
                conflicts
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let groups = store_on(&server).groups().unwrap();
    let g = groups.iter().find(|g| g.name == "evo_race").unwrap();
    assert_eq!(g.features.len(), 1 + threads * each);
    for w in 0..threads {
        for n in 0..each {
            assert!(g.feature_index(&format!("w{w}_{n}")).is_some(), "w{w}_{n}");
        }
    }
}

#[test]
#[ignore = "needs redis-server"]
fn a_second_replica_sees_groups_and_rows() {
    let server = server();
    let a = store_on(&server);
    let b = store_on(&server);
    a.apply_group(&x_group("shared", None)).unwrap();
    a.write_batch("shared", &[x_row("u", 1, 7)]).unwrap();
    assert_eq!(read_one(&b, "shared", "u", 2).value, Value::Int64(7));
    // `b` caches the definition; an evolution by `a` is picked up on first use.
    let mut g2 = x_group("shared", None);
    g2.features
        .push(mlops_features::FeatureDef::new("y", ValueType::String));
    a.apply_group(&g2).unwrap();
    b.write_batch(
        "shared",
        &[FeatureRow::new(
            "v",
            t(1),
            vec![Value::Int64(1), Value::from("n")],
        )],
    )
    .unwrap();
    let out = conformance::read(&b, "shared", &[EntityKey::from("v")], &[1], t(2));
    assert_eq!(out[0].value, Value::from("n"));
}

#[test]
fn server_not_running_is_a_clear_error() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}/0");
    let err = RedisOnlineStore::builder(&url)
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap_err();
    assert!(matches!(err, FeatureError::Backend { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
    assert!(msg.contains("cannot connect"), "{msg}");
    assert!(RedisOnlineStore::open("not a url").is_err());
    assert!(
        RedisOnlineStore::builder(&url)
            .prefix("a:b")
            .build()
            .is_err()
    );
}

/// Send a signal to the server process by its pid.
fn signal(server: &RedisServer, sig: &str) {
    let ok = Command::new("kill")
        .arg(sig)
        .arg(server.child.id().to_string())
        .status()
        .expect("run kill")
        .success();
    assert!(ok, "kill {sig} failed");
}

#[test]
#[ignore = "needs redis-server"]
fn a_frozen_server_fails_every_call_within_the_timeout_saying_so() {
    let server = server();
    let timeout = Duration::from_millis(800);
    let store = RedisOnlineStore::builder(&server.url())
        .clock(Arc::new(ManualClock::new(t(0))))
        .timeout(timeout)
        .build()
        .unwrap();
    store.apply_group(&x_group("frozen", None)).unwrap();
    store.write_batch("frozen", &[x_row("u", 1, 1)]).unwrap();
    signal(&server, "-STOP");
    let port = format!("127.0.0.1:{}", server.port);
    let check = |what: &str, started: Instant, err: FeatureError| {
        let took = started.elapsed();
        let msg = err.to_string();
        assert!(matches!(err, FeatureError::Backend { .. }), "{what}: {msg}");
        assert!(msg.contains("timed out after 800 ms"), "{what}: {msg}");
        assert!(msg.contains(&port), "{what}: {msg}");
        // Bounded by the timeout (a timeout is never retried), with slack for a busy machine.
        assert!(
            took >= timeout - Duration::from_millis(50),
            "{what} took {took:?}"
        );
        assert!(took < timeout * 2, "{what} took {took:?}: {msg}");
    };
    let started = Instant::now();
    let mut out = vec![FeatureValue::default(); 1];
    let err = store
        .read(
            &ReadRequest::new("frozen", &[EntityKey::from("u")], &[0], t(2)),
            &mut out,
        )
        .unwrap_err();
    check("read", started, err);
    let started = Instant::now();
    let err = store
        .write_batch("frozen", &[x_row("u", 2, 2)])
        .unwrap_err();
    check("write", started, err);
    // Two threads at once, on fresh connections (the pool is empty now): each still bounded.
    let calls: Vec<_> = (0..2)
        .map(|_| {
            let store = store.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                (started, store.groups().unwrap_err())
            })
        })
        .collect();
    for c in calls {
        let (started, err) = c.join().unwrap();
        check("groups", started, err);
    }
    let started = Instant::now();
    let err = RedisOnlineStore::builder(&server.url())
        .timeout(timeout)
        .build()
        .unwrap_err();
    check("open", started, err);
    // Thawed, the same handle works again.
    signal(&server, "-CONT");
    assert_eq!(read_one(&store, "frozen", "u", 2).value, Value::Int64(1));
}

#[test]
#[ignore = "needs redis-server"]
fn server_killed_mid_batch_fails_the_batch_and_recovers_after_restart() {
    let mut server = server();
    let store = RedisOnlineStore::builder(&server.url())
        .clock(Arc::new(ManualClock::new(t(0))))
        .timeout(Duration::from_secs(2))
        .write_chunk_rows(16)
        .build()
        .unwrap();
    store.apply_group(&x_group("killed", None)).unwrap();
    let rows: Vec<FeatureRow> = (0..400_000)
        .map(|i| x_row(&format!("u{i}"), 1, i))
        .collect();
    let writer = {
        let store = store.clone();
        std::thread::spawn(move || store.write_batch("killed", &rows))
    };
    // Wait until the batch is visibly under way, then kill the server.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "the batch never started");
        // Past the first pipelines of the batch (256 rows each), so part of it was applied.
        if matches!(redis_cmd(&server, &[b"DBSIZE"]), Reply::Int(n) if n > 1000) {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(!writer.is_finished(), "the batch finished before the kill");
    // A second handle (its own group cache) that has read the group.
    let reader = store_on(&server);
    assert_eq!(
        read_one(&reader, "killed", "nobody", 1).status,
        FeatureStatus::NotFound
    );
    server.kill();
    let err = writer.join().unwrap().unwrap_err();
    assert!(matches!(err, FeatureError::Backend { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("127.0.0.1:{}", server.port)), "{msg}");
    assert!(msg.contains("rows were applied"), "{msg}");
    assert!(msg.contains("of 400000 rows"), "{msg}");
    // Reads fail cleanly while the server is down.
    let mut out = vec![FeatureValue::default(); 1];
    let err = store
        .read(
            &ReadRequest::new("killed", &[EntityKey::from("u1")], &[0], t(1)),
            &mut out,
        )
        .unwrap_err();
    assert!(matches!(err, FeatureError::Backend { .. }), "{err}");
    // A new server on the same port (empty: no persistence): the store reconnects and reloads
    // its scripts, but the group registry is gone. The handle still caches the group; it must
    // not write into (or read from) an unregistered group: both fail, saying why.
    server.restart();
    for err in [
        store
            .write_batch("killed", &[x_row("u", 1, 1)])
            .unwrap_err(),
        reader
            .read(
                &ReadRequest::new("killed", &[EntityKey::from("u1")], &[0], t(1)),
                &mut out,
            )
            .unwrap_err(),
    ] {
        let msg = err.to_string();
        assert!(matches!(err, FeatureError::Backend { .. }), "{msg}");
        assert!(msg.contains("feature group killed"), "{msg}");
        assert!(msg.contains("no longer registered"), "{msg}");
        assert!(msg.contains("apply the group again"), "{msg}");
    }
    // Nothing was written into the unregistered group.
    assert_eq!(redis_cmd(&server, &[b"DBSIZE"]), Reply::Int(0));
    // Until the group is applied again: then writes and reads go on.
    assert!(matches!(
        store.write_batch("killed", &[x_row("u", 1, 1)]),
        Err(FeatureError::NotFound { .. })
    ));
    store.apply_group(&x_group("killed", None)).unwrap();
    store.write_batch("killed", &[x_row("u", 1, 1)]).unwrap();
    assert_eq!(read_one(&store, "killed", "u", 2).value, Value::Int64(1));
    assert_eq!(
        read_one(&store, "killed", "u1", 2).status,
        FeatureStatus::NotFound
    );
}

#[test]
#[ignore = "needs redis-server"]
fn foreign_and_garbage_entries_are_named_and_never_overwritten() {
    let server = server();
    let store = store_on(&server);
    let g = conformance::all_types_group("bad");
    store.apply_group(&g).unwrap();
    let key = |k: &str| store.entity_key("bad", &EntityKey::from(k));
    let all: Vec<usize> = (0..8).collect();
    let read_err = |k: &str| {
        let mut out = vec![FeatureValue::default(); 16];
        store
            .read(
                &ReadRequest::new(
                    "bad",
                    &[EntityKey::from("ok"), EntityKey::from(k)],
                    &all,
                    t(1),
                ),
                &mut out,
            )
            .unwrap_err()
    };
    store
        .write_batch(
            "bad",
            &[FeatureRow::new(
                "ok",
                t(1),
                conformance::all_types_values(1),
            )],
        )
        .unwrap();

    // A string where a hash belongs.
    redis_cmd(&server, &[b"SET", &key("str"), b"hello"]);
    let err = read_err("str");
    assert!(matches!(err, FeatureError::CorruptEntry { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("mlops:bad:") && msg.contains("entity str)"),
        "{msg}"
    );
    assert!(msg.contains("not a hash"), "{msg}");
    // A write touching it is refused whole, naming it; the good row of its chunk is not written.
    let rows = vec![
        FeatureRow::new("new", t(5), conformance::all_types_values(2)),
        FeatureRow::new("str", t(5), conformance::all_types_values(3)),
    ];
    let err = store.write_batch("bad", &rows).unwrap_err();
    assert!(matches!(err, FeatureError::CorruptEntry { .. }), "{err}");
    assert!(
        err.to_string().contains("holds a string, not a hash"),
        "{err}"
    );
    assert_eq!(
        read_one(&store, "bad", "new", 6).status,
        FeatureStatus::NotFound
    );
    assert_eq!(
        redis_cmd(&server, &[b"GET", &key("str")]),
        Reply::Bulk(Some(b"hello".to_vec()))
    );

    // A hash with a garbage version.
    redis_cmd(&server, &[b"HSET", &key("v"), b"@v", b"yesterday"]);
    let msg = read_err("v").to_string();
    assert!(msg.contains("@v") && msg.contains("entity v)"), "{msg}");
    let err = store
        .write_batch(
            "bad",
            &[FeatureRow::new("v", t(5), conformance::all_types_values(3))],
        )
        .unwrap_err();
    assert!(err.to_string().contains("no valid @v"), "{err}");
    // A hash with fields but no version at all.
    redis_cmd(&server, &[b"HSET", &key("nov"), b"i", b"12345678"]);
    let msg = read_err("nov").to_string();
    assert!(
        msg.contains("no @v version field") && msg.contains("nov"),
        "{msg}"
    );

    // Garbage bytes in value fields: wrong width, bad bool, bad UTF-8.
    let version = {
        let mut v = Vec::new();
        v.extend_from_slice(format!("{:020}", (1_000_000_i64 as u64) ^ (1 << 63)).as_bytes());
        v.extend_from_slice(format!("{:020}", (1_000_000_i64 as u64) ^ (1 << 63)).as_bytes());
        v
    };
    for (k, field, bytes, want) in [
        (
            "w",
            &b"i"[..],
            &b"\x01\x02\x03"[..],
            "\"i\" holds 3 bytes, a int64 needs 8",
        ),
        ("b", b"b", b"\x07", "\"b\" holds byte 7"),
        (
            "s",
            b"s",
            b"\xff\xfe",
            "\"s\" holds bytes that are not UTF-8",
        ),
        ("v", b"v", b"\x00\x00\x80", "\"v\" holds 3 bytes"),
    ] {
        redis_cmd(&server, &[b"DEL", &key(k)]);
        redis_cmd(&server, &[b"HSET", &key(k), b"@v", &version, field, bytes]);
        let err = read_err(k);
        assert!(matches!(err, FeatureError::CorruptEntry { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains(want), "{msg}");
        assert!(msg.contains("mlops:bad:"), "{msg}");
        assert!(msg.contains(&format!("entity {k})")), "{msg}");
    }

    // A damaged group registry entry names the registry key and the group.
    redis_cmd(
        &server,
        &[b"HSET", b"mlops:@groups", b"broken", b"{not json"],
    );
    let err = store.groups().unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("mlops:@groups") && msg.contains("broken"),
        "{msg}"
    );
    // The registry key itself of the wrong type.
    let other = RedisOnlineStore::builder(&server.url())
        .prefix("other")
        .build()
        .unwrap();
    redis_cmd(&server, &[b"SET", b"other:@groups", b"x"]);
    let err = other.apply_group(&x_group("g", None)).unwrap_err();
    assert!(matches!(err, FeatureError::CorruptEntry { .. }), "{err}");
    assert!(err.to_string().contains("other:@groups"), "{err}");
    assert!(
        other
            .groups()
            .unwrap_err()
            .to_string()
            .contains("not a hash")
    );
}

#[test]
#[ignore = "needs redis-server"]
fn prefixes_isolate_stores_sharing_a_server() {
    let server = server();
    let a = RedisOnlineStore::builder(&server.url())
        .prefix("a")
        .build()
        .unwrap();
    let b = RedisOnlineStore::builder(&server.url())
        .prefix("b")
        .build()
        .unwrap();
    a.apply_group(&x_group("g", None)).unwrap();
    b.apply_group(&x_group("g", None)).unwrap();
    a.write_batch("g", &[x_row("u", 1, 1), x_row("v", 1, 1)])
        .unwrap();
    assert_eq!(a.entity_count("g").unwrap(), 2);
    assert_eq!(b.entity_count("g").unwrap(), 0);
    assert_eq!(read_one(&b, "g", "u", 2).status, FeatureStatus::NotFound);
    // Groups whose names share a prefix do not count each other's entities.
    a.apply_group(&x_group("g_2", None)).unwrap();
    a.write_batch("g_2", &[x_row("u", 1, 1)]).unwrap();
    assert_eq!(a.entity_count("g").unwrap(), 2);
}

mod model {
    //! The shared online-store model test (`tests/common`) against the Redis store; "reopen" is
    //! a new store handle (new connections, empty cache), with a fresh key prefix per case.
    use std::sync::atomic::{AtomicUsize, Ordering};

    use mlops_features::{ManualClock, OnlineStore, RedisOnlineStore, Timestamp};
    use proptest::prelude::*;

    use super::common::{op, run_online};

    #[test]
    #[ignore = "needs redis-server"]
    fn redis_online_matches_the_model() {
        let server = super::server();
        let case = AtomicUsize::new(0);
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(32));
        let result = runner.run(&prop::collection::vec(op(), 1..30), |ops| {
            // A fresh key prefix per case on the one server of this test.
            let prefix = format!("case{}", case.fetch_add(1, Ordering::SeqCst));
            run_online(&ops, &mut || -> Box<dyn OnlineStore> {
                Box::new(
                    RedisOnlineStore::builder(&server.url())
                        .prefix(&prefix)
                        .clock(std::sync::Arc::new(ManualClock::new(Timestamp::from_secs(
                            0,
                        ))))
                        .build()
                        .unwrap(),
                )
            });
            Ok(())
        });
        drop(server);
        if let Err(e) = result {
            panic!("{e}");
        }
    }
}

#[test]
#[ignore = "needs redis-server"]
fn the_feature_store_facade_serves_from_redis() {
    let server = server();
    let clock = ManualClock::new(t(1_000));
    let store = mlops_features::FeatureStore::builder()
        .online(
            RedisOnlineStore::builder(&server.url())
                .clock(Arc::new(clock.clone()))
                .build()
                .unwrap(),
        )
        .clock(Arc::new(clock.clone()))
        .evict_interval(None)
        .build()
        .unwrap();
    store
        .apply_group(
            FeatureGroup::builder("users")
                .entity("user_id", mlops_features::KeyType::String)
                .feature("age", ValueType::Int64)
                .feature("city", ValueType::String)
                .ttl(Duration::from_secs(60))
                .build()
                .unwrap(),
        )
        .unwrap();
    store
        .ingest_records(
            "users",
            &[mlops_features::Record::new(t(990))
                .with("user_id", "u1")
                .with("age", 28)
                .with("city", "Lyon")],
        )
        .unwrap();
    let keys = [EntityKey::from("u1"), EntityKey::from("u2")];
    let got = store
        .get_online_features(&["users:age", "users:city"], &keys)
        .unwrap();
    assert_eq!(got.row(0)[0].value, Value::Int64(28));
    assert_eq!(got.row(0)[1].value, Value::from("Lyon"));
    assert_eq!(got.row(1)[0].status, FeatureStatus::NotFound);
    clock.set(t(1_051));
    let got = store.get_online_features(&["users:age"], &keys).unwrap();
    assert_eq!(got.row(0)[0].status, FeatureStatus::OutsideMaxAge);
}
