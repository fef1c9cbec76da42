//! Drift reports, dataset drift share, overrides, and bad input across the crate.

use mlops_testing::{
    Column, Dataset, DriftOptions, TestingError, drift::ColumnDriftOptions, drift::DriftMethod,
    drift::column_drift, drift_report, stats::KsMethod, stats::chi2_contingency, stats::chisquare,
    stats::jensenshannon, stats::jensenshannon_base, stats::ks_2samp, stats::proportions_ztest,
    stats::psi, stats::wasserstein_distance,
};
use proptest::prelude::*;

fn ramp(n: usize, shift: f64) -> Vec<f64> {
    #[allow(clippy::cast_precision_loss)]
    (0..n).map(|i| (i % 97) as f64 + shift).collect()
}

fn cats(n: usize, offset: usize) -> Vec<Option<String>> {
    (0..n)
        .map(|i| Some(["a", "b", "c"][(i + offset) % 3].to_owned()))
        .collect()
}

fn datasets(shift: f64) -> (Dataset, Dataset) {
    let reference = Dataset::new()
        .with_column("x", Column::Numeric(ramp(500, 0.0)))
        .unwrap()
        .with_column("y", Column::Numeric(ramp(500, 0.0)))
        .unwrap()
        .with_column("city", Column::Categorical(cats(500, 0)))
        .unwrap();
    let current = Dataset::new()
        .with_column("x", Column::Numeric(ramp(400, shift)))
        .unwrap()
        .with_column("y", Column::Numeric(ramp(400, 0.0)))
        .unwrap()
        .with_column("city", Column::Categorical(cats(400, 0)))
        .unwrap();
    (reference, current)
}

#[test]
fn shifted_column_drifts_and_share_decides_the_dataset() {
    let (r, c) = datasets(30.0);
    let report = drift_report(&r, &c, &DriftOptions::default()).unwrap();
    let by = |n: &str| report.columns.iter().find(|c| c.column == n).unwrap();
    assert_eq!(by("x").method, DriftMethod::Ks);
    assert!(by("x").drift_detected);
    assert!(!by("y").drift_detected);
    assert_eq!(by("city").method, DriftMethod::ChiSquare);
    assert!(!by("city").drift_detected);
    assert_eq!(report.drifted_columns, 1);
    assert!(!report.dataset_drift, "1 of 3 < 0.5");
    let strict = DriftOptions::default().with_drift_share(0.3);
    assert!(drift_report(&r, &c, &strict).unwrap().dataset_drift);
    let text = report.to_string();
    assert!(
        text.contains("DRIFT") && text.contains("dataset drift: no"),
        "{text}"
    );
}

#[test]
fn per_column_overrides_of_method_and_threshold() {
    let (r, c) = datasets(1.0);
    let opts = DriftOptions::default()
        .with_column(
            "x",
            ColumnDriftOptions::method(DriftMethod::Psi).with_threshold(0.0001),
        )
        .with_column(
            "city",
            ColumnDriftOptions::method(DriftMethod::JensenShannon),
        );
    let report = drift_report(&r, &c, &opts).unwrap();
    assert_eq!(report.columns[0].method, DriftMethod::Psi);
    assert_eq!(report.columns[0].threshold, 0.0001);
    assert!(report.columns[0].drift_detected);
    assert_eq!(report.columns[2].method, DriftMethod::JensenShannon);
    assert_eq!(report.columns[2].threshold, 0.1);
}

#[test]
fn nan_and_infinities_are_dropped_and_counted() {
    let mut a = ramp(300, 0.0);
    a.extend([f64::NAN, f64::INFINITY, f64::NEG_INFINITY]);
    let mut b = ramp(300, 0.0);
    b.push(f64::NAN);
    let r = ks_2samp(&a, &b, KsMethod::Auto).unwrap();
    assert_eq!((r.dropped_first, r.dropped_second), (3, 1));
    let clean = ks_2samp(&ramp(300, 0.0), &ramp(300, 0.0), KsMethod::Auto).unwrap();
    assert_eq!(r.p_value, clean.p_value);
    let refd = Dataset::new().with_column("x", Column::Numeric(a)).unwrap();
    let curd = Dataset::new().with_column("x", Column::Numeric(b)).unwrap();
    let rep = drift_report(&refd, &curd, &DriftOptions::default()).unwrap();
    assert_eq!(rep.columns[0].reference_dropped, 3);
    assert_eq!(rep.columns[0].current_dropped, 1);
    assert_eq!(rep.columns[0].reference_count, 300);
    let mut c = cats(10, 0);
    c[0] = None;
    let rc = Dataset::new()
        .with_column("c", Column::Categorical(c))
        .unwrap();
    let rep = drift_report(&rc, &rc, &DriftOptions::default()).unwrap();
    assert_eq!(rep.columns[0].reference_dropped, 1);
}

#[test]
fn empty_and_all_nan_samples_are_errors() {
    assert!(ks_2samp(&[], &[1.0], KsMethod::Auto).is_err());
    let e = ks_2samp(&[f64::NAN, f64::NAN], &[1.0], KsMethod::Auto).unwrap_err();
    assert!(e.to_string().contains("2 dropped"), "{e}");
    assert!(wasserstein_distance(&[1.0], &[]).is_err());
    assert!(psi(&[], &[1.0]).is_err());
    let r = Dataset::new()
        .with_column("x", Column::Numeric(vec![]))
        .unwrap();
    let c = Dataset::new()
        .with_column("x", Column::Numeric(vec![1.0]))
        .unwrap();
    assert!(drift_report(&r, &c, &DriftOptions::default()).is_err());
}

#[test]
fn unknown_and_mismatched_columns() {
    let (r, c) = datasets(0.0);
    let opts = DriftOptions::default().with_column("nope", ColumnDriftOptions::default());
    assert!(matches!(
        drift_report(&r, &c, &opts),
        Err(TestingError::NotFound { .. })
    ));
    let only_x = Dataset::new()
        .with_column("x", Column::Numeric(vec![1.0]))
        .unwrap();
    assert!(matches!(
        drift_report(&r, &only_x, &DriftOptions::default()),
        Err(TestingError::NotFound { .. })
    ));
    let cat_x = Dataset::new()
        .with_column("x", Column::Categorical(cats(5, 0)))
        .unwrap();
    assert!(drift_report(&only_x, &cat_x, &DriftOptions::default()).is_err());
    // KS and Wasserstein need numbers.
    let opts =
        DriftOptions::default().with_column("city", ColumnDriftOptions::method(DriftMethod::Ks));
    assert!(drift_report(&r, &c, &opts).is_err());
    assert!(
        Dataset::new()
            .with_column("x", Column::Numeric(vec![]))
            .unwrap()
            .with_column("x", Column::Numeric(vec![]))
            .is_err()
    );
}

#[test]
fn thresholds_out_of_range() {
    let (r, c) = datasets(0.0);
    for bad in [1.5, -0.1, f64::NAN] {
        let opts = DriftOptions::default().with_column(
            "x",
            ColumnDriftOptions::method(DriftMethod::Ks).with_threshold(bad),
        );
        assert!(drift_report(&r, &c, &opts).is_err(), "threshold {bad}");
    }
    for share in [0.0, 1.5, f64::NAN] {
        let opts = DriftOptions::default().with_drift_share(share);
        assert!(drift_report(&r, &c, &opts).is_err(), "share {share}");
    }
}

#[test]
fn bad_test_inputs() {
    assert!(chi2_contingency(&[], true).is_err());
    assert!(chi2_contingency(&[vec![1.0, 2.0], vec![1.0]], true).is_err());
    assert!(chi2_contingency(&[vec![1.0, -2.0], vec![1.0, 1.0]], true).is_err());
    assert!(chi2_contingency(&[vec![0.0, 0.0], vec![1.0, 1.0]], true).is_err());
    assert!(chisquare(&[1.0], &[1.0]).is_err());
    assert!(chisquare(&[1.0, 2.0], &[1.0]).is_err());
    assert!(chisquare(&[1.0, 2.0], &[1.0, 5.0]).is_err(), "sums differ");
    assert!(proportions_ztest(1, 0, 1, 2).is_err());
    assert!(proportions_ztest(3, 2, 1, 2).is_err());
    assert_eq!(proportions_ztest(0, 5, 0, 7).unwrap().p_value, 1.0);
    assert!(jensenshannon(&[1.0], &[1.0, 2.0]).is_err());
    assert!(jensenshannon(&[0.0, 0.0], &[1.0, 2.0]).is_err());
    assert!(jensenshannon(&[f64::NAN, 0.0], &[1.0, 2.0]).is_err());
    for base in [1.0, 0.0, -2.0, f64::NAN, f64::INFINITY] {
        let err = jensenshannon_base(&[1.0, 0.0], &[0.5, 0.5], base).unwrap_err();
        assert!(err.to_string().contains("base"), "{err}");
    }
}

/// The z of the two-proportion drift test is current - reference, scipy's sign convention
/// (positive when the first category's share grew); the p-value does not depend on it.
#[test]
fn ztest_drift_statistic_is_current_minus_reference() {
    let labels = |a: usize, n: usize| {
        Column::Categorical(
            (0..n)
                .map(|i| Some(if i < a { "a" } else { "b" }.to_owned()))
                .collect(),
        )
    };
    let (reference, current) = (labels(30, 100), labels(60, 100));
    let opts = ColumnDriftOptions::method(DriftMethod::ZTest);
    let grew = column_drift("c", &reference, &current, opts).unwrap();
    let z = grew.statistic.unwrap();
    let direct = proportions_ztest(60, 100, 30, 100).unwrap();
    assert!(z > 0.0, "share of `a` grew from 0.3 to 0.6, z = {z}");
    assert_eq!(z, direct.statistic);
    let shrank = column_drift("c", &current, &reference, opts).unwrap();
    assert_eq!(shrank.statistic.unwrap(), -z);
    assert_eq!(shrank.score, grew.score);
    // KS reports where D is attained and which CDF is above, as scipy does.
    let r = ks_2samp(&[4.0, 5.0, 6.0], &[1.0, 2.0, 3.0], KsMethod::Auto).unwrap();
    assert_eq!(
        (r.statistic, r.statistic_location, r.statistic_sign),
        (1.0, 3.0, -1)
    );
}

#[test]
fn single_value_columns_do_not_give_nan() {
    let r = Dataset::new()
        .with_column("k", Column::Numeric(vec![1.0; 50]))
        .unwrap()
        .with_column("c", Column::Categorical(vec![Some("a".into()); 50]))
        .unwrap();
    let rep = drift_report(&r, &r, &DriftOptions::default()).unwrap();
    for c in &rep.columns {
        assert_eq!(c.method, DriftMethod::ZTest);
        assert_eq!(c.score, 1.0);
        assert!(!c.drift_detected);
    }
    for m in [
        DriftMethod::Psi,
        DriftMethod::JensenShannon,
        DriftMethod::Wasserstein,
        DriftMethod::Ks,
    ] {
        let opts = DriftOptions::default().with_column("k", ColumnDriftOptions::method(m));
        let rep = drift_report(&r, &r, &opts).unwrap();
        assert!(rep.columns[0].score.is_finite(), "{m}");
        assert!(!rep.columns[0].drift_detected, "{m}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn ks_and_distances_are_well_formed(
        a in proptest::collection::vec(-100.0f64..100.0, 1..80),
        b in proptest::collection::vec(-100.0f64..100.0, 1..80),
    ) {
        let r = ks_2samp(&a, &b, KsMethod::Auto).unwrap();
        prop_assert!((0.0..=1.0).contains(&r.statistic));
        prop_assert!((0.0..=1.0).contains(&r.p_value));
        let same = ks_2samp(&a, &a, KsMethod::Auto).unwrap();
        prop_assert_eq!(same.statistic, 0.0);
        prop_assert_eq!(same.p_value, 1.0);
        let w = wasserstein_distance(&a, &b).unwrap();
        let w2 = wasserstein_distance(&b, &a).unwrap();
        prop_assert!(w >= 0.0 && (w - w2).abs() <= 1e-9 * w.max(1.0));
        prop_assert!(psi(&a, &b).unwrap() >= 0.0);
        let asym = ks_2samp(&a, &b, KsMethod::Asymptotic).unwrap();
        prop_assert!((0.0..=1.0).contains(&asym.p_value));
        // The exact method rounds D to the lattice h / lcm(n, m), as scipy does.
        prop_assert!((asym.statistic - r.statistic).abs() < 1e-12);
    }
}

/// Large reports run columns on several threads; the result must equal column-by-column runs.
#[test]
fn parallel_report_equals_column_by_column() {
    let (mut r, mut c) = (Dataset::new(), Dataset::new());
    for k in 0..3 {
        #[allow(clippy::cast_precision_loss)]
        let shift = k as f64 * 3.0;
        r.insert(format!("n{k}"), Column::Numeric(ramp(40_000, 0.0)))
            .unwrap();
        c.insert(format!("n{k}"), Column::Numeric(ramp(40_000, shift)))
            .unwrap();
    }
    r.insert("c", Column::Categorical(cats(40_000, 0))).unwrap();
    c.insert("c", Column::Categorical(cats(40_000, 1))).unwrap();
    let report = drift_report(&r, &c, &DriftOptions::default()).unwrap();
    for (col, (name, rc)) in report.columns.iter().zip(r.iter()) {
        let one = column_drift(
            name,
            rc,
            c.get(name).unwrap(),
            ColumnDriftOptions::default(),
        )
        .unwrap();
        assert_eq!(col, &one);
    }
    assert_eq!(report.columns[0].method, DriftMethod::Wasserstein);
    assert_eq!(report.columns[3].method, DriftMethod::JensenShannon);
    assert_eq!(report.drifted_columns, 2);
}
