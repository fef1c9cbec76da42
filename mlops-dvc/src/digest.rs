//! SHA-256 content digests: the address of every object in a content store.

use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{DvcError, Result};

/// A SHA-256 digest, shown and parsed as 64 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(into = "String")]
pub struct Digest([u8; 32]);

/// Parsed from the borrowed text when the format allows (a tree object holds one digest per
/// file: no `String` is allocated for each).
impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Hex;
        impl serde::de::Visitor<'_> for Hex {
            type Value = Digest;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("64 lower-case hex digits")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> std::result::Result<Digest, E> {
                s.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(Hex)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Size of the streaming buffers (hashing, copying).
pub(crate) const BUF_SIZE: usize = 256 * 1024;

thread_local! {
    static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Run `f` with this thread's reusable [`BUF_SIZE`] buffer (a fresh one if it is in use), so
/// that hashing many small files does not allocate and fault in a buffer per file.
pub(crate) fn with_buffer<T>(f: impl FnOnce(&mut [u8]) -> T) -> T {
    BUFFER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < BUF_SIZE {
                buf.resize(BUF_SIZE, 0);
            }
            f(&mut buf)
        }
        Err(_) => f(&mut vec![0u8; BUF_SIZE]),
    })
}

impl Digest {
    /// The digest of `bytes`.
    #[must_use]
    pub fn of_bytes(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// Hash everything `reader` yields in constant memory; returns the digest and the byte count.
    ///
    /// # Errors
    /// The reader's I/O error.
    pub fn of_reader(mut reader: impl Read) -> io::Result<(Self, u64)> {
        with_buffer(|buf| {
            let mut hasher = Sha256::new();
            let mut total = 0u64;
            loop {
                let n = match reader.read(buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                hasher.update(&buf[..n]);
                total += n as u64;
            }
            Ok((Self(hasher.finalize().into()), total))
        })
    }

    /// The digest whose raw bytes are `bytes`.
    #[must_use]
    pub const fn from_raw(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Finish a running SHA-256 computation.
    pub(crate) fn from_hasher(hasher: Sha256) -> Self {
        Self(hasher.finalize().into())
    }

    /// The raw 32 bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64 hex digits.
    #[must_use]
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
        s
    }

    /// The object's relative path in a store: `<2 hex>/<62 hex>`, as DVC and git lay them out.
    #[must_use]
    pub fn object_path(&self) -> String {
        let hex = self.to_hex();
        format!("{}/{}", &hex[..2], &hex[2..])
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.to_hex())
    }
}

/// The value of each lower-case hex digit; `0xff` for every other byte.
static HEX_VAL: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 16 {
        t[HEX[i] as usize] = i as u8;
        i += 1;
    }
    t
};

impl FromStr for Digest {
    type Err = DvcError;

    /// Parse 64 lower-case hex digits (upper case is rejected: one digest, one spelling).
    fn from_str(s: &str) -> Result<Self> {
        let bad = || DvcError::invalid("digest", format!("{s:?} is not 64 lower-case hex digits"));
        let bytes = s.as_bytes();
        if bytes.len() != 64 {
            return Err(bad());
        }
        // One table look-up per digit and one check per digest: tree objects and manifests
        // hold one digest per file.
        let mut out = [0u8; 32];
        let mut invalid = 0u8;
        for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            let (hi, lo) = (HEX_VAL[usize::from(pair[0])], HEX_VAL[usize::from(pair[1])]);
            invalid |= hi | lo;
            *o = hi << 4 | (lo & 0x0f);
        }
        if invalid & 0xf0 != 0 {
            return Err(bad());
        }
        Ok(Self(out))
    }
}

impl TryFrom<String> for Digest {
    type Error = DvcError;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> Self {
        d.to_hex()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_vectors() {
        // FIPS 180-2 test vectors.
        assert_eq!(
            Digest::of_bytes(b"").to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            Digest::of_bytes(b"abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn reader_hash_matches_bytes_hash_across_buffer_boundaries() {
        let data: Vec<u8> = (0..1_000_003u32).map(|i| (i % 251) as u8).collect();
        let (d, n) = Digest::of_reader(&data[..]).unwrap();
        assert_eq!(n, data.len() as u64);
        assert_eq!(d, Digest::of_bytes(&data));
    }

    #[test]
    fn every_non_hex_byte_at_every_position_is_rejected() {
        let good = Digest::of_bytes(b"x").to_hex();
        for pos in 0..64 {
            for b in 0..=255u8 {
                let mut s = good.clone().into_bytes();
                s[pos] = b;
                let parsed = std::str::from_utf8(&s).ok().map(str::parse::<Digest>);
                let want = b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
                assert_eq!(
                    parsed.as_ref().is_some_and(std::result::Result::is_ok),
                    want,
                    "byte {b} at {pos}"
                );
                if want {
                    let d = parsed.unwrap().unwrap();
                    assert_eq!(d.to_hex().as_bytes(), &s[..]);
                }
            }
        }
    }

    #[test]
    fn parse_and_paths() {
        let d = Digest::of_bytes(b"abc");
        assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
        assert_eq!(
            d.object_path(),
            "ba/7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(d.to_hex().to_uppercase().parse::<Digest>().is_err());
        assert!("abc".parse::<Digest>().is_err());
        assert!("../../etc/passwd".parse::<Digest>().is_err());
        let err = serde_json::from_str::<Digest>("\"zz\"").unwrap_err();
        assert!(err.to_string().contains("zz"), "{err}");
    }

    proptest! {
        #[test]
        fn hex_round_trip(bytes in proptest::array::uniform32(any::<u8>())) {
            let d = Digest(bytes);
            prop_assert_eq!(d.to_hex().parse::<Digest>().unwrap(), d);
        }

        #[test]
        fn parse_never_panics(s in ".{0,70}") {
            let _ = s.parse::<Digest>();
        }
    }
}
