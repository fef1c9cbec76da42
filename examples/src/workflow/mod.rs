//! The end-to-end churn workflow run by the `end_to_end` binary: every crate of the SDK in one
//! `mlops-pipeline` DAG.
//!
//! ```text
//!   data ─> validate ─┬─> features ─> train ─┐
//!                     ├─> drift ──────────────┼─> evaluate ─> register ─> serve
//!                     └─> production ─────────┘
//! ```
//!
//! - `data` (cached): generates the customer table, versions it with `mlops-dvc` (v1, then a
//!   second batch makes v2) and a new batch of production traffic; prints the log and the diff.
//! - `validate` (cached): `mlops-testing` expectations over every raw row; a failure stops the
//!   workflow with the report: every step downstream of it is skipped, registration included.
//! - `features` (cached): ingests the rows into `mlops-features` with event times and builds the
//!   training set by a point-in-time join at the label times, checking that a late-arriving row
//!   and a row from after the label time do not leak.
//! - `drift` (cached): drift between the training data and the new batch.
//! - `train` (cached): three hyper-parameter configurations, each a run in `mlops-tracking`.
//! - `production`: the model serving now (`models:/churn-classifier@champion`), bootstrapped from
//!   a legacy model on a fresh registry.
//! - `evaluate`: held-out metrics with thresholds, regression against production, latency
//!   percentiles and drift, as a suite with JSON and JUnit reports.
//! - `register`: the best run's model registered in `mlops-registry` and promoted through a gate
//!   fed by the evaluation; a worse model is denied.
//! - `serve`: the champion loaded by URI, features looked up online, predictions printed.
//!
//! The first five steps are pure functions of their inputs and are cached in the pipeline's step
//! cache; the last four read or change the registry's current state and run every time.
#![allow(clippy::print_stdout)]

mod data;
mod features;
mod release;
mod training;

use std::error::Error;
use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};
use mlops_dvc::{InMemoryContentStore, Repository};
use mlops_features::{FeatureStore, FileOfflineStore, FileOnlineStore, Timestamp};
use mlops_pipeline::{
    Event, FileCache, InMemoryCache, Observer, Pipeline, RunOptions, RunReport, StepCache,
    StepStatus,
};
use mlops_registry::{FileRegistry, InMemoryRegistry, RegistryStore};
use mlops_tracking::{FileTrackingBackend, InMemoryTrackingBackend, Tracker, TrackingBackend};

/// The main job's usage text (what `--help` prints).
pub const USAGE: &str = "usage: end_to_end [--data DIR] [--memory] [--reset] [--bad-data]

  --data DIR   where everything is written (default ./mlops-data)
  --memory     run on the in-memory backends (only the data working copy and the reports
               are written, under DIR/memory)
  --reset      delete what earlier runs wrote under DIR before starting
  --bad-data   inject broken rows into the second batch: validation fails and the workflow
               stops (use a scratch --data folder)";

/// Command-line options of the workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The folder all state goes under.
    pub data: PathBuf,
    /// Use the in-memory backends.
    pub memory: bool,
    /// Delete earlier state first.
    pub reset: bool,
    /// Inject invalid rows into the second batch.
    pub bad_data: bool,
}

impl Options {
    /// Parse command-line arguments (without the program name).
    ///
    /// # Errors
    /// A message with the usage for an unknown argument, a missing value or `--help`.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut args = args.into_iter();
        let mut opts = Self {
            data: PathBuf::from("mlops-data"),
            memory: false,
            reset: false,
            bad_data: false,
        };
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--data" => {
                    opts.data = args
                        .next()
                        .ok_or_else(|| format!("--data needs a folder\n{USAGE}"))?
                        .into();
                }
                "--memory" => opts.memory = true,
                "--reset" => opts.reset = true,
                "--bad-data" => opts.bad_data = true,
                "-h" | "--help" => return Err(USAGE.to_owned()),
                other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
            }
        }
        Ok(opts)
    }
}

// ----- the synthetic timeline (all times are fixed, so every run prints the same) ----------------

pub(crate) const MINUTE_MS: i64 = 60_000;
pub(crate) const HOUR_MS: i64 = 60 * MINUTE_MS;
pub(crate) const DAY_MS: i64 = 24 * HOUR_MS;
/// 2026-01-01T00:00:00Z: the first customer snapshot.
pub(crate) const T0_MS: i64 = 1_767_225_600_000;
/// A churn label is known a week after the snapshot it belongs to.
pub(crate) const LABEL_DELAY_MS: i64 = 7 * DAY_MS;
/// The training set is built as of this time (2026-01-26): rows that arrived later are ignored.
pub(crate) const CUTOFF_MS: i64 = T0_MS + 25 * DAY_MS;
/// When the serving step runs (2026-02-01).
pub(crate) const SERVE_MS: i64 = T0_MS + 31 * DAY_MS;

// The timeline holds together: every label is known before the training cutoff, serving comes
// after it, customer 1 is past the TTL at serving time and the incoming batch is not.
#[allow(clippy::cast_possible_wrap)]
const _: () = {
    let last_snapshot = T0_MS + data::SNAPSHOT_STEP_MS * (data::BATCH1 + data::BATCH2 - 1) as i64;
    let ttl_ms = features::TTL_DAYS as i64 * DAY_MS;
    assert!(last_snapshot + LABEL_DELAY_MS < CUTOFF_MS);
    assert!(CUTOFF_MS < SERVE_MS);
    assert!(T0_MS + ttl_ms < SERVE_MS);
    assert!(data::INCOMING_START_MS + ttl_ms > SERVE_MS);
};

pub(crate) fn ts(ms: i64) -> Timestamp {
    Timestamp::from_micros(ms * 1000)
}

pub(crate) fn date(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms).map_or_else(
        || format!("{ms} ms"),
        |t| t.format("%Y-%m-%d %H:%M").to_string(),
    )
}

/// The demo's one clock, read by every crate that takes a clock (data versions, the feature
/// store, the tracker, the registry): simulated time that starts at the training cutoff
/// ([`CUTOFF_MS`], 2026-01-26) and moves forward only, one millisecond per reading so that
/// timestamps are distinct and ordered; the `serve` step moves it to [`SERVE_MS`] (2026-02-01).
/// The pipeline's own step timings are real durations and do not read it.
#[derive(Debug, Clone)]
pub(crate) struct DemoClock(Arc<AtomicI64>);

impl DemoClock {
    fn new(start_ms: i64) -> Self {
        Self(Arc::new(AtomicI64::new(start_ms)))
    }

    /// The current simulated time in ms; the clock then moves on by one millisecond.
    pub(crate) fn tick_ms(&self) -> i64 {
        self.0.fetch_add(1, Ordering::SeqCst)
    }

    /// Move the clock forward to `ms` (never back).
    pub(crate) fn advance_to(&self, ms: i64) {
        self.0.fetch_max(ms, Ordering::SeqCst);
    }
}

impl mlops_dvc::Clock for DemoClock {
    fn now(&self) -> DateTime<Utc> {
        datetime(self.tick_ms())
    }
}

impl mlops_tracking::Clock for DemoClock {
    fn now_ms(&self) -> i64 {
        self.tick_ms()
    }
}

impl mlops_features::Clock for DemoClock {
    fn now(&self) -> Timestamp {
        ts(self.tick_ms())
    }
}

impl mlops_registry::Clock for DemoClock {
    fn now(&self) -> DateTime<Utc> {
        datetime(self.tick_ms())
    }
}

fn datetime(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

// ----- console ---------------------------------------------------------------------------------

/// Progress lines, each prefixed with its step; a block is written under one lock so that the
/// lines of parallel steps do not interleave inside a table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Console;

impl Console {
    pub(crate) fn say(self, step: &str, text: impl fmt::Display) {
        let text = text.to_string();
        let mut block = String::new();
        for line in text.trim_end().lines() {
            let _ = writeln!(block, "[{step}] {line}");
        }
        // `print!` (not a raw stdout handle) so that a test running the workflow captures it.
        print!("{block}");
        let _ = std::io::stdout().flush();
    }
}

// ----- where things go ---------------------------------------------------------------------------

/// The folders of one workflow's state.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) root: PathBuf,
    pub(crate) data: PathBuf,
    pub(crate) features: PathBuf,
    pub(crate) tracking: PathBuf,
    pub(crate) registry: PathBuf,
    pub(crate) cache: PathBuf,
    pub(crate) reports: PathBuf,
}

/// The top-level folders the workflow creates (and `--reset` removes; nothing else is touched).
const OWN_FOLDERS: [&str; 7] = [
    "data",
    "features",
    "tracking",
    "registry",
    "pipeline-cache",
    "reports",
    "memory",
];

impl Layout {
    fn new(root: &Path, memory: bool) -> Self {
        let base = if memory {
            root.join("memory")
        } else {
            root.to_path_buf()
        };
        Self {
            root: root.to_path_buf(),
            data: base.join("data"),
            features: base.join("features"),
            tracking: base.join("tracking"),
            registry: base.join("registry"),
            cache: base.join("pipeline-cache"),
            reports: base.join("reports"),
        }
    }
}

/// The backends every step shares.
pub(crate) struct Env {
    /// The one clock every crate reads (see [`DemoClock`]).
    pub(crate) clock: DemoClock,
    pub(crate) layout: Layout,
    pub(crate) memory: bool,
    pub(crate) bad_data: bool,
    pub(crate) console: Console,
    pub(crate) repo: Repository,
    pub(crate) features: FeatureStore,
    pub(crate) tracker: Tracker,
    pub(crate) registry: Arc<dyn RegistryStore>,
}

impl Env {
    pub(crate) fn tracking(&self) -> &Arc<dyn TrackingBackend> {
        self.tracker.backend()
    }
}

/// The backends: the data repository, the feature store, tracking, registry, step cache.
type Backends = (
    Repository,
    FeatureStore,
    Arc<dyn TrackingBackend>,
    Arc<dyn RegistryStore>,
    Arc<dyn StepCache>,
);

fn open_env(opts: &Options, layout: Layout) -> Result<(Env, Arc<dyn StepCache>), Box<dyn Error>> {
    let clock = DemoClock::new(CUTOFF_MS);
    let registry_clock: Arc<dyn mlops_registry::Clock> = Arc::new(clock.clone());
    let (repo, features, tracking, registry, cache): Backends = if opts.memory {
        // The working copy and the version logs are files; the content store is in memory.
        if layout.data.exists() {
            std::fs::remove_dir_all(&layout.data)?;
        }
        (
            Repository::with_store(&layout.data, Arc::new(InMemoryContentStore::new()))?,
            // No periodic eviction (it would only reclaim memory: an evicted entity still reads
            // OutsideMaxAge in the serve step).
            FeatureStore::builder()
                .clock(Arc::new(clock.clone()))
                .evict_interval(None)
                .build()?,
            Arc::new(InMemoryTrackingBackend::new()),
            Arc::new(InMemoryRegistry::new().with_clock(registry_clock)),
            Arc::new(InMemoryCache::new()),
        )
    } else {
        (
            Repository::open(&layout.data)?,
            {
                let dir = &layout.features;
                std::fs::create_dir_all(dir)?;
                FeatureStore::builder()
                    .online(FileOnlineStore::open(dir.join("online"))?)
                    .offline(FileOfflineStore::open(dir.join("offline"))?)
                    .registry_file(dir.join("registry.json"))
                    .clock(Arc::new(clock.clone()))
                    .evict_interval(None)
                    .build()?
            },
            Arc::new(FileTrackingBackend::open(&layout.tracking)?),
            Arc::new(FileRegistry::open(&layout.registry)?.with_clock(registry_clock)),
            Arc::new(FileCache::open(&layout.cache)?),
        )
    };
    let repo = repo.with_clock(Arc::new(clock.clone()));
    // One millisecond per reading matters here: the tracker also reads its clock to decide when
    // buffered metrics are a flush interval (1 s) old, so a faster clock would flush (and fsync)
    // on every epoch.
    let tracker = Tracker::from_arc(tracking).with_clock(Arc::new(clock.clone()));
    let env = Env {
        clock,
        layout,
        memory: opts.memory,
        bad_data: opts.bad_data,
        console: Console,
        repo,
        features,
        tracker,
        registry,
    };
    Ok((env, cache))
}

// ----- the pipeline ------------------------------------------------------------------------------

/// Every step's name, in declaration order.
pub(crate) const STEPS: [&str; 9] = [
    "data",
    "validate",
    "features",
    "drift",
    "train",
    "production",
    "evaluate",
    "register",
    "serve",
];

fn build_pipeline(env: &Arc<Env>) -> Result<Pipeline, mlops_pipeline::PipelineError> {
    let mut b = Pipeline::builder("churn_end_to_end");
    let e = Arc::clone(env);
    b.step("data", move |ctx| data::data_step(&e, ctx))
        .param("customers", data::BATCH1 + data::BATCH2)
        .param("bad_data", env.bad_data)
        .cache("v1");
    let e = Arc::clone(env);
    b.step("validate", move |ctx| data::validate_step(&e, ctx))
        .after(["data"])
        .cache("v1");
    let e = Arc::clone(env);
    b.step("features", move |ctx| features::features_step(&e, ctx))
        .after(["data", "validate"])
        .param("ttl_days", features::TTL_DAYS)
        .cache("v1");
    let e = Arc::clone(env);
    b.step("drift", move |ctx| data::drift_step(&e, ctx))
        .after(["data", "validate"])
        .cache("v1");
    let e = Arc::clone(env);
    b.step("train", move |ctx| training::train_step(&e, ctx))
        .after(["features"])
        .param("configs", training::CONFIGS.map(|c| c.name))
        .cache("v1");
    let e = Arc::clone(env);
    // After `validate`: a failed quality gate stops everything downstream, including the
    // registration of the legacy model on a fresh registry.
    b.step("production", move |ctx| training::production_step(&e, ctx))
        .after(["data", "validate"]);
    let e = Arc::clone(env);
    b.step("evaluate", move |ctx| training::evaluate_step(&e, ctx))
        .after(["features", "train", "drift", "production"]);
    let e = Arc::clone(env);
    b.step("register", move |ctx| release::register_step(&e, ctx))
        .after(["train", "evaluate"]);
    let e = Arc::clone(env);
    b.step("serve", move |ctx| release::serve_step(&e, ctx))
        .after(["register"]);
    b.build()
}

/// Prints a progress line when a step starts, finishes, or is restored from the cache.
#[derive(Debug)]
struct Progress(Console);

impl Observer for Progress {
    fn on_event(&self, event: &Event<'_>) {
        match event {
            Event::RunStarted {
                pipeline,
                steps,
                threads,
            } => self.0.say(
                "pipeline",
                format!("{pipeline}: {steps} steps on {threads} threads"),
            ),
            Event::StepStarted { step, attempt } if *attempt > 1 => {
                self.0.say(step.as_str(), format!("attempt {attempt}"));
            }
            Event::StepStarted { step, .. } => self.0.say(step.as_str(), "started"),
            Event::StepFinished {
                step,
                status,
                duration,
                error,
            } => {
                let ms = duration.as_secs_f64() * 1e3;
                match error {
                    Some(e) => self
                        .0
                        .say(step.as_str(), format!("{status} after {ms:.1} ms: {e}")),
                    None => self.0.say(step.as_str(), format!("{status} in {ms:.1} ms")),
                }
            }
            Event::StepCached { step, .. } => {
                self.0
                    .say(step.as_str(), "cached: output restored, step not run");
            }
            Event::StepSkipped { step, reason } => {
                self.0.say(step.as_str(), format!("skipped ({reason})"));
            }
            Event::CacheProblem { step, detail } => {
                self.0
                    .say(step.as_str(), format!("cache problem: {detail}"));
            }
            _ => {}
        }
    }
}

/// What a finished workflow returns: the pipeline's report.
#[derive(Debug)]
pub struct Outcome {
    /// The pipeline run.
    pub report: RunReport,
}

impl Outcome {
    /// Whether every step succeeded (ran or was restored from the cache).
    #[must_use]
    pub fn is_success(&self) -> bool {
        self.report.is_success()
    }
}

/// Run the whole workflow, printing progress and a final summary.
///
/// # Errors
/// Opening the backends or building the pipeline failed; a failing step is not an error here
/// (see [`Outcome::is_success`]).
pub fn run(opts: &Options) -> Result<Outcome, Box<dyn Error>> {
    let console = Console;
    if opts.reset {
        for name in OWN_FOLDERS {
            let dir = opts.data.join(name);
            if dir.exists() {
                std::fs::remove_dir_all(&dir)?;
            }
        }
        console.say("setup", format!("--reset: cleared {}", opts.data.display()));
    }
    let layout = Layout::new(&opts.data, opts.memory);
    std::fs::create_dir_all(&layout.reports)?;
    let backends = if opts.memory {
        "in-memory backends (tracking, registry, features, pipeline cache, dvc content store)"
    } else {
        "file backends"
    };
    console.say(
        "setup",
        format!("state under {} on {backends}", opts.data.display()),
    );
    let (env, cache) = open_env(opts, layout)?;
    let env = Arc::new(env);
    let pipeline = build_pipeline(&env)?;
    let report = pipeline.run(
        &RunOptions::new()
            .threads(3)
            .cache(cache)
            .observer(Arc::new(Progress(console))),
    );
    let run_report = env.layout.reports.join("pipeline_run.json");
    std::fs::write(&run_report, report.to_json()?)?;
    print_summary(&env, &report, &run_report);
    Ok(Outcome { report })
}

fn print_summary(env: &Env, report: &RunReport, run_report: &Path) {
    let mut s = String::new();
    let _ = writeln!(s, "\n{report}");
    let names = |status: StepStatus| {
        STEPS
            .iter()
            .filter(|n| report.step(n).map(|r| r.status) == Some(status))
            .copied()
            .collect::<Vec<_>>()
    };
    let cached = names(StepStatus::Cached);
    let ran = names(StepStatus::Completed);
    let _ = writeln!(
        s,
        "steps restored from the cache: {}",
        if cached.is_empty() {
            "none".to_owned()
        } else {
            cached.join(", ")
        }
    );
    let _ = writeln!(s, "steps run: {}", ran.join(", "));
    if !report.is_success() {
        let failed: Vec<String> = report
            .steps
            .iter()
            .filter(|r| r.status.is_failure())
            .map(|r| format!("{} ({})", r.name, r.error.as_deref().unwrap_or("failed")))
            .collect();
        let _ = writeln!(s, "WORKFLOW STOPPED: {}", failed.join("; "));
    }
    let l = &env.layout;
    let _ = writeln!(s, "\nwhere everything was written:");
    let mut rows: Vec<(&str, String)> =
        vec![("data (dvc working copy)", l.data.display().to_string())];
    if env.memory {
        rows.push((
            "backends",
            "in memory (dvc content store, feature store, tracking, registry, step cache): gone when the process exits".to_owned(),
        ));
    } else {
        for (what, path) in [
            ("dvc content store", l.data.join(".mlops-dvc/cache")),
            ("feature store", l.features.clone()),
            ("experiment tracking", l.tracking.clone()),
            ("model registry", l.registry.clone()),
            ("pipeline step cache", l.cache.clone()),
        ] {
            rows.push((what, path.display().to_string()));
        }
    }
    rows.push(("reports", l.reports.display().to_string()));
    rows.push(("pipeline run report", run_report.display().to_string()));
    for (what, where_) in rows {
        let _ = writeln!(s, "  {what:<23} {where_}");
    }
    let _ = writeln!(s, "state root: {}", l.root.display());
    print!("{s}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        Options::parse(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn options() {
        let o = parse(&[]).unwrap();
        assert_eq!(o.data, PathBuf::from("mlops-data"));
        assert!(!o.memory && !o.reset && !o.bad_data);
        let o = parse(&["--data", "/tmp/x", "--memory", "--reset", "--bad-data"]).unwrap();
        assert_eq!(o.data, PathBuf::from("/tmp/x"));
        assert!(o.memory && o.reset && o.bad_data);
        assert!(parse(&["--data"]).unwrap_err().contains("needs a folder"));
        assert!(parse(&["--fast"]).unwrap_err().contains("unknown argument"));
        assert!(parse(&["--help"]).unwrap_err().starts_with("usage:"));
    }

    #[test]
    fn memory_layout_stays_under_its_own_folder() {
        let l = Layout::new(Path::new("/d"), true);
        for p in [
            &l.data,
            &l.features,
            &l.tracking,
            &l.registry,
            &l.cache,
            &l.reports,
        ] {
            assert!(p.starts_with("/d/memory"), "{}", p.display());
        }
        let l = Layout::new(Path::new("/d"), false);
        for p in [
            &l.data,
            &l.features,
            &l.tracking,
            &l.registry,
            &l.cache,
            &l.reports,
        ] {
            let top = p.strip_prefix("/d").unwrap().iter().next().unwrap();
            assert!(
                OWN_FOLDERS.contains(&top.to_str().unwrap()),
                "{}",
                p.display()
            );
        }
    }
}
