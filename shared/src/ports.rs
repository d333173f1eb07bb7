//! The ports the handlers talk to, in the job's words. The AWS adapters in [`crate::aws`] implement
//! them against DynamoDB, S3 and SQS.

use std::future::Future;

use crate::event::EventType;
use crate::ids::SiteId;
use crate::job::{PlannedDocument, Write};
use crate::message::FetchMessage;
use crate::timestamp::Timestamp;

/// An error from a backing service, with the operation that failed.
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed: {source}")]
pub struct BackendError {
    pub operation: &'static str,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl BackendError {
    pub fn new(
        operation: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            operation,
            source: source.into(),
        }
    }
}

/// A delivery, identified by the SHA-256 of its body.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub body_sha256: String,
    pub event_id: String,
    pub event: EventType,
    pub now: Timestamp,
}

/// What claiming a delivery found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Not seen before (or a previous attempt failed): apply it.
    New,
    /// Already applied: change nothing.
    Duplicate { first_event_id: String },
    /// Another request with the same body is being applied right now.
    InProgress,
}

/// Whether a guarded write landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    Landed,
    /// The stored state is newer: nothing was written.
    Stale,
}

pub trait JobStore: Send + Sync {
    /// Claims a delivery for applying. A delivery counts as seen only once [`finish_delivery`]
    /// has run; a claim that is released or whose lease runs out lets a retry apply it.
    fn claim_delivery(
        &self,
        delivery: &Delivery,
    ) -> impl Future<Output = Result<Claim, BackendError>> + Send;

    /// Marks the delivery applied; from now on the same body is a duplicate.
    fn finish_delivery(
        &self,
        delivery: &Delivery,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Gives the claim up after a failure, so the sender's retry is applied.
    fn release_delivery(
        &self,
        delivery: &Delivery,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Applies one write to the job's items.
    fn apply(
        &self,
        site: SiteId,
        write: &Write,
    ) -> impl Future<Output = Result<Applied, BackendError>> + Send;

    /// Records a document the job names, without changing its download status.
    fn record_document(
        &self,
        site: SiteId,
        document: &PlannedDocument,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Marks a document `QUEUED` unless it is already known (queued by another delivery, being
    /// fetched, stored or failed). Returns whether this delivery queued it; a retry of the
    /// delivery that queued it gets `true` again, so its message is sent again.
    fn queue_document(
        &self,
        site: SiteId,
        document: &PlannedDocument,
        delivery: &Delivery,
    ) -> impl Future<Output = Result<bool, BackendError>> + Send;
}

pub trait Archive: Send + Sync {
    /// Stores `body` under `key`.
    fn put(
        &self,
        key: &str,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
}

pub trait FetchQueue: Send + Sync {
    /// Sends the messages (in batches); fails if any one was not accepted.
    fn send(
        &self,
        messages: &[FetchMessage],
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
}
