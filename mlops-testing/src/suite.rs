//! Suites of checks and their reports: text, JSON, JUnit XML, a cargo-test assertion and a
//! process exit code.

use std::fmt::{self, Write as _};
use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::check::{CheckResult, CheckStatus};
use crate::error::{Result, TestingError};
use mlops_fs as fsutil;

/// A named list of check results, filled by [`Suite::push`] or [`Suite::run`].
#[derive(Debug, Clone, Default)]
pub struct Suite {
    name: String,
    results: Vec<CheckResult>,
}

impl Suite {
    /// An empty suite.
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            results: Vec::new(),
        }
    }

    /// Record a result.
    pub fn push(&mut self, result: CheckResult) -> &CheckResult {
        self.results.push(result);
        &self.results[self.results.len() - 1]
    }

    /// Record several results.
    pub fn extend(&mut self, results: impl IntoIterator<Item = CheckResult>) {
        self.results.extend(results);
    }

    /// Run a check, timing it; an `Err` becomes an `Error` result named `name` in `category`.
    pub fn run<F>(&mut self, name: &str, category: &str, f: F) -> &CheckResult
    where
        F: FnOnce() -> Result<CheckResult>,
    {
        let start = Instant::now();
        let mut r = match f() {
            Ok(r) => r,
            Err(e) => CheckResult::error(name, category, e.to_string()),
        };
        r.duration_ms = start.elapsed().as_secs_f64() * 1e3;
        self.push(r)
    }

    /// The results so far.
    #[must_use]
    pub fn results(&self) -> &[CheckResult] {
        &self.results
    }

    /// Freeze into a report stamped with the current time.
    #[must_use]
    pub fn report(&self) -> SuiteReport {
        SuiteReport::new(
            self.name.clone(),
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            self.results.clone(),
        )
    }
}

/// A finished suite: counts and every result. `Display` draws the text report; serde gives the
/// JSON report; [`SuiteReport::to_junit_xml`] the JUnit one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteReport {
    /// Suite name.
    pub name: String,
    /// When the report was made (RFC 3339, UTC).
    pub timestamp: String,
    /// Number of checks.
    pub total: usize,
    /// Checks that passed.
    pub passed: usize,
    /// Checks that failed.
    pub failed: usize,
    /// Checks that could not be evaluated.
    pub errors: usize,
    /// Every result, in order.
    pub results: Vec<CheckResult>,
}

impl SuiteReport {
    /// Build a report from results.
    #[must_use]
    pub fn new(name: String, timestamp: String, results: Vec<CheckResult>) -> Self {
        let count = |s| results.iter().filter(|r| r.status == s).count();
        Self {
            total: results.len(),
            passed: count(CheckStatus::Passed),
            failed: count(CheckStatus::Failed),
            errors: count(CheckStatus::Error),
            name,
            timestamp,
            results,
        }
    }

    /// Whether every check passed.
    #[must_use]
    pub fn all_passed(&self) -> bool {
        self.failed == 0 && self.errors == 0
    }

    /// The checks that did not pass.
    pub fn not_passed(&self) -> impl Iterator<Item = &CheckResult> {
        self.results.iter().filter(|r| !r.is_passed())
    }

    /// Process exit code: 0 when every check passed, 2 when any check could not be evaluated,
    /// otherwise 1 (some check failed).
    #[must_use]
    pub fn exit_code(&self) -> i32 {
        if self.errors > 0 {
            2
        } else if self.failed > 0 {
            1
        } else {
            0
        }
    }

    /// Panic, listing every check that did not pass, unless all passed. For `cargo test`.
    ///
    /// # Panics
    /// When a check failed or errored.
    #[track_caller]
    pub fn assert_passed(&self) {
        if self.all_passed() {
            return;
        }
        let mut msg = format!(
            "suite {}: {} of {} checks did not pass ({} failed, {} errors):",
            self.name,
            self.failed + self.errors,
            self.total,
            self.failed,
            self.errors
        );
        for r in self.not_passed() {
            let _ = write!(msg, "\n  [{}] {}: {}", r.status, r.name, r.message);
        }
        panic!("{msg}");
    }

    /// The JSON report.
    ///
    /// # Errors
    /// Never in practice; serialization errors are reported as [`TestingError::InvalidArgument`].
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self)
            .map_err(|e| TestingError::invalid("report", e.to_string()))
    }

    /// JUnit XML as GitHub Actions and GitLab read it: one `<testsuite>` in a `<testsuites>`,
    /// one `<testcase>` per check (`classname` = `suite.category`), a `<failure>` for a check
    /// that ran and failed, an `<error>` for one that could not be evaluated, and the result's
    /// details in `<system-out>`.
    ///
    /// Every `time` is in seconds with three decimals (`1.235`), as the JUnit schema Jenkins and
    /// GitLab validate against (`junit-10.xsd`) requires; a duration that is not a finite,
    /// non-negative number counts as zero.
    #[must_use]
    pub fn to_junit_xml(&self) -> String {
        // A fold from +0.0, not `sum()`, which starts from -0.0 and would print `-0.000`.
        let total_s = self
            .results
            .iter()
            .fold(0.0, |acc, r| acc + junit_ms(r.duration_ms))
            / 1e3;
        let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            x,
            "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{:.3}\">",
            xml_escape(&self.name),
            self.total,
            self.failed,
            self.errors,
            total_s
        );
        let _ = writeln!(
            x,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\" time=\"{:.3}\" timestamp=\"{}\">",
            xml_escape(&self.name),
            self.total,
            self.failed,
            self.errors,
            total_s,
            xml_escape(&self.timestamp)
        );
        for r in &self.results {
            let _ = write!(
                x,
                "    <testcase name=\"{}\" classname=\"{}.{}\" time=\"{:.3}\"",
                xml_escape(&r.name),
                xml_escape(&self.name),
                xml_escape(&r.category),
                junit_ms(r.duration_ms) / 1e3
            );
            let body = match r.status {
                CheckStatus::Passed => None,
                CheckStatus::Failed => Some("failure"),
                CheckStatus::Error => Some("error"),
            };
            let details = if r.details.is_null() {
                String::new()
            } else {
                serde_json::to_string_pretty(&r.details).unwrap_or_default()
            };
            if body.is_none() && details.is_empty() {
                x.push_str("/>\n");
                continue;
            }
            x.push_str(">\n");
            if let Some(tag) = body {
                let kind = if tag == "failure" {
                    r.metric.as_deref().unwrap_or("check")
                } else {
                    "error"
                };
                let _ = writeln!(
                    x,
                    "      <{tag} message=\"{}\" type=\"{}\">{}</{tag}>",
                    xml_escape(&r.message),
                    xml_escape(kind),
                    xml_escape(&r.message)
                );
            }
            if !details.is_empty() {
                let _ = writeln!(
                    x,
                    "      <system-out>{}</system-out>",
                    xml_escape_text(&details)
                );
            }
            x.push_str("    </testcase>\n");
        }
        x.push_str("  </testsuite>\n</testsuites>\n");
        x
    }

    /// Write the JSON report atomically (temp file, fsync, rename), creating parent directories.
    ///
    /// # Errors
    /// [`TestingError::Io`] naming the file.
    pub fn write_json(&self, path: &Path) -> Result<()> {
        write_file(path, self.to_json()?.as_bytes())
    }

    /// Write the JUnit XML report atomically, creating parent directories.
    ///
    /// # Errors
    /// [`TestingError::Io`] naming the file.
    pub fn write_junit(&self, path: &Path) -> Result<()> {
        write_file(path, self.to_junit_xml().as_bytes())
    }
}

pub(crate) fn write_file(path: &Path, data: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|source| TestingError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    fsutil::write_atomic(path, data, true).map_err(|source| TestingError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// A duration for the JUnit report: NaN, infinite and negative durations count as zero.
fn junit_ms(ms: f64) -> f64 {
    if ms.is_finite() && ms > 0.0 { ms } else { 0.0 }
}

/// Escape element content: as [`xml_escape`], but line breaks stay literal.
fn xml_escape_text(s: &str) -> String {
    s.split('\n').map(xml_escape).collect::<Vec<_>>().join("\n")
}

/// Escape text for XML attributes and content; characters XML 1.0 forbids become U+FFFD.
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' | '\r' => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

impl fmt::Display for SuiteReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rule = "=".repeat(60);
        writeln!(f, "{rule}")?;
        writeln!(f, "ML test report: {}", self.name)?;
        writeln!(f, "{rule}")?;
        writeln!(
            f,
            "Total: {} | Passed: {} | Failed: {} | Errors: {}",
            self.total, self.passed, self.failed, self.errors
        )?;
        writeln!(f, "{}", "-".repeat(60))?;
        for r in &self.results {
            let icon = match r.status {
                CheckStatus::Passed => "[+]",
                CheckStatus::Failed => "[-]",
                CheckStatus::Error => "[!]",
            };
            writeln!(f, "{icon} [{}] {}", r.status, r.name)?;
            writeln!(f, "      {}", r.message)?;
        }
        writeln!(f, "{rule}")?;
        write!(
            f,
            "Result: {}",
            if self.all_passed() {
                "ALL PASSED"
            } else if self.errors > 0 {
                "HAS ERRORS"
            } else {
                "HAS FAILURES"
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{Threshold, threshold_check};

    fn sample() -> SuiteReport {
        let mut s = Suite::new("ci <ml> & \"co\"");
        s.push(threshold_check(
            "acc",
            "model",
            "accuracy",
            0.9,
            Threshold::at_least(0.8),
        ));
        s.push(threshold_check(
            "p95",
            "latency",
            "p95_ms",
            150.0,
            Threshold::at_most(100.0),
        ));
        s.run("schema", "data", || {
            Err(TestingError::NotFound {
                kind: crate::EntityKind::Column,
                id: "label\u{1}".into(),
            })
        });
        s.report()
    }

    #[test]
    fn counts_and_exit_code() {
        let r = sample();
        assert_eq!((r.total, r.passed, r.failed, r.errors), (3, 1, 1, 1));
        assert_eq!(r.exit_code(), 2);
        let text = r.to_string();
        assert!(text.contains("[-] [FAIL] p95"), "{text}");
        assert!(text.contains("[!] [ERROR] schema"), "{text}");
        assert!(text.ends_with("Result: HAS ERRORS"), "{text}");
        let only_fail = SuiteReport::new("s".into(), "t".into(), r.results[..2].to_vec());
        assert_eq!(only_fail.exit_code(), 1);
        let ok = SuiteReport::new("s".into(), "t".into(), r.results[..1].to_vec());
        assert_eq!(ok.exit_code(), 0);
        ok.assert_passed();
    }

    #[test]
    fn assertion_lists_every_failed_check() {
        let r = sample();
        let err = std::panic::catch_unwind(|| r.assert_passed()).unwrap_err();
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(msg.contains("2 of 3 checks did not pass"), "{msg}");
        assert!(
            msg.contains("[FAIL] p95") && msg.contains("[ERROR] schema"),
            "{msg}"
        );
        assert!(!msg.contains("acc:"), "{msg}");
    }

    #[test]
    fn junit_uses_failure_and_error_and_escapes() {
        let x = sample().to_junit_xml();
        assert!(x.contains("tests=\"3\" failures=\"1\" errors=\"1\""), "{x}");
        assert!(x.contains("<failure message="), "{x}");
        assert!(x.contains("<error message="), "{x}");
        assert!(x.contains("ci &lt;ml&gt; &amp; &quot;co&quot;"), "{x}");
        assert!(!x.contains('\u{1}'));
        // Exactly one failure and one error element.
        assert_eq!(x.matches("<failure ").count(), 1);
        assert_eq!(x.matches("<error ").count(), 1);
    }

    /// Parse the JUnit output with a real XML parser and check its structure.
    #[test]
    #[allow(deprecated)] // `unescape_value` is the simplest attribute reader for this check
    fn junit_is_well_formed_xml() {
        use quick_xml::events::{BytesStart, Event};
        let attr = |e: &BytesStart<'_>, k: &str| {
            e.try_get_attribute(k)
                .unwrap()
                .map(|a| a.unescape_value().unwrap().into_owned())
        };
        let x = sample().to_junit_xml();
        let mut reader = quick_xml::Reader::from_str(&x);
        let (mut cases, mut failures, mut errors) = (0, 0, 0);
        let mut suite = None;
        loop {
            match reader.read_event().expect("well-formed XML") {
                Event::Start(e) | Event::Empty(e) => match e.name().into_inner() {
                    "testcase" => {
                        cases += 1;
                        let class = attr(&e, "classname").expect("classname");
                        assert!(class.starts_with("ci <ml> & \"co\"."), "{class}");
                    }
                    "failure" => failures += 1,
                    "error" => errors += 1,
                    "testsuite" => {
                        suite = Some((attr(&e, "tests"), attr(&e, "failures"), attr(&e, "errors")));
                    }
                    _ => {}
                },
                Event::Eof => break,
                _ => {}
            }
        }
        assert_eq!(cases, 3);
        assert_eq!((failures, errors), (1, 1), "{x}");
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(suite, Some((some("3"), some("1"), some("1"))));
    }

    #[test]
    fn json_roundtrips_and_files_are_written() {
        let r = sample();
        let back: SuiteReport = serde_json::from_str(&r.to_json().unwrap()).unwrap();
        assert_eq!(back, r);
        let dir = tempfile::tempdir().unwrap();
        let j = dir.path().join("out/report.json");
        let x = dir.path().join("out/junit.xml");
        r.write_json(&j).unwrap();
        r.write_junit(&x).unwrap();
        assert!(std::fs::read_to_string(&x).unwrap().starts_with("<?xml"));
        let parsed: SuiteReport =
            serde_json::from_str(&std::fs::read_to_string(&j).unwrap()).unwrap();
        assert_eq!(parsed.total, 3);
    }
}
