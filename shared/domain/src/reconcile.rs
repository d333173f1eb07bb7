//! Reconciliation with EverBright: the data API's list of a tenant's sites with their last update,
//! read page by page in passes, each pass a window of time (`since`, `cut`], against the webhooks
//! received. A site EverBright changed in the window with no webhook received since that change is
//! *possibly missed* (EverBright changes a site for more than its webhooks tell: the word is
//! "possibly").
//!
//! What EverBright does not publish, and is assumed here (docs/reconciliation.md): the list takes
//! `metrics`, `limit` and `page` as the other data API options do, and has no filter by date (every
//! pass reads the whole list); a page shorter than `limit` is the last; `site_last_updated` is RFC
//! 3339, UTC when it carries no offset; the order of the rows does not change during a pass.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::dal;
use crate::ids::SiteId;
use crate::timestamp::Timestamp;

/// The metrics the list is asked for.
pub const SITE_LIST_METRICS: [&str; 2] = ["site_id", "site_last_updated"];

/// A webhook received this long before a site's last update still counts as its webhook: the two
/// times come from two clocks (EverBright's and Lambda's).
pub const CLOCK_SKEW_SECONDS: i64 = 60;

/// One site of the list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteChange {
    pub site: SiteId,
    pub last_updated: Timestamp,
}

/// One page of the list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SitePage {
    pub sites: Vec<SiteChange>,
    /// Rows without a site id or a time this version can read, said as such.
    pub unreadable: Vec<String>,
    /// Whether another page may follow (this one was full).
    pub more: bool,
}

/// Reads one page of the list (the answer's JSON, past [`dal::DataAnswer::json`]).
pub fn read_site_page(answer: &Value, limit: u32) -> Result<SitePage, String> {
    let page = dal::parse_page(answer)?;
    let mut read = SitePage { more: page.rows.len() >= limit as usize && limit > 0, ..SitePage::default() };
    for row in &page.rows {
        let site = row.get("site_id").and_then(Value::as_str).and_then(|s| s.parse().ok());
        let updated = row.get("site_last_updated").and_then(Value::as_str).and_then(parse_time);
        match (site, updated) {
            (Some(site), Some(last_updated)) => read.sites.push(SiteChange { site, last_updated }),
            _ => read.unreadable.push(format!(
                "a row with site_id {} and site_last_updated {}",
                row.get("site_id").unwrap_or(&Value::Null),
                row.get("site_last_updated").unwrap_or(&Value::Null)
            )),
        }
    }
    Ok(read)
}

/// RFC 3339; without an offset (`2024-05-01T10:00:00` or with a fraction), UTC.
fn parse_time(text: &str) -> Option<Timestamp> {
    text.parse().ok().or_else(|| format!("{text}Z").parse().ok())
}

/// Where a tenant's reconciliation stands: changes up to `since` are judged; a pass under way
/// judges (`since`, `cut`] and reads `next_page` next.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub since: Timestamp,
    pub pass: Option<Pass>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pass {
    pub cut: Timestamp,
    pub next_page: u32,
}

/// How far back and how late reconciliation looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReconcilePolicy {
    /// A change is judged only this long after it happened, so its webhook has had time to come.
    pub grace_seconds: i64,
    /// The first pass of a tenant looks back this far (older sites are the backfill's).
    pub first_lookback_seconds: i64,
}

impl ReconcilePolicy {
    /// The checkpoint to read from: the pass under way, or a new one up to `now` less the grace.
    /// A new pass starts the grace before the last one's cut, so a site the last pass could not
    /// see (the list's order moved under it) is seen again; one judged twice is found once.
    pub fn resume(&self, checkpoint: Option<&Checkpoint>, now: Timestamp) -> Checkpoint {
        match checkpoint {
            Some(checkpoint @ Checkpoint { pass: Some(_), .. }) => checkpoint.clone(),
            _ => {
                let cut = now.plus_seconds(-self.grace_seconds);
                let since = checkpoint.map_or(now.plus_seconds(-self.first_lookback_seconds), |c| {
                    c.since.plus_seconds(-self.grace_seconds)
                });
                Checkpoint { since: since.min(cut), pass: Some(Pass { cut, next_page: 1 }) }
            }
        }
    }
}

impl Checkpoint {
    /// The checkpoint once `page` is handled: the next page, or the pass done when it was the last.
    pub fn after_page(&self, page: &SitePage) -> Self {
        match &self.pass {
            Some(pass) if page.more => {
                Self { since: self.since, pass: Some(Pass { cut: pass.cut, next_page: pass.next_page + 1 }) }
            }
            Some(pass) => Self { since: pass.cut, pass: None },
            None => self.clone(),
        }
    }

    /// Whether `change` is one this pass judges.
    pub fn judges(&self, change: &SiteChange) -> bool {
        self.pass.as_ref().is_some_and(|pass| self.since < change.last_updated && change.last_updated <= pass.cut)
    }
}

/// Whether `change` came with no webhook: none received for the site, or the last one received
/// before the change (less the clocks' skew).
pub fn possibly_missed(change: &SiteChange, last_webhook: Option<Timestamp>) -> bool {
    last_webhook.is_none_or(|received| received < change.last_updated.plus_seconds(-CLOCK_SKEW_SECONDS))
}

/// The id a reconciliation's request carries (in place of a webhook's `event_id`).
pub fn request_id(source: &str, tenant: &str, change: &SiteChange) -> String {
    format!("{source}:{tenant}:{}:{}", change.site, change.last_updated.micros())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SITE: &str = "34b6b5ee-f997-4044-86ae-0abbf611fc4d";

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn a_page_reads_sites_and_their_times_and_names_the_rows_it_cannot_read() {
        let answer = json!({"data": [
            {"site_id": SITE, "site_last_updated": "2024-05-01T10:00:00.123456Z"},
            {"site_id": SITE, "site_last_updated": "2024-05-01T10:00:00"},
            {"site_id": SITE, "site_last_updated": "2024-05-01T12:00:00+02:00"},
            {"site_id": "not-a-site", "site_last_updated": "2024-05-01T10:00:00Z"},
            {"site_id": SITE},
        ]});
        let page = read_site_page(&answer, 5).unwrap();
        let times: Vec<String> = page.sites.iter().map(|s| s.last_updated.to_string()).collect();
        assert_eq!(
            times,
            ["2024-05-01T10:00:00.123456Z", "2024-05-01T10:00:00.000000Z", "2024-05-01T10:00:00.000000Z"]
        );
        assert_eq!(page.unreadable.len(), 2);
        assert!(page.unreadable[0].contains("not-a-site"), "{:?}", page.unreadable);
        assert!(page.more, "a full page asks for the next");
        assert!(!read_site_page(&answer, 6).unwrap().more);
        assert!(read_site_page(&json!({"messages": {}}), 5).is_err());
    }

    #[test]
    fn a_pass_judges_its_window_moves_page_by_page_and_ends_at_its_cut() {
        let policy = ReconcilePolicy { grace_seconds: 600, first_lookback_seconds: 86_400 };
        let now = at("2024-05-02T00:00:00Z");
        let first = policy.resume(None, now);
        assert_eq!(first.since, at("2024-05-01T00:00:00Z"));
        assert_eq!(first.pass, Some(Pass { cut: at("2024-05-01T23:50:00Z"), next_page: 1 }));
        let change = |t: &str| SiteChange { site: SITE.parse().unwrap(), last_updated: at(t) };
        assert!(first.judges(&change("2024-05-01T12:00:00Z")));
        assert!(!first.judges(&change("2024-05-01T23:55:00Z")), "inside the grace: the next pass's");
        assert!(!first.judges(&change("2024-04-30T12:00:00Z")), "before the first lookback: the backfill's");
        let full = SitePage { more: true, ..SitePage::default() };
        let second = first.after_page(&full);
        assert_eq!(second.pass.as_ref().map(|p| p.next_page), Some(2));
        assert_eq!(policy.resume(Some(&second), now), second, "a pass under way is resumed, not restarted");
        let done = second.after_page(&SitePage::default());
        assert_eq!(done, Checkpoint { since: at("2024-05-01T23:50:00Z"), pass: None });
        let next = policy.resume(Some(&done), at("2024-05-02T01:00:00Z"));
        assert_eq!(next.since, at("2024-05-01T23:40:00Z"), "the next pass overlaps the last by the grace");
    }

    #[test]
    fn a_change_is_possibly_missed_without_a_webhook_since_it() {
        let change = SiteChange { site: SITE.parse().unwrap(), last_updated: at("2024-05-01T10:00:00Z") };
        assert!(possibly_missed(&change, None));
        assert!(possibly_missed(&change, Some(at("2024-05-01T09:58:59Z"))));
        assert!(!possibly_missed(&change, Some(at("2024-05-01T09:59:30Z"))), "within the clocks' skew");
        assert!(!possibly_missed(&change, Some(at("2024-05-01T10:00:05Z"))));
    }
}
