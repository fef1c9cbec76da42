//! Crash-safe file primitives shared by the file backends of every mlops crate.
//!
//! A small leaf crate (std and `crc32fast` only) that knows no domain: the six domain crates
//! depend on it instead of each keeping a copy, so a fix is made once.
//!
//! What it offers:
//! - [`FileLock`]: a cross-process lock on a lock file (exclusive, shared, or exclusive with a
//!   bounded wait), released on drop.
//! - [`write_atomic`]: replace a file so that readers see the old or the new content, never a mix:
//!   temp file in the same directory (`create_new`), write, `sync_all`, rename, fsync the directory,
//!   temp removed on failure.
//! - [`create_new_atomic`]: the same, but the target must not exist (uses `hard_link`, which fails
//!   atomically when the target exists), for "first writer wins" files such as version records.
//! - [`remove_stray_temps`]: temps left by a crashed writer are ignored by readers ([`is_temp_name`])
//!   and removed on open once their writer is gone.
//! - [`encode_record`] / [`scan_records`]: framing for append-only logs. Each record is one line,
//!   `<len:8 hex> <crc32:8 hex> <payload>\n`, so a torn last record (a crash mid-append) is detected
//!   and dropped, while damage anywhere else is reported as corruption.

mod lock;

pub use crate::lock::{FileLock, open_lock_file};

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// Suffix of every temp file this module creates; temp names also start with a dot.
pub const TEMP_SUFFIX: &str = ".tmp";

/// A temp file whose writer cannot be checked is removed once it is this old.
const STALE_TEMP_AGE: Duration = Duration::from_secs(3600);

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Whether `name` is a temp file written by this module (`.<name>.<pid>.<n>.tmp`).
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(TEMP_SUFFIX)
}

fn temp_path_for(path: &Path) -> io::Result<PathBuf> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp = format!(".{name}.{}.{n}{TEMP_SUFFIX}", std::process::id());
    Ok(path.with_file_name(temp))
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Fsync a directory so that a rename or a new entry in it survives a power loss.
///
/// # Errors
/// The I/O error of opening or syncing the directory.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Write `data` to a new temp file next to `path` and return the temp's path.
fn write_temp(path: &Path, data: &[u8], durable: bool) -> io::Result<PathBuf> {
    let temp = temp_path_for(path)?;
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(data)?;
        if durable {
            file.sync_all()?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(temp),
        Err(e) => {
            let _ = fs::remove_file(&temp);
            Err(e)
        }
    }
}

/// Atomically replace (or create) `path` with `data`.
///
/// With `durable`, the data and the directory entry are fsynced before this returns.
///
/// # Errors
/// Any I/O error; the previous content of `path` is then untouched and no temp is left behind.
pub fn write_atomic(path: &Path, data: &[u8], durable: bool) -> io::Result<()> {
    let temp = write_temp(path, data, durable)?;
    if let Err(e) = fs::rename(&temp, path) {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    if durable {
        sync_dir(parent_of(path))?;
    }
    Ok(())
}

/// Atomically create `path` with `data`, failing with [`io::ErrorKind::AlreadyExists`] when it
/// exists. Never leaves a partly written `path`, even across a crash.
///
/// # Errors
/// `AlreadyExists` when `path` exists; any other I/O error.
pub fn create_new_atomic(path: &Path, data: &[u8], durable: bool) -> io::Result<()> {
    let temp = write_temp(path, data, durable)?;
    let linked = fs::hard_link(&temp, path);
    let _ = fs::remove_file(&temp);
    linked?;
    if durable {
        sync_dir(parent_of(path))?;
    }
    Ok(())
}

/// Whether the process that wrote a temp named `name` may still be running.
fn writer_may_be_alive(name: &str) -> bool {
    // `.<target>.<pid>.<n>.tmp`: the pid is the second-to-last dotted field before the suffix.
    let stem = &name[..name.len() - TEMP_SUFFIX.len()];
    let mut fields = stem.rsplit('.');
    let _counter = fields.next();
    let Some(pid) = fields.next().and_then(|p| p.parse::<u32>().ok()) else {
        return false;
    };
    if pid == std::process::id() {
        return true;
    }
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

/// Remove temp files in `dir` (not recursive) whose writer is gone: its process no longer runs
/// (checked on Linux) or the temp is older than an hour. Returns the removed paths.
///
/// # Errors
/// The I/O error of reading `dir`; a temp that vanished meanwhile is not an error.
pub fn remove_stray_temps(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(removed),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !is_temp_name(name) || entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age > STALE_TEMP_AGE);
        if old || !writer_may_be_alive(name) {
            match fs::remove_file(entry.path()) {
                Ok(()) => removed.push(entry.path()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(removed)
}

/// Header length of a framed record: 8 hex digits, space, 8 hex digits, space.
const HEADER_LEN: usize = 18;

/// Append one framed record (`<len> <crc32> <payload>\n`) to `out`.
///
/// # Errors
/// `InvalidInput` when the payload is 4 GiB or more; `out` is then unchanged.
pub fn encode_record(payload: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    let len = u32::try_from(payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "record payload over 4 GiB"))?;
    let crc = crc32fast::hash(payload);
    write!(out, "{len:08x} {crc:08x} ")?;
    out.extend_from_slice(payload);
    out.push(b'\n');
    Ok(())
}

/// The records found in a framed log, and what was wrong at its end.
#[derive(Debug, Default)]
pub struct Scan<'a> {
    /// The payloads of every intact record, in order.
    pub records: Vec<&'a [u8]>,
    /// Byte offset just past the last intact record.
    pub valid_len: usize,
    /// Set when the log ends in an incomplete or damaged record (a torn append): its offset.
    pub torn_at: Option<usize>,
}

/// A damaged record that is followed by more data: not a torn append but corruption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptRecord {
    /// Byte offset of the damaged record.
    pub offset: usize,
    /// What is wrong with it.
    pub detail: String,
}

fn parse_hex8(bytes: &[u8]) -> Option<u32> {
    let s = std::str::from_utf8(bytes).ok()?;
    if s.len() != 8 {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

/// Parse a framed log. A damaged record at the very end is reported in [`Scan::torn_at`] and
/// dropped; a damaged record with anything after it is an error.
///
/// # Errors
/// [`CorruptRecord`] naming the offset of the first damaged record that is not the last.
pub fn scan_records(data: &[u8]) -> Result<Scan<'_>, CorruptRecord> {
    let mut scan = Scan::default();
    let mut pos = 0;
    while pos < data.len() {
        match parse_one(&data[pos..]) {
            Ok((payload, used)) => {
                scan.records.push(payload);
                pos += used;
                scan.valid_len = pos;
            }
            Err(detail) => {
                // A torn append leaves damage only at the end: nothing valid may follow it, and
                // at most one newline-terminated piece of garbage may come before the end.
                let rest = &data[pos..];
                let first_newline = rest.iter().position(|&b| b == b'\n');
                let is_tail = match first_newline {
                    None => true,
                    Some(i) => i + 1 == rest.len(),
                };
                if is_tail {
                    scan.torn_at = Some(pos);
                    return Ok(scan);
                }
                return Err(CorruptRecord {
                    offset: pos,
                    detail,
                });
            }
        }
    }
    Ok(scan)
}

fn parse_one(data: &[u8]) -> Result<(&[u8], usize), String> {
    if data.len() < HEADER_LEN {
        return Err("record header is incomplete".to_owned());
    }
    let (Some(len), Some(crc)) = (parse_hex8(&data[0..8]), parse_hex8(&data[9..17])) else {
        return Err("record header is not `<len> <crc> `".to_owned());
    };
    if data[8] != b' ' || data[17] != b' ' {
        return Err("record header is not `<len> <crc> `".to_owned());
    }
    let len = len as usize;
    let end = HEADER_LEN + len;
    if data.len() < end + 1 {
        return Err(format!("record is shorter than its declared {len} bytes"));
    }
    if data[end] != b'\n' {
        return Err("record does not end with a newline".to_owned());
    }
    let payload = &data[HEADER_LEN..end];
    if crc32fast::hash(payload) != crc {
        return Err("record checksum does not match".to_owned());
    }
    Ok((payload, end + 1))
}

/// Truncate `path` to `len` bytes (dropping a torn tail found by [`scan_records`]) and sync it.
///
/// # Errors
/// Any I/O error.
pub fn truncate_to(path: &Path, len: u64, durable: bool) -> io::Result<()> {
    let file = OpenOptions::new().write(true).open(path)?;
    file.set_len(len)?;
    if durable {
        file.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn write_atomic_creates_and_replaces_without_leaving_temps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.json");
        write_atomic(&path, b"one", true).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"one");
        write_atomic(&path, b"two, longer", false).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two, longer");
        assert_eq!(names(dir.path()), vec!["meta.json".to_owned()]);
    }

    #[test]
    fn write_atomic_into_missing_dir_fails_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("meta.json");
        let err = write_atomic(&path, b"x", true).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn create_new_atomic_refuses_existing_target() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.json");
        create_new_atomic(&path, b"first", true).unwrap();
        let err = create_new_atomic(&path, b"second", true).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&path).unwrap(), b"first");
        assert_eq!(names(dir.path()), vec!["v1.json".to_owned()]);
    }

    #[test]
    fn stray_temp_of_dead_writer_is_recognised_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.json");
        write_atomic(&path, b"good", true).unwrap();
        // A crashed writer (a pid that cannot be running) left a half-written temp behind.
        let stray = dir.path().join(format!(".meta.json.{}.7.tmp", u32::MAX));
        fs::write(&stray, b"half-writ").unwrap();
        assert!(is_temp_name(".meta.json.4294967295.7.tmp"));
        assert!(!is_temp_name("meta.json"));
        // Readers are unaffected: the target still has the last complete content.
        assert_eq!(fs::read(&path).unwrap(), b"good");
        if cfg!(target_os = "linux") {
            let removed = remove_stray_temps(dir.path()).unwrap();
            assert_eq!(removed, vec![stray.clone()]);
            assert!(!stray.exists());
        }
        assert_eq!(fs::read(&path).unwrap(), b"good");
    }

    #[test]
    fn directories_with_temp_like_names_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join(format!(".data.{}.1.tmp", u32::MAX));
        fs::create_dir(&odd).unwrap();
        assert!(remove_stray_temps(dir.path()).unwrap().is_empty());
        assert!(odd.is_dir());
    }

    #[test]
    fn temp_of_live_writer_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let ours = dir
            .path()
            .join(format!(".meta.json.{}.3.tmp", std::process::id()));
        fs::write(&ours, b"in flight").unwrap();
        assert!(remove_stray_temps(dir.path()).unwrap().is_empty());
        assert!(ours.exists());
        assert!(
            remove_stray_temps(&dir.path().join("absent"))
                .unwrap()
                .is_empty()
        );
    }

    fn log_of(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in payloads {
            encode_record(p, &mut out).unwrap();
        }
        out
    }

    #[test]
    fn records_round_trip() {
        let data = log_of(&[b"{\"a\":1}", b"", b"with\nnewline"]);
        let scan = scan_records(&data).unwrap();
        assert_eq!(scan.records, vec![&b"{\"a\":1}"[..], b"", b"with\nnewline"]);
        assert_eq!(scan.valid_len, data.len());
        assert_eq!(scan.torn_at, None);
    }

    #[test]
    fn every_truncation_is_a_torn_tail_never_an_error() {
        let data = log_of(&[b"first record", b"second record"]);
        let first_len = log_of(&[b"first record"]).len();
        for cut in 0..data.len() {
            let scan = scan_records(&data[..cut]).unwrap();
            let expected = usize::from(cut >= first_len);
            assert_eq!(scan.records.len(), expected, "cut at {cut}");
            assert_eq!(
                scan.torn_at.is_some(),
                cut != 0 && cut != first_len,
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn damage_before_the_end_is_corruption() {
        let mut data = log_of(&[b"first record", b"second record"]);
        data[20] ^= 0x01; // flip a payload bit of the first record
        let err = scan_records(&data).unwrap_err();
        assert_eq!(err.offset, 0);
        assert!(err.detail.contains("checksum"), "{}", err.detail);
    }

    #[test]
    fn damaged_last_record_is_torn() {
        let mut data = log_of(&[b"first record", b"second record"]);
        let last = data.len() - 3;
        data[last] ^= 0x01;
        let scan = scan_records(&data).unwrap();
        assert_eq!(scan.records, vec![&b"first record"[..]]);
        assert!(scan.torn_at.is_some());
    }

    #[test]
    fn truncate_drops_the_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut data = log_of(&[b"kept"]);
        let keep = data.len();
        data.extend_from_slice(b"0000000a 0000");
        fs::write(&path, &data).unwrap();
        let scan = scan_records(&data).unwrap();
        assert_eq!(scan.torn_at, Some(keep));
        truncate_to(&path, scan.valid_len as u64, true).unwrap();
        assert_eq!(fs::read(&path).unwrap(), log_of(&[b"kept"]));
    }
}

/// The README's example, compiled and run as a doc test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
