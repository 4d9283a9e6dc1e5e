//! `kubectl-socialconn`: the kubectl plugin (`kubectl socialconn ...`). See
//! `social_connection_operator::plugin`.

use clap::Parser;
use social_connection_operator::plugin::{Cli, run};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    // The TLS backend of the kube client (the operator installs the same one at start-up).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
