//! Drift, validation and null counts from Arrow record batches and Parquet files.
#![cfg(feature = "arrow")]

use std::sync::Arc;

use mlops_testing::arrow::arrow_array::builder::StringDictionaryBuilder;
use mlops_testing::arrow::arrow_array::types::Int8Type;
use mlops_testing::arrow::arrow_array::{
    ArrayRef, BinaryArray, Float64Array, Int32Array, LargeStringArray, RecordBatch,
};
use mlops_testing::arrow::{
    column_from_arrow, dataset_from_record_batch, null_counts, rows_from_record_batch,
};
use mlops_testing::{
    CheckStatus, Column, Dataset, DriftOptions, Expectation, Validator, drift_report,
};

fn batch(shift: f64) -> RecordBatch {
    let x: Vec<Option<f64>> = (0..400)
        .map(|i| (i % 10 != 0).then_some(f64::from(i % 37) + shift))
        .collect();
    let n: Vec<Option<i32>> = (0..400).map(|i| (i % 4 != 0).then_some(i % 7)).collect();
    let mut city = StringDictionaryBuilder::<Int8Type>::new();
    for i in 0..400 {
        if i % 5 == 0 {
            city.append_null();
        } else {
            city.append_value(["a", "b", "c"][(i + shift as usize) % 3]);
        }
    }
    let name: Vec<Option<&str>> = (0..400).map(|i| (i % 2 == 0).then_some("ü")).collect();
    RecordBatch::try_from_iter([
        ("x", Arc::new(Float64Array::from(x)) as ArrayRef),
        ("n", Arc::new(Int32Array::from(n))),
        ("city", Arc::new(city.finish())),
        ("name", Arc::new(LargeStringArray::from(name))),
    ])
    .unwrap()
}

#[test]
fn columns_from_arrow_keep_values_and_nulls() {
    let b = batch(0.0);
    let Column::Numeric(x) = column_from_arrow("x", b.column(0).as_ref()).unwrap() else {
        panic!("numeric")
    };
    assert!(x[0].is_nan());
    assert_eq!(x[1], 1.0);
    let Column::Categorical(c) = column_from_arrow("city", b.column(2).as_ref()).unwrap() else {
        panic!("categorical")
    };
    assert_eq!(c[0], None);
    assert_eq!(c[1].as_deref(), Some("b"));
    // Without nulls the f64 slice is taken as is.
    let plain = Float64Array::from(vec![1.5, f64::NAN, 3.0]);
    let Column::Numeric(p) = column_from_arrow("p", &plain).unwrap() else {
        panic!("numeric")
    };
    assert_eq!(p[0], 1.5);
    assert!(p[1].is_nan());
    let bad = BinaryArray::from(vec![&b"x"[..]]);
    let e = column_from_arrow("blob", &bad).unwrap_err();
    assert!(e.to_string().contains("column blob"), "{e}");
}

#[test]
fn drift_from_record_batches_equals_drift_from_datasets() {
    let (r, c) = (batch(0.0), batch(8.0));
    let got = drift_report(
        &dataset_from_record_batch(&r).unwrap(),
        &dataset_from_record_batch(&c).unwrap(),
        &DriftOptions::default(),
    )
    .unwrap();
    // The same data built by hand.
    let by_hand = |shift: f64| {
        let x: Vec<f64> = (0..400)
            .map(|i| {
                if i % 10 != 0 {
                    f64::from(i % 37) + shift
                } else {
                    f64::NAN
                }
            })
            .collect();
        let n: Vec<f64> = (0..400)
            .map(|i| {
                if i % 4 != 0 {
                    f64::from(i % 7)
                } else {
                    f64::NAN
                }
            })
            .collect();
        let city: Vec<Option<String>> = (0..400)
            .map(|i| (i % 5 != 0).then(|| ["a", "b", "c"][(i + shift as usize) % 3].to_owned()))
            .collect();
        let name: Vec<Option<String>> = (0..400)
            .map(|i| (i % 2 == 0).then(|| "ü".to_owned()))
            .collect();
        Dataset::new()
            .with_column("x", Column::Numeric(x))
            .unwrap()
            .with_column("n", Column::Numeric(n))
            .unwrap()
            .with_column("city", Column::Categorical(city))
            .unwrap()
            .with_column("name", Column::Categorical(name))
            .unwrap()
    };
    let want = drift_report(&by_hand(0.0), &by_hand(8.0), &DriftOptions::default()).unwrap();
    assert_eq!(
        serde_json::to_value(&got).unwrap(),
        serde_json::to_value(&want).unwrap()
    );
    let x = got.columns.iter().find(|c| c.column == "x").unwrap();
    assert!(x.drift_detected);
    // Nulls are dropped and counted.
    assert_eq!(x.reference_dropped, 40);
}

#[test]
fn nulls_per_column_as_great_expectations_reports_them() {
    let b = batch(0.0);
    let report = null_counts(&[b.clone(), b.clone()]);
    let got: Vec<(&str, usize, usize)> = report
        .columns
        .iter()
        .map(|c| (c.column.as_str(), c.element_count, c.missing_count))
        .collect();
    assert_eq!(
        got,
        [
            ("x", 800, 80),
            ("n", 800, 200),
            ("city", 800, 160),
            ("name", 800, 400)
        ]
    );
    assert_eq!(report.columns[3].missing_percent, 50.0);
    assert!(report.to_string().contains("name"));
    // The validator sees the same missing counts.
    let v = Validator::new(vec![
        Expectation::not_null("n"),
        Expectation::between("x", Some(0.0), Some(30.0)),
        Expectation::in_set("city", ["a".into(), "b".into()]),
        Expectation::of_type("n", mlops_testing::validate::ValueType::Integer),
    ])
    .unwrap();
    let r = v.validate_record_batch(&b).unwrap();
    assert_eq!(r.results[0].unexpected_count, 100);
    assert_eq!(r.results[0].status, CheckStatus::Failed);
    assert_eq!(r.results[1].missing_count, 40);
    // 31..=36 are above 30: 6 of every 37, on the 360 non-null rows.
    let above = (0..400).filter(|i| i % 10 != 0 && i % 37 > 30).count();
    assert_eq!(r.results[1].unexpected_count, above);
    assert_eq!(r.results[2].missing_count, 80);
    assert!(r.results[2].unexpected_count > 0);
    assert_eq!(r.results[3].unexpected_count, 0);
    assert_eq!(rows_from_record_batch(&b)[1]["city"], "b");
}

#[cfg(feature = "parquet")]
#[test]
fn datasets_and_validation_from_parquet_and_a_damaged_file_is_named() {
    use mlops_testing::arrow::parquet_crate::arrow::ArrowWriter;
    use mlops_testing::arrow::{dataset_from_parquet, read_parquet};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.parquet");
    let b = batch(0.0);
    let mut bytes = Vec::new();
    let mut w = ArrowWriter::try_new(&mut bytes, b.schema(), None).unwrap();
    w.write(&b).unwrap();
    w.close().unwrap();
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(read_parquet(&path).unwrap()[0], b);
    // (NaN != NaN: compared as JSON, where NaN is null.)
    assert_eq!(
        serde_json::to_value(dataset_from_parquet(&path).unwrap()).unwrap(),
        serde_json::to_value(dataset_from_record_batch(&b).unwrap()).unwrap()
    );
    let v = Validator::new(vec![Expectation::not_null("n")]).unwrap();
    assert_eq!(
        v.validate_parquet(&path).unwrap().results[0].unexpected_count,
        100
    );
    let cut = dir.path().join("cut.parquet");
    std::fs::write(&cut, &bytes[..bytes.len() - 4]).unwrap();
    let e = read_parquet(&cut).unwrap_err();
    assert!(e.to_string().contains("cut.parquet"), "{e}");
}
