//! The providers' Refresh and Revoke calls (providers.md §2.6, §2.8 and each provider's
//! paragraphs) against the protocol-faithful fake providers: every request must satisfy the
//! fakes' contract checks, rotating providers kill a used refresh token, the others keep it,
//! and a revoked token stops working.

use fake_providers as fakes;
use jiff::Timestamp;
use social_connection_operator::api::ProviderKind;
use social_connection_operator::providers::endpoints::Endpoints;
use social_connection_operator::providers::{
    self, AppCredentials, CheckInput, ProviderHttp, RefreshOutcome, Renewal, RevokeOutcome, TokenVerdict,
};
use social_connection_operator::redact::SecretString;

struct World {
    fakes: fakes::FakeProviders,
    http: ProviderHttp,
}

async fn world() -> World {
    providers::http::install_crypto_provider();
    let fakes = fakes::start_all().await.expect("fakes");
    let sources: Vec<String> = fakes::PROVIDERS.iter().map(|p| format!("{p}={}", fakes.url(p))).collect();
    let http = ProviderHttp::with_endpoints(Endpoints::from_sources(&sources, None).expect("endpoints")).expect("client");
    World { fakes, http }
}

fn app() -> AppCredentials {
    AppCredentials { client_id: "cid-app".into(), client_secret: Some(SecretString::new("app-secret")) }
}

fn input<'a>(
    account: &'a str,
    token: &'a SecretString,
    refresh: Option<&'a SecretString>,
    app: Option<&'a AppCredentials>,
) -> CheckInput<'a> {
    CheckInput {
        account_id: account,
        token,
        refresh_token: refresh,
        app,
        required_role: None,
        known_expires_at: None,
        token_issued_at: None,
        now: Timestamp::now(),
    }
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

fn refreshed(out: RefreshOutcome) -> providers::NewCredential {
    match out {
        RefreshOutcome::Refreshed(c) => c,
        other => panic!("expected a new credential, got {other:?}"),
    }
}

fn assert_no_violations(w: &World) {
    let v = w.fakes.contract_violations();
    assert!(v.is_empty(), "contract violations: {v:?}");
}

/// Every provider with a refresh call mints a new access token for a `valid` credential, and
/// the new token is accepted by the provider's own check.
#[tokio::test(flavor = "multi_thread")]
async fn every_provider_with_a_refresh_call_mints_a_working_access_token() {
    let w = world().await;
    let app = app();
    for kind in ProviderKind::ALL {
        let provider = providers::for_kind(kind);
        let renewal = provider.lifecycle().renewal;
        let token = SecretString::new(fakes::token("valid"));
        let refresh = SecretString::new(fakes::token("valid"));
        let out = provider.refresh(&w.http, &input(account(kind), &token, Some(&refresh), Some(&app))).await;
        if !renewal.exists() {
            assert_eq!(out, RefreshOutcome::NotSupported, "{kind}");
            continue;
        }
        let c = refreshed(out);
        assert!(c.access_token.expose().starts_with("valid__"), "{kind}: {}", c.access_token.expose());
        assert_ne!(c.access_token.expose(), token.expose(), "{kind}");
        assert!(c.expires_in.is_some(), "{kind} answers carry expires_in");
        let report = provider.check(&w.http, &input(account(kind), &c.access_token, None, Some(&app))).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid), "{kind}: the minted token works: {report:?}");
    }
    assert_no_violations(&w);
}

/// x, pinterest, tiktok: the used refresh token dies (reuse answers invalid_grant), the new one
/// works; linkedin returns the same refresh token and google none, and theirs keep working.
#[tokio::test(flavor = "multi_thread")]
async fn rotating_providers_kill_a_used_refresh_token_and_the_others_keep_it() {
    let w = world().await;
    let app = app();
    for kind in [
        ProviderKind::X,
        ProviderKind::Pinterest,
        ProviderKind::Tiktok,
        ProviderKind::Linkedin,
        ProviderKind::Youtube,
        ProviderKind::GoogleBusinessProfile,
    ] {
        let provider = providers::for_kind(kind);
        let Renewal::RefreshToken { rotates, .. } = provider.lifecycle().renewal else { panic!("{kind} refreshes with a refresh token") };
        let token = SecretString::new(fakes::token("valid"));
        let refresh = SecretString::new(fakes::token("valid"));
        let first = refreshed(provider.refresh(&w.http, &input(account(kind), &token, Some(&refresh), Some(&app))).await);
        let again = provider.refresh(&w.http, &input(account(kind), &token, Some(&refresh), Some(&app))).await;
        if rotates {
            let new_refresh = first.refresh_token.clone().unwrap_or_else(|| panic!("{kind} returns a new refresh token"));
            assert_ne!(new_refresh.expose(), refresh.expose(), "{kind}");
            assert!(
                matches!(again, RefreshOutcome::Refused(TokenVerdict::Revoked { .. })),
                "{kind}: a used refresh token is refused: {again:?}"
            );
            let next = provider.refresh(&w.http, &input(account(kind), &first.access_token, Some(&new_refresh), Some(&app))).await;
            refreshed(next);
        } else {
            refreshed(again);
            if kind == ProviderKind::Linkedin {
                assert_eq!(first.refresh_token.as_ref(), Some(&refresh), "LinkedIn answers with the refresh token it was sent");
            } else {
                assert_eq!(first.refresh_token, None, "{kind}: Google returns no refresh token");
            }
        }
    }
    assert_no_violations(&w);
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_refusals_are_classified_as_the_contract_says() {
    let w = world().await;
    let app = app();
    let bad = AppCredentials { client_id: "cid-app".into(), client_secret: Some(SecretString::new(fakes::BAD_SECRET)) };
    let cases: &[(ProviderKind, &str, bool, &str)] = &[
        (ProviderKind::X, "x2-c", false, "Revoked"),
        (ProviderKind::X, "valid", true, "InvalidSecret"),
        (ProviderKind::Pinterest, "pi2-b", false, "Revoked"),
        (ProviderKind::Pinterest, "pi2-c", false, "InvalidSecret"),
        (ProviderKind::Tiktok, "tt2-b", false, "Revoked"),
        (ProviderKind::Tiktok, "tt2-c", false, "InvalidSecret"),
        (ProviderKind::Linkedin, "li4-400", false, "Revoked"),
        (ProviderKind::Linkedin, "valid", true, "InvalidSecret"),
        (ProviderKind::Youtube, "go-e", false, "Revoked"),
        (ProviderKind::Youtube, "go-f", false, "InvalidSecret"),
        (ProviderKind::Youtube, "go-h", false, "transient"),
        (ProviderKind::Facebook, "valid", true, "InvalidSecret"),
        (ProviderKind::Facebook, "g1", false, "Revoked"),
        (ProviderKind::InstagramLogin, "g6", false, "Expired"),
        (ProviderKind::Threads, "g13", false, "transient"),
    ];
    for (kind, scenario, bad_secret, expected) in cases {
        let provider = providers::for_kind(*kind);
        let token = SecretString::new(fakes::token(scenario));
        let refresh = SecretString::new(fakes::token(scenario));
        let creds = if *bad_secret { &bad } else { &app };
        let out = provider.refresh(&w.http, &input(account(*kind), &token, Some(&refresh), Some(creds))).await;
        let got = match &out {
            RefreshOutcome::Refused(TokenVerdict::Revoked { .. }) => "Revoked",
            RefreshOutcome::Refused(TokenVerdict::InvalidSecret { .. }) => "InvalidSecret",
            RefreshOutcome::Refused(TokenVerdict::Expired { .. }) => "Expired",
            RefreshOutcome::Interrupted(_) => "transient",
            _ => "other",
        };
        assert_eq!(got, *expected, "{kind} {scenario} bad_secret={bad_secret}: {out:?}");
        let text = format!("{out:?}");
        assert!(!text.contains(token.expose()) && !text.contains("app-secret") && !text.contains(fakes::BAD_SECRET), "no secret in {text}");
    }
    assert_no_violations(&w);
}

#[tokio::test(flavor = "multi_thread")]
async fn tiktok_reports_the_account_its_refresh_answer_names() {
    let w = world().await;
    let app = app();
    let token = SecretString::new(fakes::token("tt-b"));
    let refresh = SecretString::new(fakes::token("tt-b"));
    let c = refreshed(
        providers::for_kind(ProviderKind::Tiktok).refresh(&w.http, &input(fakes::TIKTOK_OPEN_ID, &token, Some(&refresh), Some(&app))).await,
    );
    assert_eq!(c.account_id.as_deref(), Some("tt-open-other"));
}

/// Revoke for every provider family: the revoked token stops working, a second revoke finds it
/// already invalid; providers without a revoke call say so; missing credentials skip.
#[tokio::test(flavor = "multi_thread")]
async fn revoke_kills_the_token_for_every_provider_family_with_a_revoke_call() {
    let w = world().await;
    let app = app();
    for kind in ProviderKind::ALL {
        let provider = providers::for_kind(kind);
        let token = SecretString::new(if kind == ProviderKind::Telegram { fakes::telegram_token("valid") } else { fakes::token("valid") });
        let refresh = SecretString::new(fakes::token("valid"));
        let with_refresh =
            matches!(kind, ProviderKind::X | ProviderKind::Youtube | ProviderKind::GoogleBusinessProfile).then_some(&refresh);
        let out = provider.revoke(&w.http, &input(account(kind), &token, with_refresh, Some(&app))).await;
        if !provider.lifecycle().revokes {
            assert_eq!(out, RevokeOutcome::NotSupported, "{kind}");
            continue;
        }
        assert_eq!(out, RevokeOutcome::Revoked { already_invalid: false }, "{kind}");
        // Google revokes the refresh token, which kills its access tokens at the provider;
        // the fake kills exactly the token named, so check that one.
        let dead = with_refresh.filter(|_| matches!(kind, ProviderKind::Youtube | ProviderKind::GoogleBusinessProfile)).unwrap_or(&token);
        if dead == &token {
            let report = provider.check(&w.http, &input(account(kind), &token, None, Some(&app))).await;
            assert_ne!(report.token, Some(TokenVerdict::Valid), "{kind}: a revoked token no longer works");
        }
        let again = provider.revoke(&w.http, &input(account(kind), &token, with_refresh, Some(&app))).await;
        // LinkedIn's LI5 answers 2xx for any token (4xx would be RevokeFailed); the others
        // answer their "already invalid" row.
        let expected = RevokeOutcome::Revoked { already_invalid: kind != ProviderKind::Linkedin };
        assert_eq!(again, expected, "{kind}: revoking twice");
    }
    assert_no_violations(&w);
}

#[tokio::test(flavor = "multi_thread")]
async fn revoke_without_the_needed_credentials_is_skipped_and_page_tokens_use_the_app_token() {
    let w = world().await;
    for kind in [ProviderKind::Linkedin, ProviderKind::X, ProviderKind::Tiktok] {
        let token = SecretString::new(fakes::token("valid"));
        let out = providers::for_kind(kind).revoke(&w.http, &input(account(kind), &token, None, None)).await;
        assert!(matches!(out, RevokeOutcome::Skipped { .. }), "{kind}: {out:?}");
    }
    let page = SecretString::new(fakes::token("page"));
    let out = providers::for_kind(ProviderKind::Facebook).revoke(&w.http, &input(fakes::FACEBOOK_PAGE_ID, &page, None, None)).await;
    assert!(matches!(out, RevokeOutcome::Skipped { .. }), "a PAGE token without app credentials: {out:?}");
    let app = app();
    let out = providers::for_kind(ProviderKind::Facebook).revoke(&w.http, &input(fakes::FACEBOOK_PAGE_ID, &page, None, Some(&app))).await;
    assert_eq!(out, RevokeOutcome::Revoked { already_invalid: false });
    let page_call = w.fakes.requests("facebook").into_iter().find(|r| r.method == "DELETE").expect("a DELETE");
    assert_eq!(page_call.path, "/v24.0/3003/permissions", "the PAGE revoke names FB1's user_id");
    assert_no_violations(&w);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transient_revoke_answer_is_reported_as_transient() {
    let w = world().await;
    let app = app();
    for kind in [ProviderKind::Linkedin, ProviderKind::X, ProviderKind::Youtube, ProviderKind::Tiktok, ProviderKind::Facebook] {
        let token = SecretString::new(fakes::token("http-503"));
        let out = providers::for_kind(kind).revoke(&w.http, &input(account(kind), &token, None, Some(&app))).await;
        assert!(matches!(out, RevokeOutcome::Interrupted(_)), "{kind}: {out:?}");
    }
}
