//! Multi-process and crash tests: a child process (this test binary re-executed) tracks versions
//! in a loop and is killed at an arbitrary moment; another process tracks concurrently. The
//! repository must stay readable and every recorded version restorable.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use mlops_dvc::{CheckoutOptions, ContentStore, FileContentStore, Repository};

const CHILD_ENV: &str = "MLOPS_DVC_CRASH_CHILD";

/// In the child: track `ds` over and over with fresh content (durable writes).
fn child_loop(root: &Path, tag: &str) {
    let r = Repository::open(root).unwrap();
    for i in 0..10_000u32 {
        let ds = root.join("ds");
        fs::create_dir_all(&ds).unwrap();
        fs::write(
            ds.join(format!("{tag}.txt")),
            format!("{tag} round {i}\n").repeat(200),
        )
        .unwrap();
        // Another process may be writing `ds` at the same moment: a `Changed` error is the
        // documented outcome, so retry.
        match r.track("ds", &format!("{tag} {i}")) {
            Ok(_) | Err(mlops_dvc::DvcError::Changed { .. }) => {}
            Err(e) => panic!("{e}"),
        }
    }
}

fn spawn_child(test: &str, root: &Path, tag: &str) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, format!("{}|{tag}", root.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn child_mode() -> bool {
    if let Ok(v) = std::env::var(CHILD_ENV) {
        let (root, tag) = v.split_once('|').unwrap();
        child_loop(Path::new(root), tag);
        return true;
    }
    false
}

/// Wait until the log of `ds` has at least `n` versions (the child is busy writing).
fn wait_for_versions(root: &Path, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let r = Repository::open(root).unwrap();
        if r.log("ds").is_ok_and(|l| l.0.len() >= n) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the child made no progress"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn check_consistent(root: &Path) -> usize {
    let r = Repository::open(root).unwrap();
    let log = r.log("ds").unwrap();
    assert!(!log.0.is_empty());
    // Every recorded version's objects are present and intact.
    for v in &log.0 {
        for f in r.files("ds", v.version).unwrap() {
            r.store().verify(&f.digest).unwrap();
        }
    }
    let latest = log.0.last().unwrap().version;
    r.checkout(
        "ds",
        latest,
        &CheckoutOptions::default().destination(root.join("restored")),
    )
    .unwrap();
    // The killed writer's temp objects are gone after reopening the store.
    let store = FileContentStore::open(root.join(".mlops-dvc/cache")).unwrap();
    assert!(
        fs::read_dir(store.root().join("tmp"))
            .unwrap()
            .next()
            .is_none()
    );
    store.list().unwrap().len()
}

#[test]
fn killed_writer_leaves_a_consistent_repository() {
    if child_mode() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for round in 0..3u64 {
        let mut child = spawn_child("killed_writer_leaves_a_consistent_repository", root, "k");
        wait_for_versions(root, usize::try_from(round).unwrap() * 3 + 2);
        // Kill at a different point of the next track each round.
        std::thread::sleep(Duration::from_millis(3 * round));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(check_consistent(root) > 0);
    }
}

#[test]
fn two_processes_tracking_the_same_repository_keep_one_log() {
    if child_mode() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let test = "two_processes_tracking_the_same_repository_keep_one_log";
    let mut a = spawn_child(test, root, "a");
    let mut b = spawn_child(test, root, "b");
    wait_for_versions(root, 6);
    a.kill().unwrap();
    b.kill().unwrap();
    a.wait().unwrap();
    b.wait().unwrap();
    let r = Repository::open(root).unwrap();
    let log = r.log("ds").unwrap();
    let numbers: Vec<u64> = log.0.iter().map(|v| v.version).collect();
    let expected: Vec<u64> = (1..=numbers.len() as u64).collect();
    assert_eq!(
        numbers, expected,
        "versions are numbered without gaps or duplicates"
    );
    check_consistent(root);
}
