//! # mlops-tracking
//!
//! Experiment tracking that Rust training binaries embed: experiments, runs, params, metrics
//! and artifacts, with [MLflow Tracking]'s data model and search syntax, so that runs map one
//! to one onto an MLflow server, at the cost of a buffered append per logged metric.
//!
//! ```
//! use mlops_tracking::{CreateRun, Direction, InMemoryTrackingBackend, RunStatus, Tracker};
//!
//! let tracker = Tracker::new(InMemoryTrackingBackend::new());
//! for (name, lr) in [("baseline", 0.01), ("lr_tuned", 0.001)] {
//!     let mut run = tracker.start_run("image_classification", CreateRun::new().run_name(name))?;
//!     run.log_param("learning_rate", lr)?;
//!     for epoch in 0..5 {
//!         let acc = 0.5 + 0.05 * f64::from(epoch) + if lr < 0.005 { 0.1 } else { 0.0 };
//!         run.log_metric("val_accuracy", acc, i64::from(epoch))?; // buffered, tens of ns
//!     }
//!     run.end(RunStatus::Finished)?; // flushes; dropping the guard would too
//! }
//! let exp = tracker.experiment("image_classification")?;
//! let best = tracker.best_run(&exp.experiment_id, "val_accuracy", Direction::Maximize)?;
//! assert_eq!(best.unwrap().info.run_name, "lr_tuned");
//! # Ok::<(), mlops_tracking::TrackingError>(())
//! ```
//!
//! The client API is [`Tracker`] ([`Tracker::from_env`] opens `./mlruns` or the store the
//! environment names, [`Tracker::open`] a directory) and its active-run guard [`ActiveRun`]
//! (`log_param(s)`, `log_metric(s)`, `set_tag`, `log_artifact`, `end`; ends the run as
//! `FINISHED` when dropped, `FAILED` when the thread panics), returned by
//! [`Tracker::start_run`] and by [`Tracker::resume_run`] for a run restarted after a crash.
//! Queries: [`Tracker::search_runs`] by experiment name and [`TrackingBackend::search_runs`],
//! with MLflow's filter syntax (module [`filter`]), order and page tokens;
//! [`Tracker::compare_runs`] (a [`RunComparison`] whose `Display` draws the table) and
//! [`Tracker::best_run`] with an explicit [`Direction`].
//!
//! ## Backends
//! [`TrackingBackend`] is a synchronous, object-safe trait (`Arc<dyn TrackingBackend>`) whose
//! methods mirror MLflow's REST API; [`TrackingBackend::log_batch`] is its one write primitive
//! for metrics, params and tags, applied all or nothing.
//! - [`InMemoryTrackingBackend`]: a shared in-memory store for tests and short jobs.
//! - [`FileTrackingBackend`]: a directory (format in `docs/formats.md`), shared safely by
//!   several processes, durable by default.
//!
//! - `MlflowTrackingBackend` (feature `mlflow`): an MLflow tracking server over its REST API,
//!   so the MLflow UI shows every run; swapping it in is one line. Its differences from the
//!   embedded backends (ids, history order, duplicate values, atomicity) are listed in its
//!   docs.
//!
//! Every backend runs the shared [`conformance`] suite (feature `conformance` for third
//! parties); backends whose semantics differ declare it with [`conformance::Capabilities`].
//!
//! ## Errors
//! Every fallible function returns [`Result`], whose error is [`TrackingError`]: semantic
//! variants (`NotFound`, `AlreadyExists`, `InvalidArgument`, `InvalidFilter` with the position,
//! `Conflict`, `Corrupt`) and context-carrying `Io` / `Serde` variants that name the file. Where
//! MLflow truncates silently (over-long values), this crate rejects with an error naming the key,
//! and nothing of the batch is stored.
//!
//! ## Crash safety
//! The file backend replaces metadata atomically (temp file, fsync, rename, fsync directory) and
//! appends each `log_batch` as one framed, checksummed record to its run's log, so a crash keeps
//! or drops a batch whole; a torn last record is dropped on open and reported in
//! [`OpenReport`]; damage anywhere else is [`TrackingError::Corrupt`] naming the file. Writers
//! hold an exclusive lock on the store, so processes logging into one run never interleave.
//!
//! What is durable when: values written through `log_batch` (and `log_param`, `set_tag`,
//! `log_artifact` of the guard) are on disk when the call returns (unless
//! [`FileTrackingBackend::with_fsync`] turned fsync off). Metrics logged through the guard are
//! buffered and durable after the next flush: [`ActiveRun::flush`], a full buffer (1,000
//! metrics), a `log_metric` call that finds the buffer older than the flush interval (1 s), `end`
//! or drop. A crash loses at most the buffer.
//!
//! [MLflow Tracking]: https://mlflow.org/docs/latest/tracking.html

/// The README's examples, run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

mod active_run;
#[cfg(feature = "arrow")]
pub mod arrow;
mod artifact;
mod backend;
mod catalog;
mod clock;
mod columns;
pub mod compare;
#[cfg(any(test, doc, feature = "conformance"))]
pub mod conformance;
mod error;
mod file;
pub mod filter;
#[cfg(feature = "html")]
pub mod html;
mod ids;
pub mod inputs;
mod memory;
#[cfg(feature = "mlflow")]
mod mlflow;
pub mod model;
mod s3;
mod tracker;
pub mod uri;
mod vecmap;

pub use crate::active_run::ActiveRun;
pub use crate::backend::{TrackingBackend, TrackingBackendExt};
pub use crate::clock::{Clock, ManualClock, SystemClock};
pub use crate::compare::{Direction, RunComparison};
pub use crate::error::{EntityKind, Result, TrackingError};
pub use crate::file::{FileTrackingBackend, OpenReport};
pub use crate::ids::{ExperimentId, RunId};
pub use crate::memory::InMemoryTrackingBackend;
#[cfg(feature = "mlflow")]
pub use crate::mlflow::MlflowTrackingBackend;
pub use crate::model::{
    Batch, CreateRun, Experiment, Metric, Page, Run, RunData, RunInfo, RunStatus, SearchRuns,
};
pub use crate::tracker::{ExperimentRef, Tracker};
pub use crate::uri::RunUri;
/// The MLflow REST client's settings and errors (`DEFAULT_TIMEOUT`, `DEFAULT_MAX_RETRIES`,
/// `HttpErrorKind`, ...), shared with mlops-registry.
#[cfg(feature = "mlflow")]
pub use mlops_mlflow::http;
#[cfg(feature = "mlflow")]
pub use mlops_mlflow::http::{HttpError, MlflowAuth, MlflowConfig};

/// Limits on what a run holds, as MLflow enforces them, and the checks that apply them.
pub mod limits {
    pub use crate::ids::{
        MAX_BATCH_METRICS, MAX_BATCH_PARAMS, MAX_BATCH_TAGS, MAX_KEY_LEN, MAX_PARAM_VALUE_LEN,
        MAX_TAG_VALUE_LEN, validate_key, validate_param_value, validate_tag_value,
    };
    #[cfg(feature = "mlflow")]
    pub use crate::mlflow::{MAX_BATCH_BODY_BYTES, MAX_BATCH_ENTITIES};
    pub use crate::model::{DEFAULT_HISTORY_RESULTS, DEFAULT_SEARCH_RESULTS, MAX_SEARCH_RESULTS};
}

/// MLflow's system tags (`mlflow.runName`, `mlflow.user`, ...).
pub mod tags {
    pub use crate::model::{
        TAG_PARENT_RUN_ID, TAG_RUN_NAME, TAG_SOURCE_GIT_COMMIT, TAG_SOURCE_NAME, TAG_SOURCE_TYPE,
        TAG_USER,
    };
}

/// Defaults: the default experiment, where [`Tracker::from_env`](crate::Tracker::from_env)
/// looks, and the active-run buffer.
pub mod defaults {
    pub use crate::catalog::{DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME};
    pub use crate::tracker::{
        DEFAULT_BUFFER_CAPACITY, DEFAULT_FLUSH_INTERVAL, DEFAULT_TRACKING_DIR, TRACKING_DIR_ENV,
    };
}
