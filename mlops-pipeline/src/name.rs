//! Step names: the validated, cheaply cloned name of a pipeline step.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{PipelineError, Result};

/// Longest step name accepted.
pub const MAX_STEP_NAME_LEN: usize = 128;

/// A step's name (cheap to clone: the text is shared): 1 to [`MAX_STEP_NAME_LEN`] characters
/// of ASCII letters, digits, `_`, `-` and `.` (names appear in cache keys, file names and
/// reports).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StepName(Arc<str>);

impl StepName {
    /// The name as a string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StepName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for StepName {
    type Err = PipelineError;
    fn from_str(s: &str) -> Result<Self> {
        let ok = !s.is_empty()
            && s.len() <= MAX_STEP_NAME_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
            && s != "."
            && s != "..";
        if ok {
            Ok(Self(Arc::from(s)))
        } else {
            Err(PipelineError::invalid(
                "step name",
                format!(
                    "{s:?} must be 1 to {MAX_STEP_NAME_LEN} ASCII letters, digits, '_', '-' or '.'"
                ),
            ))
        }
    }
}

impl TryFrom<String> for StepName {
    type Error = PipelineError;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<StepName> for String {
    fn from(n: StepName) -> Self {
        n.0.as_ref().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_names() {
        for ok in ["ingest", "train-v2", "eval.metrics", "a_b"] {
            ok.parse::<StepName>().unwrap();
        }
        for bad in ["", ".", "..", "a/b", "a b", "ü", &"a".repeat(129)] {
            let err = bad.parse::<StepName>().unwrap_err();
            assert!(err.to_string().contains("step name"), "{err}");
        }
    }
}
