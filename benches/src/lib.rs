//! Criterion benchmarks of the mlops crates live in `benches/benches/`, one file per crate
//! (`cargo bench -p mlops-benches --bench <crate>`), beside a few `harness = false` programs
//! that report what criterion does not: CPU time per operation and peak memory
//! (`*_cpu`, `*_memory`, `*_latency`, `dvc_figures`; they do nothing unless run with `--bench`).
//!
//! This library holds what those programs share: reading the process's own CPU time and
//! memory from `/proc` ([`proc_stats`]), and the feature-store workload ([`features_fixture`]).

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
    //! by a string user id, with a one-year TTL, and deterministic rows.
    #![allow(clippy::cast_precision_loss)]

    use std::time::Duration;

    use mlops_features::{
        EntityKey, FeatureGroup, FeatureRow, KeyType, Timestamp, Value, ValueType,
    };

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
}
