//! The workflow's nouns: triggers, steps, jobs and the workflow itself, with their builders.

use serde::{Deserialize, Serialize};

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
    pub(super) fn is_empty(&self) -> bool {
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
}
