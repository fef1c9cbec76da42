//! Self-contained HTML reports (feature `html`): one file each, inline SVG charts and CSS, no
//! script, no network; everything that comes from data is escaped, and the same input gives
//! the same bytes.
//!
//! - [`DriftReport::to_html`](crate::DriftReport::to_html): data drift, Evidently-style. The
//!   charts come from a [`DriftProfile`], the binned distributions of both datasets (at most
//!   [`MAX_BINS`] bins or [`MAX_CATEGORIES`] categories per column, never the rows: a report on
//!   a million rows stays small).
//! - [`SuiteReport::to_html`](crate::SuiteReport::to_html): the test suite / quality gate.
//!
//! ```
//! use mlops_testing::html::DriftProfile;
//! use mlops_testing::{Column, Dataset, DriftOptions, drift_report};
//!
//! let reference = Dataset::new().with_column("age", Column::Numeric((0..200).map(f64::from).collect()))?;
//! let current = Dataset::new().with_column("age", Column::Numeric((50..250).map(f64::from).collect()))?;
//! let report = drift_report(&reference, &current, &DriftOptions::default())?;
//! let html = report.to_html("Drift: new batch", &DriftProfile::new(&reference, &current));
//! assert!(html.contains("<svg class=\"chart\""));
//! # Ok::<(), mlops_testing::TestingError>(())
//! ```

mod drift;
mod suite;

pub use self::drift::{Bins, ColumnProfile, DriftProfile, MAX_BINS, MAX_CATEGORIES};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{CheckResult, Threshold, threshold_check};
    use crate::drift::{Column, Dataset, DriftOptions, drift_report};
    use crate::latency::LatencyStats;
    use crate::regression::{MetricSpec, Tolerance, compare_to_baseline};
    use crate::stats::QuantileMethod;
    use crate::suite::Suite;

    const EVIL: &str = "<script>alert(1)</script>";

    fn datasets(n: usize) -> (Dataset, Dataset) {
        #[allow(clippy::cast_precision_loss)]
        let num = |shift: f64| {
            Column::Numeric(
                (0..n)
                    .map(|i| ((i * 7919) % 1000) as f64 / 10.0 + shift)
                    .chain([f64::NAN])
                    .collect(),
            )
        };
        let cat = |k: usize| {
            Column::Categorical(
                (0..n)
                    .map(|i| Some(format!("{EVIL}{}", (i * k) % 17)))
                    .chain([None, None])
                    .collect(),
            )
        };
        let r = Dataset::new()
            .with_column(EVIL, num(0.0))
            .unwrap()
            .with_column("plan", cat(1))
            .unwrap();
        let c = Dataset::new()
            .with_column(EVIL, num(15.0))
            .unwrap()
            .with_column("plan", cat(3))
            .unwrap();
        (r, c)
    }

    #[test]
    fn drift_report_escapes_data_and_is_deterministic() {
        let (r, c) = datasets(500);
        let report = drift_report(&r, &c, &DriftOptions::default()).unwrap();
        let profile = DriftProfile::new(&r, &c);
        let html = report.to_html(EVIL, &profile);
        assert!(!html.contains(EVIL), "unescaped data");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert_eq!(html, report.to_html(EVIL, &DriftProfile::new(&r, &c)));
        // A histogram and a bar chart, each with a title; the missing counts are shown.
        assert_eq!(html.matches("<svg class=\"chart\"").count(), 2);
        assert!(html.contains("1 / 1"), "numeric missing counts");
        assert!(html.contains("2 / 2"), "categorical missing counts");
        // 17 categories: the 11 most frequent and "other".
        let plan = profile.column("plan").unwrap();
        let Bins::Categorical {
            labels,
            other_categories,
            reference,
            ..
        } = &plan.bins
        else {
            panic!("categorical bins expected")
        };
        assert_eq!(labels.len(), MAX_CATEGORIES);
        assert_eq!(*other_categories, 17 - (MAX_CATEGORIES - 1));
        assert_eq!(reference.iter().sum::<u64>(), 500);
        let Bins::Numeric {
            edges,
            reference,
            current,
        } = &profile.column(EVIL).unwrap().bins
        else {
            panic!("numeric bins expected")
        };
        assert_eq!(edges.len(), reference.len() + 1);
        assert_eq!(reference.iter().sum::<u64>(), 500);
        assert_eq!(current.iter().sum::<u64>(), 500);
    }

    #[test]
    fn a_million_rows_make_a_small_report() {
        let (r, c) = datasets(1_000_000);
        let report = drift_report(&r, &c, &DriftOptions::default()).unwrap();
        let html = report.to_html("big", &DriftProfile::new(&r, &c));
        assert!(html.len() < 200_000, "{} bytes", html.len());
    }

    #[test]
    fn constant_and_empty_columns_still_render() {
        let r = Dataset::new()
            .with_column("k", Column::Numeric(vec![3.0; 50]))
            .unwrap();
        let c = Dataset::new()
            .with_column("k", Column::Numeric(vec![3.0; 40]))
            .unwrap();
        let report = drift_report(&r, &c, &DriftOptions::default()).unwrap();
        let profile = DriftProfile::new(&r, &c);
        let html = report.to_html("constant", &profile);
        assert!(!html.contains("no chart"), "constant column drew nothing");
        let e = DriftProfile::new(&Dataset::new(), &Dataset::new());
        assert!(e.columns.is_empty());
    }

    fn suite() -> crate::SuiteReport {
        let mut s = Suite::new(EVIL);
        s.push(threshold_check(
            EVIL,
            EVIL,
            EVIL,
            0.9,
            Threshold::at_least(0.8),
        ));
        let stats = LatencyStats::from_samples(&[1.0, 2.0, 3.0, 4.0, 50.0], QuantileMethod::Linear)
            .unwrap();
        s.push(stats.check("p95 latency", "p95", 10.0));
        let baseline = [("auc".to_owned(), 0.9), (EVIL.to_owned(), 0.2)].into();
        let current = [("auc".to_owned(), 0.8), (EVIL.to_owned(), 0.1)].into();
        let reg = compare_to_baseline(
            &baseline,
            &current,
            &[
                MetricSpec::maximize("auc", Tolerance::Absolute(0.01)),
                MetricSpec::minimize(EVIL, Tolerance::Relative(0.1)),
            ],
        )
        .unwrap();
        s.push(reg.to_check("vs production"));
        s.push(CheckResult::error("schema", "data", EVIL));
        // Reports carry their timestamp; fix it so the bytes compare.
        let mut r = s.report();
        r.timestamp = "2026-01-01T00:00:00Z".into();
        r
    }

    #[test]
    fn one_slow_outlier_does_not_flatten_the_latency_chart() {
        let mut samples = vec![1.0; 199];
        samples.push(400.0);
        let stats = LatencyStats::from_samples(&samples, QuantileMethod::Linear).unwrap();
        let mut s = Suite::new("lat");
        s.push(stats.check("p95", "p95", 10.0));
        let html = s.report().to_html();
        assert!(
            html.contains("the maximum (400 ms) is off the chart"),
            "{html}"
        );
        assert!(
            html.contains("the limit (10 ms) is far above every value"),
            "{html}"
        );
        assert!(
            html.contains("<td class=\"num\">400 ms</td>"),
            "max stays in the table"
        );
    }

    #[test]
    fn suite_report_shows_thresholds_latency_and_regressions() {
        let r = suite();
        let html = r.to_html();
        assert!(!html.contains(EVIL), "unescaped data");
        assert_eq!(html, suite().to_html());
        assert!(html.contains("≥ 0.8"), "threshold with its direction");
        assert!(html.contains("↑ higher is better") && html.contains("↓ lower is better"));
        assert!(html.contains("regressed"));
        assert!(html.contains("p95 limit 10 ms"), "latency limit line");
        assert_eq!(html.matches("<svg class=\"chart\"").count(), 1);
        assert!(html.contains("has errors"));
        if let Ok(dir) = std::env::var("DUMP_HTML") {
            std::fs::write(format!("{dir}/suite.html"), &html).unwrap();
            let (r, c) = datasets(5000);
            let report = drift_report(&r, &c, &DriftOptions::default()).unwrap();
            std::fs::write(
                format!("{dir}/drift.html"),
                report.to_html("drift", &DriftProfile::new(&r, &c)),
            )
            .unwrap();
        }
    }
}
