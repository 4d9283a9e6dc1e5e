//! Provider-outage awareness: when most connections of one provider checked recently failed
//! transiently (timeouts, 5xx: the provider is down, not this token), every connection of that
//! provider pauses instead of hammering it, with a backoff that doubles while the outage lasts.
//! Connections count once each (their latest check), so one token retrying does not make an
//! outage.
//!
//! [`OutageRule::record`] is the pure rule (clock injected); [`ProviderOutages`] holds the
//! per-provider state of one process (a restart forgets it, and the first failing checks after
//! it find the outage again).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use jiff::Timestamp;

use super::schedule::{add, duration_between, sub};
use crate::api::ProviderKind;

/// When a provider counts as out, and how long it pauses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OutageRule {
    /// Checks older than this are forgotten.
    pub window: Duration,
    /// Fewest connections checked in the window before a pause can start (a few failing
    /// tokens are not an outage).
    pub min_checks: usize,
    /// Share of them whose latest check failed transiently that starts a pause, in (0, 1].
    pub ratio: f64,
    /// First pause; each further pause in a row doubles it.
    pub first_pause: Duration,
    /// Longest pause.
    pub max_pause: Duration,
}

impl Default for OutageRule {
    fn default() -> Self {
        OutageRule {
            window: Duration::from_secs(60),
            min_checks: 10,
            ratio: 0.8,
            first_pause: Duration::from_secs(30),
            max_pause: Duration::from_secs(15 * 60),
        }
    }
}

/// One provider's recent checks and pause.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProviderHealth {
    /// Per connection checked in the window: (when, failed transiently) of its latest check.
    recent: HashMap<String, (Timestamp, bool)>,
    /// The checks of `recent` (and older ones since replaced) in the order they were recorded,
    /// so that leaving the window costs constant time per check instead of a scan of every
    /// connection on every check (quadratic at thousands of connections).
    order: VecDeque<(Timestamp, String)>,
    /// How many of `recent` failed transiently.
    failures: usize,
    /// The end of the current pause.
    paused_until: Option<Timestamp>,
    /// Pauses since the last definite answer.
    pauses: u32,
}

impl ProviderHealth {
    /// Forgets the checks recorded before `since`.
    fn expire(&mut self, since: Timestamp) {
        while self.order.front().is_some_and(|(t, _)| *t < since) {
            let Some((t, key)) = self.order.pop_front() else { break };
            // A later check of the same connection replaced this one: it stays.
            if self.recent.get(&key).is_some_and(|(latest, _)| *latest == t)
                && let Some((_, failed)) = self.recent.remove(&key)
                && failed
            {
                self.failures = self.failures.saturating_sub(1);
            }
        }
    }

    /// Records the latest check of connection `key`.
    fn insert(&mut self, key: &str, at: Timestamp, failed: bool) {
        if let Some((_, was_failed)) = self.recent.insert(key.to_string(), (at, failed))
            && was_failed
        {
            self.failures = self.failures.saturating_sub(1);
        }
        if failed {
            self.failures = self.failures.saturating_add(1);
        }
        self.order.push_back((at, key.to_string()));
    }

    fn clear(&mut self) {
        self.recent.clear();
        self.order.clear();
        self.failures = 0;
    }
}

/// What a recorded check changed.
#[derive(Clone, Debug, PartialEq)]
pub enum OutageChange {
    /// Nothing to tell.
    None,
    /// A pause started. `first` is true for the first pause of an outage: the one to announce.
    Paused {
        /// How long every check of the provider waits.
        pause: Duration,
        /// Connections among `checks` whose latest check failed transiently.
        failures: usize,
        /// Connections checked in the window.
        checks: usize,
        /// The first pause since the provider last answered.
        first: bool,
    },
    /// A definite answer after one or more pauses: the outage is over.
    Recovered,
}

impl OutageRule {
    /// Records one check of connection `key` at `now` (`transient`: it failed with an
    /// outage-type answer) and says whether a pause starts or an outage ended.
    pub fn record(&self, h: &mut ProviderHealth, key: &str, now: Timestamp, transient: bool) -> OutageChange {
        let since = sub(now, self.window);
        h.expire(since);
        if !transient {
            h.insert(key, now, false);
            if h.pauses > 0 {
                h.pauses = 0;
                h.paused_until = None;
                return OutageChange::Recovered;
            }
            return OutageChange::None;
        }
        if h.paused_until.is_some_and(|u| u > now) {
            // A check that was already under way when the pause started.
            return OutageChange::None;
        }
        h.insert(key, now, true);
        let checks = h.recent.len();
        let failures = h.failures;
        // After a pause the first failure is enough: the provider has not come back.
        let out = if h.pauses > 0 { true } else { checks >= self.min_checks && failures as f64 >= self.ratio * checks as f64 };
        if !out {
            return OutageChange::None;
        }
        let exp = h.pauses.min(16);
        let pause = self.first_pause.saturating_mul(1u32 << exp).min(self.max_pause);
        h.pauses = h.pauses.saturating_add(1);
        h.paused_until = Some(add(now, pause));
        h.clear();
        OutageChange::Paused { pause, failures, checks, first: h.pauses == 1 }
    }

    /// How long checks must still wait at `now`, if the provider is paused.
    pub fn remaining(&self, h: &ProviderHealth, now: Timestamp) -> Option<Duration> {
        h.paused_until.filter(|u| *u > now).map(|u| duration_between(now, u))
    }
}

/// The outage state of every provider in this process.
#[derive(Debug, Default)]
pub struct ProviderOutages {
    rule: OutageRule,
    health: Mutex<HashMap<ProviderKind, ProviderHealth>>,
}

impl ProviderOutages {
    /// With a rule other than the default.
    pub fn new(rule: OutageRule) -> Self {
        ProviderOutages { rule, health: Mutex::default() }
    }

    /// Records a check's outcome for connection `key` (see [`OutageRule::record`]).
    pub fn record(&self, provider: ProviderKind, key: &str, now: Timestamp, transient: bool) -> OutageChange {
        let mut map = self.health.lock().unwrap_or_else(|p| p.into_inner());
        self.rule.record(map.entry(provider).or_default(), key, now, transient)
    }

    /// How long checks of `provider` must still wait, if it is paused.
    pub fn remaining(&self, provider: ProviderKind, now: Timestamp) -> Option<Duration> {
        let map = self.health.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&provider).and_then(|h| self.rule.remaining(h, now))
    }

    /// The providers paused at `now` (for a metric: read at scrape time).
    pub fn paused(&self, now: Timestamp) -> Vec<ProviderKind> {
        let map = self.health.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<ProviderKind> = map.iter().filter(|(_, h)| self.rule.remaining(h, now).is_some()).map(|(p, _)| *p).collect();
        out.sort_by_key(|p| p.as_str());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    /// Feeds (second, transient) checks, each of another connection; returns the changes that
    /// were not `None`.
    fn feed(rule: &OutageRule, h: &mut ProviderHealth, checks: &[(i64, bool)]) -> Vec<(i64, OutageChange)> {
        checks
            .iter()
            .enumerate()
            .map(|(i, (s, f))| (*s, rule.record(h, &format!("ns/c{i}"), at(*s), *f)))
            .filter(|(_, c)| *c != OutageChange::None)
            .collect()
    }

    #[test]
    fn most_checks_failing_together_pauses_the_provider_once_and_announces_it() {
        let rule = OutageRule::default();
        let mut h = ProviderHealth::default();
        // 2 good, then failures: the 10th check with 8 failures (80 %) starts the pause.
        let mut checks = vec![(0, false), (1, false)];
        checks.extend((2..12).map(|s| (s, true)));
        let changes = feed(&rule, &mut h, &checks);
        assert_eq!(changes, [(9, OutageChange::Paused { pause: Duration::from_secs(30), failures: 8, checks: 10, first: true })]);
        assert_eq!(rule.remaining(&h, at(9)), Some(Duration::from_secs(30)));
        assert_eq!(rule.remaining(&h, at(39)), None);
    }

    #[test]
    fn a_few_failing_tokens_are_not_an_outage() {
        let rule = OutageRule::default();
        let cases: [(&str, Vec<(i64, bool)>); 3] = [
            ("too few checks", (0..9).map(|s| (s, true)).collect()),
            ("half failing", (0..40).map(|s| (s, s % 2 == 0)).collect()),
            ("failures spread beyond the window", (0..20).map(|s| (s * 61, true)).collect()),
        ];
        for (what, checks) in cases {
            let mut h = ProviderHealth::default();
            assert_eq!(feed(&rule, &mut h, &checks), [], "{what}");
        }
        // Two tokens retrying often, among a few good ones: two connections, not an outage.
        let mut h = ProviderHealth::default();
        for s in 0..30 {
            assert_eq!(rule.record(&mut h, &format!("ns/bad{}", s % 2), at(s), true), OutageChange::None);
        }
    }

    #[test]
    fn pauses_double_while_the_outage_lasts_and_a_definite_answer_ends_it() {
        let rule = OutageRule::default();
        let mut h = ProviderHealth::default();
        let mut checks: Vec<(i64, bool)> = (0..10).map(|s| (s, true)).collect();
        // A check already under way during the pause changes nothing.
        checks.push((20, true));
        // After the pause one failure pauses again, for twice as long.
        checks.push((40, true));
        checks.push((101, true));
        checks.push((300, false));
        checks.push((301, false));
        let changes = feed(&rule, &mut h, &checks);
        assert_eq!(
            changes,
            [
                (9, OutageChange::Paused { pause: Duration::from_secs(30), failures: 10, checks: 10, first: true }),
                (40, OutageChange::Paused { pause: Duration::from_secs(60), failures: 1, checks: 1, first: false }),
                (101, OutageChange::Paused { pause: Duration::from_secs(120), failures: 1, checks: 1, first: false }),
                (300, OutageChange::Recovered),
            ]
        );
    }

    #[test]
    fn pauses_stop_growing_at_the_longest_pause() {
        let rule = OutageRule::default();
        let mut h = ProviderHealth::default();
        let mut last = None;
        let mut s = 0;
        for _ in 0..30 {
            for i in 0..10 {
                if let OutageChange::Paused { pause, .. } = rule.record(&mut h, &format!("ns/c{i}"), at(s), true) {
                    last = Some(pause);
                    s += i64::try_from(pause.as_secs()).unwrap();
                }
                s += 1;
            }
        }
        assert_eq!(last, Some(rule.max_pause));
    }

    #[test]
    fn providers_pause_independently() {
        let o = ProviderOutages::default();
        for s in 0..10 {
            o.record(ProviderKind::Facebook, &format!("ns/f{s}"), at(s), true);
            o.record(ProviderKind::X, &format!("ns/x{s}"), at(s), false);
        }
        assert!(o.remaining(ProviderKind::Facebook, at(10)).is_some());
        assert_eq!(o.remaining(ProviderKind::X, at(10)), None);
        assert_eq!(o.paused(at(10)), [ProviderKind::Facebook]);
    }

    proptest::proptest! {
        /// The window kept incrementally holds what a scan of every recorded check would:
        /// each connection's latest check inside the window, and how many of those failed.
        #[test]
        fn the_incremental_window_matches_a_scan(checks in proptest::collection::vec((0u8..6, 0i64..5, proptest::bool::ANY), 1..200)) {
            let window = Duration::from_secs(60);
            let mut h = ProviderHealth::default();
            let mut latest: HashMap<String, (Timestamp, bool)> = HashMap::new();
            let mut s = 0;
            for (conn, step, failed) in checks {
                s += step * 7;
                let key = format!("ns/c{conn}");
                let since = sub(at(s), window);
                h.expire(since);
                h.insert(&key, at(s), failed);
                latest.insert(key, (at(s), failed));
                latest.retain(|_, (t, _)| *t >= since);
                proptest::prop_assert_eq!(&h.recent, &latest);
                proptest::prop_assert_eq!(h.failures, latest.values().filter(|(_, f)| *f).count());
            }
        }
    }
}
