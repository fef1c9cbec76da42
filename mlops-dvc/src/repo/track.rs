//! `track`: record the current content of a dataset as a new version.

use std::collections::BTreeMap;
use std::path::Path;

use parking_lot::Mutex;

use super::Repository;
use super::hash::Scanned;
use crate::digest::Digest;
use crate::error::{DvcError, Result};
use crate::model::{DatasetKind, TrackOptions, Tracked, Version};
use crate::path::RelPath;
use crate::tree::{self, EntryKind, TreeEntry};

impl Repository {
    /// Build and store the trees of a scanned folder; returns the root digest, the total size
    /// and the number of files.
    pub(super) fn write_trees(
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
        let (kind, files, dirs) = Self::scan(&abs, self.threads)?;
        let cache = Mutex::new(self.load_cache(&rel));
        let (digests, _) = self.hash_all(
            &files,
            &cache,
            Some(options.link),
            options.progress.as_ref(),
        )?;
        let (digest, size, nfiles, exec) = match kind {
            DatasetKind::File => (digests[0], files[0].stat.size, 1, files[0].exec),
            DatasetKind::Dir => {
                let (d, size, n) = self.write_trees(&files, &digests, &dirs)?;
                (d, size, n, false)
            }
        };
        cache.lock().keep_only(&files);
        self.save_cache(&rel, &cache.into_inner())?;
        let (log, torn) = self.read_log(&rel)?;
        let current = self.current(&rel, &log);
        for candidate in [current, log.last()].into_iter().flatten() {
            if candidate.digest == digest && candidate.kind == kind && candidate.exec == exec {
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
            timestamp: self.clock.now(),
            tags: options.tags.clone(),
            exec,
        };
        self.append_log(&rel, &version, torn)?;
        self.write_pointer(&version)?;
        Ok(Tracked::New(version))
    }
}
