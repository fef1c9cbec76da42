//! [`InMemoryContentStore`]: a content store in memory, for tests and examples.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::path::Path;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::digest::Digest;
use crate::error::{DvcError, EntityKind, Result};
use crate::store::{ContentStore, PutResult, VerifyingReader};

/// A content store kept in memory. Clones share the same objects.
#[derive(Debug, Default, Clone)]
pub struct InMemoryContentStore {
    objects: Arc<RwLock<BTreeMap<Digest, Arc<[u8]>>>>,
}

impl InMemoryContentStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Store `bytes` under `digest` without checking that they match: a fault-injection hook for
    /// tests of corruption handling. Readers of that object then fail with
    /// [`DvcError::Corrupt`].
    #[doc(hidden)]
    pub fn insert_unverified(&self, digest: Digest, bytes: &[u8]) {
        self.objects.write().insert(digest, Arc::from(bytes));
    }

    fn bytes(&self, digest: &Digest) -> Result<Arc<[u8]>> {
        self.objects
            .read()
            .get(digest)
            .cloned()
            .ok_or_else(|| DvcError::NotFound {
                kind: EntityKind::Object,
                id: digest.to_hex(),
            })
    }
}

struct ArcBytes(Arc<[u8]>);

impl AsRef<[u8]> for ArcBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl ContentStore for InMemoryContentStore {
    fn put_reader(&self, reader: &mut dyn Read) -> Result<PutResult> {
        let mut bytes = Vec::new();
        reader
            .read_to_end(&mut bytes)
            .map_err(|e| DvcError::from_io("<reader>", e))?;
        let digest = Digest::of_bytes(&bytes);
        let size = bytes.len() as u64;
        let mut objects = self.objects.write();
        let inserted = !objects.contains_key(&digest);
        if inserted {
            objects.insert(digest, Arc::from(bytes));
        }
        Ok(PutResult {
            digest,
            size,
            inserted,
        })
    }

    fn open(&self, digest: &Digest) -> Result<Box<dyn Read + Send>> {
        let bytes = self.bytes(digest)?;
        let size = bytes.len() as u64;
        let name = format!("memory:{digest}");
        Ok(Box::new(VerifyingReader::new(
            Cursor::new(ArcBytes(bytes)),
            *digest,
            Some(size),
            Path::new(&name),
        )))
    }

    fn contains(&self, digest: &Digest) -> Result<bool> {
        Ok(self.objects.read().contains_key(digest))
    }

    fn size(&self, digest: &Digest) -> Result<u64> {
        Ok(self.bytes(digest)?.len() as u64)
    }

    fn delete(&self, digest: &Digest) -> Result<bool> {
        Ok(self.objects.write().remove(digest).is_some())
    }

    fn list(&self) -> Result<Vec<Digest>> {
        Ok(self.objects.read().keys().copied().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    mod conformance_memory {
        use crate::conformance::{Capabilities, Subject};
        crate::conformance_tests!(
            caps = Capabilities::ALL.local_files(false);
            || Subject::<dyn crate::ContentStore>::new(Box::new(super::InMemoryContentStore::new()))
        );
    }

    mod conformance_memory_shared_clone {
        // A clone shares the objects, so it serves as the "reopened" handle.
        use crate::conformance::{Capabilities, Subject};
        crate::conformance_tests!(
            caps = Capabilities::ALL.local_files(false);
            || {
                let store = super::InMemoryContentStore::new();
                let again = store.clone();
                Subject::<dyn crate::ContentStore>::new(Box::new(store))
                    .with_reopen(move || Box::new(again.clone()))
            }
        );
    }

    #[test]
    fn corrupt_object_is_reported_by_reader_and_verify() {
        let store = InMemoryContentStore::new();
        let d = Digest::of_bytes(b"good bytes");
        store.insert_unverified(d, b"evil bytes");
        let mut out = Vec::new();
        let err = store.open(&d).unwrap().read_to_end(&mut out).unwrap_err();
        crate::conformance::assert_corrupt(&DvcError::from_io("x", err));
        let err = store.verify(&d).unwrap_err();
        assert!(err.to_string().contains(&d.to_hex()), "{err}");
        crate::conformance::assert_corrupt(&err);
    }

    #[test]
    fn clones_share_objects() {
        let a = InMemoryContentStore::new();
        let b = a.clone();
        let d = a.put_bytes(b"shared").unwrap().digest;
        assert!(b.contains(&d).unwrap());
    }
}
