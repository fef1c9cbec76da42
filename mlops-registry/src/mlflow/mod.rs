//! [`MlflowRegistry`]: a [`RegistryStore`](crate::RegistryStore) over an MLflow tracking server's Model Registry
//! (REST API 2.0, `/api/2.0/mlflow/registered-models/...` and `/model-versions/...`), and the
//! settings of its HTTP client ([`MlflowConfig`], [`MlflowAuth`], [`HttpError`], the defaults).

mod audit;
mod search;
mod store;
#[cfg(test)]
mod tests;
mod wire;

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::error::{EntityKind, RegistryError, Result};
use crate::model::{Alias, ModelVersion, ModelVersionNumber, RegisteredModel, validate_model_name};
use crate::policy::{PromotionRequest, PromotionTarget};
use crate::rules::version_id;
use crate::store::Change;
use mlops_mlflow::http::{Method, MlflowHttp, Retry};

/// The HTTP client's settings and errors (shared with `mlops-tracking`'s MLflow backend).
pub use mlops_mlflow::http::{
    DEFAULT_BACKOFF, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, HttpError, HttpErrorKind, MAX_BACKOFF,
    MlflowAuth, MlflowConfig,
};
pub(crate) use search::PageQuery;
use search::{Target, pushdown};
use wire::{ModelJson, VersionJson, field, list, to_model, to_version};

/// Page size of `registered-models/search` (MLflow's maximum is 1,000).
const MODEL_PAGE: usize = 1000;
/// Page size of `model-versions/search` (MLflow's default; its maximum is 200,000).
const VERSION_PAGE: usize = 10_000;

/// A model registry kept by an MLflow tracking server (feature `mlflow`).
///
/// ```no_run
/// use mlops_registry::{Change, MlflowConfig, MlflowRegistry, NewVersion, RegistryStore, RegistryStoreExt, Stage};
///
/// // MLFLOW_TRACKING_URI=http://127.0.0.1:5000 (and the token or user/password, if any).
/// let registry = MlflowRegistry::from_env()?;
/// // Or explicitly: MlflowRegistry::new(MlflowConfig::new("http://127.0.0.1:5000")?);
/// let v = registry.register_version(
///     &NewVersion::new("text-classifier", "s3://models/run-42").run_id("run-42").metric("accuracy", 0.93),
/// )?;
/// registry.set_alias("text-classifier", &"champion".parse()?, v.version, &Change::by("ci"))?;
/// let served = registry.resolve_uri("models:/text-classifier@champion")?;
/// # Ok::<(), mlops_registry::RegistryError>(())
/// ```
///
/// Every call is one or a few HTTP requests through a blocking client with a timeout; reads,
/// updates, tag and alias writes and stage transitions are retried with backoff on connection
/// errors, timeouts, 429 and 5xx; creates, renames and deletes are sent once (a repeat could
/// create twice or report a delete that happened as not found). Failures of the server or the
/// network are [`RegistryError::Remote`] naming the method, URL, status, MLflow's
/// `error_code` and message; MLflow's `RESOURCE_DOES_NOT_EXIST`, `RESOURCE_ALREADY_EXISTS` and
/// `INVALID_PARAMETER_VALUE` become [`RegistryError::NotFound`],
/// [`RegistryError::AlreadyExists`] and [`RegistryError::InvalidArgument`]; a refused
/// credential (401, 403) is [`RegistryError::Remote`] with its status.
///
/// `resolve` costs one request on success: `model-versions/get` for `models:/name/3`,
/// `registered-models/alias` for `@alias`, `registered-models/get` (whose `latest_versions`
/// hold the highest version of every stage) for `/Production` and `/latest`.
///
/// # Where it differs from the embedded backends
/// - **Metrics snapshot and digest** are stored as version tags `mlops.metric.<name>` (the
///   value in Rust's shortest round-trip form) and `mlops.digest`, written in the same
///   `model-versions/create` request as the version. Tags starting with `mlops.` are hidden
///   from [`ModelVersion::tags`] and [`RegisteredModel::tags`], and a caller may not set them
///   ([`RegistryError::InvalidArgument`]). The MLflow UI and clients show them as tags. A
///   metric name longer than 237 characters does not fit MLflow's tag key.
///   Another client may write into that namespace: a metric tag that is not a finite number or
///   a digest tag that is not a digest is kept as a plain tag, and an audit tag that is not a
///   record is skipped, each with a `tracing` warning (once per tag); a foreign tag never
///   makes a read fail.
/// - **Audit history** is kept as model tags `mlops.audit.<8-digit sequence>.<8 hex>`, each
///   holding one [`AuditRecord`](crate::AuditRecord) as JSON, so it follows renames, disappears with the model, and
///   shows in the MLflow UI. The records are written by this client after the change the
///   server made: the two are not atomic (a crash or a failed tag write between them leaves the
///   change without its record), other MLflow clients changing stages or aliases leave no
///   record, and two writers appending at once each keep their records (the random suffix
///   keeps keys distinct) but their relative order is not defined. A comment is shortened to
///   keep a record within [`MAX_TAG_VALUE_LEN`](crate::model::MAX_TAG_VALUE_LEN) characters (MLflow 3
///   accepts 100,000). Why tags rather than a flag saying "no audit trail": the trail then
///   survives this process, follows the model, and is readable by any MLflow client and in the
///   UI, at the cost of one extra request per record.
/// - **Promotion policies** are checked against the state read just before the request, not
///   atomically with it: a concurrent change between the read and the write is not seen.
/// - **Version numbers** are never reused (MLflow keeps a tombstone of a deleted version and
///   numbers the next one after it), but MLflow does not show deleted versions, so
///   [`RegisteredModel::latest_version`] is the highest version that exists, not the highest
///   ever assigned, after the highest version was deleted.
/// - **Sources** must be URIs the server accepts: MLflow refuses a local path as a version's
///   source unless it lies inside the artifact directory of the run given as `run_id`.
/// - **Stages** are deprecated in MLflow 3 in favour of aliases; the server still serves
///   `transition-stage`, which this backend uses (`archive_existing_versions` included).
///   [`RegistryStore::transition_stage`](crate::RegistryStore::transition_stage) checks `archive_existing_versions` against the stage
///   itself (MLflow answers that mistake with an internal error).
/// - **Search** sends what MLflow's filter grammar can express (`name` `=`/`IN`/`LIKE`/`ILIKE`,
///   `run_id`, `source`, `tags.<key> =`) to the server and evaluates the whole filter on the
///   answers with the crate's own semantics, so results equal the embedded backends'; stage,
///   alias, metric, description and comparison clauses are evaluated client-side over every
///   version the server's part returns. Aliases are filled in from the models (MLflow's
///   search answers omit them). Results are sorted as the trait says.
/// - **Timestamps** have millisecond precision.
#[derive(Clone)]
pub struct MlflowRegistry {
    http: MlflowHttp,
    prefix: String,
}

impl fmt::Debug for MlflowRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MlflowRegistry")
            .field("tracking_uri", &self.http.config().tracking_uri)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Map a transport-level failure that has no registry meaning.
fn remote(e: HttpError) -> RegistryError {
    RegistryError::Remote {
        transient: e.is_transient(),
        detail: e.to_string(),
        url: e.url,
        status: e.status,
        error_code: e.error_code,
    }
}

/// Map an [`HttpError`] whose not-found means "no model `name`" (and already-exists means the
/// model exists).
fn model_err(name: &str, e: HttpError) -> RegistryError {
    match e.kind {
        HttpErrorKind::NotFound if e.error_code.is_some() => {
            RegistryError::not_found(EntityKind::RegisteredModel, name)
        }
        HttpErrorKind::AlreadyExists => {
            RegistryError::already_exists(EntityKind::RegisteredModel, name.to_owned())
        }
        _ => plain(e),
    }
}

/// Map an [`HttpError`] with no context: invalid arguments stay invalid arguments, the rest is
/// remote.
fn plain(e: HttpError) -> RegistryError {
    match e.kind {
        HttpErrorKind::InvalidArgument => RegistryError::InvalidArgument {
            what: "request",
            detail: e.to_string(),
        },
        HttpErrorKind::Config => RegistryError::InvalidArgument {
            what: "mlflow configuration",
            detail: e.message,
        },
        _ => remote(e),
    }
}

/// Whether a failure is the server saying "no such thing" (with MLflow's JSON body; a bare 404
/// from a proxy is not).
fn is_not_found(e: &HttpError) -> bool {
    e.kind == HttpErrorKind::NotFound && e.error_code.is_some()
}

impl MlflowRegistry {
    /// A registry on the server `config` names.
    #[must_use]
    pub fn new(config: MlflowConfig) -> Self {
        Self {
            http: MlflowHttp::new(config),
            prefix: String::new(),
        }
    }

    /// A registry on the server MLflow's environment variables name (see
    /// [`MlflowConfig::from_env`]).
    ///
    /// # Errors
    /// [`RegistryError::InvalidArgument`] when `MLFLOW_TRACKING_URI` is missing or not an
    /// `http(s)://` address, or a variable is malformed.
    pub fn from_env() -> Result<Self> {
        Ok(Self::new(MlflowConfig::from_env().map_err(plain)?))
    }

    /// Scope this handle to the registered models whose MLflow name starts with `prefix`: names
    /// passed in get the prefix, names returned lose it, and searches see only those models.
    /// Lets several teams or test suites share one server without seeing each other's models.
    ///
    /// # Errors
    /// [`RegistryError::InvalidArgument`] when the prefix contains a character a model name may
    /// not (`/`, `:`, a control character) or leading whitespace.
    pub fn with_name_prefix(mut self, prefix: impl Into<String>) -> Result<Self> {
        let prefix = prefix.into();
        if !prefix.is_empty() {
            validate_model_name(&format!("{prefix}x"))?;
        }
        self.prefix = prefix;
        Ok(self)
    }

    /// The name prefix this handle is scoped to (empty: every model).
    #[must_use]
    pub fn name_prefix(&self) -> &str {
        &self.prefix
    }

    /// The server's configuration.
    #[must_use]
    pub fn config(&self) -> &MlflowConfig {
        self.http.config()
    }

    /// Whether the server answers `GET /health`.
    ///
    /// # Errors
    /// [`RegistryError::Remote`] with the URL and the failure.
    pub fn health(&self) -> Result<()> {
        self.http.health().map_err(remote)
    }

    fn full(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn strip(&self, name: &str) -> String {
        name.strip_prefix(self.prefix.as_str())
            .unwrap_or(name)
            .to_owned()
    }

    fn get(&self, endpoint: &str, query: &[(&str, String)]) -> Result<Value, HttpError> {
        self.http.get(endpoint, query)
    }

    fn send(
        &self,
        method: Method,
        endpoint: &str,
        body: &Value,
        retry: Retry,
    ) -> Result<Value, HttpError> {
        self.http.send(method, endpoint, body, retry)
    }

    /// `registered-models/get`, raw.
    fn model_json(&self, name: &str) -> Result<ModelJson> {
        let endpoint = "registered-models/get";
        let answer = self
            .get(endpoint, &[("name", self.full(name))])
            .map_err(|e| model_err(name, e))?;
        field(&self.http.url(endpoint), answer, "registered_model")
    }

    fn model_from(&self, endpoint: &str, m: ModelJson) -> Result<RegisteredModel> {
        to_model(&self.http.url(endpoint), m, &|n| self.strip(n))
    }

    fn version_from(&self, endpoint: &str, v: VersionJson) -> Result<ModelVersion> {
        to_version(&self.http.url(endpoint), v, &|n| self.strip(n))
    }

    /// The error for a not-found answer to a call on version `v` of `name`: whether the model
    /// or the version is missing costs one more request, on this error path only.
    fn version_err(&self, name: &str, v: ModelVersionNumber, e: HttpError) -> RegistryError {
        if !is_not_found(&e) {
            return plain(e);
        }
        match self.model_json(name) {
            Ok(_) => RegistryError::not_found(EntityKind::ModelVersion, version_id(name, v)),
            Err(e) => e,
        }
    }

    fn version_json(&self, name: &str, v: ModelVersionNumber) -> Result<VersionJson> {
        let endpoint = "model-versions/get";
        let answer = self
            .get(
                endpoint,
                &[("name", self.full(name)), ("version", v.to_string())],
            )
            .map_err(|e| self.version_err(name, v, e))?;
        field(&self.http.url(endpoint), answer, "model_version")
    }

    /// The versions of the server-side search `query`, page after page, until there are no
    /// more or at least `limit`.
    fn versions_json(&self, mut query: PageQuery, limit: usize) -> Result<Vec<VersionJson>> {
        let endpoint = "model-versions/search";
        let url = self.http.url(endpoint);
        let mut out = Vec::new();
        loop {
            let (page, next): (Vec<VersionJson>, _) =
                self.search_page("model-versions/search", "model_versions", &query, &url)?;
            out.extend(page);
            match next {
                Some(t) if out.len() < limit => {
                    query.page_token = Some(t);
                }
                _ => return Ok(out),
            }
        }
    }

    /// One page of a search endpoint (`model-versions/search` listing `model_versions`,
    /// `registered-models/search` listing `registered_models`) and the next page's token.
    fn search_page<T: serde::de::DeserializeOwned>(
        &self,
        endpoint: &str,
        field: &str,
        query: &PageQuery,
        url: &str,
    ) -> Result<(Vec<T>, Option<String>)> {
        let mut answer = self.get(endpoint, &query.params()).map_err(plain)?;
        let page = list(url, &mut answer, field)?;
        Ok((page, next_token(&answer)))
    }

    /// The versions of model `name` (all of them), with aliases from `model`.
    fn all_versions(&self, name: &str, model: &ModelJson) -> Result<Vec<ModelVersion>> {
        let endpoint = "model-versions/search";
        let filter = pushdown(
            &{
                let mut f = crate::search::Filter::all();
                f.push_name_eq(name);
                f
            },
            Target::Versions,
            &self.prefix,
        )
        .filter;
        let raw = self.versions_json(
            PageQuery {
                filter,
                max_results: Some(VERSION_PAGE),
                order_by: vec!["version_number DESC".to_owned()],
                ..PageQuery::default()
            },
            usize::MAX,
        )?;
        let aliases = alias_map(&self.http.url(endpoint), model)?;
        // The server filter may be a superset (a name it cannot quote is left to us), and its
        // default order is by update time: keep this model's versions, highest first.
        let full = self.full(name);
        let mut out = Vec::with_capacity(raw.len());
        for v in raw.into_iter().filter(|v| v.name == full) {
            let mut v = self.version_from(endpoint, v)?;
            fill_aliases(&mut v, &aliases);
            out.push(v);
        }
        out.sort_by_key(|v| std::cmp::Reverse(v.version));
        Ok(out)
    }

    fn check_policy(
        &self,
        change: &Change<'_>,
        model: &ModelJson,
        candidate: &ModelVersion,
        target: PromotionTarget<'_>,
        incumbent: Option<&ModelVersion>,
    ) -> Result<()> {
        let Some(policy) = change.policy else {
            return Ok(());
        };
        let model = self.model_from("registered-models/get", model.clone())?;
        let reasons = policy.check(&PromotionRequest {
            model: &model,
            candidate,
            target,
            incumbent,
            actor: change.actor,
        });
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(RegistryError::PromotionDenied {
                model: model.name.clone(),
                version: candidate.version.get(),
                target: target.to_string(),
                reasons,
            })
        }
    }
}

fn next_token(answer: &Value) -> Option<String> {
    answer
        .get("next_page_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

fn alias_map(url: &str, model: &ModelJson) -> Result<BTreeMap<ModelVersionNumber, Vec<Alias>>> {
    let mut map: BTreeMap<ModelVersionNumber, Vec<Alias>> = BTreeMap::new();
    for a in &model.aliases {
        let alias: Alias = a
            .alias
            .parse()
            .map_err(|e| wire::bad_answer(url, format!("alias {:?}: {e}", a.alias)))?;
        map.entry(wire::version_number(url, &a.version)?)
            .or_default()
            .push(alias);
    }
    Ok(map)
}

fn fill_aliases(v: &mut ModelVersion, aliases: &BTreeMap<ModelVersionNumber, Vec<Alias>>) {
    let mut a = aliases.get(&v.version).cloned().unwrap_or_default();
    a.sort();
    v.aliases = a;
}
