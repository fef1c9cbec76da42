//! mlops-testing: drift statistics on 1M vs 1M values, a 10-column drift report on 100k rows, and
//! data validation of 1M rows x 10 columns.
//!
//! `cargo bench -p mlops-benches --bench testing -- --warm-up-time 1 --measurement-time 3`

use mlops_benches::testing_fixture::{COLUMNS, Lcg, Record, expectations, record, sample};
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use mlops_testing::{
    Column, Dataset, DriftOptions, Validator, drift_report, stats::KsMethod, stats::ks_2samp,
    stats::psi, stats::wasserstein_distance,
};
use serde_json::Value;

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
            .map(|_| Some(["a", "b", "c", "d"][(r.next_f64() * 4.0) as usize].to_owned()))
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
