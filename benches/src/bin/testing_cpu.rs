//! CPU time (user + system, all threads, from `/proc/self/stat`) and wall time per operation of
//! the mlops-testing figures, for machines where other jobs make criterion's wall-clock medians
//! unrepresentative. Linux only; prints nothing useful elsewhere.
//!
//! `cargo run --release -p mlops-benches --bin testing_cpu`
#![allow(clippy::print_stdout)]

use mlops_benches::proc_stats::process_cpu_seconds;
use std::hint::black_box;
use std::time::Instant;

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

fn measure(name: &str, runs: u32, mut f: impl FnMut()) {
    f(); // warm-up
    let (c0, t0) = (process_cpu_seconds(), Instant::now());
    for _ in 0..runs {
        f();
    }
    let wall = t0.elapsed().as_secs_f64() / f64::from(runs) * 1e3;
    match (c0, process_cpu_seconds()) {
        (Some(a), Some(b)) => println!(
            "{name:<40} cpu {:>8.1} ms/op   wall {wall:>8.1} ms/op   ({runs} runs)",
            (b - a) / f64::from(runs) * 1e3
        ),
        _ => println!("{name:<40} wall {wall:>8.1} ms/op   ({runs} runs; no /proc/self/stat)"),
    }
}

const COLUMNS: [&str; 10] = [
    "id", "age", "income", "score", "label", "city", "email", "active", "plan", "visits",
];

struct Record([Value; 10]);

impl Row for Record {
    fn field(&self, column: &str) -> Option<&Value> {
        COLUMNS
            .iter()
            .position(|c| *c == column)
            .map(|i| &self.0[i])
    }
}

fn main() {
    let mut r = Lcg(1);
    let a: Vec<f64> = (0..1_000_000).map(|_| r.bell(0.0)).collect();
    let b: Vec<f64> = (0..1_000_000).map(|_| r.bell(0.01)).collect();
    measure("ks_2samp auto 1M vs 1M", 10, || {
        black_box(ks_2samp(&a, &b, KsMethod::Auto).unwrap());
    });
    measure("psi 1M vs 1M", 10, || {
        black_box(psi(&a, &b).unwrap());
    });
    measure("wasserstein 1M vs 1M", 10, || {
        black_box(wasserstein_distance(&a, &b).unwrap());
    });

    let dataset = |seed: u64, shift: f64| {
        let mut r = Lcg(seed);
        let mut d = Dataset::new();
        for col in 0..8 {
            let v: Vec<f64> = (0..100_000)
                .map(|_| r.bell(if col < 3 { shift } else { 0.0 }))
                .collect();
            d.insert(format!("num{col}"), Column::Numeric(v)).unwrap();
        }
        for col in 0..2 {
            let v: Vec<Option<String>> = (0..100_000)
                .map(|_| Some(["a", "b", "c", "d"][(r.next() * 4.0) as usize].to_owned()))
                .collect();
            d.insert(format!("cat{col}"), Column::Categorical(v))
                .unwrap();
        }
        d
    };
    let (reference, current) = (dataset(3, 0.0), dataset(4, 0.2));
    measure("drift report 10 columns x 100k rows", 10, || {
        black_box(drift_report(&reference, &current, &DriftOptions::default()).unwrap());
    });

    let records: Vec<Record> = (0..1_000_000)
        .map(|i| {
            Record([
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
            ])
        })
        .collect();
    let v = Validator::new(vec![
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
    ])
    .unwrap();
    measure("validate 1M rows x 10 columns", 5, || {
        black_box(v.validate(&records).unwrap());
    });
}
