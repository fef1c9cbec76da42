//! The records of the store's files: the `changes.log` and `data.log` record shapes, the framing,
//! the capped log reader, and JSON metadata files.

use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::catalog::RunState;
use crate::error::{Result, TrackingError};
use crate::ids::{ExperimentId, RunId};
use crate::inputs::DatasetInput;
use crate::model::{ArtifactInfo, RunInfo, TAG_RUN_NAME, f64_special};
use mlops_fs as fsutil;

use super::{DATA, META};

/// One record of `changes.log`.
#[derive(Debug, Serialize, Deserialize)]
pub(super) enum Change {
    #[serde(rename = "e")]
    Experiment(ExperimentId),
    #[serde(rename = "r")]
    Run(RunId),
}

#[derive(Serialize)]
pub(super) struct MetricOut<'a>(
    pub(super) &'a str,
    #[serde(with = "f64_special")] pub(super) f64,
    pub(super) i64,
    pub(super) i64,
);

#[derive(Deserialize)]
pub(super) struct MetricIn(
    pub(super) String,
    #[serde(with = "f64_special")] pub(super) f64,
    pub(super) i64,
    pub(super) i64,
);

/// One record of a run's `data.log`.
#[derive(Serialize)]
pub(super) struct RecordOut<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) m: Vec<MetricOut<'a>>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub(super) p: &'a [(String, String)],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub(super) t: &'a [(String, String)],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) a: Option<&'a ArtifactInfo>,
    /// Run inputs (datasets) new to the run.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub(super) i: &'a [DatasetInput],
}

/// A metric point of a `data.log` record, its key borrowed from the record when it holds no
/// escape.
#[derive(Deserialize)]
pub(super) struct MetricRef<'a>(
    #[serde(borrow)] pub(super) std::borrow::Cow<'a, str>,
    #[serde(with = "f64_special")] pub(super) f64,
    pub(super) i64,
    pub(super) i64,
);

/// Only the metrics of a `data.log` record (the other fields are skipped unparsed).
#[derive(Deserialize)]
pub(super) struct MetricsIn<'a> {
    #[serde(default, borrow)]
    pub(super) m: Vec<MetricRef<'a>>,
}

#[derive(Deserialize)]
pub(super) struct RecordIn {
    #[serde(default)]
    pub(super) m: Vec<MetricIn>,
    #[serde(default)]
    pub(super) p: Vec<(String, String)>,
    #[serde(default)]
    pub(super) t: Vec<(String, String)>,
    #[serde(default)]
    pub(super) a: Option<ArtifactInfo>,
    #[serde(default)]
    pub(super) i: Vec<DatasetInput>,
}

#[derive(Serialize, Deserialize)]
pub(super) struct Marker {
    pub(super) format: String,
    pub(super) version: u32,
}

pub(super) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> TrackingError + '_ {
    move |source| TrackingError::Io {
        path: path.to_owned(),
        source,
    }
}

pub(super) fn corrupt(path: &Path, detail: impl Into<String>) -> TrackingError {
    TrackingError::Corrupt {
        path: path.to_owned(),
        detail: detail.into(),
    }
}

pub(super) fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| corrupt(path, format!("not valid JSON of the expected shape: {e}")))
}

pub(super) fn write_json<T: Serialize>(path: &Path, value: &T, durable: bool) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|source| TrackingError::Serde {
        path: path.to_owned(),
        source,
    })?;
    bytes.push(b'\n');
    fsutil::write_atomic(path, &bytes, durable).map_err(io_err(path))
}

/// Append one framed record holding `payload` as compact JSON to `out`: the frame of
/// `fsutil::encode_record` (`<len> <crc32> <payload>\n`), serialized in place to save a copy.
pub(super) fn encode(payload: &impl Serialize, out: &mut Vec<u8>, path: &Path) -> Result<()> {
    fsutil::encode_record_with(out, |out| serde_json::to_writer(out, payload)).map_err(
        |e| match e {
            fsutil::FrameError::Payload(source) => TrackingError::Serde {
                path: path.to_owned(),
                source,
            },
            fsutil::FrameError::TooLarge => TrackingError::invalid(
                "record",
                format!("a record for {} is over 4 GiB", path.display()),
            ),
        },
    )
}

/// The end of a log read by [`read_log`].
pub(super) struct LogEnd {
    /// Offset just past the last intact record.
    pub(super) valid_len: u64,
    /// Whether an incomplete or damaged last record follows `valid_len`.
    pub(super) torn: bool,
}

/// Read the framed records of `path` from byte `from`, calling `f` with each payload. The read
/// is capped at the file's length measured when it starts (or at `limit`, when smaller): bytes
/// another process appends meanwhile are left for the next read, and a record it is still
/// writing ends the read as "not yet written" (`torn`), never as corruption. A missing file
/// reads as empty. Only a damaged record followed by an intact one is `Corrupt`.
pub(super) fn read_log(
    path: &Path,
    from: u64,
    limit: Option<u64>,
    mut f: impl FnMut(&[u8]) -> Result<()>,
) -> Result<LogEnd> {
    read_log_until(path, from, limit, |payload| {
        f(payload)?;
        Ok(ControlFlow::Continue(()))
    })
}

/// [`read_log`], stopping after the record for which `f` returns `Break` (`valid_len` is then
/// the end of that record).
pub(super) fn read_log_until(
    path: &Path,
    from: u64,
    limit: Option<u64>,
    mut f: impl FnMut(&[u8]) -> Result<ControlFlow<()>>,
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
            Ok(Some(payload)) => {
                if f(payload)?.is_break() {
                    return Ok(LogEnd {
                        valid_len: reader.valid_len(),
                        torn: false,
                    });
                }
            }
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

pub(super) fn write_new_json<T: Serialize>(path: &Path, value: &T, durable: bool) -> Result<()> {
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

/// Load a run from its directory: `meta.json`, then `data.log` from `from` applied onto `state`
/// (or onto a fresh state when `None`). Returns the state, the valid log length and whether the
/// log has a torn tail.
pub(super) fn load_run(
    dir: &Path,
    state: Option<RunState>,
    from: u64,
) -> Result<(RunState, u64, bool)> {
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
        state.info.run_name = name.to_string();
    }
    Ok((state, end.valid_len, end.torn))
}

pub(super) fn apply_record(state: &mut RunState, rec: RecordIn) {
    state.apply_params_tags(&rec.p, &rec.t);
    for MetricIn(key, value, timestamp, step) in rec.m {
        state.apply_metric(&key, value, timestamp, step);
    }
    if let Some(a) = rec.a {
        state.add_artifact(a);
    }
    for input in rec.i {
        if !state.inputs().iter().any(|o| o.same_dataset(&input)) {
            state.add_inputs([input]);
        }
    }
}
