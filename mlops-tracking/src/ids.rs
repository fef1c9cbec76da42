//! Typed identifiers and MLflow's validation rules for names and values.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Result, TrackingError};

/// Longest metric, param or tag key MLflow accepts.
pub const MAX_KEY_LEN: usize = 250;
/// Longest param value MLflow accepts.
pub const MAX_PARAM_VALUE_LEN: usize = 6000;
/// Longest tag value MLflow accepts.
pub const MAX_TAG_VALUE_LEN: usize = 8000;
/// Most metrics one `log_batch` call may carry.
pub const MAX_BATCH_METRICS: usize = 1000;
/// Most params one `log_batch` call may carry.
pub const MAX_BATCH_PARAMS: usize = 100;
/// Most tags one `log_batch` call may carry.
pub const MAX_BATCH_TAGS: usize = 100;

/// A run id: 32 lower-case hex digits, drawn at random (UUID v4), so two runs never collide even
/// when they share a name and a start time.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RunId([u8; 32]);

impl RunId {
    /// A fresh random run id.
    #[must_use]
    pub fn new() -> Self {
        let mut out = [0u8; 32];
        let simple = uuid::Uuid::new_v4().simple().to_string();
        out.copy_from_slice(simple.as_bytes());
        Self(out)
    }

    /// The id as a `&str` of 32 hex digits.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl Default for RunId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RunId({})", self.as_str())
    }
}

impl FromStr for RunId {
    type Err = TrackingError;

    /// Parse 32 hex digits (upper case is accepted and normalised to lower case).
    fn from_str(s: &str) -> Result<Self> {
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(TrackingError::invalid(
                "run id",
                format!("{s:?} is not 32 hex digits"),
            ));
        }
        let mut out = [0u8; 32];
        for (o, b) in out.iter_mut().zip(s.bytes()) {
            *o = b.to_ascii_lowercase();
        }
        Ok(Self(out))
    }
}

impl TryFrom<String> for RunId {
    type Error = TrackingError;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<RunId> for String {
    fn from(id: RunId) -> Self {
        id.as_str().to_owned()
    }
}

/// An experiment id. MLflow's are decimal strings (`"0"` is the default experiment); any
/// non-empty string of at most 64 ASCII letters, digits, `-` and `_` is accepted so ids from an
/// MLflow server map one to one.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ExperimentId(String);

impl ExperimentId {
    /// The id of a numeric experiment (MLflow numbers experiments `0`, `1`, ...).
    #[must_use]
    pub fn from_numeric(n: u64) -> Self {
        Self(n.to_string())
    }

    /// The id as a string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ExperimentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ExperimentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExperimentId({})", self.0)
    }
}

impl FromStr for ExperimentId {
    type Err = TrackingError;
    fn from_str(s: &str) -> Result<Self> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(TrackingError::invalid(
                "experiment id",
                format!("{s:?} must be 1 to 64 ASCII letters, digits, '-' or '_'"),
            ))
        }
    }
}

impl TryFrom<String> for ExperimentId {
    type Error = TrackingError;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<ExperimentId> for String {
    fn from(id: ExperimentId) -> Self {
        id.0
    }
}

/// Check a metric, param or tag key the way MLflow does: only word characters, `/`, `.`, `-`,
/// space and `:`; at most [`MAX_KEY_LEN`] characters; and, since MLflow may treat a key as a
/// file name, a clean relative path: normalised as a POSIX path (`posixpath.normpath`) it must
/// be the key itself, not `.`, not absolute, and not start with `..`. So `a/../b`, `./a`,
/// `a//b`, `a/`, `.`, `..` and `..foo` are refused, while `a/..b` and `a..b` are fine.
///
/// # Errors
/// [`TrackingError::InvalidArgument`] naming the key and the rule it breaks.
pub fn validate_key(what: &'static str, key: &str) -> Result<()> {
    let bad = |why: &str| Err(TrackingError::invalid(what, format!("{key:?} {why}")));
    if key.chars().count() > MAX_KEY_LEN {
        return bad(&format!("is longer than {MAX_KEY_LEN} characters"));
    }
    if let Some(c) = key
        .chars()
        .find(|&c| !(c.is_alphanumeric() || matches!(c, '_' | '/' | '.' | '-' | ' ' | ':')))
    {
        return bad(&format!(
            "contains {c:?}; only alphanumerics, '_', '-', '.', ' ', ':' and '/' are allowed"
        ));
    }
    if key.is_empty() {
        return bad("is empty");
    }
    let norm = posix_normpath(key);
    if norm != key || norm == "." || norm.starts_with("..") || norm.starts_with('/') {
        return bad(&format!(
            "is not a clean relative path (as a path it resolves to {norm:?}; keys must not \
             leave or name the root, start with '..', or hold empty or '.' segments)"
        ));
    }
    Ok(())
}

/// Python's `posixpath.normpath`, which MLflow applies to keys: collapse `//` and `.`
/// segments, resolve `..` against the preceding segment, drop a trailing `/`.
pub(crate) fn posix_normpath(path: &str) -> String {
    if path.is_empty() {
        return ".".to_owned();
    }
    // POSIX keeps exactly two leading slashes; three or more become one.
    let leading = if path.starts_with("//") && !path.starts_with("///") {
        2
    } else {
        usize::from(path.starts_with('/'))
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if leading == 0 && (parts.is_empty() || parts.last() == Some(&"..")) => {
                parts.push(part);
            }
            ".." => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    let joined = format!("{}{}", "/".repeat(leading), parts.join("/"));
    if joined.is_empty() {
        ".".to_owned()
    } else {
        joined
    }
}

/// Check a param value's length (at most [`MAX_PARAM_VALUE_LEN`] characters).
///
/// # Errors
/// [`TrackingError::InvalidArgument`] naming the key.
pub fn validate_param_value(key: &str, value: &str) -> Result<()> {
    let n = value.chars().count();
    if n > MAX_PARAM_VALUE_LEN {
        return Err(TrackingError::invalid(
            "param value",
            format!(
                "value of {key:?} has {n} characters; at most {MAX_PARAM_VALUE_LEN} are allowed"
            ),
        ));
    }
    Ok(())
}

/// Check a tag value's length (at most [`MAX_TAG_VALUE_LEN`] characters).
///
/// # Errors
/// [`TrackingError::InvalidArgument`] naming the key.
pub fn validate_tag_value(key: &str, value: &str) -> Result<()> {
    let n = value.chars().count();
    if n > MAX_TAG_VALUE_LEN {
        return Err(TrackingError::invalid(
            "tag value",
            format!("value of {key:?} has {n} characters; at most {MAX_TAG_VALUE_LEN} are allowed"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn run_ids_are_unique_hex_and_round_trip() {
        let ids: std::collections::HashSet<RunId> = (0..10_000).map(|_| RunId::new()).collect();
        assert_eq!(ids.len(), 10_000);
        for id in ids.iter().take(10) {
            assert_eq!(id.as_str().len(), 32);
            assert_eq!(id.as_str().parse::<RunId>().unwrap(), *id);
            let json = serde_json::to_string(id).unwrap();
            assert_eq!(serde_json::from_str::<RunId>(&json).unwrap(), *id);
        }
    }

    #[test]
    fn run_id_parse_rejects_bad_input_and_normalises_case() {
        assert!("abc".parse::<RunId>().is_err());
        assert!("g".repeat(32).parse::<RunId>().is_err());
        let err = serde_json::from_str::<RunId>("\"xyz\"").unwrap_err();
        assert!(err.to_string().contains("xyz"), "{err}");
        let upper = "ABCDEF0123456789ABCDEF0123456789";
        assert_eq!(
            upper.parse::<RunId>().unwrap().as_str(),
            upper.to_lowercase()
        );
    }

    #[test]
    fn experiment_id_validation() {
        assert_eq!("0".parse::<ExperimentId>().unwrap().as_str(), "0");
        assert!("".parse::<ExperimentId>().is_err());
        assert!("a/b".parse::<ExperimentId>().is_err());
        assert!("x".repeat(65).parse::<ExperimentId>().is_err());
    }

    #[test]
    fn keys_follow_mlflow_rules() {
        for ok in [
            "acc",
            "val/loss",
            "lr 0.1",
            "a:b",
            "epoch-1.loss",
            "größe",
            "a_b",
        ] {
            validate_key("metric key", ok).unwrap();
        }
        for ok in ["a/..b", "a..b", "a.", "a/b.", "x/.y"] {
            validate_key("metric key", ok).unwrap();
        }
        for bad in [
            "", "/abs", "a/", "a//b", "./a", "a/../b", "..", ".", "..foo", "...", "..a/b", "a/.",
            "a/b/..", "a\tb", "a\\b", "a*b",
        ] {
            let err = validate_key("metric key", bad).unwrap_err();
            assert!(err.to_string().contains("metric key"), "{err}");
        }
        validate_key("param key", &"k".repeat(250)).unwrap();
        let err = validate_key("param key", &"k".repeat(251)).unwrap_err();
        assert!(err.to_string().contains("longer than 250"), "{err}");
    }

    #[test]
    fn value_lengths() {
        validate_param_value("lr", &"x".repeat(6000)).unwrap();
        let err = validate_param_value("lr", &"x".repeat(6001)).unwrap_err();
        assert!(err.to_string().contains("\"lr\""), "{err}");
        validate_tag_value("note", &"x".repeat(8000)).unwrap();
        assert!(validate_tag_value("note", &"x".repeat(8001)).is_err());
    }

    #[test]
    fn normpath_matches_python() {
        // Answers of Python's posixpath.normpath.
        for (path, norm) in [
            ("", "."),
            (".", "."),
            ("..", ".."),
            ("..foo", "..foo"),
            ("a/../b", "b"),
            ("a/../../b", "../b"),
            ("./a", "a"),
            ("a//b", "a/b"),
            ("a/", "a"),
            ("/a/..", "/"),
            ("//a", "//a"),
            ("///a/./b", "/a/b"),
            ("/..", "/"),
            ("a/b/../..", "."),
        ] {
            assert_eq!(posix_normpath(path), norm, "{path:?}");
        }
    }

    proptest! {
        #[test]
        fn validate_key_never_panics(key in ".{0,300}") {
            let _ = validate_key("key", &key);
        }

        #[test]
        fn run_id_parse_never_panics(s in ".{0,40}") {
            if let Ok(id) = s.parse::<RunId>() {
                prop_assert_eq!(id.as_str(), s.to_lowercase());
            }
        }
    }
}
