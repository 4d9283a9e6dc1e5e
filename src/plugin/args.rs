//! The command line of `kubectl socialconn`, following kubectl's conventions: `--kubeconfig`,
//! `--context`, `-n/--namespace`, `-A/--all-namespaces`, `-o json|yaml`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Inspect and operate SocialConnections (social.connections.dev) as a kubectl plugin.
///
/// Install the binary `kubectl-socialconn` on PATH and run `kubectl socialconn ...`. Token
/// values are never read into the output: only Secret metadata and key names are shown.
#[derive(Debug, Parser)]
#[command(name = "kubectl socialconn", bin_name = "kubectl socialconn", version)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: Global,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: its current context).
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// The namespace (default: the namespace of the kubeconfig context).
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Every namespace.
    #[arg(short = 'A', long, global = true, conflicts_with = "namespace")]
    pub all_namespaces: bool,
    /// Output format (default: a table or text for people).
    #[arg(short = 'o', long, global = true, value_enum)]
    pub output: Option<OutputFormat>,
}

/// A machine-readable output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show a connection: its state and conditions, its token Secret's metadata (never values),
    /// recent Events, the next check, what a person must do and the reauthorization link.
    /// Without NAME, every connection of the namespace (or of all with -A).
    Status(StatusArgs),
    /// Ask the operator to check connections now (sets the annotation
    /// social.connections.dev/check-requested-at to a fresh value).
    Check(CheckArgs),
    /// Ask the operator to refresh a connection's token now (sets the annotation
    /// social.connections.dev/refresh-requested-at to a fresh value). The operator writes only
    /// into a token Secret labelled social.connections.dev/managed=true.
    Refresh(RefreshArgs),
    /// Print the link a person opens to reconnect the account (status.reauthorizationURL);
    /// fails when the operator published none.
    ReauthUrl(NameArg),
    /// List every connection that is not Ready or expires within its warning window, most
    /// urgent first (broken, then soonest expiry), with the reason and what to do. Every
    /// namespace unless -n is given.
    NeedsAttention,
}

/// `status [NAME]`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The SocialConnection's name (default: every connection).
    pub name: Option<String>,
    /// How many recent Events to show per connection.
    #[arg(long, default_value_t = 10)]
    pub events: usize,
}

/// A single connection's name.
#[derive(Debug, Args)]
pub struct NameArg {
    /// The SocialConnection's name.
    pub name: String,
}

/// Waiting for the operator to handle a request.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Wait until the operator has handled the request and print the result.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits (for example 30s, 2m).
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

/// `check NAME|--all|-l SELECTOR`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["name", "all", "selector"])))]
pub struct CheckArgs {
    /// The SocialConnection's name.
    pub name: Option<String>,
    /// Every connection of the namespace (or of all with -A).
    #[arg(long)]
    pub all: bool,
    /// The connections whose labels match this selector (for example team=shop).
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// Waiting.
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// `refresh NAME`.
#[derive(Debug, Args)]
pub struct RefreshArgs {
    /// The SocialConnection's name.
    pub name: String,
    /// Waiting.
    #[command(flatten)]
    pub wait: WaitArgs,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn command_lines_parse_as_kubectl_users_write_them() {
        let cases: [(&[&str], bool); 12] = [
            (&["status"], true),
            (&["status", "shop", "-n", "team", "-o", "json"], true),
            (&["-n", "team", "status", "shop"], true),
            (&["status", "-A", "-n", "team"], false),
            (&["status", "-o", "table"], false),
            (&["check"], false),
            (&["check", "--all"], true),
            (&["check", "-l", "team=shop", "-A", "--wait"], true),
            (&["check", "shop", "--wait", "--timeout", "soon"], false),
            (&["refresh"], false),
            (&["reauth-url", "shop", "--kubeconfig", "/k", "--context", "c"], true),
            (&["needs-attention", "-A", "-o", "yaml"], true),
        ];
        for (args, ok) in cases {
            let parsed = Cli::try_parse_from(std::iter::once("kubectl-socialconn").chain(args.iter().copied()));
            assert_eq!(parsed.is_ok(), ok, "{args:?}: {parsed:?}");
        }
    }

    #[test]
    fn wait_timeouts_read_as_durations() {
        let cli = Cli::try_parse_from(["kubectl-socialconn", "refresh", "shop", "--wait", "--timeout", "90s"]).unwrap();
        match cli.command {
            Command::Refresh(r) => {
                assert!(r.wait.wait);
                assert_eq!(r.wait.timeout, Duration::from_secs(90));
            }
            other => panic!("{other:?}"),
        }
        let cli = Cli::try_parse_from(["kubectl-socialconn", "check", "shop"]).unwrap();
        match cli.command {
            Command::Check(c) => assert_eq!(c.wait.timeout, Duration::from_secs(120)),
            other => panic!("{other:?}"),
        }
    }
}
