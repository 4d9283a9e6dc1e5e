//! The connect flow (issue 9, providers.md §2.14) end to end: a real headless Chromium (Debian's
//! `chromium` and `chromium-driver`, driven over WebDriver by fantoccini) opens the operator's
//! link, lands on the fake provider's consent page, clicks "Allow", comes back to the
//! operator's callback and reads its page; the SocialConnection then becomes Ready with the new
//! token. The refusals (expired, tampered and replayed states, a wrong account, a missing role,
//! a re-created connection, an unlabelled Secret) are driven over plain HTTP.
//!
//! One private control plane runs one operator with the flow on (the suite's shared operator
//! does not know it); the fakes are the suite's. Each test sets the consent scenario only of
//! providers no other test here uses, so tests can run in parallel.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use fantoccini::{Client as Browser, ClientBuilder, Locator};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use social_connection_operator::api::{CHECK_REQUESTED_ANNOTATION, MANAGED_LABEL, SocialConnection};
use social_connection_operator::server::state::{Claims, StateKey, sign};

use crate::support::*;

/// The state signing key the test operator reads (the tests sign an expired state with it).
const KEY: &str = "e2e-connect-state-key-0123456789abcdef";

/// The private control plane, the operator with the flow on, and chromedriver.
struct ConnectWorld {
    cp: ControlPlane,
    /// `http://127.0.0.1:<port>`: the public URL and the address served.
    public: String,
    /// chromedriver's port.
    driver_port: u16,
    /// The operator's output.
    log: PathBuf,
}

/// Spawns `cmd` from a thread that lives as long as this process (PR_SET_PDEATHSIG fires when
/// the spawning thread ends).
fn spawn_for_process_lifetime(mut cmd: Command) {
    die_with_parent(&mut cmd);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let child = cmd.spawn();
        let _ = tx.send(child.as_ref().map(|_| ()).map_err(|e| e.to_string()));
        let _keep = child;
        loop {
            std::thread::park();
        }
    });
    rx.recv().expect("spawner thread").expect("spawn");
}

fn wait_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn init() -> ConnectWorld {
    let w = world();
    let cp = ControlPlane::start("connect");
    let key_file = cp.dir.join("connect-state-key");
    std::fs::write(&key_file, format!("{KEY}\n")).expect("write key");
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let log = std::env::temp_dir().join(format!("sco-e2e-connect-operator-{}.log", std::process::id()));
    let out = std::fs::File::create(&log).expect("log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_social-connection-operator"));
    cmd.arg("run")
        .args(["--health-addr", &format!("127.0.0.1:{}", free_port()), "--log-format", "json"])
        .args(["--connect-public-url", &public, "--connect-addr", &format!("127.0.0.1:{port}")])
        .arg("--connect-state-key-file")
        .arg(&key_file)
        .env("KUBECONFIG", &cp.kubeconfig)
        .env("SOCIAL_PROVIDER_ENDPOINTS", &w.endpoints)
        // Consent paths are disjoint from API paths: the same fakes serve both.
        .env("SOCIAL_CONSENT_ENDPOINTS", &w.endpoints)
        .env("SOCIAL_PROVIDER_RATES", fakes::PROVIDERS.map(|p| format!("{p}=1000/1s")).join(","))
        .env("SOCIAL_DISABLE_NOTIFICATIONS", "true")
        .env("RUST_LOG", "info,social_connection_operator=debug")
        .env_remove("SOCIAL_WATCH_NAMESPACES")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("log"))
        .stderr(out);
    spawn_for_process_lifetime(cmd);
    wait_port(port, "the connect server");

    let driver_port = free_port();
    let mut driver = Command::new("chromedriver");
    driver.arg(format!("--port={driver_port}")).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    spawn_for_process_lifetime(driver);
    wait_port(driver_port, "chromedriver");
    ConnectWorld { cp, public, driver_port, log }
}

async fn connect_world() -> &'static ConnectWorld {
    static CW: OnceLock<ConnectWorld> = OnceLock::new();
    tokio::task::spawn_blocking(|| CW.get_or_init(init)).await.expect("join")
}

/// One browser at a time: each Chromium takes a few hundred MiB on a small machine.
static BROWSER_TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn browser(cw: &ConnectWorld) -> Browser {
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=412,915"]
        }
    });
    let caps = match caps {
        serde_json::Value::Object(m) => m,
        _ => unreachable!(),
    };
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", cw.driver_port))
        .await
        .expect("start a Chromium session through chromedriver")
}

fn link(cw: &ConnectWorld, ns: &str, name: &str) -> String {
    format!("{}/connect/{ns}/{name}", cw.public)
}

/// Creates the token Secret, labelled `managed: "true"` or not.
async fn token_secret(client: &Client, ns: &str, data: &[(&str, &str)], managed: bool) {
    let labels = managed.then(|| BTreeMap::from([(MANAGED_LABEL.to_string(), "true".to_string())]));
    let s = Secret {
        metadata: ObjectMeta { name: Some("tok".into()), labels, ..Default::default() },
        string_data: Some(data.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
        ..Default::default()
    };
    Api::<Secret>::namespaced(client.clone(), ns).create(&PostParams::default(), &s).await.expect("create secret");
}

async fn secret_value(client: &Client, ns: &str, key: &str) -> Option<String> {
    let s = Api::<Secret>::namespaced(client.clone(), ns).get_opt("tok").await.expect("get secret")?;
    s.data.and_then(|d| d.get(key).map(|b| String::from_utf8_lossy(&b.0).into_owned()))
}

/// A namespace with the app Secret and a connection `conn` of `provider` for `account`.
async fn setup(client: &Client, prefix: &str, provider: &str, account: &str, extra: serde_json::Value) -> String {
    let ns = namespace(client, prefix).await;
    secret(client, &ns, "app", &[("client_id", "cid-connect"), ("client_secret", "connect-app-secret")]).await;
    let mut spec = json!({"provider": provider, "account": {"id": account}, "secretRef": {"name": "tok"}, "appSecretRef": {"name": "app"}});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    connection(client, &ns, "conn", spec).await;
    ns
}

/// Waits until status.reauthorizationURL is the operator's link.
async fn wait_link(client: &Client, cw: &ConnectWorld, ns: &str) {
    let want = link(cw, ns, "conn");
    wait_for(client, ns, "conn", "the operator's link in status", |s| s.reauthorization_url.as_deref() == Some(want.as_str())).await;
}

/// Opens the link in Chromium, clicks `button` on the consent page, returns the text of the
/// page the operator answered with.
async fn click_through(cw: &ConnectWorld, ns: &str, button: &str) -> (String, String) {
    let _turn = BROWSER_TURN.lock().await;
    let b = browser(cw).await;
    b.goto(&link(cw, ns, "conn")).await.expect("open the link");
    let consent_url = b.current_url().await.expect("url");
    assert_ne!(consent_url.as_str(), link(cw, ns, "conn"), "redirected to the consent page");
    b.find(Locator::Css(&format!("#{button}"))).await.expect("the consent page's link").click().await.expect("click");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let url = b.current_url().await.expect("url");
        if url.as_str().starts_with(&format!("{}/callback", cw.public)) {
            break;
        }
        assert!(Instant::now() < deadline, "never came back to the callback: {url}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let body = b.find(Locator::Css("body")).await.expect("body").text().await.expect("text");
    let title = b.title().await.expect("title");
    b.close().await.expect("close the browser");
    (title, body)
}

/// The HTTP client for the refusal tests: no redirects followed.
fn http() -> reqwest::Client {
    rustls::crypto::ring::default_provider().install_default().ok();
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// GET; (status, Location header, body).
pub(crate) async fn get(url: &str) -> (u16, Option<String>, String) {
    let r = http().get(url).send().await.expect("GET");
    let status = r.status().as_u16();
    let location = r.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_string);
    let ctype = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let body = r.text().await.expect("body");
    if status != 302 {
        assert!(ctype.starts_with("text/html"), "every page is text/html: {ctype}");
    }
    (status, location, body)
}

/// The consent page's Allow (or Deny) link for a redirect the operator made.
pub(crate) async fn consent_link(location: &str, id: &str) -> String {
    let (status, _, page) = get(location).await;
    assert_eq!(status, 200, "{page}");
    let marker = format!("id=\"{id}\" href=\"");
    let start = page.find(&marker).expect("link") + marker.len();
    let end = start + page[start..].find('"').expect("end");
    page[start..end].replace("&amp;", "&")
}

/// A query parameter of a URL.
fn query_param(url: &str, name: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// No token, code or state value in the operator's output, the Events, or the statuses.
async fn assert_nothing_leaked(client: &Client, cw: &ConnectWorld, ns: &str, secrets: &[&str]) {
    let output = std::fs::read_to_string(&cw.log).unwrap_or_default();
    let events = format!("{:?}", events(client, ns).await);
    let conns = Api::<SocialConnection>::namespaced(client.clone(), ns).list(&Default::default()).await.expect("list");
    let status = serde_json::to_string(&conns.items.iter().map(|c| &c.status).collect::<Vec<_>>()).expect("json");
    for s in secrets {
        let nonce = s.rsplit("__").next().unwrap_or(s);
        for (place, text) in [("operator output", &output), ("Events", &events), ("status", &status)] {
            assert!(!text.contains(s) && !text.contains(nonce), "a secret value ({} characters) leaked into the {place}", s.len());
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_x_connection_is_reconnected_in_chromium_and_becomes_ready_with_the_new_token() {
    let cw = connect_world().await;
    let client = cw.cp.client().await;
    let ns = setup(&client, "connect-x", "x", fakes::X_USER_ID, json!({})).await;
    let old = fakes::token("x-c");
    token_secret(&client, &ns, &[("access_token", &old)], true).await;
    wait_link(&client, cw, &ns).await;
    let event = wait_event(&client, &ns, "ReauthorizationRequired").await;
    assert!(event.2.contains(&link(cw, &ns, "conn")), "the Event carries the link: {}", event.2);

    let (title, body) = click_through(cw, &ns, "allow").await;
    assert!(title.contains("works again"), "{title}: {body}");
    assert!(body.contains("checked and saved"), "{body}");
    let shown = secret_value(&client, &ns, "access_token").await.expect("access_token");
    assert!(!body.contains(&shown) && !title.contains(&shown), "the page never shows the token");

    let st = wait_condition(&client, &ns, "conn", "Ready", "True", "AllChecksPassed").await;
    assert_eq!(st.reauthorization_url, None, "nothing to do any more");
    let new = secret_value(&client, &ns, "access_token").await.expect("access_token");
    assert!(new.starts_with("valid__XAnew-"), "the exchanged token is stored: {new}");
    let refresh = secret_value(&client, &ns, "refresh_token").await.expect("refresh_token");
    assert!(refresh.starts_with("valid__XRnew-"));
    let obj = Api::<SocialConnection>::namespaced(client.clone(), &ns).get("conn").await.expect("get");
    assert!(obj.annotations().contains_key(CHECK_REQUESTED_ANNOTATION), "a check was asked for");
    // The exchange sent the PKCE verifier of the challenge the consent page saw.
    let exchange = w_requests("x", "/2/oauth2/token", "authorization_code");
    assert!(exchange.iter().all(|r| r.fake_error.is_none()), "{exchange:?}");
    assert!(exchange.iter().any(|r| r.form_param("code_verifier").is_some()));
    assert_nothing_leaked(&client, cw, &ns, &[&old, &new, &refresh]).await;
}

/// Requests of the shared fakes to `path` with form `grant_type`.
fn w_requests(provider: &str, path: &str, grant: &str) -> Vec<fakes::RecordedRequest> {
    world().fakes().requests(provider).into_iter().filter(|r| r.path == path && r.form_param("grant_type") == Some(grant)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_connection_without_a_secret_creates_it_labelled_and_owned_by_nobody() {
    let cw = connect_world().await;
    let client = cw.cp.client().await;
    let ns = setup(&client, "connect-first", "youtube", fakes::YOUTUBE_CHANNEL_ID, json!({})).await;
    wait_condition(&client, &ns, "conn", "Valid", "False", "SecretNotFound").await;
    wait_link(&client, cw, &ns).await;

    let (title, body) = click_through(cw, &ns, "allow").await;
    assert!(title.contains("is set up"), "{title}: {body}");

    let st = wait_condition(&client, &ns, "conn", "Ready", "True", "AllChecksPassed").await;
    assert_eq!(st.reauthorization_url, None);
    let s = Api::<Secret>::namespaced(client.clone(), &ns).get("tok").await.expect("the Secret was created");
    assert_eq!(s.labels().get(MANAGED_LABEL).map(String::as_str), Some("true"), "created with the opt-in label");
    assert!(s.metadata.owner_references.unwrap_or_default().is_empty(), "owned by nobody");
    let access = secret_value(&client, &ns, "access_token").await.expect("access_token");
    assert!(access.starts_with("valid__ya29.new-"), "{access}");
    assert!(secret_value(&client, &ns, "expires_at").await.is_some(), "the expiry is stored");
    let refresh = secret_value(&client, &ns, "refresh_token").await.expect("refresh_token");
    assert_nothing_leaked(&client, cw, &ns, &[&access, &refresh]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_on_the_consent_page_changes_nothing() {
    let cw = connect_world().await;
    let client = cw.cp.client().await;
    let ns = setup(&client, "connect-cancel", "tiktok", fakes::TIKTOK_OPEN_ID, json!({})).await;
    let old = fakes::token("tt-c");
    token_secret(&client, &ns, &[("access_token", &old)], true).await;
    wait_link(&client, cw, &ns).await;
    let (title, body) = click_through(cw, &ns, "deny").await;
    assert!(title.contains("Nothing changed"), "{title}: {body}");
    assert_eq!(secret_value(&client, &ns, "access_token").await.as_deref(), Some(old.as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sign_in_for_another_account_is_refused_and_nothing_is_written() {
    let cw = connect_world().await;
    let client = cw.cp.client().await;
    world().fakes().set_consent_scenario("pinterest", "pi-b");
    let ns = setup(&client, "connect-mismatch", "pinterest", fakes::PINTEREST_ACCOUNT_ID, json!({})).await;
    let old = fakes::token("pi-c");
    token_secret(&client, &ns, &[("access_token", &old)], true).await;
    wait_link(&client, cw, &ns).await;
    let (title, body) = click_through(cw, &ns, "allow").await;
    assert!(title.contains("cannot be used"), "{title}: {body}");
    assert!(body.contains("another account"), "{body}");
    assert_eq!(secret_value(&client, &ns, "access_token").await.as_deref(), Some(old.as_str()), "nothing written");
    // The token minted for the refused sign-in (the fake saw it in the check) is nowhere else.
    let minted: Vec<String> = world()
        .fakes()
        .requests("pinterest")
        .iter()
        .filter_map(|r| r.header("authorization").and_then(|h| h.strip_prefix("Bearer ")).map(str::to_string))
        .filter(|t| t.starts_with("pi-b__pina_new-"))
        .collect();
    assert!(!minted.is_empty(), "the refused token was checked");
    assert!(!body.contains(&minted[0]), "the page never shows the token");
    let refs: Vec<&str> = minted.iter().map(String::as_str).collect();
    assert_nothing_leaked(&client, cw, &ns, &refs).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sign_in_without_the_required_role_is_refused_with_403() {
    let cw = connect_world().await;
    let client = cw.cp.client().await;
    world().fakes().set_consent_scenario("linkedin", "li-l");
    let ns = setup(&client, "connect-role", "linkedin", fakes::LINKEDIN_ORGANIZATION_URN, json!({"requiredRole": "editor"})).await;
    wait_link(&client, cw, &ns).await;
    let (location, _) = start(cw, &ns).await;
    let callback = consent_link(&location, "allow").await;
    let (status, _, page) = get(&callback).await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("high enough role"), "{page}");
    assert!(secret_value(&client, &ns, "access_token").await.is_none(), "no Secret was created");
}

/// GET /connect: (the consent page URL, the state in it).
async fn start(cw: &ConnectWorld, ns: &str) -> (String, String) {
    let (status, location, body) = get(&link(cw, ns, "conn")).await;
    assert_eq!(status, 302, "{body}");
    let location = location.expect("Location");
    let state = query_param(&location, "state").expect("state");
    (location, state)
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_tampered_and_replayed_states_are_refused_with_400() {
    let cw = connect_world().await;
    let client = cw.cp.client().await;
    let ns = setup(&client, "connect-state", "facebook", fakes::FACEBOOK_PAGE_ID, json!({})).await;
    let old = fakes::token("g1");
    token_secret(&client, &ns, &[("access_token", &old)], true).await;
    wait_link(&client, cw, &ns).await;
    let uid = Api::<SocialConnection>::namespaced(client.clone(), &ns).get("conn").await.expect("get").uid().expect("uid");

    // Expired: signed with the right key, for the right object, a day and a second ago.
    let key = StateKey::from_bytes(KEY.as_bytes()).expect("key");
    let past = jiff::Timestamp::now().checked_sub(jiff::SignedDuration::from_secs(24 * 3600 + 1)).expect("time");
    let expired = sign(&key, &Claims::new(&ns, "conn", &uid, past));
    let (status, _, page) = get(&format!("{}/callback?code=c&state={expired}", cw.public)).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("expired"), "{page}");

    // Tampered: another name in a real state's payload.
    let (location, state) = start(cw, &ns).await;
    let (payload, tag) = state.split_once('.').expect("two parts");
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims = String::from_utf8(b64.decode(payload).expect("payload")).expect("utf-8").replace("\"conn\"", "\"other\"");
    let tampered = format!("{}.{tag}", b64.encode(claims));
    let (status, _, page) = get(&format!("{}/callback?code=c&state={tampered}", cw.public)).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("changed"), "{page}");

    // Replayed: a completed flow's callback opened again.
    let callback = consent_link(&location, "allow").await;
    let (status, _, page) = get(&callback).await;
    assert_eq!(status, 200, "the first use works: {page}");
    let new = secret_value(&client, &ns, "access_token").await.expect("stored");
    assert!(new.starts_with("valid__EAAnew-"), "the long-lived token is stored: {new}");
    let (status, _, page) = get(&callback).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("already used"), "{page}");
    assert_eq!(secret_value(&client, &ns, "access_token").await.as_deref(), Some(new.as_str()), "nothing written again");
    let code = query_param(&callback, "code").expect("code");
    assert!(!page.contains(&code) && !page.contains(&new), "no code or token on a page");
    wait_condition(&client, &ns, "conn", "Ready", "True", "AllChecksPassed").await;
    assert_nothing_leaked(&client, cw, &ns, &[&old, &new, &code, &state]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_link_made_before_the_connection_was_deleted_and_created_again_is_refused() {
    let cw = connect_world().await;
    let client = cw.cp.client().await;
    let ns = setup(&client, "connect-uid", "threads", fakes::THREADS_USER_ID, json!({})).await;
    wait_link(&client, cw, &ns).await;
    let (location, _) = start(cw, &ns).await;
    let api = Api::<SocialConnection>::namespaced(client.clone(), &ns);
    api.delete("conn", &DeleteParams::default()).await.expect("delete");
    let deadline = Instant::now() + Duration::from_secs(30);
    while api.get_opt("conn").await.expect("get").is_some() {
        assert!(Instant::now() < deadline, "the connection was not deleted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    connection(
        &client,
        &ns,
        "conn",
        json!({"provider": "threads", "account": {"id": fakes::THREADS_USER_ID}, "secretRef": {"name": "tok"}, "appSecretRef": {"name": "app"}}),
    )
    .await;
    let callback = consent_link(&location, "allow").await;
    let (status, _, page) = get(&callback).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("deleted and created again"), "{page}");
    assert!(secret_value(&client, &ns, "access_token").await.is_none(), "nothing written");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_secret_without_the_label_is_answered_409_and_left_untouched() {
    let cw = connect_world().await;
    let client = cw.cp.client().await;
    let ns = setup(&client, "connect-unlabelled", "instagram-login", fakes::INSTAGRAM_LOGIN_ACCOUNT_ID, json!({})).await;
    let old = fakes::token("g1");
    token_secret(&client, &ns, &[("access_token", &old)], false).await;
    wait_link(&client, cw, &ns).await;
    let before = Api::<Secret>::namespaced(client.clone(), &ns).get("tok").await.expect("get").resource_version();
    let (location, _) = start(cw, &ns).await;
    let callback = consent_link(&location, "allow").await;
    let (status, _, page) = get(&callback).await;
    assert_eq!(status, 409, "{page}");
    assert!(page.contains(MANAGED_LABEL), "the page names the label: {page}");
    let after = Api::<Secret>::namespaced(client.clone(), &ns).get("tok").await.expect("get").resource_version();
    assert_eq!(before, after, "the Secret is untouched");
}

#[tokio::test(flavor = "multi_thread")]
async fn telegram_links_explain_botfather_and_unknown_connections_are_404() {
    let cw = connect_world().await;
    let client = cw.cp.client().await;
    let ns = namespace(&client, "connect-tg").await;
    connection(
        &client,
        &ns,
        "conn",
        json!({"provider": "telegram", "account": {"id": fakes::TELEGRAM_CHAT_ID}, "secretRef": {"name": "tok"}}),
    )
    .await;
    wait_link(&client, cw, &ns).await;
    let (status, _, page) = get(&link(cw, &ns, "conn")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("@BotFather") && page.contains("&quot;tok&quot;") && page.contains("access_token"), "{page}");
    assert!(page.contains("name=\"viewport\""), "a phone shows it well");
    let (status, _, _) = get(&link(cw, &ns, "absent")).await;
    assert_eq!(status, 404);
    let (status, _, _) = get(&format!("{}/connect/no-such-namespace/conn", cw.public)).await;
    assert_eq!(status, 404);
}
