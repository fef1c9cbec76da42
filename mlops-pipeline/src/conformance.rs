//! The shared conformance suite of [`StepCache`]: every backend (memory, file, and any
//! third-party one) must pass it.
//!
//! Each case is a plain function taking `open`, a function that opens the backend under test
//! on the same storage each time it is called (a file backend reopens its directory; an
//! in-memory backend returns a handle sharing the same entries). Cases reopen the backend to
//! check that what was acknowledged is still there.
//! [`step_cache_conformance!`](crate::step_cache_conformance) stamps one `#[test]` per case:
//!
//! ```text
//! mlops_pipeline::step_cache_conformance!(memory, || {
//!     let cache = mlops_pipeline::InMemoryCache::new();
//!     ((), move || Box::new(cache.clone()) as Box<dyn mlops_pipeline::StepCache>)
//! });
//! ```
//!
//! The factory returns a guard (kept alive for the test, e.g. a temp dir) and `open`.

use std::collections::BTreeMap;

use crate::cache::{CacheEntry, CacheKey, Fingerprint, StepCache};
use crate::name::StepName;

/// Opens the backend under test on the same storage.
pub type Open<'a> = &'a dyn Fn() -> Box<dyn StepCache>;

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
pub fn missing_key_is_none(open: Open<'_>) {
    let c = open();
    assert_eq!(c.get(&key(1)).unwrap(), None);
    assert!(!c.remove(&key(1)).unwrap());
    assert!(c.keys().unwrap().is_empty());
}

/// What is put is read back unchanged, also after reopening.
///
/// # Panics
/// When the backend does not conform.
pub fn put_then_get_round_trips(open: Open<'_>) {
    let c = open();
    let e = entry("train", br#"{"accuracy":0.8}"#);
    c.put(&key(1), &e).unwrap();
    assert_eq!(c.get(&key(1)).unwrap().as_ref(), Some(&e));
    drop(c);
    let c = open();
    assert_eq!(c.get(&key(1)).unwrap(), Some(e));
    assert_eq!(c.get(&key(2)).unwrap(), None);
}

/// A second put under the same key replaces the first.
///
/// # Panics
/// When the backend does not conform.
pub fn put_replaces(open: Open<'_>) {
    let c = open();
    c.put(&key(1), &entry("a", b"1")).unwrap();
    let second = entry("a", b"22");
    c.put(&key(1), &second).unwrap();
    assert_eq!(c.get(&key(1)).unwrap().as_ref(), Some(&second));
    assert_eq!(c.keys().unwrap(), vec![key(1)]);
    assert_eq!(open().get(&key(1)).unwrap(), Some(second));
}

/// Remove deletes one entry and reports whether it was there.
///
/// # Panics
/// When the backend does not conform.
pub fn remove_reports_presence(open: Open<'_>) {
    let c = open();
    c.put(&key(1), &entry("a", b"1")).unwrap();
    c.put(&key(2), &entry("b", b"2")).unwrap();
    assert!(c.remove(&key(1)).unwrap());
    assert!(!c.remove(&key(1)).unwrap());
    assert_eq!(c.get(&key(1)).unwrap(), None);
    let c = open();
    assert_eq!(c.get(&key(1)).unwrap(), None);
    assert_eq!(c.keys().unwrap(), vec![key(2)]);
}

/// `keys` lists every key once, sorted.
///
/// # Panics
/// When the backend does not conform.
pub fn keys_are_sorted_and_complete(open: Open<'_>) {
    let c = open();
    let mut want: Vec<CacheKey> = (0..20).map(key).collect();
    for (i, k) in want.iter().enumerate() {
        c.put(k, &entry("s", i.to_string().as_bytes())).unwrap();
    }
    c.put(&key(3), &entry("s", b"again")).unwrap();
    want.sort();
    assert_eq!(c.keys().unwrap(), want);
    assert_eq!(open().keys().unwrap(), want);
}

/// `get_many` answers like `get`, in order.
///
/// # Panics
/// When the backend does not conform.
pub fn get_many_matches_get(open: Open<'_>) {
    let c = open();
    c.put(&key(1), &entry("a", b"1")).unwrap();
    c.put(&key(3), &entry("c", b"3")).unwrap();
    let keys = [key(3), key(2), key(1)];
    let got: Vec<_> = c.get_many(&keys).into_iter().map(Result::unwrap).collect();
    let want: Vec<_> = keys.iter().map(|k| c.get(k).unwrap()).collect();
    assert_eq!(got, want);
    assert!(got[0].is_some() && got[1].is_none() && got[2].is_some());
}

/// Empty, binary (non-UTF-8, with newlines) and 1 MiB outputs round-trip.
///
/// # Panics
/// When the backend does not conform.
pub fn odd_outputs_round_trip(open: Open<'_>) {
    let c = open();
    let empty = entry("e", b"");
    let binary = entry("b", &[0, 255, b'\n', 10, 13, 0xfe, b'\n']);
    let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    let big = entry("big", &big);
    c.put(&key(1), &empty).unwrap();
    c.put(&key(2), &binary).unwrap();
    c.put(&key(3), &big).unwrap();
    let c = open();
    assert_eq!(c.get(&key(1)).unwrap(), Some(empty));
    assert_eq!(c.get(&key(2)).unwrap(), Some(binary));
    assert_eq!(c.get(&key(3)).unwrap(), Some(big));
}

/// Threads putting and reading the same and different keys at once: every read is a whole
/// entry, and every acknowledged entry is there afterwards.
///
/// # Panics
/// When the backend does not conform.
pub fn concurrent_puts(open: Open<'_>) {
    let c = open();
    std::thread::scope(|s| {
        for t in 0..4u32 {
            let c = &c;
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
    let c = open();
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
///
/// # Panics
/// When the backend and the model disagree.
pub fn check_against_model(open: Open<'_>, ops: &[ModelOp]) {
    let mut c = open();
    let mut model: BTreeMap<CacheKey, CacheEntry> = BTreeMap::new();
    for op in ops {
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
                drop(c);
                c = open();
            }
        }
        assert_eq!(c.keys().unwrap(), model.keys().copied().collect::<Vec<_>>());
    }
    for (k, e) in &model {
        assert_eq!(c.get(k).unwrap().as_ref(), Some(e));
    }
}

/// Stamp one `#[test]` per conformance case into a module named `$backend`. `$factory` is an
/// expression returning `(guard, open)`: the guard lives for the test (e.g. a temp dir), and
/// `open()` returns a `Box<dyn StepCache>` over the same storage each time.
#[macro_export]
macro_rules! step_cache_conformance {
    ($backend:ident, $factory:expr) => {
        mod $backend {
            #[allow(unused_imports)]
            use super::*;
            $crate::step_cache_conformance!(@cases $factory;
                missing_key_is_none,
                put_then_get_round_trips,
                put_replaces,
                remove_reports_presence,
                keys_are_sorted_and_complete,
                get_many_matches_get,
                odd_outputs_round_trip,
                concurrent_puts,
            );
        }
    };
    (@cases $factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let (_guard, open) = ($factory)();
                $crate::conformance::$case(&open);
            }
        )*
    };
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::{FileCache, InMemoryCache};

    fn memory() -> ((), impl Fn() -> Box<dyn StepCache>) {
        let cache = InMemoryCache::new();
        ((), move || Box::new(cache.clone()) as Box<dyn StepCache>)
    }

    fn file() -> (tempfile::TempDir, impl Fn() -> Box<dyn StepCache>) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        (dir, move || {
            Box::new(FileCache::open(&root).unwrap().with_fsync(false)) as Box<dyn StepCache>
        })
    }

    fn durable_file() -> (tempfile::TempDir, impl Fn() -> Box<dyn StepCache>) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        (dir, move || {
            Box::new(FileCache::open(&root).unwrap()) as Box<dyn StepCache>
        })
    }

    fn arc_memory() -> ((), impl Fn() -> Box<dyn StepCache>) {
        let cache = std::sync::Arc::new(InMemoryCache::new());
        ((), move || {
            Box::new(std::sync::Arc::clone(&cache)) as Box<dyn StepCache>
        })
    }

    crate::step_cache_conformance!(memory_backend, memory);
    crate::step_cache_conformance!(arc_memory_backend, arc_memory);
    crate::step_cache_conformance!(file_backend, file);
    crate::step_cache_conformance!(durable_file_backend, durable_file);

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
            let (_g, open) = memory();
            check_against_model(&open, &ops);
        }

        #[test]
        fn file_matches_model(ops in proptest::collection::vec(op(), 0..40)) {
            let (_g, open) = file();
            check_against_model(&open, &ops);
        }
    }
}
