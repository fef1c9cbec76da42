//! Entity keys: the values of a feature group's join keys, in a compact encoding.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The type of one column of an entity key (Feast's join key types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyType {
    /// A 64-bit signed integer id.
    Int64,
    /// A text id.
    String,
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Int64 => "int64",
            Self::String => "string",
        })
    }
}

/// One part of an entity key, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyPart<'a> {
    /// An integer id.
    Int64(i64),
    /// A text id.
    String(&'a str),
}

impl KeyPart<'_> {
    /// The part's type.
    #[must_use]
    pub fn key_type(&self) -> KeyType {
        match self {
            Self::Int64(_) => KeyType::Int64,
            Self::String(_) => KeyType::String,
        }
    }
}

impl<'a> From<&'a str> for KeyPart<'a> {
    fn from(s: &'a str) -> Self {
        Self::String(s)
    }
}

impl From<i64> for KeyPart<'_> {
    fn from(v: i64) -> Self {
        Self::Int64(v)
    }
}

/// Longest encoded key kept inline (without a heap allocation).
const INLINE_KEY: usize = 22;

#[derive(Clone)]
enum KeyBytes {
    Inline { len: u8, buf: [u8; INLINE_KEY] },
    Heap(Box<[u8]>),
}

/// An entity key: the values of a feature group's join keys (one or more, so compound keys are
/// allowed), e.g. `user_id = "u001"` or `(user_id, merchant_id) = ("u001", 7)`.
///
/// Stored in a compact encoding (kept inline, without allocation, up to 22 bytes), so that
/// hashing and comparing a key is a pass over a few bytes.
///
/// ```
/// use mlops_features::{EntityKey, KeyPart};
/// let k = EntityKey::from("u001");
/// let c = EntityKey::new(&[KeyPart::String("u001"), KeyPart::Int64(7)]);
/// assert_eq!(k.to_string(), "u001");
/// assert_eq!(c.to_string(), "(u001, 7)");
/// assert_eq!(c.parts().collect::<Vec<_>>(), [KeyPart::String("u001"), KeyPart::Int64(7)]);
/// ```
#[derive(Clone)]
pub struct EntityKey(KeyBytes);

const TAG_INT: u8 = 1;
const TAG_STR: u8 = 2;

impl EntityKey {
    /// A key from its parts, in the order of the group's entity columns.
    #[must_use]
    pub fn new(parts: &[KeyPart<'_>]) -> Self {
        let mut buf = Vec::with_capacity(16);
        for part in parts {
            match *part {
                KeyPart::Int64(v) => {
                    buf.push(TAG_INT);
                    buf.extend_from_slice(&v.to_le_bytes());
                }
                KeyPart::String(s) => {
                    buf.push(TAG_STR);
                    // Strings longer than 4 GiB cannot be keys; clamp so encoding never panics.
                    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
                    buf.extend_from_slice(&len.to_le_bytes());
                    buf.extend_from_slice(&s.as_bytes()[..len as usize]);
                }
            }
        }
        Self::from_encoded_unchecked(&buf)
    }

    fn from_encoded_unchecked(bytes: &[u8]) -> Self {
        if bytes.len() <= INLINE_KEY {
            let mut buf = [0; INLINE_KEY];
            buf[..bytes.len()].copy_from_slice(bytes);
            #[allow(clippy::cast_possible_truncation)]
            Self(KeyBytes::Inline {
                len: bytes.len() as u8,
                buf,
            })
        } else {
            Self(KeyBytes::Heap(bytes.into()))
        }
    }

    /// A key from its encoding ([`EntityKey::encoded`]).
    ///
    /// # Errors
    /// A description of what is malformed.
    pub(crate) fn from_encoded(bytes: &[u8]) -> Result<Self, String> {
        let key = Self::from_encoded_unchecked(bytes);
        let mut n = 0;
        for p in key.try_parts() {
            p?;
            n += 1;
        }
        if n == 0 {
            return Err("entity key has no parts".to_owned());
        }
        Ok(key)
    }

    /// The compact encoding: per part a tag byte, then 8 little-endian bytes (int64) or a
    /// 4-byte little-endian length and UTF-8 bytes (string).
    #[must_use]
    pub fn encoded(&self) -> &[u8] {
        match &self.0 {
            KeyBytes::Inline { len, buf } => &buf[..*len as usize],
            KeyBytes::Heap(b) => b,
        }
    }

    /// The parts of the key, in order.
    pub fn parts(&self) -> impl Iterator<Item = KeyPart<'_>> {
        self.try_parts().map_while(Result::ok)
    }

    fn try_parts(&self) -> KeyParts<'_> {
        KeyParts {
            rest: self.encoded(),
        }
    }

    /// The key as three words when it is kept inline (length byte, then up to 22 bytes, zero
    /// padded), so a table can compare it without touching the key's own memory.
    pub(crate) fn inline_words(&self) -> Option<[u64; 3]> {
        match &self.0 {
            KeyBytes::Inline { len, buf } => {
                let mut b = [0u8; 24];
                b[0] = *len;
                b[1..=INLINE_KEY].copy_from_slice(buf);
                let w = |i: usize| {
                    let mut x = [0u8; 8];
                    x.copy_from_slice(&b[i * 8..i * 8 + 8]);
                    u64::from_le_bytes(x)
                };
                Some([w(0), w(1), w(2)])
            }
            KeyBytes::Heap(_) => None,
        }
    }

    /// The key whose [`EntityKey::inline_words`] are `w` (the length byte is clamped to an
    /// inline key's length).
    pub(crate) fn from_inline_words(w: [u64; 3]) -> Self {
        let mut b = [0u8; 24];
        for (i, x) in w.iter().enumerate() {
            b[i * 8..i * 8 + 8].copy_from_slice(&x.to_le_bytes());
        }
        let len = b[0].min(INLINE_KEY as u8);
        let mut buf = [0; INLINE_KEY];
        buf.copy_from_slice(&b[1..=INLINE_KEY]);
        Self(KeyBytes::Inline { len, buf })
    }

    /// The key as an integer when it is a single `Int64` part, else `None`.
    ///
    /// ```
    /// use mlops_features::EntityKey;
    /// assert_eq!(EntityKey::from(7).as_i64(), Some(7));
    /// assert_eq!(EntityKey::from("u1").as_i64(), None);
    /// ```
    #[must_use]
    pub fn as_i64(&self) -> Option<i64> {
        let mut parts = self.parts();
        match (parts.next(), parts.next()) {
            (Some(KeyPart::Int64(v)), None) => Some(v),
            _ => None,
        }
    }

    /// The key as text when it is a single `String` part, else `None`.
    ///
    /// ```
    /// use mlops_features::EntityKey;
    /// assert_eq!(EntityKey::from("u1").as_str(), Some("u1"));
    /// assert_eq!(EntityKey::from(7).as_str(), None);
    /// ```
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        let mut parts = self.parts();
        match (parts.next(), parts.next()) {
            (Some(KeyPart::String(s)), None) => Some(s),
            _ => None,
        }
    }

    /// Number of parts.
    #[must_use]
    pub fn len(&self) -> usize {
        self.parts().count()
    }

    /// Whether the key has no parts (never true for keys built from a non-empty slice).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.encoded().is_empty()
    }
}

struct KeyParts<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for KeyParts<'a> {
    type Item = Result<KeyPart<'a>, String>;
    fn next(&mut self) -> Option<Self::Item> {
        let (&tag, rest) = self.rest.split_first()?;
        let result = match tag {
            TAG_INT if rest.len() >= 8 => {
                let (v, rest) = rest.split_at(8);
                self.rest = rest;
                let mut b = [0; 8];
                b.copy_from_slice(v);
                Ok(KeyPart::Int64(i64::from_le_bytes(b)))
            }
            TAG_STR if rest.len() >= 4 => {
                let mut b = [0; 4];
                b.copy_from_slice(&rest[..4]);
                let len = u32::from_le_bytes(b) as usize;
                if rest.len() < 4 + len {
                    Err("entity key string is truncated".to_owned())
                } else {
                    match std::str::from_utf8(&rest[4..4 + len]) {
                        Ok(s) => {
                            self.rest = &rest[4 + len..];
                            Ok(KeyPart::String(s))
                        }
                        Err(_) => Err("entity key string is not UTF-8".to_owned()),
                    }
                }
            }
            _ => Err(format!("bad entity key part tag {tag}")),
        };
        if result.is_err() {
            self.rest = &[];
        }
        Some(result)
    }
}

impl PartialEq for EntityKey {
    fn eq(&self, other: &Self) -> bool {
        self.encoded() == other.encoded()
    }
}

impl Eq for EntityKey {}

impl std::hash::Hash for EntityKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.encoded().hash(state);
    }
}

impl PartialOrd for EntityKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for EntityKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.parts().cmp(other.parts())
    }
}

impl PartialOrd for KeyPart<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for KeyPart<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match (self, other) {
            (Self::Int64(a), Self::Int64(b)) => a.cmp(b),
            (Self::String(a), Self::String(b)) => a.cmp(b),
            (Self::Int64(_), Self::String(_)) => std::cmp::Ordering::Less,
            (Self::String(_), Self::Int64(_)) => std::cmp::Ordering::Greater,
        }
    }
}

impl fmt::Display for EntityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<_> = self.parts().collect();
        let one = |f: &mut fmt::Formatter<'_>, p: &KeyPart<'_>| match p {
            KeyPart::Int64(v) => write!(f, "{v}"),
            KeyPart::String(s) => f.write_str(s),
        };
        if let [p] = parts.as_slice() {
            return one(f, p);
        }
        f.write_str("(")?;
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            one(f, p)?;
        }
        f.write_str(")")
    }
}

impl fmt::Debug for EntityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntityKey({self})")
    }
}

impl From<&str> for EntityKey {
    fn from(s: &str) -> Self {
        Self::new(&[KeyPart::String(s)])
    }
}

impl From<String> for EntityKey {
    fn from(s: String) -> Self {
        Self::from(s.as_str())
    }
}

impl From<i64> for EntityKey {
    fn from(v: i64) -> Self {
        Self::new(&[KeyPart::Int64(v)])
    }
}

impl Serialize for EntityKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(None)?;
        for p in self.parts() {
            match p {
                KeyPart::Int64(v) => seq.serialize_element(&v)?,
                KeyPart::String(v) => seq.serialize_element(v)?,
            }
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{EntityKey, INLINE_KEY, KeyPart};

    #[derive(Debug, Clone)]
    enum Part {
        Int(i64),
        Str(String),
    }

    fn part() -> impl Strategy<Value = Part> {
        prop_oneof![
            any::<i64>().prop_map(Part::Int),
            // Short strings (mostly inline), with multi-byte characters and NULs.
            "[a-z0-9_\u{e9}\u{4e2d}\u{0}]{0,24}".prop_map(Part::Str),
        ]
    }

    proptest! {
        /// A key kept inline comes back whole from its three words: same encoding, parts,
        /// equality and hash; a longer key is never inline.
        #[test]
        fn inline_words_round_trip(parts in proptest::collection::vec(part(), 0..4)) {
            let parts: Vec<KeyPart<'_>> = parts
                .iter()
                .map(|p| match p {
                    Part::Int(v) => KeyPart::Int64(*v),
                    Part::Str(s) => KeyPart::String(s),
                })
                .collect();
            let key = EntityKey::new(&parts);
            match key.inline_words() {
                Some(w) => {
                    prop_assert!(key.encoded().len() <= INLINE_KEY);
                    let back = EntityKey::from_inline_words(w);
                    prop_assert_eq!(back.encoded(), key.encoded());
                    prop_assert_eq!(&back, &key);
                    prop_assert_eq!(back.parts().collect::<Vec<_>>(), parts);
                    prop_assert_eq!(back.inline_words(), Some(w));
                    let h = hashbrown::DefaultHashBuilder::default();
                    prop_assert_eq!(
                        std::hash::BuildHasher::hash_one(&h, &back),
                        std::hash::BuildHasher::hash_one(&h, &key)
                    );
                    // The length byte leaves the tombstone bit and the long-key marker free.
                    prop_assert!(w[0] & 0xff <= INLINE_KEY as u64);
                }
                None => prop_assert!(key.encoded().len() > INLINE_KEY),
            }
        }
    }
}
