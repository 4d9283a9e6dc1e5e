//! One module per provider family; each turns a checked request into the reply providers.md
//! prescribes for the token's scenario.

mod google;
mod linkedin;
mod meta;
mod pinterest;
mod telegram;
mod tiktok;
mod x;

use crate::request::{Outcome, Reply};
use crate::state::{Cx, Provider};

/// The scenario names a provider knows besides the universal ones.
pub(crate) fn scenarios(provider: Provider) -> &'static [&'static str] {
    match provider {
        Provider::Facebook => meta::FACEBOOK_SCENARIOS,
        Provider::Instagram => meta::INSTAGRAM_SCENARIOS,
        Provider::InstagramLogin => meta::INSTAGRAM_LOGIN_SCENARIOS,
        Provider::Threads => meta::THREADS_SCENARIOS,
        Provider::Linkedin => linkedin::SCENARIOS,
        Provider::X => x::SCENARIOS,
        Provider::Pinterest => pinterest::SCENARIOS,
        Provider::Youtube => google::YOUTUBE_SCENARIOS,
        Provider::GoogleBusinessProfile => google::GBP_SCENARIOS,
        Provider::Telegram => telegram::SCENARIOS,
        Provider::Tiktok => tiktok::SCENARIOS,
    }
}

/// Checks what every request must carry, then lets the provider answer.
pub(crate) fn dispatch(cx: &Cx) -> Reply {
    // A browser opens the consent page: none of the operator's headers apply.
    if let Some(reply) = crate::connect::consent_page(cx) {
        return reply;
    }
    let outcome = cx.req.check_common().and_then(|()| match crate::connect::exchange(cx) {
        Some(outcome) => outcome,
        None => provider(cx),
    });
    let mut reply = outcome.unwrap_or_else(|reply| reply);
    reply.delay = reply.delay.or(cx.delay.get());
    reply
}

/// The provider's own routes.
fn provider(cx: &Cx) -> Outcome {
    match cx.sh.provider {
        Provider::Facebook => meta::facebook(cx),
        Provider::Instagram => meta::instagram(cx),
        Provider::InstagramLogin => meta::instagram_login(cx),
        Provider::Threads => meta::threads(cx),
        Provider::Linkedin => linkedin::linkedin(cx),
        Provider::X => x::x(cx),
        Provider::Pinterest => pinterest::pinterest(cx),
        Provider::Youtube => google::youtube(cx),
        Provider::GoogleBusinessProfile => google::google_business_profile(cx),
        Provider::Telegram => telegram::telegram(cx),
        Provider::Tiktok => tiktok::tiktok(cx),
    }
}
