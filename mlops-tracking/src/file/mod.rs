//! [`FileTrackingBackend`]: a store in a directory, crash-safe and shared by processes.
//!
//! The layout and the write order are described in `docs/formats.md` ("mlops-tracking"). In
//! short: experiment and run metadata are JSON files replaced atomically; each run's metrics,
//! params, tags and artifact records go to one framed append-only log (`data.log`, one record per
//! [`log_batch`](TrackingBackend::log_batch), so a batch is all or nothing even across a crash);
//! `changes.log` tells other processes which experiments and runs changed; `store.lock` is
//! locked exclusively by every writer.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::artifact::{VerifyingReader, copy_hashed};
use crate::backend::TrackingBackend;
use crate::catalog::{Catalog, check_artifact_path, history_page};
use crate::error::{EntityKind, Result, TrackingError};
use crate::ids::{ExperimentId, RunId};
use crate::inputs::DatasetInput;
use crate::model::{
    ArtifactInfo, Batch, CreateRun, Experiment, HistoryRequest, LifecycleStage, Metric, Page, Run,
    RunInfo, SearchRuns, TAG_RUN_NAME, UpdateRun, ViewType, decode_page_token, now_ms,
};
use mlops_fs as fsutil;

mod history;
mod open;
mod records;
mod snapshot;
mod sync;

use self::history::{HISTORY_TOKEN_PREFIX, decode_history_token, encode_history_token};
pub use self::open::OpenReport;
use self::records::{Change, MetricOut, RecordOut, encode, io_err, write_json, write_new_json};

const MARKER: &str = "mlops-tracking.json";
const LOCK: &str = "store.lock";
const CHANGES: &str = "changes.log";
const EXPERIMENTS: &str = "experiments";
const RUNS: &str = "runs";
const META: &str = "meta.json";
const DATA: &str = "data.log";
const ARTIFACTS: &str = "artifacts";
const QUARANTINE: &str = "quarantine";
const FORMAT_VERSION: u32 = 1;

static ARTIFACT_TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A tracking store in a directory.
///
/// - **Durable by default**: every acknowledged write is fsynced (data, then directory entries)
///   before the call returns. [`with_fsync(false)`](Self::with_fsync) skips the fsyncs (for tests
///   and benches): a process crash still loses nothing acknowledged, a power loss may.
/// - **Several processes** may open the same directory and write to it, even to the same run:
///   writers take an exclusive lock on `store.lock` and first catch up with what others wrote, so
///   checks (such as write-once params) see every acknowledged write. Reads see other processes'
///   writes as soon as those are acknowledged.
/// - **Reopening** shows everything acknowledged; a torn last record of a log is dropped (see
///   [`open_report`](Self::open_report)); a damaged file anywhere else is a
///   [`TrackingError::Corrupt`] naming it.
///
/// Clones share the same open store.
#[derive(Debug, Clone)]
pub struct FileTrackingBackend {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    durable: AtomicBool,
    lock_file: File,
    state: Mutex<FileState>,
    report: OpenReport,
    /// Artifacts of experiments whose location is `s3://...` (feature `s3`).
    #[cfg(feature = "s3")]
    s3: crate::s3::S3Artifacts,
}

#[derive(Debug)]
struct FileState {
    catalog: Catalog,
    /// How many bytes of each run's `data.log` are applied to the catalog.
    logs: HashMap<RunId, u64>,
    changes: File,
    changes_offset: u64,
}

/// Hold the store's cross-process write lock until dropped.
struct Flock<'a>(&'a File, &'a Path);

impl<'a> Flock<'a> {
    fn exclusive(file: &'a File, path: &'a Path) -> Result<Self> {
        file.lock().map_err(io_err(path))?;
        Ok(Self(file, path))
    }
}

impl Drop for Flock<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.0.unlock() {
            tracing::warn!(path = %self.1.display(), error = %e, "cannot unlock the tracking store");
        }
    }
}

impl FileTrackingBackend {
    /// Open the store in `root`, creating it when absent. Removes crashed writers' temp files,
    /// drops torn log tails (see [`open_report`](Self::open_report)) and loads the metadata.
    ///
    /// # Errors
    /// `Io` naming the file that cannot be read or written; `Corrupt` naming a damaged file.
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref().to_owned();
        for dir in [root.clone(), root.join(EXPERIMENTS), root.join(RUNS)] {
            fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        }
        let lock_path = root.join(LOCK);
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        let mut report = OpenReport::default();
        let state = {
            let _flock = Flock::exclusive(&lock_file, &lock_path)?;
            Self::load(&root, &mut report)?
        };
        for p in &report.torn_tails {
            tracing::warn!(path = %p.display(), "dropped a torn last record");
        }
        Ok(Self {
            inner: Arc::new(Inner {
                root,
                durable: AtomicBool::new(true),
                lock_file,
                state: Mutex::new(state),
                report,
                #[cfg(feature = "s3")]
                s3: crate::s3::S3Artifacts::default(),
            }),
        })
    }

    /// Turn fsync on (the default) or off for later writes. Off, a process crash still loses
    /// nothing acknowledged, but a power loss or kernel crash may; use it for tests and benches.
    #[must_use]
    pub fn with_fsync(self, on: bool) -> Self {
        self.inner.durable.store(on, Ordering::Relaxed);
        self
    }

    /// Keep the artifacts of experiments created from now on in S3 (feature `s3`), as
    /// `mlflow server --default-artifact-root s3://...` does: a new experiment's artifact
    /// location is `<config's s3://bucket/prefix>/<experiment id>` and a run's artifacts go to
    /// `<location>/<run id>/artifacts/<path>`; this store keeps only their metadata (path, size,
    /// SHA-256). The config's endpoint and credentials serve its bucket; experiments in other
    /// buckets (or after a reopen without this call) use the `AWS_*` variables. Existing
    /// experiments keep their location.
    #[cfg(feature = "s3")]
    #[must_use]
    pub fn with_s3_artifacts(self, config: mlops_s3::S3Config) -> Self {
        self.inner.s3.set_default(config);
        self
    }

    /// The artifact location of a new experiment.
    fn new_location(&self, id: &ExperimentId) -> String {
        #[cfg(feature = "s3")]
        if let Some(location) = self.inner.s3.default_location(id) {
            return location;
        }
        artifact_location(&self.inner.root, id)
    }

    /// The store's directory.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// What opening the store found and repaired.
    #[must_use]
    pub fn open_report(&self) -> &OpenReport {
        &self.inner.report
    }

    fn durable(&self) -> bool {
        self.inner.durable.load(Ordering::Relaxed)
    }

    fn run_dir(&self, id: &RunId) -> PathBuf {
        self.inner.root.join(RUNS).join(id.as_str())
    }

    /// Run `f` under the in-process mutex and the cross-process write lock, caught up.
    fn write<T>(&self, f: impl FnOnce(&Self, &mut FileState) -> Result<T>) -> Result<T> {
        let mut st = self.inner.state.lock();
        let lock_path = self.inner.root.join(LOCK);
        let _flock = Flock::exclusive(&self.inner.lock_file, &lock_path)?;
        self.sync(&mut st, true)?;
        f(self, &mut st)
    }

    /// Run `f` on the caught-up state (no cross-process lock: files are only ever replaced
    /// atomically or appended to, and readers stop before an incomplete record).
    fn read<T>(&self, f: impl FnOnce(&FileState) -> Result<T>) -> Result<T> {
        let mut st = self.inner.state.lock();
        self.sync(&mut st, false)?;
        f(&st)
    }

    fn announce(&self, st: &mut FileState, change: &Change) -> Result<()> {
        let path = self.inner.root.join(CHANGES);
        let mut buf = Vec::with_capacity(64);
        encode(change, &mut buf, &path)?;
        if let Err(e) = st.changes.write_all(&buf) {
            // A partial record is a torn tail; cut it so that later records stay readable.
            let _ = fsutil::truncate_to(&path, st.changes_offset, false);
            return Err(io_err(&path)(e));
        }
        st.changes_offset += buf.len() as u64;
        Ok(())
    }

    /// Append one record to a run's log, all or nothing.
    fn append(&self, st: &mut FileState, id: &RunId, record: &RecordOut<'_>) -> Result<()> {
        let path = self.run_dir(id).join(DATA);
        let mut buf = Vec::with_capacity(64 + record.m.len() * 48);
        encode(record, &mut buf, &path)?;
        let old = st.logs.get(id).copied().unwrap_or(0);
        let result = (|| {
            let mut file = OpenOptions::new().append(true).open(&path)?;
            file.write_all(&buf)?;
            if self.durable() {
                file.sync_data()?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            let _ = fsutil::truncate_to(&path, old, false);
            return Err(io_err(&path)(e));
        }
        st.logs.insert(*id, old + buf.len() as u64);
        Ok(())
    }

    fn write_run_meta(&self, info: &RunInfo) -> Result<()> {
        write_json(&self.run_dir(&info.run_id).join(META), info, self.durable())
    }

    /// Record an artifact in the run's log (after moving its local temp into place, when the
    /// bytes are local).
    fn record_artifact(
        &self,
        run_id: &RunId,
        info: ArtifactInfo,
        temp: Option<&Path>,
    ) -> Result<ArtifactInfo> {
        let durable = self.durable();
        let dir = self.run_dir(run_id);
        self.write(|this, st| {
            st.catalog.active_run(run_id)?;
            this.settle_run_log(st, run_id)?;
            if let Some(temp) = temp {
                let target = dir.join(ARTIFACTS).join(&info.path);
                let parent = target.parent().unwrap_or(&dir).to_owned();
                fs::create_dir_all(&parent).map_err(io_err(&parent))?;
                fs::rename(temp, &target).map_err(io_err(&target))?;
                if durable {
                    fsutil::sync_dir(&parent).map_err(io_err(&parent))?;
                }
            }
            let rec = RecordOut {
                m: Vec::new(),
                p: &[],
                t: &[],
                a: Some(&info),
                i: &[],
            };
            this.append(st, run_id, &rec)?;
            st.catalog.add_artifact(run_id, info.clone())?;
            this.announce(st, &Change::Run(*run_id))
        })?;
        Ok(info)
    }

    #[cfg(feature = "s3")]
    fn s3_upload(&self, uri: &str, path: &str, data: &mut dyn Read) -> Result<ArtifactInfo> {
        self.inner.s3.upload(uri, path, data)
    }

    #[cfg(feature = "s3")]
    fn s3_open(&self, uri: &str, info: ArtifactInfo) -> Result<Box<dyn Read + Send>> {
        self.inner.s3.open(uri, info)
    }

    #[cfg(not(feature = "s3"))]
    fn s3_upload(&self, uri: &str, _: &str, _: &mut dyn Read) -> Result<ArtifactInfo> {
        Err(crate::s3::needs_feature(uri))
    }

    #[cfg(not(feature = "s3"))]
    fn s3_open(&self, uri: &str, _: ArtifactInfo) -> Result<Box<dyn Read + Send>> {
        Err(crate::s3::needs_feature(uri))
    }

    fn write_experiment(&self, exp: &Experiment) -> Result<()> {
        let path = self
            .inner
            .root
            .join(EXPERIMENTS)
            .join(format!("{}.json", exp.experiment_id));
        write_json(&path, exp, self.durable())
    }

    fn set_run_lifecycle(&self, run_id: &RunId, to: LifecycleStage) -> Result<()> {
        self.write(|this, st| {
            let info = st.catalog.run_lifecycle(run_id, to)?;
            this.write_run_meta(&info)?;
            st.catalog.set_run_info(run_id, info)?;
            this.announce(st, &Change::Run(*run_id))
        })
    }

    fn set_experiment_lifecycle(&self, id: &ExperimentId, to: LifecycleStage) -> Result<()> {
        self.write(|this, st| {
            let exp = st.catalog.experiment_lifecycle(id, to, now_ms())?;
            this.write_experiment(&exp)?;
            st.catalog.experiments.insert(id.clone(), exp);
            this.announce(st, &Change::Experiment(id.clone()))
        })
    }
}

/// An experiment's artifact location: an absolute `file://` URI (RFC 8089, as MLflow's file
/// store writes), so a run opened from another working directory still finds its artifacts.
fn artifact_location(root: &Path, _id: &ExperimentId) -> String {
    let runs = root.join(RUNS);
    let abs = std::path::absolute(&runs).unwrap_or(runs);
    file_uri(&abs)
}

/// `file://` + the path, with every byte outside RFC 3986's unreserved set and `/` percent-encoded.
fn file_uri(path: &Path) -> String {
    use std::fmt::Write as _;
    use std::os::unix::ffi::OsStrExt as _;
    let mut uri = String::from("file://");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            uri.push(char::from(b));
        } else {
            let _ = write!(uri, "%{b:02X}");
        }
    }
    uri
}

impl TrackingBackend for FileTrackingBackend {
    fn create_experiment(&self, name: &str, tags: &[(String, String)]) -> Result<Experiment> {
        self.write(|this, st| {
            let root = this.inner.root.clone();
            let exp =
                st.catalog
                    .new_experiment(name, tags, |id| this.new_location(id), now_ms())?;
            let path = root
                .join(EXPERIMENTS)
                .join(format!("{}.json", exp.experiment_id));
            write_new_json(&path, &exp, this.durable())?;
            st.catalog
                .experiments
                .insert(exp.experiment_id.clone(), exp.clone());
            this.announce(st, &Change::Experiment(exp.experiment_id.clone()))?;
            Ok(exp)
        })
    }

    fn get_experiment(&self, id: &ExperimentId) -> Result<Experiment> {
        self.read(|st| st.catalog.experiment(id).cloned())
    }

    fn get_experiment_by_name(&self, name: &str) -> Result<Option<Experiment>> {
        self.read(|st| Ok(st.catalog.experiment_by_name(name).cloned()))
    }

    fn list_experiments(&self, view: ViewType) -> Result<Vec<Experiment>> {
        self.read(|st| Ok(st.catalog.list_experiments(view)))
    }

    fn delete_experiment(&self, id: &ExperimentId) -> Result<()> {
        self.set_experiment_lifecycle(id, LifecycleStage::Deleted)
    }

    fn restore_experiment(&self, id: &ExperimentId) -> Result<()> {
        self.set_experiment_lifecycle(id, LifecycleStage::Active)
    }

    fn create_run(&self, experiment_id: &ExperimentId, opts: &CreateRun) -> Result<Run> {
        self.write(|this, st| {
            let root = st
                .catalog
                .experiment(experiment_id)?
                .artifact_location
                .clone();
            let (state, tags) = st.catalog.new_run(experiment_id, opts, &root, now_ms())?;
            let id = state.info.run_id;
            let dir = this.run_dir(&id);
            fs::create_dir(&dir).map_err(io_err(&dir))?;
            // The log first, the metadata last: a run directory without `meta.json` is an
            // interrupted creation and is skipped on open.
            let data = dir.join(DATA);
            let mut buf = Vec::new();
            encode(
                &RecordOut {
                    m: Vec::new(),
                    p: &[],
                    t: &tags,
                    a: None,
                    i: &[],
                },
                &mut buf,
                &data,
            )?;
            let durable = this.durable();
            (|| {
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&data)?;
                f.write_all(&buf)?;
                if durable {
                    f.sync_all()?;
                }
                Ok(())
            })()
            .map_err(io_err(&data))?;
            this.write_run_meta(&state.info)?;
            if durable {
                let runs = this.inner.root.join(RUNS);
                fsutil::sync_dir(&runs).map_err(io_err(&runs))?;
            }
            st.logs.insert(id, buf.len() as u64);
            let run = state.to_run();
            st.catalog.insert_run(state);
            this.announce(st, &Change::Run(id))?;
            Ok(run)
        })
    }

    fn update_run(&self, run_id: &RunId, update: &UpdateRun) -> Result<RunInfo> {
        self.write(|this, st| {
            let info = st.catalog.updated_info(run_id, update)?;
            if let Some(name) = &update.run_name {
                this.settle_run_log(st, run_id)?;
                let tags = [(TAG_RUN_NAME.to_owned(), name.clone())];
                let rec = RecordOut {
                    m: Vec::new(),
                    p: &[],
                    t: &tags,
                    a: None,
                    i: &[],
                };
                this.append(st, run_id, &rec)?;
                st.catalog.apply_run_tags(run_id, &tags)?;
            }
            this.write_run_meta(&info)?;
            st.catalog.set_run_info(run_id, info.clone())?;
            this.announce(st, &Change::Run(*run_id))?;
            Ok(info)
        })
    }

    fn get_run(&self, run_id: &RunId) -> Result<Run> {
        self.read(|st| Ok(st.catalog.run(run_id)?.to_run()))
    }

    fn delete_run(&self, run_id: &RunId) -> Result<()> {
        self.set_run_lifecycle(run_id, LifecycleStage::Deleted)
    }

    fn restore_run(&self, run_id: &RunId) -> Result<()> {
        self.set_run_lifecycle(run_id, LifecycleStage::Active)
    }

    fn search_runs(&self, req: &SearchRuns) -> Result<Page<Run>> {
        self.read(|st| st.catalog.search(req))
    }

    fn log_batch(&self, run_id: &RunId, batch: &Batch) -> Result<()> {
        if batch.is_empty() {
            return self.read(|st| st.catalog.active_run(run_id).map(|_| ()));
        }
        self.write(|this, st| {
            st.catalog.run(run_id)?;
            this.settle_run_log(st, run_id)?;
            st.catalog.check_batch(run_id, batch)?;
            let rec = RecordOut {
                m: batch
                    .metrics
                    .iter()
                    .map(|m| MetricOut(&m.key, m.value, m.timestamp, m.step))
                    .collect(),
                p: &batch.params,
                t: &batch.tags,
                a: None,
                i: &[],
            };
            this.append(st, run_id, &rec)?;
            st.catalog.apply_batch(run_id, batch)?;
            this.announce(st, &Change::Run(*run_id))
        })
    }

    fn log_inputs(&self, run_id: &RunId, inputs: &[DatasetInput]) -> Result<()> {
        self.write(|this, st| {
            st.catalog.run(run_id)?;
            this.settle_run_log(st, run_id)?;
            let new = st.catalog.check_inputs(run_id, inputs)?;
            if new.is_empty() {
                return Ok(());
            }
            let rec = RecordOut {
                m: Vec::new(),
                p: &[],
                t: &[],
                a: None,
                i: &new,
            };
            this.append(st, run_id, &rec)?;
            st.catalog.add_inputs(run_id, new)?;
            this.announce(st, &Change::Run(*run_id))
        })
    }

    fn get_metric_history(
        &self,
        run_id: &RunId,
        key: &str,
        req: &HistoryRequest,
    ) -> Result<Page<Metric>> {
        let limit = self.history_limit(run_id)?;
        if req.max_results == 0 {
            return history_page(std::iter::empty(), req);
        }
        // A page token of this backend names where the next page starts in the log (the byte
        // offset of a record and how many of its points of `key` come before), so each page
        // reads only from there, and stops at the record that fills it: paging through a
        // history is linear, not quadratic. Offset tokens (`o...`, as the other backends
        // make) are still accepted.
        let (from, mut skip, offset) = match req.page_token.as_deref() {
            Some(t) if t.starts_with(HISTORY_TOKEN_PREFIX) => {
                let (at, skip) = decode_history_token(t)?;
                (at, skip, None)
            }
            t => (0, 0, Some(decode_page_token(t)?)),
        };
        if from > limit {
            return Err(TrackingError::invalid(
                "page token",
                "points past the end of the metric log",
            ));
        }
        let mut seen = 0usize;
        let mut items = Vec::new();
        let mut next: Option<(u64, usize)> = None;
        let read = self.scan_history(run_id, key, from, limit, |record_at, index, m| {
            if skip > 0 {
                skip -= 1;
                return ControlFlow::Continue(());
            }
            if offset.is_some_and(|o| seen < o) {
                seen += 1;
                return ControlFlow::Continue(());
            }
            if items.len() == req.max_results {
                next = Some((record_at, index));
                return ControlFlow::Break(());
            }
            items.push(m);
            ControlFlow::Continue(())
        });
        match read {
            // A token of ours always points at a record; one that does not was not made here.
            Err(TrackingError::Corrupt { .. }) if offset.is_none() => {
                return Err(TrackingError::invalid(
                    "page token",
                    "does not point at a record of the metric log",
                ));
            }
            other => {
                other?;
            }
        }
        let next_page_token = next.map(|(at, skip)| encode_history_token(at, skip));
        Ok(Page {
            items,
            next_page_token,
        })
    }

    /// One pass over the run's log, one record in memory at a time, stopping at a `Break`.
    fn visit_metric_history(
        &self,
        run_id: &RunId,
        key: &str,
        f: &mut dyn FnMut(Metric) -> ControlFlow<()>,
    ) -> Result<()> {
        let limit = self.history_limit(run_id)?;
        self.scan_history(run_id, key, 0, limit, |_, _, m| f(m))
    }

    fn log_artifact(
        &self,
        run_id: &RunId,
        path: &str,
        data: &mut dyn Read,
    ) -> Result<ArtifactInfo> {
        check_artifact_path(path)?;
        let uri = self.read(|st| {
            st.catalog
                .active_run(run_id)
                .map(|r| r.info.artifact_uri.clone())
        })?;
        if crate::s3::is_s3(&uri) {
            // The bytes go to the object store; this store records the metadata only.
            let info = self.s3_upload(&uri, path, data)?;
            return self.record_artifact(run_id, info, None);
        }
        let dir = self.run_dir(run_id);
        let n = ARTIFACT_TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = dir.join(format!(
            ".artifact.{}.{n}{}",
            std::process::id(),
            fsutil::TEMP_SUFFIX
        ));
        let durable = self.durable();
        let written = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temp)?;
            let out = copy_hashed(data, &mut f)?;
            if durable {
                f.sync_all()?;
            }
            Ok(out)
        })();
        let (size, sha256) = match written {
            Ok(x) => x,
            Err(e) => {
                let _ = fs::remove_file(&temp);
                return Err(io_err(&temp)(e));
            }
        };
        let info = ArtifactInfo {
            path: path.to_owned(),
            size,
            sha256,
        };
        let result = self.record_artifact(run_id, info, Some(&temp));
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    }

    fn list_artifacts(&self, run_id: &RunId, prefix: Option<&str>) -> Result<Vec<ArtifactInfo>> {
        self.read(|st| {
            Ok(st
                .catalog
                .run(run_id)?
                .artifacts()
                .filter(|a| prefix.is_none_or(|p| a.path.starts_with(p)))
                .cloned()
                .collect())
        })
    }

    fn open_artifact(&self, run_id: &RunId, path: &str) -> Result<Box<dyn Read + Send>> {
        let info = self.read(|st| {
            st.catalog
                .run(run_id)?
                .artifact(path)
                .cloned()
                .ok_or_else(|| TrackingError::NotFound {
                    kind: EntityKind::Artifact,
                    id: format!("{run_id}/{path}"),
                })
        })?;
        let uri = self.read(|st| Ok(st.catalog.run(run_id)?.info.artifact_uri.clone()))?;
        if crate::s3::is_s3(&uri) {
            return self.s3_open(&uri, info);
        }
        let file_path = self.run_dir(run_id).join(ARTIFACTS).join(&info.path);
        let file = File::open(&file_path).map_err(io_err(&file_path))?;
        Ok(Box::new(VerifyingReader::new(
            BufReader::new(file),
            info.size,
            info.sha256,
            file_path.display().to_string(),
        )))
    }
}

#[cfg(test)]
mod conformance_tests {
    use super::*;
    use crate::conformance::Subject;

    crate::conformance_tests!(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_owned();
        let open = move || {
            Box::new(FileTrackingBackend::open(&path).unwrap().with_fsync(false))
                as Box<dyn TrackingBackend>
        };
        Subject::new(open()).with_reopen(open).with_guard(dir)
    });
}

#[cfg(test)]
mod tests;
