//! Side-by-side run comparison and the direction of "best".

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::backend::{TrackingBackend, TrackingBackendExt};
use crate::error::Result;
use crate::ids::RunId;
use crate::model::{RunStatus, f64_special};

/// Which way a metric improves (the one type every mlops crate uses, from `mlops-core`).
pub use mlops_core::Direction;

/// One metric of one run in a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MetricStats {
    /// The latest value (greatest `(step, timestamp, value)`).
    #[serde(with = "f64_special")]
    pub last: f64,
    /// The smallest value, NaN ignored (NaN when every value is NaN).
    #[serde(with = "f64_special")]
    pub min: f64,
    /// The largest value, NaN ignored (NaN when every value is NaN).
    #[serde(with = "f64_special")]
    pub max: f64,
    /// How many values were logged.
    pub count: usize,
}

/// One run's column of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparedRun {
    /// The run's id.
    pub run_id: RunId,
    /// Its name.
    pub run_name: String,
    /// Its status.
    pub status: RunStatus,
    /// Its params.
    pub params: BTreeMap<String, String>,
    /// Its metrics.
    pub metrics: BTreeMap<String, MetricStats>,
}

/// Runs side by side: params, and each metric's last, min and max. `Display` draws the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunComparison {
    /// The runs, in the order asked for.
    pub runs: Vec<ComparedRun>,
}

impl RunComparison {
    /// Fetch the runs and their metric histories from `backend`.
    ///
    /// # Errors
    /// `NotFound` for an unknown run; backend errors.
    pub fn build(backend: &dyn TrackingBackend, run_ids: &[RunId]) -> Result<Self> {
        let mut runs = Vec::with_capacity(run_ids.len());
        for id in run_ids {
            let run = backend.get_run(id)?;
            let mut metrics = BTreeMap::new();
            for (key, latest) in &run.data.metrics {
                let history = backend.metric_history(id, key)?;
                let finite = history.iter().map(|m| m.value).filter(|v| !v.is_nan());
                let (min, max) = finite.fold((f64::NAN, f64::NAN), |(lo, hi), v| {
                    (
                        if lo.is_nan() { v } else { lo.min(v) },
                        if hi.is_nan() { v } else { hi.max(v) },
                    )
                });
                metrics.insert(
                    key.clone(),
                    MetricStats {
                        last: latest.value,
                        min,
                        max,
                        count: history.len(),
                    },
                );
            }
            runs.push(ComparedRun {
                run_id: *id,
                run_name: run.info.run_name,
                status: run.info.status,
                params: run.data.params,
                metrics,
            });
        }
        Ok(Self { runs })
    }

    /// Every param key of any run, sorted.
    #[must_use]
    pub fn param_keys(&self) -> BTreeSet<&str> {
        self.runs
            .iter()
            .flat_map(|r| r.params.keys().map(String::as_str))
            .collect()
    }

    /// Every metric key of any run, sorted.
    #[must_use]
    pub fn metric_keys(&self) -> BTreeSet<&str> {
        self.runs
            .iter()
            .flat_map(|r| r.metrics.keys().map(String::as_str))
            .collect()
    }
}

fn num(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.4}")
    } else {
        v.to_string()
    }
}

impl fmt::Display for RunComparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let params = self.param_keys();
        let metrics = self.metric_keys();
        let label_w = params
            .iter()
            .chain(&metrics)
            .map(|k| k.chars().count() + 2)
            .chain([18])
            .max()
            .unwrap_or(18);
        let col_w = self
            .runs
            .iter()
            .map(|r| r.run_name.chars().count())
            .chain(params.iter().flat_map(|k| {
                self.runs
                    .iter()
                    .filter_map(|r| r.params.get(*k).map(|v| v.chars().count()))
            }))
            .max()
            .unwrap_or(0)
            .clamp(10, 40)
            + 2;
        let width = label_w + 6 + col_w * self.runs.len();
        writeln!(f, "{}", "=".repeat(width))?;
        writeln!(f, "run comparison ({} runs)", self.runs.len())?;
        writeln!(f, "{}", "=".repeat(width))?;
        write!(f, "{:<w$}", "param / metric", w = label_w + 6)?;
        for r in &self.runs {
            write!(f, "{:>col_w$}", r.run_name)?;
        }
        writeln!(f)?;
        writeln!(f, "{}", "-".repeat(width))?;
        writeln!(f, "[params]")?;
        for k in &params {
            write!(f, "  {k:<w$}", w = label_w + 4)?;
            for r in &self.runs {
                write!(
                    f,
                    "{:>col_w$}",
                    r.params.get(*k).map_or("N/A", String::as_str)
                )?;
            }
            writeln!(f)?;
        }
        writeln!(f, "[metrics]")?;
        for k in &metrics {
            for (i, stat) in ["last", "min", "max"].into_iter().enumerate() {
                let label = if i == 0 { *k } else { "" };
                write!(f, "  {label:<label_w$}{stat:<4}")?;
                for r in &self.runs {
                    let cell = r
                        .metrics
                        .get(*k)
                        .map_or_else(|| "N/A".to_owned(), |m| num([m.last, m.min, m.max][i]));
                    write!(f, "{cell:>col_w$}")?;
                }
                writeln!(f)?;
            }
        }
        Ok(())
    }
}
