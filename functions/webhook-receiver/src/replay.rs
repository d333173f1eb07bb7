//! Archived requests run again through the receiver's logic after the archive: a replay
//! ([`Receiver::replay`]), what one would do without writing ([`Receiver::preview`], the dry
//! run), and the plan alone ([`Receiver::planned`], to choose requests by site).

use domain::archive::RawRequest;
use domain::event::EventType;
use domain::job::{JobKey, Plan};
use domain::ports::{Archive, DeliveryLedger, JobStore, WorkQueue};
use domain::timestamp::Timestamp;
use sha2::{Digest, Sha256};

use crate::{Accepted, Decided, Delivered, Receiver, Refusal, route};

/// How a replay treats a body that was applied before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replay {
    /// As a live request: a duplicate changes nothing.
    Deduplicated,
    /// Applied again, whatever the delivery's record says.
    Forced,
}

/// What a replay of an archived request would do ([`Receiver::preview`]).
#[derive(Debug)]
pub enum Preview {
    /// It names no site: nothing would change.
    Unattributed { event: EventType },
    /// The delivery is remembered as applied: nothing would change.
    Duplicate { event: EventType, job: JobKey },
    /// It would apply `plan` to `job` (each write unless newer state is stored).
    WouldApply { event: EventType, job: JobKey, plan: Plan },
}

/// The body of an archived request.
fn raw_body(raw: &RawRequest) -> Result<Vec<u8>, Refusal> {
    raw.body().map_err(|e| Refusal::BadArchive(format!("its body is not base64: {e}")))
}

/// The method of an archived request.
fn raw_method(raw: &RawRequest) -> Result<lambda_http::http::Method, Refusal> {
    raw.method.parse().map_err(|_| Refusal::BadArchive(format!("its method {:?} is not an HTTP method", raw.method)))
}

impl<'a> Delivered<'a> {
    /// An archived request as the logic after the archive takes it: its recorded tenant (a
    /// record made before tenants is the default's; one naming no valid tenant is refused) and
    /// the SHA-256 it was received with (an older record without one is hashed again).
    fn archived(raw: &RawRequest, body: &'a [u8]) -> Result<Self, Refusal> {
        Ok(Self {
            tenant: raw.caller.tenant_id().map_err(Refusal::BadArchive)?,
            route: route(&raw_method(raw)?, &raw.path),
            content_type: raw.header("content-type").map(str::to_owned),
            body,
            body_sha256: if raw.body_sha256.is_empty() {
                hex::encode(Sha256::digest(body))
            } else {
                raw.body_sha256.clone()
            },
            event_id: raw.event_id.clone(),
            received_at: raw.received_at,
        })
    }
}

impl<S: DeliveryLedger + JobStore, A: Archive, Q: WorkQueue> Receiver<S, A, Q> {
    /// Re-runs an archived request through the same logic as a live one, after the archive (the
    /// signature was checked when it came in). With [`Replay::Deduplicated`] a body already
    /// applied is a duplicate; [`Replay::Forced`] applies it again (the ordering guards still
    /// keep newer state) and leaves the delivery's record as it is.
    pub async fn replay(&self, raw: &RawRequest, mode: Replay) -> Result<Accepted, Refusal> {
        let body = raw_body(raw)?;
        self.settle(Delivered::archived(raw, &body)?, Timestamp::now(), mode).await
    }

    /// What replaying an archived request would do now, without writing: the same decisions as
    /// [`Self::replay`] (its tenant, its identity from the archived SHA-256, the organization
    /// rule, whether the delivery is remembered as applied), read, not claimed.
    pub async fn preview(&self, raw: &RawRequest, mode: Replay) -> Result<Preview, Refusal> {
        let body = raw_body(raw)?;
        let now = Timestamp::now();
        let Decided { event, plan, delivery, remember_until } = self.decide(Delivered::archived(raw, &body)?, now)?;
        let Some(plan) = plan else { return Ok(Preview::Unattributed { event }) };
        let job = JobKey::new(delivery.tenant.clone(), plan.site);
        let deduplicated = mode == Replay::Deduplicated && remember_until.is_some();
        if deduplicated && self.store.was_applied(&delivery).await.map_err(Refusal::NotApplied)? {
            return Ok(Preview::Duplicate { event, job });
        }
        Ok(Preview::WouldApply { event, job, plan })
    }

    /// The event and plan of an archived request, its body checked and parsed (`None`: it names
    /// no site); for choosing requests by site.
    pub fn planned(&self, raw: &RawRequest) -> Result<(EventType, Option<Plan>), Refusal> {
        let content_type = raw.header("content-type");
        self.plan(route(&raw_method(raw)?, &raw.path), content_type, &raw_body(raw)?, (&raw.event_id, raw.received_at))
    }
}
