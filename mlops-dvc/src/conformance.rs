//! The shared conformance suite of [`ContentStore`]: plain functions over `&dyn ContentStore`
//! that every backend (memory, file, a third party's remote) must pass.
//!
//! [`content_store_conformance!`](crate::content_store_conformance) stamps one `#[test]` per case:
//!
//! ```text
//! mod conformance_memory {
//!     mlops_dvc::content_store_conformance!((mlops_dvc::InMemoryContentStore::new(), ()));
//! }
//! ```
//!
//! The macro's argument is evaluated once per test and must give `(store, guard)`, where the guard
//! (a temp dir, a server handle, `()`) lives as long as the test.
#![allow(clippy::missing_panics_doc)]

use std::io::{self, Read};

use crate::digest::Digest;
use crate::error::DvcError;
use crate::store::ContentStore;

fn read_all(store: &dyn ContentStore, d: &Digest) -> Vec<u8> {
    let mut out = Vec::new();
    store
        .open(d)
        .expect("open")
        .read_to_end(&mut out)
        .expect("read a stored object");
    out
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// `put_bytes` returns the SHA-256 and size, and the object reads back identical.
pub fn put_bytes_round_trip(store: &dyn ContentStore) {
    let put = store.put_bytes(b"hello objects").unwrap();
    assert_eq!(put.digest, Digest::of_bytes(b"hello objects"));
    assert_eq!(put.size, 13);
    assert!(put.inserted);
    assert!(store.contains(&put.digest).unwrap());
    assert_eq!(store.size(&put.digest).unwrap(), 13);
    assert_eq!(read_all(store, &put.digest), b"hello objects");
}

/// Writing an object that exists is a no-op reported as `inserted == false`.
pub fn put_existing_is_noop(store: &dyn ContentStore) {
    let first = store.put_bytes(b"same").unwrap();
    let again = store.put_bytes(b"same").unwrap();
    let streamed = store.put_reader(&mut &b"same"[..]).unwrap();
    assert!(first.inserted);
    assert!(!again.inserted);
    assert!(!streamed.inserted);
    assert_eq!(first.digest, again.digest);
    assert_eq!(first.digest, streamed.digest);
    assert_eq!(store.list().unwrap(), vec![first.digest]);
}

/// A reader that yields its bytes in small, uneven pieces.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.step = self.step % 7919 + 1;
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// `put_reader` streams data larger than any buffer, delivered in uneven pieces.
pub fn put_reader_streams(store: &dyn ContentStore) {
    let data = pattern(700_001, 3);
    let put = store
        .put_reader(&mut Trickle {
            data: &data,
            step: 0,
        })
        .unwrap();
    assert_eq!(put.digest, Digest::of_bytes(&data));
    assert_eq!(put.size, data.len() as u64);
    assert_eq!(read_all(store, &put.digest), data);
    store.verify(&put.digest).unwrap();
}

/// The empty object is an object like any other.
pub fn empty_object(store: &dyn ContentStore) {
    let put = store.put_bytes(b"").unwrap();
    assert_eq!(put.digest, Digest::of_bytes(b""));
    assert_eq!(put.size, 0);
    assert_eq!(store.size(&put.digest).unwrap(), 0);
    assert!(read_all(store, &put.digest).is_empty());
    store.verify(&put.digest).unwrap();
}

/// An absent object: `open`, `size` and `verify` fail with `NotFound`; `contains` and `delete`
/// answer `false`.
pub fn missing_object(store: &dyn ContentStore) {
    let d = Digest::of_bytes(b"never stored");
    assert!(!store.contains(&d).unwrap());
    assert!(store.open(&d).err().is_some_and(|e| e.is_not_found()));
    assert!(store.size(&d).unwrap_err().is_not_found());
    assert!(store.verify(&d).unwrap_err().is_not_found());
    assert!(!store.delete(&d).unwrap());
}

/// `delete` removes exactly one object.
pub fn delete_removes_one(store: &dyn ContentStore) {
    let a = store.put_bytes(b"a").unwrap().digest;
    let b = store.put_bytes(b"b").unwrap().digest;
    assert!(store.delete(&a).unwrap());
    assert!(!store.contains(&a).unwrap());
    assert!(store.contains(&b).unwrap());
    assert_eq!(store.list().unwrap(), vec![b]);
    // It can be stored again.
    assert!(store.put_bytes(b"a").unwrap().inserted);
}

/// `list` is sorted and complete; `contains_many` answers in order.
pub fn list_and_contains_many(store: &dyn ContentStore) {
    let mut digests: Vec<Digest> = (0..20u8)
        .map(|i| {
            store
                .put_bytes(&pattern(usize::from(i) * 13, i))
                .unwrap()
                .digest
        })
        .collect();
    let absent = Digest::of_bytes(b"absent");
    let mut query = digests.clone();
    query.insert(5, absent);
    let answers = store.contains_many(&query).unwrap();
    assert_eq!(answers.len(), query.len());
    for (d, present) in query.iter().zip(answers) {
        assert_eq!(present, *d != absent, "{d}");
    }
    digests.sort();
    digests.dedup();
    assert_eq!(store.list().unwrap(), digests);
}

/// A reader that fails half-way: the put fails and stores nothing.
pub fn failing_reader_stores_nothing(store: &dyn ContentStore) {
    struct Failing(usize);
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::other("disk on fire"));
            }
            let n = self.0.min(buf.len());
            buf[..n].fill(7);
            self.0 -= n;
            Ok(n)
        }
    }
    let err = store.put_reader(&mut Failing(100_000)).unwrap_err();
    assert!(err.to_string().contains("disk on fire"), "{err}");
    assert!(store.list().unwrap().is_empty());
}

/// A stored object's reader verifies: reading it to the end succeeds and `verify` passes.
pub fn reader_verifies_good_objects(store: &dyn ContentStore) {
    let data = pattern(300_000, 9);
    let d = store.put_bytes(&data).unwrap().digest;
    let mut reader = store.open(&d).unwrap();
    let mut small = [0u8; 1000];
    let mut total = 0;
    loop {
        let n = reader.read(&mut small).unwrap();
        if n == 0 {
            break;
        }
        total += n;
    }
    assert_eq!(total, data.len());
    store.verify(&d).unwrap();
}

/// Run every case on stores made by `make` (each case gets a fresh store).
pub fn run_all(make: &dyn Fn() -> Box<dyn ContentStore>) {
    put_bytes_round_trip(&*make());
    put_existing_is_noop(&*make());
    put_reader_streams(&*make());
    empty_object(&*make());
    missing_object(&*make());
    delete_removes_one(&*make());
    list_and_contains_many(&*make());
    failing_reader_stores_nothing(&*make());
    reader_verifies_good_objects(&*make());
}

/// Objects written through `first` are all readable through `reopened` (a new handle on the same
/// storage, e.g. after a process restart), and a corrupt object is still detected.
pub fn persists_across_reopen(first: &dyn ContentStore, reopened: &dyn ContentStore) {
    let data: Vec<Vec<u8>> = (0..10u8)
        .map(|i| pattern(usize::from(i) * 1000, i))
        .collect();
    let digests: Vec<Digest> = data
        .iter()
        .map(|d| first.put_bytes(d).unwrap().digest)
        .collect();
    for (d, bytes) in digests.iter().zip(&data) {
        assert_eq!(read_all(reopened, d), *bytes);
    }
    let mut sorted = digests.clone();
    sorted.sort();
    assert_eq!(reopened.list().unwrap(), sorted);
    assert!(!reopened.put_bytes(&data[3]).unwrap().inserted);
}

/// Check that an error is a corruption report.
pub fn assert_corrupt(err: &DvcError) {
    assert!(err.is_corrupt(), "expected a corruption error, got {err}");
}

/// Stamp one `#[test]` per conformance case. The argument is an expression evaluated once per
/// test that gives `(store, guard)`; see the [`conformance`](crate::conformance) module docs.
#[macro_export]
macro_rules! content_store_conformance {
    ($make:expr) => {
        $crate::content_store_conformance!(@cases $make;
            put_bytes_round_trip, put_existing_is_noop, put_reader_streams, empty_object,
            missing_object, delete_removes_one, list_and_contains_many,
            failing_reader_stores_nothing, reader_verifies_good_objects);
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let (store, _guard) = $make;
                $crate::conformance::$case(&store);
            }
        )*
    };
}
