//! Concurrent readers and writers on the online stores: a reader never sees a half-written row
//! (every value of a read comes from one version of the row), never sees an entity's version go
//! backwards, and the newest version wins once the writers are done; inserts that grow the
//! tables and evictions that free and reuse rows run at the same time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mlops_features::{
    EntityKey, FeatureGroup, FeatureRow, FeatureStatus, FeatureValue, FileOnlineStore,
    InMemoryOnlineStore, KeyType, OnlineStore, ReadRequest, Timestamp, Value, ValueType,
};

/// Entities written with ever newer versions (never evicted).
const MAIN: i64 = 1_000;
/// Entities written with old versions, evicted and re-inserted over and over.
const CHURN: i64 = 300;
/// Versions of the main entities start here; the churn entities' versions stay below `ROUNDS`.
const BASE: i64 = 10_000_000;
const ROUNDS: i64 = 150;
const BATCH: usize = 40;
const TTL_SECS: i64 = 1_000_000;

fn group() -> FeatureGroup {
    let mut b = FeatureGroup::builder("stress").entity("id", KeyType::Int64);
    for j in 0..6 {
        b = b.feature(&format!("i{j}"), ValueType::Int64);
    }
    b.feature("s", ValueType::String)
        .feature("f", ValueType::Float64)
        .ttl(Duration::from_secs(TTL_SECS as u64))
        .build()
        .unwrap()
}

/// Every value of a row is derived from its key and version, so a mix of two versions shows.
fn row(key: i64, version: i64) -> FeatureRow {
    let mut values: Vec<Value> = (0..6)
        .map(|j| Value::Int64(key * 1_000_003 + version * 7 + j))
        .collect();
    values.push(Value::String(format!("{key}/{version}")));
    #[allow(clippy::cast_precision_loss)]
    values.push(Value::Float64(version as f64 + 0.5));
    FeatureRow::new(EntityKey::from(key), Timestamp::from_secs(version), values)
}

/// Checks one read of `key`; returns its version (`None` when not found).
fn check(key: i64, slots: &[FeatureValue]) -> Option<i64> {
    let first = slots[0].status;
    assert!(
        slots.iter().all(|s| s.status == first),
        "key {key}: mixed statuses {slots:?}"
    );
    match first {
        FeatureStatus::NotFound => {
            assert!(
                slots
                    .iter()
                    .all(|s| s.event_ts.is_none() && s.value.is_null())
            );
            None
        }
        FeatureStatus::Present => {
            let event = slots[0]
                .event_ts
                .expect("a present value has an event time");
            assert!(
                slots.iter().all(|s| s.event_ts == Some(event)),
                "key {key}: {slots:?}"
            );
            let version = event.as_micros() / 1_000_000;
            assert_eq!(
                slots[..8],
                row_values(key, version)[..],
                "key {key}: torn row"
            );
            Some(version)
        }
        // An evicted churn row: its version is kept, so it reads as expired (with its event
        // time) even to these reads "in the past"; main rows are never evicted.
        FeatureStatus::OutsideMaxAge if key >= MAIN => {
            let event = slots[0].event_ts;
            assert!(
                event.is_some()
                    && slots
                        .iter()
                        .all(|s| s.event_ts == event && s.value.is_null()),
                "key {key}: {slots:?}"
            );
            None
        }
        other => panic!("key {key}: unexpected status {other}: {slots:?}"),
    }
}

fn row_values(key: i64, version: i64) -> Vec<FeatureValue> {
    let event_ts = Some(Timestamp::from_secs(version));
    row(key, version)
        .values
        .into_iter()
        .map(|value| FeatureValue {
            value,
            status: FeatureStatus::Present,
            event_ts,
        })
        .collect()
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: i64) -> i64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        #[allow(clippy::cast_possible_wrap, clippy::cast_sign_loss)]
        let r = (self.0 % n as u64) as i64;
        r
    }
}

/// Two writers (each batch also carries stale versions that must lose), an evictor, and two
/// readers checking every read; then the final state is the newest version of every entity.
fn stress(store: &Arc<dyn OnlineStore>) {
    store.apply_group(&group()).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2i64)
        .map(|w| {
            let store = Arc::clone(store);
            std::thread::spawn(move || {
                #[allow(clippy::cast_sign_loss)]
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (w as u64 + 1));
                let mut newest = vec![0i64; MAIN as usize];
                for round in 0..ROUNDS {
                    let version = BASE + 1 + round * 2 + w;
                    let mut rows = Vec::with_capacity(BATCH * 2);
                    for _ in 0..BATCH {
                        let k = rng.below(MAIN);
                        rows.push(row(k, version));
                        rows.push(row(k, version - 20)); // stale: loses to `version`
                        #[allow(clippy::cast_sign_loss)]
                        let n = &mut newest[k as usize];
                        *n = (*n).max(version);
                    }
                    // Churn entities: old versions, evicted by the evictor, re-inserted here.
                    for _ in 0..BATCH / 4 {
                        rows.push(row(MAIN + rng.below(CHURN), 1 + round));
                    }
                    let stats = store.write_batch("stress", &rows).unwrap();
                    assert!(stats.stale >= BATCH, "{stats:?}");
                }
                newest
            })
        })
        .collect();
    let evictor = {
        let (store, done) = (Arc::clone(store), Arc::clone(&done));
        std::thread::spawn(move || {
            // Churn rows (event < ROUNDS) are past the TTL at this time; main rows are not.
            let now = Timestamp::from_secs(TTL_SECS + ROUNDS + 1);
            let mut evicted = 0;
            while !done.load(Ordering::Relaxed) {
                evicted += store.evict_expired(now).unwrap();
                std::thread::yield_now();
            }
            evicted
        })
    };
    let readers: Vec<_> = (0..2u64)
        .map(|r| {
            let (store, done) = (Arc::clone(store), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut rng = Rng(0xD1B5_4A32_D192_ED03 ^ (r + 1));
                let mut seen = vec![0i64; MAIN as usize];
                let features: Vec<usize> = (0..8).collect();
                let mut out = vec![FeatureValue::default(); 8 * 4];
                let mut reads = 0u64;
                // Reads at time 0: no row is past its TTL, so every stored row is served.
                let now = Timestamp::from_secs(0);
                while !done.load(Ordering::Relaxed) || reads < 1_000 {
                    let keys: Vec<i64> = (0..4).map(|_| rng.below(MAIN + CHURN)).collect();
                    let ek: Vec<EntityKey> = keys.iter().map(|&k| EntityKey::from(k)).collect();
                    store
                        .read(&ReadRequest::new("stress", &ek, &features, now), &mut out)
                        .unwrap();
                    for (i, &k) in keys.iter().enumerate() {
                        let version = check(k, &out[i * 8..i * 8 + 8]);
                        if k < MAIN {
                            #[allow(clippy::cast_sign_loss)]
                            let last = &mut seen[k as usize];
                            let v = version.unwrap_or(0);
                            assert!(v >= *last, "key {k}: version went back from {last} to {v}");
                            *last = v;
                        }
                    }
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    let mut newest = vec![0i64; MAIN as usize];
    for w in writers {
        for (n, v) in newest.iter_mut().zip(w.join().unwrap()) {
            *n = (*n).max(v);
        }
    }
    done.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() >= 1_000);
    }
    assert!(evictor.join().unwrap() > 0, "the evictor freed churn rows");
    let features: Vec<usize> = (0..8).collect();
    let keys: Vec<EntityKey> = (0..MAIN).map(EntityKey::from).collect();
    let mut out = vec![FeatureValue::default(); keys.len() * 8];
    let now = Timestamp::from_secs(0);
    store
        .read(&ReadRequest::new("stress", &keys, &features, now), &mut out)
        .unwrap();
    for (k, &want) in (0..MAIN).zip(&newest) {
        #[allow(clippy::cast_sign_loss)]
        let slots = &out[k as usize * 8..k as usize * 8 + 8];
        let got = check(k, slots);
        assert_eq!(got, (want > 0).then_some(want), "key {k}: newest version");
    }
}

#[test]
fn memory_store_reads_are_never_torn_and_newest_wins_under_concurrency() {
    let store: Arc<dyn OnlineStore> = Arc::new(InMemoryOnlineStore::new());
    stress(&store);
}

#[test]
fn file_store_reads_are_never_torn_and_newest_wins_under_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn OnlineStore> =
        Arc::new(FileOnlineStore::open(dir.path()).unwrap().with_fsync(false));
    stress(&store);
}
