//! Our side of the `dvc` peer suite (`benches/peers/dvc/`): the data-versioning workload on
//! `mlops-dvc`'s [`Repository`] with a [`FileContentStore`] cache (copies, as DVC's default
//! cache type here), printed as one JSON line per case on stdout (the protocol of
//! `benches/peers/`).
//!
//! DVC never fsyncs its cache or checked-out files, so the workload runs with fsync off (the
//! same durability); then the two adds run again with fsync on, as `Repository::open` is by
//! default, as a second variant.
//!
//! The workload, the same on both sides: add a single 1 GiB file; add a folder of 20,000 files
//! of 10 KiB; no-op status of each; change 10 files and add again; delete and check out each;
//! push everything to a local remote; gc keeping the workspace's versions; delete the cache and
//! pull it back (then check out, as `dvc pull` does).
//!
//! Usage:
//! - `peers_dvc` runs the workload in `$PEERS_WORK` (default: a temp folder);
//! - `peers_dvc gen <dir>` writes the data (`big.bin`, `ds/`) into `<dir>`;
//! - `peers_dvc modify <dir>` changes the same 10 files of `<dir>/ds` that the workload changes.
//!
//! The peer script calls `gen` and `modify`, so both sides work on the same bytes.
//! `PEERS_QUICK=1` shrinks the data (16 MiB, 200 files) to test the plumbing.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::cast_precision_loss
)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mlops_dvc::{CheckoutOptions, FileContentStore, GcOptions, Keep, Repository, Rev};

/// Bytes of one checked-in dataset file.
const FILE_BYTES: usize = 10 * 1024;
/// Files per sub-folder of `ds/`.
const PER_DIR: usize = 200;

/// Workload sizes.
struct Sizes {
    big: usize,
    files: usize,
}

impl Sizes {
    fn from_env() -> Self {
        if std::env::var("PEERS_QUICK").is_ok_and(|v| !v.is_empty() && v != "0") {
            Self {
                big: 16 << 20,
                files: 200,
            }
        } else {
            Self {
                big: 1 << 30,
                files: 20_000,
            }
        }
    }

    fn big_label(&self) -> String {
        if self.big >= 1 << 30 {
            format!("{} GiB", self.big >> 30)
        } else {
            format!("{} MiB", self.big >> 20)
        }
    }

    fn files_label(&self) -> String {
        let n = self.files;
        if n >= 1000 {
            format!("{},{:03} files", n / 1000, n % 1000)
        } else {
            format!("{n} files")
        }
    }

    /// The indexes of the 10 files the workload changes.
    fn modified(&self) -> impl Iterator<Item = usize> {
        (0..self.files).step_by((self.files / 10).max(1)).take(10)
    }
}

/// Fast deterministic filler (xorshift64), so writing the data is not the bottleneck.
fn fill(buf: &mut [u8], seed: &mut u64) {
    for chunk in buf.chunks_mut(8) {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        let b = seed.to_le_bytes();
        chunk.copy_from_slice(&b[..chunk.len()]);
    }
}

fn file_path(ds: &Path, i: usize) -> PathBuf {
    ds.join(format!("{:03}", i / PER_DIR))
        .join(format!("{i:05}.bin"))
}

fn file_seed(i: usize, generation: u64) -> u64 {
    (0x9e37_79b9_7f4a_7c15_u64 ^ (generation << 40)).wrapping_add((i as u64 + 1) * 0x100_0000_01b3)
}

/// Write `big.bin` and `ds/` into `dir`.
fn generate(dir: &Path, sizes: &Sizes) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    let mut f = fs::File::create(dir.join("big.bin"))?;
    let mut chunk = vec![0u8; 8 << 20];
    let mut seed = 42;
    let mut left = sizes.big;
    while left > 0 {
        let n = left.min(chunk.len());
        fill(&mut chunk[..n], &mut seed);
        f.write_all(&chunk[..n])?;
        left -= n;
    }
    drop(f);
    let ds = dir.join("ds");
    let mut buf = vec![0u8; FILE_BYTES];
    for i in 0..sizes.files {
        let p = file_path(&ds, i);
        if i % PER_DIR == 0 {
            fs::create_dir_all(p.parent().expect("a parent folder"))?;
        }
        fill(&mut buf, &mut file_seed(i, 0));
        fs::write(p, &buf)?;
    }
    Ok(())
}

/// Rewrite the 10 changed files of `dir/ds` with new content (same size).
fn modify(dir: &Path, sizes: &Sizes) -> std::io::Result<()> {
    let ds = dir.join("ds");
    let mut buf = vec![0u8; FILE_BYTES];
    for i in sizes.modified() {
        fill(&mut buf, &mut file_seed(i, 1));
        fs::write(file_path(&ds, i), &buf)?;
    }
    Ok(())
}

fn emit(case: &str, variant: &str, d: Duration, note: Option<String>) {
    let mut line = serde_json::json!({
        "suite": "dvc",
        "case": case,
        "variant": variant,
        "side": "mlops",
        "value": d.as_secs_f64(),
        "unit": "s",
        "count": 1,
    });
    if let Some(note) = note {
        line["note"] = note.into();
    }
    println!("{line}");
}

fn timed<T>(f: impl FnOnce() -> mlops_dvc::Result<T>) -> mlops_dvc::Result<(T, Duration)> {
    let t = Instant::now();
    let out = f()?;
    Ok((out, t.elapsed()))
}

/// The repository of `root`, with a file cache in `.mlops-dvc/cache`: `Repository::open` as a
/// user gets it (fsync on) or, like DVC (which never fsyncs), with fsync off.
fn open(root: &Path, fsync: bool) -> mlops_dvc::Result<Repository> {
    // One setting covers the metadata and the repository's own cache.
    Ok(Repository::open(root)?.with_fsync(fsync))
}

fn run(work: &Path, sizes: &Sizes) -> Result<(), Box<dyn std::error::Error>> {
    let root = work.join("repo");
    let t = Instant::now();
    generate(&root, sizes)?;
    eprintln!(
        "[peers_dvc] data written in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    // Let the files' mtimes age past the stat cache's racy window before the first add.
    std::thread::sleep(Duration::from_millis(200));
    let version = env!("CARGO_PKG_VERSION");
    let variant = format!("mlops-dvc {version}, file cache (copy; no fsync, as DVC)");
    let v = variant.as_str();
    let (big, files) = (sizes.big_label(), sizes.files_label());
    let ds = PathBuf::from("ds");
    let big_path = PathBuf::from("big.bin");

    let mut repo = open(&root, false)?;
    let (t, d) = timed(|| repo.track(&big_path, "big file"))?;
    assert!(t.is_new(), "first add makes a version");
    emit(&format!("add {big} file"), v, d, None);

    let (t, d) = timed(|| repo.track(&ds, "dataset"))?;
    assert_eq!(t.version().files, sizes.files as u64);
    emit(&format!("add folder of {files} x 10 KiB"), v, d, None);

    let (st, d) = timed(|| repo.status(&big_path))?;
    assert!(st.is_clean(), "nothing changed");
    emit(&format!("no-op status, {big} file"), v, d, None);

    let (st, d) = timed(|| repo.status(&ds))?;
    assert!(st.is_clean(), "nothing changed");
    emit(
        &format!("no-op status, folder of {files}"),
        v,
        d,
        Some(format!("{} files re-hashed", st.rehashed)),
    );

    modify(&root, sizes)?;
    let (t, d) = timed(|| repo.track(&ds, "10 files changed"))?;
    assert!(t.is_new(), "changed content makes a version");
    emit("modify 10 files and add again", v, d, None);

    fs::remove_dir_all(root.join(&ds))?;
    let (rep, d) = timed(|| repo.checkout(&ds, Rev::Latest, &CheckoutOptions::default()))?;
    assert_eq!(rep.written, sizes.files as u64);
    emit(
        &format!("delete and check out folder of {files}"),
        v,
        d,
        None,
    );

    fs::remove_file(root.join(&big_path))?;
    let (rep, d) = timed(|| repo.checkout(&big_path, Rev::Latest, &CheckoutOptions::default()))?;
    assert_eq!(rep.bytes, sizes.big as u64);
    emit(&format!("delete and check out {big} file"), v, d, None);

    let remote_dir = work.join("remote");
    let (rep, d) = timed(|| {
        let remote = FileContentStore::open(&remote_dir)?.with_fsync(false);
        repo.push(&remote, &[])
    })?;
    emit(
        "push to local remote",
        v,
        d,
        Some(format!("{} objects, {} bytes", rep.copied, rep.bytes)),
    );

    let (rep, d) = timed(|| repo.gc(&GcOptions::default().keep(Keep::Latest)))?;
    assert!(rep.removed > 0, "the old versions' objects are garbage");
    emit(
        "gc (keep the workspace's versions)",
        v,
        d,
        Some(format!("{} objects removed", rep.removed)),
    );

    // A user who lost the cache (or a fresh clone) pulls it back: fetch, then check out (the
    // working files are intact, so checkout only confirms them).
    drop(repo);
    fs::remove_dir_all(root.join(mlops_dvc::META_DIR).join("cache"))?;
    repo = open(&root, false)?;
    let (rep, d) = timed(|| {
        let remote = FileContentStore::open(&remote_dir)?.with_fsync(false);
        let rep = repo.pull(&remote, &[])?;
        repo.checkout(&ds, Rev::Latest, &CheckoutOptions::default())?;
        repo.checkout(&big_path, Rev::Latest, &CheckoutOptions::default())?;
        Ok(rep)
    })?;
    emit(
        "pull from local remote into an empty cache",
        v,
        d,
        Some(format!("{} objects, {} bytes", rep.copied, rep.bytes)),
    );

    // The two adds again, into a fresh cache, durable as `Repository::open` is by default:
    // every object and folder entry fsynced before the add returns.
    drop(repo);
    let t = Instant::now();
    fs::remove_dir_all(root.join(mlops_dvc::META_DIR))?;
    fs::remove_dir_all(&remote_dir)?;
    eprintln!(
        "[peers_dvc] cache and remote removed in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let variant = format!("mlops-dvc {version}, file cache (copy; fsync, the default)");
    let v = variant.as_str();
    let repo = open(&root, true)?;
    let (t, d) = timed(|| repo.track(&big_path, "big file"))?;
    assert!(t.is_new(), "first add makes a version");
    emit(&format!("add {big} file"), v, d, None);
    let (t, d) = timed(|| repo.track(&ds, "dataset"))?;
    assert_eq!(t.version().files, sizes.files as u64);
    emit(&format!("add folder of {files} x 10 KiB"), v, d, None);
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sizes = Sizes::from_env();
    let result: Result<(), Box<dyn std::error::Error>> = match args.as_slice() {
        [cmd, dir] if cmd == "gen" => generate(Path::new(dir), &sizes).map_err(Into::into),
        [cmd, dir] if cmd == "modify" => modify(Path::new(dir), &sizes).map_err(Into::into),
        [] => {
            let work = std::env::var_os("PEERS_WORK")
                .map_or_else(std::env::temp_dir, PathBuf::from)
                .join(format!("mlops-dvc-{}", std::process::id()));
            let r = fs::create_dir_all(&work)
                .map_err(Into::into)
                .and_then(|()| run(&work, &sizes));
            // Free the space for the other side's run at once.
            let t = Instant::now();
            let _ = fs::remove_dir_all(&work);
            eprintln!(
                "[peers_dvc] scratch folder removed in {:.1} s",
                t.elapsed().as_secs_f64()
            );
            r
        }
        _ => Err("usage: peers_dvc [gen <dir> | modify <dir>]".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("peers_dvc: {e}");
            ExitCode::FAILURE
        }
    }
}
