//! [`Repository`]: datasets (files or directories) of a working directory, versioned into a
//! [`ContentStore`].

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::clock::{Clock, SystemClock};
use crate::digest::Digest;
use crate::error::{DvcError, EntityKind, Result};
use crate::file::FileContentStore;
use crate::model::{DatasetKind, Log, Rev, Version};
use crate::path::{RelPath, bytes_os};
use crate::store::ContentStore;
use crate::tree::{self, ManifestEntry};
use mlops_fs as fsutil;
use mlops_fs::FileLock;

mod checkout;
mod diff;
mod gc;
mod hash;
mod pointer;
mod stat;
mod track;
mod transfer;

use pointer::Pointer;

/// Name of the repository's metadata folder inside the working directory.
pub const META_DIR: &str = ".mlops-dvc";
/// Suffix of pointer files: `data/train.csv` has `data/train.csv.dvc.json`.
pub const POINTER_SUFFIX: &str = ".dvc.json";

/// A data repository: a working directory whose datasets (files or folders, named by their path
/// relative to the working directory) are versioned into a [`ContentStore`].
///
/// Layout: `<workdir>/.mlops-dvc/` holds `cache/` (the default [`FileContentStore`]),
/// `datasets/<key>.log` (each dataset's versions, an append-only framed log), `state/<key>.stat`
/// (the stat cache) and `lock`; each tracked dataset gets a pointer file `<path>.dvc.json` next
/// to it, meant to be committed to git. See `docs/formats.md`.
pub struct Repository {
    root: PathBuf,
    meta: PathBuf,
    store: Arc<dyn ContentStore>,
    /// The cache this repository opened itself ([`Repository::open`]), whose fsync setting
    /// follows the repository's.
    own_cache: Option<FileContentStore>,
    fsync: bool,
    threads: usize,
    /// Objects copied at once by push and pull.
    jobs: usize,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("root", &self.root)
            .field("store", &self.store)
            .field("fsync", &self.fsync)
            .field("threads", &self.threads)
            .field("jobs", &self.jobs)
            .finish_non_exhaustive()
    }
}

/// A dataset version resolved to what checkout needs.
struct Resolved {
    version: u64,
    kind: DatasetKind,
    digest: Digest,
    /// The executable bit of a file dataset.
    exec: bool,
}

impl From<&Version> for Resolved {
    fn from(v: &Version) -> Self {
        Self {
            version: v.version,
            kind: v.kind,
            digest: v.digest,
            exec: v.exec,
        }
    }
}

impl From<Pointer> for Resolved {
    fn from(p: Pointer) -> Self {
        Self {
            version: p.version,
            kind: p.kind,
            digest: p.digest,
            exec: p.isexec,
        }
    }
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
        let mut repo = Self::with_store(workdir, Arc::new(store.clone()))?;
        repo.own_cache = Some(store);
        Ok(repo)
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
            own_cache: None,
            fsync: true,
            threads,
            jobs: 4 * threads,
            clock: Arc::new(SystemClock),
        })
    }

    /// Turn fsyncs on (the default) or off, in one setting: metadata (version logs, pointer
    /// files), checked-out copies and, for a repository made by [`open`](Self::open), its own
    /// cache. A store given to [`with_store`](Self::with_store) is the caller's (it may be shared
    /// or a remote) and keeps its own setting ([`FileContentStore::with_fsync`]).
    #[must_use]
    pub fn with_fsync(mut self, fsync: bool) -> Self {
        self.fsync = fsync;
        if let Some(cache) = self.own_cache.take() {
            let cache = cache.with_fsync(fsync);
            self.store = Arc::new(cache.clone());
            self.own_cache = Some(cache);
        }
        self
    }

    /// Number of worker threads for hashing and checkout (default: the number of cores).
    #[must_use]
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Number of objects [`push`](Self::push) and [`pull`](Self::pull) copy at once (default:
    /// 4 × the number of cores, DVC's default for `--jobs`: transfers to a remote wait on the
    /// network more than on the CPU).
    #[must_use]
    pub fn with_jobs(mut self, jobs: usize) -> Self {
        self.jobs = jobs.max(1);
        self
    }

    /// Use another clock for version timestamps (tests, reproducible examples; default:
    /// [`SystemClock`]).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
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

    /// The stat cache (format 3, binary).
    fn state_path(&self, rel: &RelPath) -> PathBuf {
        self.meta
            .join("state")
            .join(format!("{}.stat", Self::key(rel)))
    }

    /// The stat cache in format 1 (JSON), read when there is no `.stat` file (format 2 or 3).
    fn state_path_v1(&self, rel: &RelPath) -> PathBuf {
        self.meta
            .join("state")
            .join(format!("{}.json", Self::key(rel)))
    }

    fn pointer_path(&self, rel: &RelPath) -> PathBuf {
        let mut name = rel.file_name().to_vec();
        name.extend_from_slice(POINTER_SUFFIX.as_bytes());
        rel.parent().join_name(&name).under(&self.root)
    }

    fn lock(&self) -> Result<FileLock> {
        let path = self.meta.join("lock");
        FileLock::exclusive(&path).map_err(|e| DvcError::io(&path, e))
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
            // Ours are regular files named `<32 hex>.log`; anything else is skipped (temps of a
            // writer silently, other entries with a note).
            let name = entry.file_name();
            let name = name.to_str().unwrap_or_default();
            if fsutil::is_temp_name(name) {
                continue;
            }
            let is_log_name = name.strip_suffix(".log").is_some_and(|key| {
                key.len() == 32
                    && key
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            });
            if !is_log_name || !entry.file_type().is_ok_and(|t| t.is_file()) {
                crate::stray::skipped(&path, "not a version log");
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
        match rev {
            Rev::Latest => match log.last() {
                Some(v) => Ok(Resolved::from(v)),
                None => self
                    .read_pointer_at(rel)?
                    .map(Resolved::from)
                    .ok_or_else(|| not_found_dataset(rel)),
            },
            Rev::Number(n) => {
                if let Some(v) = log.iter().find(|v| v.version == n) {
                    return Ok(Resolved::from(v));
                }
                if log.is_empty() {
                    match self.read_pointer_at(rel)? {
                        Some(p) if p.version == n => return Ok(Resolved::from(p)),
                        None => return Err(not_found_dataset(rel)),
                        Some(_) => {}
                    }
                }
                Err(DvcError::NotFound {
                    kind: EntityKind::Version,
                    id: format!("{rel} v{n}"),
                })
            }
            Rev::Pointer => self
                .read_pointer_at(rel)?
                .map(Resolved::from)
                .ok_or_else(|| DvcError::NotFound {
                    kind: EntityKind::PointerFile,
                    id: self.pointer_path(rel).display().to_string(),
                }),
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
                        exec: r.exec,
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
}

fn not_found_dataset(rel: &RelPath) -> DvcError {
    DvcError::NotFound {
        kind: EntityKind::Dataset,
        id: rel.to_string(),
    }
}
