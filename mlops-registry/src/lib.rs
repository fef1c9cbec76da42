//! # mlops-registry
//!
//! A model registry that release jobs and serving processes can trust: registered models,
//! numbered versions, stages and aliases, promotion gates and an append-only audit trail, with
//! [MLflow's Model Registry] semantics.
//!
//! ```
//! use mlops_registry::{Alias, ModelVersionNumber, Stage, validate_model_name};
//!
//! validate_model_name("text-classifier")?;
//! let champion: Alias = "champion".parse()?;
//! assert_eq!(champion.as_str(), "champion");
//! // `latest` and `v<digits>` are reserved, as in MLflow.
//! assert!("latest".parse::<Alias>().is_err());
//! assert_eq!("production".parse::<Stage>()?, Stage::Production);
//! assert_eq!(ModelVersionNumber::FIRST.next()?.get(), 2);
//! # Ok::<(), mlops_registry::RegistryError>(())
//! ```
//!
//! ## Backends
//! The crate is built around the `RegistryStore` trait, with an in-memory registry (tests) and a
//! file registry (the embedded default); an MLflow REST backend sits behind the `mlflow` feature.
//!
//! ## Errors
//! Every fallible function returns [`Result`], whose error is [`RegistryError`].
//!
//! ## Crash safety
//! File backends replace metadata atomically and keep the audit history in an append-only,
//! framed log; version numbers are assigned under a cross-process lock.
//!
//! [MLflow's Model Registry]: https://mlflow.org/docs/latest/model-registry.html

mod error;
mod fsutil;
mod model;

pub use crate::error::{RegistryError, Result};
pub use crate::model::{
    Alias, MAX_ALIAS_LEN, MAX_MODEL_NAME_LEN, ModelVersionNumber, Stage, validate_model_name,
};
