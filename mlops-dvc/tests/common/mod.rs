#![allow(dead_code, missing_docs)]

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use mlops_dvc::Repository;

pub fn repo(dir: &Path) -> Repository {
    // One setting turns off the fsyncs of the metadata and of the repository's own cache.
    Repository::open(dir)
        .unwrap()
        .with_fsync(false)
        .with_threads(2)
}

/// Write a file and date it a minute back, so the stat cache trusts it at once (a file modified
/// within the racy window is re-hashed on the next look, by design).
pub fn write_old(path: &Path, data: impl AsRef<[u8]>) {
    if let Some(p) = path.parent() {
        fs::create_dir_all(p).unwrap();
    }
    fs::write(path, data).unwrap();
    age(path);
}

pub fn age(path: &Path) {
    let f = fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(60))
        .unwrap();
}
