//! The online-store model test shared by every backend's test file: random operation
//! sequences against a store and a `BTreeMap` model, compared after every step.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use mlops_features::{
    EntityKey, FeatureGroup, FeatureRow, FeatureStatus, FeatureValue, KeyType, OnlineStore,
    ReadRequest, Timestamp, Value, ValueType,
};
use proptest::prelude::*;

pub const TTL: i64 = 10;
pub const KEYS: i64 = 6;

pub fn group() -> FeatureGroup {
    FeatureGroup::builder("g")
        .entity("id", KeyType::Int64)
        .feature("x", ValueType::Int64)
        .ttl(Duration::from_secs(TTL as u64))
        .build()
        .unwrap()
}

#[derive(Debug, Clone)]
pub enum Op {
    Write(Vec<(i64, i64, Option<i64>, i64)>),
    Evict(i64),
    Read(i64),
    Reopen,
}

pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec((0..KEYS, 0..20i64, prop::option::of(0..4i64), any::<i64>()), 0..8)
            .prop_map(Op::Write),
        1 => (0..40i64).prop_map(Op::Evict),
        3 => (0..40i64).prop_map(Op::Read),
        1 => Just(Op::Reopen),
    ]
}

pub fn to_row(&(k, e, c, x): &(i64, i64, Option<i64>, i64)) -> FeatureRow {
    let mut r = FeatureRow::new(k, Timestamp::from_secs(e), vec![Value::Int64(x)]);
    r.created_ts = c.map(|c| Timestamp::from_secs(e + c));
    r
}

/// Model: key -> (event, effective created, x, evicted). An evicted row keeps its version and
/// reads as expired (with its event time) from then on.
pub type Model = BTreeMap<i64, (i64, i64, i64, bool)>;

pub fn check_online(store: &dyn OnlineStore, model: &Model, now: i64) {
    let keys: Vec<EntityKey> = (0..KEYS).map(EntityKey::from).collect();
    let mut out = vec![FeatureValue::default(); keys.len()];
    store
        .read(
            &ReadRequest::new("g", &keys, &[0], Timestamp::from_secs(now)),
            &mut out,
        )
        .unwrap();
    for (k, got) in (0..KEYS).zip(&out) {
        match model.get(&k) {
            None => assert_eq!(got.status, FeatureStatus::NotFound, "key {k}"),
            Some(&(e, _, _, evicted)) if evicted || now - e > TTL => {
                assert_eq!(got.status, FeatureStatus::OutsideMaxAge, "key {k}");
                assert_eq!(got.event_ts, Some(Timestamp::from_secs(e)));
            }
            Some(&(e, _, x, _)) => {
                assert_eq!(
                    (got.status, &got.value),
                    (FeatureStatus::Present, &Value::Int64(x)),
                    "key {k}"
                );
                assert_eq!(got.event_ts, Some(Timestamp::from_secs(e)));
            }
        }
    }
    let live = model.values().filter(|v| !v.3).count();
    assert_eq!(store.entity_count("g").unwrap(), live);
}

pub fn run_online(ops: &[Op], open: &mut dyn FnMut() -> Box<dyn OnlineStore>) {
    let mut store = open();
    store.apply_group(&group()).unwrap();
    let mut model = Model::new();
    for op in ops {
        match op {
            Op::Write(rows) => {
                let batch: Vec<FeatureRow> = rows.iter().map(to_row).collect();
                store.write_batch("g", &batch).unwrap();
                for &(k, e, c, x) in rows {
                    let v = (e, e + c.unwrap_or(0), x, false);
                    let entry = model.entry(k).or_insert(v);
                    if (v.0, v.1) >= (entry.0, entry.1) {
                        *entry = v;
                    }
                }
            }
            Op::Evict(now) => {
                let mut newly = 0;
                for v in model.values_mut() {
                    if !v.3 && now - v.0 > TTL {
                        v.3 = true;
                        newly += 1;
                    }
                }
                let removed = store.evict_expired(Timestamp::from_secs(*now)).unwrap();
                assert_eq!(removed, newly);
            }
            Op::Read(now) => check_online(&*store, &model, *now),
            Op::Reopen => {
                drop(store);
                store = open();
            }
        }
        check_online(&*store, &model, 15);
    }
}
