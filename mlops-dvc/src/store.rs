//! The [`ContentStore`] trait: a content-addressed object store keyed by SHA-256.

use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use crate::error::{DvcError, Result, to_io};

/// What [`ContentStore::put_reader`] and [`ContentStore::put_bytes`] stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PutResult {
    /// The SHA-256 of the bytes.
    pub digest: Digest,
    /// Their length.
    pub size: u64,
    /// `false` when the object was already stored (the put was a no-op).
    pub inserted: bool,
}

/// A content-addressed object store: objects are immutable byte strings named by their SHA-256.
///
/// Implementations are sync, object-safe and `Send + Sync`, so `Arc<dyn ContentStore>` works and a
/// later S3 or HTTP remote implements the same trait. Every implementation must pass the
/// [`conformance`](crate::conformance) suite.
///
/// Writing an object that exists is a no-op (`inserted == false`). A reader from
/// [`open`](Self::open) checks the bytes against the digest as they are read and fails with
/// [`DvcError::Corrupt`] (carried inside the [`io::Error`]; [`DvcError::from_io`] takes it out)
/// at the end of a damaged object, so a corrupt object is never silently accepted.
pub trait ContentStore: Send + Sync + fmt::Debug + 'static {
    /// Store everything `reader` yields, hashing it on the way, in constant memory.
    ///
    /// # Errors
    /// The reader's error, or the store's I/O error; nothing is stored then.
    fn put_reader(&self, reader: &mut dyn Read) -> Result<PutResult>;

    /// Store `bytes`; a cheap no-op (one lookup) when they are already stored.
    ///
    /// # Errors
    /// The store's I/O error.
    fn put_bytes(&self, bytes: &[u8]) -> Result<PutResult> {
        let digest = Digest::of_bytes(bytes);
        if self.contains(&digest)? {
            return Ok(PutResult {
                digest,
                size: bytes.len() as u64,
                inserted: false,
            });
        }
        self.put_reader(&mut &bytes[..])
    }

    /// Store an object whose digest the caller knows (a copy between stores): a no-op when it
    /// is stored; otherwise the bytes are stored and must hash to `digest`, else the call
    /// fails with [`DvcError::Corrupt`]. Remote stores override this to skip reading the bytes
    /// when the object is there and to store nothing when they do not match; the default
    /// stores with [`put_reader`](Self::put_reader) and then compares (a mismatching object
    /// stays stored under its own name, which is harmless in a content-addressed store).
    ///
    /// # Errors
    /// [`DvcError::Corrupt`] when the bytes do not hash to `digest`; the reader's or the
    /// store's error.
    fn put_expected(&self, digest: &Digest, reader: &mut dyn Read) -> Result<PutResult> {
        let put = self.put_reader(reader)?;
        if put.digest != *digest {
            return Err(DvcError::Corrupt {
                path: format!("object {digest}").into(),
                detail: format!("copy hashed to {}", put.digest),
            });
        }
        Ok(put)
    }

    /// Open an object for reading; the reader verifies the digest (see the trait docs).
    ///
    /// # Errors
    /// [`DvcError::NotFound`] when the object is absent; the store's I/O error.
    fn open(&self, digest: &Digest) -> Result<Box<dyn Read + Send>>;

    /// Open an object for reading without verifying its digest, for a caller that verifies
    /// the bytes itself: a transfer feeds it to [`put_expected`](Self::put_expected) of
    /// another store, which hashes what it stores, so the bytes are hashed once instead of
    /// twice. The default is [`open`](Self::open) (verified).
    ///
    /// # Errors
    /// As [`open`](Self::open).
    fn open_unverified(&self, digest: &Digest) -> Result<Box<dyn Read + Send>> {
        self.open(digest)
    }

    /// Whether the object is stored.
    ///
    /// # Errors
    /// The store's I/O error.
    fn contains(&self, digest: &Digest) -> Result<bool>;

    /// Which of `digests` are stored (one answer per digest, in order). Remote stores override
    /// this to ask in batches.
    ///
    /// # Errors
    /// The store's I/O error.
    fn contains_many(&self, digests: &[Digest]) -> Result<Vec<bool>> {
        digests.iter().map(|d| self.contains(d)).collect()
    }

    /// The object's size in bytes.
    ///
    /// # Errors
    /// [`DvcError::NotFound`] when the object is absent; the store's I/O error.
    fn size(&self, digest: &Digest) -> Result<u64>;

    /// Remove an object; returns whether it was there.
    ///
    /// # Errors
    /// The store's I/O error.
    fn delete(&self, digest: &Digest) -> Result<bool>;

    /// Every stored digest, sorted.
    ///
    /// # Errors
    /// The store's I/O error.
    fn list(&self) -> Result<Vec<Digest>>;

    /// Read the whole object and check that it hashes to `digest`.
    ///
    /// # Errors
    /// [`DvcError::Corrupt`] when it does not; [`DvcError::NotFound`] when it is absent.
    fn verify(&self, digest: &Digest) -> Result<()> {
        let mut reader = self.open(digest)?;
        io::copy(&mut reader, &mut io::sink())
            .map_err(|e| DvcError::from_io(format!("object {digest}"), e))?;
        Ok(())
    }

    /// The path of the object's file, when the store keeps read-only object files on the local
    /// file system (used to hardlink on checkout). `None` for other stores.
    fn local_path(&self, digest: &Digest) -> Option<PathBuf> {
        let _ = digest;
        None
    }

    /// Store the local file at `path`, whose content the caller has just hashed to `digest`, by
    /// hardlinking it into the store instead of copying it; the file, now shared with the store,
    /// is made read-only. Returns `Ok(None)` when the store cannot do that (not a local store,
    /// another file system): the caller then copies with [`put_reader`](Self::put_reader).
    ///
    /// The caller must check that the file did not change between hashing and this call (the
    /// repository compares size, mtime and inode); readers verify every object anyway.
    ///
    /// # Errors
    /// The store's I/O error.
    fn put_hardlink(&self, path: &Path, digest: &Digest) -> Result<Option<PutResult>> {
        let _ = (path, digest);
        Ok(None)
    }
}

const _: fn(&dyn ContentStore) = |_| {};

macro_rules! forward_store {
    ($ty:ty) => {
        impl<T: ContentStore + ?Sized> ContentStore for $ty {
            fn put_reader(&self, reader: &mut dyn Read) -> Result<PutResult> {
                (**self).put_reader(reader)
            }
            fn put_bytes(&self, bytes: &[u8]) -> Result<PutResult> {
                (**self).put_bytes(bytes)
            }
            fn put_expected(&self, digest: &Digest, reader: &mut dyn Read) -> Result<PutResult> {
                (**self).put_expected(digest, reader)
            }
            fn open(&self, digest: &Digest) -> Result<Box<dyn Read + Send>> {
                (**self).open(digest)
            }
            fn open_unverified(&self, digest: &Digest) -> Result<Box<dyn Read + Send>> {
                (**self).open_unverified(digest)
            }
            fn contains(&self, digest: &Digest) -> Result<bool> {
                (**self).contains(digest)
            }
            fn contains_many(&self, digests: &[Digest]) -> Result<Vec<bool>> {
                (**self).contains_many(digests)
            }
            fn size(&self, digest: &Digest) -> Result<u64> {
                (**self).size(digest)
            }
            fn delete(&self, digest: &Digest) -> Result<bool> {
                (**self).delete(digest)
            }
            fn list(&self) -> Result<Vec<Digest>> {
                (**self).list()
            }
            fn verify(&self, digest: &Digest) -> Result<()> {
                (**self).verify(digest)
            }
            fn local_path(&self, digest: &Digest) -> Option<PathBuf> {
                (**self).local_path(digest)
            }
            fn put_hardlink(&self, path: &Path, digest: &Digest) -> Result<Option<PutResult>> {
                (**self).put_hardlink(path, digest)
            }
        }
    };
}
forward_store!(Arc<T>);
forward_store!(Box<T>);

/// A reader that hashes what it yields and fails with [`DvcError::Corrupt`] (inside an
/// [`io::Error`] of kind `InvalidData`) when the content does not match the expected digest and
/// size. The error comes at the end of the stream (or as soon as the size is exceeded), so a
/// consumer must treat everything it read as unconfirmed until the reader returned `Ok(0)`.
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Option<Sha256>,
    expected: Digest,
    expected_size: Option<u64>,
    read: u64,
    path: PathBuf,
}

impl<R> fmt::Debug for VerifyingReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingReader")
            .field("expected", &self.expected)
            .field("read", &self.read)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl<R: Read> VerifyingReader<R> {
    /// Wrap `inner`, whose bytes must hash to `expected` (and number `expected_size`, when
    /// known); `path` names the object in errors.
    pub fn new(inner: R, expected: Digest, expected_size: Option<u64>, path: &Path) -> Self {
        Self {
            inner,
            hasher: Some(Sha256::new()),
            expected,
            expected_size,
            read: 0,
            path: path.to_path_buf(),
        }
    }

    fn corrupt(&self, detail: String) -> io::Error {
        to_io(DvcError::Corrupt {
            path: self.path.clone(),
            detail,
        })
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(hasher) = self.hasher.as_mut() else {
            return Ok(0);
        };
        let n = self.inner.read(buf)?;
        if n > 0 {
            hasher.update(&buf[..n]);
            self.read += n as u64;
            if let Some(size) = self.expected_size
                && self.read > size
            {
                let detail = format!("object is longer than its recorded {size} bytes");
                return Err(self.corrupt(detail));
            }
            return Ok(n);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let Some(hasher) = self.hasher.take() else {
            return Ok(0);
        };
        let actual = Digest::from_hasher(hasher);
        if actual != self.expected {
            let detail = format!(
                "content hashes to {actual}, not to its name {} ({} bytes read)",
                self.expected, self.read
            );
            // Keep failing on later reads too.
            self.hasher = Some(Sha256::new());
            self.expected_size = Some(0);
            return Err(self.corrupt(detail));
        }
        if let Some(size) = self.expected_size
            && self.read != size
        {
            let detail = format!("object has {} bytes, expected {size}", self.read);
            return Err(self.corrupt(detail));
        }
        Ok(0)
    }
}
