//! `runs:/<run_id>/<path>` URIs (MLflow's form): a run, or an artifact path inside it.
//!
//! ```
//! use mlops_tracking::{RunId, RunUri};
//!
//! let id = RunId::new();
//! let uri: RunUri = format!("runs:/{id}/model/weights.json").parse()?;
//! assert_eq!((uri.run_id(), uri.path()), (id, "model/weights.json"));
//! assert_eq!(RunUri::new(id).to_string(), format!("runs:/{id}"));
//! let err = "runs:/not-an-id/model".parse::<RunUri>().unwrap_err();
//! assert!(err.to_string().contains("run uri"), "{err}");
//! # Ok::<(), mlops_tracking::TrackingError>(())
//! ```

use std::fmt;
use std::str::FromStr;

use crate::catalog::check_artifact_path;
use crate::error::{Result, TrackingError};
use crate::ids::RunId;

/// The scheme of a [`RunUri`].
pub const RUN_URI_SCHEME: &str = "runs:/";

/// A run, or an artifact path in a run: `runs:/<run_id>` or `runs:/<run_id>/<path>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RunUri {
    run_id: RunId,
    path: String,
}

impl RunUri {
    /// The URI of the run itself.
    #[must_use]
    pub fn new(run_id: RunId) -> Self {
        Self {
            run_id,
            path: String::new(),
        }
    }

    /// The URI of artifact `path` of the run.
    ///
    /// # Errors
    /// `InvalidArgument` for a path that is not a clean relative path.
    pub fn with_path(run_id: RunId, path: impl Into<String>) -> Result<Self> {
        let path = path.into();
        if !path.is_empty() {
            check_artifact_path(&path)?;
        }
        Ok(Self { run_id, path })
    }

    /// The run.
    #[must_use]
    pub fn run_id(&self) -> RunId {
        self.run_id
    }

    /// The artifact path (empty for the run itself).
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl fmt::Display for RunUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{RUN_URI_SCHEME}{}", self.run_id)?;
        if !self.path.is_empty() {
            write!(f, "/{}", self.path)?;
        }
        Ok(())
    }
}

impl FromStr for RunUri {
    type Err = TrackingError;

    /// Parse `runs:/<run_id>[/<path>]` (a trailing `/` after the id is allowed).
    ///
    /// # Errors
    /// `InvalidArgument` (`run uri`) naming the URI and what is wrong: another scheme, a bad
    /// run id, a path that is not clean (`..`, empty components).
    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: String| TrackingError::invalid("run uri", format!("{s:?}: {why}"));
        let rest = s
            .strip_prefix(RUN_URI_SCHEME)
            .ok_or_else(|| bad(format!("does not start with {RUN_URI_SCHEME}")))?;
        let (id, path) = rest.split_once('/').unwrap_or((rest, ""));
        let run_id: RunId = id
            .parse()
            .map_err(|_| bad(format!("{id:?} is not a run id (32 lower-case hex digits)")))?;
        Self::with_path(run_id, path).map_err(|e| bad(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_with_reasons() {
        let id = RunId::new();
        for text in [format!("runs:/{id}"), format!("runs:/{id}/model/m.json")] {
            assert_eq!(text.parse::<RunUri>().unwrap().to_string(), text);
        }
        assert_eq!(
            format!("runs:/{id}/").parse::<RunUri>().unwrap(),
            RunUri::new(id)
        );
        for (bad, why) in [
            (format!("run:/{id}"), "does not start"),
            ("runs:/xyz/model".to_owned(), "not a run id"),
            (format!("runs:/{id}/../x"), "artifact path"),
            (format!("runs:/{id}/a//b"), "artifact path"),
        ] {
            let msg = bad.parse::<RunUri>().unwrap_err().to_string();
            assert!(msg.contains("run uri") && msg.contains(why), "{bad}: {msg}");
        }
    }
}
