//! `status` (working copy against a version) and `diff` (two versions, with a line diff for
//! text files).

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use parking_lot::Mutex;

use super::{Repository, Resolved, not_found_dataset};
use crate::digest::Digest;
use crate::error::{DvcError, Result};
use crate::model::{DatasetKind, Diff, Modified, Renamed, Rev, Status, TextDiff};
use crate::path::RelPath;
use crate::tree::ManifestEntry;

/// Text diffs are computed for files up to this size.
const TEXT_DIFF_MAX: u64 = 64 * 1024 * 1024;
const SAMPLES: usize = 3;

impl Repository {
    /// What changed in the working copy of `dataset`: added, modified and deleted files, and files
    /// whose executable bit changed (content unchanged), against
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
            Some(v) => Resolved::from(v),
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
        let old: HashMap<&RelPath, &ManifestEntry> =
            flat.files.iter().map(|e| (&e.path, e)).collect();
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
                Some(o) if o.digest != *d => status.modified.push(f.rel.clone()),
                Some(o) if o.exec != f.exec => status.mode_changed.push(f.rel.clone()),
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
    /// a new path), and files whose executable bit changed; for a file dataset whose versions
    /// are both UTF-8 text, a line diff.
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
            mode_changed: Vec::new(),
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
                Some(o) if o.exec != e.exec => diff.mode_changed.push(e.path.clone()),
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

    pub(super) fn read_text(&self, d: &Digest) -> Result<Option<String>> {
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

    pub(super) fn text_diff(&self, a: &Digest, b: &Digest) -> Result<Option<TextDiff>> {
        let (Some(ta), Some(tb)) = (self.read_text(a)?, self.read_text(b)?) else {
            return Ok(None);
        };
        Ok(Some(line_diff(&ta, &tb)))
    }
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
