//! The payload parser and the planner on any body, as every event: no panic, no unbounded
//! allocation, and every document key it plans is a safe S3 key.
#![no_main]

use domain::event::EventType;
use domain::job::{self, PlanContext};
use domain::timestamp::Timestamp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    for event in EventType::ALL {
        let Ok(payload) = event.parse(body) else { continue };
        let cx = PlanContext {
            event,
            event_id: "fuzz",
            received_at: Timestamp::from_millis(1_700_000_000_000),
            fetch_milestone_documents: true,
        };
        let Some(plan) = job::plan(&payload, &cx) else { continue };
        for document in &plan.documents {
            let key = job::document_key(
                &job::JobKey::default_tenant(plan.site),
                document.quote,
                document.id,
                document.name.as_deref(),
            );
            let segments: Vec<&str> = key.split('/').collect();
            assert_eq!(segments.len(), 5, "{key:?}");
            assert!(segments.iter().all(|s| !s.is_empty() && *s != "." && *s != ".."), "{key:?}");
            assert!(!key.chars().any(char::is_control) && !key.contains('\\'), "{key:?}");
            assert!(key.len() <= 400, "{} bytes", key.len());
        }
    }
});
