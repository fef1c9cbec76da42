//! Numbers against scipy, numpy, scikit-learn and Evidently.
//!
//! `tests/data/reference.json` is produced by `tools/gen_reference.py` (versions recorded in the
//! file). Statistics must agree within 1e-9 relative, p-values within 1e-6 absolute.

use mlops_testing::{
    Column, drift::ColumnDriftOptions, drift::DriftMethod, drift::column_drift, stats::KsMethod,
    stats::QuantileMethod, stats::chi2_contingency, stats::chisquare, stats::jensenshannon,
    stats::jensenshannon_base, stats::ks_2samp, stats::proportions_ztest, stats::quantile_sorted,
    stats::sorted_finite, stats::wasserstein_distance,
};
use serde_json::Value;

fn reference() -> Value {
    let text = include_str!("data/reference.json");
    serde_json::from_str(text).expect("reference.json parses")
}

/// The generator of `gen_reference.py`: Knuth's MMIX LCG, top 53 bits.
fn lcg_uniform(seed: u64, n: usize) -> Vec<f64> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            #[allow(clippy::cast_precision_loss)]
            let v = (state >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0);
            v
        })
        .collect()
}

fn lcg_sample(spec: &Value) -> Vec<f64> {
    let n = usize::try_from(spec["n"].as_u64().unwrap()).unwrap();
    let u = lcg_uniform(spec["seed"].as_u64().unwrap(), 3 * n);
    let shift = spec["shift"].as_f64().unwrap();
    let scale = spec["scale"].as_f64().unwrap();
    let quant = spec["quant"].as_f64().unwrap_or(0.0);
    (0..n)
        .map(|i| {
            let mut v = u[3 * i] + u[3 * i + 1] + u[3 * i + 2];
            if quant != 0.0 {
                v = (v * quant).floor() / quant;
            }
            shift + scale * v
        })
        .collect()
}

fn sample(case: &Value, key: &str) -> Vec<f64> {
    if let Some(spec) = case.get(format!("{key}_gen")) {
        lcg_sample(spec)
    } else {
        floats(&case[key])
    }
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[track_caller]
fn assert_rel(actual: f64, expected: f64, what: &str) {
    let tol = 1e-9 * expected.abs().max(1e-300);
    assert!(
        (actual - expected).abs() <= tol || actual == expected,
        "{what}: got {actual:e}, scipy {expected:e}"
    );
}

#[track_caller]
fn assert_p(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= 1e-6,
        "{what}: p-value {actual:e}, reference {expected:e}"
    );
}

#[test]
fn versions_are_recorded() {
    let r = reference();
    for k in ["numpy", "scipy", "scikit-learn", "evidently"] {
        assert!(r["versions"][k].is_string(), "{k} version missing");
    }
}

#[test]
fn ks_2samp_matches_scipy_auto() {
    let r = reference();
    let cases = r["ks_2samp"].as_array().unwrap();
    assert!(cases.len() >= 16);
    for (i, case) in cases.iter().enumerate() {
        let (a, b) = (sample(case, "a"), sample(case, "b"));
        let got = ks_2samp(&a, &b, KsMethod::Auto).unwrap();
        let what = format!("ks case {i} ({} vs {})", a.len(), b.len());
        assert_rel(got.statistic, case["statistic"].as_f64().unwrap(), &what);
        assert_p(got.p_value, case["pvalue"].as_f64().unwrap(), &what);
        // scipy's statistic_location is one of the data values: it must be that very value.
        assert_eq!(
            got.statistic_location,
            case["statistic_location"].as_f64().unwrap(),
            "{what}: statistic_location"
        );
        assert_eq!(
            i64::from(got.statistic_sign),
            case["statistic_sign"].as_i64().unwrap(),
            "{what}: statistic_sign"
        );
        let expect_exact = a.len().max(b.len()) <= 10_000;
        assert_eq!(got.method == KsMethod::Exact, expect_exact, "{what}");
    }
}

#[test]
fn chi2_contingency_matches_scipy() {
    let r = reference();
    for case in r["chi2_contingency"].as_array().unwrap() {
        let table: Vec<Vec<f64>> = case["table"]
            .as_array()
            .unwrap()
            .iter()
            .map(floats)
            .collect();
        let corr = case["correction"].as_bool().unwrap();
        let got = chi2_contingency(&table, corr).unwrap();
        let what = format!("chi2_contingency {table:?} correction={corr}");
        assert_rel(got.statistic, case["statistic"].as_f64().unwrap(), &what);
        assert_p(got.p_value, case["pvalue"].as_f64().unwrap(), &what);
        assert_eq!(got.dof as u64, case["dof"].as_u64().unwrap(), "{what}");
    }
}

#[test]
fn chisquare_matches_scipy() {
    let r = reference();
    for case in r["chisquare"].as_array().unwrap() {
        let got = chisquare(&floats(&case["observed"]), &floats(&case["expected"])).unwrap();
        assert_rel(
            got.statistic,
            case["statistic"].as_f64().unwrap(),
            "chisquare",
        );
        assert_p(got.p_value, case["pvalue"].as_f64().unwrap(), "chisquare");
    }
}

#[test]
fn proportions_ztest_matches_evidently() {
    let r = reference();
    for case in r["proportions_ztest"].as_array().unwrap() {
        let g = |k: &str| case[k].as_u64().unwrap();
        let got = proportions_ztest(g("s1"), g("n1"), g("s2"), g("n2")).unwrap();
        assert_rel(got.statistic, case["statistic"].as_f64().unwrap(), "z");
        assert_p(got.p_value, case["pvalue"].as_f64().unwrap(), "z");
    }
}

#[test]
fn wasserstein_matches_scipy() {
    let r = reference();
    for case in r["wasserstein_distance"].as_array().unwrap() {
        let got = wasserstein_distance(&sample(case, "a"), &sample(case, "b")).unwrap();
        assert_rel(got, case["distance"].as_f64().unwrap(), "wasserstein");
    }
}

#[test]
fn jensenshannon_matches_scipy() {
    let r = reference();
    for case in r["jensenshannon"].as_array().unwrap() {
        let (p, q) = (floats(&case["p"]), floats(&case["q"]));
        for (got, key) in [
            (jensenshannon(&p, &q).unwrap(), "distance"),
            (jensenshannon_base(&p, &q, 2.0).unwrap(), "base2"),
            (jensenshannon_base(&p, &q, 10.0).unwrap(), "base10"),
        ] {
            let want = case[key].as_f64().unwrap();
            // An identical pair is 0 in both (up to rounding of the square root of ~0).
            if want.abs() < 1e-7 {
                assert!(got.abs() < 1e-7, "js {key} {got} vs {want}");
            } else {
                assert_rel(got, want, &format!("jensenshannon {key}"));
            }
        }
    }
}

fn method_by_name(name: &str) -> DriftMethod {
    match name {
        "ks" => DriftMethod::Ks,
        "chisquare" => DriftMethod::ChiSquare,
        "z" => DriftMethod::ZTest,
        "wasserstein" => DriftMethod::Wasserstein,
        "jensenshannon" => DriftMethod::JensenShannon,
        "psi" => DriftMethod::Psi,
        other => panic!("unknown method {other}"),
    }
}

#[test]
fn column_drift_matches_evidently() {
    let r = reference();
    for (i, case) in r["evidently_column_drift"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let (a, b) = if case["kind"] == "numeric" {
            (
                Column::Numeric(sample(case, "a")),
                Column::Numeric(sample(case, "b")),
            )
        } else {
            let labels = |k: &str| {
                Column::Categorical(
                    case[k]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| Some(v.as_str().unwrap().to_owned()))
                        .collect(),
                )
            };
            (labels("a"), labels("b"))
        };
        let default = column_drift("c", &a, &b, ColumnDriftOptions::default()).unwrap();
        let want_default = method_by_name(case["default_method"].as_str().unwrap());
        assert_eq!(default.method, want_default, "case {i}: default method");
        for (name, want) in case["scores"].as_object().unwrap() {
            let m = method_by_name(name);
            let got = column_drift("c", &a, &b, ColumnDriftOptions::method(m)).unwrap();
            let score = want["score"].as_f64().unwrap();
            let what = format!("case {i} {name}");
            if m.is_p_value() {
                assert_p(got.score, score, &what);
            } else {
                assert_rel(got.score, score, &what);
            }
            assert_eq!(
                got.drift_detected,
                want["drift"].as_bool().unwrap(),
                "{what}: verdict"
            );
        }
    }
}

#[test]
fn quantiles_match_numpy() {
    let r = reference();
    for case in r["quantiles"].as_array().unwrap() {
        let data = sorted_finite(&lcg_sample(&case["gen"])).unwrap();
        let qs = floats(&case["q"]);
        for (m, key) in [
            (QuantileMethod::Linear, "linear"),
            (QuantileMethod::InvertedCdf, "inverted_cdf"),
            (QuantileMethod::Lower, "lower"),
            (QuantileMethod::Higher, "higher"),
            (QuantileMethod::Nearest, "nearest"),
            (QuantileMethod::Midpoint, "midpoint"),
        ] {
            assert_eq!(m.to_string(), key);
            for (q, want) in qs.iter().zip(floats(&case[key])) {
                let got = quantile_sorted(&data, *q, m).unwrap();
                assert_rel(got, want, &format!("quantile {q} {key}"));
            }
        }
    }
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

#[test]
fn classification_metrics_match_sklearn() {
    use mlops_testing::{
        metrics::Average, metrics::ConfusionMatrix, metrics::accuracy, metrics::log_loss,
        metrics::precision_recall_f1, metrics::roc_auc,
    };
    let r = reference();
    for (i, case) in r["classification"].as_array().unwrap().iter().enumerate() {
        let yt = ints(&case["y_true"]);
        let yp = ints(&case["y_pred"]);
        let what = format!("classification case {i}");
        assert_rel(
            accuracy(&yt, &yp).unwrap(),
            case["accuracy"].as_f64().unwrap(),
            &what,
        );
        let cm = ConfusionMatrix::new(&yt, &yp).unwrap();
        let want_cm: Vec<Vec<u64>> = case["confusion_matrix"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                row.as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_u64().unwrap())
                    .collect()
            })
            .collect();
        assert_eq!(cm.matrix, want_cm, "{what}");
        if case.get("scores").is_some() {
            let prf = precision_recall_f1(&yt, &yp, &Average::Binary(1)).unwrap();
            assert_rel(prf.precision, case["precision"].as_f64().unwrap(), &what);
            assert_rel(prf.recall, case["recall"].as_f64().unwrap(), &what);
            assert_rel(prf.f1, case["f1"].as_f64().unwrap(), &what);
            let labels: Vec<bool> = yt.iter().map(|&y| y == 1).collect();
            let scores = floats(&case["scores"]);
            assert_rel(
                roc_auc(&labels, &scores).unwrap(),
                case["roc_auc"].as_f64().unwrap(),
                &what,
            );
            assert_rel(
                log_loss(&labels, &scores).unwrap(),
                case["log_loss"].as_f64().unwrap(),
                &what,
            );
        } else {
            for (avg, key) in [
                (Average::Macro, "macro"),
                (Average::Micro, "micro"),
                (Average::Weighted, "weighted"),
            ] {
                let prf = precision_recall_f1(&yt, &yp, &avg).unwrap();
                let w = &case[key];
                let what = format!("{what} {key}");
                assert_rel(prf.precision, w["precision"].as_f64().unwrap(), &what);
                assert_rel(prf.recall, w["recall"].as_f64().unwrap(), &what);
                assert_rel(prf.f1, w["f1"].as_f64().unwrap(), &what);
            }
        }
    }
}

#[test]
fn regression_metrics_match_sklearn() {
    let r = reference();
    for case in r["regression"].as_array().unwrap() {
        let (y, p) = (floats(&case["y_true"]), floats(&case["y_pred"]));
        assert_rel(
            mlops_testing::metrics::mae(&y, &p).unwrap(),
            case["mae"].as_f64().unwrap(),
            "mae",
        );
        assert_rel(
            mlops_testing::metrics::rmse(&y, &p).unwrap(),
            case["rmse"].as_f64().unwrap(),
            "rmse",
        );
        assert_rel(
            mlops_testing::metrics::r2(&y, &p).unwrap(),
            case["r2"].as_f64().unwrap(),
            "r2",
        );
    }
}
