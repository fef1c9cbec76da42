//! Loading: the per-process cache of model logs, revalidated by generation.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use super::format::{
    LOG_FILE, Loaded, MAX_HEADER_LEN, OLD_MODEL_FILE, apply_records, dir_name, ioe, is_model_dir,
    load_log, old_format, parse_header, read_opt,
};
use super::{Cache, Cached, FileRegistry, LockGuard};
use crate::error::{EntityKind, RegistryError, Result};
use crate::rules::ModelData;

impl FileRegistry {
    /// Read and parse the whole log of `name`; `None` when the model does not exist.
    pub(super) fn read_model(&self, name: &str) -> Result<Option<Loaded>> {
        let dir = self.model_dir(name);
        let path = dir.join(LOG_FILE);
        let Some(data) = read_opt(&path)? else {
            let old = dir.join(OLD_MODEL_FILE);
            if old.exists() {
                return Err(old_format(&old));
            }
            return Ok(None);
        };
        let loaded = load_log(&path, &data)?;
        if loaded.header.name != name {
            return Err(RegistryError::corrupt(
                &path,
                format!("holds model {:?}, expected {name:?}", loaded.header.name),
            ));
        }
        Ok(Some(loaded))
    }

    /// Bring `c` up to date by reading only the records appended since it was read, when the
    /// log is still the one it was read from (same header). `Ok(false)` when it is not.
    pub(super) fn refresh(&self, c: &mut Cached) -> Result<bool> {
        let path = self.model_dir(c.header.name.as_str()).join(LOG_FILE);
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(RegistryError::io(&path, e)),
        };
        let mut head = vec![0; c.header_bytes.len()];
        match file.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
            Err(e) => return Err(RegistryError::io(&path, e)),
        }
        let len = file.metadata().map_err(ioe(&path))?.len();
        if head != c.header_bytes || len < c.log_len {
            // Rewritten (compaction, rename, recreation) or cut short: read it whole.
            return Ok(false);
        }
        file.seek(SeekFrom::Start(c.log_len)).map_err(ioe(&path))?;
        let mut tail = Vec::new();
        file.read_to_end(&mut tail).map_err(ioe(&path))?;
        if tail.is_empty() {
            return Ok(true);
        }
        let mut model = Some(c.data.model.clone());
        let mut versions = std::mem::take(&mut c.data.versions);
        let mut audit_len = c.audit_len;
        let applied = apply_records(
            &path,
            &tail,
            c.log_len,
            &mut model,
            &mut versions,
            &mut audit_len,
        );
        let model = model.unwrap_or_else(|| c.data.model.clone());
        c.data = ModelData::from_parts(model, versions);
        let (log_len, _torn) = applied?;
        c.log_len = log_len;
        c.audit_len = audit_len;
        Ok(true)
    }

    /// Make the cache entry of `name` current (under a lock). `Ok(false)` when the model does
    /// not exist.
    pub(super) fn ensure(&self, cache: &mut Cache, name: &str) -> Result<bool> {
        if cache.fresh(name).is_some() {
            return Ok(true);
        }
        let epoch = cache.epoch;
        if let Some(c) = cache.models.get_mut(name) {
            match self.refresh(c) {
                Ok(true) => {
                    c.epoch = epoch;
                    return Ok(true);
                }
                Ok(false) => {}
                Err(e) => {
                    cache.models.remove(name);
                    return Err(e);
                }
            }
        }
        cache.models.remove(name);
        let Some(loaded) = self.read_model(name)? else {
            return Ok(false);
        };
        cache.models.insert(
            name.to_owned(),
            Cached {
                base_len: loaded.log_len,
                data: loaded.data,
                header_bytes: loaded.header_bytes,
                header: loaded.header,
                log_len: loaded.log_len,
                audit_len: loaded.audit_len,
                epoch,
            },
        );
        Ok(true)
    }

    /// Lock for reading, redoing a crashed writer's journal first if there is one.
    pub(super) fn lock_for_read(&self) -> Result<LockGuard<'_>> {
        let guard = self.lock_shared()?;
        if !self.journal_path().exists() {
            return Ok(guard);
        }
        drop(guard);
        let guard = self.lock_exclusive()?;
        self.recover_journal(&guard)?;
        Ok(guard)
    }

    /// Run `f` on the current state of `name`: from the cache when the generation did not move
    /// (one `fstat`), else after revalidating under the shared lock.
    pub(super) fn read<T>(&self, name: &str, f: impl Fn(&ModelData) -> Result<T>) -> Result<T> {
        let disk = self.disk_gen()?;
        {
            let cache = self.cache.read();
            if cache.generation == disk
                && let Some(c) = cache.fresh(name)
            {
                return f(&c.data);
            }
        }
        let _guard = self.lock_for_read()?;
        let disk = self.disk_gen()?;
        let mut cache = self.cache.write();
        cache.sync(disk);
        if !self.ensure(&mut cache, name)? {
            return Err(RegistryError::not_found(EntityKind::RegisteredModel, name));
        }
        let c = cache
            .fresh(name)
            .ok_or_else(|| RegistryError::not_found(EntityKind::RegisteredModel, name))?;
        f(&c.data)
    }

    /// The name of the model a directory holds, from its log's header (`None` for a directory
    /// whose creation never committed).
    pub(super) fn model_name_in(dir: &Path) -> Result<Option<String>> {
        let path = dir.join(LOG_FILE);
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let old = dir.join(OLD_MODEL_FILE);
                if old.exists() {
                    return Err(old_format(&old));
                }
                return Ok(None);
            }
            Err(e) => return Err(RegistryError::io(&path, e)),
        };
        let mut head = [0u8; 8];
        let got = file.read(&mut head).map_err(ioe(&path))?;
        let total = mlops_fs::framed_len(&head[..got])
            // A header holds a name of at most a few hundred bytes: never trust a huge length.
            .filter(|&total| total <= mlops_fs::HEADER_LEN + MAX_HEADER_LEN + 1)
            .ok_or_else(|| RegistryError::corrupt(&path, "does not start with a header record"))?;
        let mut data = head.to_vec();
        data.resize(total, 0);
        file.read_exact(&mut data[8..]).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                RegistryError::corrupt(&path, "the header record is cut short")
            } else {
                RegistryError::io(&path, e)
            }
        })?;
        let (header, _) = parse_header(&path, &data)?;
        Ok(Some(header.name))
    }

    /// Every model, current, in name order.
    pub(super) fn all_models<T>(&self, f: impl Fn(&[&ModelData]) -> Result<T>) -> Result<T> {
        let _guard = self.lock_for_read()?;
        let disk = self.disk_gen()?;
        let mut cache = self.cache.write();
        cache.sync(disk);
        if cache.listed != Some(cache.epoch) {
            let mut names = Vec::new();
            let models = self.root.join("models");
            for entry in fs::read_dir(&models).map_err(ioe(&models))? {
                let entry = entry.map_err(ioe(&models))?;
                let dir = entry.path();
                if !is_model_dir(&entry) {
                    self.ignore(&dir);
                    continue;
                }
                let Some(name) = Self::model_name_in(&dir)? else {
                    continue;
                };
                if dir.file_name().and_then(|n| n.to_str()) != Some(dir_name(&name).as_str()) {
                    return Err(RegistryError::corrupt(
                        dir.join(LOG_FILE),
                        format!("holds model {name:?}, which belongs in another directory"),
                    ));
                }
                names.push(name);
            }
            cache.models.retain(|n, _| names.contains(n));
            for n in &names {
                self.ensure(&mut cache, n)?;
            }
            cache.listed = Some(cache.epoch);
        }
        let mut all: Vec<&ModelData> = cache.models.values().map(|c| &c.data).collect();
        all.sort_by(|a, b| a.name().cmp(b.name()));
        f(&all)
    }
}
