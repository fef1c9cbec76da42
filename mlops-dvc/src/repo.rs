//! [`Repository`]: datasets (files or directories) of a working directory, versioned into a
//! [`ContentStore`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{DvcError, Result};
use crate::file::{BUF_SIZE, FileContentStore};
use crate::model::{
    CheckoutOptions, CheckoutReport, DatasetKind, Diff, GcOptions, GcReport, Keep, LinkMode, Log,
    Modified, Phase, Progress, ProgressFn, Renamed, Rev, Status, TextDiff, TrackOptions, Tracked,
    TransferReport, Version,
};
use crate::path::{RelPath, bytes_os, os_bytes};
use crate::store::ContentStore;
use crate::tree::{self, EntryKind, ManifestEntry, TreeEntry};
use mlops_fs as fsutil;

/// Name of the repository's metadata folder inside the working directory.
pub const META_DIR: &str = ".mlops-dvc";
/// Suffix of pointer files: `data/train.csv` has `data/train.csv.dvc.json`.
pub const POINTER_SUFFIX: &str = ".dvc.json";
const POINTER_FORMAT: &str = "mlops-dvc-pointer/1";
/// A file whose mtime is this close to the moment it was hashed is re-hashed next time: a write
/// in the same timestamp tick would otherwise go unnoticed (git's "racy clean" problem).
const RACY_NS: i64 = 50_000_000;
/// Text diffs are computed for files up to this size.
const TEXT_DIFF_MAX: u64 = 64 * 1024 * 1024;
const SAMPLES: usize = 3;

type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// A data repository: a working directory whose datasets (files or folders, named by their path
/// relative to the working directory) are versioned into a [`ContentStore`].
///
/// Layout: `<workdir>/.mlops-dvc/` holds `cache/` (the default [`FileContentStore`]),
/// `datasets/<key>.log` (each dataset's versions, an append-only framed log), `state/<key>.json`
/// (the stat cache) and `lock`; each tracked dataset gets a pointer file `<path>.dvc.json` next
/// to it, meant to be committed to git. See `docs/formats.md`.
pub struct Repository {
    root: PathBuf,
    meta: PathBuf,
    store: Arc<dyn ContentStore>,
    fsync: bool,
    threads: usize,
    clock: Clock,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("root", &self.root)
            .field("store", &self.store)
            .field("fsync", &self.fsync)
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

/// One file found in the working copy.
#[derive(Debug, Clone)]
struct Scanned {
    rel: RelPath,
    abs: PathBuf,
    stat: Stat,
    exec: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Stat {
    size: u64,
    mtime_ns: i64,
    ino: u64,
}

impl Stat {
    fn of(m: &fs::Metadata) -> Self {
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

fn is_exec(m: &fs::Metadata) -> bool {
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

fn now_ns() -> i64 {
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
}

#[derive(Debug, Default)]
struct StatCache {
    map: HashMap<RelPath, (Stat, Digest, bool)>,
    dirty: bool,
}

impl StatCache {
    fn lookup(&self, rel: &RelPath, stat: &Stat) -> Option<Digest> {
        match self.map.get(rel) {
            Some((s, d, racy)) if s == stat && !racy => Some(*d),
            _ => None,
        }
    }

    fn record(&mut self, rel: RelPath, stat: Stat, digest: Digest, hashed_at_ns: i64) {
        let racy = stat.mtime_ns + RACY_NS > hashed_at_ns;
        self.map.insert(rel, (stat, digest, racy));
        self.dirty = true;
    }
}

/// The JSON pointer file committed to git.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pointer {
    format: String,
    /// The dataset's path relative to the pointer file's folder.
    path: RelPath,
    kind: DatasetKind,
    digest: Digest,
    size: u64,
    files: u64,
    version: u64,
}

/// A dataset version resolved to what checkout needs.
struct Resolved {
    version: u64,
    kind: DatasetKind,
    digest: Digest,
}

impl Repository {
    /// Open (initializing when absent) the repository of `workdir`, with its own
    /// [`FileContentStore`] in `.mlops-dvc/cache`.
    ///
    /// # Errors
    /// [`DvcError::Io`] when the folders cannot be created.
    pub fn open(workdir: impl AsRef<Path>) -> Result<Self> {
        let meta = workdir.as_ref().join(META_DIR);
        let store = FileContentStore::open(meta.join("cache"))?;
        Self::with_store(workdir, Arc::new(store))
    }

    /// Open the repository of `workdir` over any content store (its metadata still lives in
    /// `workdir/.mlops-dvc`).
    ///
    /// # Errors
    /// [`DvcError::Io`] when the folders cannot be created.
    pub fn with_store(workdir: impl AsRef<Path>, store: Arc<dyn ContentStore>) -> Result<Self> {
        let workdir = workdir.as_ref();
        fs::create_dir_all(workdir).map_err(|e| DvcError::io(workdir, e))?;
        let root = fs::canonicalize(workdir).map_err(|e| DvcError::io(workdir, e))?;
        let meta = root.join(META_DIR);
        for dir in [meta.clone(), meta.join("datasets"), meta.join("state")] {
            fs::create_dir_all(&dir).map_err(|e| DvcError::io(&dir, e))?;
            fsutil::remove_stray_temps(&dir).map_err(|e| DvcError::io(&dir, e))?;
        }
        let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Ok(Self {
            root,
            meta,
            store,
            fsync: true,
            threads,
            clock: Arc::new(Utc::now),
        })
    }

    /// Turn fsyncs of metadata and checked-out copies on (the default) or off. The store has its
    /// own setting ([`FileContentStore::with_fsync`]).
    #[must_use]
    pub fn with_fsync(mut self, fsync: bool) -> Self {
        self.fsync = fsync;
        self
    }

    /// Number of worker threads for hashing and checkout (default: the number of cores).
    #[must_use]
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Use another clock for version timestamps (tests, reproducible examples).
    #[must_use]
    pub fn with_clock(mut self, clock: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The working directory (canonical).
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The content store.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn ContentStore> {
        &self.store
    }

    // ----- paths, locks, logs -------------------------------------------------------------

    /// Turn a user-given dataset path (relative to the working directory, or absolute inside
    /// it) into its dataset name.
    fn dataset_rel(&self, path: &Path) -> Result<RelPath> {
        let rel = if path.is_absolute() {
            let parent = path.parent().unwrap_or(path);
            let canon = match fs::canonicalize(parent) {
                Ok(p) => p.join(path.file_name().unwrap_or_default()),
                Err(_) => path.to_path_buf(),
            };
            canon
                .strip_prefix(&self.root)
                .map_err(|_| {
                    DvcError::invalid(
                        "path",
                        format!("{} is outside the working directory", path.display()),
                    )
                })?
                .to_path_buf()
        } else {
            path.to_path_buf()
        };
        let rel = RelPath::from_path(&rel)?;
        if rel.is_root() {
            return Err(DvcError::invalid(
                "path",
                "the working directory itself cannot be a dataset",
            ));
        }
        if rel.components().next() == Some(META_DIR.as_bytes()) {
            return Err(DvcError::invalid(
                "path",
                format!("{rel} is inside the repository's metadata"),
            ));
        }
        Ok(rel)
    }

    /// Check that no existing component of `rel` under the root is a symlink (a symlink could
    /// lead a write or a read outside the working directory).
    fn check_no_symlinks(&self, base: &Path, rel: &RelPath, include_last: bool) -> Result<()> {
        let comps: Vec<&[u8]> = rel.components().collect();
        let n = if include_last {
            comps.len()
        } else {
            comps.len().saturating_sub(1)
        };
        let mut p = base.to_path_buf();
        for c in &comps[..n] {
            p.push(bytes_os(c));
            match fs::symlink_metadata(&p) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(DvcError::invalid(
                        "path",
                        format!(
                            "{} is a symlink; refusing to follow it out of {}",
                            p.display(),
                            base.display()
                        ),
                    ));
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(DvcError::io(&p, e)),
            }
        }
        Ok(())
    }

    fn key(rel: &RelPath) -> String {
        Digest::of_bytes(rel.as_bytes()).to_hex()[..32].to_owned()
    }

    fn log_path(&self, rel: &RelPath) -> PathBuf {
        self.meta
            .join("datasets")
            .join(format!("{}.log", Self::key(rel)))
    }

    fn state_path(&self, rel: &RelPath) -> PathBuf {
        self.meta
            .join("state")
            .join(format!("{}.json", Self::key(rel)))
    }

    fn pointer_path(&self, rel: &RelPath) -> PathBuf {
        let mut name = rel.file_name().to_vec();
        name.extend_from_slice(POINTER_SUFFIX.as_bytes());
        rel.parent().join_name(&name).under(&self.root)
    }

    fn lock(&self) -> Result<File> {
        let path = self.meta.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| DvcError::io(&path, e))?;
        file.lock().map_err(|e| DvcError::io(&path, e))?;
        Ok(file)
    }

    /// Read a dataset's version log; a torn last record (a crash mid-append) is dropped.
    fn read_log(&self, rel: &RelPath) -> Result<(Vec<Version>, Option<u64>)> {
        let path = self.log_path(rel);
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), None)),
            Err(e) => return Err(DvcError::io(&path, e)),
        };
        let scan = fsutil::scan_records(&data).map_err(|c| DvcError::Corrupt {
            path: path.clone(),
            detail: format!("damaged record at byte {}: {}", c.offset, c.detail),
        })?;
        if let Some(at) = scan.torn_at {
            tracing::warn!(path = %path.display(), at, "dropping a torn record at the end of a version log");
        }
        let mut versions = Vec::with_capacity(scan.records.len());
        for rec in scan.records {
            let v: Version = serde_json::from_slice(rec).map_err(|e| DvcError::Corrupt {
                path: path.clone(),
                detail: format!("bad version record: {e}"),
            })?;
            if v.dataset != *rel || v.version != versions.len() as u64 + 1 {
                return Err(DvcError::Corrupt {
                    path: path.clone(),
                    detail: format!("unexpected record for {} v{}", v.dataset, v.version),
                });
            }
            versions.push(v);
        }
        let torn = scan.torn_at.map(|_| scan.valid_len as u64);
        Ok((versions, torn))
    }

    fn append_log(&self, rel: &RelPath, v: &Version, torn: Option<u64>) -> Result<()> {
        let path = self.log_path(rel);
        if let Some(len) = torn {
            fsutil::truncate_to(&path, len, self.fsync).map_err(|e| DvcError::io(&path, e))?;
        }
        let payload = serde_json::to_vec(v).map_err(|e| DvcError::Serde {
            path: path.clone(),
            source: e,
        })?;
        let mut rec = Vec::new();
        fsutil::encode_record(&payload, &mut rec).map_err(|e| DvcError::io(&path, e))?;
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| DvcError::io(&path, e))?;
        file.write_all(&rec).map_err(|e| DvcError::io(&path, e))?;
        if self.fsync {
            file.sync_all().map_err(|e| DvcError::io(&path, e))?;
            fsutil::sync_dir(path.parent().unwrap_or(&self.meta))
                .map_err(|e| DvcError::io(&path, e))?;
        }
        Ok(())
    }

    fn load_cache(&self, rel: &RelPath) -> StatCache {
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
                dirty: false,
            },
            _ => {
                tracing::warn!(path = %path.display(), "ignoring a damaged stat cache");
                StatCache::default()
            }
        }
    }

    fn save_cache(&self, rel: &RelPath, cache: &StatCache) -> Result<()> {
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
        };
        let bytes = serde_json::to_vec(&file).map_err(|e| DvcError::Serde {
            path: path.clone(),
            source: e,
        })?;
        // Not fsynced: losing it costs a re-hash, never a wrong answer.
        fsutil::write_atomic(&path, &bytes, false).map_err(|e| DvcError::io(&path, e))
    }

    fn read_pointer_at(&self, rel: &RelPath) -> Result<Option<Pointer>> {
        let path = self.pointer_path(rel);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(DvcError::io(&path, e)),
        };
        let p: Pointer = serde_json::from_slice(&bytes).map_err(|e| DvcError::Corrupt {
            path: path.clone(),
            detail: format!("not a pointer file (truncated or edited?): {e}"),
        })?;
        if p.format != POINTER_FORMAT {
            return Err(DvcError::Corrupt {
                path,
                detail: format!("unknown pointer format {:?}", p.format),
            });
        }
        // The pointer names its dataset relative to its own folder; it must be exactly the file
        // next to it, so a pointer can never direct a checkout elsewhere.
        if p.path.as_bytes() != rel.file_name() {
            return Err(DvcError::invalid(
                "path",
                format!(
                    "pointer file {} names {:?}, not the dataset next to it ({:?})",
                    path.display(),
                    p.path.to_string(),
                    String::from_utf8_lossy(rel.file_name())
                ),
            ));
        }
        Ok(Some(p))
    }

    fn write_pointer(&self, v: &Version) -> Result<()> {
        let path = self.pointer_path(&v.dataset);
        let p = Pointer {
            format: POINTER_FORMAT.to_owned(),
            path: RelPath::from_bytes(v.dataset.file_name())?,
            kind: v.kind,
            digest: v.digest,
            size: v.size,
            files: v.files,
            version: v.version,
        };
        let mut bytes = serde_json::to_vec_pretty(&p).map_err(|e| DvcError::Serde {
            path: path.clone(),
            source: e,
        })?;
        bytes.push(b'\n');
        if fs::read(&path).is_ok_and(|old| old == bytes) {
            return Ok(());
        }
        fsutil::write_atomic(&path, &bytes, self.fsync).map_err(|e| DvcError::io(&path, e))
    }

    // ----- scanning and hashing -----------------------------------------------------------

    /// Find the files of a dataset at `abs` (a file or a folder). Returns the kind, the files
    /// (paths relative to `abs`) and every folder (for empty ones).
    fn scan(abs: &Path) -> Result<(DatasetKind, Vec<Scanned>, Vec<RelPath>)> {
        let meta = fs::symlink_metadata(abs).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => DvcError::NotFound {
                kind: "file or folder",
                id: abs.display().to_string(),
            },
            _ => DvcError::io(abs, e),
        })?;
        if meta.is_file() {
            let s = Scanned {
                rel: RelPath::root(),
                abs: abs.to_path_buf(),
                stat: Stat::of(&meta),
                exec: is_exec(&meta),
            };
            return Ok((DatasetKind::File, vec![s], Vec::new()));
        }
        if !meta.is_dir() {
            return Err(unsupported(abs, &meta));
        }
        let mut files = Vec::new();
        let mut dirs = Vec::new();
        let mut stack = vec![(abs.to_path_buf(), RelPath::root())];
        while let Some((dir, rel)) = stack.pop() {
            dirs.push(rel.clone());
            let rd = fs::read_dir(&dir).map_err(|e| DvcError::io(&dir, e))?;
            for entry in rd {
                let entry = entry.map_err(|e| DvcError::io(&dir, e))?;
                let path = entry.path();
                let name = os_bytes(&entry.file_name())?;
                let child = RelPath::from_bytes(&name)
                    .map(|_| rel.join_name(&name))
                    .map_err(|e| DvcError::invalid("path", format!("{}: {e}", path.display())))?;
                let m = entry.metadata().map_err(|e| DvcError::io(&path, e))?;
                if m.is_dir() {
                    stack.push((path, child));
                } else if m.is_file() {
                    files.push(Scanned {
                        rel: child,
                        abs: path,
                        stat: Stat::of(&m),
                        exec: is_exec(&m),
                    });
                } else {
                    return Err(unsupported(&path, &m));
                }
            }
        }
        files.sort_by(|a, b| a.rel.cmp(&b.rel));
        dirs.sort();
        Ok((DatasetKind::Dir, files, dirs))
    }

    /// Digest every file: from the stat cache when its stat is unchanged, else by reading it
    /// (storing it when `store` is set). Parallel over `self.threads`; constant memory per
    /// thread. Returns the digests in `files` order and how many files were read.
    fn hash_all(
        &self,
        files: &[Scanned],
        cache: &Mutex<StatCache>,
        store: Option<LinkMode>,
        progress: Option<&ProgressFn>,
    ) -> Result<(Vec<Digest>, u64)> {
        let total_bytes: u64 = files.iter().map(|f| f.stat.size).sum();
        let known: Vec<Option<Digest>> = {
            let c = cache.lock();
            files.iter().map(|f| c.lookup(&f.rel, &f.stat)).collect()
        };
        if store.is_none() && known.iter().all(Option::is_some) {
            // Every stat matched the cache: nothing to read, no threads to start.
            return Ok((known.into_iter().flatten().collect(), 0));
        }
        let results: Vec<Mutex<Option<Digest>>> = known.iter().map(|k| Mutex::new(*k)).collect();
        let next = AtomicUsize::new(0);
        let done_files = AtomicU64::new(0);
        let done_bytes = AtomicU64::new(0);
        let rehashed = AtomicU64::new(0);
        let failed = AtomicBool::new(false);
        let first_error: Mutex<Option<DvcError>> = Mutex::new(None);
        let report = |files_done: u64, bytes_done: u64| {
            if let Some(p) = progress {
                p(&Progress {
                    phase: Phase::Hashing,
                    files_done,
                    files_total: files.len() as u64,
                    bytes_done,
                    bytes_total: total_bytes,
                });
            }
        };
        let work = || {
            while !failed.load(Ordering::Relaxed) {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(f) = files.get(i) else { break };
                let outcome = match known[i] {
                    Some(d) if store.is_none() => Ok(d),
                    Some(d) => match self.store.contains(&d) {
                        Ok(true) => Ok(d),
                        Ok(false) => self.ingest(f, store),
                        Err(e) => Err(e),
                    },
                    None => self.ingest(f, store),
                };
                match outcome {
                    Ok(d) => {
                        if known[i] != Some(d) {
                            rehashed.fetch_add(1, Ordering::Relaxed);
                            cache.lock().record(f.rel.clone(), f.stat, d, now_ns());
                        }
                        *results[i].lock() = Some(d);
                        let nf = done_files.fetch_add(1, Ordering::Relaxed) + 1;
                        let nb = done_bytes.fetch_add(f.stat.size, Ordering::Relaxed) + f.stat.size;
                        report(nf, nb);
                    }
                    Err(e) => {
                        failed.store(true, Ordering::Relaxed);
                        first_error.lock().get_or_insert(e);
                    }
                }
            }
        };
        let threads = self.threads.min(files.len()).max(1);
        if threads == 1 {
            work();
        } else {
            std::thread::scope(|s| {
                for _ in 0..threads {
                    s.spawn(work);
                }
            });
        }
        if let Some(e) = first_error.into_inner() {
            return Err(e);
        }
        let digests = results
            .into_iter()
            .zip(files)
            .map(|(m, f)| {
                m.into_inner().ok_or_else(|| {
                    DvcError::Conflict(format!("{} was not hashed", f.abs.display()))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((digests, rehashed.into_inner()))
    }

    /// Read one file (storing it, by copy or hardlink, when `store` is set), checking it did not
    /// change meanwhile.
    fn ingest(&self, f: &Scanned, store: Option<LinkMode>) -> Result<Digest> {
        let mut file = File::open(&f.abs).map_err(|e| match e.kind() {
            // Listed a moment ago, gone now: it changed while being read.
            io::ErrorKind::NotFound => DvcError::Changed {
                path: f.abs.clone(),
            },
            _ => DvcError::io(&f.abs, e),
        })?;
        if store == Some(LinkMode::Hardlink) {
            let (digest, read) =
                Digest::of_reader(&mut file).map_err(|e| DvcError::io(&f.abs, e))?;
            drop(file);
            self.check_unchanged(f, read)?;
            if self.store.put_hardlink(&f.abs, &digest)?.is_some() {
                self.check_unchanged(f, read)?;
                return Ok(digest);
            }
            return self.ingest(f, Some(LinkMode::Copy));
        }
        let (digest, read) = if store.is_some() {
            let put = self.store.put_reader(&mut file).map_err(|e| match e {
                DvcError::Io { source, .. } if source.kind() != io::ErrorKind::Other => {
                    DvcError::io(&f.abs, source)
                }
                other => other,
            })?;
            (put.digest, put.size)
        } else {
            Digest::of_reader(&mut file).map_err(|e| DvcError::io(&f.abs, e))?
        };
        self.check_unchanged(f, read)?;
        Ok(digest)
    }

    /// Fail with [`DvcError::Changed`] when the file no longer has the stat it was scanned with.
    fn check_unchanged(&self, f: &Scanned, read: u64) -> Result<()> {
        let _ = self;
        let after = fs::metadata(&f.abs).map_err(|e| DvcError::io(&f.abs, e))?;
        if read != f.stat.size || Stat::of(&after) != f.stat {
            return Err(DvcError::Changed {
                path: f.abs.clone(),
            });
        }
        Ok(())
    }

    /// Build and store the trees of a scanned folder; returns the root digest.
    fn write_trees(
        &self,
        files: &[Scanned],
        digests: &[Digest],
        dirs: &[RelPath],
    ) -> Result<(Digest, u64, u64)> {
        let mut children: BTreeMap<RelPath, Vec<TreeEntry>> = BTreeMap::new();
        for d in dirs {
            children.entry(d.clone()).or_default();
        }
        for (f, d) in files.iter().zip(digests) {
            children.entry(f.rel.parent()).or_default().push(TreeEntry {
                name: f.rel.file_name().to_vec(),
                kind: EntryKind::File,
                digest: *d,
                size: f.stat.size,
                files: 1,
                exec: f.exec,
            });
        }
        // Deepest folders first, so every child tree exists before its parent.
        let mut order: Vec<RelPath> = children.keys().cloned().collect();
        order.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        let mut root = None;
        for dir in order {
            let entries = children.remove(&dir).unwrap_or_default();
            let (digest, size, nfiles) = tree::write_tree(&*self.store, entries)?;
            if dir.is_root() {
                root = Some((digest, size, nfiles));
            } else {
                children.entry(dir.parent()).or_default().push(TreeEntry {
                    name: dir.file_name().to_vec(),
                    kind: EntryKind::Dir,
                    digest,
                    size,
                    files: nfiles,
                    exec: false,
                });
            }
        }
        root.ok_or_else(|| DvcError::Conflict("folder vanished while being scanned".into()))
    }

    // ----- the public API -----------------------------------------------------------------

    /// Record the current content of `path` (a file or a folder, relative to the working
    /// directory) as a new version of that dataset, with `message`; or report
    /// [`Tracked::Unchanged`] and create none when it equals the latest version.
    ///
    /// Files whose size, mtime and inode match the stat cache are not re-read. New content is
    /// hashed and stored in one streaming pass, in parallel across files.
    ///
    /// # Errors
    /// [`DvcError::NotFound`] when `path` does not exist; [`DvcError::InvalidArgument`] for a
    /// path outside the working directory, a symlink or a special file inside the dataset;
    /// [`DvcError::Changed`] when a file changed while it was read (nothing is recorded; retry);
    /// [`DvcError::Io`] naming an unreadable file.
    pub fn track(&self, path: impl AsRef<Path>, message: &str) -> Result<Tracked> {
        self.track_with(path, message, &TrackOptions::default())
    }

    /// [`track`](Self::track) with tags and a progress callback.
    ///
    /// # Errors
    /// As [`track`](Self::track).
    pub fn track_with(
        &self,
        path: impl AsRef<Path>,
        message: &str,
        options: &TrackOptions,
    ) -> Result<Tracked> {
        let rel = self.dataset_rel(path.as_ref())?;
        let _lock = self.lock()?;
        self.check_no_symlinks(&self.root, &rel, true)?;
        let abs = rel.under(&self.root);
        let (kind, files, dirs) = Self::scan(&abs)?;
        let cache = Mutex::new(self.load_cache(&rel));
        let (digests, _) = self.hash_all(
            &files,
            &cache,
            Some(options.link),
            options.progress.as_ref(),
        )?;
        let (digest, size, nfiles) = match kind {
            DatasetKind::File => (digests[0], files[0].stat.size, 1),
            DatasetKind::Dir => self.write_trees(&files, &digests, &dirs)?,
        };
        {
            let mut c = cache.lock();
            let present: HashSet<&RelPath> = files.iter().map(|f| &f.rel).collect();
            let before = c.map.len();
            c.map.retain(|k, _| present.contains(k));
            if c.map.len() != before {
                c.dirty = true;
            }
        }
        self.save_cache(&rel, &cache.into_inner())?;
        let (log, torn) = self.read_log(&rel)?;
        let current = self.current(&rel, &log);
        for candidate in [current, log.last()].into_iter().flatten() {
            if candidate.digest == digest && candidate.kind == kind {
                self.write_pointer(candidate)?;
                return Ok(Tracked::Unchanged(candidate.clone()));
            }
        }
        let next = log.len() as u64 + 1;
        let version = Version {
            dataset: rel.clone(),
            version: next,
            kind,
            digest,
            size,
            files: nfiles,
            message: message.to_owned(),
            timestamp: (self.clock)(),
            tags: options.tags.clone(),
        };
        self.append_log(&rel, &version, torn)?;
        self.write_pointer(&version)?;
        Ok(Tracked::New(version))
    }

    /// The version the working copy is meant to hold: the one the pointer file names when it
    /// agrees with the log (after a `checkout` in place or a `git checkout`), else the latest.
    fn current<'a>(&self, rel: &RelPath, log: &'a [Version]) -> Option<&'a Version> {
        let pointer = self.read_pointer_at(rel).ok().flatten();
        pointer
            .and_then(|p| {
                log.iter()
                    .find(|v| v.version == p.version && v.digest == p.digest)
            })
            .or_else(|| log.last())
    }

    /// Every version of a dataset, oldest first.
    ///
    /// # Errors
    /// [`DvcError::NotFound`] when the dataset has no version; [`DvcError::Corrupt`] for a
    /// damaged log.
    pub fn log(&self, dataset: impl AsRef<Path>) -> Result<Log> {
        let rel = self.dataset_rel(dataset.as_ref())?;
        let (log, _) = self.read_log(&rel)?;
        if log.is_empty() {
            return Err(not_found_dataset(&rel));
        }
        Ok(Log(log))
    }

    /// The datasets that have at least one version, sorted.
    ///
    /// # Errors
    /// [`DvcError::Io`] or [`DvcError::Corrupt`] on a damaged log.
    pub fn datasets(&self) -> Result<Vec<RelPath>> {
        let dir = self.meta.join("datasets");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| DvcError::io(&dir, e))? {
            let entry = entry.map_err(|e| DvcError::io(&dir, e))?;
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "log") {
                continue;
            }
            let data = fs::read(&path).map_err(|e| DvcError::io(&path, e))?;
            let scan = fsutil::scan_records(&data).map_err(|c| DvcError::Corrupt {
                path: path.clone(),
                detail: c.detail,
            })?;
            if let Some(first) = scan.records.first() {
                let v: Version = serde_json::from_slice(first).map_err(|e| DvcError::Corrupt {
                    path: path.clone(),
                    detail: e.to_string(),
                })?;
                out.push(v.dataset);
            }
        }
        out.sort();
        Ok(out)
    }

    fn resolve(&self, rel: &RelPath, rev: Rev) -> Result<Resolved> {
        let (log, _) = self.read_log(rel)?;
        let from_version = |v: &Version| Resolved {
            version: v.version,
            kind: v.kind,
            digest: v.digest,
        };
        let from_pointer = |p: Pointer| Resolved {
            version: p.version,
            kind: p.kind,
            digest: p.digest,
        };
        match rev {
            Rev::Latest => match log.last() {
                Some(v) => Ok(from_version(v)),
                None => self
                    .read_pointer_at(rel)?
                    .map(from_pointer)
                    .ok_or_else(|| not_found_dataset(rel)),
            },
            Rev::Number(n) => {
                if let Some(v) = log.iter().find(|v| v.version == n) {
                    return Ok(from_version(v));
                }
                if log.is_empty() {
                    match self.read_pointer_at(rel)? {
                        Some(p) if p.version == n => return Ok(from_pointer(p)),
                        None => return Err(not_found_dataset(rel)),
                        Some(_) => {}
                    }
                }
                Err(DvcError::NotFound {
                    kind: "version",
                    id: format!("{rel} v{n}"),
                })
            }
            Rev::Pointer => {
                self.read_pointer_at(rel)?
                    .map(from_pointer)
                    .ok_or_else(|| DvcError::NotFound {
                        kind: "pointer file",
                        id: self.pointer_path(rel).display().to_string(),
                    })
            }
        }
    }

    /// The files of a version: (path, digest, size, exec), plus every folder.
    fn manifest(&self, r: &Resolved) -> Result<tree::Flat> {
        match r.kind {
            DatasetKind::File => {
                let size = self.store.size(&r.digest)?;
                Ok(tree::Flat {
                    files: vec![ManifestEntry {
                        path: RelPath::root(),
                        digest: r.digest,
                        size,
                        exec: false,
                    }],
                    dirs: Vec::new(),
                    trees: Vec::new(),
                })
            }
            DatasetKind::Dir => tree::flatten(&*self.store, &r.digest),
        }
    }

    /// The files of a version (paths relative to the dataset; one entry with the empty path for
    /// a file dataset).
    ///
    /// # Errors
    /// [`DvcError::NotFound`] for an unknown dataset, version or missing tree object;
    /// [`DvcError::Corrupt`] for a damaged tree.
    pub fn files(
        &self,
        dataset: impl AsRef<Path>,
        rev: impl Into<Rev>,
    ) -> Result<Vec<ManifestEntry>> {
        let rel = self.dataset_rel(dataset.as_ref())?;
        let r = self.resolve(&rel, rev.into())?;
        Ok(self.manifest(&r)?.files)
    }

    /// What changed in the working copy of `dataset`: added, modified and deleted files, against
    /// the version its pointer file names (the one last tracked or checked out in place; like
    /// `dvc status` against the `.dvc` file), or the latest when there is no pointer. Only files
    /// whose size, mtime or inode changed are re-hashed.
    ///
    /// # Errors
    /// [`DvcError::NotFound`] for an unknown dataset; I/O errors naming the file.
    pub fn status(&self, dataset: impl AsRef<Path>) -> Result<Status> {
        let rel = self.dataset_rel(dataset.as_ref())?;
        let _lock = self.lock()?;
        let (log, _) = self.read_log(&rel)?;
        let r = match self.current(&rel, &log) {
            Some(v) => Resolved {
                version: v.version,
                kind: v.kind,
                digest: v.digest,
            },
            None => self
                .resolve(&rel, Rev::Pointer)
                .map_err(|_| not_found_dataset(&rel))?,
        };
        let flat = self.manifest(&r)?;
        let abs = rel.under(&self.root);
        self.check_no_symlinks(&self.root, &rel, true)?;
        let (kind, files, _) = match Self::scan(&abs) {
            Ok(s) => s,
            Err(DvcError::NotFound { .. }) => (r.kind, Vec::new(), Vec::new()),
            Err(e) => return Err(e),
        };
        let cache = Mutex::new(self.load_cache(&rel));
        let files = if kind == r.kind { files } else { Vec::new() };
        let (digests, rehashed) = self.hash_all(&files, &cache, None, None)?;
        self.save_cache(&rel, &cache.into_inner())?;
        let old: HashMap<&RelPath, &Digest> =
            flat.files.iter().map(|e| (&e.path, &e.digest)).collect();
        let mut status = Status {
            version: r.version,
            rehashed,
            ..Status::default()
        };
        let mut seen = HashSet::new();
        for (f, d) in files.iter().zip(&digests) {
            seen.insert(&f.rel);
            match old.get(&f.rel) {
                None => status.added.push(f.rel.clone()),
                Some(o) if *o != d => status.modified.push(f.rel.clone()),
                Some(_) => status.unchanged += 1,
            }
        }
        for e in &flat.files {
            if !seen.contains(&e.path) {
                status.deleted.push(e.path.clone());
            }
        }
        Ok(status)
    }

    /// Compare two versions: files added, removed, modified and renamed (identical content under
    /// a new path); for a file dataset whose versions are both UTF-8 text, a line diff.
    ///
    /// # Errors
    /// [`DvcError::NotFound`] for an unknown dataset, version or object; [`DvcError::Corrupt`]
    /// for a damaged object.
    pub fn diff(
        &self,
        dataset: impl AsRef<Path>,
        from: impl Into<Rev>,
        to: impl Into<Rev>,
    ) -> Result<Diff> {
        let rel = self.dataset_rel(dataset.as_ref())?;
        let a = self.resolve(&rel, from.into())?;
        let b = self.resolve(&rel, to.into())?;
        let fa = self.manifest(&a)?;
        let fb = self.manifest(&b)?;
        let mut diff = Diff {
            dataset: rel,
            from: a.version,
            to: b.version,
            added: Vec::new(),
            removed: Vec::new(),
            modified: Vec::new(),
            renamed: Vec::new(),
            unchanged: 0,
            text: None,
        };
        let old: HashMap<&RelPath, &ManifestEntry> =
            fa.files.iter().map(|e| (&e.path, e)).collect();
        let new: HashMap<&RelPath, &ManifestEntry> =
            fb.files.iter().map(|e| (&e.path, e)).collect();
        let mut added = Vec::new();
        for e in &fb.files {
            match old.get(&e.path) {
                None => added.push(e),
                Some(o) if o.digest != e.digest => diff.modified.push(Modified {
                    path: e.path.clone(),
                    old: o.digest,
                    new: e.digest,
                    old_size: o.size,
                    new_size: e.size,
                }),
                Some(_) => diff.unchanged += 1,
            }
        }
        // Renames: a removed path and an added path with the same content, paired in path order.
        let mut removed_by_digest: HashMap<Digest, Vec<&ManifestEntry>> = HashMap::new();
        for e in fa.files.iter().filter(|e| !new.contains_key(&e.path)) {
            removed_by_digest.entry(e.digest).or_default().push(e);
        }
        for list in removed_by_digest.values_mut() {
            list.reverse();
        }
        for e in added {
            match removed_by_digest.get_mut(&e.digest).and_then(Vec::pop) {
                Some(from) => diff.renamed.push(Renamed {
                    from: from.path.clone(),
                    to: e.path.clone(),
                    digest: e.digest,
                }),
                None => diff.added.push(e.path.clone()),
            }
        }
        let mut removed: Vec<RelPath> = removed_by_digest
            .into_values()
            .flatten()
            .map(|e| e.path.clone())
            .collect();
        removed.sort();
        diff.removed = removed;
        if a.kind == DatasetKind::File && b.kind == DatasetKind::File {
            diff.text = self.text_diff(&a.digest, &b.digest)?;
        }
        Ok(diff)
    }

    fn read_text(&self, d: &Digest) -> Result<Option<String>> {
        if self.store.size(d)? > TEXT_DIFF_MAX {
            return Ok(None);
        }
        let mut bytes = Vec::new();
        self.store
            .open(d)?
            .read_to_end(&mut bytes)
            .map_err(|e| DvcError::from_io(format!("object {d}"), e))?;
        if bytes.contains(&0) {
            return Ok(None);
        }
        Ok(String::from_utf8(bytes).ok())
    }

    fn text_diff(&self, a: &Digest, b: &Digest) -> Result<Option<TextDiff>> {
        let (Some(ta), Some(tb)) = (self.read_text(a)?, self.read_text(b)?) else {
            return Ok(None);
        };
        Ok(Some(line_diff(&ta, &tb)))
    }

    /// Restore a version of `dataset` (by default to its own path), atomically per file.
    ///
    /// Everything is checked before anything is overwritten: the version's objects must exist
    /// with their recorded sizes, and every file is first written (copied with verification, or
    /// hardlinked) to a temp next to its destination; only when all are ready are they renamed
    /// into place. Files already equal are left alone. With
    /// [`remove_extra`](CheckoutOptions::remove_extra), files not in the version are removed,
    /// only inside the destination folder.
    ///
    /// # Errors
    /// [`DvcError::NotFound`] for an unknown dataset or version, or a missing object;
    /// [`DvcError::Corrupt`] for a damaged object (nothing was overwritten);
    /// [`DvcError::InvalidArgument`] when a destination folder is a symlink;
    /// [`DvcError::Conflict`] when a folder stands where a file goes (or the reverse).
    pub fn checkout(
        &self,
        dataset: impl AsRef<Path>,
        rev: impl Into<Rev>,
        options: &CheckoutOptions,
    ) -> Result<CheckoutReport> {
        let rel = self.dataset_rel(dataset.as_ref())?;
        let _lock = self.lock()?;
        let r = self.resolve(&rel, rev.into())?;
        let flat = self.manifest(&r)?;
        let own = options.destination.is_none();
        let dest = match &options.destination {
            None => {
                self.check_no_symlinks(&self.root, &rel, true)?;
                rel.under(&self.root)
            }
            Some(p) if p.is_absolute() => p.clone(),
            Some(p) => self.root.join(p),
        };
        // The destination folder itself must not be a symlink either.
        if let Ok(m) = fs::symlink_metadata(&dest)
            && m.file_type().is_symlink()
        {
            return Err(DvcError::invalid(
                "path",
                format!(
                    "{} is a symlink; refusing to write through it",
                    dest.display()
                ),
            ));
        }
        // 1. Every object is there, with its recorded size (and re-hashed with `verify`).
        for e in &flat.files {
            let size = self.store.size(&e.digest).map_err(|err| match err {
                DvcError::NotFound { .. } => DvcError::NotFound {
                    kind: "object",
                    id: format!("{} (file {} of {rel})", e.digest, e.path),
                },
                other => other,
            })?;
            if size != e.size {
                return Err(DvcError::Corrupt {
                    path: self
                        .store
                        .local_path(&e.digest)
                        .unwrap_or_else(|| format!("object {}", e.digest).into()),
                    detail: format!("object has {size} bytes, the version records {}", e.size),
                });
            }
            if options.verify {
                self.store.verify(&e.digest)?;
            }
        }
        // 2. Plan: which files need writing; check no folder stands in the way.
        let cache = Mutex::new(if own {
            self.load_cache(&rel)
        } else {
            StatCache::default()
        });
        let mut todo = Vec::new();
        let mut report = CheckoutReport {
            version: r.version,
            ..CheckoutReport::default()
        };
        // Folders first: none may be a symlink or a file; remember which do not exist yet (their
        // files need no look).
        let mut fresh: HashSet<&RelPath> = HashSet::new();
        for d in &flat.dirs {
            self.check_no_symlinks(&dest, d, true)?;
            let p = d.under(&dest);
            match fs::symlink_metadata(&p) {
                Ok(m) if !m.is_dir() => {
                    return Err(DvcError::Conflict(format!(
                        "{} is a file where the version has a folder",
                        p.display()
                    )));
                }
                Ok(_) => {}
                Err(_) => {
                    fresh.insert(d);
                }
            }
        }
        for e in &flat.files {
            let target = e.path.under(&dest);
            if !e.path.is_root() && fresh.contains(&e.path.parent()) {
                todo.push((e, target));
                continue;
            }
            match fs::symlink_metadata(&target) {
                Ok(m) if m.is_dir() => {
                    return Err(DvcError::Conflict(format!(
                        "{} is a folder where the version has a file",
                        target.display()
                    )));
                }
                Ok(m) if m.is_file() => {
                    let stat = Stat::of(&m);
                    let same = cache.lock().lookup(&e.path, &stat) == Some(e.digest)
                        || self
                            .store
                            .local_path(&e.digest)
                            .and_then(|p| fs::metadata(p).ok())
                            .is_some_and(|om| Stat::of(&om).ino == stat.ino && stat.ino != 0);
                    if same && is_exec(&m) == e.exec {
                        report.unchanged += 1;
                        continue;
                    }
                }
                _ => {}
            }
            todo.push((e, target));
        }
        // 3. Write every file to a temp next to its destination.
        for d in &flat.dirs {
            let p = d.under(&dest);
            fs::create_dir_all(&p).map_err(|e| DvcError::io(&p, e))?;
        }
        if flat.dirs.is_empty()
            && let Some(parent) = dest.parent()
        {
            fs::create_dir_all(parent).map_err(|e| DvcError::io(parent, e))?;
        }
        let temps = self.materialize(&todo, options)?;
        // 4. Rename them all into place.
        for ((e, target), (temp, linked)) in todo.iter().zip(&temps) {
            if let Err(err) = fs::rename(temp, target) {
                for (t, _) in &temps {
                    let _ = fs::remove_file(t);
                }
                return Err(DvcError::io(target, err));
            }
            report.written += 1;
            report.bytes += e.size;
            if *linked {
                report.linked += 1;
            }
            if own && let Ok(m) = fs::metadata(target) {
                cache
                    .lock()
                    .record(e.path.clone(), Stat::of(&m), e.digest, now_ns());
            }
        }
        if self.fsync && !todo.is_empty() {
            let mut dirs: Vec<&Path> = todo.iter().filter_map(|(_, t)| t.parent()).collect();
            dirs.sort();
            dirs.dedup();
            for d in dirs {
                fsutil::sync_dir(d).map_err(|e| DvcError::io(d, e))?;
            }
        }
        // 5. Extra files, only inside the destination folder.
        if options.remove_extra && r.kind == DatasetKind::Dir {
            report.removed = remove_extra(&dest, &flat)?;
        }
        if own {
            self.save_cache(&rel, &cache.into_inner())?;
            // The pointer follows the working copy, as after a `dvc checkout`.
            let (log, _) = self.read_log(&rel)?;
            if let Some(v) = log
                .iter()
                .find(|v| v.version == r.version && v.digest == r.digest)
            {
                self.write_pointer(v)?;
            }
        }
        Ok(report)
    }

    /// Write each planned file to a temp (copy or hardlink); all-or-nothing.
    fn materialize(
        &self,
        todo: &[(&ManifestEntry, PathBuf)],
        options: &CheckoutOptions,
    ) -> Result<Vec<(PathBuf, bool)>> {
        let total_bytes: u64 = todo.iter().map(|(e, _)| e.size).sum();
        let results: Vec<Mutex<Option<(PathBuf, bool)>>> =
            todo.iter().map(|_| Mutex::new(None)).collect();
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let first_error: Mutex<Option<DvcError>> = Mutex::new(None);
        let done_files = AtomicU64::new(0);
        let done_bytes = AtomicU64::new(0);
        let work = || {
            while !failed.load(Ordering::Relaxed) {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((e, target)) = todo.get(i) else {
                    break;
                };
                match self.write_one(e, target, options.link) {
                    Ok(t) => {
                        *results[i].lock() = Some(t);
                        let nf = done_files.fetch_add(1, Ordering::Relaxed) + 1;
                        let nb = done_bytes.fetch_add(e.size, Ordering::Relaxed) + e.size;
                        if let Some(p) = &options.progress {
                            p(&Progress {
                                phase: Phase::Checkout,
                                files_done: nf,
                                files_total: todo.len() as u64,
                                bytes_done: nb,
                                bytes_total: total_bytes,
                            });
                        }
                    }
                    Err(err) => {
                        failed.store(true, Ordering::Relaxed);
                        first_error.lock().get_or_insert(err);
                    }
                }
            }
        };
        let threads = self.threads.min(todo.len()).max(1);
        if threads == 1 {
            work();
        } else {
            std::thread::scope(|s| {
                for _ in 0..threads {
                    s.spawn(work);
                }
            });
        }
        let done: Vec<Option<(PathBuf, bool)>> =
            results.into_iter().map(Mutex::into_inner).collect();
        if let Some(err) = first_error.into_inner() {
            for (t, _) in done.into_iter().flatten() {
                let _ = fs::remove_file(t);
            }
            return Err(err);
        }
        Ok(done.into_iter().flatten().collect())
    }

    fn write_one(
        &self,
        e: &ManifestEntry,
        target: &Path,
        link: LinkMode,
    ) -> Result<(PathBuf, bool)> {
        let temp = temp_next_to(target)?;
        if link == LinkMode::Hardlink
            && !e.exec
            && let Some(obj) = self.store.local_path(&e.digest)
            && fs::metadata(&obj).is_ok_and(|m| m.permissions().readonly())
        {
            fs::hard_link(&obj, &temp).map_err(|err| DvcError::io(&temp, err))?;
            return Ok((temp, true));
        }
        let result = (|| {
            let mut reader = self.store.open(&e.digest)?;
            let mut out = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temp)
                .map_err(|err| DvcError::io(&temp, err))?;
            let mut buf = vec![
                0u8;
                BUF_SIZE
                    .min(usize::try_from(e.size).unwrap_or(BUF_SIZE))
                    .max(8192)
            ];
            loop {
                let n = match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                    Err(err) => return Err(DvcError::from_io(format!("object {}", e.digest), err)),
                };
                out.write_all(&buf[..n])
                    .map_err(|err| DvcError::io(&temp, err))?;
            }
            #[cfg(unix)]
            if e.exec {
                use std::os::unix::fs::PermissionsExt;
                out.set_permissions(fs::Permissions::from_mode(0o755))
                    .map_err(|err| DvcError::io(&temp, err))?;
            }
            if self.fsync {
                out.sync_all().map_err(|err| DvcError::io(&temp, err))?;
            }
            Ok(())
        })();
        match result {
            Ok(()) => Ok((temp, false)),
            Err(err) => {
                let _ = fs::remove_file(&temp);
                Err(err)
            }
        }
    }

    // ----- remotes and gc -----------------------------------------------------------------

    /// The objects (files, then trees children-first) that `roots` reach in `source`.
    fn reachable(
        source: &dyn ContentStore,
        roots: &[(DatasetKind, Digest)],
    ) -> Result<(Vec<Digest>, Vec<Digest>)> {
        let mut files = Vec::new();
        let mut trees = Vec::new();
        let mut seen_files = HashSet::new();
        let mut seen_trees = HashSet::new();
        for (kind, d) in roots {
            match kind {
                DatasetKind::File => {
                    if seen_files.insert(*d) {
                        files.push(*d);
                    }
                }
                DatasetKind::Dir => {
                    if seen_trees.contains(d) {
                        continue;
                    }
                    let flat = tree::flatten(source, d)?;
                    for e in flat.files {
                        if seen_files.insert(e.digest) {
                            files.push(e.digest);
                        }
                    }
                    // `flatten` lists parents before children: reverse for children-first.
                    for t in flat.trees.into_iter().rev() {
                        if seen_trees.insert(t) {
                            trees.push(t);
                        }
                    }
                }
            }
        }
        Ok((files, trees))
    }

    /// Datasets that have a pointer file somewhere in the working directory (symlinks are not
    /// followed; the metadata folder is skipped).
    fn pointer_datasets(&self) -> Result<Vec<RelPath>> {
        let mut out = Vec::new();
        let mut stack = vec![(self.root.clone(), RelPath::root())];
        while let Some((dir, rel)) = stack.pop() {
            let rd = fs::read_dir(&dir).map_err(|e| DvcError::io(&dir, e))?;
            for entry in rd {
                let entry = entry.map_err(|e| DvcError::io(&dir, e))?;
                let name = os_bytes(&entry.file_name())?;
                if rel.is_root() && name == META_DIR.as_bytes() {
                    continue;
                }
                let ft = entry
                    .file_type()
                    .map_err(|e| DvcError::io(entry.path(), e))?;
                if ft.is_dir() {
                    if RelPath::from_bytes(&name).is_ok() {
                        stack.push((entry.path(), rel.join_name(&name)));
                    }
                } else if ft.is_file()
                    && let Some(stem) = name.strip_suffix(POINTER_SUFFIX.as_bytes())
                    && !stem.is_empty()
                    && RelPath::from_bytes(stem).is_ok()
                {
                    out.push(rel.join_name(stem));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn roots(
        &self,
        datasets: &[PathBuf],
        all_versions: bool,
    ) -> Result<Vec<(DatasetKind, Digest)>> {
        let rels: Vec<RelPath> = if datasets.is_empty() {
            let mut all = self.datasets()?;
            all.extend(self.pointer_datasets()?);
            all.sort();
            all.dedup();
            all
        } else {
            datasets
                .iter()
                .map(|d| self.dataset_rel(d))
                .collect::<Result<_>>()?
        };
        let mut roots = Vec::new();
        for rel in &rels {
            let (log, _) = self.read_log(rel)?;
            let pointer = self.read_pointer_at(rel)?;
            if log.is_empty() && pointer.is_none() {
                return Err(not_found_dataset(rel));
            }
            let chosen: &[Version] = if all_versions {
                &log
            } else {
                log.last().map(std::slice::from_ref).unwrap_or_default()
            };
            roots.extend(chosen.iter().map(|v| (v.kind, v.digest)));
            if let Some(p) = pointer {
                roots.push((p.kind, p.digest));
            }
        }
        Ok(roots)
    }

    fn transfer(
        &self,
        from: &dyn ContentStore,
        to: &dyn ContentStore,
        roots: &[(DatasetKind, Digest)],
        progress: Option<&ProgressFn>,
    ) -> Result<TransferReport> {
        // Pull needs the trees before it can know the files: fetch missing trees first.
        let (files, trees) = Self::reachable(from, roots)?;
        let mut report = TransferReport {
            objects: (files.len() + trees.len()) as u64,
            ..TransferReport::default()
        };
        let want_files: Vec<Digest> = files;
        let have = to.contains_many(&want_files)?;
        let missing: Vec<Digest> = want_files
            .iter()
            .zip(&have)
            .filter(|(_, h)| !**h)
            .map(|(d, _)| *d)
            .collect();
        report.present += (want_files.len() - missing.len()) as u64;
        let copied = AtomicU64::new(0);
        let bytes = AtomicU64::new(0);
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let first_error: Mutex<Option<DvcError>> = Mutex::new(None);
        let copy = |d: &Digest| -> Result<u64> {
            let mut reader = from.open(d)?;
            let put = to.put_reader(&mut reader)?;
            if put.digest != *d {
                return Err(DvcError::Corrupt {
                    path: format!("object {d}").into(),
                    detail: format!("copy hashed to {}", put.digest),
                });
            }
            Ok(put.size)
        };
        let work = || {
            while !failed.load(Ordering::Relaxed) {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(d) = missing.get(i) else { break };
                match copy(d) {
                    Ok(n) => {
                        let c = copied.fetch_add(1, Ordering::Relaxed) + 1;
                        let b = bytes.fetch_add(n, Ordering::Relaxed) + n;
                        if let Some(p) = progress {
                            p(&Progress {
                                phase: Phase::Transfer,
                                files_done: c,
                                files_total: missing.len() as u64,
                                bytes_done: b,
                                bytes_total: 0,
                            });
                        }
                    }
                    Err(e) => {
                        failed.store(true, Ordering::Relaxed);
                        first_error.lock().get_or_insert(e);
                    }
                }
            }
        };
        std::thread::scope(|s| {
            for _ in 0..self.threads.min(missing.len()).max(1) {
                s.spawn(work);
            }
        });
        if let Some(e) = first_error.into_inner() {
            return Err(e);
        }
        report.copied = copied.into_inner();
        report.bytes = bytes.into_inner();
        // Trees last, children before parents: a tree present means its content is too.
        for t in trees {
            if to.contains(&t)? {
                report.present += 1;
            } else {
                report.bytes += copy(&t)?;
                report.copied += 1;
            }
        }
        Ok(report)
    }

    /// Copy to `remote` the objects of every version of `datasets` (all datasets when empty)
    /// that it lacks. Files go first and trees last, children before parents, so an interrupted
    /// push never leaves a tree whose content is missing.
    ///
    /// # Errors
    /// [`DvcError::NotFound`] for an unknown dataset or a missing local object;
    /// [`DvcError::Corrupt`] for a damaged local object (it is never uploaded).
    pub fn push(&self, remote: &dyn ContentStore, datasets: &[PathBuf]) -> Result<TransferReport> {
        self.push_with(remote, datasets, None)
    }

    /// [`push`](Self::push) with a progress callback (one call per object copied).
    ///
    /// # Errors
    /// As [`push`](Self::push).
    pub fn push_with(
        &self,
        remote: &dyn ContentStore,
        datasets: &[PathBuf],
        progress: Option<&ProgressFn>,
    ) -> Result<TransferReport> {
        let _lock = self.lock()?;
        let roots = self.roots(datasets, true)?;
        self.transfer(&*self.store, remote, &roots, progress)
    }

    /// Copy from `remote` the objects that the versions of `datasets` need and the local store
    /// lacks: every version in the log and what the pointer file names. With no datasets named,
    /// every dataset with a log or a pointer file anywhere in the working directory.
    ///
    /// # Errors
    /// [`DvcError::NotFound`] for an unknown dataset or an object the remote lacks;
    /// [`DvcError::Corrupt`] for a damaged remote object (it is not stored).
    pub fn pull(&self, remote: &dyn ContentStore, datasets: &[PathBuf]) -> Result<TransferReport> {
        self.pull_with(remote, datasets, None)
    }

    /// [`pull`](Self::pull) with a progress callback (one call per object copied).
    ///
    /// # Errors
    /// As [`pull`](Self::pull).
    pub fn pull_with(
        &self,
        remote: &dyn ContentStore,
        datasets: &[PathBuf],
        progress: Option<&ProgressFn>,
    ) -> Result<TransferReport> {
        let _lock = self.lock()?;
        let roots = self.roots(datasets, true)?;
        self.transfer(remote, &*self.store, &roots, progress)
    }

    /// Remove from the store every object no kept version reaches (see [`Keep`]); what any
    /// pointer file in the working directory names is always kept (so a fresh clone's pulled
    /// data survives). Refuses (nothing removed) when a kept version's tree is missing,
    /// since its files could not be told apart from garbage.
    ///
    /// # Errors
    /// [`DvcError::NotFound`] for a kept version whose tree is missing; store I/O errors.
    pub fn gc(&self, options: &GcOptions) -> Result<GcReport> {
        let _lock = self.lock()?;
        let mut roots = Vec::new();
        match &options.keep {
            Keep::AllVersions => roots = self.roots(&[], true)?,
            Keep::Latest => roots = self.roots(&[], false)?,
            Keep::Versions(list) => {
                let mut all = self.datasets()?;
                all.extend(self.pointer_datasets()?);
                for rel in all {
                    if let Some(p) = self.read_pointer_at(&rel)? {
                        roots.push((p.kind, p.digest));
                    }
                }
                for (path, n) in list {
                    let rel = self.dataset_rel(path)?;
                    let r = self.resolve(&rel, Rev::Number(*n))?;
                    roots.push((r.kind, r.digest));
                }
            }
        }
        let (files, trees) = Self::reachable(&*self.store, &roots)?;
        let keep: HashSet<Digest> = files.into_iter().chain(trees).collect();
        let mut report = GcReport {
            kept: 0,
            dry_run: options.dry_run,
            ..GcReport::default()
        };
        for d in self.store.list()? {
            if keep.contains(&d) {
                report.kept += 1;
                continue;
            }
            let size = self.store.size(&d).unwrap_or(0);
            if options.dry_run || self.store.delete(&d)? {
                report.removed += 1;
                report.freed_bytes += size;
            }
        }
        Ok(report)
    }
}

fn unsupported(path: &Path, m: &fs::Metadata) -> DvcError {
    let what = if m.file_type().is_symlink() {
        "a symlink (symlinks are not tracked: they could point outside the working directory)"
    } else {
        "not a regular file or folder"
    };
    DvcError::invalid("path", format!("{} is {what}", path.display()))
}

fn not_found_dataset(rel: &RelPath) -> DvcError {
    DvcError::NotFound {
        kind: "dataset",
        id: rel.to_string(),
    }
}

static CHECKOUT_TEMP: AtomicU64 = AtomicU64::new(0);

fn temp_next_to(target: &Path) -> Result<PathBuf> {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = CHECKOUT_TEMP.fetch_add(1, Ordering::Relaxed);
    Ok(target.with_file_name(format!(
        ".{name}.{}.{n}{}",
        std::process::id(),
        fsutil::TEMP_SUFFIX
    )))
}

/// Remove files and then empty folders under `dest` that `flat` does not list.
fn remove_extra(dest: &Path, flat: &tree::Flat) -> Result<u64> {
    let keep_files: HashSet<&RelPath> = flat.files.iter().map(|e| &e.path).collect();
    let keep_dirs: HashSet<&RelPath> = flat.dirs.iter().collect();
    let (_, files, mut dirs) = Repository::scan(dest)?;
    let mut removed = 0;
    for f in files {
        if !keep_files.contains(&f.rel) {
            fs::remove_file(&f.abs).map_err(|e| DvcError::io(&f.abs, e))?;
            removed += 1;
        }
    }
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for d in dirs {
        if !keep_dirs.contains(&d) {
            let p = d.under(dest);
            // Only empty folders go; one that still holds something stays.
            let _ = fs::remove_dir(&p);
        }
    }
    Ok(removed)
}

/// Line diff by the Myers algorithm (with a deadline so huge inputs stay bounded in time).
pub(crate) fn line_diff(a: &str, b: &str) -> TextDiff {
    use similar::{ChangeTag, TextDiff as Similar};
    let diff = Similar::configure()
        .timeout(Duration::from_secs(10))
        .diff_lines(a, b);
    let mut out = TextDiff::default();
    for change in diff.iter_all_changes() {
        let line = || change.value().trim_end_matches(['\n', '\r']).to_owned();
        match change.tag() {
            ChangeTag::Equal => out.unchanged += 1,
            ChangeTag::Insert => {
                out.added += 1;
                if out.added_samples.len() < SAMPLES {
                    out.added_samples.push(line());
                }
            }
            ChangeTag::Delete => {
                out.removed += 1;
                if out.removed_samples.len() < SAMPLES {
                    out.removed_samples.push(line());
                }
            }
        }
    }
    out
}
