//! The kubectl plugin end to end: `kubectl socialconn ...` found by kubectl's plugin mechanism on
//! PATH, against the real control plane and the shared operator. No output may ever carry a
//! token value.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use serde_json::{Value, json};
use social_connection_operator::api::{CHECK_REQUESTED_ANNOTATION, SocialConnection};

use crate::refresh::{app_secret, secret_value, token_secret};
use crate::support::*;

/// PATH with the plugin's directory (cargo's, holding `kubectl-socialconn`) and kubectl's.
fn plugin_path() -> std::ffi::OsString {
    let plugin = PathBuf::from(env!("CARGO_BIN_EXE_kubectl-socialconn"));
    let plugin_dir = plugin.parent().expect("the plugin's directory");
    std::env::join_paths([plugin_dir, world().bin_dir.as_path()]).expect("PATH")
}

/// `kubectl socialconn ARGS` with `kubeconfig` in KUBECONFIG; (success, stdout, stderr).
fn run_in(kubeconfig: &Path, args: &[&str]) -> (bool, String, String) {
    let w = world();
    let out = Command::new(w.bin_dir.join("kubectl"))
        .arg("socialconn")
        .args(args)
        .env("PATH", plugin_path())
        .env("KUBECONFIG", kubeconfig)
        .env_remove("KUBECTL_PLUGINS_PATH")
        .stdin(Stdio::null())
        .output()
        .expect("run kubectl socialconn");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// `kubectl socialconn ARGS` with the admin kubeconfig in KUBECONFIG.
fn run(args: &[&str]) -> (bool, String, String) {
    run_in(&world().kubeconfig, args)
}

/// Runs, asserts success, and returns stdout.
fn ok(args: &[&str], outputs: &mut Vec<String>) -> String {
    let (success, out, err) = run(args);
    outputs.push(format!("{out}{err}"));
    assert!(success, "kubectl socialconn {args:?} failed:\n{err}\n{out}");
    out
}

/// Runs, asserts failure, and returns stderr.
fn fails(args: &[&str], outputs: &mut Vec<String>) -> String {
    let (success, out, err) = run(args);
    outputs.push(format!("{out}{err}"));
    assert!(!success, "kubectl socialconn {args:?} succeeded:\n{out}");
    err
}

fn json_of(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
}

/// No token, and no token's nonce, in any output.
fn assert_no_token_in(outputs: &[String], tokens: &[&str]) {
    for o in outputs {
        for t in tokens {
            let nonce = t.rsplit("__").next().unwrap_or(t);
            assert!(!o.contains(t) && !o.contains(nonce), "a token value appeared in the plugin's output:\n{o}");
        }
    }
}

async fn resource_version(client: &kube::Client, ns: &str, name: &str) -> String {
    Api::<Secret>::namespaced(client.clone(), ns).get(name).await.expect("get secret").metadata.resource_version.expect("rv")
}

#[tokio::test(flavor = "multi_thread")]
async fn status_shows_a_ready_and_a_revoked_connection_with_secret_metadata_events_and_what_to_do() {
    let w = world();
    let client = w.client().await;
    let ns = namespace(&client, "plugin-status").await;
    let good = fakes::token("valid");
    let revoked = fakes::token("g1");
    let csec = fakes::token("csec");
    secret(&client, &ns, "app", &[("client_id", "cid-plugin"), ("client_secret", &csec)]).await;
    token_secret(&client, &ns, "good-tok", &[("access_token", &good)], true).await;
    secret(&client, &ns, "revoked-tok", &[("access_token", &revoked)]).await;
    for (name, tok) in [("good", "good-tok"), ("revoked", "revoked-tok")] {
        connection(
            &client,
            &ns,
            name,
            json!({"provider": "facebook", "account": {"id": fakes::FACEBOOK_PAGE_ID}, "secretRef": {"name": tok}, "appSecretRef": {"name": "app"}}),
        )
        .await;
    }
    wait_condition(&client, &ns, "good", "Ready", "True", "AllChecksPassed").await;
    let st = wait_condition(&client, &ns, "revoked", "Ready", "False", "PasswordChanged").await;
    wait_event(&client, &ns, "ReauthorizationRequired").await;
    let url = st.reauthorization_url.clone().expect("the operator published a reauthorization URL");
    let mut outputs = vec![];

    // The human view of the Ready one.
    let out = ok(&["status", "good", "-n", &ns], &mut outputs);
    let good_rv = resource_version(&client, &ns, "good-tok").await;
    for needle in [
        format!("{ns}/good"),
        "True (AllChecksPassed)".into(),
        "What to do:   nothing".into(),
        format!("good-tok (resourceVersion {good_rv})"),
        "social.connections.dev/managed=true".into(),
        "Keys:       access_token".into(),
        "Next check:".into(),
        "Conditions:".into(),
    ] {
        assert!(out.contains(&needle), "status good lacks {needle:?}:\n{out}");
    }
    assert!(!out.contains("Reauthorize:"), "a Ready connection has no link:\n{out}");

    // The revoked one as JSON.
    let out = ok(&["status", "revoked", "-n", &ns, "-o", "json"], &mut outputs);
    let v = json_of(&out);
    assert_eq!(v["ready"], "False", "{out}");
    assert_eq!(v["reason"], "PasswordChanged", "{out}");
    assert_eq!(v["whatToDo"], "the user reconnects", "{out}");
    assert_eq!(v["reauthorizationURL"], url.as_str(), "{out}");
    assert!(v["nextCheckTime"].is_string(), "{out}");
    assert_eq!(v["secret"]["name"], "revoked-tok");
    assert_eq!(v["secret"]["state"], "found");
    assert_eq!(v["secret"]["managed"], false);
    assert_eq!(v["secret"]["keys"], json!(["access_token"]));
    assert_eq!(v["secret"]["resourceVersion"], resource_version(&client, &ns, "revoked-tok").await.as_str());
    let events = v["events"].as_array().expect("events");
    assert!(events.iter().any(|e| e["reason"] == "ReauthorizationRequired" && e["type"] == "Warning"), "{out}");
    let conditions = v["status"]["conditions"].as_array().expect("conditions");
    assert!(conditions.iter().any(|c| c["type"] == "Revoked" && c["status"] == "True" && c["reason"] == "PasswordChanged"), "{out}");

    // The human view of the revoked one shows the link and the Event.
    let out = ok(&["status", "revoked", "-n", &ns], &mut outputs);
    assert!(out.contains(&format!("Reauthorize:  {url}")), "{out}");
    assert!(out.contains("ReauthorizationRequired"), "{out}");
    assert!(out.contains("What to do:   the user reconnects"), "{out}");

    // Both, as YAML, without a name.
    let out = ok(&["status", "-n", &ns, "-o", "yaml"], &mut outputs);
    let list: Vec<Value> = serde_yaml::from_str(&out).unwrap_or_else(|e| panic!("not YAML ({e}):\n{out}"));
    let names: Vec<&str> = list.iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(names, ["good", "revoked"], "{out}");

    // reauth-url prints the link, or fails saying there is none.
    let out = ok(&["reauth-url", "revoked", "-n", &ns], &mut outputs);
    assert_eq!(out.trim(), url);
    let err = fails(&["reauth-url", "good", "-n", &ns], &mut outputs);
    assert!(err.contains("has no reauthorization URL"), "{err}");
    let err = fails(&["status", "missing", "-n", &ns], &mut outputs);
    assert!(err.contains("socialconnection \"missing\" not found"), "{err}");
    let err = fails(&["status", "good", "-A"], &mut outputs);
    assert!(err.contains("a NAME needs one namespace"), "{err}");

    // The namespace defaults to the kubeconfig context's, and --context / --kubeconfig choose.
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("kubeconfig");
    std::fs::copy(&w.kubeconfig, &copy).expect("copy kubeconfig");
    let set = Command::new(w.bin_dir.join("kubectl"))
        .arg("--kubeconfig")
        .arg(&copy)
        .args(["config", "set-context", "plugin", "--cluster", "sco-test", "--user", "admin", "--namespace", &ns])
        .output()
        .expect("kubectl config");
    assert!(set.status.success(), "{}", String::from_utf8_lossy(&set.stderr));
    let (success, out, err) = run_in(&copy, &["--context", "plugin", "reauth-url", "revoked"]);
    outputs.push(format!("{out}{err}"));
    assert!(success && out.trim() == url, "the context's namespace is the default: {err}{out}");
    let (success, out, err) = run_in(&copy, &["reauth-url", "revoked"]);
    outputs.push(format!("{out}{err}"));
    assert!(!success && err.contains("not found in namespace \"default\""), "the current context's namespace: {err}{out}");
    let (success, out, err) =
        run_in(Path::new("/nonexistent"), &["--kubeconfig", &copy.to_string_lossy(), "--context", "plugin", "status", "good"]);
    outputs.push(format!("{out}{err}"));
    assert!(success && out.contains(&format!("{ns}/good")), "--kubeconfig wins over KUBECONFIG: {err}{out}");

    // --help of each command, through kubectl; a bad command line exits 2.
    for cmd in ["status", "check", "refresh", "reauth-url", "needs-attention"] {
        let out = ok(&[cmd, "--help"], &mut outputs);
        assert!(out.contains(&format!("Usage: kubectl socialconn {cmd}")), "{out}");
        assert!(out.contains("--namespace") && out.contains("--output"), "{out}");
    }
    let (success, _, err) = run(&["check", "-n", &ns]);
    assert!(!success && err.contains("required"), "{err}");
    let code = Command::new(w.bin_dir.join("kubectl")).args(["socialconn", "bogus"]).env("PATH", plugin_path()).output().expect("kubectl");
    assert_eq!(code.status.code(), Some(2), "{}", String::from_utf8_lossy(&code.stderr));

    assert_no_token_in(&outputs, &[&good, &revoked, &csec]);
}

#[tokio::test(flavor = "multi_thread")]
async fn check_wait_returns_the_result_of_the_new_check_and_a_selector_picks_connections() {
    let w = world();
    let client = w.client().await;
    let ns = namespace(&client, "plugin-check").await;
    let t1 = fakes::token("valid");
    let t2 = fakes::token("valid");
    secret(&client, &ns, "t1", &[("access_token", &t1)]).await;
    secret(&client, &ns, "t2", &[("access_token", &t2)]).await;
    for (name, tok) in [("one", "t1"), ("two", "t2")] {
        connection(
            &client,
            &ns,
            name,
            json!({"provider": "facebook", "account": {"id": fakes::FACEBOOK_PAGE_ID}, "secretRef": {"name": tok}}),
        )
        .await;
    }
    let api = Api::<SocialConnection>::namespaced(client.clone(), &ns);
    let patch = json!({"metadata": {"labels": {"team": "shop"}}});
    api.patch("two", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch)).await.expect("label");
    let before = wait_condition(&client, &ns, "one", "Ready", "True", "AllChecksPassed").await;
    wait_condition(&client, &ns, "two", "Ready", "True", "AllChecksPassed").await;
    let checked_before = before.last_check_time.clone().expect("lastCheckTime").0;
    // lastCheckTime has seconds: let one pass so the new check is visibly later.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut outputs = vec![];

    let out = ok(&["check", "one", "-n", &ns, "--wait", "--timeout", "60s", "-o", "json"], &mut outputs);
    let v = json_of(&out);
    assert_eq!(v["handled"], true, "{out}");
    assert_eq!(v["ready"], "True", "{out}");
    let requested = v["requested"].as_str().expect("requested").to_string();
    let after = api.get("one").await.expect("get").status.expect("status");
    assert_eq!(after.last_handled_check_request.as_deref(), Some(requested.as_str()));
    let checked_after = after.last_check_time.clone().expect("lastCheckTime").0;
    assert!(checked_after > checked_before, "a new check: {checked_before} -> {checked_after}");
    assert_eq!(v["lastCheckTime"], serde_json::to_value(&after.last_check_time).expect("json"), "{out}");

    // Without --wait: the annotation is set and the command returns at once.
    let out = ok(&["check", "one", "-n", &ns], &mut outputs);
    assert!(out.contains(&format!("socialconnection {ns}/one: check requested (")), "{out}");
    let annotated = api.get("one").await.expect("get");
    let value = annotated.metadata.annotations.unwrap_or_default().get(CHECK_REQUESTED_ANNOTATION).cloned().expect("annotation");
    assert_ne!(value, requested, "a fresh value each time");

    // -l picks only the labelled connection; --wait prints the result for people.
    let before_one = api.get("one").await.expect("get").metadata.annotations.unwrap_or_default();
    let out = ok(&["check", "-l", "team=shop", "-n", &ns, "--wait", "--timeout", "60s"], &mut outputs);
    assert!(out.contains(&format!("socialconnection {ns}/two: check done: Ready True (AllChecksPassed)")), "{out}");
    assert!(!out.contains("/one:"), "{out}");
    assert_eq!(api.get("one").await.expect("get").metadata.annotations.unwrap_or_default(), before_one, "one was not asked");
    let two = api.get("two").await.expect("get");
    assert!(two.metadata.annotations.unwrap_or_default().contains_key(CHECK_REQUESTED_ANNOTATION));
    let err = fails(&["check", "-l", "team=nobody", "-n", &ns], &mut outputs);
    assert!(err.contains("no socialconnections matched"), "{err}");
    let err = fails(&["check", "ghost", "-n", &ns], &mut outputs);
    assert!(err.contains("not found"), "{err}");

    // --wait gives up at once on a suspended connection (the operator never handles it).
    let suspend = json!({"spec": {"suspend": true}});
    api.patch("two", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&suspend)).await.expect("suspend");
    let err = fails(&["check", "two", "-n", &ns, "--wait", "--timeout", "30s"], &mut outputs);
    assert!(err.contains(&format!("socialconnection {ns}/two is suspended")), "{err}");

    assert_no_token_in(&outputs, &[&t1, &t2]);
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_wait_renews_the_token_of_a_labelled_secret_without_printing_it() {
    let w = world();
    let client = w.client().await;
    let ns = namespace(&client, "plugin-refresh").await;
    app_secret(&client, &ns).await;
    let access = fakes::token("valid");
    let refresh = fakes::token("valid");
    let expires = jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_mins(55)).expect("time");
    let expires = expires.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    token_secret(&client, &ns, "tok", &[("access_token", &access), ("refresh_token", &refresh), ("expires_at", &expires)], true).await;
    connection(
        &client,
        &ns,
        "conn",
        json!({"provider": "youtube", "account": {"id": fakes::YOUTUBE_CHANNEL_ID}, "secretRef": {"name": "tok"}, "appSecretRef": {"name": "app"}}),
    )
    .await;
    let st = wait_condition(&client, &ns, "conn", "Ready", "True", "AllChecksPassed").await;
    assert_eq!(st.refresh_count, None, "not due yet");
    let mut outputs = vec![];
    let out = ok(&["refresh", "conn", "-n", &ns, "--wait", "--timeout", "60s", "-o", "json"], &mut outputs);
    let v = json_of(&out);
    assert_eq!(v["handled"], true, "{out}");
    assert_eq!(v["refreshCount"], 1, "{out}");
    let new = secret_value(&client, &ns, "tok", "access_token").await.expect("access_token");
    assert_ne!(new, access, "the Secret holds the refreshed token");
    let out = ok(&["status", "conn", "-n", &ns], &mut outputs);
    let keys = out.lines().find(|l| l.trim_start().starts_with("Keys:")).unwrap_or_default();
    assert!(keys.contains("access_token") && keys.contains("refresh_token"), "{out}");
    let stored_refresh = secret_value(&client, &ns, "tok", "refresh_token").await.unwrap_or_default();
    assert_no_token_in(&outputs, &[&access, &refresh, &new, &stored_refresh, "app-secret-value"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn needs_attention_lists_broken_then_soonest_expiry_across_namespaces() {
    let w = world();
    let client = w.client().await;
    let a = namespace(&client, "plugin-attn-a").await;
    let b = namespace(&client, "plugin-attn-b").await;
    let revoked = fakes::token("g1");
    let healthy = fakes::token("valid");
    let x_access = fakes::token("valid");
    let x_refresh = fakes::token("valid");
    let fb_expiring = fakes::token("expiring");
    // a: revoked, healthy, and an x token expiring in 30 min that nothing refreshes (no label).
    secret(&client, &a, "revoked", &[("access_token", &revoked)]).await;
    secret(&client, &a, "healthy", &[("access_token", &healthy)]).await;
    app_secret(&client, &a).await;
    let soon = jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_mins(30)).expect("time");
    let soon_s = soon.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    token_secret(&client, &a, "x", &[("access_token", &x_access), ("refresh_token", &x_refresh), ("expires_at", &soon_s)], false).await;
    for (name, tok) in [("revoked", "revoked"), ("healthy", "healthy")] {
        connection(
            &client,
            &a,
            name,
            json!({"provider": "facebook", "account": {"id": fakes::FACEBOOK_PAGE_ID}, "secretRef": {"name": tok}}),
        )
        .await;
    }
    connection(
        &client,
        &a,
        "x-soon",
        json!({"provider": "x", "account": {"id": fakes::X_USER_ID}, "secretRef": {"name": "x"}, "appSecretRef": {"name": "app"}}),
    )
    .await;
    // b: a facebook token expiring in 3 days (debug_token, with the app's credentials, says so),
    // and a connection whose Secret does not exist.
    app_secret(&client, &b).await;
    secret(&client, &b, "fb", &[("access_token", &fb_expiring)]).await;
    connection(
        &client,
        &b,
        "fb-3d",
        json!({"provider": "facebook", "account": {"id": fakes::FACEBOOK_PAGE_ID}, "secretRef": {"name": "fb"}, "appSecretRef": {"name": "app"}}),
    )
    .await;
    connection(
        &client,
        &b,
        "no-secret",
        json!({"provider": "facebook", "account": {"id": fakes::FACEBOOK_PAGE_ID}, "secretRef": {"name": "absent"}}),
    )
    .await;
    wait_condition(&client, &a, "revoked", "Ready", "False", "PasswordChanged").await;
    wait_condition(&client, &a, "healthy", "Ready", "True", "AllChecksPassed").await;
    wait_condition(&client, &a, "x-soon", "ExpiringSoon", "True", "AccessTokenExpiring").await;
    wait_condition(&client, &b, "fb-3d", "ExpiringSoon", "True", "AccessTokenExpiring").await;
    wait_condition(&client, &b, "no-secret", "Ready", "False", "SecretNotFound").await;
    let mut outputs = vec![];
    let ours = |ns: &str| ns == a || ns == b;
    let expected = [(a.as_str(), "revoked"), (b.as_str(), "no-secret"), (a.as_str(), "x-soon"), (b.as_str(), "fb-3d")];

    // Every namespace by default (other tests' connections are listed too: keep ours).
    let out = ok(&["needs-attention", "-o", "json"], &mut outputs);
    let rows = json_of(&out);
    let rows: Vec<&Value> = rows.as_array().expect("array").iter().filter(|r| ours(r["namespace"].as_str().unwrap_or(""))).collect();
    let got: Vec<(&str, &str)> = rows.iter().map(|r| (r["namespace"].as_str().unwrap_or(""), r["name"].as_str().unwrap_or(""))).collect();
    assert_eq!(got, expected, "{out}");
    assert_eq!(rows[0]["reason"], "PasswordChanged");
    assert_eq!(rows[0]["whatToDo"], "the user reconnects");
    assert_eq!(rows[1]["reason"], "SecretNotFound");
    assert_eq!(rows[2]["reason"], "AccessTokenExpiring");
    assert_eq!(rows[2]["ready"], "True");
    assert_eq!(rows[2]["whatToDo"], "reconnect before it expires");
    assert_eq!(rows[2]["expiresAt"], soon_s.as_str());

    // One line each for people, in the same order.
    let out = ok(&["needs-attention"], &mut outputs);
    let mut lines = out.lines();
    let header = lines.next().unwrap_or_default();
    assert!(header.starts_with("NAMESPACE") && header.contains("WHAT TO DO"), "{out}");
    let got: Vec<(String, String)> = lines
        .filter_map(|l| {
            let mut cells = l.split_whitespace();
            Some((cells.next()?.to_string(), cells.next()?.to_string()))
        })
        .filter(|(ns, _)| ours(ns))
        .collect();
    let want: Vec<(String, String)> = expected.iter().map(|(n, c)| (n.to_string(), c.to_string())).collect();
    assert_eq!(got, want, "{out}");
    let revoked_line = out.lines().find(|l| l.starts_with(&a) && l.contains(" revoked ")).expect("revoked line");
    assert!(revoked_line.contains("PasswordChanged") && revoked_line.contains("the user reconnects"), "{revoked_line}");

    // -n limits it to one namespace.
    let out = ok(&["needs-attention", "-n", &b, "-o", "json"], &mut outputs);
    let names: Vec<String> = json_of(&out)
        .as_array()
        .expect("array")
        .iter()
        .map(|r| format!("{}/{}", r["namespace"].as_str().unwrap_or(""), r["name"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(names, [format!("{b}/no-secret"), format!("{b}/fb-3d")], "{out}");

    assert_no_token_in(&outputs, &[&revoked, &healthy, &x_access, &x_refresh, &fb_expiring, "app-secret-value"]);
}
