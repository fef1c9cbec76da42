//! Criterion benchmarks of the mlops crates live in `benches/benches/`, one file per crate
//! (`cargo bench -p mlops-benches --bench <crate>`), beside a few `harness = false` programs
//! that report what criterion does not: CPU time per operation and peak memory
//! (`*_cpu`, `*_memory`, `*_latency`, `dvc_figures`; they do nothing unless run with `--bench`).
//!
//! This library holds what those programs share: reading the process's own CPU time and
//! memory from `/proc` ([`proc_stats`]).

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
