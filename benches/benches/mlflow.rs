//! `MlflowTrackingBackend` against a local `mlflow server` (SQLite store) started by the bench:
//! buffered metric logging through the active-run guard (metrics/s, flushes included), one
//! `log_batch` of 1,000 metrics, and a single unbuffered `log_metric` (one request) for
//! context. Skips with a message when `mlflow` is not installed (`$MLOPS_MLFLOW` or `PATH`).
//!
//! `MLOPS_MLFLOW_WORKERS` sets the server's uvicorn workers (default 2).
#![allow(missing_docs, clippy::print_stderr)]

use mlops_mlflow::test_server as mlflow_server;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mlops_tracking::{
    Batch, CreateRun, MlflowConfig, MlflowTrackingBackend, RunStatus, Tracker, TrackingBackend,
    TrackingBackendExt,
};

/// Metrics per measured iteration of the buffered-logging bench (ten flushes of 1,000).
const PER_ITER: u64 = 10_000;
const KEYS: [&str; 5] = ["train/loss", "train/acc", "val/loss", "val/acc", "lr"];

fn backend(uri: &str) -> MlflowTrackingBackend {
    MlflowTrackingBackend::new(
        MlflowConfig::new(uri)
            .unwrap()
            .with_timeout(Duration::from_secs(60)),
    )
}

fn server() -> Option<mlflow_server::MlflowServer> {
    let workers = std::env::var("MLOPS_MLFLOW_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(2);
    match mlflow_server::MlflowServer::start(workers) {
        Ok(s) => Some(s),
        Err(why) => {
            eprintln!("SKIPPED mlflow benches: no MLflow server ({why})");
            None
        }
    }
}

fn benches(c: &mut Criterion) {
    let Some(server) = server() else { return };
    let tracker = Tracker::new(backend(&server.uri));

    // The guard's default (1,000-metric buffer, one request at a time), then a 10,000-metric
    // buffer flushed with 4 concurrent requests (MLflow orders history by timestamp and step,
    // so the order the batches arrive in does not matter).
    let mut group = c.benchmark_group("mlflow/buffered_log_metric");
    group.throughput(Throughput::Elements(PER_ITER));
    group.sample_size(10);
    for (name, capacity, requests) in [
        ("guard_10k_sequential", 1_000, 1),
        ("guard_10k_4_requests", 10_000, 4),
    ] {
        let tracker = Tracker::new(backend(&server.uri))
            .with_buffer_capacity(capacity)
            .with_flush_requests(requests);
        let mut run = tracker.start_run("bench", CreateRun::new()).unwrap();
        let mut step = 0i64;
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                for _ in 0..PER_ITER / KEYS.len() as u64 {
                    step += 1;
                    for k in KEYS {
                        run.log_metric(black_box(k), black_box(0.25), step).unwrap();
                    }
                }
                run.flush().unwrap();
            });
        });
        run.end(RunStatus::Finished).unwrap();
    }
    group.finish();

    let mut group = c.benchmark_group("mlflow/log_batch_1000");
    group.throughput(Throughput::Elements(1000));
    group.sample_size(10);
    let b = tracker.backend();
    let r = b
        .create_run(
            &tracker.experiment("bench").unwrap().experiment_id,
            &CreateRun::new(),
        )
        .unwrap()
        .info
        .run_id;
    let mut step = 0i64;
    group.bench_function("one_request", |bench| {
        bench.iter(|| {
            let mut batch = Batch::new();
            for _ in 0..200 {
                step += 1;
                for k in KEYS {
                    batch = batch.metric(k, 0.5, 1_700_000_000_000 + step, step);
                }
            }
            b.log_batch(&r, &batch).unwrap();
        });
    });
    group.finish();

    let mut group = c.benchmark_group("mlflow/log_metric_unbuffered");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    let mut step = 0i64;
    group.bench_function("one_request", |bench| {
        bench.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                step += 1;
                b.log_metric(&r, "latency", 1.0, 1_700_000_000_000 + step, step)
                    .unwrap();
            }
            start.elapsed()
        });
    });
    group.finish();
    server.stop();
}

criterion_group!(mlflow, benches);
criterion_main!(mlflow);
