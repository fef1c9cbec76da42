//! Per-call latency of `ActiveRun::log_metric` on the file backend: p50 / p99 / p99.9 / max over
//! 2,000,000 timed calls (each timed with `Instant`, whose own cost of some tens of ns is
//! included), with fsync off and on. Run with
//! `cargo run --release -p mlops-benches --bin tracking_latency`.
#![allow(missing_docs, clippy::print_stdout)]

use mlops_benches::proc_stats::process_cpu_seconds;
use std::time::Instant;

use mlops_tracking::{CreateRun, FileTrackingBackend, RunStatus, Tracker};

const CALLS: usize = 2_000_000;

fn percentile(sorted: &[u64], q: f64) -> u64 {
    let idx = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[idx]
}

fn main() {
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
        let cpu0 = process_cpu_seconds();
        let total = Instant::now();
        for i in 0..CALLS {
            let t = Instant::now();
            run.log_metric("train/loss", 0.5, i as i64).expect("log");
            ns.push(t.elapsed().as_nanos() as u64);
        }
        run.flush().expect("flush");
        let secs = total.elapsed().as_secs_f64();
        let cpu = process_cpu_seconds()
            .zip(cpu0)
            .map_or(f64::NAN, |(b, a)| b - a);
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
