//! `S3ContentStore` and `s3://` remotes against a real S3 server (moto's `moto_server`, started
//! by the tests): the conformance suite, push/pull/status/gc end to end, and every fault.
//! Every test is `#[ignore = "needs moto_server"]`; see `mlops_s3::test_server` for how to
//! install and point at the server.
#![cfg(feature = "s3")]

mod common;

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::{repo, write_old};
use mlops_dvc::conformance::Subject;
use mlops_dvc::{
    CheckoutOptions, ContentStore, Digest, DvcError, EntityKind, GcOptions, Keep, Rev,
    S3ContentStore,
};
use mlops_s3::test_server::{self, FaultProxy};
use mlops_s3::{S3Client, S3Config};

/// A fresh bucket on the shared server; the store uses `prefix`.
fn fresh(tag: &str, prefix: &str) -> (S3Config, S3ContentStore) {
    let server = test_server::shared();
    let bucket = test_server::unique_bucket(tag);
    server.create_bucket(&bucket);
    let config = server.config(&bucket).prefix(prefix);
    (config.clone(), S3ContentStore::connect(config).unwrap())
}

fn subject() -> Subject<dyn ContentStore> {
    let (config, store) = fresh("conf", "remote/cache");
    Subject::<dyn ContentStore>::new(Box::new(store))
        .with_reopen(move || Box::new(S3ContentStore::connect(config.clone()).unwrap()))
}

mod conformance_s3 {
    use mlops_dvc::conformance::Capabilities;
    mlops_dvc::conformance_tests!(
        ignore = "needs moto_server";
        caps = Capabilities::ALL.local_files(false);
        super::subject
    );
}

fn build(root: &std::path::Path) {
    write_old(&root.join("ds/a.csv"), "a\n1\n");
    write_old(&root.join("ds/sub/b.csv"), "b\n2\n");
    write_old(&root.join("ds/big.bin"), pattern(6 * 1024 * 1024 + 7, 1)); // multipart
    write_old(&root.join("ds/empty.txt"), "");
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn clone_of(dir: &std::path::Path, root: &std::path::Path) -> (PathBuf, mlops_dvc::Repository) {
    let clone = dir.join("clone");
    fs::create_dir_all(&clone).unwrap();
    fs::copy(root.join("ds.dvc.json"), clone.join("ds.dvc.json")).unwrap();
    let c = repo(&clone);
    (clone, c)
}

#[test]
#[ignore = "needs moto_server"]
fn push_status_pull_gc_on_an_s3_remote() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("work");
    let r = repo(&root).with_jobs(8);
    build(&root);
    r.track("ds", "v1").unwrap();
    write_old(&root.join("ds/a.csv"), "changed");
    r.track("ds", "v2").unwrap();
    let (_, remote) = fresh("e2e", "team/data");

    let before = r.remote_status(&remote, &[]).unwrap();
    assert!(!before.in_sync() && before.to_push.len() as u64 == before.objects);
    let done = Arc::new(AtomicU64::new(0));
    let seen = done.clone();
    let progress: mlops_dvc::ProgressFn = Arc::new(move |p| {
        seen.fetch_max(p.files_done, Ordering::Relaxed);
    });
    let first = r.push_with(&remote, &[], Some(&progress)).unwrap();
    assert!(done.load(Ordering::Relaxed) >= 5, "progress per object");
    assert_eq!(first.present, 0);
    assert_eq!(remote.list().unwrap().len() as u64, first.copied);
    assert!(r.remote_status(&remote, &[]).unwrap().in_sync());
    let again = r.push(&remote, &[]).unwrap();
    assert_eq!((again.copied, again.present), (0, first.copied));
    // The layout: <prefix>/<2 hex>/<62 hex>.
    let client = remote.client();
    let keys: Vec<String> = client
        .list("")
        .unwrap()
        .into_iter()
        .map(|i| i.rel)
        .collect();
    assert!(
        keys.iter().all(|k| k.len() == 65 && &k[2..3] == "/"),
        "{keys:?}"
    );

    // A fresh clone with only the pointer file pulls and checks out.
    let (clone, c) = clone_of(dir.path(), &root);
    let st = c.remote_status(&remote, &[]).unwrap();
    assert!(!st.to_pull.is_empty() && st.to_push.is_empty(), "{st:?}");
    let pulled = c.pull(&remote, &[PathBuf::from("ds")]).unwrap();
    assert!(pulled.copied > 0);
    c.checkout("ds", Rev::Pointer, &CheckoutOptions::default())
        .unwrap();
    assert_eq!(
        fs::read_to_string(clone.join("ds/a.csv")).unwrap(),
        "changed"
    );
    assert_eq!(
        fs::read(clone.join("ds/big.bin")).unwrap(),
        pattern(6 * 1024 * 1024 + 7, 1)
    );

    // gc on the remote: keep only the latest version; v1's a.csv goes.
    let old = Digest::of_bytes(b"a\n1\n");
    assert!(remote.contains(&old).unwrap());
    let dry = r
        .gc_remote(
            &remote,
            &GcOptions::default().keep(Keep::Latest).dry_run(true),
        )
        .unwrap();
    assert!(dry.removed >= 1 && remote.contains(&old).unwrap());
    let gc = r
        .gc_remote(&remote, &GcOptions::default().keep(Keep::Latest))
        .unwrap();
    assert_eq!(gc.removed, dry.removed);
    assert!(!remote.contains(&old).unwrap());
    // What the latest version needs is still there: a pull into a second clone works.
    let dir2 = tempfile::tempdir().unwrap();
    let (clone2, c2) = clone_of(dir2.path(), &root);
    c2.pull(&remote, &[]).unwrap();
    c2.checkout("ds", Rev::Pointer, &CheckoutOptions::default())
        .unwrap();
    assert_eq!(
        fs::read_to_string(clone2.join("ds/sub/b.csv")).unwrap(),
        "b\n2\n"
    );
}

#[test]
#[ignore = "needs moto_server"]
fn missing_object_on_pull_names_digest_and_remote() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("work");
    let r = repo(&root);
    build(&root);
    r.track("ds", "v1").unwrap();
    let (_, remote) = fresh("missing", "p");
    r.push(&remote, &[]).unwrap();
    let gone = Digest::of_bytes(b"b\n2\n");
    assert!(remote.delete(&gone).unwrap());
    let (_, c) = clone_of(dir.path(), &root);
    let err = c.pull(&remote, &[]).unwrap_err();
    match &err {
        DvcError::NotFound {
            kind: EntityKind::Object,
            id,
        } => {
            assert!(
                id.contains(&gone.to_string()) && id.contains(remote.url()),
                "{err}"
            );
        }
        other => panic!("expected a missing object, got {other}"),
    }
}

#[test]
#[ignore = "needs moto_server"]
fn corrupt_object_on_the_server_fails_the_pull_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("work");
    let r = repo(&root);
    build(&root);
    r.track("ds", "v1").unwrap();
    let (config, remote) = fresh("corrupt", "p");
    r.push(&remote, &[]).unwrap();
    // Damage one object on the server, keeping its name.
    let victim = Digest::of_bytes(b"b\n2\n");
    let raw = S3Client::connect(config).unwrap();
    raw.put_bytes(&format!("p/{}", victim.object_path())[2..], &b"b\n3\n"[..])
        .unwrap();
    let (clone, c) = clone_of(dir.path(), &root);
    write_old(&clone.join("ds/mine.txt"), "local work");
    let err = c.pull(&remote, &[]).unwrap_err();
    assert!(err.is_corrupt(), "{err}");
    assert!(err.to_string().contains(&victim.object_path()), "{err}");
    assert!(
        !c.store().contains(&victim).unwrap(),
        "nothing corrupt stored"
    );
    // The workspace is as it was: only the pointer and the user's file.
    assert_eq!(
        fs::read_to_string(clone.join("ds/mine.txt")).unwrap(),
        "local work"
    );
    assert!(!clone.join("ds/sub").exists());
}

#[test]
#[ignore = "needs moto_server"]
fn server_gone_mid_push_then_a_rerun_uploads_only_what_is_missing() {
    let server = test_server::shared();
    let bucket = test_server::unique_bucket("cut");
    server.create_bucket(&bucket);
    let proxy = FaultProxy::start(server.port);
    let remote =
        S3ContentStore::connect(test_server::config_for(&proxy.endpoint, &bucket).prefix("p"))
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("work");
    let r = repo(&root).with_jobs(1);
    for i in 0..6 {
        write_old(&root.join(format!("ds/small{i}.txt")), format!("small {i}"));
    }
    let big = pattern(12 * 1024 * 1024, 9);
    write_old(&root.join("ds/big.bin"), &big);
    r.track("ds", "v1").unwrap();
    // Push the small files first (as a first dataset push would have), then cut mid-upload
    // of the big file.
    for i in 0..3 {
        remote.put_bytes(format!("small {i}").as_bytes()).unwrap();
    }
    proxy.cut_after(7 * 1024 * 1024);
    let err = r.push(&remote, &[]).unwrap_err();
    assert!(
        matches!(err, DvcError::Remote { .. } | DvcError::Io { .. }),
        "{err}"
    );
    proxy.restore();
    let big_digest = Digest::of_bytes(&big);
    assert!(
        !remote.contains(&big_digest).unwrap(),
        "no partial object visible"
    );
    let rerun = r.push(&remote, &[]).unwrap();
    assert!(rerun.present >= 3, "{rerun}");
    assert!(rerun.copied < rerun.objects, "{rerun}");
    assert!(remote.contains(&big_digest).unwrap());
    remote.verify(&big_digest).unwrap();
    assert!(r.remote_status(&remote, &[]).unwrap().in_sync());
}

#[test]
#[ignore = "needs moto_server"]
fn missing_bucket_and_wrong_credentials() {
    let server = test_server::shared();
    let err = S3ContentStore::connect(server.config("no-such-bucket")).unwrap_err();
    assert!(
        matches!(&err, DvcError::NotFound { kind: EntityKind::Bucket, id } if id.contains("no-such-bucket")),
        "{err}"
    );
    let locked = test_server::MotoServer::start(&[]).unwrap();
    locked.create_bucket("locked");
    locked.require_auth();
    let secret = "not-the-right-secret-at-all";
    let err = S3ContentStore::connect(locked.config("locked").credentials("AKIDBAD", secret))
        .unwrap_err();
    match &err {
        DvcError::Remote { source, .. } => assert!(source.is_auth(), "{err}"),
        other => panic!("expected an authentication error, got {other}"),
    }
    let text = format!("{err} {err:?}");
    assert!(
        text.contains("locked") && text.contains(&locked.endpoint),
        "{text}"
    );
    assert!(!text.contains(secret), "{text}");
}

#[test]
#[ignore = "needs moto_server"]
fn put_reader_above_one_part_spools_and_is_a_noop_when_present() {
    let (_, store) = fresh("spool", "p");
    let part = store.client().config().part_size_bytes();
    let data = pattern(part + part / 2, 4);
    let first = store.put_reader(&mut &data[..]).unwrap();
    assert!(first.inserted);
    assert_eq!(
        (first.digest, first.size),
        (Digest::of_bytes(&data), data.len() as u64)
    );
    let again = store.put_reader(&mut &data[..]).unwrap();
    assert!(!again.inserted);
    store.verify(&first.digest).unwrap();
    // put_expected with bytes that do not match the name stores nothing.
    let wrong = Digest::of_bytes(b"something else");
    let err = store.put_expected(&wrong, &mut &data[..]).unwrap_err();
    assert!(err.is_corrupt(), "{err}");
    assert!(!store.contains(&wrong).unwrap());
    assert_eq!(store.list().unwrap(), vec![first.digest]);
}

#[test]
#[ignore = "needs moto_server"]
fn small_put_is_one_conditional_request_present_or_not() {
    let server = test_server::shared();
    let bucket = test_server::unique_bucket("cond");
    server.create_bucket(&bucket);
    let proxy = FaultProxy::start(server.port);
    let store =
        S3ContentStore::connect(test_server::config_for(&proxy.endpoint, &bucket).prefix("p"))
            .unwrap();
    let data = pattern(10 * 1024, 5);
    let digest = Digest::of_bytes(&data);
    let before = proxy.requests();
    let first = store.put_expected(&digest, &mut &data[..]).unwrap();
    assert!(first.inserted);
    assert_eq!(
        proxy.requests() - before,
        1,
        "absent: one PUT, no HEAD first"
    );
    let again = store.put_expected(&digest, &mut &data[..]).unwrap();
    assert!(!again.inserted);
    assert_eq!(again.size, data.len() as u64);
    assert_eq!(proxy.requests() - before, 2, "present: one refused PUT");
    let other = pattern(3000, 6);
    assert!(store.put_reader(&mut &other[..]).unwrap().inserted);
    assert!(!store.put_reader(&mut &other[..]).unwrap().inserted);
    assert_eq!(proxy.requests() - before, 4, "put_reader: one request each");
    // Bytes that do not match the name: nothing is sent, nothing stored.
    let wrong = Digest::of_bytes(b"not these bytes");
    let err = store.put_expected(&wrong, &mut &data[..]).unwrap_err();
    assert!(err.is_corrupt(), "{err}");
    assert_eq!(proxy.requests() - before, 4);
    store.verify(&digest).unwrap();
    let mut listed = store.list().unwrap();
    listed.sort();
    let mut want = vec![digest, Digest::of_bytes(&other)];
    want.sort();
    assert_eq!(listed, want);
}

#[test]
#[ignore = "needs moto_server"]
fn contains_many_lists_once_for_a_large_query() {
    let (_, store) = fresh("many", "p");
    let digests: Vec<Digest> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4u32)
            .map(|t| {
                let store = &store;
                s.spawn(move || {
                    (0..75u32)
                        .map(|i| {
                            store
                                .put_bytes(format!("{t}-{i}").as_bytes())
                                .unwrap()
                                .digest
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
    let absent = Digest::of_bytes(b"absent");
    let mut query = digests.clone();
    query.insert(100, absent);
    assert!(query.len() > 256, "large enough to take the listing path");
    let answers = store.contains_many(&query).unwrap();
    for (d, present) in query.iter().zip(&answers) {
        assert_eq!(*present, *d != absent, "{d}");
    }
    // The small-query path (concurrent HEADs) agrees.
    assert_eq!(
        store.contains_many(&query[95..105]).unwrap(),
        answers[95..105]
    );
}

#[test]
#[ignore = "needs moto_server"]
fn server_process_killed_mid_push_is_an_error_not_a_hang() {
    let server = test_server::MotoServer::start(&[]).unwrap_or_else(|e| {
        panic!(
            "this test needs moto_server: {e}; {}",
            test_server::INSTALL_HINT
        )
    });
    server.create_bucket("killed");
    // The proxy only watches the traffic, to kill the server once the upload is under way.
    let proxy = FaultProxy::start(server.port);
    let remote =
        S3ContentStore::connect(test_server::config_for(&proxy.endpoint, "killed")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("work");
    let r = repo(&root);
    write_old(&root.join("ds/big.bin"), pattern(16 * 1024 * 1024, 8));
    r.track("ds", "v1").unwrap();
    let started = std::time::Instant::now();
    let err = std::thread::scope(|s| {
        s.spawn(|| {
            while proxy.sent() < 6 * 1024 * 1024 && started.elapsed().as_secs() < 60 {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            server.stop(); // kills the moto process group
        });
        r.push(&remote, &[]).unwrap_err()
    });
    assert!(
        matches!(err, DvcError::Remote { .. } | DvcError::Io { .. }),
        "{err}"
    );
    assert!(
        started.elapsed().as_secs() < 120,
        "the push gave up in bounded time"
    );
    // A re-run against a server that is back (a fresh one: moto keeps no state) completes.
    let again = test_server::MotoServer::start(&[]).unwrap();
    again.create_bucket("killed");
    let remote = S3ContentStore::connect(again.config("killed")).unwrap();
    let report = r.push(&remote, &[]).unwrap();
    assert_eq!(report.copied, report.objects);
}
