//! The event publisher's reader and mapping on any stream event: `records` reads what it can and
//! says what it cannot; the mapping answers events or `Unmapped`; neither panics, and every event
//! fits one EventBridge entry.
#![no_main]

use domain::bus::{self, MAX_ENTRY_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let Ok(event) = serde_json::from_slice::<serde_json::Value>(body) else { return };
    let Ok(records) = event_publisher::records(&event) else { return };
    for record in records.into_iter().flatten() {
        let Some(change) = record.change() else { continue };
        for event in bus::events(&change, None).unwrap_or_default() {
            assert!(event.detail_json().len() < MAX_ENTRY_BYTES);
        }
    }
});
