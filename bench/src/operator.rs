//! The operator under test: a child process of the bench, with its resident memory read from
//! `/proc`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::BenchError;

/// How the operator is started.
pub struct OperatorSpec {
    /// The operator binary.
    pub binary: PathBuf,
    /// Admin kubeconfig.
    pub kubeconfig: PathBuf,
    /// `SOCIAL_PROVIDER_ENDPOINTS` of the fakes.
    pub endpoints: String,
    /// Watched namespaces (`--namespace`, repeated).
    pub namespaces: Vec<String>,
    /// `--concurrency`.
    pub concurrency: usize,
    /// Extra arguments (after `run`).
    pub extra_args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
}

/// A running operator.
pub struct Operator {
    child: Child,
    pid: u32,
}

impl Operator {
    /// Starts the operator, appending its output to `log`.
    pub fn spawn(spec: &OperatorSpec, log: &Path) -> Result<Self, BenchError> {
        let out = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
        let err = out.try_clone()?;
        let mut cmd = Command::new(&spec.binary);
        cmd.arg("run").args(["--health-addr", "127.0.0.1:0", "--log-format", "json"]);
        cmd.args(["--concurrency", &spec.concurrency.to_string()]);
        for ns in &spec.namespaces {
            cmd.args(["--namespace", ns]);
        }
        cmd.args(&spec.extra_args)
            .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("KUBECONFIG", &spec.kubeconfig)
            .env("SOCIAL_PROVIDER_ENDPOINTS", &spec.endpoints)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = cmd.spawn()?;
        let pid = child.id();
        Ok(Operator { child, pid })
    }

    /// Resident set size now and its peak so far, in KiB (`VmRSS`, `VmHWM`).
    pub fn memory_kib(&self) -> Option<(u64, u64)> {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        let field = |name: &str| {
            text.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        };
        Some((field("VmRSS:")?, field("VmHWM:")?))
    }

    /// CPU time the process used so far (user + system), in seconds.
    pub fn cpu_seconds(&self) -> Option<f64> {
        let text = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).ok()?;
        let after = text.rsplit_once(") ")?.1;
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = fields.get(11)?.parse::<u64>().ok()?.saturating_add(fields.get(12)?.parse::<u64>().ok()?);
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        Some(ticks as f64 / if hz > 0 { hz as f64 } else { 100.0 })
    }

    /// Whether the process still runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, then SIGKILL after 20 s.
    pub async fn stop(mut self) {
        if let Ok(pid) = i32::try_from(self.pid) {
            // SAFETY: kill(2) on our own child's pid, which we have not reaped yet.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while matches!(self.child.try_wait(), Ok(None)) {
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        // Never leave an operator behind (a failed run drops it without stop()).
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
