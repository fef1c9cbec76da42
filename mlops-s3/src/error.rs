//! The crate's error type.

/// Result alias used throughout the crate.
pub type Result<T, E = S3Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to an S3-compatible server.
///
/// Messages are lower-case and name the endpoint, bucket or key involved. They never contain a
/// secret access key or session token: server messages are scrubbed of them before they are
/// kept (see [`S3Config`](crate::S3Config)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum S3Error {
    /// The configuration is incomplete or invalid (no bucket, a malformed `s3://` URL, ...).
    #[error("invalid s3 configuration: {0}")]
    Config(String),
    /// The server rejected the credentials (HTTP 401/403).
    #[error("authentication failed for bucket {bucket} at {endpoint}: {detail}")]
    Auth {
        /// The endpoint that was asked.
        endpoint: String,
        /// The bucket that was asked for.
        bucket: String,
        /// What the server said (scrubbed of secrets).
        detail: String,
    },
    /// The bucket does not exist.
    #[error("bucket not found: {bucket} at {endpoint}")]
    BucketNotFound {
        /// The endpoint that was asked.
        endpoint: String,
        /// The missing bucket.
        bucket: String,
    },
    /// The object does not exist.
    #[error("object not found: s3://{bucket}/{key}")]
    NotFound {
        /// The bucket.
        bucket: String,
        /// The full key of the missing object.
        key: String,
    },
    /// The object exists and a create-only write was asked for.
    #[error("object already exists: s3://{bucket}/{key}")]
    AlreadyExists {
        /// The bucket.
        bucket: String,
        /// The full key.
        key: String,
    },
    /// The caller's reader failed during an upload; the upload was aborted and nothing was
    /// stored. The reader's error is kept as it was (it may carry a caller's own error).
    #[error("{source}")]
    Read {
        /// The reader's error.
        #[source]
        source: std::io::Error,
    },
    /// Any other failure of a request (network, server error after retries, timeout).
    #[error("s3 {op} failed for s3://{bucket}/{key} at {endpoint}: {detail}")]
    Request {
        /// The operation (`"get"`, `"put"`, `"list"`, ...).
        op: &'static str,
        /// The endpoint.
        endpoint: String,
        /// The bucket.
        bucket: String,
        /// The key or prefix.
        key: String,
        /// What went wrong (scrubbed of secrets).
        detail: String,
    },
}

impl S3Error {
    /// Whether this is [`S3Error::NotFound`] (an object; not a missing bucket).
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }

    /// Whether this is [`S3Error::Auth`].
    #[must_use]
    pub fn is_auth(&self) -> bool {
        matches!(self, Self::Auth { .. })
    }
}
