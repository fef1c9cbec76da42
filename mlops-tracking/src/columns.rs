//! Per-experiment columns of the catalog's runs, kept beside the runs so that a search scans
//! dense arrays instead of reaching every run through its box.
//!
//! A search used to visit each run's boxed state, compare its experiment id (a heap string),
//! and binary-search its boxed metric and param keys: several cache misses per run, so at 100k
//! runs the per-run cost doubled (see `docs/scaling.md`, "search_runs / best_run"). Here each
//! experiment holds its runs as rows: the run ids, lifecycle stages and start times in vectors,
//! each metric key's latest value in one column, and each param and tag key's value as a small
//! code into that column's dictionary, so a string clause is evaluated once per distinct value.
//!
//! The columns are a cache of the runs' states: [`Catalog`](crate::catalog::Catalog) updates
//! them on every change it makes to a run, and a column that would cost too much (a key few
//! runs have, or a param or tag with a value per run) becomes [`Column::Unindexed`]: searches
//! then read that key from the run's state, as before. `mlflow.runName` is never a column (the
//! run's name is its info's, see [`RunFields::tag`](crate::filter::RunFields::tag)).

use std::collections::HashMap;
use std::sync::Arc;

use crate::catalog::RunState;
use crate::ids::{ExperimentId, RunId};
use crate::model::{LifecycleStage, TAG_RUN_NAME};

// The unit tests use small limits so that their few runs reach the unindexed columns.
/// Rows below this are always kept in a column, however sparse.
const DENSE_ROWS: usize = if cfg!(test) { 4 } else { 4096 };
/// Beyond [`DENSE_ROWS`], a column must hold a value in at least one row in this many.
const SPARSENESS: usize = if cfg!(test) { 2 } else { 8 };
/// A string column keeps its dictionary while it has at most this many values...
const DICT_MIN: usize = if cfg!(test) { 3 } else { 256 };
/// ...or at most one distinct value per this many rows.
const DICT_RATIO: usize = 4;
/// The code of a missing string value.
pub(crate) const MISSING: u32 = u32::MAX;

/// Whether a column holding `present` values may grow to `rows` rows.
fn dense_enough(rows: usize, present: usize) -> bool {
    rows <= DENSE_ROWS || rows <= SPARSENESS * (present + 1)
}

/// One key's column in an experiment, or the mark that it is not kept.
#[derive(Debug, Clone)]
pub(crate) enum Column<T> {
    /// The values by row; rows past the end hold no value.
    Dense(T),
    /// Too sparse or too varied: read the runs' states.
    Unindexed,
}

/// The latest values of one metric key by row.
#[derive(Debug, Clone, Default)]
pub(crate) struct MetricColumn {
    values: Vec<Option<f64>>,
    present: usize,
}

impl MetricColumn {
    /// The value at `row`.
    pub(crate) fn get(&self, row: usize) -> Option<f64> {
        self.values.get(row).copied().flatten()
    }

    /// Set `row`; `false` when the column became too sparse to keep.
    fn set(&mut self, row: usize, value: Option<f64>) -> bool {
        if row >= self.values.len() {
            if value.is_none() {
                return true;
            }
            if !dense_enough(row + 1, self.present) {
                return false;
            }
            self.values.resize(row + 1, None);
        }
        let slot = &mut self.values[row];
        match (slot.is_some(), value.is_some()) {
            (false, true) => self.present += 1,
            (true, false) => self.present -= 1,
            _ => {}
        }
        *slot = value;
        true
    }

    /// Move the value of row `last` (the experiment's last row) into `row` and drop `last`;
    /// `false` when the column became too sparse to keep.
    fn swap_remove(&mut self, row: usize, last: usize) -> bool {
        let moved = self.get(last);
        self.set(last, None);
        self.values.truncate(last);
        row == last || self.set(row, moved)
    }
}

/// The values of one param or tag key by row, as codes into a dictionary.
#[derive(Debug, Clone, Default)]
pub(crate) struct StrColumn {
    codes: Vec<u32>,
    dict: Vec<Arc<str>>,
    lookup: HashMap<Arc<str>, u32>,
    present: usize,
}

impl StrColumn {
    /// The code at `row` ([`MISSING`] when the run has no value).
    pub(crate) fn code(&self, row: usize) -> u32 {
        self.codes.get(row).copied().unwrap_or(MISSING)
    }

    /// The distinct values, by code (some may no longer be used).
    pub(crate) fn dict(&self) -> &[Arc<str>] {
        &self.dict
    }

    /// Set `row`; `false` when the column became too sparse or too varied to keep.
    fn set(&mut self, row: usize, value: Option<&str>) -> bool {
        let code = match value {
            None => MISSING,
            Some(v) => match self.lookup.get(v) {
                Some(&c) => c,
                None => {
                    let rows = self.codes.len().max(row + 1);
                    if self.dict.len() >= DICT_MIN && self.dict.len() * DICT_RATIO >= rows {
                        return false;
                    }
                    let Ok(c) = u32::try_from(self.dict.len()) else {
                        return false;
                    };
                    let v: Arc<str> = Arc::from(v);
                    self.dict.push(Arc::clone(&v));
                    self.lookup.insert(v, c);
                    c
                }
            },
        };
        self.set_code(row, code)
    }

    /// Set `row` to a code of the dictionary (or [`MISSING`]).
    fn set_code(&mut self, row: usize, code: u32) -> bool {
        if row >= self.codes.len() {
            if code == MISSING {
                return true;
            }
            if !dense_enough(row + 1, self.present) {
                return false;
            }
            self.codes.resize(row + 1, MISSING);
        }
        let slot = &mut self.codes[row];
        match (*slot != MISSING, code != MISSING) {
            (false, true) => self.present += 1,
            (true, false) => self.present -= 1,
            _ => {}
        }
        *slot = code;
        true
    }

    /// As [`MetricColumn::swap_remove`].
    fn swap_remove(&mut self, row: usize, last: usize) -> bool {
        let moved = self.code(last);
        self.set_code(last, MISSING);
        self.codes.truncate(last);
        row == last || self.set_code(row, moved)
    }
}

/// The runs of one experiment as rows.
#[derive(Debug, Clone, Default)]
pub(crate) struct ExpColumns {
    /// Each row's run.
    pub ids: Vec<RunId>,
    /// Each row's lifecycle stage.
    pub stages: Vec<LifecycleStage>,
    /// Each row's start time.
    pub start_times: Vec<i64>,
    pub metrics: HashMap<Box<str>, Column<MetricColumn>>,
    pub params: HashMap<Box<str>, Column<StrColumn>>,
    pub tags: HashMap<Box<str>, Column<StrColumn>>,
}

fn set_metric(
    cols: &mut HashMap<Box<str>, Column<MetricColumn>>,
    key: &str,
    row: usize,
    v: Option<f64>,
) {
    let col = match cols.get_mut(key) {
        Some(c) => c,
        None if v.is_none() => return,
        None => cols
            .entry(key.into())
            .or_insert_with(|| Column::Dense(MetricColumn::default())),
    };
    if let Column::Dense(c) = col
        && !c.set(row, v)
    {
        *col = Column::Unindexed;
    }
}

fn set_str(
    cols: &mut HashMap<Box<str>, Column<StrColumn>>,
    key: &str,
    row: usize,
    v: Option<&str>,
) {
    let col = match cols.get_mut(key) {
        Some(c) => c,
        None if v.is_none() => return,
        None => cols
            .entry(key.into())
            .or_insert_with(|| Column::Dense(StrColumn::default())),
    };
    if let Column::Dense(c) = col
        && !c.set(row, v)
    {
        *col = Column::Unindexed;
    }
}

impl ExpColumns {
    /// Write a run's values into `row` (which exists); keys it lacks are cleared by the caller.
    fn write_row(&mut self, row: usize, run: &RunState) {
        self.ids[row] = run.info.run_id;
        self.stages[row] = run.info.lifecycle_stage;
        self.start_times[row] = run.info.start_time;
        for (k, v) in run.latest.iter() {
            set_metric(&mut self.metrics, k, row, Some(v.value));
        }
        for (k, v) in run.params.iter() {
            set_str(&mut self.params, k, row, Some(v));
        }
        for (k, v) in run.tags.iter() {
            if &**k != TAG_RUN_NAME {
                set_str(&mut self.tags, k, row, Some(v));
            }
        }
    }

    /// Clear the values `run` holds from `row`.
    fn clear_row(&mut self, row: usize, run: &RunState) {
        for (k, _) in run.latest.iter() {
            set_metric(&mut self.metrics, k, row, None);
        }
        for (k, _) in run.params.iter() {
            set_str(&mut self.params, k, row, None);
        }
        for (k, _) in run.tags.iter() {
            set_str(&mut self.tags, k, row, None);
        }
    }

    /// Append a row for `run`; its index.
    fn push(&mut self, run: &RunState) -> u32 {
        let row = self.ids.len();
        self.ids.push(run.info.run_id);
        self.stages.push(run.info.lifecycle_stage);
        self.start_times.push(run.info.start_time);
        self.write_row(row, run);
        row_u32(row)
    }

    /// Remove `row` (whose run is `run`) by moving the last row into it; the id of the moved
    /// run, if any.
    fn swap_remove(&mut self, row: usize, run: &RunState) -> Option<RunId> {
        self.clear_row(row, run);
        let last = self.ids.len() - 1;
        for col in self.metrics.values_mut() {
            if let Column::Dense(c) = col
                && !c.swap_remove(row, last)
            {
                *col = Column::Unindexed;
            }
        }
        for col in self.params.values_mut().chain(self.tags.values_mut()) {
            if let Column::Dense(c) = col
                && !c.swap_remove(row, last)
            {
                *col = Column::Unindexed;
            }
        }
        self.ids.swap_remove(row);
        self.stages.swap_remove(row);
        self.start_times.swap_remove(row);
        self.ids.get(row).copied()
    }
}

fn row_u32(row: usize) -> u32 {
    // A catalog holds far fewer than 4 billion runs per experiment (each costs ~0.5 KiB).
    u32::try_from(row).unwrap_or(u32::MAX)
}

/// Every experiment's columns.
#[derive(Debug, Clone, Default)]
pub(crate) struct Columns {
    pub by_experiment: HashMap<ExperimentId, ExpColumns>,
}

impl Columns {
    /// Add a run not yet in the columns; its row.
    pub(crate) fn add(&mut self, run: &RunState) -> u32 {
        self.by_experiment
            .entry(run.info.experiment_id.clone())
            .or_default()
            .push(run)
    }

    /// Replace `old` (at `row`) by `new`, same run; the new row and, when the run changed
    /// experiment, the run moved into its old row.
    pub(crate) fn replace(
        &mut self,
        row: u32,
        old: &RunState,
        new: &RunState,
    ) -> (u32, Option<RunId>) {
        if old.info.experiment_id == new.info.experiment_id
            && let Some(exp) = self.by_experiment.get_mut(&old.info.experiment_id)
        {
            let row = row as usize;
            exp.clear_row(row, old);
            exp.write_row(row, new);
            return (row_u32(row), None);
        }
        let moved = self.remove(row, old);
        (self.add(new), moved)
    }

    /// Remove the run `old` at `row`; the run moved into its row, if any.
    pub(crate) fn remove(&mut self, row: u32, old: &RunState) -> Option<RunId> {
        let exp = self.by_experiment.get_mut(&old.info.experiment_id)?;
        exp.swap_remove(row as usize, old)
    }

    /// Copy into the columns the info of `run` (at `row`, in its experiment) and its values
    /// of the metric, param and tag keys given (those a change touched).
    pub(crate) fn update<'k>(
        &mut self,
        row: u32,
        run: &RunState,
        metrics: impl IntoIterator<Item = &'k str>,
        params: impl IntoIterator<Item = &'k str>,
        tags: impl IntoIterator<Item = &'k str>,
    ) {
        let Some(exp) = self.by_experiment.get_mut(&run.info.experiment_id) else {
            return;
        };
        let row = row as usize;
        exp.stages[row] = run.info.lifecycle_stage;
        exp.start_times[row] = run.info.start_time;
        for k in metrics {
            set_metric(&mut exp.metrics, k, row, run.latest.get(k).map(|l| l.value));
        }
        for k in params {
            set_str(
                &mut exp.params,
                k,
                row,
                run.params.get(k).map(AsRef::as_ref),
            );
        }
        for k in tags {
            if k != TAG_RUN_NAME {
                set_str(&mut exp.tags, k, row, run.tags.get(k).map(AsRef::as_ref));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sparse_metric_column_is_dropped_and_reads_fall_back() {
        let mut cols = HashMap::new();
        set_metric(&mut cols, "m", 0, Some(1.0));
        assert!(matches!(cols.get("m"), Some(Column::Dense(c)) if c.get(0) == Some(1.0)));
        // One value in 10k rows is too sparse to keep.
        set_metric(&mut cols, "m", 10_000, Some(2.0));
        assert!(matches!(cols.get("m"), Some(Column::Unindexed)));
        // A new key first seen far down is not kept either.
        set_metric(&mut cols, "late", 10_000, Some(2.0));
        assert!(matches!(cols.get("late"), Some(Column::Unindexed)));
    }

    #[test]
    fn a_string_column_with_a_value_per_row_is_dropped() {
        let mut col = StrColumn::default();
        let mut kept = true;
        for row in 0..10_000 {
            kept &= col.set(row, Some(&format!("v{row}")));
        }
        assert!(!kept);
        let mut col = StrColumn::default();
        for row in 0..10_000 {
            assert!(col.set(row, Some(["a", "b", "c"][row % 3])));
        }
        assert_eq!(col.dict().len(), 3);
        assert_eq!(&*col.dict()[col.code(4) as usize], "b");
        assert!(col.set(4, None));
        assert_eq!(col.code(4), MISSING);
        assert_eq!(col.present, 9_999);
    }
}
