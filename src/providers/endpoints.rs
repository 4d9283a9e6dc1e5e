//! `--provider-endpoint <provider>=<base-url>` and `SOCIAL_PROVIDER_ENDPOINTS`: where each
//! provider's calls go (providers.md §2.1). Used by tests and demos to point the operator at
//! fake servers, and by people who route through a proxy.

use std::collections::BTreeMap;

use url::Url;

use crate::api::ProviderKind;

/// A base URL that replaces scheme, host and port of every call of one provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointBase {
    scheme: String,
    host: String,
    port: Option<u16>,
}

/// Why an endpoint override was refused at start-up.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EndpointError {
    /// Not of the form `provider=url`.
    #[error("provider endpoint {0:?} is not of the form <provider>=<base-url>")]
    Malformed(String),
    /// Unknown provider name.
    #[error("provider endpoint names unknown provider {0:?}")]
    UnknownProvider(String),
    /// The same provider twice in one source.
    #[error("provider endpoint for {0} is given twice")]
    Repeated(ProviderKind),
    /// The URL is not `http(s)://host[:port]` with an optional trailing `/`.
    #[error("provider endpoint for {provider}: {why} (expected http(s)://host[:port])")]
    BadUrl {
        /// Which provider.
        provider: ProviderKind,
        /// What is wrong.
        why: &'static str,
    },
}

/// The endpoint overrides in force.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Endpoints {
    overrides: BTreeMap<ProviderKind, EndpointBase>,
}

fn parse_pairs<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<BTreeMap<ProviderKind, EndpointBase>, EndpointError> {
    let mut out = BTreeMap::new();
    for item in items {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let (name, url) = item.split_once('=').ok_or_else(|| EndpointError::Malformed(item.to_string()))?;
        let provider = ProviderKind::from_name(name.trim()).ok_or_else(|| EndpointError::UnknownProvider(name.trim().to_string()))?;
        let base = parse_base(provider, url.trim())?;
        if out.insert(provider, base).is_some() {
            return Err(EndpointError::Repeated(provider));
        }
    }
    Ok(out)
}

fn parse_base(provider: ProviderKind, raw: &str) -> Result<EndpointBase, EndpointError> {
    let bad = |why| EndpointError::BadUrl { provider, why };
    let url = Url::parse(raw).map_err(|_| bad("not a URL"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(bad("scheme must be http or https"));
    }
    if url.path() != "/" && !url.path().is_empty() {
        return Err(bad("a path is not allowed"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("a query is not allowed"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("credentials are not allowed"));
    }
    let host = url.host_str().ok_or_else(|| bad("a host is required"))?;
    Ok(EndpointBase { scheme: url.scheme().to_string(), host: host.to_string(), port: url.port() })
}

impl Endpoints {
    /// Builds the overrides from flag values and the environment variable's value (comma
    /// separated pairs); a flag wins over the environment for the same provider.
    pub fn from_sources(flags: &[String], env: Option<&str>) -> Result<Self, EndpointError> {
        let mut overrides = parse_pairs(env.unwrap_or("").split(','))?;
        let from_flags = parse_pairs(flags.iter().map(String::as_str))?;
        overrides.extend(from_flags);
        Ok(Endpoints { overrides })
    }

    /// Rewrites a provider's default URL with its override, keeping path and query.
    pub fn apply(&self, provider: ProviderKind, url: &mut Url) {
        if let Some(base) = self.overrides.get(&provider) {
            // These setters only fail for cannot-be-a-base URLs, which provider URLs never are.
            let _ = url.set_scheme(&base.scheme);
            let _ = url.set_host(Some(&base.host));
            let _ = url.set_port(base.port);
        }
    }

    /// Whether any override is set for `provider`.
    pub fn is_overridden(&self, provider: ProviderKind) -> bool {
        self.overrides.contains_key(&provider)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_env_and_paths_are_kept() {
        let e = Endpoints::from_sources(&["x=http://127.0.0.1:9000/".to_string()], Some("x=http://127.0.0.1:1,telegram=https://tg.local"))
            .unwrap();
        let mut u = Url::parse("https://api.x.com/2/users/me?a=b").unwrap();
        e.apply(ProviderKind::X, &mut u);
        assert_eq!(u.as_str(), "http://127.0.0.1:9000/2/users/me?a=b");
        let mut t = Url::parse("https://api.telegram.org/botX/getMe").unwrap();
        e.apply(ProviderKind::Telegram, &mut t);
        assert_eq!(t.as_str(), "https://tg.local/botX/getMe");
    }

    #[test]
    fn bad_overrides_are_startup_errors() {
        let cases = [
            ("nope=http://h", "unknown provider"),
            ("x=http://h/path", "path"),
            ("x=http://h?q=1", "query"),
            ("x=ftp://h", "scheme"),
            ("x", "form"),
        ];
        for (input, needle) in cases {
            let e = Endpoints::from_sources(&[input.to_string()], None).unwrap_err();
            assert!(e.to_string().contains(needle), "{input}: {e}");
        }
        let e = Endpoints::from_sources(&["x=http://a".into(), "x=http://b".into()], None).unwrap_err();
        assert_eq!(e, EndpointError::Repeated(ProviderKind::X));
    }
}
