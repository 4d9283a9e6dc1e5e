//! Leader election: among the replicas of one installation, only the holder of a
//! `coordination.k8s.io` Lease reconciles, calls providers and sends notices; the others stand
//! by and take over when the holder stops renewing.
//!
//! The Lease is held with `kube-lease-manager` (which uses `get`, `create` when the Lease is
//! missing, and `patch`: exactly what the chart grants on `leases`). The crate renews every
//! retry period but does not say when a renewal failed, so a **fence** of our own reads the
//! Lease back every retry period and decides how long this process may act:
//!
//! * It may act until `renewTime + renewDeadline`, where `renewTime` is the time this process
//!   itself wrote into the Lease at its last renewal: the same clock reads it, so no skew
//!   enters this bound. A read that fails or hangs never extends it.
//! * Another replica takes the Lease only once it is expired by *its* clock, at
//!   `renewTime + leaseDuration` at the earliest (`kube-lease-manager` breaks a lock only when
//!   it is expired, and server-side apply refuses a second holder meanwhile).
//! * So every replica stops acting `leaseDuration - renewDeadline` (5 s by default) before any
//!   other may start. That margin covers the clock skew between nodes and the time stopping
//!   takes, which is milliseconds: see [`super::run`] for what stopping drops.

use std::time::{Duration, SystemTime};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use kube::Client;
use kube::api::Api;
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder, LeaseParams};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Longest wait between two attempts to set up the Lease while the API server refuses.
const MAX_SETUP_BACKOFF: Duration = Duration::from_secs(30);

/// How long a leaving leader waits for the Lease release before it exits anyway.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

/// Timings of the election, validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timings {
    /// A Lease stays valid this long after its last renewal.
    pub lease_duration: Duration,
    /// The leader stops acting when its last renewal is this old.
    pub renew_deadline: Duration,
    /// Renewal and read-back period.
    pub retry_period: Duration,
}

/// Timings that cannot guarantee one leader.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimingsError {
    /// A value of less than one whole second (the Lease counts in seconds).
    #[error("leader election timings are whole seconds, at least 1s each")]
    NotWholeSeconds,
    /// The renew deadline does not end before the Lease expires.
    #[error(
        "the renew deadline ({renew_deadline:?}) must be shorter than the lease duration ({lease_duration:?}): the leader must stop before another replica may start"
    )]
    DeadlineNotBeforeExpiry {
        /// `--leader-election-renew-deadline`.
        renew_deadline: Duration,
        /// `--leader-election-lease-duration`.
        lease_duration: Duration,
    },
    /// No renewal fits before the deadline.
    #[error(
        "the retry period ({retry_period:?}) must be shorter than the renew deadline ({renew_deadline:?}): a renewal must fit before the deadline"
    )]
    RetryNotBeforeDeadline {
        /// `--leader-election-retry-period`.
        retry_period: Duration,
        /// `--leader-election-renew-deadline`.
        renew_deadline: Duration,
    },
}

impl Timings {
    /// Checks `retry_period < renew_deadline < lease_duration`, all whole seconds.
    pub fn new(lease_duration: Duration, renew_deadline: Duration, retry_period: Duration) -> Result<Timings, TimingsError> {
        let whole = |d: Duration| d.subsec_nanos() == 0 && d.as_secs() > 0;
        if !(whole(lease_duration) && whole(renew_deadline) && whole(retry_period)) {
            return Err(TimingsError::NotWholeSeconds);
        }
        if renew_deadline >= lease_duration {
            return Err(TimingsError::DeadlineNotBeforeExpiry { renew_deadline, lease_duration });
        }
        if retry_period >= renew_deadline {
            return Err(TimingsError::RetryNotBeforeDeadline { retry_period, renew_deadline });
        }
        Ok(Timings { lease_duration, renew_deadline, retry_period })
    }

    /// The lease manager's parameters: it renews when `grace` seconds are left of the Lease,
    /// that is one retry period after the last renewal.
    fn params(&self, identity: &str) -> LeaseParams {
        let duration = self.lease_duration.as_secs();
        // Cannot underflow or reach zero: retry_period < renew_deadline < lease_duration.
        let grace = duration.saturating_sub(self.retry_period.as_secs()).max(1);
        LeaseParams::new(identity, duration, grace)
    }
}

/// Where the Lease lives and who we are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub lease_name: String,
    /// This process's identity in `holderIdentity`: unique per process.
    pub identity: String,
    /// Timings.
    pub timings: Timings,
}

/// A unique identity for this process: the pod name (or host name) and a random suffix, as
/// client-go does, so that a restarted container never mistakes its predecessor's Lease for
/// its own.
pub fn identity() -> String {
    use rand::Rng;
    let base = std::env::var("POD_NAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "social-connection-operator".to_string());
    let suffix: String = rand::rng().sample_iter(&rand::distr::Alphanumeric).take(8).map(char::from).collect();
    format!("{base}_{}", suffix.to_ascii_lowercase())
}

/// Why this process stopped leading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lost {
    /// The Lease names another holder.
    TakenBy(String),
    /// The Lease has no holder, or is gone.
    Released,
    /// No renewal was seen for the renew deadline (API server unreachable or too slow).
    NotRenewed,
    /// The lease manager reported the loss, or stopped.
    ManagerReported,
}

impl std::fmt::Display for Lost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lost::TakenBy(h) => write!(f, "the Lease is held by {h}"),
            Lost::Released => f.write_str("the Lease has no holder"),
            Lost::NotRenewed => f.write_str("the Lease was not renewed within the renew deadline"),
            Lost::ManagerReported => f.write_str("the lease manager reported the Lease lost"),
        }
    }
}

/// What one read of the Lease says about this process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// We hold it; we may act until then (our last renewal plus the renew deadline).
    Held(SystemTime),
    /// We do not hold it.
    NotHeld(Lost),
}

/// Reads a Lease's spec for `identity` (pure).
pub fn verdict(spec: Option<&LeaseSpec>, identity: &str, renew_deadline: Duration) -> Verdict {
    let Some(spec) = spec else { return Verdict::NotHeld(Lost::Released) };
    match spec.holder_identity.as_deref() {
        Some(h) if h == identity => match &spec.renew_time {
            Some(t) => {
                let renewed: SystemTime = t.0.into();
                match renewed.checked_add(renew_deadline) {
                    Some(until) => Verdict::Held(until),
                    None => Verdict::NotHeld(Lost::NotRenewed),
                }
            }
            // Held without a renewal time: nothing bounds it, so it cannot be trusted.
            None => Verdict::NotHeld(Lost::NotRenewed),
        },
        Some(h) => Verdict::NotHeld(Lost::TakenBy(h.to_string())),
        None => Verdict::NotHeld(Lost::Released),
    }
}

/// The election of this process: the lease manager's background task and the fence.
pub struct Election {
    settings: Settings,
    api: Api<Lease>,
    leading: watch::Receiver<bool>,
    task: JoinHandle<kube_lease_manager::Result<LeaseManager>>,
}

impl Election {
    /// Sets up the Lease (creating it when missing) and starts competing for it. Retries with
    /// backoff while the API server is unreachable or refuses, logging why; only ends when it
    /// succeeded (cancel it by dropping the future).
    pub async fn start(client: Client, settings: Settings) -> Election {
        let mut delay = Duration::from_secs(1);
        let manager = loop {
            let built = LeaseManagerBuilder::new(client.clone(), settings.lease_name.clone())
                .with_namespace(settings.namespace.clone())
                .with_parameters(settings.timings.params(&settings.identity))
                .build()
                .await;
            match built {
                Ok(m) => break m,
                Err(e) => {
                    tracing::warn!(namespace = %settings.namespace, lease = %settings.lease_name, error = %e, "cannot set up the leader Lease; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(MAX_SETUP_BACKOFF);
                }
            }
        };
        let (leading, task) = manager.watch().await;
        tracing::info!(namespace = %settings.namespace, lease = %settings.lease_name, identity = %settings.identity, "competing for the leader Lease");
        let api = Api::namespaced(client, &settings.namespace);
        Election { settings, api, leading, task }
    }

    /// This process's identity.
    pub fn identity(&self) -> &str {
        &self.settings.identity
    }

    /// Waits until this process holds the Lease and a read of it confirmed so; returns until
    /// when it may act without a further confirmed renewal.
    pub async fn elected(&mut self) -> SystemTime {
        let mut said_standby = false;
        loop {
            if *self.leading.borrow_and_update() {
                match read(&self.api, &self.settings).await {
                    Some(Verdict::Held(until)) if SystemTime::now() < until => return until,
                    _ => tokio::time::sleep(self.settings.timings.retry_period).await,
                }
                continue;
            }
            if !said_standby {
                tracing::info!(identity = %self.settings.identity, "standing by: another replica holds the leader Lease");
                said_standby = true;
            }
            if self.leading.changed().await.is_err() {
                // The lease manager's task ended (it logs why); nothing will ever elect us.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Resolves when this process may no longer act: at `until` unless a later read of the
    /// Lease shows a newer renewal by us, at once when a read shows another holder or none, or
    /// when the lease manager reports the loss. Reads that fail or hang never move `until`.
    pub async fn lost(&mut self, mut until: SystemTime) -> Lost {
        let (api, settings) = (self.api.clone(), self.settings.clone());
        loop {
            let left = until.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO);
            let next_read = async {
                tokio::time::sleep(settings.timings.retry_period).await;
                read(&api, &settings).await
            };
            tokio::select! {
                biased;
                () = tokio::time::sleep(left) => return Lost::NotRenewed,
                changed = self.leading.changed() => {
                    if changed.is_err() || !*self.leading.borrow_and_update() {
                        return Lost::ManagerReported;
                    }
                }
                read = next_read => match read {
                    Some(Verdict::Held(t)) => until = until.max(t),
                    Some(Verdict::NotHeld(why)) => return why,
                    None => {}
                },
            }
        }
    }

    /// Gives the Lease up (when leaving: the next replica need not wait for it to expire),
    /// waiting at most a few seconds.
    pub async fn resign(self) {
        let Election { leading, task, .. } = self;
        // Closing the channel makes the lease manager release the Lease and end.
        drop(leading);
        match tokio::time::timeout(RELEASE_TIMEOUT, task).await {
            Ok(Ok(Ok(_))) => tracing::info!("leader Lease released"),
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "releasing the leader Lease failed; it expires by itself"),
            Ok(Err(e)) => tracing::warn!(error = %e, "the lease manager task failed"),
            Err(_) => tracing::warn!("releasing the leader Lease timed out; it expires by itself"),
        }
    }
}

/// One read of the Lease, bounded by the retry period; `None` when it failed.
async fn read(api: &Api<Lease>, settings: &Settings) -> Option<Verdict> {
    let got = tokio::time::timeout(settings.timings.retry_period, api.get_opt(&settings.lease_name)).await;
    match got {
        Ok(Ok(lease)) => Some(verdict(lease.and_then(|l| l.spec).as_ref(), &settings.identity, settings.timings.renew_deadline)),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "reading the leader Lease failed");
            None
        }
        Err(_) => {
            tracing::debug!("reading the leader Lease timed out");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn timings_must_stop_the_leader_before_anyone_else_may_start() {
        assert!(Timings::new(secs(15), secs(10), secs(2)).is_ok());
        assert!(matches!(Timings::new(secs(10), secs(10), secs(2)), Err(TimingsError::DeadlineNotBeforeExpiry { .. })));
        assert!(matches!(Timings::new(secs(10), secs(12), secs(2)), Err(TimingsError::DeadlineNotBeforeExpiry { .. })));
        assert!(matches!(Timings::new(secs(15), secs(10), secs(10)), Err(TimingsError::RetryNotBeforeDeadline { .. })));
        assert_eq!(Timings::new(secs(15), secs(10), Duration::from_millis(1500)), Err(TimingsError::NotWholeSeconds));
        assert_eq!(Timings::new(secs(15), secs(10), Duration::ZERO), Err(TimingsError::NotWholeSeconds));
    }

    #[test]
    fn the_lease_manager_renews_one_retry_period_after_the_last_renewal() {
        // LeaseParams panics on grace >= duration or zero values; valid Timings never do that.
        for (lease, renew, retry) in [(15, 10, 2), (3, 2, 1), (60, 59, 58)] {
            let t = Timings::new(secs(lease), secs(renew), secs(retry)).unwrap();
            let p = t.params("me");
            assert_eq!(p, LeaseParams::new("me", lease, lease - retry));
        }
    }

    fn spec(holder: Option<&str>, renewed: Option<SystemTime>) -> LeaseSpec {
        LeaseSpec {
            holder_identity: holder.map(String::from),
            renew_time: renewed.map(|t| MicroTime(t.try_into().unwrap())),
            lease_duration_seconds: Some(15),
            ..Default::default()
        }
    }

    #[test]
    fn a_lease_is_ours_until_our_last_renewal_plus_the_renew_deadline() {
        let renewed = SystemTime::UNIX_EPOCH + secs(1_800_000_000);
        assert_eq!(verdict(Some(&spec(Some("me"), Some(renewed))), "me", secs(10)), Verdict::Held(renewed + secs(10)));
        assert_eq!(verdict(Some(&spec(Some("you"), Some(renewed))), "me", secs(10)), Verdict::NotHeld(Lost::TakenBy("you".into())));
        assert_eq!(verdict(Some(&spec(None, None)), "me", secs(10)), Verdict::NotHeld(Lost::Released));
        assert_eq!(verdict(None, "me", secs(10)), Verdict::NotHeld(Lost::Released));
        assert_eq!(verdict(Some(&spec(Some("me"), None)), "me", secs(10)), Verdict::NotHeld(Lost::NotRenewed));
    }

    #[test]
    fn identities_differ_per_process_start() {
        let (a, b) = (identity(), identity());
        assert_ne!(a, b);
        assert!(a.len() > 9 && a.contains('_'), "{a}");
    }
}
