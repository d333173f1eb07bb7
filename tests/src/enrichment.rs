//! The enrichment's world: a backend, the EverBright stand-in speaking the data API, and a
//! fetcher configured for it; the sample contract's site and quote.

use std::time::Duration;

use aws_lambda_events::event::sqs::SqsMessage;
use config::{Env, FetcherConfig};
use contract_fetcher::Fetcher;
use lambda_http::http::StatusCode;
use local_stack::stand_in::{Host, StandIn};
use serde_json::Value;
use tokio::time::Instant;
use webhook_receiver::AwsReceiver;

use crate::Backend;

pub const TOKEN: &str = "enrichment-token-0123456789";
pub const SITE: &str = "34b6b5ee-f997-4044-86ae-0abbf611fc4d";
pub const QUOTE: &str = "042e6753-6b06-457d-9efd-70f047f4d348";
/// The re-signed milestone's original quote, and the quote the stand-in says it was signed as.
pub const RE_SIGNED: (&str, &str) = ("8ba871ae-3282-420c-af3f-ddc41ac50273", "1d7b2c3e-4f50-4a61-8b72-93a4b5c6d7e8");

pub struct World {
    pub backend: Backend,
    pub stand_in: StandIn,
    pub fetcher: Fetcher,
}

impl World {
    pub async fn new(settings: &[(&'static str, &str)]) -> Self {
        Self::on(Backend::new().await, settings).await
    }

    /// The same world with DynamoDB on dynalite (no transactions: documents are not stored there).
    pub async fn strict(settings: &[(&'static str, &str)]) -> Self {
        Self::on(Backend::strict().await, settings).await
    }

    async fn on(backend: Backend, settings: &[(&'static str, &str)]) -> Self {
        let stand_in = StandIn::start(TOKEN).await.unwrap();
        let fetcher = Fetcher::on_aws(&config(&backend, &stand_in, settings), &backend.clients);
        Self { backend, stand_in, fetcher }
    }

    /// The fetcher's configuration, with `settings` beside the backend's and the stand-in's.
    pub fn config(&self, settings: &[(&'static str, &str)]) -> FetcherConfig {
        config(&self.backend, &self.stand_in, settings)
    }

    /// Delivers a request and takes the enrichment messages it queued (documents are left out).
    pub async fn deliver(&self, request: lambda_http::Request) -> Vec<SqsMessage> {
        let receiver = AwsReceiver::on_aws(&self.backend.receiver_config(), &self.backend.clients);
        assert_eq!(receiver.handle(request).await.status(), StatusCode::OK);
        self.backend.take_records().await.into_iter().filter(|r| kind(r) == "enrich").collect()
    }

    /// Delivers the re-signed milestone, its original quote signed as another on the stand-in,
    /// and takes the re-sign look-ups it queued.
    pub async fn deliver_re_sign(&self) -> Vec<SqsMessage> {
        let (original, signed) = RE_SIGNED;
        self.stand_in.set_signed_quote(original.parse().unwrap(), signed.parse().unwrap());
        let receiver = AwsReceiver::on_aws(&self.backend.receiver_config(), &self.backend.clients);
        assert_eq!(receiver.handle(crate::re_signed_milestone()).await.status(), StatusCode::OK);
        let records = self.backend.take_records().await;
        records.into_iter().filter(|r| kind(r) == "resolve_signed_quote").collect()
    }

    pub async fn fetch(&self, records: &[SqsMessage]) -> Vec<String> {
        let response = self.fetcher.handle_batch(records, Instant::now() + Duration::from_secs(60)).await;
        response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect()
    }

    pub async fn details(&self, quote: &str) -> Option<serde_json::Map<String, Value>> {
        self.backend.item(&format!("SITE#{SITE}"), &format!("DETAILS#{quote}")).await
    }

    pub fn data_requests(&self, option: &str) -> Vec<String> {
        let path = format!("/api/data/{option}/");
        self.stand_in.seen().into_iter().filter(|s| s.host == Host::Api && s.path == path).map(|s| s.path).collect()
    }
}

fn config(backend: &Backend, stand_in: &StandIn, settings: &[(&'static str, &str)]) -> FetcherConfig {
    let mut pairs = backend.fetcher_env(&stand_in.base_url, TOKEN);
    pairs.extend(settings.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let env = Env::new(move |name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone()));
    FetcherConfig::from(&env).unwrap()
}

pub fn kind(record: &SqsMessage) -> String {
    let body: Value = serde_json::from_str(record.body.as_deref().unwrap()).unwrap();
    body["kind"].as_str().unwrap().to_owned()
}
