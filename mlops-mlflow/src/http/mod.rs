//! A small blocking client for MLflow's REST API (`/api/2.0/mlflow/...`).
//!
//! The one client used by both `mlops-tracking` and `mlops-registry`, so a user talking to one
//! server builds one [`MlflowConfig`]. It knows HTTP, MLflow's configuration environment variables,
//! retries and MLflow's JSON error bodies; it knows nothing of runs or models: each crate's
//! backend maps [`HttpError`] to its own error type.
//!
//! - One [`ureq::Agent`] with a pool of keep-alive connections; every request has a timeout.
//! - Auth: `Authorization: Bearer <token>` or HTTP basic auth.
//! - Retries with exponential backoff on connection errors, timeouts, 429 and 5xx, only for
//!   calls the caller marks idempotent: a create must not be sent twice.
//! - Errors carry the method, URL, HTTP status, MLflow's `error_code` and `message`.

use std::fmt;
use std::io::Read;
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;

/// Default request timeout when neither the configuration nor `MLFLOW_HTTP_REQUEST_TIMEOUT` sets
/// one (MLflow's own default is 120 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// Default number of retries of an idempotent call (MLflow's `MLFLOW_HTTP_REQUEST_MAX_RETRIES`).
pub const DEFAULT_MAX_RETRIES: u32 = 5;
/// Default first backoff; it doubles on every retry up to [`MAX_BACKOFF`].
pub const DEFAULT_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Largest response body read (MLflow pages are far below this).
const MAX_BODY: u64 = 256 * 1024 * 1024;
/// How much of a non-JSON error body is quoted in an error message.
const QUOTE_CHARS: usize = 200;

/// How to authenticate to the server.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum MlflowAuth {
    /// No `Authorization` header.
    #[default]
    None,
    /// `Authorization: Bearer <token>` (`MLFLOW_TRACKING_TOKEN`).
    Bearer(String),
    /// HTTP basic auth (`MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD`).
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
}

impl fmt::Debug for MlflowAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secrets never reach logs.
        match self {
            Self::None => f.write_str("None"),
            Self::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            Self::Basic { username, .. } => write!(f, "Basic({username}:<redacted>)"),
        }
    }
}

/// Where the MLflow server is and how to talk to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MlflowConfig {
    /// Base URL of the tracking server, `http://host:port` or `https://...` (a trailing `/` is
    /// ignored; a path prefix such as `https://host/mlflow` is kept).
    pub tracking_uri: String,
    /// Authentication.
    pub auth: MlflowAuth,
    /// Timeout of one attempt of a request, connection included.
    pub timeout: Duration,
    /// Retries of an idempotent call after the first attempt.
    pub max_retries: u32,
    /// First backoff between attempts; doubles each retry, capped at [`MAX_BACKOFF`].
    pub backoff: Duration,
}

impl MlflowConfig {
    /// A configuration for the server at `tracking_uri`, with no auth and the defaults.
    ///
    /// # Errors
    /// [`HttpErrorKind::Config`] when the URI is not `http://` or `https://`.
    pub fn new(tracking_uri: &str) -> Result<Self, HttpError> {
        let uri = tracking_uri.trim().trim_end_matches('/');
        let host = uri
            .strip_prefix("http://")
            .or_else(|| uri.strip_prefix("https://"));
        if host.is_none_or(str::is_empty) {
            return Err(HttpError::config(format!(
                "tracking uri {tracking_uri:?} is not an http:// or https:// server address"
            )));
        }
        Ok(Self {
            tracking_uri: uri.to_owned(),
            auth: MlflowAuth::None,
            timeout: DEFAULT_TIMEOUT,
            max_retries: DEFAULT_MAX_RETRIES,
            backoff: DEFAULT_BACKOFF,
        })
    }

    /// The configuration MLflow's own clients read from the environment: `MLFLOW_TRACKING_URI`
    /// (required), `MLFLOW_TRACKING_TOKEN` (bearer), else `MLFLOW_TRACKING_USERNAME` and
    /// `MLFLOW_TRACKING_PASSWORD` (basic), `MLFLOW_HTTP_REQUEST_TIMEOUT` (seconds),
    /// `MLFLOW_HTTP_REQUEST_MAX_RETRIES`, `MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR` (seconds).
    ///
    /// # Errors
    /// [`HttpErrorKind::Config`] for a missing or non-HTTP URI or a malformed number.
    pub fn from_env() -> Result<Self, HttpError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// [`from_env`](Self::from_env) over any variable lookup (testable without touching the
    /// process environment).
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, HttpError> {
        let var = |k: &str| get(k).filter(|v| !v.is_empty());
        let uri = var("MLFLOW_TRACKING_URI")
            .ok_or_else(|| HttpError::config("MLFLOW_TRACKING_URI is not set".to_owned()))?;
        let mut cfg = Self::new(&uri)?;
        if let Some(token) = var("MLFLOW_TRACKING_TOKEN") {
            cfg.auth = MlflowAuth::Bearer(token);
        } else if let Some(username) = var("MLFLOW_TRACKING_USERNAME") {
            cfg.auth = MlflowAuth::Basic {
                username,
                password: var("MLFLOW_TRACKING_PASSWORD").unwrap_or_default(),
            };
        }
        let secs = |k: &str| -> Result<Option<Duration>, HttpError> {
            var(k)
                .map(|v| {
                    v.trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|s| s.is_finite() && *s >= 0.0)
                        .map(Duration::from_secs_f64)
                        .ok_or_else(|| {
                            HttpError::config(format!("{k}={v:?} is not a number of seconds"))
                        })
                })
                .transpose()
        };
        if let Some(t) = secs("MLFLOW_HTTP_REQUEST_TIMEOUT")? {
            cfg.timeout = t;
        }
        if let Some(b) = secs("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR")? {
            cfg.backoff = b;
        }
        if let Some(v) = var("MLFLOW_HTTP_REQUEST_MAX_RETRIES") {
            cfg.max_retries = v.trim().parse().map_err(|_| {
                HttpError::config(format!(
                    "MLFLOW_HTTP_REQUEST_MAX_RETRIES={v:?} is not a count"
                ))
            })?;
        }
        Ok(cfg)
    }

    /// Use this authentication.
    #[must_use]
    pub fn with_auth(mut self, auth: MlflowAuth) -> Self {
        self.auth = auth;
        self
    }

    /// Use this timeout per attempt.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Retry idempotent calls at most `max_retries` times, first waiting `backoff`.
    #[must_use]
    pub fn with_retries(mut self, max_retries: u32, backoff: Duration) -> Self {
        self.max_retries = max_retries;
        self.backoff = backoff;
        self
    }
}

/// What kind of failure an [`HttpError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpErrorKind {
    /// `RESOURCE_DOES_NOT_EXIST` (or a 404 without an MLflow body).
    NotFound,
    /// `RESOURCE_ALREADY_EXISTS`.
    AlreadyExists,
    /// `INVALID_PARAMETER_VALUE`, `BAD_REQUEST`, `MALFORMED_REQUEST`, `INVALID_STATE`... (400).
    InvalidArgument,
    /// `PERMISSION_DENIED`, `UNAUTHENTICATED`, 401, 403.
    Denied,
    /// Any other answer that is not a success: a 5xx, or an unknown `error_code`.
    Server,
    /// The server answered, but not with the JSON expected (an HTML error page, say).
    BadResponse,
    /// No answer within the timeout.
    Timeout,
    /// The server could not be reached (refused, reset, DNS).
    Connection,
    /// A bad client configuration (URI, environment variable).
    Config,
}

/// A failed request to the MLflow server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    /// What kind of failure.
    pub kind: HttpErrorKind,
    /// `GET`, `POST`, ...; empty for configuration errors.
    pub method: &'static str,
    /// The URL requested, without the query string.
    pub url: String,
    /// The HTTP status, when the server answered.
    pub status: Option<u16>,
    /// MLflow's `error_code`, when the body had one.
    pub error_code: Option<String>,
    /// MLflow's `message`, or a description of the failure.
    pub message: String,
    /// How many attempts were made.
    pub attempts: u32,
}

impl HttpError {
    fn config(message: String) -> Self {
        Self {
            kind: HttpErrorKind::Config,
            method: "",
            url: String::new(),
            status: None,
            error_code: None,
            message,
            attempts: 0,
        }
    }

    /// Whether another attempt of an idempotent call may succeed.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self.kind {
            HttpErrorKind::Timeout | HttpErrorKind::Connection => true,
            HttpErrorKind::Server | HttpErrorKind::BadResponse => {
                matches!(self.status, Some(429 | 500..=599))
            }
            _ => false,
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind == HttpErrorKind::Config {
            return write!(f, "mlflow client configuration: {}", self.message);
        }
        write!(f, "{} {}", self.method, self.url)?;
        if let Some(status) = self.status {
            write!(f, " -> HTTP {status}")?;
        }
        if let Some(code) = &self.error_code {
            write!(f, " {code}")?;
        }
        write!(f, ": {}", self.message)?;
        if self.attempts > 1 {
            write!(f, " (after {} attempts)", self.attempts)?;
        }
        Ok(())
    }
}

impl std::error::Error for HttpError {}

/// The HTTP method of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Query-string parameters.
    Get,
    /// JSON body.
    Post,
    /// JSON body.
    Patch,
    /// JSON body.
    Delete,
    /// Raw body (the artifact proxy's uploads).
    Put,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
            Self::Put => "PUT",
        }
    }
}

/// Whether a call may be sent again after a transient failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Reads, and writes whose repetition changes nothing (set a tag, log a batch MLflow
    /// deduplicates, transition to a stage).
    Idempotent,
    /// Creates and other calls that must not be sent twice.
    Once,
}

/// A blocking MLflow REST client (cheap to clone: the connection pool is shared).
#[derive(Clone)]
pub struct MlflowHttp {
    agent: ureq::Agent,
    config: MlflowConfig,
    auth_header: Option<String>,
}

impl fmt::Debug for MlflowHttp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MlflowHttp")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl MlflowHttp {
    /// A client for `config`.
    #[must_use]
    pub fn new(config: MlflowConfig) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(config.timeout))
            .max_idle_connections_per_host(8)
            .build()
            .into();
        let auth_header = match &config.auth {
            MlflowAuth::None => None,
            MlflowAuth::Bearer(token) => Some(format!("Bearer {token}")),
            MlflowAuth::Basic { username, password } => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            )),
        };
        Self {
            agent,
            config,
            auth_header,
        }
    }

    /// The configuration in use.
    #[must_use]
    pub fn config(&self) -> &MlflowConfig {
        &self.config
    }

    /// The URL of an API endpoint such as `runs/get` (`<uri>/api/2.0/mlflow/runs/get`).
    #[must_use]
    pub fn url(&self, endpoint: &str) -> String {
        format!("{}/api/2.0/mlflow/{endpoint}", self.config.tracking_uri)
    }

    /// `GET /health`: `Ok` when the server answers 200.
    ///
    /// # Errors
    /// The failure, with the URL (never retried).
    pub fn health(&self) -> Result<(), HttpError> {
        let url = format!("{}/health", self.config.tracking_uri);
        let (status, body) = self.once(Method::Get, &url, &[], None)?;
        if status == 200 {
            Ok(())
        } else {
            Err(error_from_answer("GET", &url, status, &body))
        }
    }

    /// Call `endpoint` with `GET` and query parameters.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub fn get(&self, endpoint: &str, query: &[(&str, String)]) -> Result<Value, HttpError> {
        self.call(Method::Get, endpoint, query, None, Retry::Idempotent)
    }

    /// Call `endpoint` with a JSON body (`POST`, `PATCH` or `DELETE`).
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub fn send(
        &self,
        method: Method,
        endpoint: &str,
        body: &Value,
        retry: Retry,
    ) -> Result<Value, HttpError> {
        self.call(method, endpoint, &[], Some(body), retry)
    }

    /// One API call, retried per `retry`; returns the parsed JSON answer (`{}` for an empty body).
    ///
    /// # Errors
    /// An [`HttpError`] naming the method, URL, status, `error_code` and message.
    pub fn call(
        &self,
        method: Method,
        endpoint: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        retry: Retry,
    ) -> Result<Value, HttpError> {
        let url = self.url(endpoint);
        let body_text = body.map(Value::to_string);
        let mut attempt = 0u32;
        let mut backoff = self.config.backoff;
        loop {
            attempt += 1;
            let result = self
                .once(method, &url, query, body_text.as_deref())
                .and_then(|(status, text)| {
                    if (200..300).contains(&status) {
                        parse_success(method.as_str(), &url, status, &text)
                    } else {
                        Err(error_from_answer(method.as_str(), &url, status, &text))
                    }
                });
            match result {
                Ok(v) => return Ok(v),
                Err(mut e) => {
                    e.attempts = attempt;
                    let may_retry = retry == Retry::Idempotent
                        && e.is_transient()
                        && attempt <= self.config.max_retries;
                    if !may_retry {
                        return Err(e);
                    }
                    tracing::debug!(error = %e, attempt, "mlflow call failed, retrying");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// A call outside the JSON API, with a raw byte body and a raw answer: the artifact proxy's
    /// `PUT` / `GET /api/2.0/mlflow-artifacts/artifacts/<path>`. `path` is relative to the
    /// tracking URI (`api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/model.bin`); it is
    /// sent as given, so the caller percent-encodes what needs it. Retried per `retry`.
    ///
    /// # Errors
    /// As [`call`](Self::call): a non-2xx answer is parsed for MLflow's error body.
    #[allow(dead_code)] // The registry crate's copy of this module has no artifacts to move.
    pub fn call_bytes(
        &self,
        method: Method,
        path: &str,
        body: Option<&[u8]>,
        retry: Retry,
    ) -> Result<Vec<u8>, HttpError> {
        let url = format!(
            "{}/{}",
            self.config.tracking_uri,
            path.trim_start_matches('/')
        );
        let mut attempt = 0u32;
        let mut backoff = self.config.backoff;
        loop {
            attempt += 1;
            let result = self
                .once_raw(method, &url, &[], body)
                .and_then(|(status, bytes)| {
                    if (200..300).contains(&status) {
                        Ok(bytes)
                    } else {
                        let text = String::from_utf8_lossy(&bytes);
                        Err(error_from_answer(method.as_str(), &url, status, &text))
                    }
                });
            match result {
                Ok(v) => return Ok(v),
                Err(mut e) => {
                    e.attempts = attempt;
                    let may_retry = retry == Retry::Idempotent
                        && e.is_transient()
                        && attempt <= self.config.max_retries;
                    if !may_retry {
                        return Err(e);
                    }
                    tracing::debug!(error = %e, attempt, "mlflow call failed, retrying");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// One attempt: the status and the body text, or a transport error.
    fn once(
        &self,
        method: Method,
        url: &str,
        query: &[(&str, String)],
        body: Option<&str>,
    ) -> Result<(u16, String), HttpError> {
        let (status, bytes) = self.once_raw(method, url, query, body.map(str::as_bytes))?;
        String::from_utf8(bytes)
            .map(|text| (status, text))
            .map_err(|e| HttpError {
                kind: HttpErrorKind::BadResponse,
                method: method.as_str(),
                url: url.to_owned(),
                status: Some(status),
                error_code: None,
                message: format!("answer is not UTF-8: {e}"),
                attempts: 1,
            })
    }

    /// One attempt: the status and the raw body, or a transport error.
    fn once_raw(
        &self,
        method: Method,
        url: &str,
        query: &[(&str, String)],
        body: Option<&[u8]>,
    ) -> Result<(u16, Vec<u8>), HttpError> {
        let transport = |e: ureq::Error| transport_error(method.as_str(), url, &e);
        let response = match method {
            Method::Get => {
                let mut req = self.agent.get(url);
                for (k, v) in query {
                    req = req.query(*k, v);
                }
                if let Some(auth) = &self.auth_header {
                    req = req.header("Authorization", auth);
                }
                req.call()
            }
            Method::Post | Method::Patch | Method::Delete | Method::Put => {
                let mut req = match method {
                    Method::Post => self.agent.post(url),
                    Method::Patch => self.agent.patch(url),
                    Method::Put => self.agent.put(url),
                    _ => self.agent.delete(url).force_send_body(),
                };
                for (k, v) in query {
                    req = req.query(*k, v);
                }
                if let Some(auth) = &self.auth_header {
                    req = req.header("Authorization", auth);
                }
                let content_type = if method == Method::Put {
                    "application/octet-stream"
                } else {
                    "application/json"
                };
                req.content_type(content_type).send(body.unwrap_or(b"{}"))
            }
        }
        .map_err(transport)?;
        let status = response.status().as_u16();
        let mut bytes = Vec::new();
        response
            .into_body()
            .into_with_config()
            .limit(MAX_BODY)
            .reader()
            .read_to_end(&mut bytes)
            .map_err(|e| {
                let mut err = transport_error(method.as_str(), url, &ureq::Error::Io(e));
                err.status = Some(status);
                err
            })?;
        Ok((status, bytes))
    }
}

fn transport_error(method: &'static str, url: &str, e: &ureq::Error) -> HttpError {
    let kind = match e {
        ureq::Error::Timeout(_) => HttpErrorKind::Timeout,
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => HttpErrorKind::Timeout,
        ureq::Error::Io(_)
        | ureq::Error::ConnectionFailed
        | ureq::Error::HostNotFound
        | ureq::Error::Protocol(_) => HttpErrorKind::Connection,
        ureq::Error::BadUri(_) => HttpErrorKind::Config,
        _ => HttpErrorKind::Connection,
    };
    HttpError {
        kind,
        method,
        url: url.to_owned(),
        status: None,
        error_code: None,
        message: e.to_string(),
        attempts: 1,
    }
}

fn parse_success(
    method: &'static str,
    url: &str,
    status: u16,
    text: &str,
) -> Result<Value, HttpError> {
    if text.trim().is_empty() {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    serde_json::from_str(text).map_err(|e| HttpError {
        kind: HttpErrorKind::BadResponse,
        method,
        url: url.to_owned(),
        status: Some(status),
        error_code: None,
        message: format!("answer is not JSON ({e}): {}", quote(text)),
        attempts: 1,
    })
}

/// The error for a non-2xx answer: MLflow's `{error_code, message}` when the body has them.
fn error_from_answer(method: &'static str, url: &str, status: u16, text: &str) -> HttpError {
    let parsed: Option<(Option<String>, Option<String>)> = serde_json::from_str::<Value>(text)
        .ok()
        .filter(Value::is_object)
        .map(|v| {
            (
                v.get("error_code")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                v.get("message").and_then(Value::as_str).map(str::to_owned),
            )
        });
    let (kind, error_code, message) = match parsed {
        Some((code, message)) => {
            let kind = match code.as_deref() {
                Some("RESOURCE_DOES_NOT_EXIST") => HttpErrorKind::NotFound,
                // The endpoint, not the resource, is missing (an older server, a gateway).
                Some("ENDPOINT_NOT_FOUND" | "NOT_FOUND") => HttpErrorKind::Server,
                Some("RESOURCE_ALREADY_EXISTS") => HttpErrorKind::AlreadyExists,
                Some(
                    "INVALID_PARAMETER_VALUE"
                    | "BAD_REQUEST"
                    | "MALFORMED_REQUEST"
                    | "INVALID_STATE"
                    | "INVALID_REQUEST",
                ) => HttpErrorKind::InvalidArgument,
                Some("PERMISSION_DENIED" | "UNAUTHENTICATED") => HttpErrorKind::Denied,
                _ => status_kind(status),
            };
            let message = message.unwrap_or_else(|| quote(text));
            (kind, code, message)
        }
        None => {
            let kind = match status {
                404 => HttpErrorKind::NotFound,
                401 | 403 => HttpErrorKind::Denied,
                _ => HttpErrorKind::BadResponse,
            };
            let message = if text.trim().is_empty() {
                "empty answer".to_owned()
            } else {
                format!("answer is not MLflow JSON: {}", quote(text))
            };
            (kind, None, message)
        }
    };
    HttpError {
        kind,
        method,
        url: url.to_owned(),
        status: Some(status),
        error_code,
        message,
        attempts: 1,
    }
}

fn status_kind(status: u16) -> HttpErrorKind {
    match status {
        404 => HttpErrorKind::NotFound,
        401 | 403 => HttpErrorKind::Denied,
        400 => HttpErrorKind::InvalidArgument,
        _ => HttpErrorKind::Server,
    }
}

/// The first characters of a body, on one line.
fn quote(text: &str) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut q: String = one_line.chars().take(QUOTE_CHARS).collect();
    if one_line.chars().count() > QUOTE_CHARS {
        q.push_str("...");
    }
    format!("{q:?}")
}

#[cfg(test)]
mod tests;
