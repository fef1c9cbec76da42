//! A self-contained HTML run-comparison report (feature `html`), as MLflow's "compare runs"
//! page: the best run by a chosen metric and [`Direction`], each metric's history as a line
//! chart over steps (one line per run, the legend naming the runs; a bar per run for a metric
//! logged once), and a params table that marks the params whose values differ. One file,
//! inline SVG and CSS, no script, no network; run names, params and keys are escaped; the same
//! runs give the same bytes.
//!
//! ```
//! use mlops_tracking::html::RunComparisonReport;
//! use mlops_tracking::{CreateRun, Direction, InMemoryTrackingBackend, TrackingBackendExt as _};
//! use mlops_tracking::TrackingBackend as _;
//!
//! let backend = InMemoryTrackingBackend::new();
//! let exp = backend.create_experiment("churn", &[])?.experiment_id;
//! let mut ids = Vec::new();
//! for (name, lr) in [("small-lr", 0.01), ("big-lr", 0.1)] {
//!     let run = backend.create_run(&exp, &CreateRun::new().run_name(name))?;
//!     let id = run.info.run_id;
//!     backend.log_param(&id, "lr", &lr.to_string())?;
//!     for step in 0..5 {
//!         backend.log_metric(&id, "loss", 1.0 / (1.0 + lr * f64::from(step)), 0, i64::from(step))?;
//!     }
//!     ids.push(id);
//! }
//! let report = RunComparisonReport::build(&backend, &ids, Some(("loss", Direction::Minimize)))?;
//! assert_eq!(report.best.as_ref().unwrap().run_name, "big-lr");
//! let html = report.to_html("churn: learning rates");
//! assert!(html.contains("<svg class=\"chart\""));
//! # Ok::<(), mlops_tracking::TrackingError>(())
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use mlops_html::chart::{LineSeries, Series, bars, lines};
use mlops_html::format::number;
use mlops_html::{Cell, Element, Page, Table, Tone, badge, el, figure, section, tile, tiles};
use serde::{Deserialize, Serialize};

use crate::backend::{TrackingBackend, TrackingBackendExt as _};
use crate::compare::{Direction, RunComparison};
use crate::error::{Result, TrackingError};
use crate::ids::RunId;

/// Most points a run's history keeps per metric; longer histories are thinned evenly (the
/// first and last points are always kept), as MLflow samples its charts.
pub const MAX_POINTS: usize = 1000;

/// The best run by one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BestRun {
    /// The metric ranked by.
    pub metric: String,
    /// Which way is better.
    pub direction: Direction,
    /// The winning run.
    pub run_id: RunId,
    /// Its name.
    pub run_name: String,
    /// Its latest value of the metric.
    pub value: f64,
}

/// Everything the run-comparison page shows: the side-by-side [`RunComparison`], each
/// metric's history per run (thinned to [`MAX_POINTS`]) and the best run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunComparisonReport {
    /// Params, statuses and metric summaries, runs in the order asked for.
    pub comparison: RunComparison,
    /// Per metric key, per run (same order as `comparison.runs`): `(step, value)` points in
    /// step order.
    pub histories: BTreeMap<String, Vec<Vec<(i64, f64)>>>,
    /// The best run by the chosen metric, when one was asked for and some run logged it.
    pub best: Option<BestRun>,
}

impl RunComparisonReport {
    /// Fetch the runs, their params and metric histories, and rank them by `best_by`'s latest
    /// values (NaN ranks last; ties go to the run listed first).
    ///
    /// # Errors
    /// [`TrackingError::NotFound`] for an unknown run, [`TrackingError::InvalidArgument`] for
    /// no runs; backend errors.
    pub fn build(
        backend: &dyn TrackingBackend,
        run_ids: &[RunId],
        best_by: Option<(&str, Direction)>,
    ) -> Result<Self> {
        if run_ids.is_empty() {
            return Err(TrackingError::invalid(
                "run ids",
                "a run comparison needs at least one run",
            ));
        }
        let comparison = RunComparison::build(backend, run_ids)?;
        let mut histories = BTreeMap::new();
        for key in comparison.metric_keys() {
            let mut per_run = Vec::with_capacity(run_ids.len());
            for run in &comparison.runs {
                let points = if run.metrics.contains_key(key) {
                    let mut h = backend.metric_history(&run.run_id, key)?;
                    h.sort_by(|a, b| {
                        (a.step, a.timestamp)
                            .cmp(&(b.step, b.timestamp))
                            .then(a.value.total_cmp(&b.value))
                    });
                    thin(h.iter().map(|m| (m.step, m.value)).collect())
                } else {
                    Vec::new()
                };
                per_run.push(points);
            }
            histories.insert(key.to_owned(), per_run);
        }
        let best = best_by.and_then(|(metric, direction)| {
            let mut best: Option<BestRun> = None;
            for r in &comparison.runs {
                let Some(v) = r.metrics.get(metric).map(|m| m.last) else {
                    continue;
                };
                let better = match &best {
                    None => true,
                    Some(b) if b.value.is_nan() => !v.is_nan(),
                    Some(b) => match direction {
                        Direction::Maximize => v > b.value,
                        Direction::Minimize => v < b.value,
                    },
                };
                if better {
                    best = Some(BestRun {
                        metric: metric.to_owned(),
                        direction,
                        run_id: r.run_id,
                        run_name: r.run_name.clone(),
                        value: v,
                    });
                }
            }
            best
        });
        Ok(Self {
            comparison,
            histories,
            best,
        })
    }

    /// Legend names: run names, with the start of the id added where two runs share a name.
    fn labels(&self) -> Vec<String> {
        let runs = &self.comparison.runs;
        runs.iter()
            .map(|r| {
                let shared = runs.iter().filter(|o| o.run_name == r.run_name).count() > 1;
                if r.run_name.is_empty() || shared {
                    let id = r.run_id.to_string();
                    format!("{} ({})", r.run_name, &id[..8.min(id.len())])
                } else {
                    r.run_name.clone()
                }
            })
            .collect()
    }

    /// The page: the best run first, then the runs with their latest metric values, one chart
    /// per metric, and the params with the differing ones marked. Same report, same bytes.
    #[must_use]
    pub fn to_html(&self, title: &str) -> String {
        let labels = self.labels();
        let runs = &self.comparison.runs;
        let params = self.comparison.param_keys();
        let differing: Vec<&str> = params
            .iter()
            .copied()
            .filter(|k| {
                let first = runs[0].params.get(*k);
                runs.iter().any(|r| r.params.get(*k) != first)
            })
            .collect();
        let mut summary = tiles([
            tile("runs", runs.len().to_string(), None),
            tile(
                "params that differ",
                format!("{} of {}", differing.len(), params.len()),
                None,
            ),
            tile("metrics", self.histories.len().to_string(), None),
        ]);
        if let Some(b) = &self.best {
            let i = runs.iter().position(|r| r.run_id == b.run_id).unwrap_or(0);
            summary.push(tile(
                format!(
                    "best run by {} ({}): {} = {}",
                    b.metric,
                    better(b.direction),
                    b.metric,
                    number(b.value)
                ),
                labels[i].clone(),
                Some(Tone::Good),
            ));
        }
        let mut page = Page::new(title)
            .fact("runs", runs.len().to_string())
            .section(
                section("Summary")
                    .child(summary)
                    .child_opt((!differing.is_empty()).then(|| {
                        el("p").text(format!("Params that differ: {}", differing.join(", ")))
                    })),
            )
            .section(self.runs_table(&labels));
        let mut cards = el("div").class("cards");
        for (key, per_run) in &self.histories {
            cards.push(self.metric_chart(key, per_run, &labels));
        }
        let charts = section("Metrics").child(cards);
        page = page
            .section(charts)
            .section(self.params_table(&labels, &differing));
        page.footer("mlops-tracking run comparison. Lines show every logged value over the steps (at most 1000 points per run, thinned evenly); a metric logged once per run is a bar per run.")
            .render()
    }

    fn runs_table(&self, labels: &[String]) -> Element {
        let keys: Vec<&String> = self.histories.keys().collect();
        let mut head = vec![
            "run".to_owned(),
            "run id (start)".to_owned(),
            "status".to_owned(),
        ];
        head.extend(keys.iter().map(|k| format!("{k} (last)")));
        let mut t = Table::new("The runs and their latest metric values", head);
        for (r, label) in self.comparison.runs.iter().zip(labels) {
            let is_best = self.best.as_ref().is_some_and(|b| b.run_id == r.run_id);
            let mut name = el("span").text(label.clone());
            if is_best {
                name = name.text(" ").child(badge(Tone::Good, "best"));
            }
            let mut cells = vec![
                Cell::node(name),
                Cell::node({
                    let id = r.run_id.to_string();
                    el("code")
                        .attr("title", id.clone())
                        .text(id.get(..8).unwrap_or(&id).to_owned())
                }),
                Cell::text(r.status.to_string()),
            ];
            for k in &keys {
                cells.push(Cell::num(
                    r.metrics
                        .get(k.as_str())
                        .map_or_else(|| "-".to_owned(), |m| number(m.last)),
                ));
            }
            t.row(cells);
        }
        section("Runs").child(t.build())
    }

    fn metric_chart(&self, key: &str, per_run: &[Vec<(i64, f64)>], labels: &[String]) -> Element {
        let best_note = self
            .best
            .as_ref()
            .filter(|b| b.metric == key)
            .map(|b| format!("; {}", better(b.direction)))
            .unwrap_or_default();
        let single = per_run.iter().all(|p| p.len() <= 1);
        #[allow(clippy::cast_precision_loss)]
        let fig = if single {
            let (names, values): (Vec<String>, Vec<f64>) = per_run
                .iter()
                .zip(labels)
                .filter_map(|(p, l)| p.first().map(|(_, v)| (l.clone(), *v)))
                .unzip();
            figure(
                bars(key, key, &names, &[Series::new(key, values)], None),
                format!("{key}: one value per run{best_note}"),
            )
        } else {
            let series: Vec<LineSeries> = per_run
                .iter()
                .zip(labels)
                .filter(|(p, _)| !p.is_empty())
                .map(|(p, l)| LineSeries {
                    name: l.clone(),
                    points: p.iter().map(|(s, v)| (*s as f64, *v)).collect(),
                })
                .collect();
            figure(
                lines(key, "step", key, &series),
                format!("{key} over the steps, one line per run{best_note}"),
            )
        };
        el("div").class("col").child(el("h3").text(key)).child(fig)
    }

    fn params_table(&self, labels: &[String], differing: &[&str]) -> Element {
        let mut head = vec!["param".to_owned()];
        head.extend(labels.iter().cloned());
        head.push("same in every run".to_owned());
        let mut t = Table::new(
            "Params (rows whose values differ between runs are highlighted)",
            head,
        );
        for k in self.comparison.param_keys() {
            let differs = differing.contains(&k);
            let mut cells = vec![Cell::text(k)];
            cells.extend(
                self.comparison.runs.iter().map(|r| {
                    Cell::text(r.params.get(k).cloned().unwrap_or_else(|| "-".to_owned()))
                }),
            );
            cells.push(Cell::node(if differs {
                badge(Tone::Warn, "differs")
            } else {
                badge(Tone::Neutral, "same")
            }));
            if differs {
                t.row_with_class("diff", cells);
            } else {
                t.row(cells);
            }
        }
        section("Params").child(t.build())
    }

    /// Write [`RunComparisonReport::to_html`] atomically (temp file, fsync, rename), creating
    /// parent directories.
    ///
    /// # Errors
    /// [`TrackingError::Io`] naming the file.
    pub fn write_html(&self, path: &Path, title: &str) -> Result<()> {
        let io = |path: &Path, source| TrackingError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        mlops_fs::write_atomic(path, self.to_html(title).as_bytes(), true).map_err(|e| io(path, e))
    }
}

fn better(d: Direction) -> &'static str {
    match d {
        Direction::Maximize => "higher is better",
        Direction::Minimize => "lower is better",
    }
}

/// At most [`MAX_POINTS`] points, evenly spaced, first and last kept.
fn thin(points: Vec<(i64, f64)>) -> Vec<(i64, f64)> {
    let n = points.len();
    if n <= MAX_POINTS {
        return points;
    }
    (0..MAX_POINTS)
        .map(|i| points[i * (n - 1) / (MAX_POINTS - 1)])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::InMemoryTrackingBackend;
    use crate::model::CreateRun;

    const EVIL: &str = "<script>alert(1)</script>";

    fn runs() -> (InMemoryTrackingBackend, Vec<RunId>) {
        let b = InMemoryTrackingBackend::new();
        let exp = b.create_experiment("e", &[]).unwrap().experiment_id;
        let mut ids = Vec::new();
        for (k, name) in [EVIL, "b", "b"].into_iter().enumerate() {
            let run = b
                .create_run(&exp, &CreateRun::new().run_name(name))
                .unwrap();
            let id = run.info.run_id;
            b.log_param(&id, "same", "1").unwrap();
            b.log_param(&id, "lr", &format!("{EVIL}{k}")).unwrap();
            for s in 0..20_i64 {
                #[allow(clippy::cast_precision_loss)]
                let v = 1.0 / (1.0 + (k as f64 + 1.0) * s as f64);
                b.log_metric(&id, "loss", v, 0, s).unwrap();
            }
            #[allow(clippy::cast_precision_loss)]
            b.log_metric(&id, "auc", 0.7 + k as f64 / 100.0, 0, 20)
                .unwrap();
            ids.push(id);
        }
        (b, ids)
    }

    #[test]
    fn report_escapes_marks_differences_and_picks_the_best() {
        let (b, ids) = runs();
        let r = RunComparisonReport::build(&b, &ids, Some(("auc", Direction::Maximize))).unwrap();
        let best = r.best.as_ref().unwrap();
        assert_eq!(best.run_id, ids[2]);
        let html = r.to_html(EVIL);
        assert!(!html.contains(EVIL), "unescaped data");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        // A line chart for loss, a bar chart for auc (one value per run).
        assert_eq!(html.matches("<svg class=\"chart\"").count(), 2);
        assert!(html.contains("Params that differ: lr"), "{html}");
        assert!(html.contains(">differs<") && html.contains(">same<"));
        // Two runs named "b": the legend adds the start of the id.
        let id = ids[1].to_string();
        assert!(html.contains(&format!("b ({})", &id[..8])));
        assert_eq!(html, r.to_html(EVIL), "same report, same bytes");
        let min =
            RunComparisonReport::build(&b, &ids, Some(("loss", Direction::Minimize))).unwrap();
        assert_eq!(
            min.best.unwrap().run_id,
            ids[2],
            "last loss is lowest for k = 2"
        );
        let none =
            RunComparisonReport::build(&b, &ids, Some(("nope", Direction::Minimize))).unwrap();
        assert!(none.best.is_none());
    }

    #[test]
    fn long_histories_are_thinned_and_empty_input_is_an_error() {
        let pts: Vec<(i64, f64)> = (0..5000).map(|i| (i, 0.0)).collect();
        let t = thin(pts);
        assert_eq!(t.len(), MAX_POINTS);
        assert_eq!((t[0].0, t[MAX_POINTS - 1].0), (0, 4999));
        let b = InMemoryTrackingBackend::new();
        assert!(RunComparisonReport::build(&b, &[], None).is_err());
    }
}
