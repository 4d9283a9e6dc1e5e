//! Refresh runs (providers.md §2.6): one at a time per token Secret, across every
//! SocialConnection that uses it (single flight), and a rotated token is never lost: the
//! write-back goes through [`secrets::write_back`] (conflict-checked, guarded), and when it
//! cannot be stored yet the values stay in memory and a task retries with backoff, holding the
//! Secret's flight so that no other refresh can use the old refresh token meanwhile.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use tokio::sync::OwnedMutexGuard;

use super::schedule;
use crate::providers::http::ProviderCall;
use crate::providers::{CheckInput, Interruption, Provider, ProviderHttp, RefreshOutcome, TokenVerdict};
use crate::redact::SecretString;
use crate::secrets::{self, TokenKeys, TokenWrite, WriteError, WriteOutcome};
use crate::server::metrics::{Metrics, RefreshResult};

/// Longest wait between two write-back attempts.
const MAX_WRITE_BACKOFF: Duration = Duration::from_secs(30);

/// A token Secret: namespace and name.
pub type SecretKey = (String, String);

/// A connection: namespace and name.
pub type ConnectionKey = (String, String);

/// A refresh whose new token is stored in the Secret.
#[derive(Clone, Debug, PartialEq)]
pub struct Stored {
    /// When the provider's answer arrived.
    pub at: Timestamp,
    /// The stored access token (to check and fingerprint it; never printed).
    pub access_token: SecretString,
    /// The stored expiry, when the answer had one.
    pub expires_at: Option<Timestamp>,
    /// The refresh token's expiry, when the answer gave one.
    pub refresh_token_expires_at: Option<Timestamp>,
    /// The account the answer named (TikTok `open_id`).
    pub account_id: Option<String>,
}

/// What a refresh run came to.
#[derive(Clone, Debug, PartialEq)]
pub enum RunOutcome {
    /// The new token is stored.
    Stored(Stored),
    /// The provider refused (the verdict says why).
    Refused(TokenVerdict),
    /// A transient provider answer: nothing changed.
    Interrupted(Interruption),
    /// The new token could not be stored yet: it is kept in memory and retried.
    Pending {
        /// Why the write failed (no values).
        why: String,
    },
    /// Someone else wrote a different access token meanwhile: the result was dropped.
    Superseded,
    /// Another refresh or pending write of this Secret is under way.
    Busy,
    /// The provider has no refresh call for this token.
    NotSupported,
}

/// The single-flight registry of one operator process.
#[derive(Default)]
pub struct Flights {
    slots: Mutex<HashMap<SecretKey, Arc<tokio::sync::Mutex<()>>>>,
    /// Refreshes stored by a background retry, waiting for their connection's next reconcile
    /// to account for them in status.
    completed: Mutex<HashMap<ConnectionKey, Stored>>,
    /// Fingerprints of tokens whose refresh did not move the expiry (§2.6: not repeated).
    not_extended: Mutex<std::collections::HashSet<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Flights {
    /// Takes the Secret's flight, or `None` while another refresh or pending write holds it.
    /// Only flights under way are kept: a slot nobody holds is dropped (its guard holds the
    /// other reference), so the registry does not grow with the number of Secrets.
    pub fn try_take(&self, key: &SecretKey) -> Option<OwnedMutexGuard<()>> {
        let mut slots = lock(&self.slots);
        slots.retain(|_, slot| Arc::strong_count(slot) > 1);
        slots.entry(key.clone()).or_default().clone().try_lock_owned().ok()
    }

    /// Whether a refresh or pending write of the Secret is under way.
    pub fn is_busy(&self, key: &SecretKey) -> bool {
        lock(&self.slots).get(key).is_some_and(|slot| Arc::strong_count(slot) > 1 && slot.try_lock().is_err())
    }

    /// A refresh of this connection stored by a background retry since its last reconcile.
    pub fn take_completed(&self, conn: &ConnectionKey) -> Option<Stored> {
        lock(&self.completed).remove(conn)
    }

    /// Remembers that refreshing the token with this fingerprint did not extend it.
    pub fn mark_not_extended(&self, fingerprint: &str) {
        lock(&self.not_extended).insert(fingerprint.to_string());
    }

    /// Whether refreshing the token with this fingerprint did not extend it.
    pub fn not_extended(&self, fingerprint: &str) -> bool {
        lock(&self.not_extended).contains(fingerprint)
    }
}

/// One refresh: the provider call and the write-back, under the Secret's flight.
pub struct Run<'a> {
    /// HTTP access to the provider.
    pub http: &'a ProviderHttp,
    /// Where refresh results are counted.
    pub metrics: &'a Metrics,
    /// The single-flight registry.
    pub flights: &'a Arc<Flights>,
    /// The namespace's Secrets.
    pub secrets: &'a Api<Secret>,
    /// The token Secret.
    pub secret: SecretKey,
    /// The connection asking.
    pub connection: ConnectionKey,
    /// The connection's token keys.
    pub keys: TokenKeys,
}

impl Run<'_> {
    /// Refreshes with the credentials of `input` and stores the result.
    pub async fn refresh(&self, provider: &dyn Provider, input: &CheckInput<'_>) -> RunOutcome {
        let outcome = self.refresh_and_store(provider, input).await;
        let result = match &outcome {
            RunOutcome::Stored(_) => Some(RefreshResult::Stored),
            RunOutcome::Refused(_) => Some(RefreshResult::Refused),
            RunOutcome::Interrupted(_) => Some(RefreshResult::Transient),
            RunOutcome::Pending { .. } => Some(RefreshResult::WritePending),
            RunOutcome::Superseded => Some(RefreshResult::Superseded),
            // Nothing was asked of the provider.
            RunOutcome::Busy | RunOutcome::NotSupported => None,
        };
        if let Some(r) = result {
            self.metrics.refreshed(provider.kind(), r);
        }
        outcome
    }

    async fn refresh_and_store(&self, provider: &dyn Provider, input: &CheckInput<'_>) -> RunOutcome {
        let Some(guard) = self.flights.try_take(&self.secret) else { return RunOutcome::Busy };
        let answer = provider.refresh(&self.http.for_call(ProviderCall::Refresh), input).await;
        let at = Timestamp::now();
        let credential = match answer {
            RefreshOutcome::Refreshed(c) => c,
            RefreshOutcome::Refused(v) => return RunOutcome::Refused(v),
            RefreshOutcome::Interrupted(i) => return RunOutcome::Interrupted(i),
            RefreshOutcome::NotSupported => return RunOutcome::NotSupported,
        };
        let expires_at = credential.expires_in.map(|d| schedule::add(at, d));
        let write = TokenWrite {
            keys: self.keys.clone(),
            access_token: credential.access_token.clone(),
            refresh_token: credential.refresh_token.clone(),
            expires_at,
            scope: credential.scope.clone(),
        };
        let stored = Stored {
            at,
            access_token: credential.access_token,
            expires_at,
            refresh_token_expires_at: credential.refresh_token_expires_at,
            account_id: credential.account_id,
        };
        let (ns, name) = &self.secret;
        match secrets::write_back(self.secrets, name, input.token, &write).await {
            Ok(WriteOutcome::Stored) => {
                tracing::info!(namespace = %ns, secret = %name, "refreshed token stored");
                RunOutcome::Stored(stored)
            }
            Ok(WriteOutcome::Superseded) => {
                tracing::info!(namespace = %ns, secret = %name, "another writer changed the token meanwhile; refresh result dropped");
                RunOutcome::Superseded
            }
            Err(e) => {
                let why = e.to_string();
                tracing::warn!(namespace = %ns, secret = %name, error = %why, "storing the refreshed token failed; keeping it in memory and retrying");
                tokio::spawn(retry_write(
                    guard,
                    self.flights.clone(),
                    self.secrets.clone(),
                    self.secret.clone(),
                    self.connection.clone(),
                    input.token.clone(),
                    write,
                    stored,
                ));
                RunOutcome::Pending { why }
            }
        }
    }
}

/// Retries a write-back with backoff until it is stored or superseded, holding the Secret's
/// flight (no other refresh of that Secret meanwhile). A stored result is handed to the
/// connection's next reconcile.
#[allow(clippy::too_many_arguments)]
async fn retry_write(
    flight: OwnedMutexGuard<()>,
    flights: Arc<Flights>,
    api: Api<Secret>,
    secret: SecretKey,
    connection: ConnectionKey,
    previous: SecretString,
    write: TokenWrite,
    stored: Stored,
) {
    let (ns, name) = &secret;
    let mut delay = Duration::from_secs(1);
    let mut attempt: u32 = 1;
    loop {
        tokio::time::sleep(delay).await;
        attempt = attempt.saturating_add(1);
        match secrets::write_back(&api, name, &previous, &write).await {
            Ok(WriteOutcome::Stored) => {
                tracing::info!(namespace = %ns, secret = %name, attempt, "refreshed token stored after retrying");
                lock(&flights.completed).insert(connection, stored);
                break;
            }
            Ok(WriteOutcome::Superseded) => {
                tracing::warn!(namespace = %ns, secret = %name, "another writer changed the token while the refreshed one waited; result dropped");
                break;
            }
            Err(e @ (WriteError::NotManaged(_) | WriteError::Gone(_) | WriteError::Api { .. })) => {
                tracing::warn!(namespace = %ns, secret = %name, attempt, error = %e, "storing the refreshed token failed again; retrying");
            }
        }
        delay = (delay * 2).min(MAX_WRITE_BACKOFF);
    }
    drop(flight);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_flight_per_secret_across_connections() {
        let flights = Flights::default();
        let a: SecretKey = ("ns".into(), "tok".into());
        let b: SecretKey = ("ns".into(), "other".into());
        let held = flights.try_take(&a).expect("free");
        assert!(flights.try_take(&a).is_none(), "a second refresh of the same Secret waits");
        assert!(flights.is_busy(&a));
        assert!(flights.try_take(&b).is_some(), "other Secrets are independent");
        drop(held);
        assert!(!flights.is_busy(&a));
        assert!(flights.try_take(&a).is_some());
        // Flights nobody holds are forgotten: the registry holds only those under way.
        let c: SecretKey = ("ns".into(), "c".into());
        let held = flights.try_take(&c).expect("free");
        assert_eq!(lock(&flights.slots).len(), 1, "only the flight under way is kept");
        drop(held);
        assert!(!flights.is_busy(&c));
    }

    #[test]
    fn results_stored_in_the_background_are_handed_over_once() {
        let flights = Flights::default();
        let conn: ConnectionKey = ("ns".into(), "c".into());
        let stored = Stored {
            at: Timestamp::UNIX_EPOCH,
            access_token: SecretString::new("t"),
            expires_at: None,
            refresh_token_expires_at: None,
            account_id: None,
        };
        lock(&flights.completed).insert(conn.clone(), stored.clone());
        assert_eq!(flights.take_completed(&conn), Some(stored));
        assert_eq!(flights.take_completed(&conn), None);
        flights.mark_not_extended("fp");
        assert!(flights.not_extended("fp") && !flights.not_extended("other"));
    }
}
