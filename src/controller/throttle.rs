//! Politeness toward providers, shared by every connection:
//!
//! - app-wide throttles (providers.md §2.5): Graph codes 4 and 341 limit the whole app, so
//!   every connection of the provider with the same client id waits until the delay ends —
//!   calling during a throttle prolongs it;
//! - per-provider request budgets: a token bucket per provider ([`governor`]'s GCRA) that every
//!   provider request passes, so that ten thousand connections never burst a provider. The
//!   defaults come from the providers' published limits ([`default_rate`]); `--provider-rate`
//!   replaces them.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use jiff::Timestamp;

use super::schedule::{add, duration_between};
use crate::api::ProviderKind;
use crate::providers::http::RequestGate;

/// Throttles in force, by provider and client id. Held in memory: a restart forgets them, and
/// the first call after it meets the provider's throttle again and records it anew.
#[derive(Debug, Default)]
pub struct AppThrottles {
    until: Mutex<HashMap<(ProviderKind, String), Timestamp>>,
}

impl AppThrottles {
    /// How long calls for this app must still wait, if a throttle is in force.
    pub fn remaining(&self, provider: ProviderKind, client_id: &str, now: Timestamp) -> Option<Duration> {
        let mut map = self.until.lock().unwrap_or_else(|p| p.into_inner());
        let key = (provider, client_id.to_string());
        match map.get(&key) {
            Some(until) if *until > now => Some(duration_between(now, *until)),
            Some(_) => {
                map.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Records a throttle for this app until `until` (keeping a later one already recorded).
    pub fn record(&self, provider: ProviderKind, client_id: &str, until: Timestamp) {
        let mut map = self.until.lock().unwrap_or_else(|p| p.into_inner());
        let entry = map.entry((provider, client_id.to_string())).or_insert(until);
        if *entry < until {
            *entry = until;
        }
    }
}

/// Most requests a budget slower than that many per second lets go at once.
pub const MAX_SMALL_BURST: u32 = 100;

/// A request budget: `requests` per `per`, refilled evenly (a token bucket holding one second's
/// worth, or up to [`MAX_SMALL_BURST`] requests of a slower budget).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Requests allowed per period.
    pub requests: NonZeroU32,
    /// The period.
    pub per: Duration,
}

/// Why a `--provider-rate` value was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RateError {
    /// Not `<provider>=<requests>[/<period>]`.
    #[error("--provider-rate {0:?}: expected <provider>=<requests>[/<period>], e.g. facebook=50/1s or youtube=20000/24h")]
    Syntax(String),
    /// An unknown provider name.
    #[error("--provider-rate {0:?}: unknown provider")]
    Provider(String),
    /// Requests not a positive whole number, or a period that is not a positive duration.
    #[error("--provider-rate {0:?}: requests must be a whole number above 0 and the period a duration above 0 (1s, 15m, 24h)")]
    Value(String),
}

impl Rate {
    const fn per_second(requests: u32) -> Rate {
        Rate::new(requests, Duration::from_secs(1))
    }

    const fn new(requests: u32, per: Duration) -> Rate {
        match NonZeroU32::new(requests) {
            Some(requests) => Rate { requests, per },
            None => Rate { requests: NonZeroU32::MIN, per },
        }
    }

    /// The time one request takes from the budget.
    pub fn spacing(&self) -> Duration {
        (self.per / self.requests.get()).max(Duration::from_micros(1))
    }

    /// The bucket: refills one request every [`Rate::spacing`] and holds one second's worth,
    /// or up to [`MAX_SMALL_BURST`] requests of a slower budget (a daily quota need not be
    /// spent one request at a time), never more than the period allows.
    fn quota(&self) -> Quota {
        let per_second = Duration::from_secs(1).as_nanos() / self.spacing().as_nanos().max(1);
        let per_second = u32::try_from(per_second).unwrap_or(u32::MAX);
        let burst = per_second.max(self.requests.get().min(MAX_SMALL_BURST));
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Quota::with_period(self.spacing()).unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN)).allow_burst(burst)
    }
}

/// Parses `<provider>=<requests>[/<period>]` (period default `1s`).
pub fn parse_rate(value: &str) -> Result<(ProviderKind, Rate), RateError> {
    let (name, rate) = value.split_once('=').ok_or_else(|| RateError::Syntax(value.to_string()))?;
    let provider = ProviderKind::from_name(name.trim()).ok_or_else(|| RateError::Provider(value.to_string()))?;
    let (requests, per) = rate.split_once('/').unwrap_or((rate, "1s"));
    let requests = requests.trim().parse::<u32>().ok().and_then(NonZeroU32::new).ok_or_else(|| RateError::Value(value.to_string()))?;
    let per = humantime::parse_duration(per.trim()).ok().filter(|d| !d.is_zero()).ok_or_else(|| RateError::Value(value.to_string()))?;
    Ok((provider, Rate { requests, per }))
}

/// The default budget of each provider, from its published limits. Where a provider publishes
/// only per-user limits (each connection is another user) or a formula, the default is a
/// conservative app-wide pace; `--provider-rate` replaces it.
pub const fn default_rate(provider: ProviderKind) -> Rate {
    match provider {
        // Graph API platform rate limits: an app may make 200 calls per hour per user of the
        // app (https://developers.facebook.com/docs/graph-api/overview/rate-limiting/). No
        // absolute number: 50/s is what 900 users allow, and far above 10,000 hourly checks
        // (about 3 calls/s).
        ProviderKind::Facebook | ProviderKind::Instagram => Rate::per_second(50),
        // Instagram Platform: the same 200 calls per hour per user formula
        // (https://developers.facebook.com/docs/instagram-platform/overview#rate-limiting).
        ProviderKind::InstagramLogin => Rate::per_second(50),
        // Threads API: per-user limits by impressions, no app-wide number
        // (https://developers.facebook.com/docs/threads/overview#rate-limiting).
        ProviderKind::Threads => Rate::per_second(20),
        // LinkedIn: per-application and per-member daily limits per endpoint, shown only in the
        // app's Developer Portal (https://learn.microsoft.com/linkedin/shared/api-guide/concepts/rate-limits).
        ProviderKind::Linkedin => Rate::per_second(10),
        // X API v2: GET /2/users/me allows 75 requests per 15 minutes per user and has no
        // app-level limit (https://docs.x.com/x-api/fundamentals/rate-limits).
        ProviderKind::X => Rate::per_second(10),
        // Pinterest API v5: 1,000 calls per minute per user per app for read categories
        // (https://developers.pinterest.com/docs/reference/ratelimits/).
        ProviderKind::Pinterest => Rate::new(1000, Duration::from_secs(60)),
        // YouTube Data API: 10,000 quota units per day per project by default, channels.list
        // costing 1 (https://developers.google.com/youtube/v3/getting-started#quota). Each
        // check makes that call and an unmetered tokeninfo call: 20,000 requests a day.
        ProviderKind::Youtube => Rate::new(20_000, Duration::from_secs(24 * 3600)),
        // Google Business Profile APIs: 300 queries per minute per project by default
        // (https://developers.google.com/my-business/content/limits).
        ProviderKind::GoogleBusinessProfile => Rate::new(300, Duration::from_secs(60)),
        // Telegram Bot API: about 30 requests per second per bot
        // (https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this).
        ProviderKind::Telegram => Rate::per_second(30),
        // TikTok API v2: 600 requests per minute per endpoint for /v2/user/info/
        // (https://developers.tiktok.com/doc/tiktok-api-v2-rate-limit).
        ProviderKind::Tiktok => Rate::new(600, Duration::from_secs(60)),
    }
}

/// Requests waiting for a provider's budget beyond which further connections are given a
/// later turn instead of waiting (a waiting reconcile holds one of the controller's slots).
pub const MAX_WAITING: usize = 4;

/// A turn for a connection in a provider's queue: the queue's tail `tail` (the time after the
/// last turn handed out), `waiting` requests already waiting in the bucket, one request per
/// `spacing`. Returns (the turn, the new tail). Turns are handed out one spacing apart, so
/// connections sent away come back one by one at the budget's pace instead of together.
pub fn next_turn(tail: Timestamp, now: Timestamp, waiting: usize, spacing: Duration) -> (Timestamp, Timestamp) {
    let behind_waiting = add(now, spacing.saturating_mul(u32::try_from(waiting).unwrap_or(u32::MAX)));
    let turn = tail.max(behind_waiting);
    (turn, add(turn, spacing))
}

/// One token bucket per provider, shared by every connection, and the turns handed out to
/// connections sent away while the bucket had a queue.
#[derive(Debug)]
pub struct ProviderBudgets {
    buckets: HashMap<ProviderKind, (Rate, DefaultDirectRateLimiter, AtomicUsize)>,
    /// Per provider: the end of the queue of turns.
    tails: Mutex<HashMap<ProviderKind, Timestamp>>,
    /// Per connection (`namespace/name`): its turn.
    turns: Mutex<HashMap<String, Timestamp>>,
    /// Size of `turns` at which stale turns are dropped next.
    prune_at: AtomicUsize,
}

/// Fewest turns before stale ones are looked for.
const PRUNE_FLOOR: usize = 1024;

impl ProviderBudgets {
    /// The default budgets, with `overrides` replacing some.
    pub fn new(overrides: &[(ProviderKind, Rate)]) -> Self {
        let buckets = ProviderKind::ALL
            .into_iter()
            .map(|p| {
                let rate = overrides.iter().rev().find(|(q, _)| *q == p).map(|(_, r)| *r).unwrap_or(default_rate(p));
                (p, (rate, RateLimiter::direct(rate.quota()), AtomicUsize::new(0)))
            })
            .collect();
        ProviderBudgets { buckets, tails: Mutex::default(), turns: Mutex::default(), prune_at: AtomicUsize::new(PRUNE_FLOOR) }
    }

    /// The budget of `provider`.
    pub fn rate(&self, provider: ProviderKind) -> Rate {
        self.buckets.get(&provider).map(|b| b.0).unwrap_or(default_rate(provider))
    }

    /// Before a check of connection `key`: `None` to go ahead (its turn has come, or the
    /// bucket has no queue), or how long to wait for its turn.
    pub fn pace(&self, provider: ProviderKind, key: &str, now: Timestamp) -> Option<Duration> {
        let (rate, _, waiting) = self.buckets.get(&provider)?;
        let mut turns = self.turns.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(turn) = turns.get(key).copied() {
            // Within a second of its turn is on time (requeues are not exact).
            if turn <= add(now, Duration::from_secs(1)) {
                turns.remove(key);
                return None;
            }
            return Some(duration_between(now, turn));
        }
        let waiting = waiting.load(Ordering::Relaxed);
        if waiting < MAX_WAITING {
            return None;
        }
        let mut tails = self.tails.lock().unwrap_or_else(|p| p.into_inner());
        let tail = tails.get(&provider).copied().unwrap_or(now);
        let (turn, tail) = next_turn(tail, now, waiting, rate.spacing());
        tails.insert(provider, tail);
        // Turns of connections that never came back (deleted meanwhile) are dropped an hour
        // after they passed.
        // The scan runs when the map has doubled since the last one, so its cost per turn
        // stays constant however many connections wait.
        if turns.len() >= self.prune_at.load(Ordering::Relaxed) {
            let stale = super::schedule::sub(now, Duration::from_secs(3600));
            turns.retain(|_, t| *t > stale);
            self.prune_at.store(turns.len().saturating_mul(2).max(PRUNE_FLOOR), Ordering::Relaxed);
        }
        turns.insert(key.to_string(), turn);
        Some(duration_between(now, turn).max(Duration::from_secs(1)))
    }
}

#[async_trait::async_trait]
impl RequestGate for ProviderBudgets {
    async fn admit(&self, provider: ProviderKind) {
        let Some((_, bucket, waiting)) = self.buckets.get(&provider) else { return };
        if bucket.check().is_ok() {
            return;
        }
        waiting.fetch_add(1, Ordering::Relaxed);
        bucket.until_ready().await;
        waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_rates_parse_with_an_optional_period_and_refuse_nonsense() {
        let ok = [
            ("facebook=50", ProviderKind::Facebook, 50, 1),
            ("youtube=20000/24h", ProviderKind::Youtube, 20_000, 86_400),
            ("x = 75/15m", ProviderKind::X, 75, 900),
        ];
        for (s, p, n, secs) in ok {
            let (q, r) = parse_rate(s).unwrap();
            assert_eq!((q, r.requests.get(), r.per.as_secs()), (p, n, secs), "{s}");
        }
        let bad = [
            ("facebook", RateError::Syntax("facebook".into())),
            ("myspace=5", RateError::Provider("myspace=5".into())),
            ("facebook=0", RateError::Value("facebook=0".into())),
            ("facebook=-1", RateError::Value("facebook=-1".into())),
            ("facebook=5/0s", RateError::Value("facebook=5/0s".into())),
            ("facebook=5/soon", RateError::Value("facebook=5/soon".into())),
        ];
        for (s, e) in bad {
            assert_eq!(parse_rate(s).unwrap_err(), e, "{s}");
        }
    }

    #[test]
    fn a_budget_holds_one_seconds_worth_or_a_small_burst_of_a_slow_budget() {
        let cases = [
            (Rate::per_second(50), 50, Duration::from_millis(20)),
            (Rate::per_second(2000), 2000, Duration::from_micros(500)),
            (Rate::new(600, Duration::from_secs(60)), 100, Duration::from_millis(100)),
            (Rate::new(20_000, Duration::from_secs(86_400)), 100, Duration::from_millis(4320)),
            (Rate::new(75, Duration::from_secs(900)), 75, Duration::from_secs(12)),
            (Rate::new(1, Duration::from_secs(3600)), 1, Duration::from_secs(3600)),
        ];
        for (rate, burst, spacing) in cases {
            assert_eq!(rate.spacing(), spacing);
            assert_eq!(rate.quota().burst_size().get(), burst, "{rate:?}");
        }
    }

    #[test]
    fn every_provider_has_a_default_budget_and_overrides_replace_it() {
        let b = ProviderBudgets::new(&[(ProviderKind::Facebook, Rate::per_second(5))]);
        assert_eq!(b.rate(ProviderKind::Facebook), Rate::per_second(5));
        for p in ProviderKind::ALL.into_iter().filter(|p| *p != ProviderKind::Facebook) {
            assert_eq!(b.rate(p), default_rate(p), "{p:?}");
        }
    }

    #[test]
    fn a_budget_admits_its_burst_at_once_and_then_one_request_per_spacing() {
        let clock = governor::clock::FakeRelativeClock::default();
        let bucket = RateLimiter::direct_with_clock(Rate::per_second(10).quota(), clock.clone());
        for i in 0..10 {
            assert!(bucket.check().is_ok(), "request {i} of the burst");
        }
        assert!(bucket.check().is_err(), "the 11th waits");
        clock.advance(Duration::from_millis(100));
        assert!(bucket.check().is_ok(), "one more after one spacing");
        assert!(bucket.check().is_err());
    }

    #[tokio::test]
    async fn budgets_of_different_providers_are_independent() {
        let b = ProviderBudgets::new(&[(ProviderKind::Telegram, Rate::new(1, Duration::from_secs(3600)))]);
        b.admit(ProviderKind::Telegram).await;
        // Telegram's bucket (one request an hour) is empty; Facebook's is untouched.
        let admitted = tokio::time::timeout(Duration::from_secs(5), b.admit(ProviderKind::Facebook)).await;
        assert!(admitted.is_ok());
        let waited = tokio::time::timeout(Duration::from_millis(200), b.admit(ProviderKind::Telegram)).await;
        assert!(waited.is_err(), "telegram's second request waits for its budget");
    }

    #[test]
    fn turns_are_handed_out_one_spacing_apart_behind_the_waiting_requests() {
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let ms = |n: i64| now.checked_add(jiff::SignedDuration::from_millis(n)).unwrap();
        let spacing = Duration::from_millis(100);
        let cases = [
            // (tail, waiting, turn, new tail)
            (now, 4, ms(400), ms(500)),      // empty queue: behind the 4 waiting
            (ms(900), 4, ms(900), ms(1000)), // a queue: at its end
            (ms(-5000), 0, now, ms(100)),    // an old tail is the past
        ];
        for (tail, waiting, turn, new_tail) in cases {
            assert_eq!(next_turn(tail, now, waiting, spacing), (turn, new_tail), "tail {tail}");
        }
    }

    #[test]
    fn a_connection_keeps_its_turn_and_goes_ahead_when_it_comes() {
        let b = ProviderBudgets::new(&[(ProviderKind::Telegram, Rate::per_second(2))]);
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let later = |s: i64| now.checked_add(jiff::SignedDuration::from_secs(s)).unwrap();
        // No queue: go ahead.
        assert_eq!(b.pace(ProviderKind::Telegram, "ns/a", now), None);
        // A queue of MAX_WAITING: turns 2 s (4 × 500 ms) and 2.5 s ahead.
        b.buckets[&ProviderKind::Telegram].2.store(MAX_WAITING, Ordering::Relaxed);
        assert_eq!(b.pace(ProviderKind::Telegram, "ns/a", now), Some(Duration::from_secs(2)));
        assert_eq!(b.pace(ProviderKind::Telegram, "ns/b", now), Some(Duration::from_millis(2500)));
        // Asking again keeps the turn.
        assert_eq!(b.pace(ProviderKind::Telegram, "ns/a", now), Some(Duration::from_secs(2)));
        // Its turn has come (even while the queue lasts).
        assert_eq!(b.pace(ProviderKind::Telegram, "ns/a", later(2)), None);
        // Other providers have queues of their own.
        assert_eq!(b.pace(ProviderKind::Facebook, "ns/c", now), None);
    }

    #[test]
    fn a_throttle_applies_to_the_same_app_until_it_ends() {
        let t = AppThrottles::default();
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let later: Timestamp = "2026-01-01T00:05:00Z".parse().unwrap();
        assert_eq!(t.remaining(ProviderKind::Facebook, "cid", now), None);
        t.record(ProviderKind::Facebook, "cid", later);
        assert_eq!(t.remaining(ProviderKind::Facebook, "cid", now), Some(Duration::from_secs(300)));
        // Other apps and other providers are not throttled.
        assert_eq!(t.remaining(ProviderKind::Facebook, "other", now), None);
        assert_eq!(t.remaining(ProviderKind::Instagram, "cid", now), None);
        // An earlier end does not shorten a recorded throttle; the end lifts it.
        t.record(ProviderKind::Facebook, "cid", now);
        assert_eq!(t.remaining(ProviderKind::Facebook, "cid", now), Some(Duration::from_secs(300)));
        assert_eq!(t.remaining(ProviderKind::Facebook, "cid", later), None);
    }
}
