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

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, MutexGuard, RwLock};

use crate::clock::{Clock, system_clock};
use crate::error::{EntityKind, RegistryError, Result};
use crate::model::{
    Alias, AuditRecord, ModelVersion, ModelVersionNumber, RegisteredModel, Stage,
    validate_model_name,
};
use crate::order::{Page, check_version_search, page_models, page_versions};
use crate::rules::ModelData;
use crate::store::{Change, NewModel, NewVersion, RegistryStore, Search};
use crate::uri::ModelUri;
use mlops_fs as fsutil;

use self::format::{AUDIT_FILE, FORMAT, Header, JournalOp, LOG_FILE, dir_name, ioe};

mod cache;
mod format;
mod recovery;
mod write;

/// A model log is compacted once it exceeds twice its size after the last compaction plus this
/// (the default of [`FileRegistry::with_compaction_slack`]).
const COMPACT_SLACK: u64 = 256 * 1024;

static INCARNATIONS: AtomicU64 = AtomicU64::new(0);

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
    clock: Arc<dyn Clock>,
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

    /// Use `clock` for every timestamp (tests pin time with it, e.g. with a
    /// [`ManualClock`](crate::clock::ManualClock)); the default is the system clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
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
}

impl RegistryStore for FileRegistry {
    fn create_registered_model(&self, model: &NewModel) -> Result<RegisteredModel> {
        let now = self.clock.now();
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
        let now = self.clock.now();
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
