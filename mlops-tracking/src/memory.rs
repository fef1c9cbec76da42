//! [`InMemoryTrackingBackend`]: everything in process memory, for tests and short-lived jobs.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::artifact::{VerifyingReader, copy_hashed};
use crate::backend::TrackingBackend;
use crate::catalog::{
    Catalog, DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME, check_artifact_path, history_page,
};
use crate::error::{EntityKind, Result, TrackingError};
use crate::ids::{ExperimentId, RunId};
use crate::inputs::DatasetInput;
use crate::model::{
    ArtifactInfo, Batch, CreateRun, Experiment, HistoryRequest, LifecycleStage, Metric, Page, Run,
    RunInfo, SearchRuns, UpdateRun, ViewType, now_ms,
};

#[derive(Debug)]
struct State {
    catalog: Catalog,
    /// Full metric history per run and key, in logging order.
    history: HashMap<RunId, BTreeMap<String, Vec<Metric>>>,
    /// Artifact contents per run and path.
    blobs: HashMap<RunId, BTreeMap<String, Arc<Vec<u8>>>>,
}

/// A tracking backend that keeps everything in memory.
///
/// Clones share the same state (it is a handle over `Arc<RwLock<_>>`), so a clone handed to
/// another thread sees every write. Nothing survives the process. Like every store, it starts
/// with the experiment `"0"` named `Default`.
#[derive(Debug, Clone)]
pub struct InMemoryTrackingBackend {
    state: Arc<RwLock<State>>,
}

impl Default for InMemoryTrackingBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemoryTrackingBackend {
    /// An empty store holding only the default experiment.
    #[must_use]
    pub fn new() -> Self {
        let now = now_ms();
        let mut catalog = Catalog::default();
        let id = ExperimentId::from_numeric(0);
        debug_assert_eq!(id.as_str(), DEFAULT_EXPERIMENT_ID);
        catalog.experiments.insert(
            id.clone(),
            Experiment {
                artifact_location: format!("memory://{id}"),
                experiment_id: id,
                name: DEFAULT_EXPERIMENT_NAME.to_owned(),
                lifecycle_stage: LifecycleStage::Active,
                tags: BTreeMap::new(),
                creation_time: now,
                last_update_time: now,
            },
        );
        Self {
            state: Arc::new(RwLock::new(State {
                catalog,
                history: HashMap::new(),
                blobs: HashMap::new(),
            })),
        }
    }
}

impl TrackingBackend for InMemoryTrackingBackend {
    fn create_experiment(&self, name: &str, tags: &[(String, String)]) -> Result<Experiment> {
        let mut st = self.state.write();
        let exp = st
            .catalog
            .new_experiment(name, tags, |id| format!("memory://{id}"), now_ms())?;
        st.catalog
            .experiments
            .insert(exp.experiment_id.clone(), exp.clone());
        Ok(exp)
    }

    fn get_experiment(&self, id: &ExperimentId) -> Result<Experiment> {
        self.state.read().catalog.experiment(id).cloned()
    }

    fn get_experiment_by_name(&self, name: &str) -> Result<Option<Experiment>> {
        Ok(self.state.read().catalog.experiment_by_name(name).cloned())
    }

    fn list_experiments(&self, view: ViewType) -> Result<Vec<Experiment>> {
        Ok(self.state.read().catalog.list_experiments(view))
    }

    fn delete_experiment(&self, id: &ExperimentId) -> Result<()> {
        let mut st = self.state.write();
        let exp = st
            .catalog
            .experiment_lifecycle(id, LifecycleStage::Deleted, now_ms())?;
        st.catalog.experiments.insert(id.clone(), exp);
        Ok(())
    }

    fn restore_experiment(&self, id: &ExperimentId) -> Result<()> {
        let mut st = self.state.write();
        let exp = st
            .catalog
            .experiment_lifecycle(id, LifecycleStage::Active, now_ms())?;
        st.catalog.experiments.insert(id.clone(), exp);
        Ok(())
    }

    fn create_run(&self, experiment_id: &ExperimentId, opts: &CreateRun) -> Result<Run> {
        let mut st = self.state.write();
        let root = st
            .catalog
            .experiment(experiment_id)?
            .artifact_location
            .clone();
        let (run, _) = st.catalog.new_run(experiment_id, opts, &root, now_ms())?;
        let out = run.to_run();
        st.catalog.insert_run(run);
        Ok(out)
    }

    fn update_run(&self, run_id: &RunId, update: &UpdateRun) -> Result<RunInfo> {
        let mut st = self.state.write();
        let info = st.catalog.updated_info(run_id, update)?;
        st.catalog.set_run_info(run_id, info.clone())?;
        Ok(info)
    }

    fn get_run(&self, run_id: &RunId) -> Result<Run> {
        Ok(self.state.read().catalog.run(run_id)?.to_run())
    }

    fn delete_run(&self, run_id: &RunId) -> Result<()> {
        let mut st = self.state.write();
        let info = st.catalog.run_lifecycle(run_id, LifecycleStage::Deleted)?;
        st.catalog.set_run_info(run_id, info)?;
        Ok(())
    }

    fn restore_run(&self, run_id: &RunId) -> Result<()> {
        let mut st = self.state.write();
        let info = st.catalog.run_lifecycle(run_id, LifecycleStage::Active)?;
        st.catalog.set_run_info(run_id, info)?;
        Ok(())
    }

    fn search_runs(&self, req: &SearchRuns) -> Result<Page<Run>> {
        self.state.read().catalog.search(req)
    }

    fn log_batch(&self, run_id: &RunId, batch: &Batch) -> Result<()> {
        let mut st = self.state.write();
        st.catalog.check_batch(run_id, batch)?;
        st.catalog.apply_batch(run_id, batch)?;
        let history = st.history.entry(*run_id).or_default();
        for m in &batch.metrics {
            match history.get_mut(&m.key) {
                Some(v) => v.push(m.clone()),
                None => {
                    history.insert(m.key.clone(), vec![m.clone()]);
                }
            }
        }
        Ok(())
    }

    fn get_metric_history(
        &self,
        run_id: &RunId,
        key: &str,
        req: &HistoryRequest,
    ) -> Result<Page<Metric>> {
        let st = self.state.read();
        st.catalog.run(run_id)?;
        let all = st
            .history
            .get(run_id)
            .and_then(|h| h.get(key))
            .map(Vec::as_slice)
            .unwrap_or_default();
        history_page(all.iter().cloned(), req)
    }

    fn log_inputs(&self, run_id: &RunId, inputs: &[DatasetInput]) -> Result<()> {
        let mut st = self.state.write();
        let new = st.catalog.check_inputs(run_id, inputs)?;
        st.catalog.add_inputs(run_id, new)?;
        Ok(())
    }

    fn log_artifact(
        &self,
        run_id: &RunId,
        path: &str,
        data: &mut dyn Read,
    ) -> Result<ArtifactInfo> {
        check_artifact_path(path)?;
        self.state.read().catalog.active_run(run_id)?;
        let mut content = Vec::new();
        let (size, sha256) =
            copy_hashed(data, &mut content).map_err(|source| TrackingError::Io {
                path: path.into(),
                source,
            })?;
        let info = ArtifactInfo {
            path: path.to_owned(),
            size,
            sha256,
        };
        let mut st = self.state.write();
        st.catalog.active_run(run_id)?;
        st.catalog.add_artifact(run_id, info.clone())?;
        st.blobs
            .entry(*run_id)
            .or_default()
            .insert(path.to_owned(), Arc::new(content));
        Ok(info)
    }

    fn list_artifacts(&self, run_id: &RunId, prefix: Option<&str>) -> Result<Vec<ArtifactInfo>> {
        let st = self.state.read();
        let run = st.catalog.run(run_id)?;
        Ok(run
            .artifacts()
            .filter(|a| prefix.is_none_or(|p| a.path.starts_with(p)))
            .cloned()
            .collect())
    }

    fn open_artifact(&self, run_id: &RunId, path: &str) -> Result<Box<dyn Read + Send>> {
        let st = self.state.read();
        let run = st.catalog.run(run_id)?;
        let not_found = || TrackingError::NotFound {
            kind: EntityKind::Artifact,
            id: format!("{run_id}/{path}"),
        };
        let info = run.artifact(path).ok_or_else(not_found)?;
        let blob = st
            .blobs
            .get(run_id)
            .and_then(|b| b.get(path))
            .cloned()
            .ok_or_else(not_found)?;
        Ok(Box::new(VerifyingReader::new(
            std::io::Cursor::new(ArcBytes(blob)),
            info.size,
            info.sha256.clone(),
            format!("{run_id}/{path}"),
        )))
    }
}

/// Shared bytes viewed as a slice (so opening an artifact does not copy it).
struct ArcBytes(Arc<Vec<u8>>);

impl AsRef<[u8]> for ArcBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::conformance::Subject;

    crate::conformance_tests!(|| Subject::new(Box::new(InMemoryTrackingBackend::new())));
}
