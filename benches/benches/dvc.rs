//! `mlops-dvc` benchmarks: SHA-256 hashing throughput (the ceiling of every `track`).
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mlops_dvc::Digest;

fn hashing(c: &mut Criterion) {
    let mut group = c.benchmark_group("dvc/digest");
    for size in [10 * 1024, 1024 * 1024, 16 * 1024 * 1024] {
        let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("of_reader", size), &data, |b, data| {
            b.iter(|| Digest::of_reader(black_box(&data[..])).unwrap());
        });
    }
    group.finish();
}

criterion_group!(benches, hashing);
criterion_main!(benches);
