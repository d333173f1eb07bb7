//! `attention` (what needs the operator: work the sweeper gave up on, documents failed for good,
//! sites reconciliation found changed without a webhook) and `backfill` (a tenant's sites that
//! predate the deployment, imported from its site list).

use std::io::{IsTerminal, Write};

use aws::{Clients, load_sdk_config};
use clap::Args;
use config::Env;
use domain::tenant::TenantId;
use serde_json::Value;

use crate::job_view::text;
use crate::operate::{Stack, parse_tenant};
use crate::ops::{Backfilled, OpsError};
use crate::tenants::{ApiSites, client_of, configured};

#[derive(Args, Clone, Debug)]
pub struct AttentionArgs {
    /// At most this many of each kind, newest first.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// As JSON, for scripts.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub stack: Stack,
}

#[derive(Args, Clone, Debug)]
pub struct BackfillArgs {
    /// Whose sites (see `everbright-sync tenants`).
    #[arg(long, value_parser = parse_tenant, default_value = "default")]
    pub tenant: TenantId,
    /// Sites per page of the site list.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub page_size: u32,
    #[command(flatten)]
    pub stack: Stack,
}

pub async fn attention(args: &AttentionArgs) -> Result<String, OpsError> {
    let items = args.stack.ops().await?.attention(args.limit).await?;
    if args.json {
        return Ok(serde_json::to_string_pretty(&items)?);
    }
    let mut out = String::new();
    for item in &items {
        let site = item.get("site").map_or_else(|| text(&item["pk"]), text);
        let line = match item.get("pending").and_then(Value::as_str) {
            Some("MISSED") => format!(
                "found {}  site {site}  changed {} in EverBright, last webhook {}",
                text(&item["found_at"]),
                text(&item["last_updated"]),
                text(&item["last_webhook"])
            ),
            _ => format!(
                "gave up {}  site {site}  {}: {}",
                text(&item["gave_up_at"]),
                text(&item["sk"]),
                text(&item["gave_up"])
            ),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(&format!(
        "{} item(s): `refetch` sends a given-up document again; details, look-ups and site reads leave the list once answered; `job <site>` shows a found site",
        items.len()
    ));
    Ok(out)
}

pub async fn backfill(args: &BackfillArgs) -> Result<String, OpsError> {
    let clients = Clients::new(&load_sdk_config().await);
    let listed = configured(&Env::process(), &clients).await?;
    let tenant = listed
        .iter()
        .find(|listed| listed.tenant.id == args.tenant)
        .ok_or_else(|| format!("tenant {} is not configured here (see `everbright-sync tenants`)", args.tenant))?;
    let sites = ApiSites { client: client_of(tenant, &clients).await?, limit: args.page_size };
    let shown = std::io::stderr().is_terminal();
    let progress = move |done: &Backfilled| {
        if shown {
            let _ = write!(
                std::io::stderr(),
                "\rpage {}: {} site(s), {} job(s) created, {} read(s) queued",
                done.from_page + done.pages - 1,
                done.sites,
                done.created,
                done.queued
            );
        }
    };
    let done = args.stack.ops().await?.backfill(&args.tenant, &sites, progress).await?;
    if shown {
        let _ = writeln!(std::io::stderr());
    }
    Ok(render(&args.tenant, &done))
}

/// The backfill's summary: what it read and created, and which jobs have no documents yet.
pub fn render(tenant: &TenantId, done: &Backfilled) -> String {
    let mut out = String::new();
    for row in &done.unreadable {
        out.push_str(&format!("unreadable: {row}\n"));
    }
    if !done.without_documents.is_empty() {
        out.push_str("no documents yet (their ids come only with a webhook; `replay` any archived one):\n");
        for site in &done.without_documents {
            out.push_str(&format!("  {site}\n"));
        }
    }
    let resumed = if done.from_page > 1 { format!(" (resumed at page {})", done.from_page) } else { String::new() };
    out.push_str(&format!(
        "tenant {tenant}: {} page(s){resumed}, {} site(s), {} job(s) created, {} already there, {} site read(s) queued, {} without documents",
        done.pages,
        done.sites,
        done.created,
        done.existing,
        done.queued,
        done.without_documents.len()
    ));
    out
}
