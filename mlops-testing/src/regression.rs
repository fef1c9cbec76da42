//! Regression against a baseline: per metric a direction and a tolerance.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::check::CheckResult;
use crate::error::{EntityKind, Result, TestingError};
use crate::human;
use crate::stats::Direction;

/// How much worse than the baseline a metric may get.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Tolerance {
    /// In the metric's units: worsening up to this amount is allowed.
    Absolute(f64),
    /// As a fraction of `|baseline|`: worsening up to `fraction * |baseline|` is allowed. With a
    /// baseline of 0 this allows no worsening at all (and the relative delta is not reported).
    Relative(f64),
}

/// One metric to compare.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSpec {
    /// Metric name, as in the baseline and current maps.
    pub name: String,
    /// Which way is better.
    pub direction: Direction,
    /// Allowed worsening.
    pub tolerance: Tolerance,
}

impl MetricSpec {
    /// A metric compared in `direction` with `tolerance`.
    #[must_use]
    pub fn new(name: impl Into<String>, direction: Direction, tolerance: Tolerance) -> Self {
        Self {
            name: name.into(),
            direction,
            tolerance,
        }
    }

    /// A metric to maximize (accuracy, F1).
    #[must_use]
    pub fn maximize(name: impl Into<String>, tolerance: Tolerance) -> Self {
        Self::new(name, Direction::Maximize, tolerance)
    }

    /// A metric to minimize (latency, loss).
    #[must_use]
    pub fn minimize(name: impl Into<String>, tolerance: Tolerance) -> Self {
        Self::new(name, Direction::Minimize, tolerance)
    }
}

/// Verdict for one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Better than the baseline.
    Improved,
    /// Equal to the baseline.
    Unchanged,
    /// Worse, but within the tolerance.
    WithinTolerance,
    /// Worse by more than the tolerance.
    Regressed,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Improved => "improved",
            Self::Unchanged => "unchanged",
            Self::WithinTolerance => "within tolerance",
            Self::Regressed => "REGRESSED",
        })
    }
}

/// One metric's comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricComparison {
    /// Metric name.
    pub metric: String,
    /// Which way is better.
    pub direction: Direction,
    /// Baseline value.
    pub baseline: f64,
    /// Current value.
    pub current: f64,
    /// `current - baseline`.
    pub delta: f64,
    /// `delta / |baseline|`, absent when the baseline is 0.
    pub relative_delta: Option<f64>,
    /// The tolerance.
    pub tolerance: Tolerance,
    /// Worsening allowed in the metric's units.
    pub allowed_worsening: f64,
    /// The verdict.
    pub verdict: Verdict,
}

/// All comparisons against a baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegressionReport {
    /// One per metric spec, in order.
    pub metrics: Vec<MetricComparison>,
}

impl RegressionReport {
    /// Whether no metric regressed.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.regressions().next().is_none()
    }

    /// The regressed metrics.
    pub fn regressions(&self) -> impl Iterator<Item = &MetricComparison> {
        self.metrics
            .iter()
            .filter(|m| m.verdict == Verdict::Regressed)
    }

    /// As a suite check (category `regression`), with this report as details.
    #[must_use]
    pub fn to_check(&self, name: impl Into<String>) -> CheckResult {
        let regressed: Vec<String> = self
            .regressions()
            .map(|m| {
                format!(
                    "{} {} -> {} ({})",
                    m.metric,
                    human::number(m.baseline),
                    human::number(m.current),
                    m.direction
                )
            })
            .collect();
        let message = if regressed.is_empty() {
            format!("no regression in {} metrics", self.metrics.len())
        } else {
            format!("regressed: {}", regressed.join(", "))
        };
        #[allow(clippy::cast_precision_loss)]
        CheckResult::verdict(name, "regression", regressed.is_empty(), message)
            .with_metric(
                "regression_count",
                regressed.len() as f64,
                Some(0.0),
                Some(Direction::Minimize),
            )
            .with_details(serde_json::to_value(self).unwrap_or_default())
    }
}

impl fmt::Display for RegressionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = self
            .metrics
            .iter()
            .map(|m| m.metric.len())
            .max()
            .unwrap_or(6)
            .max(6);
        write!(
            f,
            "{:<w$}  {:>12}  {:>12}  {:>12}  {:<16}  verdict",
            "metric", "baseline", "current", "delta", "direction"
        )?;
        for m in &self.metrics {
            write!(
                f,
                "\n{:<w$}  {:>12.4}  {:>12.4}  {:>+12.4}  {:<16}  {}",
                m.metric,
                m.baseline,
                m.current,
                m.delta,
                m.direction.to_string(),
                m.verdict
            )?;
        }
        Ok(())
    }
}

/// How many units in the last place of the operands a worsening may exceed the allowed amount
/// by and still count as within tolerance (see [`compare_to_baseline`]).
const TOLERANCE_ULPS: f64 = 4.0;

/// `worsening <= allowed`, up to the rounding of the subtraction that produced `worsening` (and
/// of the product that produced a relative `allowed`): a few ULPs of the largest operand.
fn within(worsening: f64, allowed: f64, baseline: f64, current: f64) -> bool {
    let scale = baseline.abs().max(current.abs()).max(allowed.abs());
    worsening <= allowed + TOLERANCE_ULPS * f64::EPSILON * scale
}

/// Compare `current` with `baseline` for every spec.
///
/// "Within tolerance" includes the edge: the worsening is compared with the allowed amount up to
/// four units in the last place of the largest of baseline, current and allowed, so a baseline
/// of 0.90, a current of 0.89 and `Absolute(0.01)` is within tolerance although `0.90 - 0.89` is
/// `0.010000000000000009` in binary. This holds for absolute and relative tolerances and in both
/// directions; a worsening larger than the tolerance by more than that rounding is a regression.
///
/// # Errors
/// [`TestingError::NotFound`] if a spec's metric is missing from either map;
/// [`TestingError::InvalidArgument`] for a negative or non-finite tolerance or a non-finite value.
pub fn compare_to_baseline(
    baseline: &BTreeMap<String, f64>,
    current: &BTreeMap<String, f64>,
    specs: &[MetricSpec],
) -> Result<RegressionReport> {
    let mut metrics = Vec::with_capacity(specs.len());
    for spec in specs {
        let get = |m: &BTreeMap<String, f64>, which: EntityKind| {
            m.get(&spec.name)
                .copied()
                .ok_or_else(|| TestingError::NotFound {
                    kind: which,
                    id: spec.name.clone(),
                })
        };
        let b = get(baseline, EntityKind::BaselineMetric)?;
        let c = get(current, EntityKind::CurrentMetric)?;
        if !b.is_finite() || !c.is_finite() {
            return Err(TestingError::invalid(
                "metric",
                format!("{}: baseline {b}, current {c} must be finite", spec.name),
            ));
        }
        let tol = match spec.tolerance {
            Tolerance::Absolute(t) | Tolerance::Relative(t) => t,
        };
        if !tol.is_finite() || tol < 0.0 {
            return Err(TestingError::invalid(
                "tolerance",
                format!(
                    "{}: tolerance {tol} must be finite and non-negative",
                    spec.name
                ),
            ));
        }
        let allowed = match spec.tolerance {
            Tolerance::Absolute(t) => t,
            Tolerance::Relative(t) => t * b.abs(),
        };
        let delta = c - b;
        let worsening = match spec.direction {
            Direction::Maximize => -delta,
            Direction::Minimize => delta,
        };
        let verdict = if worsening < 0.0 {
            Verdict::Improved
        } else if worsening == 0.0 {
            Verdict::Unchanged
        } else if within(worsening, allowed, b, c) {
            Verdict::WithinTolerance
        } else {
            Verdict::Regressed
        };
        metrics.push(MetricComparison {
            metric: spec.name.clone(),
            direction: spec.direction,
            baseline: b,
            current: c,
            delta,
            relative_delta: (b != 0.0).then(|| delta / b.abs()),
            tolerance: spec.tolerance,
            allowed_worsening: allowed,
            verdict,
        });
    }
    Ok(RegressionReport { metrics })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(v: &[(&str, f64)]) -> BTreeMap<String, f64> {
        v.iter().map(|(k, x)| ((*k).to_owned(), *x)).collect()
    }

    #[test]
    fn latency_going_up_is_a_regression() {
        let base = map(&[("accuracy", 0.88), ("f1", 0.86), ("p95_ms", 40.0)]);
        let cur = map(&[("accuracy", 0.91), ("f1", 0.85), ("p95_ms", 55.0)]);
        let specs = [
            MetricSpec::maximize("accuracy", Tolerance::Absolute(0.02)),
            MetricSpec::maximize("f1", Tolerance::Absolute(0.02)),
            MetricSpec::minimize("p95_ms", Tolerance::Relative(0.10)),
        ];
        let r = compare_to_baseline(&base, &cur, &specs).unwrap();
        let verdicts: Vec<Verdict> = r.metrics.iter().map(|m| m.verdict).collect();
        assert_eq!(
            verdicts,
            [
                Verdict::Improved,
                Verdict::WithinTolerance,
                Verdict::Regressed
            ]
        );
        assert!(!r.passed());
        let check = r.to_check("regression");
        assert!(!check.passed);
        assert!(check.message.contains("p95_ms"), "{}", check.message);
        assert!(r.to_string().contains("REGRESSED"));
    }

    #[test]
    fn zero_baseline_is_handled() {
        let base = map(&[("errors", 0.0)]);
        let spec = [MetricSpec::minimize("errors", Tolerance::Relative(0.5))];
        let r = compare_to_baseline(&base, &map(&[("errors", 1.0)]), &spec).unwrap();
        assert_eq!(r.metrics[0].verdict, Verdict::Regressed);
        assert_eq!(r.metrics[0].relative_delta, None);
        let r = compare_to_baseline(&base, &map(&[("errors", 0.0)]), &spec).unwrap();
        assert_eq!(r.metrics[0].verdict, Verdict::Unchanged);
        let spec = [MetricSpec::minimize("errors", Tolerance::Absolute(2.0))];
        let r = compare_to_baseline(&base, &map(&[("errors", 1.0)]), &spec).unwrap();
        assert_eq!(r.metrics[0].verdict, Verdict::WithinTolerance);
    }

    #[test]
    fn the_tolerance_edge_is_within_tolerance() {
        // 0.90 - 0.89 = 0.010000000000000009 in binary: the edge must not be a regression.
        let base = map(&[("acc", 0.90), ("loss", 0.89), ("p95", 0.7)]);
        let cur = map(&[("acc", 0.89), ("loss", 0.90), ("p95", 0.77)]);
        let specs = [
            MetricSpec::maximize("acc", Tolerance::Absolute(0.01)),
            MetricSpec::minimize("loss", Tolerance::Absolute(0.01)),
            // 0.7 * 1.1 = 0.77 in decimal; 0.77 - 0.7 = 0.07000000000000006 in binary.
            MetricSpec::minimize("p95", Tolerance::Relative(0.1)),
        ];
        let r = compare_to_baseline(&base, &cur, &specs).unwrap();
        for m in &r.metrics {
            assert_eq!(m.verdict, Verdict::WithinTolerance, "{m:?}");
        }
        // Messages print human numbers, not 0.8899000000000001.
        let check = compare_to_baseline(
            &map(&[("acc", 0.9)]),
            &map(&[("acc", 0.7 + 0.1 + 0.0899)]),
            &[MetricSpec::maximize("acc", Tolerance::Absolute(0.0))],
        )
        .unwrap()
        .to_check("regression");
        assert_eq!(
            check.message,
            "regressed: acc 0.9 -> 0.8899 (higher is better)"
        );
        // Just past the edge is still a regression.
        let cur = map(&[("acc", 0.8899), ("loss", 0.9001), ("p95", 0.7701)]);
        let r = compare_to_baseline(&base, &cur, &specs).unwrap();
        for m in &r.metrics {
            assert_eq!(m.verdict, Verdict::Regressed, "{m:?}");
        }
    }

    proptest::proptest! {
        /// Decimal values exactly at the tolerance edge are within tolerance; one step (1e-4)
        /// beyond it is a regression, for both tolerances and both directions.
        #[test]
        fn edges_hold_in_decimal(
            b in 0i64..=100_000, t in 0i64..=10_000, p in 0i64..=100, higher in proptest::bool::ANY,
        ) {
            let d = |x: i64| x as f64 / 1e4;
            let sign = if higher { -1 } else { 1 };
            let spec = |tol| if higher {
                MetricSpec::maximize("m", tol)
            } else {
                MetricSpec::minimize("m", tol)
            };
            let verdict = |cur: f64, tol| {
                compare_to_baseline(&map(&[("m", d(b))]), &map(&[("m", cur)]), &[spec(tol)])
                    .unwrap()
                    .metrics[0]
                    .verdict
            };
            // Absolute: baseline b, tolerance t, current b -/+ t (all in units of 1e-4).
            let edge = verdict(d(b + sign * t), Tolerance::Absolute(d(t)));
            proptest::prop_assert!(matches!(edge, Verdict::WithinTolerance | Verdict::Unchanged), "{edge}");
            let past = verdict(d(b + sign * (t + 1)), Tolerance::Absolute(d(t)));
            proptest::prop_assert_eq!(past, Verdict::Regressed);
            // Relative: baseline b/100 (units of 1e-2), p percent: current b (100 -/+ p) in 1e-4.
            let base = b / 100;
            let rel = |cur: i64| {
                compare_to_baseline(
                    &map(&[("m", base as f64 / 1e2)]),
                    &map(&[("m", d(cur))]),
                    &[spec(Tolerance::Relative(p as f64 / 100.0))],
                )
                .unwrap()
                .metrics[0]
                .verdict
            };
            let edge = rel(base * (100 + sign * p));
            proptest::prop_assert!(matches!(edge, Verdict::WithinTolerance | Verdict::Unchanged), "{edge}");
            let past = rel(base * (100 + sign * p) + sign);
            proptest::prop_assert_eq!(past, Verdict::Regressed);
        }
    }

    #[test]
    fn bad_input() {
        let base = map(&[("a", 1.0)]);
        let spec = [MetricSpec::maximize("a", Tolerance::Absolute(-1.0))];
        assert!(compare_to_baseline(&base, &base, &spec).is_err());
        let spec = [MetricSpec::maximize("b", Tolerance::Absolute(0.0))];
        assert!(matches!(
            compare_to_baseline(&base, &base, &spec),
            Err(TestingError::NotFound { .. })
        ));
        let nan = map(&[("a", f64::NAN)]);
        let spec = [MetricSpec::maximize("a", Tolerance::Absolute(0.0))];
        assert!(compare_to_baseline(&base, &nan, &spec).is_err());
    }
}
