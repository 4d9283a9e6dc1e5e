//! Refresh and revoke of the Meta family (providers.md §3.1–§3.4): the `fb_exchange_token`
//! exchange and the permission revokes of facebook and instagram, and the long-lived token
//! refresh (`ig_refresh_token`, `th_refresh_token`) of instagram-login and threads. Errors go
//! through the G table of [`super::graph`].

use serde_json::Value;

use super::graph::{self, Failure, Graph, Row, TokenType, effect, read, row};
use super::lifecycle::{
    CodeExchange, Lifecycle, NewCredential, RefreshOutcome, Renewal, RevokeOutcome, code_refused, credential_or_transient, exchange_input,
};
use super::{CheckInput, CheckReport, Interruption, ProviderHttp, TokenVerdict};
use crate::api::ProviderKind;

/// facebook and instagram: the exchange after a valid `debug_token` (lead 10 d); the
/// permission revokes (§3.1, §3.2).
pub static EXCHANGE_LIFECYCLE: Lifecycle =
    Lifecycle { renewal: Renewal::MetaExchange, lead: std::time::Duration::from_secs(10 * 24 * 3600), revokes: true };

/// What a failed Graph token call means for a refresh: the G table's token verdicts are the
/// refusal; transient rows stay transient; anything else is unclassified.
fn refresh_failure(failure: Failure, input: &CheckInput<'_>) -> RefreshOutcome {
    match failure {
        Failure::Other(i) => RefreshOutcome::Interrupted(i),
        Failure::Graph { status, error, delay } => match effect(status, &error, delay, input, "") {
            graph::Effect::Token(v) => RefreshOutcome::Refused(v),
            graph::Effect::Interrupted(i) => RefreshOutcome::Interrupted(i),
            _ => RefreshOutcome::Interrupted(Interruption::unclassified(format!("HTTP {status}, code {}", error.code))),
        },
    }
}

/// Whether a Graph message speaks about the app's client id or secret (§3.1: Graph sends code
/// 1 or 101 for them).
fn mentions_client(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    ["client secret", "client_secret", "client id", "client_id"].iter().any(|w| m.contains(w))
}

/// The facebook/instagram exchange (§3.1 Refresh):
/// `GET /{ver}/oauth/access_token?grant_type=fb_exchange_token&client_id&client_secret&fb_exchange_token={T}`.
/// The caller checks the preconditions (USER token, valid this cycle, inside the window).
pub async fn exchange(http: &ProviderHttp, kind: ProviderKind, input: &CheckInput<'_>) -> RefreshOutcome {
    let Some(app) = input.app else { return RefreshOutcome::NotSupported };
    let Some(secret) = app.client_secret.as_ref() else { return RefreshOutcome::NotSupported };
    let url = http.url(kind, graph::FACEBOOK_BASE, &format!("/{}/oauth/access_token", http.graph_version));
    let request = http.client().get(url).query(&[
        ("grant_type", "fb_exchange_token"),
        ("client_id", app.client_id.as_str()),
        ("client_secret", secret.expose()),
        ("fb_exchange_token", input.token.expose()),
    ]);
    let answer = match http.send(kind, request).await {
        Ok(a) => a,
        Err(i) => return RefreshOutcome::Interrupted(i),
    };
    match read(&answer) {
        Ok(_) => credential_or_transient(&answer, input.now, "Meta Graph"),
        Err(Failure::Graph { error, .. }) if matches!(error.code, 1 | 101) && mentions_client(&error.message) => {
            RefreshOutcome::Refused(TokenVerdict::InvalidSecret {
                message: format!("client credentials rejected: Meta refused the app on the token exchange (code {})", error.code),
            })
        }
        Err(f) => refresh_failure(f, input),
    }
}

/// IL2 / TH2 (§3.3, §3.4): `GET /refresh_access_token?grant_type={grant}&access_token={T}`.
pub async fn refresh_long_lived(
    http: &ProviderHttp,
    kind: ProviderKind,
    base: &str,
    grant: &str,
    input: &CheckInput<'_>,
) -> RefreshOutcome {
    let url = http.url(kind, base, "/refresh_access_token");
    let request = http.client().get(url).query(&[("grant_type", grant), ("access_token", input.token.expose())]);
    let answer = match http.send(kind, request).await {
        Ok(a) => a,
        Err(i) => return RefreshOutcome::Interrupted(i),
    };
    match read(&answer) {
        Ok(_) => credential_or_transient(&answer, input.now, "Meta Graph"),
        Err(f) => refresh_failure(f, input),
    }
}

/// A Graph answer to a code call (§2.14): the short-lived credential, or the outcome that ends
/// the flow (Graph code 100 / 191: the code was used, expired or made for another redirect).
fn code_answer(result: Result<super::http::Answer, Interruption>, x: &CodeExchange<'_>) -> Result<NewCredential, Box<RefreshOutcome>> {
    let answer = result.map_err(|i| Box::new(RefreshOutcome::Interrupted(i)))?;
    let outcome = match read(&answer) {
        Ok(_) => match credential_or_transient(&answer, x.now, "Meta") {
            RefreshOutcome::Refreshed(c) => return Ok(c),
            other => other,
        },
        Err(Failure::Graph { error, .. }) if matches!(error.code, 100 | 191) => code_refused(x, "Meta", Some(&error.message)),
        Err(Failure::Graph { error, .. }) if matches!(error.code, 1 | 101) && mentions_client(&error.message) => {
            RefreshOutcome::Refused(TokenVerdict::InvalidSecret {
                message: format!("client credentials rejected: Meta refused the app on the code exchange (code {})", error.code),
            })
        }
        Err(f) => refresh_failure(f, &exchange_input(x)),
    };
    Err(Box::new(outcome))
}

/// facebook and instagram (§2.14): `GET /{ver}/oauth/access_token?client_id&redirect_uri&client_secret&code`
/// gives a short-lived USER token, which the §3.1 exchange turns into the long-lived one that
/// is stored.
pub async fn exchange_code(http: &ProviderHttp, kind: ProviderKind, x: &CodeExchange<'_>) -> RefreshOutcome {
    let Some(secret) = x.app.client_secret.as_ref() else { return RefreshOutcome::NotSupported };
    let url = http.url(kind, graph::FACEBOOK_BASE, &format!("/{}/oauth/access_token", http.graph_version));
    let request = http.client().get(url).query(&[
        ("client_id", x.app.client_id.as_str()),
        ("redirect_uri", x.redirect_uri),
        ("client_secret", secret.expose()),
        ("code", x.code.expose()),
    ]);
    let short = match code_answer(http.send(kind, request).await, x) {
        Ok(c) => c,
        Err(outcome) => return *outcome,
    };
    exchange(http, kind, &CheckInput { token: &short.access_token, ..exchange_input(x) }).await
}

/// instagram-login and threads (§2.14): `POST {code_base}/oauth/access_token` form `client_id,
/// client_secret, code, grant_type=authorization_code, redirect_uri` → short-lived; then
/// `GET {api_base}/access_token?grant_type={grant}&client_secret&access_token={short}` →
/// long-lived, stored.
pub async fn exchange_code_long_lived(
    http: &ProviderHttp,
    kind: ProviderKind,
    (code_base, api_base): (&str, &str),
    grant: &str,
    x: &CodeExchange<'_>,
) -> RefreshOutcome {
    let Some(secret) = x.app.client_secret.as_ref() else { return RefreshOutcome::NotSupported };
    let form = [
        ("client_id", x.app.client_id.as_str()),
        ("client_secret", secret.expose()),
        ("code", x.code.expose()),
        ("grant_type", "authorization_code"),
        ("redirect_uri", x.redirect_uri),
    ];
    let request = http.client().post(http.url(kind, code_base, "/oauth/access_token")).form(&form);
    let short = match code_answer(http.send(kind, request).await, x) {
        Ok(c) => c,
        Err(outcome) => return *outcome,
    };
    let url = http.url(kind, api_base, "/access_token");
    let request = http.client().get(url).query(&[
        ("grant_type", grant),
        ("client_secret", secret.expose()),
        ("access_token", short.access_token.expose()),
    ]);
    let answer = match http.send(kind, request).await {
        Ok(a) => a,
        Err(i) => return RefreshOutcome::Interrupted(i),
    };
    let input = CheckInput { token: &short.access_token, ..exchange_input(x) };
    match read(&answer) {
        Ok(_) => credential_or_transient(&answer, x.now, "Meta"),
        Err(f) => refresh_failure(f, &input),
    }
}

/// A revoke answer: 2xx done; G1–G8 "already invalid"; transient rows transient; else failed.
fn revoke_answer(result: Result<Value, Failure>) -> RevokeOutcome {
    match result {
        Ok(_) => RevokeOutcome::Revoked { already_invalid: false },
        Err(Failure::Graph { status, error, delay }) => match row(&error) {
            r if r.is_token_row() => RevokeOutcome::Revoked { already_invalid: true },
            Row::Temporary | Row::RateLimited | Row::Blocked => {
                let mut i = Interruption::rate_limited(format!("Meta Graph answered the revoke with code {}", error.code), delay);
                if row(&error) == Row::Temporary {
                    i.kind = super::TransientKind::Unavailable;
                }
                RevokeOutcome::Interrupted(i)
            }
            _ => RevokeOutcome::Failed { message: format!("Meta Graph refused the revoke call (HTTP {status}, code {})", error.code) },
        },
        Err(Failure::Other(i)) if i.unexpected.is_some() => RevokeOutcome::Failed { message: i.detail },
        Err(Failure::Other(i)) => RevokeOutcome::Interrupted(i),
    }
}

/// `DELETE /{ver}/{who}/permissions?access_token={token}`.
async fn delete_permissions(http: &ProviderHttp, kind: ProviderKind, who: &str, token: &str) -> RevokeOutcome {
    let url = http.url(kind, graph::FACEBOOK_BASE, &format!("/{}/{who}/permissions", http.graph_version));
    match http.send(kind, http.client().delete(url).query(&[("access_token", token)])).await {
        Ok(answer) => revoke_answer(read(&answer)),
        Err(i) => RevokeOutcome::Interrupted(i),
    }
}

/// The facebook/instagram revoke (§3.1 Revoke). The token type (and, for PAGE tokens, the
/// user) comes from FB1 with app credentials, else from FB2 (`/me` = the Page for PAGE tokens).
/// USER: `DELETE /{ver}/me/permissions` with the token; PAGE: `DELETE /{ver}/{user_id}/permissions`
/// with the app token, or `RevokeSkipped` without app credentials or user id.
pub async fn revoke(http: &ProviderHttp, kind: ProviderKind, input: &CheckInput<'_>) -> RevokeOutcome {
    let graph = Graph::new(http, kind, graph::FACEBOOK_BASE, &http.graph_version, input);
    let mut report = CheckReport::default();
    let app_token = graph::app_token(input);
    let (token_type, user_id) = match &app_token {
        Some(app_token) => match graph.debug_token(&mut report, app_token).await {
            Some(info) => (info.token_type, info.user_id),
            None => return revoke_after_failed_probe(report),
        },
        None => match graph.probe(&mut report, "me", "id,name", "public_profile").await {
            Some((id, _)) if kind == ProviderKind::Facebook && id == input.account_id.trim() => (TokenType::Page, None),
            Some(_) => (TokenType::User, None),
            None => return revoke_after_failed_probe(report),
        },
    };
    match token_type {
        TokenType::User => delete_permissions(http, kind, "me", input.token.expose()).await,
        TokenType::Page => match (app_token, user_id) {
            (Some(app_token), Some(user)) if !user.is_empty() && user.bytes().all(|b| b.is_ascii_digit()) => {
                delete_permissions(http, kind, &user, &app_token).await
            }
            (None, _) => RevokeOutcome::Skipped { why: "revoking a Page token needs the app credentials (spec.appSecretRef)".into() },
            (Some(_), _) => RevokeOutcome::Skipped { why: "debug_token did not name the Page token's user".into() },
        },
    }
}

/// The type probe before a revoke failed: a dead token is already revoked; a transient answer
/// is retried; anything else (rejected app credentials) fails.
fn revoke_after_failed_probe(report: CheckReport) -> RevokeOutcome {
    match (report.token, report.interruption) {
        (Some(TokenVerdict::Revoked { .. } | TokenVerdict::Expired { .. } | TokenVerdict::ExpiryFallback { .. }), _) => {
            RevokeOutcome::Revoked { already_invalid: true }
        }
        (Some(TokenVerdict::InvalidSecret { message }), _) => RevokeOutcome::Failed { message },
        (_, Some(i)) if i.unexpected.is_some() => RevokeOutcome::Failed { message: i.detail },
        (_, Some(i)) => RevokeOutcome::Interrupted(i),
        _ => RevokeOutcome::Failed { message: "Meta Graph did not say which kind of token this is".into() },
    }
}

#[cfg(test)]
mod tests {
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, ResponseTemplate};

    use super::*;
    use crate::conditions::RevokedReason;
    use crate::providers::graph::fixtures::*;

    fn exchange_call() -> wiremock::MockBuilder {
        Mock::given(method("GET"))
            .and(path("/v24.0/oauth/access_token"))
            .and(query_param("grant_type", "fb_exchange_token"))
            .and(query_param("client_id", CLIENT_ID))
            .and(query_param("client_secret", CLIENT_SECRET))
            .and(query_param("fb_exchange_token", TOKEN))
    }

    #[tokio::test]
    async fn the_exchange_sends_the_documented_query_and_reads_the_new_token() {
        let (server, http) = fake(ProviderKind::Facebook).await;
        exchange_call()
            .respond_with(answer(200, r#"{"access_token":"EAAnew","token_type":"bearer","expires_in":5183944}"#))
            .expect(1)
            .mount(&server)
            .await;
        let fx = Case::new("2002").with_app();
        let RefreshOutcome::Refreshed(c) = exchange(&http, ProviderKind::Facebook, &fx.input()).await else { panic!("not refreshed") };
        assert_eq!(c.access_token.expose(), "EAAnew");
        assert_eq!(c.expires_in, Some(std::time::Duration::from_secs(5_183_944)));
        assert_eq!(c.refresh_token, None);
    }

    #[tokio::test]
    async fn an_exchange_refused_for_the_client_secret_is_an_invalid_secret_and_g_rows_keep_their_meaning() {
        let (server, http) = fake(ProviderKind::Facebook).await;
        exchange_call()
            .respond_with(answer(400, r#"{"error":{"message":"Error validating client secret.","type":"OAuthException","code":1}}"#))
            .mount(&server)
            .await;
        let fx = Case::new("2002").with_app();
        let out = exchange(&http, ProviderKind::Facebook, &fx.input()).await;
        assert!(matches!(out, RefreshOutcome::Refused(TokenVerdict::InvalidSecret { .. })), "{out:?}");

        let (server, http) = fake(ProviderKind::Facebook).await;
        exchange_call().respond_with(answer(400, g("G1"))).mount(&server).await;
        let out = exchange(&http, ProviderKind::Facebook, &fx.input()).await;
        assert!(matches!(out, RefreshOutcome::Refused(TokenVerdict::Revoked { reason: RevokedReason::PasswordChanged, .. })), "{out:?}");

        // G12 (code 2) without a client word stays transient.
        let (server, http) = fake(ProviderKind::Facebook).await;
        exchange_call().respond_with(answer(400, g("G12"))).mount(&server).await;
        assert!(matches!(exchange(&http, ProviderKind::Facebook, &fx.input()).await, RefreshOutcome::Interrupted(_)));
    }

    #[tokio::test]
    async fn the_long_lived_refresh_sends_grant_and_token_without_a_version() {
        let (server, http) = fake(ProviderKind::InstagramLogin).await;
        Mock::given(method("GET"))
            .and(path("/refresh_access_token"))
            .and(query_param("grant_type", "ig_refresh_token"))
            .and(query_param("access_token", TOKEN))
            .respond_with(answer(200, r#"{"access_token":"IGAAnew","token_type":"bearer","expires_in":5183944}"#))
            .expect(1)
            .mount(&server)
            .await;
        let fx = Case::new("1");
        let out =
            refresh_long_lived(&http, ProviderKind::InstagramLogin, "https://graph.instagram.com", "ig_refresh_token", &fx.input()).await;
        assert!(matches!(out, RefreshOutcome::Refreshed(ref c) if c.access_token.expose() == "IGAAnew"), "{out:?}");
    }

    #[tokio::test]
    async fn a_user_token_is_revoked_with_its_own_permissions_delete() {
        let (server, http) = fake(ProviderKind::Facebook).await;
        fb1()
            .respond_with(answer(200, r#"{"data":{"type":"USER","is_valid":true,"expires_at":1893456000,"scopes":[],"user_id":"3003"}}"#))
            .mount(&server)
            .await;
        Mock::given(method("DELETE"))
            .and(path("/v24.0/me/permissions"))
            .and(query_param("access_token", TOKEN))
            .respond_with(answer(200, r#"{"success":true}"#))
            .expect(1)
            .mount(&server)
            .await;
        let fx = Case::new("2002").with_app();
        assert_eq!(revoke(&http, ProviderKind::Facebook, &fx.input()).await, RevokeOutcome::Revoked { already_invalid: false });
    }

    #[tokio::test]
    async fn a_page_token_is_revoked_for_its_user_with_the_app_token_and_skipped_without_app_credentials() {
        let (server, http) = fake(ProviderKind::Facebook).await;
        fb1()
            .respond_with(answer(200, r#"{"data":{"type":"PAGE","is_valid":true,"expires_at":0,"scopes":[],"user_id":"3003"}}"#))
            .mount(&server)
            .await;
        Mock::given(method("DELETE"))
            .and(path("/v24.0/3003/permissions"))
            .and(|r: &wiremock::Request| r.url.query().is_some_and(|q| q.contains("access_token=cid%7Ccsec-secret")))
            .respond_with(answer(200, r#"{"success":true}"#))
            .expect(1)
            .mount(&server)
            .await;
        let fx = Case::new("2002").with_app();
        assert_eq!(revoke(&http, ProviderKind::Facebook, &fx.input()).await, RevokeOutcome::Revoked { already_invalid: false });

        let (server, http) = fake(ProviderKind::Facebook).await;
        Mock::given(method("GET"))
            .and(path("/v24.0/me"))
            .respond_with(answer(200, r#"{"id":"2002","name":"Example Page"}"#))
            .mount(&server)
            .await;
        let out = revoke(&http, ProviderKind::Facebook, &Case::new("2002").input()).await;
        assert!(matches!(out, RevokeOutcome::Skipped { .. }), "{out:?}");
    }

    #[tokio::test]
    async fn a_dead_token_counts_as_revoked_and_a_transient_answer_is_retried() {
        let (server, http) = fake(ProviderKind::Facebook).await;
        Mock::given(method("GET"))
            .and(path("/v24.0/me"))
            .respond_with(ResponseTemplate::new(200).set_body_string("{}"))
            .mount(&server)
            .await;
        Mock::given(method("DELETE")).and(path("/v24.0/me/permissions")).respond_with(answer(400, g("G5"))).mount(&server).await;
        assert_eq!(
            revoke(&http, ProviderKind::Facebook, &Case::new("2002").input()).await,
            RevokeOutcome::Interrupted(Interruption::unavailable("Meta Graph answered without the account id"))
        );
        let (server, http) = fake(ProviderKind::Facebook).await;
        Mock::given(method("GET")).and(path("/v24.0/me")).respond_with(answer(400, g("G8"))).mount(&server).await;
        assert_eq!(
            revoke(&http, ProviderKind::Facebook, &Case::new("2002").input()).await,
            RevokeOutcome::Revoked { already_invalid: true }
        );
        let (server, http) = fake(ProviderKind::Facebook).await;
        Mock::given(method("GET")).and(path("/v24.0/me")).respond_with(answer(200, r#"{"id":"3003"}"#)).mount(&server).await;
        Mock::given(method("DELETE")).and(path("/v24.0/me/permissions")).respond_with(ResponseTemplate::new(503)).mount(&server).await;
        assert!(matches!(revoke(&http, ProviderKind::Facebook, &Case::new("2002").input()).await, RevokeOutcome::Interrupted(_)));
    }
}
