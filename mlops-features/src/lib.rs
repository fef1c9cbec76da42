//! # mlops-features
//!
//! A feature store whose online lookups cost microseconds and whose training joins never leak:
//! feature groups with an entity key, typed features and a TTL; batch ingestion; online reads
//! with per-value status; point-in-time correct historical retrieval. [Feast] is the reference
//! for vocabulary and semantics.
//!
//! ```
//! use mlops_features::{FeatureRef, Value, ValueType};
//!
//! let r: FeatureRef = "user_features:age".parse()?;
//! assert_eq!(r.group(), "user_features");
//! assert!(Value::Int64(42).fits(ValueType::Int64));
//! assert!(!Value::String("42".into()).fits(ValueType::Int64));
//! assert!("user_features".parse::<FeatureRef>().is_err());
//! # Ok::<(), mlops_features::FeatureError>(())
//! ```
//!
//! ## Backends
//! The crate is built around an online-store trait and an offline-store trait, each with an
//! in-memory and a file implementation, composed by a `FeatureStore` facade; a Redis online
//! store sits behind the `redis` feature.
//!
//! ## Errors
//! Every fallible function returns [`Result`], whose error is [`FeatureError`].
//!
//! ## Crash safety
//! File stores append framed records whose torn last record is detected and dropped on open, and
//! replace snapshots atomically.
//!
//! [Feast]: https://docs.feast.dev/

mod error;
mod fsutil;
mod model;

pub use crate::error::{FeatureError, Result};
pub use crate::model::{FeatureRef, MAX_NAME_LEN, Value, ValueType, validate_name};
