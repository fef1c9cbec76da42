//! Bad input: each case has a documented outcome and a clear error, and nothing is half-written.

use std::fs;

use mlops_features::{
    EntityKey, FeatureError, FeatureGroup, FeatureRow, FeatureStore, FileOfflineStore,
    FileOnlineStore, KeyType, OfflineStore, OfflineStoreExt, OnlineStore, Record, ScanOptions,
    Timestamp, Value, ValueType,
};

fn t(s: i64) -> Timestamp {
    Timestamp::from_secs(s)
}

fn users() -> FeatureGroup {
    FeatureGroup::builder("user_features")
        .entity("user_id", KeyType::String)
        .feature("age", ValueType::Int64)
        .feature("avg_order_amount", ValueType::Float64)
        .build()
        .unwrap()
}

fn store() -> FeatureStore {
    let s = FeatureStore::in_memory();
    s.apply_group(users()).unwrap();
    s
}

fn assert_nothing_written(s: &FeatureStore) {
    assert!(
        s.offline_rows("user_features", None, &ScanOptions::default())
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.online_store().entity_count("user_features").unwrap(), 0);
}

fn expect_row_error(err: &FeatureError, row: usize, field: &str, detail: &str) {
    match err {
        FeatureError::InvalidRow {
            row: r,
            field: f,
            detail: d,
            ..
        } => {
            assert_eq!((*r, f.as_str()), (row, field), "{err}");
            assert!(d.contains(detail), "{err}");
            let msg = err.to_string();
            assert!(
                msg.contains(&format!("row {row}")) && msg.contains(field),
                "{msg}"
            );
        }
        other => panic!("expected InvalidRow, got {other:?}"),
    }
}

#[test]
fn unknown_group_or_feature_reference() {
    let s = store();
    let err = s.ingest("nope", &[]).unwrap_err();
    assert!(
        matches!(
            err,
            FeatureError::NotFound {
                kind: mlops_features::EntityKind::FeatureGroup,
                ..
            }
        ),
        "{err}"
    );
    let keys = [EntityKey::from("u1")];
    let err = s.get_online_features(&["nope:age"], &keys).unwrap_err();
    assert_eq!(err.to_string(), "feature group not found: nope");
    let err = s
        .get_online_features(&["user_features:height"], &keys)
        .unwrap_err();
    assert_eq!(err.to_string(), "feature not found: user_features:height");
    let err = s
        .get_online_features(&["user_features"], &keys)
        .unwrap_err();
    assert!(err.to_string().contains("feature reference"), "{err}");
    let err = s
        .get_historical_features(
            &mlops_features::EntityFrame::new(),
            &["user_features:height"],
            &mlops_features::HistoricalOptions::default(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("user_features:height"), "{err}");
    assert!(s.get_online_service("nope", &keys).is_err());
}

#[test]
fn type_mismatch_rejects_the_whole_batch() {
    let s = store();
    let rows = vec![
        FeatureRow::new("u1", t(1), vec![Value::Int64(1), Value::Float64(1.0)]),
        FeatureRow::new("u2", t(1), vec![Value::Int64(2), Value::Float64(2.0)]),
        FeatureRow::new("u3", t(1), vec![Value::from("x"), Value::Float64(3.0)]),
    ];
    let err = s.ingest("user_features", &rows).unwrap_err();
    expect_row_error(&err, 2, "age", "expected int64, got string");
    assert_nothing_written(&s);
    let err = s
        .ingest(
            "user_features",
            &[FeatureRow::new("u1", t(1), vec![Value::Int64(1)])],
        )
        .unwrap_err();
    expect_row_error(&err, 0, "values", "expected 2 values, got 1");
}

#[test]
fn missing_entity_key() {
    let s = store();
    let recs = [
        Record::new(t(1)).with("user_id", "u1").with("age", 1),
        Record::new(t(1)).with("age", 2),
    ];
    let err = s.ingest_records("user_features", &recs).unwrap_err();
    expect_row_error(&err, 1, "user_id", "missing entity key column");
    assert_nothing_written(&s);
    // Positional rows with a key of the wrong type or shape.
    let err = s
        .ingest(
            "user_features",
            &[FeatureRow::new(5_i64, t(1), vec![Value::Null, Value::Null])],
        )
        .unwrap_err();
    expect_row_error(&err, 0, "user_id", "expected string, got int64");
}

#[test]
fn nan_in_an_integer_column() {
    let s = store();
    let recs = [
        Record::new(t(1)).with("user_id", "u1").with("age", 1),
        Record::new(t(1))
            .with("user_id", "u2")
            .with("age", f64::NAN),
    ];
    let err = s.ingest_records("user_features", &recs).unwrap_err();
    expect_row_error(&err, 1, "age", "NaN in an integer column");
    let err = s
        .ingest(
            "user_features",
            &[FeatureRow::new(
                "u1",
                t(1),
                vec![Value::Float64(f64::NAN), Value::Null],
            )],
        )
        .unwrap_err();
    expect_row_error(&err, 0, "age", "NaN");
    assert_nothing_written(&s);
    // NaN in a float column is a value, kept as such.
    s.ingest(
        "user_features",
        &[FeatureRow::new(
            "u1",
            t(1),
            vec![Value::Null, Value::Float64(f64::NAN)],
        )],
    )
    .unwrap();
}

#[test]
fn duplicate_feature_names() {
    let err = FeatureGroup::builder("g")
        .entity("id", KeyType::Int64)
        .feature("age", ValueType::Int64)
        .feature("age", ValueType::Int64)
        .build()
        .unwrap_err();
    assert!(matches!(err, FeatureError::InvalidArgument { .. }));
    assert!(err.to_string().contains("duplicate") && err.to_string().contains("age"));
    // A hand-built group with duplicates is refused by the store too.
    let mut g = users();
    g.features.push(g.features[0].clone());
    assert!(store().apply_group(g.clone()).is_err());
    assert!(
        mlops_features::InMemoryOnlineStore::new()
            .apply_group(&g)
            .is_err()
    );
}

#[test]
fn corrupt_online_store_log_is_reported_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = FileOnlineStore::open(dir.path()).unwrap().with_fsync(false);
        s.apply_group(&users()).unwrap();
        for i in 0..3 {
            s.write_batch(
                "user_features",
                &[FeatureRow::new(
                    "u1",
                    t(i),
                    vec![Value::Int64(i), Value::Null],
                )],
            )
            .unwrap();
        }
    }
    let wal = dir.path().join(format!("wal-{:016x}.log", 0));
    let mut data = fs::read(&wal).unwrap();
    // Flip a byte inside the second record's payload: damage followed by more records.
    let second = data.iter().position(|&b| b == b'\n').unwrap() + 25;
    data[second] ^= 0x55;
    fs::write(&wal, &data).unwrap();
    let err = FileOnlineStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, FeatureError::Corrupt { .. }), "{err}");
    assert!(
        err.to_string().contains("wal-0000000000000000.log"),
        "{err}"
    );
    // The file is left as it was for inspection: nothing was truncated.
    assert_eq!(fs::read(&wal).unwrap(), data);
}

#[test]
fn corrupt_snapshot_and_registry_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = FileOnlineStore::open(dir.path()).unwrap().with_fsync(false);
        s.apply_group(&users()).unwrap();
        s.compact().unwrap();
    }
    let snap = dir.path().join(format!("snapshot-{:016x}.bin", 1));
    let mut data = fs::read(&snap).unwrap();
    let n = data.len();
    data.truncate(n - 3);
    fs::write(&snap, &data).unwrap();
    let err = FileOnlineStore::open(dir.path()).unwrap_err();
    assert!(
        err.to_string().contains("snapshot-0000000000000001.bin"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("registry.json"), b"{ not json").unwrap();
    let err = FeatureStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, FeatureError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("registry.json"), "{err}");
}

#[test]
fn corrupt_offline_segment_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let s = FileOfflineStore::open(dir.path())
        .unwrap()
        .with_fsync(false);
    let row = FeatureRow::new("u1", t(1), vec![Value::Int64(1)]);
    s.append("g", std::slice::from_ref(&row)).unwrap();
    s.append("g", std::slice::from_ref(&row)).unwrap();
    let seg = dir.path().join("g").join("seg-00000001.log");
    let mut data = fs::read(&seg).unwrap();
    data[22] ^= 0x01;
    fs::write(&seg, &data).unwrap();
    let err = s.rows("g", &ScanOptions::default()).unwrap_err();
    assert!(err.to_string().contains("seg-00000001.log"), "{err}");
    // Appending refuses to bury the damage.
    let fresh = FileOfflineStore::open(dir.path()).unwrap();
    assert!(fresh.append("g", &[row]).is_err());
}

#[test]
fn stray_temp_files_are_ignored_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = FeatureStore::open_with(
            dir.path(),
            mlops_features::StoreOptions::default().fsync(false),
        )
        .unwrap();
        s.apply_group(users()).unwrap();
    }
    // Temps left by crashed writers (a pid that cannot be running).
    let strays = [
        dir.path()
            .join(format!(".registry.json.{}.0.tmp", u32::MAX)),
        dir.path()
            .join("online")
            .join(format!(".snapshot-0000000000000001.bin.{}.0.tmp", u32::MAX)),
        dir.path()
            .join("offline")
            .join(format!(".x.{}.0.tmp", u32::MAX)),
    ];
    for p in &strays {
        fs::write(p, b"half-written").unwrap();
    }
    let s = FeatureStore::open(dir.path()).unwrap();
    assert_eq!(s.group("user_features").unwrap(), {
        let mut g = users();
        g.version = 1;
        g
    });
    // Every temp goes on open, the registry's included (before any update).
    for p in &strays {
        assert!(!p.exists(), "{} left behind", p.display());
    }
    drop(s);
    // The same through `open_with` and the builder with a registry file.
    let again = dir
        .path()
        .join(format!(".registry.json.{}.1.tmp", u32::MAX));
    fs::write(&again, b"half-written").unwrap();
    let s = FeatureStore::builder()
        .registry_file(dir.path().join("registry.json"))
        .build()
        .unwrap();
    assert!(!again.exists());
    assert_eq!(s.group("user_features").unwrap().name, "user_features");
}

#[test]
fn entity_frame_with_wrong_key_shape_names_the_row() {
    let s = store();
    let mut frame = mlops_features::EntityFrame::new();
    frame.push("u1", t(1));
    frame.push(3_i64, t(1));
    let err = s
        .get_historical_features(
            &frame,
            &["user_features:age"],
            &mlops_features::HistoricalOptions::default(),
        )
        .unwrap_err();
    expect_row_error(&err, 1, "user_id", "expected string");
}

#[test]
fn offline_store_refuses_path_like_group_names() {
    let dir = tempfile::tempdir().unwrap();
    let s = FileOfflineStore::open(dir.path()).unwrap();
    for bad in ["../x", "/abs", "a/b", ""] {
        assert!(s.append(bad, &[]).is_err(), "{bad}");
    }
    assert!(fs::read_dir(dir.path()).unwrap().next().is_none());
}
