//! # mlops-s3
//!
//! S3-compatible object storage for the mlops crates, written once: [`S3Config`] (endpoint,
//! region, bucket, prefix and credentials from the standard `AWS_*` variables, with a builder to
//! override), and [`S3Client`], a sync client over the Apache Arrow project's
//! [object_store](https://docs.rs/object_store) (which does SigV4 signing, multipart uploads and
//! retries) driven by a small runtime the client owns. `mlops-dvc` (feature `s3`:
//! `S3ContentStore`, `s3://` remotes) and `mlops-tracking` (feature `s3`: artifacts) build on it.
//!
//! ```no_run
//! use mlops_s3::{S3Client, S3Config};
//!
//! // AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL, ... from the env.
//! let config = S3Config::from_url("s3://my-bucket/datasets")?;
//! let client = S3Client::connect(config)?; // checks bucket and credentials
//! client.put_bytes("hello.txt", &b"hello"[..])?;
//! let mut text = String::new();
//! std::io::Read::read_to_string(&mut client.get("hello.txt")?, &mut text)?;
//! assert_eq!(text, "hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Threads
//! Each [`S3Client`] owns a tokio runtime with [`RUNTIME_THREADS`] worker threads
//! (`mlops-s3-io`). Calls block the calling thread until their request is done; they may come
//! from many threads at once and from inside a caller's tokio runtime (no panic).
//!
//! ## Errors
//! [`S3Error`]: `Auth` (rejected credentials, naming endpoint and bucket), `BucketNotFound`
//! (checked by [`S3Client::connect`] with one listing request: object_store reports a missing
//! bucket and a missing key alike), `NotFound` naming the key, `Read` (the caller's reader
//! failed; the upload was aborted), `Request` for everything else after retries. Secrets never
//! appear in messages or `Debug` output.
//!
//! ## Crash safety
//! An upload becomes visible only when complete: small objects are one PUT, larger ones a
//! multipart upload that is completed only after the reader's end and every part, and aborted
//! on any error. A multipart upload whose abort itself fails (the server is gone) stays
//! invisible and is reclaimed by the bucket's lifecycle rule for incomplete uploads.

mod client;
mod config;
mod error;
#[cfg(feature = "test-support")]
pub mod test_server;

pub use crate::client::{ObjectInfo, RUNTIME_THREADS, S3Client, S3Reader};
pub use crate::config::{DEFAULT_PART_SIZE, MIN_PART_SIZE, S3Config, Secret, parse_url};
pub use crate::error::{Result, S3Error};

/// The README's examples, compiled as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
