//! The run report: each step's final state, attempts and timings, and the outputs.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::cache::CacheKey;
use crate::error::{EntityKind, PipelineError, Result};
use crate::name::StepName;
use crate::step::Output;

/// Durations as seconds (a float) in JSON.
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        Duration::try_from_secs_f64(v).map_err(serde::de::Error::custom)
    }
}

/// The final state of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StepStatus {
    /// The step ran and returned its output.
    Completed,
    /// The step's output was restored from the cache; the step did not run.
    Cached,
    /// The step's last attempt returned an error or panicked.
    Failed,
    /// The step's last attempt ran past its timeout.
    TimedOut,
    /// The step did not run (see [`SkipReason`]).
    Skipped,
}

impl StepStatus {
    /// Whether the step produced its output (`Completed` or `Cached`).
    #[must_use]
    pub fn is_success(self) -> bool {
        matches!(self, Self::Completed | Self::Cached)
    }

    /// Whether the step failed (`Failed` or `TimedOut`): its dependents are skipped.
    #[must_use]
    pub fn is_failure(self) -> bool {
        matches!(self, Self::Failed | Self::TimedOut)
    }

    /// The upper-case label of the summary table.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Completed => "COMPLETED",
            Self::Cached => "CACHED",
            Self::Failed => "FAILED",
            Self::TimedOut => "TIMED_OUT",
            Self::Skipped => "SKIPPED",
        }
    }
}

impl fmt::Display for StepStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Why a step did not run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SkipReason {
    /// A step it depends on, directly or transitively, failed or timed out.
    UpstreamFailed {
        /// The failed step (the root cause, not the skipped step in between).
        step: StepName,
    },
    /// Fail-fast stopped the run after a step failed.
    FailFast {
        /// The step whose failure stopped the run.
        failed: StepName,
    },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UpstreamFailed { step } => write!(f, "upstream step {step} failed"),
            Self::FailFast { failed } => {
                write!(f, "run stopped (fail-fast) after step {failed} failed")
            }
        }
    }
}

/// How one attempt of a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AttemptOutcome {
    /// The attempt returned the output.
    Succeeded,
    /// The attempt returned an error.
    Failed,
    /// The attempt panicked.
    Panicked,
    /// The attempt ran past the timeout.
    TimedOut,
}

/// One attempt of a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AttemptRecord {
    /// 1 for the first attempt.
    pub attempt: u32,
    /// When the attempt started.
    pub started_at: DateTime<Utc>,
    /// How long it ran (seconds in JSON).
    #[serde(with = "secs")]
    pub duration: Duration,
    /// How it ended.
    pub outcome: AttemptOutcome,
    /// The error message, when it did not succeed.
    pub error: Option<String>,
    /// The wait before the next attempt, when the step was retried (seconds in JSON).
    #[serde(default, with = "opt_secs")]
    pub retry_after: Option<Duration>,
}

mod opt_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    #[allow(clippy::ref_option)]
    pub(crate) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<f64>::deserialize(d)?
            .map(|v| Duration::try_from_secs_f64(v).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// One step's final state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StepReport {
    /// The step.
    pub name: StepName,
    /// How it ended.
    pub status: StepStatus,
    /// Its attempts (empty when skipped or cached).
    pub attempts: Vec<AttemptRecord>,
    /// When the runner started it (none when skipped).
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached its final state (none when skipped).
    pub finished_at: Option<DateTime<Utc>>,
    /// From start to final state, cache lookup, retries and waits included (seconds in JSON).
    #[serde(with = "secs")]
    pub duration: Duration,
    /// The last attempt's error, when it failed or timed out.
    pub error: Option<String>,
    /// Why it was skipped.
    pub skip_reason: Option<SkipReason>,
    /// Its cache key, when it is cached and a cache was given.
    pub cache_key: Option<CacheKey>,
    /// A cache problem met on the way (a corrupt entry treated as a miss, a failed write); the
    /// step's status is not affected.
    pub cache_note: Option<String>,
}

impl StepReport {
    pub(crate) fn skipped(name: StepName, reason: SkipReason) -> Self {
        Self {
            name,
            status: StepStatus::Skipped,
            attempts: Vec::new(),
            started_at: None,
            finished_at: None,
            duration: Duration::ZERO,
            error: None,
            skip_reason: Some(reason),
            cache_key: None,
            cache_note: None,
        }
    }
}

/// The outputs of a run, by step (not serialized).
#[derive(Clone, Default)]
pub(crate) struct Outputs(pub(crate) Arc<[Option<Output>]>);

impl fmt::Debug for Outputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter()).finish()
    }
}

/// The result of [`Pipeline::run`](crate::Pipeline::run): every step's final state, in
/// declaration order, with timings and attempts, and the outputs of the steps that produced one.
/// `Display` draws the summary table; it serializes to JSON (without the outputs).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunReport {
    /// The pipeline's name.
    pub pipeline: String,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// When the last step reached its final state.
    pub finished_at: DateTime<Utc>,
    /// Wall-clock time of the run (seconds in JSON).
    #[serde(with = "secs")]
    pub duration: Duration,
    /// The most worker threads the run could use (workers start only when there is work for
    /// them, so a chain uses one).
    pub threads: usize,
    /// Whether fail-fast was on.
    pub fail_fast: bool,
    /// Each step's final state, in declaration order.
    pub steps: Vec<StepReport>,
    #[serde(skip)]
    pub(crate) outputs: Outputs,
}

impl RunReport {
    /// Whether every step completed or was restored from the cache.
    #[must_use]
    pub fn is_success(&self) -> bool {
        self.steps.iter().all(|s| s.status.is_success())
    }

    /// The report of step `name`.
    #[must_use]
    pub fn step(&self, name: &str) -> Option<&StepReport> {
        self.steps.iter().find(|s| s.name.as_str() == name)
    }

    /// How many steps ended with `status`.
    #[must_use]
    pub fn count(&self, status: StepStatus) -> usize {
        self.steps.iter().filter(|s| s.status == status).count()
    }

    /// The output of step `name`, as a `T`.
    ///
    /// # Errors
    /// [`PipelineError::NotFound`] when there is no such step, or it produced no output (it
    /// failed or was skipped, or the report was deserialized), [`PipelineError::TypeMismatch`]
    /// when the output is not a `T`.
    pub fn output<T: Any>(&self, name: &str) -> Result<&T> {
        let not_found = || PipelineError::NotFound {
            kind: EntityKind::StepOutput,
            id: name.to_owned(),
        };
        let i = self
            .steps
            .iter()
            .position(|s| s.name.as_str() == name)
            .ok_or_else(|| PipelineError::NotFound {
                kind: EntityKind::Step,
                id: name.to_owned(),
            })?;
        let out = self
            .outputs
            .0
            .get(i)
            .and_then(Option::as_ref)
            .ok_or_else(not_found)?;
        out.value
            .downcast_ref::<T>()
            .ok_or_else(|| PipelineError::TypeMismatch {
                step: self.steps[i].name.clone(),
                what: format!("the output of {name}"),
                expected: std::any::type_name::<T>().to_owned(),
                actual: out.type_name.to_owned(),
            })
    }

    /// The report as pretty JSON.
    ///
    /// # Errors
    /// [`PipelineError::InvalidArgument`] if serialization fails (it does not for reports the
    /// runner makes).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self)
            .map_err(|e| PipelineError::invalid("report", format!("cannot serialize: {e}")))
    }
}

/// A duration for people, in the unit that suits it, with four significant digits and no
/// trailing zeros: `850 ns`, `60 µs`, `1.235 ms`, `2.5 s`, `12.35 s`, `4 min 5 s`.
fn fmt_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos >= 60_000_000_000 {
        let secs = d.as_secs();
        return match secs % 60 {
            0 => format!("{} min", secs / 60),
            rest => format!("{} min {rest} s", secs / 60),
        };
    }
    let (value, unit) = match nanos {
        0..1_000 => return format!("{nanos} ns"),
        1_000..1_000_000 => (d.as_secs_f64() * 1e6, "µs"),
        1_000_000..1_000_000_000 => (d.as_secs_f64() * 1e3, "ms"),
        _ => (d.as_secs_f64(), "s"),
    };
    // 1 <= value < 1000: four significant digits means 3, 2, 1 or 0 decimals.
    let decimals = match value {
        v if v >= 100.0 => 1,
        v if v >= 10.0 => 2,
        _ => 3,
    };
    let text = format!("{value:.decimals$}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} {unit}")
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .steps
            .iter()
            .map(|s| s.name.as_str().len())
            .max()
            .unwrap_or(0)
            .max(4);
        writeln!(
            f,
            "Pipeline {}: {} steps in {} ({} thread{}{})",
            self.pipeline,
            self.steps.len(),
            fmt_duration(self.duration),
            self.threads,
            if self.threads == 1 { "" } else { "s" },
            if self.fail_fast { ", fail-fast" } else { "" }
        )?;
        writeln!(
            f,
            "{:<width$}  {:<10} {:>8} {:>12}",
            "step", "status", "attempts", "duration"
        )?;
        writeln!(f, "{}", "-".repeat(width + 34))?;
        for s in &self.steps {
            let duration = if s.started_at.is_some() {
                fmt_duration(s.duration)
            } else {
                "-".to_owned()
            };
            writeln!(
                f,
                "{:<width$}  {:<10} {:>8} {:>12}",
                s.name.as_str(),
                s.status.label(),
                s.attempts.len(),
                duration
            )?;
            if let Some(e) = &s.error {
                writeln!(f, "  error: {e}")?;
            }
            if let Some(r) = &s.skip_reason {
                writeln!(f, "  reason: {r}")?;
            }
            if let Some(n) = &s.cache_note {
                writeln!(f, "  cache: {n}")?;
            }
        }
        if self.is_success() {
            let cached = self.count(StepStatus::Cached);
            if cached > 0 {
                write!(f, "result: ALL STEPS PASSED ({cached} from cache)")
            } else {
                write!(f, "result: ALL STEPS PASSED")
            }
        } else {
            let timed_out = self.count(StepStatus::TimedOut);
            write!(f, "result: {} FAILED, ", self.count(StepStatus::Failed))?;
            if timed_out > 0 {
                write!(f, "{timed_out} TIMED OUT, ")?;
            }
            write!(f, "{} SKIPPED", self.count(StepStatus::Skipped))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_wrote_them() {
        let cases = [
            (Duration::ZERO, "0 ns"),
            (Duration::from_nanos(850), "850 ns"),
            (Duration::from_micros(60), "60 µs"),
            (Duration::from_nanos(1_234_567), "1.235 ms"),
            (Duration::from_micros(123_400), "123.4 ms"),
            (Duration::from_millis(2_500), "2.5 s"),
            (Duration::from_millis(12_345), "12.35 s"),
            (Duration::from_secs(245), "4 min 5 s"),
            (Duration::from_secs(120), "2 min"),
        ];
        for (d, want) in cases {
            assert_eq!(fmt_duration(d), want, "{d:?}");
        }
    }
}
