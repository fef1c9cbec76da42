//! `features://<group>@v<version>` URIs: a feature group at one schema version (the
//! [`FeatureGroup::version`](crate::FeatureGroup) that every apply adding features raises).
//!
//! ```
//! use mlops_features::FeatureGroupUri;
//!
//! let uri: FeatureGroupUri = "features://customer_stats@v3".parse()?;
//! assert_eq!((uri.group(), uri.version()), ("customer_stats", 3));
//! assert_eq!(uri.to_string(), "features://customer_stats@v3");
//! let err = "features://customer_stats@3".parse::<FeatureGroupUri>().unwrap_err();
//! assert!(err.to_string().contains("feature group uri"), "{err}");
//! # Ok::<(), mlops_features::FeatureError>(())
//! ```

use std::fmt;
use std::str::FromStr;

use crate::error::{FeatureError, Result};
use crate::model::validate_name;

/// The scheme of a [`FeatureGroupUri`].
pub const FEATURE_GROUP_URI_SCHEME: &str = "features://";

/// A feature group at a schema version: `features://<group>@v<version>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FeatureGroupUri {
    group: String,
    version: u32,
}

impl FeatureGroupUri {
    /// The URI of `group` at `version`.
    ///
    /// # Errors
    /// [`FeatureError::InvalidArgument`] for a bad group name or version 0.
    pub fn new(group: impl Into<String>, version: u32) -> Result<Self> {
        let group = group.into();
        validate_name("feature group uri", &group)?;
        if version == 0 {
            return Err(FeatureError::invalid(
                "feature group uri",
                format!("version 0 of group {group:?}: versions start at 1"),
            ));
        }
        Ok(Self { group, version })
    }

    /// The feature group's name.
    #[must_use]
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The group's schema version.
    #[must_use]
    pub fn version(&self) -> u32 {
        self.version
    }
}

impl fmt::Display for FeatureGroupUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{FEATURE_GROUP_URI_SCHEME}{}@v{}",
            self.group, self.version
        )
    }
}

impl FromStr for FeatureGroupUri {
    type Err = FeatureError;

    /// Parse `features://<group>@v<version>`.
    ///
    /// # Errors
    /// [`FeatureError::InvalidArgument`] (`feature group uri`) naming the URI and what is
    /// wrong: another scheme, no `@v<version>`, a version that is not a positive integer, a bad
    /// group name.
    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: String| FeatureError::invalid("feature group uri", format!("{s:?}: {why}"));
        let rest = s
            .strip_prefix(FEATURE_GROUP_URI_SCHEME)
            .ok_or_else(|| bad(format!("does not start with {FEATURE_GROUP_URI_SCHEME}")))?;
        let (group, version) = rest
            .split_once('@')
            .ok_or_else(|| bad("has no `@v<version>` after the group".into()))?;
        let digits = version
            .strip_prefix('v')
            .ok_or_else(|| bad(format!("version {version:?} does not start with `v`")))?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(format!("version {version:?} is not `v` and a number")));
        }
        let version: u32 = digits
            .parse()
            .map_err(|_| bad(format!("version {version:?} is too large")))?;
        Self::new(group, version).map_err(|e| bad(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_with_reasons() {
        let uri = FeatureGroupUri::new("g_1", 12).unwrap();
        assert_eq!(uri.to_string().parse::<FeatureGroupUri>().unwrap(), uri);
        for (bad, why) in [
            ("feature://g@v1", "does not start"),
            ("features://g", "no `@v"),
            ("features://g@1", "does not start with `v`"),
            ("features://g@v", "a number"),
            ("features://g@v-1", "a number"),
            ("features://g@v0", "versions start at 1"),
            ("features://g@v99999999999", "too large"),
            ("features://bad-name@v1", "only ASCII"),
            ("features://@v1", "empty"),
        ] {
            let msg = bad.parse::<FeatureGroupUri>().unwrap_err().to_string();
            assert!(
                msg.contains("feature group uri") && msg.contains(why),
                "{bad}: {msg}"
            );
        }
    }
}
