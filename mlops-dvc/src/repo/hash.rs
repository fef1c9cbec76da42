//! Scanning a dataset's files and hashing them (in parallel, through the stat cache), storing
//! new content by copy or hardlink.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

use super::Repository;
use super::stat::{Stat, StatCache, is_exec, now_ns};
use crate::digest::Digest;
use crate::error::{DvcError, EntityKind, Result};
use crate::model::{DatasetKind, LinkMode, Phase, ProgressFn};
use crate::par::{Tally, par_map};
use crate::path::{RelPath, os_bytes};

/// One file found in the working copy.
#[derive(Debug, Clone)]
pub(super) struct Scanned {
    pub(super) rel: RelPath,
    pub(super) abs: PathBuf,
    pub(super) stat: Stat,
    pub(super) exec: bool,
}

impl Repository {
    /// Find the files of a dataset at `abs` (a file or a folder). Returns the kind, the files
    /// (paths relative to `abs`, in [`RelPath`] order) and every folder (for empty ones).
    ///
    /// Folders are listed level by level, the folders of one level on up to `threads` threads
    /// (a no-op status is bound by listing and `stat`, which the kernel serves in parallel).
    /// When several entries are unusable (a symlink, a bad name, an I/O error), which one the
    /// error names depends on the threads' timing.
    pub(super) fn scan(
        abs: &Path,
        threads: usize,
    ) -> Result<(DatasetKind, Vec<Scanned>, Vec<RelPath>)> {
        let meta = fs::symlink_metadata(abs).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => DvcError::NotFound {
                kind: EntityKind::Path,
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
        let mut level = vec![(abs.to_path_buf(), RelPath::root())];
        while !level.is_empty() {
            let listed = par_map(threads, &level, |_, (dir, rel)| list_dir(dir, rel))
                .map_err(|failed| failed.error)?;
            let mut next = Vec::new();
            for ((_, rel), (found, subdirs)) in level.into_iter().zip(listed) {
                dirs.push(rel);
                files.extend(found);
                next.extend(subdirs);
            }
            level = next;
        }
        // Each folder's files come sorted, and folders in order within a level, so this stable
        // sort (which merges sorted runs) is one pass when all files are at one depth.
        files.sort_by(|a, b| a.rel.cmp(&b.rel));
        dirs.sort_unstable();
        Ok((DatasetKind::Dir, files, dirs))
    }

    /// Digest every file: from the stat cache when its stat is unchanged, else by reading it
    /// (storing it when `store` is set). Parallel over `self.threads`; constant memory per
    /// thread. Returns the digests in `files` order and how many files were read.
    pub(super) fn hash_all(
        &self,
        files: &[Scanned],
        cache: &Mutex<StatCache>,
        store: Option<LinkMode>,
        progress: Option<&ProgressFn>,
    ) -> Result<(Vec<Digest>, u64)> {
        let total_bytes: u64 = files.iter().map(|f| f.stat.size).sum();
        let known: Vec<Option<Digest>> = cache.lock().lookup_sorted(files);
        if store.is_none() && known.iter().all(Option::is_some) {
            // Every stat matched the cache: nothing to read, no threads to start.
            return Ok((known.into_iter().flatten().collect(), 0));
        }
        let tally = Tally::new(Phase::Hashing, progress, files.len() as u64, total_bytes);
        let digests = par_map(self.threads, files, |i, f| {
            let d = match known[i] {
                Some(d) if store.is_none() => d,
                Some(d) if self.store.contains(&d)? => d,
                _ => self.ingest(f, store)?,
            };
            if known[i] != Some(d) {
                cache.lock().record(f.rel.clone(), f.stat, d, now_ns());
            }
            tally.add(f.stat.size);
            Ok(d)
        })
        .map_err(|failed| failed.error)?;
        let rehashed = known
            .iter()
            .zip(&digests)
            .filter(|(k, d)| **k != Some(**d))
            .count() as u64;
        Ok((digests, rehashed))
    }

    /// Read one file (storing it, by copy or hardlink, when `store` is set), checking it did not
    /// change meanwhile.
    pub(super) fn ingest(&self, f: &Scanned, store: Option<LinkMode>) -> Result<Digest> {
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
    pub(super) fn check_unchanged(&self, f: &Scanned, read: u64) -> Result<()> {
        let _ = self;
        let after = fs::metadata(&f.abs).map_err(|e| DvcError::io(&f.abs, e))?;
        if read != f.stat.size || Stat::of(&after) != f.stat {
            return Err(DvcError::Changed {
                path: f.abs.clone(),
            });
        }
        Ok(())
    }
}

/// The files and sub-folders of one folder (`rel` relative to the dataset).
type Listing = (Vec<Scanned>, Vec<(PathBuf, RelPath)>);

fn list_dir(dir: &Path, rel: &RelPath) -> Result<Listing> {
    let mut files = Vec::new();
    let mut subdirs = Vec::new();
    let rd = fs::read_dir(dir).map_err(|e| DvcError::io(dir, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| DvcError::io(dir, e))?;
        let path = entry.path();
        let name = os_bytes(&entry.file_name())?;
        let child = RelPath::from_bytes(&name)
            .map(|_| rel.join_name(&name))
            .map_err(|e| DvcError::invalid("path", format!("{}: {e}", path.display())))?;
        let m = entry.metadata().map_err(|e| DvcError::io(&path, e))?;
        if m.is_dir() {
            subdirs.push((path, child));
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
    // Sorted here, on the worker threads: `scan` then finds its list made of sorted runs.
    files.sort_unstable_by(|a, b| a.rel.cmp(&b.rel));
    subdirs.sort_unstable_by(|a, b| a.1.cmp(&b.1));
    Ok((files, subdirs))
}

pub(super) fn unsupported(path: &Path, m: &fs::Metadata) -> DvcError {
    let what = if m.file_type().is_symlink() {
        "a symlink (symlinks are not tracked: they could point outside the working directory)"
    } else {
        "not a regular file or folder"
    };
    DvcError::invalid("path", format!("{} is {what}", path.display()))
}
