//! The stat cache: a file whose size, mtime and inode match what was recorded when it was last
//! hashed is not read again.

use std::collections::HashMap;
use std::fs;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::Repository;
use crate::digest::Digest;
use crate::error::{DvcError, Result};
use crate::path::RelPath;
use mlops_fs as fsutil;

/// A file whose mtime is this close to the moment it was hashed is re-hashed next time: a write
/// in the same timestamp tick would otherwise go unnoticed (git's "racy clean" problem).
const RACY_NS: i64 = 50_000_000;

/// What the stat cache compares: size, mtime (ns) and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Stat {
    pub(super) size: u64,
    pub(super) mtime_ns: i64,
    pub(super) ino: u64,
}

impl Stat {
    pub(super) fn of(m: &fs::Metadata) -> Self {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Self {
                size: m.len(),
                mtime_ns: m.mtime().saturating_mul(1_000_000_000) + m.mtime_nsec(),
                ino: m.ino(),
            }
        }
        #[cfg(not(unix))]
        {
            let mtime_ns = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
            Self {
                size: m.len(),
                mtime_ns,
                ino: 0,
            }
        }
    }
}

pub(super) fn is_exec(m: &fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        m.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        let _ = m;
        false
    }
}

pub(super) fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// A stat cache entry: (path, stat, digest, racy).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CacheEntry(RelPath, Stat, Digest, bool);

#[derive(Debug, Default, Serialize, Deserialize)]
struct StatCacheFile {
    v: u32,
    entries: Vec<CacheEntry>,
    /// Cache objects re-hashed and found intact, with the stat of their file at that moment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    verified: Vec<(Digest, Stat)>,
}

/// One dataset's stat cache: working-copy files by path, and the cache objects that checkout
/// verified (so a second checkout in hardlink mode does not re-hash them).
#[derive(Debug, Default)]
pub(super) struct StatCache {
    pub(super) map: HashMap<RelPath, (Stat, Digest, bool)>,
    verified: HashMap<Digest, Stat>,
    pub(super) dirty: bool,
}

impl StatCache {
    pub(super) fn lookup(&self, rel: &RelPath, stat: &Stat) -> Option<Digest> {
        match self.map.get(rel) {
            Some((s, d, racy)) if s == stat && !racy => Some(*d),
            _ => None,
        }
    }

    pub(super) fn record(&mut self, rel: RelPath, stat: Stat, digest: Digest, hashed_at_ns: i64) {
        let racy = stat.mtime_ns + RACY_NS > hashed_at_ns;
        self.map.insert(rel, (stat, digest, racy));
        self.dirty = true;
    }

    /// Whether the object `digest`, whose file now has `stat`, was verified with that same
    /// stat (size, mtime, inode).
    pub(super) fn is_verified(&self, digest: &Digest, stat: &Stat) -> bool {
        self.verified.get(digest) == Some(stat)
    }

    /// Remember that the object `digest` hashed correctly at `hashed_at_ns` while its file had
    /// `stat`; a racy stat (modified just before the hash) is not remembered.
    pub(super) fn record_verified(&mut self, digest: Digest, stat: Stat, hashed_at_ns: i64) {
        if stat.mtime_ns + RACY_NS > hashed_at_ns {
            self.verified.remove(&digest);
        } else {
            self.verified.insert(digest, stat);
        }
        self.dirty = true;
    }
}

impl Repository {
    pub(super) fn load_cache(&self, rel: &RelPath) -> StatCache {
        let path = self.state_path(rel);
        let Ok(bytes) = fs::read(&path) else {
            return StatCache::default();
        };
        // The stat cache is only an accelerator: a damaged one is ignored (everything is then
        // re-hashed), never trusted.
        match serde_json::from_slice::<StatCacheFile>(&bytes) {
            Ok(f) if f.v == 1 => StatCache {
                map: f
                    .entries
                    .into_iter()
                    .map(|CacheEntry(p, s, d, r)| (p, (s, d, r)))
                    .collect(),
                verified: f.verified.into_iter().collect(),
                dirty: false,
            },
            _ => {
                tracing::warn!(path = %path.display(), "ignoring a damaged stat cache");
                StatCache::default()
            }
        }
    }

    pub(super) fn save_cache(&self, rel: &RelPath, cache: &StatCache) -> Result<()> {
        if !cache.dirty {
            return Ok(());
        }
        let path = self.state_path(rel);
        let file = StatCacheFile {
            v: 1,
            entries: cache
                .map
                .iter()
                .map(|(p, (s, d, r))| CacheEntry(p.clone(), *s, *d, *r))
                .collect(),
            verified: cache.verified.iter().map(|(d, s)| (*d, *s)).collect(),
        };
        let bytes = serde_json::to_vec(&file).map_err(|e| DvcError::Serde {
            path: path.clone(),
            source: e,
        })?;
        // Not fsynced: losing it costs a re-hash, never a wrong answer.
        fsutil::write_atomic(&path, &bytes, false).map_err(|e| DvcError::io(&path, e))
    }
}
