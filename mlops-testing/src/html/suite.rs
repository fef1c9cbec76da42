//! The test-suite / quality-gate report.

use std::path::Path;

use mlops_html::chart::{RefLine, Series, bars};
use mlops_html::format::{duration_ms, number, percent};
use mlops_html::{Cell, Element, Page, Table, Tone, badge, el, figure, section, tile, tiles};

use crate::check::{CheckResult, CheckStatus};
use crate::drift::DriftReport;
use crate::error::Result;
use crate::latency::LatencyStats;
use crate::regression::{RegressionReport, Tolerance, Verdict};
use crate::stats::Direction;
use crate::suite::SuiteReport;

fn status_badge(s: CheckStatus) -> Element {
    match s {
        CheckStatus::Passed => badge(Tone::Good, "pass"),
        CheckStatus::Failed => badge(Tone::Bad, "fail"),
        CheckStatus::Error => badge(Tone::Warn, "error"),
    }
}

fn bound(r: &CheckResult) -> String {
    match (r.threshold, r.direction) {
        (Some(t), Some(Direction::Maximize)) => format!("≥ {}", number(t)),
        (Some(t), Some(Direction::Minimize)) => format!("≤ {}", number(t)),
        (Some(t), None) => number(t),
        (None, _) => "-".to_owned(),
    }
}

fn better(d: Direction) -> &'static str {
    match d {
        Direction::Maximize => "↑ higher is better",
        Direction::Minimize => "↓ lower is better",
    }
}

impl SuiteReport {
    /// The report as one self-contained HTML page: the verdict and counts first, then every
    /// check with its measured value against its threshold, the latency percentiles of
    /// latency checks as a chart with the limit drawn in, regressions against the baseline
    /// with the direction of "better", and the drift check's columns. Same report, same bytes.
    #[must_use]
    pub fn to_html(&self) -> String {
        let (verdict, tone) = if self.all_passed() {
            ("all passed", Tone::Good)
        } else if self.errors > 0 {
            ("has errors", Tone::Bad)
        } else {
            ("has failures", Tone::Bad)
        };
        let mut page = Page::new(format!("Test suite: {}", self.name))
            .fact("checks", self.total.to_string())
            .fact("made at", self.timestamp.clone())
            .section(section("Summary").child(tiles([
                tile("result", verdict, Some(tone)),
                tile("passed", self.passed.to_string(), Some(Tone::Good)),
                tile(
                    "failed",
                    self.failed.to_string(),
                    Some(if self.failed > 0 {
                        Tone::Bad
                    } else {
                        Tone::Good
                    }),
                ),
                tile(
                    "errors (could not run)",
                    self.errors.to_string(),
                    Some(if self.errors > 0 {
                        Tone::Bad
                    } else {
                        Tone::Good
                    }),
                ),
            ])))
            .section(self.checks_table());
        for r in &self.results {
            if let Some(s) = latency_section(r) {
                page = page.section(s);
            }
        }
        for r in &self.results {
            if let Some(s) = regression_section(r) {
                page = page.section(s);
            }
        }
        for r in &self.results {
            if let Some(s) = drift_section(r) {
                page = page.section(s);
            }
        }
        page.footer("mlops-testing suite report. A failed check ran and did not meet its threshold; an error is a check that could not be evaluated.")
            .render()
    }

    fn checks_table(&self) -> Element {
        let mut t = Table::new(
            "Every check: the measured value against its threshold",
            [
                "check",
                "category",
                "status",
                "metric",
                "measured",
                "threshold",
                "message",
            ],
        );
        for r in &self.results {
            let cells = [
                Cell::text(r.name.clone()),
                Cell::text(r.category.clone()),
                Cell::node(status_badge(r.status)),
                Cell::text(r.metric.clone().unwrap_or_else(|| "-".to_owned())),
                Cell::num(r.actual.map_or_else(|| "-".to_owned(), number)),
                Cell::num(bound(r)),
                Cell::text(r.message.clone()),
            ];
            if r.is_passed() {
                t.row(cells);
            } else {
                t.row_with_class("diff", cells);
            }
        }
        section("Checks").child(t.build())
    }

    /// Write [`SuiteReport::to_html`] atomically, creating parent directories.
    ///
    /// # Errors
    /// [`crate::TestingError::Io`] naming the file.
    pub fn write_html(&self, path: &Path) -> Result<()> {
        crate::suite::write_file(path, self.to_html().as_bytes())
    }
}

fn latency_section(r: &CheckResult) -> Option<Element> {
    if r.category != "latency" {
        return None;
    }
    let stats: LatencyStats = serde_json::from_value(r.details.clone()).ok()?;
    let names = ["min", "p50", "mean", "p95", "p99", "max"];
    let values = [
        stats.min_ms,
        stats.p50_ms,
        stats.mean_ms,
        stats.p95_ms,
        stats.p99_ms,
        stats.max_ms,
    ];
    let stat = r
        .metric
        .as_deref()
        .and_then(|m| m.strip_prefix("latency_"))
        .and_then(|m| m.strip_suffix("_ms"))
        .unwrap_or("limit");
    // One slow outlier would flatten every percentile: the maximum is charted only when it
    // is at most three times the p99 (it always stays in the table).
    let show_max = stats.max_ms <= 3.0 * stats.p99_ms;
    let shown = if show_max {
        names.len()
    } else {
        names.len() - 1
    };
    let top = values[..shown].iter().copied().fold(0.0, f64::max);
    // The limit is drawn when it is on the same scale as the values; a limit far above them
    // would squash every bar to the axis, so it is then only named in the caption.
    let limit = r.threshold.filter(|t| t.is_finite());
    let draw_limit = limit.filter(|t| *t <= 3.0 * top);
    // The unit that suits the largest charted value.
    let (unit, factor) = match top.max(draw_limit.unwrap_or(0.0)) {
        m if m < 1e-3 => ("nanoseconds", 1e6),
        m if m < 1.0 => ("microseconds", 1e3),
        m if m < 1e3 => ("milliseconds", 1.0),
        _ => ("seconds", 1e-3),
    };
    let line = draw_limit.map(|t| RefLine {
        label: format!("{stat} limit {}", duration_ms(t)),
        value: t * factor,
    });
    let chart = bars(
        &format!("{}: latency percentiles", r.name),
        unit,
        &names[..shown]
            .iter()
            .map(|n| (*n).to_owned())
            .collect::<Vec<_>>(),
        &[Series::new(
            "latency",
            values[..shown].iter().map(|v| v * factor).collect(),
        )],
        line.as_ref(),
    );
    let mut caption = format!("{}: percentiles of {} calls", r.name, stats.count);
    match (limit, draw_limit) {
        (Some(_), Some(_)) => caption.push_str("; the red line is the limit"),
        (Some(t), None) => caption.push_str(&format!(
            "; the limit ({}) is far above every value and is not drawn",
            duration_ms(t)
        )),
        _ => {}
    }
    if !show_max {
        caption.push_str(&format!(
            "; the maximum ({}) is off the chart, see the table",
            duration_ms(stats.max_ms)
        ));
    }
    let mut t = Table::new(
        format!("{}: latency over {} calls", r.name, stats.count),
        ["statistic", "value"],
    );
    for (n, v) in names.iter().zip(values) {
        t.row([Cell::text(*n), Cell::num(duration_ms(v))]);
    }
    t.row([
        Cell::text("quantile method"),
        Cell::text(stats.method.to_string()),
    ]);
    Some(
        section(format!("Latency: {}", r.name))
            .child(
                el("p")
                    .child(status_badge(r.status))
                    .text(format!(" {}", r.message)),
            )
            .child(
                el("div")
                    .class("grid")
                    .child(figure(chart, caption))
                    .child(t.build()),
            ),
    )
}

fn regression_section(r: &CheckResult) -> Option<Element> {
    if r.category != "regression" {
        return None;
    }
    let report: RegressionReport = serde_json::from_value(r.details.clone()).ok()?;
    let mut t = Table::new(
        format!("{}: each metric against the baseline", r.name),
        [
            "metric",
            "better",
            "baseline",
            "current",
            "change",
            "allowed worsening",
            "verdict",
        ],
    );
    for m in &report.metrics {
        let change = match m.relative_delta {
            Some(rel) => format!("{} ({})", Signed(m.delta), percent_signed(rel)),
            None => Signed(m.delta).to_string(),
        };
        let allowed = match m.tolerance {
            Tolerance::Absolute(a) => number(a),
            Tolerance::Relative(f) => {
                format!(
                    "{} ({} of baseline)",
                    number(m.allowed_worsening),
                    percent(f)
                )
            }
        };
        let v = match m.verdict {
            Verdict::Improved => badge(Tone::Good, "improved"),
            Verdict::Unchanged => badge(Tone::Neutral, "unchanged"),
            Verdict::WithinTolerance => badge(Tone::Warn, "worse, within tolerance"),
            Verdict::Regressed => badge(Tone::Bad, "regressed"),
        };
        let cells = [
            Cell::text(m.metric.clone()),
            Cell::text(better(m.direction)),
            Cell::num(number(m.baseline)),
            Cell::num(number(m.current)),
            Cell::num(change),
            Cell::num(allowed),
            Cell::node(v),
        ];
        if m.verdict == Verdict::Regressed {
            t.row_with_class("diff", cells);
        } else {
            t.row(cells);
        }
    }
    Some(
        section(format!("Regression: {}", r.name))
            .child(
                el("p")
                    .child(status_badge(r.status))
                    .text(format!(" {}", r.message)),
            )
            .child(t.build()),
    )
}

fn drift_section(r: &CheckResult) -> Option<Element> {
    if r.category != "drift" {
        return None;
    }
    let report: DriftReport = serde_json::from_value(r.details.clone()).ok()?;
    let mut t = Table::new(
        format!("{}: per column", r.name),
        ["column", "test", "score", "threshold", "verdict"],
    );
    for c in &report.columns {
        t.row([
            Cell::text(c.column.clone()),
            Cell::text(c.method.name()),
            Cell::num(number(c.score)),
            Cell::num(number(c.threshold)),
            Cell::node(if c.drift_detected {
                badge(Tone::Bad, "drift")
            } else {
                badge(Tone::Good, "no drift")
            }),
        ]);
    }
    Some(
        section(format!("Drift: {}", r.name))
            .child(
                el("p")
                    .child(status_badge(r.status))
                    .text(format!(" {}", r.message)),
            )
            .child(t.build()),
    )
}

/// A number with its sign.
struct Signed(f64);

impl std::fmt::Display for Signed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 > 0.0 {
            write!(f, "+{}", number(self.0))
        } else {
            f.write_str(&number(self.0))
        }
    }
}

fn percent_signed(share: f64) -> String {
    if share > 0.0 {
        format!("+{}", percent(share))
    } else {
        percent(share)
    }
}
