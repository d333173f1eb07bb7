//! The sweep on ports in memory with a clock of the test's: what is sent again, when, how often,
//! and once however many sweeps run at once. The adapter's own tests run on moto and dynalite
//! (`tests/sweeper.rs`).

use std::sync::{Arc, Mutex};

use domain::job::JobKey;
use domain::message::WorkMessage;
use domain::metrics::MetricsSink;
use domain::ports::{BackendError, PendingLedger, PendingRead, WorkQueue};
use domain::sweep::{Decision, PendingItem, PendingWork, SweepPolicy};
use domain::timestamp::{Clock, Timestamp};

use super::Sweeper;

/// Pending items, marked as the adapter marks them: only when still as read.
#[derive(Clone, Default)]
struct Ledger {
    items: Arc<Mutex<Vec<(PendingItem, bool)>>>,
}

impl PendingLedger for Ledger {
    async fn pending(&self, cutoff: Timestamp, limit: usize) -> Result<PendingRead, BackendError> {
        let items = self.items.lock().unwrap();
        let waiting: Vec<PendingItem> = items
            .iter()
            .filter(|(item, gave_up)| !gave_up && item.pending_since <= cutoff)
            .map(|(i, _)| i.clone())
            .collect();
        Ok(PendingRead {
            items_read: waiting.len(),
            items: waiting.into_iter().take(limit).collect(),
            unreadable: vec![],
        })
    }

    async fn sweep(&self, read: &PendingItem, decision: &Decision, now: Timestamp) -> Result<bool, BackendError> {
        tokio::task::yield_now().await;
        let mut items = self.items.lock().unwrap();
        let Some((item, gave_up)) = items.iter_mut().find(|(item, _)| item.work == read.work) else { return Ok(false) };
        if *gave_up || item.sweeps != read.sweeps || item.active_at != read.active_at {
            return Ok(false);
        }
        match decision {
            Decision::Requeue { sweep } => (item.sweeps, item.active_at) = (*sweep, now),
            Decision::GiveUp { .. } => *gave_up = true,
            Decision::InFlight => return Ok(false),
        }
        Ok(true)
    }
}

#[derive(Clone, Default)]
struct Queue(Arc<Mutex<Vec<WorkMessage>>>);

impl WorkQueue for Queue {
    async fn send(&self, messages: &[WorkMessage]) -> Result<(), BackendError> {
        self.0.lock().unwrap().extend_from_slice(messages);
        Ok(())
    }
}

const ID: &str = "3f230ca4-b147-49ae-9187-8b64c7eea62c";

fn start() -> Timestamp {
    "2024-05-01T00:00:00Z".parse().unwrap()
}

fn stalled(leased_until: Option<i64>) -> PendingItem {
    PendingItem {
        job: JobKey::default_tenant("34b6b5ee-f997-4044-86ae-0abbf611fc4d".parse().unwrap()),
        work: PendingWork::Document {
            document: ID.parse().unwrap(),
            task: ID.parse().unwrap(),
            quote: None,
            name: None,
            event_id: "e1".into(),
            leased_until,
        },
        pending_since: start(),
        active_at: start(),
        sweeps: 0,
    }
}

/// A sweeper over `ledger` and `queue` whose clock reads `now` (seconds after the start).
fn sweeper(
    ledger: &Ledger,
    queue: &Queue,
    now: &Arc<Mutex<i64>>,
    lines: &Arc<Mutex<Vec<String>>>,
) -> Sweeper<Ledger, Queue> {
    let now = Arc::clone(now);
    let lines = Arc::clone(lines);
    let sink: MetricsSink = Arc::new(move |line| lines.lock().unwrap().push(line));
    Sweeper::new(ledger.clone(), queue.clone(), SweepPolicy { after_seconds: 1800, limit: 2 }, 100)
        .with_clock(Clock::new(move || start().plus_seconds(*now.lock().unwrap())))
        .with_metrics(sink)
}

#[tokio::test]
async fn a_stalled_document_is_sent_once_per_sweep_further_apart_then_given_up() {
    let (ledger, queue) = (Ledger::default(), Queue::default());
    ledger.items.lock().unwrap().push((stalled(None), false));
    let (now, lines) = (Arc::new(Mutex::new(0)), Arc::new(Mutex::new(Vec::new())));
    let sweeper = sweeper(&ledger, &queue, &now, &lines);
    let mut sent = Vec::new();
    for minutes in [10, 30, 45, 89, 90, 200, 209, 210, 400] {
        *now.lock().unwrap() = minutes * 60;
        let swept = sweeper.sweep().await.unwrap();
        sent.push((minutes, swept.requeued, swept.given_up));
    }
    // Due at 30 minutes, then 60 after that sweep (90), then given up 120 after it (210).
    assert_eq!(
        sent,
        [
            (10, 0, 0),
            (30, 1, 0),
            (45, 0, 0),
            (89, 0, 0),
            (90, 1, 0),
            (200, 0, 0),
            (209, 0, 0),
            (210, 0, 1),
            (400, 0, 0)
        ]
    );
    let messages = queue.0.lock().unwrap();
    assert_eq!(messages.len(), 2);
    assert!(matches!(&messages[0], WorkMessage::FetchDocument { document, .. } if document.to_string() == ID));
    let line: serde_json::Value = serde_json::from_str(&lines.lock().unwrap()[7]).unwrap();
    assert_eq!((line["GivenUp"].as_f64(), line["OldestPendingSeconds"].as_f64()), (Some(1.0), Some(12_600.0)));
}

#[tokio::test]
async fn a_document_under_a_live_lease_is_left_alone_and_taken_once_the_lease_ends() {
    let (ledger, queue) = (Ledger::default(), Queue::default());
    let lease_end = start().plus_seconds(3600).unix_seconds();
    ledger.items.lock().unwrap().push((stalled(Some(lease_end)), false));
    let (now, lines) = (Arc::new(Mutex::new(1800)), Arc::new(Mutex::new(Vec::new())));
    let sweeper = sweeper(&ledger, &queue, &now, &lines);
    assert_eq!(sweeper.sweep().await.unwrap().in_flight, 1);
    *now.lock().unwrap() = 3601;
    assert_eq!(sweeper.sweep().await.unwrap().requeued, 1);
}

#[tokio::test]
async fn sweeps_at_once_send_each_item_once() {
    let (ledger, queue) = (Ledger::default(), Queue::default());
    ledger.items.lock().unwrap().push((stalled(None), false));
    let (now, lines) = (Arc::new(Mutex::new(1800)), Arc::new(Mutex::new(Vec::new())));
    let (a, b) = (sweeper(&ledger, &queue, &now, &lines), sweeper(&ledger, &queue, &now, &lines));
    let (first, second) = tokio::join!(a.sweep(), b.sweep());
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(first.requeued + second.requeued, 1, "{first:?} {second:?}");
    assert_eq!(first.raced + second.raced, 1);
    assert_eq!(queue.0.lock().unwrap().len(), 1);
}
