//! The enrichment after a SIGN: the quote the contract was finally signed as (the workflow's
//! `s_quote_id`, unless a re-sign look-up already found it), then the profile's metrics at the
//! signed baseline (one request per option, every page up to a bound, a few options at once) and
//! the site's contacts and address; each answer kept in S3 (`dal/`) as it came, under keys of the
//! signature's version (a second read of it writes the same keys), the selected values recorded,
//! typed, on the job's `DETAILS#<quote>` item.
//!
//! Every failure, EverBright's error answers included, is recorded on the item and retried
//! through SQS, then waits in the DLQ (`everbright-sync dlq` shows its reason) until EverBright or
//! the profile is put right and it is redriven. Personal data is marked and never logged: the log
//! says how many values, not which.

use domain::dal::{self, DataAnswer, Details, Entry};
use domain::ids::QuoteId;
use domain::job::{self, JobKey};
use domain::ports::{AnswerArchive, DetailsRecord, DocumentStore};
use everbright::{DataRequest, EverBright};
use futures_util::StreamExt;
use futures_util::stream;
use serde_json::Value;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::api::TenantApi;
use crate::{Fetcher, Outcome};

/// Options read at once.
const CONCURRENT_OPTIONS: usize = 3;
/// Pages read of one option, at most: past them the details are marked incomplete.
const MAX_PAGES: u32 = 10;

/// One enrichment's reading: the job, the signed quote, where its raw answers go, the deadline.
#[derive(Clone, Copy)]
struct Reading<'a> {
    job: &'a JobKey,
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
    /// Why the answer is incomplete, if it is (more pages than are read).
    cut: Option<String>,
}

impl<L: crate::Ledger, D: DocumentStore, A: AnswerArchive> Fetcher<L, D, A> {
    /// An `enrich` message: nothing when this signature's (or a newer one's) details are
    /// recorded, unless `force`d; else they are read and recorded.
    pub(crate) async fn enrich(
        &self,
        api: &TenantApi,
        job: &JobKey,
        quote: QuoteId,
        version: i64,
        force: bool,
        deadline: Instant,
    ) -> Outcome {
        if !force {
            match self.recorded(job, quote, version).await {
                Ok(true) => return Outcome::Done,
                Ok(false) => {}
                Err(reason) => return Outcome::Retry(reason),
            }
        }
        self.read_and_record(api, job, (quote, None), version, deadline).await
    }

    /// Whether `DETAILS#<quote>` records the details of signature `version` or a newer one.
    pub(crate) async fn recorded(&self, job: &JobKey, quote: QuoteId, version: i64) -> Result<bool, String> {
        let recorded = self.ledger.details_version(job, quote).await.map_err(|e| e.to_string())?;
        let done = recorded.is_some_and(|recorded| recorded >= version);
        if done {
            info!(quote = %quote, "this signature's details are recorded; nothing read");
        }
        Ok(done)
    }

    /// Reads and records the details of `quote` (the quote named), `signed` being the quote it
    /// was signed as when a re-sign look-up already found it; a failure is recorded on the item
    /// and retried.
    pub(crate) async fn read_and_record(
        &self,
        api: &TenantApi,
        job: &JobKey,
        (quote, signed): (QuoteId, Option<QuoteId>),
        version: i64,
        deadline: Instant,
    ) -> Outcome {
        let record = match self.read_details(api, job, (quote, signed), version, deadline).await {
            Ok(record) => record,
            Err(reason) => {
                if let Err(error) = self.ledger.record_enrichment_error(job, quote, &reason, self.clock.now()).await {
                    warn!(error = %error, "the enrichment's error could not be recorded");
                }
                warn!(reason, "the enrichment failed; retried, then the DLQ");
                return Outcome::Retry(reason);
            }
        };
        match self.ledger.record_details(job, &record, self.clock.now()).await {
            Ok(()) => {
                let details = &record.details;
                info!(
                    tenant = %job.tenant,
                    signed_quote = %record.signed_quote,
                    values = details.values.len(),
                    absent = details.absent.len(),
                    warnings = details.warnings.len(),
                    incomplete = details.incomplete.len(),
                    raw = record.raw_keys.len(),
                    "details recorded"
                );
                Outcome::Recorded { incomplete: !details.incomplete.is_empty() }
            }
            Err(error) => Outcome::Retry(error.to_string()),
        }
    }

    async fn read_details(
        &self,
        api: &TenantApi,
        job: &JobKey,
        (quote, signed): (QuoteId, Option<QuoteId>),
        version: i64,
        deadline: Instant,
    ) -> Result<DetailsRecord, String> {
        let prefix = job::dal_prefix(job, quote, version);
        let mut raw_keys = Vec::new();
        let signed_quote = match signed {
            Some(signed) => signed,
            None => {
                let answer = self.ask(api, &DataRequest::WorkflowOfQuote(quote), deadline).await?;
                raw_keys.push(self.keep(&format!("{prefix}-workflow.json"), &answer).await?);
                dal::signed_quote(&answer.json()?).unwrap_or(quote)
            }
        };

        let reading = Reading { job, quote: signed_quote, prefix: &prefix, deadline };
        let answers: Vec<Result<OptionAnswer, String>> = stream::iter(self.profile.requests())
            .map(|(option, entries)| self.read_option(api, option, entries, &reading))
            .buffer_unordered(CONCURRENT_OPTIONS)
            .collect()
            .await;
        let mut details = Details::default();
        for answer in answers {
            let answer = answer?;
            details.add(&answer.entries, &answer.rows);
            details.warnings.extend(answer.warnings);
            details.incomplete.extend(answer.cut);
            raw_keys.extend(answer.raw_keys);
        }
        let answer = self.ask(api, &DataRequest::Site(job.site), deadline).await?;
        raw_keys.push(self.keep(&format!("{prefix}-site.json"), &answer).await?);
        details.add_site(&answer.json()?);
        raw_keys.sort();
        Ok(DetailsRecord { quote, signed_quote, version, details, raw_keys })
    }

    /// Every page of one option's answer for its metrics, [`MAX_PAGES`] at most.
    async fn read_option(
        &self,
        api: &TenantApi,
        option: String,
        entries: Vec<Entry>,
        reading: &Reading<'_>,
    ) -> Result<OptionAnswer, String> {
        let Reading { job, quote, prefix, deadline } = *reading;
        let (filter_name, filter_value) = dal::filter(&option, job.site, quote);
        let metrics: Vec<String> = entries.iter().map(Entry::asked).collect();
        let mut answer = OptionAnswer {
            entries: entries.clone(),
            rows: Vec::new(),
            warnings: Vec::new(),
            raw_keys: Vec::new(),
            cut: None,
        };
        for page in 1..=MAX_PAGES {
            let request = DataRequest::Page {
                option: option.clone(),
                filter: (filter_name, filter_value.clone()),
                metrics: metrics.clone(),
                page,
                limit: self.page_size,
            };
            let page_answer = self.ask(api, &request, deadline).await?;
            answer.raw_keys.push(self.keep(&format!("{prefix}-{option}-p{page}.json"), &page_answer).await?);
            let parsed =
                page_answer.json().and_then(|json| dal::parse_page(&json)).map_err(|e| format!("{option}: {e}"))?;
            let full = parsed.rows.len() as u32 >= self.page_size;
            answer.rows.extend(parsed.rows);
            answer.warnings.extend(parsed.warnings.into_iter().map(|w| format!("{option}: {w}")));
            if !full {
                return Ok(answer);
            }
        }
        warn!(option, pages = MAX_PAGES, "the answer had more pages than are read: the details are incomplete");
        answer.cut =
            Some(format!("{option}: more than {MAX_PAGES} pages of {} rows; the rest was not read", self.page_size));
        Ok(answer)
    }

    /// `request`'s answer from the tenant's EverBright (one path for every data API request, so
    /// one copy of the token's refresh in the bootstrap); a failure as its reason (every one is
    /// retried).
    pub(crate) async fn ask(
        &self,
        api: &TenantApi,
        request: &DataRequest,
        deadline: Instant,
    ) -> Result<DataAnswer, String> {
        let call = |client: std::sync::Arc<EverBright>| async move { client.answer(request, deadline).await };
        self.with_client(api, call).await.map_err(|error| error.to_string())
    }

    /// Keeps one answer in S3, as it came.
    pub(crate) async fn keep(&self, key: &str, answer: &DataAnswer) -> Result<String, String> {
        self.answers
            .keep_answer(key, answer, self.clock.now())
            .await
            .map_err(|e| format!("keeping the data API answer failed: {e}"))?;
        Ok(key.to_owned())
    }
}
