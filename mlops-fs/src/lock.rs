//! Cross-process locks on a lock file, with std's `File::lock` / `lock_shared` (advisory
//! `flock`-style locks on local file systems; not for NFS).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

/// Open the lock file at `path` for locking, creating it (empty) when absent; its content is
/// never read or written.
///
/// # Errors
/// The I/O error of opening or creating the file.
pub fn open_lock_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
}

/// A held lock on a lock file: exclusive (one holder) or shared (any number of shared holders,
/// no exclusive one). Released when dropped (and by the OS when the process dies, so a crashed
/// holder never leaves a stale lock).
#[derive(Debug)]
pub struct FileLock {
    file: File,
}

impl FileLock {
    /// Wait for the exclusive lock on `path` (created when absent).
    ///
    /// # Errors
    /// The I/O error of opening or locking the file.
    pub fn exclusive(path: &Path) -> io::Result<Self> {
        let file = open_lock_file(path)?;
        file.lock()?;
        Ok(Self { file })
    }

    /// Wait for a shared lock on `path` (created when absent).
    ///
    /// # Errors
    /// The I/O error of opening or locking the file.
    pub fn shared(path: &Path) -> io::Result<Self> {
        let file = open_lock_file(path)?;
        file.lock_shared()?;
        Ok(Self { file })
    }

    /// Take the exclusive lock on `path` if it is free within `patience`, for an owner that
    /// must not wait behind another long-lived holder (a store open in another process):
    /// `Ok(None)` when the lock is still held after `patience`. A lock held only for an instant
    /// (a child process between `fork` and `exec` briefly shares the descriptor) is waited out.
    ///
    /// # Errors
    /// The I/O error of opening or locking the file.
    pub fn try_exclusive_for(path: &Path, patience: Duration) -> io::Result<Option<Self>> {
        let file = open_lock_file(path)?;
        let deadline = Instant::now() + patience;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Some(Self { file })),
                Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(fs::TryLockError::WouldBlock) => return Ok(None),
                Err(fs::TryLockError::Error(e)) => return Err(e),
            }
        }
    }

    /// The locked file.
    #[must_use]
    pub fn file(&self) -> &File {
        &self.file
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_excludes_and_is_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let held = FileLock::exclusive(&path).unwrap();
        assert!(
            FileLock::try_exclusive_for(&path, Duration::from_millis(20))
                .unwrap()
                .is_none()
        );
        drop(held);
        assert!(
            FileLock::try_exclusive_for(&path, Duration::ZERO)
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn shared_locks_coexist_and_keep_an_exclusive_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let a = FileLock::shared(&path).unwrap();
        let b = FileLock::shared(&path).unwrap();
        assert!(
            FileLock::try_exclusive_for(&path, Duration::from_millis(20))
                .unwrap()
                .is_none()
        );
        drop((a, b));
        assert!(
            FileLock::try_exclusive_for(&path, Duration::ZERO)
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn a_missing_folder_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let err = FileLock::exclusive(&dir.path().join("no/such/lock")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
