//! Recovery: the redo journal of multi-file changes and the repairs made on open.

use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use super::format::{
    FORMAT, JOURNAL_FILE, Journal, JournalOp, LOG_FILE, OLD_MODEL_FILE, ioe, is_model_dir,
    load_log, old_format, parse, read_opt, to_json,
};
use super::{FileRegistry, LockGuard};
use crate::error::{RegistryError, Result};
use mlops_fs as fsutil;

impl FileRegistry {
    pub(super) fn journal_path(&self) -> PathBuf {
        self.root.join(JOURNAL_FILE)
    }

    pub(super) fn rel(&self, rel: &str) -> Result<PathBuf> {
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
    pub(super) fn apply_journal(&self, journal: &Journal) -> Result<()> {
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
    pub(super) fn run_journal(&self, ops: Vec<JournalOp>) -> Result<()> {
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
    pub(super) fn recover_journal(&self, guard: &LockGuard<'_>) -> Result<bool> {
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

    pub(super) fn repair_all(&self, guard: &LockGuard<'_>) -> Result<Vec<String>> {
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
}
