//! `catalog.snapshot`: the loaded catalog in one file, so that opening a store with many runs
//! reads one file and checks two `stat`s per run instead of opening three files per run.
//!
//! The snapshot is a cache, never the truth: each run in it carries the stamp of its directory
//! (inode, modification and change time, in nanoseconds) and the length of its `data.log` as
//! they were when the run's files were read. At open a run is taken from the snapshot only when
//! both still match; any other run, any run not in the snapshot, and every run when the
//! snapshot is missing, damaged or of another version, is read from its files as before. Every
//! change to a run either appends to its `data.log` or adds, removes or renames an entry in its
//! directory (`meta.json` is replaced by a rename; temp files and artifacts are created there),
//! and either moves one of the two stamps.
//!
//! File times tick coarsely (a few milliseconds), so a directory changed in the same tick as its
//! stamp was taken would keep its stamp: like git's index ("racy git"), a stamp taken less than
//! [`RACY_NS`] after the directory's last change is not recorded, and that run is read from its
//! files at the next open.
//!
//! Format (see `docs/formats.md`): framed records (`mlops_fs::encode_record`), the first a
//! header `{"format":"mlops-tracking-snapshot","version":1,"runs":N}`, then `N` records
//! `{"s": <run state>, "l": <data.log length>, "d": [inode, mtime ns, ctime ns]}`. Written with
//! `mlops_fs::write_atomic` (temp, rename) under the store's lock, without fsync: a snapshot lost
//! or torn by a power cut is rejected (framing, checksums, count) and the store is scanned.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, RunState};
use crate::error::{Result, TrackingError};
use crate::ids::RunId;
use mlops_fs as fsutil;

use super::DATA;
use super::records::io_err;

/// The snapshot's file name, in the store's root.
pub(super) const SNAPSHOT: &str = "catalog.snapshot";
const FORMAT: &str = "mlops-tracking-snapshot";
const VERSION: u32 = 1;

/// A directory stamp younger than this (relative to when it was taken) is not trusted.
pub(super) const RACY_NS: i128 = 1_000_000_000;

/// An open that read at least this many runs from their files writes a new snapshot.
pub(super) const WRITE_AFTER_LOADING: usize = if cfg!(test) { 1 } else { 1000 };

/// A run directory's identity and times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct DirStamp(u64, i128, i128);

impl DirStamp {
    fn of(meta: &fs::Metadata) -> Self {
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        Self(
            meta.ino(),
            ns(meta.mtime(), meta.mtime_nsec()),
            ns(meta.ctime(), meta.ctime_nsec()),
        )
    }

    /// The stamp of `dir` now, or `None` when it changed too recently to be trusted (or cannot
    /// be read).
    pub(super) fn take(dir: &Path) -> Option<Self> {
        let stamp = Self::of(&fs::metadata(dir).ok()?);
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .ok()?
            .as_nanos();
        let now = i128::try_from(now).ok()?;
        (now - stamp.1.max(stamp.2) >= RACY_NS).then_some(stamp)
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    runs: usize,
}

/// One run of the snapshot.
#[derive(Serialize, Deserialize)]
pub(super) struct SnapRun {
    /// Boxed here, on the loader thread, as the catalog keeps it.
    s: Box<RunState>,
    l: u64,
    d: DirStamp,
}

impl SnapRun {
    /// The run's id.
    pub(super) fn id(&self) -> RunId {
        self.s.info.run_id
    }

    /// The run's state and log length, when its directory and log are as stamped.
    pub(super) fn validate(self, dir: &Path) -> Option<(Box<RunState>, u64, DirStamp)> {
        let now = DirStamp::of(&fs::metadata(dir).ok()?);
        if now != self.d {
            return None;
        }
        let len = fs::metadata(dir.join(DATA)).ok()?.len();
        (len == self.l).then_some((self.s, self.l, self.d))
    }
}

/// A snapshot file read whole, its framing, checksums, header and count checked.
pub(super) struct SnapFile {
    bytes: Vec<u8>,
    records: Vec<(usize, usize)>,
}

impl SnapFile {
    /// The run records' payloads.
    pub(super) fn records(&self) -> Vec<&[u8]> {
        self.records
            .iter()
            .map(|&(a, b)| &self.bytes[a..b])
            .collect()
    }
}

/// The snapshot in `root`, or why it cannot be used (`Ok(None)` when there is none).
pub(super) fn read(root: &Path) -> std::result::Result<Option<SnapFile>, String> {
    let path = root.join(SNAPSHOT);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read it: {e}")),
    };
    let scan = fsutil::scan_records(&bytes)
        .map_err(|e| format!("a damaged record at byte {}: {}", e.offset, e.detail))?;
    if let Some(at) = scan.torn_at {
        return Err(format!("it ends in a damaged record at byte {at}"));
    }
    let base = bytes.as_ptr() as usize;
    let mut records = scan.records.iter().map(|r| {
        (
            r.as_ptr() as usize - base,
            r.as_ptr() as usize - base + r.len(),
        )
    });
    let header: Header = records.next().ok_or("it is empty").and_then(|(a, b)| {
        serde_json::from_slice(&bytes[a..b]).map_err(|_| "its header is not valid")
    })?;
    if header.format != FORMAT || header.version != VERSION {
        return Err(format!(
            "it is {} version {}, not {FORMAT} version {VERSION}",
            header.format, header.version
        ));
    }
    let records: Vec<(usize, usize)> = records.collect();
    if records.len() != header.runs {
        return Err(format!(
            "it holds {} runs, its header says {}",
            records.len(),
            header.runs
        ));
    }
    Ok(Some(SnapFile { bytes, records }))
}

/// One run record of the snapshot.
pub(super) fn parse(record: &[u8]) -> std::result::Result<SnapRun, String> {
    serde_json::from_slice(record).map_err(|e| format!("a run record is not valid: {e}"))
}

/// Write the snapshot of the runs of `catalog` that have a stamp in `stamps` (with the log
/// lengths in `logs`), replacing the old one. Call under the store's lock, right after loading.
pub(super) fn write(
    root: &Path,
    catalog: &Catalog,
    logs: &HashMap<RunId, u64>,
    stamps: &[(RunId, DirStamp)],
) -> Result<usize> {
    let path = root.join(SNAPSHOT);
    let serde_err = |source| TrackingError::Serde {
        path: path.clone(),
        source,
    };
    let runs: Vec<(&RunState, u64, DirStamp)> = stamps
        .iter()
        .filter_map(|(id, d)| Some((catalog.run(id).ok()?, *logs.get(id)?, *d)))
        .collect();
    let mut out = Vec::with_capacity(runs.len() * 384 + 64);
    let mut payload = Vec::with_capacity(1024);
    let header = Header {
        format: FORMAT.to_owned(),
        version: VERSION,
        runs: runs.len(),
    };
    serde_json::to_writer(&mut payload, &header).map_err(serde_err)?;
    fsutil::encode_record(&payload, &mut out).map_err(io_err(&path))?;
    #[derive(Serialize)]
    struct SnapRunOut<'a> {
        s: &'a RunState,
        l: u64,
        d: DirStamp,
    }
    for (s, l, d) in &runs {
        payload.clear();
        serde_json::to_writer(&mut payload, &SnapRunOut { s, l: *l, d: *d }).map_err(serde_err)?;
        fsutil::encode_record(&payload, &mut out).map_err(io_err(&path))?;
    }
    fsutil::write_atomic(&path, &out, false).map_err(io_err(&path))?;
    Ok(runs.len())
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;
    use crate::backend::{TrackingBackend, TrackingBackendExt};
    use crate::file::{FileTrackingBackend, META};
    use crate::ids::ExperimentId;
    use crate::inputs::{Dataset, DatasetInput, InputContext};
    use crate::model::{Batch, CreateRun, Run, RunStatus, SearchRuns, UpdateRun, ViewType};

    fn open(root: &Path) -> FileTrackingBackend {
        FileTrackingBackend::open(root).unwrap().with_fsync(false)
    }

    /// Every run of the store, sorted by id, as the backend returns it.
    fn all_runs(b: &FileTrackingBackend, exp: &ExperimentId) -> Vec<Run> {
        let mut runs = b
            .search_all_runs(&SearchRuns::new([exp.clone()]).view(ViewType::All))
            .unwrap();
        runs.sort_by_key(|r| r.info.run_id);
        runs
    }

    /// A store with `n` runs holding params, tags, metrics, an artifact and an input, old
    /// enough that their directories' stamps can be trusted.
    fn store(root: &Path, n: usize) -> (ExperimentId, Vec<RunId>) {
        let b = open(root);
        let exp = b.create_experiment("e", &[]).unwrap().experiment_id;
        let mut ids = Vec::new();
        for i in 0..n {
            let id = b
                .create_run(&exp, &CreateRun::new().run_name(format!("r{i}")))
                .unwrap()
                .info
                .run_id;
            let batch = Batch::new()
                .param("lr", format!("0.{i}"))
                .tag("t", "v")
                .metric("loss", 1.0 / (i as f64 + 1.0), 5, 1)
                .metric("loss", f64::NAN, 4, 0);
            b.log_batch(&id, &batch).unwrap();
            b.log_artifact(&id, "a/b.txt", &mut &b"hello"[..]).unwrap();
            b.log_inputs(
                &id,
                &[DatasetInput::new(
                    Dataset::new("holdout", "e5c49e96", "s3", "s3://bucket/holdout.parquet"),
                    InputContext::Training,
                )],
            )
            .unwrap();
            ids.push(id);
        }
        drop(b);
        // Let the stamps age past the racy window.
        std::thread::sleep(std::time::Duration::from_nanos(
            u64::try_from(RACY_NS).unwrap() + 100_000_000,
        ));
        (exp, ids)
    }

    /// The snapshot written by one open serves the next; runs changed behind its back (an
    /// appended log record, a replaced `meta.json` nobody announced, a new run) are read from
    /// their files; damaged snapshots are rejected and rewritten; every open agrees with a
    /// store read without a snapshot.
    #[test]
    fn snapshot_serves_unchanged_runs_and_never_hides_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let (exp, ids) = store(root, 6);
        let first = open(root);
        assert_eq!(first.open_report().runs_from_snapshot, 0);
        assert_eq!(first.open_report().snapshot_written, Some(6));
        let expected = all_runs(&first, &exp);
        drop(first);

        let second = open(root);
        assert_eq!(second.open_report().runs_from_snapshot, 6);
        assert_eq!(second.open_report().snapshot_rejected, None);
        assert_eq!(all_runs(&second, &exp), expected);
        assert_eq!(
            second.list_artifacts(&ids[0], None).unwrap(),
            open(root).list_artifacts(&ids[0], None).unwrap()
        );
        // Changes through the API: a new metric, a rename, a deletion.
        second.log_metric(&ids[1], "loss", -1.0, 9, 9).unwrap();
        second
            .update_run(
                &ids[2],
                &UpdateRun::new()
                    .run_name("renamed")
                    .status(RunStatus::Finished),
            )
            .unwrap();
        second.delete_run(&ids[3]).unwrap();
        let expected = all_runs(&second, &exp);
        drop(second);
        // Changes nobody announced (a writer that crashed before writing `changes.log`): a
        // replaced `meta.json` and an appended record.
        let meta = root.join("runs").join(ids[4].as_str()).join(META);
        let text = fs::read_to_string(&meta).unwrap();
        let changed = text.replace("\"RUNNING\"", "\"FAILED\"");
        assert_ne!(text, changed);
        fsutil::write_atomic(&meta, changed.as_bytes(), false).unwrap();
        let mut record = Vec::new();
        super::super::records::encode(
            &super::super::records::RecordOut {
                m: vec![super::super::records::MetricOut("acc", 0.5, 1, 1)],
                p: &[],
                t: &[],
                a: None,
                i: &[],
            },
            &mut record,
            Path::new("x"),
        )
        .unwrap();
        let data = root.join("runs").join(ids[5].as_str()).join(DATA);
        fs::OpenOptions::new()
            .append(true)
            .open(&data)
            .unwrap()
            .write_all(&record)
            .unwrap();
        let third = open(root);
        // Only run 0 is unchanged since the snapshot was written.
        assert_eq!(third.open_report().runs_from_snapshot, 1);
        let got = all_runs(&third, &exp);
        for (a, b) in expected.iter().zip(&got) {
            if a.info.run_id == ids[4] {
                assert_eq!(b.info.status, RunStatus::Failed);
            } else if a.info.run_id == ids[5] {
                assert_eq!(b.data.metrics["acc"].value, 0.5);
            } else {
                assert_eq!(a, b);
            }
        }
        let truth = got;
        drop(third);

        // Damaged snapshots: rejected, every run read from its files, a new one written.
        let snap = root.join(SNAPSHOT);
        let good = {
            // A fresh, trusted snapshot of the current state.
            std::thread::sleep(std::time::Duration::from_nanos(
                u64::try_from(RACY_NS).unwrap() + 100_000_000,
            ));
            let _ = fs::remove_file(&snap);
            let b = open(root);
            assert_eq!(b.open_report().snapshot_written, Some(6));
            drop(b);
            fs::read(&snap).unwrap()
        };
        let mut flipped = good.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0x20;
        let mut other_version = Vec::new();
        fsutil::encode_record(
            br#"{"format":"mlops-tracking-snapshot","version":99,"runs":0}"#,
            &mut other_version,
        )
        .unwrap();
        let mut short_count = Vec::new();
        fsutil::encode_record(
            br#"{"format":"mlops-tracking-snapshot","version":1,"runs":7}"#,
            &mut short_count,
        )
        .unwrap();
        short_count.extend_from_slice(
            &good[fsutil::scan_records(&good).unwrap().records[0].len() + fsutil::HEADER_LEN + 1..],
        );
        let mut twice = Vec::new();
        let records = fsutil::scan_records(&good).unwrap().records;
        fsutil::encode_record(
            br#"{"format":"mlops-tracking-snapshot","version":1,"runs":7}"#,
            &mut twice,
        )
        .unwrap();
        for rec in records[1..].iter().chain([&records[1]]) {
            fsutil::encode_record(rec, &mut twice).unwrap();
        }
        for (what, bytes) in [
            ("a run twice", twice),
            ("truncated", good[..good.len() - 10].to_vec()),
            ("a flipped byte", flipped),
            ("garbage", b"not a snapshot".to_vec()),
            ("empty", Vec::new()),
            ("another version", other_version),
            ("a wrong count", short_count),
        ] {
            fs::write(&snap, &bytes).unwrap();
            let b = open(root);
            assert!(b.open_report().snapshot_rejected.is_some(), "{what}");
            assert_eq!(b.open_report().runs_from_snapshot, 0, "{what}");
            assert_eq!(all_runs(&b, &exp), truth, "{what}");
        }
        // The last open rewrote it: it serves again.
        let b = open(root);
        assert_eq!(b.open_report().runs_from_snapshot, 6);
        assert_eq!(all_runs(&b, &exp), truth);
    }

    /// A run whose directory changed within the racy window of the open that read it is left
    /// out of the snapshot.
    #[test]
    fn recent_runs_are_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let b = open(dir.path());
        let exp = b.create_experiment("e", &[]).unwrap().experiment_id;
        b.create_run(&exp, &CreateRun::new()).unwrap();
        drop(b);
        let b = open(dir.path());
        assert_eq!(b.open_report().snapshot_written, Some(0));
        let b = open(dir.path());
        assert_eq!(b.open_report().runs_from_snapshot, 0);
        assert_eq!(all_runs(&b, &exp).len(), 1);
    }
}
