//! The sweeper: on a schedule, the work jobs have waited for too long (a document not stored,
//! details not recorded, a look-up or a site read not answered) is sent again to the work queue,
//! each item at most [`SweepPolicy::limit`] times, further apart each time; past that it is left
//! for an operator (`everbright-sync attention`) and counted.
//!
//! It reads only what is pending (the table's sparse `pending` index, oldest first), never what a
//! message or a fetcher may still be on ([`domain::sweep::decide`]), and each item it sends again
//! is first marked swept with a condition on the item as it read it, so two sweeps at once send it
//! once. A sweep stopped between the mark and the send leaves the item active: the next sweep
//! after its wait sends it.

use futures_util::{StreamExt, stream};
use lambda_runtime::{Error, LambdaEvent};
use serde::Serialize;
use serde_json::Value;
use tracing::{info, warn};

use aws::{Clients, DynamoJobStore, SqsWorkQueue};
use config::SweeperConfig;
use domain::metrics::{Emf, MetricsSink, function_name, stdout_sink};
use domain::ports::{BackendError, PendingLedger, WorkQueue};
use domain::sweep::{Decision, SweepPolicy, decide};
use domain::timestamp::Clock;

/// Conditional marks in flight at once.
const MARKS_IN_FLIGHT: usize = 16;

/// What one sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Swept {
    /// Pending items past their first wait.
    pub pending: usize,
    /// Items the index read to find them.
    pub items_read: usize,
    pub in_flight: usize,
    pub requeued: usize,
    pub given_up: usize,
    /// Items another sweep or a fetcher changed between the read and the mark: left to them.
    pub raced: usize,
    pub unreadable: usize,
    pub oldest_pending_seconds: i64,
}

pub struct Sweeper<L = DynamoJobStore, Q = SqsWorkQueue> {
    ledger: L,
    queue: Q,
    policy: SweepPolicy,
    max_items: usize,
    clock: Clock,
    metrics: MetricsSink,
    function: String,
}

impl Sweeper {
    pub async fn from_env() -> Result<Self, Error> {
        let config = SweeperConfig::from_env()?;
        Ok(Self::on_aws(&config, &Clients::new(&aws::load_sdk_config().await)))
    }

    pub fn on_aws(config: &SweeperConfig, clients: &Clients) -> Self {
        let ledger = DynamoJobStore::new(clients.dynamodb.clone(), &config.jobs_table);
        let queue = SqsWorkQueue::new(clients.sqs().clone(), &config.fetch_queue_url);
        let policy = SweepPolicy { after_seconds: config.after_minutes * 60, limit: config.limit };
        Self::new(ledger, queue, policy, config.max_items)
    }
}

impl<L: PendingLedger, Q: WorkQueue> Sweeper<L, Q> {
    pub fn new(ledger: L, queue: Q, policy: SweepPolicy, max_items: usize) -> Self {
        Self {
            ledger,
            queue,
            policy,
            max_items,
            clock: Clock::system(),
            metrics: stdout_sink(),
            function: function_name("sweeper"),
        }
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn with_metrics(mut self, metrics: MetricsSink) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn ports(&self) -> (&L, &Q) {
        (&self.ledger, &self.queue)
    }

    /// One invocation, as the schedule calls it (its event says nothing the sweep needs).
    pub async fn handle(&self, _: LambdaEvent<Value>) -> Result<Swept, Error> {
        Ok(self.sweep().await?)
    }

    /// One sweep: read what is pending, decide, mark, send; one metric line.
    pub async fn sweep(&self) -> Result<Swept, BackendError> {
        let now = self.clock.now();
        let read = self.ledger.pending(self.policy.cutoff(now), self.max_items).await?;
        for reason in &read.unreadable {
            warn!(reason, "a pending item this version cannot send again; left for an operator");
        }
        let mut swept = Swept {
            pending: read.items.len(),
            items_read: read.items_read,
            unreadable: read.unreadable.len(),
            oldest_pending_seconds: read
                .items
                .iter()
                .map(|item| (now.micros() - item.pending_since.micros()) / 1_000_000)
                .max()
                .unwrap_or_default(),
            ..Swept::default()
        };
        let marks = stream::iter(&read.items)
            .map(|item| async move {
                let decision = decide(item, now, &self.policy);
                let marked = match decision {
                    Decision::InFlight => Ok(false),
                    _ => self.ledger.sweep(item, &decision, now).await,
                };
                (item, decision, marked)
            })
            .buffered(MARKS_IN_FLIGHT)
            .collect::<Vec<_>>()
            .await;
        let mut messages = Vec::new();
        for (item, decision, marked) in marks {
            let (kind, site) = (item.work.kind(), item.job.site);
            match (decision, marked?) {
                (Decision::InFlight, _) => swept.in_flight += 1,
                (_, false) => swept.raced += 1,
                (Decision::Requeue { sweep }, true) => {
                    info!(kind, site = %site, tenant = %item.job.tenant, sweep, "sent again");
                    messages.push(item.message());
                    swept.requeued += 1;
                }
                (Decision::GiveUp { reason }, true) => {
                    warn!(kind, site = %site, tenant = %item.job.tenant, reason, "given up: left for an operator");
                    swept.given_up += 1;
                }
            }
        }
        if !messages.is_empty() {
            self.queue.send(&messages).await?;
        }
        self.emit(&swept, now);
        Ok(swept)
    }

    fn emit(&self, swept: &Swept, now: domain::timestamp::Timestamp) {
        let mut emf = Emf::new(&self.function);
        emf.count("Pending", swept.pending)
            .count("ItemsRead", swept.items_read)
            .count("InFlight", swept.in_flight)
            .count("Requeued", swept.requeued)
            .count("GivenUp", swept.given_up)
            .count("Unreadable", swept.unreadable)
            .metric("OldestPendingSeconds", domain::metrics::Unit::Seconds, swept.oldest_pending_seconds as f64);
        (self.metrics)(emf.to_line(now));
    }
}

#[cfg(test)]
mod tests;
