//! `mlops-registry`'s MLflow backend against a local `mlflow server` (SQLite store) started by
//! the bench: resolving `models:/` URIs, reading a version by alias, creating a version, setting
//! an alias (with its audit record). Skips with a message when MLflow is not installed.
#![allow(missing_docs, clippy::print_stderr)]

use mlops_mlflow::test_server as mlflow_server;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use mlops_registry::{
    Alias, Change, MlflowConfig, MlflowRegistry, ModelUri, NewVersion, RegistryStore,
    RegistryStoreExt, Stage,
};

const MODEL: &str = "text-classifier";

fn mlflow(c: &mut Criterion) {
    let Some(server) = mlflow_server::shared() else {
        eprintln!(
            "registry_mlflow: skipped, no MLflow server (install mlflow or set MLOPS_MLFLOW)"
        );
        return;
    };
    let store = MlflowRegistry::new(MlflowConfig::new(&server.uri).unwrap());
    let champion: Alias = "champion".parse().unwrap();
    let ch = Change::by("bench");
    let mut last = None;
    for i in 0..10 {
        let v = store
            .register_version(
                &NewVersion::new(MODEL, format!("s3://models/{i}"))
                    .run_id(format!("run-{i}"))
                    .metric("accuracy", 0.5 + f64::from(i) / 20.0),
            )
            .unwrap();
        last = Some(v.version);
    }
    let last = last.unwrap();
    store
        .transition_stage(MODEL, last, Stage::Production, true, &ch)
        .unwrap();
    store.set_alias(MODEL, &champion, last, &ch).unwrap();

    let mut group = c.benchmark_group("registry_mlflow");
    let alias: ModelUri = format!("models:/{MODEL}@champion").parse().unwrap();
    let stage: ModelUri = format!("models:/{MODEL}/Production").parse().unwrap();
    // A freshly started server answers its first requests of each kind slowly: warm it up.
    for _ in 0..50 {
        store.resolve(&alias).unwrap();
        store.resolve(&stage).unwrap();
    }
    group.bench_function("resolve/alias", |b| {
        b.iter(|| store.resolve(black_box(&alias)).unwrap());
    });
    group.bench_function("resolve/stage", |b| {
        b.iter(|| store.resolve(black_box(&stage)).unwrap());
    });
    group.bench_function("get_version_by_alias", |b| {
        b.iter(|| store.get_version_by_alias(MODEL, &champion).unwrap());
    });
    group.bench_function("create_version", |b| {
        b.iter(|| {
            store
                .create_model_version(
                    &NewVersion::new(MODEL, "s3://models/x").metric("accuracy", 0.9),
                )
                .unwrap()
        });
    });
    group.bench_function("set_alias_with_audit", |b| {
        b.iter(|| store.set_alias(MODEL, &champion, last, &ch).unwrap());
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = mlflow
}
criterion_main!(benches);
