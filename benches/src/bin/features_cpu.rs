//! CPU time per operation of the `mlops-features` hot paths, read from `/proc/thread-self/stat`
//! (user + system ticks of the measuring thread). On a machine shared with other work, wall-clock
//! figures (criterion) include the time the thread waits for a core; CPU time does not. Run with
//! `cargo run --release -p mlops-benches --bin features_cpu`.
#![allow(missing_docs, clippy::print_stdout, clippy::cast_precision_loss)]

use mlops_benches::proc_stats::thread_cpu_seconds;
use std::hint::black_box;
use std::time::Instant;

use mlops_benches::features_fixture::{group, key, rows};
use mlops_features::{
    EntityFrame, EntityKey, FeatureStore, FeatureValue, FileOnlineStore, HistoricalOptions,
    InMemoryOfflineStore, InMemoryOnlineStore, OfflineStore, OnlineStore, ReadRequest, Timestamp,
};

const ENTITIES: usize = 100_000;

fn measure(name: &str, per_op: f64, mut op: impl FnMut()) {
    // Enough operations for about 2 CPU seconds at the expected cost (10 ms ticks: 0.5 %).
    let n = ((2.0 / per_op) as u64).max(1);
    let (c0, w0) = (thread_cpu_seconds().unwrap_or(0.0), Instant::now());
    for _ in 0..n {
        op();
    }
    let (cpu, wall) = (
        thread_cpu_seconds().unwrap_or(0.0) - c0,
        w0.elapsed().as_secs_f64(),
    );
    let unit = |s: f64| {
        if s < 1e-6 {
            format!("{:.0} ns", s * 1e9)
        } else if s < 1e-3 {
            format!("{:.2} µs", s * 1e6)
        } else {
            format!("{:.1} ms", s * 1e3)
        }
    };
    println!(
        "features_cpu: {name}: {} CPU per op, {} wall per op ({n} ops)",
        unit(cpu / n as f64),
        unit(wall / n as f64)
    );
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let mem = InMemoryOnlineStore::new();
    let file = FileOnlineStore::open(dir.path()).unwrap().with_fsync(false);
    for s in [&mem as &dyn OnlineStore, &file] {
        s.apply_group(&group()).unwrap();
        for start in (0..ENTITIES).step_by(10_000) {
            s.write_batch("user_features", &rows(start..start + 10_000, 1_700_000_000))
                .unwrap();
        }
    }
    let features: Vec<usize> = (0..8).collect();
    let now = Timestamp::from_secs(1_700_000_100);
    for (name, store) in [("memory", &mem as &dyn OnlineStore), ("file", &file)] {
        for n in [1usize, 100] {
            let sets: Vec<Vec<EntityKey>> = (0..4096)
                .map(|s| {
                    (0..n)
                        .map(|i| key((s * 7919 + i * 104_729) % ENTITIES))
                        .collect()
                })
                .collect();
            let mut out = vec![FeatureValue::default(); n * 8];
            let mut i = 0;
            measure(
                &format!("{name} online read {n}x8 (100k entities)"),
                1e-7 * n as f64,
                || {
                    i = (i + 1) & 4095;
                    let req = ReadRequest::new("user_features", &sets[i], &features, now);
                    store.read(black_box(&req), &mut out).unwrap();
                },
            );
        }
    }
    let mut ts = 1_700_000_000;
    let batch = rows(0..1000, 0);
    measure("memory online ingest 1000x8 values", 2e-4, || {
        ts += 1;
        let mut b = batch.clone();
        for r in &mut b {
            r.event_ts = Timestamp::from_secs(ts);
        }
        mem.write_batch("user_features", &b).unwrap();
    });

    // Point-in-time join: 100k entity rows x 1M feature rows (100k entities x 10 versions).
    let offline = InMemoryOfflineStore::new();
    let base = 1_700_000_000;
    for version in 0..10 {
        for start in (0..ENTITIES).step_by(10_000) {
            offline
                .append(
                    "user_features",
                    &rows(start..start + 10_000, base + version * 3600),
                )
                .unwrap();
        }
    }
    let store = FeatureStore::builder().offline(offline).build().unwrap();
    store.apply_group(group()).unwrap();
    let frame: EntityFrame = (0..100_000usize)
        .map(|i| {
            let ts = base - 1800 + ((i * 104_729) % (11 * 3600)) as i64;
            (key((i * 7919) % ENTITIES), Timestamp::from_secs(ts))
        })
        .collect();
    let refs: Vec<String> = (0..8).map(|i| format!("user_features:f{i}")).collect();
    measure("point-in-time join 100k x 1M x 8", 0.5, || {
        let tf = store
            .get_historical_features(&frame, &refs, &HistoricalOptions::default())
            .unwrap();
        assert_eq!(tf.len(), 100_000);
    });
}
