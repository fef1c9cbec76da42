//! Model-based tests: random operation sequences run on each backend and on a plain
//! `BTreeMap` model must agree at every step; the file backend is also closed and reopened.

use std::collections::BTreeMap;

use mlops_registry::{
    Alias, Change, FileRegistry, InMemoryRegistry, ModelUri, ModelVersionNumber, NewModel,
    NewVersion, RegistryError, RegistryStore, RegistryStoreExt, Stage,
};
use proptest::prelude::*;

const NAMES: [&str; 3] = ["a", "b", "c"];
const ALIASES: [&str; 2] = ["champion", "challenger"];

#[derive(Debug, Clone)]
enum Op {
    CreateModel(usize),
    DeleteModel(usize),
    CreateVersion(usize),
    DeleteVersion(usize, u64),
    Transition(usize, u64, Stage, bool),
    SetAlias(usize, usize, u64),
    DeleteAlias(usize, usize),
    SetTag(usize, u64, u8),
    Rename(usize, usize),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let n = 0..NAMES.len();
    let ver = 1..5u64;
    let stage = prop::sample::select(Stage::ALL.to_vec());
    prop_oneof![
        2 => n.clone().prop_map(Op::CreateModel),
        1 => n.clone().prop_map(Op::DeleteModel),
        5 => n.clone().prop_map(Op::CreateVersion),
        1 => (n.clone(), ver.clone()).prop_map(|(m, v)| Op::DeleteVersion(m, v)),
        4 => (n.clone(), ver.clone(), stage, any::<bool>())
            .prop_map(|(m, v, s, a)| Op::Transition(m, v, s, a)),
        3 => (n.clone(), 0..ALIASES.len(), ver.clone()).prop_map(|(m, a, v)| Op::SetAlias(m, a, v)),
        1 => (n.clone(), 0..ALIASES.len()).prop_map(|(m, a)| Op::DeleteAlias(m, a)),
        1 => (n.clone(), ver, any::<u8>()).prop_map(|(m, v, t)| Op::SetTag(m, v, t)),
        1 => (n.clone(), n).prop_map(|(a, b)| Op::Rename(a, b)),
        1 => Just(Op::Reopen),
    ]
}

#[derive(Debug, Clone, Default, PartialEq)]
struct MModel {
    latest: u64,
    versions: BTreeMap<u64, (Stage, Option<String>)>,
    aliases: BTreeMap<String, u64>,
    audit: usize,
}

/// The reference: what MLflow's rules say each operation does.
#[derive(Debug, Default)]
struct Model(BTreeMap<String, MModel>);

/// The outcome class of an operation, compared between model and backend.
#[derive(Debug, PartialEq)]
enum Outcome {
    Ok,
    NotFound,
    Exists,
    Invalid,
}

fn outcome<T>(r: Result<T, RegistryError>) -> Outcome {
    match r {
        Ok(_) => Outcome::Ok,
        Err(RegistryError::NotFound { .. }) => Outcome::NotFound,
        Err(RegistryError::AlreadyExists { .. }) => Outcome::Exists,
        Err(RegistryError::InvalidArgument { .. }) => Outcome::Invalid,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

impl Model {
    fn apply(&mut self, op: &Op) -> Outcome {
        use Outcome::{Exists, Invalid, NotFound, Ok};
        match *op {
            Op::CreateModel(m) => {
                if self.0.contains_key(NAMES[m]) {
                    return Exists;
                }
                self.0.insert(NAMES[m].into(), MModel::default());
                Ok
            }
            Op::DeleteModel(m) => {
                if self.0.remove(NAMES[m]).is_some() {
                    Ok
                } else {
                    NotFound
                }
            }
            Op::CreateVersion(m) => {
                let Some(model) = self.0.get_mut(NAMES[m]) else {
                    return NotFound;
                };
                model.latest += 1;
                model.versions.insert(model.latest, (Stage::None, None));
                model.audit += 1;
                Ok
            }
            Op::DeleteVersion(m, v) => {
                let Some(model) = self.0.get_mut(NAMES[m]) else {
                    return NotFound;
                };
                if model.versions.remove(&v).is_none() {
                    return NotFound;
                }
                let before = model.aliases.len();
                model.aliases.retain(|_, x| *x != v);
                model.audit += before - model.aliases.len() + 1;
                Ok
            }
            Op::Transition(m, v, stage, archive) => {
                let Some(model) = self.0.get_mut(NAMES[m]) else {
                    return NotFound;
                };
                if !model.versions.contains_key(&v) {
                    return NotFound;
                }
                if archive && !matches!(stage, Stage::Staging | Stage::Production) {
                    return Invalid;
                }
                if archive {
                    for (n, (s, _)) in &mut model.versions {
                        if *n != v && *s == stage {
                            *s = Stage::Archived;
                            model.audit += 1;
                        }
                    }
                }
                model.versions.get_mut(&v).unwrap().0 = stage;
                model.audit += 1;
                Ok
            }
            Op::SetAlias(m, a, v) => {
                let Some(model) = self.0.get_mut(NAMES[m]) else {
                    return NotFound;
                };
                if !model.versions.contains_key(&v) {
                    return NotFound;
                }
                model.aliases.insert(ALIASES[a].into(), v);
                model.audit += 1;
                Ok
            }
            Op::DeleteAlias(m, a) => {
                let Some(model) = self.0.get_mut(NAMES[m]) else {
                    return NotFound;
                };
                if model.aliases.remove(ALIASES[a]).is_none() {
                    return NotFound;
                }
                model.audit += 1;
                Ok
            }
            Op::SetTag(m, v, t) => {
                let Some(model) = self.0.get_mut(NAMES[m]) else {
                    return NotFound;
                };
                let Some(ver) = model.versions.get_mut(&v) else {
                    return NotFound;
                };
                ver.1 = Some(t.to_string());
                Ok
            }
            Op::Rename(a, b) => {
                if !self.0.contains_key(NAMES[a]) {
                    return NotFound;
                }
                if self.0.contains_key(NAMES[b]) {
                    return Exists;
                }
                let mut model = self.0.remove(NAMES[a]).unwrap();
                model.audit += 1;
                self.0.insert(NAMES[b].into(), model);
                Ok
            }
            Op::Reopen => Ok,
        }
    }
}

fn run(store: &dyn RegistryStore, op: &Op) -> Outcome {
    let c = Change::by("prop");
    let v = |n: u64| ModelVersionNumber::new(n).unwrap();
    let alias = |a: usize| ALIASES[a].parse::<Alias>().unwrap();
    match *op {
        Op::CreateModel(m) => outcome(store.create_registered_model(&NewModel::new(NAMES[m]))),
        Op::DeleteModel(m) => outcome(store.delete_registered_model(NAMES[m])),
        Op::CreateVersion(m) => {
            outcome(store.create_model_version(&NewVersion::new(NAMES[m], "src")))
        }
        Op::DeleteVersion(m, n) => outcome(store.delete_model_version(NAMES[m], v(n), &c)),
        Op::Transition(m, n, s, a) => outcome(store.transition_stage(NAMES[m], v(n), s, a, &c)),
        Op::SetAlias(m, a, n) => outcome(store.set_alias(NAMES[m], &alias(a), v(n), &c)),
        Op::DeleteAlias(m, a) => outcome(store.delete_alias(NAMES[m], &alias(a), &c)),
        Op::SetTag(m, n, t) => outcome(store.set_version_tag(NAMES[m], v(n), "t", &t.to_string())),
        Op::Rename(a, b) => outcome(store.rename_registered_model(NAMES[a], NAMES[b], &c)),
        Op::Reopen => Outcome::Ok,
    }
}

fn check(store: &dyn RegistryStore, model: &Model) {
    for name in NAMES {
        let Some(expected) = model.0.get(name) else {
            assert!(
                store.get_registered_model(name).is_err(),
                "{name} should not exist"
            );
            continue;
        };
        let m = store.get_registered_model(name).unwrap();
        assert_eq!(m.latest_version, expected.latest, "{name}");
        let aliases: BTreeMap<String, u64> = m
            .aliases
            .iter()
            .map(|(a, v)| (a.to_string(), v.get()))
            .collect();
        assert_eq!(aliases, expected.aliases, "{name}");
        let versions: BTreeMap<u64, (Stage, Option<String>)> = store
            .versions(name)
            .unwrap()
            .into_iter()
            .map(|x| (x.version.get(), (x.stage, x.tags.get("t").cloned())))
            .collect();
        assert_eq!(versions, expected.versions, "{name}");
        assert_eq!(
            store.audit_history(name).unwrap().len(),
            expected.audit,
            "{name}"
        );
        // Resolution agrees with the model's rules.
        for stage in Stage::ALL {
            let want = expected
                .versions
                .iter()
                .filter(|(_, (s, _))| *s == stage)
                .map(|(n, _)| *n)
                .max();
            let uri: ModelUri = format!("models:/{name}/{stage}").parse().unwrap();
            assert_eq!(store.resolve(&uri).ok().map(ModelVersionNumber::get), want);
        }
        let latest: ModelUri = format!("models:/{name}/latest").parse().unwrap();
        assert_eq!(
            store.resolve(&latest).ok().map(ModelVersionNumber::get),
            expected.versions.keys().next_back().copied()
        );
        for a in ALIASES {
            let uri: ModelUri = format!("models:/{name}@{a}").parse().unwrap();
            assert_eq!(
                store.resolve(&uri).ok().map(ModelVersionNumber::get),
                expected.aliases.get(a).copied()
            );
        }
    }
    let listed: Vec<String> = store
        .search_registered_models(&Default::default())
        .unwrap()
        .items
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(listed, model.0.keys().cloned().collect::<Vec<_>>());
}

/// Sequences start by creating two models with a few versions each, so most operations hit
/// existing state; the random tail then creates, deletes and renames freely.
fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(), 1..48).prop_map(|tail| {
        let mut all = vec![Op::CreateModel(0), Op::CreateModel(1)];
        for _ in 0..3 {
            all.extend([Op::CreateVersion(0), Op::CreateVersion(1)]);
        }
        all.extend(tail);
        all
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn memory_agrees_with_the_model(ops in ops()) {
        let store = InMemoryRegistry::new();
        let mut model = Model::default();
        for op in &ops {
            prop_assert_eq!(run(&store, op), model.apply(op), "{:?}", op);
            check(&store, &model);
        }
    }

}

proptest! {
    // Fewer cases than in memory: every step also checks a second handle and lists the
    // directory, and this machine's file system is shared with other builds.
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn file_agrees_with_the_model_across_reopens(ops in ops()) {
        let dir = tempfile::tempdir().unwrap();
        // A small compaction slack: the logs are compacted every few changes, so the handles
        // follow compactions as well as appends.
        let open = || {
            FileRegistry::open(dir.path())
                .unwrap()
                .with_fsync(false)
                .with_compaction_slack(1024)
        };
        let mut store = open();
        // A second handle on the same directory, kept open throughout: it must follow every
        // change through its cache revalidation.
        let observer = open();
        let mut model = Model::default();
        for op in &ops {
            if matches!(op, Op::Reopen) {
                drop(store);
                store = open();
            }
            prop_assert_eq!(run(&store, op), model.apply(op), "{:?}", op);
            check(&store, &model);
            check(&observer, &model);
        }
        check(&open(), &model);
    }
}
