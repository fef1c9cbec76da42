//! Resuming a run (issue 17 item 4): a training process killed mid-run is restarted and
//! continues logging into the same run, as MLflow's `start_run(run_id=...)`.
#![allow(missing_docs, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use mlops_tracking::{
    CreateRun, FileTrackingBackend, InMemoryTrackingBackend, RunId, RunStatus, Tracker,
    TrackingBackend, TrackingBackendExt, TrackingError,
};

const CHILD: &str = "MLOPS_TRACKING_RESUME_CHILD";

fn tracker(dir: &Path) -> Tracker {
    Tracker::new(FileTrackingBackend::open(dir).unwrap().with_fsync(false))
}

/// The first training process: starts the run, logs ten epochs, says its run id, and then hangs
/// until it is killed.
fn training_job(dir: &Path) {
    let t = tracker(dir);
    let mut run = t
        .start_run("resumable", CreateRun::new().run_name("long-job"))
        .unwrap();
    run.log_param("lr", 0.01).unwrap();
    for step in 0..10 {
        run.log_metric("loss", 1.0 / f64::from(step + 1), i64::from(step))
            .unwrap();
    }
    run.flush().unwrap();
    std::fs::write(dir.join("run_id.tmp"), run.run_id().as_str()).unwrap();
    std::fs::rename(dir.join("run_id.tmp"), dir.join("run_id")).unwrap();
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn a_killed_training_process_resumes_its_run() {
    if let Ok(dir) = std::env::var(CHILD) {
        training_job(Path::new(&dir));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_killed_training_process_resumes_its_run",
            "--nocapture",
        ])
        .env(CHILD, dir.path())
        .spawn()
        .unwrap();
    let id_file: PathBuf = dir.path().join("run_id");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !id_file.exists() {
        assert!(
            Instant::now() < deadline,
            "the training process did not start"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the training process exited"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL: no guard drop, the run stays RUNNING
    child.wait().unwrap();
    let id: RunId = std::fs::read_to_string(&id_file).unwrap().parse().unwrap();

    let t = tracker(dir.path());
    let before = t.backend().get_run(&id).unwrap();
    assert_eq!(before.info.status, RunStatus::Running);
    assert_eq!(before.info.end_time, None);
    let mut run = t.resume_run(&id).unwrap();
    assert_eq!(run.run_id(), id);
    assert_eq!(run.info().status, RunStatus::Running);
    for step in 10..20 {
        run.log_metric("loss", 1.0 / f64::from(step + 1), i64::from(step))
            .unwrap();
    }
    // Params stay write-once across the restart.
    run.log_param("lr", 0.01).unwrap();
    assert!(matches!(
        run.log_param("lr", 0.1).unwrap_err(),
        TrackingError::Conflict(_)
    ));
    drop(run); // as for a new run: dropping the guard flushes and finishes

    let reopened = FileTrackingBackend::open(dir.path()).unwrap();
    let got = reopened.get_run(&id).unwrap();
    assert_eq!(got.info.status, RunStatus::Finished);
    assert!(got.info.end_time.is_some());
    assert_eq!(got.info.run_name, "long-job");
    assert_eq!(got.data.params["lr"], "0.01");
    let steps: Vec<i64> = reopened
        .metric_history(&id, "loss")
        .unwrap()
        .iter()
        .map(|m| m.step)
        .collect();
    assert_eq!(steps, (0..20).collect::<Vec<_>>());
    let runs = reopened
        .search_all_runs(&mlops_tracking::SearchRuns::default())
        .unwrap();
    assert_eq!(runs.len(), 1, "resuming creates no run");
}

#[test]
fn a_resumed_guard_fails_the_run_on_panic_and_deleted_or_unknown_runs_are_refused() {
    let backend = InMemoryTrackingBackend::new();
    let t = Tracker::new(backend.clone());
    let run = t.start_run("exp", CreateRun::new()).unwrap();
    let id = run.run_id();
    run.end(RunStatus::Finished).unwrap();
    let t2 = t.clone();
    let result = std::thread::spawn(move || {
        let mut run = t2.resume_run(&id).unwrap();
        run.log_metric("m", 1.0, 0).unwrap();
        panic!("training crashed");
    })
    .join();
    assert!(result.is_err());
    let got = backend.get_run(&id).unwrap();
    assert_eq!(got.info.status, RunStatus::Failed);
    assert_eq!(got.metric("m"), Some(1.0), "the buffer was flushed");

    backend.delete_run(&id).unwrap();
    let err = t.resume_run(&id).unwrap_err();
    assert!(
        matches!(err, TrackingError::Conflict(_)) && err.to_string().contains(id.as_str()),
        "{err}"
    );
    assert_eq!(
        backend.get_run(&id).unwrap().info.status,
        RunStatus::Failed,
        "a refused resume changes nothing"
    );
    let ghost = RunId::new();
    let err = t.resume_run(&ghost).unwrap_err();
    assert!(matches!(err, TrackingError::NotFound { .. }), "{err}");
}
