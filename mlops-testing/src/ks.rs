//! The two-sample Kolmogorov-Smirnov test, as scipy's `ks_2samp`, with its statistic's
//! location and sign.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::special;
use crate::stattests::finite_sorted_pair;

/// How the KS p-value was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KsMethod {
    /// scipy's `method='auto'`: exact when the larger sample has at most 10,000 values,
    /// asymptotic otherwise.
    Auto,
    /// Exact distribution of the two-sample statistic (falls back to asymptotic, as scipy does,
    /// if the computation fails numerically).
    Exact,
    /// `kstwo.sf(D, round(n m / (n + m)))`.
    Asymptotic,
}

/// Result of [`ks_2samp`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KsResult {
    /// The KS statistic `D = sup |F1 - F2|`.
    pub statistic: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// The value (from either sample) at which `D` is attained, as scipy's
    /// `statistic_location`: of the values where `|F1 - F2| = D` with the sign below, the
    /// smallest one in the first sample, else the smallest in the second (scipy takes the first
    /// such value of the concatenated sorted samples).
    pub statistic_location: f64,
    /// `+1` when the first sample's empirical CDF is above the second's at
    /// `statistic_location` (`D = F1 - F2`), `-1` when it is below (`D = F2 - F1`), as scipy's
    /// `statistic_sign`; ties between the two go to `+1`, as in scipy.
    pub statistic_sign: i8,
    /// The method actually used (`Exact` or `Asymptotic`).
    pub method: KsMethod,
    /// Non-finite values dropped from the first sample.
    pub dropped_first: usize,
    /// Non-finite values dropped from the second sample.
    pub dropped_second: usize,
}

/// Largest sample size for which `KsMethod::Auto` computes the exact p-value (scipy's
/// `MAX_AUTO_N`).
pub const KS_MAX_AUTO_N: usize = 10_000;

/// Two-sided two-sample Kolmogorov-Smirnov test, as `scipy.stats.ks_2samp(a, b, method=...)`.
///
/// # Errors
/// [`TestingError::InvalidArgument`](crate::TestingError::InvalidArgument) if a sample has no
/// finite values.
pub fn ks_2samp(a: &[f64], b: &[f64], method: KsMethod) -> Result<KsResult> {
    let ((x, da), (y, db)) = finite_sorted_pair(a, b, ("first sample", "second sample"))?;
    Ok(ks_2samp_sorted(&x, &y, method, da, db))
}

/// The two-sided KS statistic with scipy's `statistic_location` and `statistic_sign`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct KsStatistic {
    pub(crate) d: f64,
    pub(crate) location: f64,
    pub(crate) sign: i8,
}

/// The extreme of `F1 - F2` in one direction and where scipy's `argmin`/`argmax` over the
/// concatenation `[sorted x, sorted y]` finds it: the first value of `x` attaining it, else the
/// first value of `y`.
#[derive(Clone, Copy)]
struct Extreme {
    value: f64,
    in_first: Option<f64>,
    any: f64,
}

impl Extreme {
    fn new(start: f64) -> Self {
        Self {
            value: start,
            in_first: None,
            any: f64::NAN,
        }
    }

    /// Offer the difference `diff` at data value `v` (`in_x`: `v` occurs in the first sample);
    /// `better(a, b)`: `a` is strictly more extreme than `b`.
    fn offer(&mut self, diff: f64, v: f64, in_x: bool, better: fn(f64, f64) -> bool) {
        if better(diff, self.value) {
            *self = Self {
                value: diff,
                in_first: in_x.then_some(v),
                any: v,
            };
        } else if diff == self.value && in_x && self.in_first.is_none() {
            self.in_first = Some(v);
        }
    }

    fn location(&self) -> f64 {
        self.in_first.unwrap_or(self.any)
    }
}

/// The KS statistic of two sorted finite samples, computing `F1 - F2` in floats at every
/// distinct value (as scipy does). [`crate::merge::ks_statistic`] gives the same bits faster and
/// calls this one when `n1 * n2` is too large for its integer counts.
#[allow(clippy::cast_precision_loss)]
pub(crate) fn ks_statistic_float(x: &[f64], y: &[f64]) -> KsStatistic {
    let (n1, n2) = (x.len(), y.len());
    let (f1, f2) = (n1 as f64, n2 as f64);
    let (mut i, mut j) = (0usize, 0usize);
    let mut max = Extreme::new(f64::NEG_INFINITY);
    let mut min = Extreme::new(f64::INFINITY);
    while i < n1 || j < n2 {
        let v = if j == n2 || (i < n1 && x[i] <= y[j]) {
            x[i]
        } else {
            y[j]
        };
        let i0 = i;
        while i < n1 && x[i] <= v {
            i += 1;
        }
        while j < n2 && y[j] <= v {
            j += 1;
        }
        let diff = i as f64 / f1 - j as f64 / f2;
        let in_x = i > i0;
        max.offer(diff, v, in_x, |a, b| a > b);
        min.offer(diff, v, in_x, |a, b| a < b);
    }
    // The last difference is 1 - 1 = 0, so max >= 0 >= min.
    let min_s = (-min.value).clamp(0.0, 1.0);
    if min_s > max.value {
        KsStatistic {
            d: min_s,
            location: min.location(),
            sign: -1,
        }
    } else {
        KsStatistic {
            d: max.value,
            location: max.location(),
            sign: 1,
        }
    }
}

pub(crate) fn ks_2samp_sorted(
    x: &[f64],
    y: &[f64],
    method: KsMethod,
    dropped_first: usize,
    dropped_second: usize,
) -> KsResult {
    let (n1, n2) = (x.len() as u64, y.len() as u64);
    let KsStatistic { d, location, sign } = crate::merge::ks_statistic(x, y);
    let mut mode = match method {
        KsMethod::Auto => {
            if x.len().max(y.len()) <= KS_MAX_AUTO_N {
                KsMethod::Exact
            } else {
                KsMethod::Asymptotic
            }
        }
        KsMethod::Exact => {
            let g = gcd(n1, n2);
            #[allow(clippy::cast_precision_loss)]
            if (n1 / g) as f64 >= f64::from(i32::MAX) / (n2 / g) as f64 {
                KsMethod::Asymptotic
            } else {
                KsMethod::Exact
            }
        }
        KsMethod::Asymptotic => KsMethod::Asymptotic,
    };
    let mut stat = d;
    let mut p = f64::NAN;
    if mode == KsMethod::Exact {
        if let Some((dd, pp)) = special::ks2_exact(n1, n2, d) {
            stat = dd;
            p = pp;
        } else {
            tracing::debug!(
                n1,
                n2,
                "exact ks_2samp p-value failed, using the asymptotic one"
            );
            mode = KsMethod::Asymptotic;
        }
    }
    if mode == KsMethod::Asymptotic {
        #[allow(clippy::cast_precision_loss)]
        let (m, n) = (n1.max(n2) as f64, n1.min(n2) as f64);
        let en = m * n / (m + n);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let en = en.round_ties_even() as u64;
        p = special::kolmogn_sf(en.max(1), stat);
    }
    KsResult {
        statistic: stat,
        p_value: p.clamp(0.0, 1.0),
        statistic_location: location,
        statistic_sign: sign,
        method: mode,
        dropped_first,
        dropped_second,
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}
