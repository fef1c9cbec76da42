//! `gc`: remove the objects no kept version reaches.

use std::collections::HashSet;

use super::Repository;
use crate::digest::Digest;
use crate::error::{DvcError, Result};
use crate::model::{GcOptions, GcReport, Keep, Rev};
use crate::par::{Failed, par_map};
use crate::store::ContentStore;

impl Repository {
    /// Remove from the store every object no kept version reaches (see [`Keep`]); what any
    /// pointer file in the working directory names is always kept (so a fresh clone's pulled
    /// data survives). Refuses (nothing removed) when a kept version's tree is missing,
    /// since its files could not be told apart from garbage.
    ///
    /// # Errors
    /// [`DvcError::NotFound`](crate::DvcError::NotFound) for a kept version whose tree is
    /// missing; store I/O errors.
    pub fn gc(&self, options: &GcOptions) -> Result<GcReport> {
        let _lock = self.lock()?;
        self.gc_in(&*self.store, options)
    }

    /// [`gc`](Self::gc) on a remote (DVC's `gc --cloud`): remove from `remote` every object no
    /// kept version reaches, with the same [`Keep`] rules as the local gc. The kept set is
    /// computed from the local cache, falling back to the remote for trees the cache lacks.
    /// Deletions run [`with_jobs`](Self::with_jobs) at a time.
    ///
    /// # Errors
    /// As [`gc`](Self::gc); the remote's errors.
    pub fn gc_remote(&self, remote: &dyn ContentStore, options: &GcOptions) -> Result<GcReport> {
        let _lock = self.lock()?;
        self.gc_in(remote, options)
    }

    fn gc_in(&self, target: &dyn ContentStore, options: &GcOptions) -> Result<GcReport> {
        let mut roots = Vec::new();
        match &options.keep {
            Keep::AllVersions => roots = self.roots(&[], true)?,
            Keep::Latest => roots = self.roots(&[], false)?,
            Keep::Versions(list) => {
                let mut all = self.datasets()?;
                all.extend(self.pointer_datasets()?);
                for rel in all {
                    if let Some(p) = self.read_pointer_at(&rel)? {
                        roots.push((p.kind, p.digest));
                    }
                }
                for (path, n) in list {
                    let rel = self.dataset_rel(path)?;
                    let r = self.resolve(&rel, Rev::Number(*n))?;
                    roots.push((r.kind, r.digest));
                }
            }
        }
        let (files, trees) = self.reachable_local_or(target, &roots)?;
        let keep: HashSet<Digest> = files.into_iter().chain(trees).collect();
        let mut report = GcReport {
            kept: 0,
            dry_run: options.dry_run,
            ..GcReport::default()
        };
        let (kept, garbage): (Vec<Digest>, Vec<Digest>) =
            target.list()?.into_iter().partition(|d| keep.contains(d));
        report.kept = kept.len() as u64;
        let removed = par_map(self.jobs, &garbage, |_, d| {
            let size = target.size(d).unwrap_or(0);
            Ok((options.dry_run || target.delete(d)?).then_some(size))
        })
        .map_err(|failed: Failed<_, DvcError>| failed.error)?;
        for size in removed.into_iter().flatten() {
            report.removed += 1;
            report.freed_bytes += size;
        }
        Ok(report)
    }
}
