//! Runnable examples composing the mlops crates: the only place where the crates meet.
//!
//! Each binary in `src/bin/` is one example; `examples/README.md` lists them.
