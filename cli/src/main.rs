use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use everbright_sync::missed::{self, AttentionArgs, BackfillArgs};
use everbright_sync::operate::{
    self, DlqArgs, DriftArgs, EnrichArgs, JobArgs, PublishedArgs, RefetchArgs, ReplayArgs, RepublishArgs,
};
use everbright_sync::send::{self, Aws4};
use everbright_sync::tenants::{self, TenantsArgs};

/// everbright-sync's operator tools: read and put right a deployed stack, and send a signed webhook.
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
    /// Queue the reading of a job's signed quote details from EverBright's data API.
    Enrich(EnrichArgs),
    /// Put a job's current state on the event bus again, for a new consumer (marked as a replay,
    /// with ids of their own); or, with --failures, every site the publisher could not publish.
    Republish(RepublishArgs),
    /// What was published of a job (the last 30 days).
    Published(PublishedArgs),
    /// List the fetch DLQ's messages with their reasons, or `dlq redrive` them to the fetch queue.
    Dlq(DlqArgs),
    /// What needs an operator: work the sweeper gave up on, documents failed for good, sites
    /// reconciliation found changed in EverBright with no webhook.
    Attention(AttentionArgs),
    /// Import a tenant's sites from EverBright's site list (sites that predate the deployment):
    /// a job each, their signed quote's details; resumes where a stopped run left off.
    Backfill(BackfillArgs),
    /// List the configured tenants with the identities that speak for each (never a secret), and
    /// check each API token with one harmless call to its EverBright.
    Tenants(TenantsArgs),
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
    match command {
        Command::Job(args) => report(operate::job(&args).await),
        Command::Replay(args) => report(operate::replay(&args).await),
        Command::Refetch(args) => report(operate::refetch(&args).await),
        Command::Enrich(args) => report(operate::enrich(&args).await),
        Command::Drift(args) => report(operate::drift(&args).await),
        Command::Dlq(args) => report(operate::dlq(&args).await),
        Command::Republish(args) => report(operate::republish(&args).await),
        Command::Published(args) => report(operate::published(&args).await),
        Command::Tenants(args) => report(tenants::tenants(&args).await),
        Command::Attention(args) => report(missed::attention(&args).await),
        Command::Backfill(args) => report(missed::backfill(&args).await),
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
