//! Our side of the `tracking` peer suite (`benches/peers/tracking/`): the same workload as
//! `workload.py` runs on MLflow, on `mlops-tracking`'s file backend (fsync on, the default)
//! and, as extra variants, through the buffered `ActiveRun` guard (`log_metric` only), on the
//! file backend with fsync off (the durability of MLflow's file store) and on the in-memory
//! backend. Prints one JSON line per case on stdout
//! (the protocol is in `benches/peers/README.md`); progress goes to stderr.
//!
//! Environment: `PEERS_WORK` (the directory for the stores; a temporary directory when unset)
//! and `PEERS_QUICK=1` (reduced sizes, to test the plumbing).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use mlops_benches::fmt::thousands;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use mlops_tracking::{
    Batch, CreateRun, ExperimentId, FileTrackingBackend, InMemoryTrackingBackend, RunId, RunStatus,
    SearchRuns, Tracker, TrackingBackend, TrackingBackendExt, model::now_ms,
};
use serde_json::json;

const SUITE: &str = "tracking";
const FILTER: &str = "metrics.acc > 0.5 and params.lr = '0.01'";
const ORDER: &str = "metrics.loss ASC";
const LRS: [&str; 3] = ["0.1", "0.01", "0.001"];
/// Searches timed per process; the median is reported.
const SEARCHES: usize = 5;

/// The workload's sizes (identical to `workload.py`).
struct Sizes {
    metrics: usize,
    batches: usize,
    batch_size: usize,
    params: usize,
    runs: usize,
}

impl Sizes {
    fn new(quick: bool) -> Self {
        if quick {
            Self {
                metrics: 200,
                batches: 2,
                batch_size: 1000,
                params: 30,
                runs: 100,
            }
        } else {
            Self {
                metrics: 2000,
                batches: 10,
                batch_size: 1000,
                params: 300,
                runs: 1000,
            }
        }
    }
}

/// The deterministic generator shared with `workload.py` (a 64-bit LCG; the top 53 bits give a
/// float in [0, 1)).
struct Lcg(u64);

impl Lcg {
    #[allow(clippy::cast_precision_loss)]
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One search-run's data: (lr, acc, loss).
fn search_data(runs: usize) -> Vec<(&'static str, f64, f64)> {
    let mut rng = Lcg(42);
    (0..runs)
        .map(|_| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let lr = LRS[((rng.next() * 3.0) as usize).min(2)];
            let acc = rng.next();
            let loss = rng.next();
            (lr, acc, loss)
        })
        .collect()
}

fn emit(case: &str, variant: &str, seconds: f64, count: usize, extra: Option<serde_json::Value>) {
    let mut line = json!({
        "suite": SUITE,
        "case": case,
        "variant": variant,
        "side": "mlops",
        "value": seconds * 1e3,
        "unit": "ms",
        "count": count,
    });
    if let (Some(serde_json::Value::Object(extra)), Some(obj)) = (extra, line.as_object_mut()) {
        obj.extend(extra);
    }
    println!("{line}");
}

fn case_names(s: &Sizes) -> [String; 4] {
    [
        format!("log_metric, {} single calls", thousands(s.metrics)),
        format!(
            "log_batch, {} x {}-metric batches",
            s.batches,
            thousands(s.batch_size)
        ),
        format!("log_param, {} single calls", thousands(s.params)),
        format!(
            "search_runs over {} runs (filter + order by metric), per call",
            thousands(s.runs)
        ),
    ]
}

fn new_run(backend: &dyn TrackingBackend, exp: &ExperimentId) -> mlops_tracking::Result<RunId> {
    Ok(backend.create_run(exp, &CreateRun::new())?.info.run_id)
}

/// Runs every case on `backend`, each on its own run (the search on its own experiment).
#[allow(clippy::cast_precision_loss)]
fn run_variant(backend: &dyn TrackingBackend, variant: &str, sizes: &Sizes) -> Result<(), String> {
    let err = |e: mlops_tracking::TrackingError| e.to_string();
    let [c_metric, c_batch, c_param, c_search] = case_names(sizes);
    let exp = backend
        .create_experiment("peers-tracking", &[])
        .map_err(err)?
        .experiment_id;

    // 1. Single log_metric calls, each one durable when it returns (as MLflow's).
    let run = new_run(backend, &exp).map_err(err)?;
    let t = Instant::now();
    for i in 0..sizes.metrics {
        let step = i64::try_from(i).map_err(|e| e.to_string())?;
        backend
            .log_metric(&run, "loss", 1.0 / (1.0 + i as f64), now_ms(), step)
            .map_err(err)?;
    }
    emit(
        &c_metric,
        variant,
        t.elapsed().as_secs_f64(),
        sizes.metrics,
        None,
    );

    // 2. Batches of metrics.
    let run = new_run(backend, &exp).map_err(err)?;
    let t = Instant::now();
    for b in 0..sizes.batches {
        let mut batch = Batch::new();
        let ts = now_ms();
        for i in 0..sizes.batch_size {
            let step =
                i64::try_from(b * sizes.batch_size / 10 + i / 10).map_err(|e| e.to_string())?;
            batch = batch.metric(
                format!("m{}", i % 10),
                (b * sizes.batch_size + i) as f64 * 1e-3,
                ts,
                step,
            );
        }
        backend.log_batch(&run, &batch).map_err(err)?;
    }
    emit(
        &c_batch,
        variant,
        t.elapsed().as_secs_f64(),
        sizes.batches * sizes.batch_size,
        None,
    );

    // 3. Single log_param calls.
    let run = new_run(backend, &exp).map_err(err)?;
    let t = Instant::now();
    for i in 0..sizes.params {
        backend
            .log_param(&run, &format!("p{i}"), &i.to_string())
            .map_err(err)?;
    }
    emit(
        &c_param,
        variant,
        t.elapsed().as_secs_f64(),
        sizes.params,
        None,
    );

    // 4. Search: populate an experiment (untimed), then time the same query SEARCHES times.
    let sexp = backend
        .create_experiment("peers-search", &[])
        .map_err(err)?
        .experiment_id;
    let data = search_data(sizes.runs);
    let t = Instant::now();
    for (i, (lr, acc, loss)) in data.iter().enumerate() {
        let run = backend
            .create_run(&sexp, &CreateRun::new().run_name(format!("run-{i}")))
            .map_err(err)?
            .info
            .run_id;
        let batch = Batch::new()
            .param("lr", *lr)
            .metric("acc", *acc, 1, 0)
            .metric("loss", *loss, 1, 0);
        backend.log_batch(&run, &batch).map_err(err)?;
    }
    eprintln!(
        "peers_tracking: {variant}: {} runs created in {:.1} s",
        sizes.runs,
        t.elapsed().as_secs_f64()
    );
    let expected = data
        .iter()
        .filter(|(lr, acc, _)| *lr == "0.01" && *acc > 0.5)
        .count();
    let req = SearchRuns::new([sexp])
        .filter(FILTER)
        .order_by(ORDER)
        .max_results(1000);
    let mut times = Vec::with_capacity(SEARCHES);
    let mut hits = 0;
    for _ in 0..SEARCHES {
        let t = Instant::now();
        let page = backend.search_runs(&req).map_err(err)?;
        times.push(t.elapsed().as_secs_f64());
        let losses: Vec<f64> = page
            .items
            .iter()
            .map(|r| r.data.metrics.get("loss").map_or(f64::NAN, |m| m.value))
            .collect();
        if !losses.windows(2).all(|w| w[0] <= w[1]) {
            return Err("search_runs: results are not ordered by metrics.loss ASC".into());
        }
        hits = page.items.len();
    }
    times.sort_by(f64::total_cmp);
    emit(
        &c_search,
        variant,
        times[times.len() / 2],
        1,
        Some(json!({"check": {"rows": hits, "expected": expected}})),
    );
    Ok(())
}

/// The guard path: `ActiveRun::log_metric` buffers and flushes every 1,000 metrics or 1 s; the
/// time includes the final flush at `end`.
#[allow(clippy::cast_precision_loss)]
fn run_guard(backend: FileTrackingBackend, variant: &str, sizes: &Sizes) -> Result<(), String> {
    let err = |e: mlops_tracking::TrackingError| e.to_string();
    let [c_metric, ..] = case_names(sizes);
    let tracker = Tracker::new(backend);
    let mut run = tracker
        .start_run("peers-tracking-guard", CreateRun::new())
        .map_err(err)?;
    let t = Instant::now();
    for i in 0..sizes.metrics {
        let step = i64::try_from(i).map_err(|e| e.to_string())?;
        run.log_metric("loss", 1.0 / (1.0 + i as f64), step)
            .map_err(err)?;
    }
    run.end(RunStatus::Finished).map_err(err)?;
    emit(
        &c_metric,
        variant,
        t.elapsed().as_secs_f64(),
        sizes.metrics,
        Some(
            json!({"note": "buffered in the run guard, durable at each flush (1,000 metrics or 1 s) and at end; end included"}),
        ),
    );
    Ok(())
}

fn work_dir() -> PathBuf {
    std::env::var_os("PEERS_WORK").map_or_else(
        || std::env::temp_dir().join(format!("peers-tracking-{}", std::process::id())),
        PathBuf::from,
    )
}

fn open_file(dir: &Path) -> Result<FileTrackingBackend, String> {
    FileTrackingBackend::open(dir).map_err(|e| format!("{}: {e}", dir.display()))
}

fn main() -> ExitCode {
    let quick = std::env::var("PEERS_QUICK").is_ok_and(|v| v == "1");
    let sizes = Sizes::new(quick);
    let work = work_dir().join("mlops-tracking");
    let version = env!("CARGO_PKG_VERSION");
    let file_variant = format!("mlops-tracking {version}, file backend (fsync on)");
    let guard_variant = format!("mlops-tracking {version}, file backend, ActiveRun guard");
    let memory_variant = format!("mlops-tracking {version}, in-memory backend");
    let nofsync_variant = format!("mlops-tracking {version}, file backend (fsync off)");

    let mut failed = false;
    let mut report = |what: &str, r: Result<(), String>| {
        if let Err(e) = r {
            eprintln!("peers_tracking: {what}: {e}");
            failed = true;
        }
    };
    report(
        &file_variant,
        open_file(&work.join("file")).and_then(|b| run_variant(&b, &file_variant, &sizes)),
    );
    report(
        &guard_variant,
        open_file(&work.join("guard")).and_then(|b| run_guard(b, &guard_variant, &sizes)),
    );
    report(
        &nofsync_variant,
        open_file(&work.join("nofsync"))
            .and_then(|b| run_variant(&b.with_fsync(false), &nofsync_variant, &sizes)),
    );
    report(
        &memory_variant,
        run_variant(&InMemoryTrackingBackend::new(), &memory_variant, &sizes),
    );
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
