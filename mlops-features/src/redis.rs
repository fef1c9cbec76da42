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

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ::redis::{Client, Cmd, Connection, Pipeline, RedisError, Script, Value as RV};
use parking_lot::{Mutex, RwLock};

use crate::clock::{Clock, SystemClock};
use crate::error::{FeatureError, Result};
use crate::group::{FeatureGroup, FeatureRow};
use crate::model::{EntityKey, Timestamp, Value, ValueType, duration_micros};
use crate::online::{FeatureStatus, FeatureValue, OnlineStore, ReadRequest, WriteStats};

const BACKEND: &str = "redis";
/// The hash field holding a row's version.
const VERSION_FIELD: &str = "@v";
/// Length of an encoded version: two 20-digit numbers.
const VERSION_LEN: usize = 40;
/// Physical expiry is capped at about 100 years from the write.
const MAX_EXPIRE_MS: i64 = 100 * 365 * 86_400 * 1000;

/// Upsert rows, newest version wins. Checks every key first, so a chunk with a foreign key
/// (wrong type, or a hash without a valid version) is refused before anything is written.
///
/// KEYS: the entity hashes. ARGV, per key: version (40 digits), expiry in milliseconds from
/// now (empty: none), the number of (field, value) pairs, then the pairs.
const WRITE_LUA: &str = r"
local stored = {}
for i = 1, #KEYS do
  local t = redis.call('TYPE', KEYS[i]).ok
  if t == 'none' then
    stored[KEYS[i]] = false
  elseif t ~= 'hash' then
    return redis.error_reply('MLOPSBAD ' .. i .. ' holds a ' .. t .. ', not a hash')
  else
    local v = redis.call('HGET', KEYS[i], '@v')
    if not v or #v ~= 40 or string.find(v, '%D') then
      return redis.error_reply('MLOPSBAD ' .. i .. ' has no valid @v version field')
    end
    stored[KEYS[i]] = v
  end
end
local a = 1
local written = 0
local args = {'@v'}
for i = 1, #KEYS do
  local key = KEYS[i]
  local version = ARGV[a]
  local expire = ARGV[a + 1]
  local n = tonumber(ARGV[a + 2])
  a = a + 3
  local prev = stored[key]
  if (not prev) or version >= prev then
    if prev then
      redis.call('DEL', key)
    end
    args[2] = version
    for j = 0, 2 * n - 1 do
      args[3 + j] = ARGV[a + j]
    end
    redis.call('HSET', key, unpack(args, 1, 2 + 2 * n))
    if expire ~= '' then
      redis.call('PEXPIRE', key, expire)
    end
    stored[key] = version
    written = written + 1
  end
  a = a + 2 * n
end
return written
";

/// Delete the hashes whose event time (first 20 digits of `@v`) is before ARGV[1].
const EVICT_LUA: &str = r"
local n = 0
for i = 1, #KEYS do
  if redis.call('TYPE', KEYS[i]).ok == 'hash' then
    local v = redis.call('HGET', KEYS[i], '@v')
    if v and #v == 40 and string.sub(v, 1, 20) < ARGV[1] then
      redis.call('DEL', KEYS[i])
      n = n + 1
    end
  end
end
return n
";

/// Re-set the physical expiry of hashes after a TTL change, unless a writer replaced the row
/// meanwhile. KEYS: the hashes; ARGV, per key: the version the expiry was computed for, then
/// the expiry in milliseconds from now (empty: none).
const REEXPIRE_LUA: &str = r"
local n = 0
for i = 1, #KEYS do
  if redis.call('TYPE', KEYS[i]).ok == 'hash' and
      redis.call('HGET', KEYS[i], '@v') == ARGV[2 * i - 1] then
    local e = ARGV[2 * i]
    if e == '' then
      redis.call('PERSIST', KEYS[i])
    else
      redis.call('PEXPIRE', KEYS[i], e)
    end
    n = n + 1
  end
end
return n
";

/// An `i64` as 20 decimal digits that sort like the numbers (sign bit flipped).
#[allow(clippy::cast_sign_loss)]
fn sortable(x: i64) -> String {
    format!("{:020}", (x as u64) ^ (1 << 63))
}

#[allow(clippy::cast_possible_wrap)]
fn unsortable(digits: &[u8]) -> Option<i64> {
    if digits.len() != 20 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((n ^ (1 << 63)) as i64)
}

/// Encode one non-null value for its feature type (see `docs/formats.md`).
fn encode_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => {}
        Value::Bool(b) => out.push(u8::from(*b)),
        Value::Int64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Float64(x) => out.extend_from_slice(&x.to_bits().to_le_bytes()),
        Value::Float32(x) => out.extend_from_slice(&x.to_bits().to_le_bytes()),
        Value::String(s) => out.extend_from_slice(s.as_bytes()),
        Value::Timestamp(t) => out.extend_from_slice(&t.as_micros().to_le_bytes()),
        Value::Bytes(b) => out.extend_from_slice(b),
        Value::Float32Vector(v) => {
            for x in v {
                out.extend_from_slice(&x.to_bits().to_le_bytes());
            }
        }
    }
}

/// Decode a value of type `ty`; `Err` says what is wrong.
fn decode_value(ty: ValueType, bytes: Vec<u8>) -> std::result::Result<Value, String> {
    let b = bytes.as_slice();
    let fixed = |n: usize| -> std::result::Result<(), String> {
        if b.len() == n {
            Ok(())
        } else {
            Err(format!("holds {} bytes, a {ty} needs {n}", b.len()))
        }
    };
    let le8 = |b: &[u8]| {
        let mut a = [0; 8];
        a.copy_from_slice(b);
        a
    };
    Ok(match ty {
        ValueType::Bool => {
            fixed(1)?;
            match b[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                other => return Err(format!("holds byte {other}, a bool is 0 or 1")),
            }
        }
        ValueType::Int64 => {
            fixed(8)?;
            Value::Int64(i64::from_le_bytes(le8(b)))
        }
        ValueType::Float64 => {
            fixed(8)?;
            Value::Float64(f64::from_bits(u64::from_le_bytes(le8(b))))
        }
        ValueType::Float32 => {
            fixed(4)?;
            Value::Float32(f32::from_bits(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
        }
        ValueType::Timestamp => {
            fixed(8)?;
            Value::Timestamp(Timestamp::from_micros(i64::from_le_bytes(le8(b))))
        }
        ValueType::String => Value::String(
            String::from_utf8(bytes)
                .map_err(|_| "holds bytes that are not UTF-8, a string was expected".to_owned())?,
        ),
        ValueType::Bytes => Value::Bytes(bytes),
        ValueType::Float32Vector => {
            if !b.len().is_multiple_of(4) {
                return Err(format!(
                    "holds {} bytes, a float32 vector needs a multiple of 4",
                    b.len()
                ));
            }
            Value::Float32Vector(
                b.chunks_exact(4)
                    .map(|c| f32::from_bits(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                    .collect(),
            )
        }
    })
}

/// A Redis key as text for messages: printable ASCII kept, other bytes as `\xNN`.
fn show_key(key: &[u8]) -> String {
    let mut s = String::with_capacity(key.len());
    for &b in key {
        if b.is_ascii_graphic() && b != b'\\' {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

/// Escape glob characters for `SCAN MATCH`.
fn glob_escape(s: &[u8], out: &mut Vec<u8>) {
    for &b in s {
        if matches!(b, b'*' | b'?' | b'[' | b']' | b'\\') {
            out.push(b'\\');
        }
        out.push(b);
    }
}

/// A registered group with what reads and writes need precomputed.
#[derive(Debug)]
struct GroupInfo {
    def: FeatureGroup,
    ttl: Option<i64>,
    /// `{prefix}:{group}:`
    key_prefix: Vec<u8>,
}

impl GroupInfo {
    fn new(prefix: &str, def: FeatureGroup) -> Self {
        Self {
            ttl: def.ttl.map(duration_micros),
            key_prefix: format!("{prefix}:{}:", def.name).into_bytes(),
            def,
        }
    }

    fn key(&self, entity: &EntityKey, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.key_prefix);
        out.extend_from_slice(entity.encoded());
    }
}

/// How to build a [`RedisOnlineStore`]; see [`RedisOnlineStore::builder`].
#[derive(Debug, Clone)]
pub struct RedisOnlineStoreBuilder {
    url: String,
    prefix: String,
    clock: Arc<dyn Clock>,
    expiry_grace: Duration,
    timeout: Duration,
    max_idle: usize,
    chunk_rows: usize,
}

impl RedisOnlineStoreBuilder {
    /// Prefix of every key the store uses (default `mlops`), so several stores can share a
    /// database. Letters, digits, `_`, `-` and `.` only.
    #[must_use]
    pub fn prefix(mut self, prefix: &str) -> Self {
        prefix.clone_into(&mut self.prefix);
        self
    }

    /// The clock physical expiry is computed with (default: the system clock). A row's hash
    /// expires `event time + TTL + grace - clock.now()` after it is written, which is
    /// `PEXPIREAT event time + TTL + grace` when the clock is the wall clock. Give the store
    /// the same clock as the rest of the application so that expiry follows it.
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Keep a row this long past its TTL before Redis reclaims it (default zero), so that reads
    /// report [`FeatureStatus::OutsideMaxAge`] rather than [`FeatureStatus::NotFound`] for a
    /// while.
    #[must_use]
    pub fn expiry_grace(mut self, grace: Duration) -> Self {
        self.expiry_grace = grace;
        self
    }

    /// Connect, read and write timeout of every command (default 5 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Idle connections kept in the pool (default 16); more are opened on demand when more
    /// threads use the store at once, and closed when they come back to a full pool.
    #[must_use]
    pub fn max_idle_connections(mut self, n: usize) -> Self {
        self.max_idle = n;
        self
    }

    /// Rows per write script call (default 512). A chunk is applied atomically; a larger
    /// chunk blocks the server longer.
    #[must_use]
    pub fn write_chunk_rows(mut self, n: usize) -> Self {
        self.chunk_rows = n.max(1);
        self
    }

    /// Connect (once, to check the server answers) and build the store.
    ///
    /// # Errors
    /// [`FeatureError::InvalidArgument`] for a bad URL or prefix,
    /// [`FeatureError::Backend`] when the server cannot be reached.
    pub fn build(self) -> Result<RedisOnlineStore> {
        if self.prefix.is_empty()
            || !self
                .prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            return Err(FeatureError::invalid(
                "redis key prefix",
                format!(
                    "{:?}: use letters, digits, '_', '-' and '.' only",
                    self.prefix
                ),
            ));
        }
        let client = Client::open(self.url.as_str())
            .map_err(|e| FeatureError::invalid("redis url", format!("{}: {e}", self.url)))?;
        let target = format!("redis://{}", client.get_connection_info().addr());
        let store = RedisOnlineStore {
            inner: Arc::new(Inner {
                client,
                target,
                groups_key: format!("{}:@groups", self.prefix),
                prefix: self.prefix,
                clock: self.clock,
                grace: duration_micros(self.expiry_grace),
                timeout: self.timeout,
                max_idle: self.max_idle,
                chunk_rows: self.chunk_rows,
                pool: Mutex::new(Vec::new()),
                groups: RwLock::new(HashMap::new()),
                write_script: Script::new(WRITE_LUA),
                evict_script: Script::new(EVICT_LUA),
                reexpire_script: Script::new(REEXPIRE_LUA),
            }),
        };
        let con = store.inner.connect()?;
        store.inner.put(con);
        Ok(store)
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
/// every stored row when [`OnlineStore::apply_group`] changes the TTL.
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

/// What went wrong in one call: a transport or server error, or a precise error already.
enum Fail {
    Redis(RedisError),
    Feature(FeatureError),
}

impl From<RedisError> for Fail {
    fn from(e: RedisError) -> Self {
        Self::Redis(e)
    }
}

impl From<FeatureError> for Fail {
    fn from(e: FeatureError) -> Self {
        Self::Feature(e)
    }
}

impl Inner {
    fn backend(&self, detail: impl Into<String>) -> FeatureError {
        FeatureError::Backend {
            backend: BACKEND,
            target: self.target.clone(),
            detail: detail.into(),
        }
    }

    fn corrupt(&self, key: &[u8], detail: impl Into<String>) -> FeatureError {
        FeatureError::CorruptEntry {
            backend: BACKEND,
            key: format!("{}/{}", self.target, show_key(key)),
            detail: detail.into(),
        }
    }

    /// A corrupt entity hash, named by key, group and entity.
    fn corrupt_entity(&self, info: &GroupInfo, entity: &EntityKey, detail: String) -> FeatureError {
        let mut key = Vec::new();
        info.key(entity, &mut key);
        self.corrupt(
            &key,
            format!(
                "(feature group {}, entity {entity}) {detail}",
                info.def.name
            ),
        )
    }

    fn connect(&self) -> Result<Connection> {
        let fail = |e: RedisError| self.backend(format!("cannot connect: {e}"));
        let mut con = self
            .client
            .get_connection_with_timeout(self.timeout)
            .map_err(fail)?;
        con.set_read_timeout(Some(self.timeout)).map_err(fail)?;
        con.set_write_timeout(Some(self.timeout)).map_err(fail)?;
        self.write_script.load(&mut con).map_err(fail)?;
        self.evict_script.load(&mut con).map_err(fail)?;
        self.reexpire_script.load(&mut con).map_err(fail)?;
        Ok(con)
    }

    fn put(&self, con: Connection) {
        let mut pool = self.pool.lock();
        if pool.len() < self.max_idle {
            pool.push(con);
        }
    }

    /// Run `f` on a pooled connection; a transport failure on a reused connection is retried
    /// once on a fresh one (`f` must be safe to repeat: every call here is).
    fn with_con<T>(
        &self,
        what: &str,
        mut f: impl FnMut(&mut Connection) -> std::result::Result<T, Fail>,
    ) -> Result<T> {
        let pooled = self.pool.lock().pop();
        let reused = pooled.is_some();
        let mut con = match pooled {
            Some(c) => c,
            None => self.connect()?,
        };
        match f(&mut con) {
            Ok(v) => {
                self.put(con);
                return Ok(v);
            }
            Err(Fail::Feature(e)) => {
                self.put(con);
                return Err(e);
            }
            Err(Fail::Redis(e)) if reused && is_transport(&e) => {
                tracing::debug!(error = %e, "redis connection failed, retrying on a new one");
            }
            Err(Fail::Redis(e)) => return Err(self.redis_err(what, &e)),
        }
        let mut con = self.connect()?;
        match f(&mut con) {
            Ok(v) => {
                self.put(con);
                Ok(v)
            }
            Err(Fail::Feature(e)) => {
                self.put(con);
                Err(e)
            }
            Err(Fail::Redis(e)) => Err(self.redis_err(what, &e)),
        }
    }

    /// A registry read failure: a wrong-type registry key is named as corrupt.
    fn registry_err(&self, e: &RedisError) -> FeatureError {
        if e.code() == Some("WRONGTYPE") {
            self.corrupt(
                self.groups_key.as_bytes(),
                "holds a value that is not a hash of group definitions",
            )
        } else {
            self.redis_err("reading the group registry", e)
        }
    }

    fn redis_err(&self, what: &str, e: &RedisError) -> FeatureError {
        self.backend(format!("{what}: {e}"))
    }

    fn load_group_def(&self, con: &mut Connection, name: &str) -> Result<Option<FeatureGroup>> {
        let raw: Option<Vec<u8>> = Cmd::hget(&self.groups_key, name)
            .query(con)
            .map_err(|e| self.registry_err(&e))?;
        raw.map(|raw| self.parse_group(name, &raw)).transpose()
    }

    fn parse_group(&self, name: &str, raw: &[u8]) -> Result<FeatureGroup> {
        let def: FeatureGroup = serde_json::from_slice(raw).map_err(|e| {
            self.corrupt(
                self.groups_key.as_bytes(),
                format!("field {name:?} is not a feature group definition: {e}"),
            )
        })?;
        if def.name != name {
            return Err(self.corrupt(
                self.groups_key.as_bytes(),
                format!("field {name:?} defines group {:?}", def.name),
            ));
        }
        Ok(def)
    }

    fn cache(&self, def: FeatureGroup) -> Arc<GroupInfo> {
        let info = Arc::new(GroupInfo::new(&self.prefix, def));
        self.groups
            .write()
            .insert(info.def.name.clone(), Arc::clone(&info));
        info
    }

    /// The group, from the cache unless `refresh` or unknown.
    fn group(&self, name: &str, refresh: bool) -> Result<Arc<GroupInfo>> {
        if !refresh && let Some(g) = self.groups.read().get(name) {
            return Ok(Arc::clone(g));
        }
        let def = self.with_con("reading the group registry", |con| {
            Ok(self.load_group_def(con, name)?)
        })?;
        match def {
            Some(def) => Ok(self.cache(def)),
            None => {
                self.groups.write().remove(name);
                Err(FeatureError::not_found("feature group", name))
            }
        }
    }

    /// Keys of a group's hashes, `SCAN`ned in batches.
    fn scan_group(
        &self,
        con: &mut Connection,
        info: &GroupInfo,
        mut each: impl FnMut(&mut Connection, Vec<Vec<u8>>) -> std::result::Result<(), Fail>,
    ) -> std::result::Result<(), Fail> {
        let mut pattern = Vec::with_capacity(info.key_prefix.len() + 1);
        glob_escape(&info.key_prefix, &mut pattern);
        pattern.push(b'*');
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = ::redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .arg("TYPE")
                .arg("hash")
                .query(con)?;
            if !keys.is_empty() {
                each(con, keys)?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    fn remaining_ms(&self, ttl: i64, event: Timestamp, now: i64) -> i64 {
        let left = event
            .as_micros()
            .saturating_add(ttl)
            .saturating_add(self.grace)
            .saturating_sub(now);
        if left <= 0 {
            0
        } else {
            (left.saturating_add(999) / 1000).min(MAX_EXPIRE_MS)
        }
    }

    /// Set every row's physical expiry from the group's current TTL.
    fn reexpire(&self, info: &GroupInfo) -> Result<()> {
        let now = self.clock.now().as_micros();
        self.with_con("moving row expiries to the new TTL", |con| {
            self.scan_group(con, info, |con, keys| {
                let mut pipe = Pipeline::with_capacity(keys.len());
                for k in &keys {
                    pipe.hget(k, VERSION_FIELD);
                }
                let versions: Vec<Option<Vec<u8>>> = pipe.query(con)?;
                let mut cmd = ::redis::cmd("EVALSHA");
                cmd.arg(self.reexpire_script.get_hash()).arg(keys.len());
                for k in &keys {
                    cmd.arg(k);
                }
                for v in &versions {
                    let event = v
                        .as_deref()
                        .filter(|v| v.len() == VERSION_LEN)
                        .and_then(|v| unsortable(&v[..20]));
                    // A row without a valid version is skipped by the script (no match).
                    cmd.arg(v.as_deref().unwrap_or_default());
                    match (info.ttl, event) {
                        (Some(ttl), Some(event)) => {
                            cmd.arg(self.remaining_ms(ttl, Timestamp::from_micros(event), now))
                        }
                        _ => cmd.arg(""),
                    };
                }
                let _: usize = cmd.query(con)?;
                Ok(())
            })
        })
    }

    fn write(&self, info: &GroupInfo, rows: &[FeatureRow]) -> Result<WriteStats> {
        let now = self.clock.now().as_micros();
        let total = rows.len();
        let names: Vec<&str> = info.def.features.iter().map(|f| f.name.as_str()).collect();
        // Pipelines of up to 16 script calls; each call is one atomic chunk.
        let chunk = self.chunk_rows;
        let per_pipe = chunk * 16;
        let mut stats = WriteStats::default();
        let mut done = 0;
        let mut key = Vec::new();
        let mut val = Vec::new();
        for part in rows.chunks(per_pipe) {
            let mut pipe = Pipeline::with_capacity(part.len().div_ceil(chunk));
            pipe.ignore_errors();
            for rows in part.chunks(chunk) {
                let mut cmd = ::redis::cmd("EVALSHA");
                cmd.arg(self.write_script.get_hash()).arg(rows.len());
                for row in rows {
                    info.key(&row.key, &mut key);
                    cmd.arg(&key);
                }
                for row in rows {
                    let mut version = sortable(row.event_ts.as_micros());
                    version.push_str(&sortable(row.effective_created().as_micros()));
                    cmd.arg(version);
                    match info.ttl {
                        Some(ttl) => cmd.arg(self.remaining_ms(ttl, row.event_ts, now)),
                        None => cmd.arg(""),
                    };
                    let present = row.values.iter().filter(|v| !v.is_null()).count();
                    cmd.arg(present);
                    for (name, v) in names.iter().zip(&row.values) {
                        if v.is_null() {
                            continue;
                        }
                        val.clear();
                        encode_value(v, &mut val);
                        cmd.arg(*name).arg(&val);
                    }
                }
                pipe.add_command(cmd);
            }
            let replies = self.with_con("writing", |con| {
                let replies: Vec<RV> = pipe.query(con)?;
                if replies
                    .iter()
                    .any(|r| matches!(r, RV::ServerError(e) if e.code() == "NOSCRIPT"))
                {
                    // The server lost its scripts (restart, SCRIPT FLUSH): load them and
                    // replay; rows are idempotent, so chunks that did run are unaffected.
                    self.write_script.load(con)?;
                    return Ok(pipe.query(con)?);
                }
                Ok(replies)
            });
            let replies = match replies {
                Ok(r) => r,
                Err(e) => return Err(Self::partial(info, done, total, e)),
            };
            for (reply, rows) in replies.iter().zip(part.chunks(chunk)) {
                match reply {
                    RV::Int(n) => {
                        let n = usize::try_from(*n).unwrap_or(0).min(rows.len());
                        stats.written += n;
                        stats.stale += rows.len() - n;
                        done += rows.len();
                    }
                    RV::ServerError(e) => {
                        let err = match bad_key(e.code(), e.details().unwrap_or_default()) {
                            Some((i, why)) if i < rows.len() => {
                                self.corrupt_entity(info, &rows[i].key, why.to_owned())
                            }
                            _ => self.backend(format!("write script failed: {e}")),
                        };
                        return Err(Self::partial(info, done, total, err));
                    }
                    other => {
                        let err = self.backend(format!("unexpected write reply {other:?}"));
                        return Err(Self::partial(info, done, total, err));
                    }
                }
            }
        }
        Ok(stats)
    }

    /// Say how much of a failed batch was applied.
    fn partial(info: &GroupInfo, done: usize, total: usize, e: FeatureError) -> FeatureError {
        if done == 0 {
            return e;
        }
        let context = format!(
            "batch for feature group {} failed after its first {done} of {total} rows were \
             applied (rewriting the batch is safe)",
            info.def.name
        );
        match e {
            FeatureError::Backend {
                backend,
                target,
                detail,
            } => FeatureError::Backend {
                backend,
                target,
                detail: format!("{context}: {detail}"),
            },
            FeatureError::CorruptEntry {
                backend,
                key,
                detail,
            } => FeatureError::CorruptEntry {
                backend,
                key,
                detail: format!("{detail} ({context})"),
            },
            other => other,
        }
    }

    fn read(
        &self,
        info: &GroupInfo,
        req: &ReadRequest<'_>,
        out: &mut [FeatureValue],
    ) -> Result<()> {
        let now = req.now.as_micros();
        let nf = req.features.len();
        let mut pipe = Pipeline::with_capacity(req.keys.len());
        pipe.ignore_errors();
        let mut key = Vec::new();
        for entity in req.keys {
            info.key(entity, &mut key);
            let mut cmd = ::redis::cmd("HMGET");
            cmd.arg(&key).arg(VERSION_FIELD);
            for &j in req.features {
                cmd.arg(info.def.features[j].name.as_str());
            }
            pipe.add_command(cmd);
        }
        let replies: Vec<RV> = self.with_con("reading", |con| Ok(pipe.query(con)?))?;
        if replies.len() != req.keys.len() {
            return Err(self.backend(format!(
                "{} replies to {} reads",
                replies.len(),
                req.keys.len()
            )));
        }
        for (i, reply) in replies.into_iter().enumerate() {
            let start = i * req.stride + req.offset;
            let slots = &mut out[start..start + nf];
            let bad = |detail: String| self.corrupt_entity(info, &req.keys[i], detail);
            let fields = match reply {
                RV::Array(fields) if fields.len() == nf + 1 => fields,
                RV::ServerError(e) => {
                    let detail = if e.code() == "WRONGTYPE" {
                        "holds a value that is not a hash".to_owned()
                    } else {
                        e.to_string()
                    };
                    return Err(bad(detail));
                }
                other => {
                    return Err(bad(format!("unexpected reply {other:?}")));
                }
            };
            let mut fields = fields.into_iter();
            let event = match fields.next() {
                Some(RV::BulkString(v)) if v.len() == VERSION_LEN => {
                    unsortable(&v[..20]).filter(|_| unsortable(&v[20..]).is_some())
                }
                Some(RV::Nil) => {
                    if let Some(j) = fields.position(|f| !matches!(f, RV::Nil)) {
                        return Err(bad(format!(
                            "has field {:?} but no {VERSION_FIELD} version field",
                            info.def.features[req.features[j]].name
                        )));
                    }
                    for slot in slots {
                        *slot = FeatureValue::default();
                    }
                    continue;
                }
                _ => None,
            };
            let Some(event) = event else {
                return Err(bad(format!(
                    "field {VERSION_FIELD} is not a {VERSION_LEN}-digit version"
                )));
            };
            let event_ts = Some(Timestamp::from_micros(event));
            if info.ttl.is_some_and(|ttl| now.saturating_sub(event) > ttl) {
                for slot in slots {
                    slot.value = Value::Null;
                    slot.status = FeatureStatus::OutsideMaxAge;
                    slot.event_ts = event_ts;
                }
                continue;
            }
            for ((slot, field), &j) in slots.iter_mut().zip(fields).zip(req.features) {
                slot.event_ts = event_ts;
                let def = &info.def.features[j];
                match field {
                    RV::Nil => {
                        slot.value = Value::Null;
                        slot.status = FeatureStatus::Null;
                    }
                    RV::BulkString(b) => match decode_value(def.dtype, b) {
                        Ok(v) => {
                            slot.value = v;
                            slot.status = FeatureStatus::Present;
                        }
                        Err(why) => {
                            return Err(bad(format!("field {:?} {why}", def.name)));
                        }
                    },
                    other => {
                        return Err(bad(format!(
                            "field {:?}: unexpected reply {other:?}",
                            def.name
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

/// A transport failure (the connection is unusable), as opposed to a server reply.
fn is_transport(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error()
}

/// The row index (0-based) and reason of a `MLOPSBAD <index> <reason>` script error
/// (`details` is what follows the error code).
fn bad_key<'a>(code: &str, details: &'a str) -> Option<(usize, &'a str)> {
    if code != "MLOPSBAD" {
        return None;
    }
    let (index, why) = details.split_once(' ')?;
    let index: usize = index.parse().ok()?;
    Some((index.checked_sub(1)?, why))
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
        RedisOnlineStoreBuilder {
            url: url.to_owned(),
            prefix: "mlops".to_owned(),
            clock: Arc::new(SystemClock),
            expiry_grace: Duration::ZERO,
            timeout: Duration::from_secs(5),
            max_idle: 16,
            chunk_rows: 512,
        }
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

    fn write_batch(&self, group: &str, rows: &[FeatureRow]) -> Result<WriteStats> {
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
        self.inner.write(&info, rows)
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
                    "feature",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_like_numbers() {
        let xs = [i64::MIN, -5, -1, 0, 1, 1_700_000_000_000_000, i64::MAX];
        for w in xs.windows(2) {
            assert!(sortable(w[0]) < sortable(w[1]), "{w:?}");
        }
        for x in xs {
            assert_eq!(unsortable(sortable(x).as_bytes()), Some(x));
        }
        assert_eq!(unsortable(b"0000000000000000000x"), None);
        assert_eq!(unsortable(b"99999999999999999999"), None);
    }

    #[test]
    fn values_round_trip_and_bad_lengths_are_named() {
        let cases = [
            (ValueType::Bool, Value::Bool(true)),
            (ValueType::Int64, Value::Int64(-3)),
            (ValueType::Float64, Value::Float64(2.5)),
            (ValueType::Float32, Value::Float32(-0.5)),
            (ValueType::String, Value::from("é")),
            (
                ValueType::Timestamp,
                Value::Timestamp(Timestamp::from_secs(9)),
            ),
            (ValueType::Bytes, Value::Bytes(vec![0, 255])),
            (
                ValueType::Float32Vector,
                Value::Float32Vector(vec![1.0, 2.0]),
            ),
        ];
        for (ty, v) in cases {
            let mut b = Vec::new();
            encode_value(&v, &mut b);
            assert_eq!(decode_value(ty, b).unwrap(), v);
        }
        assert!(
            decode_value(ValueType::Int64, vec![1, 2, 3])
                .unwrap_err()
                .contains("3 bytes")
        );
        assert!(decode_value(ValueType::Bool, vec![7]).is_err());
        assert!(decode_value(ValueType::String, vec![0xff]).is_err());
        assert!(decode_value(ValueType::Float32Vector, vec![0; 5]).is_err());
    }

    #[test]
    fn script_errors_name_the_key() {
        let (i, why) = bad_key("MLOPSBAD", "2 holds a string, not a hash").unwrap();
        assert_eq!((i, why), (1, "holds a string, not a hash"));
        assert!(bad_key("MLOPSBAD", "0 x").is_none());
        assert!(bad_key("ERR", "1 x").is_none());
        assert_eq!(show_key(b"a:\x00b"), "a:\\x00b");
    }
}
