//! The connect flow's code exchange (providers.md §2.14) of every OAuth provider against the
//! fake providers: the operator's consent URL opens the fake consent page, its "Allow" link
//! carries a code, `exchange_code` turns the code into a credential that the provider's own
//! check accepts, a code works once ("start again" after), PKCE verifiers match the challenge,
//! and a rejected client secret is an app problem, not a used code. No request breaks the
//! fakes' contract.

use fake_providers as fakes;
use jiff::Timestamp;
use social_connection_operator::api::ProviderKind;
use social_connection_operator::conditions::RevokedReason;
use social_connection_operator::controller::consent::{ConsentParams, consent_url};
use social_connection_operator::providers::endpoints::Endpoints;
use social_connection_operator::providers::{
    self, AppCredentials, CheckInput, CodeExchange, NewCredential, ProviderHttp, RefreshOutcome, TokenVerdict,
};
use social_connection_operator::redact::SecretString;
use social_connection_operator::server::connect::uses_pkce;
use social_connection_operator::server::state::{StateKey, pkce_challenge, pkce_verifier};

const REDIRECT: &str = "https://connect.example.com/callback";

struct World {
    fakes: fakes::FakeProviders,
    http: ProviderHttp,
    consent: Endpoints,
}

async fn world() -> World {
    providers::http::install_crypto_provider();
    let fakes = fakes::start_all().await.expect("fakes");
    let sources: Vec<String> = fakes::PROVIDERS.iter().map(|p| format!("{p}={}", fakes.url(p))).collect();
    let http = ProviderHttp::with_endpoints(Endpoints::from_sources(&sources, None).expect("endpoints")).expect("client");
    World { fakes, http, consent: Endpoints::from_sources(&sources, None).expect("endpoints") }
}

fn account(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Facebook => fakes::FACEBOOK_PAGE_ID,
        ProviderKind::Instagram => fakes::INSTAGRAM_ACCOUNT_ID,
        ProviderKind::InstagramLogin => fakes::INSTAGRAM_LOGIN_ACCOUNT_ID,
        ProviderKind::Threads => fakes::THREADS_USER_ID,
        ProviderKind::Linkedin => fakes::LINKEDIN_ORGANIZATION_URN,
        ProviderKind::X => fakes::X_USER_ID,
        ProviderKind::Pinterest => fakes::PINTEREST_ACCOUNT_ID,
        ProviderKind::Youtube => fakes::YOUTUBE_CHANNEL_ID,
        ProviderKind::GoogleBusinessProfile => fakes::GBP_ACCOUNT,
        ProviderKind::Telegram => fakes::TELEGRAM_CHAT_ID,
        ProviderKind::Tiktok => fakes::TIKTOK_OPEN_ID,
    }
}

/// Opens the operator's consent URL like a browser and returns the Allow link's code.
async fn consent_code(w: &World, kind: ProviderKind, app: &AppCredentials, challenge: Option<&str>) -> SecretString {
    let provider = providers::for_kind(kind);
    let url = consent_url(
        provider.profile(),
        &ConsentParams {
            client_id: Some(&app.client_id),
            redirect_uri: Some(REDIRECT),
            state: "st.ate-1",
            scopes: Vec::new(),
            default_scopes: provider.default_scopes(account(kind)),
            graph_version: &w.http.graph_version,
            code_challenge: challenge,
        },
    )
    .unwrap_or_else(|| panic!("{kind}: a consent URL"));
    let mut url = url::Url::parse(&url).expect("URL");
    w.consent.apply(kind, &mut url);
    let page = reqwest::get(url.as_str()).await.expect("consent page");
    assert_eq!(page.status().as_u16(), 200, "{kind}: {}", page.text().await.unwrap_or_default());
    let page = page.text().await.expect("page");
    let marker = "id=\"allow\" href=\"";
    let start = page.find(marker).expect("Allow link") + marker.len();
    let href = page[start..start + page[start..].find('"').expect("end")].replace("&amp;", "&");
    assert!(href.starts_with(REDIRECT), "{kind}: {href}");
    let query = href.split_once('?').expect("query").1;
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    assert!(pairs.iter().any(|(k, v)| k == "state" && v == "st.ate-1"), "{kind}: state echoed");
    SecretString::new(pairs.iter().find(|(k, _)| k == "code").expect("code").1.clone())
}

async fn exchange(
    w: &World,
    kind: ProviderKind,
    app: &AppCredentials,
    code: &SecretString,
    verifier: Option<&SecretString>,
) -> RefreshOutcome {
    let x = CodeExchange { code, redirect_uri: REDIRECT, code_verifier: verifier, app, now: Timestamp::now() };
    providers::for_kind(kind).exchange_code(&w.http, &x).await
}

fn oauth_kinds() -> impl Iterator<Item = ProviderKind> {
    ProviderKind::ALL.into_iter().filter(|k| *k != ProviderKind::Telegram)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_oauth_provider_exchanges_a_consent_code_for_a_token_its_check_accepts_once() {
    let w = world().await;
    let key = StateKey::from_bytes(&[7u8; 32]).expect("key");
    for kind in oauth_kinds() {
        let app = AppCredentials { client_id: format!("cid-{kind}"), client_secret: Some(SecretString::new("connect-secret")) };
        let verifier = uses_pkce(kind).then(|| pkce_verifier(&key, &format!("nonce-{kind}")));
        let challenge = verifier.as_ref().map(pkce_challenge);
        let code = consent_code(&w, kind, &app, challenge.as_deref()).await;
        let cred: NewCredential = match exchange(&w, kind, &app, &code, verifier.as_ref()).await {
            RefreshOutcome::Refreshed(c) => c,
            other => panic!("{kind}: the exchange failed: {other:?}"),
        };
        assert!(cred.access_token.expose().starts_with("valid__"), "{kind}: a token of the consent scenario");
        let input = CheckInput {
            account_id: account(kind),
            token: &cred.access_token,
            refresh_token: cred.refresh_token.as_ref(),
            app: Some(&app),
            required_role: None,
            known_expires_at: None,
            token_issued_at: Some(Timestamp::now()),
            now: Timestamp::now(),
        };
        let report = providers::for_kind(kind).check(&w.http, &input).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid), "{kind}: {report:?}");
        assert!(report.role.iter().all(|f| !f.reason.is_lost()), "{kind}: {:?}", report.role);
        // The code is used up: the second exchange is "start again", never a stored token.
        match exchange(&w, kind, &app, &code, verifier.as_ref()).await {
            RefreshOutcome::Refused(TokenVerdict::Revoked { reason: RevokedReason::TokenInvalidated, message }) => {
                assert!(!message.contains(code.expose()), "{kind}: the code is scrubbed from the message");
            }
            other => panic!("{kind}: a reused code must be refused: {other:?}"),
        }
    }
    assert!(w.fakes.contract_violations().is_empty(), "{:#?}", w.fakes.contract_violations());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_client_secret_is_an_app_problem_not_a_used_code() {
    let w = world().await;
    let key = StateKey::from_bytes(&[7u8; 32]).expect("key");
    for kind in oauth_kinds().filter(|k| *k != ProviderKind::X) {
        let app = AppCredentials { client_id: format!("cid-{kind}"), client_secret: Some(SecretString::new(fakes::BAD_SECRET)) };
        let verifier = uses_pkce(kind).then(|| pkce_verifier(&key, "n"));
        let challenge = verifier.as_ref().map(pkce_challenge);
        let code = consent_code(&w, kind, &app, challenge.as_deref()).await;
        match exchange(&w, kind, &app, &code, verifier.as_ref()).await {
            RefreshOutcome::Refused(TokenVerdict::InvalidSecret { .. }) => {}
            other => panic!("{kind}: expected InvalidSecret, got {other:?}"),
        }
    }
}
