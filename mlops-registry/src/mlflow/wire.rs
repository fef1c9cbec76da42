//! MLflow's JSON shapes and their conversion to and from the crate's data model.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Mutex, OnceLock};

use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{RegistryError, Result};
use crate::model::{
    Alias, Digest, ModelVersion, ModelVersionNumber, RegisteredModel, Stage, VersionStatus,
};

/// Prefix of the tags the backend keeps for itself (hidden from the tag maps).
pub(crate) const RESERVED_PREFIX: &str = "mlops.";
/// Version tag prefix of one metric of the snapshot: `mlops.metric.<name>` = the value.
pub(crate) const METRIC_PREFIX: &str = "mlops.metric.";
/// Version tag holding the artifact digest.
pub(crate) const DIGEST_TAG: &str = "mlops.digest";
/// Model tag prefix of an audit record: `mlops.audit.<seq, 8 digits>.<8 hex>` = JSON record.
pub(crate) const AUDIT_PREFIX: &str = "mlops.audit.";

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct TagJson {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct AliasJson {
    pub alias: String,
    pub version: String,
}

/// A registered model as MLflow sends it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ModelJson {
    pub name: String,
    #[serde(default)]
    pub creation_timestamp: i64,
    #[serde(default)]
    pub last_updated_timestamp: Option<i64>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub tags: Vec<TagJson>,
    #[serde(default)]
    pub latest_versions: Vec<VersionJson>,
    #[serde(default)]
    pub aliases: Vec<AliasJson>,
}

/// A model version as MLflow sends it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct VersionJson {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub creation_timestamp: i64,
    #[serde(default)]
    pub last_updated_timestamp: Option<i64>,
    #[serde(default)]
    pub current_stage: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub run_id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub tags: Vec<TagJson>,
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// The error for an answer that does not have the shape MLflow's API documents.
pub(crate) fn bad_answer(url: &str, detail: impl Into<String>) -> RegistryError {
    let detail = detail.into();
    RegistryError::Remote {
        url: url.to_owned(),
        status: Some(200),
        error_code: None,
        transient: false,
        detail: format!("{url} -> HTTP 200: answer does not match MLflow's API: {detail}"),
    }
}

/// Take `field` out of an answer and decode it.
pub(crate) fn field<T: serde::de::DeserializeOwned>(
    url: &str,
    mut answer: Value,
    field: &str,
) -> Result<T> {
    let v = answer.get_mut(field).map(Value::take).ok_or_else(|| {
        bad_answer(
            url,
            format!("no `{field}` in {}", truncate(&answer.to_string())),
        )
    })?;
    serde_json::from_value(v).map_err(|e| bad_answer(url, format!("`{field}`: {e}")))
}

/// Decode an optional list `field` (MLflow omits empty lists).
pub(crate) fn list<T: serde::de::DeserializeOwned>(
    url: &str,
    answer: &mut Value,
    field: &str,
) -> Result<Vec<T>> {
    match answer.get_mut(field).map(Value::take) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(v) => {
            serde_json::from_value(v).map_err(|e| bad_answer(url, format!("`{field}`: {e}")))
        }
    }
}

fn truncate(s: &str) -> String {
    let mut t: String = s.chars().take(200).collect();
    if s.chars().count() > 200 {
        t.push_str("...");
    }
    t
}

pub(crate) fn millis(url: &str, ms: i64) -> Result<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| bad_answer(url, format!("timestamp {ms} is out of range")))
}

pub(crate) fn version_number(url: &str, s: &str) -> Result<ModelVersionNumber> {
    s.parse()
        .map_err(|_| bad_answer(url, format!("version {s:?} is not a positive integer")))
}

/// Log, once per server, owner and key in this process, a tag in the backend's namespace
/// that it cannot read (another client wrote it). `owner` names the model or version.
pub(crate) fn warn_foreign(url: &str, owner: &str, key: &str, why: &str) {
    static WARNED: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let server = url.split("/api/").next().unwrap_or(url);
    let first = WARNED
        .get_or_init(Mutex::default)
        .lock()
        .map_or(true, |mut seen| {
            seen.insert(format!("{server}\n{owner}\n{key}"))
        });
    if first {
        tracing::warn!(
            server,
            "tag {key} of {owner} {why}: not read as the backend's own (written by another client?)"
        );
    }
}

/// Whether a tag key is one the backend keeps for itself.
pub(crate) fn is_reserved(key: &str) -> bool {
    key.starts_with(RESERVED_PREFIX)
}

/// Refuse a caller's tag key in the reserved namespace.
pub(crate) fn check_not_reserved(key: &str) -> Result<()> {
    if is_reserved(key) {
        return Err(RegistryError::invalid(
            "tag key",
            format!(
                "{key:?} is reserved: the MLflow backend keeps tags starting with {RESERVED_PREFIX:?} for itself"
            ),
        ));
    }
    Ok(())
}

/// `[{key, value}]` for a request body.
pub(crate) fn tags_json<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
    Value::Array(
        tags.into_iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect(),
    )
}

/// The tag value encoding a metric: Rust's shortest representation that parses back to the
/// same `f64`.
pub(crate) fn metric_value(v: f64) -> String {
    format!("{v:?}")
}

/// Convert a model; `strip` removes the backend's name prefix.
pub(crate) fn to_model(
    url: &str,
    m: ModelJson,
    strip: &dyn Fn(&str) -> String,
) -> Result<RegisteredModel> {
    let created_at = millis(url, m.creation_timestamp)?;
    let updated_at = millis(
        url,
        m.last_updated_timestamp.unwrap_or(m.creation_timestamp),
    )?;
    let mut latest = 0;
    for v in &m.latest_versions {
        latest = latest.max(version_number(url, &v.version)?.get());
    }
    let mut aliases = BTreeMap::new();
    for a in m.aliases {
        let alias: Alias = a
            .alias
            .parse()
            .map_err(|e| bad_answer(url, format!("alias {:?}: {e}", a.alias)))?;
        aliases.insert(alias, version_number(url, &a.version)?);
    }
    Ok(RegisteredModel {
        name: strip(&m.name),
        description: m.description.unwrap_or_default(),
        tags: m
            .tags
            .into_iter()
            .filter(|t| !is_reserved(&t.key))
            .map(|t| (t.key, t.value))
            .collect(),
        created_at,
        updated_at,
        latest_version: latest,
        aliases,
    })
}

/// Convert a version; `strip` removes the backend's name prefix. Aliases come from the answer
/// when it has them (`model-versions/get`); searches fill them in from the model.
pub(crate) fn to_version(
    url: &str,
    v: VersionJson,
    strip: &dyn Fn(&str) -> String,
) -> Result<ModelVersion> {
    let version = version_number(url, &v.version)?;
    let stage = match v.current_stage.as_deref() {
        None | Some("") => Stage::None,
        Some(s) => s
            .parse()
            .map_err(|_| bad_answer(url, format!("stage {s:?} of {} v{version}", v.name)))?,
    };
    let status = match v.status.as_deref() {
        None | Some("" | "READY") => VersionStatus::Ready,
        Some("PENDING_REGISTRATION") => VersionStatus::PendingRegistration,
        Some("FAILED_REGISTRATION") => VersionStatus::FailedRegistration,
        Some(s) => {
            return Err(bad_answer(
                url,
                format!("status {s:?} of {} v{version}", v.name),
            ));
        }
    };
    let mut metrics = BTreeMap::new();
    let mut tags = BTreeMap::new();
    let mut digest = None;
    for t in v.tags {
        // Another MLflow client may write anything into our namespace: what we cannot read is
        // kept as a plain tag (with a warning), never an error that would hide the version.
        if let Some(metric) = t.key.strip_prefix(METRIC_PREFIX) {
            match t.value.trim().parse::<f64>() {
                Ok(value) if value.is_finite() => {
                    metrics.insert(metric.to_owned(), value);
                }
                _ => {
                    let owner = format!("{} v{version}", v.name);
                    warn_foreign(
                        url,
                        &owner,
                        &t.key,
                        "is not a finite number; kept as a plain tag",
                    );
                    tags.insert(t.key, t.value);
                }
            }
        } else if t.key == DIGEST_TAG {
            match t.value.parse::<Digest>() {
                Ok(d) => digest = Some(d),
                Err(e) => {
                    let owner = format!("{} v{version}", v.name);
                    warn_foreign(url, &owner, &t.key, &format!("{e}; kept as a plain tag"));
                    tags.insert(t.key, t.value);
                }
            }
        } else if !is_reserved(&t.key) {
            tags.insert(t.key, t.value);
        }
    }
    let mut aliases = Vec::with_capacity(v.aliases.len());
    for a in &v.aliases {
        aliases.push(
            a.parse::<Alias>()
                .map_err(|e| bad_answer(url, format!("alias {a:?}: {e}")))?,
        );
    }
    aliases.sort();
    let created_at = millis(url, v.creation_timestamp)?;
    Ok(ModelVersion {
        name: strip(&v.name),
        version,
        source: v.source.unwrap_or_default(),
        run_id: v.run_id.filter(|r| !r.is_empty()),
        stage,
        aliases,
        description: v.description.unwrap_or_default(),
        metrics,
        tags,
        status,
        created_at,
        updated_at: millis(
            url,
            v.last_updated_timestamp.unwrap_or(v.creation_timestamp),
        )?,
        digest,
    })
}
