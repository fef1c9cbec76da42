//! # mlops-pipeline
//!
//! An embedded DAG runner for ML workflows: named steps with dependencies, typed data between
//! steps, parallel independent branches on a bounded thread pool, retries with backoff,
//! timeouts, caching and resume, in the spirit of Prefect, Dagster, Kedro and `dvc repro`, with
//! microsecond overhead per step.
//!
//! ```
//! use std::time::Duration;
//! use mlops_pipeline::{Backoff, StepName};
//!
//! let name: StepName = "train".parse()?;
//! assert_eq!(name.as_str(), "train");
//! let backoff = Backoff::Exponential {
//!     base: Duration::from_millis(100),
//!     factor: 2.0,
//!     cap: Duration::from_secs(1),
//! };
//! assert_eq!(backoff.delay(3), Duration::from_millis(400));
//! assert_eq!(backoff.delay(10), Duration::from_secs(1));
//! # Ok::<(), mlops_pipeline::PipelineError>(())
//! ```
//!
//! ## Backends
//! The crate is built around a `StepCache` trait, with an in-memory cache and a file cache.
//!
//! ## Errors
//! Every fallible function returns [`Result`], whose error is [`PipelineError`].
//!
//! ## Crash safety
//! The file cache writes each entry atomically; a truncated or garbage entry is a miss, never a
//! hit.

mod builder;
mod cache;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod error;
mod file;
mod fsutil;
mod memory;
mod observer;
mod report;
mod retry;
mod run;
mod step;

pub use crate::builder::{Pipeline, PipelineBuilder, StepBuilder};
pub use crate::cache::{CacheEntry, CacheKey, Fingerprint, StepCache};
pub use crate::error::{PipelineError, Result};
pub use crate::file::FileCache;
pub use crate::memory::InMemoryCache;
pub use crate::observer::{Event, EventLog, Observer};
pub use crate::report::{
    AttemptOutcome, AttemptRecord, RunReport, SkipReason, StepReport, StepStatus,
};
pub use crate::retry::{
    Backoff, MAX_STEP_NAME_LEN, RecordingSleeper, RetryPolicy, RetryPredicate, Sleeper, StepName,
    ThreadSleeper,
};
pub use crate::run::RunOptions;
pub use crate::step::{CancelToken, StepCtx, StepError, StepErrorKind};
