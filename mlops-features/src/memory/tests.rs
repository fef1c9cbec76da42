//! The in-memory online store's own storage: index growth, inline and long keys, snapshots.

use std::collections::BTreeMap;
use std::time::Duration;

use super::InMemoryOnlineStore;
use crate::{
    EntityKey, FeatureGroup, FeatureRow, FeatureStatus, FeatureValue, FileOnlineStore, KeyPart,
    KeyType, OnlineStore, ReadRequest, Timestamp, Value, ValueType,
};

/// A group keyed by (text, int) with a fixed-width and a variable-width feature, 1 h TTL.
fn group() -> FeatureGroup {
    FeatureGroup::builder("g")
        .entity("name", KeyType::String)
        .entity("n", KeyType::Int64)
        .feature("x", ValueType::Int64)
        .feature("s", ValueType::String)
        .ttl(Duration::from_secs(3600))
        .build()
        .unwrap()
}

/// Key `i`: every fifth one too long to be inline (more than 22 encoded bytes).
fn key(i: usize) -> EntityKey {
    let name = if i.is_multiple_of(5) {
        format!("a-long-entity-name-kept-beside-the-rows-{i}")
    } else {
        format!("u{i}")
    };
    EntityKey::new(&[
        KeyPart::String(&name),
        KeyPart::Int64(i64::try_from(i).unwrap()),
    ])
}

fn row(i: usize, secs: i64, version: i64) -> FeatureRow {
    FeatureRow::new(
        key(i),
        Timestamp::from_secs(secs),
        vec![
            Value::Int64(i64::try_from(i).unwrap() * 10 + version),
            if i.is_multiple_of(7) {
                Value::Null
            } else {
                Value::String(format!("s{i}-{version}"))
            },
        ],
    )
}

/// Read every key in `0..n` at `now`: (status, value of x, value of s) per key.
fn read_all(
    store: &dyn OnlineStore,
    n: usize,
    now: Timestamp,
) -> Vec<(FeatureStatus, Value, Value)> {
    let keys: Vec<EntityKey> = (0..n).map(key).collect();
    let mut out = vec![FeatureValue::default(); 2 * n];
    store
        .read(&ReadRequest::new("g", &keys, &[0, 1], now), &mut out)
        .unwrap();
    out.chunks(2)
        .map(|c| (c[0].status, c[0].value.clone(), c[1].value.clone()))
        .collect()
}

fn expect(i: usize, version: i64) -> (FeatureStatus, Value, Value) {
    let r = row(i, 0, version);
    (
        FeatureStatus::Present,
        r.values[0].clone(),
        r.values[1].clone(),
    )
}

#[test]
fn index_growth_keeps_every_key() {
    let store = InMemoryOnlineStore::new();
    store.apply_group(&group()).unwrap();
    let now = Timestamp::from_secs(100);
    // 40,000 keys over 64 shards: each shard's index doubles about ten times and its rows
    // span several chunks of 4,096.
    let n = 40_000;
    for start in (0..n).step_by(1000) {
        let batch: Vec<FeatureRow> = (start..start + 1000).map(|i| row(i, 10, 0)).collect();
        store.write_batch("g", &batch).unwrap();
        let done = start + 1000;
        if (done / 1000).is_power_of_two() || done == n {
            let got = read_all(&store, done, now);
            for (i, g) in got.iter().enumerate() {
                assert_eq!(*g, expect(i, 0), "key {i} after {done} rows");
            }
            assert_eq!(store.entity_count("g").unwrap(), done);
        }
    }
    // Keys never written are not found, inline or long.
    let absent = [
        key(n),
        key(n + 5),
        EntityKey::new(&[KeyPart::String("u1"), KeyPart::Int64(2)]),
    ];
    let mut out = vec![FeatureValue::default(); absent.len()];
    store
        .read(&ReadRequest::new("g", &absent, &[0], now), &mut out)
        .unwrap();
    assert!(out.iter().all(|v| v.status == FeatureStatus::NotFound));
    // A newer version of every key replaces the row in place: no key gets a second row.
    let newer: Vec<FeatureRow> = (0..n).map(|i| row(i, 20, 1)).collect();
    assert_eq!(store.write_batch("g", &newer).unwrap().written, n);
    let older: Vec<FeatureRow> = (0..n).map(|i| row(i, 5, 2)).collect();
    assert_eq!(store.write_batch("g", &older).unwrap().stale, n);
    assert_eq!(store.entity_count("g").unwrap(), n);
    for (i, g) in read_all(&store, n, now).iter().enumerate() {
        assert_eq!(*g, expect(i, 1), "key {i} after the update");
    }
    // Every row is visited once, with its key rebuilt from the row.
    let mut seen = BTreeMap::new();
    store
        .for_each_row("g", |r, tomb| {
            assert!(!tomb);
            assert!(
                seen.insert(r.key.clone(), r.values).is_none(),
                "{:?} twice",
                r.key
            );
        })
        .unwrap();
    assert_eq!(seen.len(), n);
    for i in 0..n {
        assert_eq!(seen[&key(i)], row(i, 0, 1).values, "key {i}");
    }
}

/// What the store holds, as a snapshot sees it: key → (tombstone, event time, values).
fn contents(store: &InMemoryOnlineStore) -> BTreeMap<EntityKey, (bool, Timestamp, Vec<Value>)> {
    let mut m = BTreeMap::new();
    store
        .for_each_row("g", |r, tomb| {
            m.insert(r.key, (tomb, r.event_ts, r.values));
        })
        .unwrap();
    m
}

#[test]
fn snapshot_and_restore_rebuild_keys_and_tombstones() {
    let store = InMemoryOnlineStore::new();
    store.apply_group(&group()).unwrap();
    let n = 10_000;
    // Odd keys are an hour older than even ones, so an eviction turns them into tombstones.
    let rows: Vec<FeatureRow> = (0..n)
        .map(|i| row(i, if i.is_multiple_of(2) { 7200 } else { 3000 }, 0))
        .collect();
    store.write_batch("g", &rows).unwrap();
    assert_eq!(
        store.evict_expired(Timestamp::from_secs(7000)).unwrap(),
        n / 2
    );
    let before = contents(&store);
    assert_eq!(before.len(), n);

    // Restore as the file store does from a snapshot: live rows written, tombstones restored.
    let (mut live, mut tombs) = (Vec::new(), Vec::new());
    store
        .for_each_row(
            "g",
            |r, tomb| if tomb { tombs.push(r) } else { live.push(r) },
        )
        .unwrap();
    let restored = InMemoryOnlineStore::new();
    restored.apply_group(&group()).unwrap();
    restored.write_batch("g", &live).unwrap();
    restored.restore_tombstones("g", &tombs).unwrap();
    assert_eq!(contents(&restored), before);
    let now = Timestamp::from_secs(7100);
    assert_eq!(read_all(&restored, n, now), read_all(&store, n, now));
    assert_eq!(restored.entity_count("g").unwrap(), n / 2);
    // A tombstone still keeps an older late row out.
    let late = restored.write_batch("g", &[row(1, 2000, 9)]).unwrap();
    assert_eq!(late.stale, 1);

    // Through the file store: a snapshot, then a reopen that reads it back.
    let dir = tempfile::tempdir().unwrap();
    {
        let file = FileOnlineStore::open(dir.path()).unwrap().with_fsync(false);
        file.apply_group(&group()).unwrap();
        file.write_batch("g", &rows).unwrap();
        file.evict_expired(Timestamp::from_secs(7000)).unwrap();
        file.compact().unwrap();
    }
    let file = FileOnlineStore::open(dir.path()).unwrap();
    assert_eq!(read_all(&file, n, now), read_all(&store, n, now));
    assert_eq!(file.entity_count("g").unwrap(), n / 2);
}

#[test]
fn row_words_grow_across_chunks_and_keep_every_row() {
    use super::RowWords;
    let per_row = 14;
    let mut rows = RowWords::new(per_row);
    let chunk_rows = rows.chunk_rows;
    // Chunks fill one huge page at most, and at least half of it.
    assert!(chunk_rows * per_row * 8 <= super::HUGE_PAGE);
    assert!(chunk_rows * per_row * 8 * 2 >= super::HUGE_PAGE);
    let word = |r: usize, k: usize| (r * 100 + k) as u64;
    let n = 2 * chunk_rows + 100;
    for r in 0..n {
        rows.push_row();
        assert!(rows.row(r).iter().all(|&w| w == 0), "row {r} starts zeroed");
        for (k, w) in rows.row_mut(r).iter_mut().enumerate() {
            *w = word(r, k);
        }
        if (r + 1) * per_row * 8 < super::LAZY_BYTES / 2 {
            // A small shard's rows are on the heap.
            assert!(!rows.chunks[0].is_mapped(), "row {r}");
        }
        if r + 1 == chunk_rows {
            // A shard of one chunk takes no huge page; past a few thousand rows its chunk is
            // a map (on Linux) whose unwritten pages take no memory.
            assert_eq!(rows.chunks.len(), 1);
            assert!(!rows.chunks[0].is_huge());
            assert_eq!(rows.chunks[0].is_mapped(), cfg!(target_os = "linux"));
        }
    }
    assert_eq!(rows.chunks.len(), 3);
    // From the second chunk on, every chunk (the first one moved) is on huge pages on Linux.
    assert!(
        rows.chunks
            .iter()
            .all(|c| c.is_huge() == cfg!(target_os = "linux"))
    );
    for r in 0..n {
        let expected: Vec<u64> = (0..per_row).map(|k| word(r, k)).collect();
        assert_eq!(rows.row(r), expected.as_slice(), "row {r}");
    }
}

#[test]
fn a_shard_past_one_chunk_finds_reads_and_migrates_every_row() {
    use super::{Layout, Shard};
    use std::sync::Arc;
    let layout = Arc::new(Layout::of(&group()));
    let mut shard = Shard::new(Arc::clone(&layout));
    let n = shard.data.chunk_rows + 1_000;
    let hash = |i: usize| (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for i in 0..n {
        assert!(shard.upsert(hash(i), &row(i, 1000, 1)).unwrap());
    }
    assert_eq!(shard.data.chunks.len(), 2);
    // A newer version of every tenth row overwrites it in place.
    for i in (0..n).step_by(10) {
        assert!(shard.upsert(hash(i), &row(i, 1001, 2)).unwrap());
    }
    let check = |shard: &Shard, features: usize| {
        for i in 0..n {
            let r = shard.find(hash(i), &key(i)).unwrap();
            assert_eq!(shard.key_of(r), key(i));
            let expected = row(i, 0, if i % 10 == 0 { 2 } else { 1 });
            assert_eq!(shard.row_value(r, 0), expected.values[0], "row {i}");
            assert_eq!(shard.row_value(r, 1), expected.values[1], "row {i}");
            for j in 2..features {
                assert_eq!(shard.row_value(r, j), Value::Null);
            }
        }
        assert_eq!(shard.find(hash(n), &key(n)), None);
    };
    check(&shard, 2);
    // A feature appended: the rows are laid out again into new chunks.
    let wider = FeatureGroup::builder("g")
        .entity("name", KeyType::String)
        .entity("n", KeyType::Int64)
        .feature("x", ValueType::Int64)
        .feature("s", ValueType::String)
        .feature("y", ValueType::Float64)
        .ttl(Duration::from_secs(3600))
        .build()
        .unwrap();
    shard.migrate(Arc::new(Layout::of(&wider)));
    check(&shard, 3);
}
