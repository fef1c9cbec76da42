//! `checkout`: restore a version, every object checked and every file staged in a temp before
//! anything is renamed into place.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use super::Repository;
use super::stat::{Stat, StatCache, is_exec, now_ns};
use crate::error::{DvcError, Result};
use crate::file::BUF_SIZE;
use crate::model::{CheckoutOptions, CheckoutReport, DatasetKind, LinkMode, Phase, Rev};
use crate::par::{Tally, par_map};
use crate::path::RelPath;
use crate::tree::{self, ManifestEntry};
use mlops_fs as fsutil;

impl Repository {
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
    pub(super) fn materialize(
        &self,
        todo: &[(&ManifestEntry, PathBuf)],
        options: &CheckoutOptions,
    ) -> Result<Vec<(PathBuf, bool)>> {
        let total_bytes: u64 = todo.iter().map(|(e, _)| e.size).sum();
        let tally = Tally::new(
            Phase::Checkout,
            options.progress.as_ref(),
            todo.len() as u64,
            total_bytes,
        );
        par_map(self.threads, todo, |_, (e, target)| {
            let t = self.write_one(e, target, options.link)?;
            tally.add(e.size);
            Ok(t)
        })
        .map_err(|failed| {
            for (t, _) in failed.done {
                let _ = fs::remove_file(t);
            }
            failed.error
        })
    }

    pub(super) fn write_one(
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
