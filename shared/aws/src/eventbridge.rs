//! EventBridge: the installer's bus the publisher puts the job's events on.

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use domain::bus::{BusEvent, SOURCE};
use domain::ports::{BackendError, EventSink, MAX_EVENTS_PER_PUT};

/// A bus, by name or ARN.
#[derive(Clone, Debug)]
pub struct EventBridgeBus {
    client: Client,
    bus: String,
}

impl EventBridgeBus {
    pub fn new(client: Client, bus: impl Into<String>) -> Self {
        Self { client, bus: bus.into() }
    }
}

impl EventSink for EventBridgeBus {
    async fn put(&self, events: &[BusEvent]) -> Result<Vec<Option<String>>, BackendError> {
        debug_assert!(events.len() <= MAX_EVENTS_PER_PUT);
        let entries = events
            .iter()
            .map(|event| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus)
                    .source(SOURCE)
                    .detail_type(event.detail_type.name())
                    .detail(event.detail_json())
                    .build()
            })
            .collect();
        let output = self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| BackendError::new("EventBridge PutEvents", e))?;
        let results = output.entries();
        if results.len() != events.len() {
            let reason = format!("{} results for {} entries", results.len(), events.len());
            return Err(BackendError::new("EventBridge PutEvents", reason));
        }
        Ok(results
            .iter()
            .map(|result| {
                result.error_code().map(|code| format!("{code}: {}", result.error_message().unwrap_or_default()))
            })
            .collect())
    }
}
