//! Vocabulary shared by the mlops crates (serde only).
//!
//! [`Direction`] says which way a metric improves wherever "better" is meant: the best run
//! (mlops-tracking), version comparison (mlops-registry), thresholds and regression checks
//! (mlops-testing). Each of those crates re-exports this one type, so a value built for one is
//! accepted by the others.
//!
//! ```
//! use mlops_core::Direction;
//!
//! assert!(Direction::Maximize.is_better(0.93, 0.91));
//! assert_eq!(Direction::guess("val_loss"), Direction::Minimize);
//! assert_eq!(Direction::Minimize.to_string(), "lower is better");
//! assert_eq!(serde_json::to_string(&Direction::Maximize).unwrap(), r#""maximize""#);
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

/// Which way a metric improves: accuracy is maximised, loss and latency are minimised.
///
/// Serialized as `"maximize"` / `"minimize"`; the names written by earlier versions
/// (`"Maximize"`, `"HigherIsBetter"`, `"higher_is_better"` and their opposites) are still read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Larger values are better (accuracy, F1, AUC).
    #[serde(
        alias = "Maximize",
        alias = "HigherIsBetter",
        alias = "higher_is_better"
    )]
    Maximize,
    /// Smaller values are better (loss, error, latency).
    #[serde(alias = "Minimize", alias = "LowerIsBetter", alias = "lower_is_better")]
    Minimize,
}

impl Direction {
    /// Whether `candidate` is strictly better than `reference` in this direction (false when
    /// either is NaN).
    #[must_use]
    pub fn is_better(self, candidate: f64, reference: f64) -> bool {
        match self {
            Self::Maximize => candidate > reference,
            Self::Minimize => candidate < reference,
        }
    }

    /// The usual direction for a metric name: lower is better when the name contains `loss`,
    /// `error`, `err`, `latency`, `time`, `mse`, `mae`, `rmse`, `mape`, `perplexity`, `size`,
    /// `memory`, `_ms` or `seconds` (any case); higher otherwise.
    #[must_use]
    pub fn guess(metric: &str) -> Self {
        const LOWER: [&str; 14] = [
            "loss",
            "error",
            "err",
            "latency",
            "time",
            "mse",
            "mae",
            "rmse",
            "mape",
            "perplexity",
            "size",
            "memory",
            "_ms",
            "seconds",
        ];
        let m = metric.to_ascii_lowercase();
        if LOWER.iter().any(|w| m.contains(w)) {
            Self::Minimize
        } else {
            Self::Maximize
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Maximize => "higher is better",
            Self::Minimize => "lower is better",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Direction;

    #[test]
    fn every_name_ever_written_is_read() {
        for (text, want) in [
            ("maximize", Direction::Maximize),
            ("Maximize", Direction::Maximize),
            ("HigherIsBetter", Direction::Maximize),
            ("higher_is_better", Direction::Maximize),
            ("minimize", Direction::Minimize),
            ("Minimize", Direction::Minimize),
            ("LowerIsBetter", Direction::Minimize),
            ("lower_is_better", Direction::Minimize),
        ] {
            let got: Direction = serde_json::from_str(&format!("{text:?}")).unwrap();
            assert_eq!(got, want, "{text}");
        }
        assert!(serde_json::from_str::<Direction>(r#""up""#).is_err());
        assert_eq!(
            serde_json::to_string(&Direction::Minimize).unwrap(),
            r#""minimize""#
        );
    }

    #[test]
    fn better_and_guess() {
        assert!(Direction::Maximize.is_better(0.9, 0.8));
        assert!(!Direction::Maximize.is_better(0.8, 0.8));
        assert!(Direction::Minimize.is_better(80.0, 100.0));
        assert!(!Direction::Minimize.is_better(f64::NAN, 100.0));
        assert_eq!(Direction::guess("accuracy"), Direction::Maximize);
        assert_eq!(Direction::guess("latency_ms"), Direction::Minimize);
        assert_eq!(Direction::guess("Val_Loss"), Direction::Minimize);
        assert_eq!(Direction::guess("f1"), Direction::Maximize);
    }
}

/// The README's example, compiled and run as a doc test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
