//! mlops-testing: drift statistics on 1M vs 1M values, a 10-column drift report on 100k rows, and
//! data validation of 1M rows x 10 columns.
//!
//! `cargo bench -p mlops-benches --bench testing -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use mlops_testing::{
    Column, Dataset, DriftOptions, Expectation, KsMethod, Row, Validator, ValueType, drift_report,
    ks_2samp, psi, wasserstein_distance,
};
use serde_json::{Value, json};

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn bell(&mut self, shift: f64) -> f64 {
        self.next() + self.next() + self.next() + shift
    }
}

fn sample(seed: u64, n: usize, shift: f64) -> Vec<f64> {
    let mut r = Lcg(seed);
    (0..n).map(|_| r.bell(shift)).collect()
}

fn drift_stats(c: &mut Criterion) {
    let a = sample(1, 1_000_000, 0.0);
    let b = sample(2, 1_000_000, 0.01);
    let mut g = c.benchmark_group("testing_drift_1m_vs_1m");
    g.sample_size(10);
    g.bench_function("ks_2samp_auto", |bench| {
        bench.iter(|| black_box(ks_2samp(black_box(&a), black_box(&b), KsMethod::Auto).unwrap()));
    });
    g.bench_function("psi", |bench| {
        bench.iter(|| black_box(psi(black_box(&a), black_box(&b)).unwrap()));
    });
    g.bench_function("wasserstein", |bench| {
        bench.iter(|| black_box(wasserstein_distance(black_box(&a), black_box(&b)).unwrap()));
    });
    g.finish();
}

fn dataset(seed: u64, n: usize, shift: f64) -> Dataset {
    let mut r = Lcg(seed);
    let mut d = Dataset::new();
    for col in 0..8 {
        let v: Vec<f64> = (0..n)
            .map(|_| r.bell(if col < 3 { shift } else { 0.0 }))
            .collect();
        d.insert(format!("num{col}"), Column::Numeric(v)).unwrap();
    }
    for col in 0..2 {
        let v: Vec<Option<String>> = (0..n)
            .map(|_| Some(["a", "b", "c", "d"][(r.next() * 4.0) as usize].to_owned()))
            .collect();
        d.insert(format!("cat{col}"), Column::Categorical(v))
            .unwrap();
    }
    d
}

fn drift_report_bench(c: &mut Criterion) {
    let reference = dataset(3, 100_000, 0.0);
    let current = dataset(4, 100_000, 0.2);
    let opts = DriftOptions::default();
    let mut g = c.benchmark_group("testing_drift_report");
    g.sample_size(10);
    g.bench_function("10_columns_100k_rows", |bench| {
        bench.iter(|| black_box(drift_report(&reference, &current, &opts).unwrap()));
    });
    g.finish();
}

const COLUMNS: [&str; 10] = [
    "id", "age", "income", "score", "label", "city", "email", "active", "plan", "visits",
];

/// A compact fixed-schema row: ten JSON cells, fields found by position.
struct Record([Value; 10]);

impl Row for Record {
    fn field(&self, column: &str) -> Option<&Value> {
        COLUMNS
            .iter()
            .position(|c| *c == column)
            .map(|i| &self.0[i])
    }
}

fn record(i: usize, r: &mut Lcg) -> [Value; 10] {
    [
        json!(i),
        json!((18.0 + r.next() * 60.0).floor()),
        json!(20_000.0 + r.next() * 80_000.0),
        json!(r.next()),
        json!(i % 2),
        json!(["paris", "tokyo", "lima"][i % 3]),
        json!(format!("u{i}@example.com")),
        json!(!i.is_multiple_of(5)),
        json!(["basic", "plus", "pro"][i % 3]),
        if i.is_multiple_of(100) {
            Value::Null
        } else {
            json!(i % 50)
        },
    ]
}

fn expectations() -> Vec<Expectation> {
    vec![
        Expectation::not_null("id"),
        Expectation::between("age", Some(18.0), Some(100.0)),
        Expectation::between("income", Some(0.0), None),
        Expectation::between("score", Some(0.0), Some(1.0)),
        Expectation::in_set("label", [json!(0), json!(1)]),
        Expectation::in_set("city", [json!("paris"), json!("tokyo"), json!("lima")]),
        Expectation::matches_regex("email", r"^[^@\s]+@[^@\s]+$"),
        Expectation::of_type("active", ValueType::Bool),
        Expectation::in_set("plan", [json!("basic"), json!("plus"), json!("pro")]),
        Expectation::not_null("visits").mostly(0.95),
    ]
}

fn validation(c: &mut Criterion) {
    let mut r = Lcg(5);
    let records: Vec<Record> = (0..1_000_000).map(|i| Record(record(i, &mut r))).collect();
    let objects: Vec<Value> = (0..100_000)
        .map(|i| {
            let cells = record(i, &mut r);
            Value::Object(
                COLUMNS
                    .iter()
                    .zip(cells)
                    .map(|(k, v)| ((*k).to_owned(), v))
                    .collect(),
            )
        })
        .collect();
    let v = Validator::new(expectations()).unwrap();
    let mut g = c.benchmark_group("testing_validate");
    g.sample_size(10);
    g.bench_function("1m_rows_x_10_columns_records", |bench| {
        bench.iter(|| black_box(v.validate(&records).unwrap()));
    });
    g.bench_function("100k_json_objects_x_10_columns", |bench| {
        bench.iter(|| black_box(v.validate(&objects).unwrap()));
    });
    g.finish();
}

criterion_group!(benches, drift_stats, drift_report_bench, validation);
criterion_main!(benches);
