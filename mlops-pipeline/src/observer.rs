//! Run events and the [`Observer`] trait.

use std::fmt;
use std::time::Duration;

use crate::cache::CacheKey;
use crate::name::StepName;
use crate::report::{RunReport, SkipReason, StepStatus};
use crate::step::StepError;

/// Something that happened during a run. Events of one step arrive in order; events of steps
/// running in parallel interleave.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// The run starts.
    RunStarted {
        /// The pipeline's name.
        pipeline: &'a str,
        /// Its number of steps.
        steps: usize,
        /// Worker threads.
        threads: usize,
    },
    /// An attempt of a step starts.
    StepStarted {
        /// The step.
        step: &'a StepName,
        /// 1 for the first attempt.
        attempt: u32,
    },
    /// An attempt failed (or timed out) and the step will be retried after `retry_in`.
    AttemptFailed {
        /// The step.
        step: &'a StepName,
        /// The attempt that failed.
        attempt: u32,
        /// Its error.
        error: &'a StepError,
        /// The wait before the next attempt.
        retry_in: Duration,
    },
    /// An attempt ran past its timeout (followed by a retry or by `StepFinished`).
    StepTimedOut {
        /// The step.
        step: &'a StepName,
        /// The attempt.
        attempt: u32,
        /// The step's timeout.
        timeout: Duration,
    },
    /// A step ran to its final state: completed, failed or timed out.
    StepFinished {
        /// The step.
        step: &'a StepName,
        /// Its final status.
        status: StepStatus,
        /// From start to finish, retries included.
        duration: Duration,
        /// The last error, when it did not complete.
        error: Option<&'a StepError>,
    },
    /// A step's output was restored from the cache.
    StepCached {
        /// The step.
        step: &'a StepName,
        /// The cache key that hit.
        key: &'a CacheKey,
    },
    /// A cache read or write failed, or an entry was corrupt; the step runs as on a miss.
    CacheProblem {
        /// The step.
        step: &'a StepName,
        /// What went wrong.
        detail: &'a str,
    },
    /// A step will not run.
    StepSkipped {
        /// The step.
        step: &'a StepName,
        /// Why.
        reason: &'a SkipReason,
    },
    /// The run is over.
    RunFinished {
        /// Its report.
        report: &'a RunReport,
    },
}

/// Receives the events of a run (from the worker threads, so it must be `Sync`). Keep it fast:
/// it is called on the runner's hot path.
pub trait Observer: Send + Sync + fmt::Debug + 'static {
    /// Called for each event.
    fn on_event(&self, event: &Event<'_>);
}

const _: fn(&dyn Observer) = |_| {};

/// An observer that records one line per event (for tests and logs). Clones share the lines.
#[derive(Debug, Default, Clone)]
pub struct EventLog {
    lines: std::sync::Arc<parking_lot::Mutex<Vec<String>>>,
}

impl EventLog {
    /// An empty log.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The lines so far, e.g. `started train 1`, `retry train 1 10ms: boom`,
    /// `finished train COMPLETED`, `skipped deploy: upstream step train failed`.
    #[must_use]
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().clone()
    }
}

impl Observer for EventLog {
    fn on_event(&self, event: &Event<'_>) {
        let line = match event {
            Event::RunStarted {
                pipeline, steps, ..
            } => format!("run {pipeline} {steps}"),
            Event::StepStarted { step, attempt } => format!("started {step} {attempt}"),
            Event::AttemptFailed {
                step,
                attempt,
                error,
                retry_in,
            } => format!("retry {step} {attempt} {retry_in:?}: {error}"),
            Event::StepTimedOut { step, attempt, .. } => format!("timed out {step} {attempt}"),
            Event::StepFinished { step, status, .. } => format!("finished {step} {status}"),
            Event::StepCached { step, .. } => format!("cached {step}"),
            Event::CacheProblem { step, detail } => format!("cache problem {step}: {detail}"),
            Event::StepSkipped { step, reason } => format!("skipped {step}: {reason}"),
            Event::RunFinished { report } => format!("run finished {}", report.is_success()),
        };
        self.lines.lock().push(line);
    }
}
