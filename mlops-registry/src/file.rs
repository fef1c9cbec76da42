//! [`FileRegistry`]: a registry in a directory, shared safely by many processes.
//!
//! Layout (see `docs/formats.md`):
//!
//! ```text
//! <root>/registry.lock            cross-process lock (exclusive for writes, shared for loads)
//! <root>/registry.gen             generation counter, stored as the file's length
//! <root>/journal.json             redo journal of an in-flight multi-file change (normally absent)
//! <root>/trash/                   models being deleted
//! <root>/models/<32 hex>/         one model; the name is sha256(name), first 32 hex digits
//!     model.json                  the model record: the commit point of every change but one
//!     versions/<n>.json           one record per version; its appearance commits a new version
//!     audit.log                   framed, append-only audit history
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use parking_lot::{Mutex, MutexGuard, RwLock};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::core::{Clock, Effects, ModelData, system_clock};
use crate::error::{RegistryError, Result};
use crate::fsutil;
use crate::model::{
    Alias, AuditRecord, ModelVersion, ModelVersionNumber, RegisteredModel, Stage,
    validate_model_name,
};
use crate::order::{Page, check_version_search, page_models, page_versions};
use crate::store::{Change, NewModel, NewVersion, RegistryStore, Search};
use crate::uri::ModelUri;

const FORMAT: u32 = 1;
const MODEL_FILE: &str = "model.json";
const AUDIT_FILE: &str = "audit.log";
const JOURNAL_FILE: &str = "journal.json";
/// How many revisions `model.json` remembers the touched versions of.
const RECENT: usize = 64;

static INCARNATIONS: AtomicU64 = AtomicU64::new(0);

/// `model.json`: the model record plus the bookkeeping that makes it the commit point.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ModelFile {
    format: u32,
    /// Changes when the model is (re)created: tells a deleted-and-recreated model apart.
    incarnation: String,
    /// Incremented by every committed change of the model or its versions.
    revision: u64,
    /// Length of the committed prefix of `audit.log`.
    audit_len: u64,
    /// The versions each of the last [`RECENT`] revisions wrote or removed, so another process
    /// refreshes its cache by reading only those.
    #[serde(default)]
    recent: Vec<(u64, Vec<u64>)>,
    #[serde(flatten)]
    model: RegisteredModel,
}

/// `journal.json`: the writes of a multi-file change, redone on recovery.
#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    format: u32,
    ops: Vec<JournalOp>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum JournalOp {
    Write { path: String, data: String },
    Remove { path: String },
    RenameDir { from: String, to: String },
}

#[derive(Debug)]
struct Cached {
    data: ModelData,
    incarnation: String,
    revision: u64,
    audit_len: u64,
    recent: Vec<(u64, Vec<u64>)>,
    epoch: u64,
}

#[derive(Debug, Default)]
struct Cache {
    /// The generation the cache was last synchronised with.
    generation: u64,
    /// Bumped whenever another process changed the registry: entries of older epochs must be
    /// revalidated against their `model.json`.
    epoch: u64,
    models: HashMap<String, Cached>,
    /// The epoch at which `models` was known to hold every model.
    listed: Option<u64>,
}

impl Cache {
    fn sync(&mut self, disk_gen: u64) {
        if self.generation != disk_gen {
            self.generation = disk_gen;
            self.epoch += 1;
        }
    }

    fn fresh(&self, name: &str) -> Option<&Cached> {
        self.models.get(name).filter(|c| c.epoch == self.epoch)
    }
}

/// Holds the in-process mutex and the cross-process file lock; unlocks on drop.
struct LockGuard<'a> {
    file: MutexGuard<'a, File>,
    exclusive: bool,
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

/// A registry stored in a directory: durable, crash-safe, shared by any number of processes on
/// one machine (local file systems; not NFS).
///
/// - Writes take an exclusive [`File::lock`] on `registry.lock`, so version numbers are assigned
///   without gaps or duplicates across processes.
/// - Reads are served from an in-process cache. Every write first grows `registry.gen` by one
///   byte (its length *is* the generation), so a reader checks freshness with one `fstat` of an
///   open file, with no read and no path lookup; only when the generation moved does it take the
///   shared lock and re-read the `model.json` of the model it needs (and its versions only if
///   that model changed).
/// - Durable by default: every write is fsynced (files and directories) before it returns.
///   [`FileRegistry::with_fsync`]`(false)` skips the fsyncs (tests, benches): a crash of the
///   process still loses nothing, a power loss may lose recent changes.
pub struct FileRegistry {
    root: PathBuf,
    fsync: bool,
    clock: Clock,
    gen_file: File,
    lock: Mutex<File>,
    cache: RwLock<Cache>,
    repairs: Vec<String>,
}

impl fmt::Debug for FileRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileRegistry")
            .field("root", &self.root)
            .field("fsync", &self.fsync)
            .finish_non_exhaustive()
    }
}

fn ioe(path: &Path) -> impl FnOnce(io::Error) -> RegistryError + '_ {
    move |e| RegistryError::io(path, e)
}

fn dir_name(name: &str) -> String {
    let hash = sha2::Sha256::digest(name.as_bytes());
    let mut out = String::with_capacity(32);
    for b in &hash[..16] {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 0xf)]));
    }
    out
}

fn read_opt(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(RegistryError::io(path, e)),
    }
}

fn parse<T: for<'de> Deserialize<'de>>(path: &Path, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        let what = if bytes.is_empty() {
            "the file is empty".to_owned()
        } else {
            format!("not a valid record ({e})")
        };
        RegistryError::corrupt(path, what)
    })
}

fn to_json<T: Serialize>(path: &Path, value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(value).map_err(|source| RegistryError::Serde {
        path: path.to_owned(),
        source,
    })
}

/// JSON bytes as the string a journal op carries (serde_json always writes UTF-8).
fn utf8(path: &Path, bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes)
        .map_err(|e| RegistryError::invalid("record", format!("{}: {e}", path.display())))
}

fn version_file(n: ModelVersionNumber) -> String {
    format!("{n}.json")
}

impl FileRegistry {
    /// Open (creating if needed) the registry in `root`, and repair what a crash left behind:
    /// an in-flight multi-file change is redone; stray temp files of dead writers, half-created
    /// models and models being deleted are removed (see [`FileRegistry::repairs`]). Opening
    /// reads every model's directory listing once.
    ///
    /// # Errors
    /// [`RegistryError::Io`] when the directory cannot be created or locked;
    /// [`RegistryError::Corrupt`] for a damaged journal.
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref().to_owned();
        for dir in [root.join("models"), root.join("trash")] {
            fs::create_dir_all(&dir).map_err(ioe(&dir))?;
        }
        let open_rw = |p: &Path| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(p)
                .map_err(ioe(p))
        };
        let lock = open_rw(&root.join("registry.lock"))?;
        let gen_file = open_rw(&root.join("registry.gen"))?;
        let mut reg = Self {
            root,
            fsync: true,
            clock: system_clock(),
            gen_file,
            lock: Mutex::new(lock),
            cache: RwLock::default(),
            repairs: Vec::new(),
        };
        let repairs = {
            let guard = reg.lock_exclusive()?;
            let repairs = reg.repair_all(&guard)?;
            if !repairs.is_empty() {
                reg.bump_gen(&guard)?;
            }
            repairs
        };
        for r in &repairs {
            tracing::warn!(root = %reg.root.display(), "repaired: {r}");
        }
        reg.repairs = repairs;
        Ok(reg)
    }

    /// Whether to fsync every write (default `true`). Without it, a crash of the process loses
    /// nothing, but a power loss may lose the latest changes.
    #[must_use]
    pub fn with_fsync(mut self, fsync: bool) -> Self {
        self.fsync = fsync;
        self
    }

    /// Use `clock` for every timestamp (tests pin time with it).
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The registry's directory.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// What [`FileRegistry::open`] repaired, one line each (empty after a clean shutdown).
    #[must_use]
    pub fn repairs(&self) -> &[String] {
        &self.repairs
    }

    fn model_dir(&self, name: &str) -> PathBuf {
        self.root.join("models").join(dir_name(name))
    }

    fn lock_exclusive(&self) -> Result<LockGuard<'_>> {
        let file = self.lock.lock();
        file.lock().map_err(ioe(&self.root.join("registry.lock")))?;
        Ok(LockGuard {
            file,
            exclusive: true,
        })
    }

    fn lock_shared(&self) -> Result<LockGuard<'_>> {
        let file = self.lock.lock();
        file.lock_shared()
            .map_err(ioe(&self.root.join("registry.lock")))?;
        Ok(LockGuard {
            file,
            exclusive: false,
        })
    }

    fn disk_gen(&self) -> Result<u64> {
        self.gen_file
            .metadata()
            .map(|m| m.len())
            .map_err(ioe(&self.root.join("registry.gen")))
    }

    /// Grow the generation by one (under the exclusive lock). Not fsynced: it only tells running
    /// processes to revalidate, and a power loss restarts them all anyway.
    fn bump_gen(&self, guard: &LockGuard<'_>) -> Result<u64> {
        debug_assert!(guard.exclusive);
        let next = self.disk_gen()? + 1;
        self.gen_file
            .set_len(next)
            .map_err(ioe(&self.root.join("registry.gen")))?;
        Ok(next)
    }

    // ---------------------------------------------------------------- recovery

    fn journal_path(&self) -> PathBuf {
        self.root.join(JOURNAL_FILE)
    }

    fn rel(&self, rel: &str) -> Result<PathBuf> {
        let p = Path::new(rel);
        let ok = (rel.starts_with("models/") || rel.starts_with("trash/"))
            && p.components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !ok {
            return Err(RegistryError::corrupt(
                self.journal_path(),
                format!("path {rel:?} leaves the registry"),
            ));
        }
        Ok(self.root.join(p))
    }

    /// Apply every op of a journal; each op is idempotent, so a crash during recovery is fine.
    fn apply_journal(&self, journal: &Journal) -> Result<()> {
        for op in &journal.ops {
            match op {
                JournalOp::Write { path, data } => {
                    let p = self.rel(path)?;
                    fsutil::write_atomic(&p, data.as_bytes(), self.fsync).map_err(ioe(&p))?;
                }
                JournalOp::Remove { path } => {
                    let p = self.rel(path)?;
                    match fs::remove_file(&p) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => return Err(RegistryError::io(&p, e)),
                    }
                    if self.fsync
                        && let Some(dir) = p.parent()
                    {
                        fsutil::sync_dir(dir).map_err(ioe(dir))?;
                    }
                }
                JournalOp::RenameDir { from, to } => {
                    let (f, t) = (self.rel(from)?, self.rel(to)?);
                    if f.exists() && !t.exists() {
                        fs::rename(&f, &t).map_err(ioe(&f))?;
                        if self.fsync {
                            let dir = self.root.join("models");
                            fsutil::sync_dir(&dir).map_err(ioe(&dir))?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Commit a multi-file change: journal first (the commit point), then the writes, then the
    /// journal's removal.
    fn run_journal(&self, ops: Vec<JournalOp>) -> Result<()> {
        let journal = Journal {
            format: FORMAT,
            ops,
        };
        let path = self.journal_path();
        let bytes = to_json(&path, &journal)?;
        fsutil::write_atomic(&path, &bytes, self.fsync).map_err(ioe(&path))?;
        self.apply_journal(&journal)?;
        fs::remove_file(&path).map_err(ioe(&path))?;
        if self.fsync {
            fsutil::sync_dir(&self.root).map_err(ioe(&self.root))?;
        }
        Ok(())
    }

    /// Redo a journal left by a crashed writer. Returns whether there was one.
    fn recover_journal(&self, guard: &LockGuard<'_>) -> Result<bool> {
        debug_assert!(guard.exclusive);
        let path = self.journal_path();
        let Some(bytes) = read_opt(&path)? else {
            return Ok(false);
        };
        let journal: Journal = parse(&path, &bytes)?;
        self.apply_journal(&journal)?;
        fs::remove_file(&path).map_err(ioe(&path))?;
        if self.fsync {
            fsutil::sync_dir(&self.root).map_err(ioe(&self.root))?;
        }
        self.bump_gen(guard)?;
        self.cache.write().epoch += 1;
        Ok(true)
    }

    fn repair_all(&self, guard: &LockGuard<'_>) -> Result<Vec<String>> {
        let mut repairs = Vec::new();
        if self.recover_journal(guard)? {
            repairs.push("redid an interrupted multi-file change from journal.json".to_owned());
        }
        let stray = |dir: &Path, repairs: &mut Vec<String>| -> Result<()> {
            for p in fsutil::remove_stray_temps(dir).map_err(ioe(dir))? {
                repairs.push(format!("removed stray temp file {}", p.display()));
            }
            Ok(())
        };
        stray(&self.root, &mut repairs)?;
        let trash = self.root.join("trash");
        for entry in fs::read_dir(&trash).map_err(ioe(&trash))? {
            let p = entry.map_err(ioe(&trash))?.path();
            fs::remove_dir_all(&p).map_err(ioe(&p))?;
            repairs.push(format!("finished deleting {}", p.display()));
        }
        let models = self.root.join("models");
        for entry in fs::read_dir(&models).map_err(ioe(&models))? {
            let dir = entry.map_err(ioe(&models))?.path();
            if !dir.is_dir() {
                continue;
            }
            stray(&dir, &mut repairs)?;
            let versions = dir.join("versions");
            stray(&versions, &mut repairs)?;
            let model_path = dir.join(MODEL_FILE);
            if read_opt(&model_path)?.is_none() {
                fs::remove_dir_all(&dir).map_err(ioe(&dir))?;
                repairs.push(format!(
                    "removed {}: a model whose creation never committed",
                    dir.display()
                ));
            }
        }
        Ok(repairs)
    }

    // ---------------------------------------------------------------- loading

    fn read_model_file(&self, name: &str) -> Result<Option<ModelFile>> {
        let path = self.model_dir(name).join(MODEL_FILE);
        let Some(bytes) = read_opt(&path)? else {
            return Ok(None);
        };
        let mf: ModelFile = parse(&path, &bytes)?;
        if mf.format != FORMAT {
            return Err(RegistryError::corrupt(
                &path,
                format!("unsupported format {} (expected {FORMAT})", mf.format),
            ));
        }
        if mf.model.name != name {
            return Err(RegistryError::corrupt(
                &path,
                format!("holds model {:?}, expected {name:?}", mf.model.name),
            ));
        }
        Ok(Some(mf))
    }

    fn load_versions(&self, mf: &ModelFile) -> Result<BTreeMap<ModelVersionNumber, ModelVersion>> {
        let dir = self.model_dir(&mf.model.name).join("versions");
        let mut out = BTreeMap::new();
        for n in list_versions(&dir)? {
            if let Some(v) = self.read_version(&mf.model.name, n)? {
                out.insert(n, v);
            }
        }
        Ok(out)
    }

    /// One version record, `None` when the file does not exist.
    fn read_version(&self, name: &str, n: ModelVersionNumber) -> Result<Option<ModelVersion>> {
        let path = self.model_dir(name).join("versions").join(version_file(n));
        let Some(bytes) = read_opt(&path)? else {
            return Ok(None);
        };
        let mut v: ModelVersion = parse(&path, &bytes)?;
        if v.version != n {
            return Err(RegistryError::corrupt(
                &path,
                format!("holds version {}, expected {n}", v.version),
            ));
        }
        name.clone_into(&mut v.name);
        Ok(Some(v))
    }

    /// Read the versions created since `from` (exclusive): every number up to the model
    /// record's `latest_version` (gaps are deleted versions), then onwards until a number has
    /// no file (creations never leave gaps: only a delete does, and a delete rewrites
    /// `model.json`).
    fn probe_new_versions(
        &self,
        mf: &ModelFile,
        from: u64,
        versions: &mut BTreeMap<ModelVersionNumber, ModelVersion>,
    ) -> Result<()> {
        let mut n = from;
        loop {
            n += 1;
            let number = ModelVersionNumber::new(n)?;
            match self.read_version(&mf.model.name, number)? {
                Some(v) => {
                    versions.insert(number, v);
                }
                None if n <= mf.model.latest_version => {}
                None => return Ok(()),
            }
        }
    }

    /// Make the cache entry of `name` current (under a lock). `Ok(false)` when the model does
    /// not exist.
    fn ensure(&self, cache: &mut Cache, name: &str) -> Result<bool> {
        if cache.fresh(name).is_some() {
            return Ok(true);
        }
        let Some(mf) = self.read_model_file(name)? else {
            cache.models.remove(name);
            return Ok(false);
        };
        let epoch = cache.epoch;
        if let Some(c) = cache.models.get_mut(name)
            && c.incarnation == mf.incarnation
        {
            let touched = if c.revision == mf.revision {
                Some(BTreeSet::new())
            } else {
                touched_since(&mf.recent, c.revision, mf.revision)
            };
            if let Some(touched) = touched {
                // Incremental refresh: re-read the versions the model record says changed
                // since our revision, and look for versions created since.
                let cached_latest = c.data.model.latest_version;
                let mut versions = std::mem::take(&mut c.data.versions);
                let refreshed = (|| {
                    for n in touched {
                        let n = ModelVersionNumber::new(n)?;
                        versions.remove(&n);
                        if let Some(v) = self.read_version(name, n)? {
                            versions.insert(n, v);
                        }
                    }
                    self.probe_new_versions(&mf, cached_latest, &mut versions)
                })();
                if let Err(e) = refreshed {
                    cache.models.remove(name);
                    return Err(e);
                }
                c.revision = mf.revision;
                c.audit_len = mf.audit_len;
                c.epoch = epoch;
                c.incarnation.clone_from(&mf.incarnation);
                c.recent.clone_from(&mf.recent);
                c.data = assemble(mf, versions);
                return Ok(true);
            }
        }
        let mut versions = self.load_versions(&mf)?;
        let highest = versions.keys().next_back().map_or(0, |n| n.get());
        self.probe_new_versions(&mf, highest.max(mf.model.latest_version), &mut versions)?;
        cache.models.insert(
            name.to_owned(),
            Cached {
                incarnation: mf.incarnation.clone(),
                revision: mf.revision,
                audit_len: mf.audit_len,
                recent: mf.recent.clone(),
                epoch,
                data: assemble(mf, versions),
            },
        );
        Ok(true)
    }

    /// Lock for reading, redoing a crashed writer's journal first if there is one.
    fn lock_for_read(&self) -> Result<LockGuard<'_>> {
        let guard = self.lock_shared()?;
        if !self.journal_path().exists() {
            return Ok(guard);
        }
        drop(guard);
        let guard = self.lock_exclusive()?;
        self.recover_journal(&guard)?;
        Ok(guard)
    }

    /// Run `f` on the current state of `name`: from the cache when the generation did not move
    /// (one `fstat`), else after revalidating under the shared lock.
    fn read<T>(&self, name: &str, f: impl Fn(&ModelData) -> Result<T>) -> Result<T> {
        let disk = self.disk_gen()?;
        {
            let cache = self.cache.read();
            if cache.generation == disk
                && let Some(c) = cache.fresh(name)
            {
                return f(&c.data);
            }
        }
        let _guard = self.lock_for_read()?;
        let disk = self.disk_gen()?;
        let mut cache = self.cache.write();
        cache.sync(disk);
        if !self.ensure(&mut cache, name)? {
            return Err(RegistryError::not_found("registered model", name));
        }
        let c = cache
            .fresh(name)
            .ok_or_else(|| RegistryError::not_found("registered model", name))?;
        f(&c.data)
    }

    /// Every model, current, in name order.
    fn all_models<T>(&self, f: impl Fn(&[&ModelData]) -> Result<T>) -> Result<T> {
        let _guard = self.lock_for_read()?;
        let disk = self.disk_gen()?;
        let mut cache = self.cache.write();
        cache.sync(disk);
        if cache.listed != Some(cache.epoch) {
            let mut names = Vec::new();
            let models = self.root.join("models");
            for entry in fs::read_dir(&models).map_err(ioe(&models))? {
                let dir = entry.map_err(ioe(&models))?.path();
                let path = dir.join(MODEL_FILE);
                let Some(bytes) = read_opt(&path)? else {
                    continue;
                };
                let mf: ModelFile = parse(&path, &bytes)?;
                if dir.file_name().and_then(|n| n.to_str())
                    != Some(dir_name(&mf.model.name).as_str())
                {
                    return Err(RegistryError::corrupt(
                        &path,
                        format!(
                            "holds model {:?}, which belongs in another directory",
                            mf.model.name
                        ),
                    ));
                }
                names.push(mf.model.name);
            }
            cache.models.retain(|n, _| names.contains(n));
            for n in &names {
                self.ensure(&mut cache, n)?;
            }
            cache.listed = Some(cache.epoch);
        }
        let mut all: Vec<&ModelData> = cache.models.values().map(|c| &c.data).collect();
        all.sort_by(|a, b| a.name().cmp(b.name()));
        f(&all)
    }

    // ---------------------------------------------------------------- writing

    /// Apply a change to model `name` under the exclusive lock and persist it.
    fn write<T>(
        &self,
        name: &str,
        f: impl FnOnce(&mut ModelData, DateTime<Utc>) -> Result<(T, Effects)>,
    ) -> Result<T> {
        let guard = self.lock_exclusive()?;
        self.recover_journal(&guard)?;
        let disk = self.disk_gen()?;
        let mut cache = self.cache.write();
        cache.sync(disk);
        if !self.ensure(&mut cache, name)? {
            return Err(RegistryError::not_found("registered model", name));
        }
        let now = (self.clock)();
        let Some(entry) = cache.models.get_mut(name) else {
            return Err(RegistryError::not_found("registered model", name));
        };
        // The rules validate before they change anything: an error leaves the entry as it was.
        let (out, fx) = f(&mut entry.data, now)?;
        let new_gen = self.bump_gen(&guard)?;
        match self.persist(entry, &fx) {
            Ok(()) => {
                cache.generation = new_gen;
                Ok(out)
            }
            Err(e) => {
                // What reached the disk is unknown: forget the entry, reload it next time.
                cache.models.remove(name);
                cache.listed = None;
                Err(e)
            }
        }
    }

    fn append_audit(&self, dir: &Path, committed: u64, records: &[AuditRecord]) -> Result<u64> {
        let path = dir.join(AUDIT_FILE);
        let mut buf = Vec::new();
        for r in records {
            let payload = serde_json::to_vec(r).map_err(|source| RegistryError::Serde {
                path: path.clone(),
                source,
            })?;
            fsutil::encode_record(&payload, &mut buf).map_err(ioe(&path))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(ioe(&path))?;
        let len = file.metadata().map_err(ioe(&path))?.len();
        if len < committed {
            return Err(RegistryError::corrupt(
                &path,
                format!("the log has {len} bytes but {committed} were committed"),
            ));
        }
        if len > committed {
            // The tail of a change that never committed.
            file.set_len(committed).map_err(ioe(&path))?;
        }
        file.seek(SeekFrom::Start(committed)).map_err(ioe(&path))?;
        file.write_all(&buf).map_err(ioe(&path))?;
        if self.fsync {
            file.sync_data().map_err(ioe(&path))?;
        }
        Ok(committed + buf.len() as u64)
    }

    fn model_json(&self, entry: &Cached, path: &Path) -> Result<Vec<u8>> {
        to_json(
            path,
            &ModelFile {
                format: FORMAT,
                incarnation: entry.incarnation.clone(),
                revision: entry.revision,
                audit_len: entry.audit_len,
                recent: entry.recent.clone(),
                model: entry.data.model.clone(),
            },
        )
    }

    fn version_json(&self, entry: &Cached, n: ModelVersionNumber, path: &Path) -> Result<Vec<u8>> {
        let v = entry.data.get(n)?;
        to_json(path, v)
    }

    /// Write what a change touched. Order: audit records (past the committed length), then the
    /// version records, then `model.json` (the commit point); several files go through the
    /// journal.
    fn persist(&self, entry: &mut Cached, fx: &Effects) -> Result<()> {
        let name = entry.data.name().to_owned();
        let dir = self.model_dir(&name);
        let rel_dir = format!("models/{}", dir_name(&name));
        if fx.created {
            // A version record is committed by its own atomic appearance: the model record is
            // not rewritten (readers derive the latest number from the records they find).
            for &n in &fx.written {
                let path = dir.join("versions").join(version_file(n));
                let bytes = self.version_json(entry, n, &path)?;
                fsutil::write_atomic(&path, &bytes, self.fsync).map_err(ioe(&path))?;
            }
            return Ok(());
        }
        if !fx.audit.is_empty() {
            entry.audit_len = self.append_audit(&dir, entry.audit_len, &fx.audit)?;
        }
        entry.revision += 1;
        let touched = fx
            .written
            .iter()
            .chain(&fx.removed)
            .map(|n| n.get())
            .collect();
        entry.recent.push((entry.revision, touched));
        if entry.recent.len() > RECENT {
            entry.recent.remove(0);
        }
        let model_path = dir.join(MODEL_FILE);
        let model_bytes = self.model_json(entry, &model_path)?;
        if fx.written.is_empty() && fx.removed.is_empty() {
            fsutil::write_atomic(&model_path, &model_bytes, self.fsync)
                .map_err(ioe(&model_path))?;
            return Ok(());
        }
        let mut ops = Vec::new();
        for &n in &fx.written {
            let path = dir.join("versions").join(version_file(n));
            let data = utf8(&path, self.version_json(entry, n, &path)?)?;
            ops.push(JournalOp::Write {
                path: format!("{rel_dir}/versions/{}", version_file(n)),
                data,
            });
        }
        for &n in &fx.removed {
            ops.push(JournalOp::Remove {
                path: format!("{rel_dir}/versions/{}", version_file(n)),
            });
        }
        ops.push(JournalOp::Write {
            path: format!("{rel_dir}/{MODEL_FILE}"),
            data: utf8(&model_path, model_bytes)?,
        });
        self.run_journal(ops)
    }

    fn read_audit(&self, name: &str, committed: u64) -> Result<Vec<AuditRecord>> {
        let path = self.model_dir(name).join(AUDIT_FILE);
        let mut data = Vec::new();
        match File::open(&path) {
            Ok(mut f) => {
                f.read_to_end(&mut data).map_err(ioe(&path))?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(RegistryError::io(&path, e)),
        }
        let committed = usize::try_from(committed).unwrap_or(usize::MAX);
        if data.len() < committed {
            return Err(RegistryError::corrupt(
                &path,
                format!(
                    "the log has {} bytes but {committed} were committed",
                    data.len()
                ),
            ));
        }
        let data = &data[..committed];
        let scan = fsutil::scan_records(data).map_err(|c| {
            RegistryError::corrupt(&path, format!("at byte {}: {}", c.offset, c.detail))
        })?;
        if let Some(at) = scan.torn_at {
            return Err(RegistryError::corrupt(
                &path,
                format!("committed record at byte {at} is damaged"),
            ));
        }
        scan.records
            .iter()
            .map(|r| {
                serde_json::from_slice(r)
                    .map_err(|e| RegistryError::corrupt(&path, format!("bad audit record: {e}")))
            })
            .collect()
    }
}

/// The model's state from its record and its version files: version records are committed on
/// their own (creating a version writes no model record), so the latest number and the update
/// time also account for the versions found.
fn assemble(mf: ModelFile, versions: BTreeMap<ModelVersionNumber, ModelVersion>) -> ModelData {
    let mut model = mf.model;
    if let Some((n, v)) = versions.last_key_value() {
        model.latest_version = model.latest_version.max(n.get());
        model.updated_at = model.updated_at.max(v.created_at);
    }
    ModelData::from_parts(model, versions)
}

/// The versions touched by revisions `old + 1 ..= new`, when `recent` covers all of them.
fn touched_since(recent: &[(u64, Vec<u64>)], old: u64, new: u64) -> Option<BTreeSet<u64>> {
    let first = recent.first()?.0;
    if old >= new || first > old + 1 || recent.last()?.0 != new {
        return None;
    }
    Some(
        recent
            .iter()
            .filter(|(r, _)| *r > old)
            .flat_map(|(_, t)| t.iter().copied())
            .collect(),
    )
}

/// The `<n>.json` files of a versions directory (temps and other names skipped).
fn list_versions(dir: &Path) -> Result<Vec<ModelVersionNumber>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(RegistryError::io(dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(ioe(dir))?;
        let file_name = entry.file_name();
        let Some(fname) = file_name.to_str() else {
            continue;
        };
        if fsutil::is_temp_name(fname) {
            continue;
        }
        let Some(n) = fname
            .strip_suffix(".json")
            .and_then(|s| s.parse::<ModelVersionNumber>().ok())
        else {
            continue;
        };
        out.push(n);
    }
    Ok(out)
}

impl RegistryStore for FileRegistry {
    fn create_registered_model(&self, model: &NewModel) -> Result<RegisteredModel> {
        let now = (self.clock)();
        let data = ModelData::new(model, now)?;
        let guard = self.lock_exclusive()?;
        self.recover_journal(&guard)?;
        let disk = self.disk_gen()?;
        let mut cache = self.cache.write();
        cache.sync(disk);
        if self.ensure(&mut cache, &model.name)? {
            return Err(RegistryError::AlreadyExists {
                kind: "registered model",
                id: model.name.clone(),
            });
        }
        let dir = self.model_dir(&model.name);
        let versions = dir.join("versions");
        fs::create_dir_all(&versions).map_err(ioe(&versions))?;
        let incarnation = format!(
            "{}-{}-{}",
            now.timestamp_nanos_opt().unwrap_or_default(),
            std::process::id(),
            INCARNATIONS.fetch_add(1, Ordering::Relaxed)
        );
        let mut entry = Cached {
            data,
            incarnation,
            revision: 0,
            audit_len: 0,
            recent: Vec::new(),
            epoch: cache.epoch,
        };
        let new_gen = self.bump_gen(&guard)?;
        // Remove a stale log a crashed creation may have left, then commit with model.json.
        let audit = dir.join(AUDIT_FILE);
        match fs::remove_file(&audit) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(RegistryError::io(&audit, e)),
        }
        if self.fsync {
            fsutil::sync_dir(&dir).map_err(ioe(&dir))?;
            let models = self.root.join("models");
            fsutil::sync_dir(&models).map_err(ioe(&models))?;
        }
        self.persist(&mut entry, &Effects::default())?;
        let out = entry.data.model.clone();
        cache.models.insert(model.name.clone(), entry);
        cache.generation = new_gen;
        Ok(out)
    }

    fn get_registered_model(&self, name: &str) -> Result<RegisteredModel> {
        self.read(name, |d| Ok(d.model.clone()))
    }

    fn rename_registered_model(
        &self,
        name: &str,
        new_name: &str,
        change: &Change<'_>,
    ) -> Result<RegisteredModel> {
        validate_model_name(new_name)?;
        let guard = self.lock_exclusive()?;
        self.recover_journal(&guard)?;
        let disk = self.disk_gen()?;
        let mut cache = self.cache.write();
        cache.sync(disk);
        if !self.ensure(&mut cache, name)? {
            return Err(RegistryError::not_found("registered model", name));
        }
        if name == new_name || self.ensure(&mut cache, new_name)? {
            return Err(RegistryError::AlreadyExists {
                kind: "registered model",
                id: new_name.to_owned(),
            });
        }
        let now = (self.clock)();
        let Some(mut entry) = cache.models.remove(name) else {
            return Err(RegistryError::not_found("registered model", name));
        };
        let fx = entry.data.rename(new_name, change, now);
        let new_gen = self.bump_gen(&guard)?;
        let result = (|| {
            let old_dir = self.model_dir(name);
            if !fx.audit.is_empty() {
                entry.audit_len = self.append_audit(&old_dir, entry.audit_len, &fx.audit)?;
            }
            entry.revision += 1;
            entry.recent.push((entry.revision, Vec::new()));
            if entry.recent.len() > RECENT {
                entry.recent.remove(0);
            }
            let new_rel = format!("models/{}", dir_name(new_name));
            let model_path = self.model_dir(new_name).join(MODEL_FILE);
            let data = utf8(&model_path, self.model_json(&entry, &model_path)?)?;
            // A crashed creation of `new_name` may have left an uncommitted directory.
            let stale = self.model_dir(new_name);
            if stale.exists() {
                fs::remove_dir_all(&stale).map_err(ioe(&stale))?;
            }
            self.run_journal(vec![
                JournalOp::RenameDir {
                    from: format!("models/{}", dir_name(name)),
                    to: new_rel.clone(),
                },
                JournalOp::Write {
                    path: format!("{new_rel}/{MODEL_FILE}"),
                    data,
                },
            ])
        })();
        match result {
            Ok(()) => {
                let out = entry.data.model.clone();
                cache.models.insert(new_name.to_owned(), entry);
                cache.generation = new_gen;
                Ok(out)
            }
            Err(e) => {
                cache.listed = None;
                Err(e)
            }
        }
    }

    fn update_registered_model(&self, name: &str, description: &str) -> Result<RegisteredModel> {
        self.write(name, |d, now| {
            let fx = d.update_model(description, now);
            Ok((d.model.clone(), fx))
        })
    }

    fn delete_registered_model(&self, name: &str) -> Result<()> {
        let guard = self.lock_exclusive()?;
        self.recover_journal(&guard)?;
        let disk = self.disk_gen()?;
        let mut cache = self.cache.write();
        cache.sync(disk);
        if !self.ensure(&mut cache, name)? {
            return Err(RegistryError::not_found("registered model", name));
        }
        let new_gen = self.bump_gen(&guard)?;
        let dir = self.model_dir(name);
        let trash = self.root.join("trash").join(format!(
            "{}-{}-{}",
            dir_name(name),
            std::process::id(),
            INCARNATIONS.fetch_add(1, Ordering::Relaxed)
        ));
        // One atomic rename makes the deletion happen; the removal that follows may be redone.
        fs::rename(&dir, &trash).map_err(ioe(&dir))?;
        if self.fsync {
            let models = self.root.join("models");
            fsutil::sync_dir(&models).map_err(ioe(&models))?;
        }
        cache.models.remove(name);
        cache.generation = new_gen;
        drop(cache);
        drop(guard);
        // The model is gone; what is left in trash/ is removed now or by the next open.
        if let Err(e) = fs::remove_dir_all(&trash) {
            tracing::warn!(path = %trash.display(), "cannot empty trash: {e}");
        }
        Ok(())
    }

    fn search_registered_models(&self, search: &Search) -> Result<Page<RegisteredModel>> {
        search.filter.check_for_models()?;
        self.all_models(|all| {
            page_models(
                all.iter()
                    .map(|d| &d.model)
                    .filter(|m| search.filter.matches_model(m)),
                search,
            )
        })
    }

    fn create_model_version(&self, version: &NewVersion) -> Result<ModelVersion> {
        self.write(&version.name, |d, now| d.create_version(version, now))
    }

    fn get_model_version(&self, name: &str, version: ModelVersionNumber) -> Result<ModelVersion> {
        self.read(name, |d| d.view_of(version))
    }

    fn update_model_version(
        &self,
        name: &str,
        version: ModelVersionNumber,
        description: &str,
    ) -> Result<ModelVersion> {
        self.write(name, |d, now| d.update_version(version, description, now))
    }

    fn delete_model_version(
        &self,
        name: &str,
        version: ModelVersionNumber,
        change: &Change<'_>,
    ) -> Result<()> {
        self.write(name, |d, now| {
            Ok(((), d.delete_version(version, change, now)?))
        })
    }

    fn search_model_versions(&self, search: &Search) -> Result<Page<ModelVersion>> {
        check_version_search(search)?;
        let filter = &search.filter;
        if let Some(name) = filter.exact_name() {
            return match self.read(name, |d| {
                page_versions(d.views_desc().filter(|v| filter.matches_version(v)), search)
            }) {
                Err(RegistryError::NotFound {
                    kind: "registered model",
                    ..
                }) => Ok(Page::last(Vec::new())),
                other => other,
            };
        }
        self.all_models(|all| {
            page_versions(
                all.iter()
                    .flat_map(|d| d.views_desc())
                    .filter(|v| filter.matches_version(v)),
                search,
            )
        })
    }

    fn transition_stage(
        &self,
        name: &str,
        version: ModelVersionNumber,
        stage: Stage,
        archive_existing_versions: bool,
        change: &Change<'_>,
    ) -> Result<ModelVersion> {
        self.write(name, |d, now| {
            d.transition(version, stage, archive_existing_versions, change, now)
        })
    }

    fn set_alias(
        &self,
        name: &str,
        alias: &Alias,
        version: ModelVersionNumber,
        change: &Change<'_>,
    ) -> Result<()> {
        self.write(name, |d, now| {
            Ok(((), d.set_alias(alias, version, change, now)?))
        })
    }

    fn delete_alias(&self, name: &str, alias: &Alias, change: &Change<'_>) -> Result<()> {
        self.write(name, |d, now| Ok(((), d.delete_alias(alias, change, now)?)))
    }

    fn set_model_tag(&self, name: &str, key: &str, value: &str) -> Result<()> {
        self.write(name, |d, now| Ok(((), d.set_model_tag(key, value, now)?)))
    }

    fn delete_model_tag(&self, name: &str, key: &str) -> Result<()> {
        self.write(name, |d, now| Ok(((), d.delete_model_tag(key, now)?)))
    }

    fn set_version_tag(
        &self,
        name: &str,
        version: ModelVersionNumber,
        key: &str,
        value: &str,
    ) -> Result<()> {
        self.write(name, |d, now| {
            Ok(((), d.set_version_tag(version, key, value, now)?))
        })
    }

    fn delete_version_tag(&self, name: &str, version: ModelVersionNumber, key: &str) -> Result<()> {
        self.write(name, |d, now| {
            Ok(((), d.delete_version_tag(version, key, now)?))
        })
    }

    fn audit_history(&self, name: &str) -> Result<Vec<AuditRecord>> {
        let _guard = self.lock_for_read()?;
        let disk = self.disk_gen()?;
        let mut cache = self.cache.write();
        cache.sync(disk);
        if !self.ensure(&mut cache, name)? {
            return Err(RegistryError::not_found("registered model", name));
        }
        let committed = cache.fresh(name).map_or(0, |c| c.audit_len);
        self.read_audit(name, committed)
    }

    fn resolve(&self, uri: &ModelUri) -> Result<ModelVersionNumber> {
        self.read(uri.name(), |d| d.resolve(uri.target()))
    }
}
