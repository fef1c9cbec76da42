//! Results: one per expectation, with Great Expectations' counts and unexpected values.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::check::{CheckResult, CheckStatus};
use crate::stats::Direction;

use super::expectation::Expectation;

/// One unexpected value and the index of its row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnexpectedValue {
    /// Row index (0-based, as Great Expectations' `partial_unexpected_index_list`; messages for
    /// people count rows from 1).
    pub index: usize,
    /// The value (`null` for a missing value).
    pub value: Value,
}

/// Result of one expectation, in Great Expectations' terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpectationResult {
    /// The expectation.
    pub expectation: Expectation,
    /// Passed, failed, or could not be evaluated (unknown column).
    pub status: CheckStatus,
    /// Rows examined (all of them).
    pub element_count: usize,
    /// Rows where the column is null or absent.
    pub missing_count: usize,
    /// `missing_count / element_count`, in percent.
    pub missing_percent: f64,
    /// Values not as expected.
    pub unexpected_count: usize,
    /// `unexpected_count` over non-missing values, in percent (0 when none).
    pub unexpected_percent: f64,
    /// `unexpected_count` over all rows, in percent.
    pub unexpected_percent_total: f64,
    /// The first [`PARTIAL_UNEXPECTED`](crate::validate::PARTIAL_UNEXPECTED) unexpected values with their row indexes.
    pub partial_unexpected_list: Vec<UnexpectedValue>,
    /// For table expectations: the observed value (the row count).
    pub observed_value: Option<u64>,
    /// Why the expectation could not be evaluated.
    pub error: Option<String>,
}

impl ExpectationResult {
    /// As a suite check (category `data`).
    #[must_use]
    pub fn to_check(&self) -> CheckResult {
        let name = self.expectation.display_name();
        if let Some(e) = &self.error {
            return CheckResult::error(name, "data", e.clone())
                .with_details(serde_json::to_value(self).unwrap_or_default());
        }
        let passed = self.status == CheckStatus::Passed;
        let (metric, actual, threshold, message) = if let Some(obs) = self.observed_value {
            #[allow(clippy::cast_precision_loss)]
            ("row_count", obs as f64, None, format!("{obs} rows"))
        } else {
            let mostly = self.expectation.mostly_value().unwrap_or(1.0);
            let examples: Vec<String> = self
                .partial_unexpected_list
                .iter()
                .take(3)
                // Rows counted from 1 (the first data row is row 1), as a person reads a file.
                .map(|u| format!("row {}: {}", u.index + 1, u.value))
                .collect();
            (
                "unexpected_percent",
                self.unexpected_percent,
                Some((1.0 - mostly) * 100.0),
                format!(
                    "{} of {} unexpected ({:.2}%), {} missing{}",
                    self.unexpected_count,
                    self.element_count,
                    self.unexpected_percent,
                    self.missing_count,
                    if examples.is_empty() {
                        String::new()
                    } else {
                        format!("; e.g. {}", examples.join(", "))
                    }
                ),
            )
        };
        CheckResult::verdict(name, "data", passed, message)
            .with_metric(metric, actual, threshold, Some(Direction::Minimize))
            .with_details(serde_json::to_value(self).unwrap_or_default())
    }
}

/// Results of a [`Validator`](crate::Validator) run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationReport {
    /// Rows validated.
    pub row_count: usize,
    /// One result per expectation, in order.
    pub results: Vec<ExpectationResult>,
}

impl ValidationReport {
    /// Whether every expectation passed.
    #[must_use]
    pub fn success(&self) -> bool {
        self.results.iter().all(|r| r.status == CheckStatus::Passed)
    }

    /// Every result as a suite check.
    #[must_use]
    pub fn to_checks(&self) -> Vec<CheckResult> {
        self.results
            .iter()
            .map(ExpectationResult::to_check)
            .collect()
    }
}

impl fmt::Display for ValidationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} rows", self.row_count)?;
        for r in &self.results {
            write!(
                f,
                "\n[{}] {}: {} unexpected ({:.2}%), {} missing",
                r.status,
                r.expectation.display_name(),
                r.unexpected_count,
                r.unexpected_percent,
                r.missing_count
            )?;
            if let Some(e) = &r.error {
                write!(f, " - {e}")?;
            }
        }
        Ok(())
    }
}
