//! Step names and retry policies.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{PipelineError, Result};

/// Longest step name accepted.
pub const MAX_STEP_NAME_LEN: usize = 128;

/// A step's name: 1 to [`MAX_STEP_NAME_LEN`] characters of ASCII letters, digits, `_`, `-` and
/// `.` (names appear in cache keys, file names and reports).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StepName(String);

impl StepName {
    /// The name as a string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StepName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for StepName {
    type Err = PipelineError;
    fn from_str(s: &str) -> Result<Self> {
        let ok = !s.is_empty()
            && s.len() <= MAX_STEP_NAME_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
            && s != "."
            && s != "..";
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(PipelineError::invalid(
                "step name",
                format!(
                    "{s:?} must be 1 to {MAX_STEP_NAME_LEN} ASCII letters, digits, '_', '-' or '.'"
                ),
            ))
        }
    }
}

impl TryFrom<String> for StepName {
    type Error = PipelineError;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<StepName> for String {
    fn from(n: StepName) -> Self {
        n.0
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn step_names() {
        for ok in ["ingest", "train-v2", "eval.metrics", "a_b"] {
            ok.parse::<StepName>().unwrap();
        }
        for bad in ["", ".", "..", "a/b", "a b", "ü", &"a".repeat(129)] {
            let err = bad.parse::<StepName>().unwrap_err();
            assert!(err.to_string().contains("step name"), "{err}");
        }
    }

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

    proptest! {
        #[test]
        fn exponential_is_monotone_and_capped(base_ms in 0u64..10_000, factor in 1.0f64..10.0, cap_ms in 0u64..100_000, i in 1u32..200) {
            let b = Backoff::Exponential { base: Duration::from_millis(base_ms), factor, cap: Duration::from_millis(cap_ms) };
            prop_assert!(b.delay(i) <= Duration::from_millis(cap_ms));
            prop_assert!(b.delay(i) <= b.delay(i + 1));
        }
    }
}
