//! Drift and validation read in place from Arrow: no copy of a `float64` column without nulls,
//! the same drift as through owned columns, the same validation results as the row path.
#![cfg(feature = "arrow")]

use std::borrow::Cow;
use std::sync::Arc;

use mlops_testing::arrow::arrow_array::builder::StringDictionaryBuilder;
use mlops_testing::arrow::arrow_array::types::Int16Type;
use mlops_testing::arrow::arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Float32Array, Float64Array, Int32Array, Int64Array,
    LargeStringArray, RecordBatch, StringArray, TimestampMillisecondArray, UInt8Array,
};
use mlops_testing::arrow::{
    column_drift_arrow, column_from_arrow, dataset_from_batches, drift_report_record_batches,
    null_counts, numeric_values, rows_from_record_batch,
};
use mlops_testing::{
    CheckStatus, DriftOptions, Expectation, Validator, drift::ColumnDriftOptions,
    drift::DriftMethod, drift::column_drift, drift_report, validate::ValueType,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// A small deterministic generator.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    #[allow(clippy::cast_precision_loss)]
    fn unit(&mut self) -> f64 {
        self.next() as f64 / f64::from(1u32 << 31)
    }
}

/// A batch of `n` rows of every column type the readers map, with nulls every `null_every`
/// rows (and NaN, infinities, repeated values, out-of-range and odd values mixed in).
#[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
fn random_batch(seed: u64, n: usize, null_every: u64) -> RecordBatch {
    let mut r = Lcg(seed);
    let null = |r: &mut Lcg| r.below(null_every) == 0;
    let x: Vec<Option<f64>> = (0..n)
        .map(|_| {
            if null(&mut r) {
                None
            } else {
                Some(match r.below(20) {
                    0 => f64::NAN,
                    1 => f64::INFINITY,
                    2 => -0.0,
                    _ => (r.unit() * 20.0).round() / 4.0 - 1.0,
                })
            }
        })
        .collect();
    let plain: Vec<f64> = (0..n).map(|_| (r.unit() * 8.0).floor()).collect();
    let f32s: Vec<Option<f32>> = (0..n)
        .map(|_| (!null(&mut r)).then(|| (r.unit() * 4.0) as f32))
        .collect();
    let i32s: Vec<Option<i32>> = (0..n)
        .map(|_| (!null(&mut r)).then(|| r.below(12) as i32 - 3))
        .collect();
    let i64s: Vec<i64> = (0..n).map(|i| i as i64 * 3 - (r.below(2) as i64)).collect();
    let u8s: Vec<Option<u8>> = (0..n)
        .map(|_| (!null(&mut r)).then(|| r.below(4) as u8))
        .collect();
    let flags: Vec<Option<bool>> = (0..n)
        .map(|_| (!null(&mut r)).then(|| r.below(3) == 0))
        .collect();
    let words = ["a@x.io", "b@y.org", "nope", "c d@z", "ü@é.fr", ""];
    let s: Vec<Option<&str>> = (0..n)
        .map(|_| (!null(&mut r)).then(|| words[r.below(6) as usize]))
        .collect();
    let large: Vec<Option<String>> = (0..n)
        .map(|i| (!null(&mut r)).then(|| format!("id{}", i / 2)))
        .collect();
    let mut dict = StringDictionaryBuilder::<Int16Type>::new();
    for _ in 0..n {
        if null(&mut r) {
            dict.append_null();
        } else {
            dict.append_value(["paris", "tokyo", "lima", "oslo"][r.below(4) as usize]);
        }
    }
    let ts: Vec<Option<i64>> = (0..n)
        .map(|_| (!null(&mut r)).then(|| 1_700_000_000_000 + r.below(5) as i64 * 1000))
        .collect();
    let blob: Vec<Option<&[u8]>> = (0..n)
        .map(|_| (!null(&mut r)).then_some(&b"\x00"[..]))
        .collect();
    RecordBatch::try_from_iter([
        ("x", Arc::new(Float64Array::from(x)) as ArrayRef),
        ("plain", Arc::new(Float64Array::from(plain))),
        ("f32", Arc::new(Float32Array::from(f32s))),
        ("i32", Arc::new(Int32Array::from(i32s))),
        ("i64", Arc::new(Int64Array::from(i64s))),
        ("u8", Arc::new(UInt8Array::from(u8s))),
        ("flag", Arc::new(BooleanArray::from(flags))),
        ("s", Arc::new(StringArray::from(s))),
        ("large", Arc::new(LargeStringArray::from(large))),
        ("city", Arc::new(dict.finish())),
        ("ts", Arc::new(TimestampMillisecondArray::from(ts))),
        ("blob", Arc::new(BinaryArray::from(blob))),
    ])
    .unwrap()
}

/// Expectations of every kind over every column (some pass, most fail somewhere).
fn every_expectation() -> Vec<Expectation> {
    let columns = [
        "x", "plain", "f32", "i32", "i64", "u8", "flag", "s", "large", "city", "ts", "blob",
    ];
    let mut out = vec![
        Expectation::row_count_between(Some(1), Some(10_000)),
        Expectation::row_count_between(Some(10_001), None),
        Expectation::column_to_exist("x"),
        Expectation::column_to_exist("no_such_column"),
        Expectation::between("no_such_column", Some(0.0), None),
        Expectation::compound_unique(["i32", "u8"]),
        Expectation::compound_unique(["s", "city", "flag"]).mostly(0.5),
        Expectation::compound_unique(["plain", "ts"]),
    ];
    for c in columns {
        out.extend([
            Expectation::not_null(c),
            Expectation::not_null(c).mostly(0.8),
            Expectation::between(c, Some(-0.5), Some(3.0)),
            Expectation::between(c, Some(0.0), None).strict(true, false),
            Expectation::in_set(
                c,
                [
                    json!(0),
                    json!(1.0),
                    json!("paris"),
                    json!("a@x.io"),
                    json!(true),
                ],
            ),
            Expectation::matches_regex(c, r"^[^@\s]+@[^@\s]+$").mostly(0.5),
            Expectation::unique(c),
            Expectation::unique(c).mostly(0.3),
        ]);
        for t in [
            ValueType::Bool,
            ValueType::Integer,
            ValueType::Number,
            ValueType::String,
            ValueType::Array,
            ValueType::Object,
        ] {
            out.push(Expectation::of_type(c, t));
        }
    }
    out
}

/// The row path: the batches as JSON rows, validated row by row.
fn row_path(v: &Validator, batches: &[RecordBatch]) -> mlops_testing::ValidationReport {
    let rows: Vec<Map<String, Value>> = batches.iter().flat_map(rows_from_record_batch).collect();
    v.validate(&rows).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn columnar_validation_equals_the_row_path(
        seed in any::<u64>(),
        sizes in prop::collection::vec(1usize..120, 1..4),
        null_every in 2u64..12,
    ) {
        let batches: Vec<RecordBatch> = sizes
            .iter()
            .enumerate()
            .map(|(k, &n)| random_batch(seed.wrapping_add(k as u64), n, null_every))
            .collect();
        let v = Validator::new(every_expectation()).unwrap();
        let columnar = v.validate_record_batches(&batches).unwrap();
        let rows = row_path(&v, &batches);
        prop_assert_eq!(columnar.row_count, rows.row_count);
        for (c, r) in columnar.results.iter().zip(&rows.results) {
            prop_assert_eq!(c, r);
        }
        prop_assert_eq!(columnar, rows);
    }
}

#[test]
fn columnar_validation_equals_the_row_path_on_batches_of_different_columns() {
    // The second batch lacks most columns: its rows are missing there, in both paths.
    let a = random_batch(7, 300, 5);
    let b = RecordBatch::try_from_iter([
        (
            "s",
            Arc::new(StringArray::from(vec!["a@x.io"; 40])) as ArrayRef,
        ),
        ("i32", Arc::new(Int32Array::from(vec![1; 40]))),
    ])
    .unwrap();
    let v = Validator::new(every_expectation()).unwrap();
    let batches = [a, b];
    assert_eq!(
        v.validate_record_batches(&batches).unwrap(),
        row_path(&v, &batches)
    );
}

#[test]
fn columnar_validation_counts_nulls_per_column_as_great_expectations() {
    let batch = random_batch(11, 2_000, 4);
    let nulls = null_counts(std::slice::from_ref(&batch));
    let columns: Vec<String> = nulls.columns.iter().map(|c| c.column.clone()).collect();
    let v = Validator::new(
        columns
            .iter()
            .map(|c| Expectation::of_type(c.clone(), ValueType::Number))
            .collect(),
    )
    .unwrap();
    let report = v.validate_record_batch(&batch).unwrap();
    for (res, ge) in report.results.iter().zip(&nulls.columns) {
        // Missing = Arrow nulls, plus the NaN and infinite floats JSON cannot hold (Arrow
        // counts those as values), plus every value of a type without a JSON mapping.
        let col = batch.column_by_name(&ge.column).unwrap();
        let not_json = match ge.column.as_str() {
            "x" => col
                .as_any()
                .downcast_ref::<Float64Array>()
                .unwrap()
                .iter()
                .flatten()
                .filter(|v| !v.is_finite())
                .count(),
            "blob" => col.len() - col.null_count(),
            _ => 0,
        };
        assert_eq!(res.element_count, ge.element_count, "{}", ge.column);
        assert_eq!(
            res.missing_count,
            ge.missing_count + not_json,
            "{}",
            ge.column
        );
        if not_json == 0 {
            assert!(
                (res.missing_percent - ge.missing_percent).abs() < 1e-12,
                "{}",
                ge.column
            );
        }
    }
    // Every column but "plain" and "i64" has nulls in this batch.
    assert_eq!(
        nulls
            .columns
            .iter()
            .filter(|c| c.missing_count == 0)
            .map(|c| c.column.as_str())
            .collect::<Vec<_>>(),
        ["plain", "i64"]
    );
}

#[test]
fn a_schema_column_is_known_without_rows() {
    let empty = random_batch(1, 0, 3);
    let v = Validator::new(vec![
        Expectation::column_to_exist("x"),
        Expectation::between("x", Some(0.0), Some(1.0)),
        Expectation::column_to_exist("nope"),
    ])
    .unwrap();
    let r = v.validate_record_batch(&empty).unwrap();
    assert_eq!(r.row_count, 0);
    assert_eq!(r.results[0].status, CheckStatus::Passed);
    assert_eq!(r.results[1].status, CheckStatus::Passed);
    assert_eq!(r.results[2].status, CheckStatus::Failed);
}

#[test]
fn numeric_values_borrow_a_float64_array_without_nulls() {
    let plain = Float64Array::from(vec![1.5, f64::NAN, 3.0]);
    let v = numeric_values(&plain).unwrap();
    assert!(matches!(v, Cow::Borrowed(_)));
    assert_eq!(v.as_ptr(), plain.values().as_ptr(), "no copy");
    assert_eq!(v.len(), 3);
    // With nulls (NaN in their place) and from other types: a converted copy.
    let with_nulls = Float64Array::from(vec![Some(1.0), None]);
    let v = numeric_values(&with_nulls).unwrap();
    assert!(matches!(v, Cow::Owned(_)));
    assert_eq!(v[0], 1.0);
    assert!(v[1].is_nan());
    let ints = Int32Array::from(vec![Some(-2), None, Some(7)]);
    let v = numeric_values(&ints).unwrap();
    assert_eq!(v[0], -2.0);
    assert!(v[1].is_nan());
    assert_eq!(v[2], 7.0);
    assert!(numeric_values(&StringArray::from(vec!["a"])).is_none());
}

#[test]
fn column_drift_from_arrays_equals_drift_of_owned_columns() {
    let (a, b) = (random_batch(3, 3_000, 6), random_batch(4, 2_500, 9));
    for name in [
        "x", "plain", "f32", "i32", "u8", "flag", "s", "large", "city",
    ] {
        let (ra, ca) = (
            a.column_by_name(name).unwrap().as_ref(),
            b.column_by_name(name).unwrap().as_ref(),
        );
        let owned = |o: ColumnDriftOptions| {
            column_drift(
                name,
                &column_from_arrow(name, ra).unwrap(),
                &column_from_arrow(name, ca).unwrap(),
                o,
            )
        };
        for o in [
            ColumnDriftOptions::default(),
            ColumnDriftOptions::method(DriftMethod::JensenShannon),
            ColumnDriftOptions::method(DriftMethod::Psi),
            ColumnDriftOptions::method(DriftMethod::ChiSquare),
        ] {
            assert_eq!(
                column_drift_arrow(name, ra, ca, o).unwrap(),
                owned(o).unwrap(),
                "{name}"
            );
        }
    }
    let e = column_drift_arrow(
        "blob",
        a.column_by_name("blob").unwrap().as_ref(),
        b.column_by_name("blob").unwrap().as_ref(),
        ColumnDriftOptions::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("column blob"), "{e}");
}

#[test]
fn drift_report_from_batches_equals_drift_report_of_datasets() {
    let keep = |b: RecordBatch| {
        let cols = ["x", "plain", "f32", "i32", "i64", "u8", "flag", "s", "city"];
        let idx: Vec<usize> = cols
            .iter()
            .map(|c| b.schema().index_of(c).unwrap())
            .collect();
        b.project(&idx).unwrap()
    };
    let reference: Vec<RecordBatch> = (0..3).map(|k| keep(random_batch(20 + k, 700, 7))).collect();
    let current = vec![keep(random_batch(99, 1_500, 3))];
    let options = DriftOptions::default().with_drift_share(0.3);
    let got = drift_report_record_batches(&reference, &current, &options).unwrap();
    let want = drift_report(
        &dataset_from_batches(&reference).unwrap(),
        &dataset_from_batches(&current).unwrap(),
        &options,
    )
    .unwrap();
    assert_eq!(got, want);
    assert_eq!(got.columns.len(), 9);
    // A reference column the current batches lack is named.
    let narrow = vec![current[0].project(&[0, 1]).unwrap()];
    let e = drift_report_record_batches(&reference, &narrow, &options).unwrap_err();
    assert!(e.to_string().contains("f32"), "{e}");
    // Batches of one side must share a schema.
    let mixed = vec![reference[0].clone(), narrow[0].clone()];
    let e = drift_report_record_batches(&mixed, &current, &options).unwrap_err();
    assert!(e.to_string().contains("batch 1"), "{e}");
}

#[test]
fn a_dictionary_column_without_values_is_all_missing() {
    // Every row null and no dictionary values: Arrow's normalized keys would panic.
    let mut b = StringDictionaryBuilder::<Int16Type>::new();
    b.append_nulls(3);
    let city: ArrayRef = Arc::new(b.finish());
    let batch = RecordBatch::try_from_iter([("city", city.clone())]).unwrap();
    let v = Validator::new(vec![
        Expectation::not_null("city"),
        Expectation::in_set("city", [json!("paris")]),
    ])
    .unwrap();
    let columnar = v.validate_record_batch(&batch).unwrap();
    assert_eq!(columnar.results[0].unexpected_count, 3);
    assert_eq!(columnar.results[1].missing_count, 3);
    assert_eq!(columnar, row_path(&v, std::slice::from_ref(&batch)));
    let mlops_testing::Column::Categorical(c) = column_from_arrow("city", city.as_ref()).unwrap()
    else {
        panic!("categorical")
    };
    assert_eq!(c, [None, None, None]);
    let e = column_drift_arrow(
        "city",
        city.as_ref(),
        city.as_ref(),
        ColumnDriftOptions::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("no usable values"), "{e}");
}
