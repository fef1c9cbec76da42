//! [`MlflowRegistry`]: a [`RegistryStore`] over an MLflow tracking server's Model Registry
//! (REST API 2.0, `/api/2.0/mlflow/registered-models/...` and `/model-versions/...`).

mod search;
#[cfg(test)]
mod tests;
mod wire;

use std::collections::BTreeMap;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::Utc;
use serde_json::{Value, json};

use crate::core::version_id;
use crate::error::{RegistryError, Result};
use crate::model::{
    Alias, AuditChange, AuditRecord, MAX_TAG_VALUE_LEN, ModelVersion, ModelVersionNumber,
    RegisteredModel, Stage, validate_metric, validate_model_name, validate_tag,
};
use crate::order::{Page, check_model_search, check_version_search, page_models, page_versions};
use crate::policy::{PromotionRequest, PromotionTarget};
use crate::store::{Change, NewModel, NewVersion, RegistryStore, Search};
use crate::uri::{ModelUri, VersionTarget};
use mlops_mlflow::http::{HttpError, HttpErrorKind, Method, MlflowConfig, MlflowHttp, Retry};

pub(crate) use search::PageQuery;
use search::{Target, pushdown};
use wire::{
    AUDIT_PREFIX, DIGEST_TAG, METRIC_PREFIX, ModelJson, VersionJson, check_not_reserved, field,
    list, metric_value, tags_json, to_model, to_version,
};

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
/// - **Audit history** is kept as model tags `mlops.audit.<8-digit sequence>.<8 hex>`, each
///   holding one [`AuditRecord`] as JSON, so it follows renames, disappears with the model, and
///   shows in the MLflow UI. The records are written by this client after the change the
///   server made: the two are not atomic (a crash or a failed tag write between them leaves the
///   change without its record), other MLflow clients changing stages or aliases leave no
///   record, and two writers appending at once each keep their records (the random suffix
///   keeps keys distinct) but their relative order is not defined. A comment is shortened to
///   keep a record within [`MAX_TAG_VALUE_LEN`](crate::MAX_TAG_VALUE_LEN) characters (MLflow 3
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
///   [`RegistryStore::transition_stage`] checks `archive_existing_versions` against the stage
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
            RegistryError::not_found("registered model", name)
        }
        HttpErrorKind::AlreadyExists => RegistryError::AlreadyExists {
            kind: "registered model",
            id: name.to_owned(),
        },
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
            Ok(_) => RegistryError::not_found("model version", version_id(name, v)),
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

    /// Append audit records to model `name`'s tags, after the sequence numbers in `model`.
    fn append_audit(&self, name: &str, model: &ModelJson, records: Vec<AuditRecord>) -> Result<()> {
        for (seq, mut record) in (next_audit_seq(model)..).zip(records) {
            let key = format!("{AUDIT_PREFIX}{seq:08}.{:08x}", random_u32());
            let value = audit_value(&mut record);
            self.send(
                Method::Post,
                "registered-models/set-tag",
                &json!({"name": self.full(name), "key": key, "value": value}),
                Retry::Idempotent,
            )
            .map_err(|e| model_err(name, e))?;
        }
        Ok(())
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

/// The next audit sequence number of a model (one past the highest in its tags).
fn next_audit_seq(model: &ModelJson) -> u64 {
    model
        .tags
        .iter()
        .filter_map(|t| t.key.strip_prefix(AUDIT_PREFIX))
        .filter_map(|rest| rest.split('.').next()?.parse::<u64>().ok())
        .max()
        .map_or(1, |s| s + 1)
}

/// A record as a tag value: JSON, the comment shortened when the record would exceed MLflow's
/// tag value limit.
fn audit_value(record: &mut AuditRecord) -> String {
    loop {
        let value = serde_json::to_string(record).unwrap_or_default();
        if value.chars().count() <= MAX_TAG_VALUE_LEN || record.comment.is_empty() {
            return value;
        }
        let excess = value.chars().count() - MAX_TAG_VALUE_LEN;
        let keep = record.comment.chars().count().saturating_sub(excess + 3);
        record.comment = record.comment.chars().take(keep).collect::<String>() + "...";
        if keep == 0 {
            record.comment.clear();
        }
    }
}

/// 32 random bits (a randomly keyed SipHash of the time and a counter: no RNG dependency).
fn random_u32() -> u32 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    #[allow(clippy::cast_possible_truncation)]
    let r = h.finish() as u32;
    r
}

fn record(change: &Change<'_>, what: AuditChange) -> AuditRecord {
    AuditRecord {
        at: Utc::now(),
        actor: change.actor.to_owned(),
        comment: change.comment.to_owned(),
        change: what,
    }
}

impl RegistryStore for MlflowRegistry {
    fn create_registered_model(&self, model: &NewModel) -> Result<RegisteredModel> {
        validate_model_name(&model.name)?;
        for (k, v) in &model.tags {
            validate_tag(k, v)?;
            check_not_reserved(k)?;
        }
        let endpoint = "registered-models/create";
        let body = json!({
            "name": self.full(&model.name),
            "description": model.description,
            "tags": tags_json(model.tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        });
        let answer = self
            .send(Method::Post, endpoint, &body, Retry::Once)
            .map_err(|e| model_err(&model.name, e))?;
        self.model_from(
            endpoint,
            field(&self.http.url(endpoint), answer, "registered_model")?,
        )
    }

    fn get_registered_model(&self, name: &str) -> Result<RegisteredModel> {
        let m = self.model_json(name)?;
        self.model_from("registered-models/get", m)
    }

    fn rename_registered_model(
        &self,
        name: &str,
        new_name: &str,
        change: &Change<'_>,
    ) -> Result<RegisteredModel> {
        validate_model_name(new_name)?;
        let endpoint = "registered-models/rename";
        self.send(
            Method::Post,
            endpoint,
            &json!({"name": self.full(name), "new_name": self.full(new_name)}),
            Retry::Once,
        )
        .map_err(|e| match e.kind {
            HttpErrorKind::AlreadyExists => RegistryError::AlreadyExists {
                kind: "registered model",
                id: new_name.to_owned(),
            },
            _ => model_err(name, e),
        })?;
        let model = self.model_json(new_name)?;
        self.append_audit(
            new_name,
            &model,
            vec![record(
                change,
                AuditChange::Renamed {
                    from: name.to_owned(),
                    to: new_name.to_owned(),
                },
            )],
        )?;
        self.get_registered_model(new_name)
    }

    fn update_registered_model(&self, name: &str, description: &str) -> Result<RegisteredModel> {
        self.send(
            Method::Patch,
            "registered-models/update",
            &json!({"name": self.full(name), "description": description}),
            Retry::Idempotent,
        )
        .map_err(|e| model_err(name, e))?;
        self.get_registered_model(name)
    }

    fn delete_registered_model(&self, name: &str) -> Result<()> {
        self.send(
            Method::Delete,
            "registered-models/delete",
            &json!({"name": self.full(name)}),
            Retry::Once,
        )
        .map_err(|e| model_err(name, e))?;
        Ok(())
    }

    fn search_registered_models(&self, search: &Search) -> Result<Page<RegisteredModel>> {
        search.filter.check_for_models()?;
        check_model_search(search)?;
        let endpoint = "registered-models/search";
        let url = self.http.url(endpoint);
        let push = pushdown(&search.filter, Target::Models, &self.prefix);
        let mut query = PageQuery {
            filter: push.filter,
            max_results: Some(MODEL_PAGE),
            order_by: vec!["name ASC".to_owned()],
            page_token: None,
        };
        let mut out = Vec::new();
        loop {
            let (page, next): (Vec<ModelJson>, _) = self.search_page(
                "registered-models/search",
                "registered_models",
                &query,
                &url,
            )?;
            for m in page {
                if !m.name.starts_with(self.prefix.as_str()) {
                    continue;
                }
                let m = self.model_from(endpoint, m)?;
                if search.filter.matches_model(&m) {
                    out.push(m);
                }
            }
            match next {
                Some(t) => query.page_token = Some(t),
                None => break,
            }
        }
        // Every match is fetched (the server's pages are followed), then ordered and paged
        // exactly as the embedded backends do, so tokens and orders agree across backends.
        out.sort_by(|a, b| a.name.cmp(&b.name));
        page_models(out.iter(), search)
    }

    fn create_model_version(&self, version: &NewVersion) -> Result<ModelVersion> {
        validate_model_name(&version.name)?;
        if version.source.trim().is_empty() {
            return Err(RegistryError::invalid(
                "source",
                format!("the source of a new version of {:?} is empty", version.name),
            ));
        }
        let mut tags: Vec<(String, String)> = Vec::new();
        for (k, v) in &version.tags {
            validate_tag(k, v)?;
            check_not_reserved(k)?;
            tags.push((k.clone(), v.clone()));
        }
        for (k, v) in &version.metrics {
            validate_metric(k, *v)?;
            let key = format!("{METRIC_PREFIX}{k}");
            let value = metric_value(*v);
            validate_tag(&key, &value)?;
            tags.push((key, value));
        }
        if let Some(d) = &version.digest {
            tags.push((DIGEST_TAG.to_owned(), d.to_string()));
        }
        let endpoint = "model-versions/create";
        let mut body = json!({
            "name": self.full(&version.name),
            "source": version.source,
            "description": version.description,
            "tags": tags_json(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        });
        if let Some(run) = &version.run_id {
            body["run_id"] = json!(run);
        }
        let answer = self
            .send(Method::Post, endpoint, &body, Retry::Once)
            .map_err(|e| model_err(&version.name, e))?;
        self.version_from(
            endpoint,
            field(&self.http.url(endpoint), answer, "model_version")?,
        )
    }

    fn get_model_version(&self, name: &str, version: ModelVersionNumber) -> Result<ModelVersion> {
        let v = self.version_json(name, version)?;
        self.version_from("model-versions/get", v)
    }

    fn update_model_version(
        &self,
        name: &str,
        version: ModelVersionNumber,
        description: &str,
    ) -> Result<ModelVersion> {
        self.send(
            Method::Patch,
            "model-versions/update",
            &json!({"name": self.full(name), "version": version.to_string(), "description": description}),
            Retry::Idempotent,
        )
        .map_err(|e| self.version_err(name, version, e))?;
        self.get_model_version(name, version)
    }

    fn delete_model_version(
        &self,
        name: &str,
        version: ModelVersionNumber,
        change: &Change<'_>,
    ) -> Result<()> {
        let model = self.model_json(name)?;
        self.send(
            Method::Delete,
            "model-versions/delete",
            &json!({"name": self.full(name), "version": version.to_string()}),
            Retry::Once,
        )
        .map_err(|e| self.version_err(name, version, e))?;
        let url = self.http.url("registered-models/get");
        let mut records = Vec::new();
        if let Some(aliases) = alias_map(&url, &model)?.remove(&version) {
            for alias in aliases {
                records.push(record(
                    change,
                    AuditChange::AliasDeleted {
                        alias,
                        from: version,
                    },
                ));
            }
        }
        records.push(record(change, AuditChange::VersionDeleted { version }));
        self.append_audit(name, &model, records)
    }

    fn search_model_versions(&self, search: &Search) -> Result<Page<ModelVersion>> {
        check_version_search(search)?;
        let endpoint = "model-versions/search";
        let url = self.http.url(endpoint);
        let push = pushdown(&search.filter, Target::Versions, &self.prefix);
        // Every match is fetched (the server's pages are followed), then ordered and paged
        // exactly as the embedded backends do, so tokens and orders agree across backends.
        let raw = self.versions_json(
            PageQuery {
                filter: push.filter,
                max_results: Some(VERSION_PAGE),
                order_by: vec!["name ASC".to_owned(), "version_number DESC".to_owned()],
                page_token: None,
            },
            usize::MAX,
        )?;
        // Aliases: MLflow's search answers omit them; one `registered-models/get` per model.
        // `None`: the model was deleted since the search, and its versions with it.
        type Aliases = Option<BTreeMap<ModelVersionNumber, Vec<Alias>>>;
        let mut aliases: BTreeMap<String, Aliases> = BTreeMap::new();
        let mut out = Vec::new();
        for v in raw {
            if !v.name.starts_with(self.prefix.as_str()) {
                continue;
            }
            let mut v = self.version_from(endpoint, v)?;
            if !aliases.contains_key(&v.name) {
                let map = match self.model_json(&v.name) {
                    Ok(m) => Some(alias_map(&url, &m)?),
                    Err(RegistryError::NotFound { .. }) => None,
                    Err(e) => return Err(e),
                };
                aliases.insert(v.name.clone(), map);
            }
            let Some(Some(map)) = aliases.get(&v.name) else {
                continue;
            };
            fill_aliases(&mut v, map);
            if search.filter.matches_version(&v) {
                out.push(v);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name).then(b.version.cmp(&a.version)));
        page_versions(out.into_iter(), search)
    }

    fn transition_stage(
        &self,
        name: &str,
        version: ModelVersionNumber,
        stage: Stage,
        archive_existing_versions: bool,
        change: &Change<'_>,
    ) -> Result<ModelVersion> {
        if archive_existing_versions && !matches!(stage, Stage::Staging | Stage::Production) {
            return Err(RegistryError::invalid(
                "stage transition",
                format!(
                    "cannot archive existing versions when moving {} to {stage}: only Staging and Production are active stages",
                    version_id(name, version)
                ),
            ));
        }
        let model = self.model_json(name)?;
        let versions = self.all_versions(name, &model)?;
        let candidate = versions
            .iter()
            .find(|v| v.version == version)
            .ok_or_else(|| RegistryError::not_found("model version", version_id(name, version)))?;
        let others: Vec<&ModelVersion> = versions
            .iter()
            .filter(|v| v.stage == stage && v.version != version)
            .collect();
        // The highest other version in the stage (versions are highest first).
        self.check_policy(
            change,
            &model,
            candidate,
            PromotionTarget::Stage(stage),
            others.first().copied(),
        )?;
        let endpoint = "model-versions/transition-stage";
        let answer = self
            .send(
                Method::Post,
                endpoint,
                &json!({
                    "name": self.full(name),
                    "version": version.to_string(),
                    "stage": stage.as_str(),
                    "archive_existing_versions": archive_existing_versions,
                }),
                Retry::Idempotent,
            )
            .map_err(|e| self.version_err(name, version, e))?;
        let mut out = self.version_from(
            endpoint,
            field(&self.http.url(endpoint), answer, "model_version")?,
        )?;
        out.aliases.clone_from(&candidate.aliases);
        let mut records = Vec::new();
        if archive_existing_versions {
            for n in &others {
                let note = format!("archived: v{version} moved to {stage}");
                let comment = if change.comment.is_empty() {
                    note
                } else {
                    format!("{note}; {}", change.comment)
                };
                records.push(AuditRecord {
                    at: Utc::now(),
                    actor: change.actor.to_owned(),
                    comment,
                    change: AuditChange::Stage {
                        version: n.version,
                        from: stage,
                        to: Stage::Archived,
                    },
                });
            }
        }
        records.push(record(
            change,
            AuditChange::Stage {
                version,
                from: candidate.stage,
                to: stage,
            },
        ));
        self.append_audit(name, &model, records)?;
        Ok(out)
    }

    fn set_alias(
        &self,
        name: &str,
        alias: &Alias,
        version: ModelVersionNumber,
        change: &Change<'_>,
    ) -> Result<()> {
        let model = self.model_json(name)?;
        let url = self.http.url("registered-models/get");
        let from = model
            .aliases
            .iter()
            .find(|a| a.alias == alias.as_str())
            .map(|a| wire::version_number(&url, &a.version))
            .transpose()?;
        if change.policy.is_some() {
            let candidate = self.get_model_version(name, version)?;
            let incumbent = match from.filter(|f| *f != version) {
                Some(f) => Some(self.get_model_version(name, f)?),
                None => None,
            };
            self.check_policy(
                change,
                &model,
                &candidate,
                PromotionTarget::Alias(alias),
                incumbent.as_ref(),
            )?;
        }
        self.send(
            Method::Post,
            "registered-models/alias",
            &json!({"name": self.full(name), "alias": alias.as_str(), "version": version.to_string()}),
            Retry::Idempotent,
        )
        .map_err(|e| self.version_err(name, version, e))?;
        self.append_audit(
            name,
            &model,
            vec![record(
                change,
                AuditChange::AliasSet {
                    alias: alias.clone(),
                    from,
                    to: version,
                },
            )],
        )
    }

    fn delete_alias(&self, name: &str, alias: &Alias, change: &Change<'_>) -> Result<()> {
        let model = self.model_json(name)?;
        let url = self.http.url("registered-models/get");
        let from = model
            .aliases
            .iter()
            .find(|a| a.alias == alias.as_str())
            .map(|a| wire::version_number(&url, &a.version))
            .transpose()?
            .ok_or_else(|| RegistryError::not_found("alias", format!("{name}@{alias}")))?;
        self.send(
            Method::Delete,
            "registered-models/alias",
            &json!({"name": self.full(name), "alias": alias.as_str()}),
            Retry::Idempotent,
        )
        .map_err(|e| model_err(name, e))?;
        self.append_audit(
            name,
            &model,
            vec![record(
                change,
                AuditChange::AliasDeleted {
                    alias: alias.clone(),
                    from,
                },
            )],
        )
    }

    fn set_model_tag(&self, name: &str, key: &str, value: &str) -> Result<()> {
        validate_tag(key, value)?;
        check_not_reserved(key)?;
        self.send(
            Method::Post,
            "registered-models/set-tag",
            &json!({"name": self.full(name), "key": key, "value": value}),
            Retry::Idempotent,
        )
        .map_err(|e| model_err(name, e))?;
        Ok(())
    }

    fn delete_model_tag(&self, name: &str, key: &str) -> Result<()> {
        check_not_reserved(key)?;
        // MLflow deletes a missing tag silently; the trait says not found.
        let model = self.model_json(name)?;
        if !model.tags.iter().any(|t| t.key == key) {
            return Err(RegistryError::not_found(
                "tag",
                format!("{name} tag {key:?}"),
            ));
        }
        self.send(
            Method::Delete,
            "registered-models/delete-tag",
            &json!({"name": self.full(name), "key": key}),
            Retry::Idempotent,
        )
        .map_err(|e| model_err(name, e))?;
        Ok(())
    }

    fn set_version_tag(
        &self,
        name: &str,
        version: ModelVersionNumber,
        key: &str,
        value: &str,
    ) -> Result<()> {
        validate_tag(key, value)?;
        check_not_reserved(key)?;
        self.send(
            Method::Post,
            "model-versions/set-tag",
            &json!({"name": self.full(name), "version": version.to_string(), "key": key, "value": value}),
            Retry::Idempotent,
        )
        .map_err(|e| self.version_err(name, version, e))?;
        Ok(())
    }

    fn delete_version_tag(&self, name: &str, version: ModelVersionNumber, key: &str) -> Result<()> {
        check_not_reserved(key)?;
        let v = self.version_json(name, version)?;
        if !v.tags.iter().any(|t| t.key == key) {
            return Err(RegistryError::not_found(
                "tag",
                format!("{} tag {key:?}", version_id(name, version)),
            ));
        }
        self.send(
            Method::Delete,
            "model-versions/delete-tag",
            &json!({"name": self.full(name), "version": version.to_string(), "key": key}),
            Retry::Idempotent,
        )
        .map_err(|e| self.version_err(name, version, e))?;
        Ok(())
    }

    fn audit_history(&self, name: &str) -> Result<Vec<AuditRecord>> {
        let model = self.model_json(name)?;
        let mut tags: Vec<_> = model
            .tags
            .iter()
            .filter(|t| t.key.starts_with(AUDIT_PREFIX))
            .collect();
        tags.sort_by(|a, b| a.key.cmp(&b.key));
        tags.into_iter()
            .map(|t| {
                serde_json::from_str::<AuditRecord>(&t.value).map_err(|e| RegistryError::Corrupt {
                    path: format!(
                        "{}#registered model {}/tag {}",
                        self.http.url("registered-models/get"),
                        self.full(name),
                        t.key
                    )
                    .into(),
                    detail: format!("audit record is not valid: {e}"),
                })
            })
            .collect()
    }

    fn resolve(&self, uri: &ModelUri) -> Result<ModelVersionNumber> {
        let name = uri.name();
        match uri.target() {
            VersionTarget::Version(v) => self.version_json(name, *v).map(|_| *v),
            VersionTarget::Alias(a) => {
                let endpoint = "registered-models/alias";
                match self.get(
                    endpoint,
                    &[("name", self.full(name)), ("alias", a.to_string())],
                ) {
                    Ok(answer) => {
                        let url = self.http.url(endpoint);
                        let v: VersionJson = field(&url, answer, "model_version")?;
                        wire::version_number(&url, &v.version)
                    }
                    // MLflow answers a missing alias with INVALID_PARAMETER_VALUE: find out
                    // which is missing (error path only).
                    Err(e) if is_not_found(&e) || e.kind == HttpErrorKind::InvalidArgument => {
                        let model = self.model_json(name)?;
                        if model.aliases.iter().any(|x| x.alias == a.as_str()) {
                            Err(plain(e))
                        } else {
                            Err(RegistryError::not_found("alias", format!("{name}@{a}")))
                        }
                    }
                    Err(e) => Err(plain(e)),
                }
            }
            VersionTarget::Stage(stage) => {
                let model = self.model_json(name)?;
                let url = self.http.url("registered-models/get");
                let mut best = None;
                for v in &model.latest_versions {
                    if v.current_stage
                        .as_deref()
                        .unwrap_or("None")
                        .eq_ignore_ascii_case(stage.as_str())
                    {
                        best = best.max(Some(wire::version_number(&url, &v.version)?));
                    }
                }
                best.ok_or_else(|| {
                    RegistryError::not_found("model version", format!("{name} in stage {stage}"))
                })
            }
            VersionTarget::Latest => {
                let model = self.model_json(name)?;
                let url = self.http.url("registered-models/get");
                let mut best = None;
                for v in &model.latest_versions {
                    best = best.max(Some(wire::version_number(&url, &v.version)?));
                }
                best.ok_or_else(|| {
                    RegistryError::not_found("model version", format!("{name} latest"))
                })
            }
        }
    }
}
