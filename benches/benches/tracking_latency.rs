//! Per-call latency of `ActiveRun::log_metric` on the file backend: p50 / p99 / p99.9 / max over
//! 2,000,000 timed calls (each timed with `Instant`, whose own cost of some tens of ns is
//! included), with fsync off and on. Runs only under `cargo bench` (it is given `--bench`).
#![allow(missing_docs, clippy::print_stdout)]

use std::time::Instant;

use mlops_tracking::{CreateRun, FileTrackingBackend, RunStatus, Tracker};

const CALLS: usize = 2_000_000;

fn percentile(sorted: &[u64], q: f64) -> u64 {
    let idx = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[idx]
}

/// CPU time (user + system) of this process so far, in seconds, from `/proc/self/stat` (the
/// machine may be shared, so wall time alone overstates the cost).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')')?.1;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    // Clock ticks are 100 per second on Linux.
    Some((utime + stime) / 100.0)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "tracking_latency: run with `cargo bench -p mlops-benches --bench tracking_latency`"
        );
        return;
    }
    for fsync in [false, true] {
        let dir = tempfile::tempdir().expect("temp dir");
        let backend = FileTrackingBackend::open(dir.path())
            .expect("open store")
            .with_fsync(fsync);
        let tracker = Tracker::new(backend);
        let mut run = tracker
            .start_run("latency", CreateRun::new())
            .expect("start");
        let mut ns = Vec::with_capacity(CALLS);
        let cpu0 = cpu_seconds();
        let total = Instant::now();
        for i in 0..CALLS {
            let t = Instant::now();
            run.log_metric("train/loss", 0.5, i as i64).expect("log");
            ns.push(t.elapsed().as_nanos() as u64);
        }
        run.flush().expect("flush");
        let secs = total.elapsed().as_secs_f64();
        let cpu = cpu_seconds().zip(cpu0).map_or(f64::NAN, |(b, a)| b - a);
        run.end(RunStatus::Finished).expect("end");
        ns.sort_unstable();
        println!(
            "tracking_latency (file backend, fsync {}): {CALLS} calls, {:.2} M calls/s including \
             timer overhead ({:.2} M calls per CPU-second); p50 {} ns, p99 {} ns, p99.9 {} ns, max {} ns",
            if fsync { "on" } else { "off" },
            CALLS as f64 / secs / 1e6,
            CALLS as f64 / cpu / 1e6,
            percentile(&ns, 0.50),
            percentile(&ns, 0.99),
            percentile(&ns, 0.999),
            ns[ns.len() - 1],
        );
    }
}
