//! # mlops-dvc
//!
//! Content-addressed data versioning at the speed of the hash: datasets (files or directories)
//! are hashed with SHA-256 into a content store, versioned with a message, checked out, diffed,
//! pushed to and pulled from remotes, and garbage-collected, with [DVC]'s concepts (cache,
//! pointer files committed to git, remotes).
//!
//! ```
//! use std::sync::Arc;
//! use mlops_dvc::{CheckoutOptions, InMemoryContentStore, Repository};
//!
//! let dir = tempfile::tempdir()?;
//! let repo = Repository::with_store(dir.path(), Arc::new(InMemoryContentStore::new()))?;
//! std::fs::write(dir.path().join("train.csv"), "id,label\n1,0\n")?;
//! let v1 = repo.track("train.csv", "initial data")?;
//! assert!(v1.is_new());
//! assert!(!repo.track("train.csv", "again")?.is_new()); // unchanged: no new version
//! std::fs::write(dir.path().join("train.csv"), "id,label\n1,1\n2,0\n")?;
//! repo.track("train.csv", "fix a label, add a row")?;
//! let diff = repo.diff("train.csv", 1, 2)?;
//! assert_eq!(diff.text.as_ref().map(|t| (t.added, t.removed, t.unchanged)), Some((2, 1, 1)));
//! repo.checkout("train.csv", 1, &CheckoutOptions::default())?;
//! assert_eq!(std::fs::read_to_string(dir.path().join("train.csv"))?, "id,label\n1,0\n");
//! assert_eq!(repo.log("train.csv")?.0.len(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Backends
//! [`ContentStore`] is the storage trait: [`InMemoryContentStore`] (tests, examples) and
//! [`FileContentStore`] (`objects/<2 hex>/<62 hex>`, read-only files; the default cache of a
//! [`Repository`], and, in another folder, a remote for [`Repository::push`] and
//! [`Repository::pull`]). A later S3 or HTTP remote implements the same trait and runs the same
//! [`conformance`] suite.
//!
//! ## Errors
//! Every fallible function returns [`Result`], whose error is [`DvcError`]: `NotFound` (with an
//! [`EntityKind`]) for an unknown dataset, version, object or pointer file; `InvalidArgument` for
//! a path that would leave the working directory (`..`, absolute, symlinks), whether it comes
//! from an argument or from a pointer file (naming the pointer and its entry); `Corrupt` naming
//! the file for damaged objects, trees (a tree entry naming such a path included: trees are
//! content-addressed objects, so a bad one is damage), logs and pointer files; `Changed` for a
//! file modified while it was hashed; `Io` naming the file. Entries in the store's and the
//! repository's folders that are not theirs (a README, an editor backup) are skipped and
//! logged once through `tracing`, never an error.
//!
//! ## Crash safety
//! Objects are written to a temp file and renamed into place, never partially visible, and are
//! read-only; every read verifies the SHA-256. Version logs are append-only framed records (a torn
//! last record is dropped on read); pointer files are replaced atomically. Checkout checks every
//! object first (copies are verified as they are written, hardlinked objects are re-hashed before
//! they are linked unless verified before with the same size, mtime and inode: see [`Verify`]),
//! writes each file to a temp and renames it; a failure before the renames leaves the
//! destination as it was (temps and folders the checkout created are removed). Everything is
//! fsynced by default; `Repository::with_fsync(false)` opts out for the metadata, the checked-out
//! files and the repository's own cache in one setting (for tests and benches). Mutations take
//! an exclusive file lock on `.mlops-dvc/lock`, so several processes can share a working
//! directory.
//!
//! [DVC]: https://dvc.org/doc

mod clock;
#[cfg(any(test, doc, feature = "conformance"))]
pub mod conformance;
mod digest;
mod error;
mod file;
mod memory;
mod model;
mod par;
mod path;
mod repo;
mod store;
mod stray;
mod tree;

pub use crate::clock::{Clock, FnClock, SystemClock};
pub use crate::digest::Digest;
pub use crate::error::{DvcError, EntityKind, Result};
pub use crate::file::FileContentStore;
pub use crate::memory::InMemoryContentStore;
pub use crate::model::{
    CheckoutOptions, CheckoutReport, DatasetKind, Diff, GcOptions, GcReport, Keep, LinkMode, Log,
    Modified, Phase, Progress, ProgressFn, Renamed, Rev, Status, TextDiff, TrackOptions, Tracked,
    TransferReport, Verify, Version,
};
pub use crate::path::RelPath;
pub use crate::repo::{META_DIR, POINTER_SUFFIX, Repository};
pub use crate::store::{ContentStore, PutResult, VerifyingReader};
pub use crate::tree::{EntryKind, ManifestEntry};

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
