//! `everbright-local demo` and `everbright-local serve`: the local stack's commands.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::gateway::LocalPrincipal;
use crate::{demo, local, serve};

/// The local stack: everything on this machine, nothing in AWS.
#[derive(Parser)]
#[command(version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole pipeline on the sample events in events/, on a local moto and EverBright stand-in.
    Demo,
    /// Keep the local stack running (moto, the EverBright stand-in, the gateway, the fetcher) until Ctrl-C.
    Serve {
        /// The gateway's port on 127.0.0.1 (0: any free port).
        #[arg(long, default_value_t = 9000)]
        port: u16,
        /// The access key the gateway accepts.
        #[arg(long, env = "EVERBRIGHT_LOCAL_ACCESS_KEY", default_value = "AKIAEVERBRIGHTLOCAL0")]
        access_key: String,
        /// Its secret key.
        #[arg(
            long,
            env = "EVERBRIGHT_LOCAL_SECRET_KEY",
            default_value = "everbright-local-secret-key",
            hide_env_values = true
        )]
        secret_key: String,
        /// The region it signs for.
        #[arg(long, env = "EVERBRIGHT_LOCAL_REGION", default_value = "us-east-1")]
        region: String,
    },
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called (before anything
/// is started), so an early Ctrl-C still stops what was started rather than killing the process.
fn interrupted() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).expect("a SIGINT handler");
    let mut terminate = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    }
}

/// Runs `cli`'s command; what it started stops with it, also on Ctrl-C.
pub async fn main(cli: Cli) -> ExitCode {
    let stop = interrupted();
    match cli.command {
        Command::Demo => {
            let root = local::workspace_root();
            tokio::select! {
                report = demo::run(&root) => match report {
                    Ok(report) => {
                        print!("{}", demo::render(&report));
                        ExitCode::SUCCESS
                    }
                    Err(error) => {
                        eprintln!("demo failed: {error}");
                        ExitCode::FAILURE
                    }
                },
                () = stop => {
                    eprintln!("interrupted: stopping everything the demo started");
                    ExitCode::from(130)
                }
            }
        }
        Command::Serve { port, access_key, secret_key, region } => {
            let principal = LocalPrincipal { access_key, secret_key, region, ..LocalPrincipal::default() };
            match serve::run(port, principal, stop).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("serve failed: {error}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
