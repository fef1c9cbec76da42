//! `compare_versions`: a table of a model's versions, stages, aliases and metrics, with the best
//! value per metric marked.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use serde::{Deserialize, Serialize};

use crate::model::{Alias, ModelVersion, ModelVersionNumber, Stage};

/// Which way a metric improves (the one type every mlops crate uses, from `mlops-core`).
pub use mlops_core::Direction;

/// One row of a [`Comparison`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ComparisonRow {
    /// The version.
    pub version: ModelVersionNumber,
    /// Its stage.
    pub stage: Stage,
    /// Its aliases.
    pub aliases: Vec<Alias>,
    /// Its metrics snapshot.
    pub metrics: BTreeMap<String, f64>,
}

/// The comparison table of a model's versions (see
/// [`RegistryStoreExt::compare_versions`](crate::RegistryStoreExt::compare_versions)).
///
/// Its `Display` draws the table, marking the best value of each metric with `*` according to
/// the metric's [`Direction`] ([`Direction::guess`] unless set with
/// [`Comparison::with_direction`]); a version without a metric shows `-`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Comparison {
    /// The registered model.
    pub model: String,
    /// One row per version, oldest first.
    pub rows: Vec<ComparisonRow>,
    /// Every metric any version has, with its direction.
    pub metrics: BTreeMap<String, Direction>,
}

impl Comparison {
    /// Build the table from versions (any order; rows are sorted by version).
    #[must_use]
    pub fn new(model: impl Into<String>, versions: &[ModelVersion]) -> Self {
        let mut rows: Vec<ComparisonRow> = versions
            .iter()
            .map(|v| ComparisonRow {
                version: v.version,
                stage: v.stage,
                aliases: v.aliases.clone(),
                metrics: v.metrics.clone(),
            })
            .collect();
        rows.sort_by_key(|r| r.version);
        let metrics = rows
            .iter()
            .flat_map(|r| r.metrics.keys())
            .map(|m| (m.clone(), Direction::guess(m)))
            .collect();
        Self {
            model: model.into(),
            rows,
            metrics,
        }
    }

    /// Set the direction of `metric` (overriding the guess).
    #[must_use]
    pub fn with_direction(mut self, metric: &str, direction: Direction) -> Self {
        if let Some(d) = self.metrics.get_mut(metric) {
            *d = direction;
        }
        self
    }

    /// The versions holding the best value of `metric` (several on a tie), oldest first.
    #[must_use]
    pub fn best(&self, metric: &str) -> Vec<ModelVersionNumber> {
        let Some(&dir) = self.metrics.get(metric) else {
            return Vec::new();
        };
        let mut best: Option<f64> = None;
        for r in &self.rows {
            if let Some(&v) = r.metrics.get(metric)
                && best.is_none_or(|b| dir.is_better(v, b))
            {
                best = Some(v);
            }
        }
        self.rows
            .iter()
            .filter(|r| best.is_some() && r.metrics.get(metric).copied() == best)
            .map(|r| r.version)
            .collect()
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let aliases: Vec<String> = self
            .rows
            .iter()
            .map(|r| {
                r.aliases
                    .iter()
                    .map(|a| format!("@{a}"))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        let alias_w = aliases.iter().map(String::len).max().unwrap_or(0).max(7);
        let best: BTreeMap<&str, Vec<ModelVersionNumber>> = self
            .metrics
            .keys()
            .map(|m| (m.as_str(), self.best(m)))
            .collect();
        let cells: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                self.metrics
                    .keys()
                    .map(|m| match r.metrics.get(m) {
                        None => "-".to_owned(),
                        Some(v) => {
                            let mark = if best[m.as_str()].contains(&r.version) {
                                "*"
                            } else {
                                " "
                            };
                            format!("{v:.4}{mark}")
                        }
                    })
                    .collect()
            })
            .collect();
        let widths: Vec<usize> = self
            .metrics
            .keys()
            .enumerate()
            .map(|(i, m)| {
                cells
                    .iter()
                    .map(|row| row[i].chars().count())
                    .chain([m.chars().count() + 1, 8])
                    .max()
                    .unwrap_or(8)
            })
            .collect();

        writeln!(f, "model versions: {}", self.model)?;
        let mut header = format!("{:<8}{:<12}{:<alias_w$}", "version", "stage", "aliases");
        for (m, w) in self.metrics.keys().zip(&widths) {
            let _ = write!(header, "  {m:>w$}", w = *w - 1);
            header.push(' ');
        }
        let header = header.trim_end().to_owned();
        writeln!(f, "{header}")?;
        writeln!(f, "{}", "-".repeat(header.chars().count()))?;
        for ((r, a), row) in self.rows.iter().zip(&aliases).zip(&cells) {
            let mut line = format!(
                "{:<8}{:<12}{a:<alias_w$}",
                format!("v{}", r.version),
                r.stage.as_str()
            );
            for (cell, w) in row.iter().zip(&widths) {
                let _ = write!(line, "  {cell:>w$}", w = *w);
            }
            writeln!(f, "{}", line.trim_end())?;
        }
        if !self.metrics.is_empty() {
            let legend: Vec<String> = self
                .metrics
                .iter()
                .map(|(m, d)| format!("{m}: {d}"))
                .collect();
            writeln!(f, "* best value ({})", legend.join(", "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directions_are_guessed() {
        assert_eq!(Direction::guess("accuracy"), Direction::Maximize);
        assert_eq!(Direction::guess("latency_ms"), Direction::Minimize);
        assert_eq!(Direction::guess("val_loss"), Direction::Minimize);
        assert_eq!(Direction::guess("f1"), Direction::Maximize);
    }

    #[test]
    fn directions_serialize_as_maximize_minimize_and_read_the_old_names() {
        assert_eq!(
            serde_json::to_string(&Direction::Maximize).unwrap(),
            "\"maximize\""
        );
        assert_eq!(
            serde_json::to_string(&Direction::Minimize).unwrap(),
            "\"minimize\""
        );
        for (text, d) in [
            ("\"HigherIsBetter\"", Direction::Maximize),
            ("\"LowerIsBetter\"", Direction::Minimize),
            ("\"maximize\"", Direction::Maximize),
            ("\"minimize\"", Direction::Minimize),
        ] {
            assert_eq!(
                serde_json::from_str::<Direction>(text).unwrap(),
                d,
                "{text}"
            );
        }
    }
}
