//! A reader beside a writer in another process never sees a false `Corrupt` (issue 17 item 1):
//! one process appends batches for ten seconds while this one opens the store again and again
//! and catches up an open handle, reading the run each time. Every read must succeed, and every
//! value it saw must be in the writer's final state.
#![allow(missing_docs, clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use mlops_tracking::{
    Batch, CreateRun, FileTrackingBackend, RunId, TrackingBackend, TrackingBackendExt,
};

const CHILD: &str = "MLOPS_TRACKING_READER_BESIDE_WRITER_CHILD";
const SECONDS: u64 = 10;
const PER_BATCH: i64 = 1000;

/// Writer threads in the child process: while one announces its batch, the next is already
/// appending, so readers that react to an announcement find an append in progress.
const THREADS: i64 = 3;

/// The writer: log large batches from a few threads until the time is up, then write how many
/// batches were logged to `<dir>/done`.
fn writer(spec: &str) {
    let (dir, run) = spec.split_once('|').unwrap();
    let dir = PathBuf::from(dir);
    let run: RunId = run.parse().unwrap();
    let b = FileTrackingBackend::open(&dir).unwrap().with_fsync(false);
    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let total: i64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let b = &b;
                s.spawn(move || {
                    let mut i = 0i64;
                    while Instant::now() < deadline {
                        // 100 tags of 8,000 characters and 1,000 metrics: close to a megabyte,
                        // an append that takes long enough to be seen half-done.
                        let n = t * 1_000_000 + i;
                        let mut batch = Batch::new();
                        for tag in 0..100 {
                            batch = batch.tag(format!("tag{tag}"), format!("{n:08}").repeat(1000));
                        }
                        for k in 0..PER_BATCH {
                            batch = batch.metric(
                                format!("metric_{}", k % 3),
                                value_of(n, k),
                                n,
                                n * PER_BATCH + k,
                            );
                        }
                        b.log_batch(&run, &batch).unwrap();
                        i += 1;
                    }
                    i
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    std::fs::write(dir.join("done"), total.to_string()).unwrap();
}

#[allow(clippy::cast_precision_loss)]
fn value_of(i: i64, k: i64) -> f64 {
    i as f64 * 10.0 + k as f64
}

/// Every `(key, step, value)` of a run's history, keyed by key and step.
fn history(
    b: &dyn TrackingBackend,
    run: &RunId,
) -> mlops_tracking::Result<BTreeMap<(String, i64), f64>> {
    let mut out = BTreeMap::new();
    for key in b.get_run(run)?.data.metrics.keys() {
        for m in b.metric_history(run, key)? {
            out.insert((m.key, m.step), m.value);
        }
    }
    Ok(out)
}

fn open(dir: &Path) -> mlops_tracking::Result<FileTrackingBackend> {
    FileTrackingBackend::open(dir).map(|b| b.with_fsync(false))
}

#[test]
fn a_reader_beside_a_writing_process_never_sees_corruption() {
    if let Ok(spec) = std::env::var(CHILD) {
        writer(&spec);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).unwrap();
    let run = store
        .create_run(&"0".parse().unwrap(), &CreateRun::new().run_name("live"))
        .unwrap()
        .info
        .run_id;
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_reader_beside_a_writing_process_never_sees_corruption",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, format!("{}|{run}", dir.path().display()))
        .spawn()
        .unwrap();
    let mut errors = Vec::new();
    let mut seen = BTreeMap::new();
    let (mut fresh_reads, mut caught_up_reads) = (0u64, 0u64);
    let done = dir.path().join("done");
    while !done.exists() {
        // A handle kept open, catching up with the writer on every read (cheap: only the new
        // records are read, right where the writer appends)...
        for _ in 0..200 {
            match store.get_run(&run) {
                Ok(r) => {
                    caught_up_reads += 1;
                    // A batch is seen whole or not at all: its 100 tags carry one batch number.
                    let batches: BTreeSet<&str> = (0..100)
                        .filter_map(|t| r.data.tags.get(&format!("tag{t}")))
                        .map(|v| &v[..8])
                        .collect();
                    if batches.len() > 1 {
                        errors.push(format!("a read saw parts of batches {batches:?}"));
                    }
                    for m in r.data.metrics.into_values() {
                        seen.insert((m.key, m.step), m.value);
                    }
                }
                Err(e) => errors.push(format!("open handle: {e}")),
            }
        }
        // ...and the store opened afresh.
        match open(dir.path()).and_then(|b| b.get_run(&run)) {
            Ok(r) => {
                fresh_reads += 1;
                for m in r.data.metrics.into_values() {
                    seen.insert((m.key, m.step), m.value);
                }
            }
            Err(e) => errors.push(format!("fresh open: {e}")),
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "the writer failed");
            break;
        }
    }
    assert!(child.wait().unwrap().success(), "the writer failed");
    assert!(
        errors.is_empty(),
        "{} of {} reads failed, first: {}",
        errors.len(),
        errors.len() as u64 + fresh_reads + caught_up_reads,
        errors[0]
    );
    let batches: i64 = std::fs::read_to_string(&done).unwrap().parse().unwrap();
    let final_state = history(&open(dir.path()).unwrap(), &run).unwrap();
    assert_eq!(
        final_state.len() as i64,
        batches * PER_BATCH,
        "every logged value is stored"
    );
    assert!(!seen.is_empty() && fresh_reads > 0 && caught_up_reads > 0);
    for (key, value) in &seen {
        assert_eq!(
            final_state.get(key),
            Some(value),
            "{key:?} was read but is not stored"
        );
    }
    // The open handle ends up with exactly the final state.
    assert_eq!(history(&store, &run).unwrap(), final_state);
}
