//! What a step sees while it runs: its context, its cancellation token and its error type.

use std::any::Any;
use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::de::DeserializeOwned;

use crate::error::{EntityKind, PipelineError, Result};
use crate::name::StepName;

/// A step's output, type-erased, with the name of its type for error messages (a `Box`: a
/// zero-sized output such as `()` costs no allocation).
pub(crate) struct Output {
    pub(crate) value: Box<dyn Any + Send + Sync>,
    pub(crate) type_name: &'static str,
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Output<{}>", self.type_name)
    }
}

/// What kind of failure a [`StepError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StepErrorKind {
    /// The step returned an error.
    Failed,
    /// The step panicked; the runner caught the panic.
    Panicked,
    /// The step ran past its timeout.
    TimedOut,
}

/// The error a step returns. Any `std::error::Error + Send + Sync + 'static` converts into it
/// with `?` (including [`PipelineError`], so `ctx.input::<T>("x")?` works in a step); use
/// [`StepError::msg`] for a plain message. The source error stays available to a retry
/// predicate through [`StepError::downcast_ref`].
pub struct StepError {
    kind: StepErrorKind,
    message: String,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

impl StepError {
    /// An error with a message and no source.
    pub fn msg(message: impl fmt::Display) -> Self {
        Self {
            kind: StepErrorKind::Failed,
            message: message.to_string(),
            source: None,
        }
    }

    pub(crate) fn with_kind(kind: StepErrorKind, message: String) -> Self {
        Self {
            kind,
            message,
            source: None,
        }
    }

    /// What kind of failure this is.
    #[must_use]
    pub fn kind(&self) -> StepErrorKind {
        self.kind
    }

    /// The message: the source error and its chain of causes, joined by `": "`.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The source error as a `E`, when it is one.
    #[must_use]
    pub fn downcast_ref<E: StdError + 'static>(&self) -> Option<&E> {
        self.source.as_ref()?.downcast_ref::<E>()
    }
}

impl fmt::Debug for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StepError")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: StdError + Send + Sync + 'static> From<E> for StepError {
    fn from(e: E) -> Self {
        let mut message = e.to_string();
        let mut cause = e.source();
        while let Some(c) = cause {
            let text = c.to_string();
            if !message.ends_with(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            cause = c.source();
        }
        Self {
            kind: StepErrorKind::Failed,
            message,
            source: Some(Box::new(e)),
        }
    }
}

/// Tells a running step to stop. Cancelled when the step's attempt runs past its timeout, or when
/// the run stops early under fail-fast. Stopping is cooperative: a long step should check
/// [`is_cancelled`](Self::is_cancelled) between chunks of work and return when it is set.
#[derive(Debug, Clone, Default)]
pub struct CancelToken {
    attempt: Option<Arc<AtomicBool>>,
    run: Arc<AtomicBool>,
}

impl CancelToken {
    /// A token that nobody has cancelled yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn for_attempt(run: &Arc<AtomicBool>, attempt: Option<Arc<AtomicBool>>) -> Self {
        Self {
            attempt,
            run: Arc::clone(run),
        }
    }

    /// Whether the step has been told to stop.
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.run.load(Ordering::Relaxed)
            || self
                .attempt
                .as_ref()
                .is_some_and(|a| a.load(Ordering::Relaxed))
    }

    /// Tell the holders of this token (and its clones) to stop. The runner cancels the tokens it
    /// hands to steps; a step that wants to give up should return an error instead (cancelling
    /// the token of a step without a timeout would signal every running step of the run).
    pub fn cancel(&self) {
        match &self.attempt {
            Some(a) => a.store(true, Ordering::Relaxed),
            None => self.run.store(true, Ordering::Relaxed),
        }
    }

    /// `Err` when cancelled, for use with `?` in a step's loop.
    ///
    /// # Errors
    /// A [`StepError`] saying the step was cancelled.
    pub fn check(&self) -> std::result::Result<(), StepError> {
        if self.is_cancelled() {
            Err(StepError::msg("cancelled"))
        } else {
            Ok(())
        }
    }
}

/// The direct dependencies of a step: name and index into the run's outputs.
pub(crate) type Deps = [(StepName, usize)];

/// What a step sees while it runs: its name, attempt number, parameters, the outputs of its
/// direct dependencies and its cancellation token.
pub struct StepCtx<'a> {
    pub(crate) name: &'a StepName,
    pub(crate) attempt: u32,
    pub(crate) params: &'a BTreeMap<String, serde_json::Value>,
    pub(crate) deps: &'a Deps,
    pub(crate) outputs: &'a [std::sync::OnceLock<Output>],
    pub(crate) all_steps: &'a dyn Fn(&str) -> bool,
    pub(crate) token: &'a CancelToken,
}

impl fmt::Debug for StepCtx<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StepCtx")
            .field("name", &self.name)
            .field("attempt", &self.attempt)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl StepCtx<'_> {
    /// The running step's name.
    #[must_use]
    pub fn name(&self) -> &StepName {
        self.name
    }

    /// The attempt number: 1 for the first attempt, 2 for the first retry, ...
    #[must_use]
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The output of the direct dependency `step`, as a `T`.
    ///
    /// # Errors
    /// [`PipelineError::NotUpstream`] when `step` is not a direct dependency of this step (even
    /// if it is a step of the pipeline), [`PipelineError::NotFound`] when no step has that name,
    /// [`PipelineError::TypeMismatch`] when its output is not a `T`.
    pub fn input<T: Any>(&self, step: &str) -> Result<&T> {
        let Some((_, index)) = self.deps.iter().find(|(n, _)| n.as_str() == step) else {
            if (self.all_steps)(step) {
                return Err(PipelineError::NotUpstream {
                    step: self.name.clone(),
                    requested: step.to_owned(),
                });
            }
            return Err(PipelineError::NotFound {
                kind: EntityKind::Step,
                id: step.to_owned(),
            });
        };
        let out = self.outputs[*index]
            .get()
            .ok_or_else(|| PipelineError::NotFound {
                kind: EntityKind::StepOutput,
                id: step.to_owned(),
            })?;
        out.value
            .downcast_ref::<T>()
            .ok_or_else(|| PipelineError::TypeMismatch {
                step: self.name.clone(),
                what: format!("the output of {step}"),
                expected: std::any::type_name::<T>().to_owned(),
                actual: out.type_name.to_owned(),
            })
    }

    /// All parameters of this step, as JSON values.
    #[must_use]
    pub fn params(&self) -> &BTreeMap<String, serde_json::Value> {
        self.params
    }

    /// The parameter `name`, deserialized as a `T`.
    ///
    /// # Errors
    /// [`PipelineError::NotFound`] when the step has no such parameter,
    /// [`PipelineError::TypeMismatch`] when its value does not deserialize as a `T`.
    pub fn param<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
        let value = self
            .params
            .get(name)
            .ok_or_else(|| PipelineError::NotFound {
                kind: EntityKind::Parameter,
                id: format!("{}.{name}", self.name),
            })?;
        T::deserialize(value).map_err(|e| PipelineError::TypeMismatch {
            step: self.name.clone(),
            what: format!("parameter {name}"),
            expected: std::any::type_name::<T>().to_owned(),
            actual: format!("{value} ({e})"),
        })
    }

    /// The parameter `name` as a `T`, or `default` when the step has no such parameter.
    ///
    /// # Errors
    /// [`PipelineError::TypeMismatch`] when the value does not deserialize as a `T`.
    pub fn param_or<T: DeserializeOwned>(&self, name: &str, default: T) -> Result<T> {
        if self.params.contains_key(name) {
            self.param(name)
        } else {
            Ok(default)
        }
    }

    /// The step's cancellation token.
    #[must_use]
    pub fn cancel_token(&self) -> &CancelToken {
        self.token
    }

    /// Whether the step has been told to stop (timeout or fail-fast).
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }
}
