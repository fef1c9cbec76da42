//! `mlops-registry` benchmarks: resolving `models:/` URIs (the serving hot path) and creating
//! versions, on the in-memory and the file registry.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use mlops_registry::{
    Alias, Change, FileRegistry, InMemoryRegistry, ModelUri, NewModel, NewVersion, RegistryStore,
    RegistryStoreExt, Stage,
};

const MODEL: &str = "text-classifier";

/// A model with `n` versions; the last is in Production and is the `champion`.
fn fill(store: &dyn RegistryStore, n: u64) {
    store
        .create_registered_model(&NewModel::new(MODEL))
        .unwrap();
    let mut last = None;
    for i in 0..n {
        let v = store
            .create_model_version(
                &NewVersion::new(MODEL, format!("s3://models/{i}"))
                    .run_id(format!("run-{i}"))
                    .metric("accuracy", 0.5 + i as f64 / (2 * n) as f64),
            )
            .unwrap();
        last = Some(v.version);
    }
    let last = last.unwrap();
    let c = Change::by("bench");
    store
        .transition_stage(MODEL, last, Stage::Production, true, &c)
        .unwrap();
    store
        .set_alias(MODEL, &"champion".parse::<Alias>().unwrap(), last, &c)
        .unwrap();
}

fn resolve(c: &mut Criterion) {
    let mut group = c.benchmark_group("registry/resolve");
    let alias: ModelUri = format!("models:/{MODEL}@champion").parse().unwrap();
    let stage: ModelUri = format!("models:/{MODEL}/Production").parse().unwrap();
    for versions in [10u64, 1000] {
        let memory = InMemoryRegistry::new();
        fill(&memory, versions);
        let dir = tempfile::tempdir().unwrap();
        let file = FileRegistry::open(dir.path()).unwrap().with_fsync(false);
        fill(&file, versions);
        // A second handle on the directory: its cache starts cold and is filled once.
        let file = FileRegistry::open(dir.path()).unwrap();
        let stores: [(&str, &dyn RegistryStore); 2] = [("memory", &memory), ("file", &file)];
        for (backend, store) in stores {
            group.bench_with_input(
                BenchmarkId::new(format!("{backend}/alias"), versions),
                &alias,
                |b, uri| b.iter(|| store.resolve(black_box(uri)).unwrap()),
            );
            group.bench_with_input(
                BenchmarkId::new(format!("{backend}/stage"), versions),
                &stage,
                |b, uri| b.iter(|| store.resolve(black_box(uri)).unwrap()),
            );
            group.bench_with_input(
                BenchmarkId::new(format!("{backend}/get_by_alias"), versions),
                &"champion".parse::<Alias>().unwrap(),
                |b, a| b.iter(|| store.get_version_by_alias(MODEL, black_box(a)).unwrap()),
            );
        }
    }
    group.finish();
}

fn create_version(c: &mut Criterion) {
    let mut group = c.benchmark_group("registry/create_version");
    let memory = InMemoryRegistry::new();
    memory
        .create_registered_model(&NewModel::new(MODEL))
        .unwrap();
    let req = NewVersion::new(MODEL, "s3://models/x")
        .run_id("run")
        .metric("accuracy", 0.9)
        .tag("team", "nlp");
    group.bench_function("memory", |b| {
        b.iter(|| memory.create_model_version(black_box(&req)).unwrap());
    });
    for fsync in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let file = FileRegistry::open(dir.path()).unwrap().with_fsync(fsync);
        file.create_registered_model(&NewModel::new(MODEL)).unwrap();
        let name = if fsync {
            "file/fsync_on"
        } else {
            "file/fsync_off"
        };
        group.bench_function(name, |b| {
            b.iter(|| file.create_model_version(black_box(&req)).unwrap());
        });
    }
    group.finish();
}

fn set_alias(c: &mut Criterion) {
    let mut group = c.benchmark_group("registry/set_alias");
    for fsync in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let file = FileRegistry::open(dir.path()).unwrap().with_fsync(fsync);
        fill(&file, 10);
        let champion: Alias = "champion".parse().unwrap();
        let change = Change::by("bench");
        let mut n = 0u64;
        let name = if fsync {
            "file/fsync_on"
        } else {
            "file/fsync_off"
        };
        group.bench_function(name, |b| {
            b.iter(|| {
                n = n % 10 + 1;
                let v = mlops_registry::ModelVersionNumber::new(n).unwrap();
                file.set_alias(MODEL, &champion, v, &change).unwrap();
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = resolve, create_version, set_alias
}
criterion_main!(benches);
