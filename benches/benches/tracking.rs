//! `mlops-tracking` benchmarks: metric logging through the active-run guard, `log_batch` of
//! 1,000 metrics, `search_runs` over 10,000 runs, and opening such a store.
#![allow(missing_docs)]

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mlops_tracking::{
    Batch, CreateRun, ExperimentId, FileTrackingBackend, InMemoryTrackingBackend, SearchRuns,
    Tracker, TrackingBackend,
};

const RUNS: usize = 10_000;
const FILTER: &str = "metrics.m0 > 0.5 and params.p1 = 'v3'";
const ORDER: &str = "metrics.m2 DESC";

fn file_backend(dir: &Path, fsync: bool) -> FileTrackingBackend {
    FileTrackingBackend::open(dir).unwrap().with_fsync(fsync)
}

fn log_metric_guard(c: &mut Criterion) {
    let mut group = c.benchmark_group("tracking/log_metric_guard");
    group.throughput(Throughput::Elements(1));
    let dir = tempfile::tempdir().unwrap();
    let backends: Vec<(&str, Box<dyn TrackingBackend>)> = vec![
        ("memory", Box::new(InMemoryTrackingBackend::new())),
        (
            "file_nofsync",
            Box::new(file_backend(&dir.path().join("a"), false)),
        ),
        (
            "file_fsync",
            Box::new(file_backend(&dir.path().join("b"), true)),
        ),
    ];
    for (name, backend) in backends {
        let tracker = Tracker::new(backend);
        let mut run = tracker.start_run("bench", CreateRun::new()).unwrap();
        let mut step = 0i64;
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                step += 1;
                run.log_metric(black_box("train/loss"), black_box(0.25), step)
                    .unwrap();
            });
        });
        run.end(mlops_tracking::RunStatus::Finished).unwrap();
    }
    group.finish();
}

fn batch_of(n: usize, step0: i64) -> Batch {
    let keys = ["loss", "acc", "val_loss", "val_acc", "lr"];
    let mut batch = Batch::new();
    for i in 0..n {
        let step = step0 + i64::try_from(i / keys.len()).unwrap();
        batch = batch.metric(
            keys[i % keys.len()],
            0.5 + i as f64 * 1e-3,
            1_700_000_000_000,
            step,
        );
    }
    batch
}

fn log_batch(c: &mut Criterion) {
    let mut group = c.benchmark_group("tracking/log_batch_1000");
    group.throughput(Throughput::Elements(1000));
    let dir = tempfile::tempdir().unwrap();
    let backends: Vec<(&str, Box<dyn TrackingBackend>)> = vec![
        ("memory", Box::new(InMemoryTrackingBackend::new())),
        (
            "file_nofsync",
            Box::new(file_backend(&dir.path().join("a"), false)),
        ),
        (
            "file_fsync",
            Box::new(file_backend(&dir.path().join("b"), true)),
        ),
    ];
    let batch = batch_of(1000, 0);
    for (name, backend) in backends {
        let run = backend
            .create_run(&"0".parse().unwrap(), &CreateRun::new())
            .unwrap()
            .info
            .run_id;
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| backend.log_batch(&run, black_box(&batch)).unwrap());
        });
    }
    group.finish();
}

/// 10,000 runs with 5 params and 5 metrics each.
fn populate(backend: &dyn TrackingBackend) -> ExperimentId {
    let exp = backend
        .create_experiment("search", &[])
        .unwrap()
        .experiment_id;
    let mut state: u64 = 7;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    for i in 0..RUNS {
        let run = backend
            .create_run(
                &exp,
                &CreateRun::new()
                    .run_name(format!("run-{i}"))
                    .start_time(1_700_000_000_000 + i64::try_from(i).unwrap()),
            )
            .unwrap()
            .info
            .run_id;
        let mut batch = Batch::new();
        for p in 0..5 {
            batch = batch.param(format!("p{p}"), format!("v{}", (next() * 10.0) as u32));
        }
        for m in 0..5 {
            batch = batch.metric(format!("m{m}"), next(), 1, 0);
        }
        backend.log_batch(&run, &batch).unwrap();
    }
    exp
}

fn search_and_open(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let exp = populate(&file_backend(&root, false));
    let memory = InMemoryTrackingBackend::new();
    let mem_exp = populate(&memory);

    let mut group = c.benchmark_group("tracking/search_10k_runs");
    group.sample_size(20);
    let file = FileTrackingBackend::open(&root).unwrap();
    for (name, backend, exp) in [
        ("memory", &memory as &dyn TrackingBackend, &mem_exp),
        ("file", &file as &dyn TrackingBackend, &exp),
    ] {
        let req = SearchRuns::new([exp.clone()])
            .filter(FILTER)
            .order_by(ORDER);
        let hits = backend.search_runs(&req).unwrap().items.len();
        assert!(hits > 0, "the filter matches some runs");
        group.bench_function(BenchmarkId::new(name, format!("{hits}_hits")), |b| {
            b.iter(|| backend.search_runs(black_box(&req)).unwrap());
        });
    }
    group.finish();

    let mut group = c.benchmark_group("tracking/open_10k_runs");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("file", |b| {
        b.iter(|| FileTrackingBackend::open(black_box(&root)).unwrap());
    });
    group.finish();
}

criterion_group!(benches, log_metric_guard, log_batch, search_and_open);
criterion_main!(benches);
