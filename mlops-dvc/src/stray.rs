//! Entries that a folder of this crate holds but that are not this crate's (an editor backup, a
//! `.DS_Store`, a README someone added): every listing skips them and says so once per path
//! through `tracing`, never failing because of them.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use parking_lot::Mutex;

/// Log (at `warn`, the first time this process meets `path`) that a listing skipped it; returns
/// whether it logged.
pub(crate) fn skipped(path: &Path, why: &str) -> bool {
    static SEEN: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    let first = SEEN
        .get_or_init(Mutex::default)
        .lock()
        .insert(path.to_path_buf());
    if first {
        tracing::warn!(path = %path.display(), why, "ignoring an entry that is not ours");
    }
    first
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_path_is_reported_once() {
        let p = std::path::Path::new("/nonexistent/stray-once-test");
        assert!(super::skipped(p, "test"));
        assert!(!super::skipped(p, "test"));
        assert!(super::skipped(&p.join("other"), "test"));
    }
}
