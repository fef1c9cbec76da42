//! The hashed join against a brute-force reference, with hash functions bad enough to make
//! the frame's keys collide with each other and with the rows' keys.

use std::time::Duration;

use proptest::prelude::*;

use super::{CHUNK, JoinPath, PitRequest, join_exact, join_with_hash};
use crate::group::{FeatureGroup, FeatureRow};
use crate::key::{EntityKey, KeyPart, KeyType};
use crate::memory::InMemoryOfflineStore;
use crate::model::{Timestamp, Value, ValueType};
use crate::offline::OfflineStore;
use crate::pit::{EntityFrame, HistoricalOptions};

fn group(ttl: Option<i64>) -> FeatureGroup {
    FeatureGroup::builder("g")
        .entity("id", KeyType::Int64)
        .feature("x", ValueType::Int64)
        .ttl(ttl.map(|t| Duration::from_secs(t.unsigned_abs())))
        .build()
        .unwrap()
}

/// (key, event, created - event, value)
type RowSpec = (i64, i64, Option<i64>, Option<i64>);

fn row(&(k, e, c, x): &RowSpec) -> FeatureRow {
    let mut r = FeatureRow::new(
        k,
        Timestamp::from_secs(e),
        vec![x.map_or(Value::Null, Value::Int64)],
    );
    r.created_ts = c.map(|c| Timestamp::from_secs(e + c));
    r
}

/// The brute-force join: for each entity row, the newest row of its key at or before its
/// timestamp (ties: larger created time, then later arrival) within the TTL and known by
/// `as_of`.
fn naive(
    rows: &[FeatureRow],
    frame: &EntityFrame,
    ttl: Option<i64>,
    as_of: Option<i64>,
) -> Vec<Value> {
    frame
        .keys
        .iter()
        .zip(&frame.timestamps)
        .map(|(k, ts)| {
            rows.iter()
                .enumerate()
                .filter(|(_, r)| &r.key == k && r.event_ts <= *ts)
                .filter(|(_, r)| {
                    as_of.is_none_or(|a| r.effective_created() <= Timestamp::from_secs(a))
                })
                .max_by_key(|(i, r)| (r.event_ts, r.effective_created(), *i))
                .filter(|(_, r)| {
                    ttl.is_none_or(|t| ts.as_micros() - r.event_ts.as_micros() <= t * 1_000_000)
                })
                .map_or(Value::Null, |(_, r)| r.values[0].clone())
        })
        .collect()
}

fn int_of(k: &EntityKey) -> i64 {
    match k.parts().next() {
        Some(KeyPart::Int64(v)) => v,
        other => panic!("not an int key: {other:?}"),
    }
}

/// A hash under which the keys equal modulo `m` collide (`m == 1`: every key).
fn modulo_hash(m: i64) -> impl Fn(&EntityKey) -> u64 {
    move |k| (int_of(k).rem_euclid(m).unsigned_abs()).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

struct Case {
    store: InMemoryOfflineStore,
    rows: Vec<FeatureRow>,
    group: FeatureGroup,
    frame: EntityFrame,
    options: HistoricalOptions,
}

impl Case {
    fn new(batches: &[Vec<RowSpec>], frame: &[(i64, i64)], ttl: Option<i64>) -> Self {
        let store = InMemoryOfflineStore::new();
        let mut rows = Vec::new();
        for b in batches {
            let batch: Vec<FeatureRow> = b.iter().map(row).collect();
            store.append("g", &batch).unwrap();
            rows.extend(batch);
        }
        Self {
            store,
            rows,
            group: group(ttl),
            frame: frame
                .iter()
                .map(|&(k, t)| (k, Timestamp::from_secs(t)))
                .collect(),
            options: HistoricalOptions::default(),
        }
    }

    fn request(&self) -> PitRequest<'_> {
        PitRequest {
            group: &self.group,
            features: &[0],
            frame: &self.frame,
            options: &self.options,
        }
    }

    fn hashed(&self, hash: &dyn Fn(&EntityKey) -> u64, chunk: usize) -> (Vec<Value>, JoinPath) {
        let mut cols = vec![vec![Value::Null; self.frame.len()]];
        let path = join_with_hash(&self.request(), &self.store, &mut cols, hash, chunk).unwrap();
        (cols.remove(0), path)
    }

    fn exact(&self) -> Vec<Value> {
        let mut cols = vec![vec![Value::Null; self.frame.len()]];
        join_exact(&self.request(), &self.store, &mut cols).unwrap();
        cols.remove(0)
    }

    fn naive(&self) -> Vec<Value> {
        let ttl = self.group.ttl.map(|d| i64::try_from(d.as_secs()).unwrap());
        naive(
            &self.rows,
            &self.frame,
            ttl,
            self.options.as_of.map(|t| t.as_micros() / 1_000_000),
        )
    }
}

fn default_hash() -> impl Fn(&EntityKey) -> u64 {
    use std::hash::BuildHasher;
    let h = hashbrown::DefaultHashBuilder::default();
    move |k| h.hash_one(k)
}

/// A row whose key is not in the frame but shares a hash with a frame key is newer than the
/// frame key's own row: matched by hash alone it would win; the second scan's key check sends
/// the join to the exact path, which returns the frame key's row.
#[test]
fn a_row_whose_key_collides_with_a_frame_key_never_wins() {
    let case = Case::new(
        &[vec![(0, 50, None, Some(1)), (3, 60, None, Some(2))]],
        &[(0, 100), (1, 100)],
        None,
    );
    let (got, path) = case.hashed(&modulo_hash(3), CHUNK);
    assert_eq!(path, JoinPath::ExactWinnerMismatch);
    assert_eq!(got, vec![Value::Int64(1), Value::Null]);
    assert_eq!(got, case.naive());
}

/// Two frame keys share a hash: the join is the exact one from the start.
#[test]
fn frame_keys_sharing_a_hash_take_the_exact_join() {
    let case = Case::new(
        &[vec![(0, 50, None, Some(1)), (2, 60, None, Some(2))]],
        &[(0, 100), (2, 100), (0, 40)],
        None,
    );
    let (got, path) = case.hashed(&modulo_hash(2), CHUNK);
    assert_eq!(path, JoinPath::ExactFrameCollision);
    assert_eq!(got, vec![Value::Int64(1), Value::Int64(2), Value::Null]);
}

/// Without collisions the hashed join does the work, across chunk boundaries.
#[test]
fn distinct_hashes_take_the_hashed_join_across_chunks() {
    let rows: Vec<RowSpec> = (0..50).map(|i| (i % 7, i, None, Some(i * 10))).collect();
    let frame: Vec<(i64, i64)> = (0..8).map(|k| (k, 30 + k)).collect();
    let case = Case::new(&[rows], &frame, Some(20));
    for chunk in [1, 2, 7, 64, CHUNK] {
        let (got, path) = case.hashed(&default_hash(), chunk);
        assert_eq!(path, JoinPath::Hashed, "chunk {chunk}");
        assert_eq!(got, case.naive(), "chunk {chunk}");
    }
    assert_eq!(case.exact(), case.naive());
}

/// The pass-1 TTL filter keeps a row exactly one TTL older than the earliest entity row of its
/// key (found by mutating `<` into `<=` there: the proptest needs ~20,000 cases to see it).
#[test]
fn a_row_exactly_one_ttl_old_is_kept_by_the_hashed_join() {
    let case = Case::new(
        &[vec![(0, 90, None, Some(7))]],
        &[(0, 100), (0, 120)],
        Some(10),
    );
    let (got, path) = case.hashed(&default_hash(), CHUNK);
    assert_eq!(path, JoinPath::Hashed);
    assert_eq!(got, vec![Value::Int64(7), Value::Null]);
    assert_eq!(got, case.naive());
}

/// A store that calls the visitor again after it asked to stop (the trait does not forbid
/// it): the join must not index past its wanted rows (it panicked).
#[derive(Debug)]
struct IgnoresBreak(InMemoryOfflineStore);

impl OfflineStore for IgnoresBreak {
    fn append(&self, group: &str, rows: &[FeatureRow]) -> crate::Result<()> {
        self.0.append(group, rows)
    }

    fn scan(
        &self,
        group: &str,
        options: &crate::offline::ScanOptions,
        visit: &mut crate::offline::Visit<'_>,
    ) -> crate::Result<()> {
        self.0.scan(group, options, &mut |r| {
            let _ = visit(r);
            std::ops::ControlFlow::Continue(())
        })
    }

    fn groups(&self) -> crate::Result<Vec<String>> {
        self.0.groups()
    }
}

#[test]
fn a_store_that_ignores_break_does_not_panic_the_join() {
    let case = Case::new(
        &[vec![(0, 10, None, Some(1)), (1, 20, None, Some(2))]],
        &[(0, 30)],
        None,
    );
    let store = IgnoresBreak(case.store.clone());
    let mut cols = vec![vec![Value::Null; case.frame.len()]];
    let path = join_with_hash(&case.request(), &store, &mut cols, &default_hash(), CHUNK).unwrap();
    assert_eq!(path, JoinPath::Hashed);
    assert_eq!(cols[0], vec![Value::Int64(1)]);
}

/// An entity row at the last representable instant finds a feature row at that instant (the
/// scan window's exclusive end used to saturate at that instant and leave the row out).
#[test]
fn a_row_at_the_last_instant_is_found() {
    let store = InMemoryOfflineStore::new();
    store
        .append(
            "g",
            &[FeatureRow::new(0i64, Timestamp::MAX, vec![Value::Int64(9)])],
        )
        .unwrap();
    let g = group(None);
    let frame: EntityFrame = [(0i64, Timestamp::MAX)].into_iter().collect();
    let options = HistoricalOptions::default();
    let request = PitRequest {
        group: &g,
        features: &[0],
        frame: &frame,
        options: &options,
    };
    let mut cols = vec![vec![Value::Null; 1]];
    join_exact(&request, &store, &mut cols).unwrap();
    assert_eq!(cols[0], vec![Value::Int64(9)]);
    let mut cols = vec![vec![Value::Null; 1]];
    join_with_hash(&request, &store, &mut cols, &default_hash(), CHUNK).unwrap();
    assert_eq!(cols[0], vec![Value::Int64(9)]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Ties of event and created time, TTL or none, as-of cut, entities missing from the
    /// rows, duplicate entity rows in the frame, null values; hash functions from good to
    /// "every key collides"; chunks from one row up.
    #[test]
    fn hashed_join_matches_brute_force(
        batches in prop::collection::vec(
            prop::collection::vec(
                (0..6i64, 0..30i64, prop::option::of(-3..6i64), prop::option::of(-5..5i64)),
                0..12),
            0..4),
        frame in prop::collection::vec((0..8i64, 0..40i64), 1..25),
        ttl in prop::option::of(1..15i64),
        as_of in prop::option::of(0..40i64),
        modulus in 0..6i64,
        chunk in 1..20usize,
    ) {
        let mut case = Case::new(&batches, &frame, ttl);
        if let Some(a) = as_of {
            case.options = HistoricalOptions::as_of(Timestamp::from_secs(a));
        }
        let want = case.naive();
        prop_assert_eq!(&case.exact(), &want);
        let (got, path) = if modulus == 0 {
            case.hashed(&default_hash(), chunk)
        } else {
            case.hashed(&modulo_hash(modulus), chunk)
        };
        prop_assert_eq!(&got, &want, "path {:?}", path);
        if modulus == 0 {
            prop_assert_eq!(path, JoinPath::Hashed);
        }
    }
}
