//! `fake-providers`: runs all eleven fake providers for the local demo (and for tests that want
//! them in a separate process).
//!
//! ```text
//! fake-providers [--port-base N] [--env-file PATH] [--quiet]
//! ```
//!
//! Prints one line `SOCIAL_PROVIDER_ENDPOINTS=<value>` to stdout (also written to `--env-file`
//! when given), logs one line per request to stderr unless `--quiet`, and serves until Ctrl-C
//! or SIGTERM.

use std::io::Write as _;
use std::process::ExitCode;

const USAGE: &str = "usage: fake-providers [--port-base N] [--env-file PATH] [--quiet]

Starts fake servers for facebook, instagram, instagram-login, threads, linkedin, x, pinterest,
youtube, google-business-profile, telegram and tiktok on 127.0.0.1, prints
SOCIAL_PROVIDER_ENDPOINTS=<value> and serves until Ctrl-C or SIGTERM.

  --port-base N    use ports N..N+10 in that order (default: ephemeral ports)
  --env-file PATH  also write the SOCIAL_PROVIDER_ENDPOINTS=<value> line to PATH
  --quiet          do not log requests to stderr";

struct Args {
    port_base: Option<u16>,
    env_file: Option<String>,
    quiet: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args { port_base: None, env_file: None, quiet: false };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| inline.clone().or_else(|| it.next()).ok_or_else(|| format!("{name} needs a value"));
        match flag.as_str() {
            "--port-base" => {
                let v = value("--port-base")?;
                let base: u16 = v.parse().map_err(|_| format!("--port-base: not a port: {v}"))?;
                if base.checked_add(10).is_none() || base == 0 {
                    return Err(format!("--port-base: {base}..{base}+10 is not a port range"));
                }
                args.port_base = Some(base);
            }
            "--env-file" => args.env_file = Some(value("--env-file")?),
            "--quiet" => args.quiet = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("fake-providers: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let started = match args.port_base {
        Some(base) => fake_providers::start_all_at(base).await,
        None => fake_providers::start_all().await,
    };
    let fakes = match started {
        Ok(fakes) => fakes,
        Err(e) => {
            eprintln!("fake-providers: cannot listen: {e}");
            return ExitCode::FAILURE;
        }
    };
    fakes.echo_requests(!args.quiet);
    let line = format!("SOCIAL_PROVIDER_ENDPOINTS={}", fakes.endpoints_env());
    // Written to a temporary file and renamed, so that a reader polling for PATH never sees
    // half a line.
    if let Some(path) = &args.env_file
        && let Err(e) =
            std::fs::write(format!("{path}.tmp"), format!("{line}\n")).and_then(|()| std::fs::rename(format!("{path}.tmp"), path))
    {
        eprintln!("fake-providers: cannot write {path}: {e}");
        return ExitCode::FAILURE;
    }
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        // stdout closed: keep serving, the env file (if any) has the value.
    }
    drop(out);
    shutdown_signal().await;
    drop(fakes);
    ExitCode::SUCCESS
}
