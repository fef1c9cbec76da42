//! Lineage: which data, features, code and run made a model version, read from the main job's
//! output folder (see [`mlops_examples::lineage`]).
//!
//! Usage: `cargo run -p mlops-examples --bin lineage -- [--data DIR] [MODEL_URI] [--verify]
//! [--json] [--html FILE]` or `... --dataset <sha256 or prefix>`. `MODEL_URI` is any `models:/` URI (default
//! `models:/churn-classifier@champion`). Exits 0 with "nothing registered yet" on a folder
//! without models, 1 when `--verify` finds a missing or changed input, 2 for bad arguments.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;

use mlops_examples::lineage::{self, Stores};

const USAGE: &str = "usage: lineage [--data DIR] [MODEL_URI] [--verify] [--json] [--html FILE]
       lineage [--data DIR] --dataset DIGEST [--json]

  MODEL_URI          a models:/ URI (default models:/churn-classifier@champion)
  --data DIR         the main job's output folder (default ./mlops-data)
  --verify           check that every input can still be fetched by digest and is intact
  --dataset DIGEST   which model versions were trained on this dataset (sha256 or a prefix)
  --json             JSON instead of text
  --html FILE        also write the chain as an HTML page (drawn as a graph)";

struct Args {
    data: PathBuf,
    uri: String,
    dataset: Option<String>,
    verify: bool,
    json: bool,
    html: Option<PathBuf>,
}

fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut out = Args {
        data: PathBuf::from("mlops-data"),
        uri: "models:/churn-classifier@champion".to_owned(),
        dataset: None,
        verify: false,
        json: false,
        html: None,
    };
    let mut args = args.into_iter();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--data" => out.data = args.next().ok_or("--data needs a folder")?.into(),
            "--dataset" => out.dataset = Some(args.next().ok_or("--dataset needs a digest")?),
            "--verify" => out.verify = true,
            "--json" => out.json = true,
            "--html" => out.html = Some(args.next().ok_or("--html needs a file")?.into()),
            "-h" | "--help" => return Err(String::new()),
            uri if uri.starts_with("models:/") => uri.clone_into(&mut out.uri),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(out)
}

fn main() -> ExitCode {
    mlops_examples::exit_on_help(USAGE);
    let args = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lineage: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Write to stdout; a closed pipe (`lineage | head`) is not an error.
fn out(text: &str) {
    use std::io::Write as _;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn run(args: &Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let stores = Stores::open(&args.data)?;
    if let Some(digest) = &args.dataset {
        let usage = lineage::usage(&stores, digest)?;
        if args.json {
            out(&format!("{}\n", serde_json::to_string_pretty(&usage)?));
        } else {
            out(&usage.to_string());
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !stores.has_models()? {
        out(&format!(
            "nothing registered yet under {}: run the main job first (cargo run -p mlops-examples --bin end_to_end -- --data {})\n",
            args.data.display(),
            args.data.display()
        ));
        return Ok(ExitCode::SUCCESS);
    }
    let chain = lineage::lineage(&stores, &args.uri, args.verify)?;
    if args.json {
        out(&format!("{}\n", serde_json::to_string_pretty(&chain)?));
    } else {
        out(&chain.to_string());
    }
    if let Some(path) = &args.html {
        std::fs::write(path, lineage::html::render(&chain))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        if !args.json {
            out(&format!("HTML page: {}\n", path.display()));
        }
    }
    let failed = chain.verify.as_ref().is_some_and(|v| !v.passed());
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
