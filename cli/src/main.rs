use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use everbright_sync::gateway::LocalPrincipal;
use everbright_sync::operate::{self, DlqArgs, DriftArgs, JobArgs, RefetchArgs, ReplayArgs};
use everbright_sync::send::{self, Aws4};
use everbright_sync::{demo, local, serve};

/// everbright-sync's command-line tools.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a job: summary, tasks, milestones, documents with status, S3 keys and failure reasons.
    Job(JobArgs),
    /// Re-run archived requests through the receiver's logic (no HTTP, no signature needed).
    Replay(ReplayArgs),
    /// Read the archive: per route, the fields of the bodies received that the project does not
    /// know, and the known ones that were missing.
    Drift(DriftArgs),
    /// Queue a document for download again (or every FAILED one of a site).
    Refetch(RefetchArgs),
    /// List the fetch DLQ's messages with their reasons, or `dlq redrive` them to the fetch queue.
    Dlq(DlqArgs),
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
    /// Send a payload to a webhook route, signed with AWS4 as EverBright signs it.
    Send {
        /// The payload: a JSON file, or an events/ file (its body is sent).
        file: PathBuf,
        /// The event slug, e.g. contract-status-change.
        #[arg(long)]
        event: String,
        #[arg(long, default_value = "POST")]
        method: String,
        /// The base endpoint, e.g. https://abc123.execute-api.us-east-1.amazonaws.com/prod.
        #[arg(long, env = "EVERBRIGHT_AWS4_ENDPOINT")]
        endpoint: String,
        #[arg(long, env = "EVERBRIGHT_AWS4_ACCESS_KEY")]
        access_key: String,
        #[arg(long, env = "EVERBRIGHT_AWS4_SECRET_KEY", hide_env_values = true)]
        secret_key: String,
        #[arg(long, env = "EVERBRIGHT_AWS4_REGION")]
        region: String,
        #[arg(long, env = "EVERBRIGHT_AWS4_SERVICE", default_value = "execute-api")]
        service: String,
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

/// An operator command's output, or its error.
fn report(result: Result<String, everbright_sync::ops::OpsError>) -> ExitCode {
    match result {
        Ok(output) => {
            println!("{output}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let command = Cli::parse().command;
    let stop = interrupted();
    match command {
        Command::Job(args) => report(operate::job(&args).await),
        Command::Replay(args) => report(operate::replay(&args).await),
        Command::Refetch(args) => report(operate::refetch(&args).await),
        Command::Drift(args) => report(operate::drift(&args).await),
        Command::Dlq(args) => report(operate::dlq(&args).await),
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
        Command::Send { file, event, method, endpoint, access_key, secret_key, region, service } => {
            let bytes = match std::fs::read(&file) {
                Ok(bytes) => bytes,
                Err(error) => {
                    eprintln!("{}: {error}", file.display());
                    return ExitCode::FAILURE;
                }
            };
            let aws4 = Aws4 { access_key, secret_key, region, service, endpoint };
            match send::send(&aws4, &method, &event, send::body_of(&bytes)).await {
                Ok((status, body)) => {
                    println!("{status}\n{body}");
                    if (200..300).contains(&status) { ExitCode::SUCCESS } else { ExitCode::FAILURE }
                }
                Err(error) => {
                    eprintln!("{error}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
