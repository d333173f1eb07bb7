//! The demo's "nothing missed": one fetch message lost on its way (the document stays `QUEUED`
//! with nothing in the queue for it), found by the sweeper half an hour later and stored; and one
//! site EverBright changed without sending a webhook, found by the installer's reconciliation
//! with the stand-in's site list, recorded and read.

use std::time::Duration;

use aws::{Clients, DynamoJobStore};
use aws_lambda_events::event::sqs::SqsMessage;
use config::SweeperConfig;
use contract_fetcher::Fetcher;
use domain::ids::SiteId;
use domain::job::JobKey;
use domain::message::WorkMessage;
use domain::metrics::discard_sink;
use domain::tenant::TenantId;
use domain::timestamp::{Clock, Timestamp};
use serde_json::Value;
use sweeper::{Sweeper, Swept};

use crate::local::{Resources, SetupError};
use crate::queue::drain;
use crate::stand_in::StandIn;

/// A site the Onboard installer's EverBright changed two hours ago without a webhook, and the quote
/// it was signed as.
pub const MISSED_SITE: &str = "e3e3e3e3-0000-4000-8000-000000000003";
pub const MISSED_QUOTE: &str = "f3f3f3f3-0000-4000-8000-000000000003";
/// The tenant whose sites are reconciled in the demo.
pub const RECONCILED_TENANT: &str = "installer-test";

/// What the demo's sweeper and reconciliation did.
#[derive(Debug, Default)]
pub struct NothingMissed {
    /// The document whose fetch message was lost, and its status in the end.
    pub lost: Option<(String, String)>,
    pub swept: Swept,
    /// What the operator's `attention` lists in the end: kind, site, what.
    pub found: Vec<Value>,
}

/// Takes one fetch message off the queue and throws it away, as a lost message would be: its
/// document stays `QUEUED`. The job and document, if there was one (the other messages received
/// are made visible again at once).
pub async fn lose_one_message(
    clients: &Clients,
    resources: &Resources,
) -> Result<Option<(JobKey, String)>, SetupError> {
    let output = clients
        .sqs()
        .receive_message()
        .queue_url(&resources.queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .map_err(|e| format!("SQS ReceiveMessage: {e}"))?;
    let mut lost = None;
    for message in output.messages() {
        let handle = message.receipt_handle().unwrap_or_default();
        let parsed = serde_json::from_str::<WorkMessage>(message.body().unwrap_or_default());
        if let (None, Ok(WorkMessage::FetchDocument { tenant, site, document, .. })) = (&lost, parsed) {
            let sqs = clients.sqs().delete_message().queue_url(&resources.queue_url).receipt_handle(handle);
            sqs.send().await.map_err(|e| format!("SQS DeleteMessage: {e}"))?;
            lost = Some((JobKey::new(tenant, site), document.to_string()));
        } else {
            let sqs = clients.sqs().change_message_visibility().queue_url(&resources.queue_url);
            let visible = sqs.receipt_handle(handle).visibility_timeout(0).send().await;
            visible.map_err(|e| format!("SQS ChangeMessageVisibility: {e}"))?;
        }
    }
    Ok(lost)
}

/// The sweeper half an hour on (when the lost message's document is due), the queue drained
/// again; then the reconciliation of [`RECONCILED_TENANT`] against `onboard`'s site list, which
/// lists the demo's sample site (changed before its webhook) and [`MISSED_SITE`].
pub async fn run(
    clients: &Clients,
    resources: &Resources,
    fetcher: &Fetcher,
    onboard: &StandIn,
    lost: Option<(JobKey, String)>,
) -> Result<NothingMissed, SetupError> {
    let config = SweeperConfig::from_lookup(|name| match name {
        "JOBS_TABLE" => Some(resources.table.clone()),
        "FETCH_QUEUE_URL" => Some(resources.queue_url.clone()),
        _ => None,
    })?;
    let later = Timestamp::now().plus_seconds(31 * 60);
    let sweeper = Sweeper::on_aws(&config, clients).with_clock(Clock::new(move || later)).with_metrics(discard_sink());
    let swept = sweeper.sweep().await?;
    drain(fetcher, clients, resources).await?;

    let now = Timestamp::now();
    let sample: SiteId = crate::demo::SAMPLE_SITE.parse()?;
    let two_hours_ago = now.plus_seconds(-7200).to_string();
    onboard.set_sites(&[(sample, two_hours_ago.as_str()), (MISSED_SITE.parse()?, two_hours_ago.as_str())]);
    onboard.set_site_signed_quote(MISSED_SITE.parse()?, MISSED_QUOTE.parse()?);
    let reconcile = WorkMessage::Reconcile { tenant: Some(TenantId::parse(RECONCILED_TENANT)?) };
    let mut record = SqsMessage::default();
    record.message_id = Some("demo-reconcile".into());
    record.body = Some(reconcile.to_json());
    let response = fetcher.handle_batch(&[record], tokio::time::Instant::now() + Duration::from_secs(60)).await;
    if !response.batch_item_failures.is_empty() {
        return Err("the reconciliation failed".into());
    }

    let store = DynamoJobStore::new(clients.dynamodb.clone(), &resources.table);
    let lost = match lost {
        Some((job, document)) => {
            let items = store.job_items(&job).await?;
            let sk = format!("DOC#{document}");
            let item = items.iter().find(|item| item["sk"] == sk.as_str());
            Some((document, item.and_then(|item| item["status"].as_str()).unwrap_or("-").to_owned()))
        }
        None => None,
    };
    let found = store.attention(20).await?.into_iter().map(Value::Object).collect();
    Ok(NothingMissed { lost, swept, found })
}

/// The section of the demo's report.
pub fn render(missed: &NothingMissed) -> String {
    use everbright_sync::job_view::text;
    let mut out = String::from("Nothing missed\n");
    if let Some((document, _)) = &missed.lost {
        out.push_str(&format!("  a fetch message was lost on its way: document {document} waited QUEUED\n"));
    }
    let s = &missed.swept;
    out.push_str(&format!(
        "  Sweeper, 31 minutes later: {} pending read ({} item(s) read of the index), {} sent again, {} in flight, {} given up\n",
        s.pending, s.items_read, s.requeued, s.in_flight, s.given_up
    ));
    if let Some((document, status)) = &missed.lost {
        out.push_str(&format!("  then the fetcher: document {document} is {status}\n"));
    }
    for item in &missed.found {
        if item["pending"] == "MISSED" {
            out.push_str(&format!(
                "  Reconciliation ({}): site {} changed in EverBright at {} with no webhook: recorded on its job, its details read\n",
                text(&item["tenant"]),
                text(&item["site"]),
                text(&item["last_updated"])
            ));
        }
    }
    out
}
