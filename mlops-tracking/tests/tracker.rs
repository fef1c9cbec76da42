//! The client API: the active-run guard, buffering, durability, comparison, best run.
#![allow(missing_docs)]

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use mlops_tracking::{
    Clock, CreateRun, Direction, FileTrackingBackend, InMemoryTrackingBackend, ManualClock,
    RunStatus, Tracker, TrackingBackend, TrackingBackendExt, TrackingError,
};

fn fake_clock() -> (ManualClock, Arc<dyn Clock>) {
    let t = ManualClock::new(1_000);
    (t.clone(), Arc::new(t))
}

#[test]
fn guard_is_send_and_logs_from_a_training_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<mlops_tracking::ActiveRun>();
    let backend = InMemoryTrackingBackend::new();
    let tracker = Tracker::new(backend.clone());
    let mut run = tracker
        .start_run("exp", CreateRun::new().run_name("threaded"))
        .unwrap();
    let id = run.run_id();
    std::thread::spawn(move || {
        for step in 0..10 {
            run.log_metric("loss", 1.0 / f64::from(step + 1), i64::from(step))
                .unwrap();
        }
        run.end(RunStatus::Finished).unwrap();
    })
    .join()
    .unwrap();
    let got = backend.get_run(&id).unwrap();
    assert_eq!(got.info.status, RunStatus::Finished);
    assert!(got.info.end_time.is_some());
    assert_eq!(got.data.tags["mlflow.source.type"], "LOCAL");
    assert!(got.data.tags["mlflow.source.name"].starts_with("tracker"));
    assert_eq!(backend.metric_history(&id, "loss").unwrap().len(), 10);
}

#[test]
fn drop_finishes_and_panic_fails() {
    let backend = InMemoryTrackingBackend::new();
    let tracker = Tracker::new(backend.clone());
    let id = {
        let mut run = tracker.start_run("exp", CreateRun::new()).unwrap();
        run.log_metric("acc", 0.5, 0).unwrap();
        run.run_id()
    };
    let got = backend.get_run(&id).unwrap();
    assert_eq!(got.info.status, RunStatus::Finished);
    assert_eq!(got.metric("acc"), Some(0.5));

    let t2 = tracker.clone();
    let handle = std::thread::spawn(move || {
        let mut run = t2.start_run("exp", CreateRun::new()).unwrap();
        run.log_metric("acc", 0.25, 0).unwrap();
        let id = run.run_id();
        std::panic::panic_any(id);
    });
    let id = *handle
        .join()
        .unwrap_err()
        .downcast::<mlops_tracking::RunId>()
        .unwrap();
    let got = backend.get_run(&id).unwrap();
    assert_eq!(got.info.status, RunStatus::Failed);
    assert_eq!(
        got.metric("acc"),
        Some(0.25),
        "buffered metrics are flushed even when failing"
    );
}

#[test]
fn end_with_explicit_status_and_times_from_the_clock() {
    let (t, clock) = fake_clock();
    let backend = InMemoryTrackingBackend::new();
    let tracker = Tracker::new(backend.clone()).with_clock(clock);
    let run = tracker.start_run("exp", CreateRun::new()).unwrap();
    assert_eq!(run.info().start_time, 1_000);
    t.set(5_000);
    let info = run.end(RunStatus::Killed).unwrap();
    assert_eq!(info.status, RunStatus::Killed);
    assert_eq!(info.end_time, Some(5_000));
}

#[test]
fn metrics_are_buffered_until_capacity_interval_flush_or_end() {
    let (t, clock) = fake_clock();
    let backend = InMemoryTrackingBackend::new();
    let tracker = Tracker::new(backend.clone())
        .with_clock(clock)
        .with_buffer_capacity(3)
        .with_flush_interval(Duration::from_millis(500));
    let mut run = tracker.start_run("exp", CreateRun::new()).unwrap();
    let id = run.run_id();
    let stored = |b: &InMemoryTrackingBackend| b.metric_history(&id, "m").unwrap().len();
    for i in 0..3 {
        run.log_metric("m", 1.0, i).unwrap();
    }
    assert_eq!(stored(&backend), 0, "buffered, not written");
    assert_eq!(run.buffered(), 3);
    run.log_metric("m", 1.0, 3).unwrap();
    assert_eq!(
        stored(&backend),
        3,
        "a full buffer is written before the next value"
    );
    assert_eq!(run.buffered(), 1);
    t.advance(Duration::from_millis(499));
    run.log_metric("m", 1.0, 4).unwrap();
    assert_eq!(stored(&backend), 3);
    t.advance(Duration::from_millis(1));
    run.log_metric("m", 1.0, 5).unwrap();
    assert_eq!(stored(&backend), 5, "the flush interval elapsed");
    run.flush().unwrap();
    assert_eq!(stored(&backend), 6);
    assert_eq!(run.buffered(), 0);
    run.log_metrics([("m", 2.0), ("n", 3.0)], 6).unwrap();
    run.end(RunStatus::Finished).unwrap();
    assert_eq!(stored(&backend), 7);
    let hist = backend.metric_history(&id, "m").unwrap();
    assert_eq!(
        hist.iter().map(|m| m.step).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4, 5, 6]
    );
}

#[test]
fn large_buffers_are_written_in_batches_of_1000() {
    let backend = InMemoryTrackingBackend::new();
    let tracker = Tracker::new(backend.clone()).with_buffer_capacity(2_500);
    let mut run = tracker.start_run("exp", CreateRun::new()).unwrap();
    for i in 0..2_500 {
        run.log_metric(if i % 2 == 0 { "a" } else { "b" }, 0.0, i)
            .unwrap();
    }
    run.flush().unwrap();
    let id = run.run_id();
    assert_eq!(backend.metric_history(&id, "a").unwrap().len(), 1_250);
    assert_eq!(backend.metric_history(&id, "b").unwrap().len(), 1_250);
}

#[test]
fn bad_input_through_the_guard() {
    let backend = InMemoryTrackingBackend::new();
    let tracker = Tracker::new(backend.clone());
    let mut run = tracker.start_run("exp", CreateRun::new()).unwrap();
    let err = run.log_metric("bad key!", 1.0, 0).unwrap_err();
    assert!(err.to_string().contains("bad key!"), "{err}");
    assert_eq!(run.buffered(), 0);
    run.log_param("lr", 0.01).unwrap();
    let err = run.log_param("lr", 0.1).unwrap_err();
    assert!(matches!(err, TrackingError::Conflict(_)), "{err}");
    assert!(run.set_tag("note", "x".repeat(8001)).is_err());
    let many: Vec<(String, usize)> = (0..250).map(|i| (format!("p{i}"), i)).collect();
    run.log_params(many).unwrap();
    let id = run.run_id();
    run.end(RunStatus::Finished).unwrap();
    assert_eq!(backend.get_run(&id).unwrap().data.params.len(), 251);
    // The experiment exists now; a deleted experiment refuses new runs.
    let exp = backend.get_experiment_by_name("exp").unwrap().unwrap();
    backend.delete_experiment(&exp.experiment_id).unwrap();
    let err = tracker.start_run("exp", CreateRun::new()).unwrap_err();
    assert!(matches!(err, TrackingError::Conflict(_)), "{err}");
}

#[test]
fn flushed_metrics_survive_reopen_and_unflushed_do_not_pretend() {
    let dir = tempfile::tempdir().unwrap();
    let backend = FileTrackingBackend::open(dir.path())
        .unwrap()
        .with_fsync(false);
    let tracker = Tracker::new(backend);
    let mut run = tracker.start_run("exp", CreateRun::new()).unwrap();
    run.log_param("optimizer", "Adam").unwrap();
    for i in 0..10 {
        run.log_metric("loss", 1.0, i).unwrap();
    }
    run.flush().unwrap();
    run.log_metric("loss", 1.0, 10).unwrap();
    let id = run.run_id();
    // Simulate a crash: the guard is leaked, its buffer never written.
    std::mem::forget(run);
    let reopened = FileTrackingBackend::open(dir.path()).unwrap();
    assert_eq!(reopened.metric_history(&id, "loss").unwrap().len(), 10);
    let got = reopened.get_run(&id).unwrap();
    assert_eq!(got.data.params.get("optimizer").unwrap(), "Adam");
    assert_eq!(got.info.status, RunStatus::Running);
}

#[test]
fn artifacts_through_the_guard() {
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("model.bin");
    std::fs::write(&local, b"weights").unwrap();
    let backend = InMemoryTrackingBackend::new();
    let tracker = Tracker::new(backend.clone());
    let mut run = tracker.start_run("exp", CreateRun::new()).unwrap();
    let info = run.log_artifact("models/model.bin", &local).unwrap();
    assert_eq!(info.size, 7);
    run.log_artifact_bytes("notes.txt", b"hi").unwrap();
    let err = run
        .log_artifact("x", &dir.path().join("missing"))
        .unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
    let id = run.run_id();
    drop(run);
    assert_eq!(
        backend.read_artifact(&id, "models/model.bin").unwrap(),
        b"weights"
    );
}

#[test]
fn compare_and_best_run() {
    let backend = InMemoryTrackingBackend::new();
    let tracker = Tracker::new(backend.clone());
    let mut ids = Vec::new();
    for (name, lr, accs, loss) in [
        ("baseline", "0.01", [0.5, 0.7, 0.65], 0.9),
        ("lr_tuned", "0.001", [0.6, 0.8, 0.85], 0.4),
        ("large_batch", "0.001", [0.6, 0.9, 0.8], 0.5),
    ] {
        let mut run = tracker
            .start_run("cmp", CreateRun::new().run_name(name))
            .unwrap();
        run.log_param("learning_rate", lr).unwrap();
        for (step, a) in accs.iter().enumerate() {
            run.log_metric("val_accuracy", *a, step as i64).unwrap();
        }
        run.log_metric("val_loss", loss, 0).unwrap();
        ids.push(run.run_id());
        run.end(RunStatus::Finished).unwrap();
    }
    let cmp = tracker.compare_runs(&ids).unwrap();
    let large = &cmp.runs[2].metrics["val_accuracy"];
    assert_eq!(
        (large.last, large.min, large.max, large.count),
        (0.8, 0.6, 0.9, 3)
    );
    let table = cmp.to_string();
    assert!(
        table.contains("baseline") && table.contains("large_batch"),
        "{table}"
    );
    assert!(
        table.contains("learning_rate") && table.contains("0.8500"),
        "{table}"
    );
    assert_eq!(
        table.lines().filter(|l| l.contains("val_accuracy")).count(),
        1,
        "{table}"
    );
    let exp = backend
        .get_experiment_by_name("cmp")
        .unwrap()
        .unwrap()
        .experiment_id;
    let best = tracker
        .best_run(&exp, "val_accuracy", Direction::Maximize)
        .unwrap()
        .unwrap();
    assert_eq!(
        best.info.run_name, "lr_tuned",
        "latest value, not the max of the history"
    );
    let best = tracker
        .best_run(&exp, "val_loss", Direction::Minimize)
        .unwrap()
        .unwrap();
    assert_eq!(best.info.run_name, "lr_tuned");
    assert!(
        tracker
            .best_run(&exp, "nothing", Direction::Maximize)
            .unwrap()
            .is_none()
    );
    assert!(tracker.best_run(&exp, "bad*", Direction::Maximize).is_err());
    let err = tracker
        .compare_runs(&[mlops_tracking::RunId::new()])
        .unwrap_err();
    assert!(matches!(err, TrackingError::NotFound { .. }));
}

#[test]
fn the_tracker_works_over_a_shared_dyn_backend() {
    let backend: Arc<dyn TrackingBackend> = Arc::new(InMemoryTrackingBackend::new());
    let tracker = Tracker::from_arc(Arc::clone(&backend));
    let run = tracker.start_run("exp", CreateRun::new()).unwrap();
    let id = run.run_id();
    drop(run);
    assert_eq!(
        backend.get_run(&id).unwrap().info.status,
        RunStatus::Finished
    );
}

/// A backend whose `log_batch` fails from its third call on while `down` is set.
#[derive(Debug)]
struct Flaky {
    inner: InMemoryTrackingBackend,
    calls: std::sync::atomic::AtomicUsize,
    down: Arc<std::sync::atomic::AtomicBool>,
}

macro_rules! delegate {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        $(fn $name(&self, $($arg: $ty),*) -> $ret { self.inner.$name($($arg),*) })*
    };
}

impl TrackingBackend for Flaky {
    delegate! {
        create_experiment(name: &str, tags: &[(String, String)]) -> mlops_tracking::Result<mlops_tracking::Experiment>;
        get_experiment(id: &mlops_tracking::ExperimentId) -> mlops_tracking::Result<mlops_tracking::Experiment>;
        get_experiment_by_name(name: &str) -> mlops_tracking::Result<Option<mlops_tracking::Experiment>>;
        list_experiments(view: mlops_tracking::model::ViewType) -> mlops_tracking::Result<Vec<mlops_tracking::Experiment>>;
        delete_experiment(id: &mlops_tracking::ExperimentId) -> mlops_tracking::Result<()>;
        restore_experiment(id: &mlops_tracking::ExperimentId) -> mlops_tracking::Result<()>;
        create_run(e: &mlops_tracking::ExperimentId, opts: &CreateRun) -> mlops_tracking::Result<mlops_tracking::Run>;
        update_run(r: &mlops_tracking::RunId, u: &mlops_tracking::model::UpdateRun) -> mlops_tracking::Result<mlops_tracking::RunInfo>;
        get_run(r: &mlops_tracking::RunId) -> mlops_tracking::Result<mlops_tracking::Run>;
        delete_run(r: &mlops_tracking::RunId) -> mlops_tracking::Result<()>;
        restore_run(r: &mlops_tracking::RunId) -> mlops_tracking::Result<()>;
        search_runs(q: &mlops_tracking::SearchRuns) -> mlops_tracking::Result<mlops_tracking::Page<mlops_tracking::Run>>;
        get_metric_history(r: &mlops_tracking::RunId, k: &str, q: &mlops_tracking::model::HistoryRequest) -> mlops_tracking::Result<mlops_tracking::Page<mlops_tracking::Metric>>;
        log_artifact(r: &mlops_tracking::RunId, p: &str, d: &mut dyn std::io::Read) -> mlops_tracking::Result<mlops_tracking::model::ArtifactInfo>;
        list_artifacts(r: &mlops_tracking::RunId, p: Option<&str>) -> mlops_tracking::Result<Vec<mlops_tracking::model::ArtifactInfo>>;
        open_artifact(r: &mlops_tracking::RunId, p: &str) -> mlops_tracking::Result<Box<dyn std::io::Read + Send>>;
        log_inputs(r: &mlops_tracking::RunId, i: &[mlops_tracking::inputs::DatasetInput]) -> mlops_tracking::Result<()>;
    }
    fn log_batch(
        &self,
        r: &mlops_tracking::RunId,
        b: &mlops_tracking::Batch,
    ) -> mlops_tracking::Result<()> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if n >= 2 && self.down.load(Ordering::SeqCst) {
            return Err(TrackingError::Remote {
                url: "http://mlflow.invalid/api/2.0/mlflow/runs/log-batch".into(),
                status: Some(503),
                transient: true,
                message: format!("call {n} refused"),
            });
        }
        self.inner.log_batch(r, b)
    }
}

/// A failed flush keeps what was not written, sequential or concurrent, and the next flush
/// writes it: nothing is lost and nothing is written twice.
#[test]
fn failed_flushes_keep_the_unwritten_metrics() {
    for requests in [1, 4] {
        let inner = InMemoryTrackingBackend::new();
        let down = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let flaky = Flaky {
            inner: inner.clone(),
            calls: std::sync::atomic::AtomicUsize::new(0),
            down: Arc::clone(&down),
        };
        let tracker = Tracker::new(flaky)
            .with_buffer_capacity(10_000)
            .with_flush_requests(requests);
        let mut run = tracker.start_run("exp", CreateRun::new()).unwrap();
        for step in 0..4_500 {
            run.log_metric("loss", 0.5, step).unwrap();
        }
        let err = run.flush().unwrap_err();
        assert!(
            matches!(
                err,
                TrackingError::Remote {
                    status: Some(503),
                    ..
                }
            ),
            "{err}"
        );
        let stored = inner.metric_history(&run.run_id(), "loss").unwrap().len();
        assert_eq!(stored + run.buffered(), 4_500, "{requests} requests");
        assert!(
            run.buffered() >= 500,
            "{requests} requests: {}",
            run.buffered()
        );
        // Still down: the next flush fails too and keeps everything it did not write.
        let before = run.buffered();
        run.flush().unwrap_err();
        assert_eq!(run.buffered(), before);
        down.store(false, Ordering::SeqCst);
        run.flush().unwrap();
        assert_eq!(run.buffered(), 0);
        let mut steps: Vec<i64> = inner
            .metric_history(&run.run_id(), "loss")
            .unwrap()
            .iter()
            .map(|m| m.step)
            .collect();
        if requests == 1 {
            assert!(steps.windows(2).all(|w| w[0] < w[1]), "logging order kept");
        }
        steps.sort_unstable();
        assert_eq!(steps, (0..4_500).collect::<Vec<_>>(), "{requests} requests");
    }
}
