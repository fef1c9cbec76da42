//! Test support shared by the mlops crates (std only, no dependencies).
//!
//! - [`Subject`]: the backend under test in every crate's conformance suite. One type for all
//!   of them, so the contract reads the same in each crate: a case is a function
//!   `fn(&Subject<dyn Trait>, &Capabilities)`, the subject holds the store, optionally a way to
//!   reopen the same durable state, and a guard that keeps what the store needs alive.
//! - [`ProcessGroup`]: runs a test server (MLflow, moto) under a small `sh` watchdog in its own
//!   process group, so the whole group dies with the test process or on [`ProcessGroup::stop`],
//!   never left behind.
//!
//! ```
//! use mlops_testkit::Subject;
//!
//! trait Store {
//!     fn get(&self) -> u32;
//! }
//! struct Fixed(u32);
//! impl Store for Fixed {
//!     fn get(&self) -> u32 {
//!         self.0
//!     }
//! }
//!
//! // A conformance case sees only the trait object.
//! fn survives_reopen(subject: &Subject<dyn Store>) {
//!     let again = subject.reopened().unwrap_or_else(|| unreachable!());
//!     assert_eq!(again.get(), subject.store.get());
//! }
//!
//! let subject = Subject::<dyn Store>::new(Box::new(Fixed(7)))
//!     .with_reopen(|| Box::new(Fixed(7)))
//!     .with_guard(String::from("a temp dir would live here"));
//! survives_reopen(&subject);
//! ```

mod process;

pub use process::ProcessGroup;

use std::any::Any;
use std::fmt;

/// The backend under test, with what a conformance case needs around it.
///
/// `S` is the trait object of the suite (`dyn ContentStore`, `dyn TrackingBackend`, ...).
/// Build it with [`Subject::new`] from a boxed store; `Box::new(store)` coerces to the trait
/// object when the type is known (`Subject::<dyn Trait>::new(Box::new(store))`, or from the
/// case's signature).
pub struct Subject<S: ?Sized> {
    /// The backend under test.
    pub store: Box<S>,
    /// Opens a fresh handle on the same durable state (the same directory or server), for
    /// backends that have one; cases about close and reopen use it when present, and the store
    /// itself otherwise.
    pub reopen: Option<Box<dyn Fn() -> Box<S>>>,
    /// Whatever must live as long as the store (a temp dir, a server handle); dropped last.
    pub guard: Box<dyn Any>,
}

impl<S: ?Sized> Subject<S> {
    /// A subject without reopen and without guard.
    #[must_use]
    pub fn new(store: Box<S>) -> Self {
        Self {
            store,
            reopen: None,
            guard: Box::new(()),
        }
    }

    /// Reopen the same durable state with `reopen`.
    #[must_use]
    pub fn with_reopen(mut self, reopen: impl Fn() -> Box<S> + 'static) -> Self {
        self.reopen = Some(Box::new(reopen));
        self
    }

    /// Keep `guard` alive as long as the subject.
    #[must_use]
    pub fn with_guard(mut self, guard: impl Any) -> Self {
        self.guard = Box::new(guard);
        self
    }

    /// A fresh handle on the same durable state, when the subject can reopen.
    #[must_use]
    pub fn reopened(&self) -> Option<Box<S>> {
        self.reopen.as_ref().map(|f| f())
    }
}

impl<S: ?Sized> fmt::Debug for Subject<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subject")
            .field("reopen", &self.reopen.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::Subject;

    trait Counter {
        fn value(&self) -> u32;
    }
    struct At(u32);
    impl Counter for At {
        fn value(&self) -> u32 {
            self.0
        }
    }

    #[test]
    fn reopened_is_none_without_a_reopen_and_fresh_with_one() {
        let plain = Subject::<dyn Counter>::new(Box::new(At(1)));
        assert!(plain.reopened().is_none());
        assert_eq!(plain.store.value(), 1);
        let durable = plain.with_reopen(|| Box::new(At(2)));
        assert_eq!(durable.reopened().map(|s| s.value()), Some(2));
        assert_eq!(format!("{durable:?}"), "Subject { reopen: true, .. }");
    }

    #[test]
    fn the_guard_lives_as_long_as_the_subject() {
        use std::rc::Rc;
        let guard = Rc::new(());
        let subject = Subject::<dyn Counter>::new(Box::new(At(0))).with_guard(Rc::clone(&guard));
        assert_eq!(Rc::strong_count(&guard), 2);
        drop(subject);
        assert_eq!(Rc::strong_count(&guard), 1);
    }
}

/// The README's example, compiled and run as a doc test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
