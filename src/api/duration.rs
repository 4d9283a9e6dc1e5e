//! Go-style durations (`90s`, `1h30m`, `168h`) as used by `spec.checkInterval` and
//! `spec.expiryWarning`.
//!
//! The same grammar is enforced by the CRD's OpenAPI pattern and CEL `duration()`, so a value the
//! API server accepted always parses here.

use std::time::Duration;

/// The OpenAPI pattern that accepts exactly what [`GoDuration::parse`] accepts.
pub const DURATION_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$";

/// A parsed Go-style duration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct GoDuration(pub Duration);

/// Why a duration string was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid duration {input:?}: {why} (use Go syntax such as 30s, 15m, 1h or 168h)")]
pub struct ParseDurationError {
    input: String,
    why: &'static str,
}

impl GoDuration {
    /// Parses a Go duration string such as `1h30m` or `1.5h`. Negative values are refused.
    pub fn parse(input: &str) -> Result<Self, ParseDurationError> {
        let err = |why| ParseDurationError { input: input.to_string(), why };
        if input.is_empty() {
            return Err(err("empty"));
        }
        let mut rest = input;
        let mut total_nanos: f64 = 0.0;
        while !rest.is_empty() {
            let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(|| err("missing unit"))?;
            if num_len == 0 {
                return Err(err("expected a number"));
            }
            let value: f64 = rest[..num_len].parse().map_err(|_| err("bad number"))?;
            rest = &rest[num_len..];
            let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
            let nanos_per_unit = match &rest[..unit_len] {
                "ns" => 1.0,
                "us" | "µs" => 1e3,
                "ms" => 1e6,
                "s" => 1e9,
                "m" => 60e9,
                "h" => 3600e9,
                _ => return Err(err("unknown unit")),
            };
            rest = &rest[unit_len..];
            total_nanos += value * nanos_per_unit;
        }
        if !total_nanos.is_finite() || total_nanos > u64::MAX as f64 {
            return Err(err("too large"));
        }
        Ok(GoDuration(Duration::from_nanos(total_nanos as u64)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_like_go() {
        let cases = [("30s", 30), ("1h", 3600), ("168h", 168 * 3600), ("1h30m", 5400), ("1.5h", 5400), ("90m", 5400), ("1500ms", 1)];
        for (input, secs) in cases {
            assert_eq!(GoDuration::parse(input).unwrap().0.as_secs(), secs, "{input}");
        }
    }

    #[test]
    fn malformed_durations_are_refused_with_a_message() {
        for input in ["", "7d", "h", "10", "-5s", "1 h", "1h-"] {
            let e = GoDuration::parse(input).unwrap_err();
            assert!(e.to_string().contains("invalid duration"), "{input}");
        }
    }
}
