//! Data version control with `mlops-dvc`: the "数据版本控制" scenario (three versions of a small
//! labelled CSV: initial, three rows added, one label corrected; the log; checkout of v1; the
//! v1-vs-v3 line diff), then a directory dataset pushed to a local remote, pulled into a fresh
//! clone that has only the pointer file (as `git clone` would give it), and a gc.
//!
//! Usage: `cargo run --release -p mlops-examples --bin dvc_demo -- [--data DIR]`
//! (default `./mlops-data`). Everything goes under `DIR/dvc_demo`, which is recreated on each
//! run, so the output is the same every time.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};
use mlops_dvc::{
    CheckoutOptions, FileContentStore, FnClock, GcOptions, Keep, LinkMode, Repository, Rev,
    TrackOptions, Tracked,
};

/// A clock that starts at a fixed instant and advances one minute per version.
fn fixed_clock() -> impl Fn() -> DateTime<Utc> + Send + Sync + 'static {
    let minutes = Arc::new(AtomicI64::new(0));
    move || {
        let m = minutes.fetch_add(1, Ordering::Relaxed);
        DateTime::from_timestamp(1_767_225_600 + m * 60, 0).unwrap_or_default()
    }
}

fn open_repo(dir: &Path) -> Result<Repository, mlops_dvc::DvcError> {
    Ok(Repository::open(dir)?.with_clock(Arc::new(FnClock(fixed_clock()))))
}

fn report(t: &Tracked) {
    match t {
        Tracked::New(v) => println!(
            "[dvc] '{}' v{} saved (digest={}..., size={})",
            v.dataset,
            v.version,
            &v.digest.to_hex()[..8],
            v.size
        ),
        Tracked::Unchanged(v) => println!(
            "[dvc] '{}' unchanged since v{}, skipped",
            v.dataset, v.version
        ),
    }
}

/// The status counts (without the re-hash count, which depends on file ages).
fn summary(s: &mlops_dvc::Status) -> String {
    format!(
        "against v{}: {} added, {} modified, {} deleted, {} unchanged",
        s.version,
        s.added.len(),
        s.modified.len(),
        s.deleted.len(),
        s.unchanged
    )
}

fn check(cond: bool, what: &str) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(format!("check failed: {what}"))
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let base = mlops_examples::data_dir_arg("dvc_demo")?.join("dvc_demo");
    if base.exists() {
        fs::remove_dir_all(&base)?;
    }
    let project = base.join("project");
    fs::create_dir_all(&project)?;
    let repo = open_repo(&project)?;

    // --- Part 1: the seed's scenario ----------------------------------------------------------
    let csv = project.join("train_data.csv");
    let v1 = "id,text,label\n1,好评,1\n2,差评,0\n3,一般,1\n";
    let v2 = format!("{v1}4,非常好,1\n5,很差,0\n6,还行,1\n");
    let v3 = v2.replace("3,一般,1", "3,一般,0");

    fs::write(&csv, v1)?;
    report(&repo.track("train_data.csv", "initial training data")?);
    report(&repo.track("train_data.csv", "nothing changed")?);
    fs::write(&csv, &v2)?;
    report(&repo.track("train_data.csv", "3 labelled rows added")?);
    fs::write(&csv, &v3)?;
    let t3 = repo.track_with(
        "train_data.csv",
        "label of row 3 corrected",
        &TrackOptions::default().tag("reviewed"),
    )?;
    report(&t3);

    println!("\nhistory of train_data.csv:");
    print!("{}", repo.log("train_data.csv")?);

    let co = repo.checkout("train_data.csv", 1, &CheckoutOptions::default())?;
    println!("\n{co}");
    let restored = fs::read_to_string(&csv)?;
    println!("v1 data:\n{restored}");
    check(restored == v1, "checkout of v1 restores v1")?;

    let diff = repo.diff("train_data.csv", 1, 3)?;
    println!("v1 vs v3:");
    print!("{diff}");
    let text = diff.text.as_ref().ok_or("text diff expected")?;
    check(
        (text.added, text.removed, text.unchanged) == (4, 1, 3),
        "v1 -> v3 line counts",
    )?;

    let status = repo.status("train_data.csv")?;
    println!("\nstatus after checking out v1: {}", summary(&status));
    check(status.is_clean(), "working copy equals the checked-out v1")?;
    repo.checkout("train_data.csv", Rev::Latest, &CheckoutOptions::default())?;

    // --- Part 2: a directory dataset, a remote, a fresh clone, gc -----------------------------
    println!("--- directory dataset ---");
    let images = project.join("images");
    for class in ["cat", "dog"] {
        fs::create_dir_all(images.join(class))?;
        for i in 0..5 {
            let body = format!("{class} image {i}\n").repeat(50 + i * 10);
            fs::write(images.join(class).join(format!("{i:03}.txt")), body)?;
        }
    }
    fs::write(images.join("labels.csv"), "file,label\ncat/000.txt,cat\n")?;
    report(&repo.track("images", "10 images")?);
    fs::write(images.join("dog/005.txt"), "dog image 5\n".repeat(70))?;
    fs::rename(
        images.join("cat/004.txt"),
        images.join("cat/004-renamed.txt"),
    )?;
    fs::write(
        images.join("labels.csv"),
        "file,label\ncat/000.txt,cat\ndog/005.txt,dog\n",
    )?;
    let status = repo.status("images")?;
    println!("status: {}", summary(&status));
    for (mark, list) in [
        ("A", &status.added),
        ("M", &status.modified),
        ("D", &status.deleted),
    ] {
        for p in list {
            println!("  {mark} {p}");
        }
    }
    report(&repo.track("images", "one image added, one renamed, labels updated")?);
    let diff = repo.diff("images", 1, 2)?;
    print!("{diff}");
    check(diff.renamed.len() == 1 && diff.added.len() == 1, "dir diff")?;

    let remote = FileContentStore::open(base.join("remote"))?;
    let pushed = repo.push(&remote, &[])?;
    println!("push: {pushed}");
    let again = repo.push(&remote, &[])?;
    println!("push again: {again}");
    check(again.copied == 0, "second push copies nothing")?;

    // A fresh clone elsewhere: only the pointer files came with git.
    let clone = base.join("clone");
    fs::create_dir_all(&clone)?;
    fs::copy(
        project.join("images.dvc.json"),
        clone.join("images.dvc.json"),
    )?;
    let cloned = open_repo(&clone)?;
    let pulled = cloned.pull(&remote, &[PathBuf::from("images")])?;
    println!("pull into fresh clone: {pulled}");
    let co = cloned.checkout(
        "images",
        Rev::Pointer,
        &CheckoutOptions::default().link(LinkMode::Hardlink),
    )?;
    println!("clone {co}");
    check(
        fs::read(clone.join("images/dog/005.txt"))? == fs::read(images.join("dog/005.txt"))?,
        "clone has the latest images",
    )?;

    let gc = repo.gc(&GcOptions::default().keep(Keep::Latest))?;
    println!("{gc}");
    check(gc.removed > 0, "gc frees the superseded objects")?;
    repo.checkout(
        "images",
        Rev::Latest,
        &CheckoutOptions::default().destination("images-latest"),
    )?;
    println!("latest version still checks out after gc");
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dvc_demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}
