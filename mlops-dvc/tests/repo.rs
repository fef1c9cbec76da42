//! The repository API: track, log, status, checkout, diff, push/pull, gc.

mod common;

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::{repo, write_old};
use mlops_dvc::{
    CheckoutOptions, ContentStore, DatasetKind, FileContentStore, GcOptions, Keep, LinkMode, Phase,
    Rev, TrackOptions, Tracked,
};

const V1: &str = "id,text,label\n1,好评,1\n2,差评,0\n3,一般,1";

#[test]
fn seed_scenario_track_log_checkout_diff() {
    let dir = tempfile::tempdir().unwrap();
    let r = repo(dir.path());
    let csv = dir.path().join("train.csv");
    let v2 = format!("{V1}\n4,非常好,1\n5,很差,0\n6,还行,1");
    let v3 = v2.replace("3,一般,1", "3,一般,0");
    fs::write(&csv, V1).unwrap();
    let t1 = r.track("train.csv", "initial").unwrap();
    assert!(t1.is_new());
    assert_eq!(t1.version().version, 1);
    assert_eq!(t1.version().size, V1.len() as u64);
    assert_eq!(t1.version().kind, DatasetKind::File);
    // Unchanged data creates no version.
    let again = r.track("train.csv", "same").unwrap();
    assert!(matches!(&again, Tracked::Unchanged(v) if v.version == 1));
    fs::write(&csv, &v2).unwrap();
    r.track("train.csv", "three rows added").unwrap();
    fs::write(&csv, &v3).unwrap();
    let t3 = r
        .track_with(
            "train.csv",
            "label fixed",
            &TrackOptions::default().tag("reviewed"),
        )
        .unwrap();
    assert_eq!(t3.version().version, 3);
    assert_eq!(t3.version().tags, vec!["reviewed".to_owned()]);

    let log = r.log("train.csv").unwrap();
    let msgs: Vec<&str> = log.0.iter().map(|v| v.message.as_str()).collect();
    assert_eq!(msgs, ["initial", "three rows added", "label fixed"]);
    let table = log.to_string();
    assert!(
        table.contains("v3") && table.contains("label fixed"),
        "{table}"
    );

    let diff = r.diff("train.csv", 1, 3).unwrap();
    let text = diff.text.clone().unwrap();
    // v1 -> v3: line "3,一般,1" became "3,一般,0", three rows appended.
    assert_eq!((text.added, text.removed, text.unchanged), (4, 1, 3));
    assert_eq!(text.removed_samples, vec!["3,一般,1".to_owned()]);
    assert_eq!(diff.modified.len(), 1);

    let rep = r
        .checkout("train.csv", 1, &CheckoutOptions::default())
        .unwrap();
    assert_eq!(rep.written, 1);
    assert_eq!(fs::read_to_string(&csv).unwrap(), V1);
    // Back to the latest.
    r.checkout("train.csv", Rev::Latest, &CheckoutOptions::default())
        .unwrap();
    assert_eq!(fs::read_to_string(&csv).unwrap(), v3);
}

#[test]
fn line_diff_keeps_duplicates_and_order() {
    let dir = tempfile::tempdir().unwrap();
    let r = repo(dir.path());
    let f = dir.path().join("a.txt");
    fs::write(&f, "x\nx\ny\n").unwrap();
    r.track("a.txt", "1").unwrap();
    fs::write(&f, "y\nx\nx\nx\n").unwrap();
    r.track("a.txt", "2").unwrap();
    let t = r.diff("a.txt", 1, 2).unwrap().text.unwrap();
    // A set-based diff would say 0 added, 0 removed.
    assert_eq!(t.added + t.unchanged, 4);
    assert_eq!(t.removed + t.unchanged, 3);
    assert!(t.added >= 1);
}

#[test]
fn pointer_file_is_json_and_restores_after_git_checkout() {
    let dir = tempfile::tempdir().unwrap();
    let r = repo(dir.path());
    let f = dir.path().join("data/x.bin");
    write_old(&f, b"one");
    r.track("data/x.bin", "1").unwrap();
    let pointer_v1 = fs::read(dir.path().join("data/x.bin.dvc.json")).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&pointer_v1).unwrap();
    assert_eq!(json["path"], "x.bin");
    assert_eq!(json["version"], 1);
    assert_eq!(json["kind"], "file");
    write_old(&f, b"two");
    r.track("data/x.bin", "2").unwrap();
    // "git checkout" of the old pointer, then checkout from the pointer.
    fs::write(dir.path().join("data/x.bin.dvc.json"), &pointer_v1).unwrap();
    let rep = r
        .checkout("data/x.bin", Rev::Pointer, &CheckoutOptions::default())
        .unwrap();
    assert_eq!(rep.version, 1);
    assert_eq!(fs::read(&f).unwrap(), b"one");
}

fn build_tree(root: &std::path::Path) {
    write_old(&root.join("ds/a.csv"), "a\n1\n");
    write_old(&root.join("ds/sub/b.csv"), "b\n2\n");
    write_old(&root.join("ds/sub/deeper/c.bin"), [0u8, 1, 2, 3]);
    write_old(&root.join("ds/empty.txt"), "");
    fs::create_dir_all(root.join("ds/empty_dir")).unwrap();
}

#[test]
fn directory_versions_status_diff_and_checkout() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let r = repo(root);
    build_tree(root);
    let v1 = r.track("ds", "v1").unwrap();
    assert_eq!(v1.version().kind, DatasetKind::Dir);
    assert_eq!(v1.version().files, 4);
    assert_eq!(v1.version().size, 4 + 4 + 4);
    let st = r.status("ds").unwrap();
    assert!(st.is_clean(), "{st}");
    assert_eq!(st.unchanged, 4);
    assert_eq!(st.rehashed, 0, "unchanged files must not be re-hashed");

    // Modify one, add one, delete one, rename one.
    write_old(&root.join("ds/a.csv"), "a\n1\n2\n");
    write_old(&root.join("ds/new.csv"), "new\n");
    fs::remove_file(root.join("ds/empty.txt")).unwrap();
    fs::rename(root.join("ds/sub/b.csv"), root.join("ds/b_moved.csv")).unwrap();
    let st = r.status("ds").unwrap();
    let names = |v: &Vec<mlops_dvc::RelPath>| v.iter().map(ToString::to_string).collect::<Vec<_>>();
    assert_eq!(names(&st.modified), ["a.csv"]);
    assert_eq!(names(&st.added), ["b_moved.csv", "new.csv"]);
    assert_eq!(names(&st.deleted), ["empty.txt", "sub/b.csv"]);
    // Only the changed files were read: a.csv, new.csv and the renamed file (new inode path).
    assert_eq!(st.rehashed, 3, "{st}");

    let before = r.store().list().unwrap().len();
    let v2 = r.track("ds", "v2").unwrap();
    assert_eq!(v2.version().version, 2);
    // New objects: a.csv, new.csv, root tree, sub tree (b.csv left it); deeper/ is reused.
    let after = r.store().list().unwrap().len();
    assert_eq!(after - before, 4);

    let d = r.diff("ds", 1, 2).unwrap();
    assert_eq!(names(&d.added), ["new.csv"]);
    assert_eq!(names(&d.removed), ["empty.txt"]);
    assert_eq!(d.modified.len(), 1);
    assert_eq!(d.renamed.len(), 1);
    assert_eq!(d.renamed[0].from.to_string(), "sub/b.csv");
    assert_eq!(d.renamed[0].to.to_string(), "b_moved.csv");
    assert_eq!(d.unchanged, 1);
    assert!(d.text.is_none());

    // Checkout v1 in place, removing extras: exactly the v1 tree, empty folder included.
    let rep = r
        .checkout("ds", 1, &CheckoutOptions::default().remove_extra(true))
        .unwrap();
    assert_eq!(rep.removed, 2, "{rep}");
    assert_eq!(fs::read_to_string(root.join("ds/a.csv")).unwrap(), "a\n1\n");
    assert_eq!(
        fs::read_to_string(root.join("ds/sub/b.csv")).unwrap(),
        "b\n2\n"
    );
    assert!(root.join("ds/empty.txt").exists());
    assert!(root.join("ds/empty_dir").is_dir());
    assert!(!root.join("ds/new.csv").exists());
    // The pointer now names v1, and status compares against it.
    let st = r.status("ds").unwrap();
    assert!(st.is_clean(), "{st}");
    assert_eq!(st.version, 1);
    // Tracking the unchanged v1 content creates no version.
    assert!(!r.track("ds", "same as v1").unwrap().is_new());
    // Without remove_extra, extra files stay.
    write_old(&root.join("ds/extra.csv"), "x");
    r.checkout("ds", 2, &CheckoutOptions::default()).unwrap();
    assert!(root.join("ds/extra.csv").exists());
    assert!(root.join("ds/empty.txt").exists());
}

#[test]
fn checkout_elsewhere_with_hardlinks_shares_read_only_objects() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let r = repo(root);
    build_tree(root);
    r.track("ds", "v1").unwrap();
    let rep = r
        .checkout(
            "ds",
            1,
            &CheckoutOptions::default()
                .destination("copy_hl")
                .link(LinkMode::Hardlink),
        )
        .unwrap();
    assert_eq!(rep.written, 4);
    assert_eq!(rep.linked, 4);
    let out = root.join("copy_hl/sub/b.csv");
    assert_eq!(fs::read_to_string(&out).unwrap(), "b\n2\n");
    assert!(fs::metadata(&out).unwrap().permissions().readonly());
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        assert!(fs::metadata(&out).unwrap().nlink() >= 2);
    }
    // Checking out again changes nothing.
    let again = r
        .checkout(
            "ds",
            1,
            &CheckoutOptions::default()
                .destination("copy_hl")
                .link(LinkMode::Hardlink),
        )
        .unwrap();
    assert_eq!((again.written, again.unchanged), (0, 4));
    // Copies are writable and independent.
    r.checkout(
        "ds",
        1,
        &CheckoutOptions::default().destination(root.join("copy")),
    )
    .unwrap();
    assert!(
        !fs::metadata(root.join("copy/a.csv"))
            .unwrap()
            .permissions()
            .readonly()
    );
}

#[cfg(unix)]
#[test]
fn executable_bit_is_versioned() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let r = repo(dir.path());
    write_old(&dir.path().join("tools/run.sh"), "#!/bin/sh\n");
    fs::set_permissions(
        dir.path().join("tools/run.sh"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    r.track("tools", "v1").unwrap();
    let files = r.files("tools", 1).unwrap();
    assert!(files[0].exec);
    r.checkout(
        "tools",
        1,
        &CheckoutOptions::default()
            .destination("out")
            .link(LinkMode::Hardlink),
    )
    .unwrap();
    let mode = fs::metadata(dir.path().join("out/run.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111);
}

/// A status that finds the working copy clean marks the stat cache clean against that version;
/// the next status whose listing matches the cache by stat answers from it without reading
/// the version's tree objects, and any change (content, a new or removed file, the executable
/// bit, another version) goes back to comparing with the tree.
#[cfg(unix)]
#[test]
fn clean_status_is_remembered_and_any_change_reads_the_tree_again() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let r = repo(root);
    build_tree(root);
    let v1 = r.track("ds", "v1").unwrap().version().clone();
    assert!(r.status("ds").unwrap().is_clean());
    // Take the root tree object away: only a status that reads the tree can notice.
    let mut tree = Vec::new();
    r.store()
        .open(&v1.digest)
        .unwrap()
        .read_to_end(&mut tree)
        .unwrap();
    assert!(r.store().delete(&v1.digest).unwrap());
    let st = r.status("ds").unwrap();
    assert!(st.is_clean(), "{st}");
    assert_eq!((st.unchanged, st.rehashed, st.version), (4, 0, 1));
    // A new file: the listing no longer matches the cache, so the tree is needed.
    write_old(&root.join("ds/new.csv"), "new\n");
    assert!(
        r.status("ds").is_err(),
        "a changed listing must read the tree"
    );
    r.store().put_bytes(&tree).unwrap();
    let names = |v: &Vec<mlops_dvc::RelPath>| v.iter().map(ToString::to_string).collect::<Vec<_>>();
    assert_eq!(names(&r.status("ds").unwrap().added), ["new.csv"]);
    fs::remove_file(root.join("ds/new.csv")).unwrap();
    assert!(r.status("ds").unwrap().is_clean());
    // The executable bit changes no size, mtime or inode: still seen.
    chmod(&root.join("ds/a.csv"), 0o755);
    assert_eq!(names(&r.status("ds").unwrap().mode_changed), ["a.csv"]);
    chmod(&root.join("ds/a.csv"), 0o644);
    assert!(r.status("ds").unwrap().is_clean());
    // Same size, other content, new mtime: modified.
    write_old(&root.join("ds/a.csv"), "a\n9\n");
    assert_eq!(names(&r.status("ds").unwrap().modified), ["a.csv"]);
    // A deleted file.
    write_old(&root.join("ds/a.csv"), "a\n1\n");
    assert!(r.status("ds").unwrap().is_clean());
    fs::remove_file(root.join("ds/sub/b.csv")).unwrap();
    assert_eq!(names(&r.status("ds").unwrap().deleted), ["sub/b.csv"]);
    // A new version: the mark names v1's tree, so v2 is compared with its own tree, then
    // remembered in turn.
    let v2 = r.track("ds", "v2").unwrap().version().clone();
    assert!(r.status("ds").unwrap().is_clean());
    assert!(r.store().delete(&v2.digest).unwrap());
    let st = r.status("ds").unwrap();
    assert!(
        st.is_clean() && st.version == 2 && st.unchanged == 3,
        "{st}"
    );
}

/// A rename that fails half-way through a checkout (here a folder appears where a file goes,
/// after the plan) undoes every file the checkout had moved to a free path and removes every
/// temp, whichever threads had renamed what.
#[test]
fn failed_rename_undoes_the_moved_files_and_removes_every_temp() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let r = repo(root);
    for d in ["a", "b", "c"] {
        for i in 0..20 {
            write_old(&root.join(format!("ds/{d}/f{i:02}.csv")), format!("{d}{i}"));
        }
    }
    r.track("ds", "v1").unwrap();
    let dest = root.join("out");
    let blocker = dest.join("b/f10.csv");
    let placed = Arc::new(AtomicU64::new(0));
    let (b, once) = (blocker.clone(), placed.clone());
    let opts = CheckoutOptions::default()
        .destination(&dest)
        .progress(Arc::new(move |_| {
            // While files are being staged (the folders exist): a non-empty folder where a
            // file is to be renamed.
            if once.fetch_add(1, Ordering::SeqCst) == 0 {
                fs::create_dir_all(b.join("inside")).unwrap();
            }
        }));
    assert!(r.checkout("ds", 1, &opts).is_err());
    assert!(placed.load(Ordering::SeqCst) > 0);
    let left = listing(&dest);
    // Only the blocker (and the folder holding it) is left: no checked-out file, no temp, and
    // the folders the checkout created are gone once empty.
    assert_eq!(left, ["b", "b/f10.csv", "b/f10.csv/inside"]);

    // In place, over files that exist: a failure leaves every file that was there (old or new
    // content; a replaced file cannot be brought back) and no temp.
    for d in ["a", "b", "c"] {
        for i in 0..20 {
            write_old(
                &root.join(format!("ds/{d}/f{i:02}.csv")),
                format!("changed {d}{i}"),
            );
        }
    }
    let blocker = root.join("ds/b/f10.csv");
    let placed = Arc::new(AtomicU64::new(0));
    let (b, once) = (blocker.clone(), placed.clone());
    let opts = CheckoutOptions::default().progress(Arc::new(move |_| {
        if once.fetch_add(1, Ordering::SeqCst) == 0 {
            fs::remove_file(&b).unwrap();
            fs::create_dir_all(b.join("inside")).unwrap();
        }
    }));
    assert!(r.checkout("ds", 1, &opts).is_err());
    let left = listing(&root.join("ds"));
    let mut want: Vec<String> = vec!["a".into(), "b".into(), "c".into()];
    for d in ["a", "b", "c"] {
        for i in 0..20 {
            want.push(format!("{d}/f{i:02}.csv"));
        }
    }
    want.push("b/f10.csv/inside".into());
    want.sort();
    assert_eq!(left, want);
}

/// Every path under `dir` (files and folders), relative to it, sorted.
fn listing(dir: &std::path::Path) -> Vec<String> {
    fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
        if let Ok(rd) = fs::read_dir(dir) {
            for e in rd.flatten() {
                out.push(e.path());
                if e.file_type().unwrap().is_dir() {
                    walk(&e.path(), out);
                }
            }
        }
    }
    let mut paths = Vec::new();
    walk(dir, &mut paths);
    let mut names: Vec<String> = paths
        .iter()
        .map(|p| p.strip_prefix(dir).unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[cfg(unix)]
fn mode_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
fn chmod(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Issue 17 item 8: a single-file dataset keeps its executable bit, as DVC's `isexec`.
#[cfg(unix)]
#[test]
fn executable_bit_of_a_single_file_dataset_is_versioned() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let r = repo(root);
    let script = root.join("run.sh");
    write_old(&script, "#!/bin/sh\necho hi\n");
    chmod(&script, 0o755);
    let v1 = r.track("run.sh", "executable").unwrap();
    assert!(v1.version().exec);
    let v1_pointer = fs::read(root.join("run.sh.dvc.json")).unwrap();
    let pointer: serde_json::Value = serde_json::from_slice(&v1_pointer).unwrap();
    assert_eq!(pointer["isexec"], true, "{pointer}");
    assert!(r.status("run.sh").unwrap().is_clean());

    // Clearing the bit is a change of mode, not of content.
    chmod(&script, 0o644);
    let st = r.status("run.sh").unwrap();
    assert!(!st.is_clean(), "{st}");
    assert_eq!(st.mode_changed.len(), 1, "{st}");
    assert!(st.modified.is_empty(), "{st}");
    assert!(st.to_string().contains("1 mode changed"), "{st}");
    // ... and tracking it records a new version without the bit.
    let v2 = r.track("run.sh", "not executable").unwrap();
    assert!(v2.is_new());
    assert!(!v2.version().exec);
    let pointer: serde_json::Value =
        serde_json::from_slice(&fs::read(root.join("run.sh.dvc.json")).unwrap()).unwrap();
    assert!(pointer.get("isexec").is_none(), "{pointer}");

    // Checkout restores the bit: in place (same content, other mode), and elsewhere in both
    // link modes (an executable file is copied, never hardlinked to the shared object).
    let rep = r
        .checkout("run.sh", 1, &CheckoutOptions::default())
        .unwrap();
    assert_eq!(rep.written, 1);
    assert_eq!(mode_of(&script) & 0o111, 0o111);
    assert!(r.status("run.sh").unwrap().is_clean());
    for (dest, link) in [("copy.sh", LinkMode::Copy), ("link.sh", LinkMode::Hardlink)] {
        r.checkout(
            "run.sh",
            1,
            &CheckoutOptions::default().destination(dest).link(link),
        )
        .unwrap();
        assert_eq!(mode_of(&root.join(dest)) & 0o111, 0o111, "{dest}");
        assert_eq!(fs::read(root.join(dest)).unwrap(), b"#!/bin/sh\necho hi\n");
    }
    r.checkout("run.sh", 2, &CheckoutOptions::default())
        .unwrap();
    assert_eq!(mode_of(&script) & 0o111, 0);

    // A fresh clone with only the v1 pointer (from git) restores the bit from the pointer.
    let clone = dir.path().join("clone");
    let c = mlops_dvc::Repository::with_store(&clone, r.store().clone())
        .unwrap()
        .with_fsync(false);
    fs::write(clone.join("run.sh.dvc.json"), &v1_pointer).unwrap();
    c.checkout("run.sh", Rev::Pointer, &CheckoutOptions::default())
        .unwrap();
    assert_eq!(mode_of(&clone.join("run.sh")) & 0o111, 0o111);
}

/// The bit inside a tree: status reports a file whose mode changed, checkout restores it.
#[cfg(unix)]
#[test]
fn executable_bit_change_inside_a_folder_is_reported_and_restored() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let r = repo(root);
    write_old(&root.join("tools/run.sh"), "#!/bin/sh\n");
    write_old(&root.join("tools/data.txt"), "data");
    chmod(&root.join("tools/run.sh"), 0o755);
    r.track("tools", "v1").unwrap();
    chmod(&root.join("tools/run.sh"), 0o644);
    chmod(&root.join("tools/data.txt"), 0o755);
    let st = r.status("tools").unwrap();
    let names: Vec<String> = st.mode_changed.iter().map(ToString::to_string).collect();
    assert_eq!(names, ["data.txt", "run.sh"], "{st}");
    assert_eq!(st.unchanged, 0);
    let rep = r.checkout("tools", 1, &CheckoutOptions::default()).unwrap();
    assert_eq!(rep.written, 2);
    assert_eq!(mode_of(&root.join("tools/run.sh")) & 0o111, 0o111);
    assert_eq!(mode_of(&root.join("tools/data.txt")) & 0o111, 0);
    assert!(r.status("tools").unwrap().is_clean());
}

#[test]
fn push_pull_to_a_fresh_clone_and_gc() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("work");
    let r = repo(&root);
    build_tree(&root);
    r.track("ds", "v1").unwrap();
    write_old(&root.join("ds/a.csv"), "changed");
    r.track("ds", "v2").unwrap();
    let remote = FileContentStore::open(dir.path().join("remote"))
        .unwrap()
        .with_fsync(false);
    let copied = Arc::new(AtomicU64::new(0));
    let seen = copied.clone();
    let progress: mlops_dvc::ProgressFn = Arc::new(move |p| {
        assert_eq!(p.phase, Phase::Transfer);
        seen.fetch_max(p.files_done, Ordering::Relaxed);
    });
    let first = r.push_with(&remote, &[], Some(&progress)).unwrap();
    // Progress counts the file objects (trees follow at the end).
    assert!(copied.load(Ordering::Relaxed) >= 4);
    assert!(first.copied > 0);
    assert_eq!(first.present, 0);
    assert_eq!(remote.list().unwrap().len() as u64, first.copied);
    let second = r.push(&remote, &[]).unwrap();
    assert_eq!(second.copied, 0, "{second}");
    assert_eq!(second.present, first.copied);

    // A fresh clone has only the pointer file (from git).
    let clone = dir.path().join("clone");
    fs::create_dir_all(&clone).unwrap();
    fs::copy(root.join("ds.dvc.json"), clone.join("ds.dvc.json")).unwrap();
    let c = repo(&clone);
    assert!(
        c.checkout("ds", Rev::Pointer, &CheckoutOptions::default())
            .unwrap_err()
            .is_not_found()
    );
    let pulled = c.pull(&remote, &[PathBuf::from("ds")]).unwrap();
    assert!(pulled.copied > 0);
    assert_eq!(c.pull(&remote, &[PathBuf::from("ds")]).unwrap().copied, 0);
    c.checkout("ds", Rev::Pointer, &CheckoutOptions::default())
        .unwrap();
    assert_eq!(
        fs::read_to_string(clone.join("ds/a.csv")).unwrap(),
        "changed"
    );
    assert_eq!(
        fs::read_to_string(clone.join("ds/sub/b.csv")).unwrap(),
        "b\n2\n"
    );

    // gc: keep everything, then keep only the latest: v1's a.csv and trees go.
    let all = r.gc(&GcOptions::default()).unwrap();
    assert_eq!(all.removed, 0);
    let dry = r
        .gc(&GcOptions::default().keep(Keep::Latest).dry_run(true))
        .unwrap();
    assert!(dry.removed > 0);
    let n = r.store().list().unwrap().len() as u64;
    assert_eq!(n, dry.kept + dry.removed, "dry run removes nothing");
    let gc = r.gc(&GcOptions::default().keep(Keep::Latest)).unwrap();
    assert_eq!((gc.removed, gc.freed_bytes), (dry.removed, dry.freed_bytes));
    assert!(gc.freed_bytes >= 4, "{gc}");
    r.checkout(
        "ds",
        Rev::Latest,
        &CheckoutOptions::default().destination("latest"),
    )
    .unwrap();
    assert!(
        r.checkout("ds", 1, &CheckoutOptions::default().destination("old"))
            .is_err()
    );
}

#[test]
fn progress_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let r = repo(dir.path());
    for i in 0..20 {
        write_old(&dir.path().join(format!("many/{i}.txt")), format!("{i}"));
    }
    let calls = Arc::new(AtomicU64::new(0));
    let last_total = Arc::new(AtomicU64::new(0));
    let (c, t) = (calls.clone(), last_total.clone());
    let opts = TrackOptions::default().progress(Arc::new(move |p| {
        assert_eq!(p.phase, Phase::Hashing);
        assert!(p.files_done <= p.files_total);
        c.fetch_add(1, Ordering::Relaxed);
        t.store(p.files_total, Ordering::Relaxed);
    }));
    r.track_with("many", "m", &opts).unwrap();
    assert_eq!(calls.load(Ordering::Relaxed), 20);
    assert_eq!(last_total.load(Ordering::Relaxed), 20);
}

#[test]
fn reopened_repository_sees_everything_and_several_processes_share_it() {
    let dir = tempfile::tempdir().unwrap();
    {
        let r = repo(dir.path());
        write_old(&dir.path().join("f"), "1");
        r.track("f", "one").unwrap();
    }
    let r = repo(dir.path());
    assert_eq!(r.log("f").unwrap().0.len(), 1);
    assert_eq!(r.datasets().unwrap()[0].to_string(), "f");
    // Two handles (as two processes would) tracking in turn keep one consistent log.
    let r2 = repo(dir.path());
    write_old(&dir.path().join("f"), "2");
    r2.track("f", "two").unwrap();
    write_old(&dir.path().join("f"), "3");
    r.track("f", "three").unwrap();
    let versions: Vec<u64> = r.log("f").unwrap().0.iter().map(|v| v.version).collect();
    assert_eq!(versions, [1, 2, 3]);
}

#[test]
fn track_by_hardlink_shares_the_inode_and_falls_back_to_copy_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let r = repo(root);
    write_old(&root.join("hl/a.bin"), vec![3u8; 300_000]);
    write_old(&root.join("hl/b.bin"), "small");
    let opts = TrackOptions::default().link(LinkMode::Hardlink);
    let v = r.track_with("hl", "v1", &opts).unwrap();
    assert_eq!(v.version().files, 2);
    let a = root.join("hl/a.bin");
    assert!(fs::metadata(&a).unwrap().permissions().readonly());
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let d = mlops_dvc::Digest::of_bytes(&[3u8; 300_000]);
        let obj = r.store().local_path(&d).unwrap();
        assert_eq!(
            fs::metadata(&obj).unwrap().ino(),
            fs::metadata(&a).unwrap().ino()
        );
    }
    r.store().verify(&v.version().digest).unwrap();
    assert!(r.status("hl").unwrap().is_clean());
    // Replacing the file (the way to edit a read-only file) makes a new version.
    fs::remove_file(&a).unwrap();
    write_old(&a, "new content");
    assert!(r.track_with("hl", "v2", &opts).unwrap().is_new());
    r.checkout("hl", 1, &CheckoutOptions::default()).unwrap();
    assert_eq!(fs::read(&a).unwrap(), vec![3u8; 300_000]);

    // A store without local files copies instead.
    let mem = tempfile::tempdir().unwrap();
    let m = mlops_dvc::Repository::with_store(
        mem.path(),
        Arc::new(mlops_dvc::InMemoryContentStore::new()),
    )
    .unwrap();
    write_old(&mem.path().join("f"), "x");
    m.track_with("f", "v1", &opts).unwrap();
    assert!(
        !fs::metadata(mem.path().join("f"))
            .unwrap()
            .permissions()
            .readonly()
    );
}

#[test]
fn gc_in_a_fresh_clone_keeps_what_pointer_files_name() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("work");
    let r = repo(&root);
    write_old(&root.join("data/set/a.txt"), "a");
    r.track("data/set", "v1").unwrap();
    let remote = FileContentStore::open(dir.path().join("remote")).unwrap();
    r.push(&remote, &[]).unwrap();
    let clone = dir.path().join("clone");
    fs::create_dir_all(clone.join("data")).unwrap();
    fs::copy(
        root.join("data/set.dvc.json"),
        clone.join("data/set.dvc.json"),
    )
    .unwrap();
    let c = repo(&clone);
    // No dataset named: found through its pointer file.
    let pulled = c.pull(&remote, &[]).unwrap();
    assert_eq!(pulled.copied, 2);
    let gc = c.gc(&GcOptions::default()).unwrap();
    assert_eq!((gc.removed, gc.kept), (0, 2));
    c.checkout("data/set", Rev::Pointer, &CheckoutOptions::default())
        .unwrap();
    assert_eq!(
        fs::read_to_string(clone.join("data/set/a.txt")).unwrap(),
        "a"
    );
}

/// Issue 17 item 11: "fsync off" is one setting: `Repository::open(..).with_fsync(false)` also
/// turns off the fsyncs of the repository's own cache; a store passed in keeps its own setting.
#[test]
fn fsync_off_is_one_setting() {
    let dir = tempfile::tempdir().unwrap();
    let r = mlops_dvc::Repository::open(dir.path())
        .unwrap()
        .with_fsync(false);
    let shown = format!("{r:?}");
    assert!(!shown.contains("fsync: true"), "{shown}");
    assert_eq!(shown.matches("fsync: false").count(), 2, "{shown}");
    let r = r.with_fsync(true);
    assert_eq!(format!("{r:?}").matches("fsync: true").count(), 2);
    // It still works as a repository.
    write_old(&dir.path().join("f"), "x");
    assert!(r.track("f", "one").unwrap().is_new());
    // A store given by the caller is not changed.
    let store = Arc::new(FileContentStore::open(dir.path().join("other")).unwrap());
    let r = mlops_dvc::Repository::with_store(dir.path(), store)
        .unwrap()
        .with_fsync(false);
    assert_eq!(format!("{r:?}").matches("fsync: true").count(), 1);
}

/// Issue 18 item 5: the clock is injected as `Arc<dyn Clock>`.
#[test]
fn injected_clock_dates_the_versions() {
    let dir = tempfile::tempdir().unwrap();
    let at = chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap();
    let r = repo(dir.path()).with_clock(Arc::new(mlops_dvc::FnClock(move || at)));
    write_old(&dir.path().join("f"), "x");
    assert_eq!(r.track("f", "one").unwrap().version().timestamp, at);
}
