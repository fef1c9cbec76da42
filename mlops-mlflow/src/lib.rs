//! What the mlops crates share about MLflow, kept in one place.
//!
//! `mlops-tracking` and `mlops-registry` both speak MLflow: its search grammar for their embedded
//! backends and, behind their `mlflow` features, its REST API. This leaf crate holds that code once,
//! so a user talking to one server builds one [`MlflowConfig`] and both crates match filters alike.
//!
//! - [`search`]: MLflow's search grammar, once: filters (`metrics.acc > 0.9 AND tags.env IS
//!   NULL`), `order_by` clauses and page tokens, parsed against a [`search::Dialect`] each caller
//!   supplies (which prefixes, attribute keys, aliases and comparators it allows), with `LIKE` /
//!   `ILIKE` on Unicode characters as MLflow's SQL stores match them ([`search::like`]).
//! - [`http`] (feature `http`): the blocking REST client, [`MlflowConfig`] with MLflow's own
//!   environment variables, auth, retries and timeouts.
//! - `fake` and `test_server` (feature `test-support`): a scripted HTTP server for fault tests and
//!   the launcher of a real `mlflow server`, for the backends' tests and benches.
//!
//! A features-only service never compiles this crate; an application that uses only the embedded
//! tracking or registry backends compiles it without the HTTP client.
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(any(test, feature = "test-support"))]
pub mod fake;
#[cfg(feature = "http")]
pub mod http;
pub mod search;
#[cfg(feature = "test-support")]
pub mod test_server;

#[cfg(feature = "http")]
pub use crate::http::{MlflowAuth, MlflowConfig};

/// The README's examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
