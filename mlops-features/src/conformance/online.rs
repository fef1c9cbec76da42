//! The cases of the [`OnlineStore`] conformance suite (see the [module docs](super)).

use std::time::Duration;

use super::{
    Capabilities, Subject, TTL, all_types_group, all_types_values, read, read_x, small_group, t,
    x_row,
};
use crate::group::{FeatureDef, FeatureGroup, FeatureRow};
use crate::model::{EntityKey, KeyPart, KeyType, Value, ValueType};
use crate::online::{FeatureStatus, FeatureValue, OnlineStore, ReadRequest};

/// A case of the online suite.
pub type Case = fn(&Subject<dyn OnlineStore>, &Capabilities);

/// Every case of the online suite, by name.
pub const CASES: &[(&str, Case)] = &[
    ("online_round_trip_all_types", online_round_trip_all_types),
    ("online_not_found_and_null", online_not_found_and_null),
    ("online_newest_event_wins", online_newest_event_wins),
    (
        "online_newest_wins_within_a_batch",
        online_newest_wins_within_a_batch,
    ),
    (
        "online_ties_by_created_then_arrival",
        online_ties_by_created_then_arrival,
    ),
    ("online_ttl_and_eviction", online_ttl_and_eviction),
    (
        "online_expired_at_write_not_stored",
        online_expired_at_write_not_stored,
    ),
    ("online_zero_ttl_refused", online_zero_ttl_refused),
    (
        "online_wrong_key_type_is_an_error",
        online_wrong_key_type_is_an_error,
    ),
    (
        "online_bad_batch_rejected_whole",
        online_bad_batch_rejected_whole,
    ),
    ("online_schema_evolution", online_schema_evolution),
    (
        "online_compound_keys_and_batches",
        online_compound_keys_and_batches,
    ),
    ("online_survives_reopen", online_survives_reopen),
];

/// Run one case on a fresh subject from `factory` (what each stamped test does).
pub fn run(factory: impl Fn() -> Subject<dyn OnlineStore>, case: Case, caps: &Capabilities) {
    let subject = factory();
    case(&subject, caps);
}

/// Every type round-trips; statuses and event times are reported.
pub fn online_round_trip_all_types(subject: &Subject<dyn OnlineStore>, caps: &Capabilities) {
    let _ = caps;
    let store = &*subject.store;
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
pub fn online_not_found_and_null(subject: &Subject<dyn OnlineStore>, caps: &Capabilities) {
    let _ = caps;
    let store = &*subject.store;
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
pub fn online_newest_event_wins(subject: &Subject<dyn OnlineStore>, caps: &Capabilities) {
    let _ = caps;
    let store = &*subject.store;
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
pub fn online_newest_wins_within_a_batch(subject: &Subject<dyn OnlineStore>, caps: &Capabilities) {
    let _ = caps;
    let store = &*subject.store;
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
pub fn online_ties_by_created_then_arrival(
    subject: &Subject<dyn OnlineStore>,
    caps: &Capabilities,
) {
    let _ = caps;
    let store = &*subject.store;
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
pub fn online_ttl_and_eviction(subject: &Subject<dyn OnlineStore>, caps: &Capabilities) {
    let _ = caps;
    let store = &*subject.store;
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
    let before = read_x(store, &g.name, "old", 10_000);
    let evicted = store.evict_expired(t(10_000)).unwrap();
    if caps.eviction {
        assert_eq!(evicted, 1);
        assert_eq!(store.entity_count(&g.name).unwrap(), 1);
        // Evicting again finds nothing new.
        assert_eq!(store.evict_expired(t(10_000)).unwrap(), 0);
    }
    // Eviction is an optimisation, never a change of answer: the evicted row still reads
    // `OutsideMaxAge` with its event time.
    let after = read_x(store, &g.name, "old", 10_000);
    assert_eq!(after, before);
    assert_eq!(
        (after.status, after.event_ts),
        (FeatureStatus::OutsideMaxAge, Some(t(0)))
    );
    assert_eq!(read_x(store, &g.name, "new", 10_000).value, Value::Int64(2));
    // An older row arriving after the eviction does not take the evicted row's place.
    let stats = store
        .write_batch(&g.name, &[x_row("old", -5, None, 9)])
        .unwrap();
    assert_eq!((stats.written, stats.stale), (0, 1));
    assert_eq!(read_x(store, &g.name, "old", 10_000), before);
    // A newer row for the evicted entity is served again.
    store
        .write_batch(&g.name, &[x_row("old", 10_500, None, 3)])
        .unwrap();
    assert_eq!(read_x(store, &g.name, "old", 10_500).value, Value::Int64(3));
    store
        .write_batch(&g.name, &[x_row("newer", 10_500, None, 3)])
        .unwrap();
    assert_eq!(
        read_x(store, &g.name, "newer", 10_500).value,
        Value::Int64(3)
    );
    if caps.eviction {
        assert_eq!(store.entity_count(&g.name).unwrap(), 3);
    }
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

/// A row already past its TTL at the write's time is not stored and is counted as expired,
/// not as written.
pub fn online_expired_at_write_not_stored(subject: &Subject<dyn OnlineStore>, caps: &Capabilities) {
    let _ = caps;
    let store = &*subject.store;
    let g = small_group("conf_expired_write", Some(TTL));
    store.apply_group(&g).unwrap();
    let now = t(10_000);
    let stats = store
        .write_batch_at(
            &g.name,
            &[
                x_row("fresh", 9_000, None, 1),
                x_row("stale", 10_000 - 3601, None, 2),
                x_row("edge", 10_000 - 3600, None, 3),
            ],
            now,
        )
        .unwrap();
    assert_eq!(
        (stats.written, stats.stale, stats.expired),
        (2, 0, 1),
        "{stats:?}"
    );
    assert_eq!(store.entity_count(&g.name).unwrap(), 2);
    assert_eq!(
        read_x(store, &g.name, "stale", 10_000).status,
        FeatureStatus::NotFound
    );
    assert_eq!(
        read_x(store, &g.name, "edge", 10_000).value,
        Value::Int64(3)
    );
    // Without a TTL nothing is ever expired at write.
    let forever = small_group("conf_expired_write_none", None);
    store.apply_group(&forever).unwrap();
    let stats = store
        .write_batch_at(&forever.name, &[x_row("u", 0, None, 1)], now)
        .unwrap();
    assert_eq!((stats.written, stats.expired), (1, 0));
}

/// "No TTL" is `None` (never expires); a zero TTL is refused as ambiguous.
pub fn online_zero_ttl_refused(subject: &Subject<dyn OnlineStore>, caps: &Capabilities) {
    let _ = caps;
    let store = &*subject.store;
    let mut g = small_group("conf_zero_ttl", None);
    g.ttl = Some(Duration::ZERO);
    let err = store.apply_group(&g).unwrap_err();
    assert!(
        matches!(err, crate::FeatureError::InvalidArgument { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("conf_zero_ttl"), "{err}");
    assert!(store.groups().unwrap().iter().all(|x| x.name != g.name));
    // Evolving a group to a zero TTL is refused too.
    let ok = small_group("conf_zero_ttl_evolve", Some(TTL));
    store.apply_group(&ok).unwrap();
    let mut zero = ok.clone();
    zero.ttl = Some(Duration::ZERO);
    assert!(store.apply_group(&zero).is_err());
    assert_eq!(
        store
            .groups()
            .unwrap()
            .iter()
            .find(|x| x.name == ok.name)
            .and_then(|x| x.ttl),
        Some(TTL)
    );
}

/// A key of the wrong type (a string for an `Int64` key column, or the reverse) is a
/// `KeyTypeMismatch` naming the group, the column and both types, never `NotFound`.
pub fn online_wrong_key_type_is_an_error(subject: &Subject<dyn OnlineStore>, caps: &Capabilities) {
    let _ = caps;
    let store = &*subject.store;
    let ints = FeatureGroup::builder("conf_int_keys")
        .entity("account_id", KeyType::Int64)
        .feature("x", ValueType::Int64)
        .build()
        .unwrap();
    store.apply_group(&ints).unwrap();
    store
        .write_batch(
            &ints.name,
            &[FeatureRow::new(7_i64, t(1), vec![Value::Int64(1)])],
        )
        .unwrap();
    let strs = small_group("conf_str_keys", None);
    store.apply_group(&strs).unwrap();
    store
        .write_batch(&strs.name, &[x_row("7", 1, None, 2)])
        .unwrap();
    let cases = [
        (
            &ints.name,
            "account_id",
            EntityKey::from("7"),
            "int64",
            "string",
        ),
        (
            &strs.name,
            "user_id",
            EntityKey::from(7_i64),
            "string",
            "int64",
        ),
    ];
    for (group, column, key, expected, got) in cases {
        let mut out = vec![FeatureValue::default(); 2];
        // The wrong key next to a right one (which exists): the whole read is refused.
        let right = if group == &ints.name {
            EntityKey::from(7_i64)
        } else {
            EntityKey::from("7")
        };
        let keys = [right, key];
        let err = store
            .read(&ReadRequest::new(group, &keys, &[0], t(2)), &mut out)
            .unwrap_err();
        match &err {
            crate::FeatureError::KeyTypeMismatch {
                group: g,
                column: c,
                expected: e,
                got: o,
            } => {
                assert_eq!((g.as_str(), c.as_str()), (group.as_str(), column), "{err}");
                assert_eq!(
                    (e.to_string(), o.to_string()),
                    (expected.into(), got.into())
                );
            }
            other => panic!("expected KeyTypeMismatch, got {other:?}"),
        }
        let msg = err.to_string();
        for part in [group.as_str(), column, expected, got] {
            assert!(msg.contains(part), "{msg} lacks {part}");
        }
    }
    // A key with too many parts is a bad argument, not "not found" either.
    let mut out = vec![FeatureValue::default(); 1];
    let long = [EntityKey::new(&[KeyPart::Int64(7), KeyPart::Int64(8)])];
    let err = store
        .read(&ReadRequest::new(&ints.name, &long, &[0], t(2)), &mut out)
        .unwrap_err();
    assert!(
        matches!(err, crate::FeatureError::InvalidArgument { .. }),
        "{err}"
    );
}

/// A bad row rejects the whole batch, naming the row and field, and nothing is written.
pub fn online_bad_batch_rejected_whole(subject: &Subject<dyn OnlineStore>, caps: &Capabilities) {
    let _ = caps;
    let store = &*subject.store;
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
pub fn online_schema_evolution(subject: &Subject<dyn OnlineStore>, caps: &Capabilities) {
    let _ = caps;
    let store = &*subject.store;
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
pub fn online_compound_keys_and_batches(subject: &Subject<dyn OnlineStore>, caps: &Capabilities) {
    let _ = caps;
    let store = &*subject.store;
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
pub fn online_survives_reopen(subject: &Subject<dyn OnlineStore>, caps: &Capabilities) {
    let _ = caps;
    let Some(reopen) = &subject.reopen else {
        return;
    };
    let open = || reopen();
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
    // The evicted row still reads as expired, with its event time.
    let gone = read_x(&*store, &g.name, "gone", 3651 + 50);
    assert_eq!(
        (gone.status, gone.event_ts),
        (FeatureStatus::OutsideMaxAge, Some(t(0)))
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
