//! Readiness: the health of the controller's watches, for `/readyz` and the logs.
//!
//! A watch is ready once it has listed; it is failing from an error until it shows a sign of
//! life again. kube's watcher resumes a broken watch silently (a re-established watch with no
//! change emits nothing), so "recovered" cannot always be observed: a watch also counts as
//! healthy again when no error has come for [`FAILING_WINDOW`]. The watcher retries at least
//! every 30 s while the API server is down (kube-runtime's default backoff caps at 30 s), so
//! an outage keeps the watch failing without gaps.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kube::runtime::watcher;

/// How long after its last error a watch that showed no sign of life still counts as failing.
pub const FAILING_WINDOW: Duration = Duration::from_secs(60);

/// The state of one watch.
#[derive(Debug, Default, Clone)]
struct WatchState {
    listed: bool,
    last_error: Option<Instant>,
    last_ok: Option<Instant>,
    error: Option<String>,
}

/// One watch's health, shared between its stream and the readiness endpoint.
#[derive(Debug, Clone)]
pub struct WatchHandle {
    name: &'static str,
    state: Arc<Mutex<WatchState>>,
}

impl WatchHandle {
    /// Records one item of the watch stream: an error marks it failing (logged at warning
    /// level, once per failure episode and then at debug), anything else marks it alive, and
    /// the end of the initial list marks it ready.
    pub fn observe<K>(&self, item: &Result<watcher::Event<K>, watcher::Error>) {
        let now = Instant::now();
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match item {
            Err(e) => {
                let first = !is_failing(&s, now);
                s.last_error = Some(now);
                s.error = Some(e.to_string());
                if first {
                    tracing::warn!(watch = self.name, error = %e, "watch failing; retrying with backoff");
                } else {
                    tracing::debug!(watch = self.name, error = %e, "watch still failing");
                }
            }
            Ok(ev) => {
                if is_failing(&s, now) {
                    tracing::info!(watch = self.name, "watch recovered");
                }
                s.last_ok = Some(now);
                s.error = None;
                if matches!(ev, watcher::Event::InitDone) {
                    s.listed = true;
                }
            }
        }
    }
}

fn is_failing(s: &WatchState, now: Instant) -> bool {
    match s.last_error {
        None => false,
        Some(err) => s.last_ok.is_none_or(|ok| ok < err) && now.saturating_duration_since(err) < FAILING_WINDOW,
    }
}

/// The health of every watch of the process.
#[derive(Debug, Clone, Default)]
pub struct WatchHealth {
    watches: Arc<Mutex<Vec<WatchHandle>>>,
}

/// Why the process is not ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotReady {
    /// A watch has not finished its first list.
    NotListed(&'static str),
    /// A watch is failing; the text is its last error.
    Failing(&'static str, String),
    /// Leader election is on and the leader Lease could not be set up yet.
    Starting,
}

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotReady::NotListed(w) => write!(f, "watch {w} has not listed yet"),
            NotReady::Failing(w, e) => write!(f, "watch {w} is failing: {e}"),
            NotReady::Starting => f.write_str("setting up leader election: the leader Lease was not read yet"),
        }
    }
}

impl WatchHealth {
    /// Registers a watch under a fixed name (such as `socialconnections`).
    pub fn register(&self, name: &'static str) -> WatchHandle {
        let handle = WatchHandle { name, state: Arc::default() };
        self.watches.lock().unwrap_or_else(|p| p.into_inner()).push(handle.clone());
        handle
    }

    /// `Ok` when every watch has listed and none is failing.
    pub fn readiness(&self) -> Result<(), NotReady> {
        let now = Instant::now();
        let watches = self.watches.lock().unwrap_or_else(|p| p.into_inner());
        for w in watches.iter() {
            let s = w.state.lock().unwrap_or_else(|p| p.into_inner());
            if is_failing(&s, now) {
                return Err(NotReady::Failing(w.name, s.error.clone().unwrap_or_default()));
            }
            if !s.listed {
                return Err(NotReady::NotListed(w.name));
            }
        }
        Ok(())
    }
}

/// The process's role, for `/readyz`.
#[derive(Debug, Clone, Default)]
enum Phase {
    /// Leader election is setting up.
    #[default]
    Starting,
    /// Another replica leads; this one waits to take over.
    Standby,
    /// This process reconciles; its watches decide.
    Leading(WatchHealth),
}

/// What `/readyz` answers: a leader is ready when its watches are (see [`WatchHealth`]); a
/// replica standing by is ready once it reached the API server (it read the leader Lease):
/// it runs no watches, and a rolling update needs the new replica Ready while the old one
/// still leads.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    phase: Arc<Mutex<Phase>>,
}

impl Readiness {
    fn set(&self, p: Phase) {
        *self.phase.lock().unwrap_or_else(|p| p.into_inner()) = p;
    }

    /// This process stands by.
    pub fn standby(&self) {
        self.set(Phase::Standby);
    }

    /// This process leads with these watches.
    pub fn leading(&self, watches: WatchHealth) {
        self.set(Phase::Leading(watches));
    }

    /// `Ok` with the role (`ready` for the leader, `standby`), or why the process is not ready.
    pub fn check(&self) -> Result<&'static str, NotReady> {
        let phase = self.phase.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match phase {
            Phase::Starting => Err(NotReady::Starting),
            Phase::Standby => Ok("standby"),
            Phase::Leading(w) => w.readiness().map(|()| "ready"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    fn err() -> Result<watcher::Event<ConfigMap>, watcher::Error> {
        Err(watcher::Error::NoResourceVersion)
    }

    #[test]
    fn a_watch_is_ready_only_after_its_first_list() {
        let h = WatchHealth::default();
        let w = h.register("things");
        assert_eq!(h.readiness(), Err(NotReady::NotListed("things")));
        w.observe::<ConfigMap>(&Ok(watcher::Event::Init));
        assert_eq!(h.readiness(), Err(NotReady::NotListed("things")));
        w.observe::<ConfigMap>(&Ok(watcher::Event::InitDone));
        assert_eq!(h.readiness(), Ok(()));
    }

    #[test]
    fn an_error_makes_the_process_unready_until_the_watch_shows_life() {
        let h = WatchHealth::default();
        let w = h.register("things");
        w.observe::<ConfigMap>(&Ok(watcher::Event::InitDone));
        w.observe(&err());
        assert!(matches!(h.readiness(), Err(NotReady::Failing("things", _))));
        w.observe::<ConfigMap>(&Ok(watcher::Event::Init));
        assert_eq!(h.readiness(), Ok(()));
    }

    #[test]
    fn an_old_error_no_longer_counts_as_failing() {
        let now = Instant::now();
        let Some(long_ago) = now.checked_sub(FAILING_WINDOW + Duration::from_secs(1)) else { return };
        let s = WatchState { listed: true, last_error: Some(long_ago), last_ok: None, error: Some("x".into()) };
        assert!(!is_failing(&s, now));
        let s = WatchState { last_error: Some(now), ..s };
        assert!(is_failing(&s, now));
    }

    #[test]
    fn a_standby_is_ready_and_a_leader_as_ready_as_its_watches() {
        let r = Readiness::default();
        assert_eq!(r.check(), Err(NotReady::Starting));
        r.standby();
        assert_eq!(r.check(), Ok("standby"));
        let h = WatchHealth::default();
        let w = h.register("things");
        r.leading(h);
        assert_eq!(r.check(), Err(NotReady::NotListed("things")));
        w.observe::<ConfigMap>(&Ok(watcher::Event::InitDone));
        assert_eq!(r.check(), Ok("ready"));
    }

    #[test]
    fn every_watch_must_be_ready() {
        let h = WatchHealth::default();
        let a = h.register("a");
        let _b = h.register("b");
        a.observe::<ConfigMap>(&Ok(watcher::Event::InitDone));
        assert_eq!(h.readiness(), Err(NotReady::NotListed("b")));
    }
}
