//! Sends what [`stages`](super::stages) says is due, once per stage: every policy that selects
//! a connection gets its notices, delivered to each receiver with retries and backoff, and what
//! was sent is recorded in `status.notifications` (server-side apply under a field manager of
//! its own), so that a restart does not send it again.
//!
//! Reconcile calls [`Outbox::offer`] with the stored status on every pass (a status it writes
//! comes back through the watch, and a restarted operator catches up at once); delivery runs in
//! a task of its own so that a slow mail server never holds a reconcile. One task per
//! connection at a time.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use kube::core::{Selector, SelectorExt};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use tokio_util::sync::CancellationToken;

use super::message::{self, Subject};
use super::stages::{self, BreakReason, Facts, Health, Schedule};
use super::{DeliveryObserver, ReceiverKind, SendError, slack, smtp, webhook};
use crate::api::{NotificationRecord, OWNER_ANNOTATION, Receiver, SocialConnection, SocialConnectionStatus, SocialNotificationPolicy};
use crate::conditions::{ConditionType, find};
use crate::redact::SecretString;

/// The field manager of `status.notifications` (the reconcile's status writes leave it out).
pub const FIELD_MANAGER: &str = "social-connection-operator-notify";

/// How deliveries are retried.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// First delay.
    pub min_delay: Duration,
    /// Largest delay.
    pub max_delay: Duration,
    /// Retries after the first attempt.
    pub retries: usize,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { min_delay: Duration::from_secs(2), max_delay: Duration::from_secs(60), retries: 6 }
    }
}

/// Events recorded on a SocialNotificationPolicy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PolicyEvent {
    /// A receiver did not accept a notice after every retry.
    NotificationFailed,
}

impl PolicyEvent {
    const fn reason(self) -> &'static str {
        match self {
            PolicyEvent::NotificationFailed => "NotificationFailed",
        }
    }
}

/// A receiver with its Secret read.
enum Target {
    Webhook { url: SecretString, key: SecretString },
    Slack { url: SecretString },
    Email(smtp::SmtpSettings),
}

/// The notifier: policy caches, delivery and records.
pub struct Outbox {
    client: Client,
    http: reqwest::Client,
    recorder: Recorder,
    policies: Vec<Store<SocialNotificationPolicy>>,
    observer: Arc<dyn DeliveryObserver>,
    retry: RetryPolicy,
    /// Connections (uid) with a delivery task running.
    busy: Mutex<HashSet<String>>,
    /// The records this process wrote last, per connection uid: newer than a status that the
    /// watch has not brought yet.
    written: Mutex<HashMap<String, Vec<NotificationRecord>>>,
    /// Receivers that already accepted a notice not yet delivered to all of the policy's
    /// receivers, by `<uid>/<policy>/<stage key>`: a retry skips them.
    delivered: Mutex<HashMap<String, HashSet<String>>>,
    /// Cancelled when this process stops leading: every delivery task ends at once.
    stop: CancellationToken,
}

/// Policies handled per connection at most (the length limit of `status.notifications`).
pub const MAX_POLICIES_PER_CONNECTION: usize = 32;

/// The caches of the SocialNotificationPolicy watches, and the stream of policies that changed
/// (the controller wakes the connections of their namespace, so that a policy created or edited
/// after its connections were last reconciled is applied at once, not at their next check).
pub struct PolicyWatches {
    /// One cache per scope.
    pub stores: Vec<Store<SocialNotificationPolicy>>,
    /// Every policy as it was applied (created, changed, or listed when a watch started).
    pub changed: futures::channel::mpsc::UnboundedReceiver<SocialNotificationPolicy>,
}

/// Starts a SocialNotificationPolicy watch for every scope (`None`: all namespaces). The
/// watches end when `stop` is cancelled (this process stopped leading).
pub fn watch_policies(client: &Client, scopes: &[Option<String>], stop: &CancellationToken) -> PolicyWatches {
    let (tx, changed) = futures::channel::mpsc::unbounded();
    let stores = scopes
        .iter()
        .map(|ns| {
            let api: Api<SocialNotificationPolicy> = match ns {
                Some(n) => Api::namespaced(client.clone(), n),
                None => Api::all(client.clone()),
            };
            let (reader, writer) = reflector::store();
            let stream = reflector::reflector(writer, watcher(api, watcher::Config::default())).default_backoff().applied_objects();
            let tx = tx.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let watching = stream.for_each(|r| {
                    match r {
                        // Applied to the cache first (reflector), so the woken
                        // connections see the policy.
                        Ok(policy) => {
                            // The controller has stopped when nobody receives.
                            let _ = tx.unbounded_send(policy);
                        }
                        Err(e) => tracing::warn!(error = %e, "watching SocialNotificationPolicies failed; retrying"),
                    }
                    std::future::ready(())
                });
                tokio::select! {
                    () = stop.cancelled() => {}
                    () = watching => {}
                }
            });
            reader
        })
        .collect();
    PolicyWatches { stores, changed }
}

fn split_addresses(s: &str) -> impl Iterator<Item = String> + '_ {
    s.split(',').map(str::trim).filter(|a| !a.is_empty()).map(str::to_string)
}

/// What the status says, as stage facts.
pub fn facts(status: &SocialConnectionStatus) -> Facts {
    let health = match find(&status.conditions, ConditionType::Ready) {
        Some(c) if c.status == "True" => Health::Ready,
        Some(c) if c.status == "False" => BreakReason::from_ready_reason(&c.reason).map_or(Health::Undetermined, Health::Broken),
        _ => Health::Undetermined,
    };
    // status.renewalTime is set exactly while an automatic refresh will renew the token: then
    // the expiry is not one a person must prevent.
    Facts { health, expires_at: status.expires_at.as_ref().map(|t| t.0), refresh_renews: status.renewal_time.is_some() }
}

impl Outbox {
    /// A notifier over the given policy caches.
    pub fn new(
        client: Client,
        recorder: Recorder,
        policies: Vec<Store<SocialNotificationPolicy>>,
        observer: Arc<dyn DeliveryObserver>,
        retry: RetryPolicy,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(20))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(crate::providers::http::USER_AGENT)
            .build()?;
        Ok(Outbox {
            client,
            http,
            recorder,
            policies,
            observer,
            retry,
            busy: Mutex::default(),
            written: Mutex::default(),
            delivered: Mutex::default(),
            stop: CancellationToken::new(),
        })
    }

    /// Ends every delivery task, running or future, when `stop` is cancelled: a process that
    /// stopped leading sends nothing more (leader election).
    pub fn stopped_by(mut self, stop: CancellationToken) -> Self {
        self.stop = stop;
        self
    }

    /// The policies of the connection's namespace whose selector matches its labels.
    fn matching(&self, conn: &SocialConnection) -> Vec<Arc<SocialNotificationPolicy>> {
        let ns = conn.namespace();
        let labels = conn.labels();
        let mut out: Vec<Arc<SocialNotificationPolicy>> = self
            .policies
            .iter()
            .flat_map(|s| s.state())
            .filter(|p| p.namespace() == ns)
            .filter(|p| match Selector::try_from(p.spec.selector.clone().unwrap_or_default()) {
                Ok(sel) => sel.matches(labels),
                Err(e) => {
                    tracing::warn!(policy = %p.name_any(), error = %e, "SocialNotificationPolicy has an invalid selector; it selects nothing");
                    false
                }
            })
            .collect();
        out.sort_by_key(|p| p.name_any());
        if out.len() > MAX_POLICIES_PER_CONNECTION {
            tracing::warn!(
                namespace = ns.as_deref().unwrap_or_default(), name = %conn.name_any(), policies = out.len(),
                "more SocialNotificationPolicies select this connection than its status can record; only the first {MAX_POLICIES_PER_CONNECTION} by name send notices"
            );
            out.truncate(MAX_POLICIES_PER_CONNECTION);
        }
        out
    }

    /// Looks at a connection's stored status and sends what is due. Returns at once; delivery
    /// runs in its own task.
    pub fn offer(self: &Arc<Self>, conn: &SocialConnection) {
        let policies = self.matching(conn);
        if policies.is_empty() && conn.status.as_ref().is_none_or(|s| s.notifications.is_empty()) {
            return;
        }
        let Some(uid) = conn.uid() else { return };
        // The running task decides from a status at most one pass older; the next pass
        // catches up.
        if let Ok(mut busy) = self.busy.lock()
            && !busy.insert(uid.clone())
        {
            return;
        }
        let this = self.clone();
        let conn = conn.clone();
        tokio::spawn(async move {
            // Dropping the delivery mid-way is safe: only a recorded notice counts as sent,
            // and the next leader sends what is not recorded.
            tokio::select! {
                () = this.stop.cancelled() => return,
                () = this.process(&conn, &policies) => {}
            }
            if let Ok(mut busy) = this.busy.lock() {
                busy.remove(&uid);
            }
        });
    }

    async fn process(&self, conn: &SocialConnection, policies: &[Arc<SocialNotificationPolicy>]) {
        let (Some(ns), Some(uid)) = (conn.namespace(), conn.uid()) else { return };
        let status = conn.status.clone().unwrap_or_default();
        let known: Vec<NotificationRecord> = match self.written.lock() {
            Ok(w) => w.get(&uid).cloned().unwrap_or_else(|| status.notifications.clone()),
            Err(_) => status.notifications.clone(),
        };
        let facts = facts(&status);
        let subject = Subject {
            namespace: ns.clone(),
            name: conn.name_any(),
            uid: uid.clone(),
            provider: conn.spec.provider,
            account_id: conn.spec.account.id.clone(),
            display_name: conn.spec.account.display_name.clone(),
            required_role: conn.spec.required_role,
            missing_scopes: status.missing_scopes.clone(),
            reconnect_url: status.reauthorization_url.clone(),
        };
        let owners: Vec<String> = conn.annotations().get(OWNER_ANNOTATION).map(|s| split_addresses(s).collect()).unwrap_or_default();

        let mut records = Vec::with_capacity(policies.len());
        for policy in policies {
            let name = policy.name_any();
            let mut rec =
                known.iter().find(|r| r.policy == name).cloned().unwrap_or(NotificationRecord { policy: name, ..Default::default() });
            let schedule = Schedule { warning_days: policy.spec.expiry_warning_days(), repeat_every: policy.spec.repeat_every() };
            let mut recipients = owners.clone();
            for r in &policy.spec.recipients {
                if !recipients.contains(r) {
                    recipients.push(r.clone());
                }
            }
            // A recovery can be followed by a warning about the new token; never more.
            for _ in 0..3 {
                let now = Timestamp::now();
                let Some((stage, after)) = stages::next(now, &facts, &schedule, &rec) else { break };
                let msg = message::render(&stage, &subject, &recipients, now);
                let key = format!("{uid}/{}/{}", rec.policy, stage.key());
                if !self.deliver(policy, &msg, &recipients, stage.name(), &subject, &key).await {
                    break;
                }
                tracing::info!(namespace = %ns, name = %subject.name, policy = %rec.policy, stage = stage.name(), "notice sent");
                rec = after;
            }
            records.push(rec);
        }
        if records == known {
            return;
        }
        let patch = serde_json::json!({
            "apiVersion": "social.connections.dev/v1alpha1",
            "kind": "SocialConnection",
            "status": { "notifications": records },
        });
        let api: Api<SocialConnection> = Api::namespaced(self.client.clone(), &ns);
        match api.patch_status(&subject.name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch)).await {
            Ok(_) => {}
            Err(e) => tracing::warn!(namespace = %ns, name = %subject.name, error = %e, "recording sent notices failed"),
        }
        // Kept even when the write failed: what was sent must not be sent again by this process.
        if let Ok(mut w) = self.written.lock() {
            w.insert(uid, records);
        }
    }

    /// Delivers to every receiver of the policy; true when all accepted.
    async fn deliver(
        &self,
        policy: &SocialNotificationPolicy,
        msg: &message::Message,
        recipients: &[String],
        stage: &'static str,
        subject: &Subject,
        key: &str,
    ) -> bool {
        let mut all = true;
        let done = |name: &str| self.delivered.lock().is_ok_and(|d| d.get(key).is_some_and(|s| s.contains(name)));
        for receiver in &policy.spec.receivers {
            if done(&receiver.name) {
                continue;
            }
            let kind = kind_of(receiver);
            let result = match self.target(policy, receiver).await {
                Ok(target) => {
                    let attempt = || self.send_once(&target, msg, recipients);
                    attempt
                        .retry(
                            ExponentialBuilder::default()
                                .with_min_delay(self.retry.min_delay)
                                .with_max_delay(self.retry.max_delay)
                                .with_max_times(self.retry.retries)
                                .with_jitter(),
                        )
                        .when(SendError::is_retryable)
                        .await
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => {
                    self.observer.sent(kind, stage);
                    if let Ok(mut d) = self.delivered.lock() {
                        d.entry(key.to_string()).or_default().insert(receiver.name.clone());
                    }
                }
                Err(e) => {
                    all = false;
                    self.observer.failed(kind, stage);
                    tracing::warn!(policy = %policy.name_any(), receiver = %receiver.name, kind = kind.as_str(), error = %e, "notice not delivered");
                    let note = format!(
                        "receiver {:?} ({}) did not accept the {stage} notice about SocialConnection {}: {e}",
                        receiver.name,
                        kind.as_str(),
                        subject.name
                    );
                    let event = Event {
                        type_: EventType::Warning,
                        reason: PolicyEvent::NotificationFailed.reason().to_string(),
                        note: Some(note.chars().take(900).collect()),
                        action: "Notify".to_string(),
                        secondary: None,
                    };
                    if let Err(e) = self.recorder.publish(&event, &policy.object_ref(&())).await {
                        tracing::warn!(policy = %policy.name_any(), error = %e, "recording an event failed");
                    }
                }
            }
        }
        if all && let Ok(mut d) = self.delivered.lock() {
            d.remove(key);
        }
        all
    }

    async fn send_once(&self, target: &Target, msg: &message::Message, recipients: &[String]) -> Result<(), SendError> {
        match target {
            Target::Webhook { url, key } => webhook::send(&self.http, url, key, &msg.json).await,
            Target::Slack { url } => slack::send(&self.http, url, msg).await,
            Target::Email(settings) => smtp::send(settings, recipients, msg).await,
        }
    }

    /// Reads the receiver's Secret (on demand, never cached).
    async fn target(&self, policy: &SocialNotificationPolicy, receiver: &Receiver) -> Result<Target, SendError> {
        let ns = policy.namespace().unwrap_or_default();
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &ns);
        let secret_name = match (&receiver.webhook, &receiver.slack, &receiver.email) {
            (Some(w), _, _) => &w.secret_ref.name,
            (_, Some(s), _) => &s.secret_ref.name,
            (_, _, Some(e)) => &e.secret_ref.name,
            _ => return Err(SendError::Config(format!("receiver {:?} names no webhook, slack or email", receiver.name))),
        };
        let secret = match api.get_opt(secret_name).await {
            Ok(Some(s)) => s,
            Ok(None) => return Err(SendError::Config(format!("Secret {secret_name:?} does not exist in namespace {ns:?}"))),
            Err(e) => return Err(SendError::Transient(format!("reading Secret {secret_name:?} failed: {e}"))),
        };
        let data: BTreeMap<_, _> = secret.data.unwrap_or_default();
        let get = |key: &str| -> Result<SecretString, SendError> {
            data.get(key)
                .map(|b| String::from_utf8_lossy(&b.0).trim().to_string())
                .filter(|s| !s.is_empty())
                .map(SecretString::new)
                .ok_or_else(|| SendError::Config(format!("Secret {secret_name:?} has no key {key:?}")))
        };
        match kind_of(receiver) {
            ReceiverKind::Webhook => Ok(Target::Webhook { url: checked_url(get("url")?, secret_name)?, key: get("signingKey")? }),
            ReceiverKind::Slack => Ok(Target::Slack { url: checked_url(get("url")?, secret_name)? }),
            ReceiverKind::Email => Ok(Target::Email(smtp::SmtpSettings::from_secret(secret_name, &data)?)),
        }
    }
}

fn kind_of(receiver: &Receiver) -> ReceiverKind {
    if receiver.webhook.is_some() {
        ReceiverKind::Webhook
    } else if receiver.slack.is_some() {
        ReceiverKind::Slack
    } else {
        ReceiverKind::Email
    }
}

/// An http(s) URL, or a configuration error that does not show the value.
fn checked_url(url: SecretString, secret: &str) -> Result<SecretString, SendError> {
    match url::Url::parse(url.expose()) {
        Ok(u) if u.scheme() == "https" || u.scheme() == "http" => Ok(url),
        _ => Err(SendError::Config(format!("Secret {secret:?} key \"url\" is not an http(s) URL"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

    fn status(ready: &str, reason: &str) -> SocialConnectionStatus {
        SocialConnectionStatus {
            conditions: vec![Condition {
                type_: "Ready".into(),
                status: ready.into(),
                reason: reason.into(),
                message: String::new(),
                observed_generation: None,
                last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Timestamp::UNIX_EPOCH),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn facts_read_health_from_the_ready_condition() {
        assert_eq!(facts(&status("True", "AllChecksPassed")).health, Health::Ready);
        assert_eq!(facts(&status("False", "AppDeauthorized")).health, Health::Broken(BreakReason::AppDeauthorized));
        assert_eq!(facts(&status("False", "SecretNotFound")).health, Health::Undetermined);
        assert_eq!(facts(&status("Unknown", "ProviderUnavailable")).health, Health::Undetermined);
        assert_eq!(facts(&SocialConnectionStatus::default()).health, Health::Undetermined);
    }

    #[test]
    fn an_expiry_that_an_automatic_refresh_renews_is_not_one_to_warn_about() {
        let mut st = status("True", "AllChecksPassed");
        assert!(!facts(&st).refresh_renews, "no renewalTime: a person must renew it");
        st.renewal_time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time("2026-06-05T00:00:00Z".parse().unwrap()));
        assert!(facts(&st).refresh_renews);
    }

    #[test]
    fn owner_annotations_list_addresses_separated_by_commas() {
        assert_eq!(split_addresses(" a@x.test, ,b@x.test ").collect::<Vec<_>>(), vec!["a@x.test", "b@x.test"]);
    }

    #[test]
    fn receiver_urls_must_be_http_and_errors_do_not_show_them() {
        let e = checked_url(SecretString::new("ftp://hooks.example/T0/secret-path"), "hook").err().unwrap();
        assert!(!e.to_string().contains("secret-path"));
        assert!(checked_url(SecretString::new("https://hooks.example/x"), "hook").is_ok());
    }
}
