//! The binary encoding of rows used by the file stores' records (see `docs/formats.md`).
//!
//! All integers little-endian. A value is a tag byte and its payload; a row is its key, times
//! and values; decoding never panics on bad input and reports what is malformed.

use crate::group::FeatureRow;
use crate::model::{EntityKey, Timestamp, Value};

const NULL: u8 = 0;
const BOOL: u8 = 1;
const INT64: u8 = 2;
const FLOAT64: u8 = 3;
const FLOAT32: u8 = 4;
const STRING: u8 = 5;
const TIMESTAMP: u8 = 6;
const BYTES: u8 = 7;
const F32VEC: u8 = 8;

fn put_len(out: &mut Vec<u8>, n: usize) {
    // Lengths are bounded by the 4 GiB record limit, checked when the record is framed.
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
}

/// Append a string (u32 length + bytes).
pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

/// Append a value.
pub(crate) fn put_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.push(NULL),
        Value::Bool(b) => out.extend_from_slice(&[BOOL, u8::from(*b)]),
        Value::Int64(x) => {
            out.push(INT64);
            out.extend_from_slice(&x.to_le_bytes());
        }
        Value::Float64(x) => {
            out.push(FLOAT64);
            out.extend_from_slice(&x.to_bits().to_le_bytes());
        }
        Value::Float32(x) => {
            out.push(FLOAT32);
            out.extend_from_slice(&x.to_bits().to_le_bytes());
        }
        Value::String(s) => {
            out.push(STRING);
            put_str(out, s);
        }
        Value::Timestamp(t) => {
            out.push(TIMESTAMP);
            out.extend_from_slice(&t.as_micros().to_le_bytes());
        }
        Value::Bytes(b) => {
            out.push(BYTES);
            put_len(out, b.len());
            out.extend_from_slice(b);
        }
        Value::Float32Vector(v) => {
            out.push(F32VEC);
            put_len(out, v.len());
            for x in v {
                out.extend_from_slice(&x.to_bits().to_le_bytes());
            }
        }
    }
}

/// Append a row: key (u32 length + encoded key), event time (i64), created flag (u8) and time
/// (i64, when the flag is 1), value count (u32), values.
pub(crate) fn put_row(out: &mut Vec<u8>, row: &FeatureRow) {
    let key = row.key.encoded();
    put_len(out, key.len());
    out.extend_from_slice(key);
    out.extend_from_slice(&row.event_ts.as_micros().to_le_bytes());
    match row.created_ts {
        Some(c) => {
            out.push(1);
            out.extend_from_slice(&c.as_micros().to_le_bytes());
        }
        None => out.push(0),
    }
    put_len(out, row.values.len());
    for v in &row.values {
        put_value(out, v);
    }
}

/// A cursor over an encoded payload.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

type R<T> = Result<T, String>;

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| format!("truncated payload at byte {}", self.pos))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> R<[u8; N]> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    pub(crate) fn u8(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u32(&mut self) -> R<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn i64(&mut self) -> R<i64> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    fn len(&mut self) -> R<usize> {
        Ok(self.u32()? as usize)
    }

    pub(crate) fn str(&mut self) -> R<&'a str> {
        let n = self.len()?;
        std::str::from_utf8(self.take(n)?).map_err(|_| "string is not UTF-8".to_owned())
    }

    pub(crate) fn value(&mut self) -> R<Value> {
        let tag = self.u8()?;
        Ok(match tag {
            NULL => Value::Null,
            BOOL => Value::Bool(self.u8()? != 0),
            INT64 => Value::Int64(self.i64()?),
            FLOAT64 => Value::Float64(f64::from_bits(u64::from_le_bytes(self.array()?))),
            FLOAT32 => Value::Float32(f32::from_bits(self.u32()?)),
            STRING => Value::String(self.str()?.to_owned()),
            TIMESTAMP => Value::Timestamp(Timestamp::from_micros(self.i64()?)),
            BYTES => {
                let n = self.len()?;
                Value::Bytes(self.take(n)?.to_vec())
            }
            F32VEC => {
                let n = self.len()?;
                let bytes = self.take(n.checked_mul(4).ok_or("vector too long")?)?;
                Value::Float32Vector(
                    bytes
                        .chunks_exact(4)
                        .map(|c| f32::from_bits(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                        .collect(),
                )
            }
            other => return Err(format!("unknown value tag {other}")),
        })
    }

    pub(crate) fn row(&mut self) -> R<FeatureRow> {
        let n = self.len()?;
        let key = EntityKey::from_encoded(self.take(n)?)?;
        let event_ts = Timestamp::from_micros(self.i64()?);
        let created_ts = match self.u8()? {
            0 => None,
            1 => Some(Timestamp::from_micros(self.i64()?)),
            other => return Err(format!("bad created-time flag {other}")),
        };
        let n = self.len()?;
        // Every value takes at least one byte: a count larger than what is left is corrupt
        // (checked before allocating).
        if n > self.data.len() - self.pos {
            return Err(format!("value count {n} exceeds the payload"));
        }
        let mut values = Vec::with_capacity(n);
        for _ in 0..n {
            values.push(self.value()?);
        }
        Ok(FeatureRow {
            key,
            event_ts,
            created_ts,
            values,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rows_round_trip() {
        let row = FeatureRow::new(
            "u1",
            Timestamp::from_secs(5),
            vec![
                Value::Null,
                Value::Bool(true),
                Value::Int64(-4),
                Value::Float64(f64::NAN),
                Value::Float32(1.5),
                Value::String("é".into()),
                Value::Timestamp(Timestamp::from_micros(9)),
                Value::Bytes(vec![0, 255]),
                Value::Float32Vector(vec![0.5, -1.0]),
            ],
        )
        .created(Timestamp::from_secs(6));
        let mut buf = Vec::new();
        put_row(&mut buf, &row);
        let back = Reader::new(&buf).row().unwrap();
        assert_eq!(back.key, row.key);
        assert_eq!(back.created_ts, row.created_ts);
        assert!(matches!(back.values[3], Value::Float64(x) if x.is_nan()));
        assert_eq!(back.values[4..], row.values[4..]);
        for cut in 0..buf.len() {
            assert!(Reader::new(&buf[..cut]).row().is_err());
        }
    }

    proptest! {
        #[test]
        fn decoding_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Reader::new(&bytes).row();
        }
    }
}
