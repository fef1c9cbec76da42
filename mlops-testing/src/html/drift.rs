//! The data-drift report: a summary first, then per column the two distributions on shared
//! axes with the test's numbers.

use std::collections::BTreeMap;
use std::path::Path;

use mlops_html::chart::{Series, bars, histogram};
use mlops_html::format::{number, percent};
use mlops_html::{Cell, Element, Page, Table, Tone, badge, el, figure, section, tile, tiles};
use serde::{Deserialize, Serialize};

use crate::drift::{Column, ColumnDrift, Dataset, DriftMethod, DriftReport};
use crate::error::Result;

/// Most bins a numeric column gets.
pub const MAX_BINS: usize = 30;
/// Most categories a categorical column shows; the rest are summed into one "other" bar.
pub const MAX_CATEGORIES: usize = 12;

/// Binned reference and current distributions of every column, for the drift report's charts.
///
/// Only counts are kept (at most [`MAX_BINS`] bins or [`MAX_CATEGORIES`] categories plus
/// "other" per column), never the rows: a profile of a million rows is a few kilobytes, and it
/// serializes, so a cached pipeline step can carry it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftProfile {
    /// One entry per reference column that the current data also has, in reference order.
    pub columns: Vec<ColumnProfile>,
    /// Rows in the reference (the longest column).
    pub reference_rows: usize,
    /// Rows in the current data (the longest column).
    pub current_rows: usize,
}

/// The binned distributions of one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnProfile {
    /// Column name.
    pub column: String,
    /// The bins.
    pub bins: Bins,
}

/// Counts per bin (numeric) or per category, for the reference and the current data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Bins {
    /// Equal-width bins over the finite values of both samples; `edges` has one more entry
    /// than the count vectors.
    Numeric {
        /// Bin edges (the last bin includes its right edge).
        edges: Vec<f64>,
        /// Reference counts.
        reference: Vec<u64>,
        /// Current counts.
        current: Vec<u64>,
    },
    /// The most frequent categories (both samples together; ties by name), and the rest summed.
    Categorical {
        /// Category labels, most frequent first.
        labels: Vec<String>,
        /// Reference counts.
        reference: Vec<u64>,
        /// Current counts.
        current: Vec<u64>,
        /// How many categories were summed into the last, "other" entry (0: none).
        other_categories: usize,
    },
}

impl DriftProfile {
    /// Bin every reference column and its counterpart in `current`. Columns missing from
    /// `current`, or of another kind there, are left out (the drift report names them).
    #[must_use]
    pub fn new(reference: &Dataset, current: &Dataset) -> Self {
        let mut columns = Vec::new();
        for (name, r) in reference.iter() {
            let Some(c) = current.get(name) else { continue };
            let bins = match (r, c) {
                (Column::Numeric(a), Column::Numeric(b)) => numeric_bins(a, b),
                (Column::Categorical(a), Column::Categorical(b)) => categorical_bins(a, b),
                _ => continue,
            };
            columns.push(ColumnProfile {
                column: name.to_owned(),
                bins,
            });
        }
        let rows = |d: &Dataset| d.iter().map(|(_, c)| c.len()).max().unwrap_or(0);
        Self {
            columns,
            reference_rows: rows(reference),
            current_rows: rows(current),
        }
    }

    /// The profile of `column`.
    #[must_use]
    pub fn column(&self, column: &str) -> Option<&ColumnProfile> {
        self.columns.iter().find(|c| c.column == column)
    }
}

fn numeric_bins(a: &[f64], b: &[f64]) -> Bins {
    let finite = || a.iter().chain(b).copied().filter(|v| v.is_finite());
    let lo = finite().fold(f64::INFINITY, f64::min);
    let hi = finite().fold(f64::NEG_INFINITY, f64::max);
    let n = finite().count();
    if n == 0 {
        return Bins::Numeric {
            edges: Vec::new(),
            reference: Vec::new(),
            current: Vec::new(),
        };
    }
    // Sturges' rule (numpy's "sturges"), between 5 and MAX_BINS; one bin for a constant.
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let k = if hi > lo {
        ((n as f64).log2().ceil() as usize + 1).clamp(5, MAX_BINS)
    } else {
        1
    };
    #[allow(clippy::cast_precision_loss)]
    let edges: Vec<f64> = (0..=k)
        .map(|i| {
            if hi > lo {
                lo + (hi - lo) * i as f64 / k as f64
            } else if i == 0 {
                lo - 0.5
            } else {
                hi + 0.5
            }
        })
        .collect();
    let count = |xs: &[f64]| {
        let mut c = vec![0u64; k];
        for v in xs.iter().copied().filter(|v| v.is_finite()) {
            #[allow(
                clippy::cast_precision_loss,
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss
            )]
            let i = if hi > lo {
                (((v - lo) / (hi - lo)) * k as f64).floor() as usize
            } else {
                0
            };
            c[i.min(k - 1)] += 1;
        }
        c
    };
    Bins::Numeric {
        edges,
        reference: count(a),
        current: count(b),
    }
}

fn categorical_bins(a: &[Option<String>], b: &[Option<String>]) -> Bins {
    let mut counts: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for v in a.iter().flatten() {
        counts.entry(v).or_default().0 += 1;
    }
    for v in b.iter().flatten() {
        counts.entry(v).or_default().1 += 1;
    }
    let mut all: Vec<(&str, (u64, u64))> = counts.into_iter().collect();
    // Most frequent first; the BTreeMap order breaks ties by name.
    all.sort_by_key(|(_, (r, c))| std::cmp::Reverse(r + c));
    let (mut labels, mut reference, mut current) = (Vec::new(), Vec::new(), Vec::new());
    let shown = if all.len() > MAX_CATEGORIES {
        MAX_CATEGORIES - 1
    } else {
        all.len()
    };
    for (l, (r, c)) in &all[..shown] {
        labels.push((*l).to_owned());
        reference.push(*r);
        current.push(*c);
    }
    let rest = &all[shown..];
    if !rest.is_empty() {
        labels.push(format!("other ({} categories)", rest.len()));
        reference.push(rest.iter().map(|(_, (r, _))| r).sum());
        current.push(rest.iter().map(|(_, (_, c))| c).sum());
    }
    Bins::Categorical {
        labels,
        reference,
        current,
        other_categories: rest.len(),
    }
}

#[allow(clippy::cast_precision_loss)]
fn shares(counts: &[u64]) -> Vec<f64> {
    let total: u64 = counts.iter().sum();
    counts
        .iter()
        .map(|&c| {
            if total == 0 {
                0.0
            } else {
                c as f64 / total as f64
            }
        })
        .collect()
}

/// How the method's score decides drift, in words.
fn rule(method: DriftMethod) -> &'static str {
    match method {
        DriftMethod::Ks => "drift when p-value ≤ threshold",
        DriftMethod::ChiSquare | DriftMethod::ZTest => "drift when p-value < threshold",
        DriftMethod::Wasserstein | DriftMethod::JensenShannon | DriftMethod::Psi => {
            "drift when distance ≥ threshold"
        }
    }
}

fn long_name(method: DriftMethod) -> &'static str {
    match method {
        DriftMethod::Ks => "Kolmogorov-Smirnov (ks)",
        DriftMethod::ChiSquare => "chi-square (chisquare)",
        DriftMethod::ZTest => "two-proportion Z-test (z)",
        DriftMethod::Wasserstein => "Wasserstein distance, normed (wasserstein)",
        DriftMethod::JensenShannon => "Jensen-Shannon distance (jensenshannon)",
        DriftMethod::Psi => "population stability index (psi)",
    }
}

fn verdict(c: &ColumnDrift) -> Element {
    if c.drift_detected {
        badge(Tone::Bad, "drift")
    } else {
        badge(Tone::Good, "no drift")
    }
}

fn score_label(method: DriftMethod) -> &'static str {
    if method.is_p_value() {
        "p-value"
    } else {
        "distance"
    }
}

impl DriftReport {
    /// The report as one self-contained HTML page: the dataset verdict and the tests used
    /// first, a table of every column, then per column the reference and current
    /// distributions on shared axes (overlaid histograms for numeric columns, grouped bars of
    /// category shares for categorical ones) beside the test's numbers and missing counts.
    ///
    /// `profile` holds the binned data ([`DriftProfile::new`]); a column it lacks is shown
    /// without a chart. Same report and profile, same bytes.
    #[must_use]
    pub fn to_html(&self, title: &str, profile: &DriftProfile) -> String {
        let n = self.columns.len();
        let mut page = Page::new(title)
            .fact("columns", n.to_string())
            .fact("reference rows", profile.reference_rows.to_string())
            .fact("current rows", profile.current_rows.to_string())
            .fact(
                "dataset drift when",
                format!("≥ {} of the columns drift", percent(self.drift_share)),
            );
        page = page.section(self.summary_section());
        page = page.section(self.columns_table());
        let mut detail = section("Columns");
        for (i, c) in self.columns.iter().enumerate() {
            detail.push(column_block(i, c, profile.column(&c.column)));
        }
        page.section(detail)
            .footer("mlops-testing data drift report. Charts show each sample's share of its values per bin, so samples of different sizes compare on the same axes; NaN, infinite and missing values are not charted and are counted as missing.")
            .render()
    }

    fn summary_section(&self) -> Element {
        let n = self.columns.len();
        let tone = if self.dataset_drift {
            Tone::Bad
        } else {
            Tone::Good
        };
        let mut s = section("Summary").child(tiles([
            tile(
                "dataset drift",
                if self.dataset_drift {
                    "detected"
                } else {
                    "not detected"
                },
                Some(tone),
            ),
            tile(
                "columns drifted",
                format!("{} of {n}", self.drifted_columns),
                Some(if self.drifted_columns > 0 {
                    Tone::Warn
                } else {
                    Tone::Good
                }),
            ),
            tile(
                "share drifted",
                format!(
                    "{} (threshold {})",
                    percent(self.share_drifted),
                    percent(self.drift_share)
                ),
                None,
            ),
        ]));
        // One row per (test, threshold) used.
        let mut used: Vec<(DriftMethod, f64, usize, usize)> = Vec::new();
        for c in &self.columns {
            match used
                .iter_mut()
                .find(|u| u.0 == c.method && u.1.to_bits() == c.threshold.to_bits())
            {
                Some(u) => {
                    u.2 += 1;
                    u.3 += usize::from(c.drift_detected);
                }
                None => used.push((c.method, c.threshold, 1, usize::from(c.drift_detected))),
            }
        }
        let mut t = Table::new(
            "Tests used",
            ["test", "threshold", "rule", "columns", "drifted"],
        );
        for (m, th, cols, drifted) in used {
            t.row([
                Cell::text(long_name(m)),
                Cell::num(number(th)),
                Cell::text(rule(m)),
                Cell::num(cols.to_string()),
                Cell::num(drifted.to_string()),
            ]);
        }
        s.push(t.build());
        s
    }

    fn columns_table(&self) -> Element {
        let mut t = Table::new(
            "Every column (drifted columns are marked; the links lead to the charts)",
            [
                "column",
                "type",
                "test",
                "score",
                "threshold",
                "statistic",
                "verdict",
                "missing (ref / cur)",
            ],
        );
        for (i, c) in self.columns.iter().enumerate() {
            t.row([
                Cell::node(
                    el("a")
                        .attr("href", format!("#col-{i}"))
                        .text(c.column.clone()),
                ),
                Cell::text(c.kind.to_string()),
                Cell::text(c.method.name()),
                Cell::num(format!("{} {}", score_label(c.method), number(c.score))),
                Cell::num(number(c.threshold)),
                Cell::num(c.statistic.map_or_else(|| "-".to_owned(), number)),
                Cell::node(verdict(c)),
                Cell::num(format!("{} / {}", c.reference_dropped, c.current_dropped)),
            ]);
        }
        section("All columns").child(t.build())
    }

    /// Write [`DriftReport::to_html`] atomically, creating parent directories.
    ///
    /// # Errors
    /// [`crate::TestingError::Io`] naming the file.
    pub fn write_html(&self, path: &Path, title: &str, profile: &DriftProfile) -> Result<()> {
        crate::suite::write_file(path, self.to_html(title, profile).as_bytes())
    }
}

fn column_block(i: usize, c: &ColumnDrift, profile: Option<&ColumnProfile>) -> Element {
    let heading = el("h3").text(format!("{} ", c.column)).child(verdict(c));
    let chart_title = format!("{}: reference vs current", c.column);
    let chart = match profile.map(|p| &p.bins) {
        Some(Bins::Numeric {
            edges,
            reference,
            current,
        }) => Some(figure(
            histogram(
                &chart_title,
                &c.column,
                "share of values",
                edges,
                &[
                    Series::new("reference", shares(reference)),
                    Series::new("current", shares(current)),
                ],
            ),
            format!(
                "{}: share of values per bin ({} equal-width bins over both samples)",
                c.column,
                edges.len().saturating_sub(1)
            ),
        )),
        Some(Bins::Categorical {
            labels,
            reference,
            current,
            other_categories,
        }) => Some(figure(
            bars(
                &chart_title,
                "share of values",
                labels,
                &[
                    Series::new("reference", shares(reference)),
                    Series::new("current", shares(current)),
                ],
                None,
            ),
            if *other_categories > 0 {
                format!(
                    "{}: share of values per category (the {} least frequent summed as other)",
                    c.column, other_categories
                )
            } else {
                format!("{}: share of values per category", c.column)
            },
        )),
        None => None,
    };
    let mut t = Table::new(format!("{}: test result", c.column), ["measure", "value"]);
    let rows: [(&str, String); 8] = [
        ("test", long_name(c.method).to_owned()),
        (score_label(c.method), number(c.score)),
        (
            "threshold",
            format!("{} ({})", number(c.threshold), rule(c.method)),
        ),
        (
            "statistic",
            c.statistic.map_or_else(|| "-".to_owned(), number),
        ),
        ("type", c.kind.to_string()),
        (
            "values used (ref / cur)",
            format!("{} / {}", c.reference_count, c.current_count),
        ),
        (
            "missing (ref / cur)",
            format!("{} / {}", c.reference_dropped, c.current_dropped),
        ),
        (
            "verdict",
            if c.drift_detected {
                "drift"
            } else {
                "no drift"
            }
            .to_owned(),
        ),
    ];
    for (k, v) in rows {
        t.row([Cell::text(k), Cell::text(v)]);
    }
    let left = match chart {
        Some(f) => el("div").child(f).child_opt(profile.map(counts_table)),
        None => el("p").text("No binned data for this column."),
    };
    let grid = el("div").class("grid").child(left).child(t.build());
    el("div")
        .class("col")
        .attr("id", format!("col-{i}"))
        .child(heading)
        .child(grid)
}

/// The chart's numbers as a table (folded away): what a screen reader reads instead of the chart.
fn counts_table(p: &ColumnProfile) -> Element {
    let mut t = Table::new(
        format!("{}: counts per bin", p.column),
        ["bin", "reference", "current"],
    );
    match &p.bins {
        Bins::Numeric {
            edges,
            reference,
            current,
        } => {
            for ((e, r), c) in edges.windows(2).zip(reference).zip(current) {
                t.row([
                    Cell::text(format!("{} to {}", number(e[0]), number(e[1]))),
                    Cell::num(r.to_string()),
                    Cell::num(c.to_string()),
                ]);
            }
        }
        Bins::Categorical {
            labels,
            reference,
            current,
            ..
        } => {
            for ((l, r), c) in labels.iter().zip(reference).zip(current) {
                t.row([
                    Cell::text(l.clone()),
                    Cell::num(r.to_string()),
                    Cell::num(c.to_string()),
                ]);
            }
        }
    }
    el("details")
        .child(el("summary").text("the chart's numbers"))
        .child(t.build())
}
