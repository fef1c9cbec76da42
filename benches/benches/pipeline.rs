//! `mlops-pipeline` benchmarks: scheduling overhead (10,000-step chain and fan-out of no-op
//! steps), parallelism (8 busy steps of 50 ms on 2 threads) and a cached re-run of 1,000 steps
//! with the file cache.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use mlops_pipeline::{FileCache, Pipeline, RunOptions, StepStatus};

fn chain(n: usize) -> Pipeline {
    let mut b = Pipeline::builder("chain");
    b.step("s0", |_| Ok(()));
    for i in 1..n {
        b.step(&format!("s{i}"), |_| Ok(()))
            .after([format!("s{}", i - 1)]);
    }
    b.build().expect("valid chain")
}

fn fan_out(n: usize) -> Pipeline {
    let mut b = Pipeline::builder("fan_out");
    for i in 0..n {
        b.step(&format!("s{i}"), |_| Ok(()));
    }
    b.build().expect("valid fan-out")
}

fn overhead(c: &mut Criterion) {
    let mut group = c.benchmark_group("pipeline/overhead_10000_noop_steps");
    group.sample_size(20);
    for (shape, p) in [("chain", chain(10_000)), ("fan_out", fan_out(10_000))] {
        for threads in [1, 2] {
            let opts = RunOptions::new().threads(threads);
            group.bench_with_input(
                BenchmarkId::new(shape, format!("{threads}_threads")),
                &p,
                |b, p| {
                    b.iter(|| {
                        let r = p.run(&opts);
                        assert!(r.is_success());
                        black_box(r)
                    });
                },
            );
        }
    }
    group.finish();
}

fn busy(d: Duration) {
    let start = Instant::now();
    let mut x = 0u64;
    while start.elapsed() < d {
        for i in 0..1000 {
            x = black_box(x.wrapping_mul(31).wrapping_add(i));
        }
    }
    black_box(x);
}

fn parallelism(c: &mut Criterion) {
    let mut group = c.benchmark_group("pipeline/parallel_8_busy_50ms_steps");
    group.sample_size(10);
    let mut b = Pipeline::builder("busy");
    for i in 0..8 {
        b.step(&format!("busy{i}"), |_| {
            busy(Duration::from_millis(50));
            Ok(())
        });
    }
    let p = b.build().expect("valid pipeline");
    for threads in [1, 2] {
        let opts = RunOptions::new().threads(threads);
        group.bench_function(
            BenchmarkId::from_parameter(format!("{threads}_threads")),
            |b| {
                b.iter(|| black_box(p.run(&opts)));
            },
        );
    }
    group.finish();
}

fn cached_rerun(c: &mut Criterion) {
    let mut group = c.benchmark_group("pipeline/cached_rerun_1000_steps_file_cache");
    group.sample_size(20);
    let dir = std::env::temp_dir().join(format!("mlops-pipeline-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cache = Arc::new(FileCache::open(&dir).expect("open cache").with_fsync(false));
    let mut b = Pipeline::builder("cached");
    b.step("s0", |_| Ok(0_u64)).cache("v1");
    for i in 1..1000 {
        let prev = format!("s{}", i - 1);
        let dep = prev.clone();
        b.step(
            &format!("s{i}"),
            move |ctx| Ok(*ctx.input::<u64>(&dep)? + 1),
        )
        .after([prev])
        .cache("v1");
    }
    let p = b.build().expect("valid pipeline");
    for threads in [1, 2] {
        let opts = RunOptions::new().threads(threads).cache(cache.clone());
        let warm = p.run(&opts);
        assert!(warm.is_success());
        group.bench_function(
            BenchmarkId::from_parameter(format!("{threads}_threads")),
            |b| {
                b.iter(|| {
                    let r = p.run(&opts);
                    assert_eq!(r.count(StepStatus::Cached), 1000);
                    black_box(r)
                });
            },
        );
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, overhead, parallelism, cached_rerun);
criterion_main!(benches);
