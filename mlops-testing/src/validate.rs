//! Data validation over every row, with Great Expectations' expectations and result format.

use std::collections::{HashMap, HashSet};
use std::fmt;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::check::{CheckResult, CheckStatus};
use crate::error::{Result, TestingError};
use crate::stats::Direction;

/// How many unexpected values (with their row indexes) a result lists, as Great Expectations'
/// `partial_unexpected_list`.
pub const PARTIAL_UNEXPECTED: usize = 20;

/// A row: named fields holding JSON values. Implemented for JSON objects and maps.
pub trait Row {
    /// The value of `column`, `None` if the row has no such field.
    fn field(&self, column: &str) -> Option<&Value>;
    /// Whether this row is a record (a JSON value that is not an object is not).
    fn is_record(&self) -> bool {
        true
    }
}

impl Row for Value {
    fn field(&self, column: &str) -> Option<&Value> {
        self.as_object().and_then(|o| o.get(column))
    }
    fn is_record(&self) -> bool {
        self.is_object()
    }
}

impl Row for serde_json::Map<String, Value> {
    fn field(&self, column: &str) -> Option<&Value> {
        self.get(column)
    }
}

impl<S: std::hash::BuildHasher> Row for HashMap<String, Value, S> {
    fn field(&self, column: &str) -> Option<&Value> {
        self.get(column)
    }
}

impl Row for std::collections::BTreeMap<String, Value> {
    fn field(&self, column: &str) -> Option<&Value> {
        self.get(column)
    }
}

/// A JSON value type for [`Expectation::ColumnValuesToBeOfType`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    /// `true` / `false`.
    Bool,
    /// A number without fractional part representable as `i64` or `u64`.
    Integer,
    /// Any number.
    Number,
    /// A string.
    String,
    /// An array.
    Array,
    /// An object.
    Object,
}

impl ValueType {
    fn matches(self, v: &Value) -> bool {
        match self {
            Self::Bool => v.is_boolean(),
            Self::Integer => v.is_i64() || v.is_u64(),
            Self::Number => v.is_number(),
            Self::String => v.is_string(),
            Self::Array => v.is_array(),
            Self::Object => v.is_object(),
        }
    }
}

/// An expectation, by Great Expectations' names. Column-map expectations take an optional
/// `mostly`: the fraction of non-missing values that must be as expected (default: all).
/// Missing values (`null` or an absent field) are not evaluated by column-map expectations,
/// except by `ColumnValuesToNotBeNull`, whose unexpected values they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
#[non_exhaustive]
pub enum Expectation {
    /// `expect_column_to_exist`: some row has the field.
    ColumnToExist {
        /// Column name.
        column: String,
    },
    /// `expect_column_values_to_not_be_null`.
    ColumnValuesToNotBeNull {
        /// Column name.
        column: String,
        /// Required fraction.
        mostly: Option<f64>,
    },
    /// `expect_column_values_to_be_of_type`.
    ColumnValuesToBeOfType {
        /// Column name.
        column: String,
        /// The JSON type.
        value_type: ValueType,
        /// Required fraction.
        mostly: Option<f64>,
    },
    /// `expect_column_values_to_be_between`: numbers within `[min, max]` (bounds optional,
    /// exclusive when `strict_*`). Non-numbers are unexpected.
    ColumnValuesToBeBetween {
        /// Column name.
        column: String,
        /// Lower bound.
        min: Option<f64>,
        /// Upper bound.
        max: Option<f64>,
        /// Exclude the lower bound.
        strict_min: bool,
        /// Exclude the upper bound.
        strict_max: bool,
        /// Required fraction.
        mostly: Option<f64>,
    },
    /// `expect_column_values_to_be_in_set` (numbers compare by value: `1` equals `1.0`).
    ColumnValuesToBeInSet {
        /// Column name.
        column: String,
        /// Allowed values.
        values: Vec<Value>,
        /// Required fraction.
        mostly: Option<f64>,
    },
    /// `expect_column_values_to_match_regex`: strings in which the pattern is found (search, as
    /// Python's `re.search`; anchor with `^...$` for a full match). Non-strings are unexpected.
    ColumnValuesToMatchRegex {
        /// Column name.
        column: String,
        /// The pattern (Rust `regex` syntax).
        regex: String,
        /// Required fraction.
        mostly: Option<f64>,
    },
    /// `expect_column_values_to_be_unique`: every occurrence of a repeated value is unexpected.
    ColumnValuesToBeUnique {
        /// Column name.
        column: String,
        /// Required fraction.
        mostly: Option<f64>,
    },
    /// `expect_compound_columns_to_be_unique`: rows whose combination of values repeats are
    /// unexpected; rows where all the columns are missing are skipped.
    CompoundColumnsToBeUnique {
        /// Column names.
        columns: Vec<String>,
        /// Required fraction.
        mostly: Option<f64>,
    },
    /// `expect_table_row_count_to_be_between` (inclusive bounds).
    TableRowCountToBeBetween {
        /// Lower bound.
        min: Option<u64>,
        /// Upper bound.
        max: Option<u64>,
    },
}

impl Expectation {
    /// `expect_column_to_exist`.
    #[must_use]
    pub fn column_to_exist(column: impl Into<String>) -> Self {
        Self::ColumnToExist {
            column: column.into(),
        }
    }

    /// `expect_column_values_to_not_be_null`.
    #[must_use]
    pub fn not_null(column: impl Into<String>) -> Self {
        Self::ColumnValuesToNotBeNull {
            column: column.into(),
            mostly: None,
        }
    }

    /// `expect_column_values_to_be_of_type`.
    #[must_use]
    pub fn of_type(column: impl Into<String>, value_type: ValueType) -> Self {
        Self::ColumnValuesToBeOfType {
            column: column.into(),
            value_type,
            mostly: None,
        }
    }

    /// `expect_column_values_to_be_between` with inclusive bounds.
    #[must_use]
    pub fn between(column: impl Into<String>, min: Option<f64>, max: Option<f64>) -> Self {
        Self::ColumnValuesToBeBetween {
            column: column.into(),
            min,
            max,
            strict_min: false,
            strict_max: false,
            mostly: None,
        }
    }

    /// `expect_column_values_to_be_in_set`.
    #[must_use]
    pub fn in_set(column: impl Into<String>, values: impl IntoIterator<Item = Value>) -> Self {
        Self::ColumnValuesToBeInSet {
            column: column.into(),
            values: values.into_iter().collect(),
            mostly: None,
        }
    }

    /// `expect_column_values_to_match_regex`.
    #[must_use]
    pub fn matches_regex(column: impl Into<String>, regex: impl Into<String>) -> Self {
        Self::ColumnValuesToMatchRegex {
            column: column.into(),
            regex: regex.into(),
            mostly: None,
        }
    }

    /// `expect_column_values_to_be_unique`.
    #[must_use]
    pub fn unique(column: impl Into<String>) -> Self {
        Self::ColumnValuesToBeUnique {
            column: column.into(),
            mostly: None,
        }
    }

    /// `expect_compound_columns_to_be_unique`.
    #[must_use]
    pub fn compound_unique<S: Into<String>>(columns: impl IntoIterator<Item = S>) -> Self {
        Self::CompoundColumnsToBeUnique {
            columns: columns.into_iter().map(Into::into).collect(),
            mostly: None,
        }
    }

    /// `expect_table_row_count_to_be_between`.
    #[must_use]
    pub fn row_count_between(min: Option<u64>, max: Option<u64>) -> Self {
        Self::TableRowCountToBeBetween { min, max }
    }

    /// Set `mostly` (no effect on table and column-existence expectations).
    #[must_use]
    pub fn mostly(mut self, fraction: f64) -> Self {
        match &mut self {
            Self::ColumnValuesToNotBeNull { mostly, .. }
            | Self::ColumnValuesToBeOfType { mostly, .. }
            | Self::ColumnValuesToBeBetween { mostly, .. }
            | Self::ColumnValuesToBeInSet { mostly, .. }
            | Self::ColumnValuesToMatchRegex { mostly, .. }
            | Self::ColumnValuesToBeUnique { mostly, .. }
            | Self::CompoundColumnsToBeUnique { mostly, .. } => *mostly = Some(fraction),
            Self::ColumnToExist { .. } | Self::TableRowCountToBeBetween { .. } => {}
        }
        self
    }

    /// Make the bounds of a `ColumnValuesToBeBetween` exclusive.
    #[must_use]
    pub fn strict(mut self, strict_min_bound: bool, strict_max_bound: bool) -> Self {
        if let Self::ColumnValuesToBeBetween {
            strict_min,
            strict_max,
            ..
        } = &mut self
        {
            *strict_min = strict_min_bound;
            *strict_max = strict_max_bound;
        }
        self
    }

    /// Great Expectations' name (`expect_column_values_to_not_be_null`, ...).
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::ColumnToExist { .. } => "expect_column_to_exist",
            Self::ColumnValuesToNotBeNull { .. } => "expect_column_values_to_not_be_null",
            Self::ColumnValuesToBeOfType { .. } => "expect_column_values_to_be_of_type",
            Self::ColumnValuesToBeBetween { .. } => "expect_column_values_to_be_between",
            Self::ColumnValuesToBeInSet { .. } => "expect_column_values_to_be_in_set",
            Self::ColumnValuesToMatchRegex { .. } => "expect_column_values_to_match_regex",
            Self::ColumnValuesToBeUnique { .. } => "expect_column_values_to_be_unique",
            Self::CompoundColumnsToBeUnique { .. } => "expect_compound_columns_to_be_unique",
            Self::TableRowCountToBeBetween { .. } => "expect_table_row_count_to_be_between",
        }
    }

    fn columns(&self) -> Vec<&str> {
        match self {
            Self::ColumnToExist { column }
            | Self::ColumnValuesToNotBeNull { column, .. }
            | Self::ColumnValuesToBeOfType { column, .. }
            | Self::ColumnValuesToBeBetween { column, .. }
            | Self::ColumnValuesToBeInSet { column, .. }
            | Self::ColumnValuesToMatchRegex { column, .. }
            | Self::ColumnValuesToBeUnique { column, .. } => vec![column.as_str()],
            Self::CompoundColumnsToBeUnique { columns, .. } => {
                columns.iter().map(String::as_str).collect()
            }
            Self::TableRowCountToBeBetween { .. } => Vec::new(),
        }
    }

    fn mostly_value(&self) -> Option<f64> {
        match self {
            Self::ColumnValuesToNotBeNull { mostly, .. }
            | Self::ColumnValuesToBeOfType { mostly, .. }
            | Self::ColumnValuesToBeBetween { mostly, .. }
            | Self::ColumnValuesToBeInSet { mostly, .. }
            | Self::ColumnValuesToMatchRegex { mostly, .. }
            | Self::ColumnValuesToBeUnique { mostly, .. }
            | Self::CompoundColumnsToBeUnique { mostly, .. } => *mostly,
            Self::ColumnToExist { .. } | Self::TableRowCountToBeBetween { .. } => None,
        }
    }

    /// A display name: type and columns, e.g. `expect_column_values_to_be_unique(id)`.
    #[must_use]
    pub fn display_name(&self) -> String {
        format!("{}({})", self.type_name(), self.columns().join(", "))
    }
}

/// One unexpected value and the index of its row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnexpectedValue {
    /// Row index (0-based).
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
    /// The first [`PARTIAL_UNEXPECTED`] unexpected values with their row indexes.
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
                .map(|u| format!("row {}: {}", u.index, u.value))
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

/// Results of a [`Validator`] run.
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

enum Compiled {
    None,
    Regex(Regex),
    Set {
        strings: HashSet<String>,
        numbers: HashSet<u64>,
        bools: [bool; 2],
        others: HashSet<String>,
    },
}

/// A validated set of expectations, with regexes compiled once.
#[derive(Debug)]
pub struct Validator {
    expectations: Vec<Expectation>,
    compiled: Vec<CompiledDebug>,
}

struct CompiledDebug(Compiled);

impl fmt::Debug for CompiledDebug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Compiled::None => "None",
            Compiled::Regex(_) => "Regex",
            Compiled::Set { .. } => "Set",
        })
    }
}

fn num_key(x: f64) -> u64 {
    if x == 0.0 { 0 } else { x.to_bits() }
}

fn check_mostly(e: &Expectation) -> Result<()> {
    if let Some(m) = e.mostly_value()
        && !(0.0..=1.0).contains(&m)
    {
        return Err(TestingError::invalid(
            "threshold",
            format!("{}: mostly = {m} is outside [0, 1]", e.display_name()),
        ));
    }
    Ok(())
}

impl Validator {
    /// Check the expectations' parameters and compile their regexes.
    ///
    /// # Errors
    /// [`TestingError::InvalidArgument`] for an invalid regex, `mostly` outside `[0, 1]`, a
    /// `min` above `max` or a non-finite bound, an empty column list or empty column name.
    pub fn new(expectations: Vec<Expectation>) -> Result<Self> {
        let mut compiled = Vec::with_capacity(expectations.len());
        for e in &expectations {
            check_mostly(e)?;
            if e.columns().iter().any(|c| c.is_empty())
                || matches!(e, Expectation::CompoundColumnsToBeUnique { columns, .. } if columns.is_empty())
            {
                return Err(TestingError::invalid(
                    "expectation",
                    format!("{}: empty column name or list", e.type_name()),
                ));
            }
            let c = match e {
                Expectation::ColumnValuesToMatchRegex { regex, .. } => {
                    Compiled::Regex(Regex::new(regex).map_err(|err| {
                        TestingError::invalid(
                            "regex",
                            format!("{}: {regex:?}: {err}", e.display_name()),
                        )
                    })?)
                }
                Expectation::ColumnValuesToBeBetween { min, max, .. } => {
                    if min.is_some_and(|v| !v.is_finite()) || max.is_some_and(|v| !v.is_finite()) {
                        return Err(TestingError::invalid(
                            "threshold",
                            format!("{}: bounds must be finite", e.display_name()),
                        ));
                    }
                    if let (Some(lo), Some(hi)) = (min, max)
                        && lo > hi
                    {
                        return Err(TestingError::invalid(
                            "threshold",
                            format!("{}: min {lo} is above max {hi}", e.display_name()),
                        ));
                    }
                    Compiled::None
                }
                Expectation::TableRowCountToBeBetween {
                    min: Some(lo),
                    max: Some(hi),
                } if lo > hi => {
                    return Err(TestingError::invalid(
                        "threshold",
                        format!("{}: min {lo} is above max {hi}", e.display_name()),
                    ));
                }
                Expectation::ColumnValuesToBeInSet { values, .. } => {
                    let mut strings = HashSet::new();
                    let mut numbers = HashSet::new();
                    let mut bools = [false; 2];
                    let mut others = HashSet::new();
                    for v in values {
                        match v {
                            Value::String(s) => {
                                strings.insert(s.clone());
                            }
                            Value::Number(n) => {
                                if let Some(x) = n.as_f64() {
                                    numbers.insert(num_key(x));
                                }
                            }
                            Value::Bool(b) => bools[usize::from(*b)] = true,
                            other => {
                                others.insert(other.to_string());
                            }
                        }
                    }
                    Compiled::Set {
                        strings,
                        numbers,
                        bools,
                        others,
                    }
                }
                _ => Compiled::None,
            };
            compiled.push(CompiledDebug(c));
        }
        Ok(Self {
            expectations,
            compiled,
        })
    }

    /// The expectations.
    #[must_use]
    pub fn expectations(&self) -> &[Expectation] {
        &self.expectations
    }

    /// Evaluate every expectation over every row (expectations run on several threads for
    /// large inputs).
    ///
    /// An expectation on a column that no row has is reported with status `Error` (GE raises
    /// for an unknown column), not as a pass.
    ///
    /// # Errors
    /// [`TestingError::InvalidArgument`] if a row is not a record (e.g. a JSON array).
    pub fn validate<R: Row + Sync>(&self, rows: &[R]) -> Result<ValidationReport> {
        if let Some(i) = rows.iter().position(|r| !r.is_record()) {
            return Err(TestingError::invalid(
                "row",
                format!("row {i} is not an object"),
            ));
        }
        let n = rows.len();
        let mut results: Vec<Option<ExpectationResult>> = vec![None; self.expectations.len()];
        // Column-map expectations share one row-major pass (each row is visited once, all its
        // fields while it is in cache), split over the CPUs by row ranges on large inputs.
        let mut map_exps: Vec<(usize, &Expectation, &Compiled)> = Vec::new();
        for (i, (e, c)) in self.expectations.iter().zip(&self.compiled).enumerate() {
            if is_column_map(e) {
                if let Some(err) = unknown_column(e, rows) {
                    results[i] = Some(err);
                } else {
                    map_exps.push((i, e, &c.0));
                }
            } else {
                results[i] = Some(evaluate(e, &c.0, rows));
            }
        }
        if !map_exps.is_empty() {
            let checks: Vec<(&Expectation, &Compiled)> =
                map_exps.iter().map(|(_, e, c)| (*e, *c)).collect();
            let parts = crate::par::threads().clamp(1, 64);
            let chunk = n.div_ceil(parts).max(1);
            let ranges: Vec<(usize, usize)> = (0..n)
                .step_by(chunk)
                .map(|start| (start, (start + chunk).min(n)))
                .collect();
            let partials = crate::par::map(&ranges, n >= 10_000, |&(start, end)| {
                map_pass(&checks, &rows[start..end], start)
            });
            let mut tallies: Vec<Tally> = checks.iter().map(|_| Tally::new(n)).collect();
            for part in partials {
                for (t, p) in tallies.iter_mut().zip(part) {
                    t.merge(p);
                }
            }
            for ((i, e, _), mut t) in map_exps.into_iter().zip(tallies) {
                if let Expectation::ColumnValuesToNotBeNull { .. } = e {
                    // Nulls are this expectation's unexpected values, not missing ones.
                    t.missing = 0;
                }
                results[i] = Some(finish(e, t));
            }
        }
        let results = results.into_iter().flatten().collect();
        Ok(ValidationReport {
            row_count: rows.len(),
            results,
        })
    }
}

struct Tally {
    element_count: usize,
    missing: usize,
    unexpected: usize,
    partial: Vec<UnexpectedValue>,
}

impl Tally {
    fn new(n: usize) -> Self {
        Self {
            element_count: n,
            missing: 0,
            unexpected: 0,
            partial: Vec::new(),
        }
    }
    /// Add a later row range's counts (partial lists stay in row order).
    fn merge(&mut self, later: Tally) {
        self.missing += later.missing;
        self.unexpected += later.unexpected;
        let room = PARTIAL_UNEXPECTED.saturating_sub(self.partial.len());
        self.partial.extend(later.partial.into_iter().take(room));
    }

    fn unexpected(&mut self, index: usize, value: Option<&Value>) {
        self.unexpected += 1;
        if self.partial.len() < PARTIAL_UNEXPECTED {
            self.partial.push(UnexpectedValue {
                index,
                value: value.cloned().unwrap_or(Value::Null),
            });
        }
    }
}

fn percent(a: usize, b: usize) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64 * 100.0
    }
}

fn finish(e: &Expectation, t: Tally) -> ExpectationResult {
    let nonmissing = t.element_count - t.missing;
    let mostly = e.mostly_value();
    let success = match mostly {
        None => t.unexpected == 0,
        #[allow(clippy::cast_precision_loss)]
        Some(m) => nonmissing == 0 || (nonmissing - t.unexpected) as f64 / nonmissing as f64 >= m,
    };
    ExpectationResult {
        expectation: e.clone(),
        status: if success {
            CheckStatus::Passed
        } else {
            CheckStatus::Failed
        },
        element_count: t.element_count,
        missing_count: t.missing,
        missing_percent: percent(t.missing, t.element_count),
        unexpected_count: t.unexpected,
        unexpected_percent: percent(t.unexpected, nonmissing),
        unexpected_percent_total: percent(t.unexpected, t.element_count),
        partial_unexpected_list: t.partial,
        observed_value: None,
        error: None,
    }
}

fn error_result(e: &Expectation, n: usize, message: String) -> ExpectationResult {
    ExpectationResult {
        expectation: e.clone(),
        status: CheckStatus::Error,
        element_count: n,
        missing_count: 0,
        missing_percent: 0.0,
        unexpected_count: 0,
        unexpected_percent: 0.0,
        unexpected_percent_total: 0.0,
        partial_unexpected_list: Vec::new(),
        observed_value: None,
        error: Some(message),
    }
}

/// A hashable view of a JSON value for uniqueness.
#[derive(PartialEq, Eq, Hash)]
enum KeyRef<'a> {
    Null,
    Bool(bool),
    Num(u64),
    Str(&'a str),
    Other(String),
}

fn key_of(v: &Value) -> KeyRef<'_> {
    match v {
        Value::Bool(b) => KeyRef::Bool(*b),
        Value::Number(n) => n
            .as_f64()
            .map_or_else(|| KeyRef::Other(n.to_string()), |x| KeyRef::Num(num_key(x))),
        Value::String(s) => KeyRef::Str(s),
        other => KeyRef::Other(other.to_string()),
    }
}

type CompoundKey<'r> = (Vec<Option<&'r Value>>, Vec<KeyRef<'r>>);

fn compound_key<'r, R: Row>(row: &'r R, columns: &[String]) -> Option<CompoundKey<'r>> {
    let vals: Vec<Option<&Value>> = columns.iter().map(|c| present(row, c)).collect();
    if vals.iter().all(Option::is_none) {
        return None;
    }
    let k = vals
        .iter()
        .map(|v| v.map_or(KeyRef::Null, key_of))
        .collect();
    Some((vals, k))
}

fn present<'r, R: Row>(row: &'r R, column: &str) -> Option<&'r Value> {
    match row.field(column) {
        None | Some(Value::Null) => None,
        Some(v) => Some(v),
    }
}

#[allow(clippy::too_many_lines)]
fn is_column_map(e: &Expectation) -> bool {
    matches!(
        e,
        Expectation::ColumnValuesToNotBeNull { .. }
            | Expectation::ColumnValuesToBeOfType { .. }
            | Expectation::ColumnValuesToBeBetween { .. }
            | Expectation::ColumnValuesToBeInSet { .. }
            | Expectation::ColumnValuesToMatchRegex { .. }
    )
}

/// An unknown column is an error, not a vacuous pass (and a failure for `ColumnToExist`).
fn unknown_column<R: Row>(e: &Expectation, rows: &[R]) -> Option<ExpectationResult> {
    let n = rows.len();
    for c in e.columns() {
        if !rows.iter().any(|r| r.field(c).is_some()) {
            let mut res = error_result(e, n, format!("column {c} not found in any of {n} rows"));
            if let Expectation::ColumnToExist { .. } = e {
                res.status = CheckStatus::Failed;
                res.error = None;
            }
            return Some(res);
        }
    }
    None
}

/// Whether one value is as a column-map expectation expects (`value` is present, not null).
fn value_ok(e: &Expectation, compiled: &Compiled, v: &Value) -> bool {
    match e {
        Expectation::ColumnValuesToBeOfType { value_type, .. } => value_type.matches(v),
        Expectation::ColumnValuesToBeBetween {
            min,
            max,
            strict_min,
            strict_max,
            ..
        } => v.as_f64().is_some_and(|x| {
            min.is_none_or(|lo| if *strict_min { x > lo } else { x >= lo })
                && max.is_none_or(|hi| if *strict_max { x < hi } else { x <= hi })
        }),
        Expectation::ColumnValuesToBeInSet { .. } => match compiled {
            Compiled::Set {
                strings,
                numbers,
                bools,
                others,
            } => match v {
                Value::String(s) => strings.contains(s.as_str()),
                Value::Number(x) => x.as_f64().is_some_and(|x| numbers.contains(&num_key(x))),
                Value::Bool(b) => bools[usize::from(*b)],
                other => others.contains(&other.to_string()),
            },
            _ => false,
        },
        Expectation::ColumnValuesToMatchRegex { .. } => match compiled {
            Compiled::Regex(re) => v.as_str().is_some_and(|s| re.is_match(s)),
            _ => false,
        },
        _ => true,
    }
}

/// One row-major pass of column-map expectations over `rows` (whose first row has index
/// `offset`): one tally per expectation, in order.
fn map_pass<R: Row>(checks: &[(&Expectation, &Compiled)], rows: &[R], offset: usize) -> Vec<Tally> {
    let columns: Vec<&str> = checks.iter().map(|(e, _)| e.columns()[0]).collect();
    let mut tallies: Vec<Tally> = checks.iter().map(|_| Tally::new(rows.len())).collect();
    for (i, row) in rows.iter().enumerate() {
        for (((e, c), column), t) in checks.iter().zip(&columns).zip(tallies.iter_mut()) {
            match present(row, column) {
                None => {
                    if let Expectation::ColumnValuesToNotBeNull { .. } = e {
                        t.unexpected(offset + i, None);
                    } else {
                        t.missing += 1;
                    }
                }
                Some(v) => {
                    if !value_ok(e, c, v) {
                        t.unexpected(offset + i, Some(v));
                    }
                }
            }
        }
    }
    tallies
}

fn evaluate<R: Row>(e: &Expectation, compiled: &Compiled, rows: &[R]) -> ExpectationResult {
    let n = rows.len();
    if let Expectation::TableRowCountToBeBetween { min, max } = e {
        let count = n as u64;
        let ok = min.is_none_or(|lo| count >= lo) && max.is_none_or(|hi| count <= hi);
        let mut r = finish(e, Tally::new(n));
        r.status = if ok {
            CheckStatus::Passed
        } else {
            CheckStatus::Failed
        };
        r.observed_value = Some(count);
        return r;
    }
    if let Some(res) = unknown_column(e, rows) {
        return res;
    }
    let mut t = Tally::new(n);
    match e {
        Expectation::ColumnToExist { .. } | Expectation::TableRowCountToBeBetween { .. } => {}
        Expectation::CompoundColumnsToBeUnique { columns, .. } => {
            let mut counts: HashMap<Vec<KeyRef<'_>>, usize> = HashMap::new();
            for row in rows {
                match compound_key(row, columns) {
                    None => t.missing += 1,
                    Some((_, k)) => *counts.entry(k).or_insert(0) += 1,
                }
            }
            for (i, row) in rows.iter().enumerate() {
                if let Some((vals, k)) = compound_key(row, columns)
                    && counts.get(&k).copied().unwrap_or(0) > 1
                {
                    let shown: serde_json::Map<String, Value> = columns
                        .iter()
                        .zip(&vals)
                        .map(|(c, v)| (c.clone(), v.cloned().unwrap_or(Value::Null)))
                        .collect();
                    t.unexpected(i, Some(&Value::Object(shown)));
                }
            }
        }
        Expectation::ColumnValuesToBeUnique { column, .. } => {
            let mut counts: HashMap<KeyRef<'_>, usize> = HashMap::new();
            for row in rows {
                match present(row, column) {
                    None => t.missing += 1,
                    Some(v) => *counts.entry(key_of(v)).or_insert(0) += 1,
                }
            }
            for (i, row) in rows.iter().enumerate() {
                if let Some(v) = present(row, column)
                    && counts.get(&key_of(v)).copied().unwrap_or(0) > 1
                {
                    t.unexpected(i, Some(v));
                }
            }
        }
        _ => {
            // Column-map expectations: the same row pass as `Validator::validate` uses.
            let mut t = map_pass(&[(e, compiled)], rows, 0).remove(0);
            t.element_count = n;
            if let Expectation::ColumnValuesToNotBeNull { .. } = e {
                t.missing = 0;
            }
            return finish(e, t);
        }
    }
    finish(e, t)
}
