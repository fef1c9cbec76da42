//! The repository's data types: versions, options and reports (each report has a `Display` that
//! draws a readable table).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::path::RelPath;

/// Whether a dataset is one file or a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetKind {
    /// One file; the digest names its bytes.
    File,
    /// A directory; the digest names its root tree object.
    Dir,
}

/// One version of a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// The dataset: its path relative to the working directory.
    pub dataset: RelPath,
    /// 1, 2, 3, ... per dataset.
    pub version: u64,
    /// File or directory.
    pub kind: DatasetKind,
    /// The file's digest, or the directory's root tree digest.
    pub digest: Digest,
    /// Total bytes of the files.
    pub size: u64,
    /// Number of files (1 for a file dataset).
    pub files: u64,
    /// The message given to [`track`](crate::Repository::track).
    pub message: String,
    /// When the version was created.
    pub timestamp: DateTime<Utc>,
    /// Free-form tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// For a file dataset, whether the file is executable (stored as `isexec`, as in DVC's
    /// `.dvc` files, and only when set). Always `false` for a folder, whose tree records the bit
    /// of each file.
    #[serde(default, rename = "isexec", skip_serializing_if = "is_false")]
    pub exec: bool,
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_false(b: &bool) -> bool {
    !*b
}

/// What [`track`](crate::Repository::track) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tracked {
    /// A new version was recorded.
    New(Version),
    /// The data equals the latest version (returned); no version was created.
    Unchanged(Version),
}

impl Tracked {
    /// The new or the unchanged latest version.
    #[must_use]
    pub fn version(&self) -> &Version {
        match self {
            Self::New(v) | Self::Unchanged(v) => v,
        }
    }

    /// Whether a new version was created.
    #[must_use]
    pub fn is_new(&self) -> bool {
        matches!(self, Self::New(_))
    }
}

/// Which version of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rev {
    /// The latest version in the log (or the pointer file's when the log is empty).
    #[default]
    Latest,
    /// A version number.
    Number(u64),
    /// The version the dataset's pointer file names (what `git checkout` brought back).
    Pointer,
}

impl From<u64> for Rev {
    fn from(n: u64) -> Self {
        Self::Number(n)
    }
}

/// A long operation's progress, passed to a [`ProgressFn`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// What is being done.
    pub phase: Phase,
    /// Files (or objects) done so far.
    pub files_done: u64,
    /// Files (or objects) in all.
    pub files_total: u64,
    /// Bytes done so far.
    pub bytes_done: u64,
    /// Bytes in all (0 when not known in advance, as for transfers).
    pub bytes_total: u64,
}

/// The phase a [`Progress`] report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// Hashing (and storing) files for `track` or `status`.
    Hashing,
    /// Writing files for `checkout`.
    Checkout,
    /// Copying objects for `push` or `pull`.
    Transfer,
}

/// A progress callback; called from worker threads, so it must be `Send + Sync`.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// Options of [`track`](crate::Repository::track).
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct TrackOptions {
    /// Tags recorded on the new version.
    pub tags: Vec<String>,
    /// How new content enters the store: [`LinkMode::Copy`] (the default: the working file
    /// stays yours and writable) or [`LinkMode::Hardlink`] (hash in one read pass, then hardlink
    /// the file into a [`FileContentStore`](crate::FileContentStore) without copying; the
    /// working file becomes read-only, as with DVC's hardlink cache type; falls back to a copy
    /// across file systems or with other stores).
    pub link: LinkMode,
    /// Progress reports while hashing.
    pub progress: Option<ProgressFn>,
}

impl fmt::Debug for TrackOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrackOptions")
            .field("tags", &self.tags)
            .field("link", &self.link)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl TrackOptions {
    /// Add a tag.
    #[must_use]
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// Set the progress callback.
    #[must_use]
    pub fn progress(mut self, f: ProgressFn) -> Self {
        self.progress = Some(f);
        self
    }

    /// Set how new content enters the store.
    #[must_use]
    pub fn link(mut self, link: LinkMode) -> Self {
        self.link = link;
        self
    }
}

/// How [`checkout`](crate::Repository::checkout) materializes files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LinkMode {
    /// Copy each object (verified against its digest while copying).
    #[default]
    Copy,
    /// Hardlink each file to its cache object. Only with a store that keeps read-only object
    /// files ([`FileContentStore`](crate::FileContentStore)): the checked-out files are then
    /// read-only too, so an in-place edit cannot damage the cache (replace the file instead).
    /// Executable files and stores without local files fall back to copies. Objects are
    /// verified before they are linked (see [`Verify`]).
    Hardlink,
}

/// How [`checkout`](crate::Repository::checkout) makes sure that no damaged object reaches the
/// destination. Whatever the mode, a damaged object is found before anything in the
/// destination changes, except with [`Verify::UnsafeTrustCache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Verify {
    /// The default. Copies are verified while they are written to their temps; an object that
    /// is about to be hardlinked is re-hashed first, unless it was verified before and its file
    /// still has the size, mtime and inode it had then (the result is remembered in the
    /// dataset's state file, so a second checkout does not re-read the cache).
    #[default]
    Remembered,
    /// Re-hash every object of the version before writing anything, whatever was remembered.
    Always,
    /// **Unsafe**: hardlink objects without checking them, so an object damaged in the cache
    /// (by a disk fault, or an edit through a hardlinked file made writable) is linked into the
    /// destination as it is. Only for a cache you trust and measure (benchmarks); copies are
    /// still verified while they are written.
    UnsafeTrustCache,
}

/// Options of [`checkout`](crate::Repository::checkout).
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct CheckoutOptions {
    /// Where to put the data (relative paths are taken from the working directory); default:
    /// the dataset's own path.
    pub destination: Option<PathBuf>,
    /// Copy or hardlink.
    pub link: LinkMode,
    /// Remove files (and then empty folders) inside the destination folder that are not in the
    /// version. Nothing outside the destination is ever removed.
    pub remove_extra: bool,
    /// How objects are checked before they reach the destination (default: every object is
    /// verified, remembered for hardlinks).
    pub verify: Verify,
    /// Progress reports.
    pub progress: Option<ProgressFn>,
}

impl fmt::Debug for CheckoutOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckoutOptions")
            .field("destination", &self.destination)
            .field("link", &self.link)
            .field("remove_extra", &self.remove_extra)
            .field("verify", &self.verify)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl CheckoutOptions {
    /// Set the destination.
    #[must_use]
    pub fn destination(mut self, path: impl Into<PathBuf>) -> Self {
        self.destination = Some(path.into());
        self
    }

    /// Set the link mode.
    #[must_use]
    pub fn link(mut self, link: LinkMode) -> Self {
        self.link = link;
        self
    }

    /// Remove files that are not in the version (inside the destination folder only).
    #[must_use]
    pub fn remove_extra(mut self, yes: bool) -> Self {
        self.remove_extra = yes;
        self
    }

    /// Set how objects are verified (see [`Verify`]; the default is safe).
    #[must_use]
    pub fn verify(mut self, verify: Verify) -> Self {
        self.verify = verify;
        self
    }

    /// Set the progress callback.
    #[must_use]
    pub fn progress(mut self, f: ProgressFn) -> Self {
        self.progress = Some(f);
        self
    }
}

/// What [`checkout`](crate::Repository::checkout) did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CheckoutReport {
    /// The version checked out.
    pub version: u64,
    /// Files written (copied or linked).
    pub written: u64,
    /// Of those, files hardlinked.
    pub linked: u64,
    /// Files already up to date.
    pub unchanged: u64,
    /// Extra files removed (with `remove_extra`).
    pub removed: u64,
    /// Bytes of the files written.
    pub bytes: u64,
    /// Objects re-hashed before writing (see [`Verify`]); copies, verified while they are
    /// written, are not counted.
    pub verified: u64,
}

/// What changed in a dataset's working copy since its latest version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Status {
    /// The version compared against.
    pub version: u64,
    /// Files that are new.
    pub added: Vec<RelPath>,
    /// Files whose content changed.
    pub modified: Vec<RelPath>,
    /// Files that are gone.
    pub deleted: Vec<RelPath>,
    /// Files whose content is unchanged but whose executable bit was set or cleared.
    pub mode_changed: Vec<RelPath>,
    /// Files unchanged.
    pub unchanged: u64,
    /// Files that had to be re-hashed (their stat changed or was not cached).
    pub rehashed: u64,
}

impl Status {
    /// Whether the working copy equals the version.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.added.is_empty()
            && self.modified.is_empty()
            && self.deleted.is_empty()
            && self.mode_changed.is_empty()
    }
}

/// Line counts of a text diff, by a real (Myers) line diff.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TextDiff {
    /// Lines only in the new version.
    pub added: u64,
    /// Lines only in the old version.
    pub removed: u64,
    /// Lines in both, in order.
    pub unchanged: u64,
    /// The first few added lines.
    pub added_samples: Vec<String>,
    /// The first few removed lines.
    pub removed_samples: Vec<String>,
}

/// A file whose content differs between two versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Modified {
    /// Its path.
    pub path: RelPath,
    /// Old digest.
    pub old: Digest,
    /// New digest.
    pub new: Digest,
    /// Old size.
    pub old_size: u64,
    /// New size.
    pub new_size: u64,
}

/// A file that moved without changing content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Renamed {
    /// Old path.
    pub from: RelPath,
    /// New path.
    pub to: RelPath,
    /// The shared digest.
    pub digest: Digest,
}

/// The difference between two versions of a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Diff {
    /// The dataset.
    pub dataset: RelPath,
    /// The old version number.
    pub from: u64,
    /// The new version number.
    pub to: u64,
    /// Files only in the new version (renames excluded).
    pub added: Vec<RelPath>,
    /// Files only in the old version (renames excluded).
    pub removed: Vec<RelPath>,
    /// Files in both with different content.
    pub modified: Vec<Modified>,
    /// Files moved with identical content.
    pub renamed: Vec<Renamed>,
    /// Files with identical content whose executable bit was set or cleared.
    pub mode_changed: Vec<RelPath>,
    /// Files identical in both.
    pub unchanged: u64,
    /// For a file dataset whose two versions are both UTF-8 text: the line diff.
    pub text: Option<TextDiff>,
}

/// What [`push`](crate::Repository::push) or [`pull`](crate::Repository::pull) moved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TransferReport {
    /// Objects (files and trees) the versions need.
    pub objects: u64,
    /// Objects copied.
    pub copied: u64,
    /// Bytes copied.
    pub bytes: u64,
    /// Objects the destination already had.
    pub present: u64,
}

/// What [`remote_status`](crate::Repository::remote_status) found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RemoteStatus {
    /// Objects (files and trees) the versions need.
    pub objects: u64,
    /// In the local cache, not on the remote: a push uploads them.
    pub to_push: Vec<Digest>,
    /// On the remote, not in the local cache: a pull downloads them.
    pub to_pull: Vec<Digest>,
    /// On neither side.
    pub missing: Vec<Digest>,
}

impl RemoteStatus {
    /// Whether the remote has everything the local cache has and vice versa.
    #[must_use]
    pub fn in_sync(&self) -> bool {
        self.to_push.is_empty() && self.to_pull.is_empty() && self.missing.is_empty()
    }
}

/// Which versions [`gc`](crate::Repository::gc) keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Keep {
    /// Every version of every dataset, and what every pointer file names.
    #[default]
    AllVersions,
    /// Only the latest version of each dataset and what its pointer file names.
    Latest,
    /// Only these (dataset, version) pairs and what every pointer file names.
    Versions(Vec<(PathBuf, u64)>),
}

/// Options of [`gc`](crate::Repository::gc).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct GcOptions {
    /// What to keep.
    pub keep: Keep,
    /// Report what would be freed without deleting anything.
    pub dry_run: bool,
}

impl GcOptions {
    /// Set what to keep.
    #[must_use]
    pub fn keep(mut self, keep: Keep) -> Self {
        self.keep = keep;
        self
    }

    /// Report what would be removed without removing anything.
    #[must_use]
    pub fn dry_run(mut self, yes: bool) -> Self {
        self.dry_run = yes;
        self
    }
}

/// What [`gc`](crate::Repository::gc) freed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct GcReport {
    /// Objects kept (reachable).
    pub kept: u64,
    /// Objects removed (or that would be, in a dry run).
    pub removed: u64,
    /// Bytes freed.
    pub freed_bytes: u64,
    /// Whether this was a dry run.
    pub dry_run: bool,
}

/// A dataset's history, oldest first; its `Display` draws the log table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Log(pub Vec<Version>);

fn short(d: &Digest) -> String {
    d.to_hex()[..12].to_owned()
}

impl fmt::Display for Log {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:>4}  {:<12}  {:>12}  {:>7}  {:<20}  message",
            "ver", "digest", "bytes", "files", "time (UTC)"
        )?;
        for v in &self.0 {
            let tags = if v.tags.is_empty() {
                String::new()
            } else {
                format!(" [{}]", v.tags.join(", "))
            };
            writeln!(
                f,
                "{:>4}  {:<12}  {:>12}  {:>7}  {:<20}  {}{tags}",
                format!("v{}", v.version),
                short(&v.digest),
                v.size,
                v.files,
                v.timestamp.format("%Y-%m-%d %H:%M:%S"),
                v.message
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "against v{}: {} added, {} modified, {} deleted, {} mode changed, {} unchanged \
             ({} re-hashed)",
            self.version,
            self.added.len(),
            self.modified.len(),
            self.deleted.len(),
            self.mode_changed.len(),
            self.unchanged,
            self.rehashed
        )?;
        for (mark, list) in [
            ("A", &self.added),
            ("M", &self.modified),
            ("D", &self.deleted),
            ("X", &self.mode_changed),
        ] {
            for p in list {
                writeln!(f, "  {mark} {p}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Diff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} v{} -> v{}: {} added, {} removed, {} modified, {} renamed, {} mode changed, \
             {} unchanged",
            self.dataset,
            self.from,
            self.to,
            self.added.len(),
            self.removed.len(),
            self.modified.len(),
            self.renamed.len(),
            self.mode_changed.len(),
            self.unchanged
        )?;
        for p in &self.added {
            writeln!(f, "  A {p}")?;
        }
        for p in &self.removed {
            writeln!(f, "  D {p}")?;
        }
        for m in &self.modified {
            let path = if m.path.is_root() {
                &self.dataset
            } else {
                &m.path
            };
            writeln!(f, "  M {path} ({} -> {} bytes)", m.old_size, m.new_size)?;
        }
        for r in &self.renamed {
            writeln!(f, "  R {} -> {}", r.from, r.to)?;
        }
        for p in &self.mode_changed {
            let path = if p.is_root() { &self.dataset } else { p };
            writeln!(f, "  X {path} (executable bit)")?;
        }
        if let Some(t) = &self.text {
            writeln!(
                f,
                "  lines: {} added, {} removed, {} unchanged",
                t.added, t.removed, t.unchanged
            )?;
            for l in &t.added_samples {
                writeln!(f, "    + {l}")?;
            }
            for l in &t.removed_samples {
                writeln!(f, "    - {l}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for CheckoutReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "checked out v{}: {} files written ({} hardlinked, {} bytes), {} unchanged, {} removed, \
             {} objects verified",
            self.version,
            self.written,
            self.linked,
            self.bytes,
            self.unchanged,
            self.removed,
            self.verified
        )
    }
}

impl fmt::Display for TransferReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} objects needed: {} copied ({} bytes), {} already there",
            self.objects, self.copied, self.bytes, self.present
        )
    }
}

impl fmt::Display for GcReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.dry_run {
            "would remove"
        } else {
            "removed"
        };
        write!(
            f,
            "gc: kept {} objects, {verb} {} objects ({} bytes freed)",
            self.kept, self.removed, self.freed_bytes
        )
    }
}
