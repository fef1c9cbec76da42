//! Bad input and faults: each has a documented outcome and a clear error, never a panic, never
//! a silent wrong answer.

mod common;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{repo, write_old};
use mlops_dvc::{
    CheckoutOptions, ContentStore, Digest, DvcError, InMemoryContentStore, LinkMode, PutResult,
    Repository, Rev, Verify,
};

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn make_writable(path: &Path) {
    let mut p = fs::metadata(path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    p.set_readonly(false);
    fs::set_permissions(path, p).unwrap();
}

fn two_file_dataset(root: &Path) -> Repository {
    let r = repo(root);
    write_old(&root.join("ds/a.csv"), "a-v1");
    write_old(&root.join("ds/b.csv"), "b-v1 longer content");
    r.track("ds", "v1").unwrap();
    r
}

#[test]
fn paths_escaping_the_working_directory_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("work");
    let r = repo(&root);
    fs::write(dir.path().join("outside.txt"), "secret").unwrap();
    for bad in [
        "../outside.txt",
        "a/../../outside.txt",
        ".mlops-dvc/cache",
        ".",
    ] {
        let err = r.track(bad, "x").unwrap_err();
        assert!(
            matches!(err, DvcError::InvalidArgument { .. }),
            "{bad}: {err}"
        );
    }
    let err = r.track(dir.path().join("outside.txt"), "x").unwrap_err();
    assert!(
        err.to_string().contains("outside the working directory"),
        "{err}"
    );
    // An absolute path inside the working directory is fine.
    write_old(&root.join("in.txt"), "ok");
    assert!(r.track(root.join("in.txt"), "x").unwrap().is_new());
}

#[cfg(unix)]
#[test]
fn symlinks_leading_outside_are_refused_on_track_and_checkout() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("work");
    let outside = dir.path().join("outside");
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("secret"), "s").unwrap();
    let r = two_file_dataset(&root);
    // A symlink inside a tracked folder.
    symlink(&outside, root.join("ds/link")).unwrap();
    let err = r.track("ds", "v2").unwrap_err();
    assert!(err.to_string().contains("symlink"), "{err}");
    fs::remove_file(root.join("ds/link")).unwrap();
    // A dataset path through a symlinked folder.
    symlink(&outside, root.join("via")).unwrap();
    let err = r.track("via/secret", "x").unwrap_err();
    assert!(err.to_string().contains("symlink"), "{err}");
    // Checkout must not write through a symlinked folder either.
    write_old(&root.join("nested/sub/f.txt"), "f");
    r.track("nested", "n1").unwrap();
    fs::remove_dir_all(root.join("nested/sub")).unwrap();
    symlink(&outside, root.join("nested/sub")).unwrap();
    let err = r
        .checkout("nested", 1, &CheckoutOptions::default())
        .unwrap_err();
    assert!(err.to_string().contains("symlink"), "{err}");
    assert_eq!(names_in(&outside), ["secret"]);
}

#[test]
fn pointer_file_naming_another_path_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("work");
    let r = repo(&root);
    write_old(&root.join("data.bin"), "payload");
    r.track("data.bin", "v1").unwrap();
    let pointer = root.join("data.bin.dvc.json");
    let text = fs::read_to_string(&pointer).unwrap();
    for evil in [
        "../../etc/passwd",
        "/etc/passwd",
        "other.bin",
        "a/../data.bin",
    ] {
        fs::write(&pointer, text.replace("\"data.bin\"", &format!("{evil:?}"))).unwrap();
        let err = r
            .checkout("data.bin", Rev::Pointer, &CheckoutOptions::default())
            .unwrap_err();
        let msg = err.to_string();
        // Issue 17 item 11: a path from data that leaves the root is `InvalidArgument` (as the
        // crate docs say), naming the pointer file and the entry.
        assert!(
            matches!(err, DvcError::InvalidArgument { .. }),
            "{evil}: {msg}"
        );
        assert!(msg.contains("data.bin.dvc.json"), "{msg}");
        assert!(msg.contains(&format!("{evil:?}")), "{msg}");
    }
    assert_eq!(fs::read(root.join("data.bin")).unwrap(), b"payload");
}

#[test]
fn truncated_pointer_file_is_corrupt_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let r = repo(dir.path());
    write_old(&dir.path().join("d.csv"), "x");
    r.track("d.csv", "v1").unwrap();
    let pointer = dir.path().join("d.csv.dvc.json");
    let bytes = fs::read(&pointer).unwrap();
    fs::write(&pointer, &bytes[..bytes.len() / 2]).unwrap();
    let err = r
        .checkout("d.csv", Rev::Pointer, &CheckoutOptions::default())
        .unwrap_err();
    assert!(err.is_corrupt(), "{err}");
    assert!(err.to_string().contains("d.csv.dvc.json"), "{err}");
    // The log still works, and tracking again repairs the pointer.
    r.track("d.csv", "again").unwrap();
    r.checkout("d.csv", Rev::Pointer, &CheckoutOptions::default())
        .unwrap();
}

/// A dataset whose manifest (tree object) was crafted with `name`.
fn crafted_tree_checkout(
    name_json: &str,
) -> (
    mlops_dvc::Result<mlops_dvc::CheckoutReport>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("work");
    let store = Arc::new(InMemoryContentStore::new());
    let r = Repository::with_store(&root, store.clone())
        .unwrap()
        .with_fsync(false);
    let file = store.put_bytes(b"evil").unwrap().digest;
    let tree = format!(
        r#"{{"mlops_tree":1,"entries":[{{"name":{name_json},"type":"file","digest":"{file}","size":4}}]}}"#
    );
    let tree = store.put_bytes(tree.as_bytes()).unwrap().digest;
    let pointer = format!(
        r#"{{"format":"mlops-dvc-pointer/1","path":"ds","kind":"dir","digest":"{tree}","size":4,"files":1,"version":1}}"#
    );
    fs::create_dir_all(&root).unwrap();
    fs::write(root.join("ds.dvc.json"), pointer).unwrap();
    let result = r.checkout("ds", Rev::Pointer, &CheckoutOptions::default());
    (result, dir)
}

#[test]
fn manifest_entries_that_escape_are_corrupt_and_nothing_is_written() {
    for name in [
        r#""..""#,
        r#""a/../../x""#,
        r#""/etc/x""#,
        r#"{"hex":"2e2e"}"#,
        r#""""#,
    ] {
        let (result, dir) = crafted_tree_checkout(name);
        let err = result.unwrap_err();
        assert!(err.is_corrupt(), "{name}: {err}");
        assert!(
            !err.to_string().contains("not a tree object"),
            "{name}: {err}"
        );
        assert!(err.to_string().contains("object"), "{err}");
        assert_eq!(names_in(dir.path()), ["work"], "{name}");
        assert!(!dir.path().join("work/ds").exists());
    }
    // A well-formed crafted tree checks out.
    let (result, dir) = crafted_tree_checkout(r#""fine.txt""#);
    assert_eq!(result.unwrap().written, 1);
    assert_eq!(
        fs::read(dir.path().join("work/ds/fine.txt")).unwrap(),
        b"evil"
    );
}

#[test]
fn missing_object_fails_checkout_before_overwriting_anything() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let r = two_file_dataset(root);
    write_old(&root.join("ds/a.csv"), "a-edited");
    let b = Digest::of_bytes(b"b-v1 longer content");
    assert!(r.store().delete(&b).unwrap());
    let err = r
        .checkout("ds", 1, &CheckoutOptions::default())
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().contains(&b.to_hex()), "{err}");
    assert_eq!(
        fs::read_to_string(root.join("ds/a.csv")).unwrap(),
        "a-edited"
    );
    assert_eq!(names_in(&root.join("ds")), ["a.csv", "b.csv"]);
}

#[test]
fn corrupt_object_fails_checkout_before_overwriting_anything() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let r = two_file_dataset(root);
    write_old(&root.join("ds/a.csv"), "a-edited");
    write_old(&root.join("ds/b.csv"), "b-edited");
    // Same length, different bytes: only hashing can tell.
    let b = Digest::of_bytes(b"b-v1 longer content");
    let obj = root.join(".mlops-dvc/cache/objects").join(b.object_path());
    make_writable(&obj);
    fs::write(&obj, b"b-v1 LONGER content").unwrap();
    for opts in [
        CheckoutOptions::default(),
        CheckoutOptions::default()
            .link(LinkMode::Hardlink)
            .verify(Verify::Always),
    ] {
        let err = r.checkout("ds", 1, &opts).unwrap_err();
        assert!(err.is_corrupt(), "{err}");
        assert!(err.to_string().contains(&b.to_hex()[2..]), "{err}");
        assert_eq!(
            fs::read_to_string(root.join("ds/a.csv")).unwrap(),
            "a-edited"
        );
        assert_eq!(
            fs::read_to_string(root.join("ds/b.csv")).unwrap(),
            "b-edited"
        );
        // No temps left behind.
        assert_eq!(names_in(&root.join("ds")), ["a.csv", "b.csv"]);
    }
    // A truncated object is caught by its size before any read.
    fs::write(&obj, b"b-v1").unwrap();
    let err = r
        .checkout(
            "ds",
            1,
            &CheckoutOptions::default().link(LinkMode::Hardlink),
        )
        .unwrap_err();
    assert!(err.is_corrupt(), "{err}");
    assert_eq!(
        fs::read_to_string(root.join("ds/b.csv")).unwrap(),
        "b-edited"
    );
}

#[test]
fn corrupt_tree_object_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let r = two_file_dataset(root);
    let tree = r.log("ds").unwrap().0[0].digest;
    let obj = root
        .join(".mlops-dvc/cache/objects")
        .join(tree.object_path());
    make_writable(&obj);
    let mut bytes = fs::read(&obj).unwrap();
    bytes[5] ^= 0x20;
    fs::write(&obj, &bytes).unwrap();
    assert!(r.diff("ds", 1, 1).unwrap_err().is_corrupt());
    assert!(
        r.checkout("ds", 1, &CheckoutOptions::default())
            .unwrap_err()
            .is_corrupt()
    );
}

#[test]
fn unknown_dataset_or_version_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let r = two_file_dataset(dir.path());
    assert!(r.log("nope").unwrap_err().is_not_found());
    assert!(r.status("nope").unwrap_err().is_not_found());
    assert!(r.track("nope", "x").unwrap_err().is_not_found());
    assert!(
        r.checkout("nope", 1, &CheckoutOptions::default())
            .unwrap_err()
            .is_not_found()
    );
    let err = r.diff("ds", 1, 7).unwrap_err();
    assert!(
        err.is_not_found() && err.to_string().contains("v7"),
        "{err}"
    );
}

/// A store that changes the file being stored while it is read, like a writer racing `track`.
#[derive(Debug)]
struct Racing {
    inner: InMemoryContentStore,
    victim: PathBuf,
}

impl ContentStore for Racing {
    fn put_reader(&self, reader: &mut dyn Read) -> mlops_dvc::Result<PutResult> {
        let mut first = [0u8; 2];
        reader.read_exact(&mut first).unwrap();
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(&self.victim)
            .unwrap();
        std::io::Write::write_all(&mut f, b"appended meanwhile").unwrap();
        let mut chained = first.as_slice().chain(reader);
        self.inner.put_reader(&mut chained)
    }
    fn open(&self, d: &Digest) -> mlops_dvc::Result<Box<dyn Read + Send>> {
        self.inner.open(d)
    }
    fn contains(&self, d: &Digest) -> mlops_dvc::Result<bool> {
        self.inner.contains(d)
    }
    fn size(&self, d: &Digest) -> mlops_dvc::Result<u64> {
        self.inner.size(d)
    }
    fn delete(&self, d: &Digest) -> mlops_dvc::Result<bool> {
        self.inner.delete(d)
    }
    fn list(&self) -> mlops_dvc::Result<Vec<Digest>> {
        self.inner.list()
    }
}

#[test]
fn file_changing_while_hashed_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("live.log");
    write_old(&victim, "first lines\n");
    let store = Racing {
        inner: InMemoryContentStore::new(),
        victim: victim.clone(),
    };
    let r = Repository::with_store(dir.path(), Arc::new(store))
        .unwrap()
        .with_fsync(false);
    let err = r.track("live.log", "x").unwrap_err();
    assert!(matches!(err, DvcError::Changed { .. }), "{err}");
    assert!(err.to_string().contains("live.log"), "{err}");
    assert!(r.log("live.log").unwrap_err().is_not_found());
    assert!(!dir.path().join("live.log.dvc.json").exists());
}

#[cfg(unix)]
#[test]
fn unreadable_file_is_an_io_error_naming_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let r = repo(dir.path());
    write_old(&dir.path().join("ds/ok.csv"), "ok");
    write_old(&dir.path().join("ds/locked.csv"), "locked");
    let locked = dir.path().join("ds/locked.csv");
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    let privileged = fs::File::open(&locked).is_ok();
    let result = r.track("ds", "v1");
    if privileged {
        // Running as root: permission bits do not stop reads, so the file is simply tracked.
        assert_eq!(result.unwrap().version().files, 2);
    } else {
        let err = result.unwrap_err();
        assert!(matches!(err, DvcError::Io { .. }), "{err}");
        assert!(err.to_string().contains("locked.csv"), "{err}");
        assert!(r.log("ds").unwrap_err().is_not_found());
    }
}

#[test]
fn empty_files_and_empty_folders_are_versioned() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let r = repo(root);
    write_old(&root.join("empty.bin"), "");
    let v = r.track("empty.bin", "empty file").unwrap();
    assert_eq!((v.version().size, v.version().files), (0, 1));
    fs::create_dir_all(root.join("hollow/inner")).unwrap();
    let v = r.track("hollow", "empty folders").unwrap();
    assert_eq!((v.version().size, v.version().files), (0, 0));
    r.checkout(
        "hollow",
        1,
        &CheckoutOptions::default().destination("restored"),
    )
    .unwrap();
    assert!(root.join("restored/inner").is_dir());
    r.checkout(
        "empty.bin",
        1,
        &CheckoutOptions::default().destination("e2"),
    )
    .unwrap();
    assert_eq!(fs::read(root.join("e2")).unwrap(), b"");
}

#[test]
fn unicode_and_non_utf8_names_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let r = repo(root);
    write_old(&root.join("ds/données/训练集.csv"), "1,好评\n");
    #[cfg(unix)]
    let raw = {
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::OsStr::from_bytes(b"bad\xff\xfename.bin");
        write_old(&root.join("ds").join(name), "raw");
        name.to_owned()
    };
    let v = r.track("ds", "names").unwrap();
    r.checkout("ds", 1, &CheckoutOptions::default().destination("out"))
        .unwrap();
    assert_eq!(
        fs::read_to_string(root.join("out/données/训练集.csv")).unwrap(),
        "1,好评\n"
    );
    #[cfg(unix)]
    {
        assert_eq!(v.version().files, 2);
        assert_eq!(fs::read(root.join("out").join(&raw)).unwrap(), b"raw");
    }
    let _ = v;
    assert!(r.status("ds").unwrap().is_clean());
}

#[test]
fn torn_version_log_tail_is_dropped_and_damage_elsewhere_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let r = repo(dir.path());
    write_old(&dir.path().join("f"), "1");
    r.track("f", "one").unwrap();
    let logs = dir.path().join(".mlops-dvc/datasets");
    let log = fs::read_dir(&logs).unwrap().next().unwrap().unwrap().path();
    let good = fs::read(&log).unwrap();
    // A crash mid-append leaves half a record.
    let mut torn = good.clone();
    torn.extend_from_slice(b"000000ff 1234abcd {\"dataset\":");
    fs::write(&log, &torn).unwrap();
    assert_eq!(r.log("f").unwrap().0.len(), 1);
    write_old(&dir.path().join("f"), "2");
    assert_eq!(r.track("f", "two").unwrap().version().version, 2);
    assert_eq!(r.log("f").unwrap().0.len(), 2);
    // A damaged first record with more after it is corruption, naming the file.
    let mut bad = fs::read(&log).unwrap();
    bad[25] ^= 0x01;
    fs::write(&log, &bad).unwrap();
    let err = r.log("f").unwrap_err();
    assert!(err.is_corrupt(), "{err}");
    assert!(
        err.to_string().contains(&log.display().to_string()),
        "{err}"
    );
}

#[test]
fn damaged_stat_cache_is_ignored_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let r = repo(dir.path());
    write_old(&dir.path().join("ds/a"), "a");
    r.track("ds", "v1").unwrap();
    let state = dir.path().join(".mlops-dvc/state");
    for e in fs::read_dir(&state).unwrap() {
        fs::write(e.unwrap().path(), b"{not json").unwrap();
    }
    let st = r.status("ds").unwrap();
    assert!(st.is_clean());
    assert_eq!(st.rehashed, 1);
}

/// The stat cache's files of dataset `ds`: (format 2, format 1).
fn stat_cache_paths(root: &Path) -> (PathBuf, PathBuf) {
    let key = &Digest::of_bytes(b"ds").to_hex()[..32];
    let state = root.join(".mlops-dvc/state");
    (
        state.join(format!("{key}.stat")),
        state.join(format!("{key}.json")),
    )
}

#[test]
fn every_damaged_byte_of_the_stat_cache_is_caught_and_the_status_stays_right() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let r = two_file_dataset(root);
    let (cache, _) = stat_cache_paths(root);
    let good = fs::read(&cache).unwrap();
    assert_eq!(r.status("ds").unwrap().rehashed, 0);
    // a.csv changes (same size, a minute old): only its stat tells.
    write_old(&root.join("ds/a.csv"), "a-v2");
    let st = r.status("ds").unwrap();
    assert_eq!((st.modified.len(), st.rehashed), (1, 1), "{st}");
    // A cache recorded before the change, damaged anywhere (a flipped bit, a cut): ignored,
    // every file re-hashed, the change still seen.
    for i in 0..good.len() {
        for damaged in [
            {
                let mut b = good.clone();
                b[i] ^= 0x10;
                b
            },
            good[..i].to_vec(),
        ] {
            fs::write(&cache, &damaged).unwrap();
            let st = r.status("ds").unwrap();
            assert_eq!(st.modified.len(), 1, "byte {i}: {st}");
            assert_eq!(st.unchanged, 1, "byte {i}: {st}");
            assert_eq!(st.rehashed, 2, "byte {i}: the damaged cache was trusted");
        }
    }
}

#[test]
fn a_format_1_stat_cache_is_trusted_once_and_rewritten_in_format_2() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let r = two_file_dataset(root);
    let (new, old) = stat_cache_paths(root);
    // The JSON an earlier version wrote, for the files as they are.
    let entry = |name: &str, content: &str| {
        let m = fs::metadata(root.join("ds").join(name)).unwrap();
        let mtime = m
            .modified()
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        serde_json::json!([
            name,
            {"size": m.len(), "mtime_ns": mtime.as_nanos() as i64, "ino": ino(&m)},
            Digest::of_bytes(content.as_bytes()).to_hex(),
            false
        ])
    };
    let v1 = serde_json::json!({
        "v": 1,
        "entries": [entry("b.csv", "b-v1 longer content"), entry("a.csv", "a-v1")],
    });
    fs::remove_file(&new).unwrap();
    fs::write(&old, serde_json::to_vec(&v1).unwrap()).unwrap();
    let st = r.status("ds").unwrap();
    assert!(st.is_clean(), "{st}");
    assert_eq!(st.rehashed, 0, "the format-1 cache was not used");
    assert!(new.exists() && !old.exists(), "not rewritten in format 2");
    assert_eq!(r.status("ds").unwrap().rehashed, 0);
}

#[cfg(unix)]
fn ino(m: &fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(m)
}

#[cfg(not(unix))]
fn ino(_: &fs::Metadata) -> u64 {
    0
}

#[test]
fn stray_checkout_temp_is_visible_and_removed_with_remove_extra() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let r = two_file_dataset(root);
    // A crashed checkout left a temp in the dataset folder.
    fs::write(root.join(format!("ds/.a.csv.{}.0.tmp", u32::MAX)), "half").unwrap();
    let st = r.status("ds").unwrap();
    assert_eq!(st.added.len(), 1, "{st}");
    let rep = r
        .checkout("ds", 1, &CheckoutOptions::default().remove_extra(true))
        .unwrap();
    assert_eq!(rep.removed, 1);
    assert_eq!(names_in(&root.join("ds")), ["a.csv", "b.csv"]);
}

/// Make a read-only cache object writable, replace its bytes (same length), make it read-only
/// again.
fn damage_object(obj: &Path, bytes: &[u8]) {
    make_writable(obj);
    fs::write(obj, bytes).unwrap();
    let mut p = fs::metadata(obj).unwrap().permissions();
    p.set_readonly(true);
    fs::set_permissions(obj, p).unwrap();
}

/// Date a cache object a minute back (an object hashed right after it was written is "racy"
/// and never remembered as verified).
fn age_object(obj: &Path) {
    make_writable(obj);
    common::age(obj);
    let mut p = fs::metadata(obj).unwrap().permissions();
    p.set_readonly(true);
    fs::set_permissions(obj, p).unwrap();
}

/// Issue 17 item 9: hardlink checkout verifies an object before linking it (remembering the
/// result, so a second checkout does not re-hash), and a damaged object gives `Corrupt` naming
/// the digest and the cache file, with nothing in the destination changed.
#[test]
fn hardlink_checkout_verifies_objects_once_and_refuses_damaged_ones() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let r = two_file_dataset(root);
    let objects = root.join(".mlops-dvc/cache/objects");
    let a = Digest::of_bytes(b"a-v1");
    let b = Digest::of_bytes(b"b-v1 longer content");
    for d in [a, b] {
        age_object(&objects.join(d.object_path()));
    }
    let hl = CheckoutOptions::default().link(LinkMode::Hardlink);
    let first = r
        .checkout("ds", 1, &hl.clone().destination("out1"))
        .unwrap();
    assert_eq!((first.linked, first.verified), (2, 2), "{first}");
    let second = r
        .checkout("ds", 1, &hl.clone().destination("out2"))
        .unwrap();
    assert_eq!((second.linked, second.verified), (2, 0), "{second}");
    let always = r
        .checkout(
            "ds",
            1,
            &hl.clone().destination("out3").verify(Verify::Always),
        )
        .unwrap();
    assert_eq!(always.verified, 2, "{always}");

    // Damage b in the cache (same length: only hashing can tell).
    let obj = objects.join(b.object_path());
    damage_object(&obj, b"b-v1 LONGER content");
    write_old(&root.join("ds/a.csv"), "a-edited");
    write_old(&root.join("ds/b.csv"), "b-edited");
    for dest in [None, Some("fresh/out")] {
        let opts = match dest {
            None => hl.clone(),
            Some(d) => hl.clone().destination(d),
        };
        let err = r.checkout("ds", 1, &opts).unwrap_err();
        assert!(err.is_corrupt(), "{err}");
        let msg = err.to_string();
        assert!(msg.contains(&b.to_hex()), "names the digest: {msg}");
        assert!(
            msg.contains(&obj.display().to_string()),
            "names the cache file: {msg}"
        );
    }
    assert_eq!(
        fs::read_to_string(root.join("ds/a.csv")).unwrap(),
        "a-edited"
    );
    assert_eq!(
        fs::read_to_string(root.join("ds/b.csv")).unwrap(),
        "b-edited"
    );
    assert_eq!(names_in(&root.join("ds")), ["a.csv", "b.csv"]);
    assert!(!root.join("fresh").exists());

    // The documented unsafe opt-out links what the cache holds, damage included.
    let rep = r
        .checkout(
            "ds",
            1,
            &hl.destination("unsafe").verify(Verify::UnsafeTrustCache),
        )
        .unwrap();
    assert_eq!((rep.linked, rep.verified), (2, 0));
    assert_eq!(
        fs::read(root.join("unsafe/b.csv")).unwrap(),
        b"b-v1 LONGER content"
    );
}

/// Issue 17 item 10: a checkout that fails after creating folders removes them again; an
/// existing destination keeps exactly what it had.
#[test]
fn failed_checkout_leaves_no_folders_behind() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let r = repo(root);
    write_old(&root.join("ds/a.csv"), "a");
    write_old(&root.join("ds/sub/deeper/b.csv"), "bbbb");
    fs::create_dir_all(root.join("ds/empty")).unwrap();
    r.track("ds", "v1").unwrap();
    write_old(&root.join("one.csv"), "cccc");
    r.track("one.csv", "v1").unwrap();
    let objects = root.join(".mlops-dvc/cache/objects");
    for bytes in [&b"bbbb"[..], b"cccc"] {
        damage_object(
            &objects.join(Digest::of_bytes(bytes).object_path()),
            b"xxxx",
        );
    }
    fs::create_dir_all(root.join("existing")).unwrap();
    fs::write(root.join("existing/keep.txt"), "mine").unwrap();
    let before = names_in(root);
    for (dataset, dest) in [
        ("ds", "new/deep/out"),
        ("ds", "existing"),
        ("ds", "existing/inner"),
        ("one.csv", "x/y/one.csv"),
    ] {
        let err = r
            .checkout(dataset, 1, &CheckoutOptions::default().destination(dest))
            .unwrap_err();
        assert!(err.is_corrupt(), "{dest}: {err}");
        assert_eq!(names_in(root), before, "{dest}");
        assert_eq!(names_in(&root.join("existing")), ["keep.txt"], "{dest}");
    }
    assert!(!root.join("new").exists());
    assert!(!root.join("x").exists());
}

/// Issue 17 item 6: stray entries in the folders the repository lists (a README, an editor
/// backup, a `.DS_Store`, a folder named like a log, a file named like an object prefix) are
/// skipped; a damaged log of ours is still `Corrupt`.
#[test]
fn stray_entries_in_listed_folders_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let r = two_file_dataset(root);
    let meta = root.join(".mlops-dvc");
    fs::write(meta.join("datasets/README"), "notes").unwrap();
    fs::write(meta.join("datasets/notes.log"), "not a framed log").unwrap();
    fs::write(meta.join("datasets/.DS_Store"), [0u8, 1, 2]).unwrap();
    fs::create_dir_all(meta.join("datasets/0123456789abcdef0123456789abcdef.log")).unwrap();
    fs::write(meta.join("cache/objects/ab"), "not a prefix folder").unwrap();
    fs::write(meta.join("cache/objects/README"), "x").unwrap();
    fs::create_dir_all(meta.join("state/stray-folder")).unwrap();
    let names: Vec<String> = r
        .datasets()
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(names, ["ds"]);
    assert_eq!(r.store().list().unwrap().len(), 3);
    let remote = mlops_dvc::FileContentStore::open(root.join("remote")).unwrap();
    assert_eq!(r.push(&remote, &[]).unwrap().copied, 3);
    let gc = r.gc(&mlops_dvc::GcOptions::default()).unwrap();
    assert_eq!((gc.kept, gc.removed), (3, 0));
    assert!(r.status("ds").unwrap().is_clean());
    // Reopening skips them too.
    let again = repo(root);
    assert_eq!(again.datasets().unwrap().len(), 1);
    // A damaged log of ours is still reported.
    let ours = fs::read_dir(meta.join("datasets"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_file() && p.file_name().unwrap().len() == 36)
        .unwrap();
    let mut damaged = b"garbage that is not a framed record\n".to_vec();
    damaged.extend(fs::read(&ours).unwrap());
    fs::write(&ours, damaged).unwrap();
    let err = r.datasets().unwrap_err();
    assert!(err.is_corrupt(), "{err}");
    assert!(
        err.to_string().contains(&ours.display().to_string()),
        "{err}"
    );
}

/// A file store's `put_expected` stores nothing when the bytes do not hash to the expected
/// digest (it used to keep them under their own name) and leaves no temp file behind.
#[test]
fn file_store_put_expected_of_wrong_bytes_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = mlops_dvc::FileContentStore::open(dir.path()).unwrap();
    let expected = Digest::of_bytes(b"the right bytes");
    let err = store
        .put_expected(&expected, &mut &b"the wrong bytes"[..])
        .unwrap_err();
    assert!(err.is_corrupt(), "{err}");
    assert!(err.to_string().contains(&expected.to_hex()), "{err}");
    assert!(store.list().unwrap().is_empty(), "nothing stored");
    let good = store
        .put_expected(&expected, &mut &b"the right bytes"[..])
        .unwrap();
    assert!(good.inserted);
    assert_eq!(store.list().unwrap(), vec![expected]);
    // No temp file left in the store's folder tree.
    let mut stack = vec![dir.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            assert!(
                !name.contains("tmp") || e.path().is_dir(),
                "stray temp {name}"
            );
            if e.path().is_dir() {
                stack.push(e.path());
            }
        }
    }
}

/// Push reads the local cache unverified (the remote's `put_expected` hashes what it stores);
/// a damaged local object still fails the push with `Corrupt` naming the local object, and the
/// remote holds nothing that does not match its name.
#[test]
fn push_of_a_damaged_cache_object_is_corrupt_naming_it_and_stores_nothing_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("work");
    let r = two_file_dataset(&root);
    let b = Digest::of_bytes(b"b-v1 longer content");
    let obj = root.join(".mlops-dvc/cache/objects").join(b.object_path());
    make_writable(&obj);
    fs::write(&obj, b"b-v1 LONGER content").unwrap();
    let remote = mlops_dvc::FileContentStore::open(dir.path().join("remote")).unwrap();
    let err = r.push(&remote, &[]).unwrap_err();
    assert!(err.is_corrupt(), "{err}");
    assert!(
        err.to_string().contains(&obj.display().to_string()),
        "names the local object: {err}"
    );
    assert!(!remote.contains(&b).unwrap());
    for d in remote.list().unwrap() {
        let mut bytes = Vec::new();
        remote.open(&d).unwrap().read_to_end(&mut bytes).unwrap();
        assert_eq!(
            Digest::of_bytes(&bytes),
            d,
            "remote object {d} matches its name"
        );
    }
}
