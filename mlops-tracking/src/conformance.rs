//! The shared conformance suite: every [`TrackingBackend`] must pass it.
//!
//! The contract is the same in every mlops crate:
//! - each case is a plain function `fn(&Subject<dyn TrackingBackend>, &Capabilities)`, listed
//!   by name in [`CASES`];
//! - a [`Subject`] holds the backend under test (`store`), optionally a way to `reopen` the
//!   same durable state (a fresh handle on the same directory or server; cases that test
//!   close and reopen use it when present, and the store itself otherwise), and a `guard`
//!   that keeps what the store needs alive (a temp dir);
//! - [`Capabilities`] declares where a backend's semantics legitimately differ; each `false`
//!   adapts only the assertions it names;
//! - [`conformance_tests!`](crate::conformance_tests) stamps one `#[test]` per case from a
//!   factory (`impl Fn() -> Subject<dyn TrackingBackend>`, called once per test):
//!   `conformance_tests!(<factory>)` or `conformance_tests!(caps = <expr>; <factory>)`, with
//!   optional leading attributes that go on every stamped test (`#[ignore = "needs mlflow"]`).
//!
//! Third-party backends enable the `conformance` feature and stamp the suite in their tests:
//!
//! ```
//! use mlops_tracking::conformance::Subject;
//! use mlops_tracking::{FileTrackingBackend, TrackingBackend};
//!
//! // One #[test] per case (in a test file; here in a doc test they are only compiled).
//! mlops_tracking::conformance_tests!(|| {
//!     let dir = tempfile::tempdir().unwrap();
//!     let path = dir.path().to_owned();
//!     let open = move || {
//!         Box::new(FileTrackingBackend::open(&path).unwrap().with_fsync(false))
//!             as Box<dyn TrackingBackend>
//!     };
//!     Subject::new(open()).with_reopen(open).with_guard(dir)
//! });
//! # fn main() {}
//! ```
//!
//! A runner that loops instead of stamping (this one runs every case on the in-memory backend):
//!
//! ```
//! use mlops_tracking::conformance::{CASES, Capabilities, Subject};
//! use mlops_tracking::InMemoryTrackingBackend;
//!
//! for (name, case) in CASES {
//!     let subject = Subject::new(Box::new(InMemoryTrackingBackend::new()));
//!     case(&subject, &Capabilities::ALL);
//!     # let _ = name;
//! }
//! ```
#![allow(clippy::missing_panics_doc, clippy::unwrap_used)]

use std::any::Any;
use std::collections::BTreeSet;

use crate::backend::{TrackingBackend, TrackingBackendExt};
use crate::error::TrackingError;
use crate::ids::{ExperimentId, RunId};
use crate::model::{
    Batch, CreateRun, HistoryRequest, LifecycleStage, Metric, RunStatus, SearchRuns,
    TAG_PARENT_RUN_ID, TAG_RUN_NAME, TAG_USER, UpdateRun, ViewType,
};

/// The backend under test, with what a case needs around it.
pub struct Subject<S: ?Sized> {
    /// The backend under test.
    pub store: Box<S>,
    /// Opens the same durable state anew (a fresh handle on the same directory or server), for
    /// backends that have one; cases that test close and reopen use it when present.
    pub reopen: Option<Box<dyn Fn() -> Box<S>>>,
    /// Whatever must live as long as the store (a temp dir).
    pub guard: Box<dyn Any>,
}

impl Subject<dyn TrackingBackend> {
    /// A subject without reopen and without guard (`Subject::new(Box::new(backend))`).
    #[must_use]
    pub fn new(store: Box<dyn TrackingBackend>) -> Self {
        Self {
            store,
            reopen: None,
            guard: Box::new(()),
        }
    }

    /// Reopen the same durable state with `f`.
    #[must_use]
    pub fn with_reopen(mut self, f: impl Fn() -> Box<dyn TrackingBackend> + 'static) -> Self {
        self.reopen = Some(Box::new(f));
        self
    }

    /// Keep `guard` alive as long as the subject.
    #[must_use]
    pub fn with_guard(mut self, guard: impl Any) -> Self {
        self.guard = Box::new(guard);
        self
    }
}

impl<S: ?Sized> std::fmt::Debug for Subject<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subject")
            .field("reopen", &self.reopen.is_some())
            .finish_non_exhaustive()
    }
}

/// The store as a case sees it after close and reopen.
enum Reopened<'a> {
    Same(&'a dyn TrackingBackend),
    Fresh(Box<dyn TrackingBackend>),
}

impl std::ops::Deref for Reopened<'_> {
    type Target = dyn TrackingBackend;
    fn deref(&self) -> &Self::Target {
        match self {
            Self::Same(b) => *b,
            Self::Fresh(b) => &**b,
        }
    }
}

/// A fresh handle on the subject's durable state, or the store itself when it has none.
fn reopen(subject: &Subject<dyn TrackingBackend>) -> Reopened<'_> {
    match &subject.reopen {
        Some(f) => Reopened::Fresh(f()),
        None => Reopened::Same(&*subject.store),
    }
}

/// One conformance case.
pub type Case = fn(&Subject<dyn TrackingBackend>, &Capabilities);

/// Where a backend's semantics legitimately differ from the embedded backends': each `false`
/// adapts only the assertions it names. The default (everything `true`) is what the in-memory
/// and file backends run; a backend over a remote engine (MLflow) documents each difference it
/// declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// `get_metric_history` returns values in logging order. When `false` (MLflow), the
    /// history must be sorted by `(timestamp, step, value)` instead.
    pub history_in_logging_order: bool,
    /// Logging an identical `(key, value, timestamp, step)` twice keeps two history entries.
    /// When `false` (MLflow), identical values are stored once.
    pub duplicate_metrics_kept: bool,
    /// ±infinity is stored as such. When `false` (MLflow's SQL store), it is stored as
    /// ±[`f64::MAX`].
    pub infinities_kept: bool,
    /// `-0.0` keeps its sign. When `false` (MLflow's SQL store), it comes back as `0.0`.
    pub negative_zero_kept: bool,
    /// Artifact paths may hold any character but control characters (`h#ash.txt`,
    /// `p%20q.txt`). When `false` (MLflow: its server refuses `#` and decodes `%XX` escapes),
    /// such paths must be refused with `InvalidArgument`; the other odd characters still work.
    pub artifact_paths_any_character: bool,
    /// Filters accept `IN` / `NOT IN` on params and tags. When `false` (MLflow: only on string
    /// attributes), such a filter must be refused with an error.
    pub filter_in_on_params_and_tags: bool,
}

impl Default for Capabilities {
    fn default() -> Self {
        Self::ALL
    }
}

impl Capabilities {
    /// Everything the embedded backends do.
    pub const ALL: Self = Self {
        history_in_logging_order: true,
        duplicate_metrics_kept: true,
        infinities_kept: true,
        negative_zero_kept: true,
        artifact_paths_any_character: true,
        filter_in_on_params_and_tags: true,
    };

    /// An MLflow tracking server's semantics.
    pub const MLFLOW: Self = Self {
        history_in_logging_order: false,
        duplicate_metrics_kept: false,
        infinities_kept: false,
        negative_zero_kept: false,
        artifact_paths_any_character: false,
        filter_in_on_params_and_tags: false,
    };

    /// Set [`history_in_logging_order`](Self::history_in_logging_order).
    #[must_use]
    pub const fn history_in_logging_order(mut self, on: bool) -> Self {
        self.history_in_logging_order = on;
        self
    }

    /// Set [`duplicate_metrics_kept`](Self::duplicate_metrics_kept).
    #[must_use]
    pub const fn duplicate_metrics_kept(mut self, on: bool) -> Self {
        self.duplicate_metrics_kept = on;
        self
    }

    /// Set [`infinities_kept`](Self::infinities_kept).
    #[must_use]
    pub const fn infinities_kept(mut self, on: bool) -> Self {
        self.infinities_kept = on;
        self
    }

    /// Set [`negative_zero_kept`](Self::negative_zero_kept).
    #[must_use]
    pub const fn negative_zero_kept(mut self, on: bool) -> Self {
        self.negative_zero_kept = on;
        self
    }

    /// Set [`artifact_paths_any_character`](Self::artifact_paths_any_character).
    #[must_use]
    pub const fn artifact_paths_any_character(mut self, on: bool) -> Self {
        self.artifact_paths_any_character = on;
        self
    }

    /// Set [`filter_in_on_params_and_tags`](Self::filter_in_on_params_and_tags).
    #[must_use]
    pub const fn filter_in_on_params_and_tags(mut self, on: bool) -> Self {
        self.filter_in_on_params_and_tags = on;
        self
    }
}

/// Every case, by name, for the stamping macro and for runners that loop.
pub const CASES: &[(&str, Case)] = &[
    ("default_experiment_exists", default_experiment_exists),
    ("experiment_lifecycle", experiment_lifecycle),
    ("runs_create_and_get", runs_create_and_get),
    ("params_are_write_once", params_are_write_once),
    ("metrics_latest_and_history", metrics_latest_and_history),
    ("special_values_round_trip", special_values_round_trip),
    ("history_paging", history_paging),
    (
        "invalid_batches_store_nothing",
        invalid_batches_store_nothing,
    ),
    ("unclean_keys_are_rejected", unclean_keys_are_rejected),
    ("update_run", update_run),
    ("deleted_runs_reject_writes", deleted_runs_reject_writes),
    ("finished_runs_accept_writes", finished_runs_accept_writes),
    ("unknown_ids_are_not_found", unknown_ids_are_not_found),
    ("search_filters", search_filters),
    ("search_order_and_paging", search_order_and_paging),
    ("artifacts", artifacts),
    (
        "artifact_paths_with_odd_characters",
        artifact_paths_with_odd_characters,
    ),
    ("concurrent_writers", concurrent_writers),
];

fn exp(b: &dyn TrackingBackend, name: &str) -> ExperimentId {
    b.create_experiment(name, &[]).unwrap().experiment_id
}

fn run(b: &dyn TrackingBackend, e: &ExperimentId, name: &str) -> RunId {
    b.create_run(e, &CreateRun::new().run_name(name).start_time(1_000))
        .unwrap()
        .info
        .run_id
}

fn is_not_found(e: &TrackingError) -> bool {
    matches!(e, TrackingError::NotFound { .. })
}

fn is_conflict(e: &TrackingError) -> bool {
    matches!(e, TrackingError::Conflict(_))
}

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
    let r = run(b, &e, "r");
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

/// The latest value is the greatest `(step, timestamp, value)`; the history keeps every value in
/// logging order.
pub fn metrics_latest_and_history(subject: &Subject<dyn TrackingBackend>, caps: &Capabilities) {
    let b: &dyn TrackingBackend = &*subject.store;
    let e = exp(b, "exp");
    let r = run(b, &e, "r");
    let values = [
        Metric::new("loss", 0.9, 100, 0),
        Metric::new("loss", 0.5, 300, 2),
        Metric::new("loss", 0.7, 200, 1),
        Metric::new("loss", 0.4, 250, 2),
        Metric::new("loss", 0.45, 250, 2),
        Metric::new("acc", 0.1, 100, 0),
    ];
    for m in &values {
        b.log_metric(&r, &m.key, m.value, m.timestamp, m.step)
            .unwrap();
    }
    let check = |b: &dyn TrackingBackend| {
        let got = b.get_run(&r).unwrap();
        let loss = got.data.metrics.get("loss").unwrap();
        assert!(loss.same_as(&Metric::new("loss", 0.5, 300, 2)), "{loss:?}");
        assert_eq!(got.metric("acc"), Some(0.1));
        let hist = b.metric_history(&r, "loss").unwrap();
        assert_eq!(hist.len(), 5);
        let mut expected: Vec<&Metric> = values.iter().filter(|m| m.key == "loss").collect();
        if !caps.history_in_logging_order {
            expected.sort_by(|a, b| {
                (a.timestamp, a.step)
                    .cmp(&(b.timestamp, b.step))
                    .then(a.value.total_cmp(&b.value))
            });
        }
        for (h, v) in hist.iter().zip(expected) {
            assert!(h.same_as(v), "{h:?} != {v:?}");
        }
        assert!(b.metric_history(&r, "missing").unwrap().is_empty());
    };
    check(b);
    let b = reopen(subject);
    check(&*b);
}

/// NaN and ±infinity are stored and returned as such.
pub fn special_values_round_trip(subject: &Subject<dyn TrackingBackend>, caps: &Capabilities) {
    let b: &dyn TrackingBackend = &*subject.store;
    let e = exp(b, "exp");
    let r = run(b, &e, "r");
    let batch = Batch::new()
        .metric("x", f64::NAN, 1, 0)
        .metric("x", f64::INFINITY, 1, 1)
        .metric("x", f64::NEG_INFINITY, 1, 2)
        .metric("x", -0.0, 1, 3)
        .metric("x", 0.1 + 0.2, 1, 4)
        .metric("y", f64::NAN, 1, 0);
    b.log_batch(&r, &batch).unwrap();
    let check = |b: &dyn TrackingBackend| {
        let hist = b.metric_history(&r, "x").unwrap();
        assert_eq!(hist.len(), 5);
        assert!(hist[0].value.is_nan());
        let (inf, neg_inf) = if caps.infinities_kept {
            (f64::INFINITY, f64::NEG_INFINITY)
        } else {
            (f64::MAX, -f64::MAX)
        };
        assert_eq!(hist[1].value, inf);
        assert_eq!(hist[2].value, neg_inf);
        let zero = if caps.negative_zero_kept {
            -0.0f64
        } else {
            0.0
        };
        assert_eq!(hist[3].value.to_bits(), zero.to_bits());
        assert_eq!(hist[4].value.to_bits(), (0.1f64 + 0.2).to_bits());
        assert!(b.get_run(&r).unwrap().metric("y").unwrap().is_nan());
    };
    check(b);
    let b = reopen(subject);
    check(&*b);
}

/// History pages cover the history exactly once; bad tokens are rejected.
pub fn history_paging(subject: &Subject<dyn TrackingBackend>, _caps: &Capabilities) {
    let b: &dyn TrackingBackend = &*subject.store;
    let e = exp(b, "exp");
    let r = run(b, &e, "r");
    let mut batch = Batch::new();
    for i in 0..25 {
        batch = batch
            .metric("m", f64::from(i), 10, i64::from(i))
            .metric("other", 0.0, 10, 0);
    }
    b.log_batch(&r, &batch).unwrap();
    let mut req = HistoryRequest::new().max_results(10);
    let mut all = Vec::new();
    let mut pages = 0;
    loop {
        let page = b.get_metric_history(&r, "m", &req).unwrap();
        pages += 1;
        assert!(page.items.len() <= 10);
        all.extend(page.items);
        match page.next_page_token {
            Some(t) => req = req.page_token(Some(t)),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let steps: Vec<i64> = all.iter().map(|m| m.step).collect();
    assert_eq!(steps, (0..25).collect::<Vec<_>>());
    let err = b
        .get_metric_history(
            &r,
            "m",
            &HistoryRequest::new().page_token(Some("garbage".into())),
        )
        .unwrap_err();
    assert!(
        matches!(err, TrackingError::InvalidArgument { .. }),
        "{err}"
    );
}

/// Bad keys, over-long values and over-full batches are rejected whole, naming the problem.
pub fn invalid_batches_store_nothing(subject: &Subject<dyn TrackingBackend>, caps: &Capabilities) {
    let b: &dyn TrackingBackend = &*subject.store;
    let e = exp(b, "exp");
    let r = run(b, &e, "r");
    let cases: Vec<(Batch, &str)> = vec![
        (
            Batch::new()
                .metric("ok", 1.0, 1, 1)
                .metric("bad*key", 1.0, 1, 1),
            "bad*key",
        ),
        (
            Batch::new()
                .metric("ok", 1.0, 1, 1)
                .metric("../up", 1.0, 1, 1),
            "../up",
        ),
        (
            Batch::new()
                .metric("ok", 1.0, 1, 1)
                .param("p", "x".repeat(6001)),
            "\"p\"",
        ),
        (
            Batch::new()
                .metric("ok", 1.0, 1, 1)
                .tag("t", "x".repeat(8001)),
            "\"t\"",
        ),
        (
            Batch::new()
                .metric("ok", 1.0, 1, 1)
                .param("k".repeat(251), "v"),
            "250",
        ),
        (
            Batch {
                metrics: vec![Metric::new("ok", 1.0, 1, 1); 1001],
                ..Batch::default()
            },
            "1001",
        ),
        (
            Batch {
                params: (0..101)
                    .map(|i| (format!("p{i}"), "v".to_owned()))
                    .collect(),
                ..Batch::default()
            },
            "101",
        ),
        (
            Batch {
                tags: (0..101)
                    .map(|i| (format!("t{i}"), "v".to_owned()))
                    .collect(),
                ..Batch::default()
            },
            "101",
        ),
    ];
    for (batch, needle) in cases {
        let err = b.log_batch(&r, &batch).unwrap_err();
        assert!(
            matches!(err, TrackingError::InvalidArgument { .. }),
            "{err}"
        );
        assert!(err.to_string().contains(needle), "{err} lacks {needle}");
    }
    let exact = Batch {
        metrics: vec![Metric::new("ok", 1.0, 1, 1); 1000],
        params: (0..100)
            .map(|i| (format!("p{i}"), "v".repeat(6000)))
            .collect(),
        tags: (0..100)
            .map(|i| (format!("t{i}"), "v".repeat(8000)))
            .collect(),
    };
    let before = b.get_run(&r).unwrap();
    assert!(before.data.metrics.is_empty() && before.data.params.is_empty());
    b.log_batch(&r, &exact).unwrap();
    let b = reopen(subject);
    let got = b.get_run(&r).unwrap();
    assert_eq!(got.data.params.len(), 100);
    let kept = if caps.duplicate_metrics_kept { 1000 } else { 1 };
    assert_eq!(b.metric_history(&r, "ok").unwrap().len(), kept);
}

/// Keys that are not clean relative paths (MLflow's rule: normalised, the key must stay itself,
/// inside the root and not start with `..`) are `InvalidArgument` naming the key, as metric,
/// param or tag keys, at run creation too; nothing of the batch is stored.
pub fn unclean_keys_are_rejected(subject: &Subject<dyn TrackingBackend>, _caps: &Capabilities) {
    let b: &dyn TrackingBackend = &*subject.store;
    let e = exp(b, "exp");
    let r = run(b, &e, "r");
    for key in ["..foo", "a/../b", "./a", "a//b", "a/", "..", "/abs"] {
        let batches = [
            Batch::new().metric("ok", 1.0, 1, 0).metric(key, 1.0, 1, 0),
            Batch::new().metric("ok", 1.0, 1, 0).param(key, "v"),
            Batch::new().metric("ok", 1.0, 1, 0).tag(key, "v"),
        ];
        for batch in batches {
            let err = b.log_batch(&r, &batch).unwrap_err();
            assert!(
                matches!(err, TrackingError::InvalidArgument { .. }),
                "{key}: {err}"
            );
            assert!(
                err.to_string().contains(&format!("{key:?}")),
                "{key}: {err}"
            );
        }
        let err = b
            .create_run(&e, &CreateRun::new().tag(key, "v"))
            .unwrap_err();
        assert!(
            matches!(err, TrackingError::InvalidArgument { .. }),
            "{key}: {err}"
        );
    }
    let got = b.get_run(&r).unwrap();
    assert!(
        got.data.metrics.is_empty() && got.data.params.is_empty(),
        "{got:?}"
    );
    assert!(b.metric_history(&r, "ok").unwrap().is_empty());
    let runs = b.search_all_runs(&SearchRuns::new([e.clone()])).unwrap();
    assert_eq!(runs.len(), 1, "no run was created");
    // A key that only looks odd is fine.
    b.log_batch(&r, &Batch::new().metric("a/..b", 1.0, 1, 0))
        .unwrap();
}

/// Status, end time and name change; the `mlflow.runName` tag follows the name.
pub fn update_run(subject: &Subject<dyn TrackingBackend>, _caps: &Capabilities) {
    let b: &dyn TrackingBackend = &*subject.store;
    let e = exp(b, "exp");
    let r = run(b, &e, "before");
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
    let r = run(b, &e, "r");
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
    let r = run(b, &e, "r");
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

fn seed_search(b: &dyn TrackingBackend) -> (ExperimentId, Vec<RunId>) {
    let e = exp(b, "search");
    let mut ids = Vec::new();
    let specs = [
        ("a", "Adam", 0.95, "dev", RunStatus::Finished),
        ("b", "SGD", 0.80, "prod", RunStatus::Finished),
        ("c", "Adam", 0.91, "prod", RunStatus::Failed),
        ("d", "adamw", 0.99, "dev", RunStatus::Running),
    ];
    for (i, (name, opt, acc, env, status)) in specs.into_iter().enumerate() {
        let r = b
            .create_run(
                &e,
                &CreateRun::new()
                    .run_name(name)
                    .start_time(1_000 + i64::try_from(i).unwrap())
                    .tag("env", env),
            )
            .unwrap()
            .info
            .run_id;
        b.log_batch(
            &r,
            &Batch::new()
                .param("optimizer", opt)
                .metric("acc", acc, 5, 1)
                .metric("acc", 0.1, 4, 0),
        )
        .unwrap();
        b.update_run(&r, &UpdateRun::new().status(status)).unwrap();
        ids.push(r);
    }
    // A run without metrics or params.
    let bare = b
        .create_run(&e, &CreateRun::new().run_name("e").start_time(2_000))
        .unwrap()
        .info
        .run_id;
    ids.push(bare);
    (e, ids)
}

fn names(runs: &[crate::model::Run]) -> Vec<String> {
    runs.iter().map(|r| r.info.run_name.clone()).collect()
}

/// MLflow's filter syntax over metrics, params, tags and attributes.
pub fn search_filters(subject: &Subject<dyn TrackingBackend>, caps: &Capabilities) {
    let b: &dyn TrackingBackend = &*subject.store;
    let (e, _) = seed_search(b);
    let s = |filter: &str| -> BTreeSet<String> {
        let req = SearchRuns::new([e.clone()]).filter(filter);
        names(&b.search_all_runs(&req).unwrap())
            .into_iter()
            .collect()
    };
    let set = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<BTreeSet<_>>();
    assert_eq!(s(""), set(&["a", "b", "c", "d", "e"]));
    assert_eq!(s("metrics.acc > 0.9"), set(&["a", "c", "d"]));
    assert_eq!(
        s(
            "metrics.acc > 0.9 and params.optimizer = 'Adam' and tags.env != 'prod' and attributes.status = 'FINISHED'"
        ),
        set(&["a"])
    );
    assert_eq!(s("params.optimizer LIKE 'Adam%'"), set(&["a", "c"]));
    assert_eq!(s("params.optimizer ILIKE 'adam%'"), set(&["a", "c", "d"]));
    let in_on_tags = [
        ("tags.env IN ('prod', 'staging')", set(&["b", "c"])),
        ("tags.mlflow.runName IN ('a', 'e')", set(&["a", "e"])),
    ];
    for (filter, want) in in_on_tags {
        if caps.filter_in_on_params_and_tags {
            assert_eq!(s(filter), want, "{filter}");
        } else {
            // Refused with an error, never answered wrongly.
            let err = b
                .search_runs(&SearchRuns::new([e.clone()]).filter(filter))
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    TrackingError::InvalidArgument { .. } | TrackingError::InvalidFilter { .. }
                ),
                "{filter}: {err}"
            );
        }
    }
    assert_eq!(s("params.optimizer != 'SGD'"), set(&["a", "c", "d"]));
    assert_eq!(s("attributes.run_name = 'e'"), set(&["e"]));
    assert_eq!(s("attributes.start_time >= 1003"), set(&["d", "e"]));
    assert_eq!(s("attributes.status != 'RUNNING'"), set(&["a", "b", "c"]));
    let err = b
        .search_runs(&SearchRuns::new([e.clone()]).filter("metrics.acc >> 1"))
        .unwrap_err();
    assert!(
        matches!(err, TrackingError::InvalidFilter { position: 13, .. }),
        "{err}"
    );
    let b = reopen(subject);
    let req = SearchRuns::new([e.clone()]).filter("metrics.acc < 0.9");
    assert_eq!(names(&b.search_all_runs(&req).unwrap()), ["b"]);
}

/// `order_by` (missing values last), the default order, page tokens and page-size limits.
pub fn search_order_and_paging(subject: &Subject<dyn TrackingBackend>, _caps: &Capabilities) {
    let b: &dyn TrackingBackend = &*subject.store;
    let (e, _) = seed_search(b);
    let ordered = |clauses: &[&str]| {
        let mut req = SearchRuns::new([e.clone()]);
        for c in clauses {
            req = req.order_by(*c);
        }
        names(&b.search_all_runs(&req).unwrap())
    };
    assert_eq!(ordered(&["metrics.acc DESC"]), ["d", "a", "c", "b", "e"]);
    assert_eq!(ordered(&["metrics.acc ASC"]), ["b", "c", "a", "d", "e"]);
    assert_eq!(ordered(&[]), ["e", "d", "c", "b", "a"]);
    assert_eq!(
        ordered(&["params.optimizer", "attributes.start_time DESC"]),
        ["c", "a", "b", "d", "e"]
    );
    assert_eq!(
        ordered(&["tags.env DESC", "metrics.acc"]),
        ["b", "c", "a", "d", "e"]
    );
    let mut req = SearchRuns::new([e.clone()])
        .order_by("metrics.acc DESC")
        .max_results(2);
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = b.search_runs(&req).unwrap();
        pages += 1;
        seen.extend(names(&page.items));
        match page.next_page_token {
            Some(t) => req = req.page_token(Some(t)),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ["d", "a", "c", "b", "e"]);
    for bad in [
        SearchRuns::new([e.clone()]).max_results(0),
        SearchRuns::new([e.clone()]).max_results(50_001),
        SearchRuns::new([e.clone()]).page_token(Some("bogus".into())),
    ] {
        let err = b.search_runs(&bad).unwrap_err();
        assert!(
            matches!(err, TrackingError::InvalidArgument { .. }),
            "{err}"
        );
    }
    let err = b
        .search_runs(&SearchRuns::new([e.clone()]).order_by("metrics.acc sideways"))
        .unwrap_err();
    assert!(matches!(err, TrackingError::InvalidFilter { .. }), "{err}");
    // All experiments when none is named.
    let everything = b.search_all_runs(&SearchRuns::default()).unwrap();
    assert_eq!(everything.len(), 5);
}

/// Artifacts: stored with size and SHA-256, listed, read back (checked), replaced.
pub fn artifacts(subject: &Subject<dyn TrackingBackend>, _caps: &Capabilities) {
    let b: &dyn TrackingBackend = &*subject.store;
    let e = exp(b, "exp");
    let r = run(b, &e, "r");
    let info = b
        .log_artifact(&r, "models/model.bin", &mut &b"hello"[..])
        .unwrap();
    assert_eq!(info.size, 5);
    assert_eq!(
        info.sha256,
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    );
    b.log_artifact(&r, "plots/curve.png", &mut &[0u8, 159, 146, 150][..])
        .unwrap();
    b.log_artifact(&r, "models/model.bin", &mut &b"hello, again"[..])
        .unwrap();
    for bad in ["../escape", "/abs", "a//b", ""] {
        let err = b.log_artifact(&r, bad, &mut &b"x"[..]).unwrap_err();
        assert!(
            matches!(err, TrackingError::InvalidArgument { .. }),
            "{bad}: {err}"
        );
    }
    let check = |b: &dyn TrackingBackend| {
        let all = b.list_artifacts(&r, None).unwrap();
        let paths: Vec<_> = all.iter().map(|a| a.path.as_str()).collect();
        assert_eq!(paths, ["models/model.bin", "plots/curve.png"]);
        assert_eq!(all[0].size, 12);
        assert_eq!(b.list_artifacts(&r, Some("plots/")).unwrap().len(), 1);
        assert_eq!(
            b.read_artifact(&r, "models/model.bin").unwrap(),
            b"hello, again"
        );
        assert_eq!(
            b.read_artifact(&r, "plots/curve.png").unwrap(),
            [0u8, 159, 146, 150]
        );
        let err = b.open_artifact(&r, "missing.txt").err().unwrap();
        assert!(
            is_not_found(&err) && err.to_string().contains("missing.txt"),
            "{err}"
        );
    };
    check(b);
    let b = reopen(subject);
    check(&*b);
}

/// Artifact paths are any clean relative path: names MLflow's clients write (`a+b=c&d.txt`,
/// spaces, non-ASCII, `?`, `'`, `[`, `..dots`) are stored, listed and read back as given; a
/// path that is not clean (`..`, `/abs`, `a//b`, a control character) is `InvalidArgument`.
pub fn artifact_paths_with_odd_characters(
    subject: &Subject<dyn TrackingBackend>,
    caps: &Capabilities,
) {
    let b: &dyn TrackingBackend = &*subject.store;
    let e = exp(b, "exp");
    let r = run(b, &e, "r");
    let mut names = vec![
        "a+b=c&d.txt",
        "dir+x/sp ace ünï.txt",
        "q?uery.txt",
        "semi;colon:at@[x]*'(1).txt",
        "..dots.txt",
        "100%.txt",
        "back\\slash.txt",
    ];
    let verbatim_only = ["h#ash.txt", "p%20q.txt"];
    if caps.artifact_paths_any_character {
        names.extend(verbatim_only);
    } else {
        for name in verbatim_only {
            let err = b.log_artifact(&r, name, &mut &b"x"[..]).unwrap_err();
            assert!(
                matches!(err, TrackingError::InvalidArgument { .. }),
                "{name}: {err}"
            );
        }
    }
    for name in &names {
        let info = b
            .log_artifact(&r, name, &mut format!("content of {name}").as_bytes())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(info.path, *name);
    }
    for bad in [
        "..",
        "a/../b",
        "./a",
        "/abs",
        "a//b",
        "a/",
        "tab\tname",
        "new\nline",
    ] {
        let err = b.log_artifact(&r, bad, &mut &b"x"[..]).unwrap_err();
        assert!(
            matches!(err, TrackingError::InvalidArgument { .. }),
            "{bad:?}: {err}"
        );
    }
    let check = |b: &dyn TrackingBackend| {
        let listed: BTreeSet<String> = b
            .list_artifacts(&r, None)
            .unwrap()
            .into_iter()
            .map(|a| a.path)
            .collect();
        let want: BTreeSet<String> = names.iter().map(|n| (*n).to_owned()).collect();
        assert_eq!(listed, want);
        for name in &names {
            let got = b
                .read_artifact(&r, name)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(got, format!("content of {name}").into_bytes(), "{name}");
        }
        let plus = b.list_artifacts(&r, Some("dir+x/")).unwrap();
        assert_eq!(plus.len(), 1, "{plus:?}");
    };
    check(b);
    let b = reopen(subject);
    check(&*b);
}

/// Threads sharing one backend log concurrently; nothing is lost.
pub fn concurrent_writers(subject: &Subject<dyn TrackingBackend>, _caps: &Capabilities) {
    let b: &dyn TrackingBackend = &*subject.store;
    let e = exp(b, "exp");
    let r = run(b, &e, "r");
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

/// Stamp one `#[test]` per conformance case (see the [module docs](crate::conformance)).
///
/// `conformance_tests!(<factory>)` or `conformance_tests!(caps = <expr>; <factory>)`, where
/// `<factory>` is an expression of type `impl Fn() -> Subject<dyn TrackingBackend>`, called once
/// per stamped test, and `caps` a [`Capabilities`](crate::conformance::Capabilities) (default
/// [`Capabilities::ALL`](crate::conformance::Capabilities::ALL)). Attributes written first
/// (`#[ignore = "needs mlflow"]`) go on every stamped case. One more test,
/// `conformance_cases_are_all_stamped`, checks that the stamped list is
/// [`CASES`](crate::conformance::CASES).
#[macro_export]
macro_rules! conformance_tests {
    (@one [$($attr:tt)*] $caps:expr; $factory:expr; $case:ident) => {
        #[test]
        $($attr)*
        fn $case() {
            let factory = $factory;
            let subject = factory();
            $crate::conformance::$case(&subject, &$caps);
        }
    };
    (@stamp $attrs:tt $caps:expr; $factory:expr; $($case:ident),* $(,)?) => {
        $(
            $crate::conformance_tests!(@one $attrs $caps; $factory; $case);
        )*

        #[test]
        fn conformance_cases_are_all_stamped() {
            let stamped: &[&str] = &[$(stringify!($case)),*];
            let all: ::std::vec::Vec<&str> =
                $crate::conformance::CASES.iter().map(|(name, _)| *name).collect();
            assert_eq!(all, stamped);
        }
    };
    ($(#[$attr:meta])* caps = $caps:expr; $factory:expr $(,)?) => {
        $crate::conformance_tests!(@stamp [$(#[$attr])*] $caps; $factory;
            default_experiment_exists, experiment_lifecycle, runs_create_and_get,
            params_are_write_once, metrics_latest_and_history, special_values_round_trip,
            history_paging, invalid_batches_store_nothing, unclean_keys_are_rejected,
            update_run, deleted_runs_reject_writes, finished_runs_accept_writes,
            unknown_ids_are_not_found, search_filters, search_order_and_paging, artifacts,
            artifact_paths_with_odd_characters, concurrent_writers);
    };
    ($(#[$attr:meta])* $factory:expr $(,)?) => {
        $crate::conformance_tests!(
            $(#[$attr])* caps = $crate::conformance::Capabilities::ALL; $factory
        );
    };
}
