//! Push and pull figures of an `s3://` DVC remote: one large file and N small files, pushed from
//! a repository and pulled into a fresh clone (pull = fetch into the cache, then check out, as
//! `dvc pull` does), against an S3-compatible server.
//!
//! ```text
//! s3_transfer [--moto | --endpoint URL --bucket B] [--big-mib 1024] [--small 20000]
//!             [--small-kib 10] [--jobs 16] [--parts-in-flight N]   # a table on stdout
//! s3_transfer peers                            # our side of benches/peers/s3 (JSON lines)
//! s3_transfer gen DIR [--big-mib N] [--small N] [--small-kib K]
//! ```
//!
//! - The table mode prints wall time, throughput and this process's peak RSS per phase
//!   (`VmHWM`, reset before each phase through `/proc/self/clear_refs`). With `--moto` (or no
//!   endpoint) it starts a moto server (`$MLOPS_MOTO`, else `moto_server` on `PATH`); with
//!   `--endpoint` it uses an existing bucket and the `AWS_*` credentials.
//! - `peers` runs the `s3` peer suite's workload in `$PEERS_WORK` against its own fresh moto
//!   server: push and pull of one 1 GiB file, then of 20,000 files of 10 KiB, 16 jobs, one JSON
//!   line per case (peak RSS and throughput in the note), plus the download alone of the big
//!   object (`S3Client::get` into a file, no digest, no cache, no checkout) as a second variant.
//!   `PEERS_QUICK=1` shrinks the data (16 MiB, 200 files).
//! - `gen DIR` writes the data, `DIR/big.bin` and `DIR/small/<NNN>/<NNNNNN>.bin` (200 files a
//!   folder, every file distinct), so that the peer scripts send the same bytes.
//!
//! Build: `cargo build --release -p mlops-benches --features s3 --bin s3_transfer`.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::cast_precision_loss
)]

use mlops_benches::fmt::thousands;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use mlops_benches::proc_stats::status_kib;
use mlops_dvc::{CheckoutOptions, Repository, Rev, S3Config, S3ContentStore};
use mlops_s3::test_server::MotoServer;

/// Files per sub-folder of the small-file folder.
const PER_DIR: usize = 200;

struct Args {
    endpoint: Option<String>,
    bucket: String,
    moto: bool,
    sizes: Sizes,
    jobs: usize,
    parts_in_flight: Option<usize>,
}

#[derive(Clone, Copy)]
struct Sizes {
    big_mib: u64,
    small: usize,
    small_kib: usize,
}

impl Sizes {
    fn peers() -> Self {
        if std::env::var("PEERS_QUICK").is_ok_and(|v| !v.is_empty() && v != "0") {
            Self {
                big_mib: 16,
                small: 200,
                small_kib: 10,
            }
        } else {
            Self {
                big_mib: 1024,
                small: 20_000,
                small_kib: 10,
            }
        }
    }
}

fn parse(args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut a = Args {
        endpoint: None,
        bucket: "mlops-bench".to_owned(),
        moto: false,
        sizes: Sizes {
            big_mib: 256,
            small: 2000,
            small_kib: 10,
        },
        jobs: 16,
        parts_in_flight: None,
    };
    let mut it = args;
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or(format!("{k} needs a value"));
        let num = |s: String| s.parse::<usize>().map_err(|e| format!("{s}: {e}"));
        match k.as_str() {
            "--endpoint" => a.endpoint = Some(v()?),
            "--bucket" => a.bucket = v()?,
            "--moto" => a.moto = true,
            "--big-mib" => a.sizes.big_mib = num(v()?)? as u64,
            "--small" => a.sizes.small = num(v()?)?,
            "--small-kib" => a.sizes.small_kib = num(v()?)?,
            "--jobs" => a.jobs = num(v()?)?,
            "--parts-in-flight" => a.parts_in_flight = Some(num(v()?)?),
            _ => return Err(format!("unknown argument {k}")),
        }
    }
    Ok(a)
}

fn reset_peak() {
    // "5" resets the peak RSS (VmHWM) to the current RSS (Linux >= 4.0).
    let _ = fs::write("/proc/self/clear_refs", "5");
}

/// What one timed phase measured.
struct Measured {
    secs: f64,
    peak_mib: f64,
    what: String,
}

fn timed(
    f: impl FnOnce() -> Result<String, Box<dyn std::error::Error>>,
) -> Result<Measured, Box<dyn std::error::Error>> {
    reset_peak();
    let t = Instant::now();
    let what = f()?;
    let secs = t.elapsed().as_secs_f64();
    let peak = status_kib("VmHWM:").unwrap_or(0);
    Ok(Measured {
        secs,
        peak_mib: peak as f64 / 1024.0,
        what,
    })
}

/// The big file's bytes: 1 MiB blocks, each a function of its index.
fn write_big(path: &Path, mib: u64) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::new(fs::File::create(path)?);
    let mut block = vec![0u8; 1 << 20];
    for i in 0..mib {
        fill(&mut block, 0xb16 ^ i);
        f.write_all(&block)?;
    }
    f.flush()
}

/// Fill `buf` from a splitmix64 sequence seeded with `seed` (distinct seeds give distinct
/// contents).
fn fill(buf: &mut [u8], seed: u64) {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for chunk in buf.chunks_mut(8) {
        s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
    }
}

/// Path of small file `i` under `dir`.
fn small_path(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("{:03}", i / PER_DIR))
        .join(format!("{i:06}.bin"))
}

/// Write `n` distinct files of `kib` KiB under `dir`.
fn write_small(dir: &Path, n: usize, kib: usize) -> std::io::Result<()> {
    let mut body = vec![0u8; kib * 1024];
    for i in 0..n {
        let p = small_path(dir, i);
        if i % PER_DIR == 0 {
            fs::create_dir_all(p.parent().expect("a parent folder"))?;
        }
        fill(&mut body, 0x5a11 + i as u64);
        fs::write(p, &body)?;
    }
    Ok(())
}

fn gen_data(dir: &Path, sizes: Sizes) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    if sizes.big_mib > 0 {
        write_big(&dir.join("big.bin"), sizes.big_mib)?;
    }
    if sizes.small > 0 {
        write_small(&dir.join("small"), sizes.small, sizes.small_kib)?;
    }
    Ok(())
}

/// Push and pull of one dataset: the results of the push, the pull, and the download alone.
struct CaseResult {
    push: Measured,
    pull: Measured,
    download: Option<Measured>,
}

/// Track `fill`'s dataset `ds` in a fresh repository, push it to `config`'s bucket under a
/// prefix of its own, pull it into a fresh clone and check it out; with `download_only`, then
/// also download every object of the prefix with the bare client (no digest, no cache).
fn case(
    name: &str,
    root: &Path,
    config: &S3Config,
    jobs: usize,
    download_only: bool,
    fill: impl FnOnce(&Path) -> std::io::Result<()>,
) -> Result<CaseResult, Box<dyn std::error::Error>> {
    let work = root.join(format!("{name}-work"));
    fill(&work.join("ds"))?;
    let repo = Repository::open(&work)?.with_fsync(false).with_jobs(jobs);
    repo.track("ds", name)?;
    let remote = S3ContentStore::connect(
        config
            .clone()
            .prefix(format!("{name}-{}", std::process::id())),
    )?;
    let push = timed(|| Ok(repo.push(&remote, &[])?.to_string()))?;
    let clone = root.join(format!("{name}-clone"));
    fs::create_dir_all(&clone)?;
    fs::copy(work.join("ds.dvc.json"), clone.join("ds.dvc.json"))?;
    let c = Repository::open(&clone)?.with_fsync(false).with_jobs(jobs);
    let pull = timed(|| {
        let r = c.pull(&remote, &[])?;
        c.checkout("ds", Rev::Pointer, &CheckoutOptions::default())?;
        Ok(r.to_string())
    })?;
    let download = if download_only {
        let into = root.join(format!("{name}-download"));
        fs::create_dir_all(&into)?;
        let client = remote.client();
        Some(timed(|| {
            let mut bytes = 0u64;
            let objects = client.list("")?;
            for (i, o) in objects.iter().enumerate() {
                let mut reader = client.get(&o.rel)?;
                let mut f = fs::File::create(into.join(i.to_string()))?;
                bytes += std::io::copy(&mut reader, &mut f)?;
            }
            Ok(format!("{} objects, {bytes} bytes", objects.len()))
        })?)
    } else {
        None
    };
    Ok(CaseResult {
        push,
        pull,
        download,
    })
}

fn run_cases(
    root: &Path,
    config: &S3Config,
    sizes: Sizes,
    jobs: usize,
    mut report: impl FnMut(&str, &str, u64, &Measured),
) -> Result<(), Box<dyn std::error::Error>> {
    if sizes.big_mib > 0 {
        let mib = sizes.big_mib;
        let label = if mib.is_multiple_of(1024) {
            format!("{} GiB file", mib / 1024)
        } else {
            format!("{mib} MiB file")
        };
        let r = case("big", root, config, jobs, true, |ds| {
            fs::create_dir_all(ds)?;
            write_big(&ds.join("big.bin"), mib)
        })?;
        let bytes = mib << 20;
        report(&format!("push one {label}"), "", bytes, &r.push);
        report(&format!("pull one {label}"), "", bytes, &r.pull);
        if let Some(d) = &r.download {
            report(&format!("pull one {label}"), "download only", bytes, d);
        }
    }
    if sizes.small > 0 {
        let (n, kib) = (sizes.small, sizes.small_kib);
        let r = case("small", root, config, jobs, false, |ds| {
            write_small(ds, n, kib)
        })?;
        let bytes = (n * kib * 1024) as u64;
        let label = format!("{} files of {kib} KiB", thousands(n));
        report(&format!("push {label}"), "", bytes, &r.push);
        report(&format!("pull {label}"), "", bytes, &r.pull);
    }
    Ok(())
}

fn start_moto(bucket: &str) -> Result<MotoServer, Box<dyn std::error::Error>> {
    let s = MotoServer::start(&[])?;
    s.create_bucket(bucket);
    Ok(s)
}

fn moto_config(s: &MotoServer, bucket: &str) -> S3Config {
    S3Config::from_env(bucket)
        .endpoint(&s.endpoint)
        .allow_http(true)
        .credentials("bench", "bench")
}

fn table(a: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let server = if a.moto || a.endpoint.is_none() {
        Some(start_moto(&a.bucket)?)
    } else {
        None
    };
    let config = match (&server, &a.endpoint) {
        (Some(s), _) => moto_config(s, &a.bucket),
        (None, Some(e)) => S3Config::from_env(&a.bucket)
            .endpoint(e)
            .allow_http(e.starts_with("http://")),
        (None, None) => unreachable!("a server is started when no endpoint is given"),
    };
    let config = match a.parts_in_flight {
        Some(n) => config.parts_in_flight(n),
        None => config,
    };
    println!("endpoint {}  jobs {}", config.endpoint_display(), a.jobs);
    let dir = tempfile::tempdir()?;
    run_cases(
        dir.path(),
        &config,
        a.sizes,
        a.jobs,
        |case, variant, bytes, m| {
            let name = if variant.is_empty() {
                case.to_owned()
            } else {
                format!("{case} ({variant})")
            };
            println!(
                "{name:<44} {:>8.2} s {:>8.1} MiB/s  peak RSS {:>7.1} MiB  ({})",
                m.secs,
                bytes as f64 / 1_048_576.0 / m.secs,
                m.peak_mib,
                m.what
            );
        },
    )
}

fn peers() -> Result<(), Box<dyn std::error::Error>> {
    let jobs = 16;
    let bucket = "peers-s3";
    let server = start_moto(bucket)?;
    let config = moto_config(&server, bucket);
    let root = std::env::var_os("PEERS_WORK").map_or_else(std::env::temp_dir, PathBuf::from);
    let root = tempfile::tempdir_in(root)?;
    run_cases(
        root.path(),
        &config,
        Sizes::peers(),
        jobs,
        |case, variant, bytes, m| {
            let variant = if variant.is_empty() {
                "mlops".to_owned()
            } else {
                format!("mlops ({variant})")
            };
            let note = format!(
                "{:.0} MiB/s; peak RSS {:.0} MiB; {}",
                bytes as f64 / 1_048_576.0 / m.secs,
                m.peak_mib,
                m.what
            );
            let line = serde_json::json!({
                "suite": "s3",
                "case": case,
                "variant": variant,
                "side": "mlops",
                "value": m.secs,
                "unit": "s",
                "count": 1,
                "note": note,
                "peak_rss_mib": m.peak_mib,
            });
            println!("{line}");
        },
    )?;
    server.stop();
    Ok(())
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).peekable();
    let result = match args.peek().map(String::as_str) {
        Some("peers") => peers(),
        Some("gen") => {
            args.next();
            match args.next() {
                Some(dir) => parse(args)
                    .map_err(Into::into)
                    .and_then(|a| Ok(gen_data(Path::new(&dir), a.sizes)?)),
                None => Err("gen needs a folder".into()),
            }
        }
        _ => match parse(args) {
            Ok(a) => table(&a),
            Err(e) => {
                eprintln!("s3_transfer: {e}");
                return ExitCode::from(2);
            }
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("s3_transfer: {e}");
            ExitCode::FAILURE
        }
    }
}
