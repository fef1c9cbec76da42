//! The shared conformance suite every [`RegistryStore`] backend passes.
//!
//! Each case is a plain function taking the store under test and a `reopen` function that
//! returns a fresh handle on the same registry (a file backend reopens its directory; an
//! in-memory backend returns a clone). Cases panic on failure. Stamp one `#[test]` per case with
//! [`registry_conformance_tests!`](crate::registry_conformance_tests):
//!
//! ```
//! mlops_registry::registry_conformance_tests!(|| {
//!     let store = mlops_registry::InMemoryRegistry::new();
//!     let again = store.clone();
//!     (
//!         Box::new(store) as Box<dyn mlops_registry::RegistryStore>,
//!         Box::new(move || Box::new(again.clone()) as Box<dyn mlops_registry::RegistryStore>)
//!             as Box<dyn Fn() -> Box<dyn mlops_registry::RegistryStore>>,
//!     )
//! });
//! ```
#![allow(clippy::missing_panics_doc, missing_docs)]

use crate::Direction;
use crate::error::RegistryError;
use crate::model::{Alias, AuditChange, ModelVersionNumber, Stage};
use crate::policy::Gate;
use crate::search::Filter;
use crate::store::{Change, NewModel, NewVersion, RegistryStore, RegistryStoreExt, Search};
use crate::uri::ModelUri;

/// Returns a fresh handle on the registry under test.
pub type Reopen<'a> = &'a dyn Fn() -> Box<dyn RegistryStore>;

/// A conformance case.
pub type Case = fn(&dyn RegistryStore, Reopen<'_>, &Capabilities);

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

/// Stamp one `#[test]` per conformance case. `$make` is an expression returning
/// `(Box<dyn RegistryStore>, Box<dyn Fn() -> Box<dyn RegistryStore>>)`: the store and its
/// reopen function (which may own the backend's temp directory). Optionally
/// `caps = <Capabilities>;` first, for a backend that differs where a
/// [`Capabilities`](crate::conformance::Capabilities) flag allows.
#[macro_export]
macro_rules! registry_conformance_tests {
    ($make:expr) => {
        $crate::registry_conformance_tests!(caps = $crate::conformance::Capabilities::ALL; $make);
    };
    (caps = $caps:expr; $make:expr) => {
        $crate::registry_conformance_tests!(@cases $caps; $make;
            models_create_get_duplicate, invalid_input_is_rejected,
            versions_are_numbered_and_never_reused, unknown_model_and_version,
            seed_demo_stage_workflow, archive_existing_needs_active_stage,
            aliases_set_move_delete, deleting_a_version_deletes_its_aliases,
            resolve_every_uri_form, tags_and_descriptions,
            rename_keeps_versions_aliases_history, delete_model, search_versions,
            search_models, search_order_and_pages, audit_history_records_every_change,
            denied_promotion_changes_nothing, compare_versions_marks_best);
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $crate::registry_conformance_tests!(@cases $crate::conformance::Capabilities::ALL; $make; $($case),*);
    };
    (@cases $caps:expr; $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let (store, reopen) = ($make)();
                $crate::conformance::$case(&*store, &*reopen, &$caps);
            }
        )*
    };
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
        RegistryError::NotFound { kind, .. } => kind,
        RegistryError::AlreadyExists { .. } => "already exists",
        RegistryError::InvalidArgument { .. } => "invalid",
        RegistryError::PromotionDenied { .. } => "denied",
        RegistryError::Conflict(_) => "conflict",
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

pub fn models_create_get_duplicate(
    store: &dyn RegistryStore,
    reopen: Reopen<'_>,
    _caps: &Capabilities,
) {
    let m = store
        .create_registered_model(&NewModel::new("clf").description("d").tag("team", "nlp"))
        .unwrap();
    assert_eq!(m.name, "clf");
    assert_eq!(m.latest_version, 0);
    let err = store
        .create_registered_model(&NewModel::new("clf"))
        .unwrap_err();
    assert_eq!(kind_of(&err), "already exists", "{err}");
    let again = reopen();
    let got = again.get_registered_model("clf").unwrap();
    assert_eq!(got.description, "d");
    assert_eq!(got.tags["team"], "nlp");
    assert_eq!(got.created_at, m.created_at);
}

pub fn invalid_input_is_rejected(
    store: &dyn RegistryStore,
    _reopen: Reopen<'_>,
    _caps: &Capabilities,
) {
    for bad in ["", "a/b", "a:b", " x"] {
        let err = store
            .create_registered_model(&NewModel::new(bad))
            .unwrap_err();
        assert_eq!(kind_of(&err), "invalid", "{bad:?}: {err}");
    }
    store.create_registered_model(&NewModel::new("m")).unwrap();
    let nan = NewVersion::new("m", "s").metric("accuracy", f64::NAN);
    assert_eq!(
        kind_of(&store.create_model_version(&nan).unwrap_err()),
        "invalid"
    );
    let empty = NewVersion::new("m", " ");
    assert_eq!(
        kind_of(&store.create_model_version(&empty).unwrap_err()),
        "invalid"
    );
    let bad_tag = NewVersion::new("m", "s").tag("", "x");
    assert_eq!(
        kind_of(&store.create_model_version(&bad_tag).unwrap_err()),
        "invalid"
    );
    // Nothing was created by the failed calls.
    assert_eq!(store.get_registered_model("m").unwrap().latest_version, 0);
    assert!("Prod".parse::<Stage>().is_err());
    let err = store
        .rename_registered_model("m", "x/y", &Change::default())
        .unwrap_err();
    assert_eq!(kind_of(&err), "invalid");
}

pub fn versions_are_numbered_and_never_reused(
    store: &dyn RegistryStore,
    reopen: Reopen<'_>,
    caps: &Capabilities,
) {
    store.create_registered_model(&NewModel::new("m")).unwrap();
    for i in 1..=3 {
        assert_eq!(add(store, "m", 0.5), v(i));
    }
    store
        .delete_model_version("m", v(3), &Change::default())
        .unwrap();
    let latest = store.get_registered_model("m").unwrap().latest_version;
    if caps.latest_version_counts_deleted {
        assert_eq!(
            latest, 3,
            "the deleted v3 is still the highest number assigned"
        );
    } else {
        assert_eq!(latest, 2, "the highest existing version");
    }
    assert_eq!(add(store, "m", 0.5), v(4));
    let again = reopen();
    assert_eq!(add(&*again, "m", 0.5), v(5));
    assert_eq!(again.get_registered_model("m").unwrap().latest_version, 5);
    let numbers: Vec<u64> = again
        .versions("m")
        .unwrap()
        .iter()
        .map(|x| x.version.get())
        .collect();
    assert_eq!(numbers, [1, 2, 4, 5]);
    assert_eq!(
        kind_of(&again.get_model_version("m", v(3)).unwrap_err()),
        "model version"
    );
}

pub fn unknown_model_and_version(
    store: &dyn RegistryStore,
    _reopen: Reopen<'_>,
    _caps: &Capabilities,
) {
    let c = Change::default();
    let nf = |e: RegistryError, kind: &str| {
        assert_eq!(kind_of(&e), kind, "{e}");
        assert!(e.to_string().contains("not found"), "{e}");
    };
    nf(
        store.get_registered_model("nope").unwrap_err(),
        "registered model",
    );
    nf(
        store
            .create_model_version(&NewVersion::new("nope", "s3://conformance/s"))
            .unwrap_err(),
        "registered model",
    );
    nf(
        store
            .transition_stage("nope", v(1), Stage::Staging, false, &c)
            .unwrap_err(),
        "registered model",
    );
    nf(store.audit_history("nope").unwrap_err(), "registered model");
    nf(
        store.delete_registered_model("nope").unwrap_err(),
        "registered model",
    );
    nf(
        store.resolve(&uri("models:/nope/1")).unwrap_err(),
        "registered model",
    );
    store.create_registered_model(&NewModel::new("m")).unwrap();
    nf(
        store.get_model_version("m", v(1)).unwrap_err(),
        "model version",
    );
    nf(
        store
            .transition_stage("m", v(1), Stage::Staging, false, &c)
            .unwrap_err(),
        "model version",
    );
    nf(
        store.set_alias("m", &alias("a"), v(1), &c).unwrap_err(),
        "model version",
    );
    nf(
        store.delete_alias("m", &alias("a"), &c).unwrap_err(),
        "alias",
    );
    nf(
        store.set_version_tag("m", v(1), "k", "v").unwrap_err(),
        "model version",
    );
    nf(store.delete_model_tag("m", "k").unwrap_err(), "tag");
    nf(
        store.update_model_version("m", v(1), "d").unwrap_err(),
        "model version",
    );
    nf(
        store.delete_model_version("m", v(1), &c).unwrap_err(),
        "model version",
    );
    nf(
        store.resolve(&uri("models:/m/latest")).unwrap_err(),
        "model version",
    );
}

/// The seed chapter's scenario: three versions, v1 archived, v2 to Production, v3 to Staging,
/// then v3 to Production archives v2.
pub fn seed_demo_stage_workflow(
    store: &dyn RegistryStore,
    reopen: Reopen<'_>,
    _caps: &Capabilities,
) {
    store
        .create_registered_model(&NewModel::new("text_classifier"))
        .unwrap();
    for acc in [0.85, 0.91, 0.93] {
        add(store, "text_classifier", acc);
    }
    let c = Change::by("release-bot");
    store
        .transition_stage("text_classifier", v(1), Stage::Archived, false, &c)
        .unwrap();
    store
        .transition_stage("text_classifier", v(2), Stage::Production, true, &c)
        .unwrap();
    store
        .transition_stage("text_classifier", v(3), Stage::Staging, true, &c)
        .unwrap();
    let out = store
        .transition_stage("text_classifier", v(3), Stage::Production, true, &c)
        .unwrap();
    assert_eq!(out.stage, Stage::Production);
    let again = reopen();
    let stages: Vec<Stage> = again
        .versions("text_classifier")
        .unwrap()
        .iter()
        .map(|x| x.stage)
        .collect();
    assert_eq!(
        stages,
        [Stage::Archived, Stage::Archived, Stage::Production]
    );
    assert_eq!(
        again
            .resolve(&uri("models:/text_classifier/Production"))
            .unwrap(),
        v(3)
    );
    let latest = again
        .latest_versions("text_classifier", &[Stage::Production])
        .unwrap();
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0].version, v(3));
    // Without the flag, two versions can share a stage; the highest one resolves.
    again
        .transition_stage("text_classifier", v(1), Stage::Production, false, &c)
        .unwrap();
    assert_eq!(
        again
            .resolve(&uri("models:/text_classifier/Production"))
            .unwrap(),
        v(3)
    );
    assert_eq!(
        again
            .get_model_version("text_classifier", v(1))
            .unwrap()
            .stage,
        Stage::Production
    );
}

pub fn archive_existing_needs_active_stage(
    store: &dyn RegistryStore,
    _reopen: Reopen<'_>,
    _caps: &Capabilities,
) {
    store.create_registered_model(&NewModel::new("m")).unwrap();
    add(store, "m", 0.5);
    for stage in [Stage::None, Stage::Archived] {
        let err = store
            .transition_stage("m", v(1), stage, true, &Change::default())
            .unwrap_err();
        assert_eq!(kind_of(&err), "invalid", "{err}");
    }
    assert_eq!(
        store.get_model_version("m", v(1)).unwrap().stage,
        Stage::None
    );
}

pub fn aliases_set_move_delete(
    store: &dyn RegistryStore,
    reopen: Reopen<'_>,
    _caps: &Capabilities,
) {
    store.create_registered_model(&NewModel::new("m")).unwrap();
    add(store, "m", 0.5);
    add(store, "m", 0.6);
    let c = Change::by("ana");
    store.set_alias("m", &alias("champion"), v(1), &c).unwrap();
    store
        .set_alias("m", &alias("challenger"), v(2), &c)
        .unwrap();
    assert_eq!(
        store.get_model_version("m", v(1)).unwrap().aliases,
        [alias("champion")]
    );
    // Setting it again moves it: one version per alias.
    store.set_alias("m", &alias("champion"), v(2), &c).unwrap();
    let again = reopen();
    assert!(
        again
            .get_model_version("m", v(1))
            .unwrap()
            .aliases
            .is_empty()
    );
    assert_eq!(
        again.get_model_version("m", v(2)).unwrap().aliases,
        [alias("challenger"), alias("champion")]
    );
    assert_eq!(
        again
            .get_version_by_alias("m", &alias("champion"))
            .unwrap()
            .version,
        v(2)
    );
    let model = again.get_registered_model("m").unwrap();
    assert_eq!(model.aliases.len(), 2);
    again.delete_alias("m", &alias("challenger"), &c).unwrap();
    let err = again.resolve(&uri("models:/m@challenger")).unwrap_err();
    assert_eq!(kind_of(&err), "alias");
    assert_eq!(reopen().resolve(&uri("models:/m@champion")).unwrap(), v(2));
}

pub fn deleting_a_version_deletes_its_aliases(
    store: &dyn RegistryStore,
    reopen: Reopen<'_>,
    _caps: &Capabilities,
) {
    store.create_registered_model(&NewModel::new("m")).unwrap();
    add(store, "m", 0.5);
    add(store, "m", 0.6);
    let c = Change::default();
    store.set_alias("m", &alias("champion"), v(1), &c).unwrap();
    store.set_alias("m", &alias("shadow"), v(1), &c).unwrap();
    store.delete_model_version("m", v(1), &c).unwrap();
    let again = reopen();
    assert!(again.get_registered_model("m").unwrap().aliases.is_empty());
    assert_eq!(
        kind_of(&again.resolve(&uri("models:/m@champion")).unwrap_err()),
        "alias"
    );
    // An alias on a deleted version is refused.
    let err = again
        .set_alias("m", &alias("champion"), v(1), &c)
        .unwrap_err();
    assert_eq!(kind_of(&err), "model version", "{err}");
    assert_eq!(again.resolve(&uri("models:/m/latest")).unwrap(), v(2));
}

pub fn resolve_every_uri_form(store: &dyn RegistryStore, reopen: Reopen<'_>, _caps: &Capabilities) {
    store.create_registered_model(&NewModel::new("m")).unwrap();
    for acc in [0.1, 0.2, 0.3, 0.4] {
        add(store, "m", acc);
    }
    let c = Change::default();
    store
        .transition_stage("m", v(2), Stage::Production, false, &c)
        .unwrap();
    store
        .transition_stage("m", v(3), Stage::Staging, false, &c)
        .unwrap();
    store.set_alias("m", &alias("champion"), v(2), &c).unwrap();
    for s in [&*reopen(), store] {
        assert_eq!(s.resolve(&uri("models:/m/3")).unwrap(), v(3));
        assert_eq!(s.resolve(&uri("models:/m@champion")).unwrap(), v(2));
        assert_eq!(s.resolve(&uri("models:/m/Production")).unwrap(), v(2));
        assert_eq!(s.resolve(&uri("models:/m/staging")).unwrap(), v(3));
        assert_eq!(s.resolve(&uri("models:/m/None")).unwrap(), v(4));
        assert_eq!(s.resolve(&uri("models:/m/latest")).unwrap(), v(4));
        assert_eq!(
            s.resolve_uri("models:/m@champion").unwrap().source,
            "s3://conformance/models/m/0.2"
        );
        for (missing, kind) in [
            ("models:/m/9", "model version"),
            ("models:/m@nobody", "alias"),
            ("models:/m/Archived", "model version"),
            ("models:/other/1", "registered model"),
        ] {
            let err = s.resolve(&uri(missing)).unwrap_err();
            assert_eq!(kind_of(&err), kind, "{missing}: {err}");
        }
        let err = s.resolve_uri("models:/m").unwrap_err();
        assert_eq!(kind_of(&err), "invalid");
    }
}

pub fn tags_and_descriptions(store: &dyn RegistryStore, reopen: Reopen<'_>, _caps: &Capabilities) {
    store.create_registered_model(&NewModel::new("m")).unwrap();
    add(store, "m", 0.5);
    store.set_model_tag("m", "owner", "ana").unwrap();
    store
        .set_version_tag("m", v(1), "validated", "yes")
        .unwrap();
    store.update_registered_model("m", "model d").unwrap();
    let updated = store.update_model_version("m", v(1), "version d").unwrap();
    assert_eq!(updated.description, "version d");
    let again = reopen();
    assert_eq!(
        again.get_registered_model("m").unwrap().tags["owner"],
        "ana"
    );
    assert_eq!(
        again.get_registered_model("m").unwrap().description,
        "model d"
    );
    let ver = again.get_model_version("m", v(1)).unwrap();
    assert_eq!(ver.tags["validated"], "yes");
    assert_eq!(ver.description, "version d");
    again.delete_version_tag("m", v(1), "validated").unwrap();
    again.delete_model_tag("m", "owner").unwrap();
    assert_eq!(
        kind_of(&again.delete_model_tag("m", "owner").unwrap_err()),
        "tag"
    );
    let again = reopen();
    assert!(again.get_registered_model("m").unwrap().tags.is_empty());
    assert!(again.get_model_version("m", v(1)).unwrap().tags.is_empty());
    let err = again
        .set_model_tag("m", "k", &"x".repeat(5001))
        .unwrap_err();
    assert_eq!(kind_of(&err), "invalid");
}

pub fn rename_keeps_versions_aliases_history(
    store: &dyn RegistryStore,
    reopen: Reopen<'_>,
    _caps: &Capabilities,
) {
    store
        .create_registered_model(&NewModel::new("old"))
        .unwrap();
    store
        .create_registered_model(&NewModel::new("taken"))
        .unwrap();
    add(store, "old", 0.5);
    add(store, "old", 0.6);
    let c = Change::by("ana");
    store
        .set_alias("old", &alias("champion"), v(2), &c)
        .unwrap();
    let err = store
        .rename_registered_model("old", "taken", &c)
        .unwrap_err();
    assert_eq!(kind_of(&err), "already exists");
    let renamed = store.rename_registered_model("old", "new", &c).unwrap();
    assert_eq!(renamed.name, "new");
    let again = reopen();
    assert_eq!(
        kind_of(&again.get_registered_model("old").unwrap_err()),
        "registered model"
    );
    let ver = again.get_model_version("new", v(2)).unwrap();
    assert_eq!(ver.name, "new");
    assert_eq!(ver.aliases, [alias("champion")]);
    assert_eq!(again.resolve(&uri("models:/new@champion")).unwrap(), v(2));
    assert_eq!(add(&*again, "new", 0.7), v(3));
    let history = again.audit_history("new").unwrap();
    assert!(matches!(
        history.first().map(|r| &r.change),
        Some(AuditChange::AliasSet { .. })
    ));
    assert!(matches!(
        history.last().map(|r| &r.change),
        Some(AuditChange::Renamed { .. })
    ));
    // The old name is free again.
    again
        .create_registered_model(&NewModel::new("old"))
        .unwrap();
    assert_eq!(again.get_registered_model("old").unwrap().latest_version, 0);
}

pub fn delete_model(store: &dyn RegistryStore, reopen: Reopen<'_>, _caps: &Capabilities) {
    store.create_registered_model(&NewModel::new("m")).unwrap();
    add(store, "m", 0.5);
    store
        .set_alias("m", &alias("a"), v(1), &Change::default())
        .unwrap();
    store.delete_registered_model("m").unwrap();
    let again = reopen();
    assert_eq!(
        kind_of(&again.get_registered_model("m").unwrap_err()),
        "registered model"
    );
    assert!(
        again
            .search_registered_models(&Search::all())
            .unwrap()
            .items
            .is_empty()
    );
    // Recreating starts a new history.
    again.create_registered_model(&NewModel::new("m")).unwrap();
    assert_eq!(add(&*again, "m", 0.5), v(1));
    assert!(again.audit_history("m").unwrap().is_empty());
    assert!(again.get_registered_model("m").unwrap().aliases.is_empty());
}

pub fn search_versions(store: &dyn RegistryStore, reopen: Reopen<'_>, _caps: &Capabilities) {
    for name in ["a", "b"] {
        store.create_registered_model(&NewModel::new(name)).unwrap();
        for acc in [0.7, 0.8, 0.9] {
            add(store, name, acc);
        }
    }
    let c = Change::default();
    store
        .transition_stage("a", v(3), Stage::Production, false, &c)
        .unwrap();
    store.set_alias("b", &alias("champion"), v(2), &c).unwrap();
    store.set_version_tag("a", v(1), "team", "nlp").unwrap();
    let again = reopen();
    let find = |f: &str| -> Vec<String> {
        let search = Search::filter(f)
            .unwrap()
            .order_by("name")
            .order_by("version_number DESC");
        again
            .search_model_versions(&search)
            .unwrap()
            .items
            .iter()
            .map(|x| format!("{}{}", x.name, x.version))
            .collect()
    };
    assert_eq!(find("name = 'a'"), ["a3", "a2", "a1"]);
    assert_eq!(find(""), ["a3", "a2", "a1", "b3", "b2", "b1"]);
    assert_eq!(find("run_id = 'run-0.8'"), ["a2", "b2"]);
    assert_eq!(find("current_stage = 'production'"), ["a3"]);
    assert_eq!(find("alias = 'champion'"), ["b2"]);
    assert_eq!(find("tags.team = 'nlp'"), ["a1"]);
    assert_eq!(find("name LIKE 'b%' AND version_number >= 2"), ["b3", "b2"]);
    assert_eq!(find("metrics.accuracy > 0.85"), ["a3", "b3"]);
    assert_eq!(
        find("name IN ('b') AND version_number NOT IN (1, 3)"),
        ["b2"]
    );
    assert_eq!(find("name = 'missing'"), Vec::<String>::new());
    let limited = again
        .search_model_versions(&Search::filter("name = 'b'").unwrap().max_results(2))
        .unwrap();
    assert_eq!(limited.items.len(), 2);
    assert!(limited.next_page_token.is_some());
    let err = Search::filter("name = 'a' OR name = 'b'").unwrap_err();
    assert!(err.to_string().contains("OR is not supported"), "{err}");
}

pub fn search_models(store: &dyn RegistryStore, reopen: Reopen<'_>, _caps: &Capabilities) {
    store
        .create_registered_model(&NewModel::new("text-clf").tag("team", "nlp"))
        .unwrap();
    store
        .create_registered_model(&NewModel::new("churn"))
        .unwrap();
    store
        .create_registered_model(&NewModel::new("text-gen"))
        .unwrap();
    let again = reopen();
    let names = |f: &str| -> Vec<String> {
        again
            .search_registered_models(&Search::filter(f).unwrap())
            .unwrap()
            .items
            .into_iter()
            .map(|m| m.name)
            .collect()
    };
    assert_eq!(names(""), ["churn", "text-clf", "text-gen"]);
    assert_eq!(names("name LIKE 'text%'"), ["text-clf", "text-gen"]);
    assert_eq!(names("name ILIKE 'TEXT-C%'"), ["text-clf"]);
    assert_eq!(names("tags.team = 'nlp'"), ["text-clf"]);
    let err = again
        .search_registered_models(&Search::filter("run_id = 'x'").unwrap())
        .unwrap_err();
    assert_eq!(kind_of(&err), "invalid");
    // A model created through another handle shows up.
    store
        .create_registered_model(&NewModel::new("zeta"))
        .unwrap();
    assert_eq!(names("").last().map(String::as_str), Some("zeta"));
}

pub fn audit_history_records_every_change(
    store: &dyn RegistryStore,
    reopen: Reopen<'_>,
    _caps: &Capabilities,
) {
    store.create_registered_model(&NewModel::new("m")).unwrap();
    add(store, "m", 0.5);
    add(store, "m", 0.6);
    let c = Change::by("ana").comment("passed review");
    store
        .transition_stage("m", v(1), Stage::Production, false, &c)
        .unwrap();
    store
        .transition_stage("m", v(2), Stage::Production, true, &Change::by("bob"))
        .unwrap();
    store.set_alias("m", &alias("champion"), v(1), &c).unwrap();
    store
        .set_alias("m", &alias("champion"), v(2), &Change::by("bob"))
        .unwrap();
    store
        .delete_alias("m", &alias("champion"), &Change::by("carl"))
        .unwrap();
    let history = reopen().audit_history("m").unwrap();
    let changes: Vec<String> = history.iter().map(|r| r.change.to_string()).collect();
    assert_eq!(
        changes,
        [
            "v1 stage None -> Production",
            "v1 stage Production -> Archived",
            "v2 stage None -> Production",
            "alias @champion set to v1",
            "alias @champion v1 -> v2",
            "alias @champion removed from v2",
        ]
    );
    assert_eq!(history[0].actor, "ana");
    assert_eq!(history[0].comment, "passed review");
    assert_eq!(history[1].actor, "bob");
    assert!(
        history[1].comment.contains("v2 moved to Production"),
        "{}",
        history[1].comment
    );
    assert_eq!(history[5].actor, "carl");
    assert!(history.windows(2).all(|w| w[0].at <= w[1].at));
    // Appends keep going after a reopen.
    let again = reopen();
    again
        .set_alias("m", &alias("champion"), v(1), &Change::by("dan"))
        .unwrap();
    assert_eq!(reopen().audit_history("m").unwrap().len(), 7);
}

pub fn denied_promotion_changes_nothing(
    store: &dyn RegistryStore,
    reopen: Reopen<'_>,
    _caps: &Capabilities,
) {
    store.create_registered_model(&NewModel::new("m")).unwrap();
    add(store, "m", 0.9);
    add(store, "m", 0.8); // regressed
    let ok = Change::by("ci");
    store
        .transition_stage("m", v(1), Stage::Production, true, &ok)
        .unwrap();
    store.set_alias("m", &alias("champion"), v(1), &ok).unwrap();
    let before_history = store.audit_history("m").unwrap();
    let gate = Gate::new()
        .min_metric("accuracy", 0.85)
        .no_regression("accuracy", Direction::HigherIsBetter)
        .require_tag("validated")
        .require_approval("approved_by");
    let gated = Change::by("ci").gated(&gate);
    let err = store
        .transition_stage("m", v(2), Stage::Production, true, &gated)
        .unwrap_err();
    let RegistryError::PromotionDenied {
        reasons, target, ..
    } = &err
    else {
        panic!("expected a denial, got {err}");
    };
    assert_eq!(target, "stage Production");
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(reasons[0].contains("below 0.85"), "{reasons:?}");
    assert!(reasons[1].contains("regressed"), "{reasons:?}");
    let err = store
        .set_alias("m", &alias("champion"), v(2), &gated)
        .unwrap_err();
    assert_eq!(kind_of(&err), "denied", "{err}");
    let again = reopen();
    assert_eq!(
        again.get_model_version("m", v(1)).unwrap().stage,
        Stage::Production
    );
    assert_eq!(
        again.get_model_version("m", v(2)).unwrap().stage,
        Stage::None
    );
    assert_eq!(again.resolve(&uri("models:/m@champion")).unwrap(), v(1));
    assert_eq!(again.audit_history("m").unwrap(), before_history);
    // A version that passes every rule is promoted through the same gate.
    add(&*again, "m", 0.95);
    again
        .set_version_tag("m", v(3), "validated", "yes")
        .unwrap();
    again
        .set_version_tag("m", v(3), "approved_by", "lead")
        .unwrap();
    again
        .set_alias("m", &alias("champion"), v(3), &gated)
        .unwrap();
    again
        .transition_stage("m", v(3), Stage::Production, true, &gated)
        .unwrap();
    assert_eq!(again.resolve(&uri("models:/m/Production")).unwrap(), v(3));
    // Self-approval is refused.
    add(&*again, "m", 0.96);
    again
        .set_version_tag("m", v(4), "validated", "yes")
        .unwrap();
    again
        .set_version_tag("m", v(4), "approved_by", "ci")
        .unwrap();
    let err = again
        .set_alias("m", &alias("champion"), v(4), &gated)
        .unwrap_err();
    assert!(err.to_string().contains("someone else"), "{err}");
}

pub fn compare_versions_marks_best(
    store: &dyn RegistryStore,
    _reopen: Reopen<'_>,
    _caps: &Capabilities,
) {
    store.create_registered_model(&NewModel::new("m")).unwrap();
    for (acc, lat) in [(0.85, 45.0), (0.91, 42.0), (0.93, 38.0)] {
        store
            .create_model_version(
                &NewVersion::new("m", "s3://conformance/s")
                    .metric("accuracy", acc)
                    .metric("latency_ms", lat),
            )
            .unwrap();
    }
    store
        .create_model_version(&NewVersion::new("m", "s3://conformance/s"))
        .unwrap();
    store
        .set_alias("m", &alias("champion"), v(3), &Change::default())
        .unwrap();
    let table = store.compare_versions("m").unwrap();
    assert_eq!(table.rows.len(), 4);
    assert_eq!(table.best("accuracy"), [v(3)]);
    assert_eq!(table.best("latency_ms"), [v(3)]);
    let flipped = table
        .clone()
        .with_direction("latency_ms", Direction::HigherIsBetter);
    assert_eq!(flipped.best("latency_ms"), [v(1)]);
    let text = table.to_string();
    assert!(text.contains("0.9300*"), "{text}");
    assert!(text.contains("38.0000*"), "{text}");
    assert!(text.contains("@champion"), "{text}");
    assert!(!text.contains("0.8500*"), "{text}");
    let v4 = text.lines().find(|l| l.starts_with("v4")).unwrap();
    assert!(v4.contains('-'), "{text}");
    let _ = Filter::all();
}

#[cfg(test)]
mod memory {
    crate::registry_conformance_tests!(|| {
        let store = crate::InMemoryRegistry::new();
        let again = store.clone();
        (
            Box::new(store) as Box<dyn crate::RegistryStore>,
            Box::new(move || Box::new(again.clone()) as Box<dyn crate::RegistryStore>)
                as Box<dyn Fn() -> Box<dyn crate::RegistryStore>>,
        )
    });
}

#[cfg(test)]
mod file {
    crate::registry_conformance_tests!(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::FileRegistry::open(dir.path())
            .unwrap()
            .with_fsync(false);
        (
            Box::new(store) as Box<dyn crate::RegistryStore>,
            Box::new(move || {
                Box::new(
                    crate::FileRegistry::open(dir.path())
                        .unwrap()
                        .with_fsync(false),
                ) as Box<dyn crate::RegistryStore>
            }) as Box<dyn Fn() -> Box<dyn crate::RegistryStore>>,
        )
    });
}

#[cfg(test)]
mod file_compacting {
    // Every case with a log compacted at almost every change, from two handles.
    crate::registry_conformance_tests!(|| {
        let dir = tempfile::tempdir().unwrap();
        let open = move |p: &std::path::Path| {
            crate::FileRegistry::open(p)
                .unwrap()
                .with_fsync(false)
                .with_compaction_slack(0)
        };
        let store = open(dir.path());
        (
            Box::new(store) as Box<dyn crate::RegistryStore>,
            Box::new(move || Box::new(open(dir.path())) as Box<dyn crate::RegistryStore>)
                as Box<dyn Fn() -> Box<dyn crate::RegistryStore>>,
        )
    });
}

#[cfg(test)]
mod file_durable {
    // One pass with fsync on, to exercise the durable code paths.
    crate::registry_conformance_tests!(@cases || {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::FileRegistry::open(dir.path()).unwrap();
        (
            Box::new(store) as Box<dyn crate::RegistryStore>,
            Box::new(move || {
                Box::new(crate::FileRegistry::open(dir.path()).unwrap())
                    as Box<dyn crate::RegistryStore>
            }) as Box<dyn Fn() -> Box<dyn crate::RegistryStore>>,
        )
    }; audit_history_records_every_change, rename_keeps_versions_aliases_history, deleting_a_version_deletes_its_aliases);
}

/// Every page of `search`, following the tokens; checks each page's size and that the
/// last page, and only it, has no token.
fn all_pages<T>(
    page_size: usize,
    search: &Search,
    run: &dyn Fn(&Search) -> crate::Result<crate::Page<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    let mut s = search.clone().max_results(page_size);
    for _ in 0..100 {
        let page = run(&s).unwrap();
        assert!(
            page.items.len() <= page_size,
            "page larger than {page_size}"
        );
        out.extend(page.items);
        match page.next_page_token {
            Some(t) => s.page_token = Some(t),
            None => return out,
        }
    }
    panic!("paging with size {page_size} did not end");
}

pub fn search_order_and_pages(store: &dyn RegistryStore, reopen: Reopen<'_>, _caps: &Capabilities) {
    for name in ["b", "a", "c"] {
        store.create_registered_model(&NewModel::new(name)).unwrap();
    }
    for (name, n) in [("a", 3), ("b", 4), ("c", 2), ("a", 2)] {
        for _ in 0..n {
            add(store, name, 0.5);
        }
    }
    store.update_model_version("a", v(1), "touched").unwrap();
    store.update_registered_model("b", "touched").unwrap();
    let again = reopen();
    let key = |x: &crate::ModelVersion| format!("{}{}", x.name, x.version);
    let find = |search: Search| -> Vec<String> {
        again
            .search_model_versions(&search)
            .unwrap()
            .items
            .iter()
            .map(key)
            .collect()
    };
    // Without clauses, MLflow's default order: most recently updated first, then name
    // ascending, then version descending. Explicit orders, most significant clause first.
    let mut want = again.search_model_versions(&Search::all()).unwrap().items;
    want.sort_by(|x, y| {
        y.updated_at
            .cmp(&x.updated_at)
            .then_with(|| x.name.cmp(&y.name))
            .then_with(|| y.version.cmp(&x.version))
    });
    assert_eq!(
        find(Search::all()),
        want.iter().map(key).collect::<Vec<_>>()
    );
    assert_eq!(
        find(
            Search::all()
                .order_by("name")
                .order_by("version_number DESC")
        ),
        [
            "a5", "a4", "a3", "a2", "a1", "b4", "b3", "b2", "b1", "c2", "c1"
        ]
    );
    assert_eq!(
        find(
            Search::filter("name = 'a'")
                .unwrap()
                .order_by("version_number")
        ),
        ["a1", "a2", "a3", "a4", "a5"]
    );
    assert_eq!(
        find(Search::all().order_by("name DESC")),
        [
            "c2", "c1", "b4", "b3", "b2", "b1", "a5", "a4", "a3", "a2", "a1"
        ]
    );
    assert_eq!(
        find(
            Search::all()
                .order_by("version_number desc")
                .order_by("name ASC")
        )[..4],
        ["a5", "a4", "b4", "a3"]
    );
    // Timestamps: the reference order is computed here from the returned records.
    let all = again.search_model_versions(&Search::all()).unwrap().items;
    let by = |clause: &str,
              f: &dyn Fn(&crate::ModelVersion) -> chrono::DateTime<chrono::Utc>,
              asc: bool| {
        let mut want = all.clone();
        want.sort_by(|x, y| {
            let o = f(x).cmp(&f(y));
            let o = if asc { o } else { o.reverse() };
            o.then_with(|| x.name.cmp(&y.name))
                .then_with(|| y.version.cmp(&x.version))
        });
        assert_eq!(
            find(Search::all().order_by(clause)),
            want.iter().map(key).collect::<Vec<_>>(),
            "{clause}"
        );
    };
    by("creation_timestamp", &|x| x.created_at, true);
    by("creation_timestamp DESC", &|x| x.created_at, false);
    by("last_updated_timestamp DESC", &|x| x.updated_at, false);
    let a1 = all.iter().find(|x| key(x) == "a1").unwrap();
    assert!(all.iter().all(|x| x.updated_at <= a1.updated_at));

    // Paging through all results returns every item exactly once, in order.
    let orders: [&[&str]; 4] = [
        &[],
        &["version_number ASC"],
        &["creation_timestamp DESC"],
        &["last_updated_timestamp", "name DESC"],
    ];
    for order in orders {
        let mut search = Search::all();
        for c in order {
            search = search.order_by(*c);
        }
        let full = find(search.clone());
        assert_eq!(full.len(), 11);
        for size in [1, 2, 3, 4, 10, 11, 50] {
            let paged: Vec<String> = all_pages(size, &search, &|s| again.search_model_versions(s))
                .iter()
                .map(key)
                .collect();
            assert_eq!(paged, full, "order {order:?}, page size {size}");
        }
        let filtered = Search::filter("name = 'b'").unwrap();
        let paged = all_pages(3, &filtered, &|s| again.search_model_versions(s));
        assert_eq!(
            paged.iter().map(key).collect::<Vec<_>>(),
            ["b4", "b3", "b2", "b1"]
        );
    }
    let models = |search: &Search| -> Vec<String> {
        all_pages(2, search, &|s| again.search_registered_models(s))
            .into_iter()
            .map(|m| m.name)
            .collect()
    };
    assert_eq!(models(&Search::all()), ["a", "b", "c"]);
    assert_eq!(
        models(&Search::all().order_by("name DESC")),
        ["c", "b", "a"]
    );
    let mut want = again
        .search_registered_models(&Search::all())
        .unwrap()
        .items;
    want.sort_by(|x, y| {
        y.updated_at
            .cmp(&x.updated_at)
            .then_with(|| x.name.cmp(&y.name))
    });
    assert_eq!(
        models(&Search::all().order_by("last_updated_timestamp DESC")),
        want.into_iter().map(|m| m.name).collect::<Vec<_>>()
    );
    // MLflow reads `timestamp` as the last update and refuses `creation_timestamp` for models.
    assert_eq!(
        models(&Search::all().order_by("timestamp ASC")),
        models(&Search::all().order_by("last_updated_timestamp"))
    );
    let err = again
        .search_registered_models(&Search::all().order_by("creation_timestamp"))
        .unwrap_err();
    assert_eq!(kind_of(&err), "invalid", "{err}");
    // A zero page size is one empty last page.
    let empty = again
        .search_model_versions(&Search::all().max_results(0))
        .unwrap();
    assert!(empty.items.is_empty() && empty.next_page_token.is_none());

    // Bad clauses and tokens are invalid arguments naming the problem.
    for bad in ["stage", "name sideways", "name ASC please", "", "tags.x"] {
        let err = again
            .search_model_versions(&Search::all().order_by(bad))
            .unwrap_err();
        assert_eq!(kind_of(&err), "invalid", "{bad}: {err}");
        assert!(err.to_string().contains("order_by"), "{err}");
    }
    let err = again
        .search_model_versions(
            &Search::filter("name = 'missing'")
                .unwrap()
                .order_by("bogus"),
        )
        .unwrap_err();
    assert_eq!(kind_of(&err), "invalid", "{err}");
    let err = again
        .search_registered_models(&Search::all().order_by("version_number"))
        .unwrap_err();
    assert_eq!(kind_of(&err), "invalid", "{err}");
    let versions_err = again
        .search_model_versions(&Search::all().page_token("not-a-token"))
        .unwrap_err();
    let models_err = again
        .search_registered_models(&Search::all().page_token("not-a-token"))
        .unwrap_err();
    for err in [versions_err, models_err] {
        assert_eq!(kind_of(&err), "invalid", "{err}");
        assert!(err.to_string().contains("page token"), "{err}");
    }
}
