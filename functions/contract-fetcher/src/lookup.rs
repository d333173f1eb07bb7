//! A re-sign look-up: which quote the data API says an original quote was signed as, recorded,
//! and that quote's details read in the same invocation.

use domain::job::{self, JobKey, SignedQuoteLookup};
use domain::ports::{AnswerArchive, DocumentStore};
use everbright::DataRequest;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::api::TenantApi;
use crate::{Fetcher, Outcome};

impl<L: crate::Ledger, D: DocumentStore, A: AnswerArchive> Fetcher<L, D, A> {
    /// A re-sign look-up: which quote `lookup.quote` was signed as (its answer kept under
    /// `dal/` as the enrichment's are), recorded; signed as another quote, that quote's details
    /// too, now, without asking again. A failure is recorded on the job as `lookup_error`, where
    /// `dlq` finds it, and the look-up is retried (recording its answer again changes nothing);
    /// once it is answered, its `lookup_error` goes.
    pub(crate) async fn resolve_signed_quote(
        &self,
        api: &TenantApi,
        job: &JobKey,
        lookup: &SignedQuoteLookup,
        deadline: Instant,
    ) -> Outcome {
        let outcome = self.look_up(api, job, lookup, deadline).await;
        let recorded = match &outcome {
            Outcome::Retry(reason) => {
                self.ledger.record_lookup_error(job, lookup.quote, reason, self.clock.now()).await
            }
            // Answered now: an error of an earlier attempt is no longer the look-up's state.
            _ => self.ledger.clear_lookup_error(job, lookup.quote).await,
        };
        if let Err(error) = recorded {
            warn!(error = %error, "the look-up's error could not be recorded or cleared");
        }
        outcome
    }

    async fn look_up(&self, api: &TenantApi, job: &JobKey, lookup: &SignedQuoteLookup, deadline: Instant) -> Outcome {
        let quote = lookup.quote;
        let key = format!("{}-workflow.json", job::dal_prefix(job, quote, lookup.version));
        let answer = match self.ask(api, &DataRequest::WorkflowOfQuote(quote), deadline).await {
            Ok(answer) => answer,
            Err(reason) => return Outcome::Retry(reason),
        };
        let signed = match self.keep(&key, &answer).await.and_then(|_| answer.json()) {
            Ok(json) => domain::dal::signed_quote(&json),
            Err(reason) => return Outcome::Retry(format!("the re-sign look-up: {reason}")),
        };
        if let Err(error) = self.ledger.record_signed_quote(job, lookup, signed, self.clock.now()).await {
            return Outcome::Retry(error.to_string());
        }
        info!(signed = ?signed, "signed quote recorded");
        let Some(signed) = signed.filter(|signed| *signed != quote) else {
            return Outcome::Done;
        };
        match self.recorded(job, signed, lookup.version).await {
            Ok(true) => Outcome::Done,
            Ok(false) => match self.read_and_record(api, job, (signed, Some(signed)), lookup.version, deadline).await {
                Outcome::Retry(reason) => Outcome::Retry(format!("the details of {signed}: {reason}")),
                outcome => outcome,
            },
            Err(reason) => Outcome::Retry(reason),
        }
    }
}
