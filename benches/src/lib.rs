//! Criterion benchmarks of the mlops crates live in `benches/benches/`, one file per crate
//! (`cargo bench -p mlops-benches --bench <crate>`). Measurement programs that report what
//! criterion does not (CPU time per operation, peak memory, latency percentiles: `*_cpu`,
//! `*_memory`, `*_latency`, `features_scaling`, `dvc_figures`) are binaries in `src/bin/`:
//! `cargo run --release -p mlops-benches --bin <name>`.
//!
//! The binaries `peers_tracking`, `peers_registry`, `peers_dvc` and `peers_features`
//! (`src/bin/`) are our side of the side-by-side comparison with MLflow, DVC and Feast: the
//! driver `benches/peers/run.py` runs them against the reference tools and writes
//! `docs/benchmarks.md` (see `benches/peers/README.md`).
//!
//! This library holds what those programs share: reading the process's own CPU time and
//! memory from `/proc` ([`proc_stats`]), and the feature-store workload ([`features_fixture`]).

pub mod testing_fixture {
    //! The mlops-testing workload shared by the criterion bench, the CPU-time program and the
    //! scaling curves: a deterministic generator, a ten-column row and its expectations.

    use mlops_testing::{Expectation, validate::Row, validate::ValueType};
    use serde_json::{Value, json};

    /// A small deterministic generator (PCG's LCG step), so every program sees the same data.
    #[derive(Debug, Clone)]
    pub struct Lcg(pub u64);

    impl Lcg {
        /// A uniform value in `[0, 1)`.
        #[allow(clippy::cast_precision_loss)]
        pub fn next_f64(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }

        /// A bell-shaped value (the sum of three uniforms) moved by `shift`.
        pub fn bell(&mut self, shift: f64) -> f64 {
            self.next_f64() + self.next_f64() + self.next_f64() + shift
        }
    }

    /// `n` bell-shaped values from `seed`, moved by `shift`.
    #[must_use]
    pub fn sample(seed: u64, n: usize, shift: f64) -> Vec<f64> {
        let mut r = Lcg(seed);
        (0..n).map(|_| r.bell(shift)).collect()
    }

    /// The ten columns of a [`Record`].
    pub const COLUMNS: [&str; 10] = [
        "id", "age", "income", "score", "label", "city", "email", "active", "plan", "visits",
    ];

    /// A compact fixed-schema row: ten JSON cells, fields found by position.
    #[derive(Debug, Clone)]
    pub struct Record(pub [Value; 10]);

    impl Row for Record {
        fn field(&self, column: &str) -> Option<&Value> {
            COLUMNS
                .iter()
                .position(|c| *c == column)
                .map(|i| &self.0[i])
        }
    }

    /// The cells of row `i` (one in 100 has a null `visits`).
    pub fn record(i: usize, r: &mut Lcg) -> [Value; 10] {
        [
            json!(i),
            json!((18.0 + r.next_f64() * 60.0).floor()),
            json!(20_000.0 + r.next_f64() * 80_000.0),
            json!(r.next_f64()),
            json!(i % 2),
            json!(["paris", "tokyo", "lima"][i % 3]),
            json!(format!("u{i}@example.com")),
            json!(!i.is_multiple_of(5)),
            json!(["basic", "plus", "pro"][i % 3]),
            if i.is_multiple_of(100) {
                Value::Null
            } else {
                json!(i % 50)
            },
        ]
    }

    /// One expectation per column, all met by [`record`]'s rows.
    #[must_use]
    pub fn expectations() -> Vec<Expectation> {
        vec![
            Expectation::not_null("id"),
            Expectation::between("age", Some(18.0), Some(100.0)),
            Expectation::between("income", Some(0.0), None),
            Expectation::between("score", Some(0.0), Some(1.0)),
            Expectation::in_set("label", [json!(0), json!(1)]),
            Expectation::in_set("city", [json!("paris"), json!("tokyo"), json!("lima")]),
            Expectation::matches_regex("email", r"^[^@\s]+@[^@\s]+$"),
            Expectation::of_type("active", ValueType::Bool),
            Expectation::in_set("plan", [json!("basic"), json!("plus"), json!("pro")]),
            Expectation::not_null("visits").mostly(0.95),
        ]
    }
}

/// Formatting shared by the measurement programs.
pub mod fmt {
    /// `n` with thousands separators, as Python's `{:,}` prints it (the peer sides' format).
    #[must_use]
    pub fn thousands(n: usize) -> String {
        let s = n.to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    }
}

pub mod proc_stats {
    //! The process's (or thread's) CPU time and memory, read from Linux's `/proc`. On a shared
    //! machine wall time overstates an operation's cost; CPU time does not. Every function
    //! returns `None` where `/proc` is missing or unreadable.

    /// User + system CPU seconds in a `/proc/.../stat` file (fields 14 and 15, in clock ticks of
    /// 1/100 s, Linux's `USER_HZ`).
    fn stat_cpu_seconds(path: &str) -> Option<f64> {
        let stat = std::fs::read_to_string(path).ok()?;
        // The command name is parenthesised and may contain spaces: count fields after it.
        let rest = stat.rsplit_once(')')?.1;
        let mut fields = rest.split_whitespace().skip(11);
        let utime: f64 = fields.next()?.parse().ok()?;
        let stime: f64 = fields.next()?.parse().ok()?;
        Some((utime + stime) / 100.0)
    }

    /// CPU seconds used so far by this process's children that have been waited for (fields
    /// 16 and 17 of `/proc/self/stat`), at 10 ms resolution: the cost of a peer tool run as a
    /// child process.
    #[must_use]
    pub fn children_cpu_seconds() -> Option<f64> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let rest = stat.rsplit_once(')')?.1;
        let mut fields = rest.split_whitespace().skip(13);
        let cutime: f64 = fields.next()?.parse().ok()?;
        let cstime: f64 = fields.next()?.parse().ok()?;
        Some((cutime + cstime) / 100.0)
    }

    /// CPU seconds used so far by this process (all threads), at 10 ms resolution.
    #[must_use]
    pub fn process_cpu_seconds() -> Option<f64> {
        stat_cpu_seconds("/proc/self/stat")
    }

    /// CPU seconds used so far by the calling thread, at 10 ms resolution.
    #[must_use]
    pub fn thread_cpu_seconds() -> Option<f64> {
        stat_cpu_seconds("/proc/thread-self/stat")
    }

    /// A `kB` field of `/proc/self/status`, such as `"VmRSS:"` (resident memory) or
    /// `"VmHWM:"` (its peak).
    #[must_use]
    pub fn status_kib(field: &str) -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        status
            .lines()
            .find(|l| l.starts_with(field))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }

    #[cfg(all(test, target_os = "linux"))]
    mod tests {
        use super::*;

        #[test]
        fn reads_cpu_time_and_memory_of_this_process() {
            let start = process_cpu_seconds().unwrap();
            let mut x = 0u64;
            let t = std::time::Instant::now();
            while t.elapsed().as_millis() < 60 {
                x = x.wrapping_mul(31).wrapping_add(1);
            }
            std::hint::black_box(x);
            assert!(process_cpu_seconds().unwrap() > start);
            assert!(thread_cpu_seconds().unwrap() >= 0.0);
            assert!(status_kib("VmRSS:").unwrap() > 0);
            assert!(status_kib("VmHWM:").unwrap() >= status_kib("VmRSS:").unwrap() / 2);
            assert_eq!(status_kib("NoSuchField:"), None);
        }
    }
}

pub mod features_fixture {
    //! The feature-store workload of the `features` benches: a group of 8 `f64` features keyed
    //! by a string user id, with a one-year TTL, and deterministic rows; and the read-scaling
    //! workload: a writer ingesting at a fixed rate and a pool of reader threads.
    #![allow(clippy::cast_precision_loss)]

    use std::hint::black_box;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc::{Receiver, Sender, channel};
    use std::sync::{Arc, Barrier, Mutex};
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant};

    use mlops_features::{
        EntityKey, FeatureGroup, FeatureRow, FeatureValue, InMemoryOnlineStore, KeyType,
        OnlineStore, ReadRequest, Timestamp, Value, ValueType,
    };

    use crate::proc_stats::thread_cpu_seconds;

    /// Features per row.
    pub const FEATURES: usize = 8;

    /// The `user_features` group (entity `user_id`, features `f0`..`f7`).
    ///
    /// # Panics
    /// Never: the definition is fixed and valid.
    #[must_use]
    pub fn group() -> FeatureGroup {
        let mut b = FeatureGroup::builder("user_features").entity("user_id", KeyType::String);
        for i in 0..FEATURES {
            b = b.feature(&format!("f{i}"), ValueType::Float64);
        }
        b.ttl(Duration::from_secs(365 * 86_400))
            .build()
            .expect("a fixed, valid group")
    }

    /// The entity key of user `i`.
    #[must_use]
    pub fn key(i: usize) -> EntityKey {
        EntityKey::from(format!("user_{i:07}"))
    }

    /// Rows for users `range`, all with event time `ts` (seconds).
    #[must_use]
    pub fn rows(range: std::ops::Range<usize>, ts: i64) -> Vec<FeatureRow> {
        range
            .map(|i| {
                FeatureRow::new(
                    key(i),
                    Timestamp::from_secs(ts),
                    (0..FEATURES)
                        .map(|j| Value::Float64((i * FEATURES + j) as f64))
                        .collect(),
                )
            })
            .collect()
    }

    /// Rows per batch of the read-scaling writer ([`spawn_writer`]).
    pub const WRITE_BATCH_ROWS: usize = 100;
    /// Time between two batches of the read-scaling writer: with [`WRITE_BATCH_ROWS`], 100,000
    /// rows/s = 800,000 feature values/s, a busy streaming-ingest job.
    pub const WRITE_PERIOD: Duration = Duration::from_millis(1);

    /// A writer thread ingesting into `store` (the [`group`], users `0..entities` already
    /// there with event times before 1,700,000,001 s) at a fixed rate until `stop`: one batch of [`WRITE_BATCH_ROWS`] rows every
    /// [`WRITE_PERIOD`], paced by deadline (a late batch does not shift the schedule), each
    /// batch newer than the last write of its users. The batches are built before the clock
    /// starts, so the writer only does the store's work. Returns its CPU and wall seconds.
    ///
    /// # Panics
    /// In the thread, if a write fails.
    #[must_use]
    pub fn spawn_writer(
        store: InMemoryOnlineStore,
        entities: usize,
        stop: Arc<AtomicBool>,
    ) -> JoinHandle<(f64, f64)> {
        std::thread::spawn(move || {
            let mut batches: Vec<Vec<FeatureRow>> = (0..entities / WRITE_BATCH_ROWS)
                .map(|b| rows(b * WRITE_BATCH_ROWS..(b + 1) * WRITE_BATCH_ROWS, 0))
                .collect();
            let (cpu0, wall0) = (thread_cpu_seconds().unwrap_or(0.0), Instant::now());
            let mut next = Instant::now();
            let mut ts = 1_700_000_001;
            let mut b = 0;
            while !stop.load(Ordering::Relaxed) {
                let batch = &mut batches[b];
                for r in batch.iter_mut() {
                    r.event_ts = Timestamp::from_secs(ts);
                }
                store.write_batch("user_features", batch).unwrap();
                b = (b + 1) % batches.len();
                if b == 0 {
                    ts += 1;
                }
                next += WRITE_PERIOD;
                if let Some(wait) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
            (
                thread_cpu_seconds().unwrap_or(0.0) - cpu0,
                wall0.elapsed().as_secs_f64(),
            )
        })
    }

    /// Reads per reader, or a deadline to read until; the barrier starts them together.
    type Work = (u64, Option<Instant>, Arc<Barrier>);

    /// Reader threads that wait for work: each [`ReaderPool::run`] splits reads among them, 1
    /// entity x 8 features per read, cycling through `keys` (each reader from its own offset).
    /// Each reader reports its start, end and CPU time; the pool also sums CPU time per read,
    /// which on a machine shared with other work shows the contention cost without the time
    /// spent waiting for a core.
    #[derive(Debug)]
    pub struct ReaderPool {
        start: Vec<Sender<Work>>,
        done: Receiver<(Instant, Instant, f64, u64)>,
        handles: Vec<JoinHandle<()>>,
        totals: Mutex<(u64, f64)>,
    }

    impl ReaderPool {
        /// `threads` readers of `store`.
        #[must_use]
        pub fn new(
            store: &InMemoryOnlineStore,
            threads: usize,
            keys: &Arc<Vec<EntityKey>>,
        ) -> Self {
            let (done_tx, done) = channel();
            let mut start = Vec::new();
            let mut handles = Vec::new();
            for t in 0..threads {
                let (tx, rx) = channel::<Work>();
                let (store, keys, done_tx) = (store.clone(), Arc::clone(keys), done_tx.clone());
                handles.push(std::thread::spawn(move || {
                    let features: Vec<usize> = (0..FEATURES).collect();
                    // Within the TTL of every row: each read copies 8 present values.
                    let now = Timestamp::from_secs(1_700_001_000);
                    let mut out = vec![FeatureValue::default(); FEATURES];
                    let n_keys = keys.len();
                    for (n, deadline, barrier) in rx {
                        barrier.wait();
                        let (t0, cpu0) = (Instant::now(), thread_cpu_seconds().unwrap_or(0.0));
                        let mut i = 0usize;
                        loop {
                            // Until the deadline (checked every 256 reads), or n reads.
                            let more = match deadline {
                                Some(d) => !i.is_multiple_of(256) || Instant::now() < d,
                                None => (i as u64) < n,
                            };
                            if !more {
                                break;
                            }
                            let key = &keys[(i + t * n_keys / 2) % n_keys];
                            let req = ReadRequest::new(
                                "user_features",
                                std::slice::from_ref(key),
                                &features,
                                now,
                            );
                            store.read(black_box(&req), &mut out).unwrap();
                            i += 1;
                        }
                        black_box(&out);
                        let cpu = thread_cpu_seconds().unwrap_or(0.0) - cpu0;
                        if done_tx.send((t0, Instant::now(), cpu, i as u64)).is_err() {
                            break;
                        }
                    }
                }));
                start.push(tx);
            }
            Self {
                start,
                done,
                handles,
                totals: Mutex::new((0, 0.0)),
            }
        }

        /// Wall time per read, from the first reader's start to the last one's end, when
        /// `iters` reads are shared among the readers.
        ///
        /// # Panics
        /// If a reader thread died.
        pub fn run(&self, iters: u64) -> Duration {
            let threads = self.start.len() as u64;
            let per = iters.div_ceil(threads).max(1);
            let barrier = Arc::new(Barrier::new(self.start.len()));
            for tx in &self.start {
                tx.send((per, None, Arc::clone(&barrier))).unwrap();
            }
            let (mut first, mut last, mut cpu) = (None::<Instant>, None::<Instant>, 0.0);
            for _ in 0..threads {
                let (t0, t1, c, _) = self.done.recv().unwrap();
                first = Some(first.map_or(t0, |f| f.min(t0)));
                last = Some(last.map_or(t1, |l| l.max(t1)));
                cpu += c;
            }
            let mut totals = self.totals.lock().unwrap();
            totals.0 += per * threads;
            totals.1 += cpu;
            (last.unwrap() - first.unwrap()).mul_f64(iters.max(1) as f64 / (per * threads) as f64)
        }

        /// Throughput: every reader reads for `window` (started together), and the total
        /// number of reads is divided by the time from the first start to the last end, in
        /// wall nanoseconds per read. Unlike [`run`](Self::run), a reader that loses its core
        /// for a while does not hold the others up: this is a service's view of throughput.
        ///
        /// # Panics
        /// If a reader thread died.
        pub fn run_for(&self, window: Duration) -> f64 {
            let barrier = Arc::new(Barrier::new(self.start.len()));
            let deadline = Instant::now() + window;
            for tx in &self.start {
                tx.send((0, Some(deadline), Arc::clone(&barrier))).unwrap();
            }
            let (mut first, mut last, mut cpu, mut reads) =
                (None::<Instant>, None::<Instant>, 0.0, 0);
            for _ in 0..self.start.len() {
                let (t0, t1, c, n) = self.done.recv().unwrap();
                first = Some(first.map_or(t0, |f| f.min(t0)));
                last = Some(last.map_or(t1, |l| l.max(t1)));
                cpu += c;
                reads += n;
            }
            let mut totals = self.totals.lock().unwrap();
            totals.0 += reads;
            totals.1 += cpu;
            (last.unwrap() - first.unwrap()).as_secs_f64() * 1e9 / reads.max(1) as f64
        }

        /// Reader CPU nanoseconds per read over every run so far (`None` before any run).
        ///
        /// # Panics
        /// If a reader panicked while holding the totals (never).
        #[must_use]
        pub fn cpu_ns_per_read(&self) -> Option<f64> {
            let (reads, cpu) = *self.totals.lock().unwrap();
            (reads > 0).then(|| cpu * 1e9 / reads as f64)
        }
    }

    impl Drop for ReaderPool {
        fn drop(&mut self) {
            self.start.clear();
            for h in self.handles.drain(..) {
                let _ = h.join();
            }
        }
    }
}
