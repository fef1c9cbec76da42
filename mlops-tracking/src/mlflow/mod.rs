//! [`MlflowTrackingBackend`]: the [`TrackingBackend`] over an MLflow tracking server's REST API.

use std::io::Read;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::artifact::hex;
use crate::backend::TrackingBackend;
use crate::catalog::{DEFAULT_EXPERIMENT_ID, check_artifact_path};
use crate::error::{EntityKind, Result, TrackingError};
use crate::ids::{ExperimentId, RunId, validate_key, validate_tag_value};
use crate::model::{
    ArtifactInfo, Batch, CreateRun, Experiment, HistoryRequest, LifecycleStage, MAX_SEARCH_RESULTS,
    Metric, Page, Run, RunInfo, SearchRuns, TAG_PARENT_RUN_ID, TAG_USER, UpdateRun, ViewType,
    param_conflict, validate_name,
};
use mlops_mlflow::http::{HttpError, HttpErrorKind, Method, MlflowConfig, MlflowHttp, Retry};

mod json;
#[cfg(test)]
mod tests;

use self::json::{
    bad_answer, int, kv_json, next_token, parse_experiment, parse_metric, parse_run, split_batch,
    view_type,
};

/// MLflow's limit on the entities (metrics + params + tags) of one `runs/log-batch` request.
pub const MAX_BATCH_ENTITIES: usize = 1000;
/// MLflow's limit on the JSON body of one `runs/log-batch` request, in bytes.
pub const MAX_BATCH_BODY_BYTES: usize = 1_000_000;
/// What this backend allows itself per request: MLflow's limit less room for the envelope.
const BODY_BUDGET: usize = MAX_BATCH_BODY_BYTES - 4_096;

/// The [`TrackingBackend`] over an MLflow tracking server (REST API 2.0): training code keeps
/// its [`Tracker`](crate::Tracker) and the server's UI shows every run.
///
/// ```no_run
/// use mlops_tracking::{CreateRun, MlflowConfig, MlflowTrackingBackend, RunStatus, Tracker};
///
/// // MLFLOW_TRACKING_URI, MLFLOW_TRACKING_TOKEN or _USERNAME/_PASSWORD, timeouts, retries.
/// let tracker = Tracker::new(MlflowTrackingBackend::from_env()?);
/// let mut run = tracker.start_run("image_classification", CreateRun::new().run_name("baseline"))?;
/// run.log_param("learning_rate", 0.01)?;
/// run.log_metric("val_accuracy", 0.93, 1)?; // buffered, sent 1,000 per request
/// run.end(RunStatus::Finished)?;
/// # Ok::<(), mlops_tracking::TrackingError>(())
/// ```
///
/// # Calls
/// Each trait method is one or a few calls to `/api/2.0/mlflow/...`: `experiments/create`,
/// `get`, `get-by-name`, `search`, `delete`, `restore`; `runs/create`, `update`, `get`,
/// `search`, `delete`, `restore`, `log-batch`; `metrics/get-history`; `artifacts/list`; and the
/// server's artifact proxy (`/api/2.0/mlflow-artifacts/artifacts/<path>`) for artifact content.
/// Creates are sent once; reads, lifecycle changes and `log-batch` are retried with backoff on
/// connection errors, timeouts, 429 and 5xx ([`MlflowConfig::with_retries`]). Resending a
/// `log-batch` is harmless: MLflow's SQL store keeps one row per identical
/// `(key, value, timestamp, step)` metric, a param logged again with the same value is
/// accepted, and tags are overwritten.
///
/// [`log_batch`](TrackingBackend::log_batch) validates the whole batch locally first (keys,
/// lengths, counts: nothing is sent when it is invalid), then sends it as one request when it
/// fits MLflow's limits (1,000 entities, 1 MB of JSON) and otherwise splits it, in order
/// (params, then metrics in their order, then tags), into as few requests as fit. Before a
/// split batch is sent, its params are checked against the run's, so a param conflict still
/// stores nothing.
///
/// # Errors
/// MLflow's `RESOURCE_DOES_NOT_EXIST`, `RESOURCE_ALREADY_EXISTS` and `INVALID_PARAMETER_VALUE`
/// become [`TrackingError::NotFound`], [`TrackingError::AlreadyExists`] and
/// [`TrackingError::InvalidArgument`] (or [`TrackingError::Conflict`] for a change to a deleted
/// run or experiment or to a param's value, as on the embedded backends). Everything else
/// (server down, timeouts, 5xx, an HTML page instead of JSON, an unknown `error_code`, a denied
/// request) is [`TrackingError::Remote`], whose message names the method, URL, status, code
/// and message. An [`ActiveRun`](crate::ActiveRun) whose flush fails keeps its buffered
/// metrics for the next flush.
///
/// # Differences from the embedded backends
/// - **Ids**: run ids are MLflow's (32 hex digits, as ours); experiment ids are MLflow's
///   decimal strings. The default experiment `"0"` (`Default`) is the server's.
/// - **Metric history order**: MLflow returns a history sorted by `(timestamp, step, value)`,
///   not in logging order (equal for a training loop, whose timestamps do not go back).
/// - **Special values**: MLflow's SQL store keeps ±infinity as ±[`f64::MAX`] and `-0.0` as
///   `0.0` (NaN is kept).
/// - **Duplicate metric values**: MLflow stores one value per identical
///   `(key, value, timestamp, step)`; the embedded backends keep each logged copy.
/// - **Atomicity**: MLflow's SQL store commits a batch's params, metrics and tags in separate
///   transactions, and a batch over MLflow's limits is several requests: a server failure in
///   the middle of a batch can leave part of it stored (resending it is harmless, see above).
///   Validation errors and param conflicts are caught before anything is sent.
/// - **Experiments**: deleting an experiment also marks its runs deleted, and restoring it
///   restores them (MLflow's behaviour); the embedded backends leave the runs alone.
/// - **Lifecycle checks**: MLflow accepts deleting a deleted run; this backend reads the
///   current state first to return `Conflict` like the embedded ones (two calls, not atomic).
/// - **Search**: the filter and `order_by` strings are passed to the server unchanged, with its
///   page tokens; a filter the server rejects is re-parsed locally to report the position
///   ([`TrackingError::InvalidFilter`]). MLflow's filter language is a superset of the
///   [`filter`](crate::filter) module's in places (`IS NULL`, `datasets.`), which the server
///   evaluates, and narrower in one: `IN` / `NOT IN` work only on attributes, so
///   `tags.env IN ('a', 'b')` is refused with `InvalidArgument`.
/// - **Artifacts**: stored through the server's artifact proxy (the server must serve
///   artifacts, MLflow's default; a run whose artifact URI is not `mlflow-artifacts:` gives
///   `InvalidArgument`). MLflow keeps no digest: [`ArtifactInfo::sha256`] is computed by
///   `log_artifact`, is empty in `list_artifacts`, and `open_artifact` cannot check the
///   content against one.
/// - **Timestamps**: as given; the server stamps `last_update_time` and a run name it makes up
///   (`bold-cat-123`) when none is given.
#[derive(Debug, Clone)]
pub struct MlflowTrackingBackend {
    http: MlflowHttp,
}

impl MlflowTrackingBackend {
    /// A backend for the server in `config` (no request is sent).
    #[must_use]
    pub fn new(config: MlflowConfig) -> Self {
        Self {
            http: MlflowHttp::new(config),
        }
    }

    /// A backend configured from MLflow's environment variables (`MLFLOW_TRACKING_URI`,
    /// `MLFLOW_TRACKING_TOKEN`, `MLFLOW_TRACKING_USERNAME` / `_PASSWORD`,
    /// `MLFLOW_HTTP_REQUEST_TIMEOUT`, `_MAX_RETRIES`, `_BACKOFF_FACTOR`).
    ///
    /// # Errors
    /// [`TrackingError::InvalidArgument`] when `MLFLOW_TRACKING_URI` is missing or not an
    /// `http(s)` URI, or a variable does not parse.
    pub fn from_env() -> Result<Self> {
        MlflowConfig::from_env()
            .map(Self::new)
            .map_err(|e| TrackingError::invalid("mlflow configuration", e.to_string()))
    }

    /// The configuration in use.
    #[must_use]
    pub fn config(&self) -> &MlflowConfig {
        self.http.config()
    }

    /// Check that the server answers `GET /health`.
    ///
    /// # Errors
    /// [`TrackingError::Remote`] naming the URL.
    pub fn health(&self) -> Result<()> {
        self.http.health().map_err(remote)
    }

    fn get(&self, endpoint: &str, query: &[(&str, String)]) -> Result<Value, HttpError> {
        self.http.get(endpoint, query)
    }

    fn post(&self, endpoint: &str, body: &Value, retry: Retry) -> Result<Value, HttpError> {
        self.http.send(Method::Post, endpoint, body, retry)
    }

    fn experiment_lifecycle(
        &self,
        id: &ExperimentId,
        to: LifecycleStage,
        endpoint: &str,
    ) -> Result<()> {
        if id.as_str() == DEFAULT_EXPERIMENT_ID && to == LifecycleStage::Deleted {
            return Err(TrackingError::Conflict(format!(
                "the default experiment {id} cannot be deleted"
            )));
        }
        let exp = self.get_experiment(id)?;
        if exp.lifecycle_stage == to {
            return Err(TrackingError::Conflict(format!(
                "experiment {id} is already {to}"
            )));
        }
        self.post(
            endpoint,
            &json!({ "experiment_id": id.as_str() }),
            Retry::Idempotent,
        )
        .map_err(|e| map_err(e, EntityKind::Experiment, id.as_str()))?;
        Ok(())
    }

    fn run_lifecycle(&self, run_id: &RunId, to: LifecycleStage, endpoint: &str) -> Result<()> {
        let run = self.get_run(run_id)?;
        if run.info.lifecycle_stage == to {
            return Err(TrackingError::Conflict(format!(
                "run {run_id} is already {to}"
            )));
        }
        self.post(
            endpoint,
            &json!({ "run_id": run_id.as_str() }),
            Retry::Idempotent,
        )
        .map_err(|e| map_err(e, EntityKind::Run, run_id.as_str()))?;
        Ok(())
    }

    /// One `runs/log-batch` request; MLflow's errors mapped with the batch in view.
    fn send_batch(&self, run_id: &RunId, body: &Value, params: &[(String, String)]) -> Result<()> {
        match self.post("runs/log-batch", body, Retry::Idempotent) {
            Ok(_) => Ok(()),
            Err(e) if is_param_change(&e) => Err(self.param_conflict(run_id, params, e)),
            Err(e) => Err(map_err(e, EntityKind::Run, run_id.as_str())),
        }
    }

    /// The embedded backends' `Conflict` for a param logged again with another value, naming
    /// the key and both values (read back from the run).
    fn param_conflict(
        &self,
        run_id: &RunId,
        params: &[(String, String)],
        e: HttpError,
    ) -> TrackingError {
        if let Ok(run) = self.get_run(run_id) {
            for (k, v) in params {
                if let Some(old) = run.data.params.get(k)
                    && old != v
                {
                    return param_conflict(k, old, v);
                }
            }
        }
        TrackingError::Conflict(e.to_string())
    }

    fn artifact_root(&self, run_id: &RunId) -> Result<String> {
        let run = self.get_run(run_id)?;
        if run.info.lifecycle_stage == LifecycleStage::Deleted {
            return Err(TrackingError::Conflict(format!(
                "run {run_id} is deleted; restore it before changing it"
            )));
        }
        proxied_root(&run.info.artifact_uri)
    }

    fn list_dir(
        &self,
        run_id: &RunId,
        dir: Option<&str>,
        out: &mut Vec<ArtifactInfo>,
    ) -> Result<()> {
        let mut query = vec![("run_id", run_id.to_string())];
        if let Some(d) = dir {
            query.push(("path", d.to_owned()));
        }
        let v = self
            .get("artifacts/list", &query)
            .map_err(|e| map_err(e, EntityKind::Run, run_id.as_str()))?;
        for f in v
            .get("files")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(name) = f.get("path").and_then(Value::as_str) else {
                continue;
            };
            // The server answers run-relative paths; older ones answered the base name only.
            let path = match dir {
                Some(d) if !name.starts_with(&format!("{d}/")) => {
                    format!("{d}/{}", name.rsplit('/').next().unwrap_or(name))
                }
                _ => name.to_owned(),
            };
            if f.get("is_dir").and_then(Value::as_bool).unwrap_or(false) {
                self.list_dir(run_id, Some(&path), out)?;
            } else {
                out.push(ArtifactInfo {
                    size: f
                        .get("file_size")
                        .and_then(int)
                        .map_or(0, |n| u64::try_from(n).unwrap_or(0)),
                    path,
                    sha256: String::new(),
                });
            }
        }
        Ok(())
    }
}

/// Whether MLflow refused a param's new value.
fn is_param_change(e: &HttpError) -> bool {
    e.kind == HttpErrorKind::InvalidArgument && e.message.contains("Changing param values")
}

/// Whether MLflow refused a change to a deleted run or experiment.
fn is_inactive(e: &HttpError) -> bool {
    e.kind == HttpErrorKind::InvalidArgument && e.message.contains("must be in the 'active' state")
}

/// Map an MLflow client error about `kind` `id` to the crate's error.
pub(crate) fn map_err(e: HttpError, kind: EntityKind, id: &str) -> TrackingError {
    match e.kind {
        HttpErrorKind::NotFound if e.error_code.is_some() => TrackingError::NotFound {
            kind,
            id: id.to_owned(),
        },
        HttpErrorKind::AlreadyExists => TrackingError::AlreadyExists {
            kind,
            id: id.to_owned(),
        },
        HttpErrorKind::InvalidArgument if is_inactive(&e) => {
            TrackingError::Conflict(format!("{kind} {id} is deleted: {e}"))
        }
        HttpErrorKind::InvalidArgument => TrackingError::InvalidArgument {
            what: "request",
            detail: e.to_string(),
        },
        _ => remote(e),
    }
}

/// The crate's error for a transport or server failure.
pub(crate) fn remote(e: HttpError) -> TrackingError {
    TrackingError::Remote {
        transient: e.is_transient(),
        url: e.url.clone(),
        status: e.status,
        message: e.to_string(),
    }
}

/// The artifact proxy path of a run's `mlflow-artifacts:` artifact URI.
fn proxied_root(uri: &str) -> Result<String> {
    let rest = uri.strip_prefix("mlflow-artifacts:").ok_or_else(|| {
        TrackingError::invalid(
            "artifact location",
            format!(
                "{uri:?} is not served by the tracking server's artifact proxy \
                 (start the server with artifact serving, MLflow's default)"
            ),
        )
    })?;
    // `mlflow-artifacts:/1/abc/artifacts` or `mlflow-artifacts://host:port/1/abc/artifacts`.
    let path = match rest.strip_prefix("//") {
        Some(with_host) => with_host.split_once('/').map_or("", |(_, p)| p),
        None => rest,
    };
    Ok(path.trim_matches('/').to_owned())
}

/// Refuse the artifact paths an MLflow server cannot store as given: it answers 400 to a path
/// holding `#`, and it decodes `%XX` escapes in the path once more after the URL's own decoding
/// (so `p%20q.txt` would be stored as `p q.txt`). MLflow's Python client sends such names
/// without an error and the server stores a different one; this backend refuses them instead.
fn check_storable_by_mlflow(path: &str) -> Result<()> {
    let bytes = path.as_bytes();
    let escape = bytes
        .windows(3)
        .any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit());
    if path.contains('#') || escape {
        return Err(TrackingError::invalid(
            "artifact path",
            format!(
                "{path:?} cannot be stored as given by an MLflow server (it refuses '#' and \
                 decodes '%' followed by two hex digits)"
            ),
        ));
    }
    Ok(())
}

/// Percent-encode a path for a URL, keeping `/` and unreserved characters.
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl TrackingBackend for MlflowTrackingBackend {
    fn create_experiment(&self, name: &str, tags: &[(String, String)]) -> Result<Experiment> {
        validate_name("experiment name", name)?;
        for (k, v) in tags {
            validate_key("tag key", k)?;
            validate_tag_value(k, v)?;
        }
        let v = self
            .post(
                "experiments/create",
                &json!({ "name": name, "tags": kv_json(tags) }),
                Retry::Once,
            )
            .map_err(|e| map_err(e, EntityKind::Experiment, name))?;
        let id: ExperimentId = v
            .get("experiment_id")
            .and_then(|id| match id {
                Value::String(s) => s.parse().ok(),
                Value::Number(n) => n.as_u64().map(ExperimentId::from_numeric),
                _ => None,
            })
            .ok_or_else(|| bad_answer("experiment id", &v))?;
        self.get_experiment(&id)
    }

    fn get_experiment(&self, id: &ExperimentId) -> Result<Experiment> {
        let v = self
            .get("experiments/get", &[("experiment_id", id.to_string())])
            .map_err(|e| map_err(e, EntityKind::Experiment, id.as_str()))?;
        parse_experiment(
            v.get("experiment")
                .ok_or_else(|| bad_answer("experiment", &v))?,
        )
    }

    fn get_experiment_by_name(&self, name: &str) -> Result<Option<Experiment>> {
        match self.get(
            "experiments/get-by-name",
            &[("experiment_name", name.to_owned())],
        ) {
            Ok(v) => parse_experiment(
                v.get("experiment")
                    .ok_or_else(|| bad_answer("experiment", &v))?,
            )
            .map(Some),
            Err(e) if e.kind == HttpErrorKind::NotFound && e.error_code.is_some() => Ok(None),
            Err(e) => Err(map_err(e, EntityKind::Experiment, name)),
        }
    }

    fn list_experiments(&self, view: ViewType) -> Result<Vec<Experiment>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({ "max_results": 1000, "view_type": view_type(view) });
            if let Some(t) = &token {
                body["page_token"] = json!(t);
            }
            let v = self
                .post("experiments/search", &body, Retry::Idempotent)
                .map_err(remote)?;
            for e in v
                .get("experiments")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                out.push(parse_experiment(e)?);
            }
            token = next_token(&v);
            if token.is_none() {
                break;
            }
        }
        // By id: numerically for MLflow's decimal ids.
        out.sort_by(|a, b| {
            let key = |e: &Experiment| {
                (
                    e.experiment_id.as_str().len(),
                    e.experiment_id.as_str().to_owned(),
                )
            };
            key(a).cmp(&key(b))
        });
        Ok(out)
    }

    fn delete_experiment(&self, id: &ExperimentId) -> Result<()> {
        self.experiment_lifecycle(id, LifecycleStage::Deleted, "experiments/delete")
    }

    fn restore_experiment(&self, id: &ExperimentId) -> Result<()> {
        self.experiment_lifecycle(id, LifecycleStage::Active, "experiments/restore")
    }

    fn create_run(&self, experiment_id: &ExperimentId, opts: &CreateRun) -> Result<Run> {
        if opts.tags.len() > crate::ids::MAX_BATCH_TAGS {
            return Err(TrackingError::invalid(
                "tags",
                format!(
                    "{} tags; at most {} are allowed",
                    opts.tags.len(),
                    crate::ids::MAX_BATCH_TAGS
                ),
            ));
        }
        let mut tags = opts.tags.clone();
        for (k, v) in &tags {
            validate_key("tag key", k)?;
            validate_tag_value(k, v)?;
        }
        if let Some(name) = &opts.run_name {
            validate_name("run name", name)?;
        }
        // MLflow's client adds these tags; the server does not.
        if let Some(parent) = &opts.parent_run_id {
            self.get_run(parent)?;
            tags.push((TAG_PARENT_RUN_ID.to_owned(), parent.to_string()));
        }
        let user = opts.user_id.clone().unwrap_or_default();
        if !user.is_empty() && !tags.iter().any(|(k, _)| k == TAG_USER) {
            validate_tag_value(TAG_USER, &user)?;
            tags.push((TAG_USER.to_owned(), user.clone()));
        }
        let mut body = json!({
            "experiment_id": experiment_id.as_str(),
            "user_id": user,
            "start_time": opts.start_time.unwrap_or_else(crate::model::now_ms),
            "tags": kv_json(&tags),
        });
        if let Some(name) = &opts.run_name {
            body["run_name"] = json!(name);
        }
        let v = self
            .post("runs/create", &body, Retry::Once)
            .map_err(|e| map_err(e, EntityKind::Experiment, experiment_id.as_str()))?;
        let run = parse_run(v.get("run").ok_or_else(|| bad_answer("run", &v))?)?;
        match opts.status {
            Some(status) if status != run.info.status => {
                self.update_run(&run.info.run_id, &UpdateRun::new().status(status))?;
                self.get_run(&run.info.run_id)
            }
            _ => Ok(run),
        }
    }

    fn update_run(&self, run_id: &RunId, update: &UpdateRun) -> Result<RunInfo> {
        if let Some(n) = &update.run_name {
            validate_name("run name", n)?;
        }
        let mut body = json!({ "run_id": run_id.as_str() });
        if let Some(s) = update.status {
            body["status"] = json!(s.as_str());
        }
        if let Some(t) = update.end_time {
            body["end_time"] = json!(t);
        }
        if let Some(n) = &update.run_name {
            body["run_name"] = json!(n);
        }
        self.post("runs/update", &body, Retry::Idempotent)
            .map_err(|e| map_err(e, EntityKind::Run, run_id.as_str()))?;
        // The answer lacks some fields (the run name on older servers): read the run back.
        Ok(self.get_run(run_id)?.info)
    }

    fn get_run(&self, run_id: &RunId) -> Result<Run> {
        let v = self
            .get("runs/get", &[("run_id", run_id.to_string())])
            .map_err(|e| map_err(e, EntityKind::Run, run_id.as_str()))?;
        parse_run(v.get("run").ok_or_else(|| bad_answer("run", &v))?)
    }

    fn delete_run(&self, run_id: &RunId) -> Result<()> {
        self.run_lifecycle(run_id, LifecycleStage::Deleted, "runs/delete")
    }

    fn restore_run(&self, run_id: &RunId) -> Result<()> {
        self.run_lifecycle(run_id, LifecycleStage::Active, "runs/restore")
    }

    fn search_runs(&self, req: &SearchRuns) -> Result<Page<Run>> {
        if req.max_results == 0 || req.max_results > MAX_SEARCH_RESULTS {
            return Err(TrackingError::invalid(
                "max_results",
                format!(
                    "{} is not between 1 and {MAX_SEARCH_RESULTS}",
                    req.max_results
                ),
            ));
        }
        let experiment_ids: Vec<String> = if req.experiment_ids.is_empty() {
            self.list_experiments(ViewType::All)?
                .into_iter()
                .map(|e| e.experiment_id.to_string())
                .collect()
        } else {
            req.experiment_ids.iter().map(ToString::to_string).collect()
        };
        let mut body = json!({
            "experiment_ids": experiment_ids,
            "filter": req.filter,
            "run_view_type": view_type(req.run_view_type),
            "max_results": req.max_results,
            "order_by": req.order_by,
        });
        if let Some(t) = &req.page_token {
            body["page_token"] = json!(t);
        }
        let v = match self.post("runs/search", &body, Retry::Idempotent) {
            Ok(v) => v,
            Err(e) if e.kind == HttpErrorKind::InvalidArgument => {
                // Report the position of a filter or order-by error when the local parser
                // finds one too.
                crate::filter::Filter::parse(&req.filter)?;
                crate::filter::parse_order_by(&req.order_by)?;
                return Err(map_err(
                    e,
                    EntityKind::Experiment,
                    &experiment_ids.join(","),
                ));
            }
            Err(e) => {
                return Err(map_err(
                    e,
                    EntityKind::Experiment,
                    &experiment_ids.join(","),
                ));
            }
        };
        let mut items = Vec::new();
        for r in v
            .get("runs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            items.push(parse_run(r)?);
        }
        if items.is_empty() {
            // MLflow answers an empty page for an unknown experiment.
            for id in &req.experiment_ids {
                self.get_experiment(id)?;
            }
        }
        Ok(Page {
            items,
            next_page_token: next_token(&v),
        })
    }

    fn log_batch(&self, run_id: &RunId, batch: &Batch) -> Result<()> {
        batch.validate()?;
        if batch.is_empty() {
            return Ok(());
        }
        let bodies = split_batch(run_id, batch);
        if bodies.len() > 1 && !batch.params.is_empty() {
            // Several requests: find a param conflict before anything is stored.
            let run = self.get_run(run_id)?;
            for (k, v) in &batch.params {
                if let Some(old) = run.data.params.get(k)
                    && old != v
                {
                    return Err(param_conflict(k, old, v));
                }
            }
        }
        for (body, params) in &bodies {
            self.send_batch(run_id, body, params)?;
        }
        Ok(())
    }

    fn get_metric_history(
        &self,
        run_id: &RunId,
        key: &str,
        req: &HistoryRequest,
    ) -> Result<Page<Metric>> {
        if req.max_results == 0 {
            return Err(TrackingError::invalid(
                "max_results",
                "0 is not a page size".to_owned(),
            ));
        }
        let mut query = vec![
            ("run_id", run_id.to_string()),
            ("metric_key", key.to_owned()),
            ("max_results", req.max_results.to_string()),
        ];
        if let Some(t) = &req.page_token {
            query.push(("page_token", t.clone()));
        }
        let v = self
            .get("metrics/get-history", &query)
            .map_err(|e| map_err(e, EntityKind::Run, run_id.as_str()))?;
        let mut items = Vec::new();
        for m in v
            .get("metrics")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let mut m = parse_metric(m)?;
            if m.key.is_empty() {
                key.clone_into(&mut m.key);
            }
            items.push(m);
        }
        if items.is_empty() && req.page_token.is_none() {
            // MLflow answers an empty history for an unknown run.
            self.get_run(run_id)?;
        }
        Ok(Page {
            items,
            next_page_token: next_token(&v),
        })
    }

    fn log_artifact(
        &self,
        run_id: &RunId,
        path: &str,
        data: &mut dyn Read,
    ) -> Result<ArtifactInfo> {
        check_artifact_path(path)?;
        check_storable_by_mlflow(path)?;
        let root = self.artifact_root(run_id)?;
        let mut bytes = Vec::new();
        data.read_to_end(&mut bytes)
            .map_err(|source| TrackingError::Io {
                path: path.into(),
                source,
            })?;
        let sha256 = hex(&Sha256::digest(&bytes));
        let url_path = format!(
            "api/2.0/mlflow-artifacts/artifacts/{}/{}",
            encode_path(&root),
            encode_path(path)
        );
        self.http
            .call_bytes(Method::Put, &url_path, Some(&bytes), Retry::Idempotent)
            .map_err(|e| map_err(e, EntityKind::Artifact, path))?;
        Ok(ArtifactInfo {
            path: path.to_owned(),
            size: bytes.len() as u64,
            sha256,
        })
    }

    fn list_artifacts(&self, run_id: &RunId, prefix: Option<&str>) -> Result<Vec<ArtifactInfo>> {
        let mut out = Vec::new();
        self.list_dir(run_id, None, &mut out)?;
        if let Some(p) = prefix {
            out.retain(|a| a.path.starts_with(p));
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    fn open_artifact(&self, run_id: &RunId, path: &str) -> Result<Box<dyn Read + Send>> {
        let run = self.get_run(run_id)?;
        let root = proxied_root(&run.info.artifact_uri)?;
        check_artifact_path(path).map_err(|_| TrackingError::NotFound {
            kind: EntityKind::Artifact,
            id: path.to_owned(),
        })?;
        let url_path = format!(
            "api/2.0/mlflow-artifacts/artifacts/{}/{}",
            encode_path(&root),
            encode_path(path)
        );
        match self
            .http
            .call_bytes(Method::Get, &url_path, None, Retry::Idempotent)
        {
            Ok(bytes) => Ok(Box::new(std::io::Cursor::new(bytes))),
            Err(e) if e.kind == HttpErrorKind::NotFound => Err(TrackingError::NotFound {
                kind: EntityKind::Artifact,
                id: format!("{path} of run {run_id}"),
            }),
            Err(e) => {
                // The proxy answers a missing file with a server error on some versions: tell
                // the two apart by listing.
                let listed = self.list_artifacts(run_id, Some(path))?;
                if listed.iter().any(|a| a.path == path) {
                    Err(remote(e))
                } else {
                    Err(TrackingError::NotFound {
                        kind: EntityKind::Artifact,
                        id: format!("{path} of run {run_id}"),
                    })
                }
            }
        }
    }
}
