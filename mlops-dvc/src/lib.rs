//! # mlops-dvc
//!
//! Content-addressed data versioning at the speed of the hash: datasets (files or directories)
//! are hashed with SHA-256 into a content store, versioned with a message, checked out, diffed,
//! pushed to and pulled from remotes, and garbage-collected, with [DVC]'s concepts (cache,
//! pointer files committed to git, remotes).
//!
//! ```
//! use mlops_dvc::Digest;
//!
//! let d = Digest::of_bytes(b"abc");
//! assert_eq!(d.to_string(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
//! // Objects live at `objects/<2 hex>/<62 hex>`.
//! assert!(d.object_path().starts_with("ba/7816bf"));
//! // Streaming hashing in constant memory gives the same digest.
//! let (streamed, size) = Digest::of_reader(&b"abc"[..])?;
//! assert_eq!((streamed, size), (d, 3));
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! ## Backends
//! The crate is built around the `ContentStore` trait, with an in-memory store (tests) and a file
//! store (the embedded default; a second file store in another folder serves as a remote).
//!
//! ## Errors
//! Every fallible function returns [`Result`], whose error is [`DvcError`].
//!
//! ## Crash safety
//! Objects are written to a temp file and renamed into place, never partially visible; metadata
//! is replaced atomically.
//!
//! [DVC]: https://dvc.org/doc

mod digest;
mod error;
mod fsutil;

pub use crate::digest::Digest;
pub use crate::error::{DvcError, Result};
