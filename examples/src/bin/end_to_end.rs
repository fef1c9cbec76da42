//! The main job: an end-to-end churn-prediction workflow composed from all six crates, run as
//! one `mlops-pipeline` DAG (see [`mlops_examples::workflow`] for the steps).
//!
//! Usage: `cargo run --release -p mlops-examples --bin end_to_end -- [--data DIR] [--memory]
//! [--reset] [--bad-data]` (default `./mlops-data`). A second run reuses the step cache.
#![allow(clippy::print_stderr)]

use std::process::ExitCode;

use mlops_examples::workflow::{self, Options};

fn main() -> ExitCode {
    mlops_examples::exit_on_help(workflow::USAGE);
    let opts = match Options::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(usage) => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    };
    match workflow::run(&opts) {
        Ok(outcome) if outcome.is_success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("end_to_end failed: {e}");
            ExitCode::FAILURE
        }
    }
}
