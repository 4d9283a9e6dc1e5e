//! When to check next: the normal interval, the expiry milestones, and the retry delay after a
//! transient provider answer (providers.md §2.5). Pure arithmetic with injected randomness.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

/// Smallest and largest provider-given retry delay (§2.5).
pub const MIN_RETRY: Duration = Duration::from_secs(1);
/// Largest provider-given retry delay.
pub const MAX_RETRY: Duration = Duration::from_secs(24 * 3600);
/// Largest backoff base.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// Exponential backoff for the `n`-th transient answer in a row (n ≥ 1):
/// base = min(10 s × 2^(n−1), 1 h); delay = base/2 + `unit` × base/2, with `unit` in [0, 1).
pub fn backoff(n: u32, unit: f64) -> Duration {
    let exp = n.saturating_sub(1).min(20);
    let base = Duration::from_secs(10).saturating_mul(1u32 << exp).min(MAX_BACKOFF);
    let half = base / 2;
    half.saturating_add(half.mul_f64(unit_interval(unit)))
}

/// A provider-given delay with 0–10 % jitter added (`unit` in [0, 1)), clamped to [1 s, 24 h].
pub fn provider_delay(delay: Duration, unit: f64) -> Duration {
    // Clamp first: a delay of u64::MAX seconds must not overflow when jitter is added.
    let delay = delay.min(MAX_RETRY);
    delay.saturating_add(delay.mul_f64(0.1 * unit_interval(unit))).clamp(MIN_RETRY, MAX_RETRY)
}

/// The next due time after a definite check: the earliest future one of the regular check
/// (`now + interval` moved onto the connection's slot, see [`super::spread`]), `expires_at −
/// warning` and `expires_at`. An expiry milestone gets a little spread (up to 2 % of the wait,
/// at most a minute, by `phase` in [0, 1)) so that tokens issued together are not all checked
/// in the same second.
pub fn next_check(now: Timestamp, interval: Duration, expires_at: Option<Timestamp>, warning: Duration, phase: f64) -> Timestamp {
    let regular = super::spread::aligned_next(now, interval, phase);
    let milestone = expires_at.into_iter().flat_map(|exp| [sub(exp, warning), exp]).filter(|t| *t > now).min();
    match milestone {
        Some(m) if m < regular => {
            let jitter = duration_between(now, m).mul_f64(0.02 * unit_interval(phase)).min(Duration::from_secs(60));
            add(m, jitter)
        }
        _ => regular,
    }
}

/// A jitter draw forced into [0, 1] (NaN counts as 0), so that `mul_f64` cannot panic.
fn unit_interval(unit: f64) -> f64 {
    if unit.is_nan() { 0.0 } else { unit.clamp(0.0, 1.0) }
}

/// `t + d`, saturating.
pub fn add(t: Timestamp, d: Duration) -> Timestamp {
    SignedDuration::try_from(d).ok().and_then(|d| t.checked_add(d).ok()).unwrap_or(Timestamp::MAX)
}

/// `t − d`, saturating.
pub fn sub(t: Timestamp, d: Duration) -> Timestamp {
    SignedDuration::try_from(d).ok().and_then(|d| t.checked_sub(d).ok()).unwrap_or(Timestamp::MIN)
}

/// `to − from`, zero when negative.
pub fn duration_between(from: Timestamp, to: Timestamp) -> Duration {
    Duration::try_from(to.duration_since(from)).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn backoff_doubles_from_ten_seconds_and_caps_at_an_hour() {
        let cases =
            [(1, 0.0, 5), (1, 0.999, 9), (2, 0.0, 10), (3, 0.0, 20), (4, 0.5, 60), (9, 0.0, 1280), (10, 0.0, 1800), (30, 0.0, 1800)];
        for (n, unit, secs) in cases {
            assert_eq!(backoff(n, unit).as_secs(), secs, "n={n} unit={unit}");
        }
        assert!(backoff(30, 0.9999) < MAX_BACKOFF);
    }

    #[test]
    fn provider_delays_get_at_most_ten_percent_and_are_clamped() {
        assert_eq!(provider_delay(Duration::from_secs(300), 0.0), Duration::from_secs(300));
        assert_eq!(provider_delay(Duration::from_secs(300), 0.5), Duration::from_secs(315));
        assert_eq!(provider_delay(Duration::ZERO, 0.5), MIN_RETRY);
        assert_eq!(provider_delay(Duration::from_secs(40 * 3600), 0.0), MAX_RETRY);
        assert_eq!(provider_delay(Duration::from_secs(u64::MAX), 0.999), MAX_RETRY);
        assert_eq!(provider_delay(Duration::MAX, f64::NAN), MAX_RETRY);
    }

    #[test]
    fn next_check_is_the_earliest_future_milestone() {
        let now = t("2026-01-01T00:00:00Z");
        let hour = Duration::from_secs(3600);
        let week = Duration::from_secs(7 * 86400);
        // No expiry: the interval.
        assert_eq!(next_check(now, hour, None, week, 0.0), t("2026-01-01T01:00:00Z"));
        // Expiry warning falls before the interval.
        assert_eq!(next_check(now, hour, Some(t("2026-01-08T00:30:00Z")), week, 0.0), t("2026-01-01T00:30:00Z"));
        // Already inside the window: the expiry itself, if sooner than the interval.
        assert_eq!(next_check(now, hour, Some(t("2026-01-01T00:10:00Z")), week, 0.0), t("2026-01-01T00:10:00Z"));
        // Expired long ago: the interval.
        assert_eq!(next_check(now, hour, Some(t("2025-01-01T00:00:00Z")), week, 0.0), t("2026-01-01T01:00:00Z"));
        // The regular check moves toward the connection's slot (phase 0.25: a quarter past).
        assert_eq!(next_check(now, hour, None, week, 0.25), t("2026-01-01T00:30:00Z"));
        assert_eq!(next_check(t("2026-01-01T00:15:00Z"), hour, None, week, 0.25), t("2026-01-01T01:15:00Z"));
        // A milestone gets at most 2 % of the wait (here 20 min × 2 % × 0.5 = 12 s).
        assert_eq!(next_check(now, hour, Some(t("2026-01-08T00:20:00Z")), week, 0.5), t("2026-01-01T00:20:12Z"));
    }
}
