//! Numbers and durations for people: four significant digits, trailing zeros dropped, and
//! durations in the unit that suits them (`60 µs`, `1.235 ms`, `2.5 s`).

/// `x` with four significant digits: `0.9123`, `150`, `0.3` (not `0.30000000000000004`),
/// `12346`; very small or very large magnitudes in scientific notation (`1.234e-12`).
pub(crate) fn number(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    if x == 0.0 {
        return "0".to_owned();
    }
    let magnitude = x.abs().log10().floor();
    if !(-3.0..15.0).contains(&magnitude) {
        let s = format!("{x:.3e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        return format!("{}e{exp}", trim_zeros(mantissa));
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let decimals = (3.0 - magnitude).max(0.0) as usize;
    trim_zeros(&format!("{x:.decimals$}")).to_owned()
}

/// A duration given in milliseconds: `60 µs`, `1.235 ms`, `2.5 s`; nanoseconds below a
/// microsecond. Negative or non-finite values are printed as numbers of milliseconds.
pub(crate) fn duration_ms(ms: f64) -> String {
    if !ms.is_finite() || ms < 0.0 {
        return format!("{} ms", number(ms));
    }
    if ms == 0.0 {
        "0 s".to_owned()
    } else if ms < 1e-3 {
        format!("{} ns", number(ms * 1e6))
    } else if ms < 1.0 {
        format!("{} µs", number(ms * 1e3))
    } else if ms < 1e3 {
        format!("{} ms", number(ms))
    } else {
        format!("{} s", number(ms / 1e3))
    }
}

/// `1.2300` -> `1.23`, `150.0` -> `150`; integers are left alone.
fn trim_zeros(s: &str) -> &str {
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
    fn four_significant_digits() {
        let cases = [
            (0.912_345, "0.9123"),
            (150.0, "150"),
            (0.1 + 0.2, "0.3"),
            (0.010_000_000_000_000_009, "0.01"),
            (12_345.678, "12346"),
            (-2.5, "-2.5"),
            (0.001_234_5, "0.001234"),
            (1.234_567e-12, "1.235e-12"),
            (0.000_5, "5e-4"),
            (1e20, "1e20"),
            (0.0, "0"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "inf"),
        ];
        for (x, want) in cases {
            assert_eq!(number(x), want, "{x:e}");
        }
    }

    #[test]
    fn durations_in_their_unit() {
        let cases = [
            (0.06, "60 µs"),
            (0.000_06, "60 ns"),
            (1.234_567_8, "1.235 ms"),
            (2_500.0, "2.5 s"),
            (100.0, "100 ms"),
            (0.0, "0 s"),
            (-1.0, "-1 ms"),
        ];
        for (ms, want) in cases {
            assert_eq!(duration_ms(ms), want, "{ms}");
        }
    }
}
