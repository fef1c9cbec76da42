//! Opaque offset page tokens, shared by the embedded backends.

use std::fmt;

/// Encode a result offset as an opaque page token (`o` and the offset in hex, the format the
/// tracking and registry stores have always written, so old tokens stay valid).
///
/// ```
/// use mlops_mlflow::search::{decode_page_token, encode_page_token};
/// let token = encode_page_token(1234);
/// assert_eq!(decode_page_token(Some(&token)).unwrap(), 1234);
/// assert_eq!(decode_page_token(None).unwrap(), 0);
/// assert!(decode_page_token(Some("not-a-token")).is_err());
/// ```
#[must_use]
pub fn encode_page_token(offset: usize) -> String {
    format!("o{offset:x}")
}

/// Decode a token made by [`encode_page_token`]; `None` is the first page (offset 0).
///
/// # Errors
/// [`PageTokenError`] for anything else.
pub fn decode_page_token(token: Option<&str>) -> Result<usize, PageTokenError> {
    let Some(token) = token else { return Ok(0) };
    token
        .strip_prefix('o')
        .filter(|hex| !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .and_then(|hex| usize::from_str_radix(hex, 16).ok())
        .ok_or_else(|| PageTokenError {
            token: token.to_owned(),
        })
}

/// A page token that [`decode_page_token`] does not understand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageTokenError {
    /// The token as given.
    pub token: String,
}

impl fmt::Display for PageTokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not a page token", self.token)
    }
}

impl std::error::Error for PageTokenError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_bad_ones_fail() {
        for n in [0, 1, 15, 16, 1234, usize::MAX] {
            assert_eq!(decode_page_token(Some(&encode_page_token(n))).unwrap(), n);
        }
        // The format both crates wrote before the grammar moved here.
        assert_eq!(encode_page_token(255), "off");
        assert_eq!(decode_page_token(Some("o4d2")).unwrap(), 1234);
        for bad in [
            "",
            "o",
            "zz",
            "o+1",
            "oxyz",
            "o-1",
            "O1",
            "o1 ",
            "o10000000000000000",
        ] {
            let err = decode_page_token(Some(bad)).unwrap_err();
            assert_eq!(err.to_string(), format!("{bad:?} is not a page token"));
        }
    }
}
