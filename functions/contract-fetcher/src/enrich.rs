//! The enrichment after a SIGN: the quote the contract was finally signed as (the workflow's
//! `s_quote_id`), then the profile's metrics with the signed baseline (one request per option,
//! every page, a few options at once) and the site's contacts and address, each raw answer kept
//! in S3 (`dal/`), the selected values recorded, typed, on the job's `DETAILS#<quote>` item.
//! Personal data is marked and never logged: the log says how many values, not which.

use futures_util::StreamExt;
use futures_util::stream;
use serde_json::{Value, json};
use shared::dal::{self, Details, Entry};
use shared::everbright::{self, FetchError};
use shared::ids::{QuoteId, SiteId};
use shared::job::{self, JobKey};
use shared::ports::{Archive, DetailsRecord, DocumentLedger};
use shared::timestamp::Timestamp;
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::{Fetcher, Outcome, TenantApi};

/// Options read at once.
const CONCURRENT_OPTIONS: usize = 3;
/// Pages read of one option, at most.
const MAX_PAGES: u32 = 10;

/// One enrichment's reading: the job, the signed quote, where its raw answers go, the deadline.
#[derive(Clone, Copy)]
struct Reading<'a> {
    site: SiteId,
    quote: QuoteId,
    prefix: &'a str,
    deadline: Instant,
}

/// What one option's requests gave.
struct OptionAnswer {
    entries: Vec<Entry>,
    rows: Vec<serde_json::Map<String, Value>>,
    warnings: Vec<String>,
    raw_keys: Vec<String>,
}

impl Fetcher {
    /// Reads and records the details; a failure is recorded on the item too, and retried unless
    /// it is for good.
    pub(crate) async fn enrich(
        &self,
        api: &TenantApi,
        job: &JobKey,
        quote: QuoteId,
        version: i64,
        deadline: Instant,
    ) -> Outcome {
        let record = match self.read_details(api, job, quote, version, deadline).await {
            Ok(record) => record,
            Err(failure) => {
                let (reason, permanent) = match failure {
                    FetchError::Permanent(reason) => (reason, true),
                    FetchError::Retryable(reason) | FetchError::Unauthorized(reason) => (reason, false),
                };
                if let Err(error) = self.ledger.record_enrichment_error(job, quote, &reason, Timestamp::now()).await {
                    warn!(error = %error, "the enrichment's error could not be recorded");
                }
                if permanent {
                    error!(reason, "the enrichment failed for good; acknowledged");
                    return Outcome::FailedForGood;
                }
                return Outcome::Retry(reason);
            }
        };
        match self.ledger.record_details(job, &record, Timestamp::now()).await {
            Ok(()) => {
                info!(
                    tenant = %job.tenant,
                    signed_quote = %record.signed_quote,
                    values = record.details.values.len(),
                    absent = record.details.absent.len(),
                    warnings = record.details.warnings.len(),
                    raw = record.raw_keys.len(),
                    "details recorded"
                );
                Outcome::Done
            }
            Err(error) => Outcome::Retry(error.to_string()),
        }
    }

    async fn read_details(
        &self,
        api: &TenantApi,
        job: &JobKey,
        quote: QuoteId,
        version: i64,
        deadline: Instant,
    ) -> Result<DetailsRecord, FetchError> {
        let site = job.site;
        let prefix = job::dal_prefix(job, quote, Timestamp::now().micros());
        let (url, workflow) =
            self.with_client(api, |client| async move { client.workflow(quote, deadline).await }).await?;
        let mut raw_keys = vec![self.keep_raw(&format!("{prefix}-workflow.json"), &url, &workflow).await?];
        let signed = everbright::signed_quote_in(&workflow).map_err(FetchError::Retryable)?;
        let signed_quote = signed.unwrap_or(quote);

        let reading = Reading { site, quote: signed_quote, prefix: &prefix, deadline };
        let requests = self.profile.requests();
        let answers: Vec<Result<OptionAnswer, FetchError>> = stream::iter(requests)
            .map(|(option, entries)| self.read_option(api, option, entries, &reading))
            .buffer_unordered(CONCURRENT_OPTIONS)
            .collect()
            .await;
        let mut details = Details::default();
        for answer in answers {
            let answer = answer?;
            details.add(&answer.entries, &answer.rows);
            details.warnings.extend(answer.warnings);
            raw_keys.extend(answer.raw_keys);
        }
        let (url, site_answer) =
            self.with_client(api, |client| async move { client.site(site, deadline).await }).await?;
        raw_keys.push(self.keep_raw(&format!("{prefix}-site.json"), &url, &site_answer).await?);
        details.add_site(&site_answer);
        raw_keys.sort();
        Ok(DetailsRecord { quote, signed_quote, version, details, raw_keys })
    }

    /// Every page of one option's answer for its metrics.
    async fn read_option(
        &self,
        api: &TenantApi,
        option: String,
        entries: Vec<Entry>,
        reading: &Reading<'_>,
    ) -> Result<OptionAnswer, FetchError> {
        let Reading { site, quote, prefix, deadline } = *reading;
        let (filter_name, filter_value) = dal::filter(&option, site, quote);
        let metrics: Vec<&str> = entries.iter().map(|e| e.metric.as_str()).collect();
        let mut answer =
            OptionAnswer { entries: entries.clone(), rows: Vec::new(), warnings: Vec::new(), raw_keys: Vec::new() };
        for page in 1..=MAX_PAGES {
            let (option, filter_value, metrics) = (&option, &filter_value, &metrics);
            let (url, json) = self
                .with_client(api, |client| async move {
                    client
                        .data_page(option, (filter_name, filter_value), metrics, (page, self.page_size), deadline)
                        .await
                })
                .await?;
            answer.raw_keys.push(self.keep_raw(&format!("{prefix}-{option}-p{page}.json"), &url, &json).await?);
            let parsed = dal::parse_page(&json).map_err(|text| {
                FetchError::Retryable(format!("the data API answered {option} with an error: {text}"))
            })?;
            let full = parsed.rows.len() as u32 >= self.page_size;
            answer.rows.extend(parsed.rows);
            answer.warnings.extend(parsed.warnings.into_iter().map(|w| format!("{option}: {w}")));
            if !full {
                return Ok(answer);
            }
        }
        warn!(option, pages = MAX_PAGES, "the answer had more pages than are read");
        Ok(answer)
    }

    /// Keeps one raw answer, with the URL asked (which holds no secret), in S3.
    async fn keep_raw(&self, key: &str, url: &str, answer: &Value) -> Result<String, FetchError> {
        let body = json!({ "url": url, "received_at": Timestamp::now(), "answer": answer });
        self.raw
            .put(key, body.to_string().into_bytes())
            .await
            .map_err(|e| FetchError::Retryable(format!("keeping the data API answer failed: {e}")))?;
        Ok(key.to_owned())
    }
}
