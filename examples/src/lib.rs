//! Runnable examples composing the mlops crates: the only place where the crates meet.
//!
//! Each binary in `src/bin/` is one example; `examples/README.md` lists them. The library part
//! holds what several examples share: a deterministic synthetic churn dataset ([`churn`]) and a
//! small logistic-regression model ([`logreg`]).

pub mod churn;
pub mod logreg;
pub mod workflow;
