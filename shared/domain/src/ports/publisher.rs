//! The event publisher's ports: the bus it puts events on, the log of what it published, and
//! where it notes what it could not publish.

use std::future::Future;

use super::BackendError;
use crate::bus::{BusEvent, PublishFailure};

/// EventBridge takes at most ten entries in one `PutEvents`.
pub const MAX_EVENTS_PER_PUT: usize = 10;

/// The installer's event bus.
pub trait EventSink: Send + Sync {
    /// Puts at most [`MAX_EVENTS_PER_PUT`] events; answers, for each in order, `None` when the bus
    /// took it or why it did not (a partial failure). `Err` when the call itself failed.
    fn put(&self, events: &[BusEvent]) -> impl Future<Output = Result<Vec<Option<String>>, BackendError>> + Send;
}

/// What was published, per job, for the operator's `published` (kept for a while, then expired).
pub trait PublicationLog: Send + Sync {
    fn record(&self, events: &[BusEvent]) -> impl Future<Output = Result<(), BackendError>> + Send;
}

/// Where the publisher notes the sites whose changes it could not publish, before it gives a
/// batch back: a stream's records are gone after 24 hours, and the event source mapping's
/// on-failure record names only the shard and sequence numbers.
pub trait FailureNotes: Send + Sync {
    fn note(&self, failure: &PublishFailure) -> impl Future<Output = Result<(), BackendError>> + Send;
}
