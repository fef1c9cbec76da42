//! Point-in-time correct historical retrieval (Feast's `get_historical_features`).

use std::fmt;
use std::ops::ControlFlow;

use hashbrown::HashMap;
use serde::Serialize;

use crate::error::{FeatureError, Result};
use crate::group::FeatureGroup;
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

#[derive(Clone, Copy)]
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
    let min_ts = ranges.iter().map(|r| r.0).min().unwrap_or(i64::MIN);
    let max_ts = ranges.iter().map(|r| r.1).max().unwrap_or(i64::MAX);
    let window = ScanOptions::window(
        Some(Timestamp::from_micros(
            ttl.map_or(i64::MIN, |t| min_ts.saturating_sub(t)),
        )),
        Some(Timestamp::from_micros(max_ts.saturating_add(1))),
    );
    let as_of = options.as_of.map(Timestamp::as_micros);

    // Pass 1: candidates.
    let mut cands: Vec<Candidate> = Vec::new();
    let mut seq: u32 = 0;
    let mut overflow = false;
    offline.scan(&group.name, &window, &mut |row| {
        let s = seq;
        let Some(next) = seq.checked_add(1) else {
            overflow = true;
            return ControlFlow::Break(());
        };
        seq = next;
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
    if overflow {
        return Err(FeatureError::invalid(
            "historical retrieval",
            format!("group {} has more than 2^32 rows in the window", group.name),
        ));
    }
    cands.sort_unstable_by_key(|c| (c.slot, c.event, c.created, c.seq));
    let mut starts = vec![0usize; ranges.len() + 1];
    for c in &cands {
        starts[c.slot as usize + 1] += 1;
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }

    // Winners: (scan position, entity row).
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
    drop(cands);
    if wanted.is_empty() {
        return Ok(());
    }
    wanted.sort_unstable();

    // Pass 2: copy the winners' values.
    let mut seq: u32 = 0;
    let mut next = 0;
    offline.scan(&group.name, &window, &mut |row| {
        let s = seq;
        seq += 1;
        while next < wanted.len() && wanted[next].0 == s {
            let out_row = wanted[next].1 as usize;
            for (col, &j) in columns.iter_mut().zip(features) {
                col[out_row] = row.values.get(j).cloned().unwrap_or(Value::Null);
            }
            next += 1;
        }
        if next == wanted.len() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    if next != wanted.len() {
        return Err(FeatureError::Conflict(format!(
            "the offline rows of group {} changed during a historical retrieval",
            group.name
        )));
    }
    Ok(())
}
