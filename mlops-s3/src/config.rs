//! [`S3Config`]: where the objects live and how to reach them.

use std::fmt;
use std::time::Duration;

use crate::error::{Result, S3Error};

/// A secret string (secret access key, session token): never shown by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself (to hand to the signer; never log it).
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where the objects live and how to reach them: endpoint, region, bucket, key prefix,
/// credentials, and transfer tuning.
///
/// [`S3Config::from_env`] reads the standard variables, as the AWS CLI and SDKs do:
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` (else
/// `AWS_DEFAULT_REGION`, else `us-east-1`), `AWS_ENDPOINT_URL_S3` (else `AWS_ENDPOINT_URL`) for
/// S3-compatible servers (MinIO, Ceph, R2, moto), `AWS_ALLOW_HTTP=true`, and
/// `AWS_REQUEST_CHECKSUM_CALCULATION` (`when_required` turns the default upload checksums off,
/// see [`request_checksums`](Self::request_checksums)). The builder
/// methods override each of them. Without explicit credentials, object_store's usual chain
/// applies (web identity, container and instance metadata).
///
/// Plain `http://` endpoints are refused unless asked for ([`allow_http`](Self::allow_http) or
/// `AWS_ALLOW_HTTP=true`). Paths are used path-style (`<endpoint>/<bucket>/<key>`) when an
/// endpoint is set, as S3-compatible servers expect.
///
/// The secret access key and session token never appear in `Debug` output, in error messages
/// or in logs: `Debug` shows `<redacted>`, and server messages are scrubbed of them.
#[derive(Clone)]
pub struct S3Config {
    pub(crate) bucket: String,
    pub(crate) prefix: String,
    pub(crate) region: String,
    pub(crate) endpoint: Option<String>,
    pub(crate) access_key_id: Option<String>,
    pub(crate) secret_access_key: Option<Secret>,
    pub(crate) session_token: Option<Secret>,
    pub(crate) allow_http: bool,
    pub(crate) request_checksums: bool,
    pub(crate) part_size: usize,
    pub(crate) parts_in_flight: usize,
    pub(crate) max_retries: usize,
    pub(crate) retry_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) connect_timeout: Duration,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key)
            .field("session_token", &self.session_token)
            .field("allow_http", &self.allow_http)
            .field("request_checksums", &self.request_checksums)
            .field("part_size", &self.part_size)
            .field("parts_in_flight", &self.parts_in_flight)
            .field("max_retries", &self.max_retries)
            .field("retry_timeout", &self.retry_timeout)
            .finish_non_exhaustive()
    }
}

/// The smallest part S3 accepts (except the last one).
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

/// The default part size of multipart uploads (and the size above which an upload is
/// multipart): 8 MiB.
pub const DEFAULT_PART_SIZE: usize = 8 * 1024 * 1024;

impl S3Config {
    /// A configuration for `bucket` with no prefix, region `us-east-1`, AWS's endpoint, no
    /// explicit credentials, and the default tuning. Reads no environment variable.
    pub fn new(bucket: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            prefix: String::new(),
            region: "us-east-1".to_owned(),
            endpoint: None,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            allow_http: false,
            request_checksums: true,
            part_size: DEFAULT_PART_SIZE,
            parts_in_flight: 2,
            max_retries: 10,
            retry_timeout: Duration::from_secs(180),
            request_timeout: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(10),
        }
    }

    /// A configuration for `bucket` completed from the standard `AWS_*` variables (see the type
    /// docs).
    pub fn from_env(bucket: impl Into<String>) -> Self {
        Self::from_vars(bucket, |k| std::env::var(k).ok())
    }

    /// Like [`from_env`](Self::from_env) with the variables looked up by `var` (for tests and
    /// for callers that keep their settings elsewhere).
    pub fn from_vars(bucket: impl Into<String>, var: impl Fn(&str) -> Option<String>) -> Self {
        let var = |k: &str| var(k).filter(|v| !v.is_empty());
        let mut c = Self::new(bucket);
        if let Some(region) = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")) {
            c.region = region;
        }
        c.endpoint = var("AWS_ENDPOINT_URL_S3").or_else(|| var("AWS_ENDPOINT_URL"));
        c.access_key_id = var("AWS_ACCESS_KEY_ID");
        c.secret_access_key = var("AWS_SECRET_ACCESS_KEY").map(Secret::new);
        c.session_token = var("AWS_SESSION_TOKEN").map(Secret::new);
        c.allow_http = var("AWS_ALLOW_HTTP").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if let Some(v) = var("AWS_REQUEST_CHECKSUM_CALCULATION") {
            c.request_checksums = !v.eq_ignore_ascii_case("when_required");
        }
        c
    }

    /// Parse `s3://bucket[/prefix]` and complete it from the environment.
    ///
    /// # Errors
    /// [`S3Error::Config`] when `url` is not an `s3://` URL with a bucket.
    pub fn from_url(url: &str) -> Result<Self> {
        let (bucket, prefix) = parse_url(url)?;
        Ok(Self::from_env(bucket).prefix(prefix))
    }

    /// Set the key prefix (a "folder" inside the bucket; leading and trailing `/` are dropped).
    #[must_use]
    pub fn prefix(mut self, prefix: impl AsRef<str>) -> Self {
        self.prefix = prefix.as_ref().trim_matches('/').to_owned();
        self
    }

    /// Set the region.
    #[must_use]
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// Set the endpoint of an S3-compatible server (`http://127.0.0.1:9000`).
    #[must_use]
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Set static credentials.
    #[must_use]
    pub fn credentials(
        mut self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> Self {
        self.access_key_id = Some(access_key_id.into());
        self.secret_access_key = Some(Secret::new(secret_access_key));
        self
    }

    /// Set a session token (temporary credentials).
    #[must_use]
    pub fn session_token(mut self, token: impl Into<String>) -> Self {
        self.session_token = Some(Secret::new(token));
        self
    }

    /// Allow plain `http://` endpoints (local test servers). Off by default.
    #[must_use]
    pub fn allow_http(mut self, yes: bool) -> Self {
        self.allow_http = yes;
        self
    }

    /// Send a SHA-256 checksum with every upload request (on by default, as the AWS SDKs'
    /// `when_supported`): each PUT and each part carries `x-amz-checksum-sha256`, which the
    /// server verifies and keeps (a multipart object gets a composite checksum of its parts).
    /// It costs nothing extra on our side: it is the digest already computed to sign the
    /// payload. Turn it off (or set `AWS_REQUEST_CHECKSUM_CALCULATION=when_required`) for an
    /// S3-compatible server that rejects the header.
    #[must_use]
    pub fn request_checksums(mut self, yes: bool) -> Self {
        self.request_checksums = yes;
        self
    }

    /// Set the multipart part size (at least 5 MiB, S3's minimum; default 8 MiB). Uploads
    /// larger than one part are multipart.
    #[must_use]
    pub fn part_size(mut self, bytes: usize) -> Self {
        self.part_size = bytes.max(MIN_PART_SIZE);
        self
    }

    /// How many parts of one upload are sent at once (default 2). An upload holds at most
    /// `parts_in_flight + 1` parts in memory.
    #[must_use]
    pub fn parts_in_flight(mut self, n: usize) -> Self {
        self.parts_in_flight = n.max(1);
        self
    }

    /// Retries of a failed request (default 10) and the total time they may take (default
    /// 3 minutes).
    #[must_use]
    pub fn retries(mut self, max_retries: usize, retry_timeout: Duration) -> Self {
        self.max_retries = max_retries;
        self.retry_timeout = retry_timeout;
        self
    }

    /// Timeout of one request (default 5 minutes) and of connecting (default 10 s).
    #[must_use]
    pub fn timeouts(mut self, request: Duration, connect: Duration) -> Self {
        self.request_timeout = request;
        self.connect_timeout = connect;
        self
    }

    /// The multipart part size in bytes.
    #[must_use]
    pub fn part_size_bytes(&self) -> usize {
        self.part_size
    }

    /// The bucket.
    #[must_use]
    pub fn bucket_name(&self) -> &str {
        &self.bucket
    }

    /// The key prefix (no leading or trailing `/`; empty for none).
    #[must_use]
    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    /// The endpoint as shown in messages: the configured one, else AWS's for the region.
    #[must_use]
    pub fn endpoint_display(&self) -> String {
        self.endpoint
            .clone()
            .unwrap_or_else(|| format!("https://s3.{}.amazonaws.com", self.region))
    }

    /// `s3://bucket[/prefix]`.
    #[must_use]
    pub fn url(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }

    /// The full key of `rel` (a path relative to the prefix).
    #[must_use]
    pub fn key(&self, rel: &str) -> String {
        let rel = rel.trim_start_matches('/');
        if self.prefix.is_empty() {
            rel.to_owned()
        } else if rel.is_empty() {
            self.prefix.clone()
        } else {
            format!("{}/{rel}", self.prefix)
        }
    }

    /// Remove every secret from `text` (server messages may echo what they were sent).
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in [&self.secret_access_key, &self.session_token]
            .into_iter()
            .flatten()
        {
            if !secret.expose().is_empty() {
                out = out.replace(secret.expose(), "<redacted>");
            }
        }
        out
    }
}

/// Split `s3://bucket/prefix` into the bucket and the prefix.
///
/// # Errors
/// [`S3Error::Config`] when `url` is not an `s3://` URL with a bucket.
pub fn parse_url(url: &str) -> Result<(String, String)> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| S3Error::Config(format!("not an s3:// url: {url}")))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty()
        || !bucket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
    {
        return Err(S3Error::Config(format!("bad bucket name in {url}")));
    }
    if prefix.split('/').any(|s| s == ".." || s == ".") {
        return Err(S3Error::Config(format!("bad prefix in {url}")));
    }
    Ok((bucket.to_owned(), prefix.trim_matches('/').to_owned()))
}
