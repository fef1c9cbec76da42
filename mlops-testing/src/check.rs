//! The structured result every check returns, and threshold checks with an explicit direction.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Result, TestingError};
use crate::human;
use crate::stats::Direction;

/// Outcome of one check.
///
/// `Failed` means the check ran and the data or model did not meet it (a JUnit `<failure>`);
/// `Error` means the check could not be evaluated (bad input, unknown column, NaN metric: a JUnit
/// `<error>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// The check ran and passed.
    Passed,
    /// The check ran and did not pass.
    Failed,
    /// The check could not be evaluated.
    Error,
}

impl fmt::Display for CheckStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Passed => "PASS",
            Self::Failed => "FAIL",
            Self::Error => "ERROR",
        })
    }
}

/// The result of one check: name, verdict, the metric with its actual value and threshold, a
/// human message and machine-readable details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Name of the check, unique within a suite.
    pub name: String,
    /// Group shown in reports and used as the JUnit `classname` (`data`, `model`, `drift`, ...).
    pub category: String,
    /// The verdict.
    pub status: CheckStatus,
    /// `status == Passed`, repeated for readers of the JSON report.
    pub passed: bool,
    /// The metric measured (`accuracy`, `latency_p95_ms`, `unexpected_percent`, ...).
    pub metric: Option<String>,
    /// The metric's value.
    pub actual: Option<f64>,
    /// The bound it was compared with.
    pub threshold: Option<f64>,
    /// Which way the bound applies.
    pub direction: Option<Direction>,
    /// One line for humans.
    pub message: String,
    /// Check-specific details (unexpected values with row indexes, per-metric tables, ...).
    pub details: serde_json::Value,
    /// Time the check took, when it was run by [`crate::Suite::run`] (milliseconds).
    pub duration_ms: f64,
}

impl CheckResult {
    fn new(
        name: impl Into<String>,
        category: impl Into<String>,
        status: CheckStatus,
        message: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            category: category.into(),
            status,
            passed: status == CheckStatus::Passed,
            metric: None,
            actual: None,
            threshold: None,
            direction: None,
            message: message.into(),
            details: serde_json::Value::Null,
            duration_ms: 0.0,
        }
    }

    /// A passed or failed result.
    #[must_use]
    pub fn verdict(
        name: impl Into<String>,
        category: impl Into<String>,
        passed: bool,
        message: impl Into<String>,
    ) -> Self {
        let status = if passed {
            CheckStatus::Passed
        } else {
            CheckStatus::Failed
        };
        Self::new(name, category, status, message)
    }

    /// A result for a check that could not be evaluated.
    #[must_use]
    pub fn error(
        name: impl Into<String>,
        category: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(name, category, CheckStatus::Error, message)
    }

    /// Attach the metric, its value and its threshold.
    #[must_use]
    pub fn with_metric(
        mut self,
        metric: impl Into<String>,
        actual: f64,
        threshold: Option<f64>,
        direction: Option<Direction>,
    ) -> Self {
        self.metric = Some(metric.into());
        self.actual = Some(actual);
        self.threshold = threshold;
        self.direction = direction;
        self
    }

    /// Attach details.
    #[must_use]
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }

    /// Whether the check passed.
    #[must_use]
    pub fn is_passed(&self) -> bool {
        self.status == CheckStatus::Passed
    }
}

/// A bound on a metric with the direction in which the metric improves:
/// `Maximize` passes when `actual >= value`, `Minimize` when `actual <= value`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    /// Which way is better.
    pub direction: Direction,
    /// The bound (inclusive).
    pub value: f64,
}

impl Threshold {
    /// `actual >= value` passes (accuracy, AUC, F1).
    #[must_use]
    pub fn at_least(value: f64) -> Self {
        Self {
            direction: Direction::Maximize,
            value,
        }
    }

    /// `actual <= value` passes (loss, error, latency).
    #[must_use]
    pub fn at_most(value: f64) -> Self {
        Self {
            direction: Direction::Minimize,
            value,
        }
    }

    /// Whether `actual` meets the bound (false for NaN).
    #[must_use]
    pub fn is_met(self, actual: f64) -> bool {
        match self.direction {
            Direction::Maximize => actual >= self.value,
            Direction::Minimize => actual <= self.value,
        }
    }

    /// Check that the bound itself is a finite number (and, for `range`, inside it).
    ///
    /// # Errors
    /// [`TestingError::InvalidArgument`] naming the bound.
    pub fn validate(self, range: Option<(f64, f64)>) -> Result<()> {
        if !self.value.is_finite() {
            return Err(TestingError::invalid(
                "threshold",
                format!("{} is not finite", self.value),
            ));
        }
        if let Some((lo, hi)) = range
            && !(lo..=hi).contains(&self.value)
        {
            return Err(TestingError::invalid(
                "threshold",
                format!("{} is outside [{lo}, {hi}]", self.value),
            ));
        }
        Ok(())
    }

    fn symbol(self) -> &'static str {
        match self.direction {
            Direction::Maximize => ">=",
            Direction::Minimize => "<=",
        }
    }
}

/// Compare a metric value with a threshold. A NaN or infinite value, or a non-finite threshold,
/// gives an `Error` result, never a silent pass or fail.
#[must_use]
pub fn threshold_check(
    name: impl Into<String>,
    category: impl Into<String>,
    metric: &str,
    actual: f64,
    threshold: Threshold,
) -> CheckResult {
    let name = name.into();
    let category = category.into();
    if let Err(e) = threshold.validate(None) {
        return CheckResult::error(name, category, format!("{metric}: {e}"));
    }
    if !actual.is_finite() {
        return CheckResult::error(name, category, format!("{metric} is {actual}")).with_metric(
            metric,
            actual,
            Some(threshold.value),
            Some(threshold.direction),
        );
    }
    let ok = threshold.is_met(actual);
    CheckResult::verdict(
        name,
        category,
        ok,
        format!(
            "{metric} = {} (required {} {}, {})",
            human::number(actual),
            threshold.symbol(),
            human::number(threshold.value),
            threshold.direction
        ),
    )
    .with_metric(
        metric,
        actual,
        Some(threshold.value),
        Some(threshold.direction),
    )
}

/// Run a metric computation and compare it with a threshold; a computation error becomes an
/// `Error` result carrying the message.
#[must_use]
pub fn metric_check(
    name: impl Into<String>,
    category: impl Into<String>,
    metric: &str,
    value: Result<f64>,
    threshold: Threshold,
) -> CheckResult {
    match value {
        Ok(v) => threshold_check(name, category, metric, v, threshold),
        Err(e) => CheckResult::error(name, category, format!("{metric}: {e}")),
    }
}

/// A model metric with its natural direction and range, for [`ModelMetric::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelMetric {
    /// Accuracy, in `[0, 1]`, higher is better.
    Accuracy,
    /// Precision, in `[0, 1]`, higher is better.
    Precision,
    /// Recall, in `[0, 1]`, higher is better.
    Recall,
    /// F1 score, in `[0, 1]`, higher is better.
    F1,
    /// ROC AUC, in `[0, 1]`, higher is better.
    RocAuc,
    /// Log loss, `>= 0`, lower is better.
    LogLoss,
    /// Mean absolute error, `>= 0`, lower is better.
    Mae,
    /// Root mean squared error, `>= 0`, lower is better.
    Rmse,
    /// Coefficient of determination, `<= 1`, higher is better.
    R2,
}

impl ModelMetric {
    /// The metric's name in reports (`accuracy`, `roc_auc`, ...).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Accuracy => "accuracy",
            Self::Precision => "precision",
            Self::Recall => "recall",
            Self::F1 => "f1",
            Self::RocAuc => "roc_auc",
            Self::LogLoss => "log_loss",
            Self::Mae => "mae",
            Self::Rmse => "rmse",
            Self::R2 => "r2",
        }
    }

    /// Which way the metric improves.
    #[must_use]
    pub fn direction(self) -> Direction {
        match self {
            Self::LogLoss | Self::Mae | Self::Rmse => Direction::Minimize,
            _ => Direction::Maximize,
        }
    }

    /// The values the metric can take.
    #[must_use]
    pub fn range(self) -> (f64, f64) {
        match self {
            Self::Accuracy | Self::Precision | Self::Recall | Self::F1 | Self::RocAuc => (0.0, 1.0),
            Self::LogLoss | Self::Mae | Self::Rmse => (0.0, f64::MAX),
            Self::R2 => (f64::MIN, 1.0),
        }
    }

    /// Check a computed value against `bound` in the metric's own direction. A bound outside the
    /// metric's range (e.g. accuracy `>= 1.2`), a non-finite value or a computation error gives an
    /// `Error` result naming the problem.
    #[must_use]
    pub fn check(self, name: impl Into<String>, value: Result<f64>, bound: f64) -> CheckResult {
        let threshold = Threshold {
            direction: self.direction(),
            value: bound,
        };
        let name = name.into();
        if let Err(e) = threshold.validate(Some(self.range())) {
            return CheckResult::error(name, "model", format!("{}: {e}", self.name()));
        }
        metric_check(name, "model", self.name(), value, threshold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_use_four_significant_digits() {
        let r = threshold_check(
            "acc",
            "model",
            "accuracy",
            0.912_345,
            Threshold::at_least(0.1 + 0.2),
        );
        assert_eq!(
            r.message,
            "accuracy = 0.9123 (required >= 0.3, higher is better)"
        );
        let r = threshold_check("p95", "latency", "p95_ms", 150.0, Threshold::at_most(100.0));
        assert_eq!(r.message, "p95_ms = 150 (required <= 100, lower is better)");
    }

    #[test]
    fn direction_decides_the_verdict() {
        let acc = threshold_check("acc", "model", "accuracy", 0.8, Threshold::at_least(0.75));
        assert!(acc.passed);
        let lat = threshold_check("p95", "latency", "p95_ms", 120.0, Threshold::at_most(100.0));
        assert_eq!(lat.status, CheckStatus::Failed);
        assert_eq!(lat.actual, Some(120.0));
        assert_eq!(lat.direction, Some(Direction::Minimize));
        // On the bound passes in both directions.
        assert!(Threshold::at_least(1.0).is_met(1.0));
        assert!(Threshold::at_most(1.0).is_met(1.0));
    }

    #[test]
    fn nan_is_an_error_not_a_verdict() {
        let r = threshold_check("x", "model", "auc", f64::NAN, Threshold::at_least(0.5));
        assert_eq!(r.status, CheckStatus::Error);
        let r = threshold_check("x", "model", "auc", 0.7, Threshold::at_least(f64::NAN));
        assert_eq!(r.status, CheckStatus::Error);
        let r = metric_check(
            "x",
            "model",
            "auc",
            Err(TestingError::invalid("labels", "single class")),
            Threshold::at_least(0.5),
        );
        assert_eq!(r.status, CheckStatus::Error);
        assert!(r.message.contains("single class"));
    }

    #[test]
    fn model_metrics_know_their_direction_and_range() {
        let ok = ModelMetric::Accuracy.check("acc", Ok(0.8), 0.75);
        assert!(ok.passed);
        assert_eq!(ok.direction, Some(Direction::Maximize));
        let loss = ModelMetric::LogLoss.check("loss", Ok(0.7), 0.5);
        assert_eq!(loss.status, CheckStatus::Failed);
        assert_eq!(loss.direction, Some(Direction::Minimize));
        let bad = ModelMetric::Accuracy.check("acc", Ok(0.8), 1.2);
        assert_eq!(bad.status, CheckStatus::Error);
        assert!(bad.message.contains("outside"), "{}", bad.message);
        assert_eq!(
            ModelMetric::Rmse.check("e", Ok(1.0), -1.0).status,
            CheckStatus::Error
        );
        assert_eq!(
            ModelMetric::R2.check("r2", Ok(0.5), 1.5).status,
            CheckStatus::Error
        );
        assert_eq!(
            ModelMetric::R2.check("r2", Ok(-3.0), -5.0).status,
            CheckStatus::Passed
        );
    }

    #[test]
    fn threshold_range_validation() {
        assert!(Threshold::at_least(1.5).validate(Some((0.0, 1.0))).is_err());
        assert!(Threshold::at_least(0.5).validate(Some((0.0, 1.0))).is_ok());
        assert!(Threshold::at_most(f64::INFINITY).validate(None).is_err());
    }
}
