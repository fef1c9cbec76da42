//! The [`TrackingBackend`] trait and its conveniences.

use std::fmt::Debug;
use std::io::Read;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use crate::error::{Result, TrackingError};
use crate::ids::{ExperimentId, RunId};
use crate::inputs::DatasetInput;
use crate::model::{
    ArtifactInfo, Batch, CreateRun, Experiment, HistoryRequest, Metric, Page, Run, RunInfo,
    SearchRuns, UpdateRun, ViewType,
};

/// Where experiments, runs, metrics and artifacts are stored.
///
/// The methods mirror MLflow's tracking REST API one to one (`experiments/create`,
/// `runs/create`, `runs/update`, `runs/log-batch`, `runs/search`, `metrics/get-history`, ...), so
/// a remote MLflow server can implement this trait as well as the embedded backends
/// ([`InMemoryTrackingBackend`](crate::InMemoryTrackingBackend),
/// [`FileTrackingBackend`](crate::FileTrackingBackend)).
///
/// [`log_batch`](Self::log_batch) is the one write primitive for metrics, params and tags: it is
/// applied all or nothing. Conveniences for single values live in [`TrackingBackendExt`].
///
/// The trait is object-safe and synchronous: use it as `Arc<dyn TrackingBackend>`.
pub trait TrackingBackend: Send + Sync + Debug + 'static {
    /// Create an experiment with a unique name (names of deleted experiments stay taken).
    ///
    /// # Errors
    /// `AlreadyExists` for a taken name; `InvalidArgument` for a bad name or tag.
    fn create_experiment(&self, name: &str, tags: &[(String, String)]) -> Result<Experiment>;

    /// Get an experiment by id.
    ///
    /// # Errors
    /// `NotFound` naming the id.
    fn get_experiment(&self, id: &ExperimentId) -> Result<Experiment>;

    /// Get an experiment by name, deleted ones included; `None` when there is none.
    ///
    /// # Errors
    /// Storage errors only.
    fn get_experiment_by_name(&self, name: &str) -> Result<Option<Experiment>>;

    /// List experiments in the given lifecycle stages, ordered by id.
    ///
    /// # Errors
    /// Storage errors only.
    fn list_experiments(&self, view: ViewType) -> Result<Vec<Experiment>>;

    /// Mark an experiment deleted (restorable); its runs are kept.
    ///
    /// # Errors
    /// `NotFound`; `Conflict` when already deleted or for the default experiment.
    fn delete_experiment(&self, id: &ExperimentId) -> Result<()>;

    /// Restore a deleted experiment.
    ///
    /// # Errors
    /// `NotFound`; `Conflict` when it is not deleted.
    fn restore_experiment(&self, id: &ExperimentId) -> Result<()>;

    /// Create a run in an active experiment.
    ///
    /// # Errors
    /// `NotFound` for the experiment or the parent run; `Conflict` when the experiment is
    /// deleted; `InvalidArgument` for bad tags or names.
    fn create_run(&self, experiment_id: &ExperimentId, opts: &CreateRun) -> Result<Run>;

    /// Change a run's status, end time or name, and return its new info.
    ///
    /// # Errors
    /// `NotFound`; `Conflict` when the run is deleted.
    fn update_run(&self, run_id: &RunId, update: &UpdateRun) -> Result<RunInfo>;

    /// Get a run: its info, params, tags and the latest value of each metric.
    ///
    /// # Errors
    /// `NotFound` naming the id.
    fn get_run(&self, run_id: &RunId) -> Result<Run>;

    /// Mark a run deleted (restorable).
    ///
    /// # Errors
    /// `NotFound`; `Conflict` when already deleted.
    fn delete_run(&self, run_id: &RunId) -> Result<()>;

    /// Restore a deleted run.
    ///
    /// # Errors
    /// `NotFound`; `Conflict` when it is not deleted.
    fn restore_run(&self, run_id: &RunId) -> Result<()>;

    /// Search runs with MLflow's filter syntax, order and paging (see [`SearchRuns`]).
    ///
    /// # Errors
    /// `InvalidFilter` for a bad filter or order clause, naming the position; `InvalidArgument`
    /// for a bad page token or page size; `NotFound` for an unknown experiment.
    fn search_runs(&self, req: &SearchRuns) -> Result<Page<Run>>;

    /// Log metrics, params and tags to a run, all or nothing.
    ///
    /// Logging to a finished run is allowed (as in MLflow, for example for evaluation metrics
    /// added later); logging to a deleted run is not.
    ///
    /// # Errors
    /// `NotFound` for the run; `Conflict` for a deleted run or a param logged again with another
    /// value; `InvalidArgument` for a bad key, an over-long value or an over-full batch. On any
    /// error nothing of the batch is stored.
    fn log_batch(&self, run_id: &RunId, batch: &Batch) -> Result<()>;

    /// One page of the full history of a metric, in the order it was logged.
    ///
    /// # Errors
    /// `NotFound` for the run; `InvalidArgument` for a bad page token.
    fn get_metric_history(
        &self,
        run_id: &RunId,
        key: &str,
        req: &HistoryRequest,
    ) -> Result<Page<Metric>>;

    /// Call `f` with each point of a metric's history, in the order it was logged, until it
    /// returns [`ControlFlow::Break`]: the whole history without holding it in memory.
    ///
    /// The default pages through [`get_metric_history`](Self::get_metric_history) (holding one
    /// page of [`DEFAULT_HISTORY_RESULTS`](crate::limits::DEFAULT_HISTORY_RESULTS) points at a time); the
    /// file backend reads its log once, one record at a time, and stops reading at a `Break`.
    ///
    /// ```
    /// # use std::ops::ControlFlow;
    /// # use mlops_tracking::{CreateRun, InMemoryTrackingBackend, TrackingBackend, TrackingBackendExt};
    /// let backend = InMemoryTrackingBackend::new();
    /// let exp = backend.create_experiment("e", &[])?.experiment_id;
    /// let run = backend.create_run(&exp, &CreateRun::new())?.info.run_id;
    /// for step in 0..100 {
    ///     backend.log_metric(&run, "loss", 1.0 / f64::from(step + 1), 0, i64::from(step))?;
    /// }
    /// let (mut n, mut sum) = (0, 0.0);
    /// backend.visit_metric_history(&run, "loss", &mut |m| {
    ///     n += 1;
    ///     sum += m.value;
    ///     ControlFlow::Continue(())
    /// })?;
    /// assert_eq!(n, 100);
    /// # Ok::<(), mlops_tracking::TrackingError>(())
    /// ```
    ///
    /// # Errors
    /// As [`get_metric_history`](Self::get_metric_history). An error ends the visit; the points
    /// visited before it stay visited.
    fn visit_metric_history(
        &self,
        run_id: &RunId,
        key: &str,
        f: &mut dyn FnMut(Metric) -> ControlFlow<()>,
    ) -> Result<()> {
        let mut req = HistoryRequest::new();
        loop {
            let page = self.get_metric_history(run_id, key, &req)?;
            for m in page.items {
                if f(m).is_break() {
                    return Ok(());
                }
            }
            match page.next_page_token {
                Some(t) => req.page_token = Some(t),
                None => return Ok(()),
            }
        }
    }

    /// Log datasets as the run's inputs (MLflow's `runs/log-inputs`), all or nothing. A run
    /// holds one input per dataset `(name, digest)`: logging one again is a no-op, logging it
    /// with another context or description is a `Conflict` (see [`crate::inputs`]). The run's
    /// inputs come back in [`Run::inputs`].
    ///
    /// # Errors
    /// `NotFound` for the run; `Conflict` for a deleted run or a dataset already logged
    /// otherwise; `InvalidArgument` naming the bad field. On any error nothing is stored.
    fn log_inputs(&self, run_id: &RunId, inputs: &[DatasetInput]) -> Result<()>;

    /// Store an artifact read from `data` at `path` (a clean relative path) in the run's
    /// artifact root, replacing any artifact at that path.
    ///
    /// # Errors
    /// `NotFound` / `Conflict` as for [`log_batch`](Self::log_batch); `InvalidArgument` for a bad
    /// path; I/O errors reading `data`.
    fn log_artifact(&self, run_id: &RunId, path: &str, data: &mut dyn Read)
    -> Result<ArtifactInfo>;

    /// The run's artifacts whose path starts with `prefix` (all when `None`), by path.
    ///
    /// # Errors
    /// `NotFound` for the run.
    fn list_artifacts(&self, run_id: &RunId, prefix: Option<&str>) -> Result<Vec<ArtifactInfo>>;

    /// Open an artifact for reading. The reader checks size and SHA-256 at the end and fails
    /// with [`std::io::ErrorKind::InvalidData`] if the stored content was damaged.
    ///
    /// # Errors
    /// `NotFound` for the run or the artifact.
    fn open_artifact(&self, run_id: &RunId, path: &str) -> Result<Box<dyn Read + Send>>;
}

const _: fn(&dyn TrackingBackend) = |_| {};

macro_rules! forward {
    ($ty:ty) => {
        impl<T: TrackingBackend + ?Sized> TrackingBackend for $ty {
            fn create_experiment(
                &self,
                name: &str,
                tags: &[(String, String)],
            ) -> Result<Experiment> {
                (**self).create_experiment(name, tags)
            }
            fn get_experiment(&self, id: &ExperimentId) -> Result<Experiment> {
                (**self).get_experiment(id)
            }
            fn get_experiment_by_name(&self, name: &str) -> Result<Option<Experiment>> {
                (**self).get_experiment_by_name(name)
            }
            fn list_experiments(&self, view: ViewType) -> Result<Vec<Experiment>> {
                (**self).list_experiments(view)
            }
            fn delete_experiment(&self, id: &ExperimentId) -> Result<()> {
                (**self).delete_experiment(id)
            }
            fn restore_experiment(&self, id: &ExperimentId) -> Result<()> {
                (**self).restore_experiment(id)
            }
            fn create_run(&self, experiment_id: &ExperimentId, opts: &CreateRun) -> Result<Run> {
                (**self).create_run(experiment_id, opts)
            }
            fn update_run(&self, run_id: &RunId, update: &UpdateRun) -> Result<RunInfo> {
                (**self).update_run(run_id, update)
            }
            fn get_run(&self, run_id: &RunId) -> Result<Run> {
                (**self).get_run(run_id)
            }
            fn delete_run(&self, run_id: &RunId) -> Result<()> {
                (**self).delete_run(run_id)
            }
            fn restore_run(&self, run_id: &RunId) -> Result<()> {
                (**self).restore_run(run_id)
            }
            fn search_runs(&self, req: &SearchRuns) -> Result<Page<Run>> {
                (**self).search_runs(req)
            }
            fn log_batch(&self, run_id: &RunId, batch: &Batch) -> Result<()> {
                (**self).log_batch(run_id, batch)
            }
            fn get_metric_history(
                &self,
                run_id: &RunId,
                key: &str,
                req: &HistoryRequest,
            ) -> Result<Page<Metric>> {
                (**self).get_metric_history(run_id, key, req)
            }
            fn visit_metric_history(
                &self,
                run_id: &RunId,
                key: &str,
                f: &mut dyn FnMut(Metric) -> ControlFlow<()>,
            ) -> Result<()> {
                (**self).visit_metric_history(run_id, key, f)
            }
            fn log_inputs(&self, run_id: &RunId, inputs: &[DatasetInput]) -> Result<()> {
                (**self).log_inputs(run_id, inputs)
            }
            fn log_artifact(
                &self,
                run_id: &RunId,
                path: &str,
                data: &mut dyn Read,
            ) -> Result<ArtifactInfo> {
                (**self).log_artifact(run_id, path, data)
            }
            fn list_artifacts(
                &self,
                run_id: &RunId,
                prefix: Option<&str>,
            ) -> Result<Vec<ArtifactInfo>> {
                (**self).list_artifacts(run_id, prefix)
            }
            fn open_artifact(&self, run_id: &RunId, path: &str) -> Result<Box<dyn Read + Send>> {
                (**self).open_artifact(run_id, path)
            }
        }
    };
}

forward!(Arc<T>);
forward!(Box<T>);

/// Conveniences over any [`TrackingBackend`].
pub trait TrackingBackendExt: TrackingBackend {
    /// Log one metric value (a one-metric [`Batch`]).
    ///
    /// # Errors
    /// As [`TrackingBackend::log_batch`].
    fn log_metric(
        &self,
        run_id: &RunId,
        key: &str,
        value: f64,
        timestamp: i64,
        step: i64,
    ) -> Result<()> {
        self.log_batch(run_id, &Batch::new().metric(key, value, timestamp, step))
    }

    /// Log one param.
    ///
    /// # Errors
    /// As [`TrackingBackend::log_batch`].
    fn log_param(&self, run_id: &RunId, key: &str, value: &str) -> Result<()> {
        self.log_batch(run_id, &Batch::new().param(key, value))
    }

    /// Set one tag.
    ///
    /// # Errors
    /// As [`TrackingBackend::log_batch`].
    fn set_tag(&self, run_id: &RunId, key: &str, value: &str) -> Result<()> {
        self.log_batch(run_id, &Batch::new().tag(key, value))
    }

    /// The whole history of a metric, every page fetched.
    ///
    /// # Errors
    /// As [`TrackingBackend::get_metric_history`].
    fn metric_history(&self, run_id: &RunId, key: &str) -> Result<Vec<Metric>> {
        let mut out = Vec::new();
        let mut req = HistoryRequest::new();
        loop {
            let page = self.get_metric_history(run_id, key, &req)?;
            out.extend(page.items);
            match page.next_page_token {
                Some(t) => req.page_token = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// Every run matching a search, every page fetched.
    ///
    /// # Errors
    /// As [`TrackingBackend::search_runs`].
    fn search_all_runs(&self, req: &SearchRuns) -> Result<Vec<Run>> {
        let mut out = Vec::new();
        let mut req = req.clone();
        loop {
            let page = self.search_runs(&req)?;
            out.extend(page.items);
            match page.next_page_token {
                Some(t) => req.page_token = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// Store a local file as an artifact at `path`.
    ///
    /// # Errors
    /// `Io` naming the local file when it cannot be opened; otherwise as
    /// [`TrackingBackend::log_artifact`].
    fn log_artifact_file(&self, run_id: &RunId, path: &str, local: &Path) -> Result<ArtifactInfo> {
        let mut file = std::fs::File::open(local).map_err(|source| TrackingError::Io {
            path: local.to_owned(),
            source,
        })?;
        self.log_artifact(run_id, path, &mut file)
    }

    /// Read a whole artifact into memory (checking its digest).
    ///
    /// # Errors
    /// As [`TrackingBackend::open_artifact`]; `Io` when the content fails its check.
    fn read_artifact(&self, run_id: &RunId, path: &str) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.open_artifact(run_id, path)?
            .read_to_end(&mut out)
            .map_err(|source| TrackingError::Io {
                path: path.into(),
                source,
            })?;
        Ok(out)
    }
}

impl<T: TrackingBackend + ?Sized> TrackingBackendExt for T {}
