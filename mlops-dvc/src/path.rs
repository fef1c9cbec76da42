//! [`RelPath`]: a validated relative path from data (a manifest, a pointer file), which can never
//! leave the folder it is joined to.

use std::cmp::Ordering;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{DvcError, Result};

/// A relative path made of normal components separated by `/`, stored as bytes so that file
/// names that are not UTF-8 survive. Never absolute, never `..` or `.`, never empty components,
/// never a NUL. The empty path means "the folder (or file) itself".
///
/// In JSON it is a string when it is UTF-8, else `{"hex": "<bytes in hex>"}`.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct RelPath(Vec<u8>);

impl RelPath {
    /// The empty path (the dataset root itself).
    #[must_use]
    pub const fn root() -> Self {
        Self(Vec::new())
    }

    /// Validate `bytes` (`/`-separated components).
    ///
    /// # Errors
    /// [`DvcError::InvalidArgument`] naming the path when it is absolute, has `.`, `..` or empty
    /// components, or a NUL.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.is_empty() {
            return Ok(Self::root());
        }
        for comp in bytes.split(|&b| b == b'/') {
            check_name(comp).map_err(|why| {
                DvcError::invalid(
                    "path",
                    format!("{:?} {why}", String::from_utf8_lossy(bytes)),
                )
            })?;
        }
        Ok(Self(bytes.to_vec()))
    }

    /// Convert a relative file-system path.
    ///
    /// # Errors
    /// As [`from_bytes`](Self::from_bytes); also for paths with a root or prefix.
    pub fn from_path(path: &Path) -> Result<Self> {
        let mut out = Vec::new();
        for comp in path.components() {
            match comp {
                Component::Normal(name) => {
                    if !out.is_empty() {
                        out.push(b'/');
                    }
                    out.extend_from_slice(&os_bytes(name)?);
                }
                Component::CurDir => {}
                _ => {
                    return Err(DvcError::invalid(
                        "path",
                        format!("{} escapes the working directory", path.display()),
                    ));
                }
            }
        }
        Self::from_bytes(&out)
    }

    /// The raw bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether this is the empty path.
    #[must_use]
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// `self/name` (`name` must be a valid single component).
    #[must_use]
    pub(crate) fn join_name(&self, name: &[u8]) -> Self {
        let mut v = Vec::with_capacity(self.0.len() + 1 + name.len());
        v.extend_from_slice(&self.0);
        if !v.is_empty() {
            v.push(b'/');
        }
        v.extend_from_slice(name);
        Self(v)
    }

    /// The last component (empty for the root).
    #[must_use]
    pub fn file_name(&self) -> &[u8] {
        match self.0.iter().rposition(|&b| b == b'/') {
            Some(i) => &self.0[i + 1..],
            None => &self.0,
        }
    }

    /// The path without its last component.
    #[must_use]
    pub fn parent(&self) -> Self {
        match self.0.iter().rposition(|&b| b == b'/') {
            Some(i) => Self(self.0[..i].to_vec()),
            None => Self::root(),
        }
    }

    /// `base` joined with this path; cannot leave `base` (symlinks aside, which the callers
    /// check).
    #[must_use]
    pub fn under(&self, base: &Path) -> PathBuf {
        let mut p = base.to_path_buf();
        for comp in self.0.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
            p.push(bytes_os(comp));
        }
        p
    }

    /// The components.
    pub fn components(&self) -> impl Iterator<Item = &[u8]> {
        self.0.split(|&b| b == b'/').filter(|c| !c.is_empty())
    }
}

/// Why `name` is not a valid single path component, if it is not.
pub(crate) fn check_name(name: &[u8]) -> Result<(), &'static str> {
    match name {
        b"" => Err("has an empty component"),
        b"." | b".." => Err("escapes the working directory (`.` or `..`)"),
        _ if name.contains(&0) => Err("contains a NUL byte"),
        _ if name.contains(&b'/') || name.contains(&b'\\') && cfg!(windows) => {
            Err("has a separator inside a name")
        }
        _ => Ok(()),
    }
}

#[cfg(unix)]
pub(crate) fn os_bytes(name: &std::ffi::OsStr) -> Result<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    Ok(name.as_bytes().to_vec())
}

#[cfg(not(unix))]
pub(crate) fn os_bytes(name: &std::ffi::OsStr) -> Result<Vec<u8>> {
    name.to_str()
        .map(|s| s.as_bytes().to_vec())
        .ok_or_else(|| DvcError::invalid("path", format!("{name:?} is not unicode")))
}

#[cfg(unix)]
pub(crate) fn bytes_os(bytes: &[u8]) -> &std::ffi::OsStr {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::OsStr::from_bytes(bytes)
}

#[cfg(not(unix))]
pub(crate) fn bytes_os(bytes: &[u8]) -> &std::ffi::OsStr {
    // Names come from `os_bytes`, which only accepts unicode off Unix.
    std::ffi::OsStr::new(std::str::from_utf8(bytes).unwrap_or("\u{fffd}"))
}

impl PartialOrd for RelPath {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for RelPath {
    /// Component-wise byte order (so `a/b` sorts before `a.b`, as a tree walk yields them).
    /// Computed on the bytes with `/` ranking below every other byte, which is the same order
    /// since a path has no empty components and no NUL.
    fn cmp(&self, other: &Self) -> Ordering {
        let rank = |b: u8| if b == b'/' { 0 } else { b };
        let (a, b) = (&self.0[..], &other.0[..]);
        // Skip the common prefix eight bytes at a time (paths of one folder share a long one).
        let n = a.len().min(b.len());
        let mut i = 0;
        while i + 8 <= n && a[i..i + 8] == b[i..i + 8] {
            i += 8;
        }
        match (i..n).find(|&k| a[k] != b[k]) {
            Some(k) => rank(a[k]).cmp(&rank(b[k])),
            None => a.len().cmp(&b.len()),
        }
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str(".")
        } else {
            write!(f, "{}", String::from_utf8_lossy(&self.0))
        }
    }
}

impl fmt::Debug for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RelPath({:?})", String::from_utf8_lossy(&self.0))
    }
}

/// The JSON form of raw bytes: a string when UTF-8, else `{"hex": ...}` (other keys ignored).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub(crate) enum BytesRepr {
    Text(String),
    Hex { hex: String },
}

/// By hand rather than `untagged`, which buffers every value before trying the variants (a tree
/// object holds one name per file).
impl<'de> Deserialize<'de> for BytesRepr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{Error, IgnoredAny, MapAccess, Visitor};
        struct Repr;
        impl<'de> Visitor<'de> for Repr {
            type Value = BytesRepr;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a string or {"hex": "<hex bytes>"}"#)
            }
            fn visit_str<E: Error>(self, s: &str) -> Result<BytesRepr, E> {
                Ok(BytesRepr::Text(s.to_owned()))
            }
            fn visit_string<E: Error>(self, s: String) -> Result<BytesRepr, E> {
                Ok(BytesRepr::Text(s))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<BytesRepr, A::Error> {
                let mut hex = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "hex" {
                        if hex.is_some() {
                            return Err(A::Error::duplicate_field("hex"));
                        }
                        hex = Some(map.next_value::<String>()?);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                hex.map(|hex| BytesRepr::Hex { hex })
                    .ok_or_else(|| A::Error::missing_field("hex"))
            }
        }
        d.deserialize_any(Repr)
    }
}

impl BytesRepr {
    pub(crate) fn from_bytes(b: &[u8]) -> Self {
        match std::str::from_utf8(b) {
            Ok(s) => Self::Text(s.to_owned()),
            Err(_) => Self::Hex {
                hex: b.iter().map(|x| format!("{x:02x}")).collect(),
            },
        }
    }

    pub(crate) fn into_bytes(self) -> Result<Vec<u8>, String> {
        match self {
            Self::Text(s) => Ok(s.into_bytes()),
            Self::Hex { hex } => {
                if hex.len() % 2 != 0 {
                    return Err(format!("odd-length hex name {hex:?}"));
                }
                (0..hex.len() / 2)
                    .map(|i| {
                        u8::from_str_radix(hex.get(2 * i..2 * i + 2).unwrap_or("zz"), 16)
                            .map_err(|_| format!("bad hex name {hex:?}"))
                    })
                    .collect()
            }
        }
    }
}

impl Serialize for RelPath {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        BytesRepr::from_bytes(&self.0).serialize(s)
    }
}

impl<'de> Deserialize<'de> for RelPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes = BytesRepr::deserialize(d)?
            .into_bytes()
            .map_err(serde::de::Error::custom)?;
        Self::from_bytes(&bytes).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn byte_order_is_component_order(
            a in proptest::collection::vec("[a-c./ -]{1,3}", 0..4),
            b in proptest::collection::vec("[a-c./ -]{1,3}", 0..4),
        ) {
            // Components made of bytes on both sides of `/` (`-`, `.`, space sort below it).
            let make = |c: &[String]| RelPath::from_bytes(c.join("/").as_bytes());
            if let (Ok(a), Ok(b)) = (make(&a), make(&b)) {
                prop_assert_eq!(a.cmp(&b), a.components().cmp(b.components()), "{} vs {}", a, b);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// Long shared prefixes (the eight-byte skip) with a difference anywhere.
        #[test]
        fn byte_order_is_component_order_for_long_paths(
            prefix in "[a-c]{1,20}(/[a-c]{1,20}){0,2}",
            a in "[a-c./ -]{1,12}",
            b in "[a-c./ -]{1,12}",
        ) {
            let make = |t: &str| RelPath::from_bytes(format!("{prefix}{t}").as_bytes());
            if let (Ok(a), Ok(b)) = (make(&a), make(&b)) {
                prop_assert_eq!(a.cmp(&b), a.components().cmp(b.components()), "{} vs {}", a, b);
            }
        }
    }

    #[test]
    fn rejects_escapes() {
        for bad in [
            &b"../x"[..],
            b"a/../b",
            b"/etc/passwd",
            b"a//b",
            b"a/./b",
            b"a\0b",
            b"..",
            b"a/",
        ] {
            assert!(RelPath::from_bytes(bad).is_err(), "{bad:?}");
        }
        assert!(RelPath::from_path(Path::new("/etc")).is_err());
        assert!(RelPath::from_path(Path::new("a/../b")).is_err());
        assert_eq!(
            RelPath::from_path(Path::new("./a/b")).unwrap().as_bytes(),
            b"a/b"
        );
    }

    #[test]
    fn json_round_trip_including_non_utf8() {
        for p in [
            &b"data/train.csv"[..],
            "données/é.csv".as_bytes(),
            b"bad\xff\xfename",
            b"",
        ] {
            let rp = RelPath::from_bytes(p).unwrap();
            let json = serde_json::to_string(&rp).unwrap();
            assert_eq!(
                serde_json::from_str::<RelPath>(&json).unwrap(),
                rp,
                "{json}"
            );
        }
        assert!(serde_json::from_str::<RelPath>("\"../etc\"").is_err());
        assert!(serde_json::from_str::<RelPath>("{\"hex\":\"2e2e\"}").is_err());
        // The two forms, read by hand: other keys ignored, anything else refused.
        let ab = RelPath::from_bytes(b"ab").unwrap();
        for ok in [r#""ab""#, r#"{"hex":"6162"}"#, r#"{"x":[1],"hex":"6162"}"#] {
            assert_eq!(serde_json::from_str::<RelPath>(ok).unwrap(), ab, "{ok}");
        }
        for bad in [
            r#"{"hex":"6162","hex":"6162"}"#,
            r#"{"x":1}"#,
            "12",
            "null",
            r#"["ab"]"#,
        ] {
            assert!(serde_json::from_str::<RelPath>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn order_is_component_wise() {
        let a = RelPath::from_bytes(b"a/b").unwrap();
        let b = RelPath::from_bytes(b"a.b").unwrap();
        assert!(a < b);
    }
}
