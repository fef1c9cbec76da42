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
//!   [`encode_record_with`] frames a payload that a serializer writes in place.
//! - [`RecordReader`]: the same framing read incrementally from an open file, **capped at a
//!   length measured before reading**, so a reader beside a writer that is appending sees a
//!   record still being written as "not yet written" (a torn tail), never as corruption.

mod lock;

pub use crate::lock::{FileLock, open_lock_file};

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
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

/// Length of a record's frame header, `<len: 8 hex> <crc32: 8 hex> `: a record of `n` payload
/// bytes takes `HEADER_LEN + n + 1` bytes of the log.
pub const HEADER_LEN: usize = 18;

/// Append one framed record (`<len> <crc32> <payload>\n`) to `out`.
///
/// # Errors
/// `InvalidInput` when the payload is 4 GiB or more; `out` is then unchanged.
pub fn encode_record(payload: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    encode_record_with(out, |out| {
        out.extend_from_slice(payload);
        Ok::<(), std::convert::Infallible>(())
    })
    .map_err(|e| match e {
        FrameError::TooLarge => {
            io::Error::new(io::ErrorKind::InvalidInput, "record payload over 4 GiB")
        }
        FrameError::Payload(never) => match never {},
    })
}

/// Why [`encode_record_with`] appended nothing.
#[derive(Debug)]
pub enum FrameError<E> {
    /// Writing the payload failed.
    Payload(E),
    /// The payload is 4 GiB or more.
    TooLarge,
}

/// Append one framed record, as [`encode_record`], whose payload `write` appends to `out`
/// itself (a serializer writing in place, so the payload is never copied); the frame's header
/// is filled in after it.
///
/// # Errors
/// [`FrameError::Payload`] with `write`'s error, [`FrameError::TooLarge`] for a payload of 4 GiB
/// or more; `out` is then as it was.
pub fn encode_record_with<E>(
    out: &mut Vec<u8>,
    write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
) -> Result<(), FrameError<E>> {
    let start = out.len();
    out.extend_from_slice(&[b' '; HEADER_LEN]);
    if let Err(e) = write(out) {
        out.truncate(start);
        return Err(FrameError::Payload(e));
    }
    let payload = &out[start + HEADER_LEN..];
    let Ok(len) = u32::try_from(payload.len()) else {
        out.truncate(start);
        return Err(FrameError::TooLarge);
    };
    let crc = crc32fast::hash(payload);
    let mut header = [0u8; HEADER_LEN];
    hex8(len, &mut header[0..8]);
    header[8] = b' ';
    hex8(crc, &mut header[9..17]);
    header[17] = b' ';
    out[start..start + HEADER_LEN].copy_from_slice(&header);
    out.push(b'\n');
    Ok(())
}

/// `v` as eight lowercase hex digits into `out` (8 bytes).
fn hex8(v: u32, out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in out.iter_mut().enumerate() {
        *b = DIGITS[((v >> (28 - 4 * i)) & 0xf) as usize];
    }
}

/// The framed length (`HEADER_LEN + len + 1`) of the record that starts `data`, read from its
/// length field alone (at least its first 8 bytes), so that a reader knows how much to read
/// before checking it with [`scan_records`]; `None` when those bytes are not a length.
#[must_use]
pub fn framed_len(data: &[u8]) -> Option<usize> {
    let len = parse_hex8(data.get(..8)?)?;
    Some(HEADER_LEN + usize::try_from(len).ok()? + 1)
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

/// Eight lowercase hex digits, exactly as [`encode_record`] writes them: anything else (an
/// uppercase digit, a sign) is damage, so that no changed byte of a frame reads as the same frame.
fn parse_hex8(bytes: &[u8]) -> Option<u32> {
    if bytes.len() != 8 {
        return None;
    }
    bytes.iter().try_fold(0u32, |acc, &b| {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return None,
        };
        Some(acc << 4 | u32::from(digit))
    })
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
                if is_torn_tail(&data[pos..]) {
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

/// Whether `rest`, the bytes from a damaged record to the end of the data, can be a torn append:
/// a torn append leaves damage only at the end, so nothing valid may follow it, and at most one
/// newline-terminated piece of garbage may come before the end.
fn is_torn_tail(rest: &[u8]) -> bool {
    match rest.iter().position(|&b| b == b'\n') {
        None => true,
        Some(i) => i + 1 == rest.len(),
    }
}

/// Whether an intact record starts right after one of the newlines in `rest` (the bytes from a
/// damaged record to the end): then the damage is not a torn append but corruption. Unlike
/// [`is_torn_tail`], a cut record whose payload holds a newline is still recognised as torn.
fn intact_record_follows(rest: &[u8]) -> bool {
    rest.iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && parse_one(&rest[i + 1..]).is_ok())
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

/// Why a [`RecordReader`] stopped with an error.
#[derive(Debug)]
pub enum ReadError {
    /// Reading the file failed.
    Io(io::Error),
    /// A damaged record is followed by an intact one (its offset is absolute in the file).
    Corrupt(CorruptRecord),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(e) => write!(f, "{e}"),
            Self::Corrupt(c) => write!(
                f,
                "damaged record at byte {} followed by intact records: {}",
                c.offset, c.detail
            ),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            Self::Corrupt(_) => None,
        }
    }
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// Reads the framed records of a log from byte `from` up to a length `cap` fixed when the
/// reader is made, one record at a time (a lending iterator: [`next_record`](Self::next_record)).
///
/// This is the reader to use beside a writer that may be appending (another process, another
/// handle): bytes past `cap` are never looked at, so the records read are a consistent prefix of
/// the log, and a record cut by `cap` — the writer's append in progress — ends the read as a
/// torn tail ([`torn`](Self::torn)), exactly as a crash mid-append would. Only a damaged record
/// followed (within `cap`) by an intact record is [`ReadError::Corrupt`].
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("log");
/// let mut data = Vec::new();
/// mlops_fs::encode_record(b"first", &mut data)?;
/// mlops_fs::encode_record(b"second", &mut data)?;
/// data.extend_from_slice(b"00000010 1234"); // an append in progress
/// std::fs::write(&path, &data)?;
/// let mut reader = mlops_fs::RecordReader::open(&path, 0)?.expect("the log exists");
/// let mut seen = Vec::new();
/// while let Some(payload) = reader.next_record()? {
///     seen.push(payload.to_vec());
/// }
/// assert_eq!(seen, [b"first".to_vec(), b"second".to_vec()]);
/// assert!(reader.torn());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RecordReader<R> {
    inner: BufReader<io::Take<R>>,
    /// Absolute offset just past the last intact record.
    offset: u64,
    record: Vec<u8>,
    torn: bool,
    done: bool,
}

impl RecordReader<File> {
    /// Open `path`, measure its length now, and read from byte `from` up to that length.
    /// `Ok(None)` when the file does not exist.
    ///
    /// # Errors
    /// The I/O error of opening, measuring or seeking the file.
    pub fn open(path: &Path, from: u64) -> io::Result<Option<Self>> {
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        if from > 0 {
            file.seek(SeekFrom::Start(from.min(len)))?;
        }
        Ok(Some(Self::new(file, from, len)))
    }
}

impl<R: Read> RecordReader<R> {
    /// Read records from `reader`, positioned at byte `from` of the log, up to byte `cap` (the
    /// log's length measured before reading; nothing is read when `cap <= from`).
    pub fn new(reader: R, from: u64, cap: u64) -> Self {
        let budget = cap.saturating_sub(from);
        // Size the buffer to the data: most logs are small, and opening a store reads many.
        let capacity = usize::try_from(budget)
            .unwrap_or(usize::MAX)
            .clamp(64, 1 << 20);
        Self {
            inner: BufReader::with_capacity(capacity, reader.take(budget)),
            offset: from,
            record: Vec::new(),
            torn: false,
            done: budget == 0,
        }
    }

    /// The payload of the next intact record, or `None` at the end (the cap, or a torn tail).
    ///
    /// # Errors
    /// [`ReadError::Io`]; [`ReadError::Corrupt`] for a damaged record followed by more data.
    /// After an error the reader is done.
    pub fn next_record(&mut self) -> Result<Option<&[u8]>, ReadError> {
        if self.done {
            return Ok(None);
        }
        self.record.clear();
        let got = (&mut self.inner)
            .take(HEADER_LEN as u64)
            .read_to_end(&mut self.record);
        if let Err(e) = got {
            self.done = true;
            return Err(e.into());
        }
        if self.record.is_empty() {
            self.done = true;
            return Ok(None);
        }
        let declared =
            if self.record.len() == HEADER_LEN && self.record[8] == b' ' && self.record[17] == b' '
            {
                parse_hex8(&self.record[0..8]).zip(parse_hex8(&self.record[9..17]))
            } else {
                None
            };
        if let Some((len, _)) = declared {
            let want = u64::from(len) + 1;
            let got = (&mut self.inner).take(want).read_to_end(&mut self.record);
            if let Err(e) = got {
                self.done = true;
                return Err(e.into());
            }
        }
        match parse_one(&self.record) {
            Ok((_, used)) => {
                // `used` is the whole buffer: exactly one framed record was read.
                self.offset += used as u64;
                Ok(Some(&self.record[HEADER_LEN..used - 1]))
            }
            Err(detail) => {
                self.done = true;
                // Damaged or incomplete: a torn tail when nothing intact can follow it.
                if let Err(e) = self.inner.read_to_end(&mut self.record) {
                    return Err(e.into());
                }
                if !intact_record_follows(&self.record) {
                    self.torn = true;
                    Ok(None)
                } else {
                    Err(ReadError::Corrupt(CorruptRecord {
                        offset: usize::try_from(self.offset).unwrap_or(usize::MAX),
                        detail,
                    }))
                }
            }
        }
    }

    /// Offset just past the last intact record read so far (absolute in the log).
    #[must_use]
    pub fn valid_len(&self) -> u64 {
        self.offset
    }

    /// Whether the read ended at an incomplete or damaged last record (a crash mid-append, or
    /// an append still in progress when the length was measured).
    #[must_use]
    pub fn torn(&self) -> bool {
        self.torn
    }

    /// Whether the reader has reached its end (the cap, a torn tail or an error).
    #[must_use]
    pub fn is_done(&self) -> bool {
        self.done
    }
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
mod tests;

/// The README's example, compiled and run as a doc test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
