//! Names, version numbers, aliases and stages, with MLflow's validation rules.

use std::fmt;
use std::str::FromStr;

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
