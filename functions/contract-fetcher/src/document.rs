//! One signed document: claimed under a lease, downloaded from the tenant's EverBright into the
//! document store, recorded as stored or failed, or given back for a retry.

use std::collections::HashMap;

use domain::ids::{DocumentId, QuoteId};
use domain::job::{self, JobKey};
use domain::ports::{AnswerArchive, DocumentStore, FetchClaim, FetchError, StoredDocument};
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::api::TenantApi;
use crate::{Fetcher, Outcome};

/// How long a claim outlives the invocation's deadline before another may take the document.
const LEASE_MARGIN_SECONDS: i64 = 60;

impl<L: crate::Ledger, D: DocumentStore, A: AnswerArchive> Fetcher<L, D, A> {
    pub(crate) async fn fetch_document(
        &self,
        api: &TenantApi,
        job: &JobKey,
        quote: Option<QuoteId>,
        document: DocumentId,
        name: Option<&str>,
        deadline: Instant,
    ) -> Outcome {
        let now = self.clock.now();
        let remaining = deadline.saturating_duration_since(Instant::now());
        let lease_until = now.plus_seconds(remaining.as_secs() as i64 + LEASE_MARGIN_SECONDS);
        let lease = uuid::Uuid::new_v4().to_string();
        let claim = self.ledger.claim_fetch(job, document, &lease, now, lease_until).await;
        let lease = match claim {
            Ok(FetchClaim::Claimed { lease }) => lease,
            Ok(FetchClaim::Stored) => {
                info!("already stored; acknowledged without a download");
                return Outcome::Done;
            }
            Ok(FetchClaim::Failed { reason }) => {
                info!(reason, "failed for good before; acknowledged");
                return Outcome::Done;
            }
            Ok(FetchClaim::NotQueued { status }) => {
                warn!(status, "the document is not queued; acknowledged");
                return Outcome::Done;
            }
            Ok(FetchClaim::Refused { reason }) => {
                error!(reason, "refused: the message's word is not the job's; acknowledged, nothing fetched");
                return Outcome::Refused;
            }
            Ok(FetchClaim::Busy) => {
                return Outcome::Retry("another invocation is fetching it".into());
            }
            Err(error) => {
                // The claim may have landed with its answer lost: give it back, in case.
                let reason = error.to_string();
                self.give_back(job, document, &lease, &reason).await;
                return Outcome::Retry(reason);
            }
        };

        let key = job::document_key(job, quote, document, name);
        let stored = self.download_into(api, &key, job, quote, document, deadline).await;
        let recorded = match stored {
            Ok(stored) => {
                let recorded = self.ledger.mark_stored(job, document, &lease, &stored, self.clock.now()).await;
                match recorded {
                    Ok(true) => {
                        info!(key = %stored.key, size = stored.size, sha256 = %stored.sha256, "stored");
                        return Outcome::Stored(stored.size);
                    }
                    Ok(false) => {
                        warn!("the claim ran out before the document was recorded; another invocation records it");
                        return Outcome::Done;
                    }
                    Err(error) => Err(error),
                }
            }
            Err(FetchError::Permanent(reason)) => {
                error!(reason, "failed for good");
                let failed = self.ledger.mark_failed(job, document, &lease, &reason, self.clock.now()).await;
                failed.map(|()| Outcome::FailedForGood)
            }
            Err(FetchError::Retryable(reason) | FetchError::Unauthorized(reason)) => {
                self.ledger.release_fetch(job, document, &lease, &reason).await.map(|()| Outcome::Retry(reason))
            }
        };
        match recorded {
            Ok(outcome) => outcome,
            Err(error) => {
                // The outcome could not be recorded: give the claim back so that the retry need
                // not wait for the lease to run out (if this fails too, the lease does run out).
                let reason = error.to_string();
                self.give_back(job, document, &lease, &reason).await;
                Outcome::Retry(reason)
            }
        }
    }

    /// Releases the claim under `lease`, if it is still held; a failure only logs (the lease
    /// frees the document when it ends).
    async fn give_back(&self, job: &JobKey, document: DocumentId, lease: &str, reason: &str) {
        if let Err(error) = self.ledger.release_fetch(job, document, lease, reason).await {
            warn!(error = %error, "could not give the claim back; it frees itself when its lease ends");
        }
    }

    async fn download_into(
        &self,
        api: &TenantApi,
        key: &str,
        job: &JobKey,
        quote: Option<QuoteId>,
        document: DocumentId,
        deadline: Instant,
    ) -> Result<StoredDocument, FetchError> {
        let mut download =
            self.with_client(api, |client| async move { client.download(document, deadline).await }).await?;
        let metadata = HashMap::from([
            ("site".to_owned(), job.site.to_string()),
            ("tenant".to_owned(), job.tenant.to_string()),
            ("quote".to_owned(), quote.map_or_else(String::new, |q| q.to_string())),
            ("document".to_owned(), document.to_string()),
        ]);
        let content_type = download.content_type.clone();
        self.documents.store(key, metadata, &mut download, content_type.as_deref()).await
    }
}
