//! Feast's three mistakes, each as a test, plus the facade's other semantics (multi-group and
//! service reads, materialization, late rows), on in-memory and file backends.

use std::sync::Arc;
use std::time::Duration;

use mlops_features::{
    EntityFrame, EntityKey, FeatureError, FeatureGroup, FeatureRow, FeatureService, FeatureStatus,
    FeatureStore, HistoricalOptions, KeyType, ManualClock, OnlineResponse, OnlineStore, Record,
    ScanOptions, Timestamp, Value, ValueType,
};

fn t(s: i64) -> Timestamp {
    Timestamp::from_secs(s)
}

const DAY: i64 = 86_400;

fn users() -> FeatureGroup {
    FeatureGroup::builder("user_features")
        .entity("user_id", KeyType::String)
        .feature("age", ValueType::Int64)
        .feature("avg_order_amount", ValueType::Float64)
        .ttl(Duration::from_secs(DAY as u64))
        .build()
        .unwrap()
}

/// Both backend kinds, sharing one manual clock.
fn stores(clock: &ManualClock) -> Vec<(Option<tempfile::TempDir>, FeatureStore)> {
    let mem = FeatureStore::builder()
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = FeatureStore::open_with(
        dir.path(),
        mlops_features::StoreOptions::default()
            .fsync(false)
            .clock(Arc::new(clock.clone())),
    )
    .unwrap();
    vec![(None, mem), (Some(dir), file)]
}

fn age_of(store: &FeatureStore, user: &str) -> mlops_features::FeatureValue {
    let r = store
        .get_online_features(&["user_features:age"], &[EntityKey::from(user)])
        .unwrap();
    r.row(0)[0].clone()
}

#[test]
fn mistake_1_ttl_is_applied_on_online_reads() {
    let clock = ManualClock::new(t(0));
    for (_dir, store) in stores(&clock) {
        clock.set(t(0));
        store.apply_group(users()).unwrap();
        store
            .ingest(
                "user_features",
                &[FeatureRow::new(
                    "u1",
                    t(0),
                    vec![Value::Int64(30), Value::Float64(1.0)],
                )],
            )
            .unwrap();
        assert_eq!(age_of(&store, "u1").status, FeatureStatus::Present);
        // Two years later, the value must not come back as present.
        clock.set(t(2 * 365 * DAY));
        let v = age_of(&store, "u1");
        assert_eq!(v.status, FeatureStatus::OutsideMaxAge);
        assert_eq!(v.value, Value::Null);
        assert_eq!(v.event_ts, Some(t(0)));
        // Eviction reclaims it without changing the answer.
        assert_eq!(store.evict_expired().unwrap(), 1);
        assert_eq!(
            store.online_store().entity_count("user_features").unwrap(),
            0
        );
        assert_eq!(age_of(&store, "u1"), v);
    }
}

#[test]
fn mistake_2_an_older_event_never_overwrites_a_newer_one() {
    let clock = ManualClock::new(t(1000));
    for (_dir, store) in stores(&clock) {
        store.apply_group(users()).unwrap();
        let row =
            |ts: i64, age: i64| FeatureRow::new("u1", t(ts), vec![Value::Int64(age), Value::Null]);
        store.ingest("user_features", &[row(900, 31)]).unwrap();
        let report = store.ingest("user_features", &[row(800, 30)]).unwrap();
        assert_eq!((report.online.written, report.online.stale), (0, 1));
        assert_eq!(age_of(&store, "u1").value, Value::Int64(31));
        // Within one batch, newest first.
        let report = store
            .ingest("user_features", &[row(950, 32), row(940, 99)])
            .unwrap();
        assert_eq!(report.online.stale, 1);
        assert_eq!(age_of(&store, "u1").value, Value::Int64(32));
        // Both rows are in the offline history regardless.
        let rows = store
            .offline_rows("user_features", None, &ScanOptions::default())
            .unwrap();
        assert_eq!(rows.len(), 4);
    }
}

#[test]
fn mistake_3_point_in_time_join_keeps_entity_rows_outside_the_ttl() {
    let clock = ManualClock::new(t(100 * DAY));
    for (_dir, store) in stores(&clock) {
        store.apply_group(users()).unwrap();
        store
            .ingest(
                "user_features",
                &[
                    FeatureRow::new("u1", t(0), vec![Value::Int64(20), Value::Float64(1.0)]),
                    FeatureRow::new(
                        "u2",
                        t(10 * DAY),
                        vec![Value::Int64(40), Value::Float64(4.0)],
                    ),
                ],
            )
            .unwrap();
        // u1's only row is 5 days old at the entity time: outside the 1-day TTL. Feast drops
        // such rows; they must stay, in order, with nulls.
        let frame: EntityFrame = [
            ("u1", t(5 * DAY)),
            ("u2", t(10 * DAY + 60)),
            ("u1", t(30)),
            ("u1", t(5 * DAY)),
        ]
        .into_iter()
        .collect();
        let tf = store
            .get_historical_features(
                &frame,
                &["user_features:age", "user_features:avg_order_amount"],
                &HistoricalOptions::default(),
            )
            .unwrap();
        assert_eq!(tf.len(), 4);
        assert_eq!(tf.keys, frame.keys);
        assert_eq!(
            tf.column("user_features:age").unwrap(),
            [Value::Null, Value::Int64(40), Value::Int64(20), Value::Null]
        );
        assert_eq!(
            tf.value(1, "user_features:avg_order_amount"),
            Some(&Value::Float64(4.0))
        );
        let shown = tf.to_string();
        assert!(
            shown.contains("user_features:age") && shown.contains("null"),
            "{shown}"
        );
    }
}

#[test]
fn late_arriving_row_keeps_join_and_online_store_correct() {
    let clock = ManualClock::new(t(1000));
    for (_dir, store) in stores(&clock) {
        store.apply_group(users()).unwrap();
        let rec = |ts: i64, created: i64, age: i64| {
            Record::new(t(ts))
                .created(t(created))
                .with("user_id", "u1")
                .with("age", age)
        };
        store
            .ingest_records("user_features", &[rec(100, 100, 30), rec(300, 300, 32)])
            .unwrap();
        // A row for event time 200 arrives late, at 900.
        let report = store
            .ingest_records("user_features", &[rec(200, 900, 31)])
            .unwrap();
        assert_eq!(report.online.stale, 1);
        assert_eq!(age_of(&store, "u1").value, Value::Int64(32));
        let frame: EntityFrame = [("u1", t(250))].into_iter().collect();
        let now = store
            .get_historical_features(
                &frame,
                &["user_features:age"],
                &HistoricalOptions::default(),
            )
            .unwrap();
        assert_eq!(now.columns[0].values, [Value::Int64(31)]);
        // As known at 500 (before the late row arrived): the older value.
        let then = store
            .get_historical_features(
                &frame,
                &["user_features:age"],
                &HistoricalOptions::as_of(t(500)),
            )
            .unwrap();
        assert_eq!(then.columns[0].values, [Value::Int64(30)]);
    }
}

#[test]
fn multi_group_and_service_reads_in_one_call() {
    let clock = ManualClock::new(t(1000));
    for (_dir, store) in stores(&clock) {
        store.apply_group(users()).unwrap();
        let activity = FeatureGroup::builder("user_activity")
            .entity("user_id", KeyType::String)
            .feature("clicks", ValueType::Int64)
            .build()
            .unwrap();
        store.apply_group(activity).unwrap();
        store
            .ingest(
                "user_features",
                &[FeatureRow::new(
                    "u1",
                    t(900),
                    vec![Value::Int64(30), Value::Float64(2.5)],
                )],
            )
            .unwrap();
        store
            .ingest(
                "user_activity",
                &[FeatureRow::new("u1", t(900), vec![Value::Int64(7)])],
            )
            .unwrap();
        let keys = [EntityKey::from("u1"), EntityKey::from("u9")];
        // Interleaved groups keep the requested column order.
        let refs = [
            "user_features:avg_order_amount",
            "user_activity:clicks",
            "user_features:age",
        ];
        let r = store.get_online_features(&refs, &keys).unwrap();
        let vals: Vec<&Value> = r.row(0).iter().map(|v| &v.value).collect();
        assert_eq!(
            vals,
            [&Value::Float64(2.5), &Value::Int64(7), &Value::Int64(30)]
        );
        assert!(r.row(1).iter().all(|v| v.status == FeatureStatus::NotFound));
        assert_eq!(
            r.get(0, "user_activity:clicks").unwrap().value,
            Value::Int64(7)
        );
        assert!(r.table(&keys).to_string().contains("(not found)"));
        let svc = FeatureService::new(
            "ranking",
            vec![
                "user_activity:clicks".parse().unwrap(),
                "user_features:age".parse().unwrap(),
            ],
        )
        .unwrap();
        store.apply_service(svc).unwrap();
        let r = store.get_online_service("ranking", &keys).unwrap();
        assert_eq!(r.row(0)[1].value, Value::Int64(30));
        // A reused response reads without reallocating.
        let q = store.service_query("ranking").unwrap();
        let mut out = OnlineResponse::new();
        store.read_online(&q, &keys[..1], &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out.row(0)[0].value, Value::Int64(7));
        // A service naming an unknown feature is refused.
        let bad = FeatureService::new("bad", vec!["user_activity:nope".parse().unwrap()]).unwrap();
        assert!(store.apply_service(bad).is_err());
    }
}

#[test]
fn materialize_rebuilds_the_online_store_from_the_offline_store() {
    let clock = ManualClock::new(t(10 * DAY));
    let dir = tempfile::tempdir().unwrap();
    {
        let store = FeatureStore::open_with(
            dir.path(),
            mlops_features::StoreOptions::default()
                .fsync(false)
                .clock(Arc::new(clock.clone())),
        )
        .unwrap();
        store.apply_group(users()).unwrap();
        store
            .ingest(
                "user_features",
                &[
                    FeatureRow::new("u1", t(10 * DAY - 100), vec![Value::Int64(1), Value::Null]),
                    FeatureRow::new("u1", t(10 * DAY - 50), vec![Value::Int64(2), Value::Null]),
                    FeatureRow::new("old", t(DAY), vec![Value::Int64(3), Value::Null]),
                ],
            )
            .unwrap();
    }
    // Lose the online store entirely, then rebuild it.
    std::fs::remove_dir_all(dir.path().join("online")).unwrap();
    let store = FeatureStore::open_with(
        dir.path(),
        mlops_features::StoreOptions::default()
            .fsync(false)
            .clock(Arc::new(clock.clone())),
    )
    .unwrap();
    assert_eq!(age_of(&store, "u1").status, FeatureStatus::NotFound);
    let report = store.materialize(None, None).unwrap();
    // The expired row is not loaded; the two fresh ones are, newest wins.
    assert_eq!(report.groups[0].1, 2);
    assert_eq!(age_of(&store, "u1").value, Value::Int64(2));
    assert_eq!(age_of(&store, "old").status, FeatureStatus::NotFound);
    // Idempotent.
    let again = store.materialize(None, None).unwrap();
    assert_eq!(again.groups[0].2.written, 1);
    assert_eq!(age_of(&store, "u1").value, Value::Int64(2));
    // A window that excludes the newest row still never goes backwards.
    store.materialize(None, Some(t(10 * DAY - 60))).unwrap();
    assert_eq!(age_of(&store, "u1").value, Value::Int64(2));
}

#[test]
fn schema_evolution_through_the_facade_is_versioned_and_persisted() {
    let clock = ManualClock::new(t(1000));
    let dir = tempfile::tempdir().unwrap();
    {
        let store = FeatureStore::open_with(
            dir.path(),
            mlops_features::StoreOptions::default()
                .fsync(false)
                .clock(Arc::new(clock.clone())),
        )
        .unwrap();
        assert_eq!(store.apply_group(users()).unwrap().version, 1);
        store
            .ingest(
                "user_features",
                &[FeatureRow::new(
                    "u1",
                    t(900),
                    vec![Value::Int64(30), Value::Null],
                )],
            )
            .unwrap();
        let mut g = users();
        g.features.push(mlops_features::FeatureDef::new(
            "country",
            ValueType::String,
        ));
        let stored = store.apply_group(g).unwrap();
        assert_eq!((stored.version, stored.features[2].version), (2, 2));
        let mut bad = stored.clone();
        bad.features[0].dtype = ValueType::String;
        let err = store.apply_group(bad).unwrap_err();
        assert!(err.to_string().contains("\"age\""), "{err}");
    }
    let store = FeatureStore::open_with(
        dir.path(),
        mlops_features::StoreOptions::default()
            .fsync(false)
            .clock(Arc::new(clock)),
    )
    .unwrap();
    let g = store.group("user_features").unwrap();
    assert_eq!((g.version, g.features.len()), (2, 3));
    let r = store
        .get_online_features(
            &["user_features:age", "user_features:country"],
            &[EntityKey::from("u1")],
        )
        .unwrap();
    assert_eq!(r.row(0)[0].value, Value::Int64(30));
    assert_eq!(r.row(0)[1].status, FeatureStatus::Null);
    // The training join reads old rows (fewer values) as null for the new feature.
    let frame: EntityFrame = [("u1", t(950))].into_iter().collect();
    let tf = store
        .get_historical_features(
            &frame,
            &["user_features:country", "user_features:age"],
            &HistoricalOptions::default(),
        )
        .unwrap();
    assert_eq!(tf.columns[0].values, [Value::Null]);
    assert_eq!(tf.columns[1].values, [Value::Int64(30)]);
}

#[test]
fn groups_not_served_online_only_go_offline() {
    let store = FeatureStore::in_memory();
    let mut g = users();
    g.online = false;
    store.apply_group(g).unwrap();
    let report = store
        .ingest(
            "user_features",
            &[FeatureRow::new(
                "u1",
                t(1),
                vec![Value::Int64(1), Value::Null],
            )],
        )
        .unwrap();
    assert_eq!(report.online.written, 0);
    assert!(
        store
            .get_online_features(&["user_features:age"], &[EntityKey::from("u1")])
            .is_err()
    );
    assert_eq!(
        store
            .offline_rows(
                "user_features",
                Some(&[EntityKey::from("u1")]),
                &ScanOptions::default()
            )
            .unwrap()
            .len(),
        1
    );
    assert!(store.online_store().groups().unwrap().is_empty());
}

#[test]
fn ingest_evicts_expired_rows_periodically() {
    let clock = ManualClock::new(t(0));
    let store = FeatureStore::builder()
        .clock(Arc::new(clock.clone()))
        .evict_interval(Some(Duration::from_secs(600)))
        .build()
        .unwrap();
    store.apply_group(users()).unwrap();
    let row = |u: &str, ts: i64| FeatureRow::new(u, t(ts), vec![Value::Int64(1), Value::Null]);
    store.ingest("user_features", &[row("old", 0)]).unwrap();
    clock.set(t(2 * DAY));
    // The first ingest after the interval evicts "old" (2 days old, TTL 1 day).
    store
        .ingest("user_features", &[row("new", 2 * DAY)])
        .unwrap();
    assert_eq!(
        store.online_store().entity_count("user_features").unwrap(),
        1
    );
    assert_eq!(age_of(&store, "old").status, FeatureStatus::OutsideMaxAge);
    // Turned off: nothing is evicted until asked.
    let manual = FeatureStore::builder()
        .clock(Arc::new(clock.clone()))
        .evict_interval(None)
        .build()
        .unwrap();
    manual.apply_group(users()).unwrap();
    clock.set(t(0));
    manual.ingest("user_features", &[row("old", 0)]).unwrap();
    clock.set(t(2 * DAY));
    manual
        .ingest("user_features", &[row("new", 2 * DAY)])
        .unwrap();
    assert_eq!(
        manual.online_store().entity_count("user_features").unwrap(),
        2
    );
    assert_eq!(manual.evict_expired().unwrap(), 1);
}

#[test]
fn an_ingested_row_already_past_its_ttl_is_reported_not_written() {
    let clock = ManualClock::new(t(2 * DAY));
    for (_dir, store) in stores(&clock) {
        store.apply_group(users()).unwrap();
        let row = |u: &str, ts: i64| FeatureRow::new(u, t(ts), vec![Value::Int64(1), Value::Null]);
        let report = store
            .ingest("user_features", &[row("old", 0), row("new", 2 * DAY - 10)])
            .unwrap();
        assert_eq!(report.rows, 2);
        assert_eq!(
            (
                report.online.written,
                report.online.stale,
                report.online.expired
            ),
            (1, 0, 1)
        );
        assert_eq!(age_of(&store, "old").status, FeatureStatus::NotFound);
        assert_eq!(age_of(&store, "new").value, Value::Int64(1));
        // The offline store keeps it: training sets still see history.
        assert_eq!(
            store
                .offline_rows("user_features", None, &ScanOptions::default())
                .unwrap()
                .len(),
            2
        );
    }
}

#[test]
fn a_zero_ttl_is_refused_and_none_never_expires() {
    let err = FeatureGroup::builder("g")
        .entity("id", KeyType::Int64)
        .feature("x", ValueType::Int64)
        .ttl(Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(matches!(err, FeatureError::InvalidArgument { .. }), "{err}");
    assert!(err.to_string().contains("zero ttl"), "{err}");
    let g = FeatureGroup::builder("g")
        .entity("id", KeyType::Int64)
        .feature("x", ValueType::Int64)
        .ttl(None)
        .build()
        .unwrap();
    assert_eq!(g.ttl, None);
    assert_eq!(g.ttl_display().to_string(), "never");
    // A registry file written with a zero TTL is refused on open, naming the group.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("registry.json"),
        r#"{"groups":{"g":{"name":"g","entity":[{"name":"id","dtype":"int64"}],
            "features":[{"name":"x","dtype":"int64"}],"ttl_seconds":0}}}"#,
    )
    .unwrap();
    let err = FeatureStore::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("zero ttl"), "{err}");
}

#[test]
fn wrong_typed_keys_through_the_facade_name_group_column_and_types() {
    let clock = ManualClock::new(t(0));
    for (_dir, store) in stores(&clock) {
        store.apply_group(users()).unwrap();
        let err = store
            .get_online_features(&["user_features:age"], &[EntityKey::from(7)])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "entity key type mismatch for feature group user_features, key column user_id: \
             expected string, got int64"
        );
    }
}
