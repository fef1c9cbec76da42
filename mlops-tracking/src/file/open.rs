//! Opening a store: the format marker, stray temps, loading every experiment and run (on a few
//! threads), cutting torn log tails, and moving incomplete run directories to quarantine.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use crate::catalog::{Catalog, DEFAULT_EXPERIMENT_NAME, RunState};
use crate::error::{Result, TrackingError};
use crate::ids::RunId;
use crate::model::{Experiment, now_ms};
use mlops_fs as fsutil;

use super::records::{Marker, corrupt, io_err, load_run, read_json, read_log, write_new_json};
use super::snapshot::{self, DirStamp};
use super::{
    CHANGES, DATA, EXPERIMENTS, FORMAT_VERSION, FileState, FileTrackingBackend, MARKER, META,
    QUARANTINE, RUNS, artifact_location,
};

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
    /// How many runs were taken from the catalog snapshot (`catalog.snapshot`) instead of
    /// being read from their files, because their directory and log were unchanged.
    pub runs_from_snapshot: usize,
    /// Why the snapshot was not used at all (damaged, of another version, ...); every run was
    /// then read from its files. `None` when it was used or there was none.
    pub snapshot_rejected: Option<String>,
    /// How many runs a new snapshot written by this open holds (`None`: none was written; an
    /// open writes one when it had to read many runs from their files).
    pub snapshot_written: Option<usize>,
}

impl FileTrackingBackend {
    pub(super) fn load(root: &Path, report: &mut OpenReport) -> Result<FileState> {
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
        let mut dirs = std::collections::HashSet::new();
        for entry in fs::read_dir(&runs_dir).map_err(io_err(&runs_dir))? {
            let entry = entry.map_err(io_err(&runs_dir))?;
            let name = entry.file_name();
            if let Some(id) = name.to_str().and_then(|n| n.parse::<RunId>().ok()) {
                dirs.insert(id);
            }
        }
        // The snapshot's runs whose directory and log are as stamped (parsed and checked on a
        // few threads); all or nothing: one bad record and every run is read from its files.
        let mut loaded: Vec<LoadedRun> = Vec::new();
        let from_snapshot = match snapshot::read(root) {
            Ok(None) => Ok(Vec::new()),
            Ok(Some(file)) => {
                let parts = par_map(split(file.records(), threads()), |part| {
                    part.into_iter()
                        .map(|rec| {
                            let run = snapshot::parse(rec)?;
                            let id = run.id();
                            if !dirs.contains(&id) {
                                return Ok(None);
                            }
                            Ok(run.validate(&runs_dir.join(id.as_str())))
                        })
                        .collect::<std::result::Result<Vec<_>, String>>()
                });
                parts
                    .into_iter()
                    .collect::<std::result::Result<Vec<_>, String>>()
            }
            Err(why) => Err(why),
        };
        // The snapshot's runs go straight into the catalog (boxed on the loader threads), once
        // none of them is there twice.
        let mut logs = HashMap::new();
        let mut stamps = Vec::new();
        match from_snapshot {
            Ok(parts) => {
                let runs = || parts.iter().flatten().flatten();
                let mut seen = Vec::new();
                for (state, _, _) in runs() {
                    if !dirs.remove(&state.info.run_id) {
                        report.snapshot_rejected = Some("it holds a run twice".to_owned());
                        break;
                    }
                    seen.push(state.info.run_id);
                }
                if report.snapshot_rejected.is_some() {
                    dirs.extend(seen);
                } else {
                    let n = seen.len();
                    catalog.reserve_runs(n);
                    logs.reserve(n);
                    stamps.reserve(n);
                    for (state, len, stamp) in parts.into_iter().flatten().flatten() {
                        let id = state.info.run_id;
                        stamps.push((id, stamp));
                        logs.insert(id, len);
                        catalog.insert_boxed_run(state);
                    }
                    report.runs_from_snapshot = n;
                }
            }
            Err(why) => report.snapshot_rejected = Some(why),
        }
        if let Some(why) = &report.snapshot_rejected {
            tracing::warn!(
                path = %root.join(snapshot::SNAPSHOT).display(),
                why,
                "the catalog snapshot cannot be used; reading every run"
            );
        }
        // The other runs are independent files: load them on a few threads.
        let rest: Vec<RunId> = dirs.into_iter().collect();
        for part in par_map(split(rest, threads()), |part| {
            part.into_iter()
                .map(|id| load_run_dir(id, &runs_dir.join(id.as_str())))
                .collect::<Result<Vec<_>>>()
        }) {
            loaded.extend(part?);
        }
        let mut read_from_files = 0usize;
        {
            for run in loaded {
                read_from_files += 1;
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
                        if let Some(stamp) = run.stamp {
                            stamps.push((state.info.run_id, stamp));
                        }
                        logs.insert(state.info.run_id, len);
                        catalog.insert_run(state);
                    }
                }
            }
        }
        if read_from_files >= snapshot::WRITE_AFTER_LOADING {
            // A cache: failing to write it costs the next open time, nothing else.
            match snapshot::write(root, &catalog, &logs, &stamps) {
                Ok(n) => report.snapshot_written = Some(n),
                Err(e) => tracing::warn!(error = %e, "cannot write the catalog snapshot"),
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
}

/// How many threads an open loads runs on.
fn threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .clamp(1, 4)
}

/// `items` in `parts` nearly equal parts, in order.
fn split<T>(mut items: Vec<T>, parts: usize) -> Vec<Vec<T>> {
    let chunk = items.len().div_ceil(parts.max(1)).max(1);
    let mut out = Vec::new();
    while items.len() > chunk {
        let rest = items.split_off(chunk);
        out.push(std::mem::replace(&mut items, rest));
    }
    out.push(items);
    out
}

/// `f` applied to each part on its own thread, results in order; a panic in `f` is resumed.
fn par_map<T: Send, R: Send>(parts: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = parts.into_iter().map(|p| s.spawn(move || f(p))).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// Move an incomplete run directory out of `runs/` into `quarantine/` (under the store's
/// exclusive lock, so its creator is gone) and return its new path.
fn quarantine(root: &Path, dir: &Path) -> Result<PathBuf> {
    let qdir = root.join(QUARANTINE);
    fs::create_dir_all(&qdir).map_err(io_err(&qdir))?;
    let name = dir
        .file_name()
        .map_or_else(Default::default, std::ffi::OsStr::to_os_string);
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
    /// The directory's stamp taken before its files were read (`None` when too recent).
    stamp: Option<DirStamp>,
}

/// Load one run directory at open (under the exclusive lock): clean its stray temps, skip it
/// when incomplete, cut a torn log tail.
fn load_run_dir(id: RunId, dir: &Path) -> Result<LoadedRun> {
    // Before reading: a change after this moves the stamp, so the snapshot cannot hide it.
    let stamp = DirStamp::take(dir);
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
            stamp: None,
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
        stamp,
    })
}
