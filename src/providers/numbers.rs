//! Numbers from providers, parsed without a way to panic or overflow.
//!
//! Everything a provider sends is hostile until proven otherwise: `Retry-After:
//! 18446744073709551615`, a Business-Use-Case estimate of `1e300` minutes, a reset time in the
//! year 300000. Delays are clamped to [`MAX_DELAY`] (providers.md §2.5: out-of-range delays are
//! clamped, never discarded); times outside what a timestamp can hold are treated as not
//! reported.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

/// The longest delay a provider can impose (§2.5 clamps retry delays to [1 s, 24 h]; the
/// lower bound is applied when the delay is scheduled).
pub const MAX_DELAY: Duration = Duration::from_secs(24 * 3600);

/// A delay of `secs` whole seconds, clamped to [`MAX_DELAY`].
pub fn delay_from_secs(secs: u64) -> Duration {
    Duration::from_secs(secs).min(MAX_DELAY)
}

/// A delay of `secs` seconds given as a float (NaN: none; negative: zero; too large or
/// infinite: [`MAX_DELAY`]).
pub fn delay_from_secs_f64(secs: f64) -> Option<Duration> {
    if secs.is_nan() {
        return None;
    }
    if secs <= 0.0 {
        return Some(Duration::ZERO);
    }
    if secs >= MAX_DELAY.as_secs_f64() {
        return Some(MAX_DELAY);
    }
    Duration::try_from_secs_f64(secs).ok().map(|d| d.min(MAX_DELAY))
}

/// A delay in seconds written as text: an integer of any length (one beyond `u64` saturates),
/// optionally signed (a negative one is zero). `None` for anything else.
pub fn delay_from_secs_text(raw: &str) -> Option<Duration> {
    let (negative, digits) = integer_text(raw)?;
    if negative {
        return Some(Duration::ZERO);
    }
    Some(digits.parse::<u64>().map_or(MAX_DELAY, delay_from_secs))
}

/// An integer of any length written as text: its sign (true when negative) and its digits.
fn integer_text(raw: &str) -> Option<(bool, &str)> {
    let raw = raw.trim();
    let (negative, digits) = match raw.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, raw.strip_prefix('+').unwrap_or(raw)),
    };
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some((negative, digits))
}

/// A delay in seconds from a JSON number (integer or float) or numeric string.
pub fn delay_from_json_secs(v: &Value) -> Option<Duration> {
    match v {
        Value::Number(n) => match n.as_u64() {
            Some(u) => Some(delay_from_secs(u)),
            None => n.as_f64().and_then(delay_from_secs_f64),
        },
        Value::String(s) => delay_from_secs_text(s),
        _ => None,
    }
}

/// The time until a unix-seconds instant written as text (X `x-rate-limit-reset`): zero when it
/// has passed, [`MAX_DELAY`] when it lies beyond what a timestamp can hold.
pub fn delay_until_unix_text(raw: &str, now: Timestamp) -> Option<Duration> {
    let (negative, digits) = integer_text(raw)?;
    let parsed = digits.parse::<i64>().map(|n| if negative { -n } else { n });
    let Ok(secs) = parsed else {
        return Some(if negative { Duration::ZERO } else { MAX_DELAY });
    };
    let Ok(at) = Timestamp::from_second(secs) else {
        return Some(if secs < 0 { Duration::ZERO } else { MAX_DELAY });
    };
    Some(Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO).min(MAX_DELAY))
}

/// A unix-seconds instant from a JSON integer (or integral float), when a timestamp can hold it.
pub fn timestamp_from_json_secs(v: &Value) -> Option<Timestamp> {
    let secs = match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 1e15).map(|f| f as i64)),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }?;
    Timestamp::from_second(secs).ok()
}

/// `now + expires_in` for a lifetime in seconds given as a JSON number or numeric string;
/// `None` when it is negative, not a number, or beyond what a timestamp can hold.
pub fn expiry_from_expires_in(v: &Value, now: Timestamp) -> Option<Timestamp> {
    let secs = match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.is_finite() && f.abs() < 1e15).map(|f| f as i64)),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }?;
    if secs < 0 {
        return None;
    }
    now.checked_add(SignedDuration::from_secs(secs)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn huge_delays_are_clamped_not_discarded() {
        assert_eq!(delay_from_secs_text("18446744073709551615"), Some(MAX_DELAY));
        assert_eq!(delay_from_secs_text("999999999999999999999999999"), Some(MAX_DELAY));
        assert_eq!(delay_from_secs_text(" 60 "), Some(Duration::from_secs(60)));
        assert_eq!(delay_from_secs_text("-5"), Some(Duration::ZERO));
        assert_eq!(delay_from_secs_text("soon"), None);
        assert_eq!(delay_from_secs_text(""), None);
        assert_eq!(delay_from_secs_f64(1e300 * 60.0), Some(MAX_DELAY));
        assert_eq!(delay_from_secs_f64(f64::INFINITY), Some(MAX_DELAY));
        assert_eq!(delay_from_secs_f64(f64::NAN), None);
        assert_eq!(delay_from_secs_f64(-3.0), Some(Duration::ZERO));
        assert_eq!(delay_from_secs_f64(300.0), Some(Duration::from_secs(300)));
    }

    #[test]
    fn json_delays_accept_integers_floats_and_strings() {
        assert_eq!(delay_from_json_secs(&json!(7)), Some(Duration::from_secs(7)));
        assert_eq!(delay_from_json_secs(&json!(1e300)), Some(MAX_DELAY));
        assert_eq!(delay_from_json_secs(&json!(-1)), Some(Duration::ZERO));
        assert_eq!(delay_from_json_secs(&json!(u64::MAX)), Some(MAX_DELAY));
        assert_eq!(delay_from_json_secs(&json!("30")), Some(Duration::from_secs(30)));
        assert_eq!(delay_from_json_secs(&json!(null)), None);
    }

    #[test]
    fn reset_times_beyond_the_calendar_wait_the_longest_delay() {
        assert_eq!(delay_until_unix_text("1767225660", now()), Some(Duration::from_secs(60)));
        assert_eq!(delay_until_unix_text("1000", now()), Some(Duration::ZERO));
        assert_eq!(delay_until_unix_text("9223372036854775807", now()), Some(MAX_DELAY));
        assert_eq!(delay_until_unix_text("99999999999999999999999", now()), Some(MAX_DELAY));
        assert_eq!(delay_until_unix_text("-99999999999999999999999", now()), Some(Duration::ZERO));
        assert_eq!(delay_until_unix_text("tomorrow", now()), None);
    }

    #[test]
    fn expiries_out_of_range_are_not_reported() {
        assert_eq!(expiry_from_expires_in(&json!(60), now()), Some("2026-01-01T00:01:00Z".parse().unwrap()));
        assert_eq!(expiry_from_expires_in(&json!("3599"), now()), Some("2026-01-01T00:59:59Z".parse().unwrap()));
        assert_eq!(expiry_from_expires_in(&json!(i64::MAX), now()), None);
        assert_eq!(expiry_from_expires_in(&json!(1e300), now()), None);
        assert_eq!(expiry_from_expires_in(&json!(-1), now()), None);
        assert_eq!(timestamp_from_json_secs(&json!(i64::MIN)), None);
        assert_eq!(timestamp_from_json_secs(&json!(1893456000)), Some(Timestamp::from_second(1893456000).unwrap()));
    }
}
