//! The conformance suite of [`ContentStore`]: one plain function per case, run by every backend
//! of this crate (memory, file) and usable by a third party's (an S3 or HTTP remote).
//!
//! The contract is the same in every crate of the workspace:
//! - a [`Subject`] holds the backend under test (`store`), optionally a `reopen` function that
//!   opens a new handle on the same durable storage (the cases about close and reopen use it
//!   when present), and a `guard` that keeps what the backend needs alive (a temp dir);
//! - [`Capabilities`] says where a backend legitimately differs ([`Capabilities::ALL`] is
//!   everything; `const fn` setters turn flags off);
//! - every case is a `pub fn <case>(subject: &Subject<dyn ContentStore>, caps: &Capabilities)`
//!   listed in [`CASES`];
//! - [`conformance_tests!`](crate::conformance_tests) stamps one `#[test]` per case, calling the
//!   factory (an expression of type `impl Fn() -> Subject<dyn ContentStore>`) once per test:
//!
//! ```text
//! mod conformance_memory {
//!     use mlops_dvc::conformance::{Capabilities, Subject};
//!     use mlops_dvc::{ContentStore, InMemoryContentStore};
//!     mlops_dvc::conformance_tests!(
//!         caps = Capabilities::ALL.local_files(false);
//!         || Subject::<dyn ContentStore>::new(Box::new(InMemoryContentStore::new()))
//!     );
//! }
//! ```
//!
//! The cases can also be run by hand:
//!
//! ```
//! # #[cfg(feature = "conformance")] {
//! use mlops_dvc::conformance::{CASES, Capabilities, Subject};
//! use mlops_dvc::{ContentStore, FileContentStore, InMemoryContentStore};
//!
//! let caps = Capabilities::ALL.local_files(false);
//! for (_name, case) in CASES {
//!     case(&Subject::new(Box::new(InMemoryContentStore::new())), &caps);
//! }
//! // A durable backend: `reopen` opens the same folder again, the guard keeps it alive.
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().to_path_buf();
//! let subject =
//!     Subject::<dyn ContentStore>::new(Box::new(FileContentStore::open(&path).unwrap()))
//!         .with_reopen(move || Box::new(FileContentStore::open(&path).unwrap()))
//!         .with_guard(dir);
//! mlops_dvc::conformance::persists_across_reopen(&subject, &Capabilities::ALL);
//! # }
//! ```
#![allow(clippy::missing_panics_doc)]

use std::io::{self, Read};

use crate::digest::Digest;
use crate::error::DvcError;
use crate::store::ContentStore;

/// The backend under test, shared by every mlops crate's conformance suite (see
/// [`mlops_testkit::Subject`]).
pub use mlops_testkit::Subject;

/// Where a backend legitimately differs from the full contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// Objects are read-only files on the local file system:
    /// [`local_path`](ContentStore::local_path) names them and
    /// [`put_hardlink`](ContentStore::put_hardlink) links files in. Without it, both decline
    /// (`None`).
    pub local_files: bool,
}

impl Capabilities {
    /// Everything.
    pub const ALL: Self = Self { local_files: true };

    /// Set [`local_files`](Self::local_files).
    #[must_use]
    pub const fn local_files(mut self, yes: bool) -> Self {
        self.local_files = yes;
        self
    }
}

impl Default for Capabilities {
    fn default() -> Self {
        Self::ALL
    }
}

/// A conformance case.
pub type Case = fn(&Subject<dyn ContentStore>, &Capabilities);

/// Every case, by name.
pub const CASES: &[(&str, Case)] = &[
    ("put_bytes_round_trip", put_bytes_round_trip),
    ("put_existing_is_noop", put_existing_is_noop),
    ("put_reader_streams", put_reader_streams),
    ("empty_object", empty_object),
    ("missing_object", missing_object),
    ("delete_removes_one", delete_removes_one),
    ("list_and_contains_many", list_and_contains_many),
    (
        "failing_reader_stores_nothing",
        failing_reader_stores_nothing,
    ),
    ("reader_verifies_good_objects", reader_verifies_good_objects),
    ("local_files", local_files),
    ("persists_across_reopen", persists_across_reopen),
];

/// Run one case on a fresh subject from `factory` (what each stamped test does).
pub fn run(factory: impl Fn() -> Subject<dyn ContentStore>, case: Case, caps: &Capabilities) {
    let subject = factory();
    case(&subject, caps);
}

fn read_all(store: &dyn ContentStore, d: &Digest) -> Vec<u8> {
    let mut out = Vec::new();
    store
        .open(d)
        .expect("open")
        .read_to_end(&mut out)
        .expect("read a stored object");
    out
}

/// Bytes that do not repeat with any buffer-sized period, so that a store that wrote or hashed
/// buffers out of order would store different bytes.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len as u64)
        .map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8 ^ seed)
        .collect()
}

/// `put_bytes` returns the SHA-256 and size, and the object reads back identical.
pub fn put_bytes_round_trip(subject: &Subject<dyn ContentStore>, _caps: &Capabilities) {
    let store = &*subject.store;
    let put = store.put_bytes(b"hello objects").unwrap();
    assert_eq!(put.digest, Digest::of_bytes(b"hello objects"));
    assert_eq!(put.size, 13);
    assert!(put.inserted);
    assert!(store.contains(&put.digest).unwrap());
    assert_eq!(store.size(&put.digest).unwrap(), 13);
    assert_eq!(read_all(store, &put.digest), b"hello objects");
}

/// Writing an object that exists is a no-op reported as `inserted == false`.
pub fn put_existing_is_noop(subject: &Subject<dyn ContentStore>, _caps: &Capabilities) {
    let store = &*subject.store;
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

/// `put_reader` streams data larger than any buffer, delivered in uneven pieces (a few
/// buffers' worth, and enough to cycle a store's buffers many times over).
pub fn put_reader_streams(subject: &Subject<dyn ContentStore>, _caps: &Capabilities) {
    let store = &*subject.store;
    for (len, seed) in [(700_001, 3), (5_000_003, 4)] {
        let data = pattern(len, seed);
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
}

/// The empty object is an object like any other.
pub fn empty_object(subject: &Subject<dyn ContentStore>, _caps: &Capabilities) {
    let store = &*subject.store;
    let put = store.put_bytes(b"").unwrap();
    assert_eq!(put.digest, Digest::of_bytes(b""));
    assert_eq!(put.size, 0);
    assert_eq!(store.size(&put.digest).unwrap(), 0);
    assert!(read_all(store, &put.digest).is_empty());
    store.verify(&put.digest).unwrap();
}

/// An absent object: `open`, `size` and `verify` fail with `NotFound`; `contains` and `delete`
/// answer `false`.
pub fn missing_object(subject: &Subject<dyn ContentStore>, _caps: &Capabilities) {
    let store = &*subject.store;
    let d = Digest::of_bytes(b"never stored");
    assert!(!store.contains(&d).unwrap());
    assert!(store.open(&d).err().is_some_and(|e| e.is_not_found()));
    assert!(store.size(&d).unwrap_err().is_not_found());
    assert!(store.verify(&d).unwrap_err().is_not_found());
    assert!(!store.delete(&d).unwrap());
}

/// `delete` removes exactly one object.
pub fn delete_removes_one(subject: &Subject<dyn ContentStore>, _caps: &Capabilities) {
    let store = &*subject.store;
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
pub fn list_and_contains_many(subject: &Subject<dyn ContentStore>, _caps: &Capabilities) {
    let store = &*subject.store;
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

/// A reader that fails half-way (early, or after more than a store's buffers hold): the put
/// fails and stores nothing.
pub fn failing_reader_stores_nothing(subject: &Subject<dyn ContentStore>, _caps: &Capabilities) {
    let store = &*subject.store;
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
    for after in [100_000, 3_000_000] {
        let err = store.put_reader(&mut Failing(after)).unwrap_err();
        assert!(err.to_string().contains("disk on fire"), "{after}: {err}");
        assert!(store.list().unwrap().is_empty(), "{after}");
    }
}

/// A stored object's reader verifies: reading it to the end succeeds and `verify` passes.
pub fn reader_verifies_good_objects(subject: &Subject<dyn ContentStore>, _caps: &Capabilities) {
    let store = &*subject.store;
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

/// Without [`Capabilities::local_files`], `local_path` and `put_hardlink` decline; with it,
/// `local_path` names a read-only file holding the object, and `put_hardlink` stores a file by
/// linking it (the file then shares the object's inode and is read-only).
pub fn local_files(subject: &Subject<dyn ContentStore>, caps: &Capabilities) {
    let store = &*subject.store;
    let d = store.put_bytes(b"local bytes").unwrap().digest;
    // Next to the store's objects when they are local files (a hardlink needs the same file
    // system), else in the temp dir.
    let base = store
        .local_path(&d)
        .and_then(|p| p.ancestors().nth(3).map(std::path::Path::to_path_buf))
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!(
        "mlops-dvc-conformance-{}-{}",
        std::process::id(),
        Digest::of_bytes(format!("{:?}", std::time::SystemTime::now()).as_bytes())
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("to-link.bin");
    let data = pattern(5000, 77);
    std::fs::write(&file, &data).unwrap();
    let linked_digest = Digest::of_bytes(&data);
    let linked = store.put_hardlink(&file, &linked_digest);
    if caps.local_files {
        let path = store
            .local_path(&d)
            .expect("a local store names its object files");
        assert_eq!(std::fs::read(&path).unwrap(), b"local bytes");
        assert!(std::fs::metadata(&path).unwrap().permissions().readonly());
        let put = linked.unwrap().expect("same file system: linked");
        assert_eq!(put.digest, linked_digest);
        assert_eq!(read_all(store, &linked_digest), data);
        assert!(std::fs::metadata(&file).unwrap().permissions().readonly());
        store.verify(&linked_digest).unwrap();
    } else {
        assert!(store.local_path(&d).is_none());
        assert!(linked.unwrap().is_none());
        assert!(!store.contains(&linked_digest).unwrap());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Objects written through the subject's store are all readable through a reopened handle (a
/// new handle on the same storage, as after a process restart) when the subject has `reopen`;
/// without it, through the same handle.
pub fn persists_across_reopen(subject: &Subject<dyn ContentStore>, _caps: &Capabilities) {
    let first = &*subject.store;
    let data: Vec<Vec<u8>> = (0..10u8)
        .map(|i| pattern(usize::from(i) * 1000, i))
        .collect();
    let digests: Vec<Digest> = data
        .iter()
        .map(|d| first.put_bytes(d).unwrap().digest)
        .collect();
    let reopened_box = subject.reopen.as_ref().map(|reopen| reopen());
    let reopened = reopened_box.as_deref().unwrap_or(first);
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

/// Stamp one `#[test]` per conformance case (see the [`conformance`](crate::conformance)
/// module docs), plus one that checks the stamped list is [`CASES`](crate::conformance::CASES):
/// `conformance_tests!(<factory>)` or `conformance_tests!(caps = <expr>; <factory>)`, where the
/// factory is an expression of type `impl Fn() -> Subject<dyn ContentStore>`, called once per
/// test; `conformance_tests!(ignore = "needs moto_server"; ...)` marks every stamped test
/// ignored (backends that need a server, as in the other crates).
#[macro_export]
macro_rules! conformance_tests {
    (@one [$($attr:tt)*] ($caps:expr) ($factory:expr) $case:ident) => {
        #[test]
        $($attr)*
        fn $case() {
            $crate::conformance::run($factory, $crate::conformance::$case, &$caps);
        }
    };
    (@cases $attrs:tt ($caps:expr) ($factory:expr); $($case:ident),* $(,)?) => {
        $(
            $crate::conformance_tests!(@one $attrs ($caps) ($factory) $case);
        )*

        #[test]
        fn every_conformance_case_is_stamped() {
            let stamped: &[&str] = &[$(stringify!($case)),*];
            let listed: Vec<&str> =
                $crate::conformance::CASES.iter().map(|(name, _)| *name).collect();
            assert_eq!(stamped, listed.as_slice());
        }
    };
    (@attrs [$($attr:tt)*] caps = $caps:expr; $factory:expr) => {
        $crate::conformance_tests!(@cases [$($attr)*] ($caps) ($factory);
            put_bytes_round_trip, put_existing_is_noop, put_reader_streams, empty_object,
            missing_object, delete_removes_one, list_and_contains_many,
            failing_reader_stores_nothing, reader_verifies_good_objects, local_files,
            persists_across_reopen);
    };
    (@attrs [$($attr:tt)*] $factory:expr) => {
        $crate::conformance_tests!(@attrs [$($attr)*]
            caps = $crate::conformance::Capabilities::ALL; $factory);
    };
    (ignore = $why:literal; $($rest:tt)*) => {
        $crate::conformance_tests!(@attrs [#[ignore = $why]] $($rest)*);
    };
    ($($rest:tt)*) => {
        $crate::conformance_tests!(@attrs [] $($rest)*);
    };
}
