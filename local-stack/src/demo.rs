//! The demo: the whole pipeline on the sample events, on the embedded local backend.
//!
//! It starts moto and a stand-in for EverBright's API, creates the table, bucket and queues,
//! starts the local gateway in front of the real receiver handler, sends every sample request in
//! `events/` to it signed with the signing client (and one unsigned request), runs the real
//! fetcher handler on the queue (as the SQS event source mapping would) until it is drained, and
//! prints what each job ended up as. Everything it started stops when it returns, or is interrupted.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use contract_fetcher::Fetcher;
use serde_json::{Map, Value};
use shared::aws::{Clients, scan_all};
use shared::config::{Env, FetcherConfig, ReceiverConfig};
use shared::metrics::discard_sink;
use webhook_receiver::AwsReceiver;

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
}

#[derive(Debug)]
pub struct Delivery {
    pub file: String,
    pub status: u16,
    pub answer: Value,
}

impl Report {
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
    let stand_in = StandIn::start(LOCAL_TOKEN).await?;
    let report = run_on(root, &clients, &resources, &stand_in).await?;
    drop(moto);
    Ok(report)
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
        ("JOBS_TABLE", resources.table.clone()),
        ("DOCUMENTS_BUCKET", resources.bucket.clone()),
        ("FETCH_QUEUE_URL", resources.queue_url.clone()),
        ("ALLOWED_PRINCIPALS", principal.arn.clone()),
        ("EVERBRIGHT_BASE_URL", everbright.to_owned()),
        ("EVERBRIGHT_API_TOKEN", LOCAL_TOKEN.to_owned()),
    ]);
    vars.extend(settings.iter().cloned());
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

/// Runs the demo's deliveries and fetches on an existing backend: every sample request in
/// `events/` signed by the signing client and sent to the local gateway, one unsigned request,
/// then the queue drained by the fetcher.
pub async fn run_on(
    root: &Path,
    clients: &Clients,
    resources: &Resources,
    stand_in: &StandIn,
) -> Result<Report, SetupError> {
    let principal = LocalPrincipal::default();
    let (receiver, fetcher) = functions(clients, resources, stand_in, &principal)?;
    let gateway = Gateway::start(receiver, principal.clone()).await?;
    let aws4 = principal.aws4(&gateway.endpoint);

    let mut report = Report { bucket: resources.bucket.clone(), ..Report::default() };
    for path in sample_requests(&root.join("events"))? {
        let (method, slug, body) = sample(&path)?;
        let (status, text) = send::deliver(&aws4, &method, &slug, body).await?;
        let answer = serde_json::from_str(&text).unwrap_or(Value::Null);
        let file = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        report.deliveries.push(Delivery { file, status, answer });
    }
    shared::tls::install_crypto_provider();
    let unsigned = reqwest::Client::new()
        .post(format!("{}/webhooks/stage-transition", gateway.endpoint))
        .body("{}")
        .send()
        .await?;
    let status = unsigned.status().as_u16();
    let answer = serde_json::from_str(&unsigned.text().await?).unwrap_or(Value::Null);
    report.deliveries.push(Delivery { file: "(an unsigned request)".into(), status, answer });
    report.drained = drain(&fetcher, clients, resources).await?;

    for item in scan_all(&clients.dynamodb, &resources.table).await? {
        let pk = item["pk"].as_str().unwrap_or_default().to_owned();
        report.items.entry(pk).or_default().push(item);
    }
    Ok(report)
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
                "applied{}, {} document(s) queued",
                if d.answer["stale"] == true { " (stale)" } else { "" },
                d.answer["queued"].as_array().map_or(0, Vec::len)
            ),
            _ => everbright_sync::job_view::text(if d.answer.get("error").is_some() {
                &d.answer["error"]
            } else {
                &d.answer["message"]
            }),
        };
        line(format!("  {:<36} {}  {detail}", d.file, d.status));
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
        let Some(site) = pk.strip_prefix("SITE#") else {
            continue;
        };
        if items.iter().any(|i| i["sk"] == "JOB") {
            line(String::new());
            line(everbright_sync::job_view::render(site, &report.bucket, items, false));
        }
    }
    out
}
