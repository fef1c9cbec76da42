//! `mlops-pipeline` scheduling overhead in CPU time as well as wall time.
//!
//! On a loaded machine the criterion wall-clock medians include the time a runnable thread
//! waits for a core; this program also reports the process CPU time (user + system, from
//! `/proc/self/stat`, all threads) per run, which is what the scheduler itself costs.
//! Run with `cargo run --release -p mlops-benches --bin pipeline_cpu` (Linux).
#![allow(missing_docs, clippy::print_stdout)]

use mlops_benches::proc_stats::process_cpu_seconds;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mlops_pipeline::{FileCache, Pipeline, RunOptions};

fn measure(name: &str, runs: usize, mut f: impl FnMut()) {
    f(); // warm-up
    let cpu0 = process_cpu_seconds().map(Duration::from_secs_f64);
    let mut walls = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f();
        walls.push(t.elapsed());
    }
    let cpu = process_cpu_seconds()
        .map(Duration::from_secs_f64)
        .zip(cpu0)
        .map(|(b, a)| (b - a) / u32::try_from(runs).unwrap_or(1));
    walls.sort();
    let median = walls[walls.len() / 2];
    match cpu {
        Some(cpu) => println!(
            "{name:<44} wall median {:>8.2} ms   cpu mean {:>8.2} ms",
            median.as_secs_f64() * 1e3,
            cpu.as_secs_f64() * 1e3
        ),
        None => println!(
            "{name:<44} wall median {:>8.2} ms",
            median.as_secs_f64() * 1e3
        ),
    }
}

fn busy(d: Duration) {
    let start = Instant::now();
    let mut x = 0u64;
    while start.elapsed() < d {
        for i in 0..1000 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
    }
    std::hint::black_box(x);
}

fn main() {
    let mut b = Pipeline::builder("chain");
    b.step("s0", |_| Ok(()));
    for i in 1..10_000 {
        b.step(&format!("s{i}"), |_| Ok(()))
            .after([format!("s{}", i - 1)]);
    }
    let chain = b.build().expect("valid chain");
    let mut b = Pipeline::builder("fan_out");
    for i in 0..10_000 {
        b.step(&format!("s{i}"), |_| Ok(()));
    }
    let fan = b.build().expect("valid fan-out");
    for threads in [1, 2] {
        let opts = RunOptions::new().threads(threads);
        measure(
            &format!("chain 10,000 no-op, {threads} thread(s)"),
            40,
            || {
                assert!(chain.run(&opts).is_success());
            },
        );
        measure(
            &format!("fan-out 10,000 no-op, {threads} thread(s)"),
            40,
            || {
                assert!(fan.run(&opts).is_success());
            },
        );
    }

    // Parallelism, side by side with a baseline of two bare threads doing the same work, so
    // that the cost of a loaded machine is visible apart from the runner's.
    let mut b = Pipeline::builder("busy");
    for i in 0..8 {
        b.step(&format!("busy{i}"), |_| {
            busy(Duration::from_millis(50));
            Ok(())
        });
    }
    let busy_pipeline = b.build().expect("valid pipeline");
    let two = RunOptions::new().threads(2);
    for _ in 0..2 {
        measure("8 x 50 ms busy steps, 2 threads", 5, || {
            assert!(busy_pipeline.run(&two).is_success());
        });
        measure("baseline: 2 bare threads, 4 x 50 ms busy each", 5, || {
            std::thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| (0..4).for_each(|_| busy(Duration::from_millis(50))));
                }
            });
        });
    }

    let dir = std::env::temp_dir().join(format!("mlops-pipeline-cpu-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cache = Arc::new(FileCache::open(&dir).expect("open cache").with_fsync(false));
    let mut b = Pipeline::builder("cached");
    b.step("s0", |_| Ok(0_u64)).cache("v1");
    for i in 1..1000 {
        let dep = format!("s{}", i - 1);
        let read = dep.clone();
        b.step(&format!("s{i}"), move |ctx| {
            Ok(*ctx.input::<u64>(&read)? + 1)
        })
        .after([dep])
        .cache("v1");
    }
    let cached = b.build().expect("valid pipeline");
    let opts = RunOptions::new().threads(1).cache(cache);
    measure("cached re-run 1,000 steps, file cache", 20, || {
        assert!(cached.run(&opts).is_success());
    });
    let _ = std::fs::remove_dir_all(&dir);
}
