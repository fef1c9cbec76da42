//! `push` and `pull`: copy the objects that versions reach between stores, files first and trees
//! last.

use std::collections::HashSet;
use std::io;
use std::path::PathBuf;

use super::{Repository, not_found_dataset};
use crate::digest::Digest;
use crate::error::{DvcError, Result};
use crate::model::{DatasetKind, Phase, ProgressFn, RemoteStatus, TransferReport, Version};
use crate::par::{Tally, par_map};
use crate::path::RelPath;
use crate::store::ContentStore;
use crate::tree;

impl Repository {
    /// The objects (files, then trees children-first) that `roots` reach in `source`.
    pub(super) fn reachable(
        source: &dyn ContentStore,
        roots: &[(DatasetKind, Digest)],
    ) -> Result<(Vec<Digest>, Vec<Digest>)> {
        let mut files = Vec::new();
        let mut trees = Vec::new();
        let mut seen_files = HashSet::new();
        let mut seen_trees = HashSet::new();
        for (kind, d) in roots {
            match kind {
                DatasetKind::File => {
                    if seen_files.insert(*d) {
                        files.push(*d);
                    }
                }
                DatasetKind::Dir => {
                    if seen_trees.contains(d) {
                        continue;
                    }
                    let flat = tree::flatten(source, d)?;
                    for e in flat.files {
                        if seen_files.insert(e.digest) {
                            files.push(e.digest);
                        }
                    }
                    // `flatten` lists parents before children: reverse for children-first.
                    for t in flat.trees.into_iter().rev() {
                        if seen_trees.insert(t) {
                            trees.push(t);
                        }
                    }
                }
            }
        }
        Ok((files, trees))
    }

    /// [`reachable`](Self::reachable) in the local store, falling back to `other` (a remote)
    /// when the local store lacks a tree.
    pub(super) fn reachable_local_or(
        &self,
        other: &dyn ContentStore,
        roots: &[(DatasetKind, Digest)],
    ) -> Result<(Vec<Digest>, Vec<Digest>)> {
        match Self::reachable(&*self.store, roots) {
            Err(e) if e.is_not_found() => Self::reachable(other, roots),
            r => r,
        }
    }

    /// Compare the local cache with `remote` for the objects every version of `datasets` (all
    /// datasets when empty) needs, as DVC's `status --remote` does: which objects a push would
    /// upload, which a pull would download, and which neither side has.
    ///
    /// # Errors
    /// [`DvcError::NotFound`](crate::DvcError::NotFound) for an unknown dataset or a tree
    /// neither side has; store errors.
    pub fn remote_status(
        &self,
        remote: &dyn ContentStore,
        datasets: &[PathBuf],
    ) -> Result<RemoteStatus> {
        let roots = self.roots(datasets, true)?;
        let (files, trees) = self.reachable_local_or(remote, &roots)?;
        let all: Vec<Digest> = files.into_iter().chain(trees).collect();
        let local = self.store.contains_many(&all)?;
        let there = remote.contains_many(&all)?;
        let mut status = RemoteStatus {
            objects: all.len() as u64,
            ..RemoteStatus::default()
        };
        for ((d, l), r) in all.into_iter().zip(local).zip(there) {
            match (l, r) {
                (true, false) => status.to_push.push(d),
                (false, true) => status.to_pull.push(d),
                (false, false) => status.missing.push(d),
                (true, true) => {}
            }
        }
        Ok(status)
    }

    pub(super) fn roots(
        &self,
        datasets: &[PathBuf],
        all_versions: bool,
    ) -> Result<Vec<(DatasetKind, Digest)>> {
        let rels: Vec<RelPath> = if datasets.is_empty() {
            let mut all = self.datasets()?;
            all.extend(self.pointer_datasets()?);
            all.sort();
            all.dedup();
            all
        } else {
            datasets
                .iter()
                .map(|d| self.dataset_rel(d))
                .collect::<Result<_>>()?
        };
        let mut roots = Vec::new();
        for rel in &rels {
            let (log, _) = self.read_log(rel)?;
            let pointer = self.read_pointer_at(rel)?;
            if log.is_empty() && pointer.is_none() {
                return Err(not_found_dataset(rel));
            }
            let chosen: &[Version] = if all_versions {
                &log
            } else {
                log.last().map(std::slice::from_ref).unwrap_or_default()
            };
            roots.extend(chosen.iter().map(|v| (v.kind, v.digest)));
            if let Some(p) = pointer {
                roots.push((p.kind, p.digest));
            }
        }
        Ok(roots)
    }

    pub(super) fn transfer(
        &self,
        from: &dyn ContentStore,
        to: &dyn ContentStore,
        roots: &[(DatasetKind, Digest)],
        progress: Option<&ProgressFn>,
    ) -> Result<TransferReport> {
        // Pull needs the trees before it can know the files: fetch missing trees first.
        let (files, trees) = Self::reachable(from, roots)?;
        let mut report = TransferReport {
            objects: (files.len() + trees.len()) as u64,
            ..TransferReport::default()
        };
        let want_files: Vec<Digest> = files;
        let have = to.contains_many(&want_files)?;
        let missing: Vec<Digest> = want_files
            .iter()
            .zip(&have)
            .filter(|(_, h)| !**h)
            .map(|(d, _)| *d)
            .collect();
        report.present += (want_files.len() - missing.len()) as u64;
        let copy = |d: &Digest| -> Result<u64> {
            // `put_expected` hashes what it stores, so the source is read unverified: one
            // SHA-256 pass per byte, not two. When the copy does not match, the source is read
            // again, verified, so that the error names the side at fault.
            let mut reader = from.open_unverified(d)?;
            match to.put_expected(d, &mut reader) {
                Ok(put) => Ok(put.size),
                Err(e) if e.is_corrupt() => {
                    let mut verified = from.open(d)?;
                    io::copy(&mut verified, &mut io::sink())
                        .map_err(|source| DvcError::from_io(format!("object {d}"), source))?;
                    Err(e)
                }
                Err(e) => Err(e),
            }
        };
        let tally = Tally::new(Phase::Transfer, progress, missing.len() as u64, 0);
        let sizes = par_map(self.jobs, &missing, |_, d| {
            let n = copy(d)?;
            tally.add(n);
            Ok(n)
        })
        .map_err(|failed| failed.error)?;
        report.copied = sizes.len() as u64;
        report.bytes = sizes.iter().sum();
        // Trees last, children before parents: a tree present means its content is too.
        for t in trees {
            if to.contains(&t)? {
                report.present += 1;
            } else {
                report.bytes += copy(&t)?;
                report.copied += 1;
            }
        }
        Ok(report)
    }

    /// Copy to `remote` the objects of every version of `datasets` (all datasets when empty)
    /// that it lacks. Files go first and trees last, children before parents, so an interrupted
    /// push never leaves a tree whose content is missing.
    ///
    /// # Errors
    /// [`DvcError::NotFound`](crate::DvcError::NotFound) for an unknown dataset or a missing
    /// local object; [`DvcError::Corrupt`](crate::DvcError::Corrupt) for a damaged local object
    /// (it is never uploaded).
    pub fn push(&self, remote: &dyn ContentStore, datasets: &[PathBuf]) -> Result<TransferReport> {
        self.push_with(remote, datasets, None)
    }

    /// [`push`](Self::push) with a progress callback (one call per object copied).
    ///
    /// # Errors
    /// As [`push`](Self::push).
    pub fn push_with(
        &self,
        remote: &dyn ContentStore,
        datasets: &[PathBuf],
        progress: Option<&ProgressFn>,
    ) -> Result<TransferReport> {
        let _lock = self.lock()?;
        let roots = self.roots(datasets, true)?;
        self.transfer(&*self.store, remote, &roots, progress)
    }

    /// Copy from `remote` the objects that the versions of `datasets` need and the local store
    /// lacks: every version in the log and what the pointer file names. With no datasets named,
    /// every dataset with a log or a pointer file anywhere in the working directory.
    ///
    /// # Errors
    /// [`DvcError::NotFound`](crate::DvcError::NotFound) for an unknown dataset or an object the
    /// remote lacks; [`DvcError::Corrupt`](crate::DvcError::Corrupt) for a damaged remote object
    /// (it is not stored).
    pub fn pull(&self, remote: &dyn ContentStore, datasets: &[PathBuf]) -> Result<TransferReport> {
        self.pull_with(remote, datasets, None)
    }

    /// [`pull`](Self::pull) with a progress callback (one call per object copied).
    ///
    /// # Errors
    /// As [`pull`](Self::pull).
    pub fn pull_with(
        &self,
        remote: &dyn ContentStore,
        datasets: &[PathBuf],
        progress: Option<&ProgressFn>,
    ) -> Result<TransferReport> {
        let _lock = self.lock()?;
        let roots = self.roots(datasets, true)?;
        self.transfer(remote, &*self.store, &roots, progress)
    }
}
