//! Data validation over every row, with Great Expectations' expectations and result format.

#[cfg(feature = "arrow")]
mod columnar;
mod expectation;
mod result;
mod validator;

pub use expectation::{Expectation, PARTIAL_UNEXPECTED, Row, ValueType};
pub use result::{ExpectationResult, UnexpectedValue, ValidationReport};
pub use validator::Validator;
