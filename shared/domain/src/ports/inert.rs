//! Ports that answer at once and keep nothing: every claim is new, every write lands, every
//! document is queued. For benchmarks (the handler's own cost) and fuzzing (the handler on any
//! input, without a backend); behind the `inert` feature, so no Lambda binary carries them.
use super::*;

pub struct Inert;

impl DeliveryLedger for Inert {
    async fn was_applied(&self, _: &Delivery) -> Result<bool, BackendError> {
        Ok(false)
    }
    async fn claim_delivery(&self, _: &Delivery) -> Result<Claim, BackendError> {
        Ok(Claim::New)
    }
    async fn finish_delivery(&self, _: &Delivery) -> Result<(), BackendError> {
        Ok(())
    }
    async fn release_delivery(&self, _: &Delivery) -> Result<(), BackendError> {
        Ok(())
    }
}

impl JobStore for Inert {
    async fn apply(&self, _: &JobKey, _: &Change) -> Result<Applied, BackendError> {
        Ok(Applied::Landed)
    }
    async fn record_document(&self, _: &JobKey, _: &PlannedDocument) -> Result<(), BackendError> {
        Ok(())
    }
    async fn queue_document(&self, _: &JobKey, _: &PlannedDocument, _: &Delivery) -> Result<bool, BackendError> {
        Ok(true)
    }
    async fn queue_enrichment(&self, _: &JobKey, _: &Enrichment, _: &Delivery) -> Result<bool, BackendError> {
        Ok(true)
    }
    async fn queue_lookup(&self, _: &JobKey, _: &SignedQuoteLookup, _: &Delivery) -> Result<bool, BackendError> {
        Ok(true)
    }
}

impl Archive for Inert {
    async fn put(&self, _: &str, _: Vec<u8>) -> Result<(), BackendError> {
        Ok(())
    }
}

impl WorkQueue for Inert {
    async fn send(&self, _: &[WorkMessage]) -> Result<(), BackendError> {
        Ok(())
    }
}
