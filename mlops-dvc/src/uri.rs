//! `dvc://<path>@<sha256>` URIs: a dataset (a tracked file or directory of a
//! [`Repository`](crate::Repository)) at one content digest.
//!
//! The path is the dataset's path relative to the repository root, `/`-separated, with bytes
//! outside `A-Z a-z 0-9 - . _ ~ / + , = :` written as `%XX` (so a space is `%20`); the digest
//! is the dataset's sha256 (a file's content digest, a directory's manifest digest) in 64
//! lower-case hex digits, after the last `@`.
//!
//! ```
//! use mlops_dvc::{DatasetUri, Digest, RelPath};
//!
//! let digest = Digest::of_bytes(b"a,b\n1,2\n");
//! let uri = DatasetUri::new(RelPath::from_bytes(b"data/my file.csv")?, digest);
//! assert_eq!(uri.to_string(), format!("dvc://data/my%20file.csv@{digest}"));
//! assert_eq!(uri.to_string().parse::<DatasetUri>()?, uri);
//! let err = "dvc://data/x.csv@abc".parse::<DatasetUri>().unwrap_err();
//! assert!(err.to_string().contains("dataset uri"), "{err}");
//! # Ok::<(), mlops_dvc::DvcError>(())
//! ```

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;
use crate::error::{DvcError, Result};
use crate::path::RelPath;

/// The scheme of a [`DatasetUri`].
pub const DATASET_URI_SCHEME: &str = "dvc://";

/// A dataset at a content digest: `dvc://<path>@<sha256>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DatasetUri {
    path: RelPath,
    digest: Digest,
}

impl DatasetUri {
    /// The URI of the dataset at `path` with content `digest`.
    #[must_use]
    pub fn new(path: RelPath, digest: Digest) -> Self {
        Self { path, digest }
    }

    /// The dataset's path in its repository.
    #[must_use]
    pub fn path(&self) -> &RelPath {
        &self.path
    }

    /// The dataset's content digest.
    #[must_use]
    pub fn digest(&self) -> Digest {
        self.digest
    }
}

fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'_' | b'~' | b'/' | b'+' | b',' | b'=' | b':'
        )
}

impl fmt::Display for DatasetUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(DATASET_URI_SCHEME)?;
        for &b in self.path.as_bytes() {
            if is_plain(b) {
                write!(f, "{}", char::from(b))?;
            } else {
                write!(f, "%{b:02X}")?;
            }
        }
        write!(f, "@{}", self.digest)
    }
}

impl FromStr for DatasetUri {
    type Err = DvcError;

    /// Parse `dvc://<path>@<sha256>`.
    ///
    /// # Errors
    /// [`DvcError::InvalidArgument`] (`dataset uri`) naming the URI and what is wrong: another
    /// scheme, no `@<sha256>`, a digest that is not 64 lower-case hex digits, a bad `%XX`
    /// escape, an empty path, or a path that leaves the repository (`..`, absolute).
    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: String| DvcError::invalid("dataset uri", format!("{s:?}: {why}"));
        let rest = s
            .strip_prefix(DATASET_URI_SCHEME)
            .ok_or_else(|| bad(format!("does not start with {DATASET_URI_SCHEME}")))?;
        let (path, digest) = rest
            .rsplit_once('@')
            .ok_or_else(|| bad("has no `@<sha256>` after the path".into()))?;
        let digest: Digest = digest
            .parse()
            .map_err(|_| bad(format!("digest {digest:?} is not 64 lower-case hex digits")))?;
        let mut bytes = Vec::with_capacity(path.len());
        let raw = path.as_bytes();
        let mut i = 0;
        while i < raw.len() {
            let b = raw[i];
            if b == b'%' {
                let hex = raw
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| bad(format!("bad `%` escape at byte {i} of the path")))?;
                bytes.push(hex);
                i += 3;
            } else if b.is_ascii_whitespace() || b.is_ascii_control() {
                return Err(bad(format!(
                    "raw whitespace or control byte at byte {i} of the path"
                )));
            } else {
                bytes.push(b);
                i += 1;
            }
        }
        if bytes.is_empty() {
            return Err(bad("names no path".into()));
        }
        let path = RelPath::from_bytes(&bytes).map_err(|e| bad(e.to_string()))?;
        Ok(Self { path, digest })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_with_reasons() {
        let d = Digest::of_bytes(b"x");
        for path in ["data/x.csv", "a b/c@d%e", "datasets/churn", "ü/ß.csv"] {
            let uri = DatasetUri::new(RelPath::from_bytes(path.as_bytes()).unwrap(), d);
            let text = uri.to_string();
            assert!(!text.contains(' '), "{text}");
            assert_eq!(text.parse::<DatasetUri>().unwrap(), uri, "{text}");
        }
        let hex = d.to_hex();
        for (bad, why) in [
            (format!("s3://data/x@{hex}"), "does not start"),
            ("dvc://data/x".to_owned(), "no `@"),
            (
                format!("dvc://data/x@{}", hex.to_uppercase()),
                "64 lower-case",
            ),
            (format!("dvc://data/x@{}", &hex[..32]), "64 lower-case"),
            (format!("dvc://@{hex}"), "no path"),
            (format!("dvc://../x@{hex}"), "path"),
            (format!("dvc:///abs@{hex}"), "path"),
            (format!("dvc://a%2@{hex}"), "escape"),
            (format!("dvc://a b@{hex}"), "whitespace"),
        ] {
            let err = bad.parse::<DatasetUri>().unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.contains("dataset uri") && msg.contains(why),
                "{bad}: {msg}"
            );
        }
    }
}
