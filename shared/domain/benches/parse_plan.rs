//! Parse + plan of each sample payload in `events/payloads/` (the malformed ones aside): the receiver's own CPU work per webhook, without I/O.
//! `cargo bench -p domain --bench parse_plan`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use domain::event::EventType;
use domain::job::{PlanContext, plan};
use domain::timestamp::Timestamp;

const SAMPLES: [(&str, EventType, &str); 6] = [
    (
        "contract-signed (seed 002)",
        EventType::ContractStatusChange,
        include_str!("../../../events/payloads/contract-signed.json"),
    ),
    (
        "contract-signed (Sighten host)",
        EventType::ContractStatusChange,
        include_str!("../../../events/payloads/contract-signed-sighten.json"),
    ),
    (
        "change-order-signed",
        EventType::ChangeOrderStatusChange,
        include_str!("../../../events/payloads/change-order-signed.json"),
    ),
    (
        "milestone-approved",
        EventType::MilestoneStatusChange,
        include_str!("../../../events/payloads/milestone-approved.json"),
    ),
    ("stage-transition", EventType::StageTransition, include_str!("../../../events/payloads/stage-transition.json")),
    ("site-archived", EventType::SiteArchived, include_str!("../../../events/payloads/site-archived.json")),
];

fn parse_and_plan(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse+plan");
    for (name, event, body) in SAMPLES {
        // What EverBright sends: compact JSON.
        let compact = serde_json::to_vec(&serde_json::from_str::<serde_json::Value>(body).unwrap()).unwrap();
        let cx =
            PlanContext { event, event_id: "bench", received_at: Timestamp::now(), fetch_milestone_documents: true };
        group.bench_function(name, |b| {
            b.iter(|| {
                let payload = event.parse(black_box(&compact)).unwrap();
                black_box(plan(&payload, &cx))
            });
        });
    }
    group.finish();
}

criterion_group!(benches, parse_and_plan);
criterion_main!(benches);
