//! The crate's error type.

use std::fmt;
use std::path::PathBuf;

use crate::model::KeyType;

/// What a [`FeatureError::NotFound`] or [`FeatureError::AlreadyExists`] is about. Displays as
/// the lower-case noun used in messages (`feature group`, `feature`, `feature service`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EntityKind {
    /// A feature group (Feast's feature view).
    FeatureGroup,
    /// A feature of a group.
    Feature,
    /// A feature service.
    FeatureService,
}

impl EntityKind {
    /// The lower-case noun used in messages.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FeatureGroup => "feature group",
            Self::Feature => "feature",
            Self::FeatureService => "feature service",
        }
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Result alias used throughout the crate.
pub type Result<T, E = FeatureError> = std::result::Result<T, E>;

/// Everything that can go wrong in `mlops-features`.
///
/// Messages are lower-case, name the id, key or file involved, and never end with a period.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FeatureError {
    /// A feature group, feature, entity or feature service that does not exist.
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
    /// Bad input: an invalid name or reference, a row that does not match the schema.
    #[error("invalid {what}: {detail}")]
    InvalidArgument {
        /// What was invalid (`"feature reference"`, `"row"`, ...).
        what: &'static str,
        /// Why, naming the offending value.
        detail: String,
    },
    /// A row of an ingested batch does not match the feature group's schema. The whole batch
    /// was rejected: nothing of it was written.
    #[error("invalid row {row} for feature group {group}, field {field:?}: {detail}")]
    InvalidRow {
        /// The feature group the batch was for.
        group: String,
        /// Index of the first bad row in the batch (0-based).
        row: usize,
        /// The offending field: an entity column, a feature, or `event_timestamp`/`values`.
        field: String,
        /// What is wrong.
        detail: String,
    },
    /// A column of ingested Arrow data or of a Parquet file does not fit the feature group: it
    /// is missing, of the wrong type (both named), or null where a value is required. Nothing
    /// of the input was written.
    #[error("invalid column {column} in {input}: {detail}")]
    Column {
        /// The input: `record batch 0`, or the file's path.
        input: String,
        /// The column.
        column: String,
        /// What is wrong (`expected int64, got Utf8`).
        detail: String,
    },
    /// An entity key whose column has the wrong type for the group (a string key for an
    /// `int64` column, or the reverse). Never reported as "not found": such a key can never
    /// match a row, which a service would otherwise take for "no features yet".
    #[error(
        "entity key type mismatch for feature group {group}, key column {column}: expected \
         {expected}, got {got}"
    )]
    KeyTypeMismatch {
        /// The feature group read.
        group: String,
        /// The entity key column whose type does not match.
        column: String,
        /// The column's type in the group.
        expected: KeyType,
        /// The type of the key part given.
        got: KeyType,
    },
    /// The request contradicts stored state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A remote store (Redis) could not be reached, timed out or refused a command. When this
    /// comes from a batch write, the message says how many rows were applied before the
    /// failure; rewriting the batch is safe (newest version wins).
    #[error("{backend} error on {target}: {detail}")]
    Backend {
        /// The backend (`"redis"`).
        backend: &'static str,
        /// The server (`redis://host:port`).
        target: String,
        /// What failed.
        detail: String,
    },
    /// An entry of a remote store holds data this crate did not write (a key of the wrong
    /// type, garbage bytes); it is left untouched.
    #[error("corrupt {backend} entry {key}: {detail}")]
    CorruptEntry {
        /// The backend (`"redis"`).
        backend: &'static str,
        /// The server and key (`redis://host:port/key`).
        key: String,
        /// What is wrong with it.
        detail: String,
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

impl FeatureError {
    /// Shorthand for [`FeatureError::InvalidRow`].
    pub(crate) fn row(
        group: &str,
        row: usize,
        field: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self::InvalidRow {
            group: group.to_owned(),
            row,
            field: field.into(),
            detail: detail.into(),
        }
    }

    /// Shorthand for [`FeatureError::NotFound`].
    pub(crate) fn not_found(kind: EntityKind, id: impl Into<String>) -> Self {
        Self::NotFound {
            kind,
            id: id.into(),
        }
    }

    /// Shorthand for [`FeatureError::Io`].
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// Shorthand for [`FeatureError::Corrupt`].
    pub(crate) fn corrupt(path: impl Into<PathBuf>, detail: impl Into<String>) -> Self {
        Self::Corrupt {
            path: path.into(),
            detail: detail.into(),
        }
    }

    /// Shorthand for [`FeatureError::InvalidArgument`].
    pub(crate) fn invalid(what: &'static str, detail: impl Into<String>) -> Self {
        Self::InvalidArgument {
            what,
            detail: detail.into(),
        }
    }
}
