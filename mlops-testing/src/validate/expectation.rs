//! Rows and expectations: what a row is, value types, and the expectations a validator checks.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How many unexpected values (with their row indexes) a result lists, as Great Expectations'
/// `partial_unexpected_list`.
pub const PARTIAL_UNEXPECTED: usize = 20;

/// A row: named fields holding JSON values. Implemented for JSON objects and maps.
pub trait Row {
    /// The value of `column`, `None` if the row has no such field.
    fn field(&self, column: &str) -> Option<&Value>;
    /// Whether this row is a record (a JSON value that is not an object is not).
    fn is_record(&self) -> bool {
        true
    }
}

impl Row for Value {
    fn field(&self, column: &str) -> Option<&Value> {
        self.as_object().and_then(|o| o.get(column))
    }
    fn is_record(&self) -> bool {
        self.is_object()
    }
}

impl Row for serde_json::Map<String, Value> {
    fn field(&self, column: &str) -> Option<&Value> {
        self.get(column)
    }
}

impl<S: std::hash::BuildHasher> Row for HashMap<String, Value, S> {
    fn field(&self, column: &str) -> Option<&Value> {
        self.get(column)
    }
}

impl Row for std::collections::BTreeMap<String, Value> {
    fn field(&self, column: &str) -> Option<&Value> {
        self.get(column)
    }
}

/// A JSON value type for [`Expectation::ColumnValuesToBeOfType`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    /// `true` / `false`.
    Bool,
    /// A number without fractional part representable as `i64` or `u64`.
    Integer,
    /// Any number.
    Number,
    /// A string.
    String,
    /// An array.
    Array,
    /// An object.
    Object,
}

impl ValueType {
    pub(super) fn matches(self, v: &Value) -> bool {
        match self {
            Self::Bool => v.is_boolean(),
            Self::Integer => v.is_i64() || v.is_u64(),
            Self::Number => v.is_number(),
            Self::String => v.is_string(),
            Self::Array => v.is_array(),
            Self::Object => v.is_object(),
        }
    }
}

/// An expectation, by Great Expectations' names. Column-map expectations take an optional
/// `mostly`: the fraction of non-missing values that must be as expected (default: all).
/// Missing values (`null` or an absent field) are not evaluated by column-map expectations,
/// except by `ColumnValuesToNotBeNull`, whose unexpected values they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
#[non_exhaustive]
pub enum Expectation {
    /// `expect_column_to_exist`: some row has the field.
    ColumnToExist {
        /// Column name.
        column: String,
    },
    /// `expect_column_values_to_not_be_null`.
    ColumnValuesToNotBeNull {
        /// Column name.
        column: String,
        /// Required fraction.
        mostly: Option<f64>,
    },
    /// `expect_column_values_to_be_of_type`.
    ColumnValuesToBeOfType {
        /// Column name.
        column: String,
        /// The JSON type.
        value_type: ValueType,
        /// Required fraction.
        mostly: Option<f64>,
    },
    /// `expect_column_values_to_be_between`: numbers within `[min, max]` (bounds optional,
    /// exclusive when `strict_*`). Non-numbers are unexpected.
    ColumnValuesToBeBetween {
        /// Column name.
        column: String,
        /// Lower bound.
        min: Option<f64>,
        /// Upper bound.
        max: Option<f64>,
        /// Exclude the lower bound.
        strict_min: bool,
        /// Exclude the upper bound.
        strict_max: bool,
        /// Required fraction.
        mostly: Option<f64>,
    },
    /// `expect_column_values_to_be_in_set` (numbers compare by value: `1` equals `1.0`).
    ColumnValuesToBeInSet {
        /// Column name.
        column: String,
        /// Allowed values.
        values: Vec<Value>,
        /// Required fraction.
        mostly: Option<f64>,
    },
    /// `expect_column_values_to_match_regex`: strings in which the pattern is found (search, as
    /// Python's `re.search`; anchor with `^...$` for a full match). Non-strings are unexpected.
    ColumnValuesToMatchRegex {
        /// Column name.
        column: String,
        /// The pattern (Rust `regex` syntax).
        regex: String,
        /// Required fraction.
        mostly: Option<f64>,
    },
    /// `expect_column_values_to_be_unique`: every occurrence of a repeated value is unexpected.
    ColumnValuesToBeUnique {
        /// Column name.
        column: String,
        /// Required fraction.
        mostly: Option<f64>,
    },
    /// `expect_compound_columns_to_be_unique`: rows whose combination of values repeats are
    /// unexpected; rows where all the columns are missing are skipped.
    CompoundColumnsToBeUnique {
        /// Column names.
        columns: Vec<String>,
        /// Required fraction.
        mostly: Option<f64>,
    },
    /// `expect_table_row_count_to_be_between` (inclusive bounds).
    TableRowCountToBeBetween {
        /// Lower bound.
        min: Option<u64>,
        /// Upper bound.
        max: Option<u64>,
    },
}

impl Expectation {
    /// `expect_column_to_exist`.
    #[must_use]
    pub fn column_to_exist(column: impl Into<String>) -> Self {
        Self::ColumnToExist {
            column: column.into(),
        }
    }

    /// `expect_column_values_to_not_be_null`.
    #[must_use]
    pub fn not_null(column: impl Into<String>) -> Self {
        Self::ColumnValuesToNotBeNull {
            column: column.into(),
            mostly: None,
        }
    }

    /// `expect_column_values_to_be_of_type`.
    #[must_use]
    pub fn of_type(column: impl Into<String>, value_type: ValueType) -> Self {
        Self::ColumnValuesToBeOfType {
            column: column.into(),
            value_type,
            mostly: None,
        }
    }

    /// `expect_column_values_to_be_between` with inclusive bounds.
    #[must_use]
    pub fn between(column: impl Into<String>, min: Option<f64>, max: Option<f64>) -> Self {
        Self::ColumnValuesToBeBetween {
            column: column.into(),
            min,
            max,
            strict_min: false,
            strict_max: false,
            mostly: None,
        }
    }

    /// `expect_column_values_to_be_in_set`.
    #[must_use]
    pub fn in_set(column: impl Into<String>, values: impl IntoIterator<Item = Value>) -> Self {
        Self::ColumnValuesToBeInSet {
            column: column.into(),
            values: values.into_iter().collect(),
            mostly: None,
        }
    }

    /// `expect_column_values_to_match_regex`.
    #[must_use]
    pub fn matches_regex(column: impl Into<String>, regex: impl Into<String>) -> Self {
        Self::ColumnValuesToMatchRegex {
            column: column.into(),
            regex: regex.into(),
            mostly: None,
        }
    }

    /// `expect_column_values_to_be_unique`.
    #[must_use]
    pub fn unique(column: impl Into<String>) -> Self {
        Self::ColumnValuesToBeUnique {
            column: column.into(),
            mostly: None,
        }
    }

    /// `expect_compound_columns_to_be_unique`.
    #[must_use]
    pub fn compound_unique<S: Into<String>>(columns: impl IntoIterator<Item = S>) -> Self {
        Self::CompoundColumnsToBeUnique {
            columns: columns.into_iter().map(Into::into).collect(),
            mostly: None,
        }
    }

    /// `expect_table_row_count_to_be_between`.
    #[must_use]
    pub fn row_count_between(min: Option<u64>, max: Option<u64>) -> Self {
        Self::TableRowCountToBeBetween { min, max }
    }

    /// Set `mostly` (no effect on table and column-existence expectations).
    #[must_use]
    pub fn mostly(mut self, fraction: f64) -> Self {
        match &mut self {
            Self::ColumnValuesToNotBeNull { mostly, .. }
            | Self::ColumnValuesToBeOfType { mostly, .. }
            | Self::ColumnValuesToBeBetween { mostly, .. }
            | Self::ColumnValuesToBeInSet { mostly, .. }
            | Self::ColumnValuesToMatchRegex { mostly, .. }
            | Self::ColumnValuesToBeUnique { mostly, .. }
            | Self::CompoundColumnsToBeUnique { mostly, .. } => *mostly = Some(fraction),
            Self::ColumnToExist { .. } | Self::TableRowCountToBeBetween { .. } => {}
        }
        self
    }

    /// Make the bounds of a `ColumnValuesToBeBetween` exclusive.
    #[must_use]
    pub fn strict(mut self, strict_min_bound: bool, strict_max_bound: bool) -> Self {
        if let Self::ColumnValuesToBeBetween {
            strict_min,
            strict_max,
            ..
        } = &mut self
        {
            *strict_min = strict_min_bound;
            *strict_max = strict_max_bound;
        }
        self
    }

    /// Great Expectations' name (`expect_column_values_to_not_be_null`, ...).
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::ColumnToExist { .. } => "expect_column_to_exist",
            Self::ColumnValuesToNotBeNull { .. } => "expect_column_values_to_not_be_null",
            Self::ColumnValuesToBeOfType { .. } => "expect_column_values_to_be_of_type",
            Self::ColumnValuesToBeBetween { .. } => "expect_column_values_to_be_between",
            Self::ColumnValuesToBeInSet { .. } => "expect_column_values_to_be_in_set",
            Self::ColumnValuesToMatchRegex { .. } => "expect_column_values_to_match_regex",
            Self::ColumnValuesToBeUnique { .. } => "expect_column_values_to_be_unique",
            Self::CompoundColumnsToBeUnique { .. } => "expect_compound_columns_to_be_unique",
            Self::TableRowCountToBeBetween { .. } => "expect_table_row_count_to_be_between",
        }
    }

    pub(super) fn columns(&self) -> Vec<&str> {
        match self {
            Self::ColumnToExist { column }
            | Self::ColumnValuesToNotBeNull { column, .. }
            | Self::ColumnValuesToBeOfType { column, .. }
            | Self::ColumnValuesToBeBetween { column, .. }
            | Self::ColumnValuesToBeInSet { column, .. }
            | Self::ColumnValuesToMatchRegex { column, .. }
            | Self::ColumnValuesToBeUnique { column, .. } => vec![column.as_str()],
            Self::CompoundColumnsToBeUnique { columns, .. } => {
                columns.iter().map(String::as_str).collect()
            }
            Self::TableRowCountToBeBetween { .. } => Vec::new(),
        }
    }

    pub(super) fn mostly_value(&self) -> Option<f64> {
        match self {
            Self::ColumnValuesToNotBeNull { mostly, .. }
            | Self::ColumnValuesToBeOfType { mostly, .. }
            | Self::ColumnValuesToBeBetween { mostly, .. }
            | Self::ColumnValuesToBeInSet { mostly, .. }
            | Self::ColumnValuesToMatchRegex { mostly, .. }
            | Self::ColumnValuesToBeUnique { mostly, .. }
            | Self::CompoundColumnsToBeUnique { mostly, .. } => *mostly,
            Self::ColumnToExist { .. } | Self::TableRowCountToBeBetween { .. } => None,
        }
    }

    /// A display name: type and columns, e.g. `expect_column_values_to_be_unique(id)`.
    #[must_use]
    pub fn display_name(&self) -> String {
        format!("{}({})", self.type_name(), self.columns().join(", "))
    }
}
