//! The builder of a [`RedisOnlineStore`].

use super::*;

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
    pub(super) fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            prefix: "mlops".to_owned(),
            clock: Arc::new(SystemClock),
            expiry_grace: Duration::ZERO,
            timeout: Duration::from_secs(5),
            max_idle: 16,
            chunk_rows: 512,
        }
    }

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
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Keep a row's values this long past its TTL before Redis reclaims them (default zero).
    /// Reads answer [`FeatureStatus::OutsideMaxAge`] for an expired row either way (its version
    /// outlives its values); the grace only delays freeing the memory.
    #[must_use]
    pub fn expiry_grace(mut self, grace: Duration) -> Self {
        self.expiry_grace = grace;
        self
    }

    /// The time limit of every call (default 5 s): connecting, sending and waiting for the
    /// reply together. A call that failed on a pooled connection for a reason other than a
    /// timeout (the server restarted) is retried once on a fresh connection, so a call never
    /// takes longer than twice this; a server that does not answer in time (stopped, frozen,
    /// overloaded) gives [`FeatureError::Backend`] saying it timed out, naming the server.
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
        let bad_url =
            |e: RedisError| FeatureError::invalid("redis url", format!("{}: {e}", self.url));
        let info = ::redis::IntoConnectionInfo::into_connection_info(self.url.as_str())
            .map_err(bad_url)?;
        // No `CLIENT SETINFO` pipeline on connect: its replies would each wait a full timeout
        // on a frozen server.
        let settings = info.redis_settings().clone().set_skip_set_lib_name();
        let client = Client::open(info.set_redis_settings(settings)).map_err(bad_url)?;
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
        let con = store.inner.connect(
            "connecting",
            std::time::Instant::now() + store.inner.timeout,
        )?;
        store.inner.put(con);
        Ok(store)
    }
}
