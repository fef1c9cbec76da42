//! Building and validating a pipeline.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{EntityKind, PipelineError, Result};
use crate::name::StepName;
use crate::retry::RetryPolicy;
use crate::step::{Output, StepCtx, StepError};

/// A step's function, type-erased.
pub(crate) type StepFn =
    Arc<dyn Fn(&StepCtx<'_>) -> std::result::Result<Output, StepError> + Send + Sync>;

type EncodeFn = fn(&(dyn Any + Send + Sync)) -> serde_json::Result<Vec<u8>>;
type DecodeFn = fn(&[u8]) -> serde_json::Result<Output>;

/// How a cached step's output is turned into bytes and back: compact JSON via `serde_json`.
#[derive(Clone, Copy)]
pub(crate) struct Codec {
    pub(crate) encode: EncodeFn,
    pub(crate) decode: DecodeFn,
}

fn encode_json<T: Serialize + 'static>(
    value: &(dyn Any + Send + Sync),
) -> serde_json::Result<Vec<u8>> {
    match value.downcast_ref::<T>() {
        Some(v) => serde_json::to_vec(v),
        None => Err(<serde_json::Error as serde::ser::Error>::custom(format!(
            "output is not a {}",
            std::any::type_name::<T>()
        ))),
    }
}

fn decode_json<T: DeserializeOwned + Send + Sync + 'static>(
    bytes: &[u8],
) -> serde_json::Result<Output> {
    let v: T = serde_json::from_slice(bytes)?;
    Ok(Output {
        value: Box::new(v),
        type_name: std::any::type_name::<T>(),
    })
}

/// A cached step's settings.
#[derive(Clone)]
pub(crate) struct CacheSpec {
    pub(crate) version: String,
    pub(crate) codec: Codec,
}

/// One step as declared (validated by [`PipelineBuilder::build`]).
struct StepDef {
    name: String,
    func: StepFn,
    deps: Vec<String>,
    params: BTreeMap<String, serde_json::Value>,
    retry: RetryPolicy,
    timeout: Option<Duration>,
    cache: Option<CacheSpec>,
    /// The first error of a builder call, reported by `build`.
    error: Option<PipelineError>,
}

/// One step of a validated pipeline.
pub(crate) struct Node {
    pub(crate) name: StepName,
    pub(crate) func: StepFn,
    pub(crate) deps: Vec<(StepName, usize)>,
    pub(crate) dependents: Vec<usize>,
    pub(crate) params: BTreeMap<String, serde_json::Value>,
    pub(crate) retry: RetryPolicy,
    pub(crate) timeout: Option<Duration>,
    pub(crate) cache: Option<CacheSpec>,
}

/// Declares the steps of a [`Pipeline`]; [`build`](Self::build) validates them.
///
/// ```
/// use mlops_pipeline::{Pipeline, RunOptions};
///
/// let mut b = Pipeline::builder("demo");
/// b.step("load", |_| Ok(vec![1.0, 2.0, 3.0]));
/// b.step("mean", |ctx| {
///     let xs: &Vec<f64> = ctx.input("load")?;
///     Ok(xs.iter().sum::<f64>() / xs.len() as f64)
/// })
/// .after(["load"]);
/// let report = b.build()?.run(&RunOptions::new());
/// assert_eq!(*report.output::<f64>("mean")?, 2.0);
/// # Ok::<(), mlops_pipeline::PipelineError>(())
/// ```
pub struct PipelineBuilder {
    name: String,
    steps: Vec<StepDef>,
}

impl fmt::Debug for PipelineBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineBuilder")
            .field("name", &self.name)
            .field(
                "steps",
                &self.steps.iter().map(|s| &s.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Settings of the step just added; returned by [`PipelineBuilder::step`]. Mistakes (a bad
/// parameter, a bad backoff) are reported by [`PipelineBuilder::build`].
pub struct StepBuilder<'a, T> {
    def: &'a mut StepDef,
    _output: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for StepBuilder<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StepBuilder")
            .field("name", &self.def.name)
            .finish_non_exhaustive()
    }
}

impl<T> StepBuilder<'_, T> {
    fn fail(&mut self, e: PipelineError) {
        if self.def.error.is_none() {
            self.def.error = Some(e);
        }
    }

    /// Run this step after the named steps, whose outputs it may read.
    pub fn after<I, S>(self, deps: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for d in deps {
            let d = d.as_ref();
            if !self.def.deps.iter().any(|x| x == d) {
                self.def.deps.push(d.to_owned());
            }
        }
        self
    }

    /// Set the parameter `name` (serialized to JSON; part of the cache key).
    pub fn param(mut self, name: &str, value: impl Serialize) -> Self {
        match serde_json::to_value(value) {
            Ok(v) => {
                self.def.params.insert(name.to_owned(), v);
            }
            Err(e) => {
                let step = self.def.name.clone();
                self.fail(PipelineError::invalid(
                    "parameter",
                    format!("{step}.{name} cannot be serialized: {e}"),
                ));
            }
        }
        self
    }

    /// Retry failed attempts per `policy` (default: [`RetryPolicy::none`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        if let Err(e) = policy.backoff().validate() {
            self.fail(e);
        }
        self.def.retry = policy;
        self
    }

    /// Stop each attempt after `timeout`: the step's [`CancelToken`](crate::CancelToken) is
    /// cancelled, and an attempt that returns after the deadline counts as timed out.
    pub fn timeout(self, timeout: Duration) -> Self {
        self.def.timeout = Some(timeout);
        self
    }
}

impl<T: Serialize + DeserializeOwned + Send + Sync + 'static> StepBuilder<'_, T> {
    /// Cache this step's output under a key built from its name, `version`, its parameters and
    /// the fingerprints of its dependencies' outputs (see [`CacheKey`](crate::CacheKey)). Bump
    /// `version` when the step's code changes. The output is stored as compact JSON
    /// (`serde_json`). Every dependency of a cached step must be cached too, so that its
    /// output has a fingerprint; [`PipelineBuilder::build`] checks this.
    pub fn cache(self, version: &str) -> Self {
        self.def.cache = Some(CacheSpec {
            version: version.to_owned(),
            codec: Codec {
                encode: encode_json::<T>,
                decode: decode_json::<T>,
            },
        });
        self
    }
}

impl PipelineBuilder {
    /// An empty pipeline named `name`.
    #[must_use]
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            steps: Vec::new(),
        }
    }

    /// Add the step `name`, running `f`. The value `f` returns is the step's output, read
    /// downstream with [`StepCtx::input`].
    pub fn step<T, F>(&mut self, name: &str, f: F) -> StepBuilder<'_, T>
    where
        T: Send + Sync + 'static,
        F: Fn(&StepCtx<'_>) -> std::result::Result<T, StepError> + Send + Sync + 'static,
    {
        let func: StepFn = Arc::new(move |ctx| {
            f(ctx).map(|v| Output {
                value: Box::new(v),
                type_name: std::any::type_name::<T>(),
            })
        });
        self.steps.push(StepDef {
            name: name.to_owned(),
            func,
            deps: Vec::new(),
            params: BTreeMap::new(),
            retry: RetryPolicy::none(),
            timeout: None,
            cache: None,
            error: None,
        });
        let def = self.steps.last_mut().expect("just pushed");
        StepBuilder {
            def,
            _output: PhantomData,
        }
    }

    /// Validate the steps and return the pipeline.
    ///
    /// # Errors
    /// - [`PipelineError::EmptyPipeline`] when no step was added;
    /// - [`PipelineError::InvalidArgument`] for a bad step name, a parameter that cannot be
    ///   serialized, a bad backoff, or a cached step with an uncached dependency;
    /// - [`PipelineError::AlreadyExists`] for a duplicate step name;
    /// - [`PipelineError::UnknownDependency`] for a dependency on a step that does not exist;
    /// - [`PipelineError::Cycle`] naming the steps of a dependency cycle in order (a step that
    ///   depends on itself is a cycle of one).
    pub fn build(self) -> Result<Pipeline> {
        if self.steps.is_empty() {
            return Err(PipelineError::EmptyPipeline {
                pipeline: self.name,
            });
        }
        let mut index: HashMap<StepName, usize> = HashMap::with_capacity(self.steps.len());
        let mut names = Vec::with_capacity(self.steps.len());
        for (i, def) in self.steps.iter().enumerate() {
            let name: StepName = def.name.parse()?;
            if let Some(e) = &def.error {
                return Err(PipelineError::invalid("step", format!("{}: {e}", def.name)));
            }
            if index.insert(name.clone(), i).is_some() {
                return Err(PipelineError::AlreadyExists {
                    kind: EntityKind::Step,
                    id: def.name.clone(),
                });
            }
            names.push(name);
        }
        let mut deps: Vec<Vec<(StepName, usize)>> = Vec::with_capacity(self.steps.len());
        for (i, def) in self.steps.iter().enumerate() {
            let mut ds = Vec::with_capacity(def.deps.len());
            for d in &def.deps {
                let found = d
                    .parse::<StepName>()
                    .ok()
                    .and_then(|n| index.get(&n).map(|&j| (n, j)));
                match found {
                    Some(pair) => ds.push(pair),
                    None => {
                        return Err(PipelineError::UnknownDependency {
                            step: names[i].clone(),
                            dependency: d.clone(),
                        });
                    }
                }
            }
            deps.push(ds);
        }
        if let Some(cycle) = find_cycle(&deps) {
            return Err(PipelineError::Cycle {
                steps: cycle.into_iter().map(|i| names[i].clone()).collect(),
            });
        }
        for (i, def) in self.steps.iter().enumerate() {
            if def.cache.is_some()
                && let Some((d, _)) = deps[i].iter().find(|(_, j)| self.steps[*j].cache.is_none())
            {
                return Err(PipelineError::invalid(
                    "cache",
                    format!(
                        "step {} is cached but its dependency {d} is not: a cache key needs \
                         the fingerprints of all inputs, so cache {d} too",
                        names[i]
                    ),
                ));
            }
        }
        let mut dependents = vec![Vec::new(); self.steps.len()];
        for (i, ds) in deps.iter().enumerate() {
            for (_, j) in ds {
                dependents[*j].push(i);
            }
        }
        let nodes = self
            .steps
            .into_iter()
            .zip(names)
            .zip(deps)
            .zip(dependents)
            .map(|(((def, name), deps), dependents)| Node {
                name,
                func: def.func,
                deps,
                dependents,
                params: def.params,
                retry: def.retry,
                timeout: def.timeout,
                cache: def.cache,
            })
            .collect();
        Ok(Pipeline {
            name: self.name,
            nodes,
            index,
        })
    }
}

/// Find a cycle in the dependency graph (iterative DFS, so deep chains do not overflow the
/// stack). The cycle is returned in execution order, starting at its earliest-declared step.
fn find_cycle(deps: &[Vec<(StepName, usize)>]) -> Option<Vec<usize>> {
    const WHITE: u8 = 0;
    const GREY: u8 = 1;
    const BLACK: u8 = 2;
    let mut color = vec![WHITE; deps.len()];
    // (node, index of the next dependency to visit)
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for root in 0..deps.len() {
        if color[root] != WHITE {
            continue;
        }
        color[root] = GREY;
        stack.push((root, 0));
        while let Some(top) = stack.last_mut() {
            let (node, next) = *top;
            if let Some(&(_, dep)) = deps[node].get(next) {
                top.1 += 1;
                match color[dep] {
                    WHITE => {
                        color[dep] = GREY;
                        stack.push((dep, 0));
                    }
                    GREY => {
                        // The stack from `dep` to `node` is a path where each step depends on
                        // the next; reverse it for execution order.
                        let pos = stack.iter().position(|(n, _)| *n == dep).unwrap_or(0);
                        let mut cycle: Vec<usize> = stack[pos..].iter().map(|(n, _)| *n).collect();
                        cycle.reverse();
                        let min_at = cycle
                            .iter()
                            .enumerate()
                            .min_by_key(|(_, n)| **n)
                            .map_or(0, |(k, _)| k);
                        cycle.rotate_left(min_at);
                        return Some(cycle);
                    }
                    _ => {}
                }
            } else {
                color[node] = BLACK;
                stack.pop();
            }
        }
    }
    None
}

/// A validated pipeline: steps in declaration order with their dependencies. Run it with
/// [`Pipeline::run`]; a pipeline can be run any number of times.
pub struct Pipeline {
    pub(crate) name: String,
    pub(crate) nodes: Vec<Node>,
    pub(crate) index: HashMap<StepName, usize>,
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("name", &self.name)
            .field("steps", &self.nodes.len())
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// Start declaring a pipeline named `name`.
    #[must_use]
    pub fn builder(name: &str) -> PipelineBuilder {
        PipelineBuilder::new(name)
    }

    /// The pipeline's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The number of steps.
    #[must_use]
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the pipeline has no steps (never true for a built pipeline).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The step names in declaration order.
    pub fn step_names(&self) -> impl Iterator<Item = &StepName> {
        self.nodes.iter().map(|n| &n.name)
    }

    /// The direct dependencies of `step`, or `None` when there is no such step.
    #[must_use]
    pub fn dependencies(&self, step: &str) -> Option<Vec<&StepName>> {
        let i = *self.index.get(&step.parse::<StepName>().ok()?)?;
        Some(self.nodes[i].deps.iter().map(|(n, _)| n).collect())
    }

    pub(crate) fn has_step(&self, name: &str) -> bool {
        name.parse::<StepName>()
            .is_ok_and(|n| self.index.contains_key(&n))
    }
}
