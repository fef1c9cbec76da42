//! The crate's error type.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = TestingError> = std::result::Result<T, E>;

/// What a [`TestingError::NotFound`] or [`TestingError::AlreadyExists`] names. `Display` gives the
/// lower-case noun used in messages (`column not found: label`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EntityKind {
    /// A column of a dataset.
    Column,
    /// A metric of the baseline in a regression comparison.
    BaselineMetric,
    /// A metric of the current values in a regression comparison.
    CurrentMetric,
    /// A latency statistic by name (`p95`, ...).
    LatencyStatistic,
    /// A category of a production-readiness checklist.
    ChecklistCategory,
    /// An item of a production-readiness checklist.
    ChecklistItem,
}

impl std::fmt::Display for EntityKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Column => "column",
            Self::BaselineMetric => "baseline metric",
            Self::CurrentMetric => "current metric",
            Self::LatencyStatistic => "latency statistic",
            Self::ChecklistCategory => "checklist category",
            Self::ChecklistItem => "checklist item",
        })
    }
}

/// Everything that can go wrong in `mlops-testing`.
///
/// Messages are lower-case, name the id, key or file involved, and never end with a period.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestingError {
    /// A column, metric or checklist entry that does not exist.
    #[error("{kind} not found: {id}")]
    NotFound {
        /// What was looked up.
        kind: EntityKind,
        /// The id or name that was looked up.
        id: String,
    },
    /// Adding something whose unique name is taken (a dataset column, a checklist category).
    #[error("{kind} already exists: {id}")]
    AlreadyExists {
        /// What was added.
        kind: EntityKind,
        /// The name that is taken.
        id: String,
    },
    /// Bad input: empty samples, mismatched lengths, an invalid regex or threshold.
    #[error("invalid {what}: {detail}")]
    InvalidArgument {
        /// What was invalid (`"sample"`, `"threshold"`, ...).
        what: &'static str,
        /// Why, naming the offending value.
        detail: String,
    },
    /// An I/O error writing a report file.
    #[error("i/o error on {}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl TestingError {
    /// Shorthand for [`TestingError::InvalidArgument`].
    pub(crate) fn invalid(what: &'static str, detail: impl Into<String>) -> Self {
        Self::InvalidArgument {
            what,
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_keep_their_nouns() {
        let e = TestingError::NotFound {
            kind: EntityKind::BaselineMetric,
            id: "auc".into(),
        };
        assert_eq!(e.to_string(), "baseline metric not found: auc");
        let e = TestingError::AlreadyExists {
            kind: EntityKind::ChecklistCategory,
            id: "data".into(),
        };
        assert_eq!(e.to_string(), "checklist category already exists: data");
    }
}
