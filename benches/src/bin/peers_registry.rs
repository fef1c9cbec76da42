//! Our side of the `registry` peer suite (`benches/peers/registry/`): the same workload as
//! `workload.py` runs on MLflow's model registry, on `mlops-registry`'s `FileRegistry` (fsync
//! on, the default) and, as extra variants, on `FileRegistry` with fsync off (the durability
//! of MLflow's file store) and on its `InMemoryRegistry`. Prints one JSON line
//! per case on stdout (the protocol is in `benches/peers/README.md`); errors go to stderr.
//!
//! Environment: `PEERS_WORK` (the directory for the store; a temporary directory when unset)
//! and `PEERS_QUICK=1` (reduced sizes, to test the plumbing).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use mlops_registry::{
    Alias, Change, FileRegistry, InMemoryRegistry, ModelVersionNumber, NewModel, NewVersion,
    RegistryError, RegistryStore, RegistryStoreExt, Stage,
};
use serde_json::json;

const SUITE: &str = "registry";
const MODEL: &str = "peers-model";

fn emit(case: &str, variant: &str, seconds: f64, count: u64) {
    let line = json!({
        "suite": SUITE,
        "case": case,
        "variant": variant,
        "side": "mlops",
        "value": seconds * 1e3,
        "unit": "ms",
        "count": count,
    });
    println!("{line}");
}

/// The four cases in order on `store`; an error names the failed call or the wrong answer.
fn run_variant(store: &dyn RegistryStore, variant: &str, n: u64) -> Result<(), String> {
    let err = |e: RegistryError| e.to_string();
    store
        .create_registered_model(&NewModel::new(MODEL))
        .map_err(err)?;
    let change = Change::by("peers");
    let champion: Alias = "champion".parse().map_err(err)?;

    let t = Instant::now();
    for i in 0..n {
        store
            .create_model_version(&NewVersion::new(MODEL, format!("s3://models/{i}")))
            .map_err(err)?;
    }
    emit(
        &format!("create_model_version, {n} calls"),
        variant,
        t.elapsed().as_secs_f64(),
        n,
    );

    let t = Instant::now();
    for i in 1..=n {
        store
            .set_alias(
                MODEL,
                &champion,
                ModelVersionNumber::new(i).map_err(err)?,
                &change,
            )
            .map_err(err)?;
    }
    emit(
        &format!("set alias, {n} calls"),
        variant,
        t.elapsed().as_secs_f64(),
        n,
    );

    let t = Instant::now();
    for i in 1..=n {
        store
            .transition_stage(
                MODEL,
                ModelVersionNumber::new(i).map_err(err)?,
                Stage::Staging,
                false,
                &change,
            )
            .map_err(err)?;
    }
    emit(
        &format!("transition stage, {n} calls"),
        variant,
        t.elapsed().as_secs_f64(),
        n,
    );

    let t = Instant::now();
    for _ in 0..n {
        let v = store.get_version_by_alias(MODEL, &champion).map_err(err)?;
        if v.version.get() != n {
            return Err(format!(
                "get by alias returned version {}, expected {n}",
                v.version
            ));
        }
    }
    emit(
        &format!("get version by alias, {n} calls"),
        variant,
        t.elapsed().as_secs_f64(),
        n,
    );
    Ok(())
}

fn main() -> ExitCode {
    let quick = std::env::var("PEERS_QUICK").is_ok_and(|v| v == "1");
    let n = if quick { 10 } else { 100 };
    let work = std::env::var_os("PEERS_WORK")
        .map_or_else(
            || std::env::temp_dir().join(format!("peers-registry-{}", std::process::id())),
            PathBuf::from,
        )
        .join("mlops-registry");
    let version = env!("CARGO_PKG_VERSION");
    let file_variant = format!("mlops-registry {version}, FileRegistry (fsync on)");
    let memory_variant = format!("mlops-registry {version}, InMemoryRegistry");

    let mut failed = false;
    match FileRegistry::open(&work) {
        Ok(store) => {
            if let Err(e) = run_variant(&store, &file_variant, n) {
                eprintln!("peers_registry: {file_variant}: {e}");
                failed = true;
            }
        }
        Err(e) => {
            eprintln!("peers_registry: open {}: {e}", work.display());
            failed = true;
        }
    }
    let nofsync_variant = format!("mlops-registry {version}, FileRegistry (fsync off)");
    match FileRegistry::open(work.with_extension("nofsync")) {
        Ok(store) => {
            if let Err(e) = run_variant(&store.with_fsync(false), &nofsync_variant, n) {
                eprintln!("peers_registry: {nofsync_variant}: {e}");
                failed = true;
            }
        }
        Err(e) => {
            eprintln!("peers_registry: open {}: {e}", work.display());
            failed = true;
        }
    }
    if let Err(e) = run_variant(&InMemoryRegistry::new(), &memory_variant, n) {
        eprintln!("peers_registry: {memory_variant}: {e}");
        failed = true;
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
