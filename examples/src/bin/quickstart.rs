//! Quick start: writes a small synthetic dataset under a data folder, content-addresses each
//! file with `mlops-dvc`'s SHA-256 digests, and reports the hashing latency percentiles with
//! `mlops-testing` (numpy's `linear` and `inverted_cdf` methods).
//!
//! Usage: `cargo run --release -p mlops-examples --bin quickstart -- [--data DIR]`
//! (default `./mlops-data`).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fs;
use std::process::ExitCode;
use std::time::Instant;

use mlops_dvc::Digest;
use mlops_testing::{stats::QuantileMethod, stats::quantile_sorted, stats::sorted_finite};

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let data = mlops_examples::data_dir_arg("quickstart")?;
    let dir = data.join("quickstart");
    fs::create_dir_all(&dir)?;
    println!("writing 200 synthetic CSV shards under {}", dir.display());

    // A deterministic linear congruential generator keeps the data identical on every run.
    let mut state: u64 = 42;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    let mut latencies_us = Vec::new();
    let mut digests = Vec::new();
    for shard in 0..200 {
        let mut csv = String::from("customer_id,tenure_months,monthly_spend,churned\n");
        for row in 0..500 {
            let id = shard * 500 + row;
            let tenure = next() % 72;
            let spend = 20.0 + (next() % 10_000) as f64 / 100.0;
            let churned = u8::from(next() % 100 < 20);
            csv.push_str(&format!("{id},{tenure},{spend:.2},{churned}\n"));
        }
        let path = dir.join(format!("shard-{shard:03}.csv"));
        fs::write(&path, &csv)?;
        let start = Instant::now();
        let (digest, size) = Digest::of_reader(fs::File::open(&path)?)?;
        latencies_us.push(start.elapsed().as_secs_f64() * 1e6);
        digests.push((path, digest, size));
    }
    for (path, digest, size) in digests.iter().take(3) {
        println!("{digest}  {size:>6} B  {}", path.display());
    }
    println!("... {} shards hashed", digests.len());
    let sorted = sorted_finite(&latencies_us)?;
    for method in [QuantileMethod::Linear, QuantileMethod::InvertedCdf] {
        println!(
            "hash latency ({method}): p50 {:.1} us, p95 {:.1} us, p99 {:.1} us",
            quantile_sorted(&sorted, 0.50, method)?,
            quantile_sorted(&sorted, 0.95, method)?,
            quantile_sorted(&sorted, 0.99, method)?,
        );
    }
    println!("data written under {}", dir.display());
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
