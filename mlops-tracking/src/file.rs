//! [`FileTrackingBackend`]: a store in a directory, crash-safe and shared by processes.
//!
//! The layout and the write order are described in `docs/formats.md` ("mlops-tracking"). In
//! short: experiment and run metadata are JSON files replaced atomically; each run's metrics,
//! params, tags and artifact records go to one framed append-only log (`data.log`, one record per
//! [`log_batch`](TrackingBackend::log_batch), so a batch is all or nothing even across a crash);
//! `changes.log` tells other processes which experiments and runs changed; `store.lock` is
//! locked exclusively by every writer.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::artifact::{VerifyingReader, copy_hashed};
use crate::backend::TrackingBackend;
use crate::catalog::{
    Catalog, DEFAULT_EXPERIMENT_NAME, RunState, check_artifact_path, history_page,
};
use crate::error::{Result, TrackingError};
use crate::ids::{ExperimentId, RunId};
use crate::model::{
    ArtifactInfo, Batch, CreateRun, Experiment, HistoryRequest, LifecycleStage, Metric, Page, Run,
    RunInfo, SearchRuns, TAG_RUN_NAME, UpdateRun, ViewType, decode_page_token, encode_page_token,
    f64_special, now_ms,
};
use mlops_fs as fsutil;

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

/// What opening a store found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OpenReport {
    /// Logs whose torn last record (a crash mid-append) was dropped and truncated away.
    pub torn_tails: Vec<PathBuf>,
    /// Temp files of crashed writers that were removed.
    pub removed_temps: Vec<PathBuf>,
    /// Run directories without `meta.json` (a crash while the run was being created, so
    /// nothing in them was acknowledged). Each is moved to `quarantine/` (see
    /// [`quarantined`](Self::quarantined)) and so reported by one open only.
    pub incomplete_runs: Vec<PathBuf>,
    /// Where the [`incomplete_runs`](Self::incomplete_runs) were moved, in the same order:
    /// `<root>/quarantine/<run id>` (with a `.<n>` suffix if that is taken).
    pub quarantined: Vec<PathBuf>,
}

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
}

#[derive(Debug)]
struct FileState {
    catalog: Catalog,
    /// How many bytes of each run's `data.log` are applied to the catalog.
    logs: HashMap<RunId, u64>,
    changes: File,
    changes_offset: u64,
}

/// One record of `changes.log`.
#[derive(Debug, Serialize, Deserialize)]
enum Change {
    #[serde(rename = "e")]
    Experiment(ExperimentId),
    #[serde(rename = "r")]
    Run(RunId),
}

#[derive(Serialize)]
struct MetricOut<'a>(&'a str, #[serde(with = "f64_special")] f64, i64, i64);

#[derive(Deserialize)]
struct MetricIn(String, #[serde(with = "f64_special")] f64, i64, i64);

/// One record of a run's `data.log`.
#[derive(Serialize)]
struct RecordOut<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    m: Vec<MetricOut<'a>>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    p: &'a [(String, String)],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    t: &'a [(String, String)],
    #[serde(skip_serializing_if = "Option::is_none")]
    a: Option<&'a ArtifactInfo>,
}

#[derive(Deserialize)]
struct RecordIn {
    #[serde(default)]
    m: Vec<MetricIn>,
    #[serde(default)]
    p: Vec<(String, String)>,
    #[serde(default)]
    t: Vec<(String, String)>,
    #[serde(default)]
    a: Option<ArtifactInfo>,
}

#[derive(Serialize, Deserialize)]
struct Marker {
    format: String,
    version: u32,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> TrackingError + '_ {
    move |source| TrackingError::Io {
        path: path.to_owned(),
        source,
    }
}

fn corrupt(path: &Path, detail: impl Into<String>) -> TrackingError {
    TrackingError::Corrupt {
        path: path.to_owned(),
        detail: detail.into(),
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| corrupt(path, format!("not valid JSON of the expected shape: {e}")))
}

fn write_json<T: Serialize>(path: &Path, value: &T, durable: bool) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|source| TrackingError::Serde {
        path: path.to_owned(),
        source,
    })?;
    bytes.push(b'\n');
    fsutil::write_atomic(path, &bytes, durable).map_err(io_err(path))
}

/// Append one framed record holding `payload` as compact JSON to `out`: the frame of
/// `fsutil::encode_record` (`<len> <crc32> <payload>\n`), serialized in place to save a copy.
fn encode(payload: &impl Serialize, out: &mut Vec<u8>, path: &Path) -> Result<()> {
    const HEADER: usize = 18;
    let start = out.len();
    out.extend_from_slice(&[b' '; HEADER]);
    if let Err(source) = serde_json::to_writer(&mut *out, payload) {
        out.truncate(start);
        return Err(TrackingError::Serde {
            path: path.to_owned(),
            source,
        });
    }
    let payload = &out[start + HEADER..];
    let Ok(len) = u32::try_from(payload.len()) else {
        out.truncate(start);
        return Err(TrackingError::invalid(
            "record",
            format!("a record for {} is over 4 GiB", path.display()),
        ));
    };
    let crc = crc32fast::hash(payload);
    let header = format!("{len:08x} {crc:08x} ");
    out[start..start + HEADER].copy_from_slice(header.as_bytes());
    out.push(b'\n');
    Ok(())
}

/// The end of a log read by [`read_log`].
struct LogEnd {
    /// Offset just past the last intact record.
    valid_len: u64,
    /// Whether an incomplete or damaged last record follows `valid_len`.
    torn: bool,
}

/// Read the framed records of `path` from byte `from`, calling `f` with each payload. The read
/// is capped at the file's length measured when it starts (or at `limit`, when smaller): bytes
/// another process appends meanwhile are left for the next read, and a record it is still
/// writing ends the read as "not yet written" (`torn`), never as corruption. A missing file
/// reads as empty. Only a damaged record followed by an intact one is `Corrupt`.
fn read_log(
    path: &Path,
    from: u64,
    limit: Option<u64>,
    mut f: impl FnMut(&[u8]) -> Result<()>,
) -> Result<LogEnd> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound && from == 0 => {
            return Ok(LogEnd {
                valid_len: 0,
                torn: false,
            });
        }
        Err(e) => return Err(io_err(path)(e)),
    };
    let len = file.metadata().map_err(io_err(path))?.len();
    let cap = limit.map_or(len, |l| l.min(len));
    if cap <= from {
        return Ok(LogEnd {
            valid_len: from,
            torn: false,
        });
    }
    file.seek(SeekFrom::Start(from)).map_err(io_err(path))?;
    let mut reader = fsutil::RecordReader::new(file, from, cap);
    loop {
        match reader.next_record() {
            Ok(Some(payload)) => f(payload)?,
            Ok(None) => {
                return Ok(LogEnd {
                    valid_len: reader.valid_len(),
                    torn: reader.torn(),
                });
            }
            Err(fsutil::ReadError::Io(e)) => return Err(io_err(path)(e)),
            Err(e @ fsutil::ReadError::Corrupt(_)) => return Err(corrupt(path, e.to_string())),
        }
    }
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

    fn load(root: &Path, report: &mut OpenReport) -> Result<FileState> {
        let marker = root.join(MARKER);
        if marker.exists() {
            let m: Marker = read_json(&marker)?;
            if m.format != "mlops-tracking" || m.version != FORMAT_VERSION {
                return Err(corrupt(
                    &marker,
                    format!(
                        "store format {} version {} is not mlops-tracking version {FORMAT_VERSION}",
                        m.format, m.version
                    ),
                ));
            }
        }
        for dir in [root.to_owned(), root.join(EXPERIMENTS), root.join(RUNS)] {
            report
                .removed_temps
                .extend(fsutil::remove_stray_temps(&dir).map_err(io_err(&dir))?);
        }
        let mut catalog = Catalog::default();
        let exp_dir = root.join(EXPERIMENTS);
        for entry in fs::read_dir(&exp_dir).map_err(io_err(&exp_dir))? {
            let entry = entry.map_err(io_err(&exp_dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if fsutil::is_temp_name(name) || !name.ends_with(".json") {
                continue;
            }
            let exp: Experiment = read_json(&entry.path())?;
            if format!("{}.json", exp.experiment_id) != name {
                return Err(corrupt(
                    &entry.path(),
                    format!("holds experiment {}", exp.experiment_id),
                ));
            }
            catalog.experiments.insert(exp.experiment_id.clone(), exp);
        }
        let runs_dir = root.join(RUNS);
        let mut dirs = Vec::new();
        for entry in fs::read_dir(&runs_dir).map_err(io_err(&runs_dir))? {
            let entry = entry.map_err(io_err(&runs_dir))?;
            let name = entry.file_name();
            if let Some(id) = name.to_str().and_then(|n| n.parse::<RunId>().ok()) {
                dirs.push((id, entry.path()));
            }
        }
        // Runs are independent files: load them on a few threads.
        let threads = std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .clamp(1, 4);
        let chunk = dirs.len().div_ceil(threads).max(1);
        let loaded: Vec<Result<Vec<LoadedRun>>> = std::thread::scope(|s| {
            let handles: Vec<_> = dirs
                .chunks(chunk)
                .map(|part| {
                    s.spawn(move || {
                        part.iter()
                            .map(|(id, dir)| load_run_dir(*id, dir))
                            .collect()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(corrupt(&runs_dir, "a loader thread panicked")))
                })
                .collect()
        });
        let mut logs = HashMap::new();
        for part in loaded {
            for run in part? {
                report.removed_temps.extend(run.removed_temps);
                match run.state {
                    None => {
                        let moved = quarantine(root, &run.dir)?;
                        tracing::warn!(
                            run = %run.dir.display(),
                            moved_to = %moved.display(),
                            "a run directory without meta.json (a crash while the run was being \
                             created) was moved to quarantine"
                        );
                        report.incomplete_runs.push(run.dir);
                        report.quarantined.push(moved);
                    }
                    Some((state, len, torn)) => {
                        if torn {
                            report.torn_tails.push(run.dir.join(DATA));
                        }
                        logs.insert(state.info.run_id, len);
                        catalog.runs.insert(state.info.run_id, state);
                    }
                }
            }
        }
        let changes_path = root.join(CHANGES);
        let end = read_log(&changes_path, 0, None, |_| Ok(()))?;
        if end.torn {
            fsutil::truncate_to(&changes_path, end.valid_len, true)
                .map_err(io_err(&changes_path))?;
            report.torn_tails.push(changes_path.clone());
        }
        let changes = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&changes_path)
            .map_err(io_err(&changes_path))?;
        let mut st = FileState {
            catalog,
            logs,
            changes,
            changes_offset: end.valid_len,
        };
        if !marker.exists() {
            let m = Marker {
                format: "mlops-tracking".to_owned(),
                version: FORMAT_VERSION,
            };
            let bytes = serde_json::to_vec_pretty(&m).map_err(|source| TrackingError::Serde {
                path: marker.clone(),
                source,
            })?;
            match fsutil::create_new_atomic(&marker, &bytes, true) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_err(&marker)(e)),
            }
        }
        if st.catalog.experiments.is_empty() {
            let now = now_ms();
            let exp = st.catalog.new_experiment(
                DEFAULT_EXPERIMENT_NAME,
                &[],
                |id| artifact_location(root, id),
                now,
            )?;
            let path = exp_dir.join(format!("{}.json", exp.experiment_id));
            write_new_json(&path, &exp, true)?;
            st.catalog
                .experiments
                .insert(exp.experiment_id.clone(), exp);
        }
        Ok(st)
    }

    /// Catch up with other processes' writes (named in `changes.log`). With `repair` (only under
    /// the write lock), a torn tail left by a crashed writer is truncated away.
    ///
    /// All or nothing: every changed experiment and run is loaded first, onto copies; only when
    /// all loaded are they applied and the change-log offset advanced. On an error (an I/O
    /// error, a file briefly missing) the state and the offset stay as they were, the error is
    /// returned, and the next call tries again.
    fn sync(&self, st: &mut FileState, repair: bool) -> Result<()> {
        let path = self.inner.root.join(CHANGES);
        let len = st.changes.metadata().map_err(io_err(&path))?.len();
        if len == st.changes_offset {
            return Ok(());
        }
        if len < st.changes_offset {
            // Only a torn tail we never consumed can be cut; anything else is tampering.
            return Err(corrupt(
                &path,
                format!("shrank from {} to {len} bytes", st.changes_offset),
            ));
        }
        let mut experiments = BTreeSet::new();
        let mut runs = BTreeSet::new();
        let end = read_log(&path, st.changes_offset, None, |payload| {
            match serde_json::from_slice(payload)
                .map_err(|e| corrupt(&path, format!("bad change record: {e}")))?
            {
                Change::Experiment(id) => experiments.insert(id),
                Change::Run(id) => runs.insert(id),
            };
            Ok(())
        })?;
        let mut loaded_experiments = Vec::with_capacity(experiments.len());
        for id in experiments {
            let p = self.inner.root.join(EXPERIMENTS).join(format!("{id}.json"));
            loaded_experiments.push((id, read_json::<Experiment>(&p)?));
        }
        let mut loaded_runs = Vec::with_capacity(runs.len());
        for id in runs {
            loaded_runs.push((id, self.load_run_update(st, &id, repair)?));
        }
        if end.torn && repair {
            fsutil::truncate_to(&path, end.valid_len, self.durable()).map_err(io_err(&path))?;
        }
        // Everything loaded: apply it.
        st.changes_offset = end.valid_len;
        for (id, exp) in loaded_experiments {
            st.catalog.experiments.insert(id, exp);
        }
        for (id, (state, len)) in loaded_runs {
            st.logs.insert(id, len);
            st.catalog.runs.insert(id, state);
        }
        Ok(())
    }

    /// A run's metadata and its log read onto a copy of the state `st` holds for it (from the
    /// offset already applied), without changing `st`: the new state and log length.
    fn load_run_update(&self, st: &FileState, id: &RunId, repair: bool) -> Result<(RunState, u64)> {
        let dir = self.run_dir(id);
        let (base, from) = match (st.logs.get(id), st.catalog.runs.get(id)) {
            (Some(&from), Some(state)) if from > 0 => (Some(state.clone()), from),
            _ => (None, 0),
        };
        let (state, len, torn) = load_run(&dir, base, from)?;
        if torn && repair {
            let data = dir.join(DATA);
            fsutil::truncate_to(&data, len, self.durable()).map_err(io_err(&data))?;
        }
        Ok((state, len))
    }

    /// Re-read a run's metadata and the new part of its log; on an error nothing changes.
    fn refresh_run(&self, st: &mut FileState, id: &RunId, repair: bool) -> Result<()> {
        let (state, len) = self.load_run_update(st, id, repair)?;
        st.logs.insert(*id, len);
        st.catalog.runs.insert(*id, state);
        Ok(())
    }

    /// Under the write lock: make sure the run's log holds nothing we have not applied (records
    /// of a writer that crashed before announcing them, or a torn tail).
    fn settle_run_log(&self, st: &mut FileState, id: &RunId) -> Result<()> {
        let data = self.run_dir(id).join(DATA);
        let len = match fs::metadata(&data) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(io_err(&data)(e)),
        };
        if st.logs.get(id).copied() != Some(len) {
            self.refresh_run(st, id, true)?;
        }
        Ok(())
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
            st.catalog.run_mut(run_id)?.info = info;
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

fn artifact_location(root: &Path, _id: &ExperimentId) -> String {
    root.join(RUNS).display().to_string()
}

fn write_new_json<T: Serialize>(path: &Path, value: &T, durable: bool) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|source| TrackingError::Serde {
        path: path.to_owned(),
        source,
    })?;
    bytes.push(b'\n');
    fsutil::create_new_atomic(path, &bytes, durable).map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            corrupt(path, "exists although the store did not know it")
        } else {
            io_err(path)(e)
        }
    })
}

/// Move an incomplete run directory out of `runs/` into `quarantine/` (under the store's
/// exclusive lock, so its creator is gone) and return its new path.
fn quarantine(root: &Path, dir: &Path) -> Result<PathBuf> {
    let qdir = root.join(QUARANTINE);
    fs::create_dir_all(&qdir).map_err(io_err(&qdir))?;
    let name = dir
        .file_name()
        .map_or_else(Default::default, |n| n.to_owned());
    let mut target = qdir.join(&name);
    let mut n = 1;
    while target.exists() {
        target = qdir.join(format!("{}.{n}", name.to_string_lossy()));
        n += 1;
    }
    fs::rename(dir, &target).map_err(io_err(dir))?;
    let runs = root.join(RUNS);
    for d in [&runs, &qdir] {
        fsutil::sync_dir(d).map_err(io_err(d))?;
    }
    Ok(target)
}

/// A run directory as found by [`FileTrackingBackend::open`].
struct LoadedRun {
    dir: PathBuf,
    removed_temps: Vec<PathBuf>,
    /// `None` for an interrupted creation (no `meta.json`); else the state, the valid log
    /// length and whether a torn tail was cut.
    state: Option<(RunState, u64, bool)>,
}

/// Load one run directory at open (under the exclusive lock): clean its stray temps, skip it
/// when incomplete, cut a torn log tail.
fn load_run_dir(id: RunId, dir: &Path) -> Result<LoadedRun> {
    // One listing tells whether the run is complete and whether temps need cleaning.
    let mut has_meta = false;
    let mut has_temps = false;
    for e in fs::read_dir(dir).map_err(io_err(dir))? {
        let name = e.map_err(io_err(dir))?.file_name();
        let name = name.to_string_lossy();
        has_meta |= name == META;
        has_temps |= fsutil::is_temp_name(&name);
    }
    let removed_temps = if has_temps {
        fsutil::remove_stray_temps(dir).map_err(io_err(dir))?
    } else {
        Vec::new()
    };
    if !has_meta {
        return Ok(LoadedRun {
            dir: dir.to_owned(),
            removed_temps,
            state: None,
        });
    }
    let (state, len, torn) = load_run(dir, None, 0)?;
    if state.info.run_id != id {
        return Err(corrupt(
            &dir.join(META),
            format!("holds run {}", state.info.run_id),
        ));
    }
    if torn {
        let data = dir.join(DATA);
        fsutil::truncate_to(&data, len, true).map_err(io_err(&data))?;
    }
    Ok(LoadedRun {
        dir: dir.to_owned(),
        removed_temps,
        state: Some((state, len, torn)),
    })
}

/// Load a run from its directory: `meta.json`, then `data.log` from `from` applied onto `state`
/// (or onto a fresh state when `None`). Returns the state, the valid log length and whether the
/// log has a torn tail.
fn load_run(dir: &Path, state: Option<RunState>, from: u64) -> Result<(RunState, u64, bool)> {
    let info: RunInfo = read_json(&dir.join(META))?;
    let mut state = match state {
        Some(mut s) => {
            s.info = info;
            s
        }
        None => RunState::new(info),
    };
    let data = dir.join(DATA);
    let end = read_log(&data, from, None, |payload| {
        let rec: RecordIn = serde_json::from_slice(payload)
            .map_err(|e| corrupt(&data, format!("bad record: {e}")))?;
        apply_record(&mut state, rec);
        Ok(())
    })?;
    // Every rename goes through a `mlflow.runName` tag record: the log's latest one wins.
    if let Some(name) = state.tags.get(TAG_RUN_NAME) {
        state.info.run_name.clone_from(name);
    }
    Ok((state, end.valid_len, end.torn))
}

fn apply_record(state: &mut RunState, rec: RecordIn) {
    state.apply_params_tags(&rec.p, &rec.t);
    for MetricIn(key, value, timestamp, step) in rec.m {
        state.apply_metrics(std::iter::once(&Metric {
            key,
            value,
            timestamp,
            step,
        }));
    }
    if let Some(a) = rec.a {
        state.artifacts.insert(a.path.clone(), a);
    }
}

impl TrackingBackend for FileTrackingBackend {
    fn create_experiment(&self, name: &str, tags: &[(String, String)]) -> Result<Experiment> {
        self.write(|this, st| {
            let root = this.inner.root.clone();
            let exp = st.catalog.new_experiment(
                name,
                tags,
                |id| artifact_location(&root, id),
                now_ms(),
            )?;
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
            st.catalog.runs.insert(id, state);
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
                };
                this.append(st, run_id, &rec)?;
                st.catalog.run_mut(run_id)?.apply_params_tags(&[], &tags);
            }
            this.write_run_meta(&info)?;
            st.catalog.run_mut(run_id)?.info = info.clone();
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
            };
            this.append(st, run_id, &rec)?;
            st.catalog.apply_batch(run_id, batch)?;
            this.announce(st, &Change::Run(*run_id))
        })
    }

    fn get_metric_history(
        &self,
        run_id: &RunId,
        key: &str,
        req: &HistoryRequest,
    ) -> Result<Page<Metric>> {
        // Read the log outside the lock, up to what the catalog had applied.
        let limit = self.read(|st| {
            st.catalog.run(run_id)?;
            Ok(st.logs.get(run_id).copied().unwrap_or(0))
        })?;
        if req.max_results == 0 {
            return history_page(std::iter::empty(), req);
        }
        let offset = decode_page_token(req.page_token.as_deref())?;
        let data = self.run_dir(run_id).join(DATA);
        let mut seen = 0usize;
        let mut items = Vec::new();
        let mut more = false;
        read_log(&data, 0, Some(limit), |payload| {
            if more {
                return Ok(());
            }
            let rec: RecordIn = serde_json::from_slice(payload)
                .map_err(|e| corrupt(&data, format!("bad record: {e}")))?;
            for MetricIn(k, value, timestamp, step) in rec.m {
                if k != key {
                    continue;
                }
                if seen >= offset {
                    if items.len() == req.max_results {
                        more = true;
                        break;
                    }
                    items.push(Metric {
                        key: k,
                        value,
                        timestamp,
                        step,
                    });
                }
                seen += 1;
            }
            Ok(())
        })?;
        let next_page_token = more.then(|| encode_page_token(offset + items.len()));
        Ok(Page {
            items,
            next_page_token,
        })
    }

    fn log_artifact(
        &self,
        run_id: &RunId,
        path: &str,
        data: &mut dyn Read,
    ) -> Result<ArtifactInfo> {
        check_artifact_path(path)?;
        self.read(|st| st.catalog.active_run(run_id).map(|_| ()))?;
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
        let result = self.write(|this, st| {
            st.catalog.active_run(run_id)?;
            this.settle_run_log(st, run_id)?;
            let target = dir.join(ARTIFACTS).join(path);
            let parent = target.parent().unwrap_or(&dir).to_owned();
            fs::create_dir_all(&parent).map_err(io_err(&parent))?;
            fs::rename(&temp, &target).map_err(io_err(&target))?;
            if durable {
                fsutil::sync_dir(&parent).map_err(io_err(&parent))?;
            }
            let rec = RecordOut {
                m: Vec::new(),
                p: &[],
                t: &[],
                a: Some(&info),
            };
            this.append(st, run_id, &rec)?;
            st.catalog
                .run_mut(run_id)?
                .artifacts
                .insert(path.to_owned(), info.clone());
            this.announce(st, &Change::Run(*run_id))
        });
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result.map(|()| info)
    }

    fn list_artifacts(&self, run_id: &RunId, prefix: Option<&str>) -> Result<Vec<ArtifactInfo>> {
        self.read(|st| {
            Ok(st
                .catalog
                .run(run_id)?
                .artifacts
                .values()
                .filter(|a| prefix.is_none_or(|p| a.path.starts_with(p)))
                .cloned()
                .collect())
        })
    }

    fn open_artifact(&self, run_id: &RunId, path: &str) -> Result<Box<dyn Read + Send>> {
        let info = self.read(|st| {
            st.catalog
                .run(run_id)?
                .artifacts
                .get(path)
                .cloned()
                .ok_or_else(|| TrackingError::NotFound {
                    kind: "artifact",
                    id: format!("{run_id}/{path}"),
                })
        })?;
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

    crate::tracking_conformance_tests!({
        let dir = tempfile::tempdir().unwrap();
        move || {
            Box::new(
                FileTrackingBackend::open(dir.path())
                    .unwrap()
                    .with_fsync(false),
            ) as Box<dyn TrackingBackend>
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_place_framing_matches_the_shared_frame() {
        let metrics = [
            MetricOut("loss", f64::NAN, 1, 2),
            MetricOut("acc", 0.5, 3, 4),
        ];
        let tags = [("k".to_owned(), "v \"quoted\"\n".to_owned())];
        let rec = RecordOut {
            m: metrics.into_iter().collect(),
            p: &[],
            t: &tags,
            a: None,
        };
        let mut ours = b"prefix".to_vec();
        encode(&rec, &mut ours, Path::new("x")).unwrap();
        let mut shared = b"prefix".to_vec();
        fsutil::encode_record(&serde_json::to_vec(&rec).unwrap(), &mut shared).unwrap();
        assert_eq!(ours, shared);
        let scan = fsutil::scan_records(&ours[6..]).unwrap();
        assert_eq!(scan.records.len(), 1);
        assert!(scan.torn_at.is_none());
    }
}
