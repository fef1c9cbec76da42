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
    /// whose size, mtime or inode changed are re-hashed. A clean result is remembered in the
    /// stat cache: the next status of a folder whose listing still matches it (paths, stats,
    /// executable bits) is clean without reading the version's tree objects.
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
        let abs = rel.under(&self.root);
        let symlinks = self.check_no_symlinks(&self.root, &rel, true);
        // The stat cache and the manifest are read on a second thread while the working copy
        // is listed; the manifest is not read when the cache is marked clean against this
        // version (then a listing that matches the cache by stat is the version).
        let dir = r.kind == DatasetKind::Dir;
        let (flat, cache, scanned) = std::thread::scope(|s| {
            let side = s.spawn(|| {
                let cache = self.load_cache(&rel);
                let flat = (!(dir && cache.is_clean_against(&r.digest))).then(|| self.manifest(&r));
                (flat, cache)
            });
            let scanned = symlinks
                .as_ref()
                .ok()
                .map(|()| Self::scan(&abs, self.threads));
            let (flat, cache) = side
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (flat, cache, scanned)
        });
        let flat = flat.transpose()?;
        symlinks?;
        let (kind, files, _) = match scanned {
            Some(Ok(s)) => s,
            Some(Err(DvcError::NotFound { .. })) => (r.kind, Vec::new(), Vec::new()),
            Some(Err(e)) => return Err(e),
            None => unreachable!("the symlink check passed"),
        };
        let files = if kind == r.kind { files } else { Vec::new() };
        if flat.is_none() && cache.still_clean(&r.digest, &files) {
            return Ok(Status {
                version: r.version,
                unchanged: files.len() as u64,
                ..Status::default()
            });
        }
        let flat = match flat {
            Some(flat) => flat,
            None => self.manifest(&r)?,
        };
        let cache = Mutex::new(cache);
        let (digests, rehashed) = self.hash_all(&files, &cache, None, None)?;
        let mut status = Status {
            version: r.version,
            rehashed,
            ..Status::default()
        };
        let current: Vec<(&RelPath, &Digest, bool)> = files
            .iter()
            .zip(&digests)
            .map(|(f, d)| (&f.rel, d, f.exec))
            .collect();
        compare_to_manifest(&current, &flat.files, &mut status);
        let mut cache = cache.into_inner();
        if dir && status.is_clean() {
            cache.mark_clean(r.digest, &files, &digests);
        }
        self.save_cache(&rel, &cache)?;
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

/// Sort the working copy's files (`current`: path, digest, executable bit, in [`RelPath`]
/// order, no duplicates) against a version's manifest into `status`: added, modified and
/// mode-changed files in `current` order, deleted files in manifest order. A merge walk when
/// the manifest is in strict path order (as trees are written), hash lookups otherwise.
fn compare_to_manifest(
    current: &[(&RelPath, &Digest, bool)],
    manifest: &[ManifestEntry],
    status: &mut Status,
) {
    let classify = |status: &mut Status,
                    (path, digest, exec): (&RelPath, &Digest, bool),
                    o: &ManifestEntry| {
        if o.digest != *digest {
            status.modified.push(path.clone());
        } else if o.exec != exec {
            status.mode_changed.push(path.clone());
        } else {
            status.unchanged += 1;
        }
    };
    if !manifest.is_sorted_by(|a, b| a.path < b.path) {
        compare_by_lookup(current, manifest, status);
        return;
    }
    let (mut i, mut k) = (0, 0);
    while let Some(&f) = current.get(i) {
        match manifest.get(k) {
            Some(o) if o.path < *f.0 => {
                status.deleted.push(o.path.clone());
                k += 1;
            }
            Some(o) if o.path == *f.0 => {
                classify(status, f, o);
                i += 1;
                k += 1;
            }
            _ => {
                status.added.push(f.0.clone());
                i += 1;
            }
        }
    }
    status
        .deleted
        .extend(manifest[k..].iter().map(|o| o.path.clone()));
}

/// [`compare_to_manifest`] for a manifest in any order.
fn compare_by_lookup(
    current: &[(&RelPath, &Digest, bool)],
    manifest: &[ManifestEntry],
    status: &mut Status,
) {
    let old: HashMap<&RelPath, &ManifestEntry> = manifest.iter().map(|e| (&e.path, e)).collect();
    let mut seen = HashSet::new();
    for &(path, digest, exec) in current {
        seen.insert(path);
        match old.get(path) {
            None => status.added.push(path.clone()),
            Some(o) if o.digest != *digest => status.modified.push(path.clone()),
            Some(o) if o.exec != exec => status.mode_changed.push(path.clone()),
            Some(_) => status.unchanged += 1,
        }
    }
    for e in manifest {
        if !seen.contains(&e.path) {
            status.deleted.push(e.path.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn path() -> impl Strategy<Value = RelPath> {
        proptest::collection::vec(
            prop_oneof![Just("a"), Just("a.b"), Just("b"), Just("a-"), Just("c d")],
            1..4,
        )
        .prop_map(|c| RelPath::from_bytes(c.join("/").as_bytes()).unwrap())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn merge_walk_matches_lookup(
            cur in proptest::collection::btree_map(path(), (0u8..3, any::<bool>()), 0..20),
            old in proptest::collection::btree_map(path(), (0u8..3, any::<bool>()), 0..20),
            shuffle in any::<bool>(),
        ) {
            let digests: Vec<Digest> = (0u8..3).map(|b| Digest::of_bytes(&[b])).collect();
            let current: Vec<(&RelPath, &Digest, bool)> =
                cur.iter().map(|(p, (d, x))| (p, &digests[usize::from(*d)], *x)).collect();
            let mut manifest: Vec<ManifestEntry> = old
                .iter()
                .map(|(p, (d, x))| ManifestEntry {
                    path: p.clone(),
                    digest: digests[usize::from(*d)],
                    size: 1,
                    exec: *x,
                })
                .collect();
            if shuffle {
                manifest.reverse();
            }
            let (mut a, mut b) = (Status::default(), Status::default());
            compare_to_manifest(&current, &manifest, &mut a);
            compare_by_lookup(&current, &manifest, &mut b);
            prop_assert_eq!(
                (&a.added, &a.modified, &a.mode_changed, &a.deleted, a.unchanged),
                (&b.added, &b.modified, &b.mode_changed, &b.deleted, b.unchanged)
            );
        }
    }
}
