//! The commands' talks with the API server: read connections, Secrets' metadata and Events, set
//! the request annotations and wait for the operator to handle them.

use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, ResourceExt};
use serde::Serialize;
use serde_json::json;

use super::args::{CheckArgs, Cli, Command, Global, OutputFormat, RefreshArgs, StatusArgs, WaitArgs};
use super::report::{
    AttentionRow, EventInfo, RequestResult, SecretInfo, SecretState, StatusReport, attention_table, needs_attention, recent,
};
use crate::api::{CHECK_REQUESTED_ANNOTATION, REFRESH_REQUESTED_ANNOTATION, SocialConnection};

/// An error of the plugin; its text is what the person reads after `error: `.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The kubeconfig could not be read or used.
    #[error("kubeconfig: {0}")]
    Kubeconfig(#[from] kube::config::KubeconfigError),
    /// The client could not be built.
    #[error("cannot connect to Kubernetes: {0}")]
    Client(#[source] kube::Error),
    /// An API call failed.
    #[error("{what}: {source}")]
    Api {
        /// What was being done.
        what: String,
        /// The failure.
        #[source]
        source: kube::Error,
    },
    /// The connection does not exist.
    #[error("socialconnection \"{name}\" not found in namespace \"{namespace}\"")]
    NotFound {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// No reauthorization URL is published.
    #[error(
        "socialconnection {namespace}/{name} has no reauthorization URL (status.reauthorizationURL is set only while a person must act and the operator knows the app's client id and redirect URL)"
    )]
    NoReauthorizationUrl {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// The operator did not handle a request in time.
    #[error(
        "timed out after {timeout:?}: the operator has not handled the {what} request {value:?} of {namespace}/{name} yet (is it running and watching this namespace?)"
    )]
    Timeout {
        /// check or refresh.
        what: &'static str,
        /// The annotation value.
        value: String,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// How long it waited.
        timeout: Duration,
    },
    /// --wait on a suspended connection, which the operator does not check or refresh.
    #[error("socialconnection {namespace}/{name} is suspended (spec.suspend: true): the operator will not handle the {what} request")]
    Suspended {
        /// check or refresh.
        what: &'static str,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// A NAME was given with --all-namespaces.
    #[error("a NAME needs one namespace: use -n instead of -A")]
    NameWithAllNamespaces,
    /// `check --all` or `-l` matched nothing.
    #[error("no socialconnections matched")]
    NothingMatched,
    /// The output could not be serialised.
    #[error("cannot write {0}")]
    Serialize(String),
}

fn api_err(what: impl Into<String>) -> impl FnOnce(kube::Error) -> PluginError {
    let what = what.into();
    move |source| PluginError::Api { what, source }
}

/// Where a command looks.
enum Scope {
    One(String),
    All,
}

/// A connected plugin: the client and the kubeconfig context's namespace.
struct Ctx {
    client: Client,
    default_namespace: String,
    namespace: Option<String>,
    all_namespaces: bool,
    output: Option<OutputFormat>,
}

impl Ctx {
    async fn connect(g: &Global) -> Result<Ctx, PluginError> {
        let kubeconfig = match &g.kubeconfig {
            Some(p) => Kubeconfig::read_from(p)?,
            None => Kubeconfig::read()?,
        };
        let options = KubeConfigOptions { context: g.context.clone(), ..Default::default() };
        let config = Config::from_custom_kubeconfig(kubeconfig, &options).await?;
        let default_namespace = config.default_namespace.clone();
        let client = Client::try_from(config).map_err(PluginError::Client)?;
        Ok(Ctx { client, default_namespace, namespace: g.namespace.clone(), all_namespaces: g.all_namespaces, output: g.output })
    }

    /// -n, else -A, else every namespace when `all_by_default`, else the context's namespace.
    fn scope(&self, all_by_default: bool) -> Scope {
        match (&self.namespace, self.all_namespaces) {
            (Some(ns), _) => Scope::One(ns.clone()),
            (None, true) => Scope::All,
            (None, false) if all_by_default => Scope::All,
            (None, false) => Scope::One(self.default_namespace.clone()),
        }
    }

    /// The one namespace of a command on a NAME.
    fn single_namespace(&self) -> Result<String, PluginError> {
        match self.scope(false) {
            Scope::One(ns) => Ok(ns),
            Scope::All => Err(PluginError::NameWithAllNamespaces),
        }
    }

    fn conns(&self, ns: &str) -> Api<SocialConnection> {
        Api::namespaced(self.client.clone(), ns)
    }

    async fn get(&self, ns: &str, name: &str) -> Result<SocialConnection, PluginError> {
        self.conns(ns)
            .get_opt(name)
            .await
            .map_err(api_err(format!("reading socialconnection {ns}/{name}")))?
            .ok_or_else(|| PluginError::NotFound { namespace: ns.into(), name: name.into() })
    }

    async fn list(&self, scope: &Scope, selector: Option<&str>) -> Result<Vec<SocialConnection>, PluginError> {
        let api = match scope {
            Scope::One(ns) => self.conns(ns),
            Scope::All => Api::all(self.client.clone()),
        };
        let mut lp = ListParams::default();
        if let Some(s) = selector {
            lp = lp.labels(s);
        }
        let mut items = api.list(&lp).await.map_err(api_err("listing socialconnections"))?.items;
        items.sort_by_key(|a| (a.namespace(), a.name_any()));
        Ok(items)
    }

    /// The token Secret's metadata and key names; its values are dropped at once.
    async fn secret_info(&self, ns: &str, name: &str) -> Result<SecretInfo, PluginError> {
        let gone = |state| SecretInfo { name: name.into(), state, ..Default::default() };
        match Api::<Secret>::namespaced(self.client.clone(), ns).get_opt(name).await {
            Ok(Some(s)) => Ok(SecretInfo::from_secret(&s)),
            Ok(None) => Ok(gone(SecretState::NotFound)),
            Err(kube::Error::Api(s)) if s.code == 403 => Ok(gone(SecretState::Forbidden)),
            Err(e) => Err(api_err(format!("reading secret {ns}/{name}"))(e)),
        }
    }

    /// Events (events.k8s.io/v1) regarding the connection.
    async fn events(&self, conn: &SocialConnection, n: usize) -> Result<Vec<EventInfo>, PluginError> {
        let ns = conn.namespace().unwrap_or_default();
        let name = conn.name_any();
        let lp = ListParams::default().fields(&format!("regarding.name={name}"));
        let list = Api::<Event>::namespaced(self.client.clone(), &ns)
            .list(&lp)
            .await
            .map_err(api_err(format!("listing events of {ns}/{name}")))?;
        let uid = conn.uid();
        let about: Vec<EventInfo> = list
            .items
            .iter()
            .filter(|e| {
                e.regarding.as_ref().is_some_and(|r| {
                    r.kind.as_deref() == Some("SocialConnection")
                        && r.name.as_deref() == Some(name.as_str())
                        && (uid.is_none() || r.uid.is_none() || r.uid == uid)
                })
            })
            .map(EventInfo::from_event)
            .collect();
        Ok(recent(about, n))
    }

    fn print<T: Serialize + ?Sized>(&self, value: &T, text: impl FnOnce() -> String) -> Result<(), PluginError> {
        let out = match self.output {
            Some(OutputFormat::Json) => {
                let mut s = serde_json::to_string_pretty(value).map_err(|e| PluginError::Serialize(e.to_string()))?;
                s.push('\n');
                s
            }
            Some(OutputFormat::Yaml) => serde_yaml::to_string(value).map_err(|e| PluginError::Serialize(e.to_string()))?,
            None => text(),
        };
        print!("{out}");
        Ok(())
    }
}

/// Runs one command line.
pub async fn run(cli: Cli) -> Result<(), PluginError> {
    let ctx = Ctx::connect(&cli.global).await?;
    match cli.command {
        Command::Status(a) => status(&ctx, a).await,
        Command::Check(a) => check(&ctx, a).await,
        Command::Refresh(a) => refresh(&ctx, a).await,
        Command::ReauthUrl(a) => {
            let ns = ctx.single_namespace()?;
            let conn = ctx.get(&ns, &a.name).await?;
            match conn.status.and_then(|s| s.reauthorization_url) {
                Some(url) => ctx.print(&json!({"reauthorizationURL": url}), || format!("{url}\n")),
                None => Err(PluginError::NoReauthorizationUrl { namespace: ns, name: a.name }),
            }
        }
        Command::NeedsAttention => {
            let conns = ctx.list(&ctx.scope(true), None).await?;
            let rows: Vec<AttentionRow> = needs_attention(&conns);
            ctx.print(&rows, || {
                if rows.is_empty() { "No socialconnections need attention.\n".into() } else { attention_table(&rows, Timestamp::now()) }
            })
        }
    }
}

async fn status(ctx: &Ctx, a: StatusArgs) -> Result<(), PluginError> {
    let conns = match &a.name {
        Some(name) => vec![ctx.get(&ctx.single_namespace()?, name).await?],
        None => ctx.list(&ctx.scope(false), None).await?,
    };
    let mut reports = Vec::with_capacity(conns.len());
    for c in &conns {
        let ns = c.namespace().unwrap_or_default();
        let secret = ctx.secret_info(&ns, &c.spec.secret_ref.name).await?;
        let events = ctx.events(c, a.events).await?;
        reports.push(StatusReport::new(c, secret, events));
    }
    let now = Timestamp::now();
    let text = || {
        if reports.is_empty() {
            return "No socialconnections found.\n".to_string();
        }
        reports.iter().map(|r| r.render(now)).collect::<Vec<_>>().join("\n")
    };
    match (&a.name, reports.as_slice()) {
        (Some(_), [one]) => ctx.print(one, text),
        _ => ctx.print(&reports, text),
    }
}

/// A fresh request value: the current time with nanoseconds, as `cmctl renew` does.
fn fresh_value() -> String {
    Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()
}

/// Which status field says a request was handled.
#[derive(Clone, Copy)]
enum Request {
    Check,
    Refresh,
}

impl Request {
    fn annotation(self) -> &'static str {
        match self {
            Request::Check => CHECK_REQUESTED_ANNOTATION,
            Request::Refresh => REFRESH_REQUESTED_ANNOTATION,
        }
    }

    fn word(self) -> &'static str {
        match self {
            Request::Check => "check",
            Request::Refresh => "refresh",
        }
    }

    fn handled(self, conn: &SocialConnection, value: &str) -> bool {
        let st = conn.status.as_ref();
        let last = match self {
            Request::Check => st.and_then(|s| s.last_handled_check_request.as_deref()),
            Request::Refresh => st.and_then(|s| s.last_handled_refresh_request.as_deref()),
        };
        last == Some(value)
    }
}

/// Sets the request annotation on each connection, then (with --wait) waits for all.
async fn request(ctx: &Ctx, req: Request, targets: Vec<(String, String)>, wait: &WaitArgs) -> Result<(), PluginError> {
    let value = fresh_value();
    let patch = json!({"metadata": {"annotations": {req.annotation(): value}}});
    let mut results = Vec::with_capacity(targets.len());
    for (ns, name) in &targets {
        let conn = ctx.conns(ns).patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.map_err(|e| match e {
            kube::Error::Api(s) if s.code == 404 => PluginError::NotFound { namespace: ns.clone(), name: name.clone() },
            e => api_err(format!("annotating socialconnection {ns}/{name}"))(e),
        })?;
        results.push(RequestResult::new(&conn, &value, false));
    }
    if wait.wait {
        let deadline = Instant::now() + wait.timeout;
        for r in results.iter_mut() {
            loop {
                let conn = ctx.get(&r.namespace, &r.name).await?;
                if req.handled(&conn, &value) {
                    *r = RequestResult::new(&conn, &value, true);
                    break;
                }
                if conn.spec.is_suspended() {
                    return Err(PluginError::Suspended { what: req.word(), namespace: r.namespace.clone(), name: r.name.clone() });
                }
                if Instant::now() >= deadline {
                    return Err(PluginError::Timeout {
                        what: req.word(),
                        value,
                        namespace: r.namespace.clone(),
                        name: r.name.clone(),
                        timeout: wait.timeout,
                    });
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    let text = || results.iter().map(|r| r.render(req.word())).collect::<String>();
    match results.as_slice() {
        [one] => ctx.print(one, text),
        _ => ctx.print(&results, text),
    }
}

async fn check(ctx: &Ctx, a: CheckArgs) -> Result<(), PluginError> {
    let targets = match &a.name {
        Some(name) => vec![(ctx.single_namespace()?, name.clone())],
        None => {
            let conns = ctx.list(&ctx.scope(false), a.selector.as_deref()).await?;
            if conns.is_empty() {
                return Err(PluginError::NothingMatched);
            }
            conns.iter().map(|c| (c.namespace().unwrap_or_default(), c.name_any())).collect()
        }
    };
    request(ctx, Request::Check, targets, &a.wait).await
}

async fn refresh(ctx: &Ctx, a: RefreshArgs) -> Result<(), PluginError> {
    let ns = ctx.single_namespace()?;
    request(ctx, Request::Refresh, vec![(ns, a.name)], &a.wait).await
}
