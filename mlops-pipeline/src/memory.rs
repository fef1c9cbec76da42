//! The in-memory step cache.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::cache::{CacheEntry, CacheKey, StepCache};
use crate::error::Result;

/// A step cache in memory, for tests and for repeated runs inside one process. Clones share
/// the same entries.
#[derive(Debug, Default, Clone)]
pub struct InMemoryCache {
    entries: Arc<RwLock<BTreeMap<CacheKey, CacheEntry>>>,
}

impl InMemoryCache {
    /// An empty cache.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.read().len()
    }

    /// Whether the cache is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.read().is_empty()
    }
}

impl StepCache for InMemoryCache {
    fn get(&self, key: &CacheKey) -> Result<Option<CacheEntry>> {
        Ok(self.entries.read().get(key).cloned())
    }

    fn put(&self, key: &CacheKey, entry: &CacheEntry) -> Result<()> {
        self.entries.write().insert(*key, entry.clone());
        Ok(())
    }

    fn remove(&self, key: &CacheKey) -> Result<bool> {
        Ok(self.entries.write().remove(key).is_some())
    }

    fn keys(&self) -> Result<Vec<CacheKey>> {
        Ok(self.entries.read().keys().copied().collect())
    }
}
