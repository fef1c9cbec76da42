//! The crate's error type.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = DvcError> = std::result::Result<T, E>;

/// What a [`DvcError::NotFound`] is about; its `Display` is the noun used in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EntityKind {
    /// A dataset (a path with versions or a pointer file).
    Dataset,
    /// A version of a dataset.
    Version,
    /// An object of a content store.
    Object,
    /// A dataset's pointer file.
    PointerFile,
    /// A file or folder of the working directory.
    Path,
    /// A bucket of an object store.
    Bucket,
}

impl std::fmt::Display for EntityKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Dataset => "dataset",
            Self::Version => "version",
            Self::Object => "object",
            Self::PointerFile => "pointer file",
            Self::Path => "file or folder",
            Self::Bucket => "bucket",
        })
    }
}

/// Everything that can go wrong in `mlops-dvc`.
///
/// Messages are lower-case, name the id, key or file involved, and never end with a period.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DvcError {
    /// A dataset, version, object or pointer file that does not exist.
    #[error("{kind} not found: {id}")]
    NotFound {
        /// What was looked up.
        kind: EntityKind,
        /// The id or name that was looked up.
        id: String,
    },
    /// Bad input: a malformed digest, a path that escapes the working directory.
    #[error("invalid {what}: {detail}")]
    InvalidArgument {
        /// What was invalid (`"digest"`, `"path"`, ...).
        what: &'static str,
        /// Why, naming the offending value.
        detail: String,
    },
    /// The request contradicts stored state.
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
    /// A file changed while it was being read (its size or modification time moved): the
    /// result would describe neither the old nor the new content, so nothing was recorded.
    #[error("file changed while being read: {}", path.display())]
    Changed {
        /// The file that changed.
        path: PathBuf,
    },
    /// A remote object store failed (feature `s3`): rejected credentials
    /// ([`S3Error::Auth`](mlops_s3::S3Error::Auth), naming endpoint and bucket), an unreachable
    /// server, a request that failed after its retries.
    #[cfg(feature = "s3")]
    #[error("remote {remote}: {source}")]
    Remote {
        /// The remote's `s3://bucket/prefix`.
        remote: String,
        /// What went wrong.
        #[source]
        source: Box<mlops_s3::S3Error>,
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

impl DvcError {
    /// Shorthand for [`DvcError::Io`].
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// Turn an I/O error into a [`DvcError`], unwrapping one that a reader of this crate (the
    /// verifying object reader) carried through [`std::io::Read`]; otherwise [`DvcError::Io`].
    #[must_use]
    pub fn from_io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        if source
            .get_ref()
            .is_some_and(|inner| inner.downcast_ref::<Self>().is_some())
        {
            if let Some(inner) = source.into_inner()
                && let Ok(e) = inner.downcast::<Self>()
            {
                return *e;
            }
            unreachable_io(path.into())
        } else {
            Self::io(path, source)
        }
    }

    /// Whether this is a [`DvcError::Corrupt`].
    #[must_use]
    pub fn is_corrupt(&self) -> bool {
        matches!(self, Self::Corrupt { .. })
    }

    /// Whether this is a [`DvcError::NotFound`].
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }

    /// Shorthand for [`DvcError::InvalidArgument`].
    pub(crate) fn invalid(what: &'static str, detail: impl Into<String>) -> Self {
        Self::InvalidArgument {
            what,
            detail: detail.into(),
        }
    }
}

fn unreachable_io(path: PathBuf) -> DvcError {
    DvcError::io(path, std::io::Error::other("error lost while unwrapping"))
}

/// Wrap a [`DvcError`] into an [`std::io::Error`] so that it can travel through [`std::io::Read`];
/// [`DvcError::from_io`] takes it back out.
pub(crate) fn to_io(e: DvcError) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e)
}
