//! Clocks: the time source the embedded backends stamp changes with, injectable so tests pin
//! time. Every backend takes one as `Arc<dyn Clock>` ([`InMemoryRegistry::with_clock`],
//! [`FileRegistry::with_clock`]).
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use mlops_registry::clock::ManualClock;
//! use mlops_registry::{Clock, InMemoryRegistry, NewVersion, RegistryStoreExt};
//!
//! let clock = ManualClock::new(chrono::DateTime::from_timestamp_millis(1_700_000_000_000).unwrap());
//! let registry = InMemoryRegistry::new().with_clock(Arc::new(clock.clone()));
//! let v1 = registry.register_version(&NewVersion::new("m", "s3://m/1"))?;
//! clock.advance(Duration::from_secs(60));
//! let v2 = registry.register_version(&NewVersion::new("m", "s3://m/2"))?;
//! assert_eq!((v2.created_at - v1.created_at).num_seconds(), 60);
//! assert_eq!(clock.now(), v2.created_at);
//! # Ok::<(), mlops_registry::RegistryError>(())
//! ```
//!
//! [`InMemoryRegistry::with_clock`]: crate::InMemoryRegistry::with_clock
//! [`FileRegistry::with_clock`]: crate::FileRegistry::with_clock

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + Debug + 'static {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

const _: fn(&dyn Clock) = |_| {};

/// The wall clock, truncated to milliseconds (MLflow's resolution; JSON round-trips exactly).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
    }
}

/// A clock that only moves when told to, with millisecond resolution; clones share the time.
#[derive(Debug, Default, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock showing `t` (truncated to milliseconds).
    #[must_use]
    pub fn new(t: DateTime<Utc>) -> Self {
        Self(Arc::new(AtomicI64::new(t.timestamp_millis())))
    }

    /// Set the time (truncated to milliseconds).
    pub fn set(&self, t: DateTime<Utc>) {
        self.0.store(t.timestamp_millis(), Ordering::SeqCst);
    }

    /// Move the time forward by `d` (whole milliseconds; saturating).
    pub fn advance(&self, d: Duration) {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let _ = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| {
                Some(t.saturating_add(ms))
            });
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.0.load(Ordering::SeqCst)).unwrap_or_default()
    }
}

/// The default clock of the embedded backends.
pub(crate) fn system_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}
