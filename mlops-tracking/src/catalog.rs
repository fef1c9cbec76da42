//! The state and rules every backend shares: experiments, runs, validation, search.
//!
//! Backends keep a [`Catalog`] (the file backend as a cache of its files) and call its `check_*`
//! methods before persisting anything, then its `apply_*` methods, so the rules live in one place.

use std::collections::{BTreeMap, HashMap};

use crate::columns::Columns;
use crate::error::{EntityKind, Result, TrackingError};
use crate::filter::{NumAttr, RunFields, StrAttr};
use crate::ids::{ExperimentId, RunId, validate_key, validate_tag_value};
use crate::inputs::{DatasetInput, new_inputs};
use crate::model::{
    ArtifactInfo, Batch, CreateRun, Experiment, LifecycleStage, Metric, Page, Run, RunData,
    RunInfo, RunStatus, TAG_PARENT_RUN_ID, TAG_RUN_NAME, TAG_USER, UpdateRun, ViewType,
    decode_page_token, encode_page_token, param_conflict, validate_name,
};
use crate::vecmap::VecMap;

mod scan;

/// Name of the experiment every store starts with (id `"0"`), as in MLflow.
pub const DEFAULT_EXPERIMENT_NAME: &str = "Default";
/// Id of the default experiment.
pub const DEFAULT_EXPERIMENT_ID: &str = "0";

/// A run as the backends keep it: info, params, tags, the latest value of each metric, and (in
/// [`RunCold`], boxed, absent for most runs) the artifact index and the inputs.
///
/// Kept small: a store holds one per run (see `docs/scaling.md`, "open file store").
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct RunState {
    pub info: RunInfo,
    pub params: VecMap<Box<str>, Box<str>>,
    pub tags: VecMap<Box<str>, Box<str>>,
    pub latest: VecMap<Box<str>, LatestValue>,
    pub cold: Option<Box<RunCold>>,
}

/// The latest value of a metric key (the key is the map's).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct LatestValue {
    #[serde(with = "crate::model::f64_special")]
    pub value: f64,
    pub timestamp: i64,
    pub step: i64,
}

impl LatestValue {
    /// [`Metric::latest_order`] on the point's fields.
    fn latest_order(&self, other: &Self) -> std::cmp::Ordering {
        (self.step, self.timestamp)
            .cmp(&(other.step, other.timestamp))
            .then(self.value.total_cmp(&other.value))
    }
}

/// The parts of a run that few runs have.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct RunCold {
    pub artifacts: BTreeMap<String, ArtifactInfo>,
    pub inputs: Vec<DatasetInput>,
}

impl RunState {
    pub(crate) fn new(info: RunInfo) -> Self {
        Self {
            info,
            params: VecMap::default(),
            tags: VecMap::default(),
            latest: VecMap::default(),
            cold: None,
        }
    }

    /// The artifact index.
    pub(crate) fn artifacts(&self) -> impl Iterator<Item = &ArtifactInfo> {
        self.cold.iter().flat_map(|c| c.artifacts.values())
    }

    /// The artifact at `path`.
    pub(crate) fn artifact(&self, path: &str) -> Option<&ArtifactInfo> {
        self.cold.as_ref().and_then(|c| c.artifacts.get(path))
    }

    /// Add (or replace) an artifact in the index.
    pub(crate) fn add_artifact(&mut self, info: ArtifactInfo) {
        self.cold_mut().artifacts.insert(info.path.clone(), info);
    }

    /// The run's inputs, in logging order.
    pub(crate) fn inputs(&self) -> &[DatasetInput] {
        self.cold.as_ref().map_or(&[], |c| c.inputs.as_slice())
    }

    /// Add inputs (already checked to be new).
    pub(crate) fn add_inputs(&mut self, inputs: impl IntoIterator<Item = DatasetInput>) {
        let mut inputs = inputs.into_iter().peekable();
        if inputs.peek().is_some() {
            self.cold_mut().inputs.extend(inputs);
        }
    }

    fn cold_mut(&mut self) -> &mut RunCold {
        self.cold.get_or_insert_with(Box::default)
    }

    pub(crate) fn to_run(&self) -> Run {
        let mut tags: BTreeMap<String, String> = self
            .tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        tags.insert(TAG_RUN_NAME.to_owned(), self.info.run_name.clone());
        Run {
            info: self.info.clone(),
            data: RunData {
                metrics: self
                    .latest
                    .iter()
                    .map(|(k, l)| {
                        (
                            k.to_string(),
                            Metric {
                                key: k.to_string(),
                                value: l.value,
                                timestamp: l.timestamp,
                                step: l.step,
                            },
                        )
                    })
                    .collect(),
                params: self
                    .params
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                tags,
            },
            inputs: self.inputs().to_vec(),
        }
    }

    /// Apply a batch that [`Catalog::check_batch`] accepted (or that was read back from disk).
    pub(crate) fn apply_metrics<'a>(&mut self, metrics: impl IntoIterator<Item = &'a Metric>) {
        for m in metrics {
            self.apply_metric(&m.key, m.value, m.timestamp, m.step);
        }
    }

    /// Apply one metric point.
    pub(crate) fn apply_metric(&mut self, key: &str, value: f64, timestamp: i64, step: i64) {
        let new = LatestValue {
            value,
            timestamp,
            step,
        };
        match self.latest.get_mut(key) {
            Some(cur) => {
                if new.latest_order(cur).is_gt() {
                    *cur = new;
                }
            }
            None => {
                self.latest.insert(key.into(), new);
            }
        }
    }

    pub(crate) fn apply_params_tags(
        &mut self,
        params: &[(String, String)],
        tags: &[(String, String)],
    ) {
        for (k, v) in params {
            self.params
                .insert_if_absent(k.as_str().into(), || v.as_str().into());
        }
        for (k, v) in tags {
            if k == TAG_RUN_NAME {
                self.info.run_name.clone_from(v);
            }
            self.tags.insert(k.as_str().into(), v.as_str().into());
        }
    }
}

impl RunFields for RunState {
    fn metric(&self, key: &str) -> Option<f64> {
        self.latest.get(key).map(|m| m.value)
    }
    fn param(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(AsRef::as_ref)
    }
    fn tag(&self, key: &str) -> Option<&str> {
        if key == TAG_RUN_NAME {
            return Some(&self.info.run_name);
        }
        self.tags.get(key).map(AsRef::as_ref)
    }
    fn str_attr(&self, attr: StrAttr) -> Option<&str> {
        Some(match attr {
            StrAttr::Status => self.info.status.as_str(),
            StrAttr::RunName => &self.info.run_name,
            StrAttr::RunId => self.info.run_id.as_str(),
            StrAttr::UserId => &self.info.user_id,
            StrAttr::ArtifactUri => &self.info.artifact_uri,
            StrAttr::LifecycleStage => self.info.lifecycle_stage.as_str(),
        })
    }
    fn num_attr(&self, attr: NumAttr) -> Option<i64> {
        match attr {
            NumAttr::StartTime => Some(self.info.start_time),
            NumAttr::EndTime => self.info.end_time,
        }
    }
    fn inputs(&self) -> &[DatasetInput] {
        RunState::inputs(self)
    }
}

/// Experiments and runs, with the rules.
///
/// The runs are private: every change goes through a method that also updates the search
/// columns ([`Columns`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct Catalog {
    pub experiments: BTreeMap<ExperimentId, Experiment>,
    runs: HashMap<RunId, RunEntry>,
    columns: Columns,
}

/// A run and its row in its experiment's columns.
#[derive(Debug, Clone)]
struct RunEntry {
    row: u32,
    /// Boxed: a map's spare slots then cost a pointer, not a whole run.
    state: Box<RunState>,
}

fn not_found(kind: EntityKind, id: impl ToString) -> TrackingError {
    TrackingError::NotFound {
        kind,
        id: id.to_string(),
    }
}

/// Natural order of experiment ids: numeric ids by value, then the rest by text.
fn id_order(id: &ExperimentId) -> (usize, &str) {
    (id.as_str().len(), id.as_str())
}

impl Catalog {
    pub(crate) fn experiment(&self, id: &ExperimentId) -> Result<&Experiment> {
        self.experiments
            .get(id)
            .ok_or_else(|| not_found(EntityKind::Experiment, id))
    }

    pub(crate) fn experiment_by_name(&self, name: &str) -> Option<&Experiment> {
        self.experiments.values().find(|e| e.name == name)
    }

    pub(crate) fn list_experiments(&self, view: ViewType) -> Vec<Experiment> {
        let mut out: Vec<Experiment> = self
            .experiments
            .values()
            .filter(|e| view.includes(e.lifecycle_stage))
            .cloned()
            .collect();
        out.sort_by(|a, b| id_order(&a.experiment_id).cmp(&id_order(&b.experiment_id)));
        out
    }

    pub(crate) fn run(&self, id: &RunId) -> Result<&RunState> {
        self.runs
            .get(id)
            .map(|r| &*r.state)
            .ok_or_else(|| not_found(EntityKind::Run, id))
    }

    /// Insert a run, or replace the state of one.
    pub(crate) fn insert_run(&mut self, state: RunState) {
        self.insert_boxed_run(Box::new(state));
    }

    /// [`insert_run`](Self::insert_run) of a state already boxed.
    pub(crate) fn insert_boxed_run(&mut self, state: Box<RunState>) {
        let id = state.info.run_id;
        if let Some(entry) = self.runs.get_mut(&id) {
            let old_row = entry.row;
            let (row, moved) = self.columns.replace(old_row, &entry.state, &state);
            entry.row = row;
            entry.state = state;
            // A run that changed experiment left its row to the last run of the old one.
            if let Some(moved) = moved
                && let Some(entry) = self.runs.get_mut(&moved)
            {
                entry.row = old_row;
            }
        } else {
            let row = self.columns.add(&state);
            self.runs.insert(id, RunEntry { row, state });
        }
    }

    /// Replace a run's info (same run, same experiment).
    pub(crate) fn set_run_info(&mut self, id: &RunId, info: RunInfo) -> Result<()> {
        let entry = self
            .runs
            .get_mut(id)
            .ok_or_else(|| not_found(EntityKind::Run, id))?;
        if entry.state.info.experiment_id != info.experiment_id {
            let mut state = (*entry.state).clone();
            state.info = info;
            self.insert_run(state);
            return Ok(());
        }
        entry.state.info = info;
        self.columns.update(entry.row, &entry.state, [], [], []);
        Ok(())
    }

    /// Set tags on a run (checked by the caller).
    pub(crate) fn apply_run_tags(&mut self, id: &RunId, tags: &[(String, String)]) -> Result<()> {
        let entry = self
            .runs
            .get_mut(id)
            .ok_or_else(|| not_found(EntityKind::Run, id))?;
        entry.state.apply_params_tags(&[], tags);
        self.columns.update(
            entry.row,
            &entry.state,
            [],
            [],
            tags.iter().map(|(k, _)| k.as_str()),
        );
        Ok(())
    }

    /// Add (or replace) an artifact in a run's index.
    pub(crate) fn add_artifact(&mut self, id: &RunId, info: ArtifactInfo) -> Result<()> {
        self.runs
            .get_mut(id)
            .ok_or_else(|| not_found(EntityKind::Run, id))?
            .state
            .add_artifact(info);
        Ok(())
    }

    /// Add inputs to a run (already checked to be new).
    pub(crate) fn add_inputs(
        &mut self,
        id: &RunId,
        inputs: impl IntoIterator<Item = DatasetInput>,
    ) -> Result<()> {
        self.runs
            .get_mut(id)
            .ok_or_else(|| not_found(EntityKind::Run, id))?
            .state
            .add_inputs(inputs);
        Ok(())
    }

    /// The next free numeric experiment id.
    pub(crate) fn next_experiment_id(&self) -> ExperimentId {
        let next = self
            .experiments
            .keys()
            .filter_map(|id| id.as_str().parse::<u64>().ok())
            .max()
            .map_or(0, |m| m + 1);
        ExperimentId::from_numeric(next)
    }

    /// Make room for `additional` more runs.
    pub(crate) fn reserve_runs(&mut self, additional: usize) {
        self.runs.reserve(additional);
    }

    /// Validate a new experiment and build it (not yet inserted).
    pub(crate) fn new_experiment(
        &self,
        name: &str,
        tags: &[(String, String)],
        artifact_location: impl FnOnce(&ExperimentId) -> String,
        now: i64,
    ) -> Result<Experiment> {
        validate_name("experiment name", name)?;
        if self.experiment_by_name(name).is_some() {
            return Err(TrackingError::AlreadyExists {
                kind: EntityKind::Experiment,
                id: name.to_owned(),
            });
        }
        let tags = check_tags(tags)?;
        let id = self.next_experiment_id();
        Ok(Experiment {
            artifact_location: artifact_location(&id),
            experiment_id: id,
            name: name.to_owned(),
            lifecycle_stage: LifecycleStage::Active,
            tags,
            creation_time: now,
            last_update_time: now,
        })
    }

    /// The experiment with its lifecycle changed; `Conflict` when it is already in `to`.
    pub(crate) fn experiment_lifecycle(
        &self,
        id: &ExperimentId,
        to: LifecycleStage,
        now: i64,
    ) -> Result<Experiment> {
        let exp = self.experiment(id)?;
        if exp.experiment_id.as_str() == DEFAULT_EXPERIMENT_ID && to == LifecycleStage::Deleted {
            return Err(TrackingError::Conflict(format!(
                "the default experiment {id} cannot be deleted"
            )));
        }
        if exp.lifecycle_stage == to {
            return Err(TrackingError::Conflict(format!(
                "experiment {id} is already {to}"
            )));
        }
        let mut exp = exp.clone();
        exp.lifecycle_stage = to;
        exp.last_update_time = now;
        Ok(exp)
    }

    /// Validate a new run and build it (not yet inserted): its state and its initial tags.
    pub(crate) fn new_run(
        &self,
        experiment_id: &ExperimentId,
        opts: &CreateRun,
        artifact_root: &str,
        now: i64,
    ) -> Result<(RunState, Vec<(String, String)>)> {
        let exp = self.experiment(experiment_id)?;
        if exp.lifecycle_stage != LifecycleStage::Active {
            return Err(TrackingError::Conflict(format!(
                "experiment {experiment_id} is deleted; restore it before creating runs in it"
            )));
        }
        if opts.tags.len() > crate::ids::MAX_BATCH_TAGS {
            return Err(TrackingError::invalid(
                "tags",
                format!(
                    "{} tags; at most {} are allowed",
                    opts.tags.len(),
                    crate::ids::MAX_BATCH_TAGS
                ),
            ));
        }
        let mut tags = check_tags(&opts.tags)?;
        if let Some(parent) = &opts.parent_run_id {
            self.run(parent)?;
            tags.insert(TAG_PARENT_RUN_ID.to_owned(), parent.to_string());
        }
        let run_id = RunId::new();
        let run_name = match (&opts.run_name, tags.get(TAG_RUN_NAME)) {
            (Some(n), _) | (None, Some(n)) => n.clone(),
            (None, None) => format!("run-{}", &run_id.as_str()[..8]),
        };
        validate_name("run name", &run_name)?;
        tags.insert(TAG_RUN_NAME.to_owned(), run_name.clone());
        let user_id = opts.user_id.clone().unwrap_or_default();
        if !user_id.is_empty() {
            validate_tag_value(TAG_USER, &user_id)?;
            tags.insert(TAG_USER.to_owned(), user_id.clone());
        }
        let info = RunInfo {
            run_id,
            experiment_id: experiment_id.clone(),
            run_name,
            user_id,
            status: opts.status.unwrap_or(RunStatus::Running),
            start_time: opts.start_time.unwrap_or(now),
            end_time: None,
            artifact_uri: format!("{artifact_root}/{run_id}/artifacts"),
            lifecycle_stage: LifecycleStage::Active,
        };
        let mut state = RunState::new(info);
        let tag_list: Vec<(String, String)> = tags.into_iter().collect();
        state.apply_params_tags(&[], &tag_list);
        Ok((state, tag_list))
    }

    /// The run's info after `update`; errors for deleted or unknown runs.
    pub(crate) fn updated_info(&self, run_id: &RunId, update: &UpdateRun) -> Result<RunInfo> {
        let run = self.active_run(run_id)?;
        let mut info = run.info.clone();
        if let Some(s) = update.status {
            info.status = s;
        }
        if let Some(t) = update.end_time {
            info.end_time = Some(t);
        }
        if let Some(n) = &update.run_name {
            validate_name("run name", n)?;
            info.run_name.clone_from(n);
        }
        Ok(info)
    }

    /// The run, which must be active (not deleted).
    pub(crate) fn active_run(&self, run_id: &RunId) -> Result<&RunState> {
        let run = self.run(run_id)?;
        if run.info.lifecycle_stage != LifecycleStage::Active {
            return Err(TrackingError::Conflict(format!(
                "run {run_id} is deleted; restore it before changing it"
            )));
        }
        Ok(run)
    }

    /// The run's info with its lifecycle changed; `Conflict` when it already is in `to`.
    pub(crate) fn run_lifecycle(&self, run_id: &RunId, to: LifecycleStage) -> Result<RunInfo> {
        let run = self.run(run_id)?;
        if run.info.lifecycle_stage == to {
            return Err(TrackingError::Conflict(format!(
                "run {run_id} is already {to}"
            )));
        }
        let mut info = run.info.clone();
        info.lifecycle_stage = to;
        Ok(info)
    }

    /// Check a batch against the rules and the run's state: the run exists and is active, the
    /// batch is valid, and no param changes value.
    /// Validate inputs for an active run and return those it does not hold yet.
    pub(crate) fn check_inputs(
        &self,
        run_id: &RunId,
        inputs: &[DatasetInput],
    ) -> Result<Vec<DatasetInput>> {
        let run = self.active_run(run_id)?;
        new_inputs(run_id.as_str(), run.inputs(), inputs)
    }

    pub(crate) fn check_batch(&self, run_id: &RunId, batch: &Batch) -> Result<()> {
        let run = self.active_run(run_id)?;
        batch.validate()?;
        for (k, v) in &batch.params {
            if let Some(old) = run.params.get(k.as_str())
                && **old != **v
            {
                return Err(param_conflict(k, old, v));
            }
        }
        Ok(())
    }

    pub(crate) fn apply_batch(&mut self, run_id: &RunId, batch: &Batch) -> Result<()> {
        let entry = self
            .runs
            .get_mut(run_id)
            .ok_or_else(|| not_found(EntityKind::Run, run_id))?;
        entry.state.apply_params_tags(&batch.params, &batch.tags);
        entry.state.apply_metrics(&batch.metrics);
        self.columns.update(
            entry.row,
            &entry.state,
            batch.metrics.iter().map(|m| m.key.as_str()),
            batch.params.iter().map(|(k, _)| k.as_str()),
            batch.tags.iter().map(|(k, _)| k.as_str()),
        );
        Ok(())
    }
}

/// Validate tags and collect them into a map.
pub(crate) fn check_tags(tags: &[(String, String)]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (k, v) in tags {
        validate_key("tag key", k)?;
        validate_tag_value(k, v)?;
        out.insert(k.clone(), v.clone());
    }
    Ok(out)
}

/// Validate an artifact path: a clean relative path (not empty, not absolute, no empty, `.` or
/// `..` segment, no control character), whatever its other characters, since MLflow's clients
/// store file names such as `a+b=c&d.txt` or `100%.txt` as they are.
pub(crate) fn check_artifact_path(path: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(TrackingError::invalid(
            "artifact path",
            format!("{path:?} {why}"),
        ))
    };
    if path.is_empty() {
        return bad("is empty");
    }
    if let Some(c) = path.chars().find(|c| c.is_control()) {
        return bad(&format!("contains the control character {c:?}"));
    }
    if path
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return bad(
            "is not a clean relative path (empty, '.' or '..' segment, or a leading or trailing '/')",
        );
    }
    Ok(())
}

/// Slice one page out of a metric history.
pub(crate) fn history_page(
    all: impl Iterator<Item = Metric>,
    req: &crate::model::HistoryRequest,
) -> Result<Page<Metric>> {
    if req.max_results == 0 {
        return Err(TrackingError::invalid("max_results", "must be at least 1"));
    }
    let offset = decode_page_token(req.page_token.as_deref())?;
    let mut items = Vec::new();
    let mut more = false;
    for (i, m) in all.enumerate().skip(offset) {
        if i >= offset + req.max_results {
            more = true;
            break;
        }
        items.push(m);
    }
    let next_page_token = more.then(|| encode_page_token(offset + items.len()));
    Ok(Page {
        items,
        next_page_token,
    })
}
