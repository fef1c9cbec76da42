//! Cases on experiments, runs, params, run updates, lifecycle and concurrent writers.

use super::{Capabilities, Subject, exp, is_conflict, is_not_found, new_run, reopen};
use crate::backend::{TrackingBackend, TrackingBackendExt};
use crate::error::TrackingError;
use crate::ids::{ExperimentId, RunId};
use crate::model::{
    Batch, CreateRun, HistoryRequest, LifecycleStage, RunStatus, SearchRuns, TAG_PARENT_RUN_ID,
    TAG_RUN_NAME, TAG_USER, UpdateRun, ViewType,
};

/// The store starts with experiment `"0"` named `Default`.
pub fn default_experiment_exists(subject: &Subject<dyn TrackingBackend>, _caps: &Capabilities) {
    let b: &dyn TrackingBackend = &*subject.store;
    let d = b.get_experiment_by_name("Default").unwrap().unwrap();
    assert_eq!(d.experiment_id.as_str(), "0");
    assert_eq!(b.list_experiments(ViewType::All).unwrap().len(), 1);
    assert!(is_conflict(
        &b.delete_experiment(&d.experiment_id).unwrap_err()
    ));
    let b = reopen(subject);
    assert_eq!(b.list_experiments(ViewType::All).unwrap().len(), 1);
}

/// Create, get, get by name, list, delete, restore; names are unique, deleted ones included.
pub fn experiment_lifecycle(subject: &Subject<dyn TrackingBackend>, _caps: &Capabilities) {
    let b: &dyn TrackingBackend = &*subject.store;
    let tags = vec![("team".to_owned(), "vision".to_owned())];
    let e = b
        .create_experiment("image_classification_v1", &tags)
        .unwrap();
    assert_eq!(e.lifecycle_stage, LifecycleStage::Active);
    assert_eq!(e.tags.get("team").map(String::as_str), Some("vision"));
    assert_eq!(b.get_experiment(&e.experiment_id).unwrap(), e);
    assert_eq!(
        b.get_experiment_by_name("image_classification_v1").unwrap(),
        Some(e.clone())
    );
    assert_eq!(b.get_experiment_by_name("nope").unwrap(), None);
    let err = b
        .create_experiment("image_classification_v1", &[])
        .unwrap_err();
    assert!(matches!(err, TrackingError::AlreadyExists { .. }), "{err}");
    assert!(err.to_string().contains("image_classification_v1"), "{err}");
    assert!(b.create_experiment("", &[]).is_err());
    let e2 = exp(b, "second");
    assert_ne!(e2, e.experiment_id);
    b.delete_experiment(&e2).unwrap();
    assert!(is_conflict(&b.delete_experiment(&e2).unwrap_err()));
    let active: Vec<_> = b
        .list_experiments(ViewType::ActiveOnly)
        .unwrap()
        .into_iter()
        .map(|x| x.name)
        .collect();
    assert_eq!(active, ["Default", "image_classification_v1"]);
    let deleted = b.list_experiments(ViewType::DeletedOnly).unwrap();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].lifecycle_stage, LifecycleStage::Deleted);
    assert!(matches!(
        b.create_experiment("second", &[]).unwrap_err(),
        TrackingError::AlreadyExists { .. }
    ));
    let err = b.create_run(&e2, &CreateRun::new()).unwrap_err();
    assert!(
        is_conflict(&err) && err.to_string().contains(e2.as_str()),
        "{err}"
    );
    let b = reopen(subject);
    assert_eq!(b.get_experiment(&e.experiment_id).unwrap(), e);
    assert_eq!(b.list_experiments(ViewType::All).unwrap().len(), 3);
    b.restore_experiment(&e2).unwrap();
    assert!(is_conflict(&b.restore_experiment(&e2).unwrap_err()));
    let b = reopen(subject);
    assert_eq!(
        b.get_experiment(&e2).unwrap().lifecycle_stage,
        LifecycleStage::Active
    );
    let e3 = exp(&*b, "third");
    assert!(![e.experiment_id.clone(), e2.clone()].contains(&e3));
}

/// Runs get a random 32-hex id, MLflow's system tags, status `RUNNING`, and survive reopening.
pub fn runs_create_and_get(subject: &Subject<dyn TrackingBackend>, _caps: &Capabilities) {
    let b: &dyn TrackingBackend = &*subject.store;
    let e = exp(b, "exp");
    let parent = b
        .create_run(
            &e,
            &CreateRun::new()
                .run_name("baseline")
                .start_time(42)
                .tag("env", "dev")
                .user("alice"),
        )
        .unwrap();
    assert_eq!(parent.info.run_id.as_str().len(), 32);
    assert_eq!(parent.info.status, RunStatus::Running);
    assert_eq!(parent.info.start_time, 42);
    assert_eq!(parent.info.end_time, None);
    assert_eq!(parent.info.run_name, "baseline");
    assert_eq!(parent.info.experiment_id, e);
    assert_eq!(parent.data.tags.get(TAG_RUN_NAME).unwrap(), "baseline");
    assert_eq!(parent.data.tags.get(TAG_USER).unwrap(), "alice");
    assert_eq!(parent.data.tags.get("env").unwrap(), "dev");
    let child = b
        .create_run(&e, &CreateRun::new().parent(parent.info.run_id))
        .unwrap();
    assert_eq!(child.parent_run_id(), Some(parent.info.run_id));
    assert_eq!(
        child.data.tags.get(TAG_PARENT_RUN_ID).unwrap(),
        parent.info.run_id.as_str()
    );
    assert!(!child.info.run_name.is_empty());
    // Same name, same start time: still distinct ids.
    let twin = b
        .create_run(&e, &CreateRun::new().run_name("baseline").start_time(42))
        .unwrap();
    assert_ne!(twin.info.run_id, parent.info.run_id);
    let err = b
        .create_run(&e, &CreateRun::new().parent(RunId::new()))
        .unwrap_err();
    assert!(is_not_found(&err), "{err}");
    let err = b
        .create_run(&"999".parse().unwrap(), &CreateRun::new())
        .unwrap_err();
    assert!(
        is_not_found(&err) && err.to_string().contains("999"),
        "{err}"
    );
    assert!(
        b.create_run(&e, &CreateRun::new().tag("bad key*", "v"))
            .is_err()
    );
    let b = reopen(subject);
    assert_eq!(b.get_run(&parent.info.run_id).unwrap(), parent);
    assert_eq!(b.get_run(&child.info.run_id).unwrap(), child);
}

/// Logging a param again with the same value is fine; another value is a `Conflict` naming the
/// key and both values, and nothing of that batch is stored.
pub fn params_are_write_once(subject: &Subject<dyn TrackingBackend>, _caps: &Capabilities) {
    let b: &dyn TrackingBackend = &*subject.store;
    let e = exp(b, "exp");
    let r = new_run(b, &e, "r");
    b.log_param(&r, "lr", "0.01").unwrap();
    b.log_param(&r, "lr", "0.01").unwrap();
    let err = b
        .log_batch(
            &r,
            &Batch::new()
                .param("lr", "0.1")
                .metric("acc", 0.5, 1, 0)
                .tag("t", "v"),
        )
        .unwrap_err();
    assert!(is_conflict(&err), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("\"lr\"") && msg.contains("0.01") && msg.contains("0.1"),
        "{msg}"
    );
    let got = b.get_run(&r).unwrap();
    assert_eq!(got.data.params.get("lr").unwrap(), "0.01");
    assert!(got.data.metrics.is_empty());
    assert!(!got.data.tags.contains_key("t"));
    let b = reopen(subject);
    let err = b.log_param(&r, "lr", "0.2").unwrap_err();
    assert!(is_conflict(&err), "{err}");
    assert_eq!(b.get_run(&r).unwrap().data.params.len(), 1);
}

/// Status, end time and name change; the `mlflow.runName` tag follows the name.
pub fn update_run(subject: &Subject<dyn TrackingBackend>, _caps: &Capabilities) {
    let b: &dyn TrackingBackend = &*subject.store;
    let e = exp(b, "exp");
    let r = new_run(b, &e, "before");
    let info = b
        .update_run(
            &r,
            &UpdateRun::new()
                .status(RunStatus::Finished)
                .end_time(5_000)
                .run_name("after"),
        )
        .unwrap();
    assert_eq!(info.status, RunStatus::Finished);
    assert_eq!(info.end_time, Some(5_000));
    assert_eq!(info.run_name, "after");
    let check = |b: &dyn TrackingBackend| {
        let got = b.get_run(&r).unwrap();
        assert_eq!(got.info, info);
        assert_eq!(got.data.tags.get(TAG_RUN_NAME).unwrap(), "after");
    };
    check(b);
    let b = reopen(subject);
    check(&*b);
    let err = b.update_run(&RunId::new(), &UpdateRun::new()).unwrap_err();
    assert!(is_not_found(&err), "{err}");
}

/// A deleted run refuses writes with a `Conflict` naming it, until restored.
pub fn deleted_runs_reject_writes(subject: &Subject<dyn TrackingBackend>, _caps: &Capabilities) {
    let b: &dyn TrackingBackend = &*subject.store;
    let e = exp(b, "exp");
    let r = new_run(b, &e, "r");
    b.delete_run(&r).unwrap();
    assert!(is_conflict(&b.delete_run(&r).unwrap_err()));
    let err = b.log_metric(&r, "m", 1.0, 1, 1).unwrap_err();
    assert!(
        is_conflict(&err) && err.to_string().contains(r.as_str()),
        "{err}"
    );
    assert!(is_conflict(
        &b.update_run(&r, &UpdateRun::new().status(RunStatus::Killed))
            .unwrap_err()
    ));
    assert!(is_conflict(
        &b.log_artifact(&r, "a.txt", &mut &b"x"[..]).unwrap_err()
    ));
    let s = SearchRuns::new([e.clone()]);
    assert!(b.search_runs(&s).unwrap().items.is_empty());
    assert_eq!(
        b.search_runs(&s.clone().view(ViewType::DeletedOnly))
            .unwrap()
            .items
            .len(),
        1
    );
    let b = reopen(subject);
    assert_eq!(
        b.get_run(&r).unwrap().info.lifecycle_stage,
        LifecycleStage::Deleted
    );
    b.restore_run(&r).unwrap();
    b.log_metric(&r, "m", 1.0, 1, 1).unwrap();
    assert_eq!(b.search_runs(&s).unwrap().items.len(), 1);
}

/// As in MLflow, a finished run still accepts metrics, params and tags (evaluation after
/// training).
pub fn finished_runs_accept_writes(subject: &Subject<dyn TrackingBackend>, _caps: &Capabilities) {
    let b: &dyn TrackingBackend = &*subject.store;
    let e = exp(b, "exp");
    let r = new_run(b, &e, "r");
    b.update_run(
        &r,
        &UpdateRun::new().status(RunStatus::Finished).end_time(2),
    )
    .unwrap();
    b.log_batch(
        &r,
        &Batch::new()
            .metric("test_acc", 0.9, 3, 0)
            .param("eval", "yes"),
    )
    .unwrap();
    let got = b.get_run(&r).unwrap();
    assert_eq!(got.info.status, RunStatus::Finished);
    assert_eq!(got.metric("test_acc"), Some(0.9));
}

/// Unknown run and experiment ids give `NotFound` naming the id.
pub fn unknown_ids_are_not_found(subject: &Subject<dyn TrackingBackend>, _caps: &Capabilities) {
    let b: &dyn TrackingBackend = &*subject.store;
    let ghost = RunId::new();
    let errs = [
        b.get_run(&ghost).unwrap_err(),
        b.log_metric(&ghost, "m", 1.0, 1, 1).unwrap_err(),
        b.get_metric_history(&ghost, "m", &HistoryRequest::new())
            .unwrap_err(),
        b.delete_run(&ghost).unwrap_err(),
        b.list_artifacts(&ghost, None).unwrap_err(),
        b.open_artifact(&ghost, "a").err().unwrap(),
    ];
    for err in errs {
        assert!(is_not_found(&err), "{err}");
        assert!(err.to_string().contains(ghost.as_str()), "{err}");
    }
    let eid: ExperimentId = "4242".parse().unwrap();
    for err in [
        b.get_experiment(&eid).unwrap_err(),
        b.delete_experiment(&eid).unwrap_err(),
        b.search_runs(&SearchRuns::new([eid.clone()])).unwrap_err(),
    ] {
        assert!(
            is_not_found(&err) && err.to_string().contains("4242"),
            "{err}"
        );
    }
}

/// Threads sharing one backend log concurrently; nothing is lost.
pub fn concurrent_writers(subject: &Subject<dyn TrackingBackend>, _caps: &Capabilities) {
    let b: &dyn TrackingBackend = &*subject.store;
    let e = exp(b, "exp");
    let r = new_run(b, &e, "r");
    std::thread::scope(|s| {
        for t in 0..4i64 {
            let b = &b;
            s.spawn(move || {
                for i in 0..25i64 {
                    let batch = Batch::new()
                        .metric("shared", 1.0, i, t * 100 + i)
                        .metric(format!("own{t}"), 1.0, i, i)
                        .param(format!("p{t}"), "v");
                    b.log_batch(&r, &batch).unwrap();
                }
            });
        }
    });
    let b = reopen(subject);
    assert_eq!(b.metric_history(&r, "shared").unwrap().len(), 100);
    let got = b.get_run(&r).unwrap();
    assert_eq!(got.data.params.len(), 4);
    assert_eq!(got.metric("shared"), Some(1.0));
    assert_eq!(got.data.metrics.get("shared").unwrap().step, 324);
}
