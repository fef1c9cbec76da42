//! Retry policies and sleepers.

use std::fmt;
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use crate::step::StepError;

use crate::error::{PipelineError, Result};

/// How long to wait before each retry of a failed step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Backoff {
    /// The same delay before every retry.
    Fixed(Duration),
    /// The i-th retry waits the i-th delay; past the end of the list, the last delay.
    List(Vec<Duration>),
    /// The i-th retry (i = 1, 2, ...) waits `min(cap, base × factor^(i-1))`.
    Exponential {
        /// The first delay.
        base: Duration,
        /// The growth factor (at least 1).
        factor: f64,
        /// The largest delay.
        cap: Duration,
    },
}

impl Backoff {
    /// The delay before retry number `retry` (1 for the first retry), before any jitter.
    #[must_use]
    pub fn delay(&self, retry: u32) -> Duration {
        let i = retry.max(1);
        match self {
            Self::Fixed(d) => *d,
            Self::List(delays) => delays
                .get(i as usize - 1)
                .or(delays.last())
                .copied()
                .unwrap_or(Duration::ZERO),
            Self::Exponential { base, factor, cap } => {
                let exp = i32::try_from(i - 1).unwrap_or(i32::MAX);
                let secs = base.as_secs_f64() * factor.max(1.0).powi(exp);
                if secs.is_finite() && secs < cap.as_secs_f64() {
                    Duration::from_secs_f64(secs)
                } else {
                    *cap
                }
            }
        }
    }

    /// Check the policy's numbers.
    ///
    /// # Errors
    /// [`PipelineError::InvalidArgument`] for an exponential factor below 1 or not finite.
    pub fn validate(&self) -> Result<()> {
        if let Self::Exponential { factor, .. } = self
            && !(factor.is_finite() && *factor >= 1.0)
        {
            return Err(PipelineError::invalid(
                "backoff",
                format!("exponential factor {factor} must be a finite number >= 1"),
            ));
        }
        Ok(())
    }
}

/// Decides whether a failed attempt may be retried (see [`RetryPolicy::retry_if`]).
pub type RetryPredicate = Arc<dyn Fn(&StepError) -> bool + Send + Sync>;

/// How a step is retried after a failed attempt.
///
/// The default is no retry (as in Prefect). A step is attempted at most `1 + max_retries` times;
/// before retry `i` (1, 2, ...) the runner waits [`Backoff::delay`]`(i)`, shrunk by jitter: with
/// `jitter = j` the delay is multiplied by a factor drawn uniformly from `[1 - j, 1]`. The draw
/// is a deterministic hash of the run's jitter seed, the step name and the retry number, so runs
/// with the same seed wait the same delays. Every failure counts, including a panic and a
/// timeout, unless the predicate set with [`retry_if`](Self::retry_if) says otherwise.
#[derive(Clone)]
pub struct RetryPolicy {
    pub(crate) max_retries: u32,
    pub(crate) backoff: Backoff,
    pub(crate) jitter: f64,
    pub(crate) retry_if: Option<RetryPredicate>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::none()
    }
}

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("max_retries", &self.max_retries)
            .field("backoff", &self.backoff)
            .field("jitter", &self.jitter)
            .field("retry_if", &self.retry_if.as_ref().map(|_| "<predicate>"))
            .finish()
    }
}

impl RetryPolicy {
    /// No retry: one attempt.
    #[must_use]
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            backoff: Backoff::Fixed(Duration::ZERO),
            jitter: 0.0,
            retry_if: None,
        }
    }

    /// Up to `max_retries` retries, waiting per `backoff`.
    #[must_use]
    pub fn new(max_retries: u32, backoff: Backoff) -> Self {
        Self {
            max_retries,
            backoff,
            jitter: 0.0,
            retry_if: None,
        }
    }

    /// Up to `max_retries` retries, each after the same `delay`.
    #[must_use]
    pub fn fixed(max_retries: u32, delay: Duration) -> Self {
        Self::new(max_retries, Backoff::Fixed(delay))
    }

    /// Retries after the listed delays (one retry per delay).
    #[must_use]
    pub fn delays(delays: Vec<Duration>) -> Self {
        let n = u32::try_from(delays.len()).unwrap_or(u32::MAX);
        Self::new(n, Backoff::List(delays))
    }

    /// Up to `max_retries` retries with exponential backoff: retry `i` waits
    /// `min(cap, base × factor^(i-1))`.
    #[must_use]
    pub fn exponential(max_retries: u32, base: Duration, factor: f64, cap: Duration) -> Self {
        Self::new(max_retries, Backoff::Exponential { base, factor, cap })
    }

    /// Shrink each delay by a random factor in `[1 - jitter, 1]` (`jitter` is clamped to
    /// `0..=1`; a NaN is taken as 0).
    #[must_use]
    pub fn with_jitter(mut self, jitter: f64) -> Self {
        self.jitter = if jitter.is_nan() {
            0.0
        } else {
            jitter.clamp(0.0, 1.0)
        };
        self
    }

    /// Retry only the failures for which `predicate` returns true (default: all).
    #[must_use]
    pub fn retry_if(
        mut self,
        predicate: impl Fn(&StepError) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.retry_if = Some(Arc::new(predicate));
        self
    }

    /// The most retries after the first attempt.
    #[must_use]
    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// The backoff schedule.
    #[must_use]
    pub fn backoff(&self) -> &Backoff {
        &self.backoff
    }

    /// Whether `error`, from the attempt that was retry number `retries_done`, may be retried.
    pub(crate) fn should_retry(&self, error: &StepError, retries_done: u32) -> bool {
        retries_done < self.max_retries && self.retry_if.as_ref().is_none_or(|p| p(error))
    }

    /// The delay before retry `retry` of `step`, jitter applied with `seed`.
    #[must_use]
    pub fn delay_for(&self, step: &str, retry: u32, seed: u64) -> Duration {
        let base = self.backoff.delay(retry);
        if self.jitter <= 0.0 {
            return base;
        }
        let u = unit_hash(seed, step, retry);
        base.mul_f64(1.0 - self.jitter * u)
    }
}

/// A deterministic number in `[0, 1)` from the seed, the step name and the retry number
/// (FNV-1a, then a splitmix64 finaliser).
fn unit_hash(seed: u64, step: &str, retry: u32) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in step.bytes().chain(retry.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    #[allow(clippy::cast_precision_loss)]
    let u = (h >> 11) as f64 / (1u64 << 53) as f64;
    u
}

/// Waits between retries. The runner calls it with each backoff delay; tests inject a sleeper
/// that records the delays instead of sleeping.
pub trait Sleeper: Send + Sync + fmt::Debug + 'static {
    /// Wait for `delay`.
    fn sleep(&self, delay: Duration);
}

const _: fn(&dyn Sleeper) = |_| {};

/// The real sleeper: [`std::thread::sleep`].
#[derive(Debug, Default, Clone, Copy)]
pub struct ThreadSleeper;

impl Sleeper for ThreadSleeper {
    fn sleep(&self, delay: Duration) {
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
    }
}

/// A sleeper that does not sleep but records every requested delay (for tests).
/// Clones share the record.
#[derive(Debug, Default, Clone)]
pub struct RecordingSleeper {
    delays: Arc<Mutex<Vec<Duration>>>,
}

impl RecordingSleeper {
    /// A sleeper with an empty record.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The delays requested so far, in order.
    #[must_use]
    pub fn delays(&self) -> Vec<Duration> {
        self.delays.lock().clone()
    }
}

impl Sleeper for RecordingSleeper {
    fn sleep(&self, delay: Duration) {
        self.delays.lock().push(delay);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn delays() {
        assert_eq!(Backoff::Fixed(5 * MS).delay(3), 5 * MS);
        let list = Backoff::List(vec![MS, 10 * MS]);
        assert_eq!(list.delay(1), MS);
        assert_eq!(list.delay(2), 10 * MS);
        assert_eq!(list.delay(9), 10 * MS);
        assert_eq!(Backoff::List(vec![]).delay(1), Duration::ZERO);
        let exp = Backoff::Exponential {
            base: 100 * MS,
            factor: 2.0,
            cap: 1000 * MS,
        };
        let got: Vec<_> = (1..=6).map(|i| exp.delay(i)).collect();
        assert_eq!(
            got,
            vec![100 * MS, 200 * MS, 400 * MS, 800 * MS, 1000 * MS, 1000 * MS]
        );
        assert_eq!(exp.delay(u32::MAX), 1000 * MS);
    }

    #[test]
    fn bad_factor_is_rejected() {
        let exp = Backoff::Exponential {
            base: MS,
            factor: 0.5,
            cap: MS,
        };
        assert!(exp.validate().is_err());
        let nan = Backoff::Exponential {
            base: MS,
            factor: f64::NAN,
            cap: MS,
        };
        assert!(nan.validate().is_err());
    }

    #[test]
    fn jitter_is_deterministic_and_bounded() {
        let p = RetryPolicy::fixed(3, 100 * MS).with_jitter(0.5);
        for retry in 1..=3 {
            let d = p.delay_for("train", retry, 7);
            assert!(d <= 100 * MS && d >= 50 * MS, "{d:?}");
            assert_eq!(d, p.delay_for("train", retry, 7));
        }
        assert_ne!(p.delay_for("train", 1, 7), p.delay_for("train", 1, 8));
        assert_eq!(RetryPolicy::fixed(1, MS).delay_for("x", 1, 0), MS);
        assert_eq!(RetryPolicy::fixed(1, MS).with_jitter(f64::NAN).jitter, 0.0);
    }

    #[test]
    fn predicate_and_budget() {
        let p = RetryPolicy::fixed(2, MS).retry_if(|e| !e.to_string().contains("fatal"));
        assert!(p.should_retry(&StepError::msg("flaky"), 0));
        assert!(p.should_retry(&StepError::msg("flaky"), 1));
        assert!(!p.should_retry(&StepError::msg("flaky"), 2));
        assert!(!p.should_retry(&StepError::msg("fatal: bad schema"), 0));
        assert!(!RetryPolicy::none().should_retry(&StepError::msg("x"), 0));
        assert_eq!(RetryPolicy::delays(vec![MS, 2 * MS]).max_retries(), 2);
    }

    proptest! {
        #[test]
        fn exponential_is_monotone_and_capped(base_ms in 0u64..10_000, factor in 1.0f64..10.0, cap_ms in 0u64..100_000, i in 1u32..200) {
            let b = Backoff::Exponential { base: Duration::from_millis(base_ms), factor, cap: Duration::from_millis(cap_ms) };
            prop_assert!(b.delay(i) <= Duration::from_millis(cap_ms));
            prop_assert!(b.delay(i) <= b.delay(i + 1));
        }
    }
}
