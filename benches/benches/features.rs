//! `mlops-features` benchmarks: online reads (1 and 100 entities x 8 features, memory and file),
//! read scaling with threads while a writer ingests, ingest rates, and the point-in-time join
//! of 100k entity rows against 1M feature rows.
#![allow(
    missing_docs,
    clippy::cast_precision_loss,
    clippy::cast_possible_wrap,
    clippy::print_stderr
)]

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mlops_benches::features_fixture::{FEATURES, ReaderPool, group, key, rows, spawn_writer};
use mlops_features::{
    EntityFrame, EntityKey, FeatureStore, FeatureValue, FileOfflineStore, FileOnlineStore,
    HistoricalOptions, InMemoryOfflineStore, InMemoryOnlineStore, OfflineStore, OnlineResponse,
    OnlineStore, ReadRequest, Timestamp,
};

const ENTITIES: usize = 100_000;

fn fill(store: &dyn OnlineStore, n: usize) {
    store.apply_group(&group()).unwrap();
    for start in (0..n).step_by(10_000) {
        store
            .write_batch(
                "user_features",
                &rows(start..(start + 10_000).min(n), 1_700_000_000),
            )
            .unwrap();
    }
}

/// A deterministic spread of entity indexes.
fn pick(n: usize, seed: usize) -> Vec<EntityKey> {
    (0..n)
        .map(|i| key((seed * 7919 + i * 104_729) % ENTITIES))
        .collect()
}

fn online_read(c: &mut Criterion) {
    let mut g = c.benchmark_group("features/online_read");
    let dir = tempfile::tempdir().unwrap();
    let mem = InMemoryOnlineStore::new();
    fill(&mem, ENTITIES);
    let file = FileOnlineStore::open(dir.path()).unwrap().with_fsync(false);
    fill(&file, ENTITIES);
    drop(file);
    // Measured after a reopen: the state comes from the log.
    let file = FileOnlineStore::open(dir.path()).unwrap();
    let backends: [(&str, Arc<dyn OnlineStore>); 2] =
        [("memory", Arc::new(mem)), ("file", Arc::new(file))];
    let features: Vec<usize> = (0..FEATURES).collect();
    let now = Timestamp::from_secs(1_700_000_100);
    for (name, store) in &backends {
        for n in [1usize, 100] {
            let sets: Vec<Vec<EntityKey>> = (0..64).map(|s| pick(n, s)).collect();
            let mut out = vec![FeatureValue::default(); n * FEATURES];
            g.throughput(Throughput::Elements(n as u64));
            g.bench_with_input(
                BenchmarkId::new(format!("{name}/store"), format!("{n}x8")),
                &n,
                |b, _| {
                    let mut i = 0;
                    b.iter(|| {
                        i = (i + 1) & 63;
                        let req = ReadRequest::new("user_features", &sets[i], &features, now);
                        store.read(black_box(&req), &mut out).unwrap();
                    });
                },
            );
        }
    }
    // Through the facade (resolved query, reused response, system clock).
    let fs = FeatureStore::builder()
        .online(Arc::clone(&backends[0].1))
        .build()
        .unwrap();
    fs.apply_group(group()).unwrap();
    let refs: Vec<String> = (0..FEATURES)
        .map(|i| format!("user_features:f{i}"))
        .collect();
    let q = fs.online_query(&refs).unwrap();
    for n in [1usize, 100] {
        let sets: Vec<Vec<EntityKey>> = (0..64).map(|s| pick(n, s)).collect();
        let mut resp = OnlineResponse::new();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(
            BenchmarkId::new("memory/facade", format!("{n}x8")),
            &n,
            |b, _| {
                let mut i = 0;
                b.iter(|| {
                    i = (i + 1) & 63;
                    fs.read_online(&q, black_box(&sets[i]), &mut resp).unwrap();
                });
            },
        );
    }
    g.finish();
}

/// Read throughput with 1 and 2 reader threads, each doing 1 x 8 reads of keys spread over
/// 100k entities; the reported time is wall time per read across all readers (lower is more
/// throughput; the ratio of the two medians is the scaling). The readers are spawned once and
/// reused for every sample, and time is taken from a common start to the last reader's end.
/// The writer ingests 100 rows every millisecond, 800,000 values/s (`features_fixture`).
/// `features_scaling` measures the same ratio with 1 and 2 readers interleaved, which a loaded
/// machine disturbs less.
fn read_scaling(c: &mut Criterion) {
    let store = InMemoryOnlineStore::new();
    fill(&store, ENTITIES);
    for with_writer in [true, false] {
        let name = if with_writer {
            "features/read_scaling"
        } else {
            "features/read_scaling_no_writer"
        };
        let mut g = c.benchmark_group(name);
        let stop = Arc::new(AtomicBool::new(false));
        let writer = with_writer.then(|| spawn_writer(store.clone(), ENTITIES, Arc::clone(&stop)));
        let keys: Arc<Vec<EntityKey>> = Arc::new((0..1024).map(|s| pick(1, s).remove(0)).collect());
        for threads in [1usize, 2] {
            let pool = ReaderPool::new(&store, threads, &keys);
            g.throughput(Throughput::Elements(1));
            g.bench_with_input(
                BenchmarkId::new("memory_1x8_readers", threads),
                &threads,
                |b, _| b.iter_custom(|iters| pool.run(iters)),
            );
            if let Some(ns) = pool.cpu_ns_per_read() {
                eprintln!("{name}: {threads} reader(s): {ns:.0} ns reader CPU per read");
            }
        }
        g.finish();
        stop.store(true, Ordering::Relaxed);
        if let Some(w) = writer {
            let (cpu, wall) = w.join().unwrap();
            eprintln!(
                "read_scaling: the writer used {:.1}% of one core ({cpu:.2} s CPU in {wall:.1} s)",
                100.0 * cpu / wall
            );
        }
    }
}

fn ingest(c: &mut Criterion) {
    let mut g = c.benchmark_group("features/ingest");
    g.sample_size(20);
    let batch = rows(0..1000, 1_700_000_000);
    g.throughput(Throughput::Elements((batch.len() * FEATURES) as u64));
    let mem = InMemoryOnlineStore::new();
    mem.apply_group(&group()).unwrap();
    let mut ts = 1_700_000_000;
    let fresh = |ts: &mut i64| {
        *ts += 1;
        let mut b = batch.clone();
        for r in &mut b {
            r.event_ts = Timestamp::from_secs(*ts);
        }
        b
    };
    g.bench_function("memory_online/1000x8", |b| {
        b.iter_batched(
            || fresh(&mut ts),
            |b| mem.write_batch("user_features", &b).unwrap(),
            criterion::BatchSize::LargeInput,
        );
    });
    let dir = tempfile::tempdir().unwrap();
    let file = FileOnlineStore::open(dir.path().join("online")).unwrap();
    file.apply_group(&group()).unwrap();
    g.bench_function("file_online_fsync/1000x8", |b| {
        b.iter_batched(
            || fresh(&mut ts),
            |b| file.write_batch("user_features", &b).unwrap(),
            criterion::BatchSize::LargeInput,
        );
    });
    let off = FileOfflineStore::open(dir.path().join("offline")).unwrap();
    g.bench_function("file_offline_fsync/1000x8", |b| {
        b.iter(|| off.append("user_features", &batch).unwrap());
    });
    let store = FeatureStore::open(dir.path().join("store")).unwrap();
    store.apply_group(group()).unwrap();
    g.bench_function("file_store_fsync/1000x8", |b| {
        b.iter_batched(
            || fresh(&mut ts),
            |b| store.ingest("user_features", &b).unwrap(),
            criterion::BatchSize::LargeInput,
        );
    });
    g.finish();
}

fn pit_join(c: &mut Criterion) {
    let mut g = c.benchmark_group("features/pit_join");
    g.sample_size(10);
    // 1M feature rows: 100k entities x 10 versions, 8 f64 features; hourly events.
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
    // 100k entity rows at pseudo-random entities and times (some before any row, some past the
    // TTL window never: one-year TTL).
    let frame: EntityFrame = (0..100_000usize)
        .map(|i| {
            let e = (i * 7919) % ENTITIES;
            let ts = base - 1800 + ((i * 104_729) % (11 * 3600)) as i64;
            (key(e), Timestamp::from_secs(ts))
        })
        .collect();
    let refs: Vec<String> = (0..FEATURES)
        .map(|i| format!("user_features:f{i}"))
        .collect();
    g.throughput(Throughput::Elements(frame.len() as u64));
    g.bench_function("memory/100k_x_1M_x8", |b| {
        b.iter(|| {
            let tf = store
                .get_historical_features(&frame, &refs, &HistoricalOptions::default())
                .unwrap();
            assert_eq!(tf.len(), 100_000);
            tf
        });
    });
    g.finish();
}

criterion_group!(benches, online_read, read_scaling, ingest, pit_join);
criterion_main!(benches);
