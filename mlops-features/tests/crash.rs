//! Crash and multi-process tests of the file stores: torn tails at every cut, killed writers,
//! a second process refused by the online store's lock, concurrent offline appenders.

use std::fs;
use std::path::Path;
use std::process::Command;

use mlops_features::{
    EntityKey, FeatureError, FeatureGroup, FeatureRow, FeatureStatus, FileOfflineStore,
    FileOnlineStore, KeyType, OfflineStore, OfflineStoreExt, OnlineStore, ReadRequest, ScanOptions,
    Timestamp, Value, ValueType,
};

const CHILD_ENV: &str = "MLOPS_FEATURES_CHILD";
const DIR_ENV: &str = "MLOPS_FEATURES_CHILD_DIR";

fn t(s: i64) -> Timestamp {
    Timestamp::from_secs(s)
}

fn group() -> FeatureGroup {
    FeatureGroup::builder("g")
        .entity("id", KeyType::Int64)
        .feature("x", ValueType::Int64)
        .build()
        .unwrap()
}

fn row(id: i64, ts: i64, x: i64) -> FeatureRow {
    FeatureRow::new(id, t(ts), vec![Value::Int64(x)])
}

fn read_x(s: &dyn OnlineStore, id: i64) -> Option<i64> {
    let mut out = vec![mlops_features::FeatureValue::default()];
    s.read(
        &ReadRequest::new("g", &[EntityKey::from(id)], &[0], t(1_000_000)),
        &mut out,
    )
    .unwrap();
    match out[0].status {
        FeatureStatus::Present => out[0].value.as_i64(),
        _ => None,
    }
}

fn spawn_child(test: &str, dir: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, test)
        .env(DIR_ENV, dir)
        .spawn()
        .unwrap()
}

fn child_dir(test: &str) -> Option<std::path::PathBuf> {
    (std::env::var(CHILD_ENV).ok().as_deref() == Some(test))
        .then(|| std::env::var(DIR_ENV).unwrap().into())
}

#[test]
fn online_log_cut_at_every_byte_keeps_a_prefix_of_the_batches() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = FileOnlineStore::open(dir.path()).unwrap().with_fsync(false);
        s.apply_group(&group()).unwrap();
        for i in 1..=4 {
            s.write_batch("g", &[row(1, i, i), row(i + 1, i, i)])
                .unwrap();
        }
    }
    let wal = dir.path().join("wal-0000000000000000.log");
    let full = fs::read(&wal).unwrap();
    let ends: Vec<usize> = full
        .iter()
        .enumerate()
        .filter(|&(_, &b)| b == b'\n')
        .map(|(i, _)| i + 1)
        .collect();
    // Every record boundary and its neighbours, and every 5th byte in between.
    let mut cuts: Vec<usize> = (0..full.len()).step_by(5).collect();
    for &e in &ends {
        cuts.extend([e - 1, e, e + 1].into_iter().filter(|&c| c < full.len()));
    }
    cuts.sort_unstable();
    cuts.dedup();
    for cut in cuts {
        fs::write(&wal, &full[..cut]).unwrap();
        let s = FileOnlineStore::open(dir.path()).unwrap();
        // Complete records before the cut: the apply record and then `batches` writes.
        let complete = ends.iter().filter(|&&e| e <= cut).count();
        let batches = complete.saturating_sub(1) as i64;
        assert_eq!(
            s.recovery().torn_tail.is_some(),
            !ends.contains(&cut) && cut != 0,
            "cut {cut}"
        );
        if complete == 0 {
            assert!(s.groups().unwrap().is_empty());
        } else {
            assert_eq!(read_x(&s, 1), (batches > 0).then_some(batches), "cut {cut}");
            // Appending after the repair works and survives another reopen.
            s.write_batch("g", &[row(100, 1, 7)]).unwrap();
            drop(s);
            let s = FileOnlineStore::open(dir.path()).unwrap();
            assert_eq!(read_x(&s, 100), Some(7));
        }
    }
}

#[test]
fn offline_segment_cut_at_every_byte_drops_only_the_torn_batch() {
    let dir = tempfile::tempdir().unwrap();
    let s = FileOfflineStore::open(dir.path())
        .unwrap()
        .with_fsync(false);
    s.append("g", &[row(1, 1, 1), row(2, 1, 2)]).unwrap();
    s.append("g", &[row(3, 1, 3)]).unwrap();
    let seg = dir.path().join("g").join("seg-00000001.log");
    let full = fs::read(&seg).unwrap();
    let first_end = full.iter().position(|&b| b == b'\n').unwrap() + 1;
    for cut in 0..full.len() {
        fs::write(&seg, &full[..cut]).unwrap();
        let s = FileOfflineStore::open(dir.path())
            .unwrap()
            .with_fsync(false);
        let n = s.rows("g", &ScanOptions::default()).unwrap().len();
        assert_eq!(n, if cut >= first_end { 2 } else { 0 }, "cut {cut}");
        s.append("g", &[row(9, 1, 9)]).unwrap();
        let rows = s.rows("g", &ScanOptions::default()).unwrap();
        assert_eq!(rows.len(), n + 1, "cut {cut}");
        assert_eq!(rows.last().unwrap().key, EntityKey::from(9));
    }
}

#[test]
fn online_store_refuses_a_second_process() {
    const NAME: &str = "online_store_refuses_a_second_process";
    if let Some(dir) = child_dir(NAME) {
        let err = FileOnlineStore::open(&dir).unwrap_err();
        assert!(matches!(err, FeatureError::Conflict(_)), "{err}");
        assert!(err.to_string().contains("another process"), "{err}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = FileOnlineStore::open(dir.path()).unwrap();
    let status = spawn_child(NAME, dir.path()).wait().unwrap();
    assert!(status.success(), "child saw no conflict");
    drop(s);
    // Once closed, the directory can be opened again.
    FileOnlineStore::open(dir.path()).unwrap();
}

#[test]
fn concurrent_offline_appenders_in_two_processes_lose_nothing() {
    const NAME: &str = "concurrent_offline_appenders_in_two_processes_lose_nothing";
    const BATCHES: i64 = 40;
    let append_all = |dir: &Path, base: i64| {
        let s = FileOfflineStore::open(dir)
            .unwrap()
            .with_fsync(false)
            .with_segment_bytes(2048);
        for i in 0..BATCHES {
            s.append("g", &[row(base + i, i, i), row(base + i, i + 1, i)])
                .unwrap();
        }
    };
    if let Some(dir) = child_dir(NAME) {
        append_all(&dir, 1_000_000);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_child(NAME, dir.path());
    append_all(dir.path(), 0);
    assert!(child.wait().unwrap().success());
    let s = FileOfflineStore::open(dir.path()).unwrap();
    let rows = s.rows("g", &ScanOptions::default()).unwrap();
    assert_eq!(rows.len() as i64, 4 * BATCHES);
    // Each process's batches are whole and in its own order.
    for base in [0, 1_000_000] {
        let mine: Vec<i64> = rows
            .iter()
            .filter_map(|r| match r.key.parts().next() {
                Some(mlops_features::KeyPart::Int64(k)) if (base..base + BATCHES).contains(&k) => {
                    Some(k)
                }
                _ => None,
            })
            .collect();
        let want: Vec<i64> = (0..BATCHES).flat_map(|i| [base + i, base + i]).collect();
        assert_eq!(mine, want);
    }
}

#[test]
fn killed_writer_leaves_a_consistent_online_store() {
    const NAME: &str = "killed_writer_leaves_a_consistent_online_store";
    if let Some(dir) = child_dir(NAME) {
        let s = FileOnlineStore::open(&dir).unwrap().with_fsync(false);
        s.apply_group(&group()).unwrap();
        fs::write(dir.join("ready"), b"").unwrap();
        // Each batch sets every entity to the batch number: a consistent state has them equal.
        for i in 1.. {
            let rows: Vec<FeatureRow> = (0..50).map(|id| row(id, i, i)).collect();
            s.write_batch("g", &rows).unwrap();
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_child(NAME, dir.path());
    while !dir.path().join("ready").exists() {
        std::thread::yield_now();
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    child.kill().unwrap();
    child.wait().unwrap();
    let s = FileOnlineStore::open(dir.path()).unwrap();
    let first = read_x(&s, 0);
    assert!(first.is_some_and(|x| x > 0), "no batch survived");
    for id in 0..50 {
        assert_eq!(
            read_x(&s, id),
            first,
            "entity {id} differs: a batch was half applied"
        );
    }
}
