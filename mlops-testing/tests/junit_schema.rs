//! JUnit reports against the widely used JUnit schema (`tests/data/junit-10.xsd`, the Jenkins
//! xUnit plugin's, MIT): every `time` is seconds with three decimals, and whole reports validate.

use std::path::{Path, PathBuf};
use std::process::Command;

use mlops_testing::{CheckResult, SuiteReport, Threshold, threshold_check};

fn xsd_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/junit-10.xsd")
}

/// Reports covering every element we write: passes, failures, errors, details in `system-out`,
/// characters that need escaping, no checks at all, and long and odd durations.
fn reports() -> Vec<(&'static str, SuiteReport)> {
    let with_ms = |mut r: CheckResult, ms: f64| {
        r.duration_ms = ms;
        r
    };
    let mixed = vec![
        with_ms(
            threshold_check("acc", "model", "accuracy", 0.9, Threshold::at_least(0.8)),
            1234.5678,
        ),
        with_ms(
            threshold_check(
                "p95 <&>",
                "latency",
                "p95_ms",
                150.0,
                Threshold::at_most(100.0),
            ),
            0.0004,
        ),
        with_ms(
            CheckResult::error("schema \"x\"", "data", "column not found: label\u{1}")
                .with_details(serde_json::json!({"rows": [1, 2], "why": "a\nb"})),
            3_600_000.25,
        ),
        with_ms(
            CheckResult::verdict("odd time", "data", true, "ok"),
            f64::NAN,
        ),
        with_ms(
            CheckResult::verdict("negative time", "data", true, "ok"),
            -5.0,
        ),
    ];
    vec![
        (
            "mixed",
            SuiteReport::new("ci <ml>".into(), "2026-01-02T03:04:05Z".into(), mixed),
        ),
        (
            "empty",
            SuiteReport::new("empty".into(), "2026-01-02T03:04:05Z".into(), vec![]),
        ),
    ]
}

/// Every `name="value"` pair for attribute `name` in `xml`.
fn attribute_values<'a>(xml: &'a str, name: &str) -> Vec<&'a str> {
    let needle = format!(" {name}=\"");
    xml.match_indices(&needle)
        .map(|(i, _)| {
            let rest = &xml[i + needle.len()..];
            &rest[..rest.find('"').expect("closing quote")]
        })
        .collect()
}

/// The schema's `SUREFIRE_TIME` pattern (used for `time` on `<testsuites>` and `<testsuite>`),
/// read from the vendored XSD and anchored as XSD patterns are.
fn surefire_time() -> regex::Regex {
    let xsd = std::fs::read_to_string(xsd_path()).unwrap();
    let start = xsd
        .find("name=\"SUREFIRE_TIME\"")
        .expect("SUREFIRE_TIME in the xsd");
    let pat = &xsd[start..];
    let pat = &pat[pat.find("pattern value=\"").unwrap() + "pattern value=\"".len()..];
    let pat = &pat[..pat.find('"').unwrap()];
    regex::Regex::new(&format!("^(?:{pat})$")).unwrap()
}

#[test]
fn every_time_is_seconds_with_three_decimals() {
    let schema_time = surefire_time();
    let three = regex::Regex::new(r"^[0-9]+\.[0-9]{3}$").unwrap();
    for (label, report) in reports() {
        let xml = report.to_junit_xml();
        let times = attribute_values(&xml, "time");
        assert_eq!(times.len(), 2 + report.results.len(), "{label}: {xml}");
        for t in times {
            assert!(
                schema_time.is_match(t),
                "{label}: time={t:?} fails SUREFIRE_TIME"
            );
            assert!(three.is_match(t), "{label}: time={t:?} is not seconds.mmm");
        }
    }
    let xml = reports()[0].1.to_junit_xml();
    assert!(
        xml.contains("<testcase name=\"acc\" classname=\"ci &lt;ml&gt;.model\" time=\"1.235\""),
        "{xml}"
    );
    // The suite time is the sum of the finite, non-negative durations: 1.2345678 + 3600.00025 s.
    assert!(xml.contains(" time=\"3601.235\""), "{xml}");
    // NaN and negative durations are written as zero, not as `NaN` or `-0.005`.
    assert_eq!(xml.matches(" time=\"0.000\"").count(), 3, "{xml}");
}

#[test]
fn the_schema_pattern_rejects_six_decimals() {
    // Guards the check above: the vendored schema really is the strict one.
    let p = surefire_time();
    assert!(p.is_match("0.123") && p.is_match("12") && p.is_match("1,234.5"));
    assert!(!p.is_match("0.123456") && !p.is_match("NaN") && !p.is_match("-1.000"));
}

/// Validate whole reports with `xmllint --schema`. Needs `xmllint` (Debian/Ubuntu package
/// `libxml2-utils`); run with `cargo test -p mlops-testing -- --include-ignored`.
#[test]
#[ignore = "needs xmllint"]
fn reports_validate_against_junit_10_xsd() {
    let dir = tempfile::tempdir().unwrap();
    for (label, report) in reports() {
        let file = dir.path().join(format!("{label}.xml"));
        report.write_junit(&file).unwrap();
        let out = match Command::new("xmllint")
            .arg("--noout")
            .arg("--schema")
            .arg(xsd_path())
            .arg(&file)
            .output()
        {
            Ok(out) => out,
            Err(e) => panic!(
                "cannot run xmllint ({e}): install it (apt-get install libxml2-utils) to run this test"
            ),
        };
        assert!(
            out.status.success(),
            "{label}: the JUnit report fails junit-10.xsd:\n{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&file).unwrap()
        );
    }
    // And the validator does reject a report the schema forbids, so a pass above means something.
    let bad = dir.path().join("bad.xml");
    std::fs::write(
        &bad,
        "<testsuites time=\"0.000001\"><testsuite name=\"s\" tests=\"0\" failures=\"0\" errors=\"0\"/></testsuites>",
    )
    .unwrap();
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(xsd_path())
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success(), "xmllint accepted six decimals");
}
