//! `checkout`: restore a version, every object checked and every file staged in a temp before
//! anything is renamed into place.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;

use super::Repository;
use super::stat::{Stat, StatCache, is_exec, now_ns};
use crate::digest::Digest;
use crate::error::{DvcError, EntityKind, Result};
use crate::file::BUF_SIZE;
use crate::model::{CheckoutOptions, CheckoutReport, DatasetKind, LinkMode, Phase, Rev, Verify};
use crate::par::{Tally, par_map};
use crate::path::RelPath;
use crate::tree::{self, ManifestEntry};
use mlops_fs as fsutil;

/// One file a checkout writes.
struct Planned<'a> {
    entry: &'a ManifestEntry,
    target: PathBuf,
    /// Whether a file was at `target` before the checkout (a failed rename of a new file is
    /// undone by removing it).
    existed: bool,
}

impl Repository {
    /// Restore a version of `dataset` (by default to its own path), atomically per file.
    ///
    /// Everything is checked before anything is overwritten: the version's objects must exist
    /// with their recorded sizes, objects to be hardlinked are verified (see [`Verify`]), and
    /// every file is first written (copied with verification, or hardlinked) to a temp next to
    /// its destination; only when all are ready are they renamed into place. Files already
    /// equal are left alone. On an error before the renames, the destination is as it was:
    /// temps and the folders the checkout created are removed. With
    /// [`remove_extra`](CheckoutOptions::remove_extra), files not in the version are removed,
    /// only inside the destination folder.
    ///
    /// # Errors
    /// [`DvcError::NotFound`] for an unknown dataset or version, or a missing object;
    /// [`DvcError::Corrupt`] naming the object (digest and cache file) for a damaged object
    /// (nothing in the destination changed); [`DvcError::InvalidArgument`] when a destination
    /// folder is a symlink; [`DvcError::Conflict`] when a folder stands where a file goes (or
    /// the reverse).
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
        // 1. Every object is there, with its recorded size.
        self.check_sizes(&rel, &flat)?;
        // 2. Plan: which files need writing; check no folder stands in the way. The stat cache
        // of the working copy is used for an in-place checkout only; the objects verified before
        // are remembered in the same file whatever the destination.
        let cache = Mutex::new(self.load_cache(&rel));
        let mut report = CheckoutReport {
            version: r.version,
            ..CheckoutReport::default()
        };
        let todo = self.plan(&dest, &flat, own.then_some(&cache), &mut report)?;
        // 3. Verify what will be linked (or everything, with `Verify::Always`).
        report.verified = match self.verify_objects(&flat, &todo, options, &cache) {
            Ok(n) => n,
            Err(err) => {
                // What was found intact stays remembered; the cache is only an accelerator.
                let _ = self.save_cache(&rel, &cache.lock());
                return Err(err);
            }
        };
        // 4. Write every file to a temp next to its destination, then rename them all into
        // place; on failure, undo (temps, new files, created folders).
        let mut created = Vec::new();
        report.linked = match self.stage_and_rename(&dest, &flat, &todo, options, &mut created) {
            Ok(linked) => linked,
            Err(err) => {
                for d in created.iter().rev() {
                    // Only empty folders go: one something else wrote into meanwhile stays.
                    let _ = fs::remove_dir(d);
                }
                return Err(err);
            }
        };
        for p in &todo {
            report.written += 1;
            report.bytes += p.entry.size;
            if own && let Ok(m) = fs::metadata(&p.target) {
                cache
                    .lock()
                    .record(p.entry.path.clone(), Stat::of(&m), p.entry.digest, now_ns());
            }
        }
        if self.fsync && !todo.is_empty() {
            let mut dirs: Vec<&Path> = todo.iter().filter_map(|p| p.target.parent()).collect();
            dirs.sort();
            dirs.dedup();
            for d in dirs {
                fsutil::sync_dir(d).map_err(|e| DvcError::io(d, e))?;
            }
        }
        // 5. Extra files, only inside the destination folder.
        if options.remove_extra && r.kind == DatasetKind::Dir {
            report.removed = remove_extra(&dest, &flat, self.threads)?;
        }
        self.save_cache(&rel, &cache.into_inner())?;
        if own {
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

    /// Check that every object of `flat` is in the store with its recorded size.
    fn check_sizes(&self, rel: &RelPath, flat: &tree::Flat) -> Result<()> {
        for e in &flat.files {
            let size = self.store.size(&e.digest).map_err(|err| match err {
                DvcError::NotFound { .. } => DvcError::NotFound {
                    kind: EntityKind::Object,
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
                    detail: format!(
                        "object {} has {size} bytes, the version records {}",
                        e.digest, e.size
                    ),
                });
            }
        }
        Ok(())
    }

    /// The files of `flat` that need writing under `dest` (others are counted as unchanged in
    /// `report`); fails when a file stands where a folder goes, or the reverse. `cache` is the
    /// working copy's stat cache, for an in-place checkout.
    fn plan<'a>(
        &self,
        dest: &Path,
        flat: &'a tree::Flat,
        cache: Option<&Mutex<StatCache>>,
        report: &mut CheckoutReport,
    ) -> Result<Vec<Planned<'a>>> {
        // Folders first: none may be a symlink or a file; remember which do not exist yet (their
        // files need no look).
        let mut fresh: HashSet<&RelPath> = HashSet::new();
        for d in &flat.dirs {
            self.check_no_symlinks(dest, d, true)?;
            let p = d.under(dest);
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
        let mut todo = Vec::new();
        for e in &flat.files {
            let target = e.path.under(dest);
            if !e.path.is_root() && fresh.contains(&e.path.parent()) {
                todo.push(Planned {
                    entry: e,
                    target,
                    existed: false,
                });
                continue;
            }
            let existed = match fs::symlink_metadata(&target) {
                Ok(m) if m.is_dir() => {
                    return Err(DvcError::Conflict(format!(
                        "{} is a folder where the version has a file",
                        target.display()
                    )));
                }
                Ok(m) if m.is_file() => {
                    let stat = Stat::of(&m);
                    let same = cache
                        .is_some_and(|c| c.lock().lookup(&e.path, &stat) == Some(e.digest))
                        || self
                            .store
                            .local_path(&e.digest)
                            .and_then(|p| fs::metadata(p).ok())
                            .is_some_and(|om| Stat::of(&om).ino == stat.ino && stat.ino != 0);
                    if same && is_exec(&m) == e.exec {
                        report.unchanged += 1;
                        continue;
                    }
                    true
                }
                Ok(_) => true,
                Err(_) => false,
            };
            todo.push(Planned {
                entry: e,
                target,
                existed,
            });
        }
        Ok(todo)
    }

    /// The cache object a file is hardlinked to, when it is (link mode, a read-only local
    /// object, not executable); `None` when it is copied.
    fn link_source(&self, e: &ManifestEntry, link: LinkMode) -> Option<PathBuf> {
        if link != LinkMode::Hardlink || e.exec {
            return None;
        }
        let obj = self.store.local_path(&e.digest)?;
        fs::metadata(&obj)
            .is_ok_and(|m| m.permissions().readonly())
            .then_some(obj)
    }

    /// Re-hash the objects `options.verify` asks for, in parallel, skipping those verified
    /// before whose file is unchanged (unless `Verify::Always`); returns how many were hashed.
    fn verify_objects(
        &self,
        flat: &tree::Flat,
        todo: &[Planned<'_>],
        options: &CheckoutOptions,
        cache: &Mutex<StatCache>,
    ) -> Result<u64> {
        let mut digests: Vec<Digest> = match options.verify {
            Verify::UnsafeTrustCache => return Ok(0),
            Verify::Always => flat.files.iter().map(|e| e.digest).collect(),
            _ => todo
                .iter()
                .filter(|p| self.link_source(p.entry, options.link).is_some())
                .map(|p| p.entry.digest)
                .collect(),
        };
        digests.sort_unstable();
        digests.dedup();
        let always = options.verify == Verify::Always;
        let stat_of = |d: &Digest| {
            self.store
                .local_path(d)
                .and_then(|p| fs::metadata(p).ok())
                .map(|m| Stat::of(&m))
        };
        let hashed = par_map(self.threads, &digests, |_, d| {
            let before = stat_of(d);
            if !always && before.is_some_and(|s| cache.lock().is_verified(d, &s)) {
                return Ok(false);
            }
            let started = now_ns();
            self.store.verify(d)?;
            if let Some(s) = before
                && stat_of(d) == Some(s)
            {
                cache.lock().record_verified(*d, s, started);
            }
            Ok(true)
        })
        .map_err(|failed| failed.error)?;
        Ok(hashed.into_iter().filter(|h| *h).count() as u64)
    }

    /// Create the folders, write every planned file to a temp, rename them all into place.
    /// Folders it creates are pushed to `created` (parents first). On error, every temp is
    /// removed and so is every file renamed to a path that was free before. Returns the number
    /// of files hardlinked.
    fn stage_and_rename(
        &self,
        dest: &Path,
        flat: &tree::Flat,
        todo: &[Planned<'_>],
        options: &CheckoutOptions,
        created: &mut Vec<PathBuf>,
    ) -> Result<u64> {
        for d in &flat.dirs {
            create_dirs(&d.under(dest), created)?;
        }
        if flat.dirs.is_empty()
            && let Some(parent) = dest.parent()
        {
            create_dirs(parent, created)?;
        }
        let temps = self.materialize(todo, options)?;
        // The renames run on the worker threads, in runs of consecutive files of the same
        // folder (renames in one folder take its lock in turn, so a run is one thread's work).
        // Each run counts the files it moved, so that a failure can undo exactly those, and
        // every run stops at the next file once any rename failed (as the one-thread loop did):
        // a replaced file cannot be brought back.
        let runs = folder_runs(todo);
        let moved: Vec<AtomicUsize> = runs.iter().map(|_| AtomicUsize::new(0)).collect();
        let stop = AtomicBool::new(false);
        let renamed = par_map(self.threads, &runs, |k, run| {
            for i in run.clone() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if let Err(err) = fs::rename(&temps[i].0, &todo[i].target) {
                    stop.store(true, Ordering::Relaxed);
                    return Err(DvcError::io(&todo[i].target, err));
                }
                moved[k].fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        });
        if let Err(failed) = renamed {
            for (run, n) in runs.iter().zip(&moved) {
                let done = run.start + n.load(Ordering::Relaxed);
                for p in todo[run.start..done].iter().filter(|p| !p.existed) {
                    let _ = fs::remove_file(&p.target);
                }
                for (t, _) in &temps[done..run.end] {
                    let _ = fs::remove_file(t);
                }
            }
            return Err(failed.error);
        }
        Ok(temps.iter().filter(|(_, linked)| *linked).count() as u64)
    }

    /// Write each planned file to a temp (copy or hardlink); all-or-nothing.
    fn materialize(
        &self,
        todo: &[Planned<'_>],
        options: &CheckoutOptions,
    ) -> Result<Vec<(PathBuf, bool)>> {
        let total_bytes: u64 = todo.iter().map(|p| p.entry.size).sum();
        let tally = Tally::new(
            Phase::Checkout,
            options.progress.as_ref(),
            todo.len() as u64,
            total_bytes,
        );
        par_map(self.threads, todo, |_, p| {
            let t = self.write_one(p.entry, &p.target, options.link)?;
            tally.add(p.entry.size);
            Ok(t)
        })
        .map_err(|failed| {
            for (t, _) in failed.done {
                let _ = fs::remove_file(t);
            }
            failed.error
        })
    }

    /// Write one file to a temp next to `target`: a hardlink of its object, or a verified copy.
    /// Returns the temp and whether it is a hardlink.
    fn write_one(
        &self,
        e: &ManifestEntry,
        target: &Path,
        link: LinkMode,
    ) -> Result<(PathBuf, bool)> {
        let temp = temp_next_to(target)?;
        if let Some(obj) = self.link_source(e, link) {
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

/// `todo` cut into runs of consecutive files with the same parent folder.
fn folder_runs(todo: &[Planned<'_>]) -> Vec<Range<usize>> {
    let mut runs: Vec<Range<usize>> = Vec::new();
    for (i, p) in todo.iter().enumerate() {
        match runs.last_mut() {
            Some(run) if todo[run.start].target.parent() == p.target.parent() => run.end = i + 1,
            _ => runs.push(i..i + 1),
        }
    }
    runs
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

/// Create `dir` and its missing ancestors, pushing each folder created to `created` (parents
/// first).
fn create_dirs(dir: &Path, created: &mut Vec<PathBuf>) -> Result<()> {
    let mut missing = Vec::new();
    let mut cur = Some(dir);
    while let Some(p) = cur {
        match fs::symlink_metadata(p) {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                missing.push(p.to_path_buf());
                cur = p.parent().filter(|q| !q.as_os_str().is_empty());
            }
            Err(e) => return Err(DvcError::io(p, e)),
        }
    }
    for p in missing.into_iter().rev() {
        match fs::create_dir(&p) {
            Ok(()) => created.push(p),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(DvcError::io(&p, e)),
        }
    }
    Ok(())
}

/// Remove files and then empty folders under `dest` that `flat` does not list.
fn remove_extra(dest: &Path, flat: &tree::Flat, threads: usize) -> Result<u64> {
    let keep_files: HashSet<&RelPath> = flat.files.iter().map(|e| &e.path).collect();
    let keep_dirs: HashSet<&RelPath> = flat.dirs.iter().collect();
    let (_, files, mut dirs) = Repository::scan(dest, threads)?;
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
