//! Artifact content helpers: SHA-256 while copying, and a reader that checks the digest at EOF.

use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};

/// Lower-case hex of a digest.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
    s
}

/// Copy `from` into `to`, returning the byte count and the SHA-256 (hex) of what was copied.
pub(crate) fn copy_hashed(from: &mut dyn Read, to: &mut dyn Write) -> io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        to.write_all(&buf[..n])?;
        size += n as u64;
    }
    Ok((size, hex(&hasher.finalize())))
}

/// A reader that fails with `InvalidData` at the end when the content's size or SHA-256 differs
/// from what was recorded when the artifact was stored.
pub(crate) struct VerifyingReader<R> {
    inner: R,
    hasher: Sha256,
    read: u64,
    size: u64,
    sha256: String,
    name: String,
    checked: bool,
}

impl<R: Read> VerifyingReader<R> {
    pub(crate) fn new(inner: R, size: u64, sha256: String, name: String) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            read: 0,
            size,
            sha256,
            name,
            checked: false,
        }
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "artifact {} is longer than its recorded {} bytes",
                    self.name, self.size
                ),
            ));
        }
        self.hasher.update(&buf[..n]);
        if n == 0 && !buf.is_empty() && !self.checked {
            self.checked = true;
            let digest = hex(&std::mem::take(&mut self.hasher).finalize());
            if self.read != self.size || digest != self.sha256 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "artifact {} is damaged: {} bytes with sha256 {digest}, recorded {} bytes with sha256 {}",
                        self.name, self.read, self.size, self.sha256
                    ),
                ));
            }
        }
        Ok(n)
    }
}
