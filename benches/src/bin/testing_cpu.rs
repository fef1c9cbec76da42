//! CPU time (user + system, all threads, from `/proc/self/stat`) and wall time per operation of
//! the mlops-testing figures, for machines where other jobs make criterion's wall-clock medians
//! unrepresentative. Linux only; prints nothing useful elsewhere.
//!
//! `cargo run --release -p mlops-benches --bin testing_cpu`
#![allow(clippy::print_stdout)]

use mlops_benches::proc_stats::process_cpu_seconds;
use mlops_benches::testing_fixture::{Lcg, Record, expectations, record};
use std::hint::black_box;
use std::time::Instant;

use mlops_testing::{
    Column, Dataset, DriftOptions, Validator, drift_report, stats::KsMethod, stats::ks_2samp,
    stats::psi, stats::wasserstein_distance,
};

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
                .map(|_| Some(["a", "b", "c", "d"][(r.next_f64() * 4.0) as usize].to_owned()))
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

    let records: Vec<Record> = (0..1_000_000).map(|i| Record(record(i, &mut r))).collect();
    let v = Validator::new(expectations()).unwrap();
    measure("validate 1M rows x 10 columns", 5, || {
        black_box(v.validate(&records).unwrap());
    });
}
