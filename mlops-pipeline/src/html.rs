//! A self-contained HTML report of a pipeline run (feature `html`): a Gantt timeline of the
//! steps with their status (ran, cached, retried, failed, skipped), durations and the critical
//! path, then a table of every step. One file, inline SVG and CSS, no script, no network;
//! everything from data (pipeline name, errors) escaped; the same report gives the same bytes.
//!
//! ```
//! use mlops_pipeline::{Pipeline, RunOptions};
//!
//! let mut b = Pipeline::builder("train");
//! b.step("load", |_| Ok(1));
//! b.step("fit", |ctx| Ok(*ctx.input::<i32>("load")? + 1)).after(["load"]);
//! let pipeline = b.build()?;
//! let report = pipeline.run(&RunOptions::new());
//! let html = report.to_html(Some(&pipeline));
//! assert!(html.contains("critical path"));
//! assert_eq!(mlops_pipeline::html::critical_path(&report, &pipeline).len(), 2);
//! # Ok::<(), mlops_pipeline::PipelineError>(())
//! ```

use std::path::Path;

use chrono::{DateTime, Utc};
use mlops_html::chart::{GanttRow, Segment, SegmentKind, gantt};
use mlops_html::format::duration_ms;
use mlops_html::{Cell, Element, Page, Table, Tone, badge, el, figure, section, tile, tiles};

use crate::builder::Pipeline;
use crate::error::{PipelineError, Result};
use crate::name::StepName;
use crate::report::{AttemptOutcome, RunReport, StepReport, StepStatus};

/// The critical path of a finished run, in execution order: from the step that finished last,
/// back through the dependency each step waited for longest (the one that finished last),
/// to a step with no such dependency. Steps that did not run (skipped) are not on it.
#[must_use]
pub fn critical_path<'a>(report: &'a RunReport, pipeline: &Pipeline) -> Vec<&'a StepName> {
    let finished = |s: &StepReport| s.finished_at;
    let Some(mut current) = report
        .steps
        .iter()
        .filter(|s| s.finished_at.is_some())
        .max_by_key(|s| finished(s))
    else {
        return Vec::new();
    };
    let mut path = vec![&current.name];
    while let Some(deps) = pipeline.dependencies(current.name.as_str()) {
        let Some(next) = deps
            .iter()
            .filter_map(|d| report.step(d.as_str()))
            .filter(|s| s.finished_at.is_some())
            .max_by_key(|s| finished(s))
        else {
            break;
        };
        // Guard against a report that does not belong to this pipeline (a cycle of lookups).
        if path.contains(&&next.name) {
            break;
        }
        path.push(&next.name);
        current = next;
    }
    path.reverse();
    path
}

fn ms_since(start: DateTime<Utc>, t: DateTime<Utc>) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let us = (t - start).num_microseconds().unwrap_or(i64::MAX) as f64;
    us / 1e3
}

fn status_of(s: &StepReport) -> (Tone, &'static str) {
    match s.status {
        StepStatus::Completed if s.attempts.len() > 1 => (Tone::Warn, "ran (retried)"),
        StepStatus::Completed => (Tone::Good, "ran"),
        StepStatus::Cached => (Tone::Info, "cached"),
        StepStatus::Failed => (Tone::Bad, "failed"),
        StepStatus::TimedOut => (Tone::Bad, "timed out"),
        StepStatus::Skipped => (Tone::Neutral, "skipped"),
    }
}

fn segments(run_start: DateTime<Utc>, s: &StepReport) -> Vec<Segment> {
    let last = s.attempts.len().saturating_sub(1);
    if s.attempts.is_empty() {
        return match (s.started_at, s.finished_at) {
            (Some(a), Some(b)) => vec![Segment {
                start: ms_since(run_start, a),
                end: ms_since(run_start, b),
                kind: if s.status == StepStatus::Cached {
                    SegmentKind::Cached
                } else if s.status.is_failure() {
                    SegmentKind::Failed
                } else {
                    SegmentKind::Ran
                },
            }],
            _ => Vec::new(),
        };
    }
    s.attempts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let start = ms_since(run_start, a.started_at);
            let kind = match a.outcome {
                AttemptOutcome::Succeeded => SegmentKind::Ran,
                _ if i < last => SegmentKind::Retried,
                _ => SegmentKind::Failed,
            };
            Segment {
                start,
                end: start + a.duration.as_secs_f64() * 1e3,
                kind,
            }
        })
        .collect()
}

impl RunReport {
    /// The run as one self-contained HTML page: the outcome and wall-clock time first, a Gantt
    /// timeline (one row per step, attempts drawn separately, the critical path outlined when
    /// `pipeline` is given to know the dependencies), then every step with its status,
    /// attempts, start, duration, dependencies and error or skip reason.
    #[must_use]
    pub fn to_html(&self, pipeline: Option<&Pipeline>) -> String {
        let critical: Vec<&StepName> = pipeline.map(|p| critical_path(self, p)).unwrap_or_default();
        let crit_ms = critical
            .iter()
            .filter_map(|n| self.step(n.as_str()))
            .map(|s| s.duration.as_secs_f64() * 1e3)
            .sum::<f64>();
        let ok = self.is_success();
        let run_ms = self.duration.as_secs_f64() * 1e3;
        let retried = self.steps.iter().filter(|s| s.attempts.len() > 1).count();
        let mut summary = section("Summary").child(tiles([
            tile(
                "result",
                if ok { "success" } else { "failed" },
                Some(if ok { Tone::Good } else { Tone::Bad }),
            ),
            tile("wall-clock time", duration_ms(run_ms), None),
            tile(
                "steps ran / cached",
                format!(
                    "{} / {}",
                    self.count(StepStatus::Completed),
                    self.count(StepStatus::Cached)
                ),
                None,
            ),
            tile(
                "failed / skipped",
                format!(
                    "{} / {}",
                    self.count(StepStatus::Failed) + self.count(StepStatus::TimedOut),
                    self.count(StepStatus::Skipped)
                ),
                Some(if ok { Tone::Good } else { Tone::Bad }),
            ),
            tile("steps retried", retried.to_string(), None),
        ]));
        if !critical.is_empty() {
            summary.push(el("p").text(format!(
                "Critical path ({} of step time): {}",
                duration_ms(crit_ms),
                critical
                    .iter()
                    .map(|n| n.as_str())
                    .collect::<Vec<_>>()
                    .join(" → ")
            )));
        }
        let rows: Vec<GanttRow> = self
            .steps
            .iter()
            .map(|s| {
                let (_, label) = status_of(s);
                let on_path = critical.contains(&&s.name);
                let mut note = if s.started_at.is_some() {
                    format!("{} · {label}", duration_ms(s.duration.as_secs_f64() * 1e3))
                } else {
                    label.to_owned()
                };
                if s.attempts.len() > 1 {
                    note.push_str(&format!(" · {} attempts", s.attempts.len()));
                }
                GanttRow {
                    label: s.name.to_string(),
                    segments: segments(self.started_at, s),
                    critical: on_path,
                    note,
                }
            })
            .collect();
        let timeline = section("Timeline").child(figure(
            gantt(&format!("{}: step timeline", self.pipeline), &rows),
            "Each bar runs from the step's start to its end, one piece per attempt; the critical \
             path is outlined in black. Skipped steps have no bar.",
        ));
        Page::new(format!("Pipeline run: {}", self.pipeline))
            .fact(
                "started",
                self.started_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            )
            .fact("steps", self.steps.len().to_string())
            .fact("threads", self.threads.to_string())
            .fact("fail-fast", if self.fail_fast { "on" } else { "off" })
            .section(summary)
            .section(timeline)
            .section(self.steps_table(pipeline, &critical))
            .footer("mlops-pipeline run report. Durations run from the step's start to its final state: cache lookup, retries and waits included.")
            .render()
    }

    fn steps_table(&self, pipeline: Option<&Pipeline>, critical: &[&StepName]) -> Element {
        let mut t = Table::new(
            "Every step, in declaration order",
            [
                "step",
                "status",
                "attempts",
                "start",
                "duration",
                "depends on",
                "critical path",
                "note",
            ],
        );
        for s in &self.steps {
            let (tone, label) = status_of(s);
            let deps = pipeline
                .and_then(|p| p.dependencies(s.name.as_str()))
                .map(|d| d.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            let note = [
                s.error.as_ref().map(|e| format!("error: {e}")),
                s.skip_reason.as_ref().map(|r| format!("skipped: {r}")),
                s.cache_note.as_ref().map(|n| format!("cache: {n}")),
                s.attempts
                    .iter()
                    .filter_map(|a| {
                        a.error
                            .as_ref()
                            .map(|e| format!("attempt {}: {e}", a.attempt))
                    })
                    .next()
                    .filter(|_| s.attempts.len() > 1),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; ");
            let start = s.started_at.map_or_else(
                || "-".to_owned(),
                |t| format!("+{}", duration_ms(ms_since(self.started_at, t))),
            );
            let duration = if s.started_at.is_some() {
                duration_ms(s.duration.as_secs_f64() * 1e3)
            } else {
                "-".to_owned()
            };
            let cells = [
                Cell::text(s.name.to_string()),
                Cell::node(badge(tone, label)),
                Cell::num(s.attempts.len().to_string()),
                Cell::num(start),
                Cell::num(duration),
                Cell::text(if deps.is_empty() {
                    "-".to_owned()
                } else {
                    deps
                }),
                Cell::text(if critical.contains(&&s.name) {
                    "yes"
                } else {
                    ""
                }),
                Cell::text(note),
            ];
            if s.status.is_failure() {
                t.row_with_class("diff", cells);
            } else {
                t.row(cells);
            }
        }
        section("Steps").child(t.build())
    }

    /// Write [`RunReport::to_html`] atomically (temp file, fsync, rename), creating parent
    /// directories.
    ///
    /// # Errors
    /// [`PipelineError::Io`] naming the file.
    pub fn write_html(&self, path: &Path, pipeline: Option<&Pipeline>) -> Result<()> {
        let io = |path: &Path, source| PipelineError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        mlops_fs::write_atomic(path, self.to_html(pipeline).as_bytes(), true)
            .map_err(|e| io(path, e))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::retry::RetryPolicy;
    use crate::run::RunOptions;
    use crate::step::StepError;

    const EVIL: &str = "<script>alert(1)</script>";

    fn run() -> (Pipeline, RunReport) {
        let mut b = Pipeline::builder(EVIL);
        b.step("load", |_| Ok(1));
        b.step("slow", |_| {
            std::thread::sleep(Duration::from_millis(30));
            Ok(2)
        })
        .after(["load"]);
        b.step("fast", |_| Ok(3)).after(["load"]);
        let tries = Arc::new(std::sync::atomic::AtomicU32::new(0));
        b.step("flaky", move |_| {
            if tries.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0 {
                Err(StepError::msg(EVIL))
            } else {
                Ok(4)
            }
        })
        .after(["fast"])
        .retry(RetryPolicy::fixed(3, Duration::ZERO));
        b.step("join", |_| Ok(5)).after(["slow", "flaky"]);
        b.step("bad", |_| -> std::result::Result<i32, StepError> {
            Err(StepError::msg(EVIL))
        });
        b.step("after_bad", |_| Ok(6)).after(["bad"]);
        let p = b.build().unwrap();
        let r = p.run(&RunOptions::new().threads(2));
        (p, r)
    }

    #[test]
    fn timeline_shows_status_retries_and_the_critical_path() {
        let (p, r) = run();
        let path: Vec<&str> = critical_path(&r, &p).iter().map(|n| n.as_str()).collect();
        assert_eq!(path, ["load", "slow", "join"], "{r}");
        let html = r.to_html(Some(&p));
        assert!(!html.contains(EVIL), "unescaped data");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        for label in ["ran (retried)", "failed", "skipped", "load → slow → join"] {
            assert!(html.contains(label), "{label}");
        }
        assert_eq!(html.matches("<svg class=\"chart\"").count(), 1);
        assert_eq!(html, r.to_html(Some(&p)), "same report, same bytes");
        // Without the pipeline there is no critical path, but the report still renders.
        let plain = r.to_html(None);
        assert!(!plain.contains("Critical path ("));
    }

    #[test]
    fn a_deserialized_report_renders_and_is_written() {
        let (p, r) = run();
        let back: RunReport = serde_json::from_str(&r.to_json().unwrap()).unwrap();
        assert_eq!(back.to_html(Some(&p)), r.to_html(Some(&p)));
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("out/run.html");
        r.write_html(&f, Some(&p)).unwrap();
        assert!(
            std::fs::read_to_string(f)
                .unwrap()
                .starts_with("<!DOCTYPE html>")
        );
    }
}
