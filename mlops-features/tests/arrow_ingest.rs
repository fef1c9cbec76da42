//! Arrow in: record batches mapped to a group by name, types, nulls, timestamps, errors.
#![cfg(feature = "arrow")]

use std::sync::Arc;
use std::time::Duration;

use mlops_features::arrow::arrow_array::builder::{
    Float32Builder, ListBuilder, StringBuilder, StringDictionaryBuilder,
};
use mlops_features::arrow::arrow_array::types::Int32Type;
use mlops_features::arrow::arrow_array::{
    ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, LargeStringArray, RecordBatch,
    StringArray, TimestampMicrosecondArray, TimestampNanosecondArray, TimestampSecondArray,
};
use mlops_features::arrow::arrow_schema::{DataType, TimeUnit};
use mlops_features::{
    EntityFrame, FeatureError, FeatureGroup, FeatureStore, HistoricalOptions, KeyType,
    OfflineStoreExt, ScanOptions, Timestamp, Value, ValueType,
};

fn group() -> FeatureGroup {
    FeatureGroup::builder("users")
        .entity("user_id", KeyType::String)
        .feature("age", ValueType::Int64)
        .feature("score", ValueType::Float64)
        .feature("city", ValueType::String)
        .feature("active", ValueType::Bool)
        .feature("emb", ValueType::Float32Vector)
        .ttl(Duration::from_secs(3600))
        .build()
        .unwrap()
}

fn store() -> FeatureStore {
    let s = FeatureStore::in_memory();
    s.apply_group(group()).unwrap();
    s
}

fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter(cols).unwrap()
}

fn emb(rows: &[Option<&[f32]>]) -> ArrayRef {
    let mut b = ListBuilder::new(Float32Builder::new());
    for r in rows {
        match r {
            Some(v) => {
                b.values().append_slice(v);
                b.append(true);
            }
            None => b.append(false),
        }
    }
    Arc::new(b.finish())
}

const T0: i64 = 1_700_000_000; // seconds

#[test]
fn columns_by_name_any_order_dictionary_large_string_and_time_units() {
    let s = store();
    let mut city = StringDictionaryBuilder::<Int32Type>::new();
    city.append_value("paris");
    city.append_null();
    city.append_value("paris");
    let b = batch(vec![
        (
            "extra",
            Arc::new(Int64Array::from(vec![9, 9, 9])) as ArrayRef,
        ),
        ("city", Arc::new(city.finish())),
        (
            "user_id",
            Arc::new(LargeStringArray::from(vec!["u1", "u2", "u3"])),
        ),
        (
            "age",
            Arc::new(Int32Array::from(vec![Some(30), None, Some(41)])),
        ),
        (
            "event_timestamp",
            // Nanoseconds in Paris time: the instant is what counts.
            Arc::new(
                TimestampNanosecondArray::from(vec![
                    T0 * 1_000_000_000 + 1_999,
                    T0 * 1_000_000_000,
                    T0 * 1_000_000_000,
                ])
                .with_timezone("Europe/Paris"),
            ),
        ),
        (
            "score",
            Arc::new(Float64Array::from(vec![Some(1.5), Some(f64::NAN), None])),
        ),
        (
            "active",
            Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
        ),
        ("emb", emb(&[Some(&[1.0, 2.0]), None, Some(&[])])),
    ]);
    let report = s.ingest_arrow("users", &b).unwrap();
    assert_eq!(report.rows, 3);
    let rows = s
        .offline_store()
        .rows("users", &ScanOptions::default())
        .unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].key.as_str(), Some("u1"));
    // 1_999 ns floor to 1 us.
    assert_eq!(rows[0].event_ts, Timestamp::from_micros(T0 * 1_000_000 + 1));
    assert_eq!(rows[0].created_ts, None);
    assert_eq!(
        rows[0].values,
        vec![
            Value::Int64(30),
            Value::Float64(1.5),
            Value::String("paris".into()),
            Value::Bool(true),
            Value::Float32Vector(vec![1.0, 2.0]),
        ]
    );
    assert_eq!(rows[1].values[0], Value::Null);
    assert!(matches!(rows[1].values[1], Value::Float64(x) if x.is_nan()));
    assert_eq!(rows[1].values[2], Value::Null);
    assert_eq!(rows[1].values[3], Value::Null);
    assert_eq!(rows[1].values[4], Value::Null);
    assert_eq!(rows[2].values[1], Value::Null);
    assert_eq!(rows[2].values[4], Value::Float32Vector(vec![]));
}

#[test]
fn seconds_without_zone_are_utc_and_created_is_used() {
    let s = store();
    let b = batch(vec![
        (
            "user_id",
            Arc::new(StringArray::from(vec!["a", "a"])) as ArrayRef,
        ),
        (
            "event_timestamp",
            Arc::new(TimestampSecondArray::from(vec![T0, T0])),
        ),
        (
            "created_timestamp",
            Arc::new(TimestampMicrosecondArray::from(vec![
                Some(T0 * 1_000_000 + 5),
                None,
            ])),
        ),
        ("age", Arc::new(Int64Array::from(vec![1, 2]))),
        ("score", Arc::new(Float64Array::from(vec![0.0, 0.0]))),
        ("city", Arc::new(StringArray::from(vec!["x", "y"]))),
        ("active", Arc::new(BooleanArray::from(vec![true, true]))),
        ("emb", emb(&[None, None])),
    ]);
    s.ingest_arrow("users", &b).unwrap();
    let rows = s
        .offline_store()
        .rows("users", &ScanOptions::default())
        .unwrap();
    assert_eq!(rows[0].event_ts, Timestamp::from_secs(T0));
    assert_eq!(
        rows[0].created_ts,
        Some(Timestamp::from_micros(T0 * 1_000_000 + 5))
    );
    assert_eq!(rows[1].created_ts, None);
    // The row with the later created time wins the tie on event time.
    let frame: EntityFrame = [("a", Timestamp::from_secs(T0 + 1))].into_iter().collect();
    let t = s
        .get_historical_features(&frame, &["users:age"], &HistoricalOptions::default())
        .unwrap();
    assert_eq!(t.columns[0].values, [Value::Int64(1)]);
}

fn good_columns() -> Vec<(&'static str, ArrayRef)> {
    vec![
        (
            "user_id",
            Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef,
        ),
        (
            "event_timestamp",
            Arc::new(TimestampSecondArray::from(vec![T0, T0])),
        ),
        ("age", Arc::new(Int64Array::from(vec![1, 2]))),
        ("score", Arc::new(Float64Array::from(vec![0.0, 0.0]))),
        ("city", Arc::new(StringArray::from(vec!["x", "y"]))),
        ("active", Arc::new(BooleanArray::from(vec![true, true]))),
        ("emb", emb(&[None, None])),
    ]
}

/// The good columns with `name` replaced (or added).
fn with(name: &'static str, array: ArrayRef) -> RecordBatch {
    let mut cols = good_columns();
    match cols.iter_mut().find(|(n, _)| *n == name) {
        Some(c) => c.1 = array,
        None => cols.push((name, array)),
    }
    batch(cols)
}

fn without(name: &str) -> RecordBatch {
    batch(
        good_columns()
            .into_iter()
            .filter(|(n, _)| *n != name)
            .collect(),
    )
}

fn assert_column_error(e: &FeatureError, column: &str, needle: &str) {
    match e {
        FeatureError::Column {
            column: c, detail, ..
        } => {
            assert_eq!(c, column, "{e}");
            assert!(detail.contains(needle), "{e}");
        }
        other => panic!("expected a column error, got {other}"),
    }
}

#[test]
fn bad_batches_name_the_column_and_both_types_and_write_nothing() {
    let s = store();
    let e = s
        .ingest_arrow(
            "users",
            &with("age", Arc::new(StringArray::from(vec!["1", "2"]))),
        )
        .unwrap_err();
    assert_column_error(&e, "age", "expected int64, got Utf8");
    assert!(e.to_string().contains("record batch 0"), "{e}");
    let e = s
        .ingest_arrow(
            "users",
            &with("user_id", Arc::new(Int64Array::from(vec![1, 2]))),
        )
        .unwrap_err();
    assert_column_error(&e, "user_id", "expected string key, got Int64");
    let e = s
        .ingest_arrow(
            "users",
            &with("event_timestamp", Arc::new(Int64Array::from(vec![1, 2]))),
        )
        .unwrap_err();
    assert_column_error(&e, "event_timestamp", "expected timestamp, got Int64");
    let e = s.ingest_arrow("users", &without("score")).unwrap_err();
    assert_column_error(&e, "score", "missing column");
    let e = s
        .ingest_arrow("users", &without("event_timestamp"))
        .unwrap_err();
    assert_column_error(&e, "event_timestamp", "missing column");
    let all_null: ArrayRef = Arc::new(StringArray::from(vec![None::<&str>, None]));
    let e = s
        .ingest_arrow("users", &with("user_id", all_null))
        .unwrap_err();
    assert_column_error(&e, "user_id", "all null");
    let one_null: ArrayRef = Arc::new(TimestampSecondArray::from(vec![Some(T0), None]));
    let e = s
        .ingest_arrow("users", &with("event_timestamp", one_null))
        .unwrap_err();
    assert_column_error(&e, "event_timestamp", "first at row 1");
    let e = s
        .ingest_arrow(
            "users",
            &with(
                "created_timestamp",
                Arc::new(StringArray::from(vec!["x", "y"])),
            ),
        )
        .unwrap_err();
    assert_column_error(&e, "created_timestamp", "expected timestamp");
    // A list of strings is not a float32 vector.
    let mut lb = ListBuilder::new(StringBuilder::new());
    lb.append(true);
    lb.append(true);
    let e = s
        .ingest_arrow("users", &with("emb", Arc::new(lb.finish())))
        .unwrap_err();
    assert_column_error(&e, "emb", "float32_vector");
    // A good batch followed by a bad one: nothing of either is written.
    let e = s
        .ingest_arrow_batches("users", [batch(good_columns()), without("age")])
        .unwrap_err();
    assert!(e.to_string().contains("record batch 1"), "{e}");
    assert!(
        s.offline_store()
            .rows("users", &ScanOptions::default())
            .unwrap()
            .is_empty()
    );
    let online = s
        .get_online_features(&["users:age"], &["a".into()])
        .unwrap();
    assert_eq!(online.row(0)[0].value, Value::Null);
}

#[test]
fn training_set_as_a_record_batch() {
    let s = store();
    s.ingest_arrow("users", &batch(good_columns())).unwrap();
    let frame: EntityFrame = [
        ("a", Timestamp::from_secs(T0 + 10)),
        ("zz", Timestamp::from_secs(T0 + 10)),
        ("b", Timestamp::from_secs(T0 - 1)),
    ]
    .into_iter()
    .collect();
    let t = s
        .get_historical_features(
            &frame,
            &["users:age", "users:city", "users:emb"],
            &HistoricalOptions::default(),
        )
        .unwrap();
    let b = s.training_record_batch(&t).unwrap();
    let names: Vec<&str> = b
        .schema_ref()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(names, ["user_id", "event_timestamp", "age", "city", "emb"]);
    assert_eq!(
        b.column(1).data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    );
    let age = b.column(2).as_any().downcast_ref::<Int64Array>().unwrap();
    assert_eq!(age.iter().collect::<Vec<_>>(), [Some(1), None, None]);
    let city = b.column(3).as_any().downcast_ref::<StringArray>().unwrap();
    assert_eq!(city.iter().collect::<Vec<_>>(), [Some("x"), None, None]);
    assert_eq!(b.column(4).null_count(), 3);
}
