//! Criterion benchmarks of the mlops crates live in `benches/benches/`, one file per crate
//! (`cargo bench -p mlops-benches --bench <crate>`); peer comparisons against MLflow, DVC and
//! Feast live in `benches/peers/`.
