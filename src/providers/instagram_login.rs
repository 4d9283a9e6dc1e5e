//! InstagramLogin (providers.md). Placeholder until the provider is implemented.

use async_trait::async_trait;

use super::{AppKeys, CheckInput, CheckReport, Interruption, Provider, ProviderHttp, ProviderProfile};
use crate::api::ProviderKind;

/// The InstagramLogin provider.
pub struct InstagramLogin;

static PROFILE: ProviderProfile = ProviderProfile {
    short_lived: false,
    app_keys: AppKeys::None,
    consent_url: "",
    scope_separator: ",",
    default_scopes: &[],
    reports_scopes: false,
    tokens_expire: true,
};

#[async_trait]
impl Provider for InstagramLogin {
    fn kind(&self) -> ProviderKind {
        ProviderKind::InstagramLogin
    }

    fn profile(&self) -> &'static ProviderProfile {
        &PROFILE
    }

    async fn check(&self, _http: &ProviderHttp, _input: &CheckInput<'_>) -> CheckReport {
        CheckReport::interrupted(Interruption::unclassified("not implemented"))
    }
}
