//! The local control plane (started through `scripts/control-plane.sh`), the CRD, and the API
//! server's own request counters (`/metrics`, `apiserver_request_total`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::BenchError;

/// A running control plane owned by this process (a watchdog stops it if we die).
pub struct ControlPlane {
    /// State directory passed to `control-plane.sh start --dir`.
    pub dir: PathBuf,
    /// Admin kubeconfig.
    pub kubeconfig: PathBuf,
    /// The kubectl binary of the control plane build.
    pub kubectl: PathBuf,
    script: PathBuf,
}

/// Runs a blocking process call off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> std::io::Result<T> + Send + 'static) -> std::io::Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(std::io::Error::other)?
}

/// Reads `KEY=value` lines of the control plane's env file.
fn read_env(path: &Path) -> Result<HashMap<String, String>, BenchError> {
    let text = std::fs::read_to_string(path)?;
    Ok(text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string())).collect())
}

impl ControlPlane {
    /// Starts etcd and kube-apiserver in `dir` and installs the CRD from `crds/`.
    pub async fn start(repo: &Path, dir: PathBuf) -> Result<Self, BenchError> {
        let script = repo.join("scripts/control-plane.sh");
        let mut cmd = Command::new("bash");
        cmd.arg(&script).arg("start").arg("--dir").arg(&dir).args(["--watch-pid", &std::process::id().to_string()]).stdout(Stdio::null());
        let status = blocking(move || cmd.status()).await?;
        if !status.success() {
            return Err(BenchError::Setup(format!("scripts/control-plane.sh start failed ({status})")));
        }
        let env = read_env(&dir.join("env"))?;
        let kubectl = env.get("KUBECTL").map(PathBuf::from).ok_or_else(|| BenchError::Setup("no KUBECTL in the env file".into()))?;
        let cp = ControlPlane { kubeconfig: dir.join("kubeconfig"), dir, kubectl, script };
        let crd = repo.join("crds/socialconnections.social.connections.dev.yaml");
        cp.kubectl(&["apply", "--server-side", "-f", &crd.to_string_lossy()]).await?;
        cp.kubectl(&["wait", "--for=condition=Established", "--timeout=60s", "crd/socialconnections.social.connections.dev"]).await?;
        Ok(cp)
    }

    /// Runs kubectl with the admin kubeconfig.
    pub async fn kubectl(&self, args: &[&str]) -> Result<String, BenchError> {
        let mut cmd = Command::new(&self.kubectl);
        cmd.arg("--kubeconfig").arg(&self.kubeconfig).args(args);
        let out = blocking(move || cmd.output()).await?;
        if !out.status.success() {
            return Err(BenchError::Setup(format!("kubectl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr))));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// An admin client.
    pub async fn client(&self) -> Result<Client, BenchError> {
        let kc = Kubeconfig::read_from(&self.kubeconfig).map_err(|e| BenchError::Setup(e.to_string()))?;
        let mut cfg =
            Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await.map_err(|e| BenchError::Setup(e.to_string()))?;
        // The load generator must not be the bottleneck of its own measurement.
        cfg.read_timeout = Some(std::time::Duration::from_secs(120));
        Client::try_from(cfg).map_err(BenchError::Kube)
    }

    /// Stops the control plane and deletes its directory (keeping its logs when asked).
    pub async fn stop(&self, keep_logs: bool) {
        let mut cmd = Command::new("bash");
        cmd.arg(&self.script).arg("stop").arg("--dir").arg(&self.dir);
        if keep_logs {
            cmd.arg("--keep-logs");
        }
        cmd.stdout(Stdio::null());
        let _ = blocking(move || cmd.status()).await;
    }
}

/// Request counts the API server reports, summed over the label sets that matter here.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Writes to `socialconnections/status` (APPLY, PATCH, UPDATE).
    pub status_writes: u64,
    /// Writes to `socialconnections` themselves (the operator should make none).
    pub connection_writes: u64,
    /// GETs of single Secrets.
    pub secret_gets: u64,
    /// LISTs of Secrets (a watch that relists shows here).
    pub secret_lists: u64,
    /// Event writes (events.k8s.io and core).
    pub event_writes: u64,
}

impl Counters {
    /// `self − earlier`, per field (saturating: counters never go back unless the server
    /// restarted).
    pub fn since(&self, earlier: &Counters) -> Counters {
        Counters {
            status_writes: self.status_writes.saturating_sub(earlier.status_writes),
            connection_writes: self.connection_writes.saturating_sub(earlier.connection_writes),
            secret_gets: self.secret_gets.saturating_sub(earlier.secret_gets),
            secret_lists: self.secret_lists.saturating_sub(earlier.secret_lists),
            event_writes: self.event_writes.saturating_sub(earlier.event_writes),
        }
    }
}

/// Parses the labels of one Prometheus sample line: `name{a="x",b="y"} value`.
fn sample(line: &str) -> Option<(HashMap<&str, &str>, f64)> {
    let rest = line.strip_prefix("apiserver_request_total{")?;
    let (labels, value) = rest.rsplit_once("} ")?;
    let map = labels
        .split("\",")
        .filter_map(|kv| kv.split_once("=\""))
        .map(|(k, v)| (k.trim_matches(','), v.trim_end_matches('"')))
        .collect::<HashMap<_, _>>();
    Some((map, value.trim().parse().ok()?))
}

/// Sums `apiserver_request_total` of a `/metrics` text into [`Counters`].
pub fn parse_counters(text: &str) -> Counters {
    let mut c = Counters::default();
    for (labels, value) in text.lines().filter_map(sample) {
        // Counters are integers; the text format prints them as floats.
        let n = if value.is_finite() && value >= 0.0 { value as u64 } else { 0 };
        let verb = labels.get("verb").copied().unwrap_or("");
        let resource = labels.get("resource").copied().unwrap_or("");
        let sub = labels.get("subresource").copied().unwrap_or("");
        let write = matches!(verb, "APPLY" | "PATCH" | "UPDATE" | "POST" | "CREATE");
        let slot = match (resource, sub) {
            ("socialconnections", "status") if write => &mut c.status_writes,
            ("socialconnections", "") if write && verb != "POST" => &mut c.connection_writes,
            ("secrets", "") if verb == "GET" => &mut c.secret_gets,
            ("secrets", "") if verb == "LIST" => &mut c.secret_lists,
            ("events", "") if write => &mut c.event_writes,
            _ => continue,
        };
        *slot = slot.saturating_add(n);
    }
    c
}

/// Reads the API server's counters now.
pub async fn counters(client: &Client) -> Result<Counters, BenchError> {
    let req = http::Request::get("/metrics").body(Vec::new()).map_err(|e| BenchError::Setup(e.to_string()))?;
    let text = client.request_text(req).await?;
    Ok(parse_counters(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_writes_secret_gets_and_lists_are_summed_from_the_metrics_text() {
        let text = r#"# HELP apiserver_request_total x
apiserver_request_total{code="200",component="apiserver",dry_run="",group="social.connections.dev",resource="socialconnections",scope="resource",subresource="status",verb="APPLY",version="v1alpha1"} 7
apiserver_request_total{code="409",component="apiserver",dry_run="",group="social.connections.dev",resource="socialconnections",scope="resource",subresource="status",verb="PATCH",version="v1alpha1"} 2
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="secrets",scope="resource",subresource="",verb="GET",version="v1"} 1.2e+06
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="secrets",scope="namespace",subresource="",verb="LIST",version="v1"} 3
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="secrets",scope="resource",subresource="",verb="POST",version="v1"} 9
apiserver_request_total{code="201",component="apiserver",dry_run="",group="social.connections.dev",resource="socialconnections",scope="resource",subresource="",verb="POST",version="v1alpha1"} 5
apiserver_request_total{code="201",component="apiserver",dry_run="",group="events.k8s.io",resource="events",scope="resource",subresource="",verb="POST",version="v1"} 4
"#;
        let c = parse_counters(text);
        assert_eq!(c, Counters { status_writes: 9, connection_writes: 0, secret_gets: 1_200_000, secret_lists: 3, event_writes: 4 });
        let later = Counters { status_writes: 10, ..c };
        assert_eq!(later.since(&c).status_writes, 1);
        assert_eq!(c.since(&later).status_writes, 0);
    }
}
