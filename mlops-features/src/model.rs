//! Names, feature references and value types.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{FeatureError, Result};

/// Longest group, feature or service name accepted.
pub const MAX_NAME_LEN: usize = 128;

/// Check a feature-group, feature, entity-key or feature-service name: 1 to [`MAX_NAME_LEN`]
/// ASCII letters, digits and `_`, not starting with a digit (names become column names in
/// training sets, so they stay identifier-like, as in Feast).
///
/// # Errors
/// [`FeatureError::InvalidArgument`] naming the name and the rule it breaks.
pub fn validate_name(what: &'static str, name: &str) -> Result<()> {
    let bad = |why: &str| Err(FeatureError::invalid(what, format!("{name:?} {why}")));
    if name.is_empty() {
        return bad("is empty");
    }
    if name.len() > MAX_NAME_LEN {
        return bad(&format!("is longer than {MAX_NAME_LEN} characters"));
    }
    if name.as_bytes()[0].is_ascii_digit() {
        return bad("starts with a digit");
    }
    if let Some(c) = name
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || c == '_'))
    {
        return bad(&format!(
            "contains {c:?}; only ASCII letters, digits and '_' are allowed"
        ));
    }
    Ok(())
}

/// A reference to one feature of one group: `group:feature`, as Feast spells it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FeatureRef {
    group: String,
    feature: String,
}

impl FeatureRef {
    /// A reference from its two parts.
    ///
    /// # Errors
    /// [`FeatureError::InvalidArgument`] if either part is not a valid name.
    pub fn new(group: &str, feature: &str) -> Result<Self> {
        validate_name("feature group name", group)?;
        validate_name("feature name", feature)?;
        Ok(Self {
            group: group.to_owned(),
            feature: feature.to_owned(),
        })
    }

    /// The feature group's name.
    #[must_use]
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The feature's name.
    #[must_use]
    pub fn feature(&self) -> &str {
        &self.feature
    }
}

impl fmt::Display for FeatureRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.group, self.feature)
    }
}

impl FromStr for FeatureRef {
    type Err = FeatureError;
    fn from_str(s: &str) -> Result<Self> {
        let (group, feature) = s.split_once(':').ok_or_else(|| {
            FeatureError::invalid("feature reference", format!("{s:?} is not `group:feature`"))
        })?;
        Self::new(group, feature)
            .map_err(|e| FeatureError::invalid("feature reference", format!("{s:?}: {e}")))
    }
}

impl TryFrom<String> for FeatureRef {
    type Error = FeatureError;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<FeatureRef> for String {
    fn from(r: FeatureRef) -> Self {
        r.to_string()
    }
}

/// The type of a feature's values. Every value may also be null.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    /// `true` / `false`.
    Bool,
    /// 64-bit signed integer.
    Int64,
    /// 64-bit float.
    Float64,
    /// 32-bit float.
    Float32,
    /// UTF-8 text.
    String,
    /// A point in time (UTC, microseconds).
    Timestamp,
    /// Raw bytes.
    Bytes,
    /// A vector of 32-bit floats (an embedding).
    Float32Vector,
}

/// One feature value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Value {
    /// A missing value.
    Null,
    /// See [`ValueType::Bool`].
    Bool(bool),
    /// See [`ValueType::Int64`].
    Int64(i64),
    /// See [`ValueType::Float64`].
    Float64(f64),
    /// See [`ValueType::Float32`].
    Float32(f32),
    /// See [`ValueType::String`].
    String(String),
    /// See [`ValueType::Timestamp`]: microseconds since the Unix epoch, UTC.
    Timestamp(i64),
    /// See [`ValueType::Bytes`].
    Bytes(Vec<u8>),
    /// See [`ValueType::Float32Vector`].
    Float32Vector(Vec<f32>),
}

impl Value {
    /// The value's type, or `None` for [`Value::Null`].
    #[must_use]
    pub fn value_type(&self) -> Option<ValueType> {
        Some(match self {
            Self::Null => return None,
            Self::Bool(_) => ValueType::Bool,
            Self::Int64(_) => ValueType::Int64,
            Self::Float64(_) => ValueType::Float64,
            Self::Float32(_) => ValueType::Float32,
            Self::String(_) => ValueType::String,
            Self::Timestamp(_) => ValueType::Timestamp,
            Self::Bytes(_) => ValueType::Bytes,
            Self::Float32Vector(_) => ValueType::Float32Vector,
        })
    }

    /// Whether the value may be stored in a feature of type `ty` (null always may).
    #[must_use]
    pub fn fits(&self, ty: ValueType) -> bool {
        self.value_type().is_none_or(|t| t == ty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names() {
        for ok in ["user_features", "age", "_private", "f1"] {
            validate_name("feature name", ok).unwrap();
        }
        for bad in ["", "1st", "a-b", "a:b", "a b", "ä", &"a".repeat(129)] {
            assert!(
                validate_name("feature name", bad).is_err(),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn feature_refs() {
        let r: FeatureRef = "user_features:age".parse().unwrap();
        assert_eq!((r.group(), r.feature()), ("user_features", "age"));
        assert_eq!(r.to_string(), "user_features:age");
        for bad in ["age", ":age", "g:", "g:a:b", "g:a-b"] {
            let err = bad.parse::<FeatureRef>().unwrap_err();
            assert!(err.to_string().contains("feature reference"), "{err}");
        }
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, "\"user_features:age\"");
        assert_eq!(serde_json::from_str::<FeatureRef>(&json).unwrap(), r);
    }

    #[test]
    fn values_check_their_type() {
        assert!(Value::Int64(3).fits(ValueType::Int64));
        assert!(!Value::Int64(3).fits(ValueType::Float64));
        assert!(Value::Null.fits(ValueType::Bytes));
        assert_eq!(
            Value::Float32Vector(vec![1.0]).value_type(),
            Some(ValueType::Float32Vector)
        );
        let v = Value::Float64(f64::NAN);
        let back: Value =
            serde_json::from_str(&serde_json::to_string(&Value::Int64(-7)).unwrap()).unwrap();
        assert_eq!(back, Value::Int64(-7));
        assert!(v.fits(ValueType::Float64));
    }

    proptest! {
        #[test]
        fn ref_parse_never_panics(s in ".{0,300}") {
            if let Ok(r) = s.parse::<FeatureRef>() {
                prop_assert_eq!(r.to_string(), s);
            }
        }
    }
}
