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

/// The attempts of a step, in order (empty when it was skipped or cached).
///
/// Most steps make one attempt: it is held inline, so a run allocates nothing per step for it
/// (a `Vec` did, one small block per step); a retried step keeps its later attempts in a
/// `Vec`. Read it like a slice: [`len`](Self::len), [`iter`](Self::iter),
/// [`last`](Self::last), `attempts[i]`, `for a in &attempts`. Serializes as a JSON array,
/// exactly as the `Vec<AttemptRecord>` it replaces.
#[derive(Clone, Default, PartialEq)]
pub struct Attempts {
    first: Option<AttemptRecord>,
    rest: Vec<AttemptRecord>,
}

impl Attempts {
    /// No attempts.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Add the next attempt.
    pub fn push(&mut self, attempt: AttemptRecord) {
        if self.first.is_none() {
            self.first = Some(attempt);
        } else {
            self.rest.push(attempt);
        }
    }

    /// How many attempts were made.
    #[must_use]
    pub fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    /// Whether no attempt was made.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// The attempts, in order.
    pub fn iter(&self) -> AttemptsIter<'_> {
        AttemptsIter(self.first.iter().chain(self.rest.iter()))
    }

    /// The attempt at `index` (0 for the first).
    #[must_use]
    pub fn get(&self, index: usize) -> Option<&AttemptRecord> {
        match index {
            0 => self.first.as_ref(),
            i => self.rest.get(i - 1),
        }
    }

    /// The first attempt.
    #[must_use]
    pub fn first(&self) -> Option<&AttemptRecord> {
        self.first.as_ref()
    }

    /// The last attempt.
    #[must_use]
    pub fn last(&self) -> Option<&AttemptRecord> {
        self.rest.last().or(self.first.as_ref())
    }
}

/// Prints as a list, as the `Vec` it replaces did (`[]`, `[AttemptRecord { .. }]`).
impl fmt::Debug for Attempts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq<Vec<AttemptRecord>> for Attempts {
    fn eq(&self, other: &Vec<AttemptRecord>) -> bool {
        self.iter().eq(other.iter())
    }
}

impl PartialEq<[AttemptRecord]> for Attempts {
    fn eq(&self, other: &[AttemptRecord]) -> bool {
        self.iter().eq(other.iter())
    }
}

/// Iterates by value, as `for a in report.attempts` did over the `Vec`.
impl IntoIterator for Attempts {
    type Item = AttemptRecord;
    type IntoIter =
        std::iter::Chain<std::option::IntoIter<AttemptRecord>, std::vec::IntoIter<AttemptRecord>>;

    fn into_iter(self) -> Self::IntoIter {
        self.first.into_iter().chain(self.rest)
    }
}

impl From<Attempts> for Vec<AttemptRecord> {
    fn from(a: Attempts) -> Self {
        a.into_iter().collect()
    }
}

/// The iterator of [`Attempts::iter`].
#[derive(Debug, Clone)]
pub struct AttemptsIter<'a>(
    std::iter::Chain<std::option::Iter<'a, AttemptRecord>, std::slice::Iter<'a, AttemptRecord>>,
);

impl<'a> Iterator for AttemptsIter<'a> {
    type Item = &'a AttemptRecord;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for AttemptsIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back()
    }
}

impl ExactSizeIterator for AttemptsIter<'_> {}

impl std::iter::FusedIterator for AttemptsIter<'_> {}

impl<'a> IntoIterator for &'a Attempts {
    type Item = &'a AttemptRecord;
    type IntoIter = AttemptsIter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl std::ops::Index<usize> for Attempts {
    type Output = AttemptRecord;

    fn index(&self, index: usize) -> &AttemptRecord {
        match self.get(index) {
            Some(a) => a,
            None => panic!(
                "attempt index {index} out of range for {} attempts",
                self.len()
            ),
        }
    }
}

impl FromIterator<AttemptRecord> for Attempts {
    fn from_iter<I: IntoIterator<Item = AttemptRecord>>(iter: I) -> Self {
        let mut out = Self::new();
        for a in iter {
            out.push(a);
        }
        out
    }
}

impl From<Vec<AttemptRecord>> for Attempts {
    fn from(v: Vec<AttemptRecord>) -> Self {
        v.into_iter().collect()
    }
}

impl Serialize for Attempts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Attempts {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Vec::<AttemptRecord>::deserialize(d).map(Self::from)
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
    pub attempts: Attempts,
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
            attempts: Attempts::new(),
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

    fn attempt(n: u32, outcome: AttemptOutcome) -> AttemptRecord {
        AttemptRecord {
            attempt: n,
            started_at: DateTime::from_timestamp(1_700_000_000 + i64::from(n), 0).unwrap(),
            duration: Duration::from_millis(u64::from(n)),
            outcome,
            error: (outcome != AttemptOutcome::Succeeded).then(|| format!("failure {n}")),
            retry_after: (outcome != AttemptOutcome::Succeeded).then_some(Duration::from_secs(1)),
        }
    }

    /// `Attempts` (first attempt inline) reads and serializes as the `Vec` it replaced, for
    /// zero, one and several attempts, and reads back from that JSON.
    #[test]
    fn attempts_read_and_serialize_like_a_vec() {
        for n in 0..4u32 {
            let vec: Vec<AttemptRecord> = (1..=n)
                .map(|k| {
                    attempt(
                        k,
                        if k == n {
                            AttemptOutcome::Succeeded
                        } else {
                            AttemptOutcome::Failed
                        },
                    )
                })
                .collect();
            let mut attempts = Attempts::new();
            for a in &vec {
                attempts.push(a.clone());
            }
            assert_eq!(attempts.len(), vec.len());
            assert_eq!(attempts.is_empty(), vec.is_empty());
            assert_eq!(attempts.first(), vec.first());
            assert_eq!(attempts.last(), vec.last());
            assert_eq!(attempts.iter().len(), vec.len());
            assert!(attempts.iter().eq(vec.iter()));
            assert!(attempts.iter().rev().eq(vec.iter().rev()));
            assert!((&attempts).into_iter().eq(vec.iter()));
            for (i, a) in vec.iter().enumerate() {
                assert_eq!(&attempts[i], a);
                assert_eq!(attempts.get(i), Some(a));
            }
            assert_eq!(attempts.get(vec.len()), None);
            let json = serde_json::to_string(&attempts).unwrap();
            assert_eq!(json, serde_json::to_string(&vec).unwrap());
            let back: Attempts = serde_json::from_str(&json).unwrap();
            assert_eq!(back, attempts);
            assert_eq!(Attempts::from(vec.clone()), attempts);
            assert_eq!(attempts, vec);
            assert_eq!(attempts, vec[..]);
            assert_eq!(format!("{attempts:?}"), format!("{vec:?}"));
            assert_eq!(format!("{attempts:#?}"), format!("{vec:#?}"));
            assert_eq!(Vec::from(attempts.clone()), vec);
            assert!(attempts.into_iter().eq(vec));
        }
    }

    #[test]
    #[should_panic(expected = "attempt index 1 out of range for 1 attempts")]
    fn attempts_index_past_the_end_panics_like_a_slice() {
        let attempts: Attempts = std::iter::once(attempt(1, AttemptOutcome::Succeeded)).collect();
        let _ = &attempts[1];
    }
}
