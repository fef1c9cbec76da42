//! The data model: experiments, runs, params, metrics, tags and artifacts (MLflow's entities).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Result, TrackingError};
use crate::ids::{
    ExperimentId, MAX_BATCH_METRICS, MAX_BATCH_PARAMS, MAX_BATCH_TAGS, RunId, validate_key,
    validate_param_value, validate_tag_value,
};

/// MLflow's system tag holding a run's name.
pub const TAG_RUN_NAME: &str = "mlflow.runName";
/// MLflow's system tag holding the parent of a nested run.
pub const TAG_PARENT_RUN_ID: &str = "mlflow.parentRunId";
/// MLflow's system tag holding the user who started a run.
pub const TAG_USER: &str = "mlflow.user";
/// MLflow's system tag holding the source (script or binary) of a run.
pub const TAG_SOURCE_NAME: &str = "mlflow.source.name";
/// MLflow's system tag holding the kind of source (`LOCAL`, `JOB`, ...).
pub const TAG_SOURCE_TYPE: &str = "mlflow.source.type";
/// MLflow's system tag holding the source's git commit.
pub const TAG_SOURCE_GIT_COMMIT: &str = "mlflow.source.git.commit";

/// Milliseconds since the Unix epoch, the time unit of every timestamp in the model.
#[must_use]
pub fn now_ms() -> i64 {
    // Straight from the system clock: this runs once per logged metric.
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// Whether an experiment or run is live or in the trash (MLflow's `lifecycle_stage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LifecycleStage {
    /// Live.
    Active,
    /// Deleted (restorable).
    Deleted,
}

impl LifecycleStage {
    /// MLflow's spelling: `active` or `deleted`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Deleted => "deleted",
        }
    }
}

impl fmt::Display for LifecycleStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which lifecycle stages a listing or search includes (MLflow's `ViewType`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ViewType {
    /// Only active entities (the default).
    #[default]
    ActiveOnly,
    /// Only deleted entities.
    DeletedOnly,
    /// Both.
    All,
}

impl ViewType {
    /// Whether an entity in `stage` is included.
    #[must_use]
    pub fn includes(self, stage: LifecycleStage) -> bool {
        match self {
            Self::ActiveOnly => stage == LifecycleStage::Active,
            Self::DeletedOnly => stage == LifecycleStage::Deleted,
            Self::All => true,
        }
    }
}

/// A run's status, MLflow's `RunStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunStatus {
    /// Started and not yet ended.
    Running,
    /// Created but not started.
    Scheduled,
    /// Ended successfully.
    Finished,
    /// Ended with an error.
    Failed,
    /// Ended because it was stopped.
    Killed,
}

impl RunStatus {
    /// MLflow's spelling (`RUNNING`, `SCHEDULED`, `FINISHED`, `FAILED`, `KILLED`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "RUNNING",
            Self::Scheduled => "SCHEDULED",
            Self::Finished => "FINISHED",
            Self::Failed => "FAILED",
            Self::Killed => "KILLED",
        }
    }

    /// Whether the run has ended (finished, failed or killed).
    #[must_use]
    pub fn is_terminated(self) -> bool {
        matches!(self, Self::Finished | Self::Failed | Self::Killed)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = TrackingError;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "RUNNING" => Self::Running,
            "SCHEDULED" => Self::Scheduled,
            "FINISHED" => Self::Finished,
            "FAILED" => Self::Failed,
            "KILLED" => Self::Killed,
            _ => {
                return Err(TrackingError::invalid(
                    "run status",
                    format!("{s:?} is not one of RUNNING, SCHEDULED, FINISHED, FAILED, KILLED"),
                ));
            }
        })
    }
}

/// An experiment: a named group of runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Experiment {
    /// The experiment's id (`"0"` is the default experiment, as in MLflow).
    pub experiment_id: ExperimentId,
    /// Its unique name.
    pub name: String,
    /// Where its runs' artifacts live (a path or URI).
    pub artifact_location: String,
    /// Active or deleted.
    pub lifecycle_stage: LifecycleStage,
    /// Experiment tags.
    pub tags: BTreeMap<String, String>,
    /// Creation time, ms since the epoch.
    pub creation_time: i64,
    /// Last change of name, lifecycle or tags, ms since the epoch.
    pub last_update_time: i64,
}

/// One metric value: `(key, value, timestamp, step)`.
///
/// Values may be NaN or ±infinity; they are stored and returned exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// The metric's key.
    pub key: String,
    /// The value.
    #[serde(with = "f64_special")]
    pub value: f64,
    /// When it was measured, ms since the epoch.
    pub timestamp: i64,
    /// The training step (0 when not given).
    pub step: i64,
}

impl Metric {
    /// A metric value.
    pub fn new(key: impl Into<String>, value: f64, timestamp: i64, step: i64) -> Self {
        Self {
            key: key.into(),
            value,
            timestamp,
            step,
        }
    }

    /// MLflow's order for "latest": the greatest `(step, timestamp, value)`, values compared with
    /// [`f64::total_cmp`] (so NaN is greater than every number).
    #[must_use]
    pub fn latest_order(&self, other: &Self) -> std::cmp::Ordering {
        (self.step, self.timestamp)
            .cmp(&(other.step, other.timestamp))
            .then(self.value.total_cmp(&other.value))
    }

    /// Whether two metrics are identical, NaN equal to NaN (bit-exact values).
    #[must_use]
    pub fn same_as(&self, other: &Self) -> bool {
        self.key == other.key
            && self.value.to_bits() == other.value.to_bits()
            && self.timestamp == other.timestamp
            && self.step == other.step
    }
}

/// Serde for `f64` that also carries NaN and ±infinity (as the strings `"NaN"`, `"Infinity"`,
/// `"-Infinity"`, MLflow's JSON spelling); finite values are JSON numbers.
pub(crate) mod f64_special {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else if v.is_nan() {
            s.serialize_str("NaN")
        } else if *v > 0.0 {
            s.serialize_str("Infinity")
        } else {
            s.serialize_str("-Infinity")
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr<'a> {
        Num(f64),
        Str(&'a str),
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        match Repr::deserialize(d)? {
            Repr::Num(v) => Ok(v),
            Repr::Str("NaN") => Ok(f64::NAN),
            Repr::Str("Infinity") => Ok(f64::INFINITY),
            Repr::Str("-Infinity") => Ok(f64::NEG_INFINITY),
            Repr::Str(other) => Err(serde::de::Error::custom(format!(
                "{other:?} is not a number, \"NaN\", \"Infinity\" or \"-Infinity\""
            ))),
        }
    }
}

/// A run's metadata (MLflow's `RunInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The run's id.
    pub run_id: RunId,
    /// The experiment it belongs to.
    pub experiment_id: ExperimentId,
    /// Its name (also the `mlflow.runName` tag).
    pub run_name: String,
    /// Who started it (also the `mlflow.user` tag), empty when unknown.
    pub user_id: String,
    /// Its status.
    pub status: RunStatus,
    /// Start time, ms since the epoch.
    pub start_time: i64,
    /// End time, ms since the epoch, once ended.
    pub end_time: Option<i64>,
    /// Where its artifacts live (a path or URI).
    pub artifact_uri: String,
    /// Active or deleted.
    pub lifecycle_stage: LifecycleStage,
}

/// A run's data: params, the latest value of each metric, tags.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunData {
    /// The latest value of each metric key (see [`Metric::latest_order`]).
    pub metrics: BTreeMap<String, Metric>,
    /// Params (write-once).
    pub params: BTreeMap<String, String>,
    /// Tags, system tags included.
    pub tags: BTreeMap<String, String>,
}

/// A run: its info and its data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Metadata.
    pub info: RunInfo,
    /// Params, latest metrics, tags.
    pub data: RunData,
}

impl Run {
    /// The run's parent (the `mlflow.parentRunId` tag), if it is a nested run.
    #[must_use]
    pub fn parent_run_id(&self) -> Option<RunId> {
        self.data
            .tags
            .get(TAG_PARENT_RUN_ID)
            .and_then(|s| s.parse().ok())
    }

    /// The latest value of metric `key`.
    #[must_use]
    pub fn metric(&self, key: &str) -> Option<f64> {
        self.data.metrics.get(key).map(|m| m.value)
    }
}

/// A stored artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactInfo {
    /// Its path relative to the run's artifact root (`models/model.bin`).
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the content, 64 lower-case hex digits.
    pub sha256: String,
}

/// The one write of the trait: metrics, params and tags applied together, all or nothing.
///
/// Limits are MLflow's: at most [`MAX_BATCH_METRICS`] metrics, [`MAX_BATCH_PARAMS`] params and
/// [`MAX_BATCH_TAGS`] tags.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// Metric values to append.
    pub metrics: Vec<Metric>,
    /// Params to log (write-once per key).
    pub params: Vec<(String, String)>,
    /// Tags to set (overwritable).
    pub tags: Vec<(String, String)>,
}

impl Batch {
    /// An empty batch.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a metric value.
    #[must_use]
    pub fn metric(mut self, key: impl Into<String>, value: f64, timestamp: i64, step: i64) -> Self {
        self.metrics.push(Metric::new(key, value, timestamp, step));
        self
    }

    /// Add a param.
    #[must_use]
    pub fn param(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.push((key.into(), value.into()));
        self
    }

    /// Add a tag.
    #[must_use]
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.push((key.into(), value.into()));
        self
    }

    /// Whether the batch carries nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.metrics.is_empty() && self.params.is_empty() && self.tags.is_empty()
    }

    /// Check sizes, keys and value lengths, and that the batch does not itself log one param
    /// key with two values.
    ///
    /// # Errors
    /// [`TrackingError::InvalidArgument`] naming the offending key or limit;
    /// [`TrackingError::Conflict`] for one param key with two values in the batch.
    pub fn validate(&self) -> Result<()> {
        let limit = |what: &'static str, n: usize, max: usize| {
            if n > max {
                Err(TrackingError::invalid(
                    "batch",
                    format!("{n} {what} in one batch; at most {max} are allowed"),
                ))
            } else {
                Ok(())
            }
        };
        limit("metrics", self.metrics.len(), MAX_BATCH_METRICS)?;
        limit("params", self.params.len(), MAX_BATCH_PARAMS)?;
        limit("tags", self.tags.len(), MAX_BATCH_TAGS)?;
        // A batch usually repeats a handful of keys: validate each distinct key once.
        let mut seen: Vec<&str> = Vec::new();
        for m in &self.metrics {
            if m.timestamp < 0 {
                return Err(TrackingError::invalid(
                    "metric timestamp",
                    format!(
                        "{} for {:?} is negative (milliseconds since the Unix epoch, as MLflow)",
                        m.timestamp, m.key
                    ),
                ));
            }
            if !seen.contains(&m.key.as_str()) {
                validate_key("metric key", &m.key)?;
                if seen.len() < 16 {
                    seen.push(&m.key);
                }
            }
        }
        for (i, (k, v)) in self.params.iter().enumerate() {
            validate_key("param key", k)?;
            validate_param_value(k, v)?;
            if let Some((_, other)) = self.params[..i].iter().find(|(k2, _)| k2 == k)
                && other != v
            {
                return Err(param_conflict(k, other, v));
            }
        }
        for (k, v) in &self.tags {
            validate_key("tag key", k)?;
            validate_tag_value(k, v)?;
        }
        Ok(())
    }
}

/// The error for a param logged again with a different value.
pub(crate) fn param_conflict(key: &str, old: &str, new: &str) -> TrackingError {
    TrackingError::Conflict(format!(
        "param {key:?} already has value {old:?}; cannot change it to {new:?} (params are write-once)"
    ))
}

/// A page of results and the token of the next page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Pass this as the next request's page token to get the next page; `None` on the last page.
    pub next_page_token: Option<String>,
}

/// Encode a result offset as an opaque page token (the shared format of
/// [`mlops_mlflow::search::encode_page_token`]).
pub(crate) fn encode_page_token(offset: usize) -> String {
    mlops_mlflow::search::encode_page_token(offset)
}

/// Decode a page token made by [`encode_page_token`].
pub(crate) fn decode_page_token(token: Option<&str>) -> Result<usize> {
    mlops_mlflow::search::decode_page_token(token)
        .map_err(|e| TrackingError::invalid("page token", e.to_string()))
}

/// Options of [`TrackingBackend::create_run`](crate::TrackingBackend::create_run).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct CreateRun {
    /// The run's name; a name is generated from the run id when `None`.
    pub run_name: Option<String>,
    /// Start time in ms; now when `None`.
    pub start_time: Option<i64>,
    /// Initial tags.
    pub tags: Vec<(String, String)>,
    /// The parent of a nested run (stored as the `mlflow.parentRunId` tag).
    pub parent_run_id: Option<RunId>,
    /// The user (stored as the `mlflow.user` tag); empty when `None`.
    pub user_id: Option<String>,
    /// Initial status; `Running` when `None`.
    pub status: Option<RunStatus>,
}

impl CreateRun {
    /// Default options.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
    /// Set the run name.
    #[must_use]
    pub fn run_name(mut self, name: impl Into<String>) -> Self {
        self.run_name = Some(name.into());
        self
    }
    /// Set the start time (ms).
    #[must_use]
    pub fn start_time(mut self, ms: i64) -> Self {
        self.start_time = Some(ms);
        self
    }
    /// Add a tag.
    #[must_use]
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.push((key.into(), value.into()));
        self
    }
    /// Set the parent run.
    #[must_use]
    pub fn parent(mut self, parent: RunId) -> Self {
        self.parent_run_id = Some(parent);
        self
    }
    /// Set the user.
    #[must_use]
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user_id = Some(user.into());
        self
    }
}

/// Changes of [`TrackingBackend::update_run`](crate::TrackingBackend::update_run); `None` fields
/// are left as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpdateRun {
    /// New status.
    pub status: Option<RunStatus>,
    /// New end time (ms).
    pub end_time: Option<i64>,
    /// New name (the `mlflow.runName` tag follows).
    pub run_name: Option<String>,
}

impl UpdateRun {
    /// No changes.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
    /// Set the status.
    #[must_use]
    pub fn status(mut self, status: RunStatus) -> Self {
        self.status = Some(status);
        self
    }
    /// Set the end time (ms).
    #[must_use]
    pub fn end_time(mut self, ms: i64) -> Self {
        self.end_time = Some(ms);
        self
    }
    /// Rename the run.
    #[must_use]
    pub fn run_name(mut self, name: impl Into<String>) -> Self {
        self.run_name = Some(name.into());
        self
    }
}

/// Most results one search page may hold (MLflow's limit).
pub const MAX_SEARCH_RESULTS: usize = 50_000;
/// Results per search page when not given (MLflow's default).
pub const DEFAULT_SEARCH_RESULTS: usize = 1000;
/// Metric values per history page when not given.
pub const DEFAULT_HISTORY_RESULTS: usize = 25_000;

/// A run search (MLflow's `SearchRuns` request).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SearchRuns {
    /// Experiments to search (all experiments when empty).
    pub experiment_ids: Vec<ExperimentId>,
    /// An MLflow filter string (see [`crate::filter`]); empty matches every run.
    pub filter: String,
    /// Which lifecycle stages to include.
    pub run_view_type: ViewType,
    /// Page size, 1 to [`MAX_SEARCH_RESULTS`].
    pub max_results: usize,
    /// Order clauses such as `metrics.acc DESC` or `attributes.start_time`; the default order is
    /// `start_time DESC, run_id ASC`, which also breaks ties.
    pub order_by: Vec<String>,
    /// Token from the previous page.
    pub page_token: Option<String>,
}

impl Default for SearchRuns {
    fn default() -> Self {
        Self {
            experiment_ids: Vec::new(),
            filter: String::new(),
            run_view_type: ViewType::ActiveOnly,
            max_results: DEFAULT_SEARCH_RESULTS,
            order_by: Vec::new(),
            page_token: None,
        }
    }
}

impl SearchRuns {
    /// Search the given experiments.
    #[must_use]
    pub fn new(experiment_ids: impl IntoIterator<Item = ExperimentId>) -> Self {
        Self {
            experiment_ids: experiment_ids.into_iter().collect(),
            ..Self::default()
        }
    }
    /// Set the filter string.
    #[must_use]
    pub fn filter(mut self, filter: impl Into<String>) -> Self {
        self.filter = filter.into();
        self
    }
    /// Add an order clause.
    #[must_use]
    pub fn order_by(mut self, clause: impl Into<String>) -> Self {
        self.order_by.push(clause.into());
        self
    }
    /// Set the page size.
    #[must_use]
    pub fn max_results(mut self, n: usize) -> Self {
        self.max_results = n;
        self
    }
    /// Set the page token.
    #[must_use]
    pub fn page_token(mut self, token: Option<String>) -> Self {
        self.page_token = token;
        self
    }
    /// Set the view type.
    #[must_use]
    pub fn view(mut self, view: ViewType) -> Self {
        self.run_view_type = view;
        self
    }
}

/// A metric-history request (MLflow's `GetMetricHistory` paging).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HistoryRequest {
    /// Page size (at least 1).
    pub max_results: usize,
    /// Token from the previous page.
    pub page_token: Option<String>,
}

impl Default for HistoryRequest {
    fn default() -> Self {
        Self {
            max_results: DEFAULT_HISTORY_RESULTS,
            page_token: None,
        }
    }
}

impl HistoryRequest {
    /// The first page of the default size.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
    /// Set the page size.
    #[must_use]
    pub fn max_results(mut self, n: usize) -> Self {
        self.max_results = n;
        self
    }
    /// Set the page token.
    #[must_use]
    pub fn page_token(mut self, token: Option<String>) -> Self {
        self.page_token = token;
        self
    }
}

/// Check a run or experiment name: not empty, at most 250 characters, no control characters.
pub(crate) fn validate_name(what: &'static str, name: &str) -> Result<()> {
    if name.is_empty() || name.chars().count() > 250 || name.chars().any(char::is_control) {
        return Err(TrackingError::invalid(
            what,
            format!("{name:?} must be 1 to 250 characters without control characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_floats_round_trip_through_json() {
        for v in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            0.1,
            1e300,
            f64::MIN_POSITIVE,
        ] {
            let m = Metric::new("k", v, 1, 2);
            let json = serde_json::to_string(&m).unwrap();
            let back: Metric = serde_json::from_str(&json).unwrap();
            assert!(
                back.same_as(&m) || (v.is_nan() && back.value.is_nan()),
                "{json}"
            );
        }
        assert!(
            serde_json::from_str::<Metric>(r#"{"key":"k","value":"nan","timestamp":1,"step":1}"#)
                .is_err()
        );
    }

    #[test]
    fn latest_is_greatest_step_then_timestamp_then_value() {
        let a = Metric::new("k", 5.0, 100, 1);
        let b = Metric::new("k", 1.0, 50, 2);
        let c = Metric::new("k", 2.0, 50, 2);
        assert!(b.latest_order(&a).is_gt());
        assert!(c.latest_order(&b).is_gt());
    }

    #[test]
    fn batch_validation() {
        Batch::new()
            .metric("acc", 0.5, 0, 0)
            .param("lr", "0.1")
            .param("lr", "0.1")
            .validate()
            .unwrap();
        let err = Batch::new()
            .param("lr", "0.1")
            .param("lr", "0.2")
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("\"lr\""), "{err}");
        let big = Batch {
            metrics: vec![Metric::new("a", 0.0, 0, 0); 1001],
            ..Batch::default()
        };
        assert!(
            big.validate()
                .unwrap_err()
                .to_string()
                .contains("1001 metrics")
        );
        assert!(Batch::new().tag("../x", "v").validate().is_err());
    }

    #[test]
    fn page_tokens() {
        assert_eq!(
            decode_page_token(Some(&encode_page_token(1234))).unwrap(),
            1234
        );
        assert_eq!(decode_page_token(None).unwrap(), 0);
        assert!(decode_page_token(Some("zzz")).is_err());
        assert!(decode_page_token(Some("o")).is_err());
    }

    #[test]
    fn statuses_parse() {
        for s in [
            RunStatus::Running,
            RunStatus::Scheduled,
            RunStatus::Finished,
            RunStatus::Failed,
            RunStatus::Killed,
        ] {
            assert_eq!(s.as_str().parse::<RunStatus>().unwrap(), s);
        }
        assert!("DONE".parse::<RunStatus>().is_err());
    }
}
