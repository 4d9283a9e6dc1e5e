//! Notices end to end: a SocialNotificationPolicy with a signed webhook, a Slack-compatible
//! webhook (both a small HTTP server in this test) and email through a real SMTP server
//! (Mailpit, built by scripts/mailpit.sh, STARTTLS required, authentication on), read back
//! through Mailpit's HTTP API.
//!
//! The harness's shared operator runs with notifications off; this test runs an operator of
//! its own for its namespace (admin credentials), so that it can restart it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use sha2::Sha256;
use social_connection_operator::api::{CHECK_REQUESTED_ANNOTATION, SocialConnection, SocialNotificationPolicy};

use crate::support::*;

/// One request the test's webhook server received.
#[derive(Clone, Debug)]
struct Hit {
    path: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// A tiny HTTP server that keeps every request and answers 200, except 503 to the very first
/// request on `/hook` (so the first webhook notice must be retried).
struct Hooks {
    port: u16,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Hooks {
    async fn start() -> Hooks {
        use axum::body::Bytes;
        use axum::extract::State;
        use axum::http::{HeaderMap, Uri};
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let app = axum::Router::new()
            .fallback(|State(hits): State<Arc<Mutex<Vec<Hit>>>>, uri: Uri, headers: HeaderMap, body: Bytes| async move {
                let headers = headers.iter().map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string())).collect();
                let mut hits = hits.lock().unwrap();
                let first_hook = uri.path() == "/hook" && !hits.iter().any(|h| h.path == "/hook");
                hits.push(Hit { path: uri.path().to_string(), headers, body: body.to_vec() });
                if first_hook { axum::http::StatusCode::SERVICE_UNAVAILABLE } else { axum::http::StatusCode::OK }
            })
            .with_state(hits.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind hooks");
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Hooks { port, hits }
    }

    /// Requests on `path` that were answered 200.
    fn on(&self, path: &str) -> Vec<Hit> {
        let hits = self.hits.lock().unwrap();
        let skip = usize::from(path == "/hook");
        hits.iter().filter(|h| h.path == path).skip(skip).cloned().collect()
    }

    /// The request that was answered 503.
    fn refused(&self) -> Option<Hit> {
        self.hits.lock().unwrap().iter().find(|h| h.path == "/hook").cloned()
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run command");
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA and a server certificate for `localhost`, written with the openssl command.
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let [ca_key, ca, key, csr, crt, ext] = ["ca.key", "ca.crt", "srv.key", "srv.csr", "srv.crt", "srv.ext"].map(|f| dir.join(f));
    std::fs::write(&ext, "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n").unwrap();
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    run(Command::new("openssl").args(["req", "-x509"]).args(ec).arg("-keyout").arg(&ca_key).arg("-out").arg(&ca).args([
        "-days",
        "2",
        "-subj",
        "/CN=sco-e2e-ca",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]));
    run(Command::new("openssl").arg("req").args(ec).arg("-keyout").arg(&key).arg("-out").arg(&csr).args(["-subj", "/CN=localhost"]));
    run(Command::new("openssl")
        .args(["x509", "-req", "-in"])
        .arg(&csr)
        .arg("-CA")
        .arg(&ca)
        .arg("-CAkey")
        .arg(&ca_key)
        .args(["-CAcreateserial", "-days", "2", "-out"])
        .arg(&crt)
        .arg("-extfile")
        .arg(&ext));
    (ca, crt, key)
}

/// Mailpit with STARTTLS required and one SMTP user.
struct Mailpit {
    smtp_port: u16,
    api: String,
    ca_pem: String,
    child: Child,
    _dir: tempfile::TempDir,
}

const SMTP_USER: &str = "notifier";
const SMTP_PASSWORD: &str = "smtp-pass-5f1c9e";

impl Mailpit {
    async fn start() -> Mailpit {
        let out = Command::new("bash")
            .arg(path("scripts/mailpit.sh"))
            .args(["build", "--print-bin"])
            .stderr(Stdio::inherit())
            .output()
            .expect("mailpit.sh");
        assert!(out.status.success(), "building Mailpit failed");
        let bin = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let dir = tempfile::tempdir().expect("temp dir");
        let (ca, crt, key) = certificates(dir.path());
        let auth = dir.path().join("smtp-auth");
        std::fs::write(&auth, format!("{SMTP_USER}:{SMTP_PASSWORD}\n")).unwrap();
        let (smtp_port, http_port) = (free_port(), free_port());
        let log = std::fs::File::create(dir.path().join("mailpit.log")).unwrap();
        let child = Command::new(bin)
            .args(["--smtp", &format!("127.0.0.1:{smtp_port}"), "--listen", &format!("127.0.0.1:{http_port}")])
            .arg("--database")
            .arg(dir.path().join("mailpit.db"))
            .arg("--smtp-tls-cert")
            .arg(&crt)
            .arg("--smtp-tls-key")
            .arg(&key)
            .arg("--smtp-auth-file")
            .arg(&auth)
            .args(["--smtp-require-starttls", "--disable-version-check", "--smtp-disable-rdns"])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start Mailpit");
        let api = format!("http://127.0.0.1:{http_port}");
        let ca_pem = std::fs::read_to_string(ca).unwrap();
        let m = Mailpit { smtp_port, api, ca_pem, child, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while reqwest::get(format!("{}/api/v1/messages", m.api)).await.is_err() {
            assert!(Instant::now() < deadline, "Mailpit did not start");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        m
    }

    /// Every message that arrived, oldest first, as the API's summary plus `Text` and `Raw`.
    async fn messages(&self) -> Vec<Value> {
        let list: Value = reqwest::get(format!("{}/api/v1/messages?limit=200", self.api)).await.unwrap().json().await.unwrap();
        let mut out = vec![];
        for m in list["messages"].as_array().cloned().unwrap_or_default().into_iter().rev() {
            let id = m["ID"].as_str().unwrap().to_string();
            let mut full: Value = reqwest::get(format!("{}/api/v1/message/{id}", self.api)).await.unwrap().json().await.unwrap();
            let raw = reqwest::get(format!("{}/api/v1/message/{id}/raw", self.api)).await.unwrap().text().await.unwrap();
            full["Raw"] = json!(raw);
            out.push(full);
        }
        out
    }
}

impl Drop for Mailpit {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The test's own operator, watching one namespace.
struct Operator {
    ns: String,
    log: PathBuf,
    child: Option<Child>,
}

impl Operator {
    fn start(ns: &str, log: PathBuf) -> Operator {
        let mut op = Operator { ns: ns.to_string(), log, child: None };
        op.spawn();
        op
    }

    fn spawn(&mut self) {
        let w = world();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_social-connection-operator"))
            .arg("run")
            .args(["--namespace", &self.ns, "--health-addr", &format!("127.0.0.1:{}", free_port()), "--log-format", "json"])
            .env("KUBECONFIG", &w.kubeconfig)
            .env("SOCIAL_PROVIDER_ENDPOINTS", &w.endpoints)
            .env("SOCIAL_DEFAULT_REDIRECT_URL", "https://app.example.com/oauth/callback")
            .env("RUST_LOG", "info,social_connection_operator=debug")
            .env_remove("SOCIAL_DISABLE_NOTIFICATIONS")
            .env_remove("SOCIAL_WATCH_NAMESPACES")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start the operator");
        self.child = Some(child);
    }

    fn restart(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.spawn();
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

async fn set_token(client: &Client, ns: &str, token: &str, expires_at: Option<&str>) {
    let patch = json!({"stringData": {"access_token": token}, "data": {"expires_at": expires_at.map(|e| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(e)
    })}});
    Api::<Secret>::namespaced(client.clone(), ns).patch("tok", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("patch token");
}

async fn request_check(client: &Client, ns: &str, value: &str) {
    let patch = json!({"metadata": {"annotations": {CHECK_REQUESTED_ANNOTATION: value}}});
    Api::<SocialConnection>::namespaced(client.clone(), ns).patch("shop", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    wait_for(client, ns, "shop", "the check request handled", |s| s.last_handled_check_request.as_deref() == Some(value)).await;
}

/// Waits until the webhook has received `n` notices and returns their JSON bodies.
async fn wait_webhooks(hooks: &Hooks, n: usize, op: &Operator) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = hooks.on("/hook");
        if got.len() >= n {
            return got.iter().map(|h| serde_json::from_slice(&h.body).expect("JSON body")).collect();
        }
        assert!(Instant::now() < deadline, "only {} of {n} webhook notices arrived; operator log:\n{}", got.len(), op.output());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_mail(mail: &Mailpit, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = mail.messages().await;
        if got.len() >= n {
            return got;
        }
        assert!(Instant::now() < deadline, "only {} of {n} emails arrived", got.len());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

const SIGNING_KEY: &str = "whsec-e2e-7d0c";

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_warns_before_expiry_tells_who_must_reconnect_reminds_and_announces_recovery_once_each_across_a_restart() {
    social_connection_operator::providers::http::install_crypto_provider();
    let w = world();
    let client = w.client().await;
    let ns = namespace(&client, "notify").await;
    let hooks = Hooks::start().await;
    let mail = Mailpit::start().await;

    // The token expires in 60 hours: inside the 3-day threshold, past the 7- and 14-day ones.
    let expires_at = jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_hours(60)).unwrap();
    let expires_s = expires_at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let first_token = fakes::token("valid");
    secret(&client, &ns, "tok", &[("access_token", &first_token), ("expires_at", &expires_s)]).await;
    secret(&client, &ns, "app", &[("client_id", "cid-notify"), ("client_secret", "csec-notify-93b1")]).await;
    let slack_path = "/services/T000/B000/slack-path-secret";
    secret(&client, &ns, "hook", &[("url", &format!("http://127.0.0.1:{}/hook", hooks.port)), ("signingKey", SIGNING_KEY)]).await;
    secret(&client, &ns, "slack", &[("url", &format!("http://127.0.0.1:{}{slack_path}", hooks.port))]).await;
    let smtp_port = mail.smtp_port.to_string();
    secret(
        &client,
        &ns,
        "smtp",
        &[
            ("host", "localhost"),
            ("port", &smtp_port),
            ("from", "operator@example.com"),
            ("username", SMTP_USER),
            ("password", SMTP_PASSWORD),
            ("ca.crt", &mail.ca_pem),
        ],
    )
    .await;
    let policy: SocialNotificationPolicy = serde_json::from_value(json!({
        "apiVersion": "social.connections.dev/v1alpha1",
        "kind": "SocialNotificationPolicy",
        "metadata": {"name": "alerts"},
        "spec": {
            "selector": {"matchLabels": {"team": "shop"}},
            "recipients": ["lead@example.com"],
            "receivers": [
                {"name": "ops", "webhook": {"secretRef": {"name": "hook"}}},
                {"name": "chat", "slack": {"secretRef": {"name": "slack"}}},
                {"name": "mail", "email": {"secretRef": {"name": "smtp"}}},
            ],
        },
    }))
    .unwrap();
    Api::<SocialNotificationPolicy>::namespaced(client.clone(), &ns).create(&PostParams::default(), &policy).await.expect("create policy");

    let spec = |display: &str| {
        json!({
            "provider": "threads",
            "account": {"id": fakes::THREADS_USER_ID, "displayName": display},
            "secretRef": {"name": "tok"},
            "appSecretRef": {"name": "app"},
        })
    };
    let conn = |name: &str, labels: Value, display: &str| -> SocialConnection {
        serde_json::from_value(json!({
            "apiVersion": "social.connections.dev/v1alpha1",
            "kind": "SocialConnection",
            "metadata": {"name": name, "labels": labels, "annotations": {"social.connections.dev/owner": "page.owner@example.com"}},
            "spec": spec(display),
        }))
        .unwrap()
    };
    let conns = Api::<SocialConnection>::namespaced(client.clone(), &ns);
    conns.create(&PostParams::default(), &conn("shop", json!({"team": "shop"}), "Shop Page")).await.unwrap();
    // Not selected by the policy: must never be the subject of a notice.
    conns.create(&PostParams::default(), &conn("unselected", json!({"team": "other"}), "Other Page")).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut op = Operator::start(&ns, dir.path().join("operator.log"));

    // 1. Expiry warning, at the 3-day threshold only.
    let notices = wait_webhooks(&hooks, 1, &op).await;
    assert_eq!(notices[0]["stage"], "ExpiryWarning");
    assert_eq!(notices[0]["warningDays"], 3);
    assert_eq!(notices[0]["subject"], "Threads connection \"Shop Page\" stops working in 3 days");
    assert_eq!(notices[0]["expiresAt"], expires_s);
    assert_eq!(notices[0]["connection"]["name"], "shop");
    assert_eq!(notices[0]["recipients"], json!(["page.owner@example.com", "lead@example.com"]));
    let st =
        wait_for(&client, &ns, "shop", "the warning recorded", |s| s.notifications.first().is_some_and(|r| r.warned_days == Some(3))).await;
    assert_eq!(st.notifications[0].policy, "alerts");

    // 2. The password was changed: reauthorization required, with the link and who can fix it.
    let revoked = fakes::token("g1");
    set_token(&client, &ns, &revoked, None).await;
    let st = wait_condition(&client, &ns, "shop", "Ready", "False", "PasswordChanged").await;
    let url = st.reauthorization_url.clone().expect("a reauthorization URL");
    let notices = wait_webhooks(&hooks, 2, &op).await;
    assert_eq!(notices[1]["stage"], "ReauthorizationRequired");
    assert_eq!(notices[1]["reason"], "PasswordChanged");
    assert_eq!(notices[1]["reconnectURL"], url.as_str());
    assert_eq!(
        notices[1]["text"],
        format!(
            "The Threads connection \"Shop Page\" has stopped working.\n\n\
             Why: The password of the Threads account that made this connection was changed. That ends every connection it had made.\n\n\
             Who can fix it: Someone who can manage \"Shop Page\" on Threads.\n\n\
             To fix it, open this link and log in to Threads: {url}\n\n\
             (Kubernetes: SocialConnection {ns}/shop)"
        )
    );
    wait_for(&client, &ns, "shop", "the break recorded", |s| {
        s.notifications.first().is_some_and(|r| r.broken_reason.as_deref() == Some("PasswordChanged"))
    })
    .await;

    // 3. A restart sends nothing again, even when a check runs.
    op.restart();
    request_check(&client, &ns, "after-restart").await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(hooks.on("/hook").len(), 2, "a notice was sent again after the restart");

    // 4. A day later (the record says the last notice was 25 hours ago): one reminder.
    let day_ago =
        jiff::Timestamp::now().checked_sub(jiff::SignedDuration::from_hours(25)).unwrap().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let clock = json!({
        "apiVersion": "social.connections.dev/v1alpha1",
        "kind": "SocialConnection",
        "status": {"notifications": [{"policy": "alerts", "lastBrokenNotice": day_ago}]},
    });
    conns.patch_status("shop", &PatchParams::apply("e2e-clock").force(), &Patch::Apply(&clock)).await.expect("age the record");
    request_check(&client, &ns, "a-day-later").await;
    let notices = wait_webhooks(&hooks, 3, &op).await;
    assert_eq!(notices[2]["stage"], "StillBroken");
    assert_eq!(notices[2]["reminder"], 1);
    assert_eq!(notices[2]["subject"], "Reminder: Threads connection \"Shop Page\" is still not working");

    // 5. A new token: recovery, once.
    let fixed = fakes::token("valid");
    set_token(&client, &ns, &fixed, None).await;
    wait_condition(&client, &ns, "shop", "Ready", "True", "AllChecksPassed").await;
    let notices = wait_webhooks(&hooks, 4, &op).await;
    assert_eq!(notices[3]["stage"], "Recovered");
    assert_eq!(notices[3]["subject"], "Threads connection \"Shop Page\" works again");
    request_check(&client, &ns, "after-recovery").await;
    tokio::time::sleep(Duration::from_secs(5)).await;

    // Exactly the four stages, on every receiver.
    let stages: Vec<&str> = notices.iter().map(|n| n["stage"].as_str().unwrap()).collect();
    assert_eq!(stages, ["ExpiryWarning", "ReauthorizationRequired", "StillBroken", "Recovered"]);
    let hook_hits = hooks.on("/hook");
    assert_eq!(
        hook_hits.len(),
        4,
        "webhook notices: {:#?}",
        hook_hits.iter().map(|h| String::from_utf8_lossy(&h.body).into_owned()).collect::<Vec<_>>()
    );
    for h in &hook_hits {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(SIGNING_KEY.as_bytes()).unwrap();
        mac.update(&h.body);
        let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(h.headers.get("x-social-signature-256"), Some(&want), "signature of {}", String::from_utf8_lossy(&h.body));
        assert_eq!(h.headers.get("content-type").map(String::as_str), Some("application/json"));
    }
    let slack: Vec<Value> = hooks.on(slack_path).iter().map(|h| serde_json::from_slice(&h.body).unwrap()).collect();
    assert_eq!(slack.len(), 4);
    for (s, n) in slack.iter().zip(&notices) {
        assert_eq!(s["text"], format!("*{}*\n{}", n["subject"].as_str().unwrap(), n["text"].as_str().unwrap()));
    }
    let emails = wait_mail(&mail, 4).await;
    assert_eq!(emails.len(), 4, "emails: {:#?}", emails.iter().map(|e| e["Subject"].clone()).collect::<Vec<_>>());
    for (e, n) in emails.iter().zip(&notices) {
        assert_eq!(e["Subject"], n["subject"]);
        assert_eq!(e["Text"].as_str().unwrap().replace("\r\n", "\n").trim_end(), n["text"].as_str().unwrap());
        let to: Vec<&str> = e["To"].as_array().unwrap().iter().map(|a| a["Address"].as_str().unwrap()).collect();
        assert_eq!(to, ["page.owner@example.com", "lead@example.com"]);
        assert_eq!(e["From"]["Address"], "operator@example.com");
    }

    // Nothing sent names the unselected connection or carries a token or credential.
    let everything = format!(
        "{}{}",
        hook_hits
            .iter()
            .chain(hooks.on(slack_path).iter())
            .map(|h| format!("{:?}{}", h.headers, String::from_utf8_lossy(&h.body)))
            .collect::<String>(),
        emails.iter().map(|e| e.to_string()).collect::<String>()
    );
    // The refused first attempt was retried with the same signed body.
    let refused = hooks.refused().expect("the first webhook attempt");
    assert_eq!(refused.body, hook_hits[0].body);
    assert_eq!(refused.headers.get("x-social-signature-256"), hook_hits[0].headers.get("x-social-signature-256"));
    assert_eq!(hooks.hits.lock().unwrap().len(), 9, "requests went elsewhere");
    assert!(!everything.contains("unselected") && !everything.contains("Other Page"));
    for secret_value in [first_token.as_str(), revoked.as_str(), fixed.as_str(), "csec-notify-93b1", SMTP_PASSWORD, SIGNING_KEY] {
        assert!(!everything.contains(secret_value), "a secret value reached a notice");
        assert!(!op.output().contains(secret_value), "a secret value reached the operator's log");
    }
    assert!(!op.output().contains("slack-path-secret"), "the Slack URL reached the operator's log");
    assert_no_leaks(&client, &ns, &[&first_token, &revoked, &fixed]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_that_cannot_be_used_is_named_in_a_warning_event_and_the_others_get_the_notice_only_once() {
    social_connection_operator::providers::http::install_crypto_provider();
    let w = world();
    let client = w.client().await;
    let ns = namespace(&client, "notify-fail").await;
    let hooks = Hooks::start().await;
    let revoked = fakes::token("g1");
    secret(&client, &ns, "tok", &[("access_token", &revoked)]).await;
    secret(&client, &ns, "hook", &[("url", &format!("http://127.0.0.1:{}/hook", hooks.port)), ("signingKey", SIGNING_KEY)]).await;
    let policy = |receivers: Value| -> SocialNotificationPolicy {
        serde_json::from_value(json!({
            "apiVersion": "social.connections.dev/v1alpha1",
            "kind": "SocialNotificationPolicy",
            "metadata": {"name": "alerts"},
            "spec": {"recipients": ["lead@example.com"], "receivers": receivers},
        }))
        .unwrap()
    };
    let policies = Api::<SocialNotificationPolicy>::namespaced(client.clone(), &ns);
    let both = json!([
        {"name": "ops", "webhook": {"secretRef": {"name": "hook"}}},
        {"name": "mail", "email": {"secretRef": {"name": "no-such-smtp"}}},
    ]);
    policies.create(&PostParams::default(), &policy(both)).await.expect("create policy");
    connection(
        &client,
        &ns,
        "shop",
        json!({"provider": "threads", "account": {"id": fakes::THREADS_USER_ID}, "secretRef": {"name": "tok"}}),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let op = Operator::start(&ns, dir.path().join("operator.log"));

    wait_condition(&client, &ns, "shop", "Ready", "False", "PasswordChanged").await;
    let notices = wait_webhooks(&hooks, 1, &op).await;
    assert_eq!(notices[0]["stage"], "ReauthorizationRequired");
    let (ty, _, note) = wait_event(&client, &ns, "NotificationFailed").await;
    assert_eq!(ty, "Warning");
    assert!(note.contains("receiver \"mail\" (email)") && note.contains("Secret \"no-such-smtp\" does not exist"), "{note}");

    // Not delivered everywhere, so not recorded; later passes retry only the failing receiver.
    request_check(&client, &ns, "again-1").await;
    request_check(&client, &ns, "again-2").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let st = Api::<SocialConnection>::namespaced(client.clone(), &ns).get("shop").await.unwrap().status.unwrap();
    assert!(st.notifications.iter().all(|r| r.broken_since.is_none()), "recorded although a receiver failed: {:?}", st.notifications);
    assert_eq!(hooks.on("/hook").len(), 1, "the working receiver got the notice again");

    // Without the broken receiver the notice is complete: recorded, and not sent again.
    let only_hook = json!({"spec": {"receivers": [{"name": "ops", "webhook": {"secretRef": {"name": "hook"}}}]}});
    policies.patch("alerts", &PatchParams::default(), &Patch::Merge(&only_hook)).await.expect("drop the mail receiver");
    // The operator's policy cache follows the change through its watch: ask for checks until a
    // pass sees it.
    let recorded = |s: &social_connection_operator::api::SocialConnectionStatus| {
        s.notifications.first().is_some_and(|r| r.broken_reason.as_deref() == Some("PasswordChanged"))
    };
    let conns = Api::<SocialConnection>::namespaced(client.clone(), &ns);
    for attempt in 3..=20 {
        request_check(&client, &ns, &format!("again-{attempt}")).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        if conns.get("shop").await.unwrap().status.as_ref().is_some_and(recorded) {
            break;
        }
    }
    wait_for(&client, &ns, "shop", "the notice recorded", recorded).await;
    assert_eq!(hooks.on("/hook").len(), 1, "the notice was sent again when it was recorded");
    assert_no_leaks(&client, &ns, &[&revoked]).await;
    assert!(!op.output().contains(&revoked));
}
