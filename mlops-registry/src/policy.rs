//! Promotion gates: caller-supplied policies that guard stage transitions and alias moves.

use std::fmt;

use crate::compare::Direction;
use crate::model::{Alias, ModelVersion, RegisteredModel, Stage};

/// Where a version is being promoted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromotionTarget<'a> {
    /// A stage transition.
    Stage(Stage),
    /// An alias being set or moved onto the version.
    Alias(&'a Alias),
}

impl fmt::Display for PromotionTarget<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stage(s) => write!(f, "stage {s}"),
            Self::Alias(a) => write!(f, "alias @{a}"),
        }
    }
}

/// What a [`PromotionPolicy`] is asked to judge. The backend builds it from its current state
/// while holding its write lock, so the verdict applies to exactly the state that is changed.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct PromotionRequest<'a> {
    /// The registered model.
    pub model: &'a RegisteredModel,
    /// The version being promoted (aliases filled in).
    pub candidate: &'a ModelVersion,
    /// Where it goes.
    pub target: PromotionTarget<'a>,
    /// The version currently holding the target, if another one does: the highest other version
    /// in the target stage, or the version the alias points at now.
    pub incumbent: Option<&'a ModelVersion>,
    /// The actor requesting the change.
    pub actor: &'a str,
}

/// A caller-supplied rule that decides whether a promotion may happen.
///
/// Return every reason to deny (an empty list allows). A denied promotion changes nothing and
/// fails with [`RegistryError::PromotionDenied`](crate::RegistryError::PromotionDenied) listing
/// all reasons. Closures `Fn(&PromotionRequest) -> Vec<String>` are policies; [`Gate`] builds
/// the common ones.
pub trait PromotionPolicy: Send + Sync {
    /// Every reason to deny `request`; empty to allow.
    fn check(&self, request: &PromotionRequest<'_>) -> Vec<String>;
}

impl<F> PromotionPolicy for F
where
    F: Fn(&PromotionRequest<'_>) -> Vec<String> + Send + Sync,
{
    fn check(&self, request: &PromotionRequest<'_>) -> Vec<String> {
        self(request)
    }
}

#[derive(Debug, Clone)]
enum Rule {
    MinMetric(String, f64),
    MaxMetric(String, f64),
    NoRegression(String, Direction, f64),
    Tag(String),
    TagValue(String, String),
    Approval(String),
}

/// A declarative [`PromotionPolicy`]: metric thresholds, no regression against the incumbent,
/// required tags, a recorded approval.
///
/// ```
/// use mlops_registry::{Direction, Gate};
/// let gate = Gate::new()
///     .min_metric("accuracy", 0.90)
///     .max_metric("latency_ms", 50.0)
///     .no_regression("accuracy", Direction::Maximize)
///     .require_tag("validated")
///     .require_approval("approved_by");
/// # let _ = gate;
/// ```
#[derive(Debug, Clone, Default)]
pub struct Gate {
    rules: Vec<Rule>,
}

impl Gate {
    /// A gate with no rules (allows everything).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The metric must be present and at least `threshold`.
    #[must_use]
    pub fn min_metric(mut self, metric: impl Into<String>, threshold: f64) -> Self {
        self.rules.push(Rule::MinMetric(metric.into(), threshold));
        self
    }

    /// The metric must be present and at most `threshold`.
    #[must_use]
    pub fn max_metric(mut self, metric: impl Into<String>, threshold: f64) -> Self {
        self.rules.push(Rule::MaxMetric(metric.into(), threshold));
        self
    }

    /// The metric must not be worse than the incumbent's (when there is an incumbent that has
    /// the metric).
    #[must_use]
    pub fn no_regression(self, metric: impl Into<String>, direction: Direction) -> Self {
        self.no_regression_within(metric, direction, 0.0)
    }

    /// As [`Gate::no_regression`], tolerating a regression of up to `tolerance`.
    #[must_use]
    pub fn no_regression_within(
        mut self,
        metric: impl Into<String>,
        direction: Direction,
        tolerance: f64,
    ) -> Self {
        self.rules.push(Rule::NoRegression(
            metric.into(),
            direction,
            tolerance.abs(),
        ));
        self
    }

    /// The candidate must carry tag `key` (any value).
    #[must_use]
    pub fn require_tag(mut self, key: impl Into<String>) -> Self {
        self.rules.push(Rule::Tag(key.into()));
        self
    }

    /// The candidate must carry tag `key` with `value`.
    #[must_use]
    pub fn require_tag_value(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.rules.push(Rule::TagValue(key.into(), value.into()));
        self
    }

    /// An approval must be recorded on the candidate as a non-empty tag `key` (for example
    /// `approved_by = alice`), by someone other than the actor requesting the promotion.
    #[must_use]
    pub fn require_approval(mut self, key: impl Into<String>) -> Self {
        self.rules.push(Rule::Approval(key.into()));
        self
    }
}

impl PromotionPolicy for Gate {
    fn check(&self, req: &PromotionRequest<'_>) -> Vec<String> {
        let c = req.candidate;
        let mut reasons = Vec::new();
        for rule in &self.rules {
            match rule {
                Rule::MinMetric(m, t) => match c.metrics.get(m) {
                    None => reasons.push(format!("metric {m} is missing (needs >= {t})")),
                    Some(v) if v < t => reasons.push(format!("{m} {v} is below {t}")),
                    Some(_) => {}
                },
                Rule::MaxMetric(m, t) => match c.metrics.get(m) {
                    None => reasons.push(format!("metric {m} is missing (needs <= {t})")),
                    Some(v) if v > t => reasons.push(format!("{m} {v} is above {t}")),
                    Some(_) => {}
                },
                Rule::NoRegression(m, dir, tol) => {
                    let Some(inc) = req.incumbent else { continue };
                    let Some(&old) = inc.metrics.get(m) else { continue };
                    match c.metrics.get(m) {
                        None => reasons.push(format!(
                            "metric {m} is missing (incumbent v{} has {old})",
                            inc.version
                        )),
                        Some(&new) => {
                            let worse = match dir {
                                Direction::Maximize => new < old - tol,
                                Direction::Minimize => new > old + tol,
                            };
                            if worse {
                                reasons.push(format!(
                                    "{m} regressed: {new} vs {old} of incumbent v{}",
                                    inc.version
                                ));
                            }
                        }
                    }
                }
                Rule::Tag(k) => {
                    if !c.tags.contains_key(k) {
                        reasons.push(format!("required tag {k} is missing"));
                    }
                }
                Rule::TagValue(k, v) => match c.tags.get(k) {
                    Some(actual) if actual == v => {}
                    Some(actual) => {
                        reasons.push(format!("tag {k} is {actual:?}, required {v:?}"));
                    }
                    None => reasons.push(format!("required tag {k} = {v:?} is missing")),
                },
                Rule::Approval(k) => match c.tags.get(k).map(|s| s.trim()) {
                    None | Some("") => reasons.push(format!("no approval recorded (tag {k})")),
                    Some(who) if !req.actor.is_empty() && who == req.actor => reasons.push(
                        format!("approval (tag {k}) is by {who}, the actor promoting; it must come from someone else"),
                    ),
                    Some(_) => {}
                },
            }
        }
        reasons
    }
}
