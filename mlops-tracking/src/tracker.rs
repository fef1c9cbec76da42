//! The client API training code uses: [`Tracker`], which starts runs and queries them.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::active_run::ActiveRun;
use crate::clock::{Clock, SystemClock, duration_ms};

use crate::backend::{TrackingBackend, TrackingBackendExt};
use crate::compare::{Direction, RunComparison};
use crate::error::{EntityKind, Result, TrackingError};
use crate::file::FileTrackingBackend;
use crate::ids::{ExperimentId, MAX_BATCH_METRICS, RunId, validate_key};
use crate::model::{
    CreateRun, Experiment, Run, RunInfo, RunStatus, SearchRuns, TAG_SOURCE_NAME, TAG_SOURCE_TYPE,
    UpdateRun,
};

/// The environment variable naming the directory of [`Tracker::from_env`]'s file store.
pub const TRACKING_DIR_ENV: &str = "MLOPS_TRACKING_DIR";
/// [`Tracker::from_env`]'s directory when no variable names one (MLflow's default, `./mlruns`).
pub const DEFAULT_TRACKING_DIR: &str = "mlruns";

/// Metrics an [`ActiveRun`] buffers before it writes them (MLflow's batch limit).
pub const DEFAULT_BUFFER_CAPACITY: usize = MAX_BATCH_METRICS;
/// How old the oldest buffered metric may get before the next `log_metric` flushes.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// The entry point of training code: starts runs on any [`TrackingBackend`] and queries them.
///
/// Cloning is cheap; clones share the backend.
#[derive(Clone)]
pub struct Tracker {
    backend: Arc<dyn TrackingBackend>,
    clock: Arc<dyn Clock>,
    buffer_capacity: usize,
    flush_interval_ms: i64,
    flush_requests: usize,
}

impl fmt::Debug for Tracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracker")
            .field("backend", &self.backend)
            .field("buffer_capacity", &self.buffer_capacity)
            .field("flush_interval_ms", &self.flush_interval_ms)
            .field("flush_requests", &self.flush_requests)
            .finish_non_exhaustive()
    }
}

impl Tracker {
    /// A tracker over `backend`.
    pub fn new(backend: impl TrackingBackend) -> Self {
        Self::from_arc(Arc::new(backend))
    }

    /// A tracker over a shared backend.
    #[must_use]
    pub fn from_arc(backend: Arc<dyn TrackingBackend>) -> Self {
        Self {
            backend,
            clock: Arc::new(SystemClock),
            buffer_capacity: DEFAULT_BUFFER_CAPACITY,
            flush_interval_ms: duration_ms(DEFAULT_FLUSH_INTERVAL),
            flush_requests: 1,
        }
    }

    /// A tracker over the file store in `dir` (created when missing; see
    /// [`FileTrackingBackend`]).
    ///
    /// # Errors
    /// As [`FileTrackingBackend::open`]; `InvalidArgument` when `dir` holds an MLflow file store
    /// (`0/meta.yaml`), whose format this crate does not read.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        if !dir.join("mlops-tracking.json").exists() && dir.join("0").join("meta.yaml").exists() {
            return Err(TrackingError::invalid(
                "tracking directory",
                format!(
                    "{} holds an MLflow file store, which this crate does not read; choose \
                     another directory ({TRACKING_DIR_ENV})",
                    dir.display()
                ),
            ));
        }
        Ok(Self::new(FileTrackingBackend::open(dir)?))
    }

    /// The one-call opener, as MLflow's default: a file store in `$MLOPS_TRACKING_DIR` when set,
    /// else where `$MLFLOW_TRACKING_URI` points (a `file:` URI or a plain path; an `http(s)` URI
    /// opens an [`MlflowTrackingBackend`](crate::MlflowTrackingBackend) with the crate's `mlflow`
    /// feature), else `./mlruns` ([`DEFAULT_TRACKING_DIR`]).
    ///
    /// # Errors
    /// As [`Tracker::open`]; `InvalidArgument` for an `MLFLOW_TRACKING_URI` this build cannot
    /// use (`http(s)` without the `mlflow` feature, another scheme).
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// [`Tracker::from_env`] with the environment read through `get`.
    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        if let Some(dir) = get(TRACKING_DIR_ENV) {
            return Self::open(dir);
        }
        let Some(uri) = get("MLFLOW_TRACKING_URI") else {
            return Self::open(DEFAULT_TRACKING_DIR);
        };
        if let Some(path) = uri.strip_prefix("file://") {
            return Self::open(path);
        }
        if let Some(path) = uri.strip_prefix("file:") {
            return Self::open(path);
        }
        if uri.starts_with("http://") || uri.starts_with("https://") {
            #[cfg(feature = "mlflow")]
            {
                let config = crate::MlflowConfig::from_lookup(&get)
                    .map_err(|e| TrackingError::invalid("mlflow configuration", e.to_string()))?;
                return Ok(Self::new(crate::MlflowTrackingBackend::new(config)));
            }
            #[cfg(not(feature = "mlflow"))]
            return Err(TrackingError::invalid(
                "MLFLOW_TRACKING_URI",
                format!(
                    "{uri:?} is an MLflow server; enable mlops-tracking's `mlflow` feature to \
                     log to it"
                ),
            ));
        }
        if uri.contains("://") {
            return Err(TrackingError::invalid(
                "MLFLOW_TRACKING_URI",
                format!("{uri:?}: only file: paths and http(s) servers are supported"),
            ));
        }
        Self::open(uri)
    }

    /// Use `clock` (milliseconds since the Unix epoch) for run start and end times and metric
    /// timestamps. The flush interval is measured on the same clock, since it is the time the
    /// metrics are stamped with: a simulated clock that advances by seconds per reading flushes
    /// (and, on a durable backend, fsyncs) at nearly every call.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Buffer at most `n` metrics (at least 1) per active run before writing them.
    #[must_use]
    pub fn with_buffer_capacity(mut self, n: usize) -> Self {
        self.buffer_capacity = n.max(1);
        self
    }

    /// Flush buffered metrics at the next `log_metric` once the oldest is `interval` old, by the
    /// tracker's clock (see [`Tracker::with_clock`]).
    #[must_use]
    pub fn with_flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval_ms = duration_ms(interval);
        self
    }

    /// Write a flush of more than 1,000 buffered metrics with up to `n` concurrent
    /// [`log_batch`](TrackingBackend::log_batch) calls of 1,000 (default 1: one after the other).
    ///
    /// Meant for a remote backend whose latency, not its throughput, bounds a sequential flush
    /// (an MLflow server with several workers); use it with a buffer capacity of several
    /// thousand ([`with_buffer_capacity`](Self::with_buffer_capacity)). The batches of one
    /// flush may then be stored in any order: a metric's history stays ordered on a backend that
    /// orders it by `(timestamp, step)`, as MLflow does, but an embedded backend, which keeps
    /// logging order, would interleave the batches. A failed batch stays buffered for the next
    /// flush; the batches that succeeded are not sent again.
    #[must_use]
    pub fn with_flush_requests(mut self, n: usize) -> Self {
        self.flush_requests = n.max(1);
        self
    }

    /// The backend.
    #[must_use]
    pub fn backend(&self) -> &Arc<dyn TrackingBackend> {
        &self.backend
    }

    /// The experiment named `name`, created when missing.
    ///
    /// # Errors
    /// Backend errors; `InvalidArgument` for a bad name.
    pub fn experiment(&self, name: &str) -> Result<Experiment> {
        if let Some(e) = self.backend.get_experiment_by_name(name)? {
            return Ok(e);
        }
        match self.backend.create_experiment(name, &[]) {
            Ok(e) => Ok(e),
            // Another process created it meanwhile.
            Err(TrackingError::AlreadyExists { .. }) => self
                .backend
                .get_experiment_by_name(name)?
                .ok_or_else(|| TrackingError::NotFound {
                    kind: EntityKind::Experiment,
                    id: name.to_owned(),
                }),
            Err(e) => Err(e),
        }
    }

    /// Start a run in the experiment named `experiment` (created when missing) and return its
    /// guard. `opts` carries the run name, tags and parent; the start time defaults to the
    /// tracker's clock, the user to `$USER`, and the `mlflow.source.name` / `mlflow.source.type`
    /// tags to the executable's file name and `LOCAL`, as MLflow's client does.
    ///
    /// # Errors
    /// Backend errors: `Conflict` when the experiment is deleted, `NotFound` for an unknown
    /// parent, `InvalidArgument` for bad tags.
    pub fn start_run(&self, experiment: &str, opts: CreateRun) -> Result<ActiveRun> {
        let exp = self.experiment(experiment)?;
        let mut opts = opts;
        if opts.start_time.is_none() {
            opts.start_time = Some(self.clock.now_ms());
        }
        // MLflow's client fills these in; so does this one, unless given.
        if opts.user_id.is_none() {
            opts.user_id = std::env::var("USER").ok().filter(|u| !u.is_empty());
        }
        let has = |tags: &[(String, String)], k: &str| tags.iter().any(|(key, _)| key == k);
        if !has(&opts.tags, TAG_SOURCE_NAME)
            && let Some(name) = std::env::current_exe()
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        {
            opts.tags.push((TAG_SOURCE_NAME.to_owned(), name));
        }
        if !has(&opts.tags, TAG_SOURCE_TYPE) {
            opts.tags
                .push((TAG_SOURCE_TYPE.to_owned(), "LOCAL".to_owned()));
        }
        let run = self.backend.create_run(&exp.experiment_id, &opts)?;
        Ok(self.guard(run.info))
    }

    /// Resume an existing run (MLflow's `start_run(run_id=...)`): a training job restarted
    /// after a crash continues logging into its run. The run's status goes back to `RUNNING`
    /// (its params, tags, metrics and artifacts stay; its end time, if it had one, is kept
    /// until the run ends again, as MLflow does), and the guard behaves as for a new run:
    /// buffered metrics, ends the run `FINISHED` when dropped, `FAILED` on panic.
    ///
    /// ```
    /// use mlops_tracking::{CreateRun, InMemoryTrackingBackend, RunStatus, Tracker};
    ///
    /// let tracker = Tracker::new(InMemoryTrackingBackend::new());
    /// let mut run = tracker.start_run("training", CreateRun::new())?;
    /// run.log_metric("loss", 0.9, 0)?;
    /// let id = run.run_id();
    /// run.end(RunStatus::Failed)?; // the job died
    ///
    /// let mut run = tracker.resume_run(&id)?; // the restarted job
    /// assert_eq!(run.info().status, RunStatus::Running);
    /// run.log_metric("loss", 0.5, 1)?;
    /// run.end(RunStatus::Finished)?;
    /// # Ok::<(), mlops_tracking::TrackingError>(())
    /// ```
    ///
    /// # Errors
    /// `NotFound` for an unknown run; `Conflict` for a deleted run (restore it first); backend
    /// errors.
    pub fn resume_run(&self, run_id: &RunId) -> Result<ActiveRun> {
        let run = self.backend.get_run(run_id)?;
        if run.info.lifecycle_stage != crate::model::LifecycleStage::Active {
            return Err(TrackingError::Conflict(format!(
                "run {run_id} is deleted; restore it before resuming it"
            )));
        }
        let info = self
            .backend
            .update_run(run_id, &UpdateRun::new().status(RunStatus::Running))?;
        Ok(self.guard(info))
    }

    /// The active-run guard of `info`'s run.
    fn guard(&self, info: RunInfo) -> ActiveRun {
        ActiveRun::new(
            Arc::clone(&self.backend),
            Arc::clone(&self.clock),
            info,
            self.buffer_capacity,
            self.flush_interval_ms,
            self.flush_requests,
        )
    }

    /// Compare runs side by side: params and each metric's last, min and max (see
    /// [`RunComparison`], whose `Display` draws the table).
    ///
    /// # Errors
    /// `NotFound` for an unknown run; backend errors.
    pub fn compare_runs(&self, run_ids: &[RunId]) -> Result<RunComparison> {
        RunComparison::build(&*self.backend, run_ids)
    }

    /// The active run of the experiment (by name or id) with the best latest value of `metric`
    /// in the given direction; `None` when no run has logged it. Runs whose latest value is NaN
    /// rank last.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad metric key; `NotFound` for an unknown experiment.
    pub fn best_run<'a>(
        &self,
        experiment: impl Into<ExperimentRef<'a>>,
        metric: &str,
        direction: Direction,
    ) -> Result<Option<Run>> {
        validate_key("metric key", metric)?;
        let order = match direction {
            Direction::Maximize => "DESC",
            Direction::Minimize => "ASC",
        };
        let id = self.experiment_id(experiment.into())?;
        let req = SearchRuns::new([id])
            .order_by(format!("metrics.`{metric}` {order}"))
            .max_results(1);
        let page = self.backend.search_runs(&req)?;
        Ok(page
            .items
            .into_iter()
            .next()
            .filter(|r| r.data.metrics.contains_key(metric)))
    }

    /// Every active run of the experiment (by name or id) that matches `filter` (MLflow's
    /// syntax, `""` for all), newest first, every page fetched.
    ///
    /// ```
    /// # use mlops_tracking::{CreateRun, InMemoryTrackingBackend, RunStatus, Tracker};
    /// let tracker = Tracker::new(InMemoryTrackingBackend::new());
    /// let mut run = tracker.start_run("iris", CreateRun::new())?;
    /// run.log_metric("acc", 0.9, 1)?;
    /// run.end(RunStatus::Finished)?;
    /// let good = tracker.search_runs("iris", "metrics.acc > 0.8")?;
    /// assert_eq!(good.len(), 1);
    /// # Ok::<(), mlops_tracking::TrackingError>(())
    /// ```
    ///
    /// # Errors
    /// `NotFound` for an unknown experiment (it is not created); `InvalidFilter` for a bad
    /// filter; backend errors.
    pub fn search_runs<'a>(
        &self,
        experiment: impl Into<ExperimentRef<'a>>,
        filter: &str,
    ) -> Result<Vec<Run>> {
        let id = self.experiment_id(experiment.into())?;
        self.backend
            .search_all_runs(&SearchRuns::new([id]).filter(filter))
    }

    fn experiment_id(&self, experiment: ExperimentRef<'_>) -> Result<ExperimentId> {
        match experiment {
            ExperimentRef::Id(id) => Ok(id.clone()),
            ExperimentRef::Name(name) => self
                .backend
                .get_experiment_by_name(name)?
                .map(|e| e.experiment_id)
                .ok_or_else(|| TrackingError::NotFound {
                    kind: EntityKind::Experiment,
                    id: name.to_owned(),
                }),
        }
    }
}

/// An experiment named by its name (`"iris"`) or its id (`&ExperimentId`), for the
/// [`Tracker`] queries that take either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExperimentRef<'a> {
    /// The experiment with this id.
    Id(&'a ExperimentId),
    /// The experiment with this name.
    Name(&'a str),
}

impl<'a> From<&'a ExperimentId> for ExperimentRef<'a> {
    fn from(id: &'a ExperimentId) -> Self {
        Self::Id(id)
    }
}

impl<'a> From<&'a str> for ExperimentRef<'a> {
    fn from(name: &'a str) -> Self {
        Self::Name(name)
    }
}

impl<'a> From<&'a String> for ExperimentRef<'a> {
    fn from(name: &'a String) -> Self {
        Self::Name(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TrackingBackendExt;

    fn lookup(vars: &[(&str, String)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    fn root_of(t: &Tracker) -> String {
        // The file store names its root in every experiment's artifact location.
        t.backend()
            .get_experiment(&ExperimentId::from_numeric(0))
            .unwrap()
            .artifact_location
    }

    #[test]
    fn from_env_prefers_the_mlops_dir_then_the_mlflow_uri() {
        let dir = tempfile::tempdir().unwrap();
        let ours = dir.path().join("ours");
        let theirs = dir.path().join("theirs");
        let both = [
            (TRACKING_DIR_ENV, ours.display().to_string()),
            (
                "MLFLOW_TRACKING_URI",
                format!("file://{}", theirs.display()),
            ),
        ];
        let t = Tracker::from_lookup(lookup(&both)).unwrap();
        assert!(root_of(&t).starts_with(&ours.display().to_string()));
        let t = Tracker::from_lookup(lookup(&both[1..])).unwrap();
        assert!(root_of(&t).starts_with(&theirs.display().to_string()));
        let plain = dir.path().join("plain");
        let t = Tracker::from_lookup(lookup(&[(
            "MLFLOW_TRACKING_URI",
            plain.display().to_string(),
        )]))
        .unwrap();
        assert!(root_of(&t).starts_with(&plain.display().to_string()));
        let err = Tracker::from_lookup(lookup(&[(
            "MLFLOW_TRACKING_URI",
            "databricks://x".to_owned(),
        )]))
        .unwrap_err();
        assert!(err.to_string().contains("databricks://x"), "{err}");
        #[cfg(not(feature = "mlflow"))]
        {
            let err = Tracker::from_lookup(lookup(&[(
                "MLFLOW_TRACKING_URI",
                "http://127.0.0.1:5000".to_owned(),
            )]))
            .unwrap_err();
            assert!(err.to_string().contains("`mlflow` feature"), "{err}");
        }
        #[cfg(feature = "mlflow")]
        {
            let t = Tracker::from_lookup(lookup(&[(
                "MLFLOW_TRACKING_URI",
                "http://127.0.0.1:5000".to_owned(),
            )]))
            .unwrap();
            assert!(format!("{:?}", t.backend()).contains("127.0.0.1:5000"));
        }
    }

    #[test]
    fn open_refuses_an_mlflow_file_store() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("0")).unwrap();
        std::fs::write(dir.path().join("0").join("meta.yaml"), "name: Default\n").unwrap();
        let err = Tracker::open(dir.path()).unwrap_err();
        assert!(err.to_string().contains("MLflow file store"), "{err}");
    }

    #[test]
    fn short_path_values_steps_search_and_best_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let tracker = Tracker::open(dir.path()).unwrap();
        for (name, lr) in [("slow", 0.001f32), ("fast", 0.1)] {
            let mut run = tracker
                .start_run("iris", CreateRun::new().run_name(name))
                .unwrap();
            run.log_param("lr", lr).unwrap();
            for epoch in 0..5u32 {
                // f32 values, u32 and usize steps.
                run.log_metric("loss", lr * (5 - epoch) as f32, epoch)
                    .unwrap();
                run.log_metric("epoch", epoch, epoch as usize).unwrap();
            }
            run.log_metrics([("acc", 0.5f32), ("f1", 0.25)], 9u8)
                .unwrap();
            run.end(RunStatus::Finished).unwrap();
        }
        let mut run = tracker.start_run("iris", CreateRun::new()).unwrap();
        let err = run.log_metric("loss", 1.0, u64::MAX).unwrap_err();
        assert!(err.to_string().contains("i64"), "{err}");
        assert_eq!(run.buffered(), 0);
        drop(run);
        let runs = tracker.search_runs("iris", "params.lr = '0.1'").unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].info.run_name, "fast");
        assert_eq!(tracker.search_runs("iris", "").unwrap().len(), 3);
        let best = tracker
            .best_run("iris", "loss", Direction::Minimize)
            .unwrap()
            .unwrap();
        assert_eq!(best.info.run_name, "slow");
        let id = best.info.experiment_id.clone();
        let same = tracker
            .best_run(&id, "loss", Direction::Minimize)
            .unwrap()
            .unwrap();
        assert_eq!(same.info.run_id, best.info.run_id);
        let hist = tracker
            .backend()
            .metric_history(&best.info.run_id, "epoch")
            .unwrap();
        assert_eq!(
            hist.iter().map(|m| m.step).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4]
        );
        let err = tracker.search_runs("nope", "").unwrap_err();
        assert!(matches!(err, TrackingError::NotFound { .. }), "{err}");
        assert!(
            tracker
                .backend()
                .get_experiment_by_name("nope")
                .unwrap()
                .is_none()
        );
    }
}
