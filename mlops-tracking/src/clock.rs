//! Clocks: the time source of run start and end times and metric timestamps, injected into a
//! [`Tracker`](crate::Tracker) as `Arc<dyn Clock>`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::model::now_ms;

/// A source of timestamps in milliseconds since the Unix epoch (MLflow's time unit), injected
/// into a [`Tracker`](crate::Tracker) as `Arc<dyn Clock>` ([`Tracker::with_clock`](crate::Tracker::with_clock)); [`SystemClock`] by
/// default, [`ManualClock`] for tests and simulations.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time in milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

const _: fn(&dyn Clock) = |_| {};

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        now_ms()
    }
}

/// A clock that moves only when told to, or by a fixed step at every reading (deterministic
/// timestamps for tests and demos). Clones share the time.
///
/// ```
/// use mlops_tracking::{Clock, ManualClock};
/// use std::time::Duration;
///
/// let clock = ManualClock::new(1_000);
/// clock.advance(Duration::from_secs(2));
/// assert_eq!(clock.now_ms(), 3_000);
/// let ticking = ManualClock::ticking(0, 1); // 0, 1, 2, ... one step per reading
/// assert_eq!((ticking.now_ms(), ticking.now_ms()), (0, 1));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    now: Arc<AtomicI64>,
    step: i64,
}

impl ManualClock {
    /// A clock showing `ms` until moved.
    #[must_use]
    pub fn new(ms: i64) -> Self {
        Self::ticking(ms, 0)
    }

    /// A clock starting at `start_ms` that advances by `step_ms` after every reading.
    #[must_use]
    pub fn ticking(start_ms: i64, step_ms: i64) -> Self {
        Self {
            now: Arc::new(AtomicI64::new(start_ms)),
            step: step_ms,
        }
    }

    /// Set the time.
    pub fn set(&self, ms: i64) {
        self.now.store(ms, Ordering::SeqCst);
    }

    /// Move the time forward by `d`.
    pub fn advance(&self, d: Duration) {
        self.now.fetch_add(duration_ms(d), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now.fetch_add(self.step, Ordering::SeqCst)
    }
}

pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
