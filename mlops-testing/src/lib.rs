//! # mlops-testing
//!
//! Data, model and drift checks for ML projects, whose numbers match scipy and numpy: data
//! validation over all rows, model metrics, latency percentiles, regression against a baseline
//! with explicit metric directions, and drift tests, gathered into suites that produce text,
//! JSON and JUnit XML reports. Great Expectations, Evidently and scipy are the references.
//!
//! ```
//! use mlops_testing::{Direction, QuantileMethod, quantile_sorted, sorted_finite};
//!
//! let latencies_ms: Vec<f64> = (1..=100).map(f64::from).collect();
//! let sorted = sorted_finite(&latencies_ms)?;
//! // numpy.quantile(x, 0.95) and numpy.quantile(x, 0.95, method="inverted_cdf"):
//! assert!((quantile_sorted(&sorted, 0.95, QuantileMethod::Linear)? - 95.05).abs() < 1e-9);
//! assert_eq!(quantile_sorted(&sorted, 0.95, QuantileMethod::InvertedCdf)?, 95.0);
//! // Latency regresses when it goes up.
//! assert!(!Direction::LowerIsBetter.is_better(120.0, 100.0));
//! # Ok::<(), mlops_testing::TestingError>(())
//! ```
//!
//! ## Backends
//! This crate has no storage trait: checks are pure functions over data, and reports are
//! serializable values that callers write where they like.
//!
//! ## Errors
//! Every fallible function returns [`Result`], whose error is [`TestingError`].
//!
//! ## Crash safety
//! Report files are written atomically (temp file, fsync, rename).

mod check;
mod drift;
mod error;
mod fsutil;
mod latency;
mod metrics;
mod readiness;
mod regression;
mod special;
mod stats;
mod stattests;
mod suite;
mod validate;
mod workflow;

pub use crate::check::{CheckResult, CheckStatus, Threshold, metric_check, threshold_check};
pub use crate::drift::{
    Column, ColumnDrift, ColumnDriftOptions, ColumnKind, Dataset, DriftMethod, DriftOptions,
    DriftReport, column_drift, default_method, drift_report,
};
pub use crate::error::{Result, TestingError};
pub use crate::latency::{LatencyStats, measure_latency};
pub use crate::metrics::{
    Average, ConfusionMatrix, PrecisionRecallF1, accuracy, log_loss, mae, precision_recall_f1, r2,
    rmse, roc_auc,
};
pub use crate::readiness::{Checklist, ChecklistCategory, ChecklistItem, Rating, ReadinessReport};
pub use crate::regression::{
    MetricComparison, MetricSpec, RegressionReport, Tolerance, Verdict, compare_to_baseline,
};
pub use crate::stats::{Direction, QuantileMethod, quantile_sorted, sorted_finite};
pub use crate::stattests::{
    Chi2ContingencyResult, FiniteSample, KS_MAX_AUTO_N, KsMethod, KsResult, TestStatistic,
    chi2_contingency, chisquare, jensenshannon, ks_2samp, proportions_ztest, psi,
    sturges_bin_edges, wasserstein_distance,
};
pub use crate::suite::{Suite, SuiteReport};
pub use crate::validate::{
    Expectation, ExpectationResult, PARTIAL_UNEXPECTED, Row, UnexpectedValue, ValidationReport,
    Validator, ValueType,
};
pub use crate::workflow::{EventFilter, Job, Step, StepAction, Triggers, Workflow, YamlNode};
