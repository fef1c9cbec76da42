//! Connections, the pool, errors and the group registry of the Redis store.

use std::time::Instant;

use super::*;
use crate::human::HumanDuration;

/// What went wrong in one call: a transport or server error, or a precise error already.
pub(super) enum Fail {
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
    pub(super) fn backend(&self, detail: impl Into<String>) -> FeatureError {
        FeatureError::Backend {
            backend: BACKEND,
            target: self.target.clone(),
            detail: detail.into(),
        }
    }

    pub(super) fn corrupt(&self, key: &[u8], detail: impl Into<String>) -> FeatureError {
        FeatureError::CorruptEntry {
            backend: BACKEND,
            key: format!("{}/{}", self.target, show_key(key)),
            detail: detail.into(),
        }
    }

    /// A corrupt entity hash, named by key, group and entity.
    pub(super) fn corrupt_entity(
        &self,
        info: &GroupInfo,
        entity: &EntityKey,
        detail: String,
    ) -> FeatureError {
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

    /// Open a connection and load the scripts, all within `deadline`.
    pub(super) fn connect(&self, what: &str, deadline: Instant) -> Result<Connection> {
        let fail = |e: RedisError| {
            if e.is_timeout() {
                self.timed_out(&format!("{what}: connecting"))
            } else {
                self.backend(format!("{what}: cannot connect: {e}"))
            }
        };
        let left = |what: &str| {
            let now = Instant::now();
            if now >= deadline {
                Err(self.timed_out(what))
            } else {
                Ok(deadline - now)
            }
        };
        let mut con = self
            .client
            .get_connection_with_timeout(left(what)?)
            .map_err(fail)?;
        let limit = left(what)?;
        con.set_read_timeout(Some(limit)).map_err(fail)?;
        con.set_write_timeout(Some(limit)).map_err(fail)?;
        // One round trip for the three scripts, within what is left of the deadline.
        let mut pipe = Pipeline::with_capacity(3);
        for code in [WRITE_LUA, EVICT_LUA, REEXPIRE_LUA] {
            pipe.cmd("SCRIPT").arg("LOAD").arg(code);
        }
        let replies = self
            .run_pipeline_until(&mut con, &pipe, deadline)
            .map_err(fail)?;
        if let Some(RV::ServerError(e)) = replies.iter().find(|r| matches!(r, RV::ServerError(_))) {
            return Err(self.backend(format!("{what}: loading scripts: {e}")));
        }
        Ok(con)
    }

    /// Send a (non-atomic) pipeline and read its replies, all within the configured timeout.
    /// Unlike `Pipeline::query`, which waits the full socket timeout once per missing reply (so
    /// a frozen server cost N timeouts), this stops at the first failure and shortens the
    /// socket timeout to what is left of the deadline. Server errors come back as values.
    pub(super) fn run_pipeline(
        &self,
        con: &mut Connection,
        pipe: &Pipeline,
    ) -> std::result::Result<Vec<RV>, RedisError> {
        self.run_pipeline_until(con, pipe, Instant::now() + self.timeout)
    }

    /// As [`Inner::run_pipeline`], with a given deadline.
    fn run_pipeline_until(
        &self,
        con: &mut Connection,
        pipe: &Pipeline,
        deadline: Instant,
    ) -> std::result::Result<Vec<RV>, RedisError> {
        con.send_packed_command(&pipe.get_packed_pipeline())?;
        let mut shortened = false;
        let mut out = Vec::with_capacity(pipe.len());
        for _ in 0..pipe.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(RedisError::from(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the pipeline's time limit ran out",
                )));
            }
            if left < self.timeout {
                con.set_read_timeout(Some(left))?;
                shortened = true;
            }
            out.push(con.recv_response()?);
        }
        if shortened {
            con.set_read_timeout(Some(self.timeout))?;
        }
        Ok(out)
    }

    /// Give the connection its normal time limits back and pool it.
    fn put_fresh(&self, con: Connection) {
        if con.set_read_timeout(Some(self.timeout)).is_ok()
            && con.set_write_timeout(Some(self.timeout)).is_ok()
        {
            self.put(con);
        }
    }

    pub(super) fn put(&self, con: Connection) {
        let mut pool = self.pool.lock();
        if pool.len() < self.max_idle {
            pool.push(con);
        }
    }

    /// The error of a call that ran out of time.
    pub(super) fn timed_out(&self, what: &str) -> FeatureError {
        self.backend(format!(
            "{what}: timed out after {} (the server did not answer in time: is it stopped, \
             frozen or overloaded?)",
            HumanDuration(self.timeout)
        ))
    }

    /// Run `f` on a pooled connection; a transport failure on a reused connection that is not
    /// a timeout is retried once on a fresh one (`f` must be safe to repeat: every call here
    /// is). Each attempt gets the configured timeout; a timeout is never retried, so a frozen
    /// server costs one timeout, a restarted one at most two.
    pub(super) fn with_con<T>(
        &self,
        what: &str,
        mut f: impl FnMut(&mut Connection) -> std::result::Result<T, Fail>,
    ) -> Result<T> {
        let pooled = self.pool.lock().pop();
        let reused = pooled.is_some();
        let mut con = match pooled {
            Some(c) => c,
            None => self.connect(what, Instant::now() + self.timeout)?,
        };
        match f(&mut con) {
            Ok(v) => {
                if reused {
                    self.put(con);
                } else {
                    self.put_fresh(con);
                }
                return Ok(v);
            }
            Err(Fail::Feature(e)) => {
                self.put(con);
                return Err(e);
            }
            Err(Fail::Redis(e)) if reused && is_transport(&e) && !e.is_timeout() => {
                tracing::debug!(error = %e, "redis connection failed, retrying on a new one");
            }
            Err(Fail::Redis(e)) => return Err(self.redis_err(what, &e)),
        }
        let mut con = self.connect(what, Instant::now() + self.timeout)?;
        match f(&mut con) {
            Ok(v) => {
                self.put_fresh(con);
                Ok(v)
            }
            Err(Fail::Feature(e)) => {
                self.put_fresh(con);
                Err(e)
            }
            Err(Fail::Redis(e)) => Err(self.redis_err(what, &e)),
        }
    }

    /// A registry read failure: a wrong-type registry key is named as corrupt.
    pub(super) fn registry_err(&self, e: &RedisError) -> FeatureError {
        if e.code() == Some("WRONGTYPE") {
            self.corrupt(
                self.groups_key.as_bytes(),
                "holds a value that is not a hash of group definitions",
            )
        } else {
            self.redis_err("reading the group registry", e)
        }
    }

    pub(super) fn redis_err(&self, what: &str, e: &RedisError) -> FeatureError {
        if e.is_timeout() {
            return self.timed_out(what);
        }
        self.backend(format!("{what}: {e}"))
    }

    pub(super) fn load_group_def(
        &self,
        con: &mut Connection,
        name: &str,
    ) -> Result<Option<FeatureGroup>> {
        let raw: Option<Vec<u8>> = Cmd::hget(&self.groups_key, name)
            .query(con)
            .map_err(|e| self.registry_err(&e))?;
        raw.map(|raw| self.parse_group(name, &raw)).transpose()
    }

    pub(super) fn parse_group(&self, name: &str, raw: &[u8]) -> Result<FeatureGroup> {
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

    pub(super) fn cache(&self, def: FeatureGroup) -> Arc<GroupInfo> {
        let info = Arc::new(GroupInfo::new(&self.prefix, def));
        self.groups
            .write()
            .insert(info.def.name.clone(), Arc::clone(&info));
        info
    }

    /// The group, from the cache unless `refresh` or unknown.
    pub(super) fn group(&self, name: &str, refresh: bool) -> Result<Arc<GroupInfo>> {
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
                Err(FeatureError::not_found(EntityKind::FeatureGroup, name))
            }
        }
    }

    /// The error when a group this handle knows is no longer in the server's registry (the
    /// server lost its data: restarted without persistence, flushed). The handle forgets the
    /// group; writing resumes once the group is applied again.
    pub(super) fn group_gone(&self, info: &GroupInfo) -> FeatureError {
        self.groups.write().remove(&info.def.name);
        self.backend(format!(
            "feature group {} is no longer registered on the server (its data was lost: \
             restarted without persistence or flushed?); apply the group again",
            info.def.name
        ))
    }

    /// Keys of a group's hashes, `SCAN`ned in batches.
    pub(super) fn scan_group(
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
}
