//! Two-sample tests and distances, numerically matching scipy and Evidently.
//!
//! Every function here takes raw samples; non-finite values (NaN, `±inf`) are dropped and
//! counted, as Evidently does before it runs a drift test, and the counts are returned with the
//! result. An empty sample (after dropping) is an [`TestingError::InvalidArgument`].

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::{Result, TestingError};
pub(crate) use crate::sort::sorted_finite;
use crate::special;

/// A sample with its non-finite values removed.
#[derive(Debug, Clone, PartialEq)]
pub struct FiniteSample {
    /// The finite values, in input order.
    pub values: Vec<f64>,
    /// How many NaN values were dropped.
    pub dropped_nan: usize,
    /// How many infinite values were dropped.
    pub dropped_inf: usize,
}

impl FiniteSample {
    /// Split `values` into finite values and counts of dropped NaN and infinities.
    #[must_use]
    pub fn new(values: &[f64]) -> Self {
        let mut out = Vec::with_capacity(values.len());
        let (mut nan, mut inf) = (0, 0);
        for &v in values {
            if v.is_nan() {
                nan += 1;
            } else if v.is_infinite() {
                inf += 1;
            } else {
                out.push(v);
            }
        }
        Self {
            values: out,
            dropped_nan: nan,
            dropped_inf: inf,
        }
    }

    /// NaN plus infinite values dropped.
    #[must_use]
    pub fn dropped(&self) -> usize {
        self.dropped_nan + self.dropped_inf
    }
}

fn finite_sorted(values: &[f64], what: &'static str) -> Result<(Vec<f64>, usize)> {
    let (v, dropped) = sorted_finite(values);
    if v.is_empty() {
        return Err(TestingError::invalid(
            what,
            format!(
                "no finite values ({} given, {dropped} dropped as NaN or infinite)",
                values.len(),
            ),
        ));
    }
    Ok((v, dropped))
}

/// A sorted finite sample and how many values were dropped from it.
type SortedSample = (Vec<f64>, usize);

/// Both samples cleaned and sorted, in parallel when they are large.
pub(crate) fn finite_sorted_pair(
    a: &[f64],
    b: &[f64],
    what: (&'static str, &'static str),
) -> Result<(SortedSample, SortedSample)> {
    let parallel = a.len().min(b.len()) >= PARALLEL_MIN;
    let (x, y) = crate::par::join(
        parallel,
        || finite_sorted(a, what.0),
        || finite_sorted(b, what.1),
    );
    Ok((x?, y?))
}

/// Below this many values per sample, work stays on the calling thread.
pub(crate) const PARALLEL_MIN: usize = 50_000;

/// A statistic with its p-value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TestStatistic {
    /// The test statistic.
    pub statistic: f64,
    /// The p-value.
    pub p_value: f64,
}

/// Result of [`chi2_contingency`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chi2ContingencyResult {
    /// Pearson's chi-square statistic (Yates-corrected when applied).
    pub statistic: f64,
    /// p-value from the chi-square distribution with `dof` degrees of freedom.
    pub p_value: f64,
    /// Degrees of freedom, `(rows - 1)(columns - 1)`.
    pub dof: usize,
    /// Expected frequencies under independence.
    pub expected: Vec<Vec<f64>>,
    /// Whether Yates' continuity correction was applied (requested and `dof == 1`).
    pub yates_applied: bool,
}

/// Chi-square test of independence on a contingency table, as
/// `scipy.stats.chi2_contingency(table, correction=...)`.
///
/// Yates' correction is applied as scipy applies it: only when `dof == 1`, moving each observed
/// count towards its expected count by `min(0.5, |expected - observed|)`. With `dof == 0` the
/// statistic is 0 and the p-value 1.
///
/// # Errors
/// [`TestingError::InvalidArgument`] for an empty or ragged table, a negative or non-finite
/// count, or a zero expected frequency (a row or column of zeros).
pub fn chi2_contingency(table: &[Vec<f64>], correction: bool) -> Result<Chi2ContingencyResult> {
    let rows = table.len();
    let cols = table.first().map_or(0, Vec::len);
    if rows == 0 || cols == 0 {
        return Err(TestingError::invalid("table", "contingency table is empty"));
    }
    if let Some(r) = table.iter().position(|r| r.len() != cols) {
        return Err(TestingError::invalid(
            "table",
            format!("row {r} has {} cells, row 0 has {cols}", table[r].len()),
        ));
    }
    for (r, row) in table.iter().enumerate() {
        for (c, &v) in row.iter().enumerate() {
            if !v.is_finite() || v < 0.0 {
                return Err(TestingError::invalid(
                    "table",
                    format!("cell ({r}, {c}) = {v} is not a non-negative finite count"),
                ));
            }
        }
    }
    let row_sums: Vec<f64> = table.iter().map(|r| r.iter().sum()).collect();
    let col_sums: Vec<f64> = (0..cols)
        .map(|c| table.iter().map(|r| r[c]).sum())
        .collect();
    let total: f64 = row_sums.iter().sum();
    let expected: Vec<Vec<f64>> = row_sums
        .iter()
        .map(|&rs| col_sums.iter().map(|&cs| rs * cs / total).collect())
        .collect();
    if let Some((r, c)) = expected.iter().enumerate().find_map(|(r, row)| {
        row.iter()
            .position(|&e| e == 0.0 || e.is_nan())
            .map(|c| (r, c))
    }) {
        return Err(TestingError::invalid(
            "table",
            format!("expected frequency at ({r}, {c}) is zero (a row or column sums to zero)"),
        ));
    }
    let dof = (rows - 1) * (cols - 1);
    if dof == 0 {
        return Ok(Chi2ContingencyResult {
            statistic: 0.0,
            p_value: 1.0,
            dof,
            expected,
            yates_applied: false,
        });
    }
    let yates = correction && dof == 1;
    let mut stat = 0.0;
    for (orow, erow) in table.iter().zip(&expected) {
        for (&o, &e) in orow.iter().zip(erow) {
            let o = if yates {
                let diff = e - o;
                o + diff.abs().min(0.5) * diff.signum() * f64::from(u8::from(diff != 0.0))
            } else {
                o
            };
            stat += (o - e) * (o - e) / e;
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let p = special::chi2_sf(stat, dof as f64);
    Ok(Chi2ContingencyResult {
        statistic: stat,
        p_value: p,
        dof,
        expected,
        yates_applied: yates,
    })
}

/// Pearson's chi-square goodness-of-fit test, as `scipy.stats.chisquare(observed, expected)`
/// with `k - 1` degrees of freedom.
///
/// # Errors
/// [`TestingError::InvalidArgument`] for fewer than two categories, mismatched lengths, negative
/// or non-finite frequencies, or sums that differ by more than `1e-8` relative (scipy's check).
pub fn chisquare(observed: &[f64], expected: &[f64]) -> Result<TestStatistic> {
    if observed.len() != expected.len() {
        return Err(TestingError::invalid(
            "frequencies",
            format!(
                "{} observed and {} expected frequencies",
                observed.len(),
                expected.len()
            ),
        ));
    }
    if observed.len() < 2 {
        return Err(TestingError::invalid(
            "frequencies",
            "a goodness-of-fit test needs at least two categories",
        ));
    }
    if observed
        .iter()
        .chain(expected)
        .any(|v| !v.is_finite() || *v < 0.0)
    {
        return Err(TestingError::invalid(
            "frequencies",
            "frequencies must be non-negative and finite",
        ));
    }
    let so: f64 = observed.iter().sum();
    let se: f64 = expected.iter().sum();
    if (so - se).abs() > 1e-8 * so.max(se) {
        return Err(TestingError::invalid(
            "frequencies",
            format!("observed sum {so} and expected sum {se} differ"),
        ));
    }
    let mut stat = 0.0;
    for (&o, &e) in observed.iter().zip(expected) {
        let d = o - e;
        if e == 0.0 {
            if d != 0.0 {
                stat = f64::INFINITY;
            }
        } else {
            stat += d * d / e;
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let dof = (observed.len() - 1) as f64;
    Ok(TestStatistic {
        statistic: stat,
        p_value: special::chi2_sf(stat, dof),
    })
}

/// Two-proportion Z-test with a pooled proportion, two-sided (Evidently's `z` test):
/// `z = (p1 - p2) / sqrt(P (1 - P) (1/n1 + 1/n2))`, `p = 2 (1 - Φ(|z|))`.
///
/// The sign is first sample minus second, as scipy's two-sample tests report it
/// (`ttest_ind(a, b)` is positive when `a`'s mean is larger; statsmodels'
/// `proportions_ztest([s1, s2], [n1, n2])` gives this very `z`). Pass the current sample first
/// for `current - reference`, as [`crate::drift::column_drift`] does: a positive `z` there means the
/// proportion grew in the current data. The p-value does not depend on the order.
///
/// When both samples have the same proportion of 0 or 1 (`P (1 - P) = 0`) the samples are
/// identical and the result is `z = 0`, `p = 1`, as Evidently returns for a single shared value.
///
/// # Errors
/// [`TestingError::InvalidArgument`] if a sample size is zero or a count exceeds its size.
pub fn proportions_ztest(
    successes1: u64,
    n1: u64,
    successes2: u64,
    n2: u64,
) -> Result<TestStatistic> {
    if n1 == 0 || n2 == 0 {
        return Err(TestingError::invalid("sample", "a sample size is zero"));
    }
    if successes1 > n1 || successes2 > n2 {
        return Err(TestingError::invalid(
            "sample",
            "a success count exceeds its sample size",
        ));
    }
    #[allow(clippy::cast_precision_loss)]
    let (s1, f1, s2, f2) = (successes1 as f64, n1 as f64, successes2 as f64, n2 as f64);
    let p1 = s1 / f1;
    let p2 = s2 / f2;
    let pooled = (p1 * f1 + p2 * f2) / (f1 + f2);
    let var = pooled * (1.0 - pooled) * (1.0 / f1 + 1.0 / f2);
    if var == 0.0 {
        return Ok(TestStatistic {
            statistic: 0.0,
            p_value: 1.0,
        });
    }
    let z = (p1 - p2) / var.sqrt();
    Ok(TestStatistic {
        statistic: z,
        p_value: (2.0 * special::normal_sf(z.abs())).clamp(0.0, 1.0),
    })
}

/// Neumaier-compensated sum.
#[derive(Default)]
pub(crate) struct Sum {
    s: f64,
    c: f64,
}

impl Sum {
    pub(crate) fn add(&mut self, x: f64) {
        let t = self.s + x;
        if self.s.abs() >= x.abs() {
            self.c += (self.s - t) + x;
        } else {
            self.c += (x - t) + self.s;
        }
        self.s = t;
    }
    pub(crate) fn value(&self) -> f64 {
        self.s + self.c
    }
}

/// First Wasserstein distance between two empirical distributions, as
/// `scipy.stats.wasserstein_distance(u, v)` (the area between the two empirical CDFs).
///
/// # Errors
/// [`TestingError::InvalidArgument`] if a sample has no finite values.
pub fn wasserstein_distance(u: &[f64], v: &[f64]) -> Result<f64> {
    let ((x, _), (y, _)) = finite_sorted_pair(u, v, ("first sample", "second sample"))?;
    Ok(wasserstein_sorted(&x, &y))
}

pub(crate) use crate::merge::wasserstein as wasserstein_sorted;

/// Jensen-Shannon distance (the square root of the divergence, natural logarithm) between two
/// frequency vectors, each normalised to sum to one, as `scipy.spatial.distance.jensenshannon`.
/// For another logarithm base (scipy's `base=`), see [`jensenshannon_base`].
///
/// # Errors
/// [`TestingError::InvalidArgument`] for mismatched or empty vectors, negative or non-finite
/// entries, or a vector summing to zero.
pub fn jensenshannon(p: &[f64], q: &[f64]) -> Result<f64> {
    js_divergence(p, q).map(f64::sqrt)
}

/// Jensen-Shannon distance with the logarithm in `base`, as
/// `scipy.spatial.distance.jensenshannon(p, q, base=base)`: the natural-log divergence divided
/// by `ln(base)`, then the square root. With `base = 2` the distance lies in `[0, 1]`.
///
/// # Errors
/// As [`jensenshannon`], and [`TestingError::InvalidArgument`] for a base that is not a finite
/// number above zero other than 1.
pub fn jensenshannon_base(p: &[f64], q: &[f64], base: f64) -> Result<f64> {
    if !base.is_finite() || base <= 0.0 || base == 1.0 {
        return Err(TestingError::invalid(
            "base",
            format!("logarithm base {base} must be finite, positive and not 1"),
        ));
    }
    Ok((js_divergence(p, q)? / base.ln()).max(0.0).sqrt())
}

/// The Jensen-Shannon divergence in nats (scipy's `np.sum(left + right) / 2`), never negative.
fn js_divergence(p: &[f64], q: &[f64]) -> Result<f64> {
    if p.len() != q.len() || p.is_empty() {
        return Err(TestingError::invalid(
            "distribution",
            format!(
                "lengths {} and {} must be equal and non-zero",
                p.len(),
                q.len()
            ),
        ));
    }
    if p.iter().chain(q).any(|v| !v.is_finite() || *v < 0.0) {
        return Err(TestingError::invalid(
            "distribution",
            "entries must be non-negative and finite",
        ));
    }
    let sp: f64 = p.iter().sum();
    let sq: f64 = q.iter().sum();
    if sp == 0.0 || sq == 0.0 {
        return Err(TestingError::invalid(
            "distribution",
            "a distribution sums to zero",
        ));
    }
    let rel_entr = |a: f64, b: f64| if a > 0.0 { a * (a / b).ln() } else { 0.0 };
    let (mut left, mut right) = (0.0, 0.0);
    for (&a, &b) in p.iter().zip(q) {
        let (a, b) = (a / sp, b / sq);
        let m = (a + b) / 2.0;
        left += rel_entr(a, m);
        right += rel_entr(b, m);
    }
    Ok(((left + right) / 2.0).max(0.0))
}

/// Equal-width bin edges as `numpy.histogram_bin_edges(data, bins="sturges")`: the range of
/// the data (widened by ±0.5 when constant), `ceil(range / (ptp / (log2(n) + 1)))` bins.
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
pub fn sturges_bin_edges(min: f64, max: f64, n: usize) -> Vec<f64> {
    let (mut first, mut last) = (min, max);
    if first == last {
        first -= 0.5;
        last += 0.5;
    }
    let width = (max - min) / ((n as f64).log2() + 1.0);
    let bins = if width == 0.0 {
        1
    } else {
        ((last - first) / width).ceil() as usize
    };
    linspace(first, last, bins + 1)
}

/// `numpy.linspace(start, stop, num)` with the endpoint, bit for bit.
#[allow(clippy::cast_precision_loss)]
fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    let div = (num - 1) as f64;
    let delta = stop - start;
    let step = delta / div;
    let mut y: Vec<f64> = (0..num)
        .map(|i| {
            if step == 0.0 {
                (i as f64 / div) * delta + start
            } else {
                i as f64 * step + start
            }
        })
        .collect();
    if num > 1 {
        y[num - 1] = stop;
    }
    y
}

/// Counts per bin of a sorted sample over `edges`, as `numpy.histogram(data, edges)`: bins are
/// half-open `[a, b)` except the last, which includes its right edge.
fn histogram_sorted(sorted: &[f64], edges: &[f64]) -> Vec<u64> {
    let k = edges.len() - 1;
    let mut cum = Vec::with_capacity(edges.len());
    for (i, &e) in edges.iter().enumerate() {
        if i == k {
            cum.push(sorted.partition_point(|&v| v <= e));
        } else {
            cum.push(sorted.partition_point(|&v| v < e));
        }
    }
    cum.windows(2).map(|w| (w[1] - w[0]) as u64).collect()
}

/// Evidently's binning (`get_binned_data`): for a numeric column whose reference has more than
/// 20 distinct values, Sturges bins over the combined data; otherwise one bin per distinct value.
/// Returns the share of each sample in each bin.
#[allow(clippy::cast_precision_loss)]
pub(crate) fn binned_numeric(x: &[f64], y: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let distinct_ref = count_distinct_sorted(x);
    let (fx, fy) = (x.len() as f64, y.len() as f64);
    if distinct_ref > 20 {
        let min = x[0].min(y[0]);
        let max = x[x.len() - 1].max(y[y.len() - 1]);
        let edges = sturges_bin_edges(min, max, x.len() + y.len());
        let hx = histogram_sorted(x, &edges);
        let hy = histogram_sorted(y, &edges);
        (
            hx.iter().map(|&c| c as f64 / fx).collect(),
            hy.iter().map(|&c| c as f64 / fy).collect(),
        )
    } else {
        let cx = value_counts_sorted(x);
        let cy = value_counts_sorted(y);
        let mut keys: Vec<u64> = cx.keys().chain(cy.keys()).copied().collect();
        keys.sort_unstable();
        keys.dedup();
        (
            keys.iter()
                .map(|k| *cx.get(k).unwrap_or(&0) as f64 / fx)
                .collect(),
            keys.iter()
                .map(|k| *cy.get(k).unwrap_or(&0) as f64 / fy)
                .collect(),
        )
    }
}

fn key_of(v: f64) -> u64 {
    // -0.0 and 0.0 are one value, as in pandas.
    if v == 0.0 { 0 } else { v.to_bits() }
}

fn count_distinct_sorted(x: &[f64]) -> usize {
    let mut n = 0;
    let mut prev: Option<f64> = None;
    for &v in x {
        if prev != Some(v) {
            n += 1;
            prev = Some(v);
        }
    }
    n
}

fn value_counts_sorted(x: &[f64]) -> HashMap<u64, u64> {
    let mut m = HashMap::new();
    for &v in x {
        *m.entry(key_of(v)).or_insert(0) += 1;
    }
    m
}

/// Evidently's empty-bin smoothing for PSI: zero shares are replaced by
/// `min(non-zero share) / 1e6` when that minimum is at most `1e-4`, and by `1e-4` otherwise.
pub(crate) fn fill_zeroes(p: &mut [f64]) {
    let min_nz = p
        .iter()
        .copied()
        .filter(|&v| v != 0.0)
        .fold(f64::INFINITY, f64::min);
    if !min_nz.is_finite() {
        return;
    }
    let fill = if min_nz <= 0.0001 {
        min_nz / 1e6
    } else {
        0.0001
    };
    for v in p.iter_mut() {
        if *v == 0.0 {
            *v = fill;
        }
    }
}

/// Population stability index between two share vectors (already smoothed):
/// `Σ (ref - cur) ln(ref / cur)`.
pub(crate) fn psi_from_shares(reference: &[f64], current: &[f64]) -> f64 {
    reference
        .iter()
        .zip(current)
        .map(|(&r, &c)| (r - c) * (r / c).ln())
        .sum()
}

/// Population stability index of two numeric samples with Evidently's binning and smoothing
/// (see [`crate::drift::DriftMethod::Psi`]).
///
/// Evidently's Sturges bins need only each sample's range and bin counts, so when the
/// reference has more than 20 distinct values (the usual case) the samples are not sorted:
/// two reads of each sample (range, then counts), the two samples in parallel when large.
/// With at most 20 distinct reference values (one bin per value) the samples are sorted.
///
/// # Errors
/// [`TestingError::InvalidArgument`] if a sample has no finite values.
#[allow(clippy::cast_precision_loss)]
pub fn psi(reference: &[f64], current: &[f64]) -> Result<f64> {
    let parallel = reference.len().min(current.len()) >= PARALLEL_MIN;
    let (rr, rc) = crate::par::join(
        parallel,
        || finite_range(reference, "reference sample"),
        || finite_range(current, "current sample"),
    );
    let ((rmin, rmax, nr), (cmin, cmax, nc)) = (rr?, rc?);
    if !more_than_distinct(reference, 20) {
        let ((x, _), (y, _)) =
            finite_sorted_pair(reference, current, ("reference sample", "current sample"))?;
        let (mut r, mut c) = binned_numeric(&x, &y);
        fill_zeroes(&mut r);
        fill_zeroes(&mut c);
        return Ok(psi_from_shares(&r, &c));
    }
    let edges = sturges_bin_edges(rmin.min(cmin), rmax.max(cmax), nr + nc);
    let (hr, hc) = crate::par::join(
        parallel,
        || histogram_unsorted(reference, &edges),
        || histogram_unsorted(current, &edges),
    );
    let (fr, fc) = (nr as f64, nc as f64);
    let mut r: Vec<f64> = hr.iter().map(|&k| k as f64 / fr).collect();
    let mut c: Vec<f64> = hc.iter().map(|&k| k as f64 / fc).collect();
    fill_zeroes(&mut r);
    fill_zeroes(&mut c);
    Ok(psi_from_shares(&r, &c))
}

/// Smallest and largest finite value and the number of finite values.
fn finite_range(values: &[f64], what: &'static str) -> Result<(f64, f64, usize)> {
    let (mut lo, mut hi, mut n) = (f64::INFINITY, f64::NEG_INFINITY, 0usize);
    for &v in values {
        if v.is_finite() {
            lo = lo.min(v);
            hi = hi.max(v);
            n += 1;
        }
    }
    if n == 0 {
        return Err(TestingError::invalid(
            what,
            format!(
                "no finite values ({} given, {} dropped as NaN or infinite)",
                values.len(),
                values.len()
            ),
        ));
    }
    Ok((lo, hi, n))
}

/// Whether the finite values of `values` hold more than `k` distinct values (`-0.0` and `0.0`
/// are one value). Stops at the `k + 1`-th distinct value.
fn more_than_distinct(values: &[f64], k: usize) -> bool {
    let mut seen: Vec<f64> = Vec::with_capacity(k + 1);
    for &v in values {
        if v.is_finite() && !seen.contains(&v) {
            seen.push(v);
            if seen.len() > k {
                return true;
            }
        }
    }
    false
}

/// Counts per bin of an unsorted sample over `edges`, with the bins of [`histogram_sorted`]
/// (`[a, b)`, the last one closed): the bin is guessed from the value, as numpy does, and
/// corrected against the edges.
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
fn histogram_unsorted(values: &[f64], edges: &[f64]) -> Vec<u64> {
    let k = edges.len() - 1;
    let mut counts = vec![0u64; k];
    let (first, last) = (edges[0], edges[k]);
    let norm = k as f64 / (last - first);
    for &v in values {
        // Also skips NaN and the infinities.
        if !(v >= first && v <= last) {
            continue;
        }
        let mut b = (((v - first) * norm) as usize).min(k - 1);
        while b > 0 && v < edges[b] {
            b -= 1;
        }
        while b < k - 1 && v >= edges[b + 1] {
            b += 1;
        }
        counts[b] += 1;
    }
    counts
}

#[cfg(test)]
mod tests;
