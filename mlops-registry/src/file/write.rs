//! Writing: applying a change under the lock, appending it to the logs, compaction.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use chrono::{DateTime, Utc};

use super::format::{AUDIT_FILE, Header, LOG_FILE, RecordOut, frame, ioe};
use super::{Cached, FileRegistry};
use crate::error::{EntityKind, RegistryError, Result};
use crate::model::AuditRecord;
use crate::rules::{Effects, ModelData};
use mlops_fs as fsutil;

impl FileRegistry {
    /// Apply a change to model `name` under the exclusive lock and persist it.
    pub(super) fn write<T>(
        &self,
        name: &str,
        f: impl FnOnce(&mut ModelData, DateTime<Utc>) -> Result<(T, Effects)>,
    ) -> Result<T> {
        let guard = self.lock_exclusive()?;
        self.recover_journal(&guard)?;
        let disk = self.disk_gen()?;
        let mut cache = self.cache.write();
        cache.sync(disk);
        if !self.ensure(&mut cache, name)? {
            return Err(RegistryError::not_found(EntityKind::RegisteredModel, name));
        }
        let now = self.clock.now();
        let Some(entry) = cache.models.get_mut(name) else {
            return Err(RegistryError::not_found(EntityKind::RegisteredModel, name));
        };
        // The rules validate before they change anything: an error leaves the entry as it was.
        let (out, fx) = f(&mut entry.data, now)?;
        let new_gen = self.bump_gen(&guard)?;
        match self.persist(entry, &fx) {
            Ok(()) => {
                cache.generation = new_gen;
                Ok(out)
            }
            Err(e) => {
                // What reached the disk is unknown: forget the entry, reload it next time.
                cache.models.remove(name);
                cache.listed = None;
                Err(e)
            }
        }
    }

    pub(super) fn append_audit(
        &self,
        dir: &Path,
        committed: u64,
        records: &[AuditRecord],
    ) -> Result<u64> {
        let path = dir.join(AUDIT_FILE);
        let mut buf = Vec::new();
        for r in records {
            frame(&path, r, &mut buf)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(ioe(&path))?;
        let len = file.metadata().map_err(ioe(&path))?.len();
        if len < committed {
            return Err(RegistryError::corrupt(
                &path,
                format!("the log has {len} bytes but {committed} were committed"),
            ));
        }
        if len > committed {
            // The tail of a change that never committed.
            file.set_len(committed).map_err(ioe(&path))?;
        }
        file.seek(SeekFrom::Start(committed)).map_err(ioe(&path))?;
        file.write_all(&buf).map_err(ioe(&path))?;
        if self.fsync {
            file.sync_data().map_err(ioe(&path))?;
        }
        Ok(committed + buf.len() as u64)
    }

    /// The whole log of `entry`, as one header and one record holding every version: its
    /// bytes and the header record's bytes.
    pub(super) fn whole_log(
        entry: &Cached,
        header: &Header,
        path: &Path,
    ) -> Result<(Vec<u8>, usize)> {
        let mut bytes = Vec::new();
        frame(path, header, &mut bytes)?;
        let hlen = bytes.len();
        frame(
            path,
            &RecordOut {
                model: &entry.data.model,
                put: entry.data.versions.values().collect(),
                removed: Vec::new(),
                audit_len: entry.audit_len,
            },
            &mut bytes,
        )?;
        Ok((bytes, hlen))
    }

    /// Replace the log of `entry` (in `dir`) by its compacted form under a new header.
    pub(super) fn rewrite_log(&self, entry: &mut Cached, dir: &Path) -> Result<()> {
        let path = dir.join(LOG_FILE);
        let header = Header {
            compaction: entry.header.compaction + 1,
            ..entry.header.clone()
        };
        let (bytes, hlen) = Self::whole_log(entry, &header, &path)?;
        fsutil::write_atomic(&path, &bytes, self.fsync).map_err(ioe(&path))?;
        entry.header_bytes = bytes[..hlen].to_vec();
        entry.header = header;
        entry.log_len = bytes.len() as u64;
        entry.base_len = entry.log_len;
        Ok(())
    }

    /// Persist a change: its audit records past the committed length of `audit.log`, then one
    /// record appended to `model.log` (the commit point), then a compaction when it is due.
    pub(super) fn persist(&self, entry: &mut Cached, fx: &Effects) -> Result<()> {
        let dir = self.model_dir(entry.data.name());
        if !fx.audit.is_empty() {
            entry.audit_len = self.append_audit(&dir, entry.audit_len, &fx.audit)?;
        }
        let path = dir.join(LOG_FILE);
        let mut buf = Vec::with_capacity(512);
        let put = fx
            .written
            .iter()
            .map(|n| entry.data.get(*n))
            .collect::<Result<Vec<_>>>()?;
        frame(
            &path,
            &RecordOut {
                model: &entry.data.model,
                put,
                removed: fx.removed.iter().copied().collect(),
                audit_len: entry.audit_len,
            },
            &mut buf,
        )?;
        let mut file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(ioe(&path))?;
        let len = file.metadata().map_err(ioe(&path))?.len();
        if len != entry.log_len {
            // A torn record of a writer that died mid-append (or one of ours that failed).
            file.set_len(entry.log_len).map_err(ioe(&path))?;
        }
        file.seek(SeekFrom::Start(entry.log_len))
            .map_err(ioe(&path))?;
        file.write_all(&buf).map_err(ioe(&path))?;
        if self.fsync {
            file.sync_data().map_err(ioe(&path))?;
        }
        entry.log_len += buf.len() as u64;
        if entry.log_len > 2 * entry.base_len + self.compact_slack
            && let Err(e) = self.rewrite_log(entry, &dir)
        {
            // The change is committed in the log; compaction is retried by the next change.
            tracing::warn!(path = %path.display(), "cannot compact the model log: {e}");
            entry.base_len = entry.log_len;
        }
        Ok(())
    }

    pub(super) fn read_audit(&self, name: &str, committed: u64) -> Result<Vec<AuditRecord>> {
        let path = self.model_dir(name).join(AUDIT_FILE);
        let mut data = Vec::new();
        match File::open(&path) {
            Ok(mut f) => {
                f.read_to_end(&mut data).map_err(ioe(&path))?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(RegistryError::io(&path, e)),
        }
        let committed = usize::try_from(committed).unwrap_or(usize::MAX);
        if data.len() < committed {
            return Err(RegistryError::corrupt(
                &path,
                format!(
                    "the log has {} bytes but {committed} were committed",
                    data.len()
                ),
            ));
        }
        let data = &data[..committed];
        let scan = fsutil::scan_records(data).map_err(|c| {
            RegistryError::corrupt(&path, format!("at byte {}: {}", c.offset, c.detail))
        })?;
        if let Some(at) = scan.torn_at {
            return Err(RegistryError::corrupt(
                &path,
                format!("committed record at byte {at} is damaged"),
            ));
        }
        scan.records
            .iter()
            .map(|r| {
                serde_json::from_slice(r)
                    .map_err(|e| RegistryError::corrupt(&path, format!("bad audit record: {e}")))
            })
            .collect()
    }
}
