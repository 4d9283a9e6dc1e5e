//! App-wide provider throttles (providers.md §2.5): Graph codes 4 and 341 limit the whole app,
//! so every connection of the provider with the same client id waits until the delay ends —
//! calling during a throttle prolongs it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use jiff::Timestamp;

use super::schedule::duration_between;
use crate::api::ProviderKind;

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

#[cfg(test)]
mod tests {
    use super::*;

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
