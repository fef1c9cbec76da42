//! Pointer files: `<dataset>.dvc.json` next to each dataset, meant to be committed to git.

use std::fs;
use std::io;

use serde::{Deserialize, Serialize};

use super::{META_DIR, POINTER_SUFFIX, Repository};
use crate::digest::Digest;
use crate::error::{DvcError, Result};
use crate::model::{DatasetKind, Version};
use crate::path::{BytesRepr, RelPath, os_bytes};
use mlops_fs as fsutil;

const POINTER_FORMAT: &str = "mlops-dvc-pointer/1";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Pointer {
    pub(super) format: String,
    /// The dataset's path relative to the pointer file's folder (checked on read: it must be
    /// the file name next to the pointer).
    pub(super) path: BytesRepr,
    pub(super) kind: DatasetKind,
    pub(super) digest: Digest,
    pub(super) size: u64,
    pub(super) files: u64,
    pub(super) version: u64,
    /// A file dataset's executable bit (written only when set, as DVC does).
    #[serde(default, skip_serializing_if = "is_false")]
    pub(super) isexec: bool,
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_false(b: &bool) -> bool {
    !*b
}

impl Repository {
    pub(super) fn read_pointer_at(&self, rel: &RelPath) -> Result<Option<Pointer>> {
        let path = self.pointer_path(rel);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(DvcError::io(&path, e)),
        };
        let p: Pointer = serde_json::from_slice(&bytes).map_err(|e| DvcError::Corrupt {
            path: path.clone(),
            detail: format!("not a pointer file (truncated or edited?): {e}"),
        })?;
        if p.format != POINTER_FORMAT {
            return Err(DvcError::Corrupt {
                path,
                detail: format!("unknown pointer format {:?}", p.format),
            });
        }
        // The pointer names its dataset relative to its own folder; it must be exactly the file
        // next to it, so a pointer can never direct a checkout elsewhere. A path that leaves the
        // folder is bad input from data, like one in an argument: `InvalidArgument`.
        let named = p
            .path
            .clone()
            .into_bytes()
            .map_err(|why| DvcError::Corrupt {
                path: path.clone(),
                detail: format!("bad path entry: {why}"),
            })?;
        let shown = String::from_utf8_lossy(&named).into_owned();
        if let Err(e) = RelPath::from_bytes(&named) {
            let why = match e {
                DvcError::InvalidArgument { detail, .. } => detail,
                other => other.to_string(),
            };
            return Err(DvcError::invalid(
                "path",
                format!(
                    "pointer file {} has path entry {shown:?}, which leaves its folder ({why})",
                    path.display()
                ),
            ));
        }
        if named != rel.file_name() {
            return Err(DvcError::invalid(
                "path",
                format!(
                    "pointer file {} has path entry {shown:?}, not the dataset next to it ({:?})",
                    path.display(),
                    String::from_utf8_lossy(rel.file_name())
                ),
            ));
        }
        Ok(Some(p))
    }

    pub(super) fn write_pointer(&self, v: &Version) -> Result<()> {
        let path = self.pointer_path(&v.dataset);
        let p = Pointer {
            format: POINTER_FORMAT.to_owned(),
            path: BytesRepr::from_bytes(v.dataset.file_name()),
            kind: v.kind,
            digest: v.digest,
            size: v.size,
            files: v.files,
            version: v.version,
            isexec: v.exec,
        };
        let mut bytes = serde_json::to_vec_pretty(&p).map_err(|e| DvcError::Serde {
            path: path.clone(),
            source: e,
        })?;
        bytes.push(b'\n');
        if fs::read(&path).is_ok_and(|old| old == bytes) {
            return Ok(());
        }
        fsutil::write_atomic(&path, &bytes, self.fsync).map_err(|e| DvcError::io(&path, e))
    }

    /// Datasets that have a pointer file somewhere in the working directory (symlinks are not
    /// followed; the metadata folder is skipped).
    pub(super) fn pointer_datasets(&self) -> Result<Vec<RelPath>> {
        let mut out = Vec::new();
        let mut stack = vec![(self.root.clone(), RelPath::root())];
        while let Some((dir, rel)) = stack.pop() {
            let rd = fs::read_dir(&dir).map_err(|e| DvcError::io(&dir, e))?;
            for entry in rd {
                let entry = entry.map_err(|e| DvcError::io(&dir, e))?;
                let name = os_bytes(&entry.file_name())?;
                if rel.is_root() && name == META_DIR.as_bytes() {
                    continue;
                }
                let ft = entry
                    .file_type()
                    .map_err(|e| DvcError::io(entry.path(), e))?;
                if ft.is_dir() {
                    if RelPath::from_bytes(&name).is_ok() {
                        stack.push((entry.path(), rel.join_name(&name)));
                    }
                } else if ft.is_file()
                    && let Some(stem) = name.strip_suffix(POINTER_SUFFIX.as_bytes())
                    && !stem.is_empty()
                    && RelPath::from_bytes(stem).is_ok()
                {
                    out.push(rel.join_name(stem));
                }
            }
        }
        out.sort();
        Ok(out)
    }
}
