//! Push and pull figures of an `s3://` DVC remote: one large file and N small files, pushed from
//! a repository and pulled into a fresh clone, against a given S3-compatible endpoint (or a
//! moto server this program starts). Prints wall time, throughput and this process's peak RSS
//! per phase (`VmHWM`, reset before each phase through `/proc/self/clear_refs`).
//!
//! ```text
//! cargo run --release -p mlops-benches --features s3 --bin s3_transfer -- \
//!   --moto [--big-mib 1024] [--small 20000] [--small-kib 10] [--jobs 16]
//! cargo run --release -p mlops-benches --features s3 --bin s3_transfer -- \
//!   --endpoint http://127.0.0.1:5000 --bucket bench   # an existing bucket; AWS_* credentials
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fs;
use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use mlops_benches::proc_stats::status_kib;
use mlops_dvc::{CheckoutOptions, Repository, Rev, S3Config, S3ContentStore};
use mlops_s3::test_server::MotoServer;

struct Args {
    endpoint: Option<String>,
    bucket: String,
    moto: bool,
    big_mib: u64,
    small: usize,
    small_kib: usize,
    jobs: usize,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        endpoint: None,
        bucket: "mlops-bench".to_owned(),
        moto: false,
        big_mib: 256,
        small: 2000,
        small_kib: 10,
        jobs: 16,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or(format!("{k} needs a value"));
        let num = |s: String| s.parse::<u64>().map_err(|e| format!("{s}: {e}"));
        match k.as_str() {
            "--endpoint" => a.endpoint = Some(v()?),
            "--bucket" => a.bucket = v()?,
            "--moto" => a.moto = true,
            "--big-mib" => a.big_mib = num(v()?)?,
            "--small" => a.small = usize::try_from(num(v()?)?).map_err(|e| e.to_string())?,
            "--small-kib" => {
                a.small_kib = usize::try_from(num(v()?)?).map_err(|e| e.to_string())?;
            }
            "--jobs" => a.jobs = usize::try_from(num(v()?)?).map_err(|e| e.to_string())?,
            _ => return Err(format!("unknown argument {k}")),
        }
    }
    Ok(a)
}

fn reset_peak() {
    // "5" resets the peak RSS (VmHWM) to the current RSS (Linux >= 4.0).
    let _ = fs::write("/proc/self/clear_refs", "5");
}

fn phase(
    name: &str,
    bytes: u64,
    f: impl FnOnce() -> Result<String, mlops_dvc::DvcError>,
) -> Result<(), mlops_dvc::DvcError> {
    reset_peak();
    let t = Instant::now();
    let what = f()?;
    let secs = t.elapsed().as_secs_f64();
    let peak = status_kib("VmHWM:").unwrap_or(0);
    println!(
        "{name:<28} {secs:>8.2} s {:>8.1} MiB/s  peak RSS {:>7.1} MiB  ({what})",
        bytes as f64 / 1_048_576.0 / secs,
        peak as f64 / 1024.0
    );
    Ok(())
}

fn write_big(path: &Path, mib: u64) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::new(fs::File::create(path)?);
    let mut block = vec![0u8; 1 << 20];
    for i in 0..mib {
        for (j, b) in block.iter_mut().enumerate() {
            *b = (j as u64).wrapping_mul(2_654_435_761).wrapping_add(i) as u8;
        }
        f.write_all(&block)?;
    }
    f.flush()
}

fn case(
    name: &str,
    config: &S3Config,
    jobs: usize,
    bytes: u64,
    fill: impl FnOnce(&Path) -> std::io::Result<()>,
) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let work = dir.path().join("work");
    fill(&work.join("ds"))?;
    let repo = Repository::open(&work)?.with_fsync(false).with_jobs(jobs);
    repo.track("ds", name)?;
    let remote = S3ContentStore::connect(
        config
            .clone()
            .prefix(format!("{name}-{}", std::process::id())),
    )?;
    phase(&format!("{name}: push"), bytes, || {
        repo.push(&remote, &[]).map(|r| r.to_string())
    })?;
    let clone = dir.path().join("clone");
    fs::create_dir_all(&clone)?;
    fs::copy(work.join("ds.dvc.json"), clone.join("ds.dvc.json"))?;
    let c = Repository::open(&clone)?.with_fsync(false).with_jobs(jobs);
    phase(&format!("{name}: pull"), bytes, || {
        c.pull(&remote, &[]).map(|r| r.to_string())
    })?;
    c.checkout("ds", Rev::Pointer, &CheckoutOptions::default())?;
    Ok(())
}

fn run(a: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let server = if a.moto || a.endpoint.is_none() {
        let s = MotoServer::start(&[])?;
        s.create_bucket(&a.bucket);
        Some(s)
    } else {
        None
    };
    let config = match (&server, &a.endpoint) {
        (Some(s), _) => S3Config::from_env(&a.bucket)
            .endpoint(&s.endpoint)
            .allow_http(true)
            .credentials("bench", "bench"),
        (None, Some(e)) => S3Config::from_env(&a.bucket)
            .endpoint(e)
            .allow_http(e.starts_with("http://")),
        (None, None) => unreachable!("a server is started when no endpoint is given"),
    };
    println!("endpoint {}  jobs {}", config.endpoint_display(), a.jobs);
    if a.big_mib > 0 {
        let mib = a.big_mib;
        case("big", &config, a.jobs, mib << 20, |ds| {
            fs::create_dir_all(ds)?;
            write_big(&ds.join("big.bin"), mib)
        })?;
    }
    if a.small > 0 {
        let (n, kib) = (a.small, a.small_kib);
        case("small", &config, a.jobs, (n * kib * 1024) as u64, |ds| {
            for i in 0..n {
                let sub = ds.join(format!("{:03}", i % 200));
                if i < 200 {
                    fs::create_dir_all(&sub)?;
                }
                let body: Vec<u8> = (0..kib * 1024)
                    .map(|j| (i.wrapping_mul(31) ^ j) as u8)
                    .collect();
                fs::write(sub.join(format!("{i:06}.bin")), body)?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("s3_transfer: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("s3_transfer: {e}");
            ExitCode::FAILURE
        }
    }
}
