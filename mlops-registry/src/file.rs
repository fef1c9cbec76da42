//! [`FileRegistry`]: a registry in a directory, shared safely by many processes.
//!
//! Layout (format 2, see `docs/formats.md`):
//!
//! ```text
//! <root>/registry.lock            cross-process lock (exclusive for writes, shared for loads)
//! <root>/registry.gen             generation counter, stored as the file's length
//! <root>/journal.json             redo journal of an in-flight rename (normally absent)
//! <root>/trash/                   models being deleted
//! <root>/models/<32 hex>/         one model; the name is sha256(name), first 32 hex digits
//!     model.log                   framed, append-only: a header, then one record per change
//!     audit.log                   framed, append-only audit history
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use parking_lot::{Mutex, MutexGuard, RwLock};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::error::{EntityKind, RegistryError, Result};
use crate::model::{
    Alias, AuditRecord, ModelVersion, ModelVersionNumber, RegisteredModel, Stage,
    validate_model_name,
};
use crate::order::{Page, check_version_search, page_models, page_versions};
use crate::rules::{Clock, Effects, ModelData, system_clock};
use crate::store::{Change, NewModel, NewVersion, RegistryStore, Search};
use crate::uri::ModelUri;
use mlops_fs as fsutil;

const FORMAT: u32 = 2;
const LOG_FILE: &str = "model.log";
const OLD_MODEL_FILE: &str = "model.json";
const AUDIT_FILE: &str = "audit.log";
const JOURNAL_FILE: &str = "journal.json";
/// A model log is compacted once it exceeds twice its size after the last compaction plus this
/// (the default of [`FileRegistry::with_compaction_slack`]).
const COMPACT_SLACK: u64 = 256 * 1024;

/// The largest header record a log may start with (its payload, in bytes).
const MAX_HEADER_LEN: usize = 64 * 1024;

static INCARNATIONS: AtomicU64 = AtomicU64::new(0);

/// The first record of `model.log`: which model, which incarnation, which compaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Header {
    format: u32,
    name: String,
    /// Changes when the model is (re)created: tells a deleted-and-recreated model apart.
    incarnation: String,
    /// Incremented each time the log is rewritten (compaction, rename): a reader whose cached
    /// header differs reloads the whole log.
    compaction: u64,
}

/// Every later record of `model.log`: one committed change (the first after the header holds
/// every version, as of the last compaction).
#[derive(Debug, Serialize)]
struct RecordOut<'a> {
    model: &'a RegisteredModel,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    put: Vec<&'a ModelVersion>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    removed: Vec<ModelVersionNumber>,
    /// Length of the committed prefix of `audit.log` after this change.
    audit_len: u64,
}

#[derive(Debug, Deserialize)]
struct RecordIn {
    model: RegisteredModel,
    #[serde(default)]
    put: Vec<ModelVersion>,
    #[serde(default)]
    removed: Vec<ModelVersionNumber>,
    audit_len: u64,
}

/// `journal.json`: the writes of a multi-file change (a rename), redone on recovery.
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
    /// The framed header record exactly as it is on disk.
    header_bytes: Vec<u8>,
    header: Header,
    /// Bytes of intact records of `model.log` applied to `data`.
    log_len: u64,
    /// The log's length right after it was last written whole.
    base_len: u64,
    audit_len: u64,
    epoch: u64,
}

#[derive(Debug, Default)]
struct Cache {
    /// The generation the cache was last synchronised with.
    generation: u64,
    /// Bumped whenever another process changed the registry: entries of older epochs must be
    /// revalidated against their `model.log`.
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
/// - Each model is one append-only log of framed records (`model.log`): a change of the model
///   or its versions is one record appended under an exclusive [`File::lock`] on
///   `registry.lock`, so version numbers are assigned without gaps or duplicates across
///   processes, and a change is visible whole or not at all. The log is compacted (rewritten
///   atomically as one record) when it has doubled since it was last written whole.
/// - Reads are served from an in-process cache. Every write first grows `registry.gen` by one
///   byte (its length *is* the generation), so a reader checks freshness with one `fstat` of an
///   open file, with no read and no path lookup; only when the generation moved does it take the
///   shared lock and read the new records at the end of the log of the model it needs.
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
    compact_slack: u64,
    /// Entries of `models/` and `trash/` that are not the registry's, already reported.
    ignored: Mutex<HashSet<PathBuf>>,
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

/// Whether a directory entry under `models/` is a model folder: a directory (not a symlink)
/// whose name is [`dir_name`]'s 32 lower-case hex digits. Anything else (a `.DS_Store`, a
/// README, an editor backup, a folder of notes) is not ours and is ignored.
fn is_model_dir(entry: &fs::DirEntry) -> bool {
    let name = entry.file_name();
    let hex = name.to_str().is_some_and(|n| {
        n.len() == 32 && n.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    });
    hex && entry.file_type().is_ok_and(|t| t.is_dir())
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

/// Append `value` as one framed record to `out`.
fn frame<T: Serialize>(path: &Path, value: &T, out: &mut Vec<u8>) -> Result<()> {
    let payload = serde_json::to_vec(value).map_err(|source| RegistryError::Serde {
        path: path.to_owned(),
        source,
    })?;
    fsutil::encode_record(&payload, out).map_err(ioe(path))
}

/// The error for a directory written by an older version of this crate.
fn old_format(path: &Path) -> RegistryError {
    RegistryError::corrupt(
        path,
        format!(
            "written by an older mlops-registry (format 1: model.json and versions/*.json); \
             this version reads format {FORMAT} (model.log) and does not convert: re-register \
             the model, or read it with the version that wrote it"
        ),
    )
}

/// A model log, parsed: its header and the state its records add up to.
struct Loaded {
    header_bytes: Vec<u8>,
    header: Header,
    data: ModelData,
    /// Bytes of intact records.
    log_len: u64,
    audit_len: u64,
    /// Offset of a torn last record (a writer died mid-append), dropped.
    torn_at: Option<u64>,
}

/// The header record at the start of a log: `(header, framed bytes)`.
fn parse_header(path: &Path, data: &[u8]) -> Result<(Header, usize)> {
    let scan_err = |detail: String| RegistryError::corrupt(path, detail);
    if data.is_empty() {
        return Err(scan_err("the file is empty".to_owned()));
    }
    let len = header_record_len(data)
        .ok_or_else(|| scan_err("does not start with a header record".to_owned()))?;
    let scan = fsutil::scan_records(&data[..len])
        .map_err(|c| scan_err(format!("at byte {}: {}", c.offset, c.detail)))?;
    let Some(payload) = scan.records.first().filter(|_| scan.torn_at.is_none()) else {
        return Err(scan_err("the header record is damaged".to_owned()));
    };
    let header: Header =
        serde_json::from_slice(payload).map_err(|e| scan_err(format!("bad header record: {e}")))?;
    if header.format != FORMAT {
        return Err(scan_err(format!(
            "unsupported format {} (expected {FORMAT})",
            header.format
        )));
    }
    Ok((header, len))
}

/// The framed length of the first record of `data`, from its length field.
fn header_record_len(data: &[u8]) -> Option<usize> {
    let hex = std::str::from_utf8(data.get(..8)?).ok()?;
    let len = usize::from_str_radix(hex, 16).ok()?;
    let total = 18 + len + 1;
    (total <= data.len()).then_some(total)
}

/// Apply the change records of `data` (framed, starting at `base` in the file) to `model` and
/// `versions`. Returns (intact length, audit length, torn offset).
fn apply_records(
    path: &Path,
    data: &[u8],
    base: u64,
    model: &mut Option<RegisteredModel>,
    versions: &mut BTreeMap<ModelVersionNumber, ModelVersion>,
    audit_len: &mut u64,
) -> Result<(u64, Option<u64>)> {
    let scan = fsutil::scan_records(data).map_err(|c| {
        RegistryError::corrupt(
            path,
            format!("at byte {}: {}", base + c.offset as u64, c.detail),
        )
    })?;
    for payload in &scan.records {
        let rec: RecordIn = serde_json::from_slice(payload)
            .map_err(|e| RegistryError::corrupt(path, format!("bad change record: {e}")))?;
        for n in rec.removed {
            versions.remove(&n);
        }
        for mut v in rec.put {
            v.name.clone_from(&rec.model.name);
            versions.insert(v.version, v);
        }
        *model = Some(rec.model);
        *audit_len = rec.audit_len;
    }
    Ok((
        base + scan.valid_len as u64,
        scan.torn_at.map(|t| base + t as u64),
    ))
}

/// Parse a whole model log.
fn load_log(path: &Path, data: &[u8]) -> Result<Loaded> {
    let (header, hlen) = parse_header(path, data)?;
    let mut model = None;
    let mut versions = BTreeMap::new();
    let mut audit_len = 0;
    let (log_len, torn_at) = apply_records(
        path,
        &data[hlen..],
        hlen as u64,
        &mut model,
        &mut versions,
        &mut audit_len,
    )?;
    let Some(model) = model else {
        return Err(RegistryError::corrupt(
            path,
            "the log holds no model record",
        ));
    };
    if model.name != header.name {
        return Err(RegistryError::corrupt(
            path,
            format!(
                "holds model {:?} under header {:?}",
                model.name, header.name
            ),
        ));
    }
    Ok(Loaded {
        header_bytes: data[..hlen].to_vec(),
        header,
        data: ModelData::from_parts(model, versions),
        log_len,
        audit_len,
        torn_at,
    })
}

impl FileRegistry {
    /// Open (creating if needed) the registry in `root`, and repair what a crash left behind:
    /// an interrupted rename is redone from its journal; stray temp files of dead writers,
    /// half-created models and models being deleted are removed; a torn last record of a model
    /// log (a writer that died mid-append) is dropped (see [`FileRegistry::repairs`]). Opening
    /// reads every model's log once (a damaged log does not stop the open: that model's
    /// operations report it).
    ///
    /// # Errors
    /// [`RegistryError::Io`] when the directory cannot be created or locked;
    /// [`RegistryError::Corrupt`] for a damaged journal, or a model directory in the older
    /// format 1 (`model.json`), which is not converted.
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
            compact_slack: COMPACT_SLACK,
            ignored: Mutex::default(),
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

    /// Compact a model's log (rewrite it atomically as one record) once it is longer than
    /// twice its length after the last compaction plus `bytes` (default 256 KiB). Compaction
    /// keeps opening and reloading a model proportional to its state, not its history; its
    /// cost is amortised over the appends that doubled the log. Tests set it low to compact
    /// often.
    #[must_use]
    pub fn with_compaction_slack(mut self, bytes: u64) -> Self {
        self.compact_slack = bytes;
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

    /// Note an entry of `models/` or `trash/` that is not the registry's: logged through
    /// `tracing` the first time this handle meets it, then skipped silently.
    fn ignore(&self, path: &Path) {
        if self.ignored.lock().insert(path.to_owned()) {
            tracing::info!(path = %path.display(), "ignoring an entry that is not a model folder");
        }
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
            let entry = entry.map_err(ioe(&trash))?;
            let p = entry.path();
            // Only the registry puts folders in trash/; a file someone left there is not ours.
            if !entry.file_type().map_err(ioe(&p))?.is_dir() {
                self.ignore(&p);
                continue;
            }
            fs::remove_dir_all(&p).map_err(ioe(&p))?;
            repairs.push(format!("finished deleting {}", p.display()));
        }
        let models = self.root.join("models");
        for entry in fs::read_dir(&models).map_err(ioe(&models))? {
            let entry = entry.map_err(ioe(&models))?;
            let dir = entry.path();
            if !is_model_dir(&entry) {
                self.ignore(&dir);
                continue;
            }
            stray(&dir, &mut repairs)?;
            let log = dir.join(LOG_FILE);
            let Some(data) = read_opt(&log)? else {
                let old = dir.join(OLD_MODEL_FILE);
                if old.exists() {
                    return Err(old_format(&old));
                }
                fs::remove_dir_all(&dir).map_err(ioe(&dir))?;
                repairs.push(format!(
                    "removed {}: a model whose creation never committed",
                    dir.display()
                ));
                continue;
            };
            let loaded = match load_log(&log, &data) {
                Ok(l) => l,
                // Damage is reported when the model is used; the other models stay usable.
                Err(e @ RegistryError::Corrupt { .. }) => {
                    tracing::warn!("{e}");
                    continue;
                }
                Err(e) => return Err(e),
            };
            if let Some(at) = loaded.torn_at {
                let file = OpenOptions::new()
                    .write(true)
                    .open(&log)
                    .map_err(ioe(&log))?;
                file.set_len(loaded.log_len).map_err(ioe(&log))?;
                if self.fsync {
                    file.sync_data().map_err(ioe(&log))?;
                }
                repairs.push(format!(
                    "dropped the torn last record of {} at byte {at} (a writer died mid-append)",
                    log.display()
                ));
            }
        }
        Ok(repairs)
    }

    // ---------------------------------------------------------------- loading

    /// Read and parse the whole log of `name`; `None` when the model does not exist.
    fn read_model(&self, name: &str) -> Result<Option<Loaded>> {
        let dir = self.model_dir(name);
        let path = dir.join(LOG_FILE);
        let Some(data) = read_opt(&path)? else {
            let old = dir.join(OLD_MODEL_FILE);
            if old.exists() {
                return Err(old_format(&old));
            }
            return Ok(None);
        };
        let loaded = load_log(&path, &data)?;
        if loaded.header.name != name {
            return Err(RegistryError::corrupt(
                &path,
                format!("holds model {:?}, expected {name:?}", loaded.header.name),
            ));
        }
        Ok(Some(loaded))
    }

    /// Bring `c` up to date by reading only the records appended since it was read, when the
    /// log is still the one it was read from (same header). `Ok(false)` when it is not.
    fn refresh(&self, c: &mut Cached) -> Result<bool> {
        let path = self.model_dir(c.header.name.as_str()).join(LOG_FILE);
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(RegistryError::io(&path, e)),
        };
        let mut head = vec![0; c.header_bytes.len()];
        match file.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
            Err(e) => return Err(RegistryError::io(&path, e)),
        }
        let len = file.metadata().map_err(ioe(&path))?.len();
        if head != c.header_bytes || len < c.log_len {
            // Rewritten (compaction, rename, recreation) or cut short: read it whole.
            return Ok(false);
        }
        file.seek(SeekFrom::Start(c.log_len)).map_err(ioe(&path))?;
        let mut tail = Vec::new();
        file.read_to_end(&mut tail).map_err(ioe(&path))?;
        if tail.is_empty() {
            return Ok(true);
        }
        let mut model = Some(c.data.model.clone());
        let mut versions = std::mem::take(&mut c.data.versions);
        let mut audit_len = c.audit_len;
        let applied = apply_records(
            &path,
            &tail,
            c.log_len,
            &mut model,
            &mut versions,
            &mut audit_len,
        );
        let model = model.unwrap_or_else(|| c.data.model.clone());
        c.data = ModelData::from_parts(model, versions);
        let (log_len, _torn) = applied?;
        c.log_len = log_len;
        c.audit_len = audit_len;
        Ok(true)
    }

    /// Make the cache entry of `name` current (under a lock). `Ok(false)` when the model does
    /// not exist.
    fn ensure(&self, cache: &mut Cache, name: &str) -> Result<bool> {
        if cache.fresh(name).is_some() {
            return Ok(true);
        }
        let epoch = cache.epoch;
        if let Some(c) = cache.models.get_mut(name) {
            match self.refresh(c) {
                Ok(true) => {
                    c.epoch = epoch;
                    return Ok(true);
                }
                Ok(false) => {}
                Err(e) => {
                    cache.models.remove(name);
                    return Err(e);
                }
            }
        }
        cache.models.remove(name);
        let Some(loaded) = self.read_model(name)? else {
            return Ok(false);
        };
        cache.models.insert(
            name.to_owned(),
            Cached {
                base_len: loaded.log_len,
                data: loaded.data,
                header_bytes: loaded.header_bytes,
                header: loaded.header,
                log_len: loaded.log_len,
                audit_len: loaded.audit_len,
                epoch,
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
            return Err(RegistryError::not_found(EntityKind::RegisteredModel, name));
        }
        let c = cache
            .fresh(name)
            .ok_or_else(|| RegistryError::not_found(EntityKind::RegisteredModel, name))?;
        f(&c.data)
    }

    /// The name of the model a directory holds, from its log's header (`None` for a directory
    /// whose creation never committed).
    fn model_name_in(dir: &Path) -> Result<Option<String>> {
        let path = dir.join(LOG_FILE);
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let old = dir.join(OLD_MODEL_FILE);
                if old.exists() {
                    return Err(old_format(&old));
                }
                return Ok(None);
            }
            Err(e) => return Err(RegistryError::io(&path, e)),
        };
        let mut head = [0u8; 8];
        let got = file.read(&mut head).map_err(ioe(&path))?;
        let len = std::str::from_utf8(&head[..got])
            .ok()
            .filter(|_| got == 8)
            .and_then(|h| usize::from_str_radix(h, 16).ok())
            // A header holds a name of at most a few hundred bytes: never trust a huge length.
            .filter(|&len| len <= MAX_HEADER_LEN)
            .ok_or_else(|| RegistryError::corrupt(&path, "does not start with a header record"))?;
        let mut data = head.to_vec();
        data.resize(18 + len + 1, 0);
        file.read_exact(&mut data[8..]).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                RegistryError::corrupt(&path, "the header record is cut short")
            } else {
                RegistryError::io(&path, e)
            }
        })?;
        let (header, _) = parse_header(&path, &data)?;
        Ok(Some(header.name))
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
                let entry = entry.map_err(ioe(&models))?;
                let dir = entry.path();
                if !is_model_dir(&entry) {
                    self.ignore(&dir);
                    continue;
                }
                let Some(name) = Self::model_name_in(&dir)? else {
                    continue;
                };
                if dir.file_name().and_then(|n| n.to_str()) != Some(dir_name(&name).as_str()) {
                    return Err(RegistryError::corrupt(
                        dir.join(LOG_FILE),
                        format!("holds model {name:?}, which belongs in another directory"),
                    ));
                }
                names.push(name);
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
            return Err(RegistryError::not_found(EntityKind::RegisteredModel, name));
        }
        let now = (self.clock)();
        let Some(entry) = cache.models.get_mut(name) else {
            return Err(RegistryError::not_found(EntityKind::RegisteredModel, name));
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
            frame(&path, r, &mut buf)?;
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

    /// The whole log of `entry`, as one header and one record holding every version: its
    /// bytes and the header record's bytes.
    fn whole_log(entry: &Cached, header: &Header, path: &Path) -> Result<(Vec<u8>, usize)> {
        let mut bytes = Vec::new();
        frame(path, header, &mut bytes)?;
        let hlen = bytes.len();
        frame(
            path,
            &RecordOut {
                model: &entry.data.model,
                put: entry.data.versions.values().collect(),
                removed: Vec::new(),
                audit_len: entry.audit_len,
            },
            &mut bytes,
        )?;
        Ok((bytes, hlen))
    }

    /// Replace the log of `entry` (in `dir`) by its compacted form under a new header.
    fn rewrite_log(&self, entry: &mut Cached, dir: &Path) -> Result<()> {
        let path = dir.join(LOG_FILE);
        let header = Header {
            compaction: entry.header.compaction + 1,
            ..entry.header.clone()
        };
        let (bytes, hlen) = Self::whole_log(entry, &header, &path)?;
        fsutil::write_atomic(&path, &bytes, self.fsync).map_err(ioe(&path))?;
        entry.header_bytes = bytes[..hlen].to_vec();
        entry.header = header;
        entry.log_len = bytes.len() as u64;
        entry.base_len = entry.log_len;
        Ok(())
    }

    /// Persist a change: its audit records past the committed length of `audit.log`, then one
    /// record appended to `model.log` (the commit point), then a compaction when it is due.
    fn persist(&self, entry: &mut Cached, fx: &Effects) -> Result<()> {
        let dir = self.model_dir(entry.data.name());
        if !fx.audit.is_empty() {
            entry.audit_len = self.append_audit(&dir, entry.audit_len, &fx.audit)?;
        }
        let path = dir.join(LOG_FILE);
        let mut buf = Vec::with_capacity(512);
        let put = fx
            .written
            .iter()
            .map(|n| entry.data.get(*n))
            .collect::<Result<Vec<_>>>()?;
        frame(
            &path,
            &RecordOut {
                model: &entry.data.model,
                put,
                removed: fx.removed.iter().copied().collect(),
                audit_len: entry.audit_len,
            },
            &mut buf,
        )?;
        let mut file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(ioe(&path))?;
        let len = file.metadata().map_err(ioe(&path))?.len();
        if len != entry.log_len {
            // A torn record of a writer that died mid-append (or one of ours that failed).
            file.set_len(entry.log_len).map_err(ioe(&path))?;
        }
        file.seek(SeekFrom::Start(entry.log_len))
            .map_err(ioe(&path))?;
        file.write_all(&buf).map_err(ioe(&path))?;
        if self.fsync {
            file.sync_data().map_err(ioe(&path))?;
        }
        entry.log_len += buf.len() as u64;
        if entry.log_len > 2 * entry.base_len + self.compact_slack
            && let Err(e) = self.rewrite_log(entry, &dir)
        {
            // The change is committed in the log; compaction is retried by the next change.
            tracing::warn!(path = %path.display(), "cannot compact the model log: {e}");
            entry.base_len = entry.log_len;
        }
        Ok(())
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
            return Err(RegistryError::already_exists(
                EntityKind::RegisteredModel,
                model.name.clone(),
            ));
        }
        let dir = self.model_dir(&model.name);
        fs::create_dir_all(&dir).map_err(ioe(&dir))?;
        let incarnation = format!(
            "{}-{}-{}",
            now.timestamp_nanos_opt().unwrap_or_default(),
            std::process::id(),
            INCARNATIONS.fetch_add(1, Ordering::Relaxed)
        );
        let header = Header {
            format: FORMAT,
            name: model.name.clone(),
            incarnation,
            compaction: 0,
        };
        let mut entry = Cached {
            data,
            header_bytes: Vec::new(),
            header: header.clone(),
            log_len: 0,
            base_len: 0,
            audit_len: 0,
            epoch: cache.epoch,
        };
        let new_gen = self.bump_gen(&guard)?;
        // Remove a stale audit log a crashed creation may have left, then commit by the
        // appearance of model.log.
        let audit = dir.join(AUDIT_FILE);
        match fs::remove_file(&audit) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(RegistryError::io(&audit, e)),
        }
        if self.fsync {
            let models = self.root.join("models");
            fsutil::sync_dir(&models).map_err(ioe(&models))?;
        }
        let path = dir.join(LOG_FILE);
        let (bytes, hlen) = Self::whole_log(&entry, &header, &path)?;
        fsutil::write_atomic(&path, &bytes, self.fsync).map_err(ioe(&path))?;
        entry.header_bytes = bytes[..hlen].to_vec();
        entry.log_len = bytes.len() as u64;
        entry.base_len = entry.log_len;
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
            return Err(RegistryError::not_found(EntityKind::RegisteredModel, name));
        }
        if name == new_name || self.ensure(&mut cache, new_name)? {
            return Err(RegistryError::already_exists(
                EntityKind::RegisteredModel,
                new_name.to_owned(),
            ));
        }
        let now = (self.clock)();
        let Some(mut entry) = cache.models.remove(name) else {
            return Err(RegistryError::not_found(EntityKind::RegisteredModel, name));
        };
        let fx = entry.data.rename(new_name, change, now);
        let new_gen = self.bump_gen(&guard)?;
        let result = (|| {
            let old_dir = self.model_dir(name);
            if !fx.audit.is_empty() {
                entry.audit_len = self.append_audit(&old_dir, entry.audit_len, &fx.audit)?;
            }
            let new_rel = format!("models/{}", dir_name(new_name));
            let path = self.model_dir(new_name).join(LOG_FILE);
            let header = Header {
                name: new_name.to_owned(),
                compaction: entry.header.compaction + 1,
                ..entry.header.clone()
            };
            let (bytes, hlen) = Self::whole_log(&entry, &header, &path)?;
            let data = String::from_utf8(bytes.clone()).map_err(|e| {
                RegistryError::invalid("record", format!("{}: {e}", path.display()))
            })?;
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
                    path: format!("{new_rel}/{LOG_FILE}"),
                    data,
                },
            ])?;
            entry.header_bytes = bytes[..hlen].to_vec();
            entry.header = header;
            entry.log_len = bytes.len() as u64;
            entry.base_len = entry.log_len;
            Ok(())
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
            return Err(RegistryError::not_found(EntityKind::RegisteredModel, name));
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
                    kind: EntityKind::RegisteredModel,
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
            return Err(RegistryError::not_found(EntityKind::RegisteredModel, name));
        }
        let committed = cache.fresh(name).map_or(0, |c| c.audit_len);
        self.read_audit(name, committed)
    }

    fn resolve(&self, uri: &ModelUri) -> Result<ModelVersionNumber> {
        self.read(uri.name(), |d| d.resolve(uri.target()))
    }
}
