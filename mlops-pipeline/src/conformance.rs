//! The shared conformance suite of [`StepCache`]: every backend (memory, file, and any
//! third-party one) must pass it.
//!
//! The contract is the same in every crate of the workspace:
//! - one plain function per case, `fn case(subject: &Subject<dyn StepCache>, caps: &Capabilities)`,
//!   all listed in [`CASES`];
//! - a [`Subject`] holds the backend under test (`store`), optionally `reopen`, which opens the
//!   same storage anew (cases that check durability across close and reopen use it when it is
//!   there), and a `guard` kept alive for the test (a temp dir, a server);
//! - [`Capabilities`] declare where a backend legitimately differs ([`Capabilities::ALL`] for
//!   one that does everything);
//! - [`conformance_tests!`](crate::conformance_tests) stamps one `#[test]` per case, calling the
//!   factory (an `impl Fn() -> Subject<dyn StepCache>`) once per test:
//!   `mlops_pipeline::conformance_tests!(<factory>);` or
//!   `mlops_pipeline::conformance_tests!(caps = <Capabilities>; <factory>);`.
//!
//! Third-party backends enable the `conformance` feature. A backend on the in-memory cache, as
//! a third party would write it (the stamped tests run under `cargo test`):
//!
//! ```
//! use mlops_pipeline::conformance::{self, Capabilities, Subject};
//! use mlops_pipeline::{InMemoryCache, StepCache};
//!
//! fn subject() -> Subject<dyn StepCache> {
//!     let cache = InMemoryCache::new();
//!     let shared = cache.clone(); // clones share the entries: "reopening" is a new handle
//!     Subject::<dyn StepCache>::new(Box::new(cache))
//!         .with_reopen(move || Box::new(shared.clone()))
//! }
//!
//! mod in_memory {
//!     mlops_pipeline::conformance_tests!(super::subject);
//! }
//! mod without_large_outputs {
//!     use mlops_pipeline::conformance::Capabilities;
//!     mlops_pipeline::conformance_tests!(caps = Capabilities::ALL.large_outputs(false); super::subject);
//! }
//!
//! // The same cases, run by hand:
//! for (name, case) in conformance::CASES {
//!     case(&subject(), &Capabilities::ALL);
//!     println!("{name}: ok");
//! }
//! ```

use std::collections::BTreeMap;

use crate::cache::{CacheEntry, CacheKey, Fingerprint, StepCache};
use crate::name::StepName;

/// The backend under test, shared by every mlops crate's conformance suite (see
/// [`mlops_testkit::Subject`]).
pub use mlops_testkit::Subject;

/// Where a backend legitimately differs. Each `false` flag turns off the checks it names, and
/// only those.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// Entries of 1 MiB round-trip (a backend on a store with a smaller value limit, such as
    /// memcached's default 1 MB item, sets it to `false`).
    pub large_outputs: bool,
}

impl Capabilities {
    /// Everything the embedded backends do.
    pub const ALL: Self = Self {
        large_outputs: true,
    };

    /// Set [`Capabilities::large_outputs`].
    #[must_use]
    pub const fn large_outputs(mut self, yes: bool) -> Self {
        self.large_outputs = yes;
        self
    }
}

impl Default for Capabilities {
    fn default() -> Self {
        Self::ALL
    }
}

/// One conformance case.
pub type Case = fn(&Subject<dyn StepCache>, &Capabilities);

/// Every case, by name, in the order [`conformance_tests!`](crate::conformance_tests) stamps
/// them.
pub const CASES: &[(&str, Case)] = &[
    ("missing_key_is_none", missing_key_is_none),
    ("put_then_get_round_trips", put_then_get_round_trips),
    ("put_replaces", put_replaces),
    ("remove_reports_presence", remove_reports_presence),
    ("keys_are_sorted_and_complete", keys_are_sorted_and_complete),
    ("get_many_matches_get", get_many_matches_get),
    ("odd_outputs_round_trip", odd_outputs_round_trip),
    ("concurrent_puts", concurrent_puts),
];

/// Run one case on a fresh subject from `factory` (what each stamped test does).
pub fn run(factory: impl Fn() -> Subject<dyn StepCache>, case: Case, caps: &Capabilities) {
    let subject = factory();
    case(&subject, caps);
}

/// A key derived from `n`.
#[must_use]
pub fn key(n: u32) -> CacheKey {
    CacheKey::from_bytes(Fingerprint::of(&n.to_le_bytes()).as_bytes().to_owned())
}

/// An entry for step `step` holding `output`.
///
/// # Panics
/// When `step` is not a valid step name.
#[must_use]
pub fn entry(step: &str, output: &[u8]) -> CacheEntry {
    CacheEntry::new(
        step.parse::<StepName>().expect("valid step name"),
        output.to_vec(),
    )
}

/// A missing key reads as `None`; removing it reports `false`.
///
/// # Panics
/// When the backend does not conform.
pub fn missing_key_is_none(subject: &Subject<dyn StepCache>, _caps: &Capabilities) {
    let c = &subject.store;
    assert_eq!(c.get(&key(1)).unwrap(), None);
    assert!(!c.remove(&key(1)).unwrap());
    assert!(c.keys().unwrap().is_empty());
}

/// What is put is read back unchanged, also after reopening.
///
/// # Panics
/// When the backend does not conform.
pub fn put_then_get_round_trips(subject: &Subject<dyn StepCache>, _caps: &Capabilities) {
    let c = &subject.store;
    let e = entry("train", br#"{"accuracy":0.8}"#);
    c.put(&key(1), &e).unwrap();
    assert_eq!(c.get(&key(1)).unwrap().as_ref(), Some(&e));
    assert_eq!(c.get(&key(2)).unwrap(), None);
    if let Some(c) = subject.reopened() {
        assert_eq!(c.get(&key(1)).unwrap(), Some(e));
        assert_eq!(c.get(&key(2)).unwrap(), None);
    }
}

/// A second put under the same key replaces the first.
///
/// # Panics
/// When the backend does not conform.
pub fn put_replaces(subject: &Subject<dyn StepCache>, _caps: &Capabilities) {
    let c = &subject.store;
    c.put(&key(1), &entry("a", b"1")).unwrap();
    let second = entry("a", b"22");
    c.put(&key(1), &second).unwrap();
    assert_eq!(c.get(&key(1)).unwrap().as_ref(), Some(&second));
    assert_eq!(c.keys().unwrap(), vec![key(1)]);
    if let Some(c) = subject.reopened() {
        assert_eq!(c.get(&key(1)).unwrap(), Some(second));
    }
}

/// Remove deletes one entry and reports whether it was there.
///
/// # Panics
/// When the backend does not conform.
pub fn remove_reports_presence(subject: &Subject<dyn StepCache>, _caps: &Capabilities) {
    let c = &subject.store;
    c.put(&key(1), &entry("a", b"1")).unwrap();
    c.put(&key(2), &entry("b", b"2")).unwrap();
    assert!(c.remove(&key(1)).unwrap());
    assert!(!c.remove(&key(1)).unwrap());
    assert_eq!(c.get(&key(1)).unwrap(), None);
    assert_eq!(c.keys().unwrap(), vec![key(2)]);
    if let Some(c) = subject.reopened() {
        assert_eq!(c.get(&key(1)).unwrap(), None);
        assert_eq!(c.keys().unwrap(), vec![key(2)]);
    }
}

/// `keys` lists every key once, sorted.
///
/// # Panics
/// When the backend does not conform.
pub fn keys_are_sorted_and_complete(subject: &Subject<dyn StepCache>, _caps: &Capabilities) {
    let c = &subject.store;
    let mut want: Vec<CacheKey> = (0..20).map(key).collect();
    for (i, k) in want.iter().enumerate() {
        c.put(k, &entry("s", i.to_string().as_bytes())).unwrap();
    }
    c.put(&key(3), &entry("s", b"again")).unwrap();
    want.sort();
    assert_eq!(c.keys().unwrap(), want);
    if let Some(c) = subject.reopened() {
        assert_eq!(c.keys().unwrap(), want);
    }
}

/// `get_many` answers like `get`, in order.
///
/// # Panics
/// When the backend does not conform.
pub fn get_many_matches_get(subject: &Subject<dyn StepCache>, _caps: &Capabilities) {
    let c = &subject.store;
    c.put(&key(1), &entry("a", b"1")).unwrap();
    c.put(&key(3), &entry("c", b"3")).unwrap();
    let keys = [key(3), key(2), key(1)];
    let got: Vec<_> = c.get_many(&keys).into_iter().map(Result::unwrap).collect();
    let want: Vec<_> = keys.iter().map(|k| c.get(k).unwrap()).collect();
    assert_eq!(got, want);
    assert!(got[0].is_some() && got[1].is_none() && got[2].is_some());
}

/// Empty, binary (non-UTF-8, with newlines) and (with [`Capabilities::large_outputs`]) 1 MiB
/// outputs round-trip, also after reopening.
///
/// # Panics
/// When the backend does not conform.
pub fn odd_outputs_round_trip(subject: &Subject<dyn StepCache>, caps: &Capabilities) {
    let c = &subject.store;
    let mut entries = vec![
        entry("e", b""),
        entry("b", &[0, 255, b'\n', 10, 13, 0xfe, b'\n']),
    ];
    if caps.large_outputs {
        let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
        entries.push(entry("big", &big));
    }
    for (k, e) in (1..).zip(&entries) {
        c.put(&key(k), e).unwrap();
    }
    let check = |c: &dyn StepCache| {
        for (k, e) in (1..).zip(&entries) {
            assert_eq!(
                c.get(&key(k)).unwrap().as_ref(),
                Some(e),
                "entry {}",
                e.step
            );
        }
    };
    check(c.as_ref());
    if let Some(c) = subject.reopened() {
        check(c.as_ref());
    }
}

/// Threads putting and reading the same and different keys at once: every read is a whole
/// entry, and every acknowledged entry is there afterwards.
///
/// # Panics
/// When the backend does not conform.
pub fn concurrent_puts(subject: &Subject<dyn StepCache>, _caps: &Capabilities) {
    let c: &dyn StepCache = subject.store.as_ref();
    std::thread::scope(|s| {
        for t in 0..4u32 {
            s.spawn(move || {
                for i in 0..25u32 {
                    let shared = entry("shared", format!("{t}-{i}").as_bytes());
                    c.put(&key(1000), &shared).unwrap();
                    c.put(&key(t * 100 + i), &entry("own", &i.to_le_bytes()))
                        .unwrap();
                    let got = c.get(&key(1000)).unwrap().expect("shared entry exists");
                    assert_eq!(Fingerprint::of(&got.output), got.fingerprint);
                }
            });
        }
    });
    let check = |c: &dyn StepCache| {
        for t in 0..4u32 {
            for i in 0..25u32 {
                let got = c
                    .get(&key(t * 100 + i))
                    .unwrap()
                    .expect("acknowledged entry");
                assert_eq!(got.output, i.to_le_bytes());
            }
        }
        assert_eq!(c.keys().unwrap().len(), 101);
    };
    check(c);
    if let Some(c) = subject.reopened() {
        check(c.as_ref());
    }
}

/// One step of the model test.
#[derive(Debug, Clone)]
pub enum ModelOp {
    /// Put `output` under key number `key`.
    Put(u8, Vec<u8>),
    /// Remove key number `key`.
    Remove(u8),
    /// Read key number `key`.
    Get(u8),
    /// Close and reopen the backend.
    Reopen,
}

/// Apply `ops` to the backend and to a `BTreeMap` model, comparing after every step.
/// [`ModelOp::Reopen`] switches to a reopened backend when the subject can reopen.
///
/// # Panics
/// When the backend and the model disagree.
pub fn check_against_model(subject: &Subject<dyn StepCache>, ops: &[ModelOp]) {
    let mut reopened: Option<Box<dyn StepCache>> = None;
    let mut model: BTreeMap<CacheKey, CacheEntry> = BTreeMap::new();
    for op in ops {
        let c: &dyn StepCache = reopened.as_deref().unwrap_or(subject.store.as_ref());
        match op {
            ModelOp::Put(k, out) => {
                let e = entry("step", out);
                c.put(&key(u32::from(*k)), &e).unwrap();
                model.insert(key(u32::from(*k)), e);
            }
            ModelOp::Remove(k) => {
                let k = key(u32::from(*k));
                assert_eq!(c.remove(&k).unwrap(), model.remove(&k).is_some());
            }
            ModelOp::Get(k) => {
                let k = key(u32::from(*k));
                assert_eq!(c.get(&k).unwrap().as_ref(), model.get(&k));
            }
            ModelOp::Reopen => {
                if let Some(fresh) = subject.reopened() {
                    reopened = Some(fresh);
                }
            }
        }
        let c: &dyn StepCache = reopened.as_deref().unwrap_or(subject.store.as_ref());
        assert_eq!(c.keys().unwrap(), model.keys().copied().collect::<Vec<_>>());
    }
    let c: &dyn StepCache = reopened.as_deref().unwrap_or(subject.store.as_ref());
    for (k, e) in &model {
        assert_eq!(c.get(k).unwrap().as_ref(), Some(e));
    }
}

/// Stamp one `#[test]` per conformance case (see [`CASES`]) into the current module, plus
/// one that checks every case of [`CASES`] is stamped.
///
/// `mlops_pipeline::conformance_tests!(<factory>);` or
/// `mlops_pipeline::conformance_tests!(caps = <Capabilities>; <factory>);`, where `<factory>` is
/// an expression of type `impl Fn() -> Subject<dyn StepCache>`, called once per test.
#[macro_export]
macro_rules! conformance_tests {
    (@cases ($caps:expr) ($factory:expr); $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::conformance::run($factory, $crate::conformance::$case, &$caps);
            }
        )*

        #[test]
        fn every_case_is_stamped() {
            let stamped: &[&str] = &[$(stringify!($case)),*];
            let cases: Vec<&str> = $crate::conformance::CASES.iter().map(|(n, _)| *n).collect();
            assert_eq!(stamped, cases.as_slice());
        }
    };
    (caps = $caps:expr; $factory:expr) => {
        $crate::conformance_tests!(@cases ($caps) ($factory);
            missing_key_is_none,
            put_then_get_round_trips,
            put_replaces,
            remove_reports_presence,
            keys_are_sorted_and_complete,
            get_many_matches_get,
            odd_outputs_round_trip,
            concurrent_puts,
        );
    };
    ($factory:expr) => {
        $crate::conformance_tests!(caps = $crate::conformance::Capabilities::ALL; $factory);
    };
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::{FileCache, InMemoryCache};

    fn memory() -> Subject<dyn StepCache> {
        let cache = InMemoryCache::new();
        let shared = cache.clone();
        Subject::<dyn StepCache>::new(Box::new(cache)).with_reopen(move || Box::new(shared.clone()))
    }

    fn memory_without_reopen() -> Subject<dyn StepCache> {
        Subject::new(Box::new(InMemoryCache::new()))
    }

    fn file_with(fsync: bool) -> Subject<dyn StepCache> {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let open = move || -> Box<dyn StepCache> {
            Box::new(FileCache::open(&root).unwrap().with_fsync(fsync))
        };
        Subject::new(open()).with_reopen(open).with_guard(dir)
    }

    fn file() -> Subject<dyn StepCache> {
        file_with(false)
    }

    fn durable_file() -> Subject<dyn StepCache> {
        file_with(true)
    }

    fn arc_memory() -> Subject<dyn StepCache> {
        let cache = std::sync::Arc::new(InMemoryCache::new());
        let shared = std::sync::Arc::clone(&cache);
        Subject::<dyn StepCache>::new(Box::new(cache))
            .with_reopen(move || Box::new(std::sync::Arc::clone(&shared)))
    }

    mod memory_backend {
        crate::conformance_tests!(super::memory);
    }
    mod memory_backend_without_reopen {
        crate::conformance_tests!(super::memory_without_reopen);
    }
    mod arc_memory_backend {
        crate::conformance_tests!(super::arc_memory);
    }
    mod file_backend {
        crate::conformance_tests!(super::file);
    }
    mod durable_file_backend {
        crate::conformance_tests!(super::durable_file);
    }
    mod file_backend_small_outputs {
        crate::conformance_tests!(
            caps = crate::conformance::Capabilities::ALL.large_outputs(false);
            super::file
        );
    }

    /// A backend that loses everything on reopen fails the suite: the reopen checks bite.
    #[test]
    fn a_forgetful_backend_fails() {
        let forgetful = || {
            Subject::<dyn StepCache>::new(Box::new(InMemoryCache::new()))
                .with_reopen(|| Box::new(InMemoryCache::new()))
        };
        let failed = std::panic::catch_unwind(|| {
            put_then_get_round_trips(&forgetful(), &Capabilities::ALL);
        });
        assert!(failed.is_err());
    }

    fn op() -> impl Strategy<Value = ModelOp> {
        prop_oneof![
            4 => (0u8..8, proptest::collection::vec(any::<u8>(), 0..40))
                .prop_map(|(k, v)| ModelOp::Put(k, v)),
            2 => (0u8..8).prop_map(ModelOp::Remove),
            2 => (0u8..8).prop_map(ModelOp::Get),
            1 => Just(ModelOp::Reopen),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn memory_matches_model(ops in proptest::collection::vec(op(), 0..40)) {
            check_against_model(&memory(), &ops);
        }

        #[test]
        fn file_matches_model(ops in proptest::collection::vec(op(), 0..40)) {
            check_against_model(&file(), &ops);
        }
    }
}
