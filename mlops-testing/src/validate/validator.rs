//! The validator: expectations compiled once, every row checked, in parallel for large inputs.

use std::collections::{HashMap, HashSet};
use std::fmt;

use regex::Regex;
use serde_json::Value;

use crate::check::CheckStatus;
use crate::error::{Result, TestingError};

use super::expectation::{Expectation, PARTIAL_UNEXPECTED, Row};
use super::result::{ExpectationResult, UnexpectedValue, ValidationReport};

pub(super) enum Compiled {
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
    pub(super) expectations: Vec<Expectation>,
    pub(super) compiled: Vec<CompiledDebug>,
}

pub(super) struct CompiledDebug(pub(super) Compiled);

impl fmt::Debug for CompiledDebug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Compiled::None => "None",
            Compiled::Regex(_) => "Regex",
            Compiled::Set { .. } => "Set",
        })
    }
}

pub(super) fn num_key(x: f64) -> u64 {
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

pub(super) struct Tally {
    pub(super) element_count: usize,
    pub(super) missing: usize,
    pub(super) unexpected: usize,
    pub(super) partial: Vec<UnexpectedValue>,
}

impl Tally {
    pub(super) fn new(n: usize) -> Self {
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

    pub(super) fn unexpected(&mut self, index: usize, value: Option<&Value>) {
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

pub(super) fn finish(e: &Expectation, t: Tally) -> ExpectationResult {
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

pub(super) fn error_result(e: &Expectation, n: usize, message: String) -> ExpectationResult {
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
pub(super) fn is_column_map(e: &Expectation) -> bool {
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

/// Whether `x` lies within the bounds of `expect_column_values_to_be_between`.
pub(super) fn in_bounds(
    x: f64,
    min: Option<f64>,
    max: Option<f64>,
    strict_min: bool,
    strict_max: bool,
) -> bool {
    min.is_none_or(|lo| if strict_min { x > lo } else { x >= lo })
        && max.is_none_or(|hi| if strict_max { x < hi } else { x <= hi })
}

/// Whether one value is as a column-map expectation expects (`value` is present, not null).
pub(super) fn value_ok(e: &Expectation, compiled: &Compiled, v: &Value) -> bool {
    match e {
        Expectation::ColumnValuesToBeOfType { value_type, .. } => value_type.matches(v),
        Expectation::ColumnValuesToBeBetween {
            min,
            max,
            strict_min,
            strict_max,
            ..
        } => v
            .as_f64()
            .is_some_and(|x| in_bounds(x, *min, *max, *strict_min, *strict_max)),
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
