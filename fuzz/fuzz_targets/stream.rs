//! The event publisher's reader and mapping on any stream event: `records` reads what it can and
//! says what it cannot; the mapping answers events or `Unmapped`; neither panics, and every event
//! fits one EventBridge entry.
#![no_main]

use domain::bus::{self, ItemChange, MAX_ENTRY_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let Ok(event) = serde_json::from_slice::<serde_json::Value>(body) else { return };
    let Ok(records) = event_publisher::records(&event) else { return };
    for record in records.into_iter().flatten() {
        let Some((job, item)) = &record.item else { continue };
        let change = ItemChange {
            job,
            item,
            old: record.old.as_ref(),
            new: record.new.as_ref(),
            committed_at: record.committed_at,
        };
        for event in bus::events(&change, None).unwrap_or_default() {
            assert!(event.detail_json().len() < MAX_ENTRY_BYTES);
        }
    }
});
