//! The file step cache: one file per entry, written atomically.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::cache::{CacheEntry, CacheKey, Fingerprint, StepCache};
use crate::error::{PipelineError, Result};
use crate::name::StepName;
use mlops_fs as fsutil;

/// The entry format version written in each header.
const FORMAT: u32 = 1;
/// File name suffix of an entry.
const SUFFIX: &str = ".entry";

/// The first line of an entry file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    format: u32,
    key: CacheKey,
    step: StepName,
    fingerprint: Fingerprint,
    len: u64,
    created_at: DateTime<Utc>,
}

/// A step cache in a directory, shared safely by threads and processes.
///
/// Layout: `<root>/entries/<key: 64 hex>.entry`. Each entry is one line of JSON header
/// (`format`, `key`, `step`, `fingerprint`, `len`, `created_at`) followed by exactly `len`
/// bytes of output (compact JSON). Entries are written with an atomic replace (temp file,
/// fsync, rename, fsync of the directory), so a reader sees a whole entry or none, and two
/// processes writing the same key leave one whole entry. A read checks the header, the length
/// and the SHA-256 fingerprint of the bytes: a truncated or garbage entry is reported as
/// [`PipelineError::Corrupt`] naming the file (the runner then treats it as a miss and
/// overwrites it), never returned as a hit.
///
/// Durable by default (every put is fsynced); [`with_fsync(false)`](Self::with_fsync) skips the
/// fsyncs for tests and benches, at the price of losing recent entries on a power loss (a lost
/// entry is only a cache miss).
#[derive(Debug, Clone)]
pub struct FileCache {
    root: PathBuf,
    entries: PathBuf,
    fsync: bool,
}

impl FileCache {
    /// Open (creating if needed) the cache in `root`, removing temp files left by crashed
    /// writers.
    ///
    /// # Errors
    /// [`PipelineError::Io`] when the directory cannot be created or read.
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref().to_path_buf();
        let entries = root.join("entries");
        fs::create_dir_all(&entries).map_err(|source| PipelineError::Io {
            path: entries.clone(),
            source,
        })?;
        fsutil::remove_stray_temps(&entries).map_err(|source| PipelineError::Io {
            path: entries.clone(),
            source,
        })?;
        Ok(Self {
            root,
            entries,
            fsync: true,
        })
    }

    /// Whether puts are fsynced (default `true`).
    #[must_use]
    pub fn with_fsync(mut self, fsync: bool) -> Self {
        self.fsync = fsync;
        self
    }

    /// The cache's root directory.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file that holds the entry under `key`.
    #[must_use]
    pub fn entry_path(&self, key: &CacheKey) -> PathBuf {
        self.entries.join(format!("{key}{SUFFIX}"))
    }

    fn decode(path: &Path, key: &CacheKey, bytes: &[u8]) -> Result<CacheEntry> {
        let corrupt = |detail: String| PipelineError::Corrupt {
            path: path.to_path_buf(),
            detail,
        };
        let nl = bytes
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| corrupt("no header line (truncated or not a cache entry)".into()))?;
        let header: Header = serde_json::from_slice(&bytes[..nl])
            .map_err(|e| corrupt(format!("bad header: {e}")))?;
        if header.format != FORMAT {
            return Err(corrupt(format!("unknown entry format {}", header.format)));
        }
        if header.key != *key {
            return Err(corrupt(format!(
                "entry is for key {}, not {key}",
                header.key
            )));
        }
        let output = &bytes[nl + 1..];
        if output.len() as u64 != header.len {
            return Err(corrupt(format!(
                "output is {} bytes, header says {} (truncated or appended to)",
                output.len(),
                header.len
            )));
        }
        if Fingerprint::of(output) != header.fingerprint {
            return Err(corrupt("output does not match its fingerprint".into()));
        }
        Ok(CacheEntry {
            step: header.step,
            output: output.to_vec(),
            fingerprint: header.fingerprint,
            created_at: header.created_at,
        })
    }
}

impl StepCache for FileCache {
    fn get(&self, key: &CacheKey) -> Result<Option<CacheEntry>> {
        let path = self.entry_path(key);
        match fs::read(&path) {
            Ok(bytes) => Self::decode(&path, key, &bytes).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(PipelineError::Io { path, source }),
        }
    }

    fn put(&self, key: &CacheKey, entry: &CacheEntry) -> Result<()> {
        let path = self.entry_path(key);
        if Fingerprint::of(&entry.output) != entry.fingerprint {
            return Err(PipelineError::invalid(
                "cache entry",
                format!(
                    "fingerprint of step {}'s entry does not match its output",
                    entry.step
                ),
            ));
        }
        let header = Header {
            format: FORMAT,
            key: *key,
            step: entry.step.clone(),
            fingerprint: entry.fingerprint,
            len: entry.output.len() as u64,
            created_at: entry.created_at,
        };
        let mut data = serde_json::to_vec(&header).map_err(|source| PipelineError::Serde {
            path: path.clone(),
            source,
        })?;
        data.push(b'\n');
        data.extend_from_slice(&entry.output);
        fsutil::write_atomic(&path, &data, self.fsync)
            .map_err(|source| PipelineError::Io { path, source })
    }

    fn remove(&self, key: &CacheKey) -> Result<bool> {
        let path = self.entry_path(key);
        match fs::remove_file(&path) {
            Ok(()) => {
                if self.fsync {
                    fsutil::sync_dir(&self.entries).map_err(|source| PipelineError::Io {
                        path: self.entries.clone(),
                        source,
                    })?;
                }
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(PipelineError::Io { path, source }),
        }
    }

    fn keys(&self) -> Result<Vec<CacheKey>> {
        let io_err = |source| PipelineError::Io {
            path: self.entries.clone(),
            source,
        };
        let mut keys = Vec::new();
        for dirent in fs::read_dir(&self.entries).map_err(io_err)? {
            let dirent = dirent.map_err(io_err)?;
            let name = dirent.file_name();
            let Some(name) = name.to_str() else { continue };
            if fsutil::is_temp_name(name) {
                continue;
            }
            if let Some(key) = name.strip_suffix(SUFFIX).and_then(|k| k.parse().ok()) {
                keys.push(key);
            }
        }
        keys.sort_unstable();
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::{entry, key};

    fn open(dir: &Path) -> FileCache {
        FileCache::open(dir).unwrap().with_fsync(false)
    }

    fn assert_corrupt(c: &FileCache, k: &CacheKey, want: &str) {
        let err = c.get(k).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, PipelineError::Corrupt { .. }), "{text}");
        assert!(
            text.contains(&c.entry_path(k).display().to_string()),
            "{text}"
        );
        assert!(text.contains(want), "{text}");
    }

    #[test]
    fn truncated_entry_is_corrupt_not_a_hit() {
        let dir = tempfile::tempdir().unwrap();
        let c = open(dir.path());
        c.put(&key(1), &entry("train", br#"{"weights":[1,2,3]}"#))
            .unwrap();
        let path = c.entry_path(&key(1));
        let full = fs::read(&path).unwrap();
        // Every strict prefix is rejected, including the empty file and a header alone.
        for len in [0, 10, full.len() - 20, full.len() - 1] {
            fs::write(&path, &full[..len]).unwrap();
            let err = c.get(&key(1)).unwrap_err();
            assert!(matches!(err, PipelineError::Corrupt { .. }), "{len}: {err}");
        }
        fs::write(&path, &full[..full.len() - 1]).unwrap();
        assert_corrupt(&c, &key(1), "truncated");
    }

    #[test]
    fn garbage_and_tampered_entries_are_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let c = open(dir.path());
        c.put(&key(1), &entry("train", b"[1,2,3]")).unwrap();
        let path = c.entry_path(&key(1));
        let good = fs::read(&path).unwrap();

        fs::write(&path, b"\x00\xffnot a cache entry at all\n").unwrap();
        assert_corrupt(&c, &key(1), "bad header");

        let mut flipped = good.clone();
        let last = flipped.len() - 2;
        flipped[last] = b'9';
        fs::write(&path, &flipped).unwrap();
        assert_corrupt(&c, &key(1), "fingerprint");

        let mut longer = good.clone();
        longer.extend_from_slice(b"extra");
        fs::write(&path, &longer).unwrap();
        assert_corrupt(&c, &key(1), "header says");

        // An entry copied under another key's name is not served for that key.
        fs::write(c.entry_path(&key(2)), &good).unwrap();
        assert_corrupt(&c, &key(2), "is for key");

        // A good put repairs it.
        c.put(&key(1), &entry("train", b"[1,2,3]")).unwrap();
        assert!(c.get(&key(1)).unwrap().is_some());
    }

    #[test]
    fn stray_temps_are_ignored_and_cleaned_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let c = open(dir.path());
        c.put(&key(1), &entry("a", b"1")).unwrap();
        // A temp left by a writer that no longer runs (pid 0 is never a user process).
        let stray = dir.path().join("entries").join(".x.entry.999999999.0.tmp");
        fs::write(&stray, b"half").unwrap();
        fs::write(dir.path().join("entries").join("README"), b"not an entry").unwrap();
        assert_eq!(c.keys().unwrap(), vec![key(1)]);
        let c = open(dir.path());
        assert!(!stray.exists());
        assert_eq!(c.keys().unwrap(), vec![key(1)]);
    }

    #[test]
    fn put_rejects_an_entry_whose_fingerprint_lies() {
        let dir = tempfile::tempdir().unwrap();
        let c = open(dir.path());
        let mut e = entry("a", b"1");
        e.output = b"2".to_vec();
        assert!(c.put(&key(1), &e).is_err());
        assert_eq!(c.get(&key(1)).unwrap(), None);
    }

    /// Child processes hammer the same keys; every entry read afterwards is whole.
    #[test]
    fn processes_share_a_cache() {
        const CHILD: &str = "MLOPS_PIPELINE_CACHE_CHILD";
        if let Ok(root) = std::env::var(CHILD) {
            let c = FileCache::open(&root).unwrap();
            let me = std::process::id();
            for i in 0..30u32 {
                c.put(
                    &key(i % 5),
                    &entry("shared", format!("{me}-{i}").as_bytes()),
                )
                .unwrap();
                if let Some(e) = c.get(&key((i + 1) % 5)).unwrap() {
                    assert_eq!(Fingerprint::of(&e.output), e.fingerprint);
                }
            }
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let exe = std::env::current_exe().unwrap();
        let children: Vec<_> = (0..3)
            .map(|_| {
                std::process::Command::new(&exe)
                    .args([
                        "--exact",
                        "file::tests::processes_share_a_cache",
                        "--nocapture",
                    ])
                    .env(CHILD, dir.path())
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut child in children {
            assert!(child.wait().unwrap().success());
        }
        let c = open(dir.path());
        assert_eq!(
            c.keys().unwrap(),
            (0..5)
                .map(key)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
        );
        for k in 0..5 {
            let e = c.get(&key(k)).unwrap().unwrap();
            assert!(String::from_utf8(e.output).unwrap().contains('-'));
        }
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("entries"))
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| fsutil::is_temp_name(&e.file_name().to_string_lossy()))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
