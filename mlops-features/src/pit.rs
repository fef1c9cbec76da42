//! Point-in-time correct historical retrieval (Feast's `get_historical_features`).

use std::fmt;
use std::hash::BuildHasher;
use std::ops::ControlFlow;

use hashbrown::{DefaultHashBuilder, HashMap};
use serde::Serialize;

use crate::error::{FeatureError, Result};
use crate::group::{FeatureGroup, FeatureRow};
use crate::model::{EntityKey, FeatureRef, Timestamp, Value, duration_micros};
use crate::offline::{OfflineStore, ScanOptions};

/// The entity rows of a training set: one entity key and one timestamp per row (Feast's
/// entity dataframe). Rows may repeat; the output keeps them all, in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EntityFrame {
    /// The entity key of each row.
    pub keys: Vec<EntityKey>,
    /// The timestamp of each row: features are taken as they were known at this time.
    pub timestamps: Vec<Timestamp>,
}

impl EntityFrame {
    /// An empty frame.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a row.
    pub fn push(&mut self, key: impl Into<EntityKey>, ts: Timestamp) {
        self.keys.push(key.into());
        self.timestamps.push(ts);
    }

    /// Number of rows.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the frame has no rows.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl<K: Into<EntityKey>> FromIterator<(K, Timestamp)> for EntityFrame {
    fn from_iter<I: IntoIterator<Item = (K, Timestamp)>>(iter: I) -> Self {
        let mut f = Self::new();
        for (k, t) in iter {
            f.push(k, t);
        }
        f
    }
}

/// Options of a historical retrieval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HistoricalOptions {
    /// Only use rows created (known) at or before this time: rebuilds a training set exactly as
    /// it could have been built then, ignoring late-arriving rows.
    pub as_of: Option<Timestamp>,
}

impl HistoricalOptions {
    /// Only use rows known at `t`.
    #[must_use]
    pub fn as_of(t: Timestamp) -> Self {
        Self { as_of: Some(t) }
    }
}

/// One feature column of a training frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Column {
    /// The feature.
    pub feature: FeatureRef,
    /// One value per entity row; [`Value::Null`] where no row qualified.
    pub values: Vec<Value>,
}

/// The result of a point-in-time join: the entity rows, in order, with one column per
/// requested feature.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainingFrame {
    /// The entity keys, as in the entity frame.
    pub keys: Vec<EntityKey>,
    /// The timestamps, as in the entity frame.
    pub timestamps: Vec<Timestamp>,
    /// The feature columns, in request order.
    pub columns: Vec<Column>,
}

impl TrainingFrame {
    /// Number of rows.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are no rows.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The column of a feature.
    #[must_use]
    pub fn column(&self, feature: &str) -> Option<&[Value]> {
        self.columns
            .iter()
            .find(|c| c.feature.to_string() == feature)
            .map(|c| c.values.as_slice())
    }

    /// The value at a row of a feature's column.
    #[must_use]
    pub fn value(&self, row: usize, feature: &str) -> Option<&Value> {
        self.column(feature).and_then(|c| c.get(row))
    }
}

impl fmt::Display for TrainingFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut header = vec!["entity".to_owned(), "timestamp".to_owned()];
        header.extend(self.columns.iter().map(|c| c.feature.to_string()));
        let mut rows = vec![header];
        for i in 0..self.len() {
            let mut row = vec![self.keys[i].to_string(), self.timestamps[i].to_string()];
            row.extend(self.columns.iter().map(|c| c.values[i].to_string()));
            rows.push(row);
        }
        crate::table::draw(f, &rows)
    }
}

/// A point-in-time join of some features of one group onto an entity frame, as handed to
/// [`OfflineStore::point_in_time_join`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct PitRequest<'a> {
    /// The group.
    pub group: &'a FeatureGroup,
    /// Indexes into the group's features, one per output column.
    pub features: &'a [usize],
    /// The entity rows.
    pub frame: &'a EntityFrame,
    /// The options (as-of cut).
    pub options: &'a HistoricalOptions,
}

#[derive(Clone, Copy, Default)]
struct Candidate {
    slot: u32,
    event: i64,
    created: i64,
    seq: u32,
}

/// The point-in-time join of one group's features onto the entity frame, written into
/// `columns` (pre-filled with nulls). `features` are indexes into the group's features.
///
/// For each entity row: the group's row with the largest event time at or before the row's
/// timestamp (ties: larger created time, then later arrival), if it lies within the TTL and was
/// created by `as_of`; otherwise nulls. Two scans: the first finds the winners by their
/// position in the scan, the second copies only their values.
///
/// The first scan matches rows to the frame's keys by a 64-bit hash, in chunks sorted by the
/// hash's top bits so that the lookups walk the frame's table in order (see [`join_hashed`]);
/// if two of the frame's keys share a hash, or a winner's key turns out not to be its entity
/// row's key, the join is redone by [`join_exact`], which compares keys.
pub(crate) fn join_group(
    offline: &dyn OfflineStore,
    group: &FeatureGroup,
    features: &[usize],
    frame: &EntityFrame,
    options: &HistoricalOptions,
    columns: &mut [Vec<Value>],
) -> Result<()> {
    if frame.is_empty() {
        return Ok(());
    }
    let request = PitRequest {
        group,
        features,
        frame,
        options,
    };
    if let Some(done) = offline.point_in_time_join(&request, columns) {
        return done;
    }
    if u32::try_from(frame.len()).is_err() {
        return Err(FeatureError::invalid(
            "historical retrieval",
            format!(
                "the entity frame has {} rows; at most 2^32 are supported",
                frame.len()
            ),
        ));
    }
    let hasher = DefaultHashBuilder::default();
    join_with_hash(&request, offline, columns, &|k| hasher.hash_one(k), CHUNK).map(|_| ())
}

/// Which join produced the result (for the tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JoinPath {
    Hashed,
    /// Two of the frame's keys share a hash.
    ExactFrameCollision,
    /// A winner's key was not its entity row's key (a row's key collided with a frame key).
    ExactWinnerMismatch,
}

fn join_with_hash(
    request: &PitRequest<'_>,
    offline: &dyn OfflineStore,
    columns: &mut [Vec<Value>],
    hash: &dyn Fn(&EntityKey) -> u64,
    chunk_len: usize,
) -> Result<JoinPath> {
    let path = match join_hashed(request, offline, columns, hash, chunk_len)? {
        Hashed::Done => return Ok(JoinPath::Hashed),
        Hashed::FrameCollision => JoinPath::ExactFrameCollision,
        Hashed::WinnerMismatch => {
            for col in columns.iter_mut() {
                col.fill(Value::Null);
            }
            JoinPath::ExactWinnerMismatch
        }
    };
    join_exact(request, offline, columns)?;
    Ok(path)
}

enum Hashed {
    Done,
    FrameCollision,
    WinnerMismatch,
}

/// One row of the first scan, before it is matched to a frame key.
#[derive(Clone, Copy, Default)]
struct Probe {
    hash: u64,
    event: i64,
    created: i64,
    seq: u32,
}

/// Rows of the first scan sorted and matched at a time, at most: 2^19 probes of 32 bytes
/// (16 MiB, and as much again for the sort).
const CHUNK: usize = 1 << 19;
/// At most 2^10 buckets for the sort of a chunk: each bucket's lookups then fall in a
/// 1/1024th of the frame's table (24 KiB at 1M distinct keys).
const MAX_SORT_BITS: u32 = 10;

/// A distinct key of the frame: its hash and the range of its entity timestamps, side by side
/// so that a lookup touches one place.
#[derive(Clone, Copy)]
struct Slot {
    hash: u64,
    lo: i64,
    hi: i64,
}

/// The frame's distinct keys in the order of their hashes: a key's slot is its rank.
struct FrameTable {
    /// The slots, by ascending hash, all hashes distinct.
    slots: Vec<Slot>,
    /// `dir[p]` is the first slot whose hash's top `bits` bits are at least `p`.
    dir: Vec<u32>,
    bits: u32,
}

impl FrameTable {
    /// Slots by hash, or `None` if two distinct keys share a hash; also each row's slot.
    fn build(frame: &EntityFrame, hash: &dyn Fn(&EntityKey) -> u64) -> Option<(Self, Vec<u32>)> {
        #[allow(clippy::cast_possible_truncation)]
        let mut order: Vec<(u64, u32)> = frame
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| (hash(k), i as u32))
            .collect();
        order.sort_unstable();
        let mut slots: Vec<Slot> = Vec::new();
        let mut row_slot = vec![0u32; frame.len()];
        let mut first = 0usize;
        for (n, &(h, row)) in order.iter().enumerate() {
            let t = frame.timestamps[row as usize].as_micros();
            match slots.last_mut() {
                Some(s) if s.hash == h => {
                    if frame.keys[row as usize] != frame.keys[order[first].1 as usize] {
                        return None;
                    }
                    s.lo = s.lo.min(t);
                    s.hi = s.hi.max(t);
                }
                _ => {
                    first = n;
                    slots.push(Slot {
                        hash: h,
                        lo: t,
                        hi: t,
                    });
                }
            }
            #[allow(clippy::cast_possible_truncation)]
            let slot = (slots.len() - 1) as u32;
            row_slot[row as usize] = slot;
        }
        // About one slot per directory entry.
        let bits = slots
            .len()
            .next_power_of_two()
            .trailing_zeros()
            .clamp(1, 32);
        let mut dir = vec![0u32; (1usize << bits) + 1];
        let mut slot = 0usize;
        for (p, d) in dir.iter_mut().enumerate() {
            while slot < slots.len() && (slots[slot].hash >> (64 - bits)) < p as u64 {
                slot += 1;
            }
            #[allow(clippy::cast_possible_truncation)]
            {
                *d = slot as u32;
            }
        }
        Some((Self { slots, dir, bits }, row_slot))
    }

    fn ranges(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.slots.iter().map(|s| (s.lo, s.hi))
    }

    /// The slot of a hash, and the slot.
    fn find(&self, h: u64) -> Option<(u32, &Slot)> {
        #[allow(clippy::cast_possible_truncation)]
        let p = (h >> (64 - self.bits)) as usize;
        let (lo, hi) = (self.dir[p] as usize, self.dir[p + 1] as usize);
        for (i, s) in self.slots[lo..hi].iter().enumerate() {
            if s.hash >= h {
                #[allow(clippy::cast_possible_truncation)]
                return (s.hash == h).then_some(((lo + i) as u32, s));
            }
        }
        None
    }
}

/// Sort `probes` by the top `bits` bits of their hashes (one counting pass, stable) into
/// `out`.
fn sort_by_top_bits(probes: &[Probe], bits: u32, out: &mut Vec<Probe>) {
    let shift = 64 - bits;
    let mut counts = vec![0usize; (1usize << bits) + 1];
    for p in probes {
        #[allow(clippy::cast_possible_truncation)]
        {
            counts[(p.hash >> shift) as usize + 1] += 1;
        }
    }
    for i in 1..counts.len() {
        counts[i] += counts[i - 1];
    }
    out.clear();
    out.resize(probes.len(), Probe::default());
    for p in probes {
        #[allow(clippy::cast_possible_truncation)]
        let b = (p.hash >> shift) as usize;
        out[counts[b]] = *p;
        counts[b] += 1;
    }
}

/// The join with the first scan's rows matched to the frame's keys by hash alone: each chunk
/// of rows is sorted by the top bits of the hash, so the lookups walk the frame's table (hashes
/// and timestamp ranges, in hash order) in order instead of probing a map at random, which
/// cost three dependent cache misses a row once the frame's keys outgrow the caches. The
/// winners' keys are compared in the second scan.
fn join_hashed(
    request: &PitRequest<'_>,
    offline: &dyn OfflineStore,
    columns: &mut [Vec<Value>],
    hash: &dyn Fn(&EntityKey) -> u64,
    chunk_len: usize,
) -> Result<Hashed> {
    let PitRequest {
        group,
        frame,
        options,
        ..
    } = *request;
    let ttl = group.ttl.map(duration_micros);
    let Some((table, row_slot)) = FrameTable::build(frame, hash) else {
        return Ok(Hashed::FrameCollision);
    };
    let window = scan_window(table.ranges(), ttl);
    let as_of = options.as_of.map(Timestamp::as_micros);
    let sort_bits = table.bits.min(MAX_SORT_BITS);
    // A chunk about as large as the frame's table, at most `CHUNK`: a small table stays in the
    // caches anyway.
    let chunk_len = chunk_len.min(table.slots.len().next_power_of_two().max(4096));

    // Pass 1: candidates.
    let mut cands: Vec<Candidate> = Vec::new();
    let mut chunk: Vec<Probe> = Vec::new();
    let mut sorted: Vec<Probe> = Vec::new();
    let mut match_chunk = |chunk: &mut Vec<Probe>, cands: &mut Vec<Candidate>| {
        sort_by_top_bits(chunk, sort_bits, &mut sorted);
        chunk.clear();
        for p in &sorted {
            let Some((slot, &Slot { lo, hi, .. })) = table.find(p.hash) else {
                continue;
            };
            if p.event > hi || ttl.is_some_and(|t| p.event < lo.saturating_sub(t)) {
                continue;
            }
            cands.push(Candidate {
                slot,
                event: p.event,
                created: p.created,
                seq: p.seq,
            });
        }
    };
    scan_numbered(offline, group, &window, |s, row| {
        let created = row.effective_created().as_micros();
        if as_of.is_some_and(|a| created > a) {
            return ControlFlow::Continue(());
        }
        chunk.push(Probe {
            hash: hash(&row.key),
            event: row.event_ts.as_micros(),
            created,
            seq: s,
        });
        if chunk.len() >= chunk_len {
            match_chunk(&mut chunk, &mut cands);
        }
        ControlFlow::Continue(())
    })?;
    match_chunk(&mut chunk, &mut cands);
    drop((chunk, match_chunk));
    drop(sorted);
    let wanted = winners(cands, table.slots.len(), &row_slot, frame, ttl);
    drop(table);
    drop(row_slot);
    Ok(
        if copy_winners(request, offline, &window, &wanted, columns)? {
            Hashed::Done
        } else {
            Hashed::WinnerMismatch
        },
    )
}

/// The join with each scanned row's key looked up in a map of the frame's distinct keys.
fn join_exact(
    request: &PitRequest<'_>,
    offline: &dyn OfflineStore,
    columns: &mut [Vec<Value>],
) -> Result<()> {
    let PitRequest {
        group,
        frame,
        options,
        ..
    } = *request;
    let ttl = group.ttl.map(duration_micros);
    // Distinct keys and, per key, the range of entity timestamps.
    let mut slots: HashMap<&EntityKey, u32> = HashMap::with_capacity(frame.len());
    let mut ranges: Vec<(i64, i64)> = Vec::new();
    let mut row_slot = Vec::with_capacity(frame.len());
    for (key, ts) in frame.keys.iter().zip(&frame.timestamps) {
        let t = ts.as_micros();
        #[allow(clippy::cast_possible_truncation)]
        let next = ranges.len() as u32;
        let slot = *slots.entry(key).or_insert(next);
        if slot == next {
            ranges.push((t, t));
        }
        let r = &mut ranges[slot as usize];
        r.0 = r.0.min(t);
        r.1 = r.1.max(t);
        row_slot.push(slot);
    }
    let window = scan_window(ranges.iter().copied(), ttl);
    let as_of = options.as_of.map(Timestamp::as_micros);

    // Pass 1: candidates.
    let mut cands: Vec<Candidate> = Vec::new();
    scan_numbered(offline, group, &window, |s, row| {
        let Some(&slot) = slots.get(&row.key) else {
            return ControlFlow::Continue(());
        };
        let event = row.event_ts.as_micros();
        let created = row.effective_created().as_micros();
        let (lo, hi) = ranges[slot as usize];
        if event > hi || ttl.is_some_and(|t| event < lo.saturating_sub(t)) {
            return ControlFlow::Continue(());
        }
        if as_of.is_some_and(|a| created > a) {
            return ControlFlow::Continue(());
        }
        cands.push(Candidate {
            slot,
            event,
            created,
            seq: s,
        });
        ControlFlow::Continue(())
    })?;
    drop(slots);
    let wanted = winners(cands, ranges.len(), &row_slot, frame, ttl);
    if copy_winners(request, offline, &window, &wanted, columns)? {
        Ok(())
    } else {
        Err(changed_during_join(group))
    }
}

/// `offline`'s scan of `group` with each row numbered by its position in the scan (from 0): the
/// candidates' `seq`, by which the copy pass finds the winners again. A scan of more than
/// `u32::MAX` rows stops with [`too_many_rows`].
fn scan_numbered(
    offline: &dyn OfflineStore,
    group: &FeatureGroup,
    window: &ScanOptions,
    mut visit: impl FnMut(u32, &FeatureRow) -> ControlFlow<()>,
) -> Result<()> {
    let mut seq: u32 = 0;
    let mut overflow = false;
    offline.scan(&group.name, window, &mut |row| {
        let s = seq;
        let Some(next) = seq.checked_add(1) else {
            overflow = true;
            return ControlFlow::Break(());
        };
        seq = next;
        visit(s, row)
    })?;
    if overflow {
        return Err(too_many_rows(group));
    }
    Ok(())
}

/// The scan window: from the earliest entity timestamp less the TTL to the latest.
fn scan_window(ranges: impl Iterator<Item = (i64, i64)>, ttl: Option<i64>) -> ScanOptions {
    let (min_ts, max_ts) = ranges.fold((i64::MAX, i64::MIN), |(lo, hi), r| {
        (lo.min(r.0), hi.max(r.1))
    });
    ScanOptions::window(
        Some(Timestamp::from_micros(
            ttl.map_or(i64::MIN, |t| min_ts.saturating_sub(t)),
        )),
        // The end is exclusive: an entity row at the last representable instant scans to the
        // end, so a feature row at that instant is found.
        max_ts.checked_add(1).map(Timestamp::from_micros),
    )
}

fn too_many_rows(group: &FeatureGroup) -> FeatureError {
    FeatureError::invalid(
        "historical retrieval",
        format!("group {} has more than 2^32 rows in the window", group.name),
    )
}

fn changed_during_join(group: &FeatureGroup) -> FeatureError {
    FeatureError::Conflict(format!(
        "the offline rows of group {} changed during a historical retrieval",
        group.name
    ))
}

/// The winner of each entity row among the candidates: (scan position, entity row), sorted.
fn winners(
    cands: Vec<Candidate>,
    n_slots: usize,
    row_slot: &[u32],
    frame: &EntityFrame,
    ttl: Option<i64>,
) -> Vec<(u32, u32)> {
    // Group by slot with a counting sort (the candidates of a slot are few: sorting them apart
    // is cheaper than one comparison sort of all), then order each slot's candidates.
    let mut starts = vec![0usize; n_slots + 1];
    for c in &cands {
        starts[c.slot as usize + 1] += 1;
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    let mut grouped = vec![Candidate::default(); cands.len()];
    let mut pos = starts.clone();
    for c in &cands {
        let p = &mut pos[c.slot as usize];
        grouped[*p] = *c;
        *p += 1;
    }
    drop((cands, pos));
    let mut cands = grouped;
    for w in starts.windows(2) {
        if w[1] - w[0] > 1 {
            cands[w[0]..w[1]].sort_unstable_by_key(|c| (c.event, c.created, c.seq));
        }
    }
    let mut wanted: Vec<(u32, u32)> = Vec::new();
    for (i, (&slot, ts)) in row_slot.iter().zip(&frame.timestamps).enumerate() {
        let t = ts.as_micros();
        let c = &cands[starts[slot as usize]..starts[slot as usize + 1]];
        let n = c.partition_point(|c| c.event <= t);
        if n == 0 {
            continue;
        }
        let best = c[n - 1];
        if ttl.is_some_and(|ttl| t.saturating_sub(best.event) > ttl) {
            continue;
        }
        #[allow(clippy::cast_possible_truncation)]
        wanted.push((best.seq, i as u32));
    }
    wanted.sort_unstable();
    wanted
}

/// Pass 2: copy the winners' values, checking that each winner's key is its entity row's key.
/// `Ok(false)` if one is not (nothing is then reliable: the caller nulls the columns) or the
/// scan ended before the last winner.
///
/// The scan gathers each distinct winner's key and values once, in scan order, into dense
/// arrays; the columns are then filled in entity-row order. (Writing each winner's values
/// straight into the columns, at its entity rows, was one cache miss per column and row once
/// the columns outgrow the caches.)
fn copy_winners(
    request: &PitRequest<'_>,
    offline: &dyn OfflineStore,
    window: &ScanOptions,
    wanted: &[(u32, u32)],
    columns: &mut [Vec<Value>],
) -> Result<bool> {
    if wanted.is_empty() {
        return Ok(true);
    }
    let (frame, features) = (request.frame, request.features);
    // The distinct winners by scan position, and each entity row's winner (or none).
    let mut winner_of = vec![u32::MAX; frame.len()];
    let mut seqs: Vec<u32> = Vec::new();
    for &(s, row) in wanted {
        if seqs.last() != Some(&s) {
            seqs.push(s);
        }
        #[allow(clippy::cast_possible_truncation)]
        {
            winner_of[row as usize] = (seqs.len() - 1) as u32;
        }
    }
    let mut keys: Vec<EntityKey> = Vec::with_capacity(seqs.len());
    let mut values: Vec<Value> = Vec::with_capacity(seqs.len() * features.len());
    let mut next = 0;
    scan_numbered(offline, request.group, window, |s, row| {
        // `next < len`: a store may call the visitor again after `Break`.
        if next < seqs.len() && seqs[next] == s {
            keys.push(row.key.clone());
            values.extend(
                features
                    .iter()
                    .map(|&j| row.values.get(j).cloned().unwrap_or(Value::Null)),
            );
            next += 1;
        }
        if next == seqs.len() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    if next != seqs.len() {
        return Ok(false);
    }
    drop(seqs);
    let width = features.len();
    for (i, &w) in winner_of.iter().enumerate() {
        if w == u32::MAX {
            continue;
        }
        let w = w as usize;
        if keys[w] != frame.keys[i] {
            return Ok(false);
        }
        for (col, v) in columns.iter_mut().zip(&values[w * width..(w + 1) * width]) {
            col[i] = v.clone();
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests;
