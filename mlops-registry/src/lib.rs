//! # mlops-registry
//!
//! A model registry that release jobs and serving processes can trust: registered models,
//! numbered versions, stages and aliases, promotion gates and an append-only audit trail, with
//! [MLflow's Model Registry] semantics.
//!
//! ```
//! use mlops_registry::{Change, InMemoryRegistry, NewVersion, RegistryStore, RegistryStoreExt, Stage};
//!
//! let registry = InMemoryRegistry::new();
//! for (run, acc) in [("run-1", 0.85), ("run-2", 0.91)] {
//!     let v = NewVersion::new("text-classifier", format!("s3://models/{run}"))
//!         .run_id(run)
//!         .metric("accuracy", acc);
//!     registry.register_version(&v)?;
//! }
//! let v2 = "2".parse()?;
//! registry.transition_stage("text-classifier", v2, Stage::Production, true, &Change::by("ci"))?;
//! registry.set_alias("text-classifier", &"champion".parse()?, v2, &Change::by("ci"))?;
//! let served = registry.resolve_uri("models:/text-classifier@champion")?;
//! assert_eq!(served.source, "s3://models/run-2");
//! assert_eq!(registry.resolve(&"models:/text-classifier/Production".parse()?)?, v2);
//! println!("{}", registry.compare_versions("text-classifier")?);
//! # Ok::<(), mlops_registry::RegistryError>(())
//! ```
//!
//! ## Backends
//! Everything goes through the object-safe, synchronous [`RegistryStore`] trait (conveniences
//! in [`RegistryStoreExt`]):
//! - [`InMemoryRegistry`]: in process memory; clones share state.
//! - [`FileRegistry`]: a directory any number of processes share, durable by default
//!   (`with_fsync(false)` trades durability for speed in tests and benches). Resolution is
//!   served from memory and revalidated with one `fstat` of a generation file per call; a
//!   change by another process is picked up by reading only the records it appended.
//! - `MlflowRegistry` (feature `mlflow`): the Model Registry of an MLflow tracking server,
//!   over its REST API with a blocking HTTP client (no async runtime). Point it at a server with
//!   `MlflowRegistry::from_env()` (`MLFLOW_TRACKING_URI`, `MLFLOW_TRACKING_TOKEN` or
//!   `MLFLOW_TRACKING_USERNAME`/`PASSWORD`, as MLflow's own clients) or
//!   `MlflowRegistry::new(MlflowConfig::new("http://host:5000")?)`; swapping it for
//!   [`FileRegistry`] is one line. Its documentation lists where it differs (audit trail and
//!   metrics kept in tags, policies checked just before the request, sources must be URIs).
//!
//! Every backend passes the shared [`conformance`] suite (feature `conformance`); a backend
//! whose semantics legitimately differ declares it with
//! [`conformance::Capabilities`].
//!
//! ## Where things are
//! The crate root holds what a user reaches for first: the backends, [`RegistryStore`] and
//! [`RegistryStoreExt`], the request types, the model types, [`Gate`], [`Comparison`] and the
//! errors. The rest lives in named modules: [`clock`] (the system and a manual clock),
//! [`model`] (limits, validation, [`model::AuditChange`],
//! [`model::VersionStatus`]), [`policy`] (what a custom [`PromotionPolicy`] sees), [`uri`]
//! ([`uri::VersionTarget`]), [`compare`] (table rows), [`search`] (the parsed filter), `mlflow`
//! (the HTTP client's settings and errors, feature `mlflow`) and [`conformance`] (the shared test
//! suite).
//!
//! ## Errors
//! Every fallible function returns [`Result`], whose error is [`RegistryError`]: `NotFound`,
//! `AlreadyExists`, `InvalidArgument` (names, aliases, URIs, filters with the column of the
//! problem), `PromotionDenied` (with every reason), `Corrupt` (naming the damaged file), `Io`,
//! and `Remote` for a registry server that failed, timed out or could not be reached (with the
//! URL, the HTTP status and the server's error code).
//!
//! ## Crash safety
//! [`FileRegistry`] keeps each model in one append-only log of framed records: every change
//! of a model or its versions is one record appended under a cross-process file lock (which
//! also assigns version numbers), so a version and the model's new latest number commit
//! together and a change appears whole or not at all. A torn last record left by a crash is
//! ignored by readers and dropped (and reported) by [`FileRegistry::open`]. The audit history
//! is a second framed log whose committed length is recorded in the model's records; logs are
//! compacted by an atomic replace (temp file, fsync, rename, directory fsync); a rename goes
//! through a redo journal. [`FileRegistry::open`] also redoes an interrupted journal and
//! removes a dead writer's temp files (see [`FileRegistry::repairs`]). Damaged files give
//! [`RegistryError::Corrupt`] naming the file. The format is in `docs/formats.md`.
//!
//! [MLflow's Model Registry]: https://mlflow.org/docs/latest/model-registry.html

pub mod clock;
pub mod compare;
#[cfg(any(test, doc, feature = "conformance"))]
pub mod conformance;
mod error;
mod file;
mod memory;
#[cfg(feature = "mlflow")]
pub mod mlflow;
pub mod model;
mod order;
pub mod policy;
mod rules;
pub mod search;
mod store;
pub mod uri;

pub use crate::clock::Clock;
pub use crate::compare::{Comparison, Direction};
pub use crate::error::{EntityKind, RegistryError, Result};
pub use crate::file::FileRegistry;
pub use crate::memory::InMemoryRegistry;
#[cfg(feature = "mlflow")]
pub use crate::mlflow::{MlflowConfig, MlflowRegistry};
pub use crate::model::{
    Alias, AuditRecord, Digest, ModelVersion, ModelVersionNumber, RegisteredModel, Stage,
};
pub use crate::order::Page;
pub use crate::policy::{Gate, PromotionPolicy};
pub use crate::store::{Change, NewModel, NewVersion, RegistryStore, RegistryStoreExt, Search};
pub use crate::uri::ModelUri;

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
