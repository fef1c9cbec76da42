//! Quantiles (numpy's methods) and metric directions.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Result, TestingError};

pub use crate::ks::{KS_MAX_AUTO_N, KsMethod, KsResult, ks_2samp};
pub use crate::stattests::{
    Chi2ContingencyResult, FiniteSample, TestStatistic, chi2_contingency, chisquare, jensenshannon,
    jensenshannon_base, proportions_ztest, psi, sturges_bin_edges, wasserstein_distance,
};

/// Which way a metric improves (the one type every mlops crate uses, from `mlops-core`).
pub use mlops_core::Direction;

/// How a quantile is computed, by numpy's names (`numpy.quantile(..., method=...)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuantileMethod {
    /// numpy's default: `h = (n - 1) q`, linear interpolation between the two nearest ranks.
    #[default]
    Linear,
    /// Nearest rank: the smallest value whose empirical CDF is at least `q`
    /// (the sorted value at index `ceil(n q) - 1`, and the minimum for `q = 0`).
    InvertedCdf,
    /// The sorted value at index `floor((n - 1) q)`.
    Lower,
    /// The sorted value at index `ceil((n - 1) q)`.
    Higher,
    /// The sorted value at index `(n - 1) q` rounded to the nearest integer, halves to even
    /// (numpy's `around`: with 11 values, `q = 0.45` gives index 4 and `q = 0.55` index 6).
    Nearest,
    /// The mean of [`QuantileMethod::Lower`] and [`QuantileMethod::Higher`] (computed as numpy
    /// does, `higher - (higher - lower) / 2`), or the value itself when they coincide.
    Midpoint,
}

impl fmt::Display for QuantileMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Linear => "linear",
            Self::InvertedCdf => "inverted_cdf",
            Self::Lower => "lower",
            Self::Higher => "higher",
            Self::Nearest => "nearest",
            Self::Midpoint => "midpoint",
        })
    }
}

/// The `q`-quantile (`0 <= q <= 1`) of an ascending, NaN-free slice.
///
/// # Errors
/// [`TestingError::InvalidArgument`] for an empty sample or a `q` outside `[0, 1]`.
pub fn quantile_sorted(sorted: &[f64], q: f64, method: QuantileMethod) -> Result<f64> {
    if sorted.is_empty() {
        return Err(TestingError::invalid(
            "sample",
            "a quantile of an empty sample is undefined",
        ));
    }
    if !(0.0..=1.0).contains(&q) {
        return Err(TestingError::invalid(
            "quantile",
            format!("q = {q} is outside [0, 1]"),
        ));
    }
    let n = sorted.len();
    #[allow(clippy::cast_precision_loss)]
    let h = (n - 1) as f64 * q; // numpy's virtual index for the (n - 1) q family
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let at = |index: f64| sorted[(index as usize).min(n - 1)];
    Ok(match method {
        QuantileMethod::Lower => at(h.floor()),
        QuantileMethod::Higher => at(h.ceil()),
        QuantileMethod::Nearest => at(h.round_ties_even()),
        QuantileMethod::Midpoint => {
            let (a, b) = (at(h.floor()), at(h.ceil()));
            if h.floor() == h.ceil() {
                a
            } else {
                // numpy's `_lerp` at t = 0.5.
                b - (b - a) * 0.5
            }
        }
        QuantileMethod::Linear => {
            let lo = h.floor();
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let i = lo as usize;
            if i + 1 >= n {
                sorted[n - 1]
            } else {
                let (a, b) = (sorted[i], sorted[i + 1]);
                // numpy's `_lerp`: exact at both ends, monotone in between.
                let t = h - lo;
                if t >= 0.5 {
                    b - (b - a) * (1.0 - t)
                } else {
                    a + (b - a) * t
                }
            }
        }
        QuantileMethod::InvertedCdf => {
            #[allow(clippy::cast_precision_loss)]
            let pos = (n as f64 * q).ceil();
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let rank = (pos as usize).clamp(1, n);
            sorted[rank - 1]
        }
    })
}

/// Sort a copy of `values` for [`quantile_sorted`], rejecting NaN.
///
/// # Errors
/// [`TestingError::InvalidArgument`] naming the index of the first NaN.
pub fn sorted_finite(values: &[f64]) -> Result<Vec<f64>> {
    if let Some(i) = values.iter().position(|v| v.is_nan()) {
        return Err(TestingError::invalid(
            "sample",
            format!("value at index {i} is NaN"),
        ));
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn q(values: &[f64], p: f64, m: QuantileMethod) -> f64 {
        quantile_sorted(&sorted_finite(values).unwrap(), p, m).unwrap()
    }

    #[test]
    fn matches_numpy_linear() {
        // numpy.quantile(np.arange(1, 11), [0, .5, .95, .99, 1]) -> 1, 5.5, 9.55, 9.91, 10
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        let m = QuantileMethod::Linear;
        assert_eq!(q(&v, 0.0, m), 1.0);
        assert_eq!(q(&v, 0.5, m), 5.5);
        assert!((q(&v, 0.95, m) - 9.55).abs() < 1e-12);
        assert!((q(&v, 0.99, m) - 9.91).abs() < 1e-12);
        assert_eq!(q(&v, 1.0, m), 10.0);
        assert_eq!(q(&[7.0], 0.3, m), 7.0);
    }

    #[test]
    fn matches_numpy_inverted_cdf() {
        // numpy.quantile(np.arange(1, 11), [0, .5, .95, .1, .11], method='inverted_cdf')
        //   -> 1, 5, 10, 1, 2
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        let m = QuantileMethod::InvertedCdf;
        assert_eq!(q(&v, 0.0, m), 1.0);
        assert_eq!(q(&v, 0.5, m), 5.0);
        assert_eq!(q(&v, 0.95, m), 10.0);
        assert_eq!(q(&v, 0.1, m), 1.0);
        assert_eq!(q(&v, 0.11, m), 2.0);
    }

    #[test]
    fn matches_numpy_lower_higher_nearest_midpoint() {
        // numpy.quantile(np.arange(1, 12), q, method=m) for q = .05, .45, .5, .55, .99, 1:
        //   virtual index (n - 1) q = 0.5, 4.5, 5, 5.5, 9.9, 10 (0.45 * 10 rounds to 4.5).
        //   lower    -> 1, 5, 6, 6, 10, 11
        //   higher   -> 2, 6, 6, 7, 11, 11
        //   nearest  -> 1, 5, 6, 7, 11, 11   (halves to even: 0.5 -> 0, 4.5 -> 4, 5.5 -> 6)
        //   midpoint -> 1.5, 5.5, 6, 6.5, 10.5, 11
        let v: Vec<f64> = (1..=11).map(f64::from).collect();
        let qs = [0.05, 0.45, 0.5, 0.55, 0.99, 1.0];
        let cases = [
            (QuantileMethod::Lower, [1.0, 5.0, 6.0, 6.0, 10.0, 11.0]),
            (QuantileMethod::Higher, [2.0, 6.0, 6.0, 7.0, 11.0, 11.0]),
            (QuantileMethod::Nearest, [1.0, 5.0, 6.0, 7.0, 11.0, 11.0]),
            (QuantileMethod::Midpoint, [1.5, 5.5, 6.0, 6.5, 10.5, 11.0]),
        ];
        for (m, want) in cases {
            let got: Vec<f64> = qs.iter().map(|&p| q(&v, p, m)).collect();
            assert_eq!(got, want, "{m}");
        }
        assert_eq!(q(&[7.0], 0.3, QuantileMethod::Midpoint), 7.0);
        let names: Vec<String> = cases
            .iter()
            .map(|(m, _)| serde_json::to_string(m).unwrap())
            .collect();
        assert_eq!(
            names,
            ["\"lower\"", "\"higher\"", "\"nearest\"", "\"midpoint\""]
        );
    }

    #[test]
    fn p95_of_100_values_is_not_off_by_one() {
        // The seed's sketch took sorted[int(0.95 * n)], i.e. the 96th value. Nearest rank is the
        // 95th; numpy's linear gives 95.05 for 1..=100.
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(q(&v, 0.95, QuantileMethod::InvertedCdf), 95.0);
        assert!((q(&v, 0.95, QuantileMethod::Linear) - 95.05).abs() < 1e-12);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(quantile_sorted(&[], 0.5, QuantileMethod::Linear).is_err());
        assert!(quantile_sorted(&[1.0], 1.5, QuantileMethod::Linear).is_err());
        assert!(quantile_sorted(&[1.0], f64::NAN, QuantileMethod::Linear).is_err());
        let err = sorted_finite(&[1.0, f64::NAN]).unwrap_err();
        assert!(err.to_string().contains("index 1"), "{err}");
    }

    #[test]
    fn direction_serde_names_and_old_aliases() {
        let names =
            [Direction::Maximize, Direction::Minimize].map(|d| serde_json::to_string(&d).unwrap());
        assert_eq!(names, ["\"maximize\"", "\"minimize\""]);
        for (text, want) in [
            ("\"maximize\"", Direction::Maximize),
            ("\"minimize\"", Direction::Minimize),
            ("\"higher_is_better\"", Direction::Maximize),
            ("\"lower_is_better\"", Direction::Minimize),
        ] {
            assert_eq!(
                serde_json::from_str::<Direction>(text).unwrap(),
                want,
                "{text}"
            );
        }
        assert!(serde_json::from_str::<Direction>("\"up\"").is_err());
    }

    #[test]
    fn directions() {
        assert!(Direction::Maximize.is_better(0.9, 0.8));
        assert!(!Direction::Minimize.is_better(120.0, 100.0));
        assert!(Direction::Minimize.is_better(80.0, 100.0));
    }

    proptest! {
        #[test]
        fn quantiles_are_monotone_and_within_range(
            mut v in proptest::collection::vec(-1e6f64..1e6, 1..200),
            a in 0.0f64..=1.0, b in 0.0f64..=1.0,
        ) {
            v.sort_by(f64::total_cmp);
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            for m in [
                QuantileMethod::Linear,
                QuantileMethod::InvertedCdf,
                QuantileMethod::Lower,
                QuantileMethod::Higher,
                QuantileMethod::Nearest,
                QuantileMethod::Midpoint,
            ] {
                let x = quantile_sorted(&v, lo, m).unwrap();
                let y = quantile_sorted(&v, hi, m).unwrap();
                prop_assert!(x <= y);
                prop_assert!(v[0] <= x && y <= v[v.len() - 1]);
            }
        }
    }
}
