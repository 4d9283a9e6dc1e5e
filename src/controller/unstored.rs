//! Outcomes of provider checks whose status is not stored yet, and the per-object backoff
//! after Kubernetes API errors.
//!
//! A provider call is the expensive, rate-limited part of a cycle, and some providers punish
//! repeats (Graph prolongs throttles). When the status write after a check fails (API server
//! down, conflict storm), the next attempt must store the outcome already learned instead of
//! asking the provider again: the decision is kept here, per object and token fingerprint,
//! until its status is stored. Held in memory only: after a restart the recorded
//! `status.nextCheckTime` decides, so at most one extra check happens per restart.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::decision::Decision;
use crate::api::SocialConnectionStatus;

/// What identifies the cycle an outcome belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutcomeKey {
    /// `metadata.uid` (a re-created object is another connection).
    pub uid: String,
    /// `metadata.generation` (a spec change asks for a new check).
    pub generation: Option<i64>,
    /// Fingerprint of the access token that was checked (a new token asks for a new check).
    pub fingerprint: String,
}

/// A decision waiting to be stored.
#[derive(Clone, Debug)]
pub struct Unstored {
    /// The cycle it belongs to.
    pub key: OutcomeKey,
    /// The decision (status, Events, requeue).
    pub decision: Decision,
}

/// Decisions waiting to be stored, by `<namespace>/<name>`.
#[derive(Debug, Default)]
pub struct UnstoredOutcomes {
    by_object: Mutex<HashMap<String, Unstored>>,
}

impl UnstoredOutcomes {
    /// Keeps a decision until [`UnstoredOutcomes::stored`] is called for the object.
    pub fn keep(&self, object: &str, outcome: Unstored) {
        self.lock().insert(object.to_string(), outcome);
    }

    /// The kept decision for this object, if it belongs to the same cycle; a kept decision
    /// of another cycle (other uid, generation or token) is dropped.
    pub fn take_matching(&self, object: &str, key: &OutcomeKey) -> Option<Decision> {
        let mut map = self.lock();
        let kept = map.remove(object)?;
        if &kept.key == key {
            // Put it back: it stays until its status is stored.
            let decision = kept.decision.clone();
            map.insert(object.to_string(), kept);
            Some(decision)
        } else {
            None
        }
    }

    /// The object's status was stored: forget its kept decision.
    pub fn stored(&self, object: &str) {
        self.lock().remove(object);
    }

    /// How many decisions are waiting (for tests and logs).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Unstored>> {
        self.by_object.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The statuses this process wrote last, until the watch shows them: a reconcile woken by
/// another watch (a Secret re-list after an API server restart, say) may still see the object as
/// it was before the write, whose old `nextCheckTime` would make a check due a second time.
/// Only the operator writes these fields, so a written status whose `lastCheckTime` is later
/// than the cached one is the newer truth.
#[derive(Debug, Default)]
pub struct WrittenStatuses {
    by_object: Mutex<HashMap<String, (String, SocialConnectionStatus)>>,
}

impl WrittenStatuses {
    /// Remembers the status just stored for the object with this `uid`.
    pub fn wrote(&self, object: &str, uid: &str, status: &SocialConnectionStatus) {
        self.lock().insert(object.to_string(), (uid.to_string(), status.clone()));
    }

    /// The status to decide from: the remembered one while the cached one is older, else the
    /// cached one (and the memory of the write is dropped: the watch has caught up).
    pub fn freshest(&self, object: &str, uid: &str, cached: SocialConnectionStatus) -> SocialConnectionStatus {
        let mut map = self.lock();
        let Some((written_uid, written)) = map.get(object) else { return cached };
        // The API server stores times to the second: the watch has caught up once the cached
        // check time reaches the written one's second (comparing the sub-second instant kept
        // every written status in memory until the next check).
        let cached_check = cached.last_check_time.as_ref().map(|t| t.0.as_second());
        let written_check = written.last_check_time.as_ref().map(|t| t.0.as_second());
        if written_uid == uid && written_check > cached_check {
            // Keep the notifier's field from the cache: it is written under its own manager.
            return SocialConnectionStatus { notifications: cached.notifications, ..written.clone() };
        }
        map.remove(object);
        cached
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, SocialConnectionStatus)>> {
        self.by_object.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// First retry delay after a Kubernetes API error.
pub const RETRY_BASE: Duration = Duration::from_secs(1);
/// Largest retry delay after Kubernetes API errors.
pub const RETRY_MAX: Duration = Duration::from_secs(300);

/// Failed reconciles in a row, per object, for exponential backoff.
#[derive(Debug, Default)]
pub struct ApiRetries {
    failures: Mutex<HashMap<String, u32>>,
}

impl ApiRetries {
    /// Counts one more failure of the object and returns how long to wait:
    /// min(1 s × 2^(n−1), 5 min), the upper half jittered by `unit` in [0, 1).
    pub fn failed(&self, object: &str, unit: f64) -> Duration {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(object.to_string()).or_insert(0);
        *n = n.saturating_add(1);
        retry_delay(*n, unit)
    }

    /// The object reconciled successfully: start over.
    pub fn succeeded(&self, object: &str) {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(object);
    }
}

/// The delay after the `n`-th failure in a row (n ≥ 1).
pub fn retry_delay(n: u32, unit: f64) -> Duration {
    let exp = n.saturating_sub(1).min(16);
    let base = RETRY_BASE.saturating_mul(1u32 << exp).min(RETRY_MAX);
    let half = base / 2;
    half.saturating_add(half.mul_f64(unit.clamp(0.0, 1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn decision(n: i32) -> Decision {
        let status = SocialConnectionStatus { consecutive_failures: Some(n), ..Default::default() };
        Decision { status, notices: vec![], requeue_after: Duration::from_secs(60) }
    }

    fn key(fp: &str) -> OutcomeKey {
        OutcomeKey { uid: "u1".into(), generation: Some(1), fingerprint: fp.into() }
    }

    #[test]
    fn a_kept_decision_is_returned_for_the_same_cycle_until_stored() {
        let o = UnstoredOutcomes::default();
        o.keep("ns/a", Unstored { key: key("fp1"), decision: decision(1) });
        assert_eq!(o.take_matching("ns/a", &key("fp1")).map(|d| d.status.consecutive_failures), Some(Some(1)));
        // Still there for a further failed write.
        assert_eq!(o.take_matching("ns/a", &key("fp1")).map(|d| d.status.consecutive_failures), Some(Some(1)));
        o.stored("ns/a");
        assert!(o.take_matching("ns/a", &key("fp1")).is_none());
    }

    #[test]
    fn a_new_token_generation_or_object_drops_the_kept_decision() {
        let o = UnstoredOutcomes::default();
        o.keep("ns/a", Unstored { key: key("fp1"), decision: decision(1) });
        assert!(o.take_matching("ns/a", &key("fp2")).is_none());
        assert!(o.is_empty());
        o.keep("ns/a", Unstored { key: key("fp1"), decision: decision(1) });
        let other_uid = OutcomeKey { uid: "u2".into(), ..key("fp1") };
        assert!(o.take_matching("ns/a", &other_uid).is_none());
        o.keep("ns/a", Unstored { key: key("fp1"), decision: decision(1) });
        let new_generation = OutcomeKey { generation: Some(2), ..key("fp1") };
        assert!(o.take_matching("ns/a", &new_generation).is_none());
        assert!(o.take_matching("ns/b", &key("fp1")).is_none());
    }

    #[test]
    fn api_retries_back_off_exponentially_per_object_and_reset_on_success() {
        let r = ApiRetries::default();
        let secs: Vec<u64> = (0..5).map(|_| r.failed("ns/a", 0.0).as_millis() as u64).collect();
        assert_eq!(secs, vec![500, 1000, 2000, 4000, 8000]);
        // Another object has its own count.
        assert_eq!(r.failed("ns/b", 0.0), Duration::from_millis(500));
        r.succeeded("ns/a");
        assert_eq!(r.failed("ns/a", 0.0), Duration::from_millis(500));
    }

    #[test]
    fn the_retry_delay_is_capped_at_five_minutes() {
        assert_eq!(retry_delay(30, 0.0), RETRY_MAX / 2);
        assert!(retry_delay(u32::MAX, 0.999) <= RETRY_MAX);
        assert!(retry_delay(1, 0.999) < RETRY_BASE);
    }

    fn checked_at(t: &str) -> SocialConnectionStatus {
        SocialConnectionStatus { last_check_time: Some(Time(t.parse().unwrap())), ..Default::default() }
    }

    #[test]
    fn a_written_status_wins_over_an_older_cached_one_until_the_watch_catches_up() {
        let w = WrittenStatuses::default();
        let stale = checked_at("2026-01-01T00:00:00Z");
        let written = checked_at("2026-01-01T01:00:00Z");
        w.wrote("ns/a", "u1", &written);
        assert_eq!(w.freshest("ns/a", "u1", stale.clone()), written);
        // The watch delivered the write: the cache is used and the memory dropped.
        assert_eq!(w.freshest("ns/a", "u1", written.clone()), written);
        assert_eq!(w.freshest("ns/a", "u1", stale.clone()), stale);
    }

    #[test]
    fn the_cached_copy_of_a_write_made_within_a_second_counts_as_caught_up() {
        let w = WrittenStatuses::default();
        // Written with sub-second precision; the API server answers with whole seconds.
        let written = checked_at("2026-01-01T01:00:00.750Z");
        let stored = checked_at("2026-01-01T01:00:00Z");
        w.wrote("ns/a", "u1", &written);
        assert_eq!(w.freshest("ns/a", "u1", stored.clone()), stored);
        assert_eq!(w.lock().len(), 0, "the memory of the write is dropped");
    }

    #[test]
    fn a_written_status_of_another_object_with_the_same_name_is_ignored() {
        let w = WrittenStatuses::default();
        w.wrote("ns/a", "u1", &checked_at("2026-01-01T01:00:00Z"));
        let fresh_object = SocialConnectionStatus::default();
        assert_eq!(w.freshest("ns/a", "u2", fresh_object.clone()), fresh_object);
    }
}
