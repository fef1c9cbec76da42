//! The crate's error type.

use std::path::PathBuf;

use crate::name::StepName;

/// Result alias used throughout the crate.
pub type Result<T, E = PipelineError> = std::result::Result<T, E>;

/// What a [`PipelineError::NotFound`] or [`PipelineError::AlreadyExists`] names. `Display` gives
/// the lower-case noun used in messages (`step not found: train`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EntityKind {
    /// A step of the pipeline.
    Step,
    /// The output of a step (the step exists but produced no output).
    StepOutput,
    /// A parameter of a step (`step.name`).
    Parameter,
}

impl std::fmt::Display for EntityKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Step => "step",
            Self::StepOutput => "output of step",
            Self::Parameter => "parameter",
        })
    }
}

/// Everything that can go wrong in `mlops-pipeline`.
///
/// Messages are lower-case, name the id, key or file involved, and never end with a period.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// A step, a step's output or a step's parameter that does not exist.
    #[error("{kind} not found: {id}")]
    NotFound {
        /// What was looked up.
        kind: EntityKind,
        /// The id or name that was looked up.
        id: String,
    },
    /// Declaring a step whose name is taken.
    #[error("{kind} already exists: {id}")]
    AlreadyExists {
        /// What was declared.
        kind: EntityKind,
        /// The name or id that is taken.
        id: String,
    },
    /// Bad input: an invalid step name, a cycle, an unknown dependency.
    #[error("invalid {what}: {detail}")]
    InvalidArgument {
        /// What was invalid (`"step name"`, `"dependency"`, ...).
        what: &'static str,
        /// Why, naming the offending value.
        detail: String,
    },
    /// A file of the store is damaged.
    #[error("corrupt file {}: {detail}", path.display())]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// An I/O error on a file of the store.
    #[error("i/o error on {}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The pipeline has no steps.
    #[error("pipeline {pipeline} has no steps")]
    EmptyPipeline {
        /// The pipeline's name.
        pipeline: String,
    },
    /// A step depends on a step the pipeline does not have.
    #[error("step {step} depends on unknown step {dependency}")]
    UnknownDependency {
        /// The step that declares the dependency.
        step: StepName,
        /// The missing dependency, as written.
        dependency: String,
    },
    /// The dependencies form a cycle (a self-dependency is a cycle of one step).
    #[error("dependency cycle: {}", cycle_text(steps))]
    Cycle {
        /// The steps of the cycle in execution order: each step depends on the one before it,
        /// and the first depends on the last (the message closes the loop: `a -> b -> a`).
        steps: Vec<StepName>,
    },
    /// A step read the output of a step that is not one of its direct dependencies.
    #[error("step {step} reads the output of {requested}, which is not one of its dependencies")]
    NotUpstream {
        /// The reading step.
        step: StepName,
        /// The step whose output was requested.
        requested: String,
    },
    /// A step read an upstream output, or a parameter, as the wrong type.
    #[error("step {step} reads {what} as {expected}, but it is {actual}")]
    TypeMismatch {
        /// The reading step.
        step: StepName,
        /// What was read (`"the output of train"`, `"parameter lr"`).
        what: String,
        /// The type the reader asked for.
        expected: String,
        /// The type (or JSON value) that is there.
        actual: String,
    },
    /// A file of the store could not be (de)serialized.
    #[error("cannot (de)serialize {}: {source}", path.display())]
    Serde {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
}

impl PipelineError {
    /// Shorthand for [`PipelineError::InvalidArgument`].
    pub(crate) fn invalid(what: &'static str, detail: impl Into<String>) -> Self {
        Self::InvalidArgument {
            what,
            detail: detail.into(),
        }
    }
}

/// `a -> b -> a`: the cycle closed on its first step.
fn cycle_text(steps: &[StepName]) -> String {
    let mut out = String::new();
    for s in steps.iter().chain(steps.first()) {
        if !out.is_empty() {
            out.push_str(" -> ");
        }
        out.push_str(s.as_str());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_keep_their_nouns() {
        let cases = [
            (EntityKind::Step, "step not found: train"),
            (EntityKind::StepOutput, "output of step not found: train"),
            (EntityKind::Parameter, "parameter not found: train"),
        ];
        for (kind, want) in cases {
            let e = PipelineError::NotFound {
                kind,
                id: "train".into(),
            };
            assert_eq!(e.to_string(), want);
        }
    }
}
