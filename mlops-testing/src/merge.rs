//! Merge walks over two sorted samples for the KS statistic and the Wasserstein distance.
//!
//! The walk takes the next value of the merged order with a comparison whose outcome picks
//! values and increments (`take_x as usize`), not which code runs, so randomly interleaved
//! samples cost no branch mispredictions per element; the branches left (a group of tied
//! values ends, a new extreme) are almost always decided the same way. KS counts the empirical
//! CDF difference exactly in integers, `s = n1·n2·(F1 − F2) = i·n2 − j·n1`, and turns it into
//! a float only where it reaches the running extreme. Both walks give the same bits as the
//! straightforward walks they replace (which compute `i / n1 − j / n2` in floats at every
//! distinct value, as scipy does): see the tests.

use crate::ks::{KsStatistic, ks_statistic_float};
use crate::stattests::Sum;

/// Largest `n1·n2` for which the integer walk is used. Below it, two different exact values of
/// `F1 − F2` differ by at least `1 / (n1·n2) ≥ 2^-50`, more than the rounding of the float
/// differences (at most `3·2^-53` each), so the float order agrees with the exact order except
/// between equal exact values, which the walk compares in floats as the old walk did.
const EXACT_MAX: u128 = 1 << 50;

/// The running extreme of `s` in one direction, with the float difference and scipy's location
/// rule (the first value of the first sample attaining it, else the first value of the second).
struct Extreme {
    s: i64,
    value: f64,
    in_first: Option<f64>,
    any: f64,
}

impl Extreme {
    fn new(s: i64, value: f64) -> Self {
        Self {
            s,
            value,
            in_first: None,
            any: f64::NAN,
        }
    }

    /// `s` (with float difference `diff()`) at value `v`, already known to be at least as
    /// extreme as the current one (`s == self.s` or more extreme); `more(a, b)`: `a` is strictly
    /// more extreme than `b`.
    #[cold]
    fn offer(
        &mut self,
        s: i64,
        diff: f64,
        v: f64,
        in_x: bool,
        more_int: fn(i64, i64) -> bool,
        more: fn(f64, f64) -> bool,
    ) {
        if more_int(s, self.s) || more(diff, self.value) {
            *self = Self {
                s,
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

/// The walk's state: positions, the scaled difference, the current group of tied values.
struct Walk<'a> {
    x: &'a [f64],
    y: &'a [f64],
    f1: f64,
    f2: f64,
    max: Extreme,
    min: Extreme,
}

impl Walk<'_> {
    /// The group of values equal to `v` ended with `i`, `j` consumed and scaled difference `s`.
    #[inline]
    fn group_end(&mut self, s: i64, i: usize, j: usize, v: f64, in_x: bool) {
        #[allow(clippy::cast_precision_loss)]
        let diff = || i as f64 / self.f1 - j as f64 / self.f2;
        if s >= self.max.s {
            self.max
                .offer(s, diff(), v, in_x, |a, b| a > b, |a, b| a > b);
        }
        if s <= self.min.s {
            self.min
                .offer(s, diff(), v, in_x, |a, b| a < b, |a, b| a < b);
        }
    }

    fn run(mut self) -> KsStatistic {
        let (x, y) = (self.x, self.y);
        let (n1, n2) = (x.len(), y.len());
        #[allow(clippy::cast_possible_wrap)]
        let (up, down) = (n2 as i64, n1 as i64);
        let (mut i, mut j, mut s) = (0usize, 0usize, 0i64);
        // The current group: its value (the first of the merged order, as the old walk's `v`)
        // and whether the first sample has it (its copies come first in the merged order).
        let (mut cur, mut cur_in_x) = if x[0] <= y[0] {
            (x[0], true)
        } else {
            (y[0], false)
        };
        while i < n1 && j < n2 {
            let (u, v) = (x[i], y[j]);
            let take_x = u <= v;
            let w = if take_x { u } else { v };
            if w != cur {
                self.group_end(s, i, j, cur, cur_in_x);
                cur = w;
                cur_in_x = take_x;
            }
            s += if take_x { up } else { -down };
            i += usize::from(take_x);
            j += usize::from(!take_x);
        }
        while i < n1 {
            let w = x[i];
            if w != cur {
                self.group_end(s, i, j, cur, cur_in_x);
                cur = w;
                cur_in_x = true;
            }
            s += up;
            i += 1;
        }
        while j < n2 {
            let w = y[j];
            if w != cur {
                self.group_end(s, i, j, cur, cur_in_x);
                cur = w;
                cur_in_x = false;
            }
            s -= down;
            j += 1;
        }
        self.group_end(s, i, j, cur, cur_in_x);
        // The last difference is 1 - 1 = 0, so max >= 0 >= min.
        let min_s = (-self.min.value).clamp(0.0, 1.0);
        if min_s > self.max.value {
            KsStatistic {
                d: min_s,
                location: self.min.location(),
                sign: -1,
            }
        } else {
            KsStatistic {
                d: self.max.value,
                location: self.max.location(),
                sign: 1,
            }
        }
    }
}

/// The two-sided KS statistic of two sorted finite samples with scipy's `statistic_location`
/// and `statistic_sign`; identical to [`ks_statistic_float`], which it falls back to when
/// `n1·n2 > 2^50` or a sample is empty.
#[allow(clippy::cast_precision_loss)]
pub(crate) fn ks_statistic(x: &[f64], y: &[f64]) -> KsStatistic {
    let (n1, n2) = (x.len(), y.len());
    if n1 == 0 || n2 == 0 || (n1 as u128) * (n2 as u128) > EXACT_MAX {
        return ks_statistic_float(x, y);
    }
    Walk {
        x,
        y,
        f1: n1 as f64,
        f2: n2 as f64,
        max: Extreme::new(i64::MIN, f64::NEG_INFINITY),
        min: Extreme::new(i64::MAX, f64::INFINITY),
    }
    .run()
}

/// `scipy.stats.wasserstein_distance` of two sorted finite samples: the sum over the merged
/// order of `|F1 − F2| · (next − current)`, Neumaier-compensated, in the same order and with
/// the same operands as the straightforward walk (zero-width steps add `±0`, which leaves the
/// sum's bits unchanged).
#[allow(clippy::cast_precision_loss)]
pub(crate) fn wasserstein(x: &[f64], y: &[f64]) -> f64 {
    let (nx, ny) = (x.len(), y.len());
    let (fx, fy) = (nx as f64, ny as f64);
    let mut sum = Sum::default();
    let (mut i, mut j) = (0usize, 0usize);
    let Some(&first) = (match (x.first(), y.first()) {
        (Some(a), Some(b)) => Some(if a <= b { a } else { b }),
        (a, b) => a.or(b),
    }) else {
        return 0.0;
    };
    let mut prev = first;
    // The counts also as floats (exact below 2^53), kept apart from the indexes: converting
    // the indexes at each step put them in vector registers and lengthened the loop's chain
    // (index, load, compare, index).
    let (mut fi, mut fj) = (0.0f64, 0.0f64);
    while i < nx && j < ny {
        let (u, v) = (x[i], y[j]);
        let take_x = u <= v;
        let w = if take_x { u } else { v };
        sum.add((fi / fx - fj / fy).abs() * (w - prev));
        prev = w;
        i += usize::from(take_x);
        j += usize::from(!take_x);
        fi += f64::from(u8::from(take_x));
        fj += f64::from(u8::from(!take_x));
    }
    let term = |i: usize, j: usize, delta: f64| (i as f64 / fx - j as f64 / fy).abs() * delta;
    for &w in &x[i..] {
        sum.add(term(i, j, w - prev));
        prev = w;
        i += 1;
    }
    for &w in &y[j..] {
        sum.add(term(i, j, w - prev));
        prev = w;
        j += 1;
    }
    sum.value()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sort::sorted_finite;
    use proptest::prelude::*;

    /// The walk `wasserstein` replaced: consume the next merged value, look ahead to the one
    /// after it, add the term when they differ.
    #[allow(clippy::cast_precision_loss)]
    fn wasserstein_reference(x: &[f64], y: &[f64]) -> f64 {
        let (nx, ny) = (x.len(), y.len());
        let (fx, fy) = (nx as f64, ny as f64);
        let (mut i, mut j) = (0usize, 0usize);
        let mut sum = Sum::default();
        let total = nx + ny;
        for k in 0..total {
            let cur = if j == ny || (i < nx && x[i] <= y[j]) {
                i += 1;
                x[i - 1]
            } else {
                j += 1;
                y[j - 1]
            };
            if k + 1 == total {
                break;
            }
            let next = if j == ny || (i < nx && x[i] <= y[j]) {
                x[i]
            } else {
                y[j]
            };
            let delta = next - cur;
            if delta != 0.0 {
                sum.add((i as f64 / fx - j as f64 / fy).abs() * delta);
            }
        }
        sum.value()
    }

    fn sample() -> impl Strategy<Value = Vec<f64>> {
        proptest::collection::vec(
            prop_oneof![
                // Many ties, within and across the samples, including ±0.
                (-4i32..4).prop_map(f64::from),
                Just(-0.0),
                Just(0.0),
                -3.0f64..3.0,
                (-20i32..20).prop_map(|k| f64::from(k) / 10.0),
            ],
            1..300,
        )
        .prop_map(|v| sorted_finite(&v).0)
    }

    fn same(a: KsStatistic, b: KsStatistic) -> bool {
        a.d.to_bits() == b.d.to_bits()
            && a.location.to_bits() == b.location.to_bits()
            && a.sign == b.sign
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn ks_walk_matches_float_walk(x in sample(), y in sample()) {
            let (new, old) = (ks_statistic(&x, &y), ks_statistic_float(&x, &y));
            prop_assert!(same(new, old), "new {new:?} old {old:?}");
        }

        #[test]
        fn ks_walk_matches_float_walk_equal_sizes(
            x in sample(),
            y in proptest::collection::vec(-4i32..4, 1..300),
        ) {
            // Equal sizes: equal exact differences whose float differences differ in the last
            // bit (3/10 - 1/10 < 2/10 - 0 in floats) are common here.
            let mut y: Vec<f64> = y.into_iter().map(f64::from).cycle().take(x.len()).collect();
            y.sort_unstable_by(f64::total_cmp);
            let (new, old) = (ks_statistic(&x, &y), ks_statistic_float(&x, &y));
            prop_assert!(same(new, old), "new {new:?} old {old:?}");
        }

        #[test]
        fn wasserstein_walk_matches_lookahead_walk(x in sample(), y in sample()) {
            let (new, old) = (wasserstein(&x, &y), wasserstein_reference(&x, &y));
            prop_assert_eq!(new.to_bits(), old.to_bits());
        }
    }

    #[test]
    fn float_rounding_ties_keep_the_float_walks_choice() {
        // n1 = n2 = 10: F1 - F2 is exactly 0.2 after 3, 5, 7, ..., 17, but not in floats:
        // 3/10 - 1/10 = 0.19999999999999998, 4/10 - 2/10 = 0.2, 8/10 - 6/10 =
        // 0.20000000000000007 (after 13). The float walk, and scipy's argmax over the same
        // float differences (`statistic_location` 13.0 in scipy 1.17.1), take the largest
        // float, so the integer walk must compare equal counts as floats.
        let x = [0.0, 2.0, 3.0, 5.0, 7.0, 9.0, 11.0, 13.0, 15.0, 17.0];
        let y = [1.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0, 18.0, 19.0];
        let (new, old) = (ks_statistic(&x, &y), ks_statistic_float(&x, &y));
        assert!(same(new, old), "new {new:?} old {old:?}");
        assert_eq!(
            (new.d, new.location, new.sign),
            (8.0 / 10.0 - 6.0 / 10.0, 13.0, 1)
        );
        assert!(new.d > 0.2);
    }

    #[test]
    fn large_random_samples_agree() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            #[allow(clippy::cast_precision_loss)]
            let u = (state >> 11) as f64 / (1u64 << 53) as f64;
            u
        };
        let a: Vec<f64> = (0..50_000).map(|_| next()).collect();
        let b: Vec<f64> = (0..40_000).map(|_| next() + 0.003).collect();
        let (x, y) = (sorted_finite(&a).0, sorted_finite(&b).0);
        assert!(same(ks_statistic(&x, &y), ks_statistic_float(&x, &y)));
        assert_eq!(
            wasserstein(&x, &y).to_bits(),
            wasserstein_reference(&x, &y).to_bits()
        );
    }
}
