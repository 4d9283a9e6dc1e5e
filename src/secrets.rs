//! The token Secret and the app Secret, read on demand inside reconcile and never cached.
//!
//! Parsing is pure ([`parse_token_secret`], [`parse_app_secret`]) so every rule of
//! providers.md §2.2 is table-tested; problems name the Secret and key, never a value.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::ByteString;
use sha2::{Digest, Sha256};

use crate::api::{ProviderKind, SocialConnectionSpec};
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

    #[test]
    fn fingerprints_are_16_hex_digits_and_not_the_token() {
        let f = fingerprint(&SecretString::new("EAAsecret"));
        assert_eq!(f.len(), 16);
        assert!(!f.contains("EAA"));
    }
}
