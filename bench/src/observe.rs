//! What the bench watches while the operator works: every connection's status (through a watch
//! of its own) and every call the fake providers receive (polled, with arrival times).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use social_connection_operator::api::SocialConnection;
use tokio::sync::Notify;

/// The label every benchmark connection carries.
pub const CONNECTION_LABEL: &str = "sco-bench=connection";
/// The label of the baseline's objects.
pub const BASELINE_LABEL: &str = "sco-bench=baseline";

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the bench last saw of one connection.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    /// When the operator's first status (one with `observedGeneration`) arrived.
    pub first_status: Option<Instant>,
    /// Ready condition status of the latest status.
    pub ready: Option<String>,
    /// `status.tokenFingerprint` of the latest status, and when it arrived.
    pub fingerprint: Option<(String, Instant)>,
}

/// The connections' statuses as a watch delivers them.
#[derive(Default)]
pub struct StatusBoard {
    seen: Mutex<HashMap<String, Seen>>,
    changed: Notify,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl StatusBoard {
    /// Starts watching every benchmark connection in the cluster.
    pub fn watch(client: Client) -> Arc<StatusBoard> {
        Self::watch_labelled(client, CONNECTION_LABEL)
    }

    /// Starts watching the objects with `label` (the baseline's are watched the same way, so
    /// that both phases are timed until a watcher has seen every status, and the API server
    /// serves one observer in both).
    pub fn watch_labelled(client: Client, label: &'static str) -> Arc<StatusBoard> {
        let board = Arc::new(StatusBoard::default());
        let b = board.clone();
        let task = tokio::spawn(async move {
            let api: Api<SocialConnection> = Api::all(client);
            let mut stream = watcher(api, watcher::Config::default().labels(label)).default_backoff().boxed();
            while let Some(ev) = stream.next().await {
                let obj = match ev {
                    Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => o,
                    _ => continue,
                };
                b.observe(&obj);
            }
        });
        *lock(&board.task) = Some(task);
        board
    }

    /// Stops the watch.
    pub fn stop(&self) {
        if let Some(task) = lock(&self.task).take() {
            task.abort();
        }
    }

    /// The latest first status seen.
    pub fn last_first_status(&self) -> Option<Instant> {
        lock(&self.seen).values().filter_map(|s| s.first_status).max()
    }

    fn observe(&self, obj: &SocialConnection) {
        let Some(st) = obj.status.as_ref().filter(|s| s.observed_generation.is_some()) else { return };
        let now = Instant::now();
        let key = format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any());
        let mut seen = lock(&self.seen);
        let e = seen.entry(key).or_default();
        e.first_status.get_or_insert(now);
        e.ready = st.conditions.iter().find(|c| c.type_ == "Ready").map(|c| c.status.clone());
        if let Some(fp) = &st.token_fingerprint
            && e.fingerprint.as_ref().is_none_or(|(old, _)| old != fp)
        {
            e.fingerprint = Some((fp.clone(), now));
        }
        drop(seen);
        self.changed.notify_waiters();
    }

    /// A copy of what was seen so far.
    pub fn snapshot(&self) -> HashMap<String, Seen> {
        lock(&self.seen).clone()
    }

    /// Waits until `pred` holds for the seen statuses, or `timeout` passes; true if it held.
    pub async fn wait(&self, timeout: Duration, pred: impl Fn(&HashMap<String, Seen>) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            if pred(&lock(&self.seen)) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let _ = tokio::time::timeout(left.min(Duration::from_millis(200)), notified).await;
        }
    }
}

/// One call a fake provider received.
#[derive(Clone, Debug)]
pub struct Call {
    /// When the poller took it (at most [`POLL`] after it arrived).
    pub at: Instant,
    /// The access token it carried, when one was found.
    pub token: Option<String>,
    /// The fake refused it as a contract violation.
    pub violation: bool,
}

/// How often the fakes' records are drained.
pub const POLL: Duration = Duration::from_millis(100);

/// Every provider call, with its arrival time.
#[derive(Default)]
pub struct ProviderTape {
    calls: Mutex<Vec<Call>>,
}

fn token_of(r: &fake_providers::RecordedRequest) -> Option<String> {
    r.query_param("access_token")
        .or_else(|| r.query_param("input_token"))
        .or_else(|| r.form_param("token"))
        .or_else(|| r.header("authorization").and_then(|h| h.strip_prefix("Bearer ")))
        .map(str::to_string)
}

impl ProviderTape {
    /// Starts draining the fakes every [`POLL`].
    pub fn record(fakes: Arc<fake_providers::FakeProviders>) -> Arc<ProviderTape> {
        let tape = Arc::new(ProviderTape::default());
        let t = tape.clone();
        tokio::spawn(async move {
            loop {
                let now = Instant::now();
                let mut new = Vec::new();
                for p in fake_providers::PROVIDERS {
                    new.extend(fakes.take_requests(p).into_iter().map(|r| Call {
                        at: now,
                        token: token_of(&r),
                        violation: r.fake_error.is_some(),
                    }));
                }
                lock(&t.calls).extend(new);
                tokio::time::sleep(POLL).await;
            }
        });
        tape
    }

    /// Calls taken in `[from, to)`.
    pub fn between(&self, from: Instant, to: Instant) -> Vec<Call> {
        lock(&self.calls).iter().filter(|c| c.at >= from && c.at < to).cloned().collect()
    }

    /// Every call so far.
    pub fn all(&self) -> Vec<Call> {
        lock(&self.calls).clone()
    }
}
