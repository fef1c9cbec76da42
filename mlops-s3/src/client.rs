//! [`S3Client`]: a sync client over object_store's S3 store, driven by a small owned runtime.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io::{self, Read};
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt as _;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore as _, ObjectStoreExt as _, PutMode, PutOptions,
    PutPayload, RetryConfig,
};
use tokio::runtime::Runtime;

use crate::config::S3Config;
use crate::error::{Result, S3Error};

/// Worker threads of the client's runtime.
pub const RUNTIME_THREADS: usize = 2;

/// Size and time of an object, from a HEAD or a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ObjectInfo {
    /// The key relative to the configured prefix.
    pub rel: String,
    /// Size in bytes.
    pub size: u64,
}

/// A sync S3 client: put (multipart above the part size, constant memory), get (streaming),
/// head, list (paged), delete, over [object_store]'s `AmazonS3`.
///
/// # Threads
/// Each client owns a tokio runtime with [`RUNTIME_THREADS`] worker threads named
/// `mlops-s3-io`; every request runs there and the calling thread waits on a channel, so the
/// client may be called from any thread, from many threads at once (each waits for its own
/// request while the runtime drives them all), and from inside a caller's own tokio runtime
/// without panicking (the caller's thread blocks, as with any sync I/O). Clones share the
/// runtime; it shuts down in the background when the last clone is dropped.
#[derive(Clone)]
pub struct S3Client {
    inner: Arc<Inner>,
}

struct Inner {
    config: S3Config,
    store: Arc<AmazonS3>,
    runtime: Option<Runtime>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            // Never blocks, so dropping the client inside an async context does not panic.
            rt.shutdown_background();
        }
    }
}

impl fmt::Debug for S3Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Client")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl S3Client {
    /// Build the client and check, with one listing request, that the bucket exists and the
    /// credentials are accepted.
    ///
    /// # Errors
    /// [`S3Error::Config`] for an unusable configuration; [`S3Error::BucketNotFound`] naming
    /// the bucket; [`S3Error::Auth`] naming endpoint and bucket for rejected credentials;
    /// [`S3Error::Request`] when the server cannot be reached.
    pub fn connect(config: S3Config) -> Result<Self> {
        let client = Self::new_unchecked(config)?;
        client.check_bucket()?;
        Ok(client)
    }

    /// Build the client without any request (the first request reports what is wrong).
    ///
    /// # Errors
    /// [`S3Error::Config`] for an unusable configuration.
    pub fn new_unchecked(config: S3Config) -> Result<Self> {
        if config.bucket.is_empty() {
            return Err(S3Error::Config("no bucket".to_owned()));
        }
        let mut options = ClientOptions::new()
            .with_timeout(config.request_timeout)
            .with_connect_timeout(config.connect_timeout);
        if config.allow_http {
            options = options.with_allow_http(true);
        }
        let retry = RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: config.max_retries,
            retry_timeout: config.retry_timeout,
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_client_options(options)
            .with_retry(retry);
        if let Some(endpoint) = &config.endpoint {
            if endpoint.starts_with("http://") && !config.allow_http {
                return Err(S3Error::Config(format!(
                    "endpoint {endpoint} is plain http: allow it explicitly (allow_http or AWS_ALLOW_HTTP=true)"
                )));
            }
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(id) = &config.access_key_id {
            builder = builder.with_access_key_id(id);
        }
        if let Some(secret) = &config.secret_access_key {
            builder = builder.with_secret_access_key(secret.expose());
        }
        if let Some(token) = &config.session_token {
            builder = builder.with_token(token.expose());
        }
        if config.request_checksums {
            builder = builder.with_checksum_algorithm(object_store::aws::Checksum::SHA256);
        }
        let store = builder
            .build()
            .map_err(|e| S3Error::Config(config.scrub(&e.to_string())))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(RUNTIME_THREADS)
            .thread_name("mlops-s3-io")
            .enable_all()
            .build()
            .map_err(|e| S3Error::Config(format!("cannot start the s3 runtime: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                store: Arc::new(store),
                runtime: Some(runtime),
            }),
        })
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &S3Config {
        &self.inner.config
    }

    /// `s3://bucket[/prefix]`.
    #[must_use]
    pub fn url(&self) -> String {
        self.inner.config.url()
    }

    /// Run `fut` on the client's runtime and wait for it on this thread.
    fn block<T: Send + 'static>(&self, fut: impl Future<Output = T> + Send + 'static) -> Result<T> {
        let rt = self.runtime();
        let handle = rt.spawn(fut);
        // `futures`' executor, unlike tokio's `block_on`, works inside a caller's runtime.
        futures::executor::block_on(handle).map_err(|e| S3Error::Request {
            op: "task",
            endpoint: self.inner.config.endpoint_display(),
            bucket: self.inner.config.bucket.clone(),
            key: String::new(),
            detail: e.to_string(),
        })
    }

    fn runtime(&self) -> &Runtime {
        match &self.inner.runtime {
            Some(rt) => rt,
            // Only `Drop` takes it.
            None => unreachable_runtime(),
        }
    }

    fn path(&self, rel: &str) -> ObjectPath {
        ObjectPath::from(self.inner.config.key(rel))
    }

    /// Map an object_store error about `rel` to ours, scrubbed of secrets.
    fn map_err(&self, op: &'static str, rel: &str, e: object_store::Error) -> S3Error {
        let c = &self.inner.config;
        let key = c.key(rel);
        match classify(e) {
            object_store::Error::NotFound { .. } => S3Error::NotFound {
                bucket: c.bucket.clone(),
                key,
            },
            object_store::Error::AlreadyExists { .. } => S3Error::AlreadyExists {
                bucket: c.bucket.clone(),
                key,
            },
            e @ (object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. }) => S3Error::Auth {
                endpoint: c.endpoint_display(),
                bucket: c.bucket.clone(),
                detail: c.scrub(&e.to_string()),
            },
            other => S3Error::Request {
                op,
                endpoint: c.endpoint_display(),
                bucket: c.bucket.clone(),
                key,
                detail: c.scrub(&other.to_string()),
            },
        }
    }

    /// One listing request: the bucket exists and the credentials work.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub fn check_bucket(&self) -> Result<()> {
        let store = Arc::clone(&self.inner.store);
        let prefix = self.path("");
        let first = self.block(async move {
            let prefix = (!prefix.as_ref().is_empty()).then_some(prefix);
            let mut stream = store.list(prefix.as_ref());
            stream.next().await
        })?;
        match first {
            None | Some(Ok(_)) => Ok(()),
            Some(Err(e)) => match classify(e) {
                object_store::Error::NotFound { .. } => Err(S3Error::BucketNotFound {
                    endpoint: self.inner.config.endpoint_display(),
                    bucket: self.inner.config.bucket.clone(),
                }),
                e => Err(self.map_err("list", "", e)),
            },
        }
    }

    /// Size of the object at `rel`, or `None` when it does not exist (one HEAD request).
    ///
    /// # Errors
    /// The request's error.
    pub fn head(&self, rel: &str) -> Result<Option<ObjectInfo>> {
        let store = Arc::clone(&self.inner.store);
        let path = self.path(rel);
        match self.block(async move { store.head(&path).await })? {
            Ok(meta) => Ok(Some(ObjectInfo {
                rel: rel.to_owned(),
                size: meta.size,
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.map_err("head", rel, e)),
        }
    }

    /// [`head`](Self::head) of many keys, `concurrency` requests at a time; answers in order.
    ///
    /// # Errors
    /// The first request error.
    pub fn head_many(&self, rels: &[String], concurrency: usize) -> Result<Vec<Option<u64>>> {
        let store = Arc::clone(&self.inner.store);
        let paths: Vec<ObjectPath> = rels.iter().map(|r| self.path(r)).collect();
        let answers = self.block(async move {
            futures::stream::iter(paths)
                .map(|p| {
                    let store = Arc::clone(&store);
                    async move { store.head(&p).await }
                })
                .buffered(concurrency.max(1))
                .collect::<Vec<_>>()
                .await
        })?;
        rels.iter()
            .zip(answers)
            .map(|(rel, a)| match a {
                Ok(meta) => Ok(Some(meta.size)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(self.map_err("head", rel, e)),
            })
            .collect()
    }

    /// Store `bytes` at `rel` in one request (replacing what is there).
    ///
    /// # Errors
    /// The request's error.
    pub fn put_bytes(&self, rel: &str, bytes: impl Into<Bytes>) -> Result<()> {
        let store = Arc::clone(&self.inner.store);
        let path = self.path(rel);
        let payload = PutPayload::from(bytes.into());
        self.block(async move { store.put(&path, payload).await })?
            .map(drop)
            .map_err(|e| self.map_err("put", rel, e))
    }

    /// Store `bytes` at `rel` in one request unless an object is there already: a conditional
    /// PUT (`If-None-Match: *`), so a store that only adds objects needs no HEAD first. Returns
    /// whether this call created the object (`false`: one was there, and is left as it was).
    ///
    /// A server that ignores the condition stores the bytes anyway and this returns `true`;
    /// for content-addressed keys (same key, same bytes) that only costs the upload.
    ///
    /// # Errors
    /// The request's error.
    pub fn put_bytes_if_absent(&self, rel: &str, bytes: impl Into<Bytes>) -> Result<bool> {
        let store = Arc::clone(&self.inner.store);
        let path = self.path(rel);
        let payload = PutPayload::from(bytes.into());
        let opts = PutOptions::from(PutMode::Create);
        match self.block(async move { store.put_opts(&path, payload, opts).await })? {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(self.map_err("put", rel, e)),
        }
    }

    /// Store everything `reader` yields at `rel`, in constant memory: one request when it fits
    /// in one part, else a multipart upload with at most
    /// [`parts_in_flight`](S3Config::parts_in_flight) parts in flight. The object becomes
    /// visible only once the reader returned end-of-stream (`Ok(0)`) and every part is stored:
    /// an error of the reader (a verifying reader may fail at its end) or of a request aborts
    /// the upload, and nothing is visible. Returns the byte count.
    ///
    /// # Errors
    /// [`S3Error::Read`] with the reader's error as it was; the request's error.
    pub fn put_reader(&self, rel: &str, reader: &mut dyn Read) -> Result<u64> {
        let part_size = self.inner.config.part_size;
        let first = read_part(reader, part_size).map_err(|source| S3Error::Read { source })?;
        if first.len() < part_size {
            let n = first.len() as u64;
            self.put_bytes(rel, first)?;
            return Ok(n);
        }
        let store = Arc::clone(&self.inner.store);
        let path = self.path(rel);
        let mut upload = self
            .block(async move { store.put_multipart(&path).await })?
            .map_err(|e| self.map_err("put", rel, e))?;
        let mut total = 0u64;
        let mut in_flight = VecDeque::new();
        let mut next = Some(first);
        let result = loop {
            let Some(part) = next.take() else {
                break Ok(());
            };
            total += part.len() as u64;
            let fut = upload.put_part(PutPayload::from(Bytes::from(part)));
            in_flight.push_back(self.runtime().spawn(fut));
            if in_flight.len() > self.inner.config.parts_in_flight
                && let Some(h) = in_flight.pop_front()
                && let Err(e) = self.wait_part(h, rel)
            {
                break Err(e);
            }
            match read_part(reader, part_size) {
                Ok(p) if p.is_empty() => {}
                Ok(p) => next = Some(p),
                Err(source) => break Err(S3Error::Read { source }),
            }
        };
        let result = result.and_then(|()| {
            while let Some(h) = in_flight.pop_front() {
                self.wait_part(h, rel)?;
            }
            Ok(())
        });
        match result {
            Ok(()) => {
                let done = self.block(async move { upload.complete().await })?;
                done.map_err(|e| self.map_err("put", rel, e))?;
                Ok(total)
            }
            Err(e) => {
                for h in in_flight {
                    h.abort();
                }
                let aborted = self.block(async move { upload.abort().await });
                if !matches!(aborted, Ok(Ok(()))) {
                    tracing::warn!(
                        key = %self.inner.config.key(rel),
                        "could not abort a failed multipart upload; it stays invisible until the bucket's lifecycle rule removes it"
                    );
                }
                Err(e)
            }
        }
    }

    fn wait_part(
        &self,
        h: tokio::task::JoinHandle<object_store::Result<()>>,
        rel: &str,
    ) -> Result<()> {
        match futures::executor::block_on(h) {
            Ok(r) => r.map_err(|e| self.map_err("put", rel, e)),
            Err(e) => Err(S3Error::Request {
                op: "put",
                endpoint: self.inner.config.endpoint_display(),
                bucket: self.inner.config.bucket.clone(),
                key: self.inner.config.key(rel),
                detail: e.to_string(),
            }),
        }
    }

    /// Open the object at `rel` for streaming reads (at most two chunks buffered).
    ///
    /// # Errors
    /// [`S3Error::NotFound`] when it does not exist; the request's error.
    pub fn get(&self, rel: &str) -> Result<S3Reader> {
        let store = Arc::clone(&self.inner.store);
        let path = self.path(rel);
        let (tx, rx) = futures::channel::mpsc::channel::<object_store::Result<Bytes>>(1);
        let (first_tx, first_rx) = futures::channel::oneshot::channel();
        self.runtime().spawn(async move {
            let mut tx = tx;
            let got = match store.get(&path).await {
                Ok(got) => got,
                Err(e) => {
                    let _ = first_tx.send(Err(e));
                    return;
                }
            };
            let _ = first_tx.send(Ok(got.meta.size));
            let mut stream = got.into_stream();
            while let Some(chunk) = stream.next().await {
                let failed = chunk.is_err();
                if futures::SinkExt::send(&mut tx, chunk).await.is_err() || failed {
                    return;
                }
            }
        });
        let size = match futures::executor::block_on(first_rx) {
            Ok(Ok(size)) => size,
            Ok(Err(e)) => return Err(self.map_err("get", rel, e)),
            Err(_) => {
                return Err(S3Error::Request {
                    op: "get",
                    endpoint: self.inner.config.endpoint_display(),
                    bucket: self.inner.config.bucket.clone(),
                    key: self.inner.config.key(rel),
                    detail: "the request task ended".to_owned(),
                });
            }
        };
        Ok(S3Reader {
            client: self.clone(),
            rel: rel.to_owned(),
            size,
            rx,
            chunk: Bytes::new(),
        })
    }

    /// Every object under `rel_prefix` (relative to the configured prefix; `""` for all),
    /// following the listing's pages; keys come back relative to the configured prefix.
    ///
    /// # Errors
    /// The request's error.
    pub fn list(&self, rel_prefix: &str) -> Result<Vec<ObjectInfo>> {
        let store = Arc::clone(&self.inner.store);
        let path = self.path(rel_prefix);
        let items = self.block(async move {
            let prefix = (!path.as_ref().is_empty()).then_some(path);
            store.list(prefix.as_ref()).collect::<Vec<_>>().await
        })?;
        let base = self.inner.config.key("");
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let meta = item.map_err(|e| self.map_err("list", rel_prefix, e))?;
            let key = meta.location.as_ref();
            let rel = if base.is_empty() {
                key
            } else {
                key.strip_prefix(base.as_str())
                    .and_then(|k| k.strip_prefix('/'))
                    .unwrap_or(key)
            };
            out.push(ObjectInfo {
                rel: rel.to_owned(),
                size: meta.size,
            });
        }
        Ok(out)
    }

    /// Delete the object at `rel`; returns whether it was there (a HEAD, then the delete).
    ///
    /// # Errors
    /// The request's error.
    pub fn delete(&self, rel: &str) -> Result<bool> {
        if self.head(rel)?.is_none() {
            return Ok(false);
        }
        let store = Arc::clone(&self.inner.store);
        let path = self.path(rel);
        match self.block(async move { store.delete(&path).await })? {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(true),
            Err(e) => Err(self.map_err("delete", rel, e)),
        }
    }
}

/// object_store maps HTTP 404/401/403 to `NotFound`/`Unauthenticated`/`PermissionDenied` for
/// most requests but reports a failed listing as `Generic`, with the status only in the text
/// of its (private) retry error: recover the kind from that text.
fn classify(e: object_store::Error) -> object_store::Error {
    let object_store::Error::Generic { store, source } = e else {
        return e;
    };
    let mut text = source.to_string();
    let mut next = source.source();
    while let Some(s) = next {
        text.push_str(": ");
        text.push_str(&s.to_string());
        next = s.source();
    }
    let status = |code: &str| text.contains(&format!("status code: {code}"));
    if status("404") {
        object_store::Error::NotFound {
            path: String::new(),
            source,
        }
    } else if status("403") {
        object_store::Error::PermissionDenied {
            path: String::new(),
            source,
        }
    } else if status("401") {
        object_store::Error::Unauthenticated {
            path: String::new(),
            source,
        }
    } else {
        object_store::Error::Generic { store, source }
    }
}

#[cold]
fn unreachable_runtime() -> ! {
    // The runtime is taken only in `Drop`, after which no method can run.
    std::process::abort()
}

/// Read up to `size` bytes (fewer only at the end of the stream).
fn read_part(reader: &mut dyn Read, size: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(size.min(64 * 1024 * 1024));
    reader.take(size as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// A streaming reader of one object (see [`S3Client::get`]); at most two chunks are buffered.
pub struct S3Reader {
    client: S3Client,
    rel: String,
    size: u64,
    rx: futures::channel::mpsc::Receiver<object_store::Result<Bytes>>,
    chunk: Bytes,
}

impl fmt::Debug for S3Reader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Reader")
            .field("key", &self.client.inner.config.key(&self.rel))
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl S3Reader {
    /// The object's size as the server reported it.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl Read for S3Reader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.chunk.is_empty() {
            match futures::executor::block_on(self.rx.next()) {
                None => return Ok(0),
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(e)) => {
                    let e = self.client.map_err("get", &self.rel, e);
                    return Err(io::Error::other(e));
                }
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        bytes::Buf::advance(&mut self.chunk, n);
        Ok(n)
    }
}
