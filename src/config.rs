//! Command line and environment: every flag has an environment twin.

use clap::{Args, Parser, Subcommand};

use crate::providers::endpoints::{EndpointError, Endpoints};
use crate::providers::http::{DEFAULT_GRAPH_VERSION, DEFAULT_LINKEDIN_VERSION};
use crate::telemetry::LogFormat;

/// Keeps OAuth connections to social networks healthy, as Kubernetes resources.
#[derive(Parser, Debug)]
#[command(name = "social-connection-operator", version, about)]
pub struct Cli {
    /// What to do; `run` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of `run` when no subcommand is given.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Subcommands.
// Parsed once at start-up: the size of `Run` costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the controller (the default).
    Run(RunArgs),
    /// Print a CustomResourceDefinition as YAML (default: SocialConnection).
    Crd(CrdArgs),
}

/// Options of `crd`.
#[derive(Args, Debug, Clone)]
pub struct CrdArgs {
    /// Which CRD to print.
    #[arg(value_enum, default_value = "socialconnections")]
    pub name: CrdName,
}

/// The operator's CustomResourceDefinitions, by plural name.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrdName {
    /// SocialConnection.
    Socialconnections,
    /// SocialNotificationPolicy.
    Socialnotificationpolicies,
}

/// Options of the controller.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Namespace to watch; repeat for several. Default: all namespaces.
    #[arg(long = "namespace", env = "SOCIAL_WATCH_NAMESPACES", value_delimiter = ',')]
    pub namespaces: Vec<String>,

    /// Only SocialConnections whose labels match this selector (Kubernetes label-selector
    /// syntax, e.g. `shard=a` or `!legacy`), to split connections between operator instances
    /// as Flux's --watch-label-selector does. Default: every SocialConnection.
    #[arg(long, env = "SOCIAL_WATCH_LABEL_SELECTOR")]
    pub watch_label_selector: Option<String>,

    /// Override a provider's API host: <provider>=<base-url> (http(s)://host[:port]);
    /// repeatable. Wins over SOCIAL_PROVIDER_ENDPOINTS for the same provider.
    #[arg(long = "provider-endpoint")]
    pub provider_endpoints: Vec<String>,

    /// Graph API version for facebook, instagram and instagram-login.
    #[arg(long, env = "SOCIAL_GRAPH_API_VERSION", default_value = DEFAULT_GRAPH_VERSION)]
    pub graph_api_version: String,

    /// LinkedIn-Version header for LinkedIn REST calls.
    #[arg(long, env = "SOCIAL_LINKEDIN_VERSION", default_value = DEFAULT_LINKEDIN_VERSION)]
    pub linkedin_version: String,

    /// Log line format.
    #[arg(long, env = "SOCIAL_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// How many connections are reconciled at once (at least 1: kube-runtime would read 0 as
    /// unbounded).
    #[arg(long, env = "SOCIAL_CONCURRENCY", default_value = "8", value_parser = parse_concurrency)]
    pub concurrency: std::num::NonZeroU16,

    /// Default OAuth redirect URL for reauthorization links, used when spec.redirectURL is
    /// unset.
    #[arg(long, env = "SOCIAL_DEFAULT_REDIRECT_URL")]
    pub default_redirect_url: Option<String>,

    /// Request budget of a provider, shared by all its connections:
    /// <provider>=<requests>[/<period>] (e.g. facebook=50/1s, youtube=20000/24h); repeatable.
    /// Unlisted providers keep their defaults, taken from their published limits (README).
    #[arg(long = "provider-rate", env = "SOCIAL_PROVIDER_RATES", value_delimiter = ',')]
    pub provider_rates: Vec<String>,

    /// Address of the HTTP server: health endpoints (/healthz, /readyz) and metrics (/metrics).
    #[arg(long, env = "SOCIAL_HEALTH_ADDR", default_value = "0.0.0.0:8080")]
    pub health_addr: std::net::SocketAddr,

    /// Public base URL of the connect flow (providers.md §2.14), such as
    /// https://connect.example.com: turns the flow on. Links are {url}/connect/{namespace}/{name}
    /// and providers redirect to {url}/callback. https, or http for a loopback host only.
    #[arg(long, env = "SOCIAL_CONNECT_PUBLIC_URL")]
    pub connect_public_url: Option<String>,

    /// Address the connect flow's link and callback are served on (with --connect-public-url).
    #[arg(long, env = "SOCIAL_CONNECT_ADDR", default_value = "0.0.0.0:8090")]
    pub connect_addr: std::net::SocketAddr,

    /// File holding the key that signs the connect flow's state (at least 32 bytes, surrounding
    /// whitespace trimmed). Required with --connect-public-url.
    #[arg(long, env = "SOCIAL_CONNECT_STATE_KEY_FILE")]
    pub connect_state_key_file: Option<std::path::PathBuf>,

    /// Override a provider's consent page host: <provider>=<base-url> (http(s)://host[:port]);
    /// repeatable, for tests. Wins over SOCIAL_CONSENT_ENDPOINTS for the same provider.
    #[arg(long = "consent-endpoint")]
    pub consent_endpoints: Vec<String>,

    /// How long a transient answer to the revoke call of a deleted connection
    /// (spec.revokeOnDelete) is retried, counted from the deletion request; then the Warning
    /// Event RevokeFailed is recorded and the finalizer released. At most 24h.
    #[arg(long, env = "SOCIAL_REVOKE_TIMEOUT", default_value = "10m", value_parser = parse_revoke_timeout)]
    pub revoke_timeout: std::time::Duration,

    /// Send no notices and do not watch SocialNotificationPolicies (for a second operator
    /// instance that must stay silent, such as a staging copy watching production objects).
    #[arg(long, env = "SOCIAL_DISABLE_NOTIFICATIONS")]
    pub disable_notifications: bool,

    /// Leader election: only the replica that holds a coordination.k8s.io Lease reconciles,
    /// calls providers and sends notices; the others stand by. Off by default for a single
    /// process (the demo, a local run); the Helm chart turns it on.
    #[arg(long, env = "SOCIAL_LEADER_ELECTION")]
    pub leader_election: bool,

    /// Namespace of the leader Lease. Default: the client's namespace (in a pod, its own
    /// namespace; with a kubeconfig, the current context's namespace or `default`).
    #[arg(long, env = "SOCIAL_LEADER_ELECTION_NAMESPACE")]
    pub leader_election_namespace: Option<String>,

    /// Name of the leader Lease; every replica of one installation must use the same.
    #[arg(long, env = "SOCIAL_LEADER_ELECTION_LEASE_NAME", default_value = "social-connection-operator")]
    pub leader_election_lease_name: String,

    /// How long a Lease stays valid after its holder last renewed it; another replica may take
    /// it over only after that. Whole seconds.
    #[arg(long, env = "SOCIAL_LEADER_ELECTION_LEASE_DURATION", default_value = "15s", value_parser = parse_seconds)]
    pub leader_election_lease_duration: std::time::Duration,

    /// The leader stops all work when it has not renewed its Lease for this long; shorter than
    /// the lease duration, so it stops before anyone else may start. Whole seconds.
    #[arg(long, env = "SOCIAL_LEADER_ELECTION_RENEW_DEADLINE", default_value = "10s", value_parser = parse_seconds)]
    pub leader_election_renew_deadline: std::time::Duration,

    /// How often the leader renews its Lease and reads it back. Whole seconds.
    #[arg(long, env = "SOCIAL_LEADER_ELECTION_RETRY_PERIOD", default_value = "2s", value_parser = parse_seconds)]
    pub leader_election_retry_period: std::time::Duration,
}

/// Environment variable with comma-separated `<provider>=<base-url>` pairs.
pub const ENDPOINTS_ENV: &str = "SOCIAL_PROVIDER_ENDPOINTS";

/// Environment variable with comma-separated `<provider>=<base-url>` consent page overrides.
pub const CONSENT_ENDPOINTS_ENV: &str = "SOCIAL_CONSENT_ENDPOINTS";

impl RunArgs {
    /// The consent page overrides from flags and environment, validated (the rules of
    /// `--provider-endpoint`).
    pub fn consent_endpoints(&self) -> Result<Endpoints, EndpointError> {
        let env = std::env::var(CONSENT_ENDPOINTS_ENV).ok();
        Endpoints::from_sources(&self.consent_endpoints, env.as_deref())
    }

    /// The request budgets given on the command line or in the environment, validated.
    pub fn rates(
        &self,
    ) -> Result<Vec<(crate::api::ProviderKind, crate::controller::throttle::Rate)>, crate::controller::throttle::RateError> {
        self.provider_rates.iter().map(|r| crate::controller::throttle::parse_rate(r)).collect()
    }

    /// The endpoint overrides from flags and environment, validated.
    pub fn endpoints(&self) -> Result<Endpoints, EndpointError> {
        let env = std::env::var(ENDPOINTS_ENV).ok();
        Endpoints::from_sources(&self.provider_endpoints, env.as_deref())
    }
}

/// Parses a duration of whole seconds (`15s`, `1m`), at least one second: the Lease counts in
/// seconds.
fn parse_seconds(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s.trim()).map_err(|e| format!("{s:?} is not a duration such as 15s: {e}"))?;
    if d.subsec_nanos() != 0 || d.as_secs() == 0 {
        return Err(format!("{s:?} must be a whole number of seconds, at least 1s"));
    }
    Ok(d)
}

/// Parses `--concurrency`: a whole number from 1 to 65535.
fn parse_concurrency(s: &str) -> Result<std::num::NonZeroU16, String> {
    let n: u16 = s.trim().parse().map_err(|_| format!("{s:?} is not a whole number from 1 to 65535"))?;
    std::num::NonZeroU16::new(n).ok_or_else(|| "must be at least 1 (0 would mean unbounded concurrency)".to_string())
}

/// Parses `--revoke-timeout`: a duration such as `10m` or `30s`, at most a day (a deletion must
/// never hang).
fn parse_revoke_timeout(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s.trim()).map_err(|e| format!("{s:?} is not a duration such as 10m or 30s: {e}"))?;
    if d > std::time::Duration::from_secs(24 * 3600) {
        return Err("must be at most 24h (a deletion waits this long at most)".to_string());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_zero_is_refused_at_start_up_with_a_reason() {
        let err = Cli::try_parse_from(["sco", "--concurrency", "0"]).unwrap_err();
        assert!(err.to_string().contains("at least 1"), "{err}");
        let cli = Cli::try_parse_from(["sco", "--concurrency", "3"]).unwrap();
        assert_eq!(cli.run.concurrency.get(), 3);
        assert!(Cli::try_parse_from(["sco", "--concurrency", "-1"]).is_err());
    }

    #[test]
    fn the_revoke_timeout_defaults_to_ten_minutes_and_refuses_more_than_a_day() {
        let cli = Cli::try_parse_from(["sco"]).unwrap();
        assert_eq!(cli.run.revoke_timeout, crate::controller::policy::revoke::DEFAULT_REVOKE_TIMEOUT);
        let cli = Cli::try_parse_from(["sco", "--revoke-timeout", "15s"]).unwrap();
        assert_eq!(cli.run.revoke_timeout, std::time::Duration::from_secs(15));
        let err = Cli::try_parse_from(["sco", "--revoke-timeout", "2d"]).unwrap_err();
        assert!(err.to_string().contains("at most 24h"), "{err}");
        assert!(Cli::try_parse_from(["sco", "--revoke-timeout", "soon"]).is_err());
    }

    #[test]
    fn leader_election_is_off_by_default_with_client_go_timings() {
        let cli = Cli::try_parse_from(["sco"]).unwrap();
        assert!(!cli.run.leader_election);
        assert_eq!(cli.run.leader_election_lease_name, "social-connection-operator");
        assert_eq!(cli.run.leader_election_lease_duration.as_secs(), 15);
        assert_eq!(cli.run.leader_election_renew_deadline.as_secs(), 10);
        assert_eq!(cli.run.leader_election_retry_period.as_secs(), 2);
        let cli = Cli::try_parse_from(["sco", "--leader-election", "--leader-election-lease-duration", "1m"]).unwrap();
        assert!(cli.run.leader_election);
        assert_eq!(cli.run.leader_election_lease_duration.as_secs(), 60);
        for bad in ["1500ms", "0s", "soon"] {
            assert!(Cli::try_parse_from(["sco", "--leader-election-renew-deadline", bad]).is_err(), "{bad}");
        }
    }
}
