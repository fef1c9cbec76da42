//! `mlops-dvc` criterion benchmarks of the small operations: SHA-256 hashing (the ceiling of
//! every `track`), object put and verified read (memory vs file store), a no-op `track` and
//! `status`, and a text diff. The large figures (1 GiB, 20,000 files, checkout, push, gc, peak
//! memory) are in the `dvc_figures` bench program.
#![allow(missing_docs)]

use std::fs;
use std::hint::black_box;
use std::io::Read;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mlops_dvc::{ContentStore, Digest, FileContentStore, InMemoryContentStore, Repository};

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

fn stores() -> Vec<(
    &'static str,
    Box<dyn ContentStore>,
    Option<tempfile::TempDir>,
)> {
    let dir = tempfile::tempdir().unwrap();
    let file = FileContentStore::open(dir.path())
        .unwrap()
        .with_fsync(false);
    vec![
        ("memory", Box::new(InMemoryContentStore::new()), None),
        ("file", Box::new(file), Some(dir)),
    ]
}

fn objects(c: &mut Criterion) {
    let mut group = c.benchmark_group("dvc/object_10KiB");
    group.throughput(Throughput::Bytes(10 * 1024));
    for (name, store, _dir) in stores() {
        let mut n = 0u64;
        group.bench_function(BenchmarkId::new("put_new", name), |b| {
            b.iter(|| {
                n += 1;
                let mut data = vec![7u8; 10 * 1024];
                data[..8].copy_from_slice(&n.to_le_bytes());
                store.put_bytes(black_box(&data)).unwrap()
            });
        });
        let data = vec![9u8; 10 * 1024];
        let d = store.put_bytes(&data).unwrap().digest;
        group.bench_function(BenchmarkId::new("put_existing", name), |b| {
            b.iter(|| store.put_bytes(black_box(&data)).unwrap());
        });
        let mut out = Vec::with_capacity(10 * 1024);
        group.bench_function(BenchmarkId::new("read_verified", name), |b| {
            b.iter(|| {
                out.clear();
                store.open(&d).unwrap().read_to_end(&mut out).unwrap();
            });
        });
    }
    group.finish();
}

fn repository(c: &mut Criterion) {
    let mut group = c.benchmark_group("dvc/repository");
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::open(dir.path()).unwrap().with_fsync(false);
    fs::write(dir.path().join("one.csv"), vec![b'x'; 10 * 1024]).unwrap();
    for i in 0..1000 {
        let sub = dir.path().join(format!("dir/{:02}", i / 100));
        fs::create_dir_all(&sub).unwrap();
        fs::write(sub.join(format!("{i}.txt")), format!("row {i}\n")).unwrap();
    }
    repo.track("one.csv", "v1").unwrap();
    repo.track("dir", "v1").unwrap();
    // Let the racy window pass so the stat cache is trusted.
    std::thread::sleep(std::time::Duration::from_millis(100));
    repo.status("dir").unwrap();
    group.bench_function("track_unchanged_file", |b| {
        b.iter(|| assert!(!repo.track("one.csv", "again").unwrap().is_new()));
    });
    group.bench_function("status_noop_1000_files", |b| {
        b.iter(|| assert!(repo.status("dir").unwrap().is_clean()));
    });
    let v1: String = (0..1000)
        .map(|i| format!("{i},text {i},{}\n", i % 2))
        .collect();
    let v2 = v1.replace("500,text 500,0", "500,text 500,1") + "1000,new,1\n";
    fs::write(dir.path().join("t.csv"), &v1).unwrap();
    repo.track("t.csv", "1").unwrap();
    fs::write(dir.path().join("t.csv"), &v2).unwrap();
    repo.track("t.csv", "2").unwrap();
    group.bench_function("diff_text_1000_lines", |b| {
        b.iter(|| {
            let d = repo.diff("t.csv", 1, 2).unwrap();
            assert_eq!(d.text.unwrap().added, 2);
        });
    });
    group.finish();
}

criterion_group!(benches, hashing, objects, repository);
criterion_main!(benches);
