//! The shared conformance suites of [`OnlineStore`] and [`OfflineStore`].
//!
//! Plain functions over `&dyn OnlineStore` / `&dyn OfflineStore` that panic on a violation, so a
//! third-party backend (enable the `conformance` feature) runs exactly the checks the built-in
//! ones run. [`online_store_conformance!`](crate::online_store_conformance) and
//! [`offline_store_conformance!`](crate::offline_store_conformance) stamp one `#[test]` per case.
//! Each case registers its own uniquely named group, so cases do not depend on each other.
#![allow(clippy::missing_panics_doc, clippy::too_many_lines)]

use std::ops::ControlFlow;
use std::time::Duration;

use crate::group::{FeatureDef, FeatureGroup, FeatureRow};
use crate::model::{EntityKey, KeyPart, KeyType, Timestamp, Value, ValueType};
use crate::offline::{OfflineStore, OfflineStoreExt, ScanOptions};
use crate::online::{FeatureStatus, FeatureValue, OnlineStore, ReadRequest};
use crate::pit::{EntityFrame, HistoricalOptions, join_group};

/// The TTL of the test groups: one hour.
pub const TTL: Duration = Duration::from_secs(3600);

/// Seconds as a timestamp.
#[must_use]
pub fn t(secs: i64) -> Timestamp {
    Timestamp::from_secs(secs)
}

/// A group named `name` with one feature of every type (`b`, `i`, `f`, `f32`, `s`, `ts`, `by`,
/// `v`), a string entity key `user_id` and a one-hour TTL.
#[must_use]
pub fn all_types_group(name: &str) -> FeatureGroup {
    FeatureGroup::builder(name)
        .entity("user_id", KeyType::String)
        .feature("b", ValueType::Bool)
        .feature("i", ValueType::Int64)
        .feature("f", ValueType::Float64)
        .feature("f32", ValueType::Float32)
        .feature("s", ValueType::String)
        .feature("ts", ValueType::Timestamp)
        .feature("by", ValueType::Bytes)
        .feature("v", ValueType::Float32Vector)
        .ttl(TTL)
        .build()
        .expect("valid group")
}

/// A group named `name` with one `Int64` feature `x`, a string key and the given TTL.
#[must_use]
pub fn small_group(name: &str, ttl: Option<Duration>) -> FeatureGroup {
    let b = FeatureGroup::builder(name)
        .entity("user_id", KeyType::String)
        .feature("x", ValueType::Int64);
    match ttl {
        Some(d) => b.ttl(d).build(),
        None => b.build(),
    }
    .expect("valid group")
}

/// One row of every type, seeded by `n`.
#[must_use]
pub fn all_types_values(n: i64) -> Vec<Value> {
    vec![
        Value::Bool(n % 2 == 0),
        Value::Int64(n),
        Value::Float64(n as f64 + 0.5),
        Value::Float32(n as f32 - 0.25),
        Value::String(format!("s{n}")),
        Value::Timestamp(t(n)),
        Value::Bytes(vec![n as u8, 0, 255]),
        Value::Float32Vector(vec![n as f32, 1.5]),
    ]
}

fn x_row(key: &str, event: i64, created: Option<i64>, x: i64) -> FeatureRow {
    let mut r = FeatureRow::new(key, t(event), vec![Value::Int64(x)]);
    r.created_ts = created.map(t);
    r
}

/// Read `features` of `keys` at `now`.
pub fn read(
    store: &dyn OnlineStore,
    group: &str,
    keys: &[EntityKey],
    features: &[usize],
    now: Timestamp,
) -> Vec<FeatureValue> {
    let mut out = vec![FeatureValue::default(); keys.len() * features.len()];
    store
        .read(&ReadRequest::new(group, keys, features, now), &mut out)
        .expect("read");
    out
}

fn read_x(store: &dyn OnlineStore, group: &str, key: &str, now: i64) -> FeatureValue {
    read(store, group, &[EntityKey::from(key)], &[0], t(now)).remove(0)
}

/// Every type round-trips; statuses and event times are reported.
pub fn online_round_trip_all_types(store: &dyn OnlineStore) {
    let g = all_types_group("conf_types");
    store.apply_group(&g).unwrap();
    let rows: Vec<FeatureRow> = (0..10)
        .map(|n| FeatureRow::new(format!("u{n}"), t(100 + n), all_types_values(n)))
        .collect();
    let stats = store.write_batch(&g.name, &rows).unwrap();
    assert_eq!((stats.written, stats.stale), (10, 0));
    assert_eq!(store.entity_count(&g.name).unwrap(), 10);
    let all: Vec<usize> = (0..8).collect();
    for n in 0..10 {
        let out = read(
            store,
            &g.name,
            &[EntityKey::from(format!("u{n}"))],
            &all,
            t(200),
        );
        for (v, want) in out.iter().zip(all_types_values(n)) {
            assert_eq!(v.status, FeatureStatus::Present);
            assert_eq!(v.value, want);
            assert_eq!(v.event_ts, Some(t(100 + n)));
        }
    }
    // A subset, in a different order.
    let out = read(store, &g.name, &[EntityKey::from("u3")], &[4, 1], t(200));
    assert_eq!(out[0].value, Value::String("s3".into()));
    assert_eq!(out[1].value, Value::Int64(3));
    let groups = store.groups().unwrap();
    assert!(
        groups
            .iter()
            .any(|x| x.name == g.name && x.features == g.features)
    );
}

/// Unknown entities are `NotFound`; null values are `Null`; unknown groups are errors.
pub fn online_not_found_and_null(store: &dyn OnlineStore) {
    let g = all_types_group("conf_missing");
    store.apply_group(&g).unwrap();
    let mut values = all_types_values(1);
    values[2] = Value::Null;
    values[4] = Value::Null;
    store
        .write_batch(&g.name, &[FeatureRow::new("u1", t(10), values)])
        .unwrap();
    let out = read(
        store,
        &g.name,
        &[EntityKey::from("u1"), EntityKey::from("nobody")],
        &[1, 2, 4],
        t(20),
    );
    assert_eq!(out[0].status, FeatureStatus::Present);
    assert_eq!(
        (out[1].status, &out[1].value),
        (FeatureStatus::Null, &Value::Null)
    );
    assert_eq!(out[2].status, FeatureStatus::Null);
    assert_eq!(out[1].event_ts, Some(t(10)));
    for v in &out[3..] {
        assert_eq!(
            (v.status, &v.value, v.event_ts),
            (FeatureStatus::NotFound, &Value::Null, None)
        );
    }
    let mut buf = vec![FeatureValue::default(); 1];
    let err = store
        .read(
            &ReadRequest::new("conf_no_such_group", &[EntityKey::from("u1")], &[0], t(1)),
            &mut buf,
        )
        .unwrap_err();
    assert!(err.to_string().contains("conf_no_such_group"), "{err}");
    assert!(store.write_batch("conf_no_such_group", &[]).is_err());
    // Too small an output buffer is an error, not a panic.
    let mut empty: Vec<FeatureValue> = Vec::new();
    assert!(
        store
            .read(
                &ReadRequest::new(&g.name, &[EntityKey::from("u1")], &[0], t(1)),
                &mut empty
            )
            .is_err()
    );
}

/// An older event never replaces a newer one, across batches.
pub fn online_newest_event_wins(store: &dyn OnlineStore) {
    let g = small_group("conf_newest", None);
    store.apply_group(&g).unwrap();
    store
        .write_batch(&g.name, &[x_row("u", 200, None, 2)])
        .unwrap();
    let stats = store
        .write_batch(&g.name, &[x_row("u", 100, None, 1)])
        .unwrap();
    assert_eq!((stats.written, stats.stale), (0, 1));
    let v = read_x(store, &g.name, "u", 300);
    assert_eq!((v.value, v.event_ts), (Value::Int64(2), Some(t(200))));
    store
        .write_batch(&g.name, &[x_row("u", 300, None, 3)])
        .unwrap();
    assert_eq!(read_x(store, &g.name, "u", 300).value, Value::Int64(3));
}

/// Within one batch, in any order, the newest event wins.
pub fn online_newest_wins_within_a_batch(store: &dyn OnlineStore) {
    let g = small_group("conf_batch_order", None);
    store.apply_group(&g).unwrap();
    let versions = [(100, 1), (300, 3), (200, 2)];
    // All 6 orders, each for its own entity.
    let orders = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    let mut rows = Vec::new();
    for (e, order) in orders.iter().enumerate() {
        for &i in order {
            let (ts, x) = versions[i];
            rows.push(x_row(&format!("e{e}"), ts, None, x));
        }
    }
    store.write_batch(&g.name, &rows).unwrap();
    for (e, order) in orders.iter().enumerate() {
        let v = read_x(store, &g.name, &format!("e{e}"), 400);
        assert_eq!(v.value, Value::Int64(3), "order {order:?}");
        assert_eq!(v.event_ts, Some(t(300)));
    }
}

/// Equal event times: the larger created time wins, then the later arrival.
pub fn online_ties_by_created_then_arrival(store: &dyn OnlineStore) {
    let g = small_group("conf_ties", None);
    store.apply_group(&g).unwrap();
    store
        .write_batch(
            &g.name,
            &[
                x_row("a", 100, Some(105), 2),
                x_row("a", 100, Some(101), 1),
                x_row("b", 100, Some(101), 1),
                x_row("b", 100, Some(101), 2),
            ],
        )
        .unwrap();
    assert_eq!(read_x(store, &g.name, "a", 200).value, Value::Int64(2));
    assert_eq!(read_x(store, &g.name, "b", 200).value, Value::Int64(2));
    // Across batches too; no created time counts as the event time.
    store
        .write_batch(&g.name, &[x_row("b", 100, Some(101), 3)])
        .unwrap();
    assert_eq!(read_x(store, &g.name, "b", 200).value, Value::Int64(3));
    store
        .write_batch(&g.name, &[x_row("b", 100, None, 4)])
        .unwrap();
    assert_eq!(read_x(store, &g.name, "b", 200).value, Value::Int64(3));
}

/// TTL is applied on reads: an old value is `OutsideMaxAge` and not returned; eviction frees it.
pub fn online_ttl_and_eviction(store: &dyn OnlineStore) {
    let g = small_group("conf_ttl", Some(TTL));
    store.apply_group(&g).unwrap();
    let ttl = 3600;
    store
        .write_batch(
            &g.name,
            &[x_row("old", 0, None, 1), x_row("new", 10_000, None, 2)],
        )
        .unwrap();
    // Exactly at the TTL the value is still valid; one second later it is not.
    assert_eq!(
        read_x(store, &g.name, "old", ttl).status,
        FeatureStatus::Present
    );
    let v = read_x(store, &g.name, "old", ttl + 1);
    assert_eq!(
        (v.status, &v.value),
        (FeatureStatus::OutsideMaxAge, &Value::Null)
    );
    assert_eq!(v.event_ts, Some(t(0)));
    // Two years later: still never "present".
    let v = read_x(store, &g.name, "old", 2 * 365 * 86_400);
    assert_eq!(v.status, FeatureStatus::OutsideMaxAge);
    assert_eq!(read_x(store, &g.name, "new", 10_001).value, Value::Int64(2));
    assert_eq!(store.evict_expired(t(10_000)).unwrap(), 1);
    assert_eq!(store.entity_count(&g.name).unwrap(), 1);
    assert_eq!(
        read_x(store, &g.name, "old", 10_000).status,
        FeatureStatus::NotFound
    );
    assert_eq!(read_x(store, &g.name, "new", 10_000).value, Value::Int64(2));
    // A freed slot is reused by the next entity.
    store
        .write_batch(&g.name, &[x_row("newer", 10_500, None, 3)])
        .unwrap();
    assert_eq!(
        read_x(store, &g.name, "newer", 10_500).value,
        Value::Int64(3)
    );
    assert_eq!(store.entity_count(&g.name).unwrap(), 2);
    // No TTL: never expires.
    let forever = small_group("conf_ttl_none", None);
    store.apply_group(&forever).unwrap();
    store
        .write_batch(&forever.name, &[x_row("u", 0, None, 1)])
        .unwrap();
    assert_eq!(
        read_x(store, &forever.name, "u", i64::MAX / 2_000_000).status,
        FeatureStatus::Present
    );
}

/// A bad row rejects the whole batch, naming the row and field, and nothing is written.
pub fn online_bad_batch_rejected_whole(store: &dyn OnlineStore) {
    let g = small_group("conf_bad", None);
    store.apply_group(&g).unwrap();
    let rows = vec![
        x_row("a", 1, None, 1),
        FeatureRow::new("b", t(1), vec![Value::String("nope".into())]),
        x_row("c", 1, None, 3),
    ];
    let err = store.write_batch(&g.name, &rows).unwrap_err();
    match &err {
        crate::FeatureError::InvalidRow { row, field, .. } => {
            assert_eq!((*row, field.as_str()), (1, "x"), "{err}");
        }
        other => panic!("expected InvalidRow, got {other}"),
    }
    let wrong_key = FeatureRow::new(7_i64, t(1), vec![Value::Int64(1)]);
    let err = store.write_batch(&g.name, &[wrong_key]).unwrap_err();
    assert!(err.to_string().contains("user_id"), "{err}");
    let short = FeatureRow::new("d", t(1), vec![]);
    assert!(store.write_batch(&g.name, &[short]).is_err());
    assert_eq!(store.entity_count(&g.name).unwrap(), 0);
    assert_eq!(
        read_x(store, &g.name, "a", 2).status,
        FeatureStatus::NotFound
    );
}

/// Adding features keeps the stored rows (new features read null); changing a type is refused.
pub fn online_schema_evolution(store: &dyn OnlineStore) {
    let g = small_group("conf_evolve", None);
    store.apply_group(&g).unwrap();
    store
        .write_batch(&g.name, &[x_row("u", 1, None, 7)])
        .unwrap();
    let mut g2 = g.clone();
    g2.features.push(FeatureDef::new("name", ValueType::String));
    g2.features.push(FeatureDef::new("y", ValueType::Float64));
    store.apply_group(&g2).unwrap();
    let out = read(store, &g.name, &[EntityKey::from("u")], &[0, 1, 2], t(2));
    assert_eq!(out[0].value, Value::Int64(7));
    assert_eq!(
        (out[1].status, out[2].status),
        (FeatureStatus::Null, FeatureStatus::Null)
    );
    store
        .write_batch(
            &g.name,
            &[FeatureRow::new(
                "v",
                t(1),
                vec![Value::Int64(1), Value::from("n"), Value::Float64(2.0)],
            )],
        )
        .unwrap();
    assert_eq!(
        read(store, &g.name, &[EntityKey::from("v")], &[1], t(2))[0].value,
        Value::from("n")
    );
    let mut g3 = g2.clone();
    g3.features[0].dtype = ValueType::Float64;
    let err = store.apply_group(&g3).unwrap_err();
    assert!(err.to_string().contains("\"x\""), "{err}");
    // Old-width rows are rejected after evolution.
    assert!(
        store
            .write_batch(&g.name, &[x_row("w", 1, None, 1)])
            .is_err()
    );
    // Applying the same definition again changes nothing.
    store.apply_group(&g2).unwrap();
    assert_eq!(
        read(store, &g.name, &[EntityKey::from("u")], &[0], t(2))[0].value,
        Value::Int64(7)
    );
}

/// Compound keys; batch reads keep request order and duplicates; strided output.
pub fn online_compound_keys_and_batches(store: &dyn OnlineStore) {
    let g = FeatureGroup::builder("conf_compound")
        .entity("user_id", KeyType::String)
        .entity("merchant_id", KeyType::Int64)
        .feature("x", ValueType::Int64)
        .feature("y", ValueType::Float64)
        .build()
        .unwrap();
    store.apply_group(&g).unwrap();
    let key = |u: &str, m: i64| EntityKey::new(&[KeyPart::String(u), KeyPart::Int64(m)]);
    #[allow(clippy::cast_precision_loss)]
    let rows: Vec<FeatureRow> = (0..200)
        .map(|i| FeatureRow {
            key: key(&format!("u{}", i % 20), i / 20),
            event_ts: t(i),
            created_ts: None,
            values: vec![Value::Int64(i), Value::Float64(i as f64)],
        })
        .collect();
    store.write_batch(&g.name, &rows).unwrap();
    assert_eq!(store.entity_count(&g.name).unwrap(), 200);
    let keys = vec![key("u3", 0), key("u3", 1), key("nobody", 0), key("u3", 0)];
    // Stride 3, offset 1: slot 0 of each entity is left alone.
    let mut out = vec![FeatureValue::default(); 12];
    out[0].value = Value::from("untouched");
    store
        .read(
            &ReadRequest {
                group: &g.name,
                keys: &keys,
                features: &[1, 0],
                now: t(1000),
                stride: 3,
                offset: 1,
            },
            &mut out,
        )
        .unwrap();
    assert_eq!(out[0].value, Value::from("untouched"));
    assert_eq!(
        (&out[1].value, &out[2].value),
        (&Value::Float64(3.0), &Value::Int64(3))
    );
    assert_eq!(out[5].value, Value::Int64(23));
    assert_eq!(out[7].status, FeatureStatus::NotFound);
    assert_eq!(out[11].value, Value::Int64(3));
    // A key of the wrong shape is rejected on write.
    assert!(
        store
            .write_batch(&g.name, &[x_row("u", 1, None, 1)])
            .is_err()
    );
    // Long keys (stored out of line) behave the same, next to short ones with equal prefixes.
    let long = "a-rather-long-user-identifier-of-64-bytes".repeat(2);
    let long_rows: Vec<FeatureRow> = [&long[..], &long[..70], "a"]
        .iter()
        .zip(0..)
        .map(|(u, i)| FeatureRow {
            key: key(u, 1),
            event_ts: t(1),
            created_ts: None,
            values: vec![Value::Int64(1000 + i), Value::Null],
        })
        .collect();
    store.write_batch(&g.name, &long_rows).unwrap();
    let newer = FeatureRow {
        key: key(&long, 1),
        event_ts: t(2),
        created_ts: None,
        values: vec![Value::Int64(2000), Value::Null],
    };
    store.write_batch(&g.name, &[newer]).unwrap();
    let keys = [
        key(&long, 1),
        key(&long[..70], 1),
        key("a", 1),
        key(&long, 2),
    ];
    let out = read(store, &g.name, &keys, &[0], t(10));
    let got: Vec<&Value> = out.iter().map(|v| &v.value).collect();
    assert_eq!(
        got,
        [
            &Value::Int64(2000),
            &Value::Int64(1001),
            &Value::Int64(1002),
            &Value::Null
        ]
    );
    assert_eq!(store.entity_count(&g.name).unwrap(), 203);
}

/// The latest values, ties, evictions and evolutions survive close and reopen.
pub fn online_survives_reopen(open: &mut dyn FnMut() -> Box<dyn OnlineStore>) {
    let g = small_group("conf_reopen", Some(TTL));
    let g_types = all_types_group("conf_reopen_types");
    {
        let store = open();
        store.apply_group(&g).unwrap();
        store.apply_group(&g_types).unwrap();
        store
            .write_batch(
                &g.name,
                &[
                    x_row("a", 100, None, 1),
                    x_row("a", 200, None, 2),
                    x_row("a", 150, None, 99),
                    x_row("b", 100, Some(101), 5),
                    x_row("b", 100, Some(101), 6),
                    x_row("gone", 0, None, 0),
                ],
            )
            .unwrap();
        store
            .write_batch(
                &g_types.name,
                &[FeatureRow::new("u", t(3000), all_types_values(3))],
            )
            .unwrap();
        assert_eq!(store.evict_expired(t(3601 + 50)).unwrap(), 1);
        let mut g2 = g.clone();
        g2.features.push(FeatureDef::new("note", ValueType::String));
        store.apply_group(&g2).unwrap();
    }
    let store = open();
    let groups = store.groups().unwrap();
    let g2 = groups
        .iter()
        .find(|x| x.name == g.name)
        .expect("group kept");
    assert_eq!(g2.features.len(), 2);
    assert_eq!(read_x(&*store, &g.name, "a", 300).value, Value::Int64(2));
    assert_eq!(read_x(&*store, &g.name, "b", 300).value, Value::Int64(6));
    assert_eq!(
        read_x(&*store, &g.name, "gone", 300).status,
        FeatureStatus::NotFound
    );
    assert_eq!(store.entity_count(&g.name).unwrap(), 2);
    let all: Vec<usize> = (0..8).collect();
    let out = read(
        &*store,
        &g_types.name,
        &[EntityKey::from("u")],
        &all,
        t(3001),
    );
    for (v, want) in out.iter().zip(all_types_values(3)) {
        assert_eq!(v.value, want);
    }
    // Writes after a reopen go on from the recovered state.
    store
        .write_batch(
            &g.name,
            &[FeatureRow::new(
                "a",
                t(150),
                vec![Value::Int64(0), Value::Null],
            )],
        )
        .unwrap();
    assert_eq!(read_x(&*store, &g.name, "a", 300).value, Value::Int64(2));
    drop(store);
    let store = open();
    assert_eq!(read_x(&*store, &g.name, "a", 300).value, Value::Int64(2));
}

/// Stamp one `#[test]` per online conformance case. `$make` is an expression returning
/// `(guard, store)`; the guard (e.g. a temp dir) lives as long as the test.
#[macro_export]
macro_rules! online_store_conformance {
    ($make:expr) => {
        $crate::online_store_conformance!(@cases $make;
            online_round_trip_all_types, online_not_found_and_null, online_newest_event_wins,
            online_newest_wins_within_a_batch, online_ties_by_created_then_arrival,
            online_ttl_and_eviction, online_bad_batch_rejected_whole, online_schema_evolution,
            online_compound_keys_and_batches);
    };
    (@cases $make:expr; $($case:ident),*) => {$(
        #[test]
        fn $case() {
            let (_guard, store) = $make;
            $crate::conformance::$case(&store);
        }
    )*};
}

/// Rows come back in arrival order, all types intact, filtered by the event-time window.
pub fn offline_append_and_scan(store: &dyn OfflineStore) {
    let g = "conf_off_scan";
    let rows: Vec<FeatureRow> = (0..20)
        .map(|n| FeatureRow::new(format!("u{}", n % 3), t(20 - n), all_types_values(n)))
        .collect();
    store.append(g, &rows[..10]).unwrap();
    store.append(g, &rows[10..]).unwrap();
    store.append(g, &[]).unwrap();
    assert_eq!(store.rows(g, &ScanOptions::default()).unwrap(), rows);
    let window = ScanOptions::window(Some(t(5)), Some(t(10)));
    let got = store.rows(g, &window).unwrap();
    let want: Vec<FeatureRow> = rows
        .iter()
        .filter(|r| window.contains(r.event_ts))
        .cloned()
        .collect();
    assert_eq!(got.len(), 5);
    assert_eq!(got, want);
    let mut seen = 0;
    store
        .scan(g, &ScanOptions::default(), &mut |_| {
            seen += 1;
            if seen == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert_eq!(seen, 3);
    assert!(store.groups().unwrap().iter().any(|x| x == g));
    assert!(
        store
            .rows("conf_off_never_written", &ScanOptions::default())
            .unwrap()
            .is_empty()
    );
    assert!(store.append("../escape", &rows).is_err());
    assert!(
        store.rows("../escape", &ScanOptions::default()).is_err()
            || store
                .rows("../escape", &ScanOptions::default())
                .unwrap()
                .is_empty()
    );
    // NaN survives bit-exactly.
    let nan = FeatureRow::new("n", t(1), vec![Value::Float64(f64::NAN)]);
    store.append("conf_off_nan", &[nan]).unwrap();
    let back = store.rows("conf_off_nan", &ScanOptions::default()).unwrap();
    assert!(matches!(back[0].values[0], Value::Float64(x) if x.is_nan()));
}

fn pit(
    store: &dyn OfflineStore,
    g: &FeatureGroup,
    frame: &EntityFrame,
    opts: &HistoricalOptions,
) -> Vec<Value> {
    let mut cols = vec![vec![Value::Null; frame.len()]];
    join_group(store, g, &[0], frame, opts, &mut cols).unwrap();
    cols.remove(0)
}

/// The point-in-time join over this store: newest row at or before each entity row, ties by
/// created time then arrival, TTL window, every row kept in order (duplicates too), as-of cut.
pub fn offline_point_in_time_join(store: &dyn OfflineStore) {
    let g = small_group("conf_off_pit", Some(Duration::from_secs(100)));
    store
        .append(
            &g.name,
            &[
                x_row("a", 100, None, 1),
                x_row("a", 200, Some(205), 2),
                x_row("a", 200, Some(201), 20),
                x_row("b", 100, Some(100), 5),
            ],
        )
        .unwrap();
    // A late-arriving row: event 150, known only at 1000.
    store
        .append(
            &g.name,
            &[
                x_row("a", 150, Some(1000), 15),
                x_row("b", 100, Some(100), 6),
            ],
        )
        .unwrap();
    let frame: EntityFrame = [
        ("a", 99),   // before any row: null
        ("a", 100),  // exactly at the event: 1
        ("a", 160),  // late row 150 counts (no as-of)
        ("a", 250),  // 200 with the larger created time
        ("a", 301),  // 200 is 101 s old: outside TTL -> null, row kept
        ("zz", 150), // unknown entity: null, row kept
        ("b", 150),  // tie on (event, created): later arrival
        ("a", 160),  // duplicate entity row kept
    ]
    .into_iter()
    .map(|(k, s)| (k, t(s)))
    .collect();
    let got = pit(store, &g, &frame, &HistoricalOptions::default());
    let i = Value::Int64;
    assert_eq!(
        got,
        vec![
            Value::Null,
            i(1),
            i(15),
            i(2),
            Value::Null,
            Value::Null,
            i(6),
            i(15)
        ]
    );
    // As of time 500, the late row was not known yet.
    let got = pit(store, &g, &frame, &HistoricalOptions::as_of(t(500)));
    assert_eq!(got[2], i(1));
    assert_eq!(got[3], i(2));
    // As of 202 only the created-201 version of event 200 was known.
    let got = pit(store, &g, &frame, &HistoricalOptions::as_of(t(202)));
    assert_eq!(got[3], i(20));
}

/// Rows survive close and reopen, appends continue after it.
pub fn offline_survives_reopen(open: &mut dyn FnMut() -> Box<dyn OfflineStore>) {
    let g = "conf_off_reopen";
    let rows: Vec<FeatureRow> = (0..10)
        .map(|n| FeatureRow::new("u", t(n), all_types_values(n)))
        .collect();
    {
        let store = open();
        store.append(g, &rows[..5]).unwrap();
    }
    {
        let store = open();
        assert_eq!(store.rows(g, &ScanOptions::default()).unwrap(), rows[..5]);
        store.append(g, &rows[5..]).unwrap();
    }
    let store = open();
    assert_eq!(store.rows(g, &ScanOptions::default()).unwrap(), rows);
}

/// Stamp one `#[test]` per offline conformance case (see
/// [`online_store_conformance!`](crate::online_store_conformance)).
#[macro_export]
macro_rules! offline_store_conformance {
    ($make:expr) => {
        $crate::offline_store_conformance!(@cases $make;
            offline_append_and_scan, offline_point_in_time_join);
    };
    (@cases $make:expr; $($case:ident),*) => {$(
        #[test]
        fn $case() {
            let (_guard, store) = $make;
            $crate::conformance::$case(&store);
        }
    )*};
}
