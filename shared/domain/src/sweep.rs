//! Work a job waits for, and when the sweeper sends it again: a document not stored, a signature's
//! details not recorded, a look-up not answered. Each piece of work is one item of the job that
//! says since when it has waited (`pending_since`), when a message for it was last sent or handled
//! (`active_at`) and how often the sweeper sent it again (`sweeps`). The sweeper reads only such
//! items (the adapter keeps them in a sparse index) and decides here.

use crate::ids::{DocumentId, MilestoneId, QuoteId, TaskId};
use crate::job::JobKey;
use crate::message::WorkMessage;
use crate::timestamp::Timestamp;

/// One piece of work a job waits for, as the sweeper reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingItem {
    pub job: JobKey,
    pub work: PendingWork,
    /// Since when the work has waited (the first time it was asked for; a sweep does not move it).
    pub pending_since: Timestamp,
    /// When a message for it was last sent, or the fetcher last took it up or gave it back.
    pub active_at: Timestamp,
    /// How often the sweeper has sent it again.
    pub sweeps: u32,
}

/// What is waited for, with what its message needs.
#[derive(Clone, Debug, PartialEq)]
pub enum PendingWork {
    /// A document to copy; `leased_until` (seconds since the epoch) while a fetcher holds it.
    Document {
        document: DocumentId,
        task: TaskId,
        quote: Option<QuoteId>,
        name: Option<String>,
        event_id: String,
        leased_until: Option<i64>,
    },
    /// A signature's details to read.
    Details { quote: QuoteId, version: i64, event_id: String },
    /// Which quote an original quote was signed as (a re-sign).
    SignedQuote { quote: QuoteId, milestone: Option<MilestoneId>, version: i64 },
    /// A site EverBright changed with no webhook: its signed quote and that quote's details.
    Site { version: i64, event_id: String },
}

impl PendingWork {
    /// The work's kind, for logs, metrics and the operator.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Document { .. } => "document",
            Self::Details { .. } => "details",
            Self::SignedQuote { .. } => "signed-quote",
            Self::Site { .. } => "site",
        }
    }
}

impl PendingItem {
    /// The message that asks for the work again.
    pub fn message(&self) -> WorkMessage {
        let (tenant, site) = (self.job.tenant.clone(), self.job.site);
        match &self.work {
            PendingWork::Document { document, task, quote, name, event_id, .. } => WorkMessage::FetchDocument {
                tenant,
                site,
                quote: *quote,
                task: *task,
                document: *document,
                name: name.clone(),
                event_id: event_id.clone(),
            },
            PendingWork::Details { quote, version, event_id } => WorkMessage::Enrich {
                tenant,
                site,
                quote: *quote,
                version: *version,
                event_id: event_id.clone(),
                force: false,
            },
            PendingWork::SignedQuote { quote, milestone, version } => WorkMessage::ResolveSignedQuote {
                tenant,
                site,
                quote: *quote,
                milestone: *milestone,
                version: *version,
            },
            PendingWork::Site { version, event_id } => {
                WorkMessage::ReadSite { tenant, site, version: *version, event_id: event_id.clone() }
            }
        }
    }
}

/// When the sweeper sends work again, and when it gives up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SweepPolicy {
    /// Work untouched this long is sent again (longer than the queue's visibility timeout, so a
    /// message still in the queue is never doubled). Each sweep doubles it for that item.
    pub after_seconds: i64,
    /// Sweeps per item; past them the item is given up and left for an operator.
    pub limit: u32,
}

impl SweepPolicy {
    /// The longest any item waits between sweeps: a day.
    const LONGEST_WAIT_SECONDS: i64 = 24 * 3600;

    /// How long after its last activity an item swept `sweeps` times is due again.
    pub fn wait_seconds(&self, sweeps: u32) -> i64 {
        let factor = 1_i64 << sweeps.min(20);
        self.after_seconds.saturating_mul(factor).min(Self::LONGEST_WAIT_SECONDS.max(self.after_seconds))
    }

    /// The latest `pending_since` an item may have to be due at `now` (its first sweep).
    pub fn cutoff(&self, now: Timestamp) -> Timestamp {
        now.plus_seconds(-self.after_seconds)
    }
}

/// What the sweeper does with one item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// A message or a fetcher may still be on it: left alone.
    InFlight,
    /// Sent again, as sweep number `sweep`.
    Requeue { sweep: u32 },
    /// Swept `limit` times already: marked for an operator, with the reason.
    GiveUp { reason: String },
}

/// What to do with `item` at `now`.
pub fn decide(item: &PendingItem, now: Timestamp, policy: &SweepPolicy) -> Decision {
    if let PendingWork::Document { leased_until: Some(until), .. } = item.work
        && until >= now.unix_seconds()
    {
        return Decision::InFlight;
    }
    if item.active_at > now.plus_seconds(-policy.wait_seconds(item.sweeps)) {
        return Decision::InFlight;
    }
    if item.sweeps >= policy.limit {
        return Decision::GiveUp {
            reason: format!(
                "{} pending since {}, sent again {} times without an answer",
                item.work.kind(),
                item.pending_since,
                item.sweeps
            ),
        };
    }
    Decision::Requeue { sweep: item.sweeps + 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_millis(1_700_000_000_000).plus_seconds(seconds)
    }

    fn item(active: i64, sweeps: u32, leased_until: Option<i64>) -> PendingItem {
        let id = "3f230ca4-b147-49ae-9187-8b64c7eea62c";
        PendingItem {
            job: JobKey::default_tenant("34b6b5ee-f997-4044-86ae-0abbf611fc4d".parse().unwrap()),
            work: PendingWork::Document {
                document: id.parse().unwrap(),
                task: id.parse().unwrap(),
                quote: None,
                name: Some("a.pdf".into()),
                event_id: "e1".into(),
                leased_until,
            },
            pending_since: at(0),
            active_at: at(active),
            sweeps,
        }
    }

    const POLICY: SweepPolicy = SweepPolicy { after_seconds: 1800, limit: 3 };

    #[test]
    fn work_untouched_past_its_wait_is_sent_again_and_each_sweep_doubles_the_wait() {
        assert_eq!(decide(&item(0, 0, None), at(1799), &POLICY), Decision::InFlight);
        assert_eq!(decide(&item(0, 0, None), at(1800), &POLICY), Decision::Requeue { sweep: 1 });
        assert_eq!(decide(&item(0, 1, None), at(3599), &POLICY), Decision::InFlight);
        assert_eq!(decide(&item(0, 1, None), at(3600), &POLICY), Decision::Requeue { sweep: 2 });
        assert_eq!(POLICY.wait_seconds(30), 24 * 3600, "never more than a day");
    }

    #[test]
    fn a_live_lease_is_in_flight_and_an_ended_one_is_not() {
        let now = at(10_000);
        assert_eq!(decide(&item(0, 0, Some(now.unix_seconds() + 5)), now, &POLICY), Decision::InFlight);
        assert_eq!(decide(&item(0, 0, Some(now.unix_seconds() - 5)), now, &POLICY), Decision::Requeue { sweep: 1 });
    }

    #[test]
    fn past_the_limit_the_item_is_given_up_with_a_reason_that_says_what_and_since_when() {
        let Decision::GiveUp { reason } = decide(&item(0, 3, None), at(100_000), &POLICY) else { panic!("given up") };
        assert!(reason.contains("document") && reason.contains("3 times") && reason.contains("2023-11-14"), "{reason}");
    }

    #[test]
    fn the_message_asks_for_the_same_work_again() {
        let swept = item(0, 0, None);
        let WorkMessage::FetchDocument { document, name, event_id, .. } = swept.message() else { panic!() };
        assert_eq!(
            (document.to_string().as_str(), name.as_deref(), event_id.as_str()),
            ("3f230ca4-b147-49ae-9187-8b64c7eea62c", Some("a.pdf"), "e1")
        );
        let site = PendingItem { work: PendingWork::Site { version: 7, event_id: "r".into() }, ..swept };
        assert!(matches!(site.message(), WorkMessage::ReadSite { version: 7, .. }));
    }
}
