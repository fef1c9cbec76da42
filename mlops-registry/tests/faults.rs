//! Damaged files and crashes at every step of the file registry's write protocol: each has a
//! documented outcome, a clear error naming the file, and never a half-made version.

use std::fs;
use std::path::{Path, PathBuf};

use mlops_registry::{
    Change, FileRegistry, ModelVersionNumber, NewModel, NewVersion, RegistryError, RegistryStore,
    RegistryStoreExt, Stage,
};

fn v(n: u64) -> ModelVersionNumber {
    ModelVersionNumber::new(n).unwrap()
}

/// A registry with model `m` (two versions, v1 in Production, alias `champion` on v1) and
/// model `other`.
fn setup() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let reg = FileRegistry::open(dir.path()).unwrap();
    reg.create_registered_model(&NewModel::new("m")).unwrap();
    for i in 0..2 {
        reg.create_model_version(&NewVersion::new("m", format!("s{i}")).metric("acc", 0.5))
            .unwrap();
    }
    reg.transition_stage("m", v(1), Stage::Production, true, &Change::by("t"))
        .unwrap();
    reg.set_alias("m", &"champion".parse().unwrap(), v(1), &Change::by("t"))
        .unwrap();
    reg.create_registered_model(&NewModel::new("other"))
        .unwrap();
    let model_dir = model_dir_of(dir.path(), "m");
    (dir, model_dir)
}

fn model_dir_of(root: &Path, name: &str) -> PathBuf {
    for entry in fs::read_dir(root.join("models")).unwrap() {
        let dir = entry.unwrap().path();
        let text = fs::read_to_string(dir.join("model.json")).unwrap_or_default();
        if text.contains(&format!("\"name\": \"{name}\"")) {
            return dir;
        }
    }
    panic!("no directory for model {name}");
}

fn corrupt_path(err: &RegistryError) -> &Path {
    match err {
        RegistryError::Corrupt { path, .. } => path,
        other => panic!("expected a corrupt-file error, got {other}"),
    }
}

#[test]
fn truncated_or_garbage_model_file_is_a_clear_error_for_that_model_only() {
    for damage in [
        b"{\"format\": 1, \"incarn".as_slice(),
        b"",
        b"\x00\xffgarbage",
    ] {
        let (dir, model_dir) = setup();
        let path = model_dir.join("model.json");
        fs::write(&path, damage).unwrap();
        let reg = FileRegistry::open(dir.path()).unwrap();
        let err = reg.get_registered_model("m").unwrap_err();
        assert_eq!(corrupt_path(&err), path);
        assert!(err.to_string().contains("model.json"), "{err}");
        let err = reg
            .resolve(&"models:/m@champion".parse().unwrap())
            .unwrap_err();
        assert_eq!(corrupt_path(&err), path);
        // Writes are refused too: nothing is built on a damaged record.
        let err = reg
            .create_model_version(&NewVersion::new("m", "s"))
            .unwrap_err();
        assert_eq!(corrupt_path(&err), path);
        // Listing everything reports the damage instead of skipping the model silently.
        assert!(reg.search_registered_models(&Default::default()).is_err());
        // The other model is unaffected.
        assert_eq!(reg.get_registered_model("other").unwrap().name, "other");
    }
}

#[test]
fn garbage_version_file_names_the_file() {
    let (dir, model_dir) = setup();
    let path = model_dir.join("versions").join("2.json");
    fs::write(&path, b"{\"version\": 2, \"sour").unwrap();
    let reg = FileRegistry::open(dir.path()).unwrap();
    let err = reg.get_model_version("m", v(1)).unwrap_err();
    assert_eq!(corrupt_path(&err), path);
    // A record under the wrong number is corruption too.
    let one = fs::read(model_dir.join("versions").join("1.json")).unwrap();
    fs::write(&path, one).unwrap();
    let reg = FileRegistry::open(dir.path()).unwrap();
    let err = reg.get_model_version("m", v(1)).unwrap_err();
    assert!(err.to_string().contains("holds version 1"), "{err}");
}

#[test]
fn stray_temp_files_are_ignored_then_removed_on_open() {
    let (dir, model_dir) = setup();
    let strays = [
        dir.path().join(format!(".journal.json.{}.0.tmp", u32::MAX)),
        model_dir.join(format!(".model.json.{}.3.tmp", u32::MAX)),
        model_dir
            .join("versions")
            .join(format!(".3.json.{}.1.tmp", u32::MAX)),
    ];
    for s in &strays {
        fs::write(s, b"half-writ").unwrap();
    }
    let reg = FileRegistry::open(dir.path()).unwrap();
    assert_eq!(reg.repairs().len(), 3, "{:?}", reg.repairs());
    assert!(reg.repairs().iter().all(|r| r.contains("stray temp")));
    for s in &strays {
        assert!(!s.exists(), "{} survived", s.display());
    }
    assert_eq!(reg.versions("m").unwrap().len(), 2);
    assert_eq!(
        reg.create_model_version(&NewVersion::new("m", "s"))
            .unwrap()
            .version,
        v(3)
    );
}
fn bump_generation(root: &Path) {
    let gen_file = fs::OpenOptions::new()
        .write(true)
        .open(root.join("registry.gen"))
        .unwrap();
    let len = gen_file.metadata().unwrap().len();
    gen_file.set_len(len + 1).unwrap();
}

/// Creating a version writes one record (temp file, then rename); the model record is not
/// touched. A writer that dies before the rename leaves only a temp file.
#[test]
fn a_crash_while_writing_a_version_leaves_no_half_made_version() {
    let (dir, model_dir) = setup();
    let warm = FileRegistry::open(dir.path()).unwrap();
    assert_eq!(warm.versions("m").unwrap().len(), 2);
    let temp = model_dir
        .join("versions")
        .join(format!(".3.json.{}.0.tmp", u32::MAX));
    fs::write(&temp, b"{\"name\": \"m\", \"version\": 3, \"sour").unwrap();
    bump_generation(dir.path());
    for reg in [&warm, &FileRegistry::open(dir.path()).unwrap()] {
        assert_eq!(
            reg.resolve(&"models:/m/latest".parse().unwrap()).unwrap(),
            v(2)
        );
        assert!(reg.get_model_version("m", v(3)).is_err());
        assert_eq!(reg.get_registered_model("m").unwrap().latest_version, 2);
    }
    // The open above removed the temp and said so; the number goes to the next real version.
    assert!(!temp.exists());
    let v3 = warm
        .create_model_version(&NewVersion::new("m", "real"))
        .unwrap();
    assert_eq!(v3.version, v(3));
    let again = FileRegistry::open(dir.path()).unwrap();
    assert_eq!(again.get_model_version("m", v(3)).unwrap().source, "real");
}

/// A writer that dies right after the rename has committed its version: every reader sees
/// it, with the model's latest number derived from the records, and numbering continues.
#[test]
fn a_version_record_is_committed_by_its_rename_alone() {
    let (dir, model_dir) = setup();
    let warm = FileRegistry::open(dir.path()).unwrap();
    assert_eq!(warm.versions("m").unwrap().len(), 2);
    let one = fs::read_to_string(model_dir.join("versions").join("1.json")).unwrap();
    let three = one
        .replace("\"version\": 1", "\"version\": 3")
        .replace("\"stage\": \"Production\"", "\"stage\": \"None\"");
    fs::write(model_dir.join("versions").join("3.json"), three).unwrap();
    bump_generation(dir.path());
    for reg in [&warm, &FileRegistry::open(dir.path()).unwrap()] {
        assert_eq!(reg.get_registered_model("m").unwrap().latest_version, 3);
        assert_eq!(
            reg.resolve(&"models:/m/latest".parse().unwrap()).unwrap(),
            v(3)
        );
        assert_eq!(reg.get_model_version("m", v(3)).unwrap().stage, Stage::None);
    }
    assert_eq!(
        warm.create_model_version(&NewVersion::new("m", "s"))
            .unwrap()
            .version,
        v(4)
    );
    // Deleting the highest version keeps its number used.
    warm.delete_model_version("m", v(4), &Change::default())
        .unwrap();
    let again = FileRegistry::open(dir.path()).unwrap();
    assert_eq!(again.get_registered_model("m").unwrap().latest_version, 4);
    assert_eq!(
        again
            .create_model_version(&NewVersion::new("m", "s"))
            .unwrap()
            .version,
        v(5)
    );
}

/// Write the journal a writer leaves when it dies after committing a transition of v2 to
/// Staging but before applying it.
fn interrupted_transition(root: &Path, model_dir: &Path) {
    let rel = format!(
        "models/{}",
        model_dir.file_name().unwrap().to_str().unwrap()
    );
    let version = fs::read_to_string(model_dir.join("versions").join("2.json"))
        .unwrap()
        .replace("\"stage\": \"None\"", "\"stage\": \"Staging\"");
    assert!(version.contains("Staging"));
    let model = fs::read_to_string(model_dir.join("model.json")).unwrap();
    let model: serde_json::Value = serde_json::from_str(&model).unwrap();
    let mut model = model.as_object().unwrap().clone();
    let revision = model["revision"].as_u64().unwrap() + 1;
    model.insert("revision".into(), revision.into());
    let journal = serde_json::json!({
        "format": 1,
        "ops": [
            {"op": "write", "path": format!("{rel}/versions/2.json"), "data": version},
            {"op": "write", "path": format!("{rel}/model.json"),
             "data": serde_json::to_string_pretty(&model).unwrap()},
        ]
    });
    fs::write(root.join("journal.json"), journal.to_string()).unwrap();
}

#[test]
fn an_interrupted_multi_file_change_is_redone_on_open() {
    let (dir, model_dir) = setup();
    interrupted_transition(dir.path(), &model_dir);
    let reg = FileRegistry::open(dir.path()).unwrap();
    assert!(reg.repairs()[0].contains("journal"), "{:?}", reg.repairs());
    assert!(!dir.path().join("journal.json").exists());
    assert_eq!(
        reg.get_model_version("m", v(2)).unwrap().stage,
        Stage::Staging
    );
    assert_eq!(
        reg.resolve(&"models:/m/Staging".parse().unwrap()).unwrap(),
        v(2)
    );
}

#[test]
fn an_open_registry_redoes_a_dead_writers_journal_before_reading() {
    let (dir, model_dir) = setup();
    let reg = FileRegistry::open(dir.path()).unwrap();
    assert_eq!(reg.get_model_version("m", v(2)).unwrap().stage, Stage::None);
    interrupted_transition(dir.path(), &model_dir);
    // The dead writer had bumped the generation before writing its journal.
    bump_generation(dir.path());
    assert_eq!(
        reg.get_model_version("m", v(2)).unwrap().stage,
        Stage::Staging
    );
    assert!(!dir.path().join("journal.json").exists());
}

#[test]
fn a_damaged_or_escaping_journal_stops_open_with_a_clear_error() {
    let (dir, _) = setup();
    let journal = dir.path().join("journal.json");
    fs::write(&journal, b"{\"format\": 1, \"ops\": [").unwrap();
    let err = FileRegistry::open(dir.path()).unwrap_err();
    assert_eq!(corrupt_path(&err), journal);
    fs::write(
        &journal,
        br#"{"format":1,"ops":[{"op":"write","path":"models/../../evil","data":"x"}]}"#,
    )
    .unwrap();
    let err = FileRegistry::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("leaves the registry"), "{err}");
    assert!(!dir.path().parent().unwrap().join("evil").exists());
}

#[test]
fn a_torn_audit_tail_is_invisible_and_replaced_by_the_next_append() {
    let (dir, model_dir) = setup();
    let log = model_dir.join("audit.log");
    let before = FileRegistry::open(dir.path())
        .unwrap()
        .audit_history("m")
        .unwrap();
    // A writer died mid-append: half a record past the committed length.
    let mut data = fs::read(&log).unwrap();
    data.extend_from_slice(b"0000004a 1234abcd {\"at\":\"20");
    fs::write(&log, &data).unwrap();
    let reg = FileRegistry::open(dir.path()).unwrap();
    assert_eq!(reg.audit_history("m").unwrap(), before);
    reg.delete_alias("m", &"champion".parse().unwrap(), &Change::by("t"))
        .unwrap();
    let after = FileRegistry::open(dir.path())
        .unwrap()
        .audit_history("m")
        .unwrap();
    assert_eq!(after.len(), before.len() + 1);
    assert_eq!(&after[..before.len()], &before[..]);
}

#[test]
fn damage_inside_the_committed_audit_log_is_corruption() {
    let (dir, model_dir) = setup();
    let log = model_dir.join("audit.log");
    let mut data = fs::read(&log).unwrap();
    data[25] ^= 0x01;
    fs::write(&log, &data).unwrap();
    let reg = FileRegistry::open(dir.path()).unwrap();
    let err = reg.audit_history("m").unwrap_err();
    assert_eq!(corrupt_path(&err), log);
    // A log shorter than its committed length (lost data) is reported, not papered over.
    fs::write(&log, &data[..10]).unwrap();
    let err = reg.audit_history("m").unwrap_err();
    assert!(err.to_string().contains("were committed"), "{err}");
    let err = reg
        .set_alias("m", &"x".parse().unwrap(), v(1), &Change::default())
        .unwrap_err();
    assert_eq!(corrupt_path(&err), log);
}

#[test]
fn a_model_file_in_the_wrong_directory_is_corruption() {
    let (dir, model_dir) = setup();
    let other_dir = model_dir_of(dir.path(), "other");
    fs::copy(model_dir.join("model.json"), other_dir.join("model.json")).unwrap();
    let reg = FileRegistry::open(dir.path()).unwrap();
    let err = reg.get_registered_model("other").unwrap_err();
    assert!(err.to_string().contains("holds model \"m\""), "{err}");
}

#[test]
fn half_created_models_and_half_deleted_models_are_cleaned_on_open() {
    let (dir, _) = setup();
    let half = dir
        .path()
        .join("models")
        .join("0123456789abcdef0123456789abcdef");
    fs::create_dir_all(half.join("versions")).unwrap();
    let trash = dir.path().join("trash").join("x-1-2");
    fs::create_dir_all(trash.join("versions")).unwrap();
    fs::write(trash.join("model.json"), b"{}").unwrap();
    let reg = FileRegistry::open(dir.path()).unwrap();
    assert_eq!(reg.repairs().len(), 2, "{:?}", reg.repairs());
    assert!(!half.exists());
    assert!(!trash.exists());
    let names: Vec<String> = reg
        .search_registered_models(&Default::default())
        .unwrap()
        .items
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(names, ["m", "other"]);
}

#[test]
fn unknown_stage_and_bad_uris_are_invalid_arguments() {
    let (dir, _) = setup();
    let reg = FileRegistry::open(dir.path()).unwrap();
    for bad in ["models:/m/Prod", "models:/m", "model:/m/1", "models:/m@v1"] {
        let err = reg.resolve_uri(bad).unwrap_err();
        assert!(
            matches!(err, RegistryError::InvalidArgument { .. }),
            "{bad}: {err}"
        );
    }
    assert!("Production ".trim().parse::<Stage>().is_ok());
    assert!("Shadow".parse::<Stage>().is_err());
}

#[test]
fn resolution_is_served_from_memory_until_the_generation_moves() {
    let (dir, model_dir) = setup();
    let reg = FileRegistry::open(dir.path()).unwrap();
    let champion = "models:/m@champion".parse().unwrap();
    assert_eq!(reg.resolve(&champion).unwrap(), v(1));
    // Hide the model's files: as long as nobody changed the registry (the generation did not
    // move), resolution never touches them.
    let hidden = dir.path().join("hidden");
    fs::rename(&model_dir, &hidden).unwrap();
    for _ in 0..3 {
        assert_eq!(reg.resolve(&champion).unwrap(), v(1));
    }
    // Another process's change moves the generation: the next call revalidates from disk.
    let gen_file = fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("registry.gen"))
        .unwrap();
    let len = gen_file.metadata().unwrap().len();
    gen_file.set_len(len + 1).unwrap();
    let err = reg.resolve(&champion).unwrap_err();
    assert!(matches!(err, RegistryError::NotFound { .. }), "{err}");
    fs::rename(&hidden, &model_dir).unwrap();
    gen_file.set_len(len + 2).unwrap();
    assert_eq!(reg.resolve(&champion).unwrap(), v(1));
}
