//! The connect flow's `state` and PKCE values (providers.md §2.14).
//!
//! A state is `base64url(claims) "." base64url(HMAC-SHA256(key, claims))`: it binds the
//! namespace, name and `uid` of the SocialConnection, a random nonce and an expiry, so that a
//! callback can only act on the object the link was made for, only until the expiry, and only
//! once ([`UsedNonces`]). The PKCE verifier is derived from the same key and the nonce: nothing
//! is kept between the redirect and the callback, so a restart or a second replica still
//! completes a flow, and the verifier never leaves the operator (the provider sees the S256
//! challenge only).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::redact::SecretString;

/// How long a link's state stays usable (§2.14: 24 h).
pub const STATE_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// The shortest signing key accepted (§2.14: at least 32 bytes).
pub const MIN_KEY_BYTES: usize = 32;

/// Most nonces remembered as used at once; beyond it new callbacks are refused until old
/// entries expire (bounds memory against a flood of callbacks).
pub const MAX_USED_NONCES: usize = 100_000;

/// The key that signs states and derives PKCE verifiers.
#[derive(Clone)]
pub struct StateKey(Vec<u8>);

impl std::fmt::Debug for StateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateKey(***)")
    }
}

/// Why a signing key was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file could not be read.
    #[error("cannot read the connect state key file {path:?}: {reason}")]
    Unreadable {
        /// The file.
        path: String,
        /// The I/O error.
        reason: String,
    },
    /// The key is shorter than [`MIN_KEY_BYTES`] after trimming.
    #[error("the connect state key in {path:?} has {len} bytes; at least {MIN_KEY_BYTES} are needed")]
    TooShort {
        /// The file.
        path: String,
        /// Its length after trimming.
        len: usize,
    },
}

impl StateKey {
    /// A key from its bytes with surrounding whitespace trimmed; `None` below 32 bytes.
    pub fn from_bytes(raw: &[u8]) -> Option<Self> {
        let trimmed = raw.trim_ascii();
        (trimmed.len() >= MIN_KEY_BYTES).then(|| StateKey(trimmed.to_vec()))
    }

    /// Reads the key file of `--connect-state-key-file`.
    pub fn from_file(path: &std::path::Path) -> Result<Self, KeyError> {
        let shown = path.display().to_string();
        let raw = std::fs::read(path).map_err(|e| KeyError::Unreadable { path: shown.clone(), reason: e.to_string() })?;
        let len = raw.trim_ascii().len();
        Self::from_bytes(&raw).ok_or(KeyError::TooShort { path: shown, len })
    }

    fn mac(&self, parts: &[&[u8]]) -> Hmac<Sha256> {
        // HMAC accepts keys of any length: this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        for p in parts {
            mac.update(p);
        }
        mac
    }
}

/// What a state says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Namespace of the SocialConnection.
    #[serde(rename = "ns")]
    pub namespace: String,
    /// Name of the SocialConnection.
    #[serde(rename = "n")]
    pub name: String,
    /// `metadata.uid` of the object the link was made for.
    #[serde(rename = "u")]
    pub uid: String,
    /// Random, 128 bits, hex: makes each state unique and single-use.
    #[serde(rename = "r")]
    pub nonce: String,
    /// Expiry, unix seconds.
    #[serde(rename = "e")]
    pub expires: i64,
}

impl Claims {
    /// Claims for a new link to the object, expiring [`STATE_LIFETIME`] after `now`.
    pub fn new(namespace: &str, name: &str, uid: &str, now: Timestamp) -> Self {
        let nonce: [u8; 16] = rand::random();
        let lifetime = i64::try_from(STATE_LIFETIME.as_secs()).unwrap_or(i64::MAX);
        Claims {
            namespace: namespace.to_string(),
            name: name.to_string(),
            uid: uid.to_string(),
            nonce: hex::encode(nonce),
            expires: now.as_second().saturating_add(lifetime),
        }
    }
}

/// Why a state was refused (each answers the 400 page).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// Not of the form this operator issues.
    #[error("the link is not one this operator made")]
    Malformed,
    /// The signature does not match: changed, or signed with another key.
    #[error("the link was changed or made with another key")]
    BadSignature,
    /// Past its expiry.
    #[error("the link has expired")]
    Expired,
}

/// Signs claims into an opaque state value (URL-safe characters only).
pub fn sign(key: &StateKey, claims: &Claims) -> String {
    // Serializing plain strings and a number cannot fail.
    let payload = serde_json::to_vec(claims).unwrap_or_default();
    let tag = key.mac(&[b"state\0", &payload]).finalize().into_bytes();
    format!("{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(tag))
}

/// Verifies a state's signature (in constant time) and expiry and returns its claims.
pub fn verify(key: &StateKey, state: &str, now: Timestamp) -> Result<Claims, StateError> {
    let (payload, tag) = state.split_once('.').ok_or(StateError::Malformed)?;
    let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| StateError::Malformed)?;
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| StateError::Malformed)?;
    key.mac(&[b"state\0", &payload]).verify_slice(&tag).map_err(|_| StateError::BadSignature)?;
    let claims: Claims = serde_json::from_slice(&payload).map_err(|_| StateError::Malformed)?;
    if claims.expires <= now.as_second() {
        return Err(StateError::Expired);
    }
    Ok(claims)
}

/// The PKCE verifier of a flow: derived from the key and the state's nonce (43 URL-safe
/// characters, RFC 7636 §4.1).
pub fn pkce_verifier(key: &StateKey, nonce: &str) -> SecretString {
    let tag = key.mac(&[b"pkce\0", nonce.as_bytes()]).finalize().into_bytes();
    SecretString::new(URL_SAFE_NO_PAD.encode(tag))
}

/// The S256 challenge of a verifier: `base64url(SHA-256(verifier))` (RFC 7636 §4.2).
pub fn pkce_challenge(verifier: &SecretString) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.expose().as_bytes()))
}

/// Nonces whose callback ran, kept until their state expires: a state works once.
///
/// Kept in memory: after a restart a replayed state passes this check, but its code was used
/// already and the provider refuses the exchange (the 400 page), so nothing is written twice.
#[derive(Debug, Default)]
pub struct UsedNonces(Mutex<HashMap<String, i64>>);

/// The outcome of [`UsedNonces::claim`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// First use: go ahead.
    Fresh,
    /// Used before.
    Replayed,
    /// Too many live entries: try later.
    Full,
}

impl UsedNonces {
    /// Marks the nonce of `claims` used; says whether it was fresh. Expired entries are
    /// dropped on the way.
    pub fn claim(&self, claims: &Claims, now: Timestamp) -> Claim {
        let mut used = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let now = now.as_second();
        if used.contains_key(&claims.nonce) {
            return Claim::Replayed;
        }
        if used.len() >= MAX_USED_NONCES {
            used.retain(|_, exp| *exp > now);
            if used.len() >= MAX_USED_NONCES {
                return Claim::Full;
            }
        }
        used.insert(claims.nonce.clone(), claims.expires);
        Claim::Fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> StateKey {
        StateKey::from_bytes(b"  0123456789abcdef0123456789abcdef\n").unwrap()
    }

    fn now() -> Timestamp {
        "2026-12-07T10:00:00Z".parse().unwrap()
    }

    #[test]
    fn keys_shorter_than_32_bytes_after_trimming_are_refused() {
        assert!(StateKey::from_bytes(b"0123456789abcdef0123456789abcde").is_none());
        assert!(StateKey::from_bytes(b"   0123456789abcdef0123456789abcde   \n").is_none());
        assert!(StateKey::from_bytes(&[7u8; 32]).is_some());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("key");
        std::fs::write(&p, "short\n").unwrap();
        let err = StateKey::from_file(&p).unwrap_err();
        assert!(err.to_string().contains("has 5 bytes"), "{err}");
        assert!(!err.to_string().contains("short"), "the key itself is never shown: {err}");
        assert!(matches!(StateKey::from_file(&dir.path().join("absent")), Err(KeyError::Unreadable { .. })));
    }

    #[test]
    fn a_signed_state_verifies_to_its_claims_until_it_expires() {
        let c = Claims::new("team-a", "facebook-page", "uid-1", now());
        let s = sign(&key(), &c);
        assert!(s.chars().all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.')), "{s}");
        assert_eq!(verify(&key(), &s, now()), Ok(c.clone()));
        let almost = now().checked_add(jiff::SignedDuration::from_secs(24 * 3600 - 1)).unwrap();
        assert_eq!(verify(&key(), &s, almost).map(|c| c.uid), Ok("uid-1".to_string()));
        let later = now().checked_add(jiff::SignedDuration::from_secs(24 * 3600)).unwrap();
        assert_eq!(verify(&key(), &s, later), Err(StateError::Expired));
    }

    #[test]
    fn tampered_foreign_and_malformed_states_are_refused() {
        let c = Claims::new("team-a", "facebook-page", "uid-1", now());
        let s = sign(&key(), &c);
        // Another object in the payload, the tag kept.
        let (_, tag) = s.split_once('.').unwrap();
        let other = Claims { name: "other".into(), ..c.clone() };
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(serde_json::to_vec(&other).unwrap()));
        assert_eq!(verify(&key(), &forged, now()), Err(StateError::BadSignature));
        // A later expiry, the tag kept.
        let longer = Claims { expires: c.expires + 3600, ..c.clone() };
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(serde_json::to_vec(&longer).unwrap()));
        assert_eq!(verify(&key(), &forged, now()), Err(StateError::BadSignature));
        // Signed with another key.
        let other_key = StateKey::from_bytes(&[1u8; 32]).unwrap();
        assert_eq!(verify(&other_key, &s, now()), Err(StateError::BadSignature));
        for bad in ["", "abc", "a.b.c", "!!.!!", "team-a/facebook-page"] {
            assert_eq!(verify(&key(), bad, now()), Err(StateError::Malformed), "{bad}");
        }
    }

    #[test]
    fn each_link_gets_a_fresh_nonce_and_verifier() {
        let a = Claims::new("ns", "n", "u", now());
        let b = Claims::new("ns", "n", "u", now());
        assert_ne!(a.nonce, b.nonce);
        assert_eq!(a.nonce.len(), 32);
        let (va, vb) = (pkce_verifier(&key(), &a.nonce), pkce_verifier(&key(), &b.nonce));
        assert_ne!(va, vb);
        assert_eq!(va, pkce_verifier(&key(), &a.nonce), "the callback derives the same verifier");
        assert_eq!(va.expose().len(), 43);
        assert!(va.expose().chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }

    #[test]
    fn the_challenge_is_rfc_7636_s256() {
        // RFC 7636 Appendix B.
        let v = SecretString::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(pkce_challenge(&v), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn a_nonce_is_accepted_once() {
        let used = UsedNonces::default();
        let c = Claims::new("ns", "n", "u", now());
        assert_eq!(used.claim(&c, now()), Claim::Fresh);
        assert_eq!(used.claim(&c, now()), Claim::Replayed);
        assert_eq!(used.claim(&Claims::new("ns", "n", "u", now()), now()), Claim::Fresh);
    }
}
