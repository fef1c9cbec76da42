//! `gc`: remove the objects no kept version reaches.

use std::collections::HashSet;

use super::Repository;
use crate::digest::Digest;
use crate::error::Result;
use crate::model::{GcOptions, GcReport, Keep, Rev};

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
        let (files, trees) = Self::reachable(&*self.store, &roots)?;
        let keep: HashSet<Digest> = files.into_iter().chain(trees).collect();
        let mut report = GcReport {
            kept: 0,
            dry_run: options.dry_run,
            ..GcReport::default()
        };
        for d in self.store.list()? {
            if keep.contains(&d) {
                report.kept += 1;
                continue;
            }
            let size = self.store.size(&d).unwrap_or(0);
            if options.dry_run || self.store.delete(&d)? {
                report.removed += 1;
                report.freed_bytes += size;
            }
        }
        Ok(report)
    }
}
