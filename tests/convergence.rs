//! Convergence, as a property: any order and any duplication of a site's events leaves the job in
//! the state the events leave it in when delivered once each, in order. The events are the
//! reliability scenario's (a contract generated, sent, signed, sometimes voided and signed again;
//! a change order; a milestone; a stage transition; sometimes the site archived; sometimes a body
//! that is not JSON), run through the receiver's own logic after the archive (`Receiver::replay`)
//! on ports in memory that keep the job in its own words. The scenario checks the same on moto.
//!
//! `PROPTEST_CASES=10000 cargo test -p integration-tests --test convergence` runs more cases
//! (256 by default).

use std::collections::BTreeSet;
use std::path::PathBuf;

use aws::Clients;
use config::{AllowedPrincipals, AuthConfig};
use domain::message::WorkMessage;
use integration_tests::memory::{MemoryQueue, MemoryStore, NoArchive, State};
use integration_tests::scenario::{Event, generate};
use proptest::prelude::*;
use webhook_receiver::{Authenticator, Receiver, Refusal, Replay, Settings};

fn payloads() -> PathBuf {
    integration_tests::root().join("events/payloads")
}

/// One site's events, from `seed`.
fn site_events(seed: u64) -> Vec<Event> {
    generate(&payloads(), 1, 0, seed).events
}

/// A seed, and an order of its site's events: each at least once, some up to three times.
fn site_and_order() -> impl Strategy<Value = (u64, Vec<usize>)> {
    any::<u64>().prop_flat_map(|seed| {
        let n = site_events(seed).len();
        let order = prop::collection::vec(0..n, 0..2 * n).prop_flat_map(move |extra| {
            let mut all: Vec<usize> = (0..n).collect();
            all.extend(extra);
            Just(all).prop_shuffle()
        });
        (Just(seed), order)
    })
}

/// What the receiver leaves after `order`: the jobs and deliveries, and every document it queued.
fn deliver(events: &[Event], order: &[usize]) -> (State, BTreeSet<String>) {
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .build();
    let auth = AuthConfig::Iam(AllowedPrincipals::nobody());
    let settings = Settings {
        auth: Authenticator::from_config(&auth, &Clients::new(&sdk)),
        fetch_milestone_documents: true,
        dedupe: Default::default(),
    };
    let receiver = Receiver::new(settings, MemoryStore::default(), NoArchive, MemoryQueue::default())
        .with_metrics(domain::metrics::discard_sink());
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    for (position, &index) in order.iter().enumerate() {
        // Bad bodies are refused (400) and change nothing; everything else is accepted.
        let event = &events[index];
        let json = serde_json::from_slice::<serde_json::Value>(&event.body).is_ok();
        match runtime.block_on(receiver.replay(&event.raw(position), Replay::Deduplicated)) {
            Ok(_) => assert!(json, "{}: a body that is not JSON was accepted", event.slug),
            Err(Refusal::BadPayload(error)) => assert!(!json, "{}: a JSON body was refused: {error}", event.slug),
            Err(other) => panic!("{} (delivery {position}) was refused: {other}", event.slug),
        }
    }
    let (store, _, queue) = receiver.into_ports();
    let queued = queue
        .messages
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|message| match message {
            WorkMessage::FetchDocument { document, .. } => Some(document.to_string()),
            _ => None,
        })
        .collect();
    (store.state(), queued)
}

proptest! {
    #[test]
    fn any_order_and_duplication_of_a_sites_events_ends_in_the_state_of_the_events_in_order(
        (seed, order) in site_and_order()
    ) {
        let events = site_events(seed);
        let in_order: Vec<usize> = (0..events.len()).collect();
        let (expected, expected_queued) = deliver(&events, &in_order);
        prop_assert!(!expected.jobs.is_empty(), "the events in order make a job");
        prop_assert!(!expected_queued.is_empty(), "the events in order queue the signed documents");
        let (actual, actual_queued) = deliver(&events, &order);
        prop_assert_eq!(expected.without_volatile(), actual.without_volatile());
        prop_assert_eq!(expected_queued, actual_queued, "the same documents are queued for download");
    }
}
