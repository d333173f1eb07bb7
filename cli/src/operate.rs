//! The operator's subcommands (`job`, `replay`, `refetch`, `dlq`): their arguments, and their
//! output on standard output (progress on standard error).

use std::io::{IsTerminal, Write};

use aws::{Clients, load_sdk_config, load_tenants};
use clap::{ArgAction, Args};
use config::{DedupeConfig, Env, TenantsSource};
use domain::bus::Replay;
use domain::event::EventType;
use domain::ids::{DocumentId, QuoteId, SiteId};
use domain::tenant::TenantId;
use domain::timestamp::Timestamp;

use crate::job_view;
use crate::ops::{Ops, OpsConfig, OpsError, ReplayMode, Selection};

/// The stack's resources, as the functions' environment names them.
#[derive(Args, Clone, Debug)]
pub struct Stack {
    /// The jobs table.
    #[arg(long, env = "JOBS_TABLE")]
    pub table: String,
    /// The bucket of the raw archive and the documents.
    #[arg(long, env = "DOCUMENTS_BUCKET")]
    pub bucket: String,
    /// The fetch queue's URL.
    #[arg(long, env = "FETCH_QUEUE_URL")]
    pub queue_url: String,
    /// The fetch queue's dead-letter queue's URL (for `dlq`).
    #[arg(long, env = "FETCH_DLQ_URL")]
    pub dlq_url: Option<String>,
    /// As the receiver's setting: replays also queue milestone tasks' documents.
    #[arg(long, env = "FETCH_MILESTONE_DOCUMENTS", default_value_t = true, action = ArgAction::Set)]
    pub fetch_milestone_documents: bool,
    /// As the receiver's setting: how long a replayed body with a time of its own is remembered
    /// as applied.
    #[arg(long, env = "DEDUPE_TTL_DAYS", default_value_t = 14)]
    pub dedupe_ttl_days: i64,
    /// As the receiver's setting: how long a replayed body without a time of its own is.
    #[arg(long, env = "DEDUPE_RETRY_WINDOW_MINUTES", default_value_t = 15)]
    pub dedupe_retry_window_minutes: i64,
    /// The installer's event bus, by name or ARN (for `republish`).
    #[arg(long, env = "EVENT_BUS_NAME")]
    pub event_bus: Option<String>,
    /// The event publisher's failure queue's URL (for `republish --failures`).
    #[arg(long, env = "PUBLISH_FAILURES_QUEUE_URL")]
    pub failures_queue_url: Option<String>,
}

impl Stack {
    pub(crate) async fn ops(&self) -> Result<Ops, OpsError> {
        let clients = Clients::new(&load_sdk_config().await);
        let source = TenantsSource::from(&Env::process())?;
        let tenants = load_tenants(&clients.secrets, source.as_ref()).await?;
        let config = OpsConfig {
            table: self.table.clone(),
            bucket: self.bucket.clone(),
            queue_url: self.queue_url.clone(),
            dlq_url: self.dlq_url.clone(),
            fetch_milestone_documents: self.fetch_milestone_documents,
            dedupe: DedupeConfig {
                ttl_days: self.dedupe_ttl_days,
                retry_window_minutes: self.dedupe_retry_window_minutes,
            },
            tenants,
            // An empty variable is no bus (EventBridge would take it for the account's default bus).
            event_bus: self.event_bus.clone().filter(|bus| !bus.trim().is_empty()),
            failures_queue_url: self.failures_queue_url.clone().filter(|url| !url.trim().is_empty()),
        };
        Ok(Ops::new(&config, &clients))
    }
}

#[derive(Args, Clone, Debug)]
pub struct JobArgs {
    /// The job's site id.
    #[arg(required_unless_present = "quote")]
    pub site: Option<SiteId>,
    /// Find the job by one of its quotes instead.
    #[arg(long, conflicts_with = "site")]
    pub quote: Option<QuoteId>,
    /// The job as JSON, for scripts.
    #[arg(long)]
    pub json: bool,
    /// The tenant whose job it is (needed when two tenants sent the same site).
    #[arg(long, value_parser = parse_tenant)]
    pub tenant: Option<TenantId>,
    #[command(flatten)]
    pub stack: Stack,
}

#[derive(Args, Clone, Debug)]
pub struct ReplayArgs {
    /// One archived request, by its S3 key.
    #[arg(long, conflicts_with_all = ["prefix", "since", "until", "site"])]
    pub key: Option<String>,
    /// Every archived request under this key prefix (default raw/, all of them).
    #[arg(long)]
    pub prefix: Option<String>,
    /// Only requests received at or after this time (RFC 3339, e.g. 2026-11-22T00:00:00Z).
    #[arg(long)]
    pub since: Option<Timestamp>,
    /// Only requests received at or before this time (RFC 3339).
    #[arg(long)]
    pub until: Option<Timestamp>,
    /// Only the requests about this job.
    #[arg(long)]
    pub site: Option<SiteId>,
    /// Only the requests of this tenant (see `everbright-sync tenants`).
    #[arg(long, value_parser = parse_tenant)]
    pub tenant: Option<TenantId>,
    /// Apply bodies even if they were applied before (the ordering guards still keep newer state).
    #[arg(long)]
    pub force: bool,
    /// Write nothing: print what each request would change.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub stack: Stack,
}

#[derive(Args, Clone, Debug)]
pub struct DriftArgs {
    /// Only requests received at or after this time (RFC 3339).
    #[arg(long)]
    pub since: Option<Timestamp>,
    /// Only requests received at or before this time (RFC 3339).
    #[arg(long)]
    pub until: Option<Timestamp>,
    /// Only this event's requests (its slug, e.g. proposal-action).
    #[arg(long, value_parser = parse_event)]
    pub event: Option<EventType>,
    #[command(flatten)]
    pub stack: Stack,
}

pub(crate) fn parse_tenant(id: &str) -> Result<TenantId, String> {
    TenantId::parse(id)
}

fn parse_event(slug: &str) -> Result<EventType, String> {
    EventType::from_slug(slug).ok_or_else(|| {
        let known: Vec<&str> = EventType::ALL.iter().map(|event| event.slug()).collect();
        format!("no event {slug:?}; the events are: {}", known.join(", "))
    })
}

#[derive(Args, Clone, Debug)]
pub struct RefetchArgs {
    /// The document to download again (its id).
    #[arg(required_unless_present = "failed")]
    pub document: Option<DocumentId>,
    /// The document's site.
    #[arg(long)]
    pub site: SiteId,
    /// Every FAILED document of the site instead of one.
    #[arg(long, conflicts_with = "document")]
    pub failed: bool,
    /// The tenant whose job it is (needed when two tenants sent the same site).
    #[arg(long, value_parser = parse_tenant)]
    pub tenant: Option<TenantId>,
    #[command(flatten)]
    pub stack: Stack,
}

#[derive(Args, Clone, Debug)]
pub struct EnrichArgs {
    /// The job's site id.
    pub site: SiteId,
    /// The quote whose details to read (default: the one the job's contract or change order was
    /// signed on).
    #[arg(long)]
    pub quote: Option<QuoteId>,
    /// The tenant whose job it is (needed when two tenants sent the same site).
    #[arg(long, value_parser = parse_tenant)]
    pub tenant: Option<TenantId>,
    #[command(flatten)]
    pub stack: Stack,
}

#[derive(Args, Clone, Debug)]
pub struct RepublishArgs {
    /// The job's site id.
    #[arg(required_unless_present = "failures")]
    pub site: Option<SiteId>,
    /// Instead of a site: every site the publisher noted on its failure queue (the queue is
    /// emptied once they are republished).
    #[arg(long, conflicts_with = "site")]
    pub failures: bool,
    /// The tenant whose job it is (needed when two tenants sent the same site).
    #[arg(long, value_parser = parse_tenant)]
    pub tenant: Option<TenantId>,
    /// The replay's id, in every event's `replay_id` (default: `replay-` and the time).
    #[arg(long)]
    pub replay_id: Option<String>,
    #[command(flatten)]
    pub stack: Stack,
}

#[derive(Args, Clone, Debug)]
pub struct PublishedArgs {
    /// The job's site id.
    pub site: SiteId,
    /// The tenant whose job it is (needed when two tenants sent the same site).
    #[arg(long, value_parser = parse_tenant)]
    pub tenant: Option<TenantId>,
    #[command(flatten)]
    pub stack: Stack,
}

#[derive(Args, Clone, Debug)]
pub struct DlqArgs {
    /// `redrive` sends every message back to the fetch queue; without it, the messages are listed.
    #[arg(value_parser = ["redrive"])]
    pub action: Option<String>,
    /// Only this tenant's messages (to list, or to redrive once its token is put right).
    #[arg(long, value_parser = parse_tenant)]
    pub tenant: Option<TenantId>,
    #[command(flatten)]
    pub stack: Stack,
}

pub async fn job(args: &JobArgs) -> Result<String, OpsError> {
    let (job, items) = args.stack.ops().await?.job(args.site, args.quote, args.tenant.as_ref()).await?;
    let site = job.site.to_string();
    Ok(if args.json {
        serde_json::to_string_pretty(&job_view::to_json(&site, &items))?
    } else {
        job_view::render(&site, &args.stack.bucket, &items, true)
    })
}

pub async fn replay(args: &ReplayArgs) -> Result<String, OpsError> {
    let ops = args.stack.ops().await?;
    let selection = Selection {
        key: args.key.clone(),
        prefix: args.prefix.clone(),
        since: args.since,
        until: args.until,
        site: args.site,
        tenant: args.tenant.clone(),
    };
    let records = ops.select(&selection).await?;
    let mode = match (args.dry_run, args.force) {
        (true, force) => ReplayMode::DryRun { force },
        (false, true) => ReplayMode::Forced,
        (false, false) => ReplayMode::Deduplicated,
    };
    let report = ops.replay(&records, mode, progress_bar()).await?;
    let mut out = String::new();
    for (key, detail) in &report.lines {
        out.push_str(&format!("{key}  {detail}\n"));
    }
    let verb = if args.dry_run { "dry run, nothing written" } else { "replayed" };
    out.push_str(&format!("{verb}: {}", report.summary()));
    Ok(out)
}

pub async fn drift(args: &DriftArgs) -> Result<String, OpsError> {
    let selection = Selection {
        prefix: args.event.map(|event| format!("raw/{event}/")),
        since: args.since,
        until: args.until,
        ..Selection::default()
    };
    Ok(args.stack.ops().await?.drift(&selection).await?.render().trim_end().to_owned())
}

/// A progress bar on standard error when it is a terminal and the run is long enough to want one.
fn progress_bar() -> impl FnMut(usize, usize) {
    let shown = std::io::stderr().is_terminal();
    move |done, total| {
        if !shown || total < 10 {
            return;
        }
        let width = 30;
        let filled = done * width / total;
        let mut stderr = std::io::stderr();
        let _ = write!(stderr, "\r[{}{}] {done}/{total}", "#".repeat(filled), ".".repeat(width - filled));
        if done == total {
            let _ = writeln!(stderr);
        }
    }
}

pub async fn refetch(args: &RefetchArgs) -> Result<String, OpsError> {
    let ops = args.stack.ops().await?;
    let (job, _) = ops.job(Some(args.site), None, args.tenant.as_ref()).await?;
    let tenant = &job.tenant;
    match args.document {
        Some(document) => {
            ops.refetch(&job, document).await?;
            Ok(format!("document {document} of site {} (tenant {tenant}) queued for download", args.site))
        }
        None => {
            let queued = ops.refetch_failed(&job).await?;
            let ids: Vec<String> = queued.iter().map(ToString::to_string).collect();
            Ok(format!(
                "{} FAILED document(s) of site {} (tenant {tenant}) queued for download: {}",
                ids.len(),
                args.site,
                ids.join(", ")
            ))
        }
    }
}

pub async fn enrich(args: &EnrichArgs) -> Result<String, OpsError> {
    let ops = args.stack.ops().await?;
    let (job, _) = ops.job(Some(args.site), None, args.tenant.as_ref()).await?;
    let quote = ops.enrich(&job, args.quote).await?;
    Ok(format!("the details of quote {quote} ({job}) queued for the data API"))
}

pub async fn dlq(args: &DlqArgs) -> Result<String, OpsError> {
    let ops = args.stack.ops().await?;
    if args.action.is_some() {
        let moved = ops.redrive_of(args.tenant.as_ref()).await?;
        return Ok(format!("{moved} message(s) moved from the DLQ back to the fetch queue"));
    }
    let letters = ops.dead_letters_of(args.tenant.as_ref()).await?;
    let mut out = String::new();
    for letter in &letters {
        out.push_str(&format!(
            "{}  tenant {}  received {} time(s)  document status {}  reason: {}\n    {}\n",
            letter.message_id,
            letter.tenant.as_ref().map_or_else(|| "-".to_owned(), ToString::to_string),
            letter.receive_count.as_deref().unwrap_or("?"),
            letter.status.as_deref().unwrap_or("-"),
            letter.reason.as_deref().unwrap_or("-"),
            letter.body
        ));
    }
    out.push_str(&format!("{} message(s) in the DLQ", letters.len()));
    Ok(out)
}

pub async fn republish(args: &RepublishArgs) -> Result<String, OpsError> {
    let ops = args.stack.ops().await?;
    let replay = Replay { id: args.replay_id.clone().unwrap_or_else(|| format!("replay-{}", Timestamp::now())) };
    if args.failures {
        let (failures, done) = ops.republish_failures(&replay, progress_bar()).await?;
        let mut out = String::new();
        for record in &failures.given_up {
            out.push_str(&format!("given up by the event source mapping: {record}\n"));
        }
        out.push_str(&format!(
            "{} noted site(s); {} job(s) republished as {}, {} event(s)",
            failures.sites.len(),
            done.jobs,
            replay.id,
            done.events
        ));
        return Ok(out);
    }
    let site = args.site.ok_or("name a site, or --failures")?;
    let (job, _) = ops.job(Some(site), None, args.tenant.as_ref()).await?;
    let done = ops.republish(std::slice::from_ref(&job), &replay, |_, _| {}).await?;
    Ok(format!("{job}: {} event(s) republished as {}", done.events, replay.id))
}

pub async fn published(args: &PublishedArgs) -> Result<String, OpsError> {
    let ops = args.stack.ops().await?;
    let (job, _) = ops.job(Some(args.site), None, args.tenant.as_ref()).await?;
    let published = ops.published(&job).await?;
    let mut out = String::new();
    for event in &published {
        out.push_str(&format!(
            "{}  {:<22} {}  webhook {}{}\n",
            job_view::text(&event["changed_at"]),
            job_view::text(&event["detail_type"]),
            job_view::text(&event["id"]),
            job_view::text(&event["event_id"]),
            if event["replay"] == true { "  (replay)" } else { "" }
        ));
    }
    out.push_str(&format!(
        "{} event(s) published of {job} in the last {} days",
        published.len(),
        aws::PUBLISHED_KEEP_DAYS
    ));
    Ok(out)
}
