//! Peak memory of the in-memory online store holding 1M entities x 8 f64 features, measured from
//! `/proc/self/status` (VmRSS before and after, VmHWM), plus per-call latency percentiles of a
//! 1 x 8 online read (each call timed with `Instant`, so about 20-30 ns of timer overhead is
//! included). Run with `cargo run --release -p mlops-benches --bin features_memory`.
#![allow(missing_docs, clippy::print_stdout, clippy::cast_precision_loss)]

use mlops_benches::proc_stats::status_kib;
use std::hint::black_box;
use std::time::{Duration, Instant};

use mlops_features::{
    EntityKey, FeatureGroup, FeatureRow, FeatureValue, InMemoryOnlineStore, KeyType, OnlineStore,
    ReadRequest, Timestamp, Value, ValueType,
};

fn main() {
    const N: usize = 1_000_000;
    let mut b = FeatureGroup::builder("user_features").entity("user_id", KeyType::String);
    for i in 0..8 {
        b = b.feature(&format!("f{i}"), ValueType::Float64);
    }
    let group = b.ttl(Duration::from_secs(86_400)).build().unwrap();
    let store = InMemoryOnlineStore::new();
    store.apply_group(&group).unwrap();
    let before = status_kib("VmRSS:").unwrap_or(0);
    let key = |i: usize| EntityKey::from(format!("user_{i:07}"));
    for start in (0..N).step_by(10_000) {
        let rows: Vec<FeatureRow> = (start..start + 10_000)
            .map(|i| {
                FeatureRow::new(
                    key(i),
                    Timestamp::from_secs(1_700_000_000),
                    (0..8).map(|j| Value::Float64((i + j) as f64)).collect(),
                )
            })
            .collect();
        store.write_batch("user_features", &rows).unwrap();
    }
    let after = status_kib("VmRSS:").unwrap_or(0);
    let hwm = status_kib("VmHWM:").unwrap_or(0);
    println!(
        "features_memory: 1M entities x 8 f64: store RSS delta {:.1} MB (RSS before {:.1} MB, after {:.1} MB, peak {:.1} MB)",
        (after - before) as f64 / 1024.0,
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        hwm as f64 / 1024.0
    );

    // Latency percentiles of single 1 x 8 reads over the 1M-entity store.
    let features: Vec<usize> = (0..8).collect();
    let now = Timestamp::from_secs(1_700_000_100);
    let keys: Vec<[EntityKey; 1]> = (0..4096).map(|i| [key((i * 104_729) % N)]).collect();
    let mut out = vec![FeatureValue::default(); 8];
    let mut samples = Vec::with_capacity(1_000_000);
    for i in 0..1_000_000usize {
        let req = ReadRequest::new("user_features", &keys[i & 4095], &features, now);
        let t = Instant::now();
        store.read(black_box(&req), &mut out).unwrap();
        samples.push(t.elapsed().as_nanos() as u64);
    }
    samples.sort_unstable();
    let q = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize];
    println!(
        "features_memory: online read 1x8 over 1M entities, per call: p50 {} ns, p99 {} ns, p99.9 {} ns",
        q(0.50),
        q(0.99),
        q(0.999)
    );
}
