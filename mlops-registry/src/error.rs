//! The crate's error type.

use std::fmt;
use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// Everything that can go wrong in `mlops-registry`.
///
/// Messages are lower-case, name the id, key or file involved, and never end with a period.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// A registered model, model version, alias or audit record that does not exist.
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
    /// Bad input: an invalid model name, alias, stage or model URI.
    #[error("invalid {what}: {detail}")]
    InvalidArgument {
        /// What was invalid (`"model name"`, `"alias"`, ...).
        what: &'static str,
        /// Why, naming the offending value.
        detail: String,
    },
    /// A promotion (a stage transition or an alias move) was refused by the caller's
    /// [`PromotionPolicy`](crate::PromotionPolicy); nothing was changed.
    #[error("promotion of {model} v{version} to {target} denied: {}", reasons.join("; "))]
    PromotionDenied {
        /// The registered model.
        model: String,
        /// The candidate version.
        version: u64,
        /// The target (`stage Production`, `alias @champion`).
        target: String,
        /// Every reason the policy gave, in order.
        reasons: Vec<String>,
    },
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
    /// A remote registry server (the MLflow backend's) failed, could not be reached, timed out
    /// or answered something that is not what its API promises. Nothing is known to have
    /// changed unless the server says so; `detail` names the method, URL, HTTP status, the
    /// server's error code and message.
    #[error("registry server error: {detail}")]
    Remote {
        /// The URL requested (without the query string).
        url: String,
        /// The HTTP status, when the server answered.
        status: Option<u16>,
        /// The server's error code (MLflow's `error_code`), when its answer had one.
        error_code: Option<String>,
        /// Whether the failure is transient (a timeout, a refused connection, a 429 or a 5xx):
        /// the same call may succeed later.
        transient: bool,
        /// The whole story: method, URL, status, error code, message, attempts.
        detail: String,
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

/// What a [`RegistryError::NotFound`] or [`RegistryError::AlreadyExists`] is about. Displays
/// as the lower-case noun used in messages (`registered model`, `model version`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EntityKind {
    /// A registered model.
    RegisteredModel,
    /// A model version.
    ModelVersion,
    /// An alias of a model.
    Alias,
    /// A tag of a model or a version.
    Tag,
}

impl EntityKind {
    /// The noun used in messages.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RegisteredModel => "registered model",
            Self::ModelVersion => "model version",
            Self::Alias => "alias",
            Self::Tag => "tag",
        }
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl RegistryError {
    /// Shorthand for [`RegistryError::NotFound`].
    pub(crate) fn not_found(kind: EntityKind, id: impl Into<String>) -> Self {
        Self::NotFound {
            kind,
            id: id.into(),
        }
    }

    /// Shorthand for [`RegistryError::AlreadyExists`].
    pub(crate) fn already_exists(kind: EntityKind, id: impl Into<String>) -> Self {
        Self::AlreadyExists {
            kind,
            id: id.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, detail: impl Into<String>) -> Self {
        Self::Corrupt {
            path: path.into(),
            detail: detail.into(),
        }
    }

    /// Shorthand for [`RegistryError::InvalidArgument`].
    pub(crate) fn invalid(what: &'static str, detail: impl Into<String>) -> Self {
        Self::InvalidArgument {
            what,
            detail: detail.into(),
        }
    }
}
