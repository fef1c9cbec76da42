//! Durations for people: `60 µs`, `1.235 ms`, `1 h`, with four significant digits.

use std::fmt;
use std::time::Duration;

/// A duration that displays for people: the largest unit (ns, µs, ms, s, min, h, d) in which
/// it is at least one, with at most four significant digits and no trailing zeros.
///
/// ```
/// use mlops_features::HumanDuration;
/// use std::time::Duration;
/// assert_eq!(HumanDuration(Duration::from_nanos(60_000)).to_string(), "60 µs");
/// assert_eq!(HumanDuration(Duration::from_nanos(1_234_567)).to_string(), "1.235 ms");
/// assert_eq!(HumanDuration(Duration::from_secs(3600)).to_string(), "1 h");
/// assert_eq!(HumanDuration(Duration::from_secs(90)).to_string(), "1.5 min");
/// assert_eq!(HumanDuration(Duration::ZERO).to_string(), "0 s");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HumanDuration(pub Duration);

const UNITS: [(f64, &str); 7] = [
    (86_400e9, "d"),
    (3_600e9, "h"),
    (60e9, "min"),
    (1e9, "s"),
    (1e6, "ms"),
    (1e3, "µs"),
    (1.0, "ns"),
];

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        #[allow(clippy::cast_precision_loss)]
        let ns = self.0.as_nanos() as f64;
        if ns == 0.0 {
            return f.write_str("0 s");
        }
        let (scale, unit) = UNITS
            .iter()
            .copied()
            .find(|&(scale, _)| ns >= scale)
            .unwrap_or((1.0, "ns"));
        let x = ns / scale;
        // Four significant digits: as many decimals as the integer part leaves.
        let int_digits = if x >= 1000.0 {
            4
        } else if x >= 100.0 {
            3
        } else if x >= 10.0 {
            2
        } else {
            1
        };
        let decimals = 4usize.saturating_sub(int_digits);
        let mut s = format!("{x:.decimals$}");
        if s.contains('.') {
            let trimmed = s.trim_end_matches('0').trim_end_matches('.').len();
            s.truncate(trimmed);
        }
        write!(f, "{s} {unit}")
    }
}

/// A TTL for people: `never` for `None`, else a [`HumanDuration`]
/// (see [`FeatureGroup::ttl_display`](crate::FeatureGroup::ttl_display)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanTtl(pub Option<Duration>);

impl fmt::Display for HumanTtl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(d) => HumanDuration(d).fmt(f),
            None => f.write_str("never"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_significant_digits_in_the_largest_unit() {
        let cases = [
            (Duration::from_nanos(1), "1 ns"),
            (Duration::from_nanos(999), "999 ns"),
            (Duration::from_nanos(60_000), "60 µs"),
            (Duration::from_nanos(123_456), "123.5 µs"),
            (Duration::from_micros(1500), "1.5 ms"),
            (Duration::from_millis(999), "999 ms"),
            (Duration::from_millis(1000), "1 s"),
            (Duration::from_secs(59), "59 s"),
            (Duration::from_secs(3600), "1 h"),
            (Duration::from_secs(86_400 * 30), "30 d"),
            (Duration::from_secs(86_400 * 12_345), "12345 d"),
        ];
        for (d, want) in cases {
            assert_eq!(HumanDuration(d).to_string(), want, "{d:?}");
        }
        assert_eq!(HumanTtl(None).to_string(), "never");
        assert_eq!(HumanTtl(Some(Duration::from_secs(7200))).to_string(), "2 h");
    }
}
