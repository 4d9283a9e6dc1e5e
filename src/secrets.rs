//! The token Secret and the app Secret, read on demand inside reconcile and never cached, and
//! the one place that writes a Secret: [`write_back`] (and [`create_token_secret`] for the
//! connect flow), behind the opt-in label guard [`is_managed`].
//!
//! Parsing is pure ([`parse_token_secret`], [`parse_app_secret`]) so every rule of
//! providers.md §2.2 is table-tested; problems name the Secret and key, never a value. The
//! write plan is pure too ([`plan_write`]): only the token keys change.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::ByteString;
use sha2::{Digest, Sha256};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, PostParams};

use crate::api::{MANAGED_LABEL, ProviderKind, ResolvedKeys, SocialConnectionSpec};
use crate::providers::{AppCredentials, AppKeys, split_scopes};
use crate::redact::SecretString;

/// The token Secret's content, typed.
#[derive(Clone, Debug)]
pub struct TokenSecret {
    /// The access token (Telegram: bot token).
    pub access_token: SecretString,
    /// The refresh token, when present and non-empty.
    pub refresh_token: Option<SecretString>,
    /// The access token's expiry from the Secret.
    pub expires_at: Option<Timestamp>,
    /// Scopes listed in the Secret, when the key is present.
    pub scopes: Option<Vec<String>>,
}

/// A problem with a referenced Secret, found without calling the provider.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretProblem {
    /// Valid=False `SecretNotFound`.
    #[error("Secret {name:?} does not exist in this namespace; create it or fix spec.{field}.name")]
    NotFound {
        /// Secret name.
        name: String,
        /// The spec field that references it (`secretRef` or `appSecretRef`).
        field: &'static str,
    },
    /// Valid=False `SecretKeyMissing`.
    #[error("Secret {name:?} has no non-empty key {key:?}{hint}")]
    KeyMissing {
        /// Secret name.
        name: String,
        /// The missing key.
        key: String,
        /// Extra guidance.
        hint: &'static str,
    },
    /// Valid=False `InvalidSecret`.
    #[error("Secret {name:?} key {key:?}: {why}")]
    Invalid {
        /// Secret name.
        name: String,
        /// The offending key.
        key: String,
        /// What is wrong (never the value).
        why: &'static str,
    },
    /// Valid=Unknown `SecretAccessDenied`: the API server refused to let the operator read the
    /// Secret. A person fixes it in RBAC, not in the Secret.
    #[error(
        "the operator may not read Secret {name:?} (spec.{field}.name): the API server answered 403 Forbidden; grant its ServiceAccount \"get\" on \"secrets\" in this namespace"
    )]
    Forbidden {
        /// Secret name.
        name: String,
        /// The spec field that references it (`secretRef` or `appSecretRef`).
        field: &'static str,
    },
}

fn value(data: &BTreeMap<String, ByteString>, key: &str) -> Option<String> {
    data.get(key).map(|b| String::from_utf8_lossy(&b.0).trim().to_string()).filter(|s| !s.is_empty())
}

/// Parses an expiry written as RFC 3339 or integer unix seconds.
pub fn parse_expiry(raw: &str) -> Option<Timestamp> {
    if let Ok(secs) = raw.parse::<i64>() {
        return Timestamp::from_second(secs).ok();
    }
    raw.parse::<Timestamp>().ok()
}

fn telegram_token_ok(token: &str) -> bool {
    match token.split_once(':') {
        Some((id, rest)) => {
            !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_digit())
                && !rest.is_empty()
                && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        }
        None => false,
    }
}

/// Reads the token Secret's data with the spec's key names (providers.md §2.2).
pub fn parse_token_secret(spec: &SocialConnectionSpec, data: &BTreeMap<String, ByteString>) -> Result<TokenSecret, SecretProblem> {
    let name = spec.secret_ref.name.clone();
    let keys = spec.token_keys();
    let access = value(data, keys.access_token).ok_or_else(|| SecretProblem::KeyMissing {
        name: name.clone(),
        key: keys.access_token.to_string(),
        hint: "; put the access token there",
    })?;
    let invalid = |key: &str, why| SecretProblem::Invalid { name: name.clone(), key: key.to_string(), why };
    if access.chars().any(char::is_whitespace) {
        return Err(invalid(keys.access_token, "the token contains whitespace"));
    }
    if spec.provider == ProviderKind::Telegram && !telegram_token_ok(&access) {
        return Err(invalid(keys.access_token, "not a Telegram bot token (expected <digits>:<characters>)"));
    }
    let refresh = value(data, keys.refresh_token);
    if refresh.as_deref().is_some_and(|r| r.chars().any(char::is_whitespace)) {
        return Err(invalid(keys.refresh_token, "the token contains whitespace"));
    }
    let expires_at = match value(data, keys.expires_at) {
        Some(raw) => Some(parse_expiry(&raw).ok_or_else(|| invalid(keys.expires_at, "not an RFC 3339 time or unix seconds"))?),
        None => None,
    };
    let scopes = data.get(keys.scope).map(|b| split_scopes(&String::from_utf8_lossy(&b.0)));
    Ok(TokenSecret { access_token: SecretString::new(access), refresh_token: refresh.map(SecretString::new), expires_at, scopes })
}

/// Reads the app Secret's data; keys the provider needs must be present (§2.2).
pub fn parse_app_secret(name: &str, needs: AppKeys, data: &BTreeMap<String, ByteString>) -> Result<AppCredentials, SecretProblem> {
    let missing = |key: &str| SecretProblem::KeyMissing {
        name: name.to_string(),
        key: key.to_string(),
        hint: "; the provider needs the app's client credentials",
    };
    let client_id = value(data, "client_id");
    let client_secret = value(data, "client_secret");
    match needs {
        AppKeys::None => {}
        AppKeys::ClientId => {
            client_id.as_ref().ok_or_else(|| missing("client_id"))?;
        }
        AppKeys::ClientIdAndSecret => {
            client_id.as_ref().ok_or_else(|| missing("client_id"))?;
            client_secret.as_ref().ok_or_else(|| missing("client_secret"))?;
        }
    }
    Ok(AppCredentials { client_id: client_id.unwrap_or_default(), client_secret: client_secret.map(SecretString::new) })
}

/// The first 16 hex digits of the token's SHA-256 (providers.md §2.7): recognises a changed
/// token without storing it.
pub fn fingerprint(token: &SecretString) -> String {
    let digest = Sha256::digest(token.expose().as_bytes());
    hex::encode(digest)[..16].to_string()
}

/// Whether a Secret opted in to being written by the operator (label
/// `social.connections.dev/managed: "true"`).
///
/// Security: this guard is why the operator may hold `update` on Secrets at all. Without it,
/// anyone who can create a SocialConnection could point `secretRef` at any Secret of the
/// namespace and have the operator overwrite its keys; and a rotating provider would kill the
/// old credential with nowhere to store the new one. Only Secrets whose owner added the label
/// are ever written (providers.md §2.6 "Write guard").
pub fn is_managed(meta: &ObjectMeta) -> bool {
    meta.labels.as_ref().and_then(|l| l.get(MANAGED_LABEL)).is_some_and(|v| v == "true")
}

/// Token key names, owned (a pending write outlives the spec it came from).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenKeys {
    /// Key of the access token.
    pub access_token: String,
    /// Key of the refresh token.
    pub refresh_token: String,
    /// Key of the expiry.
    pub expires_at: String,
    /// Key of the scopes.
    pub scope: String,
}

impl From<ResolvedKeys<'_>> for TokenKeys {
    fn from(k: ResolvedKeys<'_>) -> Self {
        TokenKeys {
            access_token: k.access_token.to_string(),
            refresh_token: k.refresh_token.to_string(),
            expires_at: k.expires_at.to_string(),
            scope: k.scope.to_string(),
        }
    }
}

/// The values a refresh stores (providers.md §2.6).
#[derive(Clone, Debug, PartialEq)]
pub struct TokenWrite {
    /// The token keys of the connection.
    pub keys: TokenKeys,
    /// The new access token.
    pub access_token: SecretString,
    /// A new non-empty refresh token, when the answer returned one.
    pub refresh_token: Option<SecretString>,
    /// The new expiry; `None` deletes the key (the answer had no expiry).
    pub expires_at: Option<Timestamp>,
    /// `scope` verbatim, when returned.
    pub scope: Option<String>,
}

/// What became of a write-back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The Secret holds the new values.
    Stored,
    /// Someone else wrote a different access token meanwhile: the result was dropped and the
    /// cycle restarts with what they wrote.
    Superseded,
}

/// Why a write-back could not be made (yet).
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The Secret lost the opt-in label (or never had it): nothing is written.
    #[error("Secret {0:?} does not carry the label {MANAGED_LABEL}=true")]
    NotManaged(String),
    /// The Secret disappeared.
    #[error("Secret {0:?} no longer exists")]
    Gone(String),
    /// The API server refused or could not be reached; the values stay in memory.
    #[error("writing Secret {name:?} failed: {reason}")]
    Api {
        /// Secret name.
        name: String,
        /// The API error, without values.
        reason: String,
    },
}

/// An expiry in the format the Secret already uses: unix seconds if the old value was an
/// integer, else RFC 3339 UTC.
fn format_expiry(old: Option<&ByteString>, t: Timestamp) -> String {
    let was_seconds = old.map(|b| String::from_utf8_lossy(&b.0).trim().parse::<i64>().is_ok()).unwrap_or(false);
    if was_seconds { t.as_second().to_string() } else { t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string() }
}

/// The Secret's data after the write: only the token keys change (§2.6).
pub fn plan_write(data: &BTreeMap<String, ByteString>, w: &TokenWrite) -> BTreeMap<String, ByteString> {
    let mut out = data.clone();
    let bytes = |s: &str| ByteString(s.as_bytes().to_vec());
    out.insert(w.keys.access_token.clone(), bytes(w.access_token.expose()));
    if let Some(r) = &w.refresh_token {
        out.insert(w.keys.refresh_token.clone(), bytes(r.expose()));
    }
    match w.expires_at {
        Some(t) => {
            let v = format_expiry(data.get(&w.keys.expires_at), t);
            out.insert(w.keys.expires_at.clone(), bytes(&v));
        }
        None => {
            out.remove(&w.keys.expires_at);
        }
    }
    if let Some(scope) = &w.scope {
        out.insert(w.keys.scope.clone(), bytes(scope));
    }
    out
}

/// The API error as text without values (kube's Status messages name objects, not data).
fn describe(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("HTTP {} {}", s.code, s.reason),
        other => other.to_string().chars().take(200).collect(),
    }
}

/// Stores a refreshed token: one Secret update with a `resourceVersion` precondition, touching
/// only the token keys (§2.6). `previous` is the access token the refresh started from.
///
/// On a conflict the Secret is re-read and the **same** values are applied again. If the
/// Secret then holds a different access token than `previous` (someone else wrote), the
/// result is dropped ([`WriteOutcome::Superseded`]); if it already holds the new one (an
/// earlier attempt succeeded), it is [`WriteOutcome::Stored`]. Unreachable API servers and
/// other errors come back as [`WriteError::Api`]: the caller keeps the values and retries.
pub async fn write_back(api: &Api<Secret>, name: &str, previous: &SecretString, w: &TokenWrite) -> Result<WriteOutcome, WriteError> {
    let api_err = |e: &kube::Error| WriteError::Api { name: name.to_string(), reason: describe(e) };
    // Conflicts come from other writers; a handful of rounds always settles them, and a
    // writer that keeps winning is someone else's loop the caller's backoff will outlast.
    for _ in 0..8 {
        let Some(mut secret) = api.get_opt(name).await.map_err(|e| api_err(&e))? else {
            return Err(WriteError::Gone(name.to_string()));
        };
        // Write guard, checked on the object about to be written.
        if !is_managed(&secret.metadata) {
            return Err(WriteError::NotManaged(name.to_string()));
        }
        let data = secret.data.take().unwrap_or_default();
        let current = value(&data, &w.keys.access_token);
        if current.as_deref() == Some(w.access_token.expose()) {
            return Ok(WriteOutcome::Stored);
        }
        if current.as_deref() != Some(previous.expose()) {
            return Ok(WriteOutcome::Superseded);
        }
        secret.data = Some(plan_write(&data, w));
        // `replace` sends the resourceVersion just read: a concurrent writer makes it 409.
        match api.replace(name, &PostParams::default(), &secret).await {
            Ok(_) => return Ok(WriteOutcome::Stored),
            Err(kube::Error::Api(s)) if s.is_conflict() => continue,
            Err(e) => return Err(api_err(&e)),
        }
    }
    Err(WriteError::Api { name: name.to_string(), reason: "the Secret kept changing under concurrent writers".to_string() })
}

/// What the connect flow's write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectWrite {
    /// The Secret did not exist and was created with the opt-in label.
    Created,
    /// The labelled Secret's token keys were replaced.
    Updated,
}

/// Stores the token of a completed connect flow (§2.14): creates the Secret when absent
/// ([`create_token_secret`]), else replaces its token keys with a `resourceVersion`
/// precondition, whatever token it held (the person just authorised this one). A Secret
/// without the opt-in label is never written ([`WriteError::NotManaged`]).
pub async fn store_connected_token(api: &Api<Secret>, name: &str, w: &TokenWrite) -> Result<ConnectWrite, WriteError> {
    let api_err = |e: &kube::Error| WriteError::Api { name: name.to_string(), reason: describe(e) };
    for _ in 0..8 {
        let Some(mut secret) = api.get_opt(name).await.map_err(|e| api_err(&e))? else {
            match create_token_secret(api, name, w).await {
                Ok(()) => return Ok(ConnectWrite::Created),
                // Someone created it meanwhile: look at what they made.
                Err(WriteError::Api { reason, .. }) if reason.starts_with("HTTP 409") => continue,
                Err(e) => return Err(e),
            }
        };
        // Write guard, checked on the object about to be written: a Secret its owner did not
        // label may be read by other systems that rotate it themselves.
        if !is_managed(&secret.metadata) {
            return Err(WriteError::NotManaged(name.to_string()));
        }
        let data = secret.data.take().unwrap_or_default();
        secret.data = Some(plan_write(&data, w));
        match api.replace(name, &PostParams::default(), &secret).await {
            Ok(_) => return Ok(ConnectWrite::Updated),
            Err(kube::Error::Api(s)) if s.is_conflict() => continue,
            Err(e) => return Err(api_err(&e)),
        }
    }
    Err(WriteError::Api { name: name.to_string(), reason: "the Secret kept changing under concurrent writers".to_string() })
}

/// Creates a token Secret that does not exist yet, for the connect flow's first token (§2.14):
/// labelled `social.connections.dev/managed: "true"` (the operator will keep it alive) and
/// without an owner reference (deleting the SocialConnection never deletes the token). An
/// existing Secret is never overwritten: use [`write_back`] for it.
pub async fn create_token_secret(api: &Api<Secret>, name: &str, w: &TokenWrite) -> Result<(), WriteError> {
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some([(MANAGED_LABEL.to_string(), "true".to_string())].into()),
            ..Default::default()
        },
        data: Some(plan_write(&BTreeMap::new(), w)),
        type_: Some("Opaque".to_string()),
        ..Default::default()
    };
    api.create(&PostParams::default(), &secret)
        .await
        .map(|_| ())
        .map_err(|e| WriteError::Api { name: name.to_string(), reason: describe(&e) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(provider: ProviderKind) -> SocialConnectionSpec {
        SocialConnectionSpec::new(provider, "1", "tok")
    }

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, ByteString> {
        pairs.iter().map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec()))).collect()
    }

    #[test]
    fn token_secret_rules_follow_the_contract() {
        let fb = spec(ProviderKind::Facebook);
        let tg = spec(ProviderKind::Telegram);
        let ok =
            parse_token_secret(&fb, &data(&[("access_token", "  EAA1 \n"), ("expires_at", "1893456000"), ("scope", "a, b c")])).unwrap();
        assert_eq!(ok.access_token.expose(), "EAA1");
        assert_eq!(ok.expires_at, Some(Timestamp::from_second(1893456000).unwrap()));
        assert_eq!(ok.scopes, Some(vec!["a".into(), "b".into(), "c".into()]));
        let rfc = parse_token_secret(&fb, &data(&[("access_token", "x"), ("expires_at", "2030-01-01T00:00:00Z")])).unwrap();
        assert_eq!(rfc.expires_at, Some("2030-01-01T00:00:00Z".parse().unwrap()));

        let cases: Vec<(&SocialConnectionSpec, Vec<(&str, &str)>, &str)> = vec![
            (&fb, vec![], "has no non-empty key \"access_token\""),
            (&fb, vec![("access_token", "  ")], "has no non-empty key"),
            (&fb, vec![("access_token", "a b")], "whitespace"),
            (&fb, vec![("access_token", "a"), ("expires_at", "tomorrow")], "RFC 3339"),
            (&tg, vec![("access_token", "notabot")], "Telegram bot token"),
        ];
        for (s, d, needle) in cases {
            let e = parse_token_secret(s, &data(&d)).unwrap_err();
            assert!(e.to_string().contains(needle), "{e}");
        }
        assert!(parse_token_secret(&tg, &data(&[("access_token", "123456:AA-b_c")])).is_ok());
    }

    #[test]
    fn renamed_keys_are_read() {
        let mut s = spec(ProviderKind::X);
        s.secret_ref.keys = Some(crate::api::SecretKeys { access_token: Some("tok".into()), ..Default::default() });
        assert!(parse_token_secret(&s, &data(&[("tok", "v")])).is_ok());
        assert!(parse_token_secret(&s, &data(&[("access_token", "v")])).is_err());
    }

    #[test]
    fn app_secret_needs_the_keys_the_provider_uses() {
        let d = data(&[("client_id", "cid")]);
        assert!(parse_app_secret("app", AppKeys::ClientId, &d).is_ok());
        let e = parse_app_secret("app", AppKeys::ClientIdAndSecret, &d).unwrap_err();
        assert!(matches!(e, SecretProblem::KeyMissing { ref key, .. } if key == "client_secret"));
    }

    fn write(expires_at: Option<Timestamp>) -> TokenWrite {
        TokenWrite {
            keys: spec(ProviderKind::X).token_keys().into(),
            access_token: SecretString::new("new-access"),
            refresh_token: Some(SecretString::new("new-refresh")),
            expires_at,
            scope: Some("a b".into()),
        }
    }

    fn text(d: &BTreeMap<String, ByteString>, k: &str) -> Option<String> {
        d.get(k).map(|b| String::from_utf8_lossy(&b.0).to_string())
    }

    #[test]
    fn a_write_touches_only_the_token_keys_and_keeps_the_expiry_format() {
        let t = Timestamp::from_second(1_900_000_000).unwrap();
        let old = data(&[("access_token", "old"), ("refresh_token", "r"), ("expires_at", "1800000000"), ("other", "kept")]);
        let out = plan_write(&old, &write(Some(t)));
        assert_eq!(text(&out, "access_token").as_deref(), Some("new-access"));
        assert_eq!(text(&out, "refresh_token").as_deref(), Some("new-refresh"));
        assert_eq!(text(&out, "expires_at").as_deref(), Some("1900000000"), "unix seconds stay unix seconds");
        assert_eq!(text(&out, "scope").as_deref(), Some("a b"));
        assert_eq!(text(&out, "other").as_deref(), Some("kept"));
        let rfc = plan_write(&data(&[("access_token", "old"), ("expires_at", "2030-01-01T00:00:00Z")]), &write(Some(t)));
        assert_eq!(text(&rfc, "expires_at").as_deref(), Some("2030-03-17T17:46:40Z"));
        let none = plan_write(&data(&[("access_token", "old")]), &write(Some(t)));
        assert_eq!(text(&none, "expires_at").as_deref(), Some("2030-03-17T17:46:40Z"), "RFC 3339 UTC when there was none");
        let deleted = plan_write(&old, &TokenWrite { refresh_token: None, scope: None, ..write(None) });
        assert_eq!(text(&deleted, "expires_at"), None, "an answer without expiry deletes the key");
        assert_eq!(text(&deleted, "refresh_token").as_deref(), Some("r"), "no refresh token returned: the old one stays");
    }

    #[test]
    fn only_secrets_labelled_managed_true_may_be_written() {
        let meta =
            |v: Option<&str>| ObjectMeta { labels: v.map(|v| [(MANAGED_LABEL.to_string(), v.to_string())].into()), ..Default::default() };
        assert!(is_managed(&meta(Some("true"))));
        assert!(!is_managed(&meta(Some("True"))));
        assert!(!is_managed(&meta(Some("false"))));
        assert!(!is_managed(&meta(None)));
    }

    #[test]
    fn fingerprints_are_16_hex_digits_and_not_the_token() {
        let f = fingerprint(&SecretString::new("EAAsecret"));
        assert_eq!(f.len(), 16);
        assert!(!f.contains("EAA"));
    }
}
