//! # mlops-pipeline
//!
//! An embedded DAG runner for ML workflows, in the spirit of Prefect, Dagster, Kedro and
//! `dvc repro`, with about a microsecond of overhead per step: named steps with dependencies,
//! typed data between steps, parallel branches on a bounded thread pool, retries with backoff,
//! timeouts, caching and resume.
//!
//! ```
//! use std::sync::Arc;
//! use mlops_pipeline::{InMemoryCache, Pipeline, RunOptions, StepError, StepStatus};
//!
//! let mut b = Pipeline::builder("train");
//! b.step("load", |ctx| Ok(vec![1.0_f64; ctx.param::<usize>("rows")?]))
//!     .param("rows", 4)
//!     .cache("v1");
//! b.step("fit", |ctx| Ok(ctx.input::<Vec<f64>>("load")?.iter().sum::<f64>()))
//!     .after(["load"])
//!     .cache("v1");
//! b.step("check", |ctx| {
//!     let score: f64 = *ctx.input("fit")?;
//!     if score < 2.0 { return Err(StepError::msg("score too low")); }
//!     Ok(score)
//! }).after(["fit"]);
//! let pipeline = b.build()?;
//! let opts = RunOptions::new().threads(2).cache(Arc::new(InMemoryCache::new()));
//! let first = pipeline.run(&opts);
//! assert!(first.is_success());
//! assert_eq!(*first.output::<f64>("check")?, 4.0);
//! let again = pipeline.run(&opts); // unchanged inputs: restored from the cache
//! assert_eq!(again.step("fit").unwrap().status, StepStatus::Cached);
//! println!("{again}"); // the summary table
//! # Ok::<(), mlops_pipeline::PipelineError>(())
//! ```
//!
//! A [`PipelineBuilder`] declares steps: each is a closure over a [`StepCtx`] that returns its
//! output, with dependencies ([`StepBuilder::after`]), parameters ([`StepBuilder::param`],
//! JSON values read back with [`StepCtx::param`]), a [`RetryPolicy`], a timeout and cache
//! settings. [`PipelineBuilder::build`] validates the graph. [`Pipeline::run`] executes it with
//! [`RunOptions`] (threads, fail-fast, cache, [`Observer`], [`Sleeper`]) and returns a
//! [`RunReport`]: each step's [`StepStatus`], attempts, timings and error, the outputs, a
//! `Display` summary table and JSON.
//!
//! Semantics, briefly:
//! - a step runs once all its dependencies completed (or were restored from the cache), on a
//!   pool of at most `threads` workers (1: sequential and deterministic);
//! - a failed, panicking or timed-out step (after its retries) skips all its transitive
//!   dependents, naming itself as the reason; independent branches continue unless fail-fast
//!   is on;
//! - retry `i` waits `Backoff::delay(i)`, exponential being `min(cap, base × factor^(i-1))`,
//!   shrunk by up to `jitter` (see [`RetryPolicy`]);
//! - timeouts are cooperative: the step's [`CancelToken`] is cancelled at the deadline, and an
//!   attempt that returns after it is `TimedOut` whatever it returned;
//! - a cached step's key ([`CacheKey`]) hashes its name, version string, parameters and the
//!   [`Fingerprint`]s (SHA-256 of the serialized output) of its dependencies; outputs are
//!   serialized with `serde_json`, so a cached step's output type must be `Serialize +
//!   DeserializeOwned`, and every dependency of a cached step must be cached too.
//!
//! ## Backends
//! The [`StepCache`] trait (object-safe, sync, with a batch `get_many`) stores outputs:
//! - [`InMemoryCache`]: a map behind a lock; clones share it;
//! - [`FileCache`]: one file per entry under a directory, shared by threads and processes;
//!   re-running a pipeline with it after a failure (or after the process died) restores the
//!   cached steps that completed and runs the rest (resume); steps not marked
//!   [`cache`](StepBuilder::cache) always run.
//!
//! A third-party backend runs the shared suite in [`conformance`] (feature `conformance`).
//!
//! ## Errors
//! Building returns [`PipelineError`]: `EmptyPipeline`, `AlreadyExists` (duplicate step),
//! `UnknownDependency`, `Cycle` (naming its steps in order, `a -> b -> a`; a self-dependency is
//! `a -> a`) and `InvalidArgument` (bad name, unserializable parameter, bad backoff, cached
//! step with an uncached dependency). Running never fails as a whole: step errors are
//! [`StepError`]s recorded in the report, and reading an input as the wrong type
//! (`TypeMismatch`) or from a step that is not a direct dependency (`NotUpstream`) is an error
//! the step returns with `?`. Cache problems (a corrupt entry, a failed write) never fail a
//! step: the entry is treated as a miss, the step runs, and the problem is reported in
//! [`StepReport::cache_note`] and as an [`Event::CacheProblem`].
//!
//! ## Crash safety
//! [`FileCache`] writes each entry atomically (temp file, fsync, rename, fsync of the directory;
//! durable by default, `with_fsync(false)` for tests and benches). Each entry carries its
//! length and the SHA-256 of its bytes: a truncated or garbage entry is reported as corrupt and
//! treated as a miss, never as a hit. A crash loses at most the entries being written, and a
//! lost entry only means the step runs again. Temp files left by a crashed writer are removed
//! on open. See `docs/formats.md` for the layout.

mod builder;
mod cache;
#[cfg(any(test, doc, feature = "conformance"))]
pub mod conformance;
mod error;
mod file;
#[cfg(feature = "html")]
pub mod html;
mod memory;
mod name;
mod observer;
mod report;
mod retry;
mod run;
mod step;

pub use crate::builder::{Pipeline, PipelineBuilder, StepBuilder};
pub use crate::cache::{CacheEntry, CacheKey, Fingerprint, StepCache};
pub use crate::error::{EntityKind, PipelineError, Result};
pub use crate::file::FileCache;
pub use crate::memory::InMemoryCache;
pub use crate::name::{MAX_STEP_NAME_LEN, StepName};
pub use crate::observer::{Event, EventLog, Observer};
pub use crate::report::{
    AttemptOutcome, AttemptRecord, Attempts, AttemptsIter, RunReport, SkipReason, StepReport,
    StepStatus,
};
pub use crate::retry::{
    Backoff, RecordingSleeper, RetryPolicy, RetryPredicate, Sleeper, ThreadSleeper,
};
pub use crate::run::RunOptions;
pub use crate::step::{CancelToken, StepCtx, StepError, StepErrorKind};

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
