//! Arrow in (cargo feature `arrow`), Parquet in (feature `parquet`): drift, validation and
//! null counts straight from Arrow arrays and record batches.
//!
//! - [`column_from_arrow`] / [`dataset_from_record_batch`]: numeric arrays (every integer and
//!   float type, dictionary-encoded too) become [`Column::Numeric`], with nulls as NaN (the drift
//!   tests drop and count them as missing, as for NaN); strings, large strings, string views,
//!   booleans (`"true"`/`"false"`) and dictionary-encoded strings become
//!   [`Column::Categorical`], with nulls as `None`. A `float64` array without nulls is read
//!   as the slice Arrow holds (one copy into the owned column, no per-value conversion).
//! - [`null_counts`]: per column, the rows, the nulls and their percentage, as Great
//!   Expectations' `missing_count` / `missing_percent`.
//! - [`numeric_values`]: a numeric array as `f64`s; a `float64` array without nulls is
//!   borrowed, not copied. [`column_drift_arrow`] and [`drift_report_record_batches`]: drift read
//!   in place from arrays and record batches (labels borrowed as `&str`, not copied into
//!   `String`s).
//! - [`Validator::validate_record_batches`]: every expectation over some batches, column by
//!   column, reading each array in place; [`rows_from_record_batch`]: the same values as JSON
//!   rows, for [`Validator::validate`] (the results agree). Arrow nulls are missing values (not
//!   evaluated by column-map expectations, the unexpected values of
//!   `expect_column_values_to_not_be_null`), integers are JSON integers, floats JSON numbers
//!   (NaN and infinities, which JSON cannot hold, are missing), timestamps RFC 3339 strings.
//! - With `parquet`: [`read_parquet`], [`dataset_from_parquet`] and
//!   [`Validator::validate_parquet`]; an unreadable file is an error naming it.

use std::borrow::Cow;
use std::fmt;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use serde::Serialize;
use serde_json::{Map, Value};

/// The `arrow-array` crate this module is built with.
pub use arrow_array;
/// The `arrow-schema` crate this module is built with.
pub use arrow_schema;

use crate::drift::{
    Column, ColumnDrift, ColumnDriftOptions, ColumnRef, Dataset, DriftOptions, DriftReport,
    column_drift_ref, drift_report_with,
};
use crate::error::{Result, TestingError};
use crate::validate::{ValidationReport, Validator};

/// The keys of a dictionary array as indexes into its values (Arrow's `normalized_keys`, which
/// panics on a dictionary without values: then every row is null, and the keys are 0, an
/// index past the end that the callers read as missing).
pub(crate) fn dictionary_keys(dict: &dyn arrow_array::AnyDictionaryArray) -> Vec<usize> {
    if dict.values().is_empty() {
        vec![0; dict.keys().len()]
    } else {
        dict.normalized_keys()
    }
}

/// A column for the drift tests from an Arrow array (see the [module docs](self)).
///
/// # Errors
/// [`TestingError::InvalidArgument`] naming the column and its type when it is neither
/// numeric nor string-like.
pub fn column_from_arrow(name: &str, array: &dyn Array) -> Result<Column> {
    if let Some(values) = numeric_values(array) {
        return Ok(Column::Numeric(values.into_owned()));
    }
    if let Some(dict) = array.as_any_dictionary_opt() {
        // A dictionary of numbers was taken by `numeric_values` above.
        let Column::Categorical(v) = column_from_arrow(name, dict.values().as_ref())? else {
            return Err(TestingError::invalid(
                "column",
                format!("column {name}: a numeric dictionary that is not numeric"),
            ));
        };
        let keys = dictionary_keys(dict);
        return Ok(Column::Categorical(
            (0..array.len())
                .map(|i| {
                    if array.is_valid(i) {
                        v.get(keys[i]).cloned().flatten()
                    } else {
                        None
                    }
                })
                .collect(),
        ));
    }
    fn strings<'a>(it: impl Iterator<Item = Option<&'a str>>) -> Column {
        Column::Categorical(it.map(|v| v.map(str::to_owned)).collect())
    }
    Ok(match array.data_type() {
        DataType::Utf8 => strings(array.as_string::<i32>().iter()),
        DataType::LargeUtf8 => strings(array.as_string::<i64>().iter()),
        DataType::Utf8View => strings(array.as_string_view().iter()),
        DataType::Boolean => Column::Categorical(
            array
                .as_boolean()
                .iter()
                .map(|v| v.map(|b| b.to_string()))
                .collect(),
        ),
        other => {
            return Err(TestingError::invalid(
                "column",
                format!("column {name}: {other} is neither numeric nor categorical"),
            ));
        }
    })
}

/// A dataset of every column of a record batch (see [`column_from_arrow`]).
///
/// # Errors
/// As [`column_from_arrow`].
pub fn dataset_from_record_batch(batch: &RecordBatch) -> Result<Dataset> {
    dataset_from_batches(std::slice::from_ref(batch))
}

/// A dataset of several record batches of the same schema, concatenated.
///
/// # Errors
/// As [`column_from_arrow`]; a batch whose schema differs from the first's.
pub fn dataset_from_batches(batches: &[RecordBatch]) -> Result<Dataset> {
    let mut ds = Dataset::new();
    let Some(first) = batches.first() else {
        return Ok(ds);
    };
    let schema = first.schema();
    for (i, b) in batches.iter().enumerate() {
        if b.schema().fields() != schema.fields() {
            return Err(TestingError::invalid(
                "record batch",
                format!("batch {i} has another schema than batch 0"),
            ));
        }
    }
    for (j, field) in schema.fields().iter().enumerate() {
        let mut col: Option<Column> = None;
        for b in batches {
            let part = column_from_arrow(field.name(), b.column(j).as_ref())?;
            col = Some(match (col, part) {
                (None, p) => p,
                (Some(Column::Numeric(mut a)), Column::Numeric(b)) => {
                    a.extend(b);
                    Column::Numeric(a)
                }
                (Some(Column::Categorical(mut a)), Column::Categorical(b)) => {
                    a.extend(b);
                    Column::Categorical(a)
                }
                (Some(a), _) => a,
            });
        }
        if let Some(c) = col {
            ds.insert(field.name().clone(), c)?;
        }
    }
    Ok(ds)
}

/// The values of a numeric array as `f64`s, nulls as NaN: the array's own buffer, borrowed
/// without a copy, for a `float64` array without nulls; a converted copy for other numeric
/// types (every integer and float type, dictionary-encoded too) and for arrays with nulls.
/// `None` for an array that is not numeric.
#[must_use]
pub fn numeric_values(array: &dyn Array) -> Option<Cow<'_, [f64]>> {
    if let Some(dict) = array.as_any_dictionary_opt() {
        let values = numeric_values(dict.values().as_ref())?;
        let keys = dictionary_keys(dict);
        return Some(Cow::Owned(
            (0..array.len())
                .map(|i| {
                    if array.is_valid(i) {
                        values.get(keys[i]).copied().unwrap_or(f64::NAN)
                    } else {
                        f64::NAN
                    }
                })
                .collect(),
        ));
    }
    macro_rules! numeric {
        ($t:ty) => {{
            let a = array.as_primitive::<$t>();
            #[allow(clippy::cast_precision_loss, clippy::cast_lossless)]
            Cow::Owned(a.iter().map(|v| v.map_or(f64::NAN, |v| v as f64)).collect())
        }};
    }
    Some(match array.data_type() {
        DataType::Float64 if array.null_count() == 0 => {
            Cow::Borrowed(array.as_primitive::<Float64Type>().values().as_ref())
        }
        DataType::Float64 => numeric!(Float64Type),
        DataType::Float32 => numeric!(Float32Type),
        DataType::Int64 => numeric!(Int64Type),
        DataType::Int32 => numeric!(Int32Type),
        DataType::Int16 => numeric!(Int16Type),
        DataType::Int8 => numeric!(Int8Type),
        DataType::UInt64 => numeric!(UInt64Type),
        DataType::UInt32 => numeric!(UInt32Type),
        DataType::UInt16 => numeric!(UInt16Type),
        DataType::UInt8 => numeric!(UInt8Type),
        _ => return None,
    })
}

/// The labels of a string-like array (as [`column_from_arrow`] reads them), borrowed from the
/// array, and the number of nulls; `None` for an array that is not string-like.
fn labels(array: &dyn Array) -> Option<(Vec<&str>, usize)> {
    if let Some(dict) = array.as_any_dictionary_opt() {
        let values = dict.values().as_ref();
        let per_key: Vec<Option<&str>> = match values.data_type() {
            DataType::Utf8 => values.as_string::<i32>().iter().collect(),
            DataType::LargeUtf8 => values.as_string::<i64>().iter().collect(),
            DataType::Utf8View => values.as_string_view().iter().collect(),
            DataType::Boolean => values
                .as_boolean()
                .iter()
                .map(|v| v.map(bool_label))
                .collect(),
            _ => return None,
        };
        let keys = dictionary_keys(dict);
        let out: Vec<&str> = (0..array.len())
            .filter(|&i| array.is_valid(i))
            .filter_map(|i| per_key.get(keys[i]).copied().flatten())
            .collect();
        let missing = array.len() - out.len();
        return Some((out, missing));
    }
    let out: Vec<&str> = match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().iter().flatten().collect(),
        DataType::LargeUtf8 => array.as_string::<i64>().iter().flatten().collect(),
        DataType::Utf8View => array.as_string_view().iter().flatten().collect(),
        DataType::Boolean => array
            .as_boolean()
            .iter()
            .flatten()
            .map(bool_label)
            .collect(),
        _ => return None,
    };
    let missing = array.len() - out.len();
    Some((out, missing))
}

fn bool_label(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// The drift tests' view of the chunks of one column: numeric chunks borrowed when there is
/// one `float64` chunk without nulls, labels borrowed from the arrays.
fn column_ref<'a>(name: &str, chunks: &[&'a dyn Array]) -> Result<ColumnRef<'a>> {
    let unsupported = |a: &dyn Array| {
        TestingError::invalid(
            "column",
            format!(
                "column {name}: {} is neither numeric nor categorical",
                a.data_type()
            ),
        )
    };
    let Some(first) = chunks.first() else {
        return Ok(ColumnRef::Numeric(Cow::Borrowed(&[])));
    };
    if let Some(values) = numeric_values(*first) {
        if chunks.len() == 1 {
            return Ok(ColumnRef::Numeric(values));
        }
        let mut all = values.into_owned();
        for c in &chunks[1..] {
            all.extend_from_slice(&numeric_values(*c).ok_or_else(|| unsupported(*c))?);
        }
        return Ok(ColumnRef::Numeric(Cow::Owned(all)));
    }
    let (mut all, mut missing) = labels(*first).ok_or_else(|| unsupported(*first))?;
    for c in &chunks[1..] {
        let (l, m) = labels(*c).ok_or_else(|| unsupported(*c))?;
        all.extend(l);
        missing += m;
    }
    Ok(ColumnRef::Categorical {
        labels: all,
        missing,
    })
}

/// [`column_drift`](crate::drift::column_drift) of two Arrow arrays, read in place: a `float64` array
/// without nulls is not copied before the test sorts its finite values, labels are not copied
/// into `String`s (see [`numeric_values`] and [`column_from_arrow`] for the value mapping).
///
/// # Errors
/// As [`column_from_arrow`] and [`column_drift`](crate::drift::column_drift).
pub fn column_drift_arrow(
    name: &str,
    reference: &dyn Array,
    current: &dyn Array,
    options: ColumnDriftOptions,
) -> Result<ColumnDrift> {
    column_drift_ref(
        name,
        &column_ref(name, &[reference])?,
        &column_ref(name, &[current])?,
        options,
    )
}

/// Check that every batch has the first one's schema.
fn same_schema(batches: &[RecordBatch], side: &str) -> Result<()> {
    if let Some(first) = batches.first() {
        let schema = first.schema();
        if let Some(i) = batches
            .iter()
            .position(|b| b.schema().fields() != schema.fields())
        {
            return Err(TestingError::invalid(
                "record batch",
                format!("{side} batch {i} has another schema than batch 0"),
            ));
        }
    }
    Ok(())
}

/// The chunks of column `j` of some batches.
fn chunks(batches: &[RecordBatch], j: usize) -> Vec<&dyn Array> {
    batches.iter().map(|b| b.column(j).as_ref()).collect()
}

/// [`drift_report`](crate::drift_report) of the columns of some record batches, read in place
/// as [`column_drift_arrow`] reads them (several batches of one side are concatenated per
/// column, one copy of a numeric column). Columns are matched by name; the reference's schema
/// lists the columns tested.
///
/// # Errors
/// As [`drift_report`](crate::drift_report) and [`column_from_arrow`]; a batch whose schema
/// differs from its side's first batch.
pub fn drift_report_record_batches(
    reference: &[RecordBatch],
    current: &[RecordBatch],
    options: &DriftOptions,
) -> Result<DriftReport> {
    same_schema(reference, "reference")?;
    same_schema(current, "current")?;
    let reference_columns = match reference.first() {
        None => Vec::new(),
        Some(first) => first
            .schema_ref()
            .fields()
            .iter()
            .enumerate()
            .map(|(j, f)| {
                Ok((
                    f.name().as_str(),
                    column_ref(f.name(), &chunks(reference, j))?,
                ))
            })
            .collect::<Result<Vec<_>>>()?,
    };
    let current_schema = current.first().map(RecordBatch::schema_ref);
    drift_report_with(
        reference_columns,
        |name| {
            let Some(j) =
                current_schema.and_then(|s| s.fields().iter().position(|f| f.name() == name))
            else {
                return Ok(None);
            };
            column_ref(name, &chunks(current, j)).map(Some)
        },
        options,
    )
}

/// The nulls of one column, as Great Expectations reports them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnNulls {
    /// The column.
    pub column: String,
    /// Rows (GE's `element_count`).
    pub element_count: usize,
    /// Nulls (GE's `missing_count`).
    pub missing_count: usize,
    /// Nulls in percent of the rows (GE's `missing_percent`; 0 for no rows).
    pub missing_percent: f64,
}

/// The nulls of every column of some record batches.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NullReport {
    /// One entry per column, in schema order.
    pub columns: Vec<ColumnNulls>,
}

impl fmt::Display for NullReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = self
            .columns
            .iter()
            .map(|c| c.column.chars().count())
            .max()
            .unwrap_or(0)
            .max(6);
        writeln!(
            f,
            "{:<w$}  {:>10}  {:>10}  {:>8}",
            "column", "rows", "nulls", "%"
        )?;
        for c in &self.columns {
            writeln!(
                f,
                "{:<w$}  {:>10}  {:>10}  {:>8.2}",
                c.column, c.element_count, c.missing_count, c.missing_percent
            )?;
        }
        Ok(())
    }
}

/// Count the nulls of every column (Arrow's null count; NaN is a value here, as in GE).
#[must_use]
pub fn null_counts(batches: &[RecordBatch]) -> NullReport {
    let Some(first) = batches.first() else {
        return NullReport {
            columns: Vec::new(),
        };
    };
    let columns = first
        .schema()
        .fields()
        .iter()
        .enumerate()
        .map(|(j, f)| {
            let (rows, nulls) = batches.iter().fold((0, 0), |(r, n), b| {
                let c = b.column(j);
                (r + c.len(), n + c.logical_null_count())
            });
            #[allow(clippy::cast_precision_loss)]
            let pct = if rows == 0 {
                0.0
            } else {
                nulls as f64 * 100.0 / rows as f64
            };
            ColumnNulls {
                column: f.name().clone(),
                element_count: rows,
                missing_count: nulls,
                missing_percent: pct,
            }
        })
        .collect();
    NullReport { columns }
}

/// The JSON values of an array (null for Arrow nulls and non-finite floats).
fn json_column(array: &dyn Array) -> Vec<Value> {
    if let Some(dict) = array.as_any_dictionary_opt() {
        let values = json_column(dict.values().as_ref());
        let keys = dictionary_keys(dict);
        return (0..array.len())
            .map(|i| {
                if array.is_valid(i) {
                    values.get(keys[i]).cloned().unwrap_or(Value::Null)
                } else {
                    Value::Null
                }
            })
            .collect();
    }
    (0..array.len()).map(|i| json_at(array, i)).collect()
}

/// The JSON value of row `i` of an array that is not dictionary-encoded.
pub(crate) fn json_at(array: &dyn Array, i: usize) -> Value {
    if array.is_null(i) {
        return Value::Null;
    }
    macro_rules! int {
        ($t:ty) => {
            Value::from(array.as_primitive::<$t>().value(i))
        };
    }
    let float = |v: f64| serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number);
    let ts = |micros: i64| {
        chrono::DateTime::from_timestamp_micros(micros).map_or(Value::Null, |t| {
            Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        })
    };
    match array.data_type() {
        DataType::Boolean => Value::Bool(array.as_boolean().value(i)),
        DataType::Int64 => int!(Int64Type),
        DataType::Int32 => int!(Int32Type),
        DataType::Int16 => int!(Int16Type),
        DataType::Int8 => int!(Int8Type),
        DataType::UInt64 => int!(UInt64Type),
        DataType::UInt32 => int!(UInt32Type),
        DataType::UInt16 => int!(UInt16Type),
        DataType::UInt8 => int!(UInt8Type),
        DataType::Float64 => float(array.as_primitive::<Float64Type>().value(i)),
        DataType::Float32 => float(f64::from(array.as_primitive::<Float32Type>().value(i))),
        DataType::Utf8 => Value::String(array.as_string::<i32>().value(i).to_owned()),
        DataType::LargeUtf8 => Value::String(array.as_string::<i64>().value(i).to_owned()),
        DataType::Utf8View => Value::String(array.as_string_view().value(i).to_owned()),
        DataType::Timestamp(unit, _) => {
            let micros = match unit {
                TimeUnit::Second => array
                    .as_primitive::<TimestampSecondType>()
                    .value(i)
                    .saturating_mul(1_000_000),
                TimeUnit::Millisecond => array
                    .as_primitive::<TimestampMillisecondType>()
                    .value(i)
                    .saturating_mul(1_000),
                TimeUnit::Microsecond => array.as_primitive::<TimestampMicrosecondType>().value(i),
                TimeUnit::Nanosecond => array
                    .as_primitive::<TimestampNanosecondType>()
                    .value(i)
                    .div_euclid(1_000),
            };
            ts(micros)
        }
        DataType::List(_) => Value::Array(json_column(array.as_list::<i32>().value(i).as_ref())),
        DataType::LargeList(_) => {
            Value::Array(json_column(array.as_list::<i64>().value(i).as_ref()))
        }
        // Other types (binary, decimals, structs) as their Arrow display is not available
        // without arrow-cast: reported as missing.
        _ => Value::Null,
    }
}

/// The rows of a record batch as JSON objects, for the [`Validator`] (see the
/// [module docs](self) for the value mapping). An Arrow null becomes JSON `null`.
#[must_use]
pub fn rows_from_record_batch(batch: &RecordBatch) -> Vec<Map<String, Value>> {
    let schema = batch.schema();
    let mut columns: Vec<std::vec::IntoIter<Value>> = batch
        .columns()
        .iter()
        .map(|c| json_column(c.as_ref()).into_iter())
        .collect();
    (0..batch.num_rows())
        .map(|_| {
            schema
                .fields()
                .iter()
                .zip(columns.iter_mut())
                .map(|(f, c)| (f.name().clone(), c.next().unwrap_or(Value::Null)))
                .collect()
        })
        .collect()
}

impl Validator {
    /// Evaluate every expectation over the rows of one record batch.
    ///
    /// # Errors
    /// As [`Validator::validate`].
    pub fn validate_record_batch(&self, batch: &RecordBatch) -> Result<ValidationReport> {
        self.validate_record_batches(std::slice::from_ref(batch))
    }
}

#[cfg(feature = "parquet")]
pub use self::parquet_io::{dataset_from_parquet, read_parquet};
/// The `parquet` crate this module is built with.
#[cfg(feature = "parquet")]
pub use parquet as parquet_crate;

#[cfg(feature = "parquet")]
mod parquet_io {
    use std::fs::File;
    use std::path::Path;

    use arrow_array::RecordBatch;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use crate::drift::Dataset;
    use crate::error::{Result, TestingError};
    use crate::validate::{ValidationReport, Validator};

    /// Read every record batch of a Parquet file.
    ///
    /// # Errors
    /// [`TestingError::Io`] when the file cannot be opened; [`TestingError::InvalidArgument`]
    /// naming the file when it is not readable Parquet (a truncated footer, a bad page).
    pub fn read_parquet(path: impl AsRef<Path>) -> Result<Vec<RecordBatch>> {
        let path = path.as_ref();
        let bad = |e: &dyn std::fmt::Display| {
            TestingError::invalid(
                "parquet file",
                format!("{}: not readable parquet: {e}", path.display()),
            )
        };
        let file = File::open(path).map_err(|e| TestingError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(ParquetRecordBatchReaderBuilder::build)
            .map_err(|e| bad(&e))?;
        reader.map(|b| b.map_err(|e| bad(&e))).collect()
    }

    /// A dataset of every column of a Parquet file (see [`super::column_from_arrow`]).
    ///
    /// # Errors
    /// As [`read_parquet`] and [`super::column_from_arrow`].
    pub fn dataset_from_parquet(path: impl AsRef<Path>) -> Result<Dataset> {
        super::dataset_from_batches(&read_parquet(path)?)
    }

    impl Validator {
        /// Evaluate every expectation over the rows of a Parquet file.
        ///
        /// # Errors
        /// As [`read_parquet`] and [`Validator::validate`].
        pub fn validate_parquet(&self, path: impl AsRef<Path>) -> Result<ValidationReport> {
            self.validate_record_batches(&read_parquet(path)?)
        }
    }
}
