//! Validation column by column over Arrow record batches: each expectation reads its column's
//! arrays in place (primitive values straight from their buffers, strings as slices of the
//! array), with the results the row path gives for the same batches converted to JSON rows
//! ([`crate::arrow::rows_from_record_batch`]): an Arrow null, a NaN or infinite float and a
//! value of a type JSON has no mapping for are missing; integers are JSON integers, floats JSON
//! numbers, timestamps RFC 3339 strings.
//!
//! One difference: a column is known when a batch's schema has it, also when there are no rows
//! (the row path, which sees rows only, cannot know a column of an empty input).

use std::collections::HashMap;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrowPrimitiveType, PrimitiveArray, RecordBatch};
use arrow_schema::DataType;
use serde_json::Value;

use crate::check::CheckStatus;
use crate::error::Result;

use super::expectation::{Expectation, ValueType};
use super::result::{ExpectationResult, ValidationReport};
use super::validator::{
    Compiled, Tally, Validator, error_result, finish, in_bounds, is_column_map, num_key, value_ok,
};

/// One cell as the expectations see it (the JSON value the row path would build, without
/// building it for the common types).
#[derive(Clone)]
enum Cell<'a> {
    /// Null, NaN, infinite, or of a type without a JSON mapping.
    Missing,
    Int(i64),
    UInt(u64),
    /// Finite.
    Float(f64),
    Bool(bool),
    Str(&'a str),
    /// Timestamps (as strings), lists.
    Json(Value),
}

impl Cell<'_> {
    fn is_missing(&self) -> bool {
        matches!(self, Cell::Missing)
    }

    #[allow(clippy::cast_precision_loss)]
    fn as_f64(&self) -> Option<f64> {
        match self {
            Cell::Int(v) => Some(*v as f64),
            Cell::UInt(v) => Some(*v as f64),
            Cell::Float(v) => Some(*v),
            Cell::Json(v) => v.as_f64(),
            Cell::Missing | Cell::Bool(_) | Cell::Str(_) => None,
        }
    }

    fn to_value(&self) -> Value {
        match self {
            Cell::Missing => Value::Null,
            Cell::Int(v) => Value::from(*v),
            Cell::UInt(v) => Value::from(*v),
            Cell::Float(v) => serde_json::Number::from_f64(*v).map_or(Value::Null, Value::Number),
            Cell::Bool(b) => Value::Bool(*b),
            Cell::Str(s) => Value::String((*s).to_owned()),
            Cell::Json(v) => v.clone(),
        }
    }

    /// The key that uniqueness compares (numbers by their `f64` value, as the row path).
    fn key(&self) -> Key<'_> {
        match self {
            Cell::Missing => Key::Null,
            Cell::Int(_) | Cell::UInt(_) | Cell::Float(_) => {
                Key::Num(num_key(self.as_f64().unwrap_or(f64::NAN)))
            }
            Cell::Bool(b) => Key::Bool(*b),
            Cell::Str(s) => Key::Str(s),
            Cell::Json(v) => match v {
                Value::Bool(b) => Key::Bool(*b),
                Value::Number(n) => n
                    .as_f64()
                    .map_or_else(|| Key::Other(n.to_string()), |x| Key::Num(num_key(x))),
                Value::String(s) => Key::Str(s),
                other => Key::Other(other.to_string()),
            },
        }
    }
}

#[derive(PartialEq, Eq, Hash)]
enum Key<'a> {
    Null,
    Bool(bool),
    Num(u64),
    Str(&'a str),
    Other(String),
}

/// Call `f(row, cell)` for every row of `array`, in order.
fn for_each_cell<'a>(array: &'a dyn Array, f: &mut impl FnMut(usize, Cell<'a>)) {
    fn primitive<'a, T: ArrowPrimitiveType>(
        a: &PrimitiveArray<T>,
        cell: impl Fn(T::Native) -> Cell<'a>,
        f: &mut impl FnMut(usize, Cell<'a>),
    ) {
        let values = a.values();
        match a.nulls() {
            None => {
                for (i, v) in values.iter().enumerate() {
                    f(i, cell(*v));
                }
            }
            Some(nulls) => {
                for (i, v) in values.iter().enumerate() {
                    f(
                        i,
                        if nulls.is_null(i) {
                            Cell::Missing
                        } else {
                            cell(*v)
                        },
                    );
                }
            }
        }
    }
    fn float<'a>(v: f64) -> Cell<'a> {
        if v.is_finite() {
            Cell::Float(v)
        } else {
            Cell::Missing
        }
    }
    fn strings<'a>(it: impl Iterator<Item = Option<&'a str>>, f: &mut impl FnMut(usize, Cell<'a>)) {
        for (i, v) in it.enumerate() {
            f(i, v.map_or(Cell::Missing, Cell::Str));
        }
    }
    if let Some(dict) = array.as_any_dictionary_opt() {
        let values = cells(dict.values().as_ref());
        let keys = crate::arrow::dictionary_keys(dict);
        for (i, k) in keys.iter().enumerate() {
            let c = if array.is_valid(i) {
                values.get(*k).cloned().unwrap_or(Cell::Missing)
            } else {
                Cell::Missing
            };
            f(i, c);
        }
        return;
    }
    match array.data_type() {
        DataType::Float64 => primitive(array.as_primitive::<Float64Type>(), float, f),
        DataType::Float32 => primitive(
            array.as_primitive::<Float32Type>(),
            |v| float(f64::from(v)),
            f,
        ),
        DataType::Int64 => primitive(array.as_primitive::<Int64Type>(), Cell::Int, f),
        DataType::Int32 => primitive(
            array.as_primitive::<Int32Type>(),
            |v| Cell::Int(v.into()),
            f,
        ),
        DataType::Int16 => primitive(
            array.as_primitive::<Int16Type>(),
            |v| Cell::Int(v.into()),
            f,
        ),
        DataType::Int8 => primitive(array.as_primitive::<Int8Type>(), |v| Cell::Int(v.into()), f),
        DataType::UInt64 => primitive(array.as_primitive::<UInt64Type>(), Cell::UInt, f),
        DataType::UInt32 => primitive(
            array.as_primitive::<UInt32Type>(),
            |v| Cell::UInt(v.into()),
            f,
        ),
        DataType::UInt16 => primitive(
            array.as_primitive::<UInt16Type>(),
            |v| Cell::UInt(v.into()),
            f,
        ),
        DataType::UInt8 => primitive(
            array.as_primitive::<UInt8Type>(),
            |v| Cell::UInt(v.into()),
            f,
        ),
        DataType::Boolean => {
            for (i, v) in array.as_boolean().iter().enumerate() {
                f(i, v.map_or(Cell::Missing, Cell::Bool));
            }
        }
        DataType::Utf8 => strings(array.as_string::<i32>().iter(), f),
        DataType::LargeUtf8 => strings(array.as_string::<i64>().iter(), f),
        DataType::Utf8View => strings(array.as_string_view().iter(), f),
        // Timestamps, lists and the rest: the row path's JSON value.
        _ => {
            for i in 0..array.len() {
                f(
                    i,
                    match crate::arrow::json_at(array, i) {
                        Value::Null => Cell::Missing,
                        v => Cell::Json(v),
                    },
                );
            }
        }
    }
}

/// Every cell of an array (for dictionary values and the expectations that need them all).
fn cells(array: &dyn Array) -> Vec<Cell<'_>> {
    let mut out = Vec::with_capacity(array.len());
    for_each_cell(array, &mut |_, c| out.push(c));
    out
}

/// The chunks of a column, one per batch (`None` where a batch lacks the column), with the
/// row count of each batch.
struct Chunks<'a> {
    parts: Vec<(Option<&'a dyn Array>, usize)>,
}

impl<'a> Chunks<'a> {
    fn of(batches: &'a [RecordBatch], column: &str) -> Self {
        Self {
            parts: batches
                .iter()
                .map(|b| {
                    let j = b
                        .schema_ref()
                        .fields()
                        .iter()
                        .position(|f| f.name() == column);
                    (j.map(|j| b.column(j).as_ref()), b.num_rows())
                })
                .collect(),
        }
    }

    fn known(&self) -> bool {
        self.parts.iter().any(|(a, _)| a.is_some())
    }

    /// `f(row, cell)` over every row of every batch (global row indexes).
    fn for_each(&self, mut f: impl FnMut(usize, Cell<'a>)) {
        let mut offset = 0;
        for (array, rows) in &self.parts {
            match array {
                Some(a) => for_each_cell(*a, &mut |i, c| f(offset + i, c)),
                None => (0..*rows).for_each(|i| f(offset + i, Cell::Missing)),
            }
            offset += rows;
        }
    }

    fn cells(&self) -> Vec<Cell<'a>> {
        let mut out = Vec::new();
        self.for_each(|_, c| out.push(c));
        out
    }
}

/// Whether a present cell is as a column-map expectation expects ([`value_ok`] on the JSON
/// value, without building it for the common types).
fn cell_ok(e: &Expectation, compiled: &Compiled, cell: &Cell<'_>) -> bool {
    if let Cell::Json(v) = cell {
        return value_ok(e, compiled, v);
    }
    match e {
        Expectation::ColumnValuesToBeOfType { value_type, .. } => matches!(
            (value_type, cell),
            (ValueType::Integer, Cell::Int(_) | Cell::UInt(_))
                | (
                    ValueType::Number,
                    Cell::Int(_) | Cell::UInt(_) | Cell::Float(_)
                )
                | (ValueType::Bool, Cell::Bool(_))
                | (ValueType::String, Cell::Str(_))
        ),
        Expectation::ColumnValuesToBeBetween {
            min,
            max,
            strict_min,
            strict_max,
            ..
        } => cell
            .as_f64()
            .is_some_and(|x| in_bounds(x, *min, *max, *strict_min, *strict_max)),
        Expectation::ColumnValuesToBeInSet { .. } => match compiled {
            Compiled::Set {
                strings,
                numbers,
                bools,
                ..
            } => match cell {
                Cell::Str(s) => strings.contains(*s),
                Cell::Bool(b) => bools[usize::from(*b)],
                other => other
                    .as_f64()
                    .is_some_and(|x| numbers.contains(&num_key(x))),
            },
            _ => false,
        },
        Expectation::ColumnValuesToMatchRegex { .. } => match (compiled, cell) {
            (Compiled::Regex(re), Cell::Str(s)) => re.is_match(s),
            _ => false,
        },
        _ => true,
    }
}

/// One expectation over the batches.
fn evaluate(
    e: &Expectation,
    compiled: &Compiled,
    batches: &[RecordBatch],
    n: usize,
) -> ExpectationResult {
    if let Expectation::TableRowCountToBeBetween { min, max } = e {
        let count = n as u64;
        let ok = min.is_none_or(|lo| count >= lo) && max.is_none_or(|hi| count <= hi);
        let mut r = finish(e, Tally::new(n));
        r.status = if ok {
            CheckStatus::Passed
        } else {
            CheckStatus::Failed
        };
        r.observed_value = Some(count);
        return r;
    }
    let columns: Vec<Chunks<'_>> = e.columns().iter().map(|c| Chunks::of(batches, c)).collect();
    if let Some((c, _)) = e.columns().iter().zip(&columns).find(|(_, ch)| !ch.known()) {
        let mut res = error_result(e, n, format!("column {c} not found in any of {n} rows"));
        if let Expectation::ColumnToExist { .. } = e {
            res.status = CheckStatus::Failed;
            res.error = None;
        }
        return res;
    }
    let mut t = Tally::new(n);
    match e {
        Expectation::ColumnToExist { .. } | Expectation::TableRowCountToBeBetween { .. } => {}
        Expectation::ColumnValuesToNotBeNull { .. } => {
            columns[0].for_each(|i, c| {
                if c.is_missing() {
                    t.unexpected(i, None);
                }
            });
        }
        Expectation::ColumnValuesToBeUnique { .. } => {
            let cells = columns[0].cells();
            let mut counts: HashMap<Key<'_>, usize> = HashMap::new();
            for c in &cells {
                if c.is_missing() {
                    t.missing += 1;
                } else {
                    *counts.entry(c.key()).or_insert(0) += 1;
                }
            }
            for (i, c) in cells.iter().enumerate() {
                if !c.is_missing() && counts.get(&c.key()).copied().unwrap_or(0) > 1 {
                    t.unexpected(i, Some(&c.to_value()));
                }
            }
        }
        Expectation::CompoundColumnsToBeUnique { columns: names, .. } => {
            let cols: Vec<Vec<Cell<'_>>> = columns.iter().map(Chunks::cells).collect();
            let key = |i: usize| -> Option<Vec<Key<'_>>> {
                if cols.iter().all(|c| c[i].is_missing()) {
                    None
                } else {
                    Some(cols.iter().map(|c| c[i].key()).collect())
                }
            };
            let mut counts: HashMap<Vec<Key<'_>>, usize> = HashMap::new();
            for i in 0..n {
                match key(i) {
                    None => t.missing += 1,
                    Some(k) => *counts.entry(k).or_insert(0) += 1,
                }
            }
            for i in 0..n {
                if let Some(k) = key(i)
                    && counts.get(&k).copied().unwrap_or(0) > 1
                {
                    let shown: serde_json::Map<String, Value> = names
                        .iter()
                        .zip(&cols)
                        .map(|(name, c)| (name.clone(), c[i].to_value()))
                        .collect();
                    t.unexpected(i, Some(&Value::Object(shown)));
                }
            }
        }
        _ if is_column_map(e) => {
            columns[0].for_each(|i, c| {
                if c.is_missing() {
                    t.missing += 1;
                } else if !cell_ok(e, compiled, &c) {
                    t.unexpected(i, Some(&c.to_value()));
                }
            });
        }
        _ => {}
    }
    finish(e, t)
}

impl Validator {
    /// Evaluate every expectation over the rows of some record batches, column by column:
    /// each expectation reads its column's arrays in place (see [`crate::arrow`] for the value
    /// mapping). The results are those of [`Validator::validate`] over
    /// [`crate::arrow::rows_from_record_batch`]'s rows, except that a column of the schema is
    /// known even when there are no rows. Expectations run on several threads for large inputs.
    ///
    /// # Errors
    /// None today (the result type leaves room for checks of the input).
    pub fn validate_record_batches(&self, batches: &[RecordBatch]) -> Result<ValidationReport> {
        let n: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let work: Vec<(&Expectation, &Compiled)> = self
            .expectations
            .iter()
            .zip(&self.compiled)
            .map(|(e, c)| (e, &c.0))
            .collect();
        let results = crate::par::map(&work, n >= 10_000, |(e, c)| evaluate(e, c, batches, n));
        Ok(ValidationReport {
            row_count: n,
            results,
        })
    }
}
