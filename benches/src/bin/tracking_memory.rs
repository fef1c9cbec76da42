//! Peak memory of logging 10,000,000 metrics through one active-run guard on the file backend
//! (the target: under 64 MiB above the baseline). Reads `VmRSS` / `VmHWM` from
//! `/proc/self/status` (Linux). Run with
//! `cargo run --release -p mlops-benches --bin tracking_memory`.
#![allow(missing_docs, clippy::print_stdout)]

use mlops_benches::proc_stats::{process_cpu_seconds, status_kib};
use std::time::Instant;

use mlops_tracking::{CreateRun, FileTrackingBackend, RunStatus, Tracker};

const METRICS: i64 = 10_000_000;

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let backend = FileTrackingBackend::open(dir.path())
        .expect("open store")
        .with_fsync(false);
    let tracker = Tracker::new(backend);
    let mut run = tracker
        .start_run("memory", CreateRun::new())
        .expect("start run");
    let keys = ["train/loss", "train/acc", "val/loss", "val/acc"];
    run.log_metric(keys[0], 0.0, 0).expect("log");
    run.flush().expect("flush");
    let Some(baseline) = status_kib("VmRSS:") else {
        println!("tracking_memory: /proc/self/status is not available; not measured");
        return;
    };
    let cpu0 = process_cpu_seconds();
    let start = Instant::now();
    for i in 0..METRICS {
        let k = keys[(i % 4) as usize];
        run.log_metric(k, (i as f64).sin(), i / 4).expect("log");
    }
    run.end(RunStatus::Finished).expect("end");
    let secs = start.elapsed().as_secs_f64();
    let cpu = process_cpu_seconds()
        .zip(cpu0)
        .map_or(f64::NAN, |(b, a)| b - a);
    let peak = status_kib("VmHWM:").unwrap_or(0);
    let rss = status_kib("VmRSS:").unwrap_or(0);
    let above = peak.saturating_sub(baseline);
    println!(
        "tracking_memory: {METRICS} metrics via one guard (file backend, fsync off) in {secs:.2} s \
         ({:.2} M metrics/s, {:.2} M per CPU-second); baseline RSS {:.1} MiB, peak {:.1} MiB, end {:.1} MiB; \
         peak above baseline {:.1} MiB (target < 64 MiB)",
        METRICS as f64 / secs / 1e6,
        METRICS as f64 / cpu / 1e6,
        baseline as f64 / 1024.0,
        peak as f64 / 1024.0,
        rss as f64 / 1024.0,
        above as f64 / 1024.0,
    );
    assert!(above < 64 * 1024, "memory above baseline is over 64 MiB");
}
