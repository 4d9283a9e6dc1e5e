//! Revoke on delete (providers.md §2.8): the finalizer `social.connections.dev/revoke` sits on a
//! connection exactly while `spec.revokeOnDelete` is true; when such a connection is deleted the
//! provider's revoke call runs once, transient answers are retried until `--revoke-timeout`
//! after the deletion request, one Event says how it ended, and the finalizer is released.
//! The Secrets are only read, never written or deleted. The rules are
//! [`super::policy::revoke`]'s; this module does the I/O.

use std::collections::HashMap;
use std::sync::Mutex;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::Context;
use super::events::Notice;
use super::policy::revoke::{self, Attempt, FinalizerChange, Next};
use super::reconcile::get_secret;
use crate::api::{REVOKE_FINALIZER, SocialConnection};
use crate::error::Result;
use crate::providers::http::ProviderCall;
use crate::providers::{self, AppCredentials, CheckInput, RevokeOutcome};
use crate::secrets;
use crate::server::metrics::RevokeResult;

/// Revokes in progress, by object uid: transient answers in a row, and whether the final Event
/// was recorded (so that a failed finalizer release neither calls the provider nor records the
/// Event again). Forgotten when the finalizer is released.
#[derive(Debug, Default)]
pub struct Revocations {
    by_uid: Mutex<HashMap<String, Progress>>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Progress {
    transient: u32,
    finished: bool,
}

impl Revocations {
    fn get(&self, uid: &str) -> Progress {
        self.lock().get(uid).copied().unwrap_or_default()
    }

    fn set(&self, uid: &str, p: Progress) {
        self.lock().insert(uid.to_string(), p);
    }

    fn forget(&self, uid: &str) {
        self.lock().remove(uid);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Progress>> {
        self.by_uid.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Whether the connection carries the revoke finalizer.
pub fn has_finalizer(obj: &SocialConnection) -> bool {
    obj.finalizers().iter().any(|f| f == REVOKE_FINALIZER)
}

/// Adds or removes the finalizer so that it is present exactly while `spec.revokeOnDelete` is
/// true (a connection that is not being deleted).
pub async fn ensure(api: &Api<SocialConnection>, obj: &SocialConnection) -> Result<()> {
    match revoke::finalizer_change(obj.spec.revokes_on_delete(), has_finalizer(obj)) {
        FinalizerChange::Keep => Ok(()),
        FinalizerChange::Add => add(api, obj).await,
        FinalizerChange::Remove => release(api, obj).await,
    }
}

/// Handles a connection that is being deleted: nothing is checked or refreshed any more. With
/// the finalizer, revokes (or retries a transient answer), records the Event and releases it.
pub async fn on_delete(obj: &SocialConnection, ctx: &Context, deleted_at: Timestamp) -> Result<Action> {
    if !has_finalizer(obj) {
        // Another finalizer holds the object; ours is done or was never there.
        return Ok(Action::await_change());
    }
    let api: Api<SocialConnection> = Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    let uid = obj.uid().unwrap_or_default();
    if !obj.spec.revokes_on_delete() {
        // revokeOnDelete was turned off after the deletion request: let go without revoking.
        release(&api, obj).await?;
        ctx.revocations.forget(&uid);
        return Ok(Action::await_change());
    }
    let mut progress = ctx.revocations.get(&uid);
    if !progress.finished {
        let outcome = revoke_once(obj, ctx).await?;
        if matches!(outcome, RevokeOutcome::Interrupted(_)) {
            progress.transient = progress.transient.saturating_add(1);
        }
        let attempt = Attempt {
            elapsed: super::schedule::duration_between(deleted_at, Timestamp::now()),
            bound: ctx.revoke_timeout,
            transient_in_a_row: progress.transient,
            jitter: rand::random::<f64>(),
        };
        let next = revoke::next(outcome, &attempt);
        ctx.metrics.revoked(obj.spec.provider, result_label(&next));
        match next {
            Next::Retry(wait) => {
                tracing::info!(
                    namespace = %obj.namespace().unwrap_or_default(), name = %obj.name_any(), provider = %obj.spec.provider,
                    attempts = progress.transient, retry_in_s = wait.as_secs(), "revoke answered transiently; retrying"
                );
                ctx.revocations.set(&uid, progress);
                return Ok(Action::requeue(wait));
            }
            Next::Finish(notice) => {
                tracing::info!(
                    namespace = %obj.namespace().unwrap_or_default(), name = %obj.name_any(), provider = %obj.spec.provider,
                    outcome = notice.reason(), "revoke on delete done; releasing the finalizer"
                );
                if let Err(e) = ctx.recorder.publish(&notice.to_event(), &obj.object_ref(&())).await {
                    tracing::warn!(name = %obj.name_any(), reason = notice.reason(), error = %e, "recording an event failed");
                }
                progress.finished = true;
                ctx.revocations.set(&uid, progress);
            }
        }
    }
    release(&api, obj).await?;
    ctx.revocations.forget(&uid);
    Ok(Action::await_change())
}

/// The metric result of a revoke attempt.
fn result_label(next: &Next) -> RevokeResult {
    match next {
        Next::Retry(_) => RevokeResult::Transient,
        Next::Finish(Notice::TokenRevoked { .. }) => RevokeResult::Revoked,
        Next::Finish(Notice::RevokeNotSupported) => RevokeResult::NotSupported,
        Next::Finish(Notice::RevokeSkipped { .. }) => RevokeResult::Skipped,
        Next::Finish(_) => RevokeResult::Failed,
    }
}

/// One revoke call with the Secrets as they are now. A provider without a revoke call is not
/// asked and its Secrets are not read; a token Secret that is missing, unreadable or unusable
/// skips the revoke.
async fn revoke_once(obj: &SocialConnection, ctx: &Context) -> Result<RevokeOutcome> {
    let spec = &obj.spec;
    let provider = providers::for_kind(spec.provider);
    if !provider.lifecycle().revokes {
        return Ok(RevokeOutcome::NotSupported);
    }
    let secret_api: Api<Secret> = Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    let token_secret = match get_secret(&secret_api, &spec.secret_ref.name, "secretRef").await? {
        Ok(s) => s,
        Err(problem) => return Ok(RevokeOutcome::Skipped { why: problem.to_string() }),
    };
    let token = match secrets::parse_token_secret(spec, &token_secret.data.unwrap_or_default()) {
        Ok(t) => t,
        Err(problem) => return Ok(RevokeOutcome::Skipped { why: problem.to_string() }),
    };
    // An unusable app Secret does not stop the revoke: some calls need no app credentials.
    let (app, app_problem): (Option<AppCredentials>, Option<String>) = match &spec.app_secret_ref {
        None => (None, None),
        Some(r) => match get_secret(&secret_api, &r.name, "appSecretRef").await? {
            Err(problem) => (None, Some(problem.to_string())),
            Ok(s) => match secrets::parse_app_secret(&r.name, provider.profile().app_keys, &s.data.unwrap_or_default()) {
                Ok(a) => (Some(a), None),
                Err(problem) => (None, Some(problem.to_string())),
            },
        },
    };
    let input = CheckInput {
        account_id: &spec.account.id,
        token: &token.access_token,
        refresh_token: token.refresh_token.as_ref(),
        app: app.as_ref(),
        required_role: spec.required_role,
        known_expires_at: token.expires_at,
        token_issued_at: None,
        now: Timestamp::now(),
    };
    Ok(match (provider.revoke(&ctx.http.for_call(ProviderCall::Revoke), &input).await, app_problem) {
        (RevokeOutcome::Skipped { why }, Some(problem)) => RevokeOutcome::Skipped { why: format!("{why} ({problem})") },
        (outcome, _) => outcome,
    })
}

/// Adds the finalizer (see [`add_ops`]).
async fn add(api: &Api<SocialConnection>, obj: &SocialConnection) -> Result<()> {
    patch(api, obj, add_ops(obj.finalizers())).await
}

/// Removes the finalizer (see [`release_ops`]).
async fn release(api: &Api<SocialConnection>, obj: &SocialConnection) -> Result<()> {
    match release_ops(obj.finalizers()) {
        Some(ops) => patch(api, obj, ops).await,
        None => Ok(()),
    }
}

/// The JSON patch that appends the finalizer to `current`, first testing that the list is still
/// `current`, as kube-runtime's finalizer helper does (that helper puts its finalizer on every
/// object; this one only on connections that ask for it, and takes it off again when they stop
/// asking).
fn add_ops(current: &[String]) -> serde_json::Value {
    if current.is_empty() {
        json!([
            {"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": [REVOKE_FINALIZER]},
        ])
    } else {
        json!([
            {"op": "test", "path": "/metadata/finalizers", "value": current},
            {"op": "add", "path": "/metadata/finalizers/-", "value": REVOKE_FINALIZER},
        ])
    }
}

/// The JSON patch that removes the finalizer at the index it has in `current`, testing that it
/// is still there; `None` when it is not in the list.
fn release_ops(current: &[String]) -> Option<serde_json::Value> {
    let i = current.iter().position(|f| f == REVOKE_FINALIZER)?;
    let path = format!("/metadata/finalizers/{i}");
    Some(json!([
        {"op": "test", "path": path, "value": REVOKE_FINALIZER},
        {"op": "remove", "path": path},
    ]))
}

/// Sends a JSON patch of `metadata.finalizers` (RBAC: `patch` on `socialconnections`). A
/// connection that is already gone needs nothing more; a failed test (someone changed the list
/// meanwhile) is an error, retried with the object as it is then.
async fn patch(api: &Api<SocialConnection>, obj: &SocialConnection, ops: serde_json::Value) -> Result<()> {
    let ops: json_patch::Patch = serde_json::from_value(ops)?;
    match api.patch(&obj.name_any(), &PatchParams::default(), &Patch::<()>::Json(ops)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.is_not_found() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(doc: serde_json::Value, ops: serde_json::Value) -> Result<serde_json::Value, json_patch::PatchError> {
        let mut doc = doc;
        let ops: json_patch::Patch = serde_json::from_value(ops).unwrap();
        json_patch::patch(&mut doc, &ops).map(|()| doc)
    }

    #[test]
    fn the_finalizer_is_appended_after_others_and_only_to_the_list_it_was_computed_from() {
        let others = vec!["example.com/keep".to_string()];
        let got = apply(json!({"metadata": {"finalizers": others}}), add_ops(&others)).unwrap();
        assert_eq!(got["metadata"]["finalizers"], json!(["example.com/keep", REVOKE_FINALIZER]));
        // Someone changed the list meanwhile: the test fails, nothing is lost.
        let changed = json!({"metadata": {"finalizers": ["example.com/keep", "example.com/new"]}});
        assert!(apply(changed, add_ops(&others)).is_err());
        // No list yet: the API server's JSON patch (unlike this crate's) lets `test` match an
        // absent member with null, as kube-runtime's helper relies on; the e2e tests add the
        // finalizer to fresh connections this way.
        let ops = add_ops(&[]);
        assert_eq!(ops[0], json!({"op": "test", "path": "/metadata/finalizers", "value": null}));
        let got = apply(json!({"metadata": {"name": "a"}}), json!([ops[1]])).unwrap();
        assert_eq!(got["metadata"]["finalizers"], json!([REVOKE_FINALIZER]));
    }

    #[test]
    fn the_release_removes_only_this_finalizer_at_its_index() {
        let list: Vec<String> = ["a/x", REVOKE_FINALIZER, "b/y"].map(String::from).into();
        let got = apply(json!({"metadata": {"finalizers": list}}), release_ops(&list).unwrap()).unwrap();
        assert_eq!(got["metadata"]["finalizers"], json!(["a/x", "b/y"]));
        // Moved to another index meanwhile: the test fails instead of removing someone else's.
        let moved = json!({"metadata": {"finalizers": [REVOKE_FINALIZER, "a/x", "b/y"]}});
        assert!(apply(moved, release_ops(&list).unwrap()).is_err());
        assert_eq!(release_ops(&["a/x".to_string()]), None);
    }
}
