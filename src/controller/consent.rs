//! The reauthorization (consent) URL a person opens to reconnect (providers.md §2.9).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::providers::ProviderProfile;

/// Characters left as they are in a query value (RFC 3986 unreserved); everything else,
/// including space (`%20`), `/`, `:` and `,`, is percent-encoded.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

fn enc(s: &str) -> String {
    utf8_percent_encode(s, QUERY_VALUE).to_string()
}

/// What fills the consent URL's placeholders.
#[derive(Clone, Debug, Default)]
pub struct ConsentParams<'a> {
    /// The app's client id, from the app Secret.
    pub client_id: Option<&'a str>,
    /// `spec.redirectURL`, else the operator's default.
    pub redirect_uri: Option<&'a str>,
    /// `<namespace>/<name>` of the SocialConnection.
    pub state: &'a str,
    /// Required ∪ granted scopes, in order, without duplicates.
    pub scopes: Vec<String>,
    /// Scopes to ask for when `scopes` is empty.
    pub default_scopes: &'a [&'a str],
    /// Graph API version for `{ver}`.
    pub graph_version: &'a str,
    /// The PKCE S256 challenge of the connect flow (§2.14): fills X's `{code_challenge}` and
    /// is appended, with `code_challenge_method=S256`, to templates without one.
    pub code_challenge: Option<&'a str>,
}

/// Builds the consent URL, or `None` when a placeholder has no value (§2.9): no client id, no
/// redirect URL, or X's `{code_challenge}` (which exists only with an operator callback flow).
pub fn consent_url(profile: &ProviderProfile, p: &ConsentParams<'_>) -> Option<String> {
    let template = profile.consent_url;
    if template.is_empty() {
        return None;
    }
    let scopes: Vec<String> = if p.scopes.is_empty() { p.default_scopes.iter().map(|s| s.to_string()).collect() } else { p.scopes.clone() };
    let mut url = template.to_string();
    let fills: [(&str, Option<String>); 6] = [
        ("{client_id}", p.client_id.filter(|s| !s.is_empty()).map(enc)),
        ("{redirect_uri}", p.redirect_uri.filter(|s| !s.is_empty()).map(enc)),
        ("{state}", Some(enc(p.state))),
        ("{scopes}", Some(enc(&scopes.join(profile.scope_separator)))),
        ("{ver}", Some(p.graph_version.to_string())),
        ("{code_challenge}", p.code_challenge.map(enc)),
    ];
    let pkce_in_template = template.contains("{code_challenge}");
    for (placeholder, value) in fills {
        if url.contains(placeholder) {
            url = url.replace(placeholder, &value?);
        }
    }
    // Any placeholder left (X's {code_challenge}) has no value: publish no URL.
    if url.contains('{') {
        return None;
    }
    if let Some(challenge) = p.code_challenge.filter(|_| !pkce_in_template) {
        url.push_str(&format!("&code_challenge={}&code_challenge_method=S256", enc(challenge)));
    }
    Some(url)
}

/// Required scopes followed by granted ones, without duplicates.
pub fn union_scopes(required: &[String], granted: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in required.iter().chain(granted) {
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::AppKeys;

    fn profile(url: &'static str, sep: &'static str) -> ProviderProfile {
        ProviderProfile {
            short_lived: false,
            app_keys: AppKeys::None,
            consent_url: url,
            scope_separator: sep,
            default_scopes: &["a", "b"],
            reports_scopes: false,
            tokens_expire: true,
        }
    }

    #[test]
    fn placeholders_are_filled_and_encoded() {
        let p = profile("https://x.test/auth?client_id={client_id}&redirect_uri={redirect_uri}&state={state}&scope={scopes}", " ");
        let url = consent_url(
            &p,
            &ConsentParams {
                client_id: Some("cid"),
                redirect_uri: Some("https://app.test/cb"),
                state: "ns/conn",
                scopes: vec!["openid".into(), "w_member_social".into()],
                default_scopes: &[],
                graph_version: "v24.0",
                code_challenge: None,
            },
        );
        assert_eq!(
            url.as_deref(),
            Some(
                "https://x.test/auth?client_id=cid&redirect_uri=https%3A%2F%2Fapp.test%2Fcb&state=ns%2Fconn&scope=openid%20w_member_social"
            )
        );
    }

    #[test]
    fn a_missing_value_means_no_url() {
        let p = profile("https://x.test/auth?client_id={client_id}&redirect_uri={redirect_uri}", ",");
        assert_eq!(consent_url(&p, &ConsentParams { redirect_uri: Some("https://r"), ..Default::default() }), None);
        let x = profile("https://x.com/i/oauth2/authorize?client_id={client_id}&code_challenge={code_challenge}", " ");
        assert_eq!(consent_url(&x, &ConsentParams { client_id: Some("c"), ..Default::default() }), None);
    }

    #[test]
    fn the_connect_flow_fills_or_appends_the_pkce_challenge() {
        let x = profile(
            "https://x.com/i/oauth2/authorize?client_id={client_id}&code_challenge={code_challenge}&code_challenge_method=S256",
            " ",
        );
        let p = ConsentParams { client_id: Some("c"), code_challenge: Some("abc-_"), ..Default::default() };
        assert_eq!(
            consent_url(&x, &p).as_deref(),
            Some("https://x.com/i/oauth2/authorize?client_id=c&code_challenge=abc-_&code_challenge_method=S256")
        );
        let g = profile("https://accounts.google.com/o/oauth2/v2/auth?client_id={client_id}&state={state}", " ");
        assert_eq!(
            consent_url(&g, &ConsentParams { state: "s", ..p }).as_deref(),
            Some("https://accounts.google.com/o/oauth2/v2/auth?client_id=c&state=s&code_challenge=abc-_&code_challenge_method=S256")
        );
    }

    #[test]
    fn fixed_urls_need_no_values_and_defaults_fill_empty_scopes() {
        assert_eq!(
            consent_url(&profile("https://t.me/BotFather", ","), &ConsentParams::default()).as_deref(),
            Some("https://t.me/BotFather")
        );
        let p = profile("https://f.test/{ver}/dialog?scope={scopes}", ",");
        let url = consent_url(&p, &ConsentParams { default_scopes: &["a", "b"], graph_version: "v24.0", ..Default::default() });
        assert_eq!(url.as_deref(), Some("https://f.test/v24.0/dialog?scope=a%2Cb"));
    }
}
