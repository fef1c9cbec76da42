//! The step cache: keys, fingerprints, entries and the [`StepCache`] trait.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{PipelineError, Result};
use crate::name::StepName;

fn hex32(bytes: &[u8; 32]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(64);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    s
}

fn parse_hex32(what: &'static str, s: &str) -> Result<[u8; 32]> {
    let bad = || PipelineError::invalid(what, format!("{s:?} is not 64 lower-case hex digits"));
    if s.len() != 64 {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, pair) in s.as_bytes().chunks_exact(2).enumerate() {
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let (Some(hi), Some(lo)) = (digit(pair[0]), digit(pair[1])) else {
            return Err(bad());
        };
        out[i] = hi << 4 | lo;
    }
    Ok(out)
}

macro_rules! hex_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name([u8; 32]);

        impl $name {
            /// The 32 raw bytes.
            #[must_use]
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            /// From 32 raw bytes.
            #[must_use]
            pub fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex32(&self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), hex32(&self.0))
            }
        }

        impl FromStr for $name {
            type Err = PipelineError;
            fn from_str(s: &str) -> Result<Self> {
                parse_hex32($what, s).map(Self)
            }
        }

        impl TryFrom<String> for $name {
            type Error = PipelineError;
            fn try_from(s: String) -> Result<Self> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(k: $name) -> Self {
                k.to_string()
            }
        }
    };
}

hex_id!(
    /// A cache key: SHA-256 over the step's name, its cache version, its parameters (canonical
    /// JSON, object keys sorted) and the name and [`Fingerprint`] of each dependency (sorted by
    /// name), each field length-prefixed. Shown as 64 lower-case hex digits.
    CacheKey,
    "cache key"
);

hex_id!(
    /// A fingerprint of a step's output: SHA-256 of its serialized bytes (compact JSON), shown as
    /// 64 lower-case hex digits. It feeds the cache keys of the step's dependents, so a change
    /// upstream invalidates everything downstream, as in `dvc repro`.
    Fingerprint,
    "fingerprint"
);

impl Fingerprint {
    /// The fingerprint of `bytes`.
    #[must_use]
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }
}

/// Append `v` as canonical JSON: objects with sorted keys, no whitespace.
fn canonical_json(v: &serde_json::Value, out: &mut String) {
    match v {
        serde_json::Value::Object(map) => {
            let sorted: BTreeMap<&String, &serde_json::Value> = map.iter().collect();
            out.push('{');
            for (k, (key, val)) in sorted.into_iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(key.clone()).to_string());
                out.push(':');
                canonical_json(val, out);
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (k, item) in items.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

impl CacheKey {
    /// The key of step `step` at cache version `version`, with `params` and the fingerprints of
    /// its dependencies' outputs (in any order: they are sorted by name).
    #[must_use]
    pub fn compute(
        step: &StepName,
        version: &str,
        params: &BTreeMap<String, serde_json::Value>,
        deps: &[(&StepName, Fingerprint)],
    ) -> Self {
        fn field(h: &mut Sha256, bytes: &[u8]) {
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        }
        let mut h = Sha256::new();
        h.update(b"mlops-pipeline cache key v1\n");
        field(&mut h, step.as_str().as_bytes());
        field(&mut h, version.as_bytes());
        let mut json = String::new();
        let params_value: serde_json::Map<String, serde_json::Value> =
            params.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        canonical_json(&serde_json::Value::Object(params_value), &mut json);
        field(&mut h, json.as_bytes());
        let mut sorted: Vec<&(&StepName, Fingerprint)> = deps.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        h.update((sorted.len() as u64).to_le_bytes());
        for (name, fp) in sorted {
            field(&mut h, name.as_str().as_bytes());
            h.update(fp.as_bytes());
        }
        Self(h.finalize().into())
    }
}

/// A cached output: the step that produced it, its bytes (compact JSON), their fingerprint and
/// when it was stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CacheEntry {
    /// The step that produced the output.
    pub step: StepName,
    /// The serialized output.
    pub output: Vec<u8>,
    /// SHA-256 of `output`.
    pub fingerprint: Fingerprint,
    /// When the entry was made.
    pub created_at: DateTime<Utc>,
}

impl CacheEntry {
    /// An entry for `output`, fingerprinted now.
    #[must_use]
    pub fn new(step: StepName, output: Vec<u8>) -> Self {
        let fingerprint = Fingerprint::of(&output);
        Self {
            step,
            output,
            fingerprint,
            created_at: Utc::now(),
        }
    }
}

/// Stores step outputs by [`CacheKey`]. Implementations: [`InMemoryCache`](crate::InMemoryCache)
/// and [`FileCache`](crate::FileCache); a remote store (Redis, S3) implements the same trait.
///
/// The runner treats an error from [`get`](Self::get) as a miss and reports it (the step runs);
/// it never uses an entry whose fingerprint does not match its bytes.
pub trait StepCache: Send + Sync + fmt::Debug + 'static {
    /// The entry under `key`, if any.
    ///
    /// # Errors
    /// [`PipelineError::Corrupt`] for a damaged entry; I/O errors.
    fn get(&self, key: &CacheKey) -> Result<Option<CacheEntry>>;

    /// Store `entry` under `key`, replacing any entry there.
    ///
    /// # Errors
    /// I/O errors; the previous entry (if any) is then intact.
    fn put(&self, key: &CacheKey, entry: &CacheEntry) -> Result<()>;

    /// Remove the entry under `key`; whether there was one.
    ///
    /// # Errors
    /// I/O errors.
    fn remove(&self, key: &CacheKey) -> Result<bool>;

    /// All keys, sorted.
    ///
    /// # Errors
    /// I/O errors.
    fn keys(&self) -> Result<Vec<CacheKey>>;

    /// The entries under `keys`, in order (a batch `get`; remote stores override it).
    fn get_many(&self, keys: &[CacheKey]) -> Vec<Result<Option<CacheEntry>>> {
        keys.iter().map(|k| self.get(k)).collect()
    }
}

const _: fn(&dyn StepCache) = |_| {};

impl<T: StepCache + ?Sized> StepCache for Arc<T> {
    fn get(&self, key: &CacheKey) -> Result<Option<CacheEntry>> {
        (**self).get(key)
    }
    fn put(&self, key: &CacheKey, entry: &CacheEntry) -> Result<()> {
        (**self).put(key, entry)
    }
    fn remove(&self, key: &CacheKey) -> Result<bool> {
        (**self).remove(key)
    }
    fn keys(&self) -> Result<Vec<CacheKey>> {
        (**self).keys()
    }
    fn get_many(&self, keys: &[CacheKey]) -> Vec<Result<Option<CacheEntry>>> {
        (**self).get_many(keys)
    }
}

impl<T: StepCache + ?Sized> StepCache for Box<T> {
    fn get(&self, key: &CacheKey) -> Result<Option<CacheEntry>> {
        (**self).get(key)
    }
    fn put(&self, key: &CacheKey, entry: &CacheEntry) -> Result<()> {
        (**self).put(key, entry)
    }
    fn remove(&self, key: &CacheKey) -> Result<bool> {
        (**self).remove(key)
    }
    fn keys(&self) -> Result<Vec<CacheKey>> {
        (**self).keys()
    }
    fn get_many(&self, keys: &[CacheKey]) -> Vec<Result<Option<CacheEntry>>> {
        (**self).get_many(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> StepName {
        s.parse().unwrap()
    }

    #[test]
    fn key_depends_on_every_input_and_not_on_order() {
        let mut p = BTreeMap::new();
        p.insert("lr".to_owned(), serde_json::json!({"b": 1, "a": [1, 2]}));
        let fa = Fingerprint::of(b"a");
        let fb = Fingerprint::of(b"b");
        let (a, b) = (n("a"), n("b"));
        let base = CacheKey::compute(&n("s"), "v1", &p, &[(&a, fa), (&b, fb)]);
        assert_eq!(
            base,
            CacheKey::compute(&n("s"), "v1", &p, &[(&b, fb), (&a, fa)])
        );
        assert_ne!(
            base,
            CacheKey::compute(&n("t"), "v1", &p, &[(&a, fa), (&b, fb)])
        );
        assert_ne!(
            base,
            CacheKey::compute(&n("s"), "v2", &p, &[(&a, fa), (&b, fb)])
        );
        assert_ne!(
            base,
            CacheKey::compute(&n("s"), "v1", &p, &[(&a, fb), (&b, fa)])
        );
        assert_ne!(base, CacheKey::compute(&n("s"), "v1", &p, &[(&a, fa)]));
        let mut q = BTreeMap::new();
        q.insert("lr".to_owned(), serde_json::json!({"a": [1, 2], "b": 1}));
        assert_eq!(
            base,
            CacheKey::compute(&n("s"), "v1", &q, &[(&a, fa), (&b, fb)])
        );
        q.insert("lr".to_owned(), serde_json::json!({"a": [2, 1], "b": 1}));
        assert_ne!(
            base,
            CacheKey::compute(&n("s"), "v1", &q, &[(&a, fa), (&b, fb)])
        );
    }

    #[test]
    fn hex_ids_round_trip_and_reject_bad_text() {
        let k = Fingerprint::of(b"x");
        assert_eq!(k.to_string().parse::<Fingerprint>().unwrap(), k);
        let json = serde_json::to_string(&k).unwrap();
        assert_eq!(serde_json::from_str::<Fingerprint>(&json).unwrap(), k);
        for bad in ["", "zz", &"A".repeat(64), &"0".repeat(63)] {
            assert!(bad.parse::<CacheKey>().is_err(), "{bad}");
        }
    }
}
