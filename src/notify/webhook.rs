//! Generic webhook receiver: the notice's JSON document, POSTed with an HMAC-SHA256 signature
//! of the exact body in `X-Social-Signature-256: sha256=<hex>` (the scheme GitHub and Nango
//! use), so that the receiver can tell the operator's notices from anyone else's.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::SendError;
use crate::redact::SecretString;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "X-Social-Signature-256";

/// `sha256=<hex of HMAC-SHA256(key, body)>`.
pub fn signature(key: &SecretString, body: &[u8]) -> String {
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(key.expose().as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// POSTs `body` to `url`, signed with `key`.
pub async fn send(http: &reqwest::Client, url: &SecretString, key: &SecretString, body: &serde_json::Value) -> Result<(), SendError> {
    let bytes = serde_json::to_vec(body).map_err(|e| SendError::Permanent(format!("encoding the notice failed: {e}")))?;
    let sig = signature(key, &bytes);
    let req = http
        .post(url.expose())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, sig)
        .header("X-Social-Event", body["stage"].as_str().unwrap_or_default())
        .body(bytes);
    super::post(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_hex_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        let sig = signature(&SecretString::new("Jefe"), b"what do ya want for nothing?");
        assert_eq!(sig, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}
