//! The cases on models, versions, stages, aliases, tags, renames, deletes and the audit history.

use super::{Capabilities, Subject, add, alias, kind_of, reopen, uri, v};
use crate::Direction;
use crate::error::RegistryError;
use crate::model::{AuditChange, Stage};
use crate::policy::Gate;
use crate::store::{Change, NewModel, NewVersion, RegistryStore, RegistryStoreExt, Search};

pub fn models_create_get_duplicate(subject: &Subject<dyn RegistryStore>, _caps: &Capabilities) {
    let store = &*subject.store;
    let m = store
        .create_registered_model(&NewModel::new("clf").description("d").tag("team", "nlp"))
        .unwrap();
    assert_eq!(m.name, "clf");
    assert_eq!(m.latest_version, 0);
    let err = store
        .create_registered_model(&NewModel::new("clf"))
        .unwrap_err();
    assert_eq!(kind_of(&err), "already exists", "{err}");
    let again = reopen(subject);
    let got = again.get_registered_model("clf").unwrap();
    assert_eq!(got.description, "d");
    assert_eq!(got.tags["team"], "nlp");
    assert_eq!(got.created_at, m.created_at);
}

pub fn invalid_input_is_rejected(subject: &Subject<dyn RegistryStore>, _caps: &Capabilities) {
    let store = &*subject.store;
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
    subject: &Subject<dyn RegistryStore>,
    caps: &Capabilities,
) {
    let store = &*subject.store;
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
    let again = reopen(subject);
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

pub fn unknown_model_and_version(subject: &Subject<dyn RegistryStore>, _caps: &Capabilities) {
    let store = &*subject.store;
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
pub fn seed_demo_stage_workflow(subject: &Subject<dyn RegistryStore>, _caps: &Capabilities) {
    let store = &*subject.store;
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
    let again = reopen(subject);
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
    subject: &Subject<dyn RegistryStore>,
    _caps: &Capabilities,
) {
    let store = &*subject.store;
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

pub fn aliases_set_move_delete(subject: &Subject<dyn RegistryStore>, _caps: &Capabilities) {
    let store = &*subject.store;
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
    let again = reopen(subject);
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
    assert_eq!(
        reopen(subject).resolve(&uri("models:/m@champion")).unwrap(),
        v(2)
    );
}

pub fn deleting_a_version_deletes_its_aliases(
    subject: &Subject<dyn RegistryStore>,
    _caps: &Capabilities,
) {
    let store = &*subject.store;
    store.create_registered_model(&NewModel::new("m")).unwrap();
    add(store, "m", 0.5);
    add(store, "m", 0.6);
    let c = Change::default();
    store.set_alias("m", &alias("champion"), v(1), &c).unwrap();
    store.set_alias("m", &alias("shadow"), v(1), &c).unwrap();
    store.delete_model_version("m", v(1), &c).unwrap();
    let again = reopen(subject);
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

pub fn resolve_every_uri_form(subject: &Subject<dyn RegistryStore>, _caps: &Capabilities) {
    let store = &*subject.store;
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
    for s in [&*reopen(subject), store] {
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

pub fn tags_and_descriptions(subject: &Subject<dyn RegistryStore>, _caps: &Capabilities) {
    let store = &*subject.store;
    store.create_registered_model(&NewModel::new("m")).unwrap();
    add(store, "m", 0.5);
    store.set_model_tag("m", "owner", "ana").unwrap();
    store
        .set_version_tag("m", v(1), "validated", "yes")
        .unwrap();
    store.update_registered_model("m", "model d").unwrap();
    let updated = store.update_model_version("m", v(1), "version d").unwrap();
    assert_eq!(updated.description, "version d");
    let again = reopen(subject);
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
    let again = reopen(subject);
    assert!(again.get_registered_model("m").unwrap().tags.is_empty());
    assert!(again.get_model_version("m", v(1)).unwrap().tags.is_empty());
    let err = again
        .set_model_tag("m", "k", &"x".repeat(5001))
        .unwrap_err();
    assert_eq!(kind_of(&err), "invalid");
}

pub fn rename_keeps_versions_aliases_history(
    subject: &Subject<dyn RegistryStore>,
    _caps: &Capabilities,
) {
    let store = &*subject.store;
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
    let again = reopen(subject);
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
    let changes: Vec<String> = history.iter().map(|r| r.change.to_string()).collect();
    assert!(
        changes.iter().any(|c| c == "alias @champion set to v2"),
        "the history from before the rename follows the model: {changes:?}"
    );
    assert_eq!(
        changes.last().map(String::as_str),
        Some("v3 created"),
        "{changes:?}"
    );
    assert!(matches!(
        history.iter().rev().nth(1).map(|r| &r.change),
        Some(AuditChange::Renamed { .. })
    ));
    // The old name is free again.
    again
        .create_registered_model(&NewModel::new("old"))
        .unwrap();
    assert_eq!(again.get_registered_model("old").unwrap().latest_version, 0);
}

pub fn delete_model(subject: &Subject<dyn RegistryStore>, _caps: &Capabilities) {
    let store = &*subject.store;
    store.create_registered_model(&NewModel::new("m")).unwrap();
    add(store, "m", 0.5);
    store
        .set_alias("m", &alias("a"), v(1), &Change::default())
        .unwrap();
    store.delete_registered_model("m").unwrap();
    let again = reopen(subject);
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
    let history = again.audit_history("m").unwrap();
    let changes: Vec<String> = history.iter().map(|r| r.change.to_string()).collect();
    assert_eq!(changes, ["v1 created"]);
    assert!(again.get_registered_model("m").unwrap().aliases.is_empty());
}

pub fn audit_history_records_every_change(
    subject: &Subject<dyn RegistryStore>,
    _caps: &Capabilities,
) {
    let store = &*subject.store;
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
    add(store, "m", 0.7);
    store
        .delete_model_version("m", v(3), &Change::by("eve").comment("bad build"))
        .unwrap();
    let history = reopen(subject).audit_history("m").unwrap();
    let changes: Vec<String> = history.iter().map(|r| r.change.to_string()).collect();
    assert_eq!(
        changes,
        [
            "v1 created",
            "v2 created",
            "v1 stage None -> Production",
            "v1 stage Production -> Archived",
            "v2 stage None -> Production",
            "alias @champion set to v1",
            "alias @champion v1 -> v2",
            "alias @champion removed from v2",
            "v3 created",
            "v3 deleted",
        ]
    );
    assert!(matches!(
        history[0].change,
        AuditChange::VersionCreated { version } if version == v(1)
    ));
    assert_eq!(history[2].actor, "ana");
    assert_eq!(history[2].comment, "passed review");
    assert_eq!(history[3].actor, "bob");
    assert!(
        history[3].comment.contains("v2 moved to Production"),
        "{}",
        history[3].comment
    );
    assert_eq!(history[7].actor, "carl");
    assert_eq!(history[9].actor, "eve");
    assert_eq!(history[9].comment, "bad build");
    assert!(history.windows(2).all(|w| w[0].at <= w[1].at));
    // Appends keep going after a reopen.
    let again = reopen(subject);
    again
        .set_alias("m", &alias("champion"), v(1), &Change::by("dan"))
        .unwrap();
    assert_eq!(reopen(subject).audit_history("m").unwrap().len(), 11);
}

pub fn denied_promotion_changes_nothing(
    subject: &Subject<dyn RegistryStore>,
    _caps: &Capabilities,
) {
    let store = &*subject.store;
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
        .no_regression("accuracy", Direction::Maximize)
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
    let again = reopen(subject);
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

pub fn compare_versions_marks_best(subject: &Subject<dyn RegistryStore>, _caps: &Capabilities) {
    let store = &*subject.store;
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
        .with_direction("latency_ms", Direction::Maximize);
    assert_eq!(flipped.best("latency_ms"), [v(1)]);
    let text = table.to_string();
    assert!(text.contains("0.9300*"), "{text}");
    assert!(text.contains("38.0000*"), "{text}");
    assert!(text.contains("@champion"), "{text}");
    assert!(!text.contains("0.8500*"), "{text}");
    let v4 = text.lines().find(|l| l.starts_with("v4")).unwrap();
    assert!(v4.contains('-'), "{text}");
}
