//! The binary value encoding, sortable versions and key display of the Redis store.

use super::*;

/// An `i64` as 20 decimal digits that sort like the numbers (sign bit flipped).
#[allow(clippy::cast_sign_loss)]
pub(super) fn sortable(x: i64) -> String {
    format!("{:020}", (x as u64) ^ (1 << 63))
}

#[allow(clippy::cast_possible_wrap)]
pub(super) fn unsortable(digits: &[u8]) -> Option<i64> {
    if digits.len() != 20 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((n ^ (1 << 63)) as i64)
}

/// Encode one non-null value for its feature type (see `docs/formats.md`).
pub(super) fn encode_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => {}
        Value::Bool(b) => out.push(u8::from(*b)),
        Value::Int64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Float64(x) => out.extend_from_slice(&x.to_bits().to_le_bytes()),
        Value::Float32(x) => out.extend_from_slice(&x.to_bits().to_le_bytes()),
        Value::String(s) => out.extend_from_slice(s.as_bytes()),
        Value::Timestamp(t) => out.extend_from_slice(&t.as_micros().to_le_bytes()),
        Value::Bytes(b) => out.extend_from_slice(b),
        Value::Float32Vector(v) => {
            for x in v {
                out.extend_from_slice(&x.to_bits().to_le_bytes());
            }
        }
    }
}

/// Decode a value of type `ty`; `Err` says what is wrong.
pub(super) fn decode_value(ty: ValueType, bytes: Vec<u8>) -> std::result::Result<Value, String> {
    let b = bytes.as_slice();
    let fixed = |n: usize| -> std::result::Result<(), String> {
        if b.len() == n {
            Ok(())
        } else {
            Err(format!("holds {} bytes, a {ty} needs {n}", b.len()))
        }
    };
    let le8 = |b: &[u8]| {
        let mut a = [0; 8];
        a.copy_from_slice(b);
        a
    };
    Ok(match ty {
        ValueType::Bool => {
            fixed(1)?;
            match b[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                other => return Err(format!("holds byte {other}, a bool is 0 or 1")),
            }
        }
        ValueType::Int64 => {
            fixed(8)?;
            Value::Int64(i64::from_le_bytes(le8(b)))
        }
        ValueType::Float64 => {
            fixed(8)?;
            Value::Float64(f64::from_bits(u64::from_le_bytes(le8(b))))
        }
        ValueType::Float32 => {
            fixed(4)?;
            Value::Float32(f32::from_bits(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
        }
        ValueType::Timestamp => {
            fixed(8)?;
            Value::Timestamp(Timestamp::from_micros(i64::from_le_bytes(le8(b))))
        }
        ValueType::String => Value::String(
            String::from_utf8(bytes)
                .map_err(|_| "holds bytes that are not UTF-8, a string was expected".to_owned())?,
        ),
        ValueType::Bytes => Value::Bytes(bytes),
        ValueType::Float32Vector => {
            if !b.len().is_multiple_of(4) {
                return Err(format!(
                    "holds {} bytes, a float32 vector needs a multiple of 4",
                    b.len()
                ));
            }
            Value::Float32Vector(
                b.chunks_exact(4)
                    .map(|c| f32::from_bits(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                    .collect(),
            )
        }
    })
}

/// A Redis key as text for messages: printable ASCII kept, other bytes as `\xNN`.
pub(super) fn show_key(key: &[u8]) -> String {
    let mut s = String::with_capacity(key.len());
    for &b in key {
        if b.is_ascii_graphic() && b != b'\\' {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

/// Escape glob characters for `SCAN MATCH`.
pub(super) fn glob_escape(s: &[u8], out: &mut Vec<u8>) {
    for &b in s {
        if matches!(b, b'*' | b'?' | b'[' | b']' | b'\\') {
            out.push(b'\\');
        }
        out.push(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_like_numbers() {
        let xs = [i64::MIN, -5, -1, 0, 1, 1_700_000_000_000_000, i64::MAX];
        for w in xs.windows(2) {
            assert!(sortable(w[0]) < sortable(w[1]), "{w:?}");
        }
        for x in xs {
            assert_eq!(unsortable(sortable(x).as_bytes()), Some(x));
        }
        assert_eq!(unsortable(b"0000000000000000000x"), None);
        assert_eq!(unsortable(b"99999999999999999999"), None);
    }

    #[test]
    fn values_round_trip_and_bad_lengths_are_named() {
        let cases = [
            (ValueType::Bool, Value::Bool(true)),
            (ValueType::Int64, Value::Int64(-3)),
            (ValueType::Float64, Value::Float64(2.5)),
            (ValueType::Float32, Value::Float32(-0.5)),
            (ValueType::String, Value::from("é")),
            (
                ValueType::Timestamp,
                Value::Timestamp(Timestamp::from_secs(9)),
            ),
            (ValueType::Bytes, Value::Bytes(vec![0, 255])),
            (
                ValueType::Float32Vector,
                Value::Float32Vector(vec![1.0, 2.0]),
            ),
        ];
        for (ty, v) in cases {
            let mut b = Vec::new();
            encode_value(&v, &mut b);
            assert_eq!(decode_value(ty, b).unwrap(), v);
        }
        assert!(
            decode_value(ValueType::Int64, vec![1, 2, 3])
                .unwrap_err()
                .contains("3 bytes")
        );
        assert!(decode_value(ValueType::Bool, vec![7]).is_err());
        assert!(decode_value(ValueType::String, vec![0xff]).is_err());
        assert!(decode_value(ValueType::Float32Vector, vec![0; 5]).is_err());
    }

    #[test]
    fn script_errors_name_the_key() {
        let (i, why) = bad_key("MLOPSBAD", "2 holds a string, not a hash").unwrap();
        assert_eq!((i, why), (1, "holds a string, not a hash"));
        assert!(bad_key("MLOPSBAD", "0 x").is_none());
        assert!(bad_key("ERR", "1 x").is_none());
        assert_eq!(show_key(b"a:\x00b"), "a:\\x00b");
    }
}
