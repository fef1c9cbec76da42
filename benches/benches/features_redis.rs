//! `mlops-features` Redis online store benchmarks, against a local `redis-server` the bench
//! starts itself (free port on 127.0.0.1, no persistence) and kills when done:
//! one entity × 8 features, 100 entities × 8 features in one pipelined read, and ingest.
//! Without `redis-server` on PATH the bench says so and measures nothing.
#![allow(missing_docs, clippy::print_stderr)]

use std::hint::black_box;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mlops_features::{
    EntityKey, FeatureGroup, FeatureRow, FeatureValue, KeyType, OnlineStore, ReadRequest,
    RedisOnlineStore, Timestamp, Value, ValueType,
};

const ENTITIES: i64 = 10_000;

struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server() -> Option<Server> {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("redis-server").is_file()));
    if !on_path {
        eprintln!("features_redis: SKIPPED, redis-server is not on PATH");
        return None;
    }
    let dir = tempfile::tempdir().ok()?;
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .ok()?
        .port();
    let mut child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(Server {
                child,
                port,
                _dir: dir,
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
    eprintln!("features_redis: SKIPPED, redis-server did not start");
    None
}

/// Eight features of the usual mix: counters, rates, a category, a small embedding.
fn group() -> FeatureGroup {
    FeatureGroup::builder("user_stats")
        .entity("user_id", KeyType::Int64)
        .feature("clicks_1h", ValueType::Int64)
        .feature("clicks_24h", ValueType::Int64)
        .feature("ctr_1h", ValueType::Float64)
        .feature("ctr_24h", ValueType::Float64)
        .feature("spend_7d", ValueType::Float64)
        .feature("active", ValueType::Bool)
        .feature("segment", ValueType::String)
        .feature("embedding", ValueType::Float32Vector)
        .ttl(Duration::from_secs(30 * 86_400))
        .build()
        .expect("group")
}

#[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
fn row(id: i64, event: Timestamp) -> FeatureRow {
    FeatureRow::new(
        id,
        event,
        vec![
            Value::Int64(id % 97),
            Value::Int64(id % 1009),
            Value::Float64(id as f64 / 1e4),
            Value::Float64(id as f64 / 2e4),
            Value::Float64(id as f64 * 0.37),
            Value::Bool(id % 2 == 0),
            Value::String(format!("segment_{}", id % 12)),
            Value::Float32Vector(vec![id as f32, 0.5, -0.25, 1.0]),
        ],
    )
}

fn redis(c: &mut Criterion) {
    let Some(server) = start_server() else {
        return;
    };
    let store =
        RedisOnlineStore::open(&format!("redis://127.0.0.1:{}/0", server.port)).expect("connect");
    let g = group();
    store.apply_group(&g).expect("apply");
    let now = Timestamp::now();
    let rows: Vec<FeatureRow> = (0..ENTITIES).map(|i| row(i, now)).collect();
    for chunk in rows.chunks(5_000) {
        store.write_batch(&g.name, chunk).expect("load");
    }
    let all: Vec<usize> = (0..8).collect();

    let mut read = c.benchmark_group("features_redis/read");
    for n in [1_usize, 100] {
        read.throughput(Throughput::Elements(n as u64));
        let mut out = vec![FeatureValue::default(); n * 8];
        let mut next: i64 = 0;
        read.bench_function(BenchmarkId::new("entities_x8", n), |b| {
            b.iter(|| {
                let keys: Vec<EntityKey> = (0..n as i64)
                    .map(|i| EntityKey::from((next + i * 7919) % ENTITIES))
                    .collect();
                next = (next + 104_729) % ENTITIES;
                store
                    .read(&ReadRequest::new(&g.name, &keys, &all, now), &mut out)
                    .expect("read");
                black_box(&out);
            });
        });
    }
    // The protocol floor: 100 HMGETs of the same shape pipelined through the `redis` crate
    // directly, replies left undecoded. Two forms: the pipeline built once outside the loop
    // (the wire alone), and built per call from fresh keys as our read does (keys encoded,
    // command assembled, one round trip).
    {
        let client =
            redis::Client::open(format!("redis://127.0.0.1:{}/0", server.port)).expect("client");
        let mut con = client.get_connection().expect("connect");
        let build = |first: i64| {
            let mut pipe = redis::pipe();
            for i in 0..100_i64 {
                let key =
                    store.entity_key(&g.name, &EntityKey::from((first + i * 7919) % ENTITIES));
                let cmd = pipe.cmd("HMGET").arg(key).arg("@v");
                for f in &g.features {
                    cmd.arg(f.name.as_str());
                }
            }
            pipe
        };
        let pipe = build(0);
        read.throughput(Throughput::Elements(100));
        read.bench_function(BenchmarkId::new("raw_redis_crate_hmget", 100), |b| {
            b.iter(|| {
                let v: Vec<redis::Value> = pipe.query(&mut con).expect("query");
                black_box(v)
            });
        });
        let mut next: i64 = 0;
        read.bench_function(
            BenchmarkId::new("raw_redis_crate_hmget_built_per_call", 100),
            |b| {
                b.iter(|| {
                    let pipe = build(next);
                    next = (next + 104_729) % ENTITIES;
                    let v: Vec<redis::Value> = pipe.query(&mut con).expect("query");
                    black_box(v)
                });
            },
        );
    }
    read.finish();

    // Per-call latency percentiles of the 1 x 8 read (criterion reports per-sample means).
    {
        let mut out = vec![FeatureValue::default(); 8];
        let mut lat: Vec<Duration> = (0..20_000_i64)
            .map(|i| {
                let keys = [EntityKey::from(i * 7919 % ENTITIES)];
                let t0 = Instant::now();
                store
                    .read(&ReadRequest::new(&g.name, &keys, &all, now), &mut out)
                    .expect("read");
                t0.elapsed()
            })
            .collect();
        lat.sort_unstable();
        let p = |q: f64| {
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            lat[((lat.len() - 1) as f64 * q) as usize]
        };
        eprintln!(
            "features_redis/read/entities_x8/1 per call over {} calls: p50 {:?}, p90 {:?}, p99 {:?}",
            lat.len(),
            p(0.5),
            p(0.9),
            p(0.99)
        );
    }

    let mut ingest = c.benchmark_group("features_redis/ingest");
    let batch = 1_000_i64;
    ingest.throughput(Throughput::Elements(batch as u64 * 8));
    let mut round: i64 = 0;
    ingest.bench_function(BenchmarkId::new("rows_x8", batch), |b| {
        b.iter_batched(
            || {
                round += 1;
                let event = Timestamp::from_micros(now.as_micros() + round);
                (0..batch)
                    .map(|i| row((round * batch + i) % (10 * ENTITIES), event))
                    .collect::<Vec<_>>()
            },
            |rows| store.write_batch(&g.name, &rows).expect("write"),
            criterion::BatchSize::LargeInput,
        );
    });
    ingest.finish();
    drop(server);
}

criterion_group!(benches, redis);
criterion_main!(benches);
