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

    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn client() -> reqwest::Client {
        crate::providers::http::install_crypto_provider();
        reqwest::Client::builder().build().unwrap()
    }

    #[tokio::test]
    async fn a_notice_is_posted_as_json_with_the_signature_of_its_exact_body() {
        let server = MockServer::start().await;
        let body = serde_json::json!({"stage": "Recovered", "text": "works again"});
        let bytes = serde_json::to_vec(&body).unwrap();
        let sig = signature(&SecretString::new("k3y"), &bytes);
        Mock::given(method("POST"))
            .and(path("/hook"))
            .and(header(SIGNATURE_HEADER, sig.as_str()))
            .and(header("content-type", "application/json"))
            .and(header("x-social-event", "Recovered"))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&server)
            .await;
        let url = SecretString::new(format!("{}/hook", server.uri()));
        send(&client(), &url, &SecretString::new("k3y"), &body).await.unwrap();
        let received = server.received_requests().await.unwrap();
        assert_eq!(received[0].body, bytes);
    }

    #[tokio::test]
    async fn server_errors_and_429_are_retryable_other_refusals_are_not_and_no_error_shows_the_url() {
        let body = serde_json::json!({"stage": "ExpiryWarning"});
        for (status, retryable) in [(503, true), (429, true), (500, true), (400, false), (404, false), (301, false)] {
            let server = MockServer::start().await;
            Mock::given(method("POST")).respond_with(ResponseTemplate::new(status)).mount(&server).await;
            let url = SecretString::new(format!("{}/T0/hook-secret-path", server.uri()));
            let err = send(&client(), &url, &SecretString::new("k"), &body).await.unwrap_err();
            assert_eq!(err.is_retryable(), retryable, "HTTP {status}");
            assert!(err.to_string().contains(&status.to_string()), "{err}");
            assert!(!err.to_string().contains("hook-secret-path"), "{err}");
        }
        // Nothing listening: retryable, and the URL is not in the message either.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = SecretString::new(format!("http://127.0.0.1:{port}/T0/hook-secret-path"));
        let err = send(&client(), &url, &SecretString::new("k"), &body).await.unwrap_err();
        assert!(err.is_retryable());
        assert!(!err.to_string().contains("hook-secret-path"), "{err}");
    }

    #[test]
    fn the_signature_is_the_hex_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        let sig = signature(&SecretString::new("Jefe"), b"what do ya want for nothing?");
        assert_eq!(sig, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}
