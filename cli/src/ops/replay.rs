//! Replays: archived requests chosen by site, event or day, run again through the receiver's
//! own logic (or only planned, in a dry run).

use std::collections::BTreeMap;

use domain::error::chain;

use super::*;

/// How a replay runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayMode {
    /// A body already applied is a duplicate and changes nothing.
    Deduplicated,
    /// Applied again even if it was applied before.
    Forced,
    /// Nothing is written: each request says what it would do.
    DryRun { force: bool },
}

/// What became of each replayed request, and the counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Each request's key and outcome, in the order they were replayed.
    pub lines: Vec<(String, String)>,
    pub counts: BTreeMap<&'static str, usize>,
}

impl ReplayReport {
    fn add(&mut self, key: &str, kind: &'static str, detail: String) {
        *self.counts.entry(kind).or_default() += 1;
        self.lines.push((key.to_owned(), detail));
    }

    pub fn count(&self, kind: &str) -> usize {
        self.counts.get(kind).copied().unwrap_or_default()
    }

    /// The summary line.
    pub fn summary(&self) -> String {
        let counts: Vec<String> = self.counts.iter().map(|(kind, n)| format!("{n} {kind}")).collect();
        format!(
            "{} request(s): {}",
            self.lines.len(),
            if counts.is_empty() { "none".into() } else { counts.join(", ") }
        )
    }
}

impl Ops {
    /// The archived requests a selection names, oldest first.
    pub async fn select(&self, selection: &Selection) -> Result<Vec<(String, RawRequest)>, OpsError> {
        if let Some(key) = &selection.key {
            return Ok(vec![(key.clone(), self.archive.get(key).await?)]);
        }
        let prefix = selection.prefix.as_deref().unwrap_or("raw/");
        let day = |t: Option<Timestamp>| t.map(|t| t.to_datetime().date());
        let (first_day, last_day) = (day(selection.since), day(selection.until));
        let mut records = Vec::new();
        for key in self.archive.keys(prefix).await? {
            // The key holds the day (raw/<event>/<yyyy>/<mm>/<dd>/<id>.json): skip other days unread.
            if let Some(key_day) = day_of_key(&key)
                && (first_day.is_some_and(|first| key_day < first) || last_day.is_some_and(|last| key_day > last))
            {
                continue;
            }
            let raw = self.archive.get(&key).await?;
            let in_range = selection.since.is_none_or(|since| raw.received_at >= since)
                && selection.until.is_none_or(|until| raw.received_at <= until);
            let of_site = selection.site.is_none_or(|site| {
                self.receiver.planned(&raw).is_ok_and(|(_, plan)| plan.is_some_and(|plan| plan.site == site))
            });
            let of_tenant =
                selection.tenant.as_ref().is_none_or(|tenant| raw.caller.tenant_id().as_ref() == Ok(tenant));
            if in_range && of_site && of_tenant {
                records.push((key, raw));
            }
        }
        records.sort_by(|a, b| (a.1.received_at, &a.0).cmp(&(b.1.received_at, &b.0)));
        Ok(records)
    }

    /// Replays the records in order; `progress` hears of each one done.
    pub async fn replay(
        &self,
        records: &[(String, RawRequest)],
        mode: ReplayMode,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<ReplayReport, OpsError> {
        let mut report = ReplayReport::default();
        for (done, (key, raw)) in records.iter().enumerate() {
            match mode {
                ReplayMode::DryRun { force } => self.preview(key, raw, force, &mut report).await?,
                ReplayMode::Deduplicated | ReplayMode::Forced => {
                    let replay = if mode == ReplayMode::Forced { Replay::Forced } else { Replay::Deduplicated };
                    match self.receiver.replay(raw, replay).await {
                        Ok(accepted) if accepted.duplicate => {
                            report.add(key, "duplicate", "duplicate: applied before, nothing changed".into());
                        }
                        Ok(accepted) if accepted.unattributed => {
                            report.add(key, "unattributed", "unattributed: names no site, nothing changed".into());
                        }
                        Ok(accepted) => {
                            let kind = if accepted.stale { "stale" } else { "applied" };
                            let site = accepted.site.map(|site| site.to_string()).unwrap_or_default();
                            let detail = format!(
                                "{kind}: tenant {}, site {site}, {} document(s) queued",
                                accepted.tenant,
                                accepted.queued.len()
                            );
                            report.add(key, kind, detail);
                        }
                        Err(refusal) if refusal.status().is_server_error() => {
                            report.add(key, "failed", format!("failed: {}", chain(&refusal)));
                        }
                        Err(refusal) => {
                            report.add(key, "refused", format!("refused ({}): {refusal}", refusal.status()))
                        }
                    }
                }
            }
            progress(done + 1, records.len());
        }
        Ok(report)
    }

    /// What replaying `raw` would do: the receiver's own decision ([`Receiver::preview`]), read,
    /// not written.
    async fn preview(
        &self,
        key: &str,
        raw: &RawRequest,
        force: bool,
        report: &mut ReplayReport,
    ) -> Result<(), OpsError> {
        let mode = if force { Replay::Forced } else { Replay::Deduplicated };
        match self.receiver.preview(raw, mode).await {
            Err(refusal) if refusal.status().is_server_error() => {
                report.add(key, "failed", format!("failed: {}", chain(&refusal)));
            }
            Err(refusal) => {
                report.add(key, "refused", format!("would be refused ({}): {refusal}", refusal.status()));
            }
            Ok(Preview::Unattributed { event }) => {
                report.add(key, "unattributed", format!("would change nothing: this {event} names no site"));
            }
            Ok(Preview::Duplicate { event, job }) => {
                report.add(key, "duplicate", format!("would change nothing: {event} for {job} was applied before"));
            }
            Ok(Preview::WouldApply { event, job, plan }) => {
                let items: Vec<String> =
                    plan.changes.iter().flat_map(|change| DynamoJobStore::items_changed(&job, change)).collect();
                let fetch: Vec<String> = plan.documents.iter().filter(|d| d.fetch).map(|d| d.id.to_string()).collect();
                let detail = format!(
                    "would apply {event} to site {} for tenant {}: update {} (each unless newer state is stored); record {} document(s); queue {} for download unless already known{}",
                    job.site,
                    job.tenant,
                    items.join(", "),
                    plan.documents.len(),
                    if fetch.is_empty() { "none".to_owned() } else { fetch.join(", ") },
                    if plan.lookup.is_some() { "; look up the signed quote" } else { "" },
                );
                report.add(key, "would apply", detail);
            }
        }
        Ok(())
    }
}

/// The day in an archive key `raw/<event>/<yyyy>/<mm>/<dd>/<id>.json`.
fn day_of_key(key: &str) -> Option<time::Date> {
    let parts: Vec<&str> = key.split('/').collect();
    let [.., year, month, day, _] = parts.as_slice() else { return None };
    let month = time::Month::try_from(month.parse::<u8>().ok()?).ok()?;
    time::Date::from_calendar_date(year.parse().ok()?, month, day.parse().ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_day_is_read_from_an_archive_key() {
        let day = day_of_key("raw/contract-status-change/2026/11/02/ea12.json").unwrap();
        assert_eq!((day.year(), u8::from(day.month()), day.day()), (2026, 11, 2));
        assert_eq!(day_of_key("raw/x.json"), None);
        assert_eq!(day_of_key("raw/e/2026/13/02/x.json"), None);
    }
}
