//! Proptest model tests: random operation sequences against each backend and a `BTreeMap`
//! model, compared at every step; the file backends are also closed and reopened. The
//! point-in-time join is compared with a brute-force model.

use mlops_features::{
    EntityFrame, FeatureRow, FeatureStore, FileOfflineStore, FileOnlineStore, HistoricalOptions,
    InMemoryOfflineStore, InMemoryOnlineStore, OfflineStore, OfflineStoreExt, ScanOptions,
    Timestamp, Value,
};
use proptest::prelude::*;

mod common;
use common::{KEYS, Op, TTL, group, op, run_online, to_row};

fn run_offline(ops: &[Op], open: &mut dyn FnMut() -> Box<dyn OfflineStore>) {
    let mut store = open();
    let mut model: Vec<FeatureRow> = Vec::new();
    for op in ops {
        match op {
            Op::Write(rows) => {
                let batch: Vec<FeatureRow> = rows.iter().map(to_row).collect();
                store.append("g", &batch).unwrap();
                model.extend(batch);
            }
            Op::Evict(_) | Op::Read(_) => {}
            Op::Reopen => {
                drop(store);
                store = open();
            }
        }
        assert_eq!(store.rows("g", &ScanOptions::default()).unwrap(), model);
    }
}

/// The brute-force point-in-time join.
fn naive_pit(rows: &[FeatureRow], frame: &EntityFrame, as_of: Option<i64>) -> Vec<Value> {
    frame
        .keys
        .iter()
        .zip(&frame.timestamps)
        .map(|(k, ts)| {
            let ts = ts.as_micros();
            rows.iter()
                .enumerate()
                .filter(|(_, r)| &r.key == k)
                .filter(|(_, r)| r.event_ts.as_micros() <= ts)
                .filter(|(_, r)| ts - r.event_ts.as_micros() <= TTL * 1_000_000)
                .filter(|(_, r)| {
                    as_of.is_none_or(|a| r.effective_created().as_micros() <= a * 1_000_000)
                })
                .max_by_key(|(i, r)| (r.event_ts, r.effective_created(), *i))
                .map_or(Value::Null, |(_, r)| r.values[0].clone())
        })
        .collect()
}

fn check_pit(offline: impl OfflineStore + Clone, frame_spec: &[(i64, i64)], as_of: Option<i64>) {
    let rows = offline.rows("g", &ScanOptions::default()).unwrap();
    let store = FeatureStore::builder().offline(offline).build().unwrap();
    store.apply_group(group()).unwrap();
    let frame: EntityFrame = frame_spec
        .iter()
        .map(|&(k, ts)| (k, Timestamp::from_secs(ts)))
        .collect();
    let opts = as_of.map_or_else(HistoricalOptions::default, |a| {
        HistoricalOptions::as_of(Timestamp::from_secs(a))
    });
    let tf = store
        .get_historical_features(&frame, &["g:x"], &opts)
        .unwrap();
    assert_eq!(tf.keys, frame.keys);
    assert_eq!(tf.columns[0].values, naive_pit(&rows, &frame, as_of));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn memory_online_matches_the_model(ops in prop::collection::vec(op(), 1..30)) {
        let store = InMemoryOnlineStore::new();
        run_online(&ops, &mut || Box::new(store.clone()));
    }

    #[test]
    fn file_online_matches_the_model_across_reopens(
        ops in prop::collection::vec(op(), 1..30),
        compact in prop::option::of(1u64..400),
    ) {
        let dir = tempfile::tempdir().unwrap();
        run_online(&ops, &mut || {
            let s = FileOnlineStore::open(dir.path()).unwrap().with_fsync(false);
            Box::new(match compact { Some(b) => s.with_compact_bytes(b), None => s })
        });
    }

    #[test]
    fn memory_offline_matches_the_model(ops in prop::collection::vec(op(), 1..20)) {
        let store = InMemoryOfflineStore::new();
        run_offline(&ops, &mut || Box::new(store.clone()));
    }

    #[test]
    fn file_offline_matches_the_model_across_reopens(
        ops in prop::collection::vec(op(), 1..20),
        segment in 64u64..2048,
    ) {
        let dir = tempfile::tempdir().unwrap();
        run_offline(&ops, &mut || {
            Box::new(FileOfflineStore::open(dir.path()).unwrap().with_fsync(false).with_segment_bytes(segment))
        });
    }

    #[test]
    fn point_in_time_join_matches_brute_force(
        batches in prop::collection::vec(
            prop::collection::vec((0..KEYS, 0..30i64, prop::option::of(0..6i64), -5..5i64), 0..10), 0..5),
        frame in prop::collection::vec((0..KEYS + 1, 0..40i64), 0..25),
        as_of in prop::option::of(0..40i64),
    ) {
        let mem = InMemoryOfflineStore::new();
        let dir = tempfile::tempdir().unwrap();
        let file = FileOfflineStore::open(dir.path()).unwrap().with_fsync(false);
        for b in &batches {
            let rows: Vec<FeatureRow> = b.iter().map(to_row).collect();
            mem.append("g", &rows).unwrap();
            file.append("g", &rows).unwrap();
        }
        check_pit(mem, &frame, as_of);
        check_pit(file, &frame, as_of);
    }
}
