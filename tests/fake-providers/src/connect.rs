//! The connect flow's side of every fake (providers.md §2.14 "Tests"): the consent page and the
//! code exchange.
//!
//! `GET` on a provider's consent path (no operator headers: a browser calls it) answers a small
//! page whose "Allow" link redirects to `redirect_uri?code=…&state=…` (state echoed) and whose
//! "Deny" link to `redirect_uri?error=access_denied&state=…`. The code is
//! `<scenario>__code-<n>`; the scenario is the one set with
//! [`crate::FakeProviders::set_consent_scenario`] (default `valid`). The exchange accepts a code
//! once, for the redirect URI and client id it was issued to, and for PKCE providers only with
//! the `code_verifier` whose S256 matches the page's `code_challenge`; it mints tokens that keep
//! the code's scenario (`valid__XAnew-7`), so the check that follows answers that scenario.

use axum::http::Method;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::request::{Outcome, Reply, check_client};
use crate::state::{CodeGrant, Cx, Provider};

/// The consent path of each provider (§3 "Consent URL"); Graph ones after `/{ver}`.
fn consent_path(provider: Provider, path: &str) -> bool {
    match provider {
        Provider::Facebook | Provider::Instagram => {
            path.strip_prefix("/v").and_then(|r| r.split_once('/')).is_some_and(|(_, rest)| rest == "dialog/oauth")
        }
        Provider::InstagramLogin | Provider::Threads => path == "/oauth/authorize",
        Provider::Linkedin => path == "/oauth/v2/authorization",
        Provider::X => path == "/i/oauth2/authorize",
        Provider::Pinterest => path == "/oauth/" || path == "/oauth",
        Provider::Youtube | Provider::GoogleBusinessProfile => path == "/o/oauth2/v2/auth",
        Provider::Tiktok => path == "/v2/auth/authorize/",
        Provider::Telegram => false,
    }
}

fn pkce(provider: Provider) -> bool {
    matches!(provider, Provider::X | Provider::Youtube | Provider::GoogleBusinessProfile | Provider::Tiktok)
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let q = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{q}")
}

/// The consent page, when the request is a `GET` on the provider's consent path.
pub(crate) fn consent_page(cx: &Cx) -> Option<Reply> {
    if !consent_path(cx.sh.provider, &cx.req.path) {
        return None;
    }
    Some(page(cx).unwrap_or_else(|r| r))
}

fn page(cx: &Cx) -> Outcome {
    let req = cx.req;
    req.method_is(Method::GET)?;
    let provider = cx.sh.provider;
    let client_id = if provider == Provider::Tiktok { req.need_query("client_key")? } else { req.need_query("client_id")? };
    if !client_id.starts_with("cid-") {
        return Err(Reply::fake(400, format!("client id must look like cid-<anything> (got {client_id:?})")));
    }
    req.need_query_eq("response_type", "code")?;
    let redirect = req.need_query("redirect_uri")?;
    if !(redirect.starts_with("http://") || redirect.starts_with("https://")) {
        return Err(Reply::fake(400, format!("redirect_uri must be an absolute http(s) URL (got {redirect:?})")));
    }
    let state = req.need_query("state")?;
    req.need_query("scope")?;
    let challenge = if pkce(provider) {
        req.need_query_eq("code_challenge_method", "S256")?;
        let c = req.need_query("code_challenge")?;
        if c.len() != 43 {
            return Err(Reply::fake(400, format!("code_challenge must be 43 base64url characters (got {} characters)", c.len())));
        }
        Some(c.to_string())
    } else {
        if req.query_param("code_challenge").is_some() {
            return Err(Reply::fake(400, "this provider's consent URL has no code_challenge"));
        }
        None
    };
    let scenario = cx.sh.consent_scenario();
    let code = cx.sh.mint_named(&scenario, "code");
    cx.sh.grant(&code, CodeGrant { redirect_uri: redirect.to_string(), client_id: client_id.to_string(), challenge });
    let allow = with_query(redirect, &[("code", &code), ("state", state)]);
    let deny = with_query(redirect, &[("error", "access_denied"), ("error_description", "The user denied the request"), ("state", state)]);
    let body = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{name} (fake): allow access?</title></head><body>\n<h1>Allow social-connection-operator to use your {name} account?</h1>\n\
         <p><a id=\"allow\" href=\"{allow}\">Allow</a></p>\n<p><a id=\"deny\" href=\"{deny}\">Deny</a></p>\n</body></html>\n",
        name = provider.name(),
        allow = html_escape(&allow),
        deny = html_escape(&deny),
    );
    let mut reply = Reply::ok(body);
    reply.content_type = "text/html; charset=utf-8";
    Ok(reply)
}

/// The invalid-code answer of each provider family.
fn invalid_code(provider: Provider) -> Reply {
    match provider {
        Provider::Facebook | Provider::Instagram | Provider::InstagramLogin | Provider::Threads => Reply::json(
            400,
            r#"{"error":{"message":"This authorization code has been used.","type":"OAuthException","code":100,"error_subcode":36009}}"#,
        ),
        _ => Reply::json(400, r#"{"error":"invalid_grant","error_description":"Authorization code is invalid or expired."}"#),
    }
}

fn client_refused(provider: Provider) -> Reply {
    match provider {
        Provider::Facebook | Provider::Instagram | Provider::InstagramLogin | Provider::Threads => {
            Reply::json(400, r#"{"error":{"message":"Error validating client secret.","type":"OAuthException","code":1}}"#)
        }
        _ => Reply::json(401, r#"{"error":"invalid_client","error_description":"Client authentication failed."}"#),
    }
}

/// Checks a code against its grant and uses it up: `Err` is the reply (invalid code, wrong
/// redirect, wrong verifier as a contract violation).
fn redeem(cx: &Cx, code: &str, redirect: &str, client_id: &str, verifier: Option<&str>) -> Result<String, Reply> {
    let provider = cx.sh.provider;
    let Some(grant) = cx.sh.redeem(code) else { return Err(invalid_code(provider)) };
    if grant.redirect_uri != redirect {
        return Err(Reply::fake(400, format!("redirect_uri differs from the consent request's ({redirect:?})")));
    }
    if grant.client_id != client_id {
        return Err(Reply::fake(400, "client id differs from the consent request's"));
    }
    match (&grant.challenge, verifier) {
        (Some(challenge), Some(v)) => {
            let s256 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes()));
            if &s256 != challenge {
                return Err(Reply::fake(400, "code_verifier does not match the code_challenge (S256)"));
            }
        }
        (Some(_), None) => return Err(Reply::fake(400, "code_verifier is required (PKCE)")),
        (None, Some(_)) => return Err(Reply::fake(400, "this provider's exchange has no code_verifier")),
        (None, None) => {}
    }
    Ok(crate::state::scenario_of(code))
}

/// The code exchange, when the request is one (after the checks every request gets).
pub(crate) fn exchange(cx: &Cx) -> Option<Outcome> {
    let req = cx.req;
    let provider = cx.sh.provider;
    let path = req.path.as_str();
    let is_exchange = match provider {
        Provider::Facebook | Provider::Instagram => {
            req.method == Method::GET && path.ends_with("/oauth/access_token") && req.query_param("code").is_some()
        }
        Provider::InstagramLogin | Provider::Threads => {
            (req.method == Method::POST && path == "/oauth/access_token") || (req.method == Method::GET && path == "/access_token")
        }
        Provider::Linkedin => path == "/oauth/v2/accessToken" && req.form_param("grant_type") == Some("authorization_code"),
        Provider::X => path == "/2/oauth2/token" && req.form_param("grant_type") == Some("authorization_code"),
        Provider::Pinterest => path == "/v5/oauth/token" && req.form_param("grant_type") == Some("authorization_code"),
        Provider::Youtube | Provider::GoogleBusinessProfile => {
            path == "/token" && req.form_param("grant_type") == Some("authorization_code")
        }
        Provider::Tiktok => path == "/v2/oauth/token/" && req.form_param("grant_type") == Some("authorization_code"),
        Provider::Telegram => false,
    };
    is_exchange.then(|| answer(cx))
}

fn answer(cx: &Cx) -> Outcome {
    let req = cx.req;
    let provider = cx.sh.provider;
    // The long-lived step of instagram-login and threads.
    if req.method == Method::GET && req.path == "/access_token" {
        let grant = if provider == Provider::Threads { "th_exchange_token" } else { "ig_exchange_token" };
        req.need_query_eq("grant_type", grant)?;
        if req.need_query("client_secret")? == crate::BAD_SECRET {
            return Ok(client_refused(provider));
        }
        let short = req.query_token("access_token")?;
        let scenario = crate::state::scenario_of(short);
        if !short.contains("__short-") {
            return Ok(invalid_code(provider));
        }
        let stem = if provider == Provider::Threads { "THAAnew" } else { "IGAAnew" };
        let long = cx.sh.mint_named(&scenario, stem);
        return Ok(Reply::ok(format!("{{\"access_token\":\"{long}\",\"token_type\":\"bearer\",\"expires_in\":5183944}}")));
    }
    let (code, redirect, client_id, secret, verifier) = match provider {
        Provider::Facebook | Provider::Instagram => {
            let q = |n| req.need_query(n);
            (q("code")?, q("redirect_uri")?, q("client_id")?, Some(q("client_secret")?), None)
        }
        Provider::Pinterest => {
            req.need_form_post()?;
            let Some((id, secret)) = req.basic()? else { return Err(Reply::fake(400, "the exchange needs Basic client authentication")) };
            let (code, redirect) = (req.need_form("code")?, req.need_form("redirect_uri")?);
            return finish(cx, code, redirect, &id, Some(&secret), None);
        }
        Provider::X => {
            req.need_form_post()?;
            let id = req.need_form("client_id")?;
            let secret = match req.basic()? {
                Some((basic_id, _)) if basic_id != id => return Err(Reply::fake(400, "the Basic client id differs from form client_id")),
                Some((_, secret)) => Some(secret),
                None => None,
            };
            let (code, redirect, verifier) = (req.need_form("code")?, req.need_form("redirect_uri")?, req.form_param("code_verifier"));
            return finish(cx, code, redirect, id, secret.as_deref(), verifier);
        }
        Provider::Tiktok => {
            req.need_form_post()?;
            let f = |n| req.need_form(n);
            (f("code")?, f("redirect_uri")?, f("client_key")?, Some(f("client_secret")?), req.form_param("code_verifier"))
        }
        _ => {
            req.need_form_post()?;
            req.need_form_eq("grant_type", "authorization_code")?;
            let f = |n| req.need_form(n);
            (f("code")?, f("redirect_uri")?, f("client_id")?, Some(f("client_secret")?), req.form_param("code_verifier"))
        }
    };
    finish(cx, code, redirect, client_id, secret, verifier)
}

fn finish(cx: &Cx, code: &str, redirect: &str, client_id: &str, secret: Option<&str>, verifier: Option<&str>) -> Outcome {
    let provider = cx.sh.provider;
    if let Some(secret) = secret
        && check_client(client_id, secret)? == crate::request::Client::BadSecret
    {
        return Ok(client_refused(provider));
    }
    let scenario = match redeem(cx, code, redirect, client_id, verifier) {
        Ok(s) => s,
        Err(reply) => return if reply.fake_error.is_some() { Err(reply) } else { Ok(reply) },
    };
    let mint = |stem: &str| cx.sh.mint_named(&scenario, stem);
    let body = match provider {
        Provider::Facebook | Provider::Instagram => {
            format!("{{\"access_token\":\"{}\",\"token_type\":\"bearer\",\"expires_in\":5183}}", mint("EAAshort"))
        }
        Provider::InstagramLogin | Provider::Threads => {
            format!("{{\"access_token\":\"{}\",\"user_id\":\"9001\"}}", mint("short"))
        }
        Provider::Linkedin => format!(
            "{{\"access_token\":\"{}\",\"expires_in\":5184000,\"refresh_token\":\"{}\",\"refresh_token_expires_in\":31536000,\"scope\":\"openid,profile,w_organization_social,rw_organization_admin\"}}",
            mint("AQVnew"),
            mint("AQXnew")
        ),
        Provider::X => format!(
            "{{\"token_type\":\"bearer\",\"expires_in\":7200,\"access_token\":\"{}\",\"scope\":\"tweet.read users.read tweet.write offline.access\",\"refresh_token\":\"{}\"}}",
            mint("XAnew"),
            mint("XRnew")
        ),
        Provider::Pinterest => format!(
            "{{\"access_token\":\"{}\",\"refresh_token\":\"{}\",\"response_type\":\"authorization_code\",\"token_type\":\"bearer\",\"expires_in\":2592000,\"refresh_token_expires_in\":31536000,\"scope\":\"user_accounts:read,boards:read,pins:read,pins:write\"}}",
            mint("pina_new"),
            mint("pinr_new")
        ),
        Provider::Youtube => format!(
            "{{\"access_token\":\"{}\",\"expires_in\":3599,\"refresh_token\":\"{}\",\"scope\":\"https://www.googleapis.com/auth/youtube.readonly https://www.googleapis.com/auth/youtube.upload\",\"token_type\":\"Bearer\"}}",
            mint("ya29.new"),
            mint("GRnew")
        ),
        Provider::GoogleBusinessProfile => format!(
            "{{\"access_token\":\"{}\",\"expires_in\":3599,\"refresh_token\":\"{}\",\"scope\":\"https://www.googleapis.com/auth/business.manage\",\"token_type\":\"Bearer\"}}",
            mint("ya29.new"),
            mint("GRnew")
        ),
        Provider::Tiktok => format!(
            "{{\"access_token\":\"{}\",\"expires_in\":86400,\"open_id\":\"tt-open-1\",\"refresh_expires_in\":31536000,\"refresh_token\":\"{}\",\"scope\":\"user.info.basic,video.upload,video.publish\",\"token_type\":\"Bearer\"}}",
            mint("act.new"),
            mint("rft.new")
        ),
        Provider::Telegram => return Err(cx.req.no_route()),
    };
    Ok(Reply::ok(body))
}
