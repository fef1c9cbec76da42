//! Run inputs as MLflow has them (`mlflow.log_input`): a [`Dataset`] (name, digest, source type,
//! source URI, schema, profile) logged against a run with an [`InputContext`] (`training`,
//! `evaluation`, ...).
//!
//! A run holds one input per dataset `(name, digest)`, as MLflow's stores do. Logging the same
//! input again is a no-op; logging the same dataset with another context is a
//! [`TrackingError::Conflict`] (an MLflow server would silently keep the first context: every
//! backend here refuses instead, so that no context is lost without a word).
//!
//! What a dataset must look like (checked by [`DatasetInput::validate`] before anything is
//! stored; the error names the field):
//! - `name`: 1 to 500 characters, no control characters;
//! - `digest`: 8 to 36 lower-case hex digits (MLflow's column holds 36 characters; its own
//!   digests are 8 hex digits). For a `dvc://<path>@<sha256>` source the full 64-hex sha256 is
//!   in the URI and the digest must be its first [`DVC_DIGEST_LEN`] hex digits, so that a
//!   content digest is never truncated silently;
//! - `source_type`: 1 to 36 characters of `a-z`, `0-9`, `_` (`local`, `s3`, `dvc`, `features`);
//! - `source`: a URI with a scheme (`scheme:rest`, RFC 3986 scheme characters), no whitespace or
//!   control characters, at most 65,535 bytes;
//! - `schema`, `profile` (optional): JSON texts, at most 1 MiB and 16 MiB;
//! - `context`: one of [`InputContext::KNOWN`].
//!
//! ```
//! use mlops_tracking::{inputs::Dataset, inputs::DatasetInput, inputs::InputContext};
//!
//! let sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
//! let input = DatasetInput::new(
//!     Dataset::new("customers", &sha[..32], "dvc", format!("dvc://data/customers.csv@{sha}"))
//!         .with_profile(r#"{"num_rows": 1000}"#),
//!     InputContext::Training,
//! );
//! input.validate()?;
//! let bad = DatasetInput::new(Dataset::new("x", "not-hex", "local", "file:///x"), InputContext::Training);
//! assert!(bad.validate().unwrap_err().to_string().contains("dataset digest"));
//! # Ok::<(), mlops_tracking::TrackingError>(())
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Result, TrackingError};

/// MLflow's input tag holding a dataset input's context.
pub const TAG_DATASET_CONTEXT: &str = "mlflow.data.context";
/// Longest dataset name MLflow accepts.
pub const MAX_DATASET_NAME_LEN: usize = 500;
/// Longest dataset digest MLflow accepts.
pub const MAX_DATASET_DIGEST_LEN: usize = 36;
/// Shortest dataset digest accepted when logging.
pub const MIN_DATASET_DIGEST_LEN: usize = 8;
/// How many hex digits of a `dvc://` source's sha256 the digest holds.
pub const DVC_DIGEST_LEN: usize = 32;
/// Longest source URI MLflow accepts (bytes).
pub const MAX_DATASET_SOURCE_LEN: usize = 65_535;
/// Longest schema MLflow accepts (bytes).
pub const MAX_DATASET_SCHEMA_LEN: usize = 1_048_575;
/// Longest profile MLflow accepts (bytes).
pub const MAX_DATASET_PROFILE_LEN: usize = 16_777_215;
/// Most inputs one [`log_inputs`](crate::TrackingBackend::log_inputs) call may carry.
pub const MAX_INPUTS_PER_CALL: usize = 1000;

/// A dataset as MLflow describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dataset {
    /// The dataset's name.
    pub name: String,
    /// Its digest (see the [module docs](self) for what is accepted).
    pub digest: String,
    /// The kind of source (`local`, `s3`, `dvc`, ...).
    pub source_type: String,
    /// Where it comes from, as a URI (`dvc://data/x.csv@<sha256>`, `s3://bucket/key`).
    pub source: String,
    /// Its schema, as JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Its profile (row counts, ...), as JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

impl Dataset {
    /// A dataset without schema and profile.
    pub fn new(
        name: impl Into<String>,
        digest: impl Into<String>,
        source_type: impl Into<String>,
        source: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            digest: digest.into(),
            source_type: source_type.into(),
            source: source.into(),
            schema: None,
            profile: None,
        }
    }

    /// Set the schema (JSON text).
    #[must_use]
    pub fn with_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// Set the profile (JSON text).
    #[must_use]
    pub fn with_profile(mut self, profile: impl Into<String>) -> Self {
        self.profile = Some(profile.into());
        self
    }

    /// Check every field (see the [module docs](self)).
    ///
    /// # Errors
    /// `InvalidArgument` naming the field (`dataset name`, `dataset digest`, ...).
    pub fn validate(&self) -> Result<()> {
        let name = &self.name;
        if name.is_empty() || name.chars().count() > MAX_DATASET_NAME_LEN {
            return Err(TrackingError::invalid(
                "dataset name",
                format!("{name:?} must have 1 to {MAX_DATASET_NAME_LEN} characters"),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(TrackingError::invalid(
                "dataset name",
                format!("{name:?} holds a control character"),
            ));
        }
        let digest = &self.digest;
        if !(MIN_DATASET_DIGEST_LEN..=MAX_DATASET_DIGEST_LEN).contains(&digest.len())
            || !is_lower_hex(digest)
        {
            return Err(TrackingError::invalid(
                "dataset digest",
                format!(
                    "{digest:?} of dataset {name:?} is not {MIN_DATASET_DIGEST_LEN} to \
                     {MAX_DATASET_DIGEST_LEN} lower-case hex digits"
                ),
            ));
        }
        let st = &self.source_type;
        if st.is_empty()
            || st.len() > 36
            || !st
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(TrackingError::invalid(
                "dataset source type",
                format!("{st:?} of dataset {name:?} is not 1 to 36 characters of a-z, 0-9, _"),
            ));
        }
        check_source_uri(&self.source)
            .map_err(|why| TrackingError::invalid("dataset source", why))?;
        if let Some(rest) = self.source.strip_prefix("dvc://") {
            let sha = rest.rsplit_once('@').map_or("", |(_, d)| d);
            if sha.len() != 64 || !is_lower_hex(sha) {
                return Err(TrackingError::invalid(
                    "dataset source",
                    format!(
                        "{:?} of dataset {name:?} does not end in `@<sha256>` (64 lower-case hex \
                         digits)",
                        self.source
                    ),
                ));
            }
            if digest != &sha[..DVC_DIGEST_LEN] {
                return Err(TrackingError::invalid(
                    "dataset digest",
                    format!(
                        "{digest:?} of dataset {name:?} is not the first {DVC_DIGEST_LEN} hex \
                         digits of its source's sha256 {sha}"
                    ),
                ));
            }
        }
        check_json(
            "dataset schema",
            self.schema.as_deref(),
            MAX_DATASET_SCHEMA_LEN,
        )?;
        check_json(
            "dataset profile",
            self.profile.as_deref(),
            MAX_DATASET_PROFILE_LEN,
        )?;
        Ok(())
    }
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Why `uri` is not a URI with a scheme.
fn check_source_uri(uri: &str) -> std::result::Result<(), String> {
    if uri.len() > MAX_DATASET_SOURCE_LEN {
        return Err(format!(
            "a source URI of {} bytes is over {MAX_DATASET_SOURCE_LEN}",
            uri.len()
        ));
    }
    let Some((scheme, rest)) = uri.split_once(':') else {
        return Err(format!("{uri:?} is not a URI (`scheme:...`)"));
    };
    let mut chars = scheme.chars();
    let scheme_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return Err(format!("{uri:?} does not start with a URI scheme"));
    }
    if rest.is_empty() || rest == "//" {
        return Err(format!("{uri:?} names nothing after its scheme"));
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{uri:?} holds whitespace or a control character"));
    }
    Ok(())
}

fn check_json(what: &'static str, text: Option<&str>, max: usize) -> Result<()> {
    let Some(text) = text else { return Ok(()) };
    if text.len() > max {
        return Err(TrackingError::invalid(
            what,
            format!("{} bytes is over {max}", text.len()),
        ));
    }
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map(|_| ())
        .map_err(|e| TrackingError::invalid(what, format!("not JSON: {e}")))
}

/// Why a run read a dataset (MLflow's `mlflow.data.context` input tag).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
#[non_exhaustive]
pub enum InputContext {
    /// Training data.
    Training,
    /// Validation data (model selection, early stopping).
    Validation,
    /// Held-out test data.
    Testing,
    /// Evaluation data (reports, gates).
    Evaluation,
    /// A context another client wrote (read back from a server or file); never accepted when
    /// logging.
    Other(String),
}

impl InputContext {
    /// The contexts accepted when logging.
    pub const KNOWN: &'static [&'static str] = &["training", "validation", "testing", "evaluation"];

    /// The context's name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Training => "training",
            Self::Validation => "validation",
            Self::Testing => "testing",
            Self::Evaluation => "evaluation",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for InputContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for InputContext {
    type Err = TrackingError;
    /// One of [`InputContext::KNOWN`].
    fn from_str(s: &str) -> Result<Self> {
        match Self::from(s.to_owned()) {
            Self::Other(s) => Err(TrackingError::invalid(
                "input context",
                format!(
                    "unknown context {s:?}: expected one of {}",
                    Self::KNOWN.join(", ")
                ),
            )),
            known => Ok(known),
        }
    }
}

impl From<String> for InputContext {
    /// Any text: known names become their variant, the rest [`InputContext::Other`].
    fn from(s: String) -> Self {
        match s.as_str() {
            "training" => Self::Training,
            "validation" => Self::Validation,
            "testing" => Self::Testing,
            "evaluation" => Self::Evaluation,
            _ => Self::Other(s),
        }
    }
}

impl From<InputContext> for String {
    fn from(c: InputContext) -> Self {
        match c {
            InputContext::Other(s) => s,
            known => known.as_str().to_owned(),
        }
    }
}

/// A dataset logged against a run, with its context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetInput {
    /// The dataset.
    pub dataset: Dataset,
    /// Why the run read it.
    pub context: InputContext,
}

impl DatasetInput {
    /// An input.
    #[must_use]
    pub fn new(dataset: Dataset, context: InputContext) -> Self {
        Self { dataset, context }
    }

    /// Check the dataset and the context (see the [module docs](self)).
    ///
    /// # Errors
    /// `InvalidArgument` naming the field.
    pub fn validate(&self) -> Result<()> {
        self.dataset.validate()?;
        if let InputContext::Other(s) = &self.context {
            return Err(TrackingError::invalid(
                "input context",
                format!(
                    "unknown context {s:?} for dataset {:?}: expected one of {}",
                    self.dataset.name,
                    InputContext::KNOWN.join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// Whether this is the same dataset (`name`, `digest`) as `other`.
    #[must_use]
    pub fn same_dataset(&self, other: &Self) -> bool {
        self.dataset.name == other.dataset.name && self.dataset.digest == other.dataset.digest
    }
}

/// Validate a call's inputs and return the ones `existing` does not hold yet (each once), in
/// order.
///
/// # Errors
/// `InvalidArgument` for a bad input or too many; `Conflict` for a dataset already logged (or
/// listed twice) with another context or description.
pub(crate) fn new_inputs(
    run: &str,
    existing: &[DatasetInput],
    inputs: &[DatasetInput],
) -> Result<Vec<DatasetInput>> {
    if inputs.len() > MAX_INPUTS_PER_CALL {
        return Err(TrackingError::invalid(
            "run inputs",
            format!(
                "{} inputs for run {run} is over {MAX_INPUTS_PER_CALL}",
                inputs.len()
            ),
        ));
    }
    for i in inputs {
        i.validate()?;
    }
    let mut out: Vec<DatasetInput> = Vec::new();
    for i in inputs {
        match existing.iter().chain(&out).find(|o| o.same_dataset(i)) {
            Some(o) if o == i => {}
            Some(o) => {
                return Err(TrackingError::Conflict(format!(
                    "dataset {:?} (digest {}) is already an input of run {run} with context {} \
                     and source {:?}; cannot log it with context {} and source {:?}",
                    i.dataset.name,
                    i.dataset.digest,
                    o.context,
                    o.dataset.source,
                    i.context,
                    i.dataset.source
                )));
            }
            None => out.push(i.clone()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn ok() -> Dataset {
        Dataset::new("d", "0123abcd", "local", "file:///tmp/d.csv")
    }

    #[test]
    fn bad_fields_are_named() {
        let cases = [
            (
                Dataset {
                    name: String::new(),
                    ..ok()
                },
                "dataset name",
            ),
            (
                Dataset {
                    name: "a\nb".into(),
                    ..ok()
                },
                "dataset name",
            ),
            (
                Dataset {
                    digest: "ABCDEF12".into(),
                    ..ok()
                },
                "dataset digest",
            ),
            (
                Dataset {
                    digest: "abc".into(),
                    ..ok()
                },
                "dataset digest",
            ),
            (
                Dataset {
                    digest: SHA.into(),
                    ..ok()
                },
                "dataset digest",
            ),
            (
                Dataset {
                    source_type: "S3".into(),
                    ..ok()
                },
                "dataset source type",
            ),
            (
                Dataset {
                    source: "no scheme".into(),
                    ..ok()
                },
                "dataset source",
            ),
            (
                Dataset {
                    source: "/abs/path".into(),
                    ..ok()
                },
                "dataset source",
            ),
            (
                Dataset {
                    source: "s3://".into(),
                    ..ok()
                },
                "dataset source",
            ),
            (
                Dataset {
                    source: "s3://a b".into(),
                    ..ok()
                },
                "dataset source",
            ),
            (
                Dataset {
                    source: "1x://a".into(),
                    ..ok()
                },
                "dataset source",
            ),
            (ok().with_schema("{not json"), "dataset schema"),
            (ok().with_profile("[1,"), "dataset profile"),
            (
                Dataset::new("d", &SHA[..32], "dvc", "dvc://data/d.csv@abc"),
                "dataset source",
            ),
            (
                Dataset::new("d", "0123abcd", "dvc", format!("dvc://data/d.csv@{SHA}")),
                "dataset digest",
            ),
        ];
        for (d, field) in cases {
            let err = d.validate().unwrap_err();
            assert!(
                matches!(&err, TrackingError::InvalidArgument { what, .. } if *what == field),
                "{d:?}: {err}"
            );
        }
        ok().validate().unwrap();
        Dataset::new("d", &SHA[..32], "dvc", format!("dvc://data/d.csv@{SHA}"))
            .with_schema(r#"{"mlflow_colspec": []}"#)
            .validate()
            .unwrap();
        Dataset::new("d", "0123abcd", "s3", "s3://bucket/key.parquet")
            .validate()
            .unwrap();
    }

    #[test]
    fn contexts_parse_strictly_and_read_leniently() {
        assert_eq!(
            "training".parse::<InputContext>().unwrap(),
            InputContext::Training
        );
        let err = "train".parse::<InputContext>().unwrap_err();
        assert!(err.to_string().contains("input context"), "{err}");
        let read: InputContext = serde_json::from_str("\"train\"").unwrap();
        assert_eq!(read, InputContext::Other("train".into()));
        let input = DatasetInput::new(ok(), read);
        assert!(
            input
                .validate()
                .unwrap_err()
                .to_string()
                .contains("unknown context")
        );
    }

    #[test]
    fn repeated_inputs_are_kept_once_and_other_contexts_conflict() {
        let a = DatasetInput::new(ok(), InputContext::Training);
        let new = new_inputs("r", &[], &[a.clone(), a.clone()]).unwrap();
        assert_eq!(new, vec![a.clone()]);
        assert!(
            new_inputs("r", std::slice::from_ref(&a), std::slice::from_ref(&a))
                .unwrap()
                .is_empty()
        );
        let b = DatasetInput::new(ok(), InputContext::Evaluation);
        let err = new_inputs("r", std::slice::from_ref(&a), std::slice::from_ref(&b)).unwrap_err();
        assert!(matches!(err, TrackingError::Conflict(_)), "{err}");
        assert!(new_inputs("r", &[], &[a, b]).is_err());
    }
}
