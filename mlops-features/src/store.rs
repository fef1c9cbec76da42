//! The `FeatureStore` facade: owns the group definitions and composes an online and an offline
//! store.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::clock::{Clock, SystemClock};
use crate::error::{EntityKind, FeatureError, Result};
use crate::file::{FileOfflineStore, FileOnlineStore};
use crate::group::{FeatureGroup, FeatureRow, FeatureService, Record};
use crate::memory::{InMemoryOfflineStore, InMemoryOnlineStore};
use crate::model::{EntityKey, FeatureRef, Timestamp, Value, duration_micros};
use crate::offline::{OfflineStore, OfflineStoreExt, ScanOptions};
use crate::online::{FeatureValue, OnlineStore, ReadRequest, WriteStats};
use crate::pit::{EntityFrame, HistoricalOptions, TrainingFrame, join_group};
use crate::response::{OnlineQuery, OnlineResponse};
use mlops_fs as fsutil;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Registry {
    #[serde(default)]
    groups: BTreeMap<String, FeatureGroup>,
    #[serde(default)]
    services: BTreeMap<String, FeatureService>,
}

/// A feature store: group definitions (the registry), an online store for serving and an
/// offline store for training sets.
///
/// See the [crate docs](crate) for an example.
#[derive(Debug)]
pub struct FeatureStore {
    registry: RwLock<Registry>,
    registry_file: Option<PathBuf>,
    fsync: bool,
    online: Arc<dyn OnlineStore>,
    offline: Arc<dyn OfflineStore>,
    clock: Arc<dyn Clock>,
    evict_interval: Option<i64>,
    last_evict: AtomicI64,
}

/// Default interval of the automatic eviction run by ingests (clock time).
const DEFAULT_EVICT_INTERVAL: Duration = Duration::from_secs(60);

/// Builder of a [`FeatureStore`] from any backends.
#[derive(Debug, Default)]
pub struct FeatureStoreBuilder {
    online: Option<Arc<dyn OnlineStore>>,
    offline: Option<Arc<dyn OfflineStore>>,
    clock: Option<Arc<dyn Clock>>,
    registry_file: Option<PathBuf>,
    fsync: Option<bool>,
    evict_interval: Option<Option<Duration>>,
}

impl FeatureStoreBuilder {
    /// Use this online store (default: a new [`InMemoryOnlineStore`]).
    #[must_use]
    pub fn online(mut self, store: impl OnlineStore) -> Self {
        self.online = Some(Arc::new(store));
        self
    }

    /// Use this offline store (default: a new [`InMemoryOfflineStore`]).
    #[must_use]
    pub fn offline(mut self, store: impl OfflineStore) -> Self {
        self.offline = Some(Arc::new(store));
        self
    }

    /// Use this clock for TTL checks (default: [`SystemClock`]).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Keep the registry (groups and services) in this JSON file (default: in memory only).
    #[must_use]
    pub fn registry_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.registry_file = Some(path.into());
        self
    }

    /// Whether registry writes are fsynced (default: yes).
    #[must_use]
    pub fn fsync(mut self, fsync: bool) -> Self {
        self.fsync = Some(fsync);
        self
    }

    /// How often (in clock time) an ingest also evicts expired online rows, freeing their
    /// memory (default: every 60 s; `None`: only when [`FeatureStore::evict_expired`] is
    /// called). The eviction runs on the writer's thread; readers wait at most for one shard.
    #[must_use]
    pub fn evict_interval(mut self, interval: Option<Duration>) -> Self {
        self.evict_interval = Some(interval);
        self
    }

    /// Load the registry (removing stray temps its interrupted writers left) and register its
    /// groups with the online store.
    ///
    /// # Errors
    /// [`FeatureError::Corrupt`] for an unreadable registry file; the online store's errors.
    pub fn build(self) -> Result<FeatureStore> {
        let registry = match &self.registry_file {
            Some(path) => {
                if let Some(dir) = path.parent().filter(|d| d.is_dir()) {
                    let removed =
                        fsutil::remove_stray_temps(dir).map_err(|e| FeatureError::io(dir, e))?;
                    for p in removed {
                        tracing::info!(path = %p.display(), "removed a stray registry temp file");
                    }
                }
                load_registry(path)?
            }
            None => Registry::default(),
        };
        let store = FeatureStore {
            registry: RwLock::new(registry),
            registry_file: self.registry_file,
            fsync: self.fsync.unwrap_or(true),
            online: self
                .online
                .unwrap_or_else(|| Arc::new(InMemoryOnlineStore::new())),
            offline: self
                .offline
                .unwrap_or_else(|| Arc::new(InMemoryOfflineStore::new())),
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
            evict_interval: self
                .evict_interval
                .unwrap_or(Some(DEFAULT_EVICT_INTERVAL))
                .map(duration_micros),
            last_evict: AtomicI64::new(i64::MIN),
        };
        let groups: Vec<FeatureGroup> = store.registry.read().groups.values().cloned().collect();
        for g in &groups {
            store.offline.register_group(g)?;
        }
        for g in groups.iter().filter(|g| g.online) {
            store.online.apply_group(g)?;
        }
        Ok(store)
    }
}

fn load_registry(path: &Path) -> Result<Registry> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| FeatureError::corrupt(path, format!("registry is not valid: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Registry::default()),
        Err(e) => Err(FeatureError::io(path, e)),
    }
}

/// How [`FeatureStore::open_with`] opens a file-backed store. `Default` is what
/// [`FeatureStore::open`] uses: durable, the system clock, eviction every 60 s, compaction at
/// 64 MiB of log.
///
/// ```
/// use mlops_features::{FeatureStore, ManualClock, StoreOptions, Timestamp};
/// use std::{sync::Arc, time::Duration};
/// let dir = tempfile::tempdir()?;
/// let clock = Arc::new(ManualClock::new(Timestamp::from_secs(0)));
/// let store = FeatureStore::open_with(dir.path(), StoreOptions::default()
///     .fsync(false).clock(clock).evict_interval(None).compact_bytes(1 << 20))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoreOptions {
    /// Fsync every write (default: yes).
    pub fsync: bool,
    /// The clock of TTL checks (default: [`SystemClock`]).
    pub clock: Arc<dyn Clock>,
    /// See [`FeatureStoreBuilder::evict_interval`] (default: 60 s).
    pub evict_interval: Option<Duration>,
    /// See [`FileOnlineStore::with_compact_bytes`] (default: 64 MiB).
    pub compact_bytes: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            fsync: true,
            clock: Arc::new(SystemClock),
            evict_interval: Some(DEFAULT_EVICT_INTERVAL),
            compact_bytes: crate::file::DEFAULT_COMPACT_BYTES,
        }
    }
}

impl StoreOptions {
    /// Whether writes are fsynced.
    #[must_use]
    pub fn fsync(mut self, fsync: bool) -> Self {
        self.fsync = fsync;
        self
    }

    /// The clock of TTL checks.
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How often ingests evict expired online rows (`None`: only on request).
    #[must_use]
    pub fn evict_interval(mut self, interval: Option<Duration>) -> Self {
        self.evict_interval = interval;
        self
    }

    /// Compact the online log once it exceeds this many bytes.
    #[must_use]
    pub fn compact_bytes(mut self, bytes: u64) -> Self {
        self.compact_bytes = bytes;
        self
    }
}

/// What an ingest did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct IngestReport {
    /// Rows appended to the offline store.
    pub rows: usize,
    /// What the online write did (zero for groups not served online).
    pub online: WriteStats,
}

/// What a materialization did, per group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MaterializeReport {
    /// Per group: its name, the rows read from the offline store, and the online write stats.
    pub groups: Vec<(String, usize, WriteStats)>,
}

impl FeatureStore {
    /// A store with in-memory backends, no registry file and the system clock.
    #[must_use]
    pub fn in_memory() -> Self {
        Self::builder()
            .build()
            .expect("in-memory stores cannot fail to open")
    }

    /// A store with file backends under `dir` (`registry.json`, `online/`, `offline/`), durable
    /// (fsync on every write).
    ///
    /// # Errors
    /// As [`FileOnlineStore::open`], [`FileOfflineStore::open`] and
    /// [`FeatureStoreBuilder::build`].
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(dir, StoreOptions::default())
    }

    /// As [`FeatureStore::open`], choosing durability, the clock, the eviction interval and
    /// the compaction threshold.
    ///
    /// # Errors
    /// As [`FeatureStore::open`].
    pub fn open_with(dir: impl AsRef<Path>, options: StoreOptions) -> Result<Self> {
        let dir = dir.as_ref();
        fs::create_dir_all(dir).map_err(|e| FeatureError::io(dir, e))?;
        let fsync = options.fsync;
        Self::builder()
            .online(
                FileOnlineStore::open(dir.join("online"))?
                    .with_fsync(fsync)
                    .with_compact_bytes(options.compact_bytes),
            )
            .offline(FileOfflineStore::open(dir.join("offline"))?.with_fsync(fsync))
            .registry_file(dir.join("registry.json"))
            .fsync(fsync)
            .clock(options.clock)
            .evict_interval(options.evict_interval)
            .build()
    }

    /// Start building a store from chosen backends.
    #[must_use]
    pub fn builder() -> FeatureStoreBuilder {
        FeatureStoreBuilder::default()
    }

    /// The clock's current time.
    #[must_use]
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The online store.
    #[must_use]
    pub fn online_store(&self) -> &Arc<dyn OnlineStore> {
        &self.online
    }

    /// The offline store.
    #[must_use]
    pub fn offline_store(&self) -> &Arc<dyn OfflineStore> {
        &self.offline
    }

    /// Register a group, or evolve a registered one (see [`FeatureGroup::check_evolution`]).
    /// Returns the stored definition, with its version.
    ///
    /// # Errors
    /// [`FeatureError::InvalidArgument`] for a bad definition, [`FeatureError::Conflict`] for a
    /// refused change (naming the feature), I/O errors of the registry file.
    pub fn apply_group(&self, group: FeatureGroup) -> Result<FeatureGroup> {
        group.validate()?;
        let stored = self.update_registry(|reg| {
            let stored = match reg.groups.get(&group.name) {
                Some(old) => old.check_evolution(&group)?,
                None => {
                    let mut g = group.clone();
                    g.version = 1;
                    for f in &mut g.features {
                        f.version = 1;
                    }
                    g
                }
            };
            reg.groups.insert(stored.name.clone(), stored.clone());
            Ok(stored)
        })?;
        self.offline.register_group(&stored)?;
        if stored.online {
            self.online.apply_group(&stored)?;
        }
        Ok(stored)
    }

    /// Register a feature service (a named list of references, all of which must exist).
    ///
    /// # Errors
    /// [`FeatureError::NotFound`] for an unknown group or feature; I/O errors.
    pub fn apply_service(&self, service: FeatureService) -> Result<()> {
        self.update_registry(|reg| {
            for r in &service.features {
                resolve(reg, r)?;
            }
            reg.services.insert(service.name.clone(), service.clone());
            Ok(())
        })
    }

    fn update_registry<T>(&self, f: impl FnOnce(&mut Registry) -> Result<T>) -> Result<T> {
        let mut reg = self.registry.write();
        let Some(path) = &self.registry_file else {
            return f(&mut reg);
        };
        // Cross-process: hold the lock file while re-reading, changing and replacing.
        let lock_path = path.with_extension("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| FeatureError::io(&lock_path, e))?;
        lock.lock().map_err(|e| FeatureError::io(&lock_path, e))?;
        if let Some(dir) = path.parent() {
            fsutil::remove_stray_temps(dir).map_err(|e| FeatureError::io(dir, e))?;
        }
        let mut fresh = load_registry(path)?;
        let out = f(&mut fresh)?;
        let json = serde_json::to_vec_pretty(&fresh).map_err(|e| FeatureError::Serde {
            path: path.clone(),
            source: e,
        })?;
        fsutil::write_atomic(path, &json, self.fsync).map_err(|e| FeatureError::io(path, e))?;
        *reg = fresh;
        // Closing the file releases the lock as well; unlocking first just makes it explicit.
        let _ = lock.unlock();
        Ok(out)
    }

    /// A registered group.
    ///
    /// # Errors
    /// [`FeatureError::NotFound`].
    pub fn group(&self, name: &str) -> Result<FeatureGroup> {
        self.registry
            .read()
            .groups
            .get(name)
            .cloned()
            .ok_or_else(|| FeatureError::not_found(EntityKind::FeatureGroup, name))
    }

    /// All registered groups, by name.
    #[must_use]
    pub fn groups(&self) -> Vec<FeatureGroup> {
        self.registry.read().groups.values().cloned().collect()
    }

    /// A registered feature service.
    ///
    /// # Errors
    /// [`FeatureError::NotFound`].
    pub fn service(&self, name: &str) -> Result<FeatureService> {
        self.registry
            .read()
            .services
            .get(name)
            .cloned()
            .ok_or_else(|| FeatureError::not_found(EntityKind::FeatureService, name))
    }

    /// Ingest a batch of positional rows: validated whole against the group, appended to the
    /// offline store, then upserted into the online store (newest version wins). Every
    /// [`FeatureStoreBuilder::evict_interval`] of clock time, an ingest also evicts the expired
    /// online rows of all groups.
    ///
    /// # Errors
    /// [`FeatureError::NotFound`] for an unknown group; [`FeatureError::InvalidRow`] naming the
    /// first bad row and field (nothing is written); backend errors. If the online write fails
    /// after the offline append, the rows are in the offline store and
    /// [`FeatureStore::materialize`] brings the online store up to date.
    pub fn ingest(&self, group: &str, rows: &[FeatureRow]) -> Result<IngestReport> {
        let def = self.group(group)?;
        def.validate_rows(rows)?;
        self.offline.append(group, rows)?;
        let online = if def.online {
            self.online.write_batch_at(group, rows, self.clock.now())?
        } else {
            WriteStats::default()
        };
        if let Some(interval) = self.evict_interval {
            let now = self.clock.now().as_micros();
            let last = self.last_evict.load(Ordering::Relaxed);
            if now.saturating_sub(last) >= interval
                && self
                    .last_evict
                    .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                self.online.evict_expired(Timestamp::from_micros(now))?;
            }
        }
        Ok(IngestReport {
            rows: rows.len(),
            online,
        })
    }

    /// Ingest a batch of named records (see [`FeatureGroup::row_from_record`]).
    ///
    /// # Errors
    /// As [`FeatureStore::ingest`]; a bad record rejects the batch, naming its index and field.
    pub fn ingest_records(&self, group: &str, records: &[Record]) -> Result<IngestReport> {
        let def = self.group(group)?;
        let rows = records
            .iter()
            .enumerate()
            .map(|(i, r)| def.row_from_record(r, i))
            .collect::<Result<Vec<_>>>()?;
        self.ingest(group, &rows)
    }

    /// Resolve feature references (`"group:feature"`) once for repeated online reads. The
    /// groups must be served online and share the same entity key columns.
    ///
    /// # Errors
    /// [`FeatureError::InvalidArgument`] for a malformed reference or groups with different
    /// entity keys; [`FeatureError::NotFound`] for an unknown group or feature.
    pub fn online_query<S: AsRef<str>>(&self, refs: &[S]) -> Result<OnlineQuery> {
        let refs = refs
            .iter()
            .map(|r| r.as_ref().parse::<FeatureRef>())
            .collect::<Result<Vec<_>>>()?;
        self.query_of(refs)
    }

    fn query_of(&self, refs: Vec<FeatureRef>) -> Result<OnlineQuery> {
        let reg = self.registry.read();
        let mut runs: Vec<(String, Vec<usize>, usize)> = Vec::new();
        let mut entity: Option<&FeatureGroup> = None;
        for (col, r) in refs.iter().enumerate() {
            let (g, j) = resolve(&reg, r)?;
            if !g.online {
                return Err(FeatureError::invalid(
                    "online read",
                    format!("feature group {} is not served online", g.name),
                ));
            }
            if let Some(first) = entity {
                if first.entity != g.entity {
                    return Err(FeatureError::invalid(
                        "online read",
                        format!(
                            "feature groups {} and {} have different entity keys; read them \
                             in separate calls",
                            first.name, g.name
                        ),
                    ));
                }
            } else {
                entity = Some(g);
            }
            match runs.last_mut() {
                Some((name, feats, _)) if *name == g.name => feats.push(j),
                _ => runs.push((g.name.clone(), vec![j], col)),
            }
        }
        Ok(OnlineQuery {
            refs: refs.into(),
            runs,
        })
    }

    /// The query of a registered feature service.
    ///
    /// # Errors
    /// As [`FeatureStore::online_query`]; [`FeatureError::NotFound`] for an unknown service.
    pub fn service_query(&self, service: &str) -> Result<OnlineQuery> {
        let s = self.service(service)?;
        self.query_of(s.features)
    }

    /// Read a query's features for a batch of entities into `out` (reusing its memory). TTLs
    /// are checked against the store's clock.
    ///
    /// # Errors
    /// The online store's errors (an unknown group).
    pub fn read_online(
        &self,
        query: &OnlineQuery,
        keys: &[EntityKey],
        out: &mut OnlineResponse,
    ) -> Result<()> {
        let width = query.refs.len();
        let n = keys.len() * width;
        out.cells.resize_with(n, FeatureValue::default);
        out.cells.truncate(n);
        out.entities = keys.len();
        if out
            .refs
            .as_ref()
            .is_none_or(|r| !Arc::ptr_eq(r, &query.refs))
        {
            out.refs = Some(Arc::clone(&query.refs));
        }
        let now = self.clock.now();
        for (group, features, offset) in &query.runs {
            let req = ReadRequest {
                group,
                keys,
                features,
                now,
                stride: width,
                offset: *offset,
            };
            self.online.read(&req, &mut out.cells)?;
        }
        Ok(())
    }

    /// Read features (`"group:feature"`, several groups allowed) for a batch of entities.
    ///
    /// # Errors
    /// As [`FeatureStore::online_query`] and [`FeatureStore::read_online`].
    pub fn get_online_features<S: AsRef<str>>(
        &self,
        refs: &[S],
        keys: &[EntityKey],
    ) -> Result<OnlineResponse> {
        let q = self.online_query(refs)?;
        let mut out = OnlineResponse::new();
        self.read_online(&q, keys, &mut out)?;
        Ok(out)
    }

    /// Read a feature service's features for a batch of entities.
    ///
    /// # Errors
    /// As [`FeatureStore::service_query`] and [`FeatureStore::read_online`].
    pub fn get_online_service(&self, service: &str, keys: &[EntityKey]) -> Result<OnlineResponse> {
        let q = self.service_query(service)?;
        let mut out = OnlineResponse::new();
        self.read_online(&q, keys, &mut out)?;
        Ok(out)
    }

    /// The offline rows of a group in arrival order, optionally only those of some entities and
    /// an event-time window (the seed's offline read).
    ///
    /// # Errors
    /// [`FeatureError::NotFound`] for an unknown group; offline-store errors.
    pub fn offline_rows(
        &self,
        group: &str,
        keys: Option<&[EntityKey]>,
        window: &ScanOptions,
    ) -> Result<Vec<FeatureRow>> {
        self.group(group)?;
        let mut rows = self.offline.rows(group, window)?;
        if let Some(keys) = keys {
            let set: std::collections::HashSet<&EntityKey> = keys.iter().collect();
            rows.retain(|r| set.contains(&r.key));
        }
        Ok(rows)
    }

    /// Point-in-time correct historical retrieval: for every entity row, in order (duplicates
    /// kept), each feature's value from the group's newest row with event time at or before the
    /// row's timestamp, within the group's TTL and, with [`HistoricalOptions::as_of`], created
    /// by then; null where no row qualifies.
    ///
    /// # Errors
    /// [`FeatureError::NotFound`] for an unknown group or feature; [`FeatureError::InvalidRow`]
    /// for an entity key that does not fit a group; offline-store errors.
    pub fn get_historical_features<S: AsRef<str>>(
        &self,
        frame: &EntityFrame,
        refs: &[S],
        options: &HistoricalOptions,
    ) -> Result<TrainingFrame> {
        if frame.keys.len() != frame.timestamps.len() {
            return Err(FeatureError::invalid(
                "entity frame",
                format!(
                    "{} keys but {} timestamps",
                    frame.keys.len(),
                    frame.timestamps.len()
                ),
            ));
        }
        let refs = refs
            .iter()
            .map(|r| r.as_ref().parse::<FeatureRef>())
            .collect::<Result<Vec<_>>>()?;
        // Group the requested columns by feature group.
        let mut plan: Vec<(FeatureGroup, Vec<usize>, Vec<usize>)> = Vec::new();
        {
            let reg = self.registry.read();
            for (col, r) in refs.iter().enumerate() {
                let (g, j) = resolve(&reg, r)?;
                match plan.iter_mut().find(|(pg, _, _)| pg.name == g.name) {
                    Some((_, feats, cols)) => {
                        feats.push(j);
                        cols.push(col);
                    }
                    None => plan.push((g.clone(), vec![j], vec![col])),
                }
            }
        }
        let mut columns: Vec<Vec<Value>> = vec![vec![Value::Null; frame.len()]; refs.len()];
        for (g, feats, cols) in &plan {
            for (i, key) in frame.keys.iter().enumerate() {
                g.validate_key(key).map_err(|(field, detail)| {
                    FeatureError::row(&g.name, i, field, format!("entity frame: {detail}"))
                })?;
            }
            let mut group_cols: Vec<Vec<Value>> = cols
                .iter()
                .map(|&c| std::mem::take(&mut columns[c]))
                .collect();
            join_group(&*self.offline, g, feats, frame, options, &mut group_cols)?;
            for (&c, col) in cols.iter().zip(group_cols) {
                columns[c] = col;
            }
        }
        Ok(TrainingFrame {
            keys: frame.keys.clone(),
            timestamps: frame.timestamps.clone(),
            columns: refs
                .into_iter()
                .zip(columns)
                .map(|(feature, values)| crate::pit::Column { feature, values })
                .collect(),
        })
    }

    /// Load the online store from the offline store: every online group's rows with event time
    /// in `[start, end)` that are not already expired, upserted (newest version wins, so
    /// running it twice, or over rows already online, changes nothing).
    ///
    /// # Errors
    /// Backend errors.
    pub fn materialize(
        &self,
        start: Option<Timestamp>,
        end: Option<Timestamp>,
    ) -> Result<MaterializeReport> {
        const CHUNK: usize = 8192;
        let now = self.clock.now();
        let mut report = MaterializeReport::default();
        for g in self.groups().into_iter().filter(|g| g.online) {
            let mut start = start;
            if let Some(ttl) = g.ttl {
                let fresh = now.saturating_sub(ttl);
                start = Some(start.map_or(fresh, |s| s.max(fresh)));
            }
            let window = ScanOptions::window(start, end);
            let mut stats = WriteStats::default();
            let mut read = 0;
            let mut batch = Vec::with_capacity(CHUNK);
            let mut failed = None;
            let n = g.features.len();
            let mut flush = |batch: &mut Vec<FeatureRow>| -> Result<()> {
                let s = self.online.write_batch_at(&g.name, batch, now)?;
                stats.written += s.written;
                stats.stale += s.stale;
                stats.expired += s.expired;
                batch.clear();
                Ok(())
            };
            self.offline.scan(&g.name, &window, &mut |row| {
                read += 1;
                let mut row = row.clone();
                // Rows written before features were added lack their values: null.
                row.values.resize(n, Value::Null);
                batch.push(row);
                if batch.len() == CHUNK
                    && let Err(e) = flush(&mut batch)
                {
                    failed = Some(e);
                    return std::ops::ControlFlow::Break(());
                }
                std::ops::ControlFlow::Continue(())
            })?;
            if let Some(e) = failed {
                return Err(e);
            }
            flush(&mut batch)?;
            report.groups.push((g.name.clone(), read, stats));
        }
        Ok(report)
    }

    /// Free the online rows older than their group's TTL; returns how many were removed.
    ///
    /// # Errors
    /// Online-store errors.
    pub fn evict_expired(&self) -> Result<usize> {
        self.online.evict_expired(self.clock.now())
    }
}

fn resolve<'a>(reg: &'a Registry, r: &FeatureRef) -> Result<(&'a FeatureGroup, usize)> {
    let g = reg
        .groups
        .get(r.group())
        .ok_or_else(|| FeatureError::not_found(EntityKind::FeatureGroup, r.group()))?;
    let j = g
        .feature_index(r.feature())
        .ok_or_else(|| FeatureError::not_found(EntityKind::Feature, r.to_string()))?;
    Ok((g, j))
}
