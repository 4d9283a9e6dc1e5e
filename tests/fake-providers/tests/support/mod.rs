//! A small HTTP client that behaves like the operator (User-Agent, Accept) against the fakes.

#![allow(dead_code)]

use fake_providers::FakeProviders;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};

pub const UA: &str = "social-connection-operator/0.0.0-test";

pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub struct Harness {
    pub fakes: FakeProviders,
    pub http: reqwest::Client,
}

/// `a=1&b=2`, percent-encoded as a form.
pub fn enc(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

/// Installs ring as rustls' process-wide provider. Built inside the workspace, reqwest's
/// features unify with the operator's `rustls-no-provider`, and a client built without a
/// process provider panics.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub fn operator_client() -> reqwest::Client {
    install_crypto_provider();
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    reqwest::Client::builder().user_agent(UA).default_headers(headers).build().expect("client")
}

impl Harness {
    pub async fn start() -> Self {
        install_crypto_provider();
        Harness { fakes: fake_providers::start_all().await.expect("fakes start"), http: operator_client() }
    }

    fn url(&self, provider: &str, path: &str, query: &[(&str, &str)]) -> String {
        let mut url = format!("{}{path}", self.fakes.url(provider));
        if !query.is_empty() {
            url.push('?');
            url.push_str(&enc(query));
        }
        url
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("request");
        Answer { status: response.status().as_u16(), headers: response.headers().clone(), body: response.text().await.expect("body") }
    }

    pub async fn get(&self, provider: &str, path: &str, query: &[(&str, &str)]) -> Answer {
        self.send(self.http.get(self.url(provider, path, query))).await
    }

    pub async fn get_bearer(&self, provider: &str, path: &str, query: &[(&str, &str)], token: &str) -> Answer {
        self.send(self.http.get(self.url(provider, path, query)).header(AUTHORIZATION, format!("Bearer {token}"))).await
    }

    pub async fn post_form(&self, provider: &str, path: &str, form: &[(&str, &str)]) -> Answer {
        self.send(self.http.post(self.url(provider, path, &[])).header(CONTENT_TYPE, "application/x-www-form-urlencoded").body(enc(form)))
            .await
    }

    pub async fn post_form_basic(&self, provider: &str, path: &str, form: &[(&str, &str)], id: &str, secret: &str) -> Answer {
        self.send(
            self.http
                .post(self.url(provider, path, &[]))
                .basic_auth(id, Some(secret))
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(enc(form)),
        )
        .await
    }
}
