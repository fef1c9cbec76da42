//! The Parquet offline store's own point-in-time join: projection and statistics pruning.

use std::fs::File;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use hashbrown::HashMap;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::RowGroupMetaData;
use parquet::file::statistics::Statistics;

use super::{FileLayout, JoinStats, ParquetOfflineStore, Part, parquet_error};
use crate::arrow::{CREATED_TIMESTAMP, EVENT_TIMESTAMP, to_values};
use crate::error::{FeatureError, Result};
use crate::key::KeyPart;
use crate::model::{EntityKey, Timestamp, Value, ValueType, duration_micros};
use crate::pit::PitRequest;

impl ParquetOfflineStore {
    pub(super) fn join(&self, req: &PitRequest<'_>, columns: &mut [Vec<Value>]) -> Result<()> {
        let dir = self.group_dir(&req.group.name)?;
        let (visible, _) = self.parts(&dir)?;
        let frame = req.frame;
        let ttl = req.group.ttl.map(duration_micros);
        let mut stats = JoinStats {
            files: visible.len(),
            ..JoinStats::default()
        };
        // Distinct keys, their slots and per-slot timestamp ranges.
        let mut slots: HashMap<&EntityKey, u32> = HashMap::with_capacity(frame.len());
        let mut ranges: Vec<(i64, i64)> = Vec::new();
        let mut row_slot = Vec::with_capacity(frame.len());
        for (key, ts) in frame.keys.iter().zip(&frame.timestamps) {
            req.group.check_key(key)?;
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
        let lo_ts = ttl.map_or(i64::MIN, |t| min_ts.saturating_sub(t));
        let as_of = req.options.as_of.map(Timestamp::as_micros);
        let single = req.group.entity.len() == 1;
        // Lookup tables for one-column keys (no key built per row).
        let mut by_str: HashMap<&str, u32> = HashMap::new();
        let mut by_int: HashMap<i64, u32> = HashMap::new();
        if single {
            for (k, &s) in &slots {
                match k.parts().next() {
                    Some(KeyPart::String(v)) => {
                        by_str.insert(v, s);
                    }
                    Some(KeyPart::Int64(v)) => {
                        by_int.insert(v, s);
                    }
                    None => {}
                }
            }
        }
        let key_range = single.then(|| key_bounds(frame.keys.iter())).flatten();

        // Pass 1: read the needed columns of the needed row groups; collect candidates.
        struct Cand {
            slot: u32,
            event: i64,
            created: i64,
            batch: u32,
            row: u32,
        }
        // One file's batches, candidates (batch numbers local to the file) and counts.
        #[derive(Default)]
        struct FileRead {
            batches: Vec<(RecordBatch, Vec<Option<usize>>)>,
            cands: Vec<Cand>,
            row_groups: usize,
            row_groups_read: usize,
            rows_read: usize,
            columns_read: usize,
        }
        let per_file = |part: &Part| -> Result<FileRead> {
            let mut out = FileRead::default();
            let file = File::open(&part.path).map_err(|e| FeatureError::io(&part.path, e))?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(file)
                .map_err(|e| parquet_error(&part.path, e))?;
            let layout = FileLayout::of(&part.path, builder.schema())?;
            if layout.entity.len() != req.group.entity.len() {
                return Err(FeatureError::corrupt(
                    &part.path,
                    format!(
                        "{} entity columns, feature group {} has {}",
                        layout.entity.len(),
                        req.group.name,
                        req.group.entity.len()
                    ),
                ));
            }
            // The columns of the requested features (by name, or by position for files
            // written before the group was registered).
            let feature_cols: Vec<Option<usize>> = req
                .features
                .iter()
                .map(|&j| {
                    let name = &req.group.features[j].name;
                    layout
                        .features
                        .iter()
                        .position(|(n, _)| n == name)
                        .or_else(|| {
                            let n = format!("feature_{j}");
                            layout.features.iter().position(|(f, _)| *f == n)
                        })
                })
                .collect();
            let meta = builder.metadata().clone();
            let n_groups = meta.num_row_groups();
            out.row_groups = n_groups;
            let event_leaf = layout.event;
            let key_leaf = single.then_some(layout.entity[0].0);
            let keep: Vec<usize> = (0..n_groups)
                .filter(|&i| {
                    let rg = meta.row_group(i);
                    let (emin, emax) = int_stats(rg, event_leaf);
                    if emin.is_some_and(|m| m > max_ts) || emax.is_some_and(|m| m < lo_ts) {
                        return false;
                    }
                    match (key_leaf, &key_range) {
                        (Some(leaf), Some(range)) => key_overlaps(rg, leaf, range),
                        _ => true,
                    }
                })
                .collect();
            out.row_groups_read = keep.len();
            if keep.is_empty() {
                return Ok(out);
            }
            // Projection: entity, event, created, requested features.
            let mut roots: Vec<usize> = layout.entity.iter().map(|(c, _)| *c).collect();
            roots.push(layout.event);
            roots.push(layout.event + 1);
            let first_feature = layout.event + 2;
            roots.extend(feature_cols.iter().flatten().map(|c| first_feature + c));
            roots.sort_unstable();
            roots.dedup();
            out.columns_read = roots.len();
            let mask = ProjectionMask::roots(builder.parquet_schema(), roots.iter().copied());
            let reader = builder
                .with_row_groups(keep)
                .with_projection(mask)
                .with_batch_size(64 * 1024)
                .build()
                .map_err(|e| parquet_error(&part.path, e))?;
            for batch in reader {
                let batch = batch.map_err(|e| parquet_error(&part.path, e))?;
                out.rows_read += batch.num_rows();
                let schema = batch.schema();
                let col = |name: &str| {
                    schema
                        .index_of(name)
                        .map(|i| batch.column(i).clone())
                        .map_err(|_| FeatureError::Column {
                            input: part.path.display().to_string(),
                            column: name.to_owned(),
                            detail: "missing column".to_owned(),
                        })
                };
                let events = micros_of(&col(EVENT_TIMESTAMP)?, &part.path, EVENT_TIMESTAMP)?;
                let created = micros_of(&col(CREATED_TIMESTAMP)?, &part.path, CREATED_TIMESTAMP)?;
                let key_arrays: Vec<ArrayRef> = layout
                    .entity
                    .iter()
                    .map(|(_, name)| col(name))
                    .collect::<Result<_>>()?;
                let slot_of = SlotLookup::new(&key_arrays, &by_str, &by_int, &slots, single);
                #[allow(clippy::cast_possible_truncation)]
                let batch_no = out.batches.len() as u32;
                for i in 0..batch.num_rows() {
                    let Some(event) = events[i] else { continue };
                    let Some(slot) = slot_of.get(i) else { continue };
                    let (lo, hi) = ranges[slot as usize];
                    if event > hi || ttl.is_some_and(|t| event < lo.saturating_sub(t)) {
                        continue;
                    }
                    let created = created[i].unwrap_or(event);
                    if as_of.is_some_and(|a| created > a) {
                        continue;
                    }
                    #[allow(clippy::cast_possible_truncation)]
                    out.cands.push(Cand {
                        slot,
                        event,
                        created,
                        batch: batch_no,
                        row: i as u32,
                    });
                }
                let map: Vec<Option<usize>> = feature_cols
                    .iter()
                    .map(|c| c.and_then(|c| schema.index_of(&layout.features[c].0).ok()))
                    .collect();
                out.batches.push((batch, map));
            }
            Ok(out)
        };
        // Files are decoded on up to `available_parallelism` threads, merged in file order.
        let threads = std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get)
            .min(visible.len())
            .max(1);
        let reads: Vec<Result<FileRead>> = if threads == 1 {
            visible.iter().map(per_file).collect()
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..threads)
                    .map(|t| {
                        let (per_file, visible) = (&per_file, &visible);
                        s.spawn(move || {
                            visible
                                .iter()
                                .enumerate()
                                .filter(|(i, _)| i % threads == t)
                                .map(|(i, p)| (i, per_file(p)))
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                let mut slots: Vec<Option<Result<FileRead>>> =
                    (0..visible.len()).map(|_| None).collect();
                for h in handles {
                    match h.join() {
                        Ok(done) => {
                            for (i, r) in done {
                                slots[i] = Some(r);
                            }
                        }
                        Err(panic) => std::panic::resume_unwind(panic),
                    }
                }
                slots.into_iter().flatten().collect()
            })
        };
        let mut batches: Vec<(RecordBatch, Vec<Option<usize>>)> = Vec::new();
        let mut cands: Vec<Cand> = Vec::new();
        for read in reads {
            let read = read?;
            stats.row_groups += read.row_groups;
            stats.row_groups_read += read.row_groups_read;
            stats.rows_read += read.rows_read;
            stats.columns_read = stats.columns_read.max(read.columns_read);
            #[allow(clippy::cast_possible_truncation)]
            let offset = batches.len() as u32;
            cands.extend(read.cands.into_iter().map(|mut c| {
                c.batch += offset;
                c
            }));
            batches.extend(read.batches);
        }
        *self.last_join.lock() = stats;
        tracing::debug!(?stats, group = %req.group.name, "parquet point-in-time join");
        cands.sort_unstable_by_key(|c| (c.slot, c.event, c.created, c.batch, c.row));
        let mut starts = vec![0usize; ranges.len() + 1];
        for c in &cands {
            starts[c.slot as usize + 1] += 1;
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        for (i, (&slot, ts)) in row_slot.iter().zip(&frame.timestamps).enumerate() {
            let t = ts.as_micros();
            let c = &cands[starts[slot as usize]..starts[slot as usize + 1]];
            let n = c.partition_point(|c| c.event <= t);
            if n == 0 {
                continue;
            }
            let best = &c[n - 1];
            if ttl.is_some_and(|ttl| t.saturating_sub(best.event) > ttl) {
                continue;
            }
            let (batch, map) = &batches[best.batch as usize];
            for ((out, &j), col) in columns.iter_mut().zip(req.features).zip(map) {
                let Some(col) = col else { continue };
                let ty = req.group.features[j].dtype;
                out[i] = value_at(batch.column(*col).as_ref(), best.row as usize, ty).map_err(
                    |detail| FeatureError::Column {
                        input: format!("parquet offline store group {}", req.group.name),
                        column: req.group.features[j].name.clone(),
                        detail,
                    },
                )?;
            }
        }
        Ok(())
    }
}

/// The value at row `i` of a stored column: the fixed-width types and strings directly, the
/// others through a one-row slice.
fn value_at(array: &dyn Array, i: usize, ty: ValueType) -> Result<Value, String> {
    use arrow_array::types::{Float32Type, Float64Type, Int64Type};
    if array.is_null(i) {
        return Ok(Value::Null);
    }
    Ok(match (ty, array.data_type()) {
        (ValueType::Float64, DataType::Float64) => {
            Value::Float64(array.as_primitive::<Float64Type>().value(i))
        }
        (ValueType::Int64, DataType::Int64) => {
            Value::Int64(array.as_primitive::<Int64Type>().value(i))
        }
        (ValueType::Float32, DataType::Float32) => {
            Value::Float32(array.as_primitive::<Float32Type>().value(i))
        }
        (ValueType::Bool, DataType::Boolean) => Value::Bool(array.as_boolean().value(i)),
        (ValueType::String, DataType::Utf8) => {
            Value::String(array.as_string::<i32>().value(i).to_owned())
        }
        _ => to_values(array.slice(i, 1).as_ref(), ty)?
            .pop()
            .unwrap_or(Value::Null),
    })
}

/// Resolves the slot of row `i` of a batch from its key columns.
struct SlotLookup<'a> {
    strings: Option<&'a dyn Array>,
    ints: Option<Vec<Option<i64>>>,
    by_str: &'a HashMap<&'a str, u32>,
    by_int: &'a HashMap<i64, u32>,
    compound: Option<Vec<EntityKey>>,
    slots: &'a HashMap<&'a EntityKey, u32>,
}

impl<'a> SlotLookup<'a> {
    fn new(
        keys: &'a [ArrayRef],
        by_str: &'a HashMap<&'a str, u32>,
        by_int: &'a HashMap<i64, u32>,
        slots: &'a HashMap<&'a EntityKey, u32>,
        single: bool,
    ) -> Self {
        let mut me = Self {
            strings: None,
            ints: None,
            by_str,
            by_int,
            compound: None,
            slots,
        };
        if single {
            match keys[0].data_type() {
                DataType::Utf8 => me.strings = Some(keys[0].as_ref()),
                DataType::Int64 => {
                    let a = keys[0].as_primitive::<arrow_array::types::Int64Type>();
                    me.ints = Some(a.iter().collect());
                }
                _ => me.compound = Some(batch_keys(keys)),
            }
        } else {
            me.compound = Some(batch_keys(keys));
        }
        me
    }

    fn get(&self, i: usize) -> Option<u32> {
        if let Some(a) = self.strings {
            if a.is_null(i) {
                return None;
            }
            return self.by_str.get(a.as_string::<i32>().value(i)).copied();
        }
        if let Some(v) = &self.ints {
            return v[i].and_then(|v| self.by_int.get(&v).copied());
        }
        self.compound
            .as_ref()
            .and_then(|k| self.slots.get(&k[i]).copied())
    }
}

/// The entity keys of a batch's key columns (rows with a null part get an empty key).
fn batch_keys(keys: &[ArrayRef]) -> Vec<EntityKey> {
    let cols: Vec<Vec<Value>> = keys
        .iter()
        .map(|a| {
            let ty = if matches!(a.data_type(), DataType::Int64) {
                ValueType::Int64
            } else {
                ValueType::String
            };
            to_values(a.as_ref(), ty).unwrap_or_else(|_| vec![Value::Null; a.len()])
        })
        .collect();
    let n = keys.first().map_or(0, Array::len);
    (0..n)
        .map(|i| {
            let parts: Vec<KeyPart<'_>> = cols
                .iter()
                .filter_map(|c| match &c[i] {
                    Value::Int64(v) => Some(KeyPart::Int64(*v)),
                    Value::String(s) => Some(KeyPart::String(s)),
                    _ => None,
                })
                .collect();
            EntityKey::new(&parts)
        })
        .collect()
}

/// Min and max of the requested one-column keys.
enum KeyRange {
    Str(Vec<u8>, Vec<u8>),
    Int(i64, i64),
}

fn key_bounds<'a>(keys: impl Iterator<Item = &'a EntityKey>) -> Option<KeyRange> {
    let mut range: Option<KeyRange> = None;
    for k in keys {
        range = Some(match (range, k.parts().next()?) {
            (None, KeyPart::String(s)) => {
                KeyRange::Str(s.as_bytes().to_vec(), s.as_bytes().to_vec())
            }
            (None, KeyPart::Int64(v)) => KeyRange::Int(v, v),
            (Some(KeyRange::Str(lo, hi)), KeyPart::String(s)) => {
                let b = s.as_bytes();
                KeyRange::Str(
                    if b < lo.as_slice() { b.to_vec() } else { lo },
                    if b > hi.as_slice() { b.to_vec() } else { hi },
                )
            }
            (Some(KeyRange::Int(lo, hi)), KeyPart::Int64(v)) => KeyRange::Int(lo.min(v), hi.max(v)),
            _ => return None,
        });
    }
    range
}

/// Whether a row group's statistics of the key column may hold a key in `range`.
fn key_overlaps(rg: &RowGroupMetaData, leaf: usize, range: &KeyRange) -> bool {
    match (rg.column(leaf).statistics(), range) {
        (Some(Statistics::ByteArray(s)), KeyRange::Str(lo, hi)) => {
            let below = s.max_bytes_opt().is_some_and(|m| m < lo.as_slice());
            let above = s.min_bytes_opt().is_some_and(|m| m > hi.as_slice());
            !(below || above)
        }
        (Some(Statistics::Int64(s)), KeyRange::Int(lo, hi)) => {
            !(s.max_opt().is_some_and(|m| m < lo) || s.min_opt().is_some_and(|m| m > hi))
        }
        _ => true,
    }
}

/// Min and max of an INT64 column chunk (microsecond timestamps).
pub(super) fn int_stats(rg: &RowGroupMetaData, leaf: usize) -> (Option<i64>, Option<i64>) {
    match rg.column(leaf).statistics() {
        Some(Statistics::Int64(s)) => (s.min_opt().copied(), s.max_opt().copied()),
        _ => (None, None),
    }
}

/// Microseconds of a timestamp column of a file we wrote.
fn micros_of(array: &ArrayRef, path: &Path, name: &str) -> Result<Vec<Option<i64>>> {
    match array.data_type() {
        DataType::Timestamp(TimeUnit::Microsecond, _) => Ok(array
            .as_primitive::<arrow_array::types::TimestampMicrosecondType>()
            .iter()
            .collect()),
        other => Err(FeatureError::Column {
            input: path.display().to_string(),
            column: name.to_owned(),
            detail: format!("expected timestamp[us], got {other}"),
        }),
    }
}
