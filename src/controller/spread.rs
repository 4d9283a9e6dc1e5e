//! Spreading checks over their interval, deterministically (pure, clock injected).
//!
//! Every connection has a fixed place in any interval, its *phase*, taken from a hash of its
//! namespace and name: stable across restarts and identical in every replica. After each
//! definite check the next one is put on the connection's next slot (a time whose offset
//! within the interval, counted from the Unix epoch, is the phase), never later than one
//! interval and never sooner than half an interval after the check. Connections created
//! together are therefore checked together once, then move to their own slots within two
//! checks, and stay there. After a restart, checks that were already due are spread over a
//! catch-up window instead of all running at start-up.

use std::time::Duration;

use jiff::Timestamp;
use sha2::{Digest, Sha256};

use super::schedule::{add, duration_between, sub};

/// Longest catch-up window for checks found due at start-up.
pub const MAX_CATCH_UP: Duration = Duration::from_secs(15 * 60);

/// The connection's phase in [0, 1): a hash of `namespace/name`.
pub fn phase(object_key: &str) -> f64 {
    let digest = Sha256::digest(object_key.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    // 53 bits: exactly representable in an f64, so the result stays below 1.
    (u64::from_be_bytes(first) >> 11) as f64 / (1u64 << 53) as f64
}

/// How far `t` is past the latest slot of `phase` at or before it (in [0, interval)). Slots
/// fall on whole seconds, as `status.nextCheckTime` is stored.
fn past_slot(t: Timestamp, interval: Duration, phase: f64) -> Duration {
    let period = interval.as_millis().max(1);
    let offset = ((phase.clamp(0.0, 1.0) * interval.as_secs() as f64) as u128).saturating_mul(1000) % period;
    let ms = u128::try_from(t.as_millisecond()).unwrap_or(0);
    let past = (ms % period + period - offset) % period;
    Duration::from_millis(u64::try_from(past).unwrap_or(0))
}

/// The regular check after a definite check at `now`: `now + interval` moved back onto the
/// connection's slot, by at most half an interval. A check that ran a moment before its slot
/// (by at most 1 % of the interval, 2 s to 1 min) keeps the slot.
pub fn aligned_next(now: Timestamp, interval: Duration, phase: f64) -> Timestamp {
    let target = add(now, interval);
    let past = past_slot(target, interval, phase);
    let ahead = interval.saturating_sub(past);
    let tolerance = (interval / 100).clamp(Duration::from_secs(2), Duration::from_secs(60));
    let next = if !past.is_zero() && ahead <= tolerance { add(target, ahead) } else { sub(target, past.min(interval / 2)) };
    // Whole seconds, as stored, rounded up so that the next check is never sooner than half an
    // interval after this one; on the slot this changes nothing.
    let whole = if next.subsec_nanosecond() > 0 { next.as_second().saturating_add(1) } else { next.as_second() };
    Timestamp::from_second(whole).unwrap_or(next)
}

/// For a check that was due at `due` when the process (started at `started`) found it at
/// `now`: how much longer to wait so that the checks due at start-up spread over a catch-up
/// window (a quarter interval, at most [`MAX_CATCH_UP`]) instead of running together. `None`:
/// check now (it became due while the process ran, or its place in the window has come).
pub fn catch_up_delay(now: Timestamp, due: Timestamp, started: Timestamp, interval: Duration, phase: f64) -> Option<Duration> {
    if due > started {
        return None;
    }
    let window = (interval / 4).min(MAX_CATCH_UP);
    let slot = add(started, window.mul_f64(phase.clamp(0.0, 1.0)));
    (slot > now).then(|| duration_between(now, slot))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn phases_are_stable_and_in_range() {
        assert_eq!(phase("ns/a"), phase("ns/a"));
        assert_ne!(phase("ns/a"), phase("ns/b"));
        for i in 0..1000 {
            let p = phase(&format!("ns/c-{i}"));
            assert!((0.0..1.0).contains(&p), "{p}");
        }
    }

    #[test]
    fn phases_of_many_names_fill_the_interval_evenly() {
        let mut buckets = [0u32; 10];
        for i in 0..10_000 {
            buckets[(phase(&format!("bench-{}/c-{i:05}", i % 4)) * 10.0) as usize] += 1;
        }
        // 1,000 expected per tenth; a hash keeps every tenth within 15 %.
        assert!(buckets.iter().all(|b| (850..=1150).contains(b)), "{buckets:?}");
    }

    #[test]
    fn the_next_check_lands_on_the_slot_within_half_an_interval_to_one_interval() {
        // Slot of phase 0.25 in an hour: :15 past every hour (the epoch is on the hour).
        let cases = [
            // (check at, phase, next)
            ("2026-01-01T00:15:00Z", 0.25, "2026-01-01T01:15:00Z"), // on the slot: exactly one interval
            ("2026-01-01T00:20:00Z", 0.25, "2026-01-01T01:15:00Z"), // 5 min late: 55 min
            ("2026-01-01T00:40:00Z", 0.25, "2026-01-01T01:15:00Z"), // 25 min late: 35 min
            ("2026-01-01T00:50:00Z", 0.25, "2026-01-01T01:20:00Z"), // 35 min late: capped at half an hour
            ("2026-01-01T00:10:00Z", 0.25, "2026-01-01T00:40:00Z"), // 55 min late: capped
        ];
        for (at, p, want) in cases {
            assert_eq!(aligned_next(t(at), HOUR, p), t(want), "check at {at}");
        }
    }

    #[test]
    fn a_check_that_runs_a_moment_before_its_slot_keeps_the_slot() {
        // Slot :15; the check ran 800 ms early (nextCheckTime is stored in whole seconds).
        assert_eq!(aligned_next(t("2026-01-01T00:14:59.2Z"), HOUR, 0.25), t("2026-01-01T01:15:00Z"));
        // Short interval: at least 2 s of tolerance.
        let minute = Duration::from_secs(60);
        assert_eq!(aligned_next(t("2026-01-01T00:00:13.5Z"), minute, 0.25), t("2026-01-01T00:01:15Z"));
        // Earlier than that is a misaligned check.
        assert_eq!(aligned_next(t("2026-01-01T00:00:12Z"), minute, 0.25), t("2026-01-01T00:00:42Z"));
    }

    #[test]
    fn rounding_to_whole_seconds_never_brings_the_next_check_within_half_an_interval() {
        let minute = Duration::from_secs(60);
        // Slot :15 of every minute; a check at :12.5 is 57.5 s past its slot: capped at half
        // an interval, 30 s later, rounded up to the whole second.
        let at = t("2026-01-01T00:00:12.5Z");
        let next = aligned_next(at, minute, 0.25);
        assert_eq!(next, t("2026-01-01T00:00:43Z"));
        for ms in (0..60_000).step_by(137) {
            let at = t("2026-01-01T00:00:00Z").checked_add(jiff::SignedDuration::from_millis(ms)).unwrap();
            let next = aligned_next(at, minute, 0.37);
            assert!(duration_between(at, next) >= minute / 2, "check at {at}: next {next}");
            // At most one interval, or up to the 2 s tolerance more to keep a slot just missed.
            assert!(duration_between(at, next) <= minute + Duration::from_secs(2), "check at {at}: next {next}");
        }
    }

    #[test]
    fn slots_fall_on_whole_seconds() {
        let at = aligned_next(t("2026-01-01T00:00:00.123Z"), Duration::from_secs(60), 0.37);
        assert_eq!(at.subsec_nanosecond(), 0, "{at}");
    }

    #[test]
    fn a_connection_reaches_its_slot_within_two_checks_and_then_keeps_the_interval() {
        let p = 0.25;
        let mut at = t("2026-01-01T00:10:00Z");
        let mut gaps = Vec::new();
        for _ in 0..5 {
            let next = aligned_next(at, HOUR, p);
            gaps.push(duration_between(at, next).as_secs() / 60);
            at = next;
        }
        assert_eq!(gaps, [30, 35, 60, 60, 60]);
        assert_eq!(at, t("2026-01-01T04:15:00Z"));
    }

    #[test]
    fn checks_due_at_start_up_spread_over_a_quarter_interval() {
        let started = t("2026-01-01T12:00:00Z");
        let cases = [
            // (now, due, phase, delay in seconds)
            ("2026-01-01T12:00:01Z", "2026-01-01T11:00:00Z", 0.5, Some(449)), // window 15 min, slot 12:07:30
            ("2026-01-01T12:00:01Z", "2026-01-01T11:00:00Z", 0.0, None),      // its slot is the start
            ("2026-01-01T12:08:00Z", "2026-01-01T11:00:00Z", 0.5, None),      // its slot has come
            ("2026-01-01T12:05:00Z", "2026-01-01T12:04:00Z", 0.9, None),      // due while running
        ];
        for (now, due, p, want) in cases {
            assert_eq!(catch_up_delay(t(now), t(due), started, HOUR, p).map(|d| d.as_secs()), want, "now {now} due {due}");
        }
        // Short intervals: a quarter of the interval.
        let d = catch_up_delay(started, t("2026-01-01T11:59:00Z"), started, Duration::from_secs(120), 0.5);
        assert_eq!(d, Some(Duration::from_secs(15)));
    }
}
