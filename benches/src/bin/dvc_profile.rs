//! One `mlops-dvc` operation on a prepared tree, so that a profiler sees only that operation:
//!
//! ```text
//! dvc_profile prep DIR N        # N files of 1 KiB under DIR/ds (1,000 per folder), tracked
//! dvc_profile write DIR N       # the same files, not tracked (for `track` without a removal)
//! dvc_profile status DIR        # no-op status (after a warm-up status), timed
//! dvc_profile track DIR         # add of DIR/ds with an empty cache and no stat cache, timed
//!                               # (a repository left by `prep` is removed first, untimed)
//! dvc_profile checkout DIR copy|hardlink   # checkout of v1 to a fresh DIR/co, timed
//! ```
//!
//! e.g. `perf record -g --call-graph dwarf target/release/dvc_profile status /tmp/p`. Prints the
//! CPU and wall time per file of the timed call. When built but not run (CI), it does nothing.
#![allow(missing_docs, clippy::print_stdout, clippy::print_stderr)]

use std::fs;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use mlops_benches::proc_stats::process_cpu_seconds;
use mlops_dvc::{CheckoutOptions, LinkMode, Repository};

/// Files of 1 KiB, 1,000 per folder (the tree of the scaling program's dvc curves).
fn write_tree(root: &Path, n: u64) {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut buf = vec![0u8; 1024];
    for i in 0..n {
        let dir = root.join(format!("{:04}", i / 1000));
        if i % 1000 == 0 {
            fs::create_dir_all(&dir).expect("dir");
        }
        for chunk in buf.chunks_mut(8) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            chunk.copy_from_slice(&seed.to_le_bytes()[..chunk.len()]);
        }
        fs::write(dir.join(format!("{i:07}.bin")), &buf).expect("write");
    }
}

fn timed<T>(n: u64, f: impl FnOnce() -> T) -> T {
    let (c0, t0) = (process_cpu_seconds().unwrap_or(0.0), Instant::now());
    let r = f();
    let wall = t0.elapsed().as_secs_f64();
    let cpu = process_cpu_seconds().unwrap_or(0.0) - c0;
    let per = |s: f64| s * 1e6 / n.max(1) as f64;
    println!(
        "cpu {:.2} us/file, wall {:.2} us/file ({n} files)",
        per(cpu),
        per(wall)
    );
    r
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((op, dir)) = args.first().zip(args.get(1)) else {
        eprintln!("usage: dvc_profile prep|write|status|track|checkout DIR [N|copy|hardlink]");
        return ExitCode::SUCCESS;
    };
    let dir = Path::new(dir);
    let repo = || Repository::open(dir).expect("repo").with_fsync(false);
    let files = || {
        repo()
            .log("ds")
            .ok()
            .and_then(|l| l.0.last().map(|v| v.files))
            .unwrap_or(0)
    };
    match op.as_str() {
        "prep" => {
            let n: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(200_000);
            let _ = fs::remove_dir_all(dir);
            write_tree(&dir.join("ds"), n);
            repo().track("ds", "prep").expect("track");
            std::thread::sleep(std::time::Duration::from_millis(100));
            repo().status("ds").expect("status");
        }
        "status" => {
            let r = repo();
            let n = files();
            let st = timed(n, || r.status("ds").expect("status"));
            assert!(st.is_clean(), "the prepared tree changed");
        }
        "write" => {
            let n: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(200_000);
            let _ = fs::remove_dir_all(dir);
            write_tree(&dir.join("ds"), n);
        }
        "track" => {
            let meta = dir.join(mlops_dvc::META_DIR);
            let _ = fs::remove_dir_all(&meta);
            let r = repo();
            let n = u64::try_from(
                fs::read_dir(dir.join("ds"))
                    .expect("ds")
                    .flatten()
                    .map(|d| fs::read_dir(d.path()).map_or(0, Iterator::count))
                    .sum::<usize>(),
            )
            .unwrap_or(0);
            timed(n, || r.track("ds", "profile").expect("track"));
        }
        "checkout" => {
            let link = match args.get(2).map(String::as_str) {
                Some("hardlink") => LinkMode::Hardlink,
                _ => LinkMode::Copy,
            };
            let r = repo();
            let n = files();
            let dest = dir.join("co");
            let _ = fs::remove_dir_all(&dest);
            timed(n, || {
                r.checkout(
                    "ds",
                    1,
                    &CheckoutOptions::default().destination(&dest).link(link),
                )
                .expect("checkout")
            });
        }
        other => {
            eprintln!("dvc_profile: unknown operation {other}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
