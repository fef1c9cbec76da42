//! The stat cache: a file whose size, mtime and inode match what was recorded when it was last
//! hashed is not read again. Format: `docs/formats.md` ("Stat cache").

use std::collections::HashMap;
use std::fs;
use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use super::Repository;
use super::hash::Scanned;
use crate::digest::Digest;
use crate::error::{DvcError, Result};
use crate::path::RelPath;
use mlops_fs as fsutil;

/// A file whose mtime is this close to the moment it was hashed is re-hashed next time: a write
/// in the same timestamp tick would otherwise go unnoticed (git's "racy clean" problem).
const RACY_NS: i64 = 50_000_000;

/// What the stat cache compares: size, mtime (ns) and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
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

/// What the stat cache remembers of one working-copy file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cached {
    pub(super) stat: Stat,
    pub(super) digest: Digest,
    /// Modified less than [`RACY_NS`] before it was hashed: not trusted.
    pub(super) racy: bool,
    /// The file's executable bit, as `status` last found it; meaningful only while the cache
    /// is marked clean (see [`StatCache::clean`]).
    pub(super) exec: bool,
}

/// One dataset's stat cache: working-copy files by path, and the cache objects that checkout
/// verified (so a second checkout in hardlink mode does not re-hash them).
///
/// The entries read from the file are kept sorted by path ([`RelPath`] order, the order of
/// [`Repository::scan`]), so a scan is matched against them in one merge walk
/// ([`lookup_sorted`](Self::lookup_sorted)) with no hashing of paths.
#[derive(Debug, Default)]
pub(super) struct StatCache {
    /// Sorted by path, no path twice.
    entries: Vec<(RelPath, Cached)>,
    /// Recorded since the load; looked up before `entries`, merged into them on save.
    changed: HashMap<RelPath, Cached>,
    verified: HashMap<Digest, Stat>,
    /// The root tree digest of a version whose files were, when `status` last ran, exactly
    /// `entries` (same paths, digests and executable bits, no other file). While it is set, a
    /// `status` against that version whose listing matches `entries` by stat is clean without
    /// reading the version's tree objects. Any change to `entries` clears it.
    clean: Option<Digest>,
    dirty: bool,
}

impl StatCache {
    fn trusted(c: &Cached, stat: &Stat) -> Option<Digest> {
        (c.stat == *stat && !c.racy).then_some(c.digest)
    }

    fn get(&self, rel: &RelPath) -> Option<&Cached> {
        if let Some(c) = self.changed.get(rel) {
            return Some(c);
        }
        self.entries
            .binary_search_by(|(p, _)| p.cmp(rel))
            .ok()
            .map(|i| &self.entries[i].1)
    }

    /// The digest recorded for `rel` when its stat is still `stat` (and it was not racy).
    pub(super) fn lookup(&self, rel: &RelPath, stat: &Stat) -> Option<Digest> {
        self.get(rel).and_then(|c| Self::trusted(c, stat))
    }

    /// [`lookup`](Self::lookup) of every file, in `files` order: one merge walk when `files`
    /// are sorted by path (as [`Repository::scan`] returns them), else one lookup each.
    pub(super) fn lookup_sorted(&self, files: &[Scanned]) -> Vec<Option<Digest>> {
        let sorted = files.windows(2).all(|w| w[0].rel < w[1].rel);
        if !sorted || !self.changed.is_empty() {
            return files.iter().map(|f| self.lookup(&f.rel, &f.stat)).collect();
        }
        let mut j = 0;
        files
            .iter()
            .map(|f| {
                // Usually the next entry is this very file: one equality test, no ordering.
                if self.entries.get(j).is_some_and(|(p, _)| *p == f.rel) {
                    j += 1;
                    return Self::trusted(&self.entries[j - 1].1, &f.stat);
                }
                while j < self.entries.len() && self.entries[j].0 < f.rel {
                    j += 1;
                }
                match self.entries.get(j) {
                    Some((p, c)) if *p == f.rel => Self::trusted(c, &f.stat),
                    _ => None,
                }
            })
            .collect()
    }

    pub(super) fn record(&mut self, rel: RelPath, stat: Stat, digest: Digest, hashed_at_ns: i64) {
        let racy = stat.mtime_ns + RACY_NS > hashed_at_ns;
        self.changed.insert(
            rel,
            Cached {
                stat,
                digest,
                racy,
                exec: false,
            },
        );
        self.clean = None;
        self.dirty = true;
    }

    /// Forget every path that `files` (sorted by path, as [`Repository::scan`] returns them)
    /// does not list.
    pub(super) fn keep_only(&mut self, files: &[Scanned]) {
        let merged = self.merged_owned();
        let before = merged.len();
        let mut j = 0;
        let kept: Vec<(RelPath, Cached)> = merged
            .into_iter()
            .filter(|(p, _)| {
                while j < files.len() && files[j].rel < *p {
                    j += 1;
                }
                files.get(j).is_some_and(|f| f.rel == *p)
            })
            .collect();
        if kept.len() != before {
            self.clean = None;
            self.dirty = true;
        }
        self.entries = kept;
    }

    /// Whether the cache is marked clean against the version whose root tree is `root`.
    pub(super) fn is_clean_against(&self, root: &Digest) -> bool {
        self.clean.as_ref() == Some(root)
    }

    /// Whether `files` (sorted by path, as [`Repository::scan`] lists them) are still exactly
    /// the files of the version the cache is marked clean against, `root`: the same paths,
    /// each with its recorded stat (not racy) and executable bit. Then the working copy
    /// equals that version, by the same trust in stats as every cached digest.
    pub(super) fn still_clean(&self, root: &Digest, files: &[Scanned]) -> bool {
        self.is_clean_against(root)
            && self.changed.is_empty()
            && self.entries.len() == files.len()
            && self.entries.iter().zip(files).all(|((p, c), f)| {
                *p == f.rel && Self::trusted(c, &f.stat).is_some() && c.exec == f.exec
            })
    }

    /// Mark the cache clean against the version whose root tree is `root`, after `status`
    /// found the working copy equal to it: `files` (sorted by path) are that version's files
    /// and `digests` their digests, in the same order. Entries of other paths are dropped and
    /// each entry takes its file's executable bit. Nothing is marked if an entry's digest is
    /// not the one given (it cannot be, after a clean status; checked all the same).
    pub(super) fn mark_clean(&mut self, root: Digest, files: &[Scanned], digests: &[Digest]) {
        self.keep_only(files);
        let matches = self.entries.len() == files.len()
            && digests.len() == files.len()
            && self
                .entries
                .iter()
                .zip(files.iter().zip(digests))
                .all(|((p, c), (f, d))| *p == f.rel && c.digest == *d);
        if !matches {
            self.clean = None;
            return;
        }
        for ((_, c), f) in self.entries.iter_mut().zip(files) {
            if c.exec != f.exec {
                c.exec = f.exec;
                self.dirty = true;
            }
        }
        if self.clean != Some(root) {
            self.clean = Some(root);
            self.dirty = true;
        }
    }

    /// `entries` with `changed` merged in (emptying it), sorted by path.
    fn merged_owned(&mut self) -> Vec<(RelPath, Cached)> {
        let mut changed: Vec<(RelPath, Cached)> = self.changed.drain().collect();
        let entries = std::mem::take(&mut self.entries);
        if changed.is_empty() {
            return entries;
        }
        changed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut out = Vec::with_capacity(entries.len() + changed.len());
        let mut old = entries.into_iter().peekable();
        for (p, c) in changed {
            while let Some(e) = old.next_if(|(q, _)| *q < p) {
                out.push(e);
            }
            // A newer record replaces the one read from the file.
            let _ = old.next_if(|(q, _)| *q == p);
            out.push((p, c));
        }
        out.extend(old);
        out
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

    /// The file's bytes (format 3, see `docs/formats.md`).
    fn encode(&self) -> Vec<u8> {
        let mut changed: Vec<(&RelPath, &Cached)> = self.changed.iter().collect();
        changed.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut merged: Vec<(&RelPath, &Cached)> =
            Vec::with_capacity(self.entries.len() + changed.len());
        let mut old = self.entries.iter().map(|(p, c)| (p, c)).peekable();
        for (p, c) in changed {
            while let Some(e) = old.next_if(|(q, _)| *q < p) {
                merged.push(e);
            }
            let _ = old.next_if(|(q, _)| *q == p);
            merged.push((p, c));
        }
        merged.extend(old);
        let paths: usize = merged.iter().map(|(p, _)| p.as_bytes().len()).sum();
        let mut out = Vec::with_capacity(
            HEADER_LEN
                + merged.len() * (4 + ENTRY_FIXED_LEN)
                + paths
                + self.verified.len() * VERIFIED_LEN
                + 4,
        );
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT.to_le_bytes());
        out.extend_from_slice(&(merged.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.verified.len() as u64).to_le_bytes());
        out.push(u8::from(self.clean.is_some()));
        out.extend_from_slice(
            self.clean
                .as_ref()
                .map_or(&[0; 32], Digest::as_bytes)
                .as_slice(),
        );
        for (p, c) in merged {
            let path = p.as_bytes();
            // A path longer than 4 GiB cannot come from a file system.
            out.extend_from_slice(&u32::try_from(path.len()).unwrap_or(u32::MAX).to_le_bytes());
            out.extend_from_slice(path);
            put_stat(&mut out, &c.stat);
            out.extend_from_slice(c.digest.as_bytes());
            out.push(u8::from(c.racy) | u8::from(c.exec) << 1);
        }
        let mut verified: Vec<(&Digest, &Stat)> = self.verified.iter().collect();
        verified.sort_unstable();
        for (d, s) in verified {
            out.extend_from_slice(d.as_bytes());
            put_stat(&mut out, s);
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Read a format-3 (or format-2) file; `None` when anything about it is wrong (a damaged
    /// cache is ignored, never trusted).
    fn decode(bytes: &[u8]) -> Option<Self> {
        let (body, crc) = bytes.split_last_chunk::<4>()?;
        if crc32fast::hash(body) != u32::from_le_bytes(*crc) {
            return None;
        }
        let mut r = Reader(body);
        if r.take(MAGIC.len())? != MAGIC {
            return None;
        }
        let format = r.u32()?;
        if format != FORMAT && format != 2 {
            return None;
        }
        let n = usize::try_from(r.u64()?).ok()?;
        let nv = usize::try_from(r.u64()?).ok()?;
        // Format 2 has no clean mark and no executable bits.
        let clean = if format == FORMAT {
            let marked = r.take(1)?;
            let root = r.digest()?;
            match marked {
                [0] if root.as_bytes() == &[0; 32] => None,
                [1] => Some(root),
                _ => return None,
            }
        } else {
            None
        };
        // Counts that the bytes cannot hold are damage, not a reason to allocate.
        if n > r.0.len() / (4 + ENTRY_FIXED_LEN) || nv > r.0.len() / VERIFIED_LEN {
            return None;
        }
        let mut entries: Vec<(RelPath, Cached)> = Vec::with_capacity(n);
        for _ in 0..n {
            let len = usize::try_from(r.u32()?).ok()?;
            let path = RelPath::from_bytes(r.take(len)?).ok()?;
            if entries.last().is_some_and(|(prev, _)| *prev >= path) {
                return None;
            }
            let stat = r.stat()?;
            let digest = r.digest()?;
            let flags = r.take(1)?[0];
            if flags > if format == FORMAT { 3 } else { 1 } {
                return None;
            }
            let (racy, exec) = (flags & 1 != 0, flags & 2 != 0);
            entries.push((
                path,
                Cached {
                    stat,
                    digest,
                    racy,
                    exec,
                },
            ));
        }
        let mut verified = HashMap::with_capacity(nv);
        for _ in 0..nv {
            let d = r.digest()?;
            let s = r.stat()?;
            verified.insert(d, s);
        }
        if !r.0.is_empty() {
            return None;
        }
        Some(Self {
            entries,
            changed: HashMap::new(),
            verified,
            clean,
            // A format-2 file is rewritten in format 3 on the next save.
            dirty: format != FORMAT,
        })
    }

    /// Read the JSON file of format 1; it is rewritten in format 3 on the next save.
    fn decode_v1(bytes: &[u8]) -> Option<Self> {
        let f = serde_json::from_slice::<StatCacheV1>(bytes).ok()?;
        if f.v != 1 {
            return None;
        }
        let mut entries: Vec<(RelPath, Cached)> = f
            .entries
            .into_iter()
            .map(|EntryV1(p, stat, digest, racy)| {
                (
                    p,
                    Cached {
                        stat,
                        digest,
                        racy,
                        exec: false,
                    },
                )
            })
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        // Format 1 cannot hold a path twice (it was written from a map); keep the last anyway.
        entries.reverse();
        entries.dedup_by(|a, b| a.0 == b.0);
        entries.reverse();
        Some(Self {
            entries,
            changed: HashMap::new(),
            verified: f.verified.into_iter().collect(),
            clean: None,
            dirty: true,
        })
    }
}

/// Magic, format, entry count, verified count, clean mark and root digest.
const MAGIC: &[u8; 8] = b"mdvcstat";
const FORMAT: u32 = 3;
const HEADER_LEN: usize = 8 + 4 + 8 + 8 + 1 + 32;
/// Size, mtime, inode, digest, flags (racy, exec) (after the path's length and bytes).
const ENTRY_FIXED_LEN: usize = 24 + 32 + 1;
/// Digest, size, mtime, inode.
const VERIFIED_LEN: usize = 32 + 24;

fn put_stat(out: &mut Vec<u8>, s: &Stat) {
    out.extend_from_slice(&s.size.to_le_bytes());
    out.extend_from_slice(&s.mtime_ns.to_le_bytes());
    out.extend_from_slice(&s.ino.to_le_bytes());
}

/// Little-endian fields off the front of a byte slice; `None` past its end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }

    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }

    fn stat(&mut self) -> Option<Stat> {
        Some(Stat {
            size: self.u64()?,
            mtime_ns: self.array().map(i64::from_le_bytes)?,
            ino: self.u64()?,
        })
    }

    fn digest(&mut self) -> Option<Digest> {
        self.array().map(Digest::from_raw)
    }
}

/// Format 1 (JSON), read once and replaced: an entry is (path, stat, digest, racy).
#[derive(Deserialize)]
struct EntryV1(RelPath, Stat, Digest, bool);

#[derive(Deserialize)]
struct StatCacheV1 {
    v: u32,
    entries: Vec<EntryV1>,
    #[serde(default)]
    verified: Vec<(Digest, Stat)>,
}

impl Repository {
    /// The stat cache of dataset `rel`: format 3 or 2, else format 1 (JSON, to be rewritten), else
    /// empty. A damaged or unreadable one is ignored (everything is then re-hashed).
    pub(super) fn load_cache(&self, rel: &RelPath) -> StatCache {
        let path = self.state_path(rel);
        match fs::read(&path) {
            Ok(bytes) => StatCache::decode(&bytes).unwrap_or_else(|| {
                tracing::warn!(path = %path.display(), "ignoring a damaged stat cache");
                // Rewritten on the next save.
                StatCache {
                    dirty: true,
                    ..StatCache::default()
                }
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let old = self.state_path_v1(rel);
                match fs::read(&old) {
                    Ok(bytes) => StatCache::decode_v1(&bytes).unwrap_or_else(|| {
                        tracing::warn!(path = %old.display(), "ignoring a damaged stat cache");
                        StatCache {
                            dirty: true,
                            ..StatCache::default()
                        }
                    }),
                    Err(_) => StatCache::default(),
                }
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring an unreadable stat cache");
                StatCache::default()
            }
        }
    }

    /// Write the stat cache when it changed (format 3; a format-1 file is then removed).
    pub(super) fn save_cache(&self, rel: &RelPath, cache: &StatCache) -> Result<()> {
        if !cache.dirty {
            return Ok(());
        }
        let path = self.state_path(rel);
        // Not fsynced: losing it costs a re-hash, never a wrong answer (the checksum catches a
        // file torn by a crash).
        fsutil::write_atomic(&path, &cache.encode(), false).map_err(|e| DvcError::io(&path, e))?;
        let old = self.state_path_v1(rel);
        match fs::remove_file(&old) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %old.display(), error = %e, "cannot remove an old stat cache");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn stat(i: u64) -> Stat {
        Stat {
            size: i,
            mtime_ns: i64::try_from(i).unwrap_or(0) * 7 - 3,
            ino: i ^ 0xdead_beef,
        }
    }

    fn scanned(path: &str, stat: Stat) -> Scanned {
        Scanned {
            rel: RelPath::from_bytes(path.as_bytes()).unwrap(),
            abs: path.into(),
            stat,
            exec: false,
        }
    }

    fn path() -> impl Strategy<Value = RelPath> {
        // Few names, so paths collide, nest and sort around `/`.
        let name = proptest::sample::select(vec!["a", "b", "a.b", "a-", "é", "a0"]);
        proptest::collection::vec(name, 1..4)
            .prop_map(|c| RelPath::from_bytes(c.join("/").as_bytes()).unwrap())
    }

    /// The cache as a model: path -> (stat, digest, racy), and the verified objects.
    type Model = (BTreeMap<RelPath, Cached>, BTreeMap<Digest, Stat>);

    fn model_of(c: &StatCache) -> Model {
        let mut m: BTreeMap<RelPath, Cached> = c.entries.iter().cloned().collect();
        m.extend(c.changed.iter().map(|(p, c)| (p.clone(), *c)));
        (m, c.verified.iter().map(|(d, s)| (*d, *s)).collect())
    }

    proptest! {
        /// Records (some over entries read from a file), encoded and decoded, give the same
        /// cache; the merge walk answers what per-path lookups answer.
        #[test]
        fn format_3_round_trips_and_merge_walk_matches_lookups(
            first in proptest::collection::vec((path(), 0u64..4, any::<bool>()), 0..20),
            second in proptest::collection::vec((path(), 0u64..4, any::<bool>()), 0..20),
            verified in proptest::collection::vec((0u8..5, 0u64..3), 0..5),
            probes in proptest::collection::vec((path(), 0u64..4), 0..20),
        ) {
            let now = 1_000_000_000_000;
            let mut c = StatCache::default();
            for (p, s, racy) in &first {
                let at = if *racy { stat(*s).mtime_ns } else { now };
                c.record(p.clone(), stat(*s), Digest::of_bytes(p.as_bytes()), at);
            }
            for (d, s) in &verified {
                c.record_verified(Digest::of_bytes(&[*d]), stat(*s), now);
            }
            let mut c = StatCache::decode(&c.encode()).expect("decodes");
            prop_assert!(c.changed.is_empty());
            for (p, s, racy) in &second {
                let at = if *racy { stat(*s).mtime_ns } else { now };
                c.record(p.clone(), stat(*s), Digest::of_bytes(&[*s as u8]), at);
            }
            let model = model_of(&c);
            let back = StatCache::decode(&c.encode()).expect("decodes");
            prop_assert_eq!(model_of(&back), model.clone());
            prop_assert!(back.entries.windows(2).all(|w| w[0].0 < w[1].0));
            // Lookups: on the decoded cache (merge walk) and on the one with records pending.
            let mut files: Vec<Scanned> = probes
                .iter()
                .map(|(p, s)| scanned(&String::from_utf8_lossy(p.as_bytes()), stat(*s)))
                .collect();
            files.sort_by(|a, b| a.rel.cmp(&b.rel));
            files.dedup_by(|a, b| a.rel == b.rel);
            let want: Vec<Option<Digest>> = files
                .iter()
                .map(|f| {
                    model.0.get(&f.rel).and_then(|c| (c.stat == f.stat && !c.racy).then_some(c.digest))
                })
                .collect();
            prop_assert_eq!(back.lookup_sorted(&files), want.clone());
            prop_assert_eq!(c.lookup_sorted(&files), want);
            // keep_only keeps exactly the listed paths.
            let mut kept = back;
            kept.keep_only(&files);
            let (m, _) = model_of(&kept);
            let listed: Vec<&RelPath> = files.iter().map(|f| &f.rel).filter(|p| model.0.contains_key(*p)).collect();
            prop_assert_eq!(m.keys().collect::<Vec<_>>(), listed);
        }

        /// Any damage to a format-3 file (a flipped bit, a cut) is detected.
        #[test]
        fn damaged_format_3_is_rejected(at in any::<prop::sample::Index>(), bit in 0u8..8, cut in any::<bool>()) {
            let mut c = StatCache::default();
            for i in 0..5 {
                c.record(RelPath::from_bytes(format!("d/f{i}").as_bytes()).unwrap(), stat(i), Digest::of_bytes(&[i as u8]), 1 << 60);
            }
            let mut bytes = c.encode();
            let i = at.index(bytes.len());
            if cut {
                bytes.truncate(i);
            } else {
                bytes[i] ^= 1 << bit;
            }
            prop_assert!(StatCache::decode(&bytes).is_none());
        }
    }

    #[test]
    fn format_3_with_a_good_checksum_but_bad_order_is_rejected() {
        let mut c = StatCache::default();
        for name in ["a", "b"] {
            c.record(
                RelPath::from_bytes(name.as_bytes()).unwrap(),
                stat(1),
                Digest::of_bytes(b"x"),
                1 << 60,
            );
        }
        let bytes = c.encode();
        // Swap the two one-byte paths ("a" at HEADER_LEN + 4, "b" one entry later) and fix the CRC.
        let mut body = bytes[..bytes.len() - 4].to_vec();
        let (ia, ib) = (HEADER_LEN + 4, HEADER_LEN + 4 + 1 + ENTRY_FIXED_LEN + 4);
        assert_eq!((body[ia], body[ib]), (b'a', b'b'));
        body.swap(ia, ib);
        let crc = crc32fast::hash(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        assert!(StatCache::decode(&body).is_none());
        assert!(StatCache::decode(&bytes).is_some());
    }

    fn rel(p: &str) -> RelPath {
        RelPath::from_bytes(p.as_bytes()).unwrap()
    }

    /// Three files recorded and marked clean against `root`; the scanned files, their digests.
    fn marked(root: Digest) -> (StatCache, Vec<Scanned>, Vec<Digest>) {
        let mut c = StatCache::default();
        let mut files: Vec<Scanned> = ["a", "b/c", "d"]
            .iter()
            .enumerate()
            .map(|(i, p)| scanned(p, stat(i as u64 + 1)))
            .collect();
        files[1].exec = true;
        let digests: Vec<Digest> = files
            .iter()
            .map(|f| Digest::of_bytes(f.rel.as_bytes()))
            .collect();
        for (f, d) in files.iter().zip(&digests) {
            c.record(f.rel.clone(), f.stat, *d, 1 << 60);
        }
        // A stale entry of a file that is gone: dropped by the mark.
        c.record(rel("z"), stat(9), Digest::of_bytes(b"z"), 1 << 60);
        c.mark_clean(root, &files, &digests);
        (c, files, digests)
    }

    #[test]
    fn clean_mark_round_trips_and_any_difference_or_change_loses_it() {
        let root = Digest::of_bytes(b"root");
        let (c, files, digests) = marked(root);
        assert!(c.dirty && c.is_clean_against(&root));
        assert!(!c.is_clean_against(&Digest::of_bytes(b"other")));
        let back = StatCache::decode(&c.encode()).expect("decodes");
        assert!(!back.dirty && back.is_clean_against(&root));
        assert!(back.still_clean(&root, &files));
        assert_eq!(back.entries.len(), 3, "the stale entry is gone");
        assert!(back.entries[1].1.exec && !back.entries[0].1.exec);
        // A stat, an executable bit, a missing or an extra file: not clean.
        let mut f = files.clone();
        f[0].stat.mtime_ns += 1;
        assert!(!back.still_clean(&root, &f));
        let mut f = files.clone();
        f[1].exec = false;
        assert!(!back.still_clean(&root, &f));
        assert!(!back.still_clean(&root, &files[..2]));
        let mut f = files.clone();
        f.push(scanned("e", stat(5)));
        assert!(!back.still_clean(&root, &f));
        assert!(!back.still_clean(&Digest::of_bytes(b"other"), &files));
        // A record (even of the same digest) and a removal clear the mark.
        let mut c2 = StatCache::decode(&c.encode()).unwrap();
        c2.record(files[0].rel.clone(), files[0].stat, digests[0], 1 << 60);
        assert!(!c2.is_clean_against(&root));
        let mut c3 = StatCache::decode(&c.encode()).unwrap();
        c3.keep_only(&files[1..]);
        assert!(!c3.is_clean_against(&root));
        // Digests that are not the entries': no mark.
        let mut c4 = StatCache::decode(&c.encode()).unwrap();
        let mut wrong = digests.clone();
        wrong[2] = Digest::of_bytes(b"wrong");
        c4.mark_clean(Digest::of_bytes(b"r2"), &files, &wrong);
        assert!(c4.clean.is_none());
        // A racy entry is not trusted, so not clean.
        let mut c5 = StatCache::default();
        c5.record(
            files[0].rel.clone(),
            files[0].stat,
            digests[0],
            files[0].stat.mtime_ns,
        );
        c5.mark_clean(root, &files[..1], &digests[..1]);
        assert!(c5.is_clean_against(&root) && !c5.still_clean(&root, &files[..1]));
    }

    #[test]
    fn format_2_is_read_without_a_mark_and_rewritten() {
        let (c, files, _) = marked(Digest::of_bytes(b"root"));
        let v3 = c.encode();
        // The same cache in format 2: no clean mark, flags only 0 or 1 (b/c's exec bit off).
        let mut v2 = Vec::new();
        v2.extend_from_slice(MAGIC);
        v2.extend_from_slice(&2u32.to_le_bytes());
        v2.extend_from_slice(&v3[12..28]);
        v2.extend_from_slice(&v3[HEADER_LEN..v3.len() - 4]);
        let b_flags = HEADER_LEN - 33 + 2 * (4 + ENTRY_FIXED_LEN) + 1 + 3 - 1;
        assert_eq!(v2[b_flags], 2, "b/c's flags: exec");
        v2[b_flags] = 0;
        let crc = crc32fast::hash(&v2);
        v2.extend_from_slice(&crc.to_le_bytes());
        let back = StatCache::decode(&v2).expect("format 2");
        assert!(back.dirty, "rewritten in format 3");
        assert!(back.clean.is_none());
        assert_eq!(back.lookup_sorted(&files), c.lookup_sorted(&files));
        // A flag that format 2 cannot hold.
        let mut bad = v2[..v2.len() - 4].to_vec();
        bad[b_flags] = 2;
        let crc = crc32fast::hash(&bad);
        bad.extend_from_slice(&crc.to_le_bytes());
        assert!(StatCache::decode(&bad).is_none());
    }

    #[test]
    fn format_1_json_is_read_sorted_and_marked_for_rewrite() {
        let d = Digest::of_bytes(b"x");
        let json = format!(
            r#"{{"v":1,"entries":[["b",{{"size":1,"mtime_ns":2,"ino":3}},"{d}",false],["a/c",{{"size":4,"mtime_ns":5,"ino":6}},"{d}",true]],"verified":[["{d}",{{"size":7,"mtime_ns":8,"ino":9}}]]}}"#
        );
        let c = StatCache::decode_v1(json.as_bytes()).expect("format 1");
        assert!(c.dirty);
        let paths: Vec<String> = c.entries.iter().map(|(p, _)| p.to_string()).collect();
        assert_eq!(paths, ["a/c", "b"]);
        let st = Stat {
            size: 1,
            mtime_ns: 2,
            ino: 3,
        };
        assert_eq!(c.lookup(&RelPath::from_bytes(b"b").unwrap(), &st), Some(d));
        // Racy entries are read but not trusted.
        let racy = Stat {
            size: 4,
            mtime_ns: 5,
            ino: 6,
        };
        assert_eq!(c.lookup(&RelPath::from_bytes(b"a/c").unwrap(), &racy), None);
        assert!(c.is_verified(
            &d,
            &Stat {
                size: 7,
                mtime_ns: 8,
                ino: 9
            }
        ));
        assert!(StatCache::decode_v1(br#"{"v":2,"entries":[]}"#).is_none());
        assert!(StatCache::decode_v1(b"{not json").is_none());
    }
}
