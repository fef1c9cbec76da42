//! [`S3ContentStore`]: a [`ContentStore`] on S3-compatible object storage (feature `s3`).

use std::collections::HashSet;
use std::fmt;
use std::io::{self, Read, Seek, Write};
use std::path::PathBuf;

use mlops_s3::{S3Client, S3Config, S3Error};
use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use crate::error::{DvcError, EntityKind, Result};
use crate::store::{ContentStore, PutResult, VerifyingReader};

/// Above this many digests, [`ContentStore::contains_many`] lists the remote once instead of
/// asking for each object.
const LIST_INSTEAD_OF_HEAD: usize = 256;

/// HEAD requests in flight for [`ContentStore::contains_many`].
const HEADS_IN_FLIGHT: usize = 16;

/// A content store on an S3-compatible server (AWS S3, MinIO, Ceph, R2, moto): objects are
/// `<prefix>/<2 hex>/<62 hex>`, the local cache's layout (and DVC's), so a bucket prefix is a
/// DVC-style remote for [`Repository::push`](crate::Repository::push),
/// [`pull`](crate::Repository::pull), [`remote_status`](crate::Repository::remote_status) and
/// [`gc_remote`](crate::Repository::gc_remote).
///
/// - [`put_expected`](ContentStore::put_expected) (what push uses): content smaller than one
///   part is read and verified in memory, then sent in one conditional PUT (`If-None-Match: *`,
///   [`S3Client::put_bytes_if_absent`]), one request whether or not the object is there;
///   larger content costs one HEAD when the object is there, else it streams up (multipart,
///   constant memory) and the upload completes only once the bytes hashed to the digest. A
///   mismatch or any error sends nothing (small) or aborts the upload (large): no partial or
///   misnamed object is ever visible.
/// - [`put_reader`](ContentStore::put_reader) does not know the digest in advance: content
///   smaller than one part is hashed in memory and sent in one conditional PUT; larger content
///   is spooled to a local temp file while it is hashed, then one HEAD, and the upload only
///   when the object is absent.
/// - [`open`](ContentStore::open) streams and verifies the SHA-256 while reading: a damaged
///   object fails with [`DvcError::Corrupt`] naming its `s3://` key at the end of the stream.
/// - [`contains_many`](ContentStore::contains_many) sends up to 16 HEADs at once, or lists the
///   prefix once when asked about more than 256 objects; `list` follows the listing's pages.
///
/// Requests run on the client's own small runtime (see [`S3Client`]); the store is sync and
/// may be used from many threads at once.
#[derive(Clone)]
pub struct S3ContentStore {
    client: S3Client,
    url: String,
}

impl fmt::Debug for S3ContentStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3ContentStore")
            .field("url", &self.url)
            .field("client", &self.client)
            .finish()
    }
}

impl S3ContentStore {
    /// Connect to the bucket and prefix of `config`, checking (one request) that the bucket
    /// exists and the credentials are accepted.
    ///
    /// # Errors
    /// [`DvcError::NotFound`] (kind [`EntityKind::Bucket`]) naming a missing bucket;
    /// [`DvcError::Remote`] for rejected credentials (naming endpoint and bucket), an
    /// unreachable server or a bad configuration.
    pub fn connect(config: S3Config) -> Result<Self> {
        let url = config.url();
        let client = S3Client::connect(config).map_err(|e| map_err(&url, e))?;
        Ok(Self { client, url })
    }

    /// [`connect`](Self::connect) to `s3://bucket[/prefix]`, with the endpoint, region and
    /// credentials from the standard `AWS_*` variables (see [`S3Config`]).
    ///
    /// # Errors
    /// As [`connect`](Self::connect); [`DvcError::InvalidArgument`] for a malformed URL.
    pub fn from_url(url: &str) -> Result<Self> {
        let config =
            S3Config::from_url(url).map_err(|e| DvcError::invalid("remote url", e.to_string()))?;
        Self::connect(config)
    }

    /// A store over an existing client.
    #[must_use]
    pub fn from_client(client: S3Client) -> Self {
        let url = client.url();
        Self { client, url }
    }

    /// The client.
    #[must_use]
    pub fn client(&self) -> &S3Client {
        &self.client
    }

    /// `s3://bucket[/prefix]`.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `s3://bucket/<prefix>/<2 hex>/<62 hex>`, as errors name the object.
    fn object_url(&self, digest: &Digest) -> PathBuf {
        let c = self.client.config();
        format!("s3://{}/{}", c.bucket_name(), c.key(&digest.object_path())).into()
    }

    fn err(&self, e: S3Error) -> DvcError {
        map_err(&self.url, e)
    }

    /// The object's bytes as one streamed GET, unverified; `NotFound` naming digest and remote.
    fn get(&self, digest: &Digest) -> Result<mlops_s3::S3Reader> {
        self.client.get(&digest.object_path()).map_err(|e| {
            if e.is_not_found() {
                self.not_found(digest)
            } else {
                self.err(e)
            }
        })
    }

    fn not_found(&self, digest: &Digest) -> DvcError {
        DvcError::NotFound {
            kind: EntityKind::Object,
            id: format!("{digest} on remote {}", self.url),
        }
    }

    /// Upload `reader`'s bytes, which must hash to `digest`, unless the object is there.
    fn upload(&self, digest: &Digest, reader: &mut dyn Read) -> Result<u64> {
        let path = self.object_url(digest);
        let mut verifying = VerifyingReader::new(reader, *digest, None, &path);
        self.client
            .put_reader(&digest.object_path(), &mut verifying)
            .map_err(|e| match e {
                S3Error::Read { source } => DvcError::from_io(&path, source),
                e => self.err(e),
            })
    }
}

/// Map the client's error for the remote at `url`.
fn map_err(url: &str, e: S3Error) -> DvcError {
    match e {
        S3Error::BucketNotFound { bucket, endpoint } => DvcError::NotFound {
            kind: EntityKind::Bucket,
            id: format!("{bucket} at {endpoint}"),
        },
        S3Error::NotFound { bucket, key } => DvcError::NotFound {
            kind: EntityKind::Object,
            id: format!("s3://{bucket}/{key}"),
        },
        S3Error::Read { source } => DvcError::from_io(url, source),
        e => DvcError::Remote {
            remote: url.to_owned(),
            source: Box::new(e),
        },
    }
}

/// Hashes what passes through.
struct Hashing<'a> {
    inner: &'a mut dyn Read,
    hasher: Sha256,
    size: u64,
}

impl Read for Hashing<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

impl ContentStore for S3ContentStore {
    fn put_reader(&self, reader: &mut dyn Read) -> Result<PutResult> {
        let part = self.client.config().part_size_bytes();
        let mut hashing = Hashing {
            inner: reader,
            hasher: Sha256::new(),
            size: 0,
        };
        let mut head = Vec::new();
        (&mut hashing)
            .take(part as u64)
            .read_to_end(&mut head)
            .map_err(|e| DvcError::from_io(&self.url, e))?;
        if head.len() < part {
            // The digest is of these very bytes: one conditional PUT, no HEAD.
            let digest = Digest::from_hasher(hashing.hasher);
            let size = head.len() as u64;
            let inserted = self
                .client
                .put_bytes_if_absent(&digest.object_path(), head)
                .map_err(|e| self.err(e))?;
            return Ok(PutResult {
                digest,
                size,
                inserted,
            });
        }
        // Larger than one part: spool to a temp file while hashing, in constant memory.
        let mut spool = tempfile::tempfile().map_err(|e| DvcError::io(std::env::temp_dir(), e))?;
        let spool_err = |e| DvcError::io(std::env::temp_dir().join("(spool)"), e);
        spool.write_all(&head).map_err(spool_err)?;
        drop(head);
        io::copy(&mut hashing, &mut spool).map_err(|e| DvcError::from_io(&self.url, e))?;
        let digest = Digest::from_hasher(hashing.hasher);
        let size = hashing.size;
        if self
            .client
            .head(&digest.object_path())
            .map_err(|e| self.err(e))?
            .is_some()
        {
            return Ok(PutResult {
                digest,
                size,
                inserted: false,
            });
        }
        spool.rewind().map_err(spool_err)?;
        let size = self.upload(&digest, &mut io::BufReader::new(spool))?;
        Ok(PutResult {
            digest,
            size,
            inserted: true,
        })
    }

    fn put_expected(&self, digest: &Digest, reader: &mut dyn Read) -> Result<PutResult> {
        // Content smaller than one part is read (and verified) first, then sent in one
        // conditional PUT: one request whether or not the object is there.
        let part = self.client.config().part_size_bytes();
        let path = self.object_url(digest);
        let mut verifying = VerifyingReader::new(reader, *digest, None, &path);
        let mut head = Vec::new();
        (&mut verifying)
            .take(part as u64)
            .read_to_end(&mut head)
            .map_err(|e| DvcError::from_io(&path, e))?;
        if head.len() < part {
            let size = head.len() as u64;
            let inserted = self
                .client
                .put_bytes_if_absent(&digest.object_path(), head)
                .map_err(|e| self.err(e))?;
            return Ok(PutResult {
                digest: *digest,
                size,
                inserted,
            });
        }
        if let Some(info) = self
            .client
            .head(&digest.object_path())
            .map_err(|e| self.err(e))?
        {
            return Ok(PutResult {
                digest: *digest,
                size: info.size,
                inserted: false,
            });
        }
        let mut whole = io::Cursor::new(head).chain(verifying);
        let size = self
            .client
            .put_reader(&digest.object_path(), &mut whole)
            .map_err(|e| match e {
                S3Error::Read { source } => DvcError::from_io(&path, source),
                e => self.err(e),
            })?;
        Ok(PutResult {
            digest: *digest,
            size,
            inserted: true,
        })
    }

    fn open_unverified(&self, digest: &Digest) -> Result<Box<dyn Read + Send>> {
        Ok(Box::new(self.get(digest)?))
    }

    fn open(&self, digest: &Digest) -> Result<Box<dyn Read + Send>> {
        let reader = self.get(digest)?;
        let size = reader.size();
        Ok(Box::new(VerifyingReader::new(
            reader,
            *digest,
            Some(size),
            &self.object_url(digest),
        )))
    }

    fn contains(&self, digest: &Digest) -> Result<bool> {
        Ok(self
            .client
            .head(&digest.object_path())
            .map_err(|e| self.err(e))?
            .is_some())
    }

    fn contains_many(&self, digests: &[Digest]) -> Result<Vec<bool>> {
        if digests.len() > LIST_INSTEAD_OF_HEAD {
            let stored: HashSet<Digest> = self.list()?.into_iter().collect();
            return Ok(digests.iter().map(|d| stored.contains(d)).collect());
        }
        let keys: Vec<String> = digests.iter().map(Digest::object_path).collect();
        Ok(self
            .client
            .head_many(&keys, HEADS_IN_FLIGHT)
            .map_err(|e| self.err(e))?
            .into_iter()
            .map(|a| a.is_some())
            .collect())
    }

    fn size(&self, digest: &Digest) -> Result<u64> {
        self.client
            .head(&digest.object_path())
            .map_err(|e| self.err(e))?
            .map(|i| i.size)
            .ok_or_else(|| self.not_found(digest))
    }

    fn delete(&self, digest: &Digest) -> Result<bool> {
        self.client
            .delete(&digest.object_path())
            .map_err(|e| self.err(e))
    }

    fn list(&self) -> Result<Vec<Digest>> {
        let mut out = Vec::new();
        for info in self.client.list("").map_err(|e| self.err(e))? {
            match info.rel.split_once('/') {
                Some((a, b)) if a.len() == 2 && b.len() == 62 => {
                    if let Ok(d) = format!("{a}{b}").parse::<Digest>() {
                        out.push(d);
                        continue;
                    }
                }
                _ => {}
            }
            tracing::debug!(remote = %self.url, key = %info.rel, "skipping a key that is not an object");
        }
        out.sort();
        Ok(out)
    }
}
