//! Arrow in (cargo feature `arrow`): ingest [`RecordBatch`]es into a feature group, and get a
//! training set back as a record batch.
//!
//! ## Column mapping (ingest)
//! Columns are matched to the group's schema **by name**; their order does not matter and
//! columns the group does not know are ignored (as Feast does with extra dataframe columns).
//! - Entity columns (by the group's entity column names): `int64` keys accept every signed
//!   integer type and `uint8`–`uint32`; `string` keys accept `utf8`, `large_utf8`, `utf8_view`
//!   and dictionary-encoded strings. A null key is an error.
//! - `event_timestamp` (required, never null) and `created_timestamp` (optional, nulls mean
//!   "the event time"): Arrow timestamps of any unit (`s`, `ms`, `us`, `ns`, nanoseconds
//!   floored to microseconds) and any time zone. An Arrow timestamp is an instant counted from
//!   the Unix epoch in UTC whatever its zone, so the zone only changes how it displays;
//!   timestamps without a zone are read as UTC (as pandas and Feast do). The names are set by
//!   [`ArrowIngestOptions`].
//! - Features: every feature of the group must have a column (a missing one is an error naming
//!   it); nulls become [`Value::Null`]. Accepted types per [`ValueType`]: `bool` ← `boolean`;
//!   `int64` ← signed integers and `uint8`–`uint32`; `float64` ← `float64`, `float32`;
//!   `float32` ← `float32`, `float64` (rounded to nearest); `string` ← the string types above;
//!   `timestamp` ← any timestamp; `bytes` ← `binary`, `large_binary`, `binary_view`,
//!   `fixed_size_binary`; `float32_vector` ← `list`, `large_list` or `fixed_size_list` of
//!   `float32` (or `float64`), without null elements. Dictionary encoding is accepted for every
//!   type.
//!
//! A column of another type is [`FeatureError::Column`] naming the input, the column and both
//! types. Errors reject the whole input: nothing of it is written.
//!
//! ## Training sets (out)
//! [`FeatureStore::training_record_batch`] gives the entity key columns (named as in the first
//! requested feature's group), `event_timestamp` as `timestamp[us, tz=UTC]`, then one column
//! per feature named as the feature (Feast's default; `group__feature` for every column when
//! two features share a name), typed as in [`arrow_type`].

use std::sync::Arc;

/// The `arrow-array` crate this module is built with (use it to build batches of the same
/// version).
pub use arrow_array;
/// The `arrow-schema` crate this module is built with.
pub use arrow_schema;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Float32Builder, Float64Builder, Int64Builder, ListBuilder,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type,
    UInt32Type,
};
use arrow_array::{Array, ArrayRef, NullArray, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};

use crate::error::{FeatureError, Result};
use crate::group::{EntityColumn, FeatureGroup, FeatureRow};
use crate::key::{KeyPart, KeyType};
use crate::model::{EntityKey, Timestamp, Value, ValueType};
use crate::pit::TrainingFrame;
use crate::store::{FeatureStore, IngestReport};

/// The name of the event-time column in files and training sets (Feast's convention).
pub const EVENT_TIMESTAMP: &str = "event_timestamp";
/// The name of the created-time column in files (Feast's `created_timestamp_column`).
pub const CREATED_TIMESTAMP: &str = "created_timestamp";

/// How Arrow columns are mapped to a group's rows.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArrowIngestOptions {
    /// The event-time column (default `event_timestamp`); required.
    pub event_timestamp: String,
    /// The created-time column (default `created_timestamp`); used when present.
    pub created_timestamp: String,
}

impl Default for ArrowIngestOptions {
    fn default() -> Self {
        Self {
            event_timestamp: EVENT_TIMESTAMP.to_owned(),
            created_timestamp: CREATED_TIMESTAMP.to_owned(),
        }
    }
}

impl ArrowIngestOptions {
    /// Use another event-time column (Feast's `timestamp_field`).
    #[must_use]
    pub fn event_timestamp(mut self, name: &str) -> Self {
        name.clone_into(&mut self.event_timestamp);
        self
    }

    /// Use another created-time column.
    #[must_use]
    pub fn created_timestamp(mut self, name: &str) -> Self {
        name.clone_into(&mut self.created_timestamp);
        self
    }
}

/// The Arrow type a feature of type `ty` is written as (files, training sets): `boolean`,
/// `int64`, `float64`, `float32`, `utf8`, `timestamp[us, tz=UTC]`, `binary`,
/// `list<item: float32>`.
#[must_use]
pub fn arrow_type(ty: ValueType) -> DataType {
    match ty {
        ValueType::Bool => DataType::Boolean,
        ValueType::Int64 => DataType::Int64,
        ValueType::Float64 => DataType::Float64,
        ValueType::Float32 => DataType::Float32,
        ValueType::String => DataType::Utf8,
        ValueType::Timestamp => utc_micros(),
        ValueType::Bytes => DataType::Binary,
        ValueType::Float32Vector => {
            DataType::List(Arc::new(Field::new("item", DataType::Float32, true)))
        }
    }
}

/// The Arrow type of an entity key column: `int64` or `utf8`.
#[must_use]
pub fn key_arrow_type(ty: KeyType) -> DataType {
    match ty {
        KeyType::Int64 => DataType::Int64,
        KeyType::String => DataType::Utf8,
    }
}

/// `timestamp[us, tz=UTC]`.
pub(crate) fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The values of an Arrow array as values of type `ty`; `Err` describes what does not fit.
pub(crate) fn to_values(array: &dyn Array, ty: ValueType) -> Result<Vec<Value>, String> {
    if let Some(dict) = array.as_any_dictionary_opt() {
        let values = to_values(dict.values().as_ref(), ty)?;
        let keys = dict.normalized_keys();
        return Ok((0..array.len())
            .map(|i| {
                if array.is_valid(i) {
                    values.get(keys[i]).cloned().unwrap_or(Value::Null)
                } else {
                    Value::Null
                }
            })
            .collect());
    }
    let n = array.len();
    let nullable = |f: &dyn Fn(usize) -> Value| -> Vec<Value> {
        (0..n)
            .map(|i| if array.is_null(i) { Value::Null } else { f(i) })
            .collect()
    };
    macro_rules! prim {
        ($t:ty, $wrap:expr) => {{
            let a = array.as_primitive::<$t>();
            Ok(nullable(&|i| $wrap(a.value(i))))
        }};
    }
    let unsupported = || Err(format!("expected {ty}, got {}", array.data_type()));
    match (ty, array.data_type()) {
        (ValueType::Bool, DataType::Boolean) => {
            let a = array.as_boolean();
            Ok(nullable(&|i| Value::Bool(a.value(i))))
        }
        (ValueType::Int64, DataType::Int64) => prim!(Int64Type, Value::Int64),
        (ValueType::Int64, DataType::Int32) => prim!(Int32Type, |v| Value::Int64(i64::from(v))),
        (ValueType::Int64, DataType::Int16) => prim!(Int16Type, |v| Value::Int64(i64::from(v))),
        (ValueType::Int64, DataType::Int8) => prim!(Int8Type, |v| Value::Int64(i64::from(v))),
        (ValueType::Int64, DataType::UInt32) => prim!(UInt32Type, |v| Value::Int64(i64::from(v))),
        (ValueType::Int64, DataType::UInt16) => prim!(UInt16Type, |v| Value::Int64(i64::from(v))),
        (ValueType::Int64, DataType::UInt8) => prim!(UInt8Type, |v| Value::Int64(i64::from(v))),
        (ValueType::Float64, DataType::Float64) => prim!(Float64Type, Value::Float64),
        (ValueType::Float64, DataType::Float32) => {
            prim!(Float32Type, |v| Value::Float64(f64::from(v)))
        }
        (ValueType::Float32, DataType::Float32) => prim!(Float32Type, Value::Float32),
        #[allow(clippy::cast_possible_truncation)]
        (ValueType::Float32, DataType::Float64) => prim!(Float64Type, |v| Value::Float32(v as f32)),
        (ValueType::String, DataType::Utf8) => {
            let a = array.as_string::<i32>();
            Ok(nullable(&|i| Value::String(a.value(i).to_owned())))
        }
        (ValueType::String, DataType::LargeUtf8) => {
            let a = array.as_string::<i64>();
            Ok(nullable(&|i| Value::String(a.value(i).to_owned())))
        }
        (ValueType::String, DataType::Utf8View) => {
            let a = array.as_string_view();
            Ok(nullable(&|i| Value::String(a.value(i).to_owned())))
        }
        (ValueType::Timestamp, DataType::Timestamp(unit, _)) => {
            let micros = timestamp_micros(array, *unit);
            Ok(micros
                .into_iter()
                .map(|m| m.map_or(Value::Null, |m| Value::Timestamp(Timestamp::from_micros(m))))
                .collect())
        }
        (ValueType::Bytes, DataType::Binary) => {
            let a = array.as_binary::<i32>();
            Ok(nullable(&|i| Value::Bytes(a.value(i).to_vec())))
        }
        (ValueType::Bytes, DataType::LargeBinary) => {
            let a = array.as_binary::<i64>();
            Ok(nullable(&|i| Value::Bytes(a.value(i).to_vec())))
        }
        (ValueType::Bytes, DataType::BinaryView) => {
            let a = array.as_binary_view();
            Ok(nullable(&|i| Value::Bytes(a.value(i).to_vec())))
        }
        (ValueType::Bytes, DataType::FixedSizeBinary(_)) => {
            let a = array.as_fixed_size_binary();
            Ok(nullable(&|i| Value::Bytes(a.value(i).to_vec())))
        }
        (ValueType::Float32Vector, DataType::List(_)) => {
            let a = array.as_list::<i32>();
            vectors(array, a.values().as_ref(), |i| {
                (
                    a.value_offsets()[i] as usize,
                    a.value_offsets()[i + 1] as usize,
                )
            })
        }
        (ValueType::Float32Vector, DataType::LargeList(_)) => {
            let a = array.as_list::<i64>();
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            vectors(array, a.values().as_ref(), |i| {
                (
                    a.value_offsets()[i] as usize,
                    a.value_offsets()[i + 1] as usize,
                )
            })
        }
        (ValueType::Float32Vector, DataType::FixedSizeList(_, size)) => {
            let a = array.as_fixed_size_list();
            #[allow(clippy::cast_sign_loss)]
            let size = *size as usize;
            vectors(array, a.values().as_ref(), |i| (i * size, (i + 1) * size))
        }
        (_, DataType::Null) => Ok(vec![Value::Null; n]),
        _ => unsupported(),
    }
}

/// The vectors of a list array whose elements are `values`, the range of row `i` given by
/// `range`.
fn vectors(
    array: &dyn Array,
    values: &dyn Array,
    range: impl Fn(usize) -> (usize, usize),
) -> Result<Vec<Value>, String> {
    let inner = match values.data_type() {
        DataType::Float32 => values.as_primitive::<Float32Type>().clone(),
        #[allow(clippy::cast_possible_truncation)]
        DataType::Float64 => values
            .as_primitive::<Float64Type>()
            .unary::<_, Float32Type>(|v| v as f32),
        other => {
            return Err(format!(
                "expected float32_vector, got a list of {other} (lists of float32 or float64)"
            ));
        }
    };
    let mut out = Vec::with_capacity(array.len());
    for i in 0..array.len() {
        if array.is_null(i) {
            out.push(Value::Null);
            continue;
        }
        let (lo, hi) = range(i);
        if (lo..hi).any(|j| inner.is_null(j)) {
            return Err(format!("row {i}: a float32_vector has a null element"));
        }
        out.push(Value::Float32Vector(inner.values()[lo..hi].to_vec()));
    }
    Ok(out)
}

/// Microseconds since the epoch of a timestamp array of any unit (nanoseconds floored,
/// seconds and milliseconds saturating).
fn timestamp_micros(array: &dyn Array, unit: TimeUnit) -> Vec<Option<i64>> {
    fn conv<T: arrow_array::ArrowPrimitiveType<Native = i64>>(
        array: &dyn Array,
        f: impl Fn(i64) -> i64,
    ) -> Vec<Option<i64>> {
        let a = array.as_primitive::<T>();
        (0..a.len())
            .map(|i| a.is_valid(i).then(|| f(a.value(i))))
            .collect()
    }
    match unit {
        TimeUnit::Second => conv::<TimestampSecondType>(array, |v| v.saturating_mul(1_000_000)),
        TimeUnit::Millisecond => {
            conv::<TimestampMillisecondType>(array, |v| v.saturating_mul(1_000))
        }
        TimeUnit::Microsecond => conv::<TimestampMicrosecondType>(array, |v| v),
        TimeUnit::Nanosecond => conv::<TimestampNanosecondType>(array, |v| v.div_euclid(1_000)),
    }
}

/// Where ingested data comes from, for messages: `record batch 0` or a file path.
fn column_error(input: &str, column: &str, detail: impl Into<String>) -> FeatureError {
    FeatureError::Column {
        input: input.to_owned(),
        column: column.to_owned(),
        detail: detail.into(),
    }
}

/// The rows of a record batch for `group` (see the [module docs](self) for the mapping).
/// `input` names the batch in errors (`"record batch 3"`, a file path).
///
/// # Errors
/// [`FeatureError::Column`] naming `input` and the column: a missing column, a type that does
/// not fit (both types named), a null entity key or event time (a required column all null
/// says so).
pub fn rows_from_batch(
    group: &FeatureGroup,
    batch: &RecordBatch,
    options: &ArrowIngestOptions,
    input: &str,
) -> Result<Vec<FeatureRow>> {
    let n = batch.num_rows();
    let column = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| column_error(input, name, "missing column"))
    };
    let required = |name: &str, array: &ArrayRef| -> Result<()> {
        let nulls = array.logical_null_count();
        if nulls == 0 {
            return Ok(());
        }
        if nulls == n {
            return Err(column_error(
                input,
                name,
                format!("required column is all null ({n} rows)"),
            ));
        }
        let row = (0..n).find(|&i| array.is_null(i)).unwrap_or(0);
        Err(column_error(
            input,
            name,
            format!("required column has {nulls} nulls, the first at row {row}"),
        ))
    };
    // Entity key columns.
    let mut key_cols: Vec<Vec<Value>> = Vec::with_capacity(group.entity.len());
    for c in &group.entity {
        let array = column(&c.name)?;
        let want = match c.dtype {
            KeyType::Int64 => ValueType::Int64,
            KeyType::String => ValueType::String,
        };
        let values = to_values(array.as_ref(), want).map_err(|_| {
            column_error(
                input,
                &c.name,
                format!("expected {} key, got {}", c.dtype, array.data_type()),
            )
        })?;
        if values.iter().any(Value::is_null) {
            required(&c.name, array)?;
        }
        key_cols.push(values);
    }
    let event_array = column(&options.event_timestamp)?;
    let events = match event_array.data_type() {
        DataType::Timestamp(unit, _) => timestamp_micros(event_array.as_ref(), *unit),
        other => {
            return Err(column_error(
                input,
                &options.event_timestamp,
                format!("expected timestamp, got {other}"),
            ));
        }
    };
    required(&options.event_timestamp, event_array)?;
    let created = match batch.column_by_name(&options.created_timestamp) {
        None => None,
        Some(a) => match a.data_type() {
            DataType::Timestamp(unit, _) => Some(timestamp_micros(a.as_ref(), *unit)),
            other => {
                return Err(column_error(
                    input,
                    &options.created_timestamp,
                    format!("expected timestamp, got {other}"),
                ));
            }
        },
    };
    let mut feature_cols = Vec::with_capacity(group.features.len());
    for f in &group.features {
        let array = column(&f.name)?;
        let values = to_values(array.as_ref(), f.dtype)
            .map_err(|detail| column_error(input, &f.name, detail))?;
        feature_cols.push(values.into_iter());
    }
    let mut rows = Vec::with_capacity(n);
    let mut parts: Vec<KeyPart<'_>> = Vec::with_capacity(key_cols.len());
    for i in 0..n {
        parts.clear();
        for col in &key_cols {
            parts.push(match &col[i] {
                Value::Int64(v) => KeyPart::Int64(*v),
                Value::String(s) => KeyPart::String(s),
                _ => KeyPart::Int64(0), // unreachable: nulls were refused above
            });
        }
        let key = EntityKey::new(&parts);
        let event_ts = Timestamp::from_micros(events[i].unwrap_or_default());
        let created_ts = created
            .as_ref()
            .and_then(|c| c[i])
            .map(Timestamp::from_micros);
        let values = feature_cols
            .iter_mut()
            .map(|c| c.next().unwrap_or(Value::Null))
            .collect();
        rows.push(FeatureRow {
            key,
            event_ts,
            created_ts,
            values,
        });
    }
    Ok(rows)
}

/// An Arrow array of `values` of type `ty` (`None`: every value is null, written as Arrow's
/// `null` type).
///
/// # Errors
/// A description of the first value that is not of type `ty`.
pub(crate) fn values_to_array<'a>(
    values: impl ExactSizeIterator<Item = &'a Value>,
    ty: Option<ValueType>,
) -> Result<ArrayRef, String> {
    let n = values.len();
    let Some(ty) = ty else {
        return Ok(Arc::new(NullArray::new(n)));
    };
    macro_rules! build {
        ($builder:expr, $variant:ident, $v:ident => $append:expr) => {{
            let mut b = $builder;
            for (i, value) in values.enumerate() {
                match value {
                    Value::Null => b.append_null(),
                    Value::$variant($v) => $append(&mut b),
                    other => {
                        return Err(format!(
                            "row {i}: expected {ty}, got {}",
                            other.value_type().map_or("null", ValueType::name)
                        ));
                    }
                }
            }
            Ok(Arc::new(b.finish()) as ArrayRef)
        }};
    }
    match ty {
        ValueType::Bool => {
            build!(BooleanBuilder::with_capacity(n), Bool, v => |b: &mut BooleanBuilder| b.append_value(*v))
        }
        ValueType::Int64 => {
            build!(Int64Builder::with_capacity(n), Int64, v => |b: &mut Int64Builder| b.append_value(*v))
        }
        ValueType::Float64 => {
            build!(Float64Builder::with_capacity(n), Float64, v => |b: &mut Float64Builder| b.append_value(*v))
        }
        ValueType::Float32 => {
            build!(Float32Builder::with_capacity(n), Float32, v => |b: &mut Float32Builder| b.append_value(*v))
        }
        ValueType::String => {
            build!(StringBuilder::with_capacity(n, n * 8), String, v => |b: &mut StringBuilder| b.append_value(v))
        }
        ValueType::Timestamp => build!(
            TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC"),
            Timestamp,
            v => |b: &mut TimestampMicrosecondBuilder| b.append_value(v.as_micros())
        ),
        ValueType::Bytes => {
            build!(BinaryBuilder::with_capacity(n, n * 8), Bytes, v => |b: &mut BinaryBuilder| b.append_value(v))
        }
        ValueType::Float32Vector => build!(
            ListBuilder::new(Float32Builder::new()),
            Float32Vector,
            v => |b: &mut ListBuilder<Float32Builder>| {
                b.values().append_slice(v);
                b.append(true);
            }
        ),
    }
}

/// A timestamp column (`timestamp[us, tz=UTC]`), nulls where `None`.
pub(crate) fn timestamps_to_array(ts: impl Iterator<Item = Option<Timestamp>>) -> ArrayRef {
    let mut b = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    for t in ts {
        b.append_option(t.map(Timestamp::as_micros));
    }
    Arc::new(b.finish())
}

/// The entity key columns of `keys` (one per part, typed by `columns`).
///
/// # Errors
/// A description of the first key whose parts do not fit `columns`.
pub(crate) fn keys_to_arrays(
    keys: impl Iterator<Item = EntityKey> + Clone,
    columns: &[(String, KeyType)],
) -> Result<Vec<ArrayRef>, String> {
    let mut out = Vec::with_capacity(columns.len());
    for (j, (name, ty)) in columns.iter().enumerate() {
        match ty {
            KeyType::Int64 => {
                let mut b = Int64Builder::new();
                for (i, k) in keys.clone().enumerate() {
                    match k.parts().nth(j) {
                        Some(KeyPart::Int64(v)) => b.append_value(v),
                        _ => return Err(format!("row {i}: key {k} has no int64 part for {name}")),
                    }
                }
                out.push(Arc::new(b.finish()) as ArrayRef);
            }
            KeyType::String => {
                let mut b = StringBuilder::new();
                for (i, k) in keys.clone().enumerate() {
                    match k.parts().nth(j) {
                        Some(KeyPart::String(s)) => b.append_value(s),
                        _ => return Err(format!("row {i}: key {k} has no string part for {name}")),
                    }
                }
                out.push(Arc::new(b.finish()) as ArrayRef);
            }
        }
    }
    Ok(out)
}

/// A record batch from named arrays (nullable fields, types from the arrays).
pub(crate) fn batch_of(columns: Vec<(String, ArrayRef, bool)>) -> Result<RecordBatch> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, a, nullable)| Field::new(name, a.data_type().clone(), *nullable))
        .collect();
    let arrays = columns.into_iter().map(|(_, a, _)| a).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .map_err(|e| FeatureError::invalid("record batch", e.to_string()))
}

impl FeatureStore {
    /// Ingest a record batch into `group` (columns mapped by name, see the
    /// [`arrow`](crate::arrow) module), all or nothing, as [`FeatureStore::ingest`].
    ///
    /// # Errors
    /// [`FeatureError::NotFound`] for an unknown group; [`FeatureError::Column`] naming the
    /// column (and both types on a mismatch); as [`FeatureStore::ingest`].
    pub fn ingest_arrow(&self, group: &str, batch: &RecordBatch) -> Result<IngestReport> {
        self.ingest_arrow_batches(group, std::iter::once(batch.clone()))
    }

    /// Ingest several record batches into `group` as one batch: every batch is converted and
    /// checked before anything is written, so a bad batch rejects them all. Errors name the
    /// batch by its index (`record batch 2`).
    ///
    /// # Errors
    /// As [`FeatureStore::ingest_arrow`].
    pub fn ingest_arrow_batches(
        &self,
        group: &str,
        batches: impl IntoIterator<Item = RecordBatch>,
    ) -> Result<IngestReport> {
        self.ingest_arrow_with(
            group,
            batches,
            &ArrowIngestOptions::default(),
            "record batch",
        )
    }

    /// [`FeatureStore::ingest_arrow_batches`] with other timestamp column names; `input` names
    /// the source in errors (a batch index is appended when there is more than one batch).
    ///
    /// # Errors
    /// As [`FeatureStore::ingest_arrow`].
    pub fn ingest_arrow_with(
        &self,
        group: &str,
        batches: impl IntoIterator<Item = RecordBatch>,
        options: &ArrowIngestOptions,
        input: &str,
    ) -> Result<IngestReport> {
        let def = self.group(group)?;
        let mut rows = Vec::new();
        for (i, batch) in batches.into_iter().enumerate() {
            let name = if input == "record batch" {
                format!("{input} {i}")
            } else {
                input.to_owned()
            };
            rows.extend(rows_from_batch(&def, &batch, options, &name)?);
        }
        self.ingest(group, &rows)
    }

    /// A training set as a record batch (see the [`arrow`](crate::arrow) module for the
    /// columns).
    ///
    /// # Errors
    /// [`FeatureError::NotFound`] for a feature no longer in the registry;
    /// [`FeatureError::InvalidArgument`] for a value that does not fit its feature's type.
    pub fn training_record_batch(&self, frame: &TrainingFrame) -> Result<RecordBatch> {
        let mut types = Vec::with_capacity(frame.columns.len());
        let mut entity: Option<Vec<EntityColumn>> = None;
        for c in &frame.columns {
            let g = self.group(c.feature.group())?;
            let f = g
                .features
                .iter()
                .find(|f| f.name == c.feature.feature())
                .ok_or_else(|| {
                    FeatureError::not_found(crate::EntityKind::Feature, c.feature.to_string())
                })?;
            types.push(f.dtype);
            if entity.is_none() {
                entity = Some(g.entity.clone());
            }
        }
        let key_cols: Vec<(String, KeyType)> = match entity {
            Some(cols) => cols.into_iter().map(|c| (c.name, c.dtype)).collect(),
            None => match frame.keys.first().map(|k| k.parts().next()) {
                Some(Some(KeyPart::Int64(_))) => vec![("entity".to_owned(), KeyType::Int64)],
                _ => vec![("entity".to_owned(), KeyType::String)],
            },
        };
        let mut columns = Vec::new();
        let keys = keys_to_arrays(frame.keys.iter().cloned(), &key_cols)
            .map_err(|e| FeatureError::invalid("training set", e))?;
        for ((name, _), a) in key_cols.iter().zip(keys) {
            columns.push((name.clone(), a, false));
        }
        columns.push((
            EVENT_TIMESTAMP.to_owned(),
            timestamps_to_array(frame.timestamps.iter().copied().map(Some)),
            false,
        ));
        let mut names: Vec<&str> = frame.columns.iter().map(|c| c.feature.feature()).collect();
        names.sort_unstable();
        let clash = names.windows(2).any(|w| w[0] == w[1]);
        for (c, ty) in frame.columns.iter().zip(types) {
            let name = if clash {
                format!("{}__{}", c.feature.group(), c.feature.feature())
            } else {
                c.feature.feature().to_owned()
            };
            let array = values_to_array(c.values.iter(), Some(ty))
                .map_err(|e| FeatureError::invalid("training set", format!("{name}: {e}")))?;
            columns.push((name, array, true));
        }
        batch_of(columns)
    }
}
