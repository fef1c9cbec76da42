//! A DVC remote on S3 with `mlops-dvc` (feature `s3`): track a small directory dataset, push it
//! to an `s3://bucket/prefix` remote, check the remote status, and pull it into a fresh folder
//! that has only the pointer file (as a teammate's `git clone` would give it).
//!
//! Usage: `cargo run -p mlops-examples --features s3 --bin s3_remote -- s3://BUCKET/PREFIX
//! [--data DIR]`. Endpoint, region and credentials come from the standard variables
//! (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`;
//! `AWS_ALLOW_HTTP=true` for a local `http://` server). The bucket must exist. Against a local
//! moto server:
//!
//! ```text
//! moto_server -H 127.0.0.1 -p 5000 &
//! curl -X PUT http://127.0.0.1:5000/demo-bucket
//! AWS_ENDPOINT_URL=http://127.0.0.1:5000 AWS_ALLOW_HTTP=true AWS_ACCESS_KEY_ID=test \
//!   AWS_SECRET_ACCESS_KEY=test cargo run -p mlops-examples --features s3 --bin s3_remote -- \
//!   s3://demo-bucket/datasets
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use mlops_dvc::{CheckoutOptions, Repository, Rev, S3ContentStore};

fn run(url: &str, data: PathBuf) -> Result<(), Box<dyn std::error::Error>> {
    let base = data.join("s3_remote");
    let _ = fs::remove_dir_all(&base);
    let work = base.join("work");
    fs::create_dir_all(work.join("images/train"))?;
    for i in 0..20u32 {
        let body: Vec<u8> = (0..2048u32).map(|j| (i * 7 + j) as u8).collect();
        fs::write(work.join(format!("images/train/{i:03}.bin")), body)?;
    }
    fs::write(work.join("images/labels.csv"), "id,label\n0,cat\n1,dog\n")?;
    let repo = Repository::open(&work)?;
    let v = repo.track("images", "20 training images")?;
    println!("[dvc] tracked images: {}", v.version().digest);

    let remote = S3ContentStore::from_url(url)?;
    println!("[dvc] remote {}", remote.url());
    let before = repo.remote_status(&remote, &[])?;
    println!(
        "[dvc] status --remote: {} objects, {} to push",
        before.objects,
        before.to_push.len()
    );
    let progress: mlops_dvc::ProgressFn = Arc::new(|p| {
        if p.files_done == p.files_total {
            eprintln!("[dvc] pushed {} objects", p.files_done);
        }
    });
    let pushed = repo.push_with(&remote, &[], Some(&progress))?;
    println!("[dvc] push: {pushed}");
    let again = repo.push(&remote, &[])?;
    println!("[dvc] push again: {again}");

    // A teammate's fresh clone: only the pointer file, from git.
    let clone = base.join("clone");
    fs::create_dir_all(&clone)?;
    fs::copy(work.join("images.dvc.json"), clone.join("images.dvc.json"))?;
    let teammate = Repository::open(&clone)?;
    let pulled = teammate.pull(&remote, &[])?;
    println!("[dvc] pull into a fresh folder: {pulled}");
    teammate.checkout("images", Rev::Pointer, &CheckoutOptions::default())?;
    let same =
        fs::read(work.join("images/labels.csv"))? == fs::read(clone.join("images/labels.csv"))?;
    println!("[dvc] checkout in the fresh folder: labels.csv identical = {same}");
    if !same {
        return Err("the pulled dataset differs".into());
    }
    Ok(())
}

const USAGE: &str = "usage: s3_remote s3://BUCKET/PREFIX [--data DIR]";

fn main() -> ExitCode {
    mlops_examples::exit_on_help(USAGE);
    let mut args = std::env::args().skip(1);
    let mut url = None;
    let mut data = PathBuf::from("./mlops-data");
    while let Some(a) = args.next() {
        match a.as_str() {
            "--data" => data = args.next().map_or(data, PathBuf::from),
            _ if a.starts_with("s3://") => url = Some(a),
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(url) = url else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    match run(&url, data) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("s3_remote: {e}");
            ExitCode::FAILURE
        }
    }
}
