//! The crate's error type.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = TrackingError> = std::result::Result<T, E>;

/// What a [`TrackingError::NotFound`] or [`TrackingError::AlreadyExists`] is about; its
/// `Display` is the lower-case noun used in messages (`experiment not found: 42`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EntityKind {
    /// An experiment (by id or name).
    Experiment,
    /// A run.
    Run,
    /// An artifact of a run.
    Artifact,
}

impl std::fmt::Display for EntityKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Experiment => "experiment",
            Self::Run => "run",
            Self::Artifact => "artifact",
        })
    }
}

/// Everything that can go wrong in `mlops-tracking`.
///
/// Messages are lower-case, name the id, key or file involved, and never end with a period.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrackingError {
    /// An experiment, run, metric or artifact that does not exist.
    #[error("{kind} not found: {id}")]
    NotFound {
        /// What was looked up.
        kind: EntityKind,
        /// The id or name that was looked up.
        id: String,
    },
    /// Creating something whose unique name or id is taken.
    #[error("{kind} already exists: {id}")]
    AlreadyExists {
        /// What was created.
        kind: EntityKind,
        /// The name or id that is taken.
        id: String,
    },
    /// Bad input: an invalid key, an over-long value, a malformed id or filter.
    #[error("invalid {what}: {detail}")]
    InvalidArgument {
        /// What was invalid (`"metric key"`, `"run id"`, ...).
        what: &'static str,
        /// Why, naming the offending value.
        detail: String,
    },
    /// A search filter or order-by clause that does not parse.
    #[error("invalid {what} at position {position}: {message}")]
    InvalidFilter {
        /// `"filter"` or `"order_by clause"`.
        what: &'static str,
        /// Character position (0-based) where the problem was found.
        position: usize,
        /// What was expected there and what was found.
        message: String,
    },
    /// The request contradicts stored state (a param logged again with another value, logging to
    /// a finished run).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A file of the store is damaged.
    #[error("corrupt file {}: {detail}", path.display())]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// An I/O error on a file of the store.
    #[error("i/o error on {}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A remote store (an MLflow server) failed to answer as expected: unreachable, timed out,
    /// a server error, an answer that is not MLflow's JSON, or an error code this crate does not
    /// map. The message names the method, the URL, the HTTP status (when there was an answer),
    /// MLflow's `error_code` and its message.
    #[error("remote store error: {message}")]
    Remote {
        /// The URL requested (without the query string).
        url: String,
        /// The HTTP status, when the server answered.
        status: Option<u16>,
        /// Whether trying again later may succeed (connection refused, timeout, 429, 5xx).
        transient: bool,
        /// The full description: method, URL, status, error code and message.
        message: String,
    },
    /// A file of the store could not be (de)serialized.
    #[error("cannot (de)serialize {}: {source}", path.display())]
    Serde {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
}

impl TrackingError {
    /// Shorthand for [`TrackingError::InvalidArgument`].
    pub(crate) fn invalid(what: &'static str, detail: impl Into<String>) -> Self {
        Self::InvalidArgument {
            what,
            detail: detail.into(),
        }
    }
}
