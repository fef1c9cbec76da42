//! The main job's HTML reports: it prints their paths, the drift report is byte-identical when
//! its step is restored from the cache, and (with Chromium) every report loads in a real
//! headless browser without console errors, with every chart drawn and nothing wider than a
//! 1280 px window; screenshots land in `target/report-screenshots/`.
//!
//! `cargo test -p mlops-examples --test html_reports -- --include-ignored` runs the browser
//! check (Debian: `apt-get install -y --no-install-recommends chromium`).

use std::path::{Path, PathBuf};
use std::process::Command;

use mlops_html::browser::Browser;

/// Run the main job; returns its output and the HTML reports it printed, by name.
fn run(data: &Path, extra: &[&str]) -> (bool, String, Vec<(String, PathBuf)>) {
    let out = Command::new(env!("CARGO_BIN_EXE_end_to_end"))
        .arg("--data")
        .arg(data)
        .args(extra)
        .output()
        .expect("the end_to_end binary runs");
    let text = String::from_utf8(out.stdout).expect("utf-8 output");
    let mut reports = Vec::new();
    let mut lines = text.lines().skip_while(|l| !l.starts_with("HTML reports"));
    lines.next();
    for l in lines.take_while(|l| l.starts_with("  ")) {
        // "  <name padded to 23>  <path>"
        let l = l.trim_start();
        let (name, path) = l.split_at(23.min(l.len()));
        reports.push((name.trim().to_owned(), PathBuf::from(path.trim())));
    }
    let ok = out.status.success();
    let all = format!("{text}{}", String::from_utf8_lossy(&out.stderr));
    (ok, all, reports)
}

fn names(reports: &[(String, PathBuf)]) -> Vec<&str> {
    reports.iter().map(|(n, _)| n.as_str()).collect()
}

#[test]
fn the_main_job_writes_and_prints_its_html_reports() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, reports) = run(dir.path(), &[]);
    assert!(ok, "run failed:\n{out}");
    assert_eq!(
        names(&reports),
        [
            "pipeline run",
            "data drift",
            "evaluation suite",
            "training run comparison"
        ],
        "{out}"
    );
    for (name, path) in &reports {
        let html = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(html.starts_with("<!DOCTYPE html>"), "{name}");
        assert!(!html.contains("<script"), "{name}: reports have no script");
        assert!(html.contains("<svg class=\"chart\""), "{name}: no chart");
        // Self-contained: nothing loaded from elsewhere (the SVG namespace URI is not a load).
        for load in ["src=", "href=\"http", "url(", "@import"] {
            assert!(
                !html.contains(load),
                "{name}: {load} in a self-contained page"
            );
        }
    }
    let drift = std::fs::read(&reports[1].1).unwrap();
    // The second run restores the drift step from the cache: the same report, byte for byte.
    let (ok, out, again) = run(dir.path(), &[]);
    assert!(ok, "second run failed:\n{out}");
    assert!(out.contains("[drift] cached"), "{out}");
    assert_eq!(std::fs::read(&again[1].1).unwrap(), drift);
}

/// A run whose data fails validation still writes the pipeline report, showing the failure
/// and the skipped steps.
#[test]
fn a_failed_run_still_reports_its_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, reports) = run(dir.path(), &["--memory", "--bad-data"]);
    assert!(!ok, "validation should fail the job:\n{out}");
    assert_eq!(names(&reports), ["pipeline run"], "{out}");
    let html = std::fs::read_to_string(&reports[0].1).unwrap();
    assert!(html.contains(">failed<") && html.contains(">skipped<"));
}

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("report-screenshots")
}

#[test]
#[ignore = "needs chromium"]
fn every_report_passes_the_browser_check() {
    let browser = Browser::find().unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, mut reports) = run(dir.path(), &["--memory"]);
    assert!(ok, "run failed:\n{out}");
    let bad = tempfile::tempdir().unwrap();
    let (_, out, failed) = run(bad.path(), &["--memory", "--bad-data"]);
    let failed = failed
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no pipeline report from the failed run:\n{out}"));
    reports.push(("failed pipeline run".to_owned(), failed.1));
    assert!(reports.len() >= 4, "{:?}", names(&reports));
    let mut problems = Vec::new();
    for (name, path) in &reports {
        let shot = screenshots().join(format!("{}.png", name.replace(' ', "_")));
        let check = browser
            .check(path, &shot)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        if check.charts == 0 {
            problems.push(format!("{name}: no chart"));
        }
        problems.extend(check.problems.iter().map(|p| format!("{name}: {p}")));
        // Keep a copy of the page beside its screenshot (CI artifact).
        let _ = std::fs::copy(path, shot.with_extension("html"));
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
