//! The operator's core behaviour on a real API server, with facebook as the example provider.

use serde_json::json;

use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_valid_facebook_page_token_becomes_ready() {
    let w = world();
    let client = w.client().await;
    let ns = namespace(&client, "fb-valid").await;
    let token = fakes::token("page");
    secret(&client, &ns, "fb-token", &[("access_token", &token)]).await;
    connection(
        &client,
        &ns,
        "page",
        json!({
            "provider": "facebook",
            "account": {"id": fakes::FACEBOOK_PAGE_ID},
            "secretRef": {"name": "fb-token"},
        }),
    )
    .await;
    let st = wait_condition(&client, &ns, "page", "Ready", "True", "AllChecksPassed").await;
    assert_eq!(condition(&st, "Valid").unwrap().1, "TokenValid");
    assert_eq!(st.observed_generation, Some(1));
    assert!(st.token_fingerprint.as_ref().is_some_and(|f| f.len() == 16));
    assert!(st.last_check_time.is_some() && st.next_check_time.is_some());
    assert_no_leaks(&client, &ns, &[&token]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_secret_is_reported_and_recovers_once_created() {
    let w = world();
    let client = w.client().await;
    let ns = namespace(&client, "missing").await;
    connection(
        &client,
        &ns,
        "page",
        json!({
            "provider": "facebook",
            "account": {"id": fakes::FACEBOOK_PAGE_ID},
            "secretRef": {"name": "later"},
        }),
    )
    .await;
    let st = wait_condition(&client, &ns, "page", "Valid", "False", "SecretNotFound").await;
    assert!(condition(&st, "Valid").unwrap().2.contains("later"));
    assert_eq!(condition(&st, "Ready").unwrap().0, "False");
    wait_event(&client, &ns, "SecretNotFound").await;
    let token = fakes::token("page");
    secret(&client, &ns, "later", &[("access_token", &token)]).await;
    wait_condition(&client, &ns, "page", "Ready", "True", "AllChecksPassed").await;
    assert_no_leaks(&client, &ns, &[&token]).await;
}
