//! The on-disk format of [`FileRegistry`](super::FileRegistry): file names, the records of
//! `model.log` and `journal.json`, and parsing a model log.

use std::collections::BTreeMap;
use std::fs::{self};
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{RegistryError, Result};
use crate::model::{ModelVersion, ModelVersionNumber, RegisteredModel};
use crate::rules::ModelData;
use mlops_fs as fsutil;
use sha2::Digest as _;

pub(super) const FORMAT: u32 = 2;
pub(super) const LOG_FILE: &str = "model.log";
pub(super) const OLD_MODEL_FILE: &str = "model.json";
pub(super) const AUDIT_FILE: &str = "audit.log";
pub(super) const JOURNAL_FILE: &str = "journal.json";

/// The largest header record a log may start with (its payload, in bytes).
pub(super) const MAX_HEADER_LEN: usize = 64 * 1024;

/// The first record of `model.log`: which model, which incarnation, which compaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Header {
    pub(super) format: u32,
    pub(super) name: String,
    /// Changes when the model is (re)created: tells a deleted-and-recreated model apart.
    pub(super) incarnation: String,
    /// Incremented each time the log is rewritten (compaction, rename): a reader whose cached
    /// header differs reloads the whole log.
    pub(super) compaction: u64,
}

/// Every later record of `model.log`: one committed change (the first after the header holds
/// every version, as of the last compaction).
#[derive(Debug, Serialize)]
pub(super) struct RecordOut<'a> {
    pub(super) model: &'a RegisteredModel,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) put: Vec<&'a ModelVersion>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) removed: Vec<ModelVersionNumber>,
    /// Length of the committed prefix of `audit.log` after this change.
    pub(super) audit_len: u64,
}

#[derive(Debug, Deserialize)]
pub(super) struct RecordIn {
    pub(super) model: RegisteredModel,
    #[serde(default)]
    pub(super) put: Vec<ModelVersion>,
    #[serde(default)]
    pub(super) removed: Vec<ModelVersionNumber>,
    pub(super) audit_len: u64,
}

/// `journal.json`: the writes of a multi-file change (a rename), redone on recovery.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Journal {
    pub(super) format: u32,
    pub(super) ops: Vec<JournalOp>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(super) enum JournalOp {
    Write { path: String, data: String },
    Remove { path: String },
    RenameDir { from: String, to: String },
}

pub(super) fn ioe(path: &Path) -> impl FnOnce(io::Error) -> RegistryError + '_ {
    move |e| RegistryError::io(path, e)
}

pub(super) fn dir_name(name: &str) -> String {
    let hash = sha2::Sha256::digest(name.as_bytes());
    let mut out = String::with_capacity(32);
    for b in &hash[..16] {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 0xf)]));
    }
    out
}

/// Whether a directory entry under `models/` is a model folder: a directory (not a symlink)
/// whose name is [`dir_name`]'s 32 lower-case hex digits. Anything else (a `.DS_Store`, a
/// README, an editor backup, a folder of notes) is not ours and is ignored.
pub(super) fn is_model_dir(entry: &fs::DirEntry) -> bool {
    let name = entry.file_name();
    let hex = name.to_str().is_some_and(|n| {
        n.len() == 32 && n.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    });
    hex && entry.file_type().is_ok_and(|t| t.is_dir())
}

pub(super) fn read_opt(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(RegistryError::io(path, e)),
    }
}

pub(super) fn parse<T: for<'de> Deserialize<'de>>(path: &Path, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        let what = if bytes.is_empty() {
            "the file is empty".to_owned()
        } else {
            format!("not a valid record ({e})")
        };
        RegistryError::corrupt(path, what)
    })
}

pub(super) fn to_json<T: Serialize>(path: &Path, value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(value).map_err(|source| RegistryError::Serde {
        path: path.to_owned(),
        source,
    })
}

/// Append `value` as one framed record to `out`.
pub(super) fn frame<T: Serialize>(path: &Path, value: &T, out: &mut Vec<u8>) -> Result<()> {
    let payload = serde_json::to_vec(value).map_err(|source| RegistryError::Serde {
        path: path.to_owned(),
        source,
    })?;
    fsutil::encode_record(&payload, out).map_err(ioe(path))
}

/// The error for a directory written by an older version of this crate.
pub(super) fn old_format(path: &Path) -> RegistryError {
    RegistryError::corrupt(
        path,
        format!(
            "written by an older mlops-registry (format 1: model.json and versions/*.json); \
             this version reads format {FORMAT} (model.log) and does not convert: re-register \
             the model, or read it with the version that wrote it"
        ),
    )
}

/// A model log, parsed: its header and the state its records add up to.
pub(super) struct Loaded {
    pub(super) header_bytes: Vec<u8>,
    pub(super) header: Header,
    pub(super) data: ModelData,
    /// Bytes of intact records.
    pub(super) log_len: u64,
    pub(super) audit_len: u64,
    /// Offset of a torn last record (a writer died mid-append), dropped.
    pub(super) torn_at: Option<u64>,
}

/// The header record at the start of a log: `(header, framed bytes)`.
pub(super) fn parse_header(path: &Path, data: &[u8]) -> Result<(Header, usize)> {
    let scan_err = |detail: String| RegistryError::corrupt(path, detail);
    if data.is_empty() {
        return Err(scan_err("the file is empty".to_owned()));
    }
    let len = header_record_len(data)
        .ok_or_else(|| scan_err("does not start with a header record".to_owned()))?;
    let scan = fsutil::scan_records(&data[..len])
        .map_err(|c| scan_err(format!("at byte {}: {}", c.offset, c.detail)))?;
    let Some(payload) = scan.records.first().filter(|_| scan.torn_at.is_none()) else {
        return Err(scan_err("the header record is damaged".to_owned()));
    };
    let header: Header =
        serde_json::from_slice(payload).map_err(|e| scan_err(format!("bad header record: {e}")))?;
    if header.format != FORMAT {
        return Err(scan_err(format!(
            "unsupported format {} (expected {FORMAT})",
            header.format
        )));
    }
    Ok((header, len))
}

/// The framed length of the first record of `data`, from its length field.
pub(super) fn header_record_len(data: &[u8]) -> Option<usize> {
    let total = fsutil::framed_len(data)?;
    (total <= data.len()).then_some(total)
}

/// Apply the change records of `data` (framed, starting at `base` in the file) to `model` and
/// `versions`. Returns (intact length, audit length, torn offset).
pub(super) fn apply_records(
    path: &Path,
    data: &[u8],
    base: u64,
    model: &mut Option<RegisteredModel>,
    versions: &mut BTreeMap<ModelVersionNumber, ModelVersion>,
    audit_len: &mut u64,
) -> Result<(u64, Option<u64>)> {
    let scan = fsutil::scan_records(data).map_err(|c| {
        RegistryError::corrupt(
            path,
            format!("at byte {}: {}", base + c.offset as u64, c.detail),
        )
    })?;
    for payload in &scan.records {
        let rec: RecordIn = serde_json::from_slice(payload)
            .map_err(|e| RegistryError::corrupt(path, format!("bad change record: {e}")))?;
        for n in rec.removed {
            versions.remove(&n);
        }
        for mut v in rec.put {
            v.name.clone_from(&rec.model.name);
            versions.insert(v.version, v);
        }
        *model = Some(rec.model);
        *audit_len = rec.audit_len;
    }
    Ok((
        base + scan.valid_len as u64,
        scan.torn_at.map(|t| base + t as u64),
    ))
}

/// Parse a whole model log.
pub(super) fn load_log(path: &Path, data: &[u8]) -> Result<Loaded> {
    let (header, hlen) = parse_header(path, data)?;
    let mut model = None;
    let mut versions = BTreeMap::new();
    let mut audit_len = 0;
    let (log_len, torn_at) = apply_records(
        path,
        &data[hlen..],
        hlen as u64,
        &mut model,
        &mut versions,
        &mut audit_len,
    )?;
    let Some(model) = model else {
        return Err(RegistryError::corrupt(
            path,
            "the log holds no model record",
        ));
    };
    if model.name != header.name {
        return Err(RegistryError::corrupt(
            path,
            format!(
                "holds model {:?} under header {:?}",
                model.name, header.name
            ),
        ));
    }
    Ok(Loaded {
        header_bytes: data[..hlen].to_vec(),
        header,
        data: ModelData::from_parts(model, versions),
        log_len,
        audit_len,
        torn_at,
    })
}
