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
        let text = fs::read_to_string(dir.join("model.log")).unwrap_or_default();
        let header = text.lines().next().unwrap_or_default();
        if header.contains(&format!("\"name\":\"{name}\"")) {
            return dir;
        }
    }
    panic!("no directory for model {name}");
}

/// One framed record, as `model.log` and `audit.log` hold them.
fn framed(payload: &str) -> Vec<u8> {
    let crc = crc32fast::hash(payload.as_bytes());
    format!("{:08x} {crc:08x} {payload}\n", payload.len()).into_bytes()
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn corrupt_path(err: &RegistryError) -> &Path {
    match err {
        RegistryError::Corrupt { path, .. } => path,
        other => panic!("expected a corrupt-file error, got {other}"),
    }
}

#[test]
fn truncated_or_garbage_model_log_is_a_clear_error_for_that_model_only() {
    let (_keep, model_dir) = setup();
    let good = fs::read(model_dir.join("model.log")).unwrap();
    let header_len = good.iter().position(|&b| b == b'\n').unwrap() + 1;
    // A damaged byte inside the first change record, with more records after it.
    let mut flipped = good.clone();
    flipped[header_len + 40] ^= 0x01;
    let damages: [(&[u8], &str); 5] = [
        (b"", "empty"),
        (b"\x00\xffgarbage", "header record"),
        // A length field no header can have: refused before anything is allocated.
        (b"ffffffff 00000000 {\"format\":2", "header record"),
        (&good[..10], "header record"),
        (&flipped, "at byte"),
    ];
    for (damage, says) in damages {
        let (dir, model_dir) = setup();
        let path = model_dir.join("model.log");
        fs::write(&path, damage).unwrap();
        let reg = FileRegistry::open(dir.path()).unwrap();
        let err = reg.get_registered_model("m").unwrap_err();
        assert_eq!(corrupt_path(&err), path);
        assert!(err.to_string().contains("model.log"), "{err}");
        assert!(err.to_string().contains(says), "{err}");
        let err = reg
            .resolve(&"models:/m@champion".parse().unwrap())
            .unwrap_err();
        assert_eq!(corrupt_path(&err), path);
        // Writes are refused too: nothing is built on a damaged log.
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
fn a_well_framed_but_meaningless_record_names_the_file() {
    let (dir, model_dir) = setup();
    let path = model_dir.join("model.log");
    let mut data = fs::read(&path).unwrap();
    data.extend_from_slice(&framed("{\"version\": 2, \"source\": \"x\"}"));
    fs::write(&path, &data).unwrap();
    let reg = FileRegistry::open(dir.path()).unwrap();
    let err = reg.get_model_version("m", v(1)).unwrap_err();
    assert_eq!(corrupt_path(&err), path);
    assert!(err.to_string().contains("bad change record"), "{err}");
}

/// A directory of the first on-disk format (`model.json`, `versions/`) is refused with an
/// error that says so: the format is not converted.
#[test]
fn an_old_format_directory_is_a_clear_error() {
    let (dir, model_dir) = setup();
    fs::remove_file(model_dir.join("model.log")).unwrap();
    fs::create_dir_all(model_dir.join("versions")).unwrap();
    fs::write(model_dir.join("model.json"), b"{\"format\": 1}").unwrap();
    let err = FileRegistry::open(dir.path()).unwrap_err();
    assert_eq!(corrupt_path(&err), model_dir.join("model.json"));
    assert!(err.to_string().contains("older mlops-registry"), "{err}");
    // Nothing was removed.
    assert!(model_dir.join("model.json").exists());
}

#[test]
fn stray_temp_files_are_ignored_then_removed_on_open() {
    let (dir, model_dir) = setup();
    let strays = [
        dir.path().join(format!(".journal.json.{}.0.tmp", u32::MAX)),
        model_dir.join(format!(".model.log.{}.3.tmp", u32::MAX)),
    ];
    for s in &strays {
        fs::write(s, b"half-writ").unwrap();
    }
    let reg = FileRegistry::open(dir.path()).unwrap();
    assert_eq!(reg.repairs().len(), 2, "{:?}", reg.repairs());
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

/// Creating a version appends one framed record to `model.log`: the version and the model's
/// new latest number are in that one record, so there is no state between writing the version
/// and updating the model. A writer that dies mid-append leaves a torn record: invisible to
/// every reader, dropped (and reported) by the next open, replaced by the next append.
#[test]
fn a_crash_while_writing_a_version_leaves_no_half_made_version() {
    let (dir, model_dir) = setup();
    let log = model_dir.join("model.log");
    let warm = FileRegistry::open(dir.path()).unwrap();
    assert_eq!(warm.versions("m").unwrap().len(), 2);
    let before = fs::read(&log).unwrap();
    // Another process creates v3, but only half of its record reaches the file.
    FileRegistry::open(dir.path())
        .unwrap()
        .create_model_version(&NewVersion::new("m", "lost"))
        .unwrap();
    let after = fs::read(&log).unwrap();
    assert!(after.len() > before.len());
    let torn = &after[..before.len() + (after.len() - before.len()) / 2];
    for cut in [torn, &after[..after.len() - 1]] {
        fs::write(&log, cut).unwrap();
        bump_generation(dir.path());
        for reg in [&warm, &FileRegistry::open(dir.path()).unwrap()] {
            assert_eq!(
                reg.resolve(&"models:/m/latest".parse().unwrap()).unwrap(),
                v(2)
            );
            assert!(reg.get_model_version("m", v(3)).is_err());
            assert_eq!(reg.get_registered_model("m").unwrap().latest_version, 2);
        }
    }
    // The open above dropped the torn record and said so; the number goes to the next real
    // version.
    let reg = FileRegistry::open(dir.path()).unwrap();
    assert!(reg.repairs().is_empty(), "{:?}", reg.repairs());
    fs::write(&log, torn).unwrap();
    let reg = FileRegistry::open(dir.path()).unwrap();
    assert!(reg.repairs()[0].contains("torn"), "{:?}", reg.repairs());
    assert_eq!(fs::read(&log).unwrap(), before);
    // A torn record a live handle never saw is replaced by its next append.
    fs::write(&log, torn).unwrap();
    let v3 = warm
        .create_model_version(&NewVersion::new("m", "real"))
        .unwrap();
    assert_eq!(v3.version, v(3));
    let again = FileRegistry::open(dir.path()).unwrap();
    assert!(again.repairs().is_empty(), "{:?}", again.repairs());
    assert_eq!(again.get_model_version("m", v(3)).unwrap().source, "real");
    // Deleting the highest version keeps its number used.
    again
        .delete_model_version("m", v(3), &Change::default())
        .unwrap();
    let again = FileRegistry::open(dir.path()).unwrap();
    assert_eq!(again.get_registered_model("m").unwrap().latest_version, 3);
    assert_eq!(
        again
            .create_model_version(&NewVersion::new("m", "s"))
            .unwrap()
            .version,
        v(4)
    );
}

/// Write the journal a writer leaves when it dies after committing the rename of `m` to `m2`
/// but before applying it (the journal's content is taken from the same rename done on a
/// copy of the registry).
fn interrupted_rename(root: &Path, model_dir: &Path) {
    let scratch = tempfile::tempdir().unwrap();
    copy_tree(root, scratch.path());
    FileRegistry::open(scratch.path())
        .unwrap()
        .rename_registered_model("m", "m2", &Change::by("t"))
        .unwrap();
    let new_dir = model_dir_of(scratch.path(), "m2");
    let new_rel = format!("models/{}", new_dir.file_name().unwrap().to_str().unwrap());
    let old_rel = format!(
        "models/{}",
        model_dir.file_name().unwrap().to_str().unwrap()
    );
    let log = fs::read_to_string(new_dir.join("model.log")).unwrap();
    // The rename's audit record was appended before the journal was written.
    fs::copy(new_dir.join("audit.log"), model_dir.join("audit.log")).unwrap();
    let journal = serde_json::json!({
        "format": 1,
        "ops": [
            {"op": "rename_dir", "from": old_rel, "to": new_rel},
            {"op": "write", "path": format!("{new_rel}/model.log"), "data": log},
        ]
    });
    fs::write(root.join("journal.json"), journal.to_string()).unwrap();
}

#[test]
fn an_interrupted_rename_is_redone_on_open() {
    let (dir, model_dir) = setup();
    interrupted_rename(dir.path(), &model_dir);
    let reg = FileRegistry::open(dir.path()).unwrap();
    assert!(reg.repairs()[0].contains("journal"), "{:?}", reg.repairs());
    assert!(!dir.path().join("journal.json").exists());
    assert!(reg.get_registered_model("m").is_err());
    assert_eq!(reg.versions("m2").unwrap().len(), 2);
    assert_eq!(
        reg.resolve(&"models:/m2@champion".parse().unwrap())
            .unwrap(),
        v(1)
    );
    let history = reg.audit_history("m2").unwrap();
    assert_eq!(history.last().unwrap().actor, "t");
}

#[test]
fn an_open_registry_redoes_a_dead_writers_journal_before_reading() {
    let (dir, model_dir) = setup();
    let reg = FileRegistry::open(dir.path()).unwrap();
    assert_eq!(reg.get_model_version("m", v(2)).unwrap().stage, Stage::None);
    interrupted_rename(dir.path(), &model_dir);
    // The dead writer had bumped the generation before writing its journal.
    bump_generation(dir.path());
    assert_eq!(
        reg.get_model_version("m2", v(1)).unwrap().stage,
        Stage::Production
    );
    assert!(reg.get_registered_model("m").is_err());
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
    fs::copy(model_dir.join("model.log"), other_dir.join("model.log")).unwrap();
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
    fs::create_dir_all(&half).unwrap();
    let trash = dir.path().join("trash").join("x-1-2");
    fs::create_dir_all(&trash).unwrap();
    fs::write(trash.join("model.log"), b"{}").unwrap();
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

/// A log past its compaction threshold is rewritten as one record; a handle that cached the
/// old log reloads the new one, and nothing is lost across the rewrite.
#[test]
fn compaction_rewrites_the_log_and_other_handles_follow() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        FileRegistry::open(dir.path())
            .unwrap()
            .with_fsync(false)
            .with_compaction_slack(2048)
    };
    let writer = open();
    let reader = open();
    writer.create_registered_model(&NewModel::new("m")).unwrap();
    let log = model_dir_of(dir.path(), "m").join("model.log");
    let mut shrank = 0;
    let mut last_len = 0;
    for i in 1..=60u64 {
        writer
            .create_model_version(&NewVersion::new("m", format!("s{i}")))
            .unwrap();
        if i % 7 == 0 {
            writer
                .set_alias("m", &"champion".parse().unwrap(), v(i), &Change::by("t"))
                .unwrap();
        }
        let len = fs::metadata(&log).unwrap().len();
        if len < last_len {
            shrank += 1;
        }
        last_len = len;
        // The reader follows appends and rewrites alike.
        assert_eq!(
            reader
                .resolve(&"models:/m/latest".parse().unwrap())
                .unwrap(),
            v(i)
        );
    }
    assert!(shrank >= 2, "the log was compacted {shrank} times");
    let lines = fs::read_to_string(&log).unwrap().lines().count();
    assert!(lines < 40, "{lines} records after compactions");
    for reg in [&reader, &open()] {
        assert_eq!(reg.versions("m").unwrap().len(), 60);
        assert_eq!(
            reg.resolve(&"models:/m@champion".parse().unwrap()).unwrap(),
            v(56)
        );
        assert_eq!(reg.get_model_version("m", v(33)).unwrap().source, "s33");
        // 60 creations and 8 alias moves.
        assert_eq!(reg.audit_history("m").unwrap().len(), 68);
    }
}

/// Files and folders a person or a tool leaves beside the models (`.DS_Store`, a README, an
/// editor backup, a notes folder) are not models: every search, read and write ignores them,
/// and nothing of theirs is removed. A folder named like a model with a damaged log is still
/// `Corrupt` naming that log.
#[test]
fn stray_files_beside_models_are_ignored() {
    let (dir, model_dir) = setup();
    let models = dir.path().join("models");
    let strays = [
        models.join(".DS_Store"),
        models.join("README.md"),
        models.join("model.log~"),
        // A plain file with a model folder's name is not a model folder either.
        models.join("0123456789abcdef0123456789abcdef"),
        models.join("notes").join("todo.txt"),
        model_dir.join(".DS_Store"),
        model_dir.join("model.log.orig"),
        model_dir.join("backup").join("model.log"),
        dir.path().join("trash").join(".DS_Store"),
        dir.path().join("README"),
    ];
    for s in &strays {
        fs::create_dir_all(s.parent().unwrap()).unwrap();
        fs::write(s, b"not a model").unwrap();
    }
    let names = |reg: &FileRegistry| -> Vec<String> {
        reg.search_registered_models(&Default::default())
            .unwrap()
            .items
            .into_iter()
            .map(|m| m.name)
            .collect()
    };
    let reg = FileRegistry::open(dir.path()).unwrap();
    assert_eq!(names(&reg), ["m", "other"]);
    let versions = reg.search_model_versions(&Default::default()).unwrap();
    assert_eq!(versions.items.len(), 2);
    assert_eq!(reg.versions("m").unwrap().len(), 2);
    assert_eq!(
        reg.create_model_version(&NewVersion::new("m", "s"))
            .unwrap()
            .version,
        v(3)
    );
    reg.create_registered_model(&NewModel::new("new")).unwrap();
    assert_eq!(names(&reg), ["m", "new", "other"]);
    // A second handle, and a reopen, see the same.
    let again = FileRegistry::open(dir.path()).unwrap();
    assert_eq!(names(&again), ["m", "new", "other"]);
    assert_eq!(
        again
            .search_model_versions(&Default::default())
            .unwrap()
            .items
            .len(),
        3
    );
    for s in &strays {
        assert_eq!(
            fs::read(s).unwrap(),
            b"not a model",
            "{} changed",
            s.display()
        );
    }
    // A folder that looks like a model (a model's hash for a name) with a damaged log is
    // corruption, named.
    let fake = models.join("fedcba9876543210fedcba9876543210");
    fs::create_dir_all(&fake).unwrap();
    fs::write(fake.join("model.log"), b"garbage").unwrap();
    let reg = FileRegistry::open(dir.path()).unwrap();
    let err = reg
        .search_registered_models(&Default::default())
        .unwrap_err();
    assert_eq!(corrupt_path(&err), fake.join("model.log"));
    let err = reg.search_model_versions(&Default::default()).unwrap_err();
    assert_eq!(corrupt_path(&err), fake.join("model.log"));
}

/// Counts the `tracing` events whose message mentions `needle` (a minimal subscriber: the
/// crate installs none).
struct CountEvents {
    needle: &'static str,
    hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl tracing::Subscriber for CountEvents {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Text(String);
        impl tracing::field::Visit for Text {
            fn record_debug(&mut self, _: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{value:?} "));
            }
        }
        let mut text = Text(String::new());
        event.record(&mut text);
        if text.0.contains(self.needle) {
            self.hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Each stray entry is logged once per handle, not on every search.
#[test]
fn stray_entries_are_logged_once() {
    let (dir, _) = setup();
    for name in [".DS_Store", "README.md"] {
        fs::write(dir.path().join("models").join(name), b"x").unwrap();
    }
    fs::write(dir.path().join("trash").join(".DS_Store"), b"x").unwrap();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let subscriber = CountEvents {
        needle: "not a model folder",
        hits: hits.clone(),
    };
    tracing::subscriber::with_default(subscriber, || {
        let reg = FileRegistry::open(dir.path()).unwrap();
        for _ in 0..3 {
            assert_eq!(
                reg.search_registered_models(&Default::default())
                    .unwrap()
                    .items
                    .len(),
                2
            );
            // Another handle changes something: the next search lists the directory again.
            FileRegistry::open(dir.path())
                .unwrap()
                .set_model_tag("m", "k", "v")
                .unwrap();
        }
    });
    // Three strays, each once by the first handle; each of the three other handles logs what
    // it meets on open (two under models/, one in trash/).
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 3 + 3 * 3);
}
