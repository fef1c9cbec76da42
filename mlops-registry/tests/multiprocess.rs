//! Several processes share one file registry: version numbers stay distinct and consecutive,
//! and an open registry sees the changes other processes make.
//!
//! The test binary re-executes itself as the child processes (`MLOPS_REGISTRY_CHILD` tells a
//! test to act as a child).
#![allow(clippy::print_stdout)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use mlops_registry::{
    Change, FileRegistry, ModelUri, ModelVersionNumber, NewModel, NewVersion, RegistryStore,
    RegistryStoreExt, Stage,
};

const CHILD: &str = "MLOPS_REGISTRY_CHILD";
const PROCESSES: usize = 8;
const PER_PROCESS: usize = 100;

fn spawn_child(test: &str, dir: &Path, role: &str) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, format!("{role}:{}", dir.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

fn child_args() -> Option<(String, String)> {
    let v = std::env::var(CHILD).ok()?;
    let (role, dir) = v.split_once(':')?;
    Some((role.to_owned(), dir.to_owned()))
}

#[test]
fn concurrent_version_creation_across_processes() {
    if let Some((role, dir)) = child_args() {
        let reg = FileRegistry::open(&dir).unwrap().with_fsync(false);
        for i in 0..PER_PROCESS {
            let v = reg
                .create_model_version(
                    &NewVersion::new("shared", format!("s3://{role}/{i}")).run_id(role.clone()),
                )
                .unwrap();
            println!("created {}", v.version);
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    FileRegistry::open(dir.path())
        .unwrap()
        .create_registered_model(&NewModel::new("shared"))
        .unwrap();
    let children: Vec<_> = (0..PROCESSES)
        .map(|i| {
            spawn_child(
                "concurrent_version_creation_across_processes",
                dir.path(),
                &format!("p{i}"),
            )
        })
        .collect();
    let mut seen = BTreeSet::new();
    let mut total = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "a child failed: {:?}", out.status);
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            // libtest may print "test <name> ... " on the same line first.
            if let Some(n) = line.split("created ").nth(1) {
                total += 1;
                assert!(
                    seen.insert(n.parse::<u64>().unwrap()),
                    "version {n} given twice"
                );
            }
        }
    }
    let expected = (PROCESSES * PER_PROCESS) as u64;
    assert_eq!(total, expected);
    assert_eq!(seen, (1..=expected).collect::<BTreeSet<u64>>());
    let reg = FileRegistry::open(dir.path()).unwrap();
    assert!(reg.repairs().is_empty(), "{:?}", reg.repairs());
    assert_eq!(
        reg.get_registered_model("shared").unwrap().latest_version,
        expected
    );
    let versions = reg.versions("shared").unwrap();
    assert_eq!(versions.len() as u64, expected);
    for (i, v) in versions.iter().enumerate() {
        assert_eq!(v.version.get(), i as u64 + 1);
    }
    // Each child's versions are all there, with their own sources.
    for p in 0..PROCESSES {
        let mine = versions
            .iter()
            .filter(|v| v.run_id.as_deref() == Some(&format!("p{p}")))
            .count();
        assert_eq!(mine, PER_PROCESS);
    }
}

#[test]
fn an_open_registry_sees_other_processes_changes() {
    if let Some((role, dir)) = child_args() {
        let reg = FileRegistry::open(&dir).unwrap();
        let v = reg
            .create_model_version(&NewVersion::new("m", "s3://child"))
            .unwrap();
        let c = Change::by(&role);
        reg.set_alias("m", &"champion".parse().unwrap(), v.version, &c)
            .unwrap();
        reg.transition_stage("m", v.version, Stage::Production, true, &c)
            .unwrap();
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let reg = FileRegistry::open(dir.path()).unwrap();
    reg.create_registered_model(&NewModel::new("m")).unwrap();
    let v1 = reg
        .create_model_version(&NewVersion::new("m", "s3://parent"))
        .unwrap()
        .version;
    reg.set_alias("m", &"champion".parse().unwrap(), v1, &Change::default())
        .unwrap();
    reg.transition_stage("m", v1, Stage::Production, false, &Change::default())
        .unwrap();
    let champion: ModelUri = "models:/m@champion".parse().unwrap();
    let prod: ModelUri = "models:/m/Production".parse().unwrap();
    // Warm the cache: these are served from memory now.
    assert_eq!(reg.resolve(&champion).unwrap(), v1);
    assert_eq!(reg.resolve(&prod).unwrap(), v1);

    let out = spawn_child(
        "an_open_registry_sees_other_processes_changes",
        dir.path(),
        "deployer",
    )
    .wait_with_output()
    .unwrap();
    assert!(out.status.success());

    let v2 = ModelVersionNumber::new(2).unwrap();
    assert_eq!(reg.resolve(&champion).unwrap(), v2);
    assert_eq!(reg.resolve(&prod).unwrap(), v2);
    assert_eq!(
        reg.get_model_version("m", v1).unwrap().stage,
        Stage::Archived
    );
    let history = reg.audit_history("m").unwrap();
    assert_eq!(history.last().unwrap().actor, "deployer");
    // And our next write builds on the child's state.
    let v3 = reg
        .create_model_version(&NewVersion::new("m", "s3://parent"))
        .unwrap();
    assert_eq!(v3.version.get(), 3);
}

#[test]
fn a_killed_writer_leaves_a_consistent_registry() {
    if let Some((_, dir)) = child_args() {
        let reg = FileRegistry::open(&dir).unwrap().with_fsync(false);
        let c = Change::by("loop");
        for i in 0.. {
            let v = reg
                .create_model_version(&NewVersion::new("m", format!("s{i}")))
                .unwrap();
            reg.transition_stage("m", v.version, Stage::Production, true, &c)
                .unwrap();
            reg.set_alias("m", &"champion".parse().unwrap(), v.version, &c)
                .unwrap();
            println!("committed {}", v.version);
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    FileRegistry::open(dir.path())
        .unwrap()
        .create_registered_model(&NewModel::new("m"))
        .unwrap();
    let mut child = spawn_child(
        "a_killed_writer_leaves_a_consistent_registry",
        dir.path(),
        "writer",
    );
    // Let it commit some changes, then kill it mid-flight.
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut committed = Vec::new();
    let mut line = String::new();
    while committed.len() < 20 {
        line.clear();
        if std::io::BufRead::read_line(&mut stdout, &mut line).unwrap() == 0 {
            break;
        }
        if let Some(n) = line.trim().split("committed ").nth(1) {
            committed.push(n.parse::<u64>().unwrap());
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    committed.extend(
        rest.lines()
            .filter_map(|l| l.split("committed ").nth(1)?.parse::<u64>().ok()),
    );
    let last_acknowledged = committed.last().copied().unwrap_or(0);
    assert!(last_acknowledged >= 1, "the child committed nothing");

    let reg = FileRegistry::open(dir.path()).unwrap();
    let model = reg.get_registered_model("m").unwrap();
    // Nothing acknowledged is lost; at most the in-flight version is newer.
    assert!(model.latest_version >= last_acknowledged);
    let versions = reg.versions("m").unwrap();
    assert_eq!(versions.len() as u64, model.latest_version);
    let in_production: Vec<_> = versions
        .iter()
        .filter(|v| v.stage == Stage::Production)
        .collect();
    assert!(in_production.len() <= 1, "{in_production:?}");
    let champion = reg.resolve(&"models:/m@champion".parse().unwrap()).unwrap();
    assert!(champion.get() >= last_acknowledged);
    // The history is readable and matches the committed state.
    let history = reg.audit_history("m").unwrap();
    assert!(!history.is_empty());
    // And the registry keeps working.
    let next = reg
        .create_model_version(&NewVersion::new("m", "after"))
        .unwrap();
    assert_eq!(next.version.get(), model.latest_version + 1);
}

#[test]
fn threads_on_two_handles_get_distinct_consecutive_versions() {
    let dir = tempfile::tempdir().unwrap();
    let a = FileRegistry::open(dir.path()).unwrap().with_fsync(false);
    let b = FileRegistry::open(dir.path()).unwrap().with_fsync(false);
    a.create_registered_model(&NewModel::new("m")).unwrap();
    let numbers: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let reg = if t % 2 == 0 { &a } else { &b };
                s.spawn(move || {
                    (0..25)
                        .map(|i| {
                            reg.create_model_version(&NewVersion::new("m", format!("{t}/{i}")))
                                .unwrap()
                                .version
                                .get()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let distinct: BTreeSet<u64> = numbers.iter().copied().collect();
    assert_eq!(distinct.len(), 100);
    assert_eq!(distinct, (1..=100).collect::<BTreeSet<u64>>());
    assert_eq!(b.versions("m").unwrap().len(), 100);
    assert_eq!(a.get_registered_model("m").unwrap().latest_version, 100);
}
