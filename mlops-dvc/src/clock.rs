//! Clocks: the time source of version timestamps, injected as `Arc<dyn Clock>` so tests and
//! examples get reproducible timestamps.

use std::fmt;

use chrono::{DateTime, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

const _: fn(&dyn Clock) = |_| {};

/// The wall clock (the default).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A [`Clock`] reading a function, for callers whose time source is a closure.
///
/// ```
/// use std::sync::Arc;
/// use chrono::DateTime;
/// use mlops_dvc::{Clock, FnClock};
///
/// let clock: Arc<dyn Clock> = Arc::new(FnClock(|| DateTime::from_timestamp(0, 0).unwrap()));
/// assert_eq!(clock.now().timestamp(), 0);
/// ```
#[derive(Clone, Copy)]
pub struct FnClock<F>(pub F);

impl<F> fmt::Debug for FnClock<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnClock")
    }
}

impl<F: Fn() -> DateTime<Utc> + Send + Sync + 'static> Clock for FnClock<F> {
    fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }
}
