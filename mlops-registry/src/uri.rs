//! `models:/` URIs: `models:/name/3`, `models:/name@champion`, `models:/name/Production`,
//! `models:/name/latest`.

use std::fmt;
use std::str::FromStr;

use crate::error::{RegistryError, Result};
use crate::model::{Alias, ModelVersionNumber, Stage, validate_model_name};

/// What a model URI points at inside a registered model.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VersionTarget {
    /// A version number (`models:/name/3`).
    Version(ModelVersionNumber),
    /// The version an alias points at (`models:/name@champion`).
    Alias(Alias),
    /// The highest version in a stage (`models:/name/Production`).
    Stage(Stage),
    /// The highest version (`models:/name/latest`).
    Latest,
}

impl fmt::Display for VersionTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Version(v) => write!(f, "version {v}"),
            Self::Alias(a) => write!(f, "alias @{a}"),
            Self::Stage(s) => write!(f, "stage {s}"),
            Self::Latest => f.write_str("latest version"),
        }
    }
}

/// A parsed `models:/` URI.
///
/// ```
/// use mlops_registry::uri::VersionTarget;
/// use mlops_registry::{ModelUri, Stage};
/// let uri: ModelUri = "models:/text-classifier/Production".parse()?;
/// assert_eq!(uri.name(), "text-classifier");
/// assert_eq!(uri.target(), &VersionTarget::Stage(Stage::Production));
/// assert!("models:/text-classifier/Prod".parse::<ModelUri>().is_err());
/// # Ok::<(), mlops_registry::RegistryError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelUri {
    name: String,
    target: VersionTarget,
}

impl ModelUri {
    /// A URI for `name` and `target`.
    ///
    /// # Errors
    /// [`RegistryError::InvalidArgument`] for an invalid model name.
    pub fn new(name: impl Into<String>, target: VersionTarget) -> Result<Self> {
        let name = name.into();
        validate_model_name(&name)?;
        Ok(Self { name, target })
    }

    /// The registered model's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the URI points at.
    #[must_use]
    pub fn target(&self) -> &VersionTarget {
        &self.target
    }
}

impl fmt::Display for ModelUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            VersionTarget::Version(v) => write!(f, "models:/{}/{v}", self.name),
            VersionTarget::Alias(a) => write!(f, "models:/{}@{a}", self.name),
            VersionTarget::Stage(s) => write!(f, "models:/{}/{s}", self.name),
            VersionTarget::Latest => write!(f, "models:/{}/latest", self.name),
        }
    }
}

impl FromStr for ModelUri {
    type Err = RegistryError;

    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: String| RegistryError::invalid("model uri", format!("{s:?}: {why}"));
        let rest = s.strip_prefix("models:/").ok_or_else(|| {
            bad("must start with `models:/` (models:/<name>/<version|stage|latest> or models:/<name>@<alias>)".to_owned())
        })?;
        if let Some((name, target)) = rest.split_once('/') {
            if target.is_empty() {
                return Err(bad("nothing after the model name's `/`".to_owned()));
            }
            if target.contains('/') {
                return Err(bad("too many `/` separated parts".to_owned()));
            }
            validate_model_name(name).map_err(|e| bad(e.to_string()))?;
            let target = if target.bytes().all(|b| b.is_ascii_digit()) {
                VersionTarget::Version(
                    target
                        .parse()
                        .map_err(|e: RegistryError| bad(e.to_string()))?,
                )
            } else if target.eq_ignore_ascii_case("latest") {
                VersionTarget::Latest
            } else if let Ok(stage) = target.parse::<Stage>() {
                VersionTarget::Stage(stage)
            } else {
                return Err(bad(format!(
                    "{target:?} is not a version number, a stage (None, Staging, Production, Archived) or `latest`"
                )));
            };
            return Ok(Self {
                name: name.to_owned(),
                target,
            });
        }
        if let Some((name, alias)) = rest.rsplit_once('@') {
            validate_model_name(name).map_err(|e| bad(e.to_string()))?;
            let alias = alias.parse::<Alias>().map_err(|e| bad(e.to_string()))?;
            return Ok(Self {
                name: name.to_owned(),
                target: VersionTarget::Alias(alias),
            });
        }
        Err(bad(
            "names no version, stage, `latest` or `@alias` (models:/<name>/<version|stage|latest> or models:/<name>@<alias>)"
                .to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_every_form_and_round_trips() {
        let cases = [
            (
                "models:/m/3",
                VersionTarget::Version(ModelVersionNumber::new(3).unwrap()),
            ),
            (
                "models:/m@champion",
                VersionTarget::Alias("champion".parse().unwrap()),
            ),
            (
                "models:/m/Production",
                VersionTarget::Stage(Stage::Production),
            ),
            ("models:/m/staging", VersionTarget::Stage(Stage::Staging)),
            ("models:/m/latest", VersionTarget::Latest),
        ];
        for (s, target) in cases {
            let uri: ModelUri = s.parse().unwrap();
            assert_eq!(uri.name(), "m");
            assert_eq!(uri.target(), &target);
            let again: ModelUri = uri.to_string().parse().unwrap();
            assert_eq!(again, uri);
        }
        // An `@` inside a name with a `/target` is part of the name.
        let uri: ModelUri = "models:/a@b/2".parse().unwrap();
        assert_eq!(uri.name(), "a@b");
    }

    #[test]
    fn malformed_uris_say_why() {
        for (s, needle) in [
            ("runs:/abc/model", "must start with"),
            ("models:/m", "names no version"),
            ("models:/m/", "nothing after"),
            ("models:/m/1/2", "too many"),
            ("models:/m/0", "versions start at 1"),
            ("models:/m/Prod", "is not a version number"),
            ("models:/m@latest", "reserved"),
            ("models:/m@v3", "reserved"),
            ("models:/@champion", "is empty"),
            ("models://3", "is empty"),
        ] {
            let err = s.parse::<ModelUri>().unwrap_err().to_string();
            assert!(err.contains(needle), "{s}: {err}");
            assert!(err.contains("model uri"), "{s}: {err}");
        }
    }

    proptest! {
        #[test]
        fn parser_never_panics(s in "models:/.{0,40}") {
            let _ = s.parse::<ModelUri>();
        }
    }
}
