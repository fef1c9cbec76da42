//! The Parquet offline store: named columns, compaction, pruning, crash safety, the same join
//! answers as the in-memory store, materialization, and bad Parquet input.
#![cfg(feature = "parquet")]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mlops_features::arrow::arrow_array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use mlops_features::parquet::{read_parquet, write_parquet};
use mlops_features::{
    EntityFrame, EntityKey, FeatureError, FeatureGroup, FeatureRow, FeatureStore,
    HistoricalOptions, KeyPart, KeyType, OfflineStore, OfflineStoreExt, ParquetOfflineStore,
    ScanOptions, Timestamp, Value, ValueType,
};

fn group(name: &str) -> FeatureGroup {
    FeatureGroup::builder(name)
        .entity("user_id", KeyType::String)
        .feature("age", ValueType::Int64)
        .feature("score", ValueType::Float64)
        .ttl(Duration::from_secs(100))
        .build()
        .unwrap()
}

fn t(s: i64) -> Timestamp {
    Timestamp::from_secs(s)
}

fn row(key: &str, event: i64, created: Option<i64>, age: i64) -> FeatureRow {
    let mut r = FeatureRow::new(
        key,
        t(event),
        vec![Value::Int64(age), Value::Float64(age as f64 / 2.0)],
    );
    r.created_ts = created.map(t);
    r
}

fn parquet_store(dir: &Path, row_group_rows: usize) -> ParquetOfflineStore {
    ParquetOfflineStore::open(dir)
        .unwrap()
        .with_fsync(false)
        .with_row_group_rows(row_group_rows)
}

fn parts(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    v.sort();
    v
}

#[test]
fn files_have_the_groups_column_names_and_types() {
    let dir = tempfile::tempdir().unwrap();
    let store = FeatureStore::builder()
        .offline(parquet_store(dir.path(), 1024))
        .build()
        .unwrap();
    store.apply_group(group("users")).unwrap();
    store
        .ingest("users", &[row("a", 10, None, 1), row("b", 20, Some(21), 2)])
        .unwrap();
    let files = parts(&dir.path().join("users"));
    assert_eq!(files.len(), 1);
    assert!(
        files[0]
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("part-00000000000000000001-00000000000000000001")
    );
    let batches = read_parquet(&files[0]).unwrap();
    let schema = batches[0].schema();
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(
        names,
        [
            "user_id",
            "event_timestamp",
            "created_timestamp",
            "age",
            "score"
        ]
    );
    assert_eq!(
        schema.field(1).data_type().to_string(),
        "Timestamp(µs, \"UTC\")"
    );
    let created = batches[0]
        .column(2)
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .unwrap();
    assert_eq!(created.iter().collect::<Vec<_>>(), [None, Some(21_000_000)]);
}

#[test]
fn compaction_keeps_answers_and_a_crash_leftover_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let store = parquet_store(dir.path(), 3)
        .with_group(&group("g"))
        .unwrap();
    let mut all = Vec::new();
    for b in 0..5 {
        let rows: Vec<FeatureRow> = (0..7)
            .map(|i| {
                row(
                    &format!("k{}", (i * 3 + b) % 5),
                    100 + i + b,
                    None,
                    b * 10 + i,
                )
            })
            .collect();
        store.append("g", &rows).unwrap();
        all.extend(rows);
    }
    // Exact duplicates on (key, event, created): arrival decides.
    store.append("g", &[row("k1", 105, None, 777)]).unwrap();
    store.append("g", &[row("k1", 105, None, 888)]).unwrap();
    all.push(row("k1", 105, None, 777));
    all.push(row("k1", 105, None, 888));
    let gdir = dir.path().join("g");
    let before_files = parts(&gdir);
    assert_eq!(before_files.len(), 7);
    let frame: EntityFrame = (0..5)
        .flat_map(|k| (95..115).map(move |s| (format!("k{k}"), t(s))))
        .map(|(k, ts)| (EntityKey::from(k.as_str()), ts))
        .collect();
    let join = |s: &FeatureStore| {
        s.get_historical_features(&frame, &["g:age", "g:score"], &HistoricalOptions::default())
            .unwrap()
    };
    let fs_store = FeatureStore::builder().offline(store).build().unwrap();
    fs_store.apply_group(group("g")).unwrap();
    let before = join(&fs_store);
    // The in-memory store gives the same answer.
    let mem = FeatureStore::in_memory();
    mem.apply_group(group("g")).unwrap();
    mem.offline_store().append("g", &all).unwrap();
    assert_eq!(join(&mem), before);
    let saved = fs::read(&before_files[0]).unwrap();

    let store = parquet_store(dir.path(), 3)
        .with_group(&group("g"))
        .unwrap();
    let report = store.compact("g").unwrap();
    assert_eq!(report.files_merged, 7);
    assert_eq!(report.rows, all.len());
    assert_eq!(parts(&gdir).len(), 1);
    // A compaction that crashed before removing its inputs leaves them behind: ignored.
    fs::write(&before_files[0], saved).unwrap();
    let mut scanned = store.rows("g", &ScanOptions::default()).unwrap();
    assert_eq!(scanned.len(), all.len());
    let sort = |v: &mut Vec<FeatureRow>| {
        v.sort_by(|a, b| {
            (a.key.to_string(), a.event_ts, a.values[0].as_i64()).cmp(&(
                b.key.to_string(),
                b.event_ts,
                b.values[0].as_i64(),
            ))
        });
    };
    sort(&mut scanned);
    let mut want = all.clone();
    sort(&mut want);
    assert_eq!(scanned, want);
    let fs_store = FeatureStore::builder().offline(store).build().unwrap();
    fs_store.apply_group(group("g")).unwrap();
    assert_eq!(join(&fs_store), before);
    // The next compaction removes the leftover.
    let store = parquet_store(dir.path(), 3);
    assert_eq!(store.compact("g").unwrap().files_merged, 0);
    assert_eq!(parts(&gdir).len(), 1);
    // Appends continue after the compacted range.
    store.append("g", &[row("k9", 1, None, 1)]).unwrap();
    assert_eq!(parts(&gdir).len(), 2);
    assert!(
        parts(&gdir)[1]
            .to_str()
            .unwrap()
            .contains("part-00000000000000000008-00000000000000000008")
    );
}

#[test]
fn the_join_reads_only_the_row_groups_and_columns_it_needs() {
    let dir = tempfile::tempdir().unwrap();
    let g = FeatureGroup::builder("wide")
        .entity("user_id", KeyType::String)
        .feature("a", ValueType::Int64)
        .feature("b", ValueType::Int64)
        .feature("c", ValueType::String)
        .ttl(Duration::from_secs(10))
        .build()
        .unwrap();
    let store = parquet_store(dir.path(), 100).with_group(&g).unwrap();
    for batch in 0..10 {
        let rows: Vec<FeatureRow> = (0..100)
            .map(|i| {
                let n = batch * 100 + i;
                FeatureRow::new(
                    format!("u{:03}", n % 50).as_str(),
                    t(n),
                    vec![
                        Value::Int64(n),
                        Value::Int64(-n),
                        Value::String(format!("c{n}")),
                    ],
                )
            })
            .collect();
        store.append("wide", &rows).unwrap();
    }
    let store = Arc::new(store);
    let fs_store = FeatureStore::builder()
        .offline(Arc::clone(&store))
        .build()
        .unwrap();
    fs_store.apply_group(g.clone()).unwrap();
    // Time pruning: entity rows around t = 555 with a 10 s ttl touch one file of ten.
    let frame: EntityFrame = [("u005", t(555)), ("u006", t(556))].into_iter().collect();
    let out = fs_store
        .get_historical_features(&frame, &["wide:a"], &HistoricalOptions::default())
        .unwrap();
    assert_eq!(
        out.columns[0].values,
        [Value::Int64(555), Value::Int64(556)]
    );
    let stats = store.last_join_stats();
    assert_eq!(stats.files, 10);
    assert_eq!(stats.row_groups, 10);
    assert_eq!(stats.row_groups_read, 1, "{stats:?}");
    // user_id, event_timestamp, created_timestamp and a: 4 of 6 columns.
    assert_eq!(stats.columns_read, 4, "{stats:?}");
    // Entity pruning after compaction (sorted by key): one key's rows are in few row groups.
    store.compact("wide").unwrap();
    let frame: EntityFrame = [("u007", t(10_000))].into_iter().collect();
    let big = FeatureGroup::builder("wide")
        .entity("user_id", KeyType::String)
        .feature("a", ValueType::Int64)
        .feature("b", ValueType::Int64)
        .feature("c", ValueType::String)
        .build()
        .unwrap();
    let fs_store = FeatureStore::builder()
        .offline(Arc::clone(&store))
        .build()
        .unwrap();
    fs_store.apply_group(big).unwrap();
    let out = fs_store
        .get_historical_features(&frame, &["wide:c"], &HistoricalOptions::default())
        .unwrap();
    assert_eq!(out.columns[0].values, [Value::String("c957".into())]);
    let stats = store.last_join_stats();
    assert_eq!(stats.row_groups, 10);
    assert!(stats.row_groups_read <= 2, "{stats:?}");
}

/// A small deterministic generator (no extra dependency).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> i64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        ((self.0 >> 33) % n) as i64
    }
}

#[test]
fn random_joins_agree_with_the_in_memory_store_compound_keys_and_as_of() {
    let mut found = 0;
    for seed in 0..24u64 {
        let mut rng = Lcg(seed);
        let ttl = if seed % 4 == 0 {
            None
        } else {
            Some(Duration::from_secs(1 + rng.next(20) as u64))
        };
        // Three key shapes: compound (string, int64), one int64 column, one string column
        // (the one-column keys take the join's fast lookups and key-statistics pruning).
        let shape = seed % 3;
        let b = match shape {
            0 => FeatureGroup::builder("r")
                .entity("shop", KeyType::String)
                .entity("item", KeyType::Int64),
            1 => FeatureGroup::builder("r").entity("item", KeyType::Int64),
            _ => FeatureGroup::builder("r").entity("shop", KeyType::String),
        }
        .feature("x", ValueType::Int64)
        .feature("s", ValueType::String);
        let g = match ttl {
            Some(d) => b.ttl(d).build(),
            None => b.build(),
        }
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let pq = FeatureStore::builder()
            .offline(parquet_store(dir.path(), 1 + rng.next(8) as usize))
            .build()
            .unwrap();
        let mem = FeatureStore::in_memory();
        pq.apply_group(g.clone()).unwrap();
        mem.apply_group(g.clone()).unwrap();
        let key = |rng: &mut Lcg| {
            let shop = ["a", "b", "c"][rng.next(3) as usize];
            let item = rng.next(5) - 2;
            match shape {
                0 => EntityKey::new(&[KeyPart::String(shop), KeyPart::Int64(item)]),
                1 => EntityKey::new(&[KeyPart::Int64(item)]),
                _ => EntityKey::new(&[KeyPart::String(shop)]),
            }
        };
        for _ in 0..(1 + rng.next(5)) {
            let rows: Vec<FeatureRow> = (0..rng.next(12))
                .map(|_| {
                    let x = rng.next(1000);
                    let mut r = FeatureRow {
                        key: key(&mut rng),
                        event_ts: t(rng.next(40)),
                        created_ts: None,
                        values: vec![
                            if x % 7 == 0 {
                                Value::Null
                            } else {
                                Value::Int64(x)
                            },
                            Value::String(format!("é{x}")),
                        ],
                    };
                    if rng.next(2) == 0 {
                        r.created_ts = Some(t(rng.next(60)));
                    }
                    r
                })
                .collect();
            pq.offline_store().append("r", &rows).unwrap();
            mem.offline_store().append("r", &rows).unwrap();
        }
        let frame = EntityFrame {
            keys: (0..30).map(|_| key(&mut rng)).collect(),
            timestamps: (0..30).map(|_| t(rng.next(50))).collect(),
        };
        for opts in [
            HistoricalOptions::default(),
            HistoricalOptions::as_of(t(rng.next(60))),
        ] {
            let want = mem
                .get_historical_features(&frame, &["r:s", "r:x"], &opts)
                .unwrap();
            let got = pq
                .get_historical_features(&frame, &["r:s", "r:x"], &opts)
                .unwrap();
            assert_eq!(got, want, "seed {seed}");
            found += want.columns[1]
                .values
                .iter()
                .filter(|v| !v.is_null())
                .count();
        }
    }
    // The comparison covers real matches, not only nulls.
    assert!(found > 50, "{found}");
}

#[test]
fn materialize_from_parquet_into_the_online_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = FeatureStore::builder()
        .offline(parquet_store(dir.path(), 2))
        .build()
        .unwrap();
    store.apply_group(group("users")).unwrap();
    let now = store.now().as_micros() / 1_000_000;
    store
        .offline_store()
        .append(
            "users",
            &[
                row("a", now - 10, None, 1),
                row("a", now - 5, None, 2),
                row("b", now - 1, None, 3),
            ],
        )
        .unwrap();
    let report = store.materialize(None, None).unwrap();
    assert_eq!(report.groups[0].1, 3);
    let online = store
        .get_online_features(&["users:age"], &["a".into(), "b".into()])
        .unwrap();
    assert_eq!(online.row(0)[0].value, Value::Int64(2));
    assert_eq!(online.row(1)[0].value, Value::Int64(3));
}

#[test]
fn damaged_and_stray_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = parquet_store(dir.path(), 10);
    store.append("g", &[row("a", 1, None, 1)]).unwrap();
    let gdir = dir.path().join("g");
    // A temp file of a crashed writer: ignored, then removed on open (its pid is gone).
    let stray =
        gdir.join(".part-00000000000000000002-00000000000000000002.parquet.999999999.0.tmp");
    fs::write(&stray, b"PAR1 half").unwrap();
    assert_eq!(store.rows("g", &ScanOptions::default()).unwrap().len(), 1);
    let store = parquet_store(dir.path(), 10);
    assert!(!stray.exists());
    // A truncated part file is reported as corrupt, naming it.
    let file = parts(&gdir).remove(0);
    let bytes = fs::read(&file).unwrap();
    fs::write(&file, &bytes[..bytes.len() - 5]).unwrap();
    let e = store.rows("g", &ScanOptions::default()).unwrap_err();
    assert!(
        matches!(e, FeatureError::Corrupt { ref path, .. } if *path == file),
        "{e}"
    );
    assert!(store.append("../escape", &[row("a", 1, None, 1)]).is_err());
}

// ---- Parquet files as input -------------------------------------------------------------

fn users_store() -> FeatureStore {
    let s = FeatureStore::in_memory();
    s.apply_group(group("users")).unwrap();
    s
}

fn file_with(dir: &Path, name: &str, cols: Vec<(&str, ArrayRef)>) -> PathBuf {
    let path = dir.join(name);
    write_parquet(&path, &RecordBatch::try_from_iter(cols).unwrap(), false).unwrap();
    path
}

fn ts(v: Vec<Option<i64>>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(v).with_timezone("UTC"))
}

fn assert_file_column(e: &FeatureError, file: &Path, column: &str, needle: &str) {
    match e {
        FeatureError::Column {
            input,
            column: c,
            detail,
        } => {
            assert_eq!(input, &file.display().to_string(), "{e}");
            assert_eq!(c, column, "{e}");
            assert!(detail.contains(needle), "{e}");
        }
        other => panic!("expected a column error, got {other}"),
    }
}

#[test]
fn bad_parquet_input_names_the_file_and_column_and_ingests_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = users_store();
    let ids = || Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef;
    let missing = file_with(
        dir.path(),
        "missing.parquet",
        vec![
            ("user_id", ids()),
            ("event_timestamp", ts(vec![Some(1), Some(2)])),
            ("age", Arc::new(Int64Array::from(vec![1, 2]))),
        ],
    );
    let e = s.ingest_parquet("users", &missing).unwrap_err();
    assert_file_column(&e, &missing, "score", "missing column");
    let wrong = file_with(
        dir.path(),
        "wrong.parquet",
        vec![
            ("user_id", ids()),
            ("event_timestamp", ts(vec![Some(1), Some(2)])),
            ("age", Arc::new(Float64Array::from(vec![1.0, 2.0]))),
            ("score", Arc::new(Float64Array::from(vec![1.0, 2.0]))),
        ],
    );
    let e = s.ingest_parquet("users", &wrong).unwrap_err();
    assert_file_column(&e, &wrong, "age", "expected int64, got Float64");
    let nulls = file_with(
        dir.path(),
        "nulls.parquet",
        vec![
            ("user_id", ids()),
            ("event_timestamp", ts(vec![None, None])),
            ("age", Arc::new(Int64Array::from(vec![1, 2]))),
            ("score", Arc::new(Float64Array::from(vec![1.0, 2.0]))),
        ],
    );
    let e = s.ingest_parquet("users", &nulls).unwrap_err();
    assert_file_column(&e, &nulls, "event_timestamp", "all null");
    let good = file_with(
        dir.path(),
        "good.parquet",
        vec![
            ("user_id", ids()),
            ("event_timestamp", ts(vec![Some(1), Some(2)])),
            ("age", Arc::new(Int64Array::from(vec![1, 2]))),
            ("score", Arc::new(Float64Array::from(vec![Some(1.0), None]))),
        ],
    );
    let truncated = dir.path().join("truncated.parquet");
    let bytes = fs::read(&good).unwrap();
    fs::write(&truncated, &bytes[..bytes.len() - 3]).unwrap();
    let e = s.ingest_parquet("users", &truncated).unwrap_err();
    assert!(
        matches!(e, FeatureError::Corrupt { ref path, .. } if *path == truncated),
        "{e}"
    );
    assert!(e.to_string().contains("truncated.parquet"), "{e}");
    // Nothing of the bad files was ingested.
    assert!(
        s.offline_store()
            .rows("users", &ScanOptions::default())
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.ingest_parquet("users", &good).unwrap().rows, 2);
    let rows = s
        .offline_store()
        .rows("users", &ScanOptions::default())
        .unwrap();
    assert_eq!(rows[1].values, [Value::Int64(2), Value::Null]);
    assert_eq!(rows[1].event_ts, Timestamp::from_micros(2));
}

#[test]
fn training_set_to_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let s = users_store();
    s.ingest("users", &[row("a", 10, None, 7)]).unwrap();
    let frame: EntityFrame = [("a", t(11)), ("b", t(11))].into_iter().collect();
    let out = s
        .get_historical_features(
            &frame,
            &["users:age", "users:score"],
            &HistoricalOptions::default(),
        )
        .unwrap();
    let path = dir.path().join("training.parquet");
    s.write_training_parquet(&out, &path).unwrap();
    let back = read_parquet(&path).unwrap();
    assert_eq!(back[0], s.training_record_batch(&out).unwrap());
    assert_eq!(back[0].num_rows(), 2);
    assert_eq!(back[0].column(2).null_count(), 1);
}
