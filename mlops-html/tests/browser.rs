//! Every chart kind and page piece in a real headless Chromium, and proof that the check fails
//! on a page that throws or overflows. Run with `cargo test -p mlops-html --features
//! browser-check -- --include-ignored`.
#![cfg(feature = "browser-check")]

use std::path::PathBuf;

use mlops_html::browser::Browser;
use mlops_html::chart::{
    GanttRow, LineSeries, RefLine, Segment, SegmentKind, Series, bars, gantt, histogram, lines,
};
use mlops_html::{Cell, Page, Table, Tone, badge, figure, section, tile, tiles};

const EVIL: &str = "<script>alert(1)</script>";

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("report-screenshots")
}

fn browser() -> Browser {
    Browser::find().unwrap_or_else(|e| panic!("{e}"))
}

fn demo_page() -> String {
    let mut t = Table::new("A table with a long name", ["name", "value", "verdict"]);
    t.row([
        Cell::text(EVIL),
        Cell::num("0.05"),
        badge(Tone::Bad, "drift").into(),
    ]);
    t.row([
        Cell::text("x".repeat(300)),
        Cell::num("1"),
        badge(Tone::Good, "ok").into(),
    ]);
    let hist = histogram(
        EVIL,
        EVIL,
        "share",
        &[0.0, 1.0, 2.0, 3.0],
        &[
            Series::new("reference", vec![0.2, 0.5, 0.3]),
            Series::new(EVIL, vec![0.1, 0.3, 0.6]),
        ],
    );
    let cats: Vec<String> = (0..14).map(|i| format!("category number {i}")).collect();
    let bar = bars(
        "bars",
        "share",
        &cats,
        &[
            Series::new("reference", (0..14).map(f64::from).collect()),
            Series::new("current", (0..14).map(|i| f64::from(14 - i)).collect()),
        ],
        Some(&RefLine {
            label: "limit".into(),
            value: 10.0,
        }),
    );
    let line = lines(
        "loss",
        "step",
        "loss",
        &(0..9)
            .map(|k| LineSeries {
                name: format!("{EVIL} run {k} with a very long name indeed"),
                points: (0..50)
                    .map(|s| (f64::from(s), 1.0 / f64::from(s + k + 1)))
                    .collect(),
            })
            .collect::<Vec<_>>(),
    );
    let g = gantt(
        "timeline",
        &[
            GanttRow {
                label: EVIL.into(),
                segments: vec![Segment {
                    start: 0.0,
                    end: 40.0,
                    kind: SegmentKind::Ran,
                }],
                critical: true,
                note: "40 ms".into(),
            },
            GanttRow {
                label: "retry".into(),
                segments: vec![
                    Segment {
                        start: 40.0,
                        end: 50.0,
                        kind: SegmentKind::Retried,
                    },
                    Segment {
                        start: 60.0,
                        end: 100.0,
                        kind: SegmentKind::Failed,
                    },
                ],
                critical: false,
                note: "failed after 2 attempts".into(),
            },
            GanttRow {
                label: "skipped".into(),
                segments: vec![],
                critical: false,
                note: "skipped".into(),
            },
        ],
    );
    Page::new(format!("Demo {EVIL}"))
        .fact("rows", EVIL)
        .section(
            section("Summary")
                .child(tiles([
                    tile("columns drifted", "2 of 5", Some(Tone::Bad)),
                    tile(EVIL, "0.05", None),
                ]))
                .child(t.build()),
        )
        .section(
            section("Charts")
                .child(figure(hist, "histogram"))
                .child(figure(bar, "bars"))
                .child(figure(line, "lines"))
                .child(figure(g, "gantt")),
        )
        .render()
}

#[test]
#[ignore = "needs chromium"]
fn every_chart_kind_renders_in_chromium() {
    let b = browser();
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("demo.html");
    let page = demo_page();
    assert!(!page.contains(EVIL), "unescaped data in the page");
    std::fs::write(&html, &page).unwrap();
    let shot = screenshots().join("mlops-html-demo.png");
    let check = b.check(&html, &shot).unwrap();
    assert_eq!(check.charts, 4, "{check:?}");
    assert!(check.problems.is_empty(), "{:#?}", check.problems);
    assert!(std::fs::metadata(&shot).unwrap().len() > 1000);
}

/// The check is not a rubber stamp: a throwing script, a console message and an element wider
/// than the viewport are all reported.
#[test]
#[ignore = "needs chromium"]
fn the_check_catches_errors_and_overflow() {
    let b = browser();
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("bad.html");
    std::fs::write(
        &html,
        "<!DOCTYPE html><html lang=\"en\"><head><title>bad</title></head><body>\
         <div style=\"width:2000px\">wide</div>\
         <svg class=\"chart\" width=\"0\" height=\"0\"></svg>\
         <script>console.error('boom'); undefinedFunction();</script></body></html>",
    )
    .unwrap();
    let check = b.check(&html, &dir.path().join("bad.png")).unwrap();
    let all = check.problems.join("\n");
    assert!(all.contains("overflows the viewport"), "{all}");
    assert!(all.contains("scrolls sideways"), "{all}");
    assert!(all.contains("empty box"), "{all}");
    assert!(all.contains(":CONSOLE") && all.contains("boom"), "{all}");
    assert!(all.contains("Uncaught"), "{all}");
}

/// Writes the demo page where a person can look at it (`target/report-screenshots/`).
#[test]
fn demo_page_is_written() {
    let dir = screenshots();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("mlops-html-demo.html"), demo_page()).unwrap();
}
