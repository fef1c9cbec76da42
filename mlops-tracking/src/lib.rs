//! # mlops-tracking
//!
//! Experiment tracking that Rust training binaries embed: experiments, runs, params, metrics
//! and artifacts, with [MLflow Tracking]'s data model so that runs map one to one onto an MLflow
//! server.
//!
//! ```
//! use mlops_tracking::{validate_key, RunId};
//!
//! // Run ids are random 32-hex ids: two runs never collide, even with the same name and time.
//! let a = RunId::new();
//! let b = RunId::new();
//! assert_ne!(a, b);
//! assert_eq!(a.to_string().parse::<RunId>()?, a);
//!
//! // Keys follow MLflow's rules; where MLflow would truncate or mangle, we reject.
//! validate_key("metric key", "val/accuracy")?;
//! assert!(validate_key("metric key", "../escape").is_err());
//! # Ok::<(), mlops_tracking::TrackingError>(())
//! ```
//!
//! ## Backends
//! The crate defines the `TrackingBackend` trait with an in-memory backend (tests) and a file
//! backend (the embedded default); an MLflow REST backend sits behind the `mlflow` feature.
//!
//! ## Errors
//! Every fallible function returns [`Result`], whose error is [`TrackingError`]: semantic
//! variants (`NotFound`, `AlreadyExists`, `InvalidArgument`, `Conflict`, `Corrupt`) and
//! context-carrying `Io` / `Serde` variants that name the file.
//!
//! ## Crash safety
//! File backends replace metadata atomically (temp file, fsync, rename, fsync directory) and
//! append metric history to framed logs whose torn last record is dropped on open.
//!
//! [MLflow Tracking]: https://mlflow.org/docs/latest/tracking.html

mod artifact;
mod backend;
mod catalog;
mod compare;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod error;
mod file;
pub mod filter;
mod fsutil;
mod ids;
mod memory;
mod model;
mod tracker;

pub use crate::backend::{TrackingBackend, TrackingBackendExt};
pub use crate::catalog::{DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME};
pub use crate::compare::{ComparedRun, Direction, MetricStats, RunComparison};
pub use crate::error::{Result, TrackingError};
pub use crate::file::{FileTrackingBackend, OpenReport};
pub use crate::ids::{
    ExperimentId, MAX_BATCH_METRICS, MAX_BATCH_PARAMS, MAX_BATCH_TAGS, MAX_KEY_LEN,
    MAX_PARAM_VALUE_LEN, MAX_TAG_VALUE_LEN, RunId, validate_key, validate_param_value,
    validate_tag_value,
};
pub use crate::memory::InMemoryTrackingBackend;
pub use crate::model::{
    ArtifactInfo, Batch, CreateRun, DEFAULT_HISTORY_RESULTS, DEFAULT_SEARCH_RESULTS, Experiment,
    HistoryRequest, LifecycleStage, MAX_SEARCH_RESULTS, Metric, Page, Run, RunData, RunInfo,
    RunStatus, SearchRuns, TAG_PARENT_RUN_ID, TAG_RUN_NAME, TAG_SOURCE_GIT_COMMIT, TAG_SOURCE_NAME,
    TAG_SOURCE_TYPE, TAG_USER, UpdateRun, ViewType, now_ms,
};
pub use crate::tracker::{
    ActiveRun, Clock, DEFAULT_BUFFER_CAPACITY, DEFAULT_FLUSH_INTERVAL, Tracker,
};
