//! A typed builder for GitHub Actions workflows of ML projects, validated and rendered as YAML.
//!
//! Rendering quotes every string that a YAML 1.1 or 1.2 parser could read as something else
//! (`on`, `yes`, numbers, strings with `:` or `#`, ...), including the `on` key itself, so the
//! same file means the same thing to GitHub, PyYAML and YAML 1.2 parsers. Multi-line `run`
//! scripts are written as literal blocks (`|`) when that is exact, quoted otherwise.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::error::{Result, TestingError};

/// Branch and path filters of a `push` or `pull_request` trigger.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventFilter {
    /// `branches:` patterns.
    pub branches: Vec<String>,
    /// `paths:` patterns.
    pub paths: Vec<String>,
}

impl EventFilter {
    /// A filter on branches.
    #[must_use]
    pub fn branches<S: Into<String>>(branches: impl IntoIterator<Item = S>) -> Self {
        Self {
            branches: branches.into_iter().map(Into::into).collect(),
            paths: Vec::new(),
        }
    }

    /// Add path filters.
    #[must_use]
    pub fn paths<S: Into<String>>(mut self, paths: impl IntoIterator<Item = S>) -> Self {
        self.paths.extend(paths.into_iter().map(Into::into));
        self
    }
}

/// What starts the workflow.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Triggers {
    /// `on: push`.
    pub push: Option<EventFilter>,
    /// `on: pull_request`.
    pub pull_request: Option<EventFilter>,
    /// `on: schedule` cron expressions.
    pub schedule: Vec<String>,
    /// `on: workflow_dispatch` (manual runs).
    pub workflow_dispatch: bool,
}

impl Triggers {
    fn is_empty(&self) -> bool {
        self.push.is_none()
            && self.pull_request.is_none()
            && self.schedule.is_empty()
            && !self.workflow_dispatch
    }
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepAction {
    /// `uses: owner/action@ref` with `with:` inputs.
    Uses {
        /// The action reference.
        action: String,
        /// Inputs, in order.
        with: Vec<(String, String)>,
    },
    /// `run: script`.
    Run(String),
}

/// A step of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Display name.
    pub name: Option<String>,
    /// What it does.
    pub action: StepAction,
    /// `if:` condition.
    pub condition: Option<String>,
    /// Step environment.
    pub env: Vec<(String, String)>,
}

impl Step {
    /// A step that uses an action.
    #[must_use]
    pub fn uses(action: impl Into<String>) -> Self {
        Self {
            name: None,
            action: StepAction::Uses {
                action: action.into(),
                with: Vec::new(),
            },
            condition: None,
            env: Vec::new(),
        }
    }

    /// A named step that runs a script.
    #[must_use]
    pub fn run(name: impl Into<String>, script: impl Into<String>) -> Self {
        Self {
            name: Some(name.into()),
            action: StepAction::Run(script.into()),
            condition: None,
            env: Vec::new(),
        }
    }

    /// Set the display name.
    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Add a `with:` input (only for `uses` steps; ignored for `run` steps).
    #[must_use]
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        if let StepAction::Uses { with, .. } = &mut self.action {
            with.push((key.into(), value.into()));
        }
        self
    }

    /// Set the `if:` condition.
    #[must_use]
    pub fn when(mut self, condition: impl Into<String>) -> Self {
        self.condition = Some(condition.into());
        self
    }

    /// Add an environment variable.
    #[must_use]
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
}

/// A job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Job id (the key under `jobs:`).
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// `runs-on:` labels.
    pub runs_on: Vec<String>,
    /// Jobs that must finish first.
    pub needs: Vec<String>,
    /// `if:` condition.
    pub condition: Option<String>,
    /// Job environment.
    pub env: Vec<(String, String)>,
    /// `timeout-minutes:`.
    pub timeout_minutes: Option<u32>,
    /// Steps, in order.
    pub steps: Vec<Step>,
}

impl Job {
    /// A job on `ubuntu-latest` with no steps yet.
    #[must_use]
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: None,
            runs_on: vec!["ubuntu-latest".to_owned()],
            needs: Vec::new(),
            condition: None,
            env: Vec::new(),
            timeout_minutes: None,
            steps: Vec::new(),
        }
    }

    /// Set the runner labels.
    #[must_use]
    pub fn runs_on<S: Into<String>>(mut self, labels: impl IntoIterator<Item = S>) -> Self {
        self.runs_on = labels.into_iter().map(Into::into).collect();
        self
    }

    /// Add dependencies.
    #[must_use]
    pub fn needs<S: Into<String>>(mut self, jobs: impl IntoIterator<Item = S>) -> Self {
        self.needs.extend(jobs.into_iter().map(Into::into));
        self
    }

    /// Set the `if:` condition.
    #[must_use]
    pub fn when(mut self, condition: impl Into<String>) -> Self {
        self.condition = Some(condition.into());
        self
    }

    /// Set the display name.
    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Set `timeout-minutes`.
    #[must_use]
    pub fn timeout_minutes(mut self, minutes: u32) -> Self {
        self.timeout_minutes = Some(minutes);
        self
    }

    /// Add an environment variable.
    #[must_use]
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Add a step.
    #[must_use]
    pub fn step(mut self, step: Step) -> Self {
        self.steps.push(step);
        self
    }
}

/// A GitHub Actions workflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workflow {
    /// `name:`.
    pub name: String,
    /// `on:`.
    pub triggers: Triggers,
    /// Workflow environment.
    pub env: Vec<(String, String)>,
    /// Jobs, in order.
    pub jobs: Vec<Job>,
}

impl Workflow {
    /// An empty workflow.
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            triggers: Triggers::default(),
            env: Vec::new(),
            jobs: Vec::new(),
        }
    }

    /// Run on pushes matching the filter.
    #[must_use]
    pub fn on_push(mut self, filter: EventFilter) -> Self {
        self.triggers.push = Some(filter);
        self
    }

    /// Run on pull requests matching the filter.
    #[must_use]
    pub fn on_pull_request(mut self, filter: EventFilter) -> Self {
        self.triggers.pull_request = Some(filter);
        self
    }

    /// Run on a cron schedule.
    #[must_use]
    pub fn on_schedule(mut self, cron: impl Into<String>) -> Self {
        self.triggers.schedule.push(cron.into());
        self
    }

    /// Allow manual runs.
    #[must_use]
    pub fn on_workflow_dispatch(mut self) -> Self {
        self.triggers.workflow_dispatch = true;
        self
    }

    /// Add an environment variable.
    #[must_use]
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Add a job.
    #[must_use]
    pub fn job(mut self, job: Job) -> Self {
        self.jobs.push(job);
        self
    }

    /// The ML CI pipeline: code quality, then unit tests and data validation in parallel, a quick
    /// training run, and on `main` full training, model evaluation and a canary deployment.
    #[must_use]
    pub fn ml_ci_pipeline() -> Self {
        let setup = |job: Job| {
            job.step(Step::uses("actions/checkout@v4"))
                .step(
                    Step::uses("actions/setup-python@v5")
                        .named("Set up Python")
                        .with("python-version", "${{ env.PYTHON_VERSION }}"),
                )
                .step(Step::run(
                    "Install dependencies",
                    "pip install -r requirements.txt",
                ))
        };
        Self::new("ML CI Pipeline")
            .on_push(
                EventFilter::branches(["main", "develop"]).paths([
                    "src/**",
                    "models/**",
                    "tests/**",
                    "data/schemas/**",
                ]),
            )
            .on_pull_request(EventFilter::branches(["main"]))
            .env("PYTHON_VERSION", "3.10")
            .env("MLFLOW_TRACKING_URI", "${{ secrets.MLFLOW_TRACKING_URI }}")
            .job(
                setup(Job::new("code-quality"))
                    .step(Step::run(
                        "Lint with ruff",
                        "ruff check src/ --output-format=github",
                    ))
                    .step(Step::run(
                        "Type check with mypy",
                        "mypy src/ --ignore-missing-imports",
                    )),
            )
            .job(
                setup(Job::new("unit-tests").needs(["code-quality"]))
                    .step(Step::run(
                        "Run unit tests",
                        "pytest tests/unit/ -v --cov=src --cov-report=xml",
                    ))
                    .step(Step::uses("codecov/codecov-action@v3").named("Upload coverage")),
            )
            .job(
                setup(Job::new("data-validation").needs(["code-quality"]))
                    .step(Step::run(
                        "Validate data schema",
                        "python scripts/validate_data.py",
                    ))
                    .step(Step::run(
                        "Check data distribution",
                        "python scripts/check_distribution.py",
                    )),
            )
            .job(
                setup(Job::new("quick-train").needs(["unit-tests", "data-validation"]))
                    .step(Step::run(
                        "Quick training test (small data)",
                        "python src/train.py \\\n  --data-sample 0.01 \\\n  --epochs 2 \\\n  --quick-test\n",
                    ))
                    .step(Step::run(
                        "Model smoke test",
                        "python tests/smoke/test_model_inference.py",
                    )),
            )
            .job(
                setup(
                    Job::new("full-training")
                        .needs(["quick-train"])
                        .when("github.ref == 'refs/heads/main'")
                        .runs_on(["self-hosted", "gpu"])
                        .timeout_minutes(360),
                )
                .step(Step::run(
                    "Full model training",
                    "python src/train.py --config configs/production.yaml",
                )),
            )
            .job(
                setup(Job::new("model-evaluation").needs(["full-training"]))
                    .step(Step::run(
                        "Evaluate against the baseline",
                        "python scripts/evaluate.py --baseline models/baseline.json --junit reports/junit.xml",
                    )),
            )
            .job(
                Job::new("deploy-canary")
                    .needs(["model-evaluation"])
                    .when("github.ref == 'refs/heads/main'")
                    .step(Step::uses("actions/checkout@v4"))
                    .step(Step::run(
                        "Canary deployment (5%)",
                        "python scripts/canary_deploy.py --image ml-model:${{ github.sha }} --percentage 5",
                    )),
            )
    }

    /// Check the workflow: a name, at least one trigger and one job, unique well-formed job
    /// ids, `needs` naming existing other jobs without cycles, runner labels, steps.
    ///
    /// # Errors
    /// [`TestingError::InvalidArgument`] describing the first problem (for a cycle, its path).
    pub fn validate(&self) -> Result<()> {
        let bad = |d: String| Err(TestingError::invalid("workflow", d));
        if self.name.trim().is_empty() {
            return bad("the workflow has no name".into());
        }
        if self.triggers.is_empty() {
            return bad("the workflow has no trigger".into());
        }
        if self.jobs.is_empty() {
            return bad("the workflow has no jobs".into());
        }
        let mut ids = BTreeSet::new();
        for j in &self.jobs {
            let valid_id =
                j.id.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && j.id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid_id {
                return bad(format!(
                    "job id {:?} must start with a letter or _ and contain only letters, digits, - and _",
                    j.id
                ));
            }
            if !ids.insert(j.id.as_str()) {
                return bad(format!("job id {} is used twice", j.id));
            }
        }
        for j in &self.jobs {
            for n in &j.needs {
                if n == &j.id {
                    return bad(format!("job {} needs itself", j.id));
                }
                if !ids.contains(n.as_str()) {
                    return bad(format!("job {} needs unknown job {n}", j.id));
                }
            }
            if j.runs_on.is_empty() || j.runs_on.iter().any(|l| l.trim().is_empty()) {
                return bad(format!("job {} has no runner label", j.id));
            }
            if j.steps.is_empty() {
                return bad(format!("job {} has no steps", j.id));
            }
            for (i, s) in j.steps.iter().enumerate() {
                let empty = match &s.action {
                    StepAction::Uses { action, .. } => action.trim().is_empty(),
                    StepAction::Run(script) => script.trim().is_empty(),
                };
                if empty {
                    return bad(format!("job {} step {i} has nothing to do", j.id));
                }
            }
            for (k, _) in j.env.iter().chain(&self.env) {
                if k.is_empty() {
                    return bad(format!(
                        "job {} has an empty environment variable name",
                        j.id
                    ));
                }
            }
        }
        if let Some(cycle) = self.find_cycle() {
            return bad(format!("jobs form a cycle: {}", cycle.join(" -> ")));
        }
        Ok(())
    }

    fn find_cycle(&self) -> Option<Vec<String>> {
        let graph: BTreeMap<&str, &[String]> = self
            .jobs
            .iter()
            .map(|j| (j.id.as_str(), j.needs.as_slice()))
            .collect();
        // 0 = unvisited, 1 = on the stack, 2 = done.
        let mut state: BTreeMap<&str, u8> = BTreeMap::new();
        fn visit<'a>(
            node: &'a str,
            graph: &BTreeMap<&'a str, &'a [String]>,
            state: &mut BTreeMap<&'a str, u8>,
            stack: &mut Vec<&'a str>,
        ) -> Option<Vec<String>> {
            state.insert(node, 1);
            stack.push(node);
            for next in graph.get(node).copied().unwrap_or_default() {
                match state.get(next.as_str()).copied().unwrap_or(0) {
                    1 => {
                        let start = stack.iter().position(|s| *s == next).unwrap_or(0);
                        let mut cycle: Vec<String> =
                            stack[start..].iter().map(|s| (*s).to_owned()).collect();
                        cycle.push(next.clone());
                        return Some(cycle);
                    }
                    0 => {
                        if let Some(c) = visit(next.as_str(), graph, state, stack) {
                            return Some(c);
                        }
                    }
                    _ => {}
                }
            }
            stack.pop();
            state.insert(node, 2);
            None
        }
        for j in &self.jobs {
            if state.get(j.id.as_str()).copied().unwrap_or(0) == 0 {
                let mut stack = Vec::new();
                if let Some(c) = visit(&j.id, &graph, &mut state, &mut stack) {
                    return Some(c);
                }
            }
        }
        None
    }

    /// The workflow as a YAML document tree (what [`Workflow::to_yaml`] renders).
    #[must_use]
    pub fn to_node(&self) -> YamlNode {
        use YamlNode::{Bool, Int, Map, Seq, Str};
        let s = |v: &str| Str(v.to_owned());
        let pairs =
            |v: &[(String, String)]| Map(v.iter().map(|(k, x)| (k.clone(), s(x))).collect());
        let filter = |f: &EventFilter| {
            let mut m = Vec::new();
            if !f.branches.is_empty() {
                m.push((
                    "branches".to_owned(),
                    Seq(f.branches.iter().map(|b| s(b)).collect()),
                ));
            }
            if !f.paths.is_empty() {
                m.push((
                    "paths".to_owned(),
                    Seq(f.paths.iter().map(|b| s(b)).collect()),
                ));
            }
            Map(m)
        };
        let mut on = Vec::new();
        if let Some(f) = &self.triggers.push {
            on.push(("push".to_owned(), filter(f)));
        }
        if let Some(f) = &self.triggers.pull_request {
            on.push(("pull_request".to_owned(), filter(f)));
        }
        if !self.triggers.schedule.is_empty() {
            on.push((
                "schedule".to_owned(),
                Seq(self
                    .triggers
                    .schedule
                    .iter()
                    .map(|c| Map(vec![("cron".to_owned(), s(c))]))
                    .collect()),
            ));
        }
        if self.triggers.workflow_dispatch {
            on.push(("workflow_dispatch".to_owned(), Map(Vec::new())));
        }
        let mut root = vec![
            ("name".to_owned(), s(&self.name)),
            ("on".to_owned(), Map(on)),
        ];
        if !self.env.is_empty() {
            root.push(("env".to_owned(), pairs(&self.env)));
        }
        let mut jobs = Vec::new();
        for j in &self.jobs {
            let mut m = Vec::new();
            if let Some(n) = &j.name {
                m.push(("name".to_owned(), s(n)));
            }
            if !j.needs.is_empty() {
                m.push((
                    "needs".to_owned(),
                    Seq(j.needs.iter().map(|n| s(n)).collect()),
                ));
            }
            if let Some(c) = &j.condition {
                m.push(("if".to_owned(), s(c)));
            }
            let runs_on = if j.runs_on.len() == 1 {
                s(&j.runs_on[0])
            } else {
                Seq(j.runs_on.iter().map(|l| s(l)).collect())
            };
            m.push(("runs-on".to_owned(), runs_on));
            if let Some(t) = j.timeout_minutes {
                m.push(("timeout-minutes".to_owned(), Int(i64::from(t))));
            }
            if !j.env.is_empty() {
                m.push(("env".to_owned(), pairs(&j.env)));
            }
            let steps = j
                .steps
                .iter()
                .map(|st| {
                    let mut sm = Vec::new();
                    if let Some(n) = &st.name {
                        sm.push(("name".to_owned(), s(n)));
                    }
                    if let Some(c) = &st.condition {
                        sm.push(("if".to_owned(), s(c)));
                    }
                    match &st.action {
                        StepAction::Uses { action, with } => {
                            sm.push(("uses".to_owned(), s(action)));
                            if !with.is_empty() {
                                sm.push(("with".to_owned(), pairs(with)));
                            }
                        }
                        StepAction::Run(script) => sm.push(("run".to_owned(), s(script))),
                    }
                    if !st.env.is_empty() {
                        sm.push(("env".to_owned(), pairs(&st.env)));
                    }
                    Map(sm)
                })
                .collect();
            m.push(("steps".to_owned(), Seq(steps)));
            jobs.push((j.id.clone(), Map(m)));
        }
        root.push(("jobs".to_owned(), Map(jobs)));
        let _ = Bool(false);
        Map(root)
    }

    /// Validate and render as YAML.
    ///
    /// # Errors
    /// Those of [`Workflow::validate`].
    pub fn to_yaml(&self) -> Result<String> {
        self.validate()?;
        let mut out = String::new();
        self.to_node().emit_map_body(&mut out, 0);
        Ok(out)
    }
}

/// A YAML document tree with ordered maps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum YamlNode {
    /// A string.
    Str(String),
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A sequence.
    Seq(Vec<YamlNode>),
    /// A map with ordered keys.
    Map(Vec<(String, YamlNode)>),
}

impl YamlNode {
    /// The same tree as JSON (maps lose their order), for comparing with a parsed document.
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Str(s) => serde_json::Value::String(s.clone()),
            Self::Bool(b) => serde_json::Value::Bool(*b),
            Self::Int(i) => serde_json::Value::from(*i),
            Self::Seq(v) => serde_json::Value::Array(v.iter().map(Self::to_json).collect()),
            Self::Map(m) => {
                serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
        }
    }

    fn is_scalar(&self) -> bool {
        match self {
            Self::Str(_) | Self::Bool(_) | Self::Int(_) => true,
            Self::Seq(v) => v.is_empty(),
            Self::Map(m) => m.is_empty(),
        }
    }

    fn scalar(&self) -> String {
        match self {
            Self::Str(s) => quote(s),
            Self::Bool(b) => b.to_string(),
            Self::Int(i) => i.to_string(),
            Self::Seq(_) => "[]".to_owned(),
            Self::Map(_) => "{}".to_owned(),
        }
    }

    /// Entries of a map, each key at column `col`.
    fn emit_map_body(&self, out: &mut String, col: usize) {
        if let Self::Map(m) = self {
            for (i, (k, v)) in m.iter().enumerate() {
                // The first entry of a sequence item follows "- " on the same line.
                if i > 0 || col == 0 || !out.ends_with("- ") {
                    out.push_str(&" ".repeat(col));
                }
                out.push_str(&quote_key(k));
                out.push(':');
                v.emit_value(out, col);
            }
        }
    }

    /// A value after `key:` whose key is at column `col`.
    fn emit_value(&self, out: &mut String, col: usize) {
        if let Self::Str(s) = self
            && let Some(block) = literal_block(s, col + 2)
        {
            out.push_str(&block);
            return;
        }
        if self.is_scalar() {
            out.push(' ');
            out.push_str(&self.scalar());
            out.push('\n');
            return;
        }
        out.push('\n');
        match self {
            Self::Map(_) => self.emit_map_body(out, col + 2),
            Self::Seq(items) => {
                for it in items {
                    out.push_str(&" ".repeat(col + 2));
                    out.push_str("- ");
                    match it {
                        Self::Map(m) if !m.is_empty() => it.emit_map_body(out, col + 4),
                        Self::Str(s) if s.contains('\n') => {
                            out.push_str(&quote(s));
                            out.push('\n');
                        }
                        _ if it.is_scalar() => {
                            out.push_str(&it.scalar());
                            out.push('\n');
                        }
                        _ => {
                            // A nested sequence: "- " then the items one level deeper.
                            out.pop();
                            out.pop();
                            out.push('-');
                            it.emit_value(out, col + 2);
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// A literal block (`|` / `|-`) for a multi-line string, when that represents it exactly.
fn literal_block(s: &str, indent: usize) -> Option<String> {
    if !s.contains('\n') || s.ends_with("\n\n") || s.chars().any(|c| needs_escape(c) || c == '\r') {
        return None;
    }
    let body = s.strip_suffix('\n');
    let chomp = if body.is_some() { "" } else { "-" };
    let body = body.unwrap_or(s);
    let first = body.lines().find(|l| !l.is_empty())?;
    if first.starts_with(' ') || first.starts_with('\t') {
        return None;
    }
    // Trailing spaces on lines are fine in literal blocks, but whitespace-only lines before the
    // first content line would change the detected indentation.
    if body
        .lines()
        .take_while(|l| !l.trim().is_empty() || l.is_empty())
        .count()
        == 0
    {
        return None;
    }
    let mut out = format!(" |{chomp}\n");
    for line in body.split('\n') {
        if line.is_empty() {
            out.push('\n');
        } else {
            out.push_str(&" ".repeat(indent));
            out.push_str(line);
            out.push('\n');
        }
    }
    Some(out)
}

fn needs_escape(c: char) -> bool {
    (c < ' ' && c != '\n' && c != '\t')
        || ('\u{7f}'..='\u{9f}').contains(&c)
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
        )
}

const RESERVED: &[&str] = &[
    "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", "nan", "inf",
];

/// A plain (unquoted) scalar only when it is unambiguous in YAML 1.1 and 1.2.
fn is_plain_safe(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    first.is_ascii_alphabetic()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '@'))
        && !RESERVED.contains(&s.to_ascii_lowercase().as_str())
}

fn quote(s: &str) -> String {
    if is_plain_safe(s) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) || c == '\r' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn quote_key(k: &str) -> String {
    quote(k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(yaml: &str) -> serde_json::Value {
        serde_saphyr::from_str::<serde_json::Value>(yaml)
            .unwrap_or_else(|e| panic!("YAML does not parse: {e}\n{yaml}"))
    }

    #[test]
    fn ml_pipeline_renders_and_parses_back() {
        let wf = Workflow::ml_ci_pipeline();
        let yaml = wf.to_yaml().unwrap();
        let parsed = parse(&yaml);
        assert_eq!(parsed, wf.to_node().to_json(), "{yaml}");
        assert_eq!(parsed["on"]["push"]["branches"][1], "develop");
        assert_eq!(
            parsed["jobs"]["quick-train"]["needs"],
            serde_json::json!(["unit-tests", "data-validation"])
        );
        assert_eq!(
            parsed["jobs"]["full-training"]["runs-on"],
            serde_json::json!(["self-hosted", "gpu"])
        );
        assert_eq!(parsed["jobs"]["full-training"]["timeout-minutes"], 360);
        let script = parsed["jobs"]["quick-train"]["steps"][3]["run"]
            .as_str()
            .unwrap();
        assert!(
            script.starts_with("python src/train.py \\\n  --data-sample"),
            "{script}"
        );
        assert!(yaml.contains("run: |\n"), "{yaml}");
        // `on` is quoted so YAML 1.1 readers do not turn it into `true`.
        assert!(yaml.contains("\"on\":"), "{yaml}");
    }

    #[test]
    fn validation_catches_unknown_needs_cycles_and_more() {
        let step = || Step::run("x", "echo x");
        let wf = |jobs: Vec<Job>| {
            let mut w = Workflow::new("w").on_workflow_dispatch();
            w.jobs = jobs;
            w
        };
        let err = wf(vec![Job::new("a").needs(["b"]).step(step())])
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("unknown job b"), "{err}");
        let err = wf(vec![
            Job::new("a").needs(["c"]).step(step()),
            Job::new("b").needs(["a"]).step(step()),
            Job::new("c").needs(["b"]).step(step()),
        ])
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("cycle: a -> c -> b -> a"), "{err}");
        let err = wf(vec![Job::new("a").needs(["a"]).step(step())])
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("needs itself"), "{err}");
        assert!(wf(vec![Job::new("a")]).validate().is_err(), "no steps");
        assert!(wf(vec![Job::new("1a").step(step())]).validate().is_err());
        assert!(
            wf(vec![Job::new("a").step(step()), Job::new("a").step(step())])
                .validate()
                .is_err()
        );
        assert!(wf(vec![]).validate().is_err());
        assert!(
            Workflow::new("w")
                .job(Job::new("a").step(step()))
                .validate()
                .is_err(),
            "no trigger"
        );
        assert!(
            wf(vec![
                Job::new("a").runs_on(Vec::<String>::new()).step(step())
            ])
            .validate()
            .is_err()
        );
        wf(vec![
            Job::new("a").step(step()),
            Job::new("b").needs(["a"]).step(step()),
        ])
        .validate()
        .unwrap();
    }

    #[test]
    fn tricky_scalars_survive() {
        let nasty = [
            "yes",
            "on",
            "NO",
            "null",
            "~",
            "123",
            "1.5",
            "0x1F",
            "-",
            "- item",
            ": x",
            "a: b",
            "# c",
            "x #y",
            "'q'",
            "\"d\"",
            "[1]",
            "{a}",
            "*ref",
            "&a",
            "!tag",
            "%x",
            "@x",
            "`x",
            "",
            " lead",
            "trail ",
            "a\tb",
            "\u{85}next",
            "line1\nline2",
            "  indented\nx",
            "\n",
            "x\n\n",
            "\u{2028}",
            "é ü 漢字",
            "${{ secrets.X }}",
            "|",
            ">",
            "?",
            "a\\b",
        ];
        let mut job = Job::new("j");
        for (i, s) in nasty.iter().enumerate() {
            job = job
                .step(Step::run(*s, format!("echo {i}")).env(format!("K{i}"), *s))
                .step(Step::run(format!("s{i}"), format!("{s}x")));
        }
        let wf = Workflow::new("w: \"q\"")
            .on_workflow_dispatch()
            .env("on", "off")
            .job(job);
        let yaml = wf.to_yaml().unwrap();
        assert_eq!(parse(&yaml), wf.to_node().to_json(), "{yaml}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn any_strings_roundtrip(
            name in "\\PC{0,20}",
            script in "[ -~\\n\\t]{1,60}",
            value in "\\PC{0,20}",
        ) {
            prop_assume!(!script.trim().is_empty());
            let wf = Workflow::new(format!("n{name}"))
                .on_push(EventFilter::branches([value.clone()]))
                .env("V", value.clone())
                .job(Job::new("a").step(Step::run(name.clone(), script.clone()).with("ignored", "x")));
            let yaml = wf.to_yaml().unwrap();
            let parsed = serde_saphyr::from_str::<serde_json::Value>(&yaml);
            prop_assert!(parsed.is_ok(), "{yaml}");
            prop_assert_eq!(parsed.unwrap(), wf.to_node().to_json());
        }
    }
}
