//! The demo: the whole pipeline on the sample events, on the embedded local backend.
//!
//! It starts moto and two stand-ins for EverBright's API (Onboard and Engine, each checking its
//! tenants' tokens), creates the table, bucket and queues, starts the local gateway in front of the
//! real receiver handler with three tenants (an installer on Onboard and on Engine signing with
//! AWS4, a partner sending a shared header), sends every sample request in `events/` signed with
//! the signing client, the signed contract again as each other tenant, and one request without a
//! credential, runs the real fetcher handler on the queue (as the SQS event source mapping would)
//! until it is drained, and prints what each job ended up as, with its tenant. Everything it
//! started stops when it returns, or is interrupted. [`run_on`] is the same pipeline for one
//! tenant behind the gateway's `AWS_IAM` auth.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use aws::{Clients, scan_all};
use config::{Env, FetcherConfig, ReceiverConfig};
use contract_fetcher::Fetcher;
use domain::metrics::discard_sink;
use event_publisher::Publisher;
use serde_json::{Map, Value};
use webhook_receiver::AwsReceiver;

use crate::bus::{EventResources, StreamReader, Streamed, drain_stream, receive_all};
use crate::gateway::{Gateway, LocalPrincipal};
use crate::local::{Moto, Resources, SetupError};
use crate::queue::{Drained, drain};
use crate::stand_in::StandIn;
use everbright_sync::send;

/// The API token the stand-in accepts in the demo.
pub const LOCAL_TOKEN: &str = "local-demo-token";

/// What the demo did.
#[derive(Debug, Default)]
pub struct Report {
    /// The bucket the documents went to.
    pub bucket: String,
    pub deliveries: Vec<Delivery>,
    pub drained: Drained,
    /// Every item of the table, grouped by partition key.
    pub items: BTreeMap<String, Vec<Map<String, Value>>>,
    /// The stream read through the publisher, and what the bus's consumer queue received (the
    /// demo's run on moto; empty where no bus was set up).
    pub streamed: Streamed,
    pub consumed: Vec<Value>,
    /// The sweeper's and reconciliation's part (the demo's run with a lost message).
    pub missed: Option<crate::missed::NothingMissed>,
}

#[derive(Debug)]
pub struct Delivery {
    pub file: String,
    pub status: u16,
    pub answer: Value,
}

impl Report {
    fn record(&mut self, file: String, status: u16, text: &str) {
        let answer = serde_json::from_str(text).unwrap_or(Value::Null);
        self.deliveries.push(Delivery { file, status, answer });
    }

    fn count(&self, f: impl Fn(&Delivery) -> bool) -> usize {
        self.deliveries.iter().filter(|d| f(d)).count()
    }

    pub fn applied(&self) -> usize {
        self.count(|d| d.status == 200 && d.answer["duplicate"] == false && d.answer["stale"] == false)
    }

    pub fn duplicates(&self) -> usize {
        self.count(|d| d.answer["duplicate"] == true)
    }

    pub fn stale(&self) -> usize {
        self.count(|d| d.answer["stale"] == true)
    }

    pub fn refused(&self) -> usize {
        self.count(|d| (400..500).contains(&d.status))
    }

    pub fn failed(&self) -> usize {
        self.count(|d| d.status >= 500)
    }

    /// The documents of every job, `DOC#` items.
    pub fn documents(&self) -> impl Iterator<Item = &Map<String, Value>> {
        self.items.values().flatten().filter(|item| item["sk"].as_str().is_some_and(|sk| sk.starts_with("DOC#")))
    }
}

/// The sample requests in `events/`: API Gateway REST (`rest-*.json`) and Function URL
/// (`url-*.json`) events, in name order.
pub fn sample_requests(events: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut files: Vec<_> = std::fs::read_dir(events)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            (name.starts_with("rest-") || name.starts_with("url-")) && name.ends_with(".json")
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Runs the demo against a fresh local backend.
pub async fn run(root: &Path) -> Result<Report, SetupError> {
    let moto = tokio::task::spawn_blocking(Moto::start).await??;
    let clients = Clients::new(&moto.sdk_config().await);
    let resources = Resources::create(&clients, "demo").await?;
    let events = EventResources::create(&clients, &resources, "demo").await?;
    let onboard = StandIn::start(ONBOARD_TOKEN).await?;
    let engine = StandIn::start(ENGINE_TOKEN).await?;
    let mut report = run_tenants_on(root, &clients, &resources, (&onboard, &engine), true).await?;
    publish(&mut report, (&moto.endpoint, &clients), &resources, &events).await?;
    drop(moto);
    Ok(report)
}

/// The table's stream read to its end through the publisher, and what the consumer received.
pub async fn publish(
    report: &mut Report,
    (endpoint, clients): (&str, &Clients),
    resources: &Resources,
    events: &EventResources,
) -> Result<(), SetupError> {
    let publisher = Publisher::on_aws(&events.publisher_config(resources), clients).with_metrics(discard_sink());
    let mut reader = StreamReader::open(endpoint, &events.stream_arn).await?;
    report.streamed = drain_stream(&publisher, &mut reader, clients, events).await?;
    report.consumed = receive_all(clients, &events.consumer_queue_url, Duration::from_secs(5)).await?;
    Ok(())
}

/// The receiver and the fetcher, configured for a local backend and stand-in.
pub fn functions(
    clients: &Clients,
    resources: &Resources,
    stand_in: &StandIn,
    principal: &LocalPrincipal,
) -> Result<(AwsReceiver, Fetcher), SetupError> {
    functions_with(clients, resources, &stand_in.base_url, principal, &[])
}

/// The receiver and the fetcher, configured for a local backend, EverBright at `everbright`, and
/// `settings` (more of the functions' environment variables) on top.
pub fn functions_with(
    clients: &Clients,
    resources: &Resources,
    everbright: &str,
    principal: &LocalPrincipal,
    settings: &[(&'static str, String)],
) -> Result<(AwsReceiver, Fetcher), SetupError> {
    let mut vars = HashMap::from([
        ("ALLOWED_PRINCIPALS", principal.arn.clone()),
        ("EVERBRIGHT_BASE_URL", everbright.to_owned()),
        ("EVERBRIGHT_API_TOKEN", LOCAL_TOKEN.to_owned()),
    ]);
    vars.extend(settings.iter().cloned());
    functions_from(clients, resources, vars)
}

/// The receiver and the fetcher with `vars` and the local backend's resources.
fn functions_from(
    clients: &Clients,
    resources: &Resources,
    mut vars: HashMap<&'static str, String>,
) -> Result<(AwsReceiver, Fetcher), SetupError> {
    vars.extend([
        ("JOBS_TABLE", resources.table.clone()),
        ("DOCUMENTS_BUCKET", resources.bucket.clone()),
        ("FETCH_QUEUE_URL", resources.queue_url.clone()),
    ]);
    let env = Env::new(move |name| vars.get(name).cloned());
    // The metric lines (EMF) are for CloudWatch; the local output is for people.
    Ok((
        AwsReceiver::on_aws(&ReceiverConfig::from(&env)?, clients).with_metrics(discard_sink()),
        Fetcher::on_aws(&FetcherConfig::from(&env)?, clients).with_metrics(discard_sink()),
    ))
}

/// What a sample event sends: its method, its event slug and its body.
fn sample(path: &Path) -> Result<(String, String, Vec<u8>), SetupError> {
    let event: Value = serde_json::from_slice(&std::fs::read(path)?)?;
    let method = event["httpMethod"].as_str().or(event["requestContext"]["http"]["method"].as_str());
    let route = event["path"].as_str().or(event["rawPath"].as_str());
    let (Some(method), Some(route), Some(body)) = (method, route, event["body"].as_str()) else {
        return Err(format!("{}: not an API Gateway or Function URL event", path.display()).into());
    };
    let slug = route.rsplit('/').next().unwrap_or_default();
    Ok((method.to_owned(), slug.to_owned(), body.as_bytes().to_vec()))
}

/// Runs the demo's deliveries and fetches on an existing backend, for one tenant behind the
/// local gateway's `AWS_IAM` auth: every sample request in `events/` signed by the signing
/// client, one unsigned request, then the queue drained by the fetcher.
pub async fn run_on(
    root: &Path,
    clients: &Clients,
    resources: &Resources,
    stand_in: &StandIn,
) -> Result<Report, SetupError> {
    let principal = LocalPrincipal::default();
    let (receiver, fetcher) = functions(clients, resources, stand_in, &principal)?;
    let gateway = Gateway::start(receiver, principal.clone()).await?;
    let mut report = Report { bucket: resources.bucket.clone(), ..Report::default() };
    deliver_samples(root, &principal.aws4(&gateway.endpoint), &mut report).await?;
    send_unsigned(&gateway.endpoint, &mut report).await?;
    finish(report, &fetcher, clients, resources).await
}

/// Every sample request in `events/`, signed with `aws4`.
async fn deliver_samples(root: &Path, aws4: &send::Aws4, report: &mut Report) -> Result<(), SetupError> {
    for path in sample_requests(&root.join("events"))? {
        let (method, slug, body) = sample(&path)?;
        let file = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        let (status, text) = send::deliver(aws4, &method, &slug, body).await?;
        report.record(file, status, &text);
    }
    Ok(())
}

/// One request without a credential.
async fn send_unsigned(endpoint: &str, report: &mut Report) -> Result<(), SetupError> {
    everbright::tls::install_crypto_provider();
    let unsigned =
        reqwest::Client::new().post(format!("{endpoint}/webhooks/stage-transition")).body("{}").send().await?;
    let status = unsigned.status().as_u16();
    report.record("(an unsigned request)".into(), status, &unsigned.text().await?);
    Ok(())
}

/// Drains the queue through the fetcher, then reads every item of the table.
async fn finish(
    mut report: Report,
    fetcher: &Fetcher,
    clients: &Clients,
    resources: &Resources,
) -> Result<Report, SetupError> {
    report.drained = drain(fetcher, clients, resources).await?;
    scan(report, clients, resources).await
}

/// Every item of the table, into the report.
async fn scan(mut report: Report, clients: &Clients, resources: &Resources) -> Result<Report, SetupError> {
    for item in scan_all(&clients.dynamodb, &resources.table).await? {
        let pk = item["pk"].as_str().unwrap_or_default().to_owned();
        report.items.entry(pk).or_default().push(item);
    }
    Ok(report)
}

/// The API tokens of the demo's tenants, each accepted only by its tenant's stand-in.
pub const ONBOARD_TOKEN: &str = LOCAL_TOKEN;
pub const ENGINE_TOKEN: &str = "local-engine-token";
pub const PARTNER_TOKEN: &str = "local-partner-token";
/// The Engine tenant's AWS4 key.
pub const ENGINE_KEY: (&str, &str) = ("AKIAEVERBRIGHTENGINE", "everbright-local-engine-secret");
/// The partner's shared secret (EverBright's "Headers" type).
pub const PARTNER_HEADER: &str = "X-EverBright-Webhook-Key";
pub const PARTNER_VALUE: &str = "local-partner-shared-value";
/// The sample signed contract's site, and the sites it is sent as for the other two tenants.
pub const SAMPLE_SITE: &str = "34b6b5ee-f997-4044-86ae-0abbf611fc4d";
const SAMPLE_QUOTE: &str = "042e6753-6b06-457d-9efd-70f047f4d348";
pub const ENGINE_SITE: &str = "e1e1e1e1-0000-4000-8000-000000000001";
pub const PARTNER_SITE: &str = "e2e2e2e2-0000-4000-8000-000000000002";

/// The demo's tenants document: an installer on Onboard (test) and on Engine (production), each
/// signing with its own AWS4 key, and a partner on Engine sending a shared header.
pub fn tenants_document(onboard: &str, engine: &str, principal: &LocalPrincipal) -> String {
    serde_json::json!({ "tenants": [
        { "id": "installer-test", "name": "Installer (Onboard)", "environment": "test", "base_url": onboard,
          "api_token": ONBOARD_TOKEN, "organizations": ["825bca13-d78e-483a-96b3-6a18fb5779b4"],
          "webhooks": [{ "type": "aws4", "access_key_id": principal.access_key, "secret_access_key": principal.secret_key }] },
        { "id": "installer-prod", "name": "Installer (Engine)", "environment": "production", "base_url": engine,
          "api_token": ENGINE_TOKEN,
          "webhooks": [{ "type": "aws4", "access_key_id": ENGINE_KEY.0, "secret_access_key": ENGINE_KEY.1 }] },
        { "id": "partner-prod", "name": "Partner (Engine, shared secret)", "environment": "production",
          "base_url": engine, "api_token": PARTNER_TOKEN,
          "webhooks": [{ "type": "headers", "header": PARTNER_HEADER, "value": PARTNER_VALUE }] },
    ]})
    .to_string()
}

/// The demo with three tenants in one deployment (`AUTH_MODE=shared-secret`, behind a gateway
/// without the IAM authorizer, as a Function URL): every sample request signed with the Onboard
/// tenant's key; the signed contract again, for another site, signed with the Engine tenant's key
/// and sent with the partner's header; one request without a credential; then the queue drained,
/// each tenant's documents fetched from its stand-in with its token.
/// With `lose_one`, one fetch message is lost before the queue is drained, and the sweeper and a
/// reconciliation of the Onboard installer then run ([`crate::missed`]).
pub async fn run_tenants_on(
    root: &Path,
    clients: &Clients,
    resources: &Resources,
    (onboard, engine): (&StandIn, &StandIn),
    lose_one: bool,
) -> Result<Report, SetupError> {
    engine.accept_token(PARTNER_TOKEN);
    let principal = LocalPrincipal::default();
    let vars = HashMap::from([
        ("AUTH_MODE", "shared-secret".to_owned()),
        ("AWS_REGION", principal.region.clone()),
        ("TENANTS", tenants_document(&onboard.base_url, &engine.base_url, &principal)),
    ]);
    let (receiver, fetcher) = functions_from(clients, resources, vars)?;
    let gateway = Gateway::start_open(receiver).await?;
    let mut report = Report { bucket: resources.bucket.clone(), ..Report::default() };
    deliver_samples(root, &principal.aws4(&gateway.endpoint), &mut report).await?;

    let contract = root.join("events/rest-contract-signed.json");
    let (method, slug, body) = sample(&contract)?;
    // Another site, and another quote (ids are EverBright's, unique across organizations).
    let for_site = |site: &str| {
        let text = String::from_utf8_lossy(&body).replace(SAMPLE_SITE, site);
        text.replace(SAMPLE_QUOTE, &format!("{}{}", &site[..9], &SAMPLE_QUOTE[9..])).into_bytes()
    };
    let engine_key = send::Aws4 {
        access_key: ENGINE_KEY.0.into(),
        secret_key: ENGINE_KEY.1.into(),
        ..principal.aws4(&gateway.endpoint)
    };
    let (status, text) = send::deliver(&engine_key, &method, &slug, for_site(ENGINE_SITE)).await?;
    report.record("rest-contract-signed.json, Engine key".into(), status, &text);
    everbright::tls::install_crypto_provider();
    let partner = reqwest::Client::new()
        .post(format!("{}/webhooks/{slug}", gateway.endpoint))
        .header(PARTNER_HEADER, PARTNER_VALUE)
        .header("content-type", "application/json")
        .body(for_site(PARTNER_SITE))
        .send()
        .await?;
    let status = partner.status().as_u16();
    report.record("rest-contract-signed.json, partner header".into(), status, &partner.text().await?);
    send_unsigned(&gateway.endpoint, &mut report).await?;
    if !lose_one {
        return finish(report, &fetcher, clients, resources).await;
    }
    let lost = crate::missed::lose_one_message(clients, resources).await?;
    report.drained = drain(&fetcher, clients, resources).await?;
    report.missed = Some(crate::missed::run(clients, resources, &fetcher, onboard, lost).await?);
    scan(report, clients, resources).await
}

/// The report, readable.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line("Deliveries".into());
    for d in &report.deliveries {
        let detail = match d.status {
            200 if d.answer["duplicate"] == true => "duplicate: nothing changed".to_owned(),
            200 => format!(
                "applied for {}{}, {} document(s) queued",
                everbright_sync::job_view::text(&d.answer["tenant"]),
                if d.answer["stale"] == true { " (stale)" } else { "" },
                d.answer["queued"].as_array().map_or(0, Vec::len)
            ),
            _ => everbright_sync::job_view::text(if d.answer.get("error").is_some() {
                &d.answer["error"]
            } else {
                &d.answer["message"]
            }),
        };
        line(format!("  {:<42} {}  {detail}", d.file, d.status));
    }
    line(format!(
        "  {} applied, {} duplicate, {} stale, {} refused, {} failed",
        report.applied(),
        report.duplicates(),
        report.stale(),
        report.refused(),
        report.failed()
    ));
    let d = &report.drained;
    line(format!(
        "Fetcher: {} batch(es), {} message(s) handled, {} retried, {} moved to the DLQ",
        d.batches, d.handled, d.retried, d.dead_lettered
    ));
    for (pk, items) in &report.items {
        let Some(job) = aws::schema::job_of_pk(pk) else {
            continue;
        };
        if items.iter().any(|i| i["sk"] == "JOB") {
            line(String::new());
            line(everbright_sync::job_view::render(&job.site.to_string(), &report.bucket, items, false));
        }
    }
    if let Some(missed) = &report.missed {
        line(String::new());
        line(crate::missed::render(missed).trim_end().to_owned());
    }
    if report.streamed.records > 0 {
        let s = &report.streamed;
        line(String::new());
        line(format!(
            "Publisher: {} stream record(s) in {} invocation(s), {} event(s) published, {} unmapped, {} batch(es) retried, {} given up",
            s.records, s.invocations, s.published, s.unmapped, s.retried_batches, s.given_up
        ));
        line(format!("Events the consumer's queue received ({}):", report.consumed.len()));
        for event in &report.consumed {
            line(format!("  {}", consumed_line(event)));
        }
    }
    out
}

/// One event a consumer received, in a line: its type, tenant, site and quote, and the fields
/// that say what happened.
pub fn consumed_line(event: &Value) -> String {
    use everbright_sync::job_view::text;
    let detail = &event["detail"];
    let short = |value: &Value| value.as_str().map_or_else(|| "-".to_owned(), |id| id.chars().take(8).collect());
    let kind = event["detail-type"].as_str().unwrap_or("?");
    let what = match kind {
        "Contract Signed" | "Contract Voided" | "Change Order Signed" | "Change Order Voided" => {
            format!("task {} signed at {}", short(&detail["task"]), text(&detail["signed_at"]))
        }
        "Stage Changed" => format!("{} -> {}", text(&detail["from"]["name"]), text(&detail["to"]["name"])),
        "Milestone Changed" => format!("{} {}", text(&detail["name"]), text(&detail["status"])),
        "Document Stored" => format!("{} ({} bytes)", text(&detail["file_name"]), detail["size"]),
        "Document Failed" => format!("{} (for good: {})", text(&detail["reason"]), detail["for_good"]),
        "Details Recorded" => format!("{} value(s)", detail["values"].as_object().map_or(0, Map::len)),
        "Signed Quote Resolved" => format!("signed as {}", short(&detail["signed_quote"])),
        "Current Quote Changed" => format!("from {}", short(&detail["previous_quote"])),
        _ => String::new(),
    };
    let (tenant, site, quote) = (text(&detail["tenant"]), short(&detail["site"]), short(&detail["quote"]));
    format!("{kind:<22} {tenant:<15} site {site}  quote {quote}  {what}")
}
