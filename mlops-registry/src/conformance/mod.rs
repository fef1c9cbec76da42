//! The shared conformance suite every [`RegistryStore`] backend passes, so a third-party
//! backend can run the same checks.
//!
//! # The contract (the same in every crate of the workspace)
//! - Each case is a plain function, `fn(&Subject<dyn RegistryStore>, &Capabilities)`, that
//!   panics on failure; [`CASES`] lists every case by name.
//! - A [`Subject`] is the backend under test (`store`), an optional `reopen` that opens a
//!   fresh handle on the same durable state (cases that check what survives a close/reopen use
//!   it when present, and the store itself otherwise), and a `guard` kept alive as long as the
//!   subject (a temp dir, a server).
//! - [`Capabilities`] says where a backend legitimately differs; [`Capabilities::ALL`] is what
//!   the in-memory and file backends run with.
//! - [`conformance_tests!`](crate::conformance_tests) stamps one `#[test]` per case from a
//!   factory, an expression of type `impl Fn() -> Subject<dyn RegistryStore>` called once per
//!   test: `conformance_tests!(<factory>)` or `conformance_tests!(caps = <expr>; <factory>)`;
//!   a backend that needs a server puts `ignore = "needs <server>";` first. It also stamps
//!   `every_case_is_stamped`, which fails when [`CASES`] grows without the macro.
//!
//! ```
//! use mlops_registry::conformance::{self, Capabilities, Subject};
//! use mlops_registry::{FileRegistry, RegistryStore};
//!
//! // What `mlops_registry::conformance_tests!(factory)` stamps as one `#[test]` per case:
//! let factory = || -> Subject<dyn RegistryStore> {
//!     let dir = tempfile::tempdir().unwrap();
//!     let path = dir.path().to_owned();
//!     let open = move || -> Box<dyn RegistryStore> {
//!         Box::new(FileRegistry::open(&path).unwrap().with_fsync(false))
//!     };
//!     Subject::new(open()).with_reopen(open).with_guard(dir)
//! };
//! for (_name, case) in conformance::CASES {
//!     case(&factory(), &Capabilities::ALL);
//! }
//! ```
#![allow(clippy::missing_panics_doc, missing_docs)]

mod cases;
mod search;

use std::ops::Deref;

use crate::error::RegistryError;
use crate::model::{Alias, ModelVersionNumber};
use crate::store::{NewVersion, RegistryStore};
use crate::uri::ModelUri;

pub use cases::*;
pub use search::*;

/// The backend under test, shared by every mlops crate's conformance suite (see
/// [`mlops_testkit::Subject`]).
pub use mlops_testkit::Subject;

/// A conformance case.
pub type Case = fn(&Subject<dyn RegistryStore>, &Capabilities);

/// Where a backend's semantics legitimately differ from the embedded backends': the cases skip
/// or adapt only the assertions a flag names. [`Capabilities::ALL`] (the default) is what the
/// in-memory and file backends run with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// [`RegisteredModel::latest_version`](crate::RegisteredModel::latest_version) counts
    /// deleted versions (the highest number ever assigned). A backend that cannot see deleted
    /// versions (MLflow keeps them as hidden tombstones) reports the highest existing one; both
    /// still never reuse a number.
    pub latest_version_counts_deleted: bool,
}

impl Capabilities {
    /// Everything the embedded backends do.
    pub const ALL: Self = Self {
        latest_version_counts_deleted: true,
    };

    /// Set [`Capabilities::latest_version_counts_deleted`].
    #[must_use]
    pub const fn latest_version_counts_deleted(mut self, yes: bool) -> Self {
        self.latest_version_counts_deleted = yes;
        self
    }
}

impl Default for Capabilities {
    fn default() -> Self {
        Self::ALL
    }
}

/// Every case, by name.
pub const CASES: &[(&str, Case)] = &[
    ("models_create_get_duplicate", models_create_get_duplicate),
    ("invalid_input_is_rejected", invalid_input_is_rejected),
    (
        "versions_are_numbered_and_never_reused",
        versions_are_numbered_and_never_reused,
    ),
    ("unknown_model_and_version", unknown_model_and_version),
    ("seed_demo_stage_workflow", seed_demo_stage_workflow),
    (
        "archive_existing_needs_active_stage",
        archive_existing_needs_active_stage,
    ),
    ("aliases_set_move_delete", aliases_set_move_delete),
    (
        "deleting_a_version_deletes_its_aliases",
        deleting_a_version_deletes_its_aliases,
    ),
    ("resolve_every_uri_form", resolve_every_uri_form),
    ("tags_and_descriptions", tags_and_descriptions),
    (
        "rename_keeps_versions_aliases_history",
        rename_keeps_versions_aliases_history,
    ),
    ("delete_model", delete_model),
    ("search_versions", search_versions),
    ("search_models", search_models),
    ("search_order_and_pages", search_order_and_pages),
    (
        "audit_history_records_every_change",
        audit_history_records_every_change,
    ),
    (
        "denied_promotion_changes_nothing",
        denied_promotion_changes_nothing,
    ),
    ("compare_versions_marks_best", compare_versions_marks_best),
];

/// Run one case on a fresh subject from `factory` (what each stamped test does).
pub fn run(factory: impl Fn() -> Subject<dyn RegistryStore>, case: Case, caps: &Capabilities) {
    let subject = factory();
    case(&subject, caps);
}

/// Stamp one `#[test]` per conformance case, plus `every_case_is_stamped`.
///
/// `conformance_tests!(<factory>)`, `conformance_tests!(caps = <Capabilities>; <factory>)`,
/// and either with `ignore = "needs <server>";` first for a backend whose tests need a server
/// (they are then reported as ignored by a plain `cargo test`). `<factory>` is an expression of
/// type `impl Fn() -> Subject<dyn RegistryStore>`, called once per test. See the
/// [`conformance`](crate::conformance) module for the contract.
#[macro_export]
macro_rules! conformance_tests {
    (ignore = $why:literal; $($rest:tt)*) => {
        $crate::conformance_tests!(@parse [#[ignore = $why]], $($rest)*);
    };
    (@parse $attrs:tt, caps = $caps:expr; $factory:expr) => {
        $crate::conformance_tests!(@cases $attrs, $caps, $factory);
    };
    (@parse $attrs:tt, $factory:expr) => {
        $crate::conformance_tests!(@cases $attrs, $crate::conformance::Capabilities::ALL, $factory);
    };
    (@cases $attrs:tt, $caps:expr, $factory:expr) => {
        $crate::conformance_tests!(@stamp $attrs, $caps, $factory;
            models_create_get_duplicate,
            invalid_input_is_rejected,
            versions_are_numbered_and_never_reused,
            unknown_model_and_version,
            seed_demo_stage_workflow,
            archive_existing_needs_active_stage,
            aliases_set_move_delete,
            deleting_a_version_deletes_its_aliases,
            resolve_every_uri_form,
            tags_and_descriptions,
            rename_keeps_versions_aliases_history,
            delete_model,
            search_versions,
            search_models,
            search_order_and_pages,
            audit_history_records_every_change,
            denied_promotion_changes_nothing,
            compare_versions_marks_best);
    };
    (@stamp $attrs:tt, $caps:expr, $factory:expr; $($case:ident),*) => {
        $($crate::conformance_tests!(@one $attrs, $caps, $factory, $case);)*
        #[test]
        fn every_case_is_stamped() {
            let stamped: &[&str] = &[$(stringify!($case)),*];
            let listed: ::std::vec::Vec<&str> =
                $crate::conformance::CASES.iter().map(|(n, _)| *n).collect();
            assert_eq!(stamped, listed.as_slice());
        }
    };
    (@one [$($attr:tt)*], $caps:expr, $factory:expr, $case:ident) => {
        #[test]
        $($attr)*
        fn $case() {
            $crate::conformance::run($factory, $crate::conformance::$case, &$caps);
        }
    };
    (caps = $($rest:tt)*) => {
        $crate::conformance_tests!(@parse [], caps = $($rest)*);
    };
    ($factory:expr) => {
        $crate::conformance_tests!(@parse [], $factory);
    };
}

/// A handle on the subject's state after a close and reopen: a fresh one when the subject can
/// reopen, else the store itself.
enum Handle<'a> {
    Same(&'a dyn RegistryStore),
    Fresh(Box<dyn RegistryStore>),
}

impl Deref for Handle<'_> {
    type Target = dyn RegistryStore;

    fn deref(&self) -> &Self::Target {
        match self {
            Self::Same(s) => *s,
            Self::Fresh(s) => &**s,
        }
    }
}

fn reopen(subject: &Subject<dyn RegistryStore>) -> Handle<'_> {
    match &subject.reopen {
        Some(f) => Handle::Fresh(f()),
        None => Handle::Same(&*subject.store),
    }
}

fn v(n: u64) -> ModelVersionNumber {
    ModelVersionNumber::new(n).unwrap()
}

fn alias(s: &str) -> Alias {
    s.parse().unwrap()
}

fn uri(s: &str) -> ModelUri {
    s.parse().unwrap()
}

fn kind_of(e: &RegistryError) -> &'static str {
    match e {
        RegistryError::NotFound { kind, .. } => kind.as_str(),
        RegistryError::AlreadyExists { .. } => "already exists",
        RegistryError::InvalidArgument { .. } => "invalid",
        RegistryError::PromotionDenied { .. } => "denied",
        _ => "other",
    }
}

fn add(store: &dyn RegistryStore, name: &str, acc: f64) -> ModelVersionNumber {
    store
        .create_model_version(
            &NewVersion::new(name, format!("s3://conformance/models/{name}/{acc}"))
                .run_id(format!("run-{acc}"))
                .metric("accuracy", acc)
                .metric("latency_ms", 50.0 - acc * 10.0),
        )
        .unwrap()
        .version
}

#[cfg(test)]
mod memory {
    use crate::conformance::Subject;
    use crate::{InMemoryRegistry, RegistryStore};

    crate::conformance_tests!(|| Subject::new(
        Box::new(InMemoryRegistry::new()) as Box<dyn RegistryStore>
    ));
}

#[cfg(test)]
mod file {
    use crate::conformance::Subject;
    use crate::{FileRegistry, RegistryStore};

    pub(super) fn subject(tune: fn(FileRegistry) -> FileRegistry) -> Subject<dyn RegistryStore> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_owned();
        let open = move || -> Box<dyn RegistryStore> {
            Box::new(tune(FileRegistry::open(&path).unwrap()))
        };
        Subject::new(open()).with_reopen(open).with_guard(dir)
    }

    crate::conformance_tests!(|| subject(|r| r.with_fsync(false)));
}

#[cfg(test)]
mod file_compacting {
    // Every case with a log compacted at almost every change, reopened from fresh handles.
    crate::conformance_tests!(|| super::file::subject(|r| r
        .with_fsync(false)
        .with_compaction_slack(0)));
}

#[cfg(test)]
mod file_durable {
    // Every case with fsync on, to exercise the durable code paths.
    crate::conformance_tests!(|| super::file::subject(|r| r));
}
