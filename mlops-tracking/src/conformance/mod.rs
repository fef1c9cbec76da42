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
//! use mlops_tracking::{InMemoryTrackingBackend, TrackingBackend};
//!
//! for (name, case) in CASES {
//!     let subject = Subject::<dyn TrackingBackend>::new(Box::new(InMemoryTrackingBackend::new()));
//!     case(&subject, &Capabilities::ALL);
//!     # let _ = name;
//! }
//! ```
#![allow(clippy::missing_panics_doc, clippy::unwrap_used)]

use crate::backend::TrackingBackend;
use crate::error::TrackingError;
use crate::ids::{ExperimentId, RunId};
use crate::model::CreateRun;

mod artifacts;
mod inputs;
mod metrics;
mod runs;
mod search;

pub use self::artifacts::{artifact_paths_with_odd_characters, artifacts};
pub use self::inputs::run_inputs;
pub use self::metrics::{
    history_paging, history_visit, invalid_batches_store_nothing, metrics_latest_and_history,
    special_values_round_trip, unclean_keys_are_rejected,
};
pub use self::runs::{
    concurrent_writers, default_experiment_exists, deleted_runs_reject_writes,
    experiment_lifecycle, finished_runs_accept_writes, params_are_write_once, runs_create_and_get,
    unknown_ids_are_not_found, update_run,
};
pub use self::search::{search_filters, search_order_and_paging};

/// The backend under test, shared by every mlops crate's conformance suite (see
/// [`mlops_testkit::Subject`]).
pub use mlops_testkit::Subject;

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
    ("history_visit", history_visit),
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
    ("run_inputs", run_inputs),
];

/// Run one case on a fresh subject from `factory` (what each stamped test does).
pub fn run(factory: impl Fn() -> Subject<dyn TrackingBackend>, case: Case, caps: &Capabilities) {
    let subject = factory();
    case(&subject, caps);
}

fn exp(b: &dyn TrackingBackend, name: &str) -> ExperimentId {
    b.create_experiment(name, &[]).unwrap().experiment_id
}

fn new_run(b: &dyn TrackingBackend, e: &ExperimentId, name: &str) -> RunId {
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
            $crate::conformance::run($factory, $crate::conformance::$case, &$caps);
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
            history_paging, history_visit, invalid_batches_store_nothing, unclean_keys_are_rejected,
            update_run, deleted_runs_reject_writes, finished_runs_accept_writes,
            unknown_ids_are_not_found, search_filters, search_order_and_paging, artifacts,
            artifact_paths_with_odd_characters, concurrent_writers, run_inputs);
    };
    ($(#[$attr:meta])* $factory:expr $(,)?) => {
        $crate::conformance_tests!(
            $(#[$attr])* caps = $crate::conformance::Capabilities::ALL; $factory
        );
    };
}
