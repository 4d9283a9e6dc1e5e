//! The `social-connection-operator` binary: parses the command line and runs the controller
//! or prints the CRD.

use clap::Parser;
use social_connection_operator::config::{Cli, Command};
use social_connection_operator::{crd, telemetry};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Crd(c)) => match crd::crd_yaml_of(c.name) {
            Ok(yaml) => {
                print!("{yaml}");
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                std::process::ExitCode::FAILURE
            }
        },
        Some(Command::Run(args)) => run(args).await,
        None => run(cli.run).await,
    }
}

async fn run(args: social_connection_operator::config::RunArgs) -> std::process::ExitCode {
    telemetry::init(args.log_format);
    match social_connection_operator::controller::run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "operator stopped");
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
