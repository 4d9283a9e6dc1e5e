//! What a person sees with kubectl: printer columns, short name and category, field docs, and
//! the API server refusing bad objects with clear messages.

use serde_json::json;

use crate::support::*;

/// A kubectl table split into cells by the header's column starts (cells may be empty).
fn table(out: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = out.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().unwrap_or_else(|| panic!("no table in {out:?}"));
    // Column names may contain one space ("LAST CHECK"): a column starts after two spaces.
    let mut starts = vec![0];
    let bytes = header.as_bytes();
    for i in 2..bytes.len() {
        if bytes[i] != b' ' && bytes[i - 1] == b' ' && bytes[i - 2] == b' ' {
            starts.push(i);
        }
    }
    let cut = |line: &str| -> Vec<String> {
        starts
            .iter()
            .enumerate()
            .map(|(k, &s)| {
                let e = starts.get(k + 1).copied().unwrap_or(line.len()).min(line.len());
                line.get(s.min(line.len())..e).unwrap_or("").trim().to_string()
            })
            .collect()
    };
    let names = cut(header);
    let rows = lines.map(cut).collect();
    (names, rows)
}

fn row<'a>(rows: &'a [Vec<String>], name: &str) -> &'a Vec<String> {
    rows.iter().find(|r| r[0] == name).unwrap_or_else(|| panic!("no row {name} in {rows:?}"))
}

fn kubectl_ok(args: &[&str]) -> String {
    let (ok, out, err) = world().kubectl(args, None);
    assert!(ok, "kubectl {args:?} failed: {err}");
    out
}

/// A ready facebook connection (expires 2030, from debug_token), one without a known expiry and
/// a revoked one.
async fn three_connections(prefix: &str) -> (kube::Client, String, Vec<String>) {
    let w = world();
    let client = w.client().await;
    let ns = namespace(&client, prefix).await;
    let ready = fakes::token("valid");
    let plain = fakes::token("page");
    let revoked = fakes::token("g5");
    let csec = fakes::token("csec");
    secret(&client, &ns, "app", &[("client_id", "cid-kubectl"), ("client_secret", &csec)]).await;
    secret(&client, &ns, "ready", &[("access_token", &ready)]).await;
    secret(&client, &ns, "plain", &[("access_token", &plain)]).await;
    secret(&client, &ns, "revoked", &[("access_token", &revoked)]).await;
    connection(
        &client,
        &ns,
        "ready",
        json!({
            "provider": "facebook", "account": {"id": fakes::FACEBOOK_PAGE_ID},
            "secretRef": {"name": "ready"}, "appSecretRef": {"name": "app"},
        }),
    )
    .await;
    connection(
        &client,
        &ns,
        "plain",
        json!({
            "provider": "facebook", "account": {"id": fakes::FACEBOOK_PAGE_ID}, "secretRef": {"name": "plain"},
        }),
    )
    .await;
    connection(
        &client,
        &ns,
        "revoked",
        json!({
            "provider": "facebook", "account": {"id": fakes::FACEBOOK_PAGE_ID}, "secretRef": {"name": "revoked"},
        }),
    )
    .await;
    wait_condition(&client, &ns, "ready", "Ready", "True", "AllChecksPassed").await;
    wait_condition(&client, &ns, "plain", "Ready", "True", "AllChecksPassed").await;
    wait_condition(&client, &ns, "revoked", "Ready", "False", "TokenInvalidated").await;
    (client, ns, vec![ready, plain, revoked, csec])
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_get_lists_provider_account_readiness_and_the_blocking_reason() {
    let (client, ns, secrets) = three_connections("get").await;
    let out = kubectl_ok(&["get", "socialconnections", "-n", &ns]);
    let (header, rows) = table(&out);
    assert_eq!(header, ["NAME", "PROVIDER", "ACCOUNT", "READY", "REASON", "EXPIRES", "AGE"], "{out}");
    let ready = row(&rows, "ready");
    assert_eq!(ready[1..5], ["facebook", "2002", "True", ""].map(String::from), "{out}");
    let revoked = row(&rows, "revoked");
    assert_eq!(revoked[1..5], ["facebook", "2002", "False", "TokenInvalidated"].map(String::from), "{out}");
    // No known expiry: an empty cell.
    assert!(["", "<none>"].contains(&row(&rows, "plain")[5].as_str()), "{out}");
    assert!(!ready[6].is_empty() && !ready[6].starts_with('<'), "AGE {:?}", ready[6]);
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_no_leaks(&client, &ns, &refs).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_get_wide_adds_last_check_and_next_check() {
    let (client, ns, secrets) = three_connections("wide").await;
    let out = kubectl_ok(&["get", "socialconnections", "-n", &ns, "-o", "wide"]);
    let (header, rows) = table(&out);
    assert_eq!(header, ["NAME", "PROVIDER", "ACCOUNT", "READY", "REASON", "EXPIRES", "AGE", "LAST CHECK", "NEXT CHECK"], "{out}");
    let ready = row(&rows, "ready");
    // LAST CHECK is a moment ago: an age such as "3s".
    assert!(ready[7].ends_with('s') || ready[7].ends_with('m'), "LAST CHECK {:?} in\n{out}", ready[7]);
    assert!(!ready[8].is_empty(), "NEXT CHECK empty in\n{out}");
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_no_leaks(&client, &ns, &refs).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_get_shows_when_the_token_expires_and_when_it_is_checked_next() {
    // expiresAt and nextCheckTime lie in the future; a column must show them, not "<invalid>"
    // (what the API server prints for a future time in a `date` column).
    let (client, ns, secrets) = three_connections("future").await;
    let out = kubectl_ok(&["get", "socialconnections", "-n", &ns, "-o", "wide"]);
    let (_, rows) = table(&out);
    let ready = row(&rows, "ready");
    let mut problems = vec![];
    if ready[5].is_empty() || ready[5].starts_with('<') {
        problems.push(format!("EXPIRES of a token expiring 2030-01-01 shows {:?}", ready[5]));
    }
    if ready[8].is_empty() || ready[8].starts_with('<') {
        problems.push(format!("NEXT CHECK of a connection checked again within the hour shows {:?}", ready[8]));
    }
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_no_leaks(&client, &ns, &refs).await;
    assert!(problems.is_empty(), "{problems:#?}\n{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_short_name_and_the_social_category_list_connections() {
    let w = world();
    let client = w.client().await;
    let ns = namespace(&client, "names").await;
    let token = fakes::token("g5");
    secret(&client, &ns, "tok", &[("access_token", &token)]).await;
    connection(
        &client,
        &ns,
        "conn",
        json!({
            "provider": "facebook", "account": {"id": fakes::FACEBOOK_PAGE_ID}, "secretRef": {"name": "tok"},
        }),
    )
    .await;
    wait_condition(&client, &ns, "conn", "Ready", "False", "TokenInvalidated").await;
    for what in ["socialconn", "social"] {
        let out = kubectl_ok(&["get", what, "-n", &ns]);
        let (header, rows) = table(&out);
        assert_eq!(header[0], "NAME", "{out}");
        assert!(
            rows.iter().any(|r| r[0] == "conn" || r[0] == "socialconnection.social.connections.dev/conn"),
            "kubectl get {what} does not list the connection:\n{out}"
        );
        assert!(out.contains("TokenInvalidated"), "kubectl get {what} lacks the printer columns:\n{out}");
    }
    assert_no_leaks(&client, &ns, &[&token]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_explain_prints_the_expiry_warning_field_documentation() {
    let out = kubectl_ok(&["explain", "socialconnection.spec.expiryWarning"]);
    let flat = out.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("FIELD: expiryWarning <string>"), "{out}");
    assert!(
        flat.contains("How long before the access token expires the ExpiringSoon condition turns True and a TokenExpiringSoon event is recorded, as a Go duration (for example 168h). Default 168h (7 days)."),
        "{out}"
    );
}

fn bad_object(name: &str, spec: &str) -> String {
    format!("apiVersion: social.connections.dev/v1alpha1\nkind: SocialConnection\nmetadata:\n  name: {name}\nspec:\n{spec}")
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_apply_refuses_invalid_connections_with_clear_messages() {
    let w = world();
    let client = w.client().await;
    let ns = namespace(&client, "refused").await;
    let base = "  account: {id: \"2002\"}\n  secretRef: {name: tok}\n";
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "unknown-provider",
            format!("  provider: myspace\n{base}"),
            vec![
                "spec.provider",
                "Unsupported value: \"myspace\"",
                "supported values",
                "\"facebook\"",
                "\"instagram-login\"",
                "\"google-business-profile\"",
                "\"tiktok\"",
            ],
        ),
        ("bad-interval", format!("  provider: facebook\n{base}  checkInterval: 1 hour\n"), vec!["spec.checkInterval", "should match"]),
        ("bad-warning", format!("  provider: facebook\n{base}  expiryWarning: 7d\n"), vec!["spec.expiryWarning", "should match"]),
        (
            "short-interval",
            format!("  provider: facebook\n{base}  checkInterval: 10s\n"),
            vec!["spec.checkInterval", "checkInterval must be at least 30s"],
        ),
        ("no-secret", "  provider: facebook\n  account: {id: \"2002\"}\n".to_string(), vec!["spec.secretRef", "Required value"]),
    ];
    let mut problems = vec![];
    for (name, spec, needles) in &cases {
        let (ok, out, err) = w.kubectl(&["apply", "-n", &ns, "-f", "-"], Some(&bad_object(name, spec)));
        if ok {
            problems.push(format!("{name}: accepted: {out}"));
            continue;
        }
        for n in needles {
            if !err.contains(n) {
                problems.push(format!("{name}: the refusal does not mention {n:?}: {err}"));
            }
        }
        let (exists, _, _) = w.kubectl(&["get", "socialconnection", name, "-n", &ns], None);
        if exists {
            problems.push(format!("{name}: was created"));
        }
    }
    // The boundary: 30s is accepted.
    let (ok, _, err) = w.kubectl(
        &["apply", "-n", &ns, "-f", "-"],
        Some(&bad_object("thirty-seconds", &format!("  provider: facebook\n{base}  checkInterval: 30s\n  expiryWarning: 72h\n"))),
    );
    if !ok {
        problems.push(format!("checkInterval 30s was refused: {err}"));
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
