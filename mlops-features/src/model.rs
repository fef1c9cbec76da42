//! Names, feature references, value types and timestamps.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{FeatureError, Result};
pub use crate::key::{EntityKey, KeyPart, KeyType};

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

impl ValueType {
    /// The lower-case name used in messages and files (`"int64"`, `"float32_vector"`, ...).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Bool => "bool",
            Self::Int64 => "int64",
            Self::Float64 => "float64",
            Self::Float32 => "float32",
            Self::String => "string",
            Self::Timestamp => "timestamp",
            Self::Bytes => "bytes",
            Self::Float32Vector => "float32_vector",
        }
    }

    /// Whether values of this type have a fixed width (stored inline in the online store).
    #[must_use]
    pub fn is_fixed_width(self) -> bool {
        !matches!(self, Self::String | Self::Bytes | Self::Float32Vector)
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A point in time: microseconds since the Unix epoch, UTC.
///
/// Event and created timestamps of feature rows, entity-frame timestamps and the clock all use
/// it. It displays as RFC 3339 and parses from RFC 3339.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The earliest representable time.
    pub const MIN: Self = Self(i64::MIN);
    /// The latest representable time.
    pub const MAX: Self = Self(i64::MAX);

    /// From microseconds since the Unix epoch.
    #[must_use]
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    /// From whole seconds since the Unix epoch (saturating).
    #[must_use]
    pub const fn from_secs(secs: i64) -> Self {
        Self(secs.saturating_mul(1_000_000))
    }

    /// Microseconds since the Unix epoch.
    #[must_use]
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// The current wall-clock time.
    #[must_use]
    pub fn now() -> Self {
        Self(chrono::Utc::now().timestamp_micros())
    }

    /// This time plus `d` (saturating).
    #[must_use]
    pub fn saturating_add(self, d: Duration) -> Self {
        Self(self.0.saturating_add(duration_micros(d)))
    }

    /// This time minus `d` (saturating).
    #[must_use]
    pub fn saturating_sub(self, d: Duration) -> Self {
        Self(self.0.saturating_sub(duration_micros(d)))
    }

    /// As a chrono date-time, or `None` outside chrono's range.
    #[must_use]
    pub fn to_datetime(self) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::from_timestamp_micros(self.0)
    }
}

/// A duration in whole microseconds, saturating at `i64::MAX`.
pub(crate) fn duration_micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

impl From<chrono::DateTime<chrono::Utc>> for Timestamp {
    fn from(t: chrono::DateTime<chrono::Utc>) -> Self {
        Self(t.timestamp_micros())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_datetime() {
            Some(t) => write!(
                f,
                "{}",
                t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            ),
            None => write!(f, "{}us", self.0),
        }
    }
}

impl FromStr for Timestamp {
    type Err = FeatureError;
    fn from_str(s: &str) -> Result<Self> {
        chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| Self(t.timestamp_micros()))
            .map_err(|e| FeatureError::invalid("timestamp", format!("{s:?}: {e}")))
    }
}

/// One feature value.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Value {
    /// A missing value.
    #[default]
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
    /// See [`ValueType::Timestamp`].
    Timestamp(Timestamp),
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

    /// Whether this is [`Value::Null`].
    #[must_use]
    pub fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }

    /// The value as `f64` for the numeric types (`Int64`, `Float64`, `Float32`), else `None`.
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Self::Int64(v) => Some(v as f64),
            Self::Float64(v) => Some(v),
            Self::Float32(v) => Some(f64::from(v)),
            _ => None,
        }
    }

    /// The value as `i64` for `Int64`, else `None`.
    #[must_use]
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Self::Int64(v) => Some(v),
            _ => None,
        }
    }

    /// The value as `&str` for `String`, else `None`.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(v) => Some(v),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("null"),
            Self::Bool(v) => write!(f, "{v}"),
            Self::Int64(v) => write!(f, "{v}"),
            Self::Float64(v) => write!(f, "{v:?}"),
            Self::Float32(v) => write!(f, "{v:?}"),
            Self::String(v) => write!(f, "{v:?}"),
            Self::Timestamp(v) => write!(f, "{v}"),
            Self::Bytes(v) => write!(f, "<{} bytes>", v.len()),
            Self::Float32Vector(v) => write!(f, "<{} x f32>", v.len()),
        }
    }
}

macro_rules! value_from {
    ($($t:ty => $variant:ident $(as $conv:ty)?),* $(,)?) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self {
                Self::$variant(v $(as $conv)?)
            }
        }
    )*};
}
value_from!(bool => Bool, i64 => Int64, f64 => Float64, f32 => Float32, String => String,
    Timestamp => Timestamp, Vec<u8> => Bytes, Vec<f32> => Float32Vector);

impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Self::Int64(i64::from(v))
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::String(v.to_owned())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
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
        let back: Value =
            serde_json::from_str(&serde_json::to_string(&Value::Int64(-7)).unwrap()).unwrap();
        assert_eq!(back, Value::Int64(-7));
        assert_eq!(Value::from(Some(2.5)), Value::Float64(2.5));
        assert_eq!(Value::from(None::<i64>), Value::Null);
    }

    #[test]
    fn timestamps_display_and_parse() {
        let t = Timestamp::from_secs(1_700_000_000);
        assert_eq!(t.to_string(), "2023-11-14T22:13:20Z");
        assert_eq!(t.to_string().parse::<Timestamp>().unwrap(), t);
        assert!("yesterday".parse::<Timestamp>().is_err());
        assert_eq!(
            t.saturating_add(Duration::from_secs(1)).as_micros(),
            1_700_000_001_000_000
        );
    }

    #[test]
    fn entity_keys_are_compact_and_ordered() {
        assert_eq!(size_of::<EntityKey>(), 24);
        let long = "x".repeat(40);
        let k = EntityKey::new(&[KeyPart::String(&long), KeyPart::Int64(-3)]);
        assert_eq!(
            k.parts().collect::<Vec<_>>(),
            [KeyPart::String(&long), KeyPart::Int64(-3)]
        );
        assert_eq!(EntityKey::from_encoded(k.encoded()).unwrap(), k);
        assert!(EntityKey::from_encoded(&[9, 9]).is_err());
        assert!(EntityKey::from_encoded(&[]).is_err());
        assert!(EntityKey::from(1) < EntityKey::from(2));
        assert!(EntityKey::from("a") < EntityKey::from("b"));
        assert_eq!(
            serde_json::to_string(&k).unwrap(),
            format!("[\"{long}\",-3]")
        );
    }

    proptest! {
        #[test]
        fn ref_parse_never_panics(s in ".{0,300}") {
            if let Ok(r) = s.parse::<FeatureRef>() {
                prop_assert_eq!(r.to_string(), s);
            }
        }

        #[test]
        fn key_encoding_round_trips(a in ".{0,40}", b in any::<i64>()) {
            let k = EntityKey::new(&[KeyPart::String(&a), KeyPart::Int64(b)]);
            prop_assert_eq!(k.parts().collect::<Vec<_>>(), vec![KeyPart::String(&a), KeyPart::Int64(b)]);
            prop_assert_eq!(EntityKey::from_encoded(k.encoded()).unwrap(), k);
        }

        #[test]
        fn key_decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = EntityKey::from_encoded(&bytes);
        }
    }
}
