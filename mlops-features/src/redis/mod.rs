//! The Redis online store (cargo feature `redis`).
//!
//! One hash per (group, entity): `{prefix}:{group}:{encoded entity key}`, holding the version
//! field `@v` (event and created time) and one field per non-null feature, each value in a
//! compact binary encoding (see `docs/formats.md`). Group definitions live in the hash
//! `{prefix}:@groups` (JSON per group), so every replica sharing the server sees them.
//!
//! Writes run a Lua script per chunk of rows, so "newest version wins" is decided atomically
//! on the server: two replicas racing never leave the older row. Batch reads and writes are
//! pipelined: one round trip for N entities.
//!
//! Files: `builder.rs` (settings), `conn.rs` (connections, time limits, errors, the group
//! registry), `rows.rs` (reads and writes), `scripts.rs` (the Lua scripts), `codec.rs` (value
//! and version encodings).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ::redis::{Client, Cmd, Connection, Pipeline, RedisError, Script, Value as RV};
use parking_lot::{Mutex, RwLock};

use crate::clock::{Clock, SystemClock};
use crate::error::{EntityKind, FeatureError, Result};
use crate::group::{FeatureGroup, FeatureRow};
use crate::model::{EntityKey, Timestamp, Value, ValueType, duration_micros};
use crate::online::{FeatureStatus, FeatureValue, OnlineStore, ReadRequest, WriteStats};

mod builder;
mod codec;
mod conn;
mod rows;
mod scripts;

pub use builder::RedisOnlineStoreBuilder;
use codec::*;
use conn::*;
use scripts::*;

pub(super) const BACKEND: &str = "redis";
/// The hash field holding a row's version.
pub(super) const VERSION_FIELD: &str = "@v";
/// Length of an encoded version: two 20-digit numbers.
pub(super) const VERSION_LEN: usize = 40;
/// Physical expiry is capped at about 100 years from the write.
pub(super) const MAX_EXPIRE_MS: i64 = 100 * 365 * 86_400 * 1000;

/// A registered group with what reads and writes need precomputed.
#[derive(Debug)]
pub(super) struct GroupInfo {
    def: FeatureGroup,
    ttl: Option<i64>,
    /// `{prefix}:{group}:`
    key_prefix: Vec<u8>,
    /// `{prefix}:@versions:{group}`: per entity hash key, the version of its newest row, kept
    /// after the row's hash expired, so an expired row still reads `OutsideMaxAge` (TTL groups
    /// only).
    versions_key: Vec<u8>,
}

impl GroupInfo {
    pub(super) fn new(prefix: &str, def: FeatureGroup) -> Self {
        Self {
            ttl: def.ttl.map(duration_micros),
            key_prefix: format!("{prefix}:{}:", def.name).into_bytes(),
            versions_key: format!("{prefix}:@versions:{}", def.name).into_bytes(),
            def,
        }
    }

    pub(super) fn key(&self, entity: &EntityKey, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.key_prefix);
        out.extend_from_slice(entity.encoded());
    }
}

/// The Redis online store: the [`OnlineStore`] semantics of the in-memory store, shared by
/// every replica that connects to the same server and key prefix. Clones share the
/// connection pool and the group cache.
///
/// Connections come from a small pool (see
/// [`RedisOnlineStoreBuilder::max_idle_connections`]); each call takes one for its whole
/// pipeline, so the store is `Sync` and can be shared across threads. A connection that
/// failed is dropped, and a call that failed on a reused connection (the server restarted)
/// is retried once on a fresh one.
///
/// TTLs are checked on read against the request's `now`, exactly as in the in-memory store;
/// in addition each row's hash expires physically at its event time + TTL (+ the
/// [grace](RedisOnlineStoreBuilder::expiry_grace)) measured by the store's
/// [clock](RedisOnlineStoreBuilder::clock), so Redis reclaims the memory without
/// [`OnlineStore::evict_expired`]. The expiry is set when the row is written, and moved for
/// every stored row when [`OnlineStore::apply_group`] changes the TTL. The row's version is
/// kept in the group's versions hash, so a row Redis reclaimed still reads
/// [`FeatureStatus::OutsideMaxAge`] with its event time, as in memory.
///
/// Every read and write first checks that its group is still registered on the server; when
/// the server lost its data (restarted without persistence), the call fails with
/// [`FeatureError::Backend`] saying the group must be applied again, rather than writing into
/// an unregistered group.
///
/// [`OnlineStore::evict_expired`] and [`OnlineStore::entity_count`] `SCAN` the group's keys,
/// so they cost time in proportion to the entities stored; since Redis reclaims expired rows
/// by itself, a `FeatureStore` over this store is best built with
/// `FeatureStoreBuilder::evict_interval(None)`.
///
/// Group definitions are cached per store handle; a group another replica evolved is
/// re-read when a request names a feature or row width the cache does not know.
///
/// ```no_run
/// use mlops_features::{OnlineStore, RedisOnlineStore};
/// let store = RedisOnlineStore::open("redis://127.0.0.1:6379/0")?;
/// println!("{} groups", store.groups()?.len());
/// # Ok::<(), mlops_features::FeatureError>(())
/// ```
#[derive(Clone)]
pub struct RedisOnlineStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    target: String,
    prefix: String,
    groups_key: String,
    clock: Arc<dyn Clock>,
    grace: i64,
    timeout: Duration,
    max_idle: usize,
    chunk_rows: usize,
    pool: Mutex<Vec<Connection>>,
    groups: RwLock<HashMap<String, Arc<GroupInfo>>>,
    write_script: Script,
    evict_script: Script,
    reexpire_script: Script,
}

impl fmt::Debug for RedisOnlineStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisOnlineStore")
            .field("target", &self.inner.target)
            .field("prefix", &self.inner.prefix)
            .field("clock", &self.inner.clock)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisOnlineStore {
    /// Connect to the server at `url` (`redis://[:password@]host[:port][/db]`) with the
    /// default settings.
    ///
    /// # Errors
    /// [`FeatureError::InvalidArgument`] for a bad URL,
    /// [`FeatureError::Backend`] when the server cannot be reached.
    pub fn open(url: &str) -> Result<Self> {
        Self::builder(url).build()
    }

    /// A builder for a store on the server at `url`.
    #[must_use]
    pub fn builder(url: &str) -> RedisOnlineStoreBuilder {
        RedisOnlineStoreBuilder::new(url)
    }

    /// The Redis key of an entity's hash in a group: `{prefix}:{group}:{encoded key}`.
    #[must_use]
    pub fn entity_key(&self, group: &str, entity: &EntityKey) -> Vec<u8> {
        let mut key = format!("{}:{group}:", self.inner.prefix).into_bytes();
        key.extend_from_slice(entity.encoded());
        key
    }

    /// The Redis key of the hash holding the group definitions: `{prefix}:@groups`.
    #[must_use]
    pub fn groups_key(&self) -> &str {
        &self.inner.groups_key
    }

    /// Forget the cached group definitions; the next request re-reads them from the server.
    pub fn refresh_groups(&self) {
        self.inner.groups.write().clear();
    }
}

impl OnlineStore for RedisOnlineStore {
    fn apply_group(&self, group: &FeatureGroup) -> Result<()> {
        group.validate()?;
        let inner = &*self.inner;
        let json = |g: &FeatureGroup| {
            serde_json::to_vec(g).map_err(|e| FeatureError::Serde {
                path: inner.groups_key.clone().into(),
                source: e,
            })
        };
        let mut ttl_changed = false;
        let stored = inner.with_con("updating the group registry", |con| {
            // Optimistic: WATCH the registry, check the evolution, MULTI/EXEC; retry when
            // another replica changed it meanwhile.
            loop {
                ::redis::cmd("WATCH").arg(&inner.groups_key).exec(con)?;
                let next = match inner.load_group_def(con, &group.name) {
                    Ok(Some(old)) => match old.check_evolution(group) {
                        Ok(next) if next == old => {
                            ::redis::cmd("UNWATCH").exec(con)?;
                            return Ok(next);
                        }
                        Ok(next) => {
                            ttl_changed = next.ttl != old.ttl;
                            next
                        }
                        Err(e) => {
                            ::redis::cmd("UNWATCH").exec(con)?;
                            return Err(e.into());
                        }
                    },
                    Ok(None) => group.clone(),
                    Err(e) => {
                        ::redis::cmd("UNWATCH").exec(con)?;
                        return Err(e.into());
                    }
                };
                let body = json(&next)?;
                let done: Option<()> = ::redis::pipe()
                    .atomic()
                    .hset(&inner.groups_key, &group.name, body)
                    .ignore()
                    .query(con)?;
                if done.is_some() {
                    return Ok(next);
                }
            }
        })?;
        let info = inner.cache(stored);
        if ttl_changed {
            // Rows keep the expiry of the TTL they were written under: move it to the new one,
            // so that a longer TTL keeps them (as the in-memory store does).
            inner.reexpire(&info)?;
        }
        Ok(())
    }

    fn write_batch_at(
        &self,
        group: &str,
        rows: &[FeatureRow],
        now: Timestamp,
    ) -> Result<WriteStats> {
        let mut info = self.inner.group(group, false)?;
        if let Err(e) = info.def.validate_rows(rows) {
            // Another replica may have evolved the group: check against the stored definition.
            info = self.inner.group(group, true)?;
            if info.def.validate_rows(rows).is_err() {
                return Err(e);
            }
        }
        if rows.is_empty() {
            return Ok(WriteStats::default());
        }
        self.inner.write(&info, rows, now)
    }

    fn read(&self, req: &ReadRequest<'_>, out: &mut [FeatureValue]) -> Result<()> {
        let mut info = self.inner.group(req.group, false)?;
        if out.len() < req.out_len() {
            return Err(FeatureError::invalid(
                "read request",
                format!("output has {} slots, {} needed", out.len(), req.out_len()),
            ));
        }
        let n = info.def.features.len();
        if let Some(&bad) = req.features.iter().find(|&&j| j >= n) {
            info = self.inner.group(req.group, true)?;
            if bad >= info.def.features.len() {
                return Err(FeatureError::not_found(
                    EntityKind::Feature,
                    format!("{}:#{bad}", req.group),
                ));
            }
        }
        if req.keys.is_empty() {
            return Ok(());
        }
        self.inner.read(&info, req, out)
    }

    fn evict_expired(&self, now: Timestamp) -> Result<usize> {
        let inner = &*self.inner;
        let mut removed = 0;
        for def in self.groups()? {
            let Some(ttl) = def.ttl.map(duration_micros) else {
                continue;
            };
            let info = inner.cache(def);
            let cutoff = sortable(now.as_micros().saturating_sub(ttl));
            removed += inner.with_con("evicting expired rows", |con| {
                let mut n = 0;
                inner.scan_group(con, &info, |con, keys| {
                    let mut cmd = ::redis::cmd("EVALSHA");
                    cmd.arg(inner.evict_script.get_hash()).arg(keys.len());
                    for k in &keys {
                        cmd.arg(k);
                    }
                    let got: usize = cmd.arg(&cutoff).query(con)?;
                    n += got;
                    Ok(())
                })?;
                Ok(n)
            })?;
        }
        Ok(removed)
    }

    fn entity_count(&self, group: &str) -> Result<usize> {
        let info = self.inner.group(group, false)?;
        self.inner.with_con("counting entities", |con| {
            let mut n = 0;
            self.inner.scan_group(con, &info, |_, keys| {
                n += keys.len();
                Ok(())
            })?;
            Ok(n)
        })
    }

    fn groups(&self) -> Result<Vec<FeatureGroup>> {
        let inner = &*self.inner;
        let raw: Vec<(String, Vec<u8>)> = inner.with_con("reading the group registry", |con| {
            Cmd::hgetall(&inner.groups_key)
                .query(con)
                .map_err(|e| match e.code() {
                    Some("WRONGTYPE") => Fail::Feature(inner.registry_err(&e)),
                    _ => Fail::Redis(e),
                })
        })?;
        let mut out = Vec::with_capacity(raw.len());
        for (name, body) in raw {
            let def = inner.parse_group(&name, &body)?;
            inner.cache(def.clone());
            out.push(def);
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}
