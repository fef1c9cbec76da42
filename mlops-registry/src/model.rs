//! Names, version numbers, aliases and stages, with MLflow's validation rules.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{RegistryError, Result};

/// Longest alias MLflow accepts.
pub const MAX_ALIAS_LEN: usize = 255;
/// Longest registered-model name accepted (MLflow's database column width).
pub const MAX_MODEL_NAME_LEN: usize = 256;

/// Check a registered-model name: not empty, at most [`MAX_MODEL_NAME_LEN`] characters, no `/`
/// or `:` (they would make `models:/` URIs ambiguous), no control characters, and no leading or
/// trailing whitespace.
///
/// # Errors
/// [`RegistryError::InvalidArgument`] naming the name and the rule it breaks.
pub fn validate_model_name(name: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(RegistryError::invalid(
            "model name",
            format!("{name:?} {why}"),
        ))
    };
    if name.is_empty() {
        return bad("is empty");
    }
    if name.chars().count() > MAX_MODEL_NAME_LEN {
        return bad(&format!("is longer than {MAX_MODEL_NAME_LEN} characters"));
    }
    if let Some(c) = name
        .chars()
        .find(|&c| c == '/' || c == ':' || c.is_control())
    {
        return bad(&format!("contains {c:?}"));
    }
    if name.trim() != name {
        return bad("has leading or trailing whitespace");
    }
    Ok(())
}

/// A model version number: 1, 2, 3, ... per registered model, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ModelVersionNumber(u64);

impl ModelVersionNumber {
    /// The first version of every model.
    pub const FIRST: Self = Self(1);

    /// A version number; `0` is not one.
    ///
    /// # Errors
    /// [`RegistryError::InvalidArgument`] for `0`.
    pub fn new(n: u64) -> Result<Self> {
        if n == 0 {
            return Err(RegistryError::invalid(
                "model version",
                "versions start at 1",
            ));
        }
        Ok(Self(n))
    }

    /// The number.
    #[must_use]
    pub fn get(self) -> u64 {
        self.0
    }

    /// The version after this one.
    ///
    /// # Errors
    /// [`RegistryError::InvalidArgument`] if the numbers are exhausted.
    pub fn next(self) -> Result<Self> {
        self.0
            .checked_add(1)
            .map(Self)
            .ok_or_else(|| RegistryError::invalid("model version", "version numbers exhausted"))
    }
}

impl fmt::Display for ModelVersionNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for ModelVersionNumber {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<Self> {
        let n = s
            .parse::<u64>()
            .ok()
            .filter(|_| s.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                RegistryError::invalid("model version", format!("{s:?} is not a positive integer"))
            })?;
        Self::new(n)
    }
}

/// An alias (`champion`, `challenger`, ...): word characters and `-`, at most
/// [`MAX_ALIAS_LEN`] characters; `latest` (any case) and `v<digits>` are reserved, as in MLflow.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Alias(String);

impl Alias {
    /// The alias as a string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Alias {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Alias {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| Err(RegistryError::invalid("alias", format!("{s:?} {why}")));
        if s.is_empty() {
            return bad("is empty");
        }
        if s.chars().count() > MAX_ALIAS_LEN {
            return bad(&format!("is longer than {MAX_ALIAS_LEN} characters"));
        }
        if let Some(c) = s
            .chars()
            .find(|&c| !(c.is_alphanumeric() || c == '_' || c == '-'))
        {
            return bad(&format!(
                "contains {c:?}; only word characters and '-' are allowed"
            ));
        }
        if s.eq_ignore_ascii_case("latest") {
            return bad("is reserved");
        }
        let mut chars = s.chars();
        if matches!(chars.next(), Some('v' | 'V'))
            && chars.as_str().chars().next().is_some()
            && chars.all(|c| c.is_ascii_digit())
        {
            return bad("is reserved (it looks like a version reference)");
        }
        Ok(Self(s.to_owned()))
    }
}

impl TryFrom<String> for Alias {
    type Error = RegistryError;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<Alias> for String {
    fn from(a: Alias) -> Self {
        a.0
    }
}

/// The stage of a model version (MLflow's deprecated-but-used stages workflow).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
pub enum Stage {
    /// Not in any stage.
    #[default]
    None,
    /// Being validated.
    Staging,
    /// Serving traffic.
    Production,
    /// Retired.
    Archived,
}

impl Stage {
    /// Every stage, in lifecycle order.
    pub const ALL: [Self; 4] = [Self::None, Self::Staging, Self::Production, Self::Archived];

    /// MLflow's name for the stage.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "None",
            Self::Staging => "Staging",
            Self::Production => "Production",
            Self::Archived => "Archived",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Stage {
    type Err = RegistryError;

    /// Parse a stage name case-insensitively, as MLflow does.
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|stage| stage.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                RegistryError::invalid(
                    "stage",
                    format!("{s:?} is not one of None, Staging, Production, Archived"),
                )
            })
    }
}

/// Longest tag key accepted (MLflow's limit).
pub const MAX_TAG_KEY_LEN: usize = 250;
/// Longest tag value accepted (MLflow's limit for model and version tags).
pub const MAX_TAG_VALUE_LEN: usize = 5000;

/// Check a tag key: not empty, at most [`MAX_TAG_KEY_LEN`] characters, no control characters.
///
/// # Errors
/// [`RegistryError::InvalidArgument`] naming the key.
pub fn validate_tag(key: &str, value: &str) -> Result<()> {
    if key.is_empty() || key.chars().count() > MAX_TAG_KEY_LEN || key.chars().any(char::is_control)
    {
        return Err(RegistryError::invalid(
            "tag key",
            format!("{key:?} must be 1 to {MAX_TAG_KEY_LEN} characters without control characters"),
        ));
    }
    if value.chars().count() > MAX_TAG_VALUE_LEN {
        return Err(RegistryError::invalid(
            "tag value",
            format!("the value of tag {key:?} is longer than {MAX_TAG_VALUE_LEN} characters"),
        ));
    }
    Ok(())
}

/// Check a metric of a version's metrics snapshot: a non-empty name and a finite value (JSON has
/// no NaN or infinity, and a comparison with them would be meaningless).
///
/// # Errors
/// [`RegistryError::InvalidArgument`] naming the metric.
pub fn validate_metric(name: &str, value: f64) -> Result<()> {
    if name.is_empty() || name.chars().any(char::is_control) {
        return Err(RegistryError::invalid(
            "metric",
            format!("{name:?} is not a valid metric name"),
        ));
    }
    if !value.is_finite() {
        return Err(RegistryError::invalid(
            "metric",
            format!("{name:?} has the non-finite value {value}"),
        ));
    }
    Ok(())
}

/// The SHA-256 digest of a model artifact: 64 lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

impl Digest {
    /// The SHA-256 digest of `bytes`.
    #[must_use]
    pub fn of_bytes(bytes: &[u8]) -> Self {
        use sha2::Digest as _;
        let hash = sha2::Sha256::digest(bytes);
        let mut hex = String::with_capacity(64);
        for b in &hash {
            hex.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
            hex.push(char::from(b"0123456789abcdef"[usize::from(b & 0xf)]));
        }
        Self(hex)
    }

    /// The 64 hex digits.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Digest {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<Self> {
        let hex = s.strip_prefix("sha256:").unwrap_or(s);
        if hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(Self(hex.to_owned()))
        } else {
            Err(RegistryError::invalid(
                "digest",
                format!("{s:?} is not 64 lower-case hex digits"),
            ))
        }
    }
}

impl TryFrom<String> for Digest {
    type Error = RegistryError;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> Self {
        d.0
    }
}

/// The registration status of a model version (MLflow's `ModelVersionStatus`).
///
/// The embedded backends register synchronously, so their versions are always
/// [`VersionStatus::Ready`]; the other values exist for remote backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum VersionStatus {
    /// Registration is in progress.
    PendingRegistration,
    /// Registration failed.
    FailedRegistration,
    /// The version is usable.
    #[default]
    Ready,
}

impl VersionStatus {
    /// MLflow's name for the status.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingRegistration => "PENDING_REGISTRATION",
            Self::FailedRegistration => "FAILED_REGISTRATION",
            Self::Ready => "READY",
        }
    }
}

impl fmt::Display for VersionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A registered model: a named family of versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RegisteredModel {
    /// The unique name.
    pub name: String,
    /// Free-text description.
    #[serde(default)]
    pub description: String,
    /// Tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// When the model was registered.
    pub created_at: DateTime<Utc>,
    /// When the model or one of its versions last changed.
    pub updated_at: DateTime<Utc>,
    /// The highest version number ever assigned (0 before the first version); numbers are never
    /// reused, even after a delete.
    pub latest_version: u64,
    /// Alias → version.
    #[serde(default)]
    pub aliases: BTreeMap<Alias, ModelVersionNumber>,
}

/// One version of a registered model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModelVersion {
    /// The registered model's name.
    pub name: String,
    /// The version number.
    pub version: ModelVersionNumber,
    /// Where the model artifact lives (a URI or a path).
    pub source: String,
    /// The tracking run that produced it, as an opaque string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The stage.
    #[serde(default)]
    pub stage: Stage,
    /// The aliases pointing at this version, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<Alias>,
    /// Free-text description.
    #[serde(default)]
    pub description: String,
    /// The metrics snapshot taken at registration.
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    /// Tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Registration status.
    #[serde(default)]
    pub status: VersionStatus,
    /// When the version was created.
    pub created_at: DateTime<Utc>,
    /// When the version last changed.
    pub updated_at: DateTime<Utc>,
    /// The SHA-256 digest of the model artifact, when the caller supplied one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
}

/// What an audit record says changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditChange {
    /// A version moved from one stage to another.
    Stage {
        /// The version.
        version: ModelVersionNumber,
        /// Its previous stage.
        from: Stage,
        /// Its new stage.
        to: Stage,
    },
    /// An alias was set or moved.
    AliasSet {
        /// The alias.
        alias: Alias,
        /// The version it pointed at before, if any.
        from: Option<ModelVersionNumber>,
        /// The version it points at now.
        to: ModelVersionNumber,
    },
    /// An alias was deleted (directly, or because its version was deleted).
    AliasDeleted {
        /// The alias.
        alias: Alias,
        /// The version it pointed at.
        from: ModelVersionNumber,
    },
    /// A version was created.
    VersionCreated {
        /// The version.
        version: ModelVersionNumber,
    },
    /// A version was deleted.
    VersionDeleted {
        /// The version.
        version: ModelVersionNumber,
    },
    /// The model was renamed.
    Renamed {
        /// The old name.
        from: String,
        /// The new name.
        to: String,
    },
}

impl fmt::Display for AuditChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stage { version, from, to } => write!(f, "v{version} stage {from} -> {to}"),
            Self::AliasSet { alias, from, to } => match from {
                Some(from) => write!(f, "alias @{alias} v{from} -> v{to}"),
                None => write!(f, "alias @{alias} set to v{to}"),
            },
            Self::AliasDeleted { alias, from } => write!(f, "alias @{alias} removed from v{from}"),
            Self::VersionCreated { version } => write!(f, "v{version} created"),
            Self::VersionDeleted { version } => write!(f, "v{version} deleted"),
            Self::Renamed { from, to } => write!(f, "renamed {from:?} -> {to:?}"),
        }
    }
}

/// One entry of a model's append-only audit history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditRecord {
    /// When the change happened.
    pub at: DateTime<Utc>,
    /// Who made it (the actor string the caller passed; empty when none was given).
    #[serde(default)]
    pub actor: String,
    /// The caller's comment.
    #[serde(default)]
    pub comment: String,
    /// What changed.
    pub change: AuditChange,
}

impl fmt::Display for AuditRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            self.at.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
            self.change
        )?;
        if !self.actor.is_empty() {
            write!(f, " by {}", self.actor)?;
        }
        if !self.comment.is_empty() {
            write!(f, " ({})", self.comment)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn model_names() {
        for ok in ["text-classifier", "Churn Model v2", "模型"] {
            validate_model_name(ok).unwrap();
        }
        for bad in ["", "a/b", "a:b", " padded", "tab\there", &"x".repeat(257)] {
            let err = validate_model_name(bad).unwrap_err();
            assert!(err.to_string().contains("model name"), "{err}");
        }
    }

    #[test]
    fn version_numbers() {
        assert!(ModelVersionNumber::new(0).is_err());
        assert_eq!("3".parse::<ModelVersionNumber>().unwrap().get(), 3);
        assert!("+3".parse::<ModelVersionNumber>().is_err());
        assert!("0".parse::<ModelVersionNumber>().is_err());
        assert!("x".parse::<ModelVersionNumber>().is_err());
        assert_eq!(ModelVersionNumber::FIRST.next().unwrap().get(), 2);
        assert!(ModelVersionNumber::new(u64::MAX).unwrap().next().is_err());
    }

    #[test]
    fn aliases_follow_mlflow_rules() {
        for ok in ["champion", "challenger-2", "a_b", "v", "v1a", "version"] {
            ok.parse::<Alias>().unwrap();
        }
        for bad in [
            "",
            "latest",
            "LATEST",
            "v1",
            "V42",
            "a b",
            "a.b",
            &"a".repeat(256),
        ] {
            assert!(bad.parse::<Alias>().is_err(), "{bad:?} accepted");
        }
        assert!(serde_json::from_str::<Alias>("\"latest\"").is_err());
    }

    #[test]
    fn stages_parse_case_insensitively() {
        assert_eq!("production".parse::<Stage>().unwrap(), Stage::Production);
        assert_eq!("None".parse::<Stage>().unwrap(), Stage::None);
        let err = "Prod".parse::<Stage>().unwrap_err();
        assert!(err.to_string().contains("\"Prod\""), "{err}");
        for s in Stage::ALL {
            assert_eq!(s.to_string().parse::<Stage>().unwrap(), s);
        }
    }

    #[test]
    fn digests_are_sha256_hex() {
        let d = Digest::of_bytes(b"abc");
        assert_eq!(
            d.as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(format!("sha256:{d}").parse::<Digest>().unwrap(), d);
        assert!("BA7816".parse::<Digest>().is_err());
        assert!(serde_json::from_str::<Digest>("\"xyz\"").is_err());
    }

    #[test]
    fn tags_and_metrics_are_validated() {
        validate_tag("team", "nlp").unwrap();
        assert!(validate_tag("", "x").is_err());
        assert!(validate_tag(&"k".repeat(251), "x").is_err());
        assert!(validate_tag("k", &"v".repeat(5001)).is_err());
        validate_metric("accuracy", 0.9).unwrap();
        let err = validate_metric("loss", f64::INFINITY)
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"loss\""), "{err}");
        assert!(validate_metric("", 1.0).is_err());
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in ".{0,300}") {
            let _ = s.parse::<Alias>();
            let _ = s.parse::<Stage>();
            let _ = s.parse::<ModelVersionNumber>();
            let _ = validate_model_name(&s);
        }
    }
}
