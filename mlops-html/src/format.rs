//! Numbers for people: the same value always prints the same way.

/// A number with up to four significant digits and no trailing zeros: `0.05`, `1234`,
/// `0.1235`, `1.2e-7`, `3.5e9`; `NaN`, `inf`, `-inf` for non-finite values.
///
/// ```
/// use mlops_html::format::number;
/// assert_eq!(number(0.05), "0.05");
/// assert_eq!(number(0.123456), "0.1235");
/// assert_eq!(number(1.0), "1");
/// assert_eq!(number(1.2e-7), "1.2e-7");
/// assert_eq!(number(12345.0), "12345");
/// assert_eq!(number(f64::NAN), "NaN");
/// ```
#[must_use]
pub fn number(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if v == 0.0 {
        return "0".to_owned();
    }
    let a = v.abs();
    if !(1e-4..1e7).contains(&a) {
        let s = format!("{v:.3e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = trim(mantissa);
        return format!("{mantissa}e{exp}");
    }
    // Four significant digits, but never fewer than all integer digits.
    #[allow(clippy::cast_possible_truncation)]
    let int_digits = a.log10().floor() as i32 + 1;
    let decimals = usize::try_from((4 - int_digits).max(0)).unwrap_or(0);
    trim(&format!("{v:.decimals$}")).to_owned()
}

/// A share as a percentage: `42.5%`.
#[must_use]
pub fn percent(share: f64) -> String {
    format!("{}%", number(share * 100.0))
}

/// A duration in milliseconds in the unit that suits it: `850 ns`, `60 µs`, `1.235 ms`,
/// `2.5 s`, `4 min 5 s`.
#[must_use]
pub fn duration_ms(ms: f64) -> String {
    if !ms.is_finite() {
        return number(ms);
    }
    let a = ms.abs();
    if a >= 60_000.0 {
        #[allow(clippy::cast_possible_truncation)]
        let secs = (ms / 1000.0).round() as i64;
        return match secs % 60 {
            0 => format!("{} min", secs / 60),
            rest => format!("{} min {rest} s", secs / 60),
        };
    }
    if a >= 1000.0 {
        format!("{} s", number(ms / 1000.0))
    } else if a >= 1.0 || a == 0.0 {
        format!("{} ms", number(ms))
    } else if a >= 1e-3 {
        format!("{} µs", number(ms * 1e3))
    } else {
        format!("{} ns", number(ms * 1e6))
    }
}

fn trim(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        for (v, want) in [
            (0.0, "0"),
            (-0.5, "-0.5"),
            (100.0, "100"),
            (99.999_99, "100"),
            (0.000_123_4, "0.0001234"),
            (1e-12, "1e-12"),
            (2.5e9, "2.5e9"),
            (f64::INFINITY, "inf"),
        ] {
            assert_eq!(number(v), want, "{v}");
        }
        assert_eq!(percent(0.425), "42.5%");
    }

    #[test]
    fn durations() {
        assert_eq!(duration_ms(0.06), "60 µs");
        assert_eq!(duration_ms(1.234_56), "1.235 ms");
        assert_eq!(duration_ms(2500.0), "2.5 s");
        assert_eq!(duration_ms(245_000.0), "4 min 5 s");
        assert_eq!(duration_ms(0.000_85), "850 ns");
    }
}
