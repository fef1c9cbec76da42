//! Latency percentiles and a measuring helper.

use std::fmt;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::check::{CheckResult, CheckStatus, Threshold, threshold_check};
use crate::error::{EntityKind, Result, TestingError};
use crate::human;
use crate::stats::{QuantileMethod, quantile_sorted};
use crate::stattests::FiniteSample;

/// Summary of latency samples (milliseconds), with the quantile method stated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyStats {
    /// Samples used.
    pub count: usize,
    /// NaN or infinite samples dropped.
    pub dropped: usize,
    /// How percentiles were computed.
    pub method: QuantileMethod,
    /// Smallest sample.
    pub min_ms: f64,
    /// Mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
}

impl LatencyStats {
    /// Summarise samples in milliseconds; NaN and infinite samples are dropped and counted.
    ///
    /// # Errors
    /// [`TestingError::InvalidArgument`] if no finite sample remains, or a sample is negative.
    pub fn from_samples(samples_ms: &[f64], method: QuantileMethod) -> Result<Self> {
        let s = FiniteSample::new(samples_ms);
        if s.values.is_empty() {
            return Err(TestingError::invalid(
                "latency samples",
                format!("no finite samples ({} given)", samples_ms.len()),
            ));
        }
        if let Some(v) = s.values.iter().find(|v| **v < 0.0) {
            return Err(TestingError::invalid(
                "latency samples",
                format!("negative latency {v}"),
            ));
        }
        let dropped = s.dropped();
        let mut v = s.values;
        v.sort_unstable_by(f64::total_cmp);
        #[allow(clippy::cast_precision_loss)]
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        Ok(Self {
            count: v.len(),
            dropped,
            method,
            min_ms: v[0],
            mean_ms: mean,
            p50_ms: quantile_sorted(&v, 0.5, method)?,
            p95_ms: quantile_sorted(&v, 0.95, method)?,
            p99_ms: quantile_sorted(&v, 0.99, method)?,
            max_ms: v[v.len() - 1],
        })
    }

    /// The value of a named statistic: `p50`, `p95`, `p99`, `max`, `mean`, `min`.
    ///
    /// # Errors
    /// [`TestingError::NotFound`] for another name.
    pub fn get(&self, stat: &str) -> Result<f64> {
        Ok(match stat {
            "p50" => self.p50_ms,
            "p95" => self.p95_ms,
            "p99" => self.p99_ms,
            "max" => self.max_ms,
            "min" => self.min_ms,
            "mean" => self.mean_ms,
            _ => {
                return Err(TestingError::NotFound {
                    kind: EntityKind::LatencyStatistic,
                    id: stat.to_owned(),
                });
            }
        })
    }

    /// Check one statistic (`p95`, ...) against an upper bound in milliseconds. The message
    /// gives both as durations (`latency p95 = 60 µs (required <= 100 ms)`); the metric is
    /// `latency_<stat>_ms`.
    #[must_use]
    pub fn check(&self, name: &str, stat: &str, max_ms: f64) -> CheckResult {
        match self.get(stat) {
            Ok(v) => {
                let mut r = threshold_check(
                    name,
                    "latency",
                    &format!("latency_{stat}_ms"),
                    v,
                    Threshold::at_most(max_ms),
                );
                if r.status != CheckStatus::Error {
                    r.message = format!(
                        "latency {stat} = {} (required <= {})",
                        human::duration_ms(v),
                        human::duration_ms(max_ms)
                    );
                }
                r.with_details(serde_json::to_value(self).unwrap_or_default())
            }
            Err(e) => CheckResult::error(name, "latency", e.to_string()),
        }
    }
}

impl fmt::Display for LatencyStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "n={} p50={} p95={} p99={} max={} mean={} ({})",
            self.count,
            human::duration_ms(self.p50_ms),
            human::duration_ms(self.p95_ms),
            human::duration_ms(self.p99_ms),
            human::duration_ms(self.max_ms),
            human::duration_ms(self.mean_ms),
            self.method
        )
    }
}

/// Time `iterations` calls of `f` after `warmup` untimed calls, and summarise the per-call
/// latencies in milliseconds.
///
/// # Errors
/// [`TestingError::InvalidArgument`] if `iterations` is zero.
pub fn measure_latency<F: FnMut()>(
    warmup: usize,
    iterations: usize,
    method: QuantileMethod,
    mut f: F,
) -> Result<LatencyStats> {
    if iterations == 0 {
        return Err(TestingError::invalid("iterations", "must be at least 1"));
    }
    for _ in 0..warmup {
        f();
    }
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let t = Instant::now();
        f();
        samples.push(t.elapsed().as_secs_f64() * 1e3);
    }
    LatencyStats::from_samples(&samples, method)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p95_is_numpy_linear_by_default() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = LatencyStats::from_samples(&v, QuantileMethod::default()).unwrap();
        assert!((s.p95_ms - 95.05).abs() < 1e-12);
        assert_eq!(s.max_ms, 100.0);
        assert!((s.mean_ms - 50.5).abs() < 1e-12);
        let s = LatencyStats::from_samples(&v, QuantileMethod::InvertedCdf).unwrap();
        assert_eq!(s.p95_ms, 95.0);
    }

    #[test]
    fn nan_dropped_and_counted_empty_is_error() {
        let s = LatencyStats::from_samples(
            &[1.0, f64::NAN, 2.0, f64::INFINITY],
            QuantileMethod::Linear,
        )
        .unwrap();
        assert_eq!((s.count, s.dropped), (2, 2));
        assert!(LatencyStats::from_samples(&[], QuantileMethod::Linear).is_err());
        assert!(LatencyStats::from_samples(&[f64::NAN], QuantileMethod::Linear).is_err());
        assert!(LatencyStats::from_samples(&[-1.0], QuantileMethod::Linear).is_err());
    }

    #[test]
    fn measuring_runs_warmup_then_iterations() {
        let mut calls = 0;
        let s = measure_latency(3, 10, QuantileMethod::Linear, || calls += 1).unwrap();
        assert_eq!(calls, 13);
        assert_eq!(s.count, 10);
        assert!(measure_latency(0, 0, QuantileMethod::Linear, || {}).is_err());
    }

    #[test]
    fn check_uses_lower_is_better() {
        let s = LatencyStats::from_samples(&[10.0, 20.0, 150.0], QuantileMethod::Linear).unwrap();
        assert!(!s.check("lat", "p95", 100.0).passed);
        assert!(s.check("lat", "p50", 100.0).passed);
        assert_eq!(s.check("lat", "p42", 100.0).status, CheckStatus::Error);
    }

    #[test]
    fn messages_give_human_durations() {
        let s =
            LatencyStats::from_samples(&[0.06, 0.06, 1.234_567_8], QuantileMethod::Linear).unwrap();
        let r = s.check("lat", "p50", 100.0);
        assert_eq!(r.message, "latency p50 = 60 µs (required <= 100 ms)");
        assert_eq!(r.metric.as_deref(), Some("latency_p50_ms"));
        let text = s.to_string();
        assert!(text.starts_with("n=3 p50=60 µs p95=1.117 ms"), "{text}");
        assert!(text.contains("max=1.235 ms"), "{text}");
    }
}
