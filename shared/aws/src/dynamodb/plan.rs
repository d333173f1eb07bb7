//! A plan's writes in as few calls as DynamoDB allows: every part ([`PartUpdate`]) grouped by
//! item, the parts of one item (the summary `JOB`'s site, parts and stage) in one update with
//! their conditions joined, and every item in one `TransactWriteItems`.
//!
//! A transaction lands whole or not at all. When conditions refuse it (an older event: some part
//! holds newer state), `CancellationReasons` says which items refused: an item of one part is
//! that part refused; the parts of an item of several are written one by one, to learn which of
//! them is stale; the rest go again in a second transaction, without the refused ones. A plan told
//! apart by its chain (a stage transition) is written part by part after a refusal, its primary
//! change first, as [`apply_each`] does. A transaction cancelled for another reason (a conflict
//! with another transaction, throttling), a plan of more than 100 items, and a DynamoDB that has
//! no transactions (dynalite) get one update per item instead: the same expressions, one call
//! each. Whatever the path, the job and the answer are the ones [`apply_each`] gives.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use futures_util::future::try_join_all;
use tracing::{info, warn};

use super::expression::{Clauses, Expression};
use super::jobs::PartUpdate;
use super::{DynamoJobStore, s, schema};
use domain::job::{Identity, JobKey, Plan};
use domain::ports::{BackendError, Delivery, PlanApplied, apply_each};

/// The most items one `TransactWriteItems` may write.
const MAX_TRANSACTION_ITEMS: usize = 100;
/// Transactions tried for one plan before the rest is written one update per item.
const MAX_TRANSACTIONS: usize = 3;
const OPERATION: &str = "DynamoDB TransactWriteItems (job)";

/// What a part is to the plan's outcome.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A change's item update; `primary` on the first update of the plan's primary change.
    Change {
        primary: bool,
    },
    /// The plan's document at this index.
    Document(usize),
    /// The enrichment and look-up requests: written only if the event is not stale.
    Enrichment,
    Lookup,
}

impl Role {
    fn is_request(self) -> bool {
        matches!(self, Self::Enrichment | Self::Lookup)
    }
}

/// What one item's update did.
#[derive(Clone, Copy)]
enum Outcome {
    Landed,
    Refused,
    /// Not written: the transaction it was in was refused for another item.
    NotTried,
}

/// One item's update, built from one or more parts.
struct Built {
    sk: String,
    expr: Expression,
    update: String,
    condition: Option<String>,
}

/// The update of the item the `parts` write (all of one item); `None` when two of them set the
/// same attribute, which one update cannot do.
fn build(job: &JobKey, parts: &[&PartUpdate<'_>]) -> Option<Built> {
    let (mut expr, mut all) = (Expression::default(), Clauses::default());
    let mut conditions = Vec::new();
    let mut touched = HashSet::new();
    for part in parts {
        let mut clauses = Clauses::default();
        conditions.extend(part.build(job, &mut expr, &mut clauses));
        let attributes: HashSet<String> = [&clauses.set, &clauses.remove, &clauses.add]
            .into_iter()
            .flatten()
            .filter_map(|clause| clause.split(['.', ' ']).next().map(str::to_owned))
            .collect();
        if !touched.is_disjoint(&attributes) {
            return None;
        }
        touched.extend(attributes);
        all.set.extend(clauses.set);
        all.remove.extend(clauses.remove);
        all.add.extend(clauses.add);
    }
    let condition = match conditions.as_slice() {
        [] => None,
        [one] => Some(one.clone()),
        many => Some(many.iter().map(|c| format!("({c})")).collect::<Vec<_>>().join(" AND ")),
    };
    let sk = parts.first()?.sk();
    Some(Built { sk, expr, update: all.expression(), condition })
}

/// The parts at `indices`.
fn of<'p, 'a>(parts: &'p [(Role, PartUpdate<'a>)], indices: &[usize]) -> Vec<&'p PartUpdate<'a>> {
    indices.iter().map(|&i| &parts[i].1).collect()
}

/// The indices of `todo` grouped by the item they write, in the order of their first part.
fn groups(parts: &[(Role, PartUpdate<'_>)], todo: &[usize]) -> Vec<Vec<usize>> {
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for &index in todo {
        let sk = parts[index].1.sk();
        match groups.iter_mut().find(|(key, _)| *key == sk) {
            Some((_, group)) => group.push(index),
            None => groups.push((sk, vec![index])),
        }
    }
    groups.into_iter().map(|(_, group)| group).collect()
}

/// What a transaction did.
enum Sent {
    Landed,
    /// Conditions refused it: for each item, whether it was one that refused.
    Refused(Vec<bool>),
    /// Cancelled for another reason, or not known to this DynamoDB: nothing was written.
    Elsewise(String),
}

impl DynamoJobStore {
    /// [`domain::ports::JobStore::apply_plan`] on DynamoDB (see the module's comment).
    pub(super) async fn apply_plan_in_few_calls(
        &self,
        job: &JobKey,
        plan: &Plan,
        delivery: &Delivery,
    ) -> Result<PlanApplied, BackendError> {
        let chain = plan.identity == Identity::Chain;
        let parts = parts(job, plan, delivery);
        let items = groups(&parts, &(0..parts.len()).collect::<Vec<_>>()).len();
        let mut transactions = !self.no_transactions.load(Ordering::Relaxed) && items <= MAX_TRANSACTION_ITEMS;
        if chain && !transactions {
            return apply_each(self, job, plan, delivery).await;
        }

        // Some(true): landed; Some(false): refused; None: not written yet.
        let mut decided: Vec<Option<bool>> = vec![None; parts.len()];
        let primary = parts.iter().position(|(role, _)| *role == Role::Change { primary: true });
        for round in 0.. {
            let stale = primary.and_then(|p| decided[p]).map(|landed| !landed);
            let transaction = transactions && round < MAX_TRANSACTIONS;
            for (index, (role, _)) in parts.iter().enumerate() {
                if role.is_request() && stale == Some(true) {
                    decided[index].get_or_insert(false);
                }
            }
            // Without a transaction, a request waits a round for the primary change's outcome.
            let held = |role: Role| role.is_request() && !transaction && stale.is_none();
            let todo: Vec<usize> = (0..parts.len()).filter(|&i| decided[i].is_none() && !held(parts[i].0)).collect();
            if todo.is_empty() {
                break;
            }
            let groups = groups(&parts, &todo);
            let built: Option<Vec<Built>> = groups.iter().map(|group| build(job, &of(&parts, group))).collect();
            let Some(built) = built else {
                // Two parts of one item set the same attribute. Nothing is written before the
                // first round, and a later one writes fewer parts of the same items.
                if round == 0 {
                    return apply_each(self, job, plan, delivery).await;
                }
                return Err(BackendError::new(OPERATION, "two parts of one item set the same attribute"));
            };
            let outcomes: Vec<Outcome> = if transaction {
                match self.transact(job, built).await? {
                    Sent::Landed => vec![Outcome::Landed; groups.len()],
                    Sent::Refused(_) | Sent::Elsewise(_) if chain => {
                        return apply_each(self, job, plan, delivery).await;
                    }
                    Sent::Refused(refused) => {
                        let count = refused.iter().filter(|r| **r).count();
                        info!(
                            items = groups.len(),
                            refused = count,
                            "conditions refused the job's transaction (newer state is stored): writing it again without the refused parts"
                        );
                        refused.into_iter().map(|r| if r { Outcome::Refused } else { Outcome::NotTried }).collect()
                    }
                    Sent::Elsewise(reason) => {
                        warn!(reason, "the job's transaction was not written: writing one update per item");
                        transactions = false;
                        continue;
                    }
                }
            } else {
                let landed = try_join_all(built.into_iter().map(|built| self.write_built(job, built))).await?;
                landed.into_iter().map(|landed| if landed { Outcome::Landed } else { Outcome::Refused }).collect()
            };
            let mut one_by_one = Vec::new();
            for (group, outcome) in groups.iter().zip(outcomes) {
                match (outcome, group.as_slice()) {
                    (Outcome::Landed, _) => group.iter().for_each(|&i| decided[i] = Some(true)),
                    (Outcome::NotTried, _) => {}
                    (Outcome::Refused, [one]) => decided[*one] = Some(false),
                    // Which of the item's parts refused: each is written alone.
                    (Outcome::Refused, several) => one_by_one.extend_from_slice(several),
                }
            }
            let landed = try_join_all(one_by_one.iter().map(|&i| self.write_part(job, &parts[i].1))).await?;
            for (&index, landed) in one_by_one.iter().zip(landed) {
                decided[index] = Some(landed);
            }
        }
        Ok(outcome(plan, &parts, &decided, primary))
    }

    /// One item's update in one `UpdateItem`: `false` when its condition refused it.
    async fn write_built(&self, job: &JobKey, built: Built) -> Result<bool, BackendError> {
        let Built { sk, expr, update, condition } = built;
        self.write_job_item("DynamoDB UpdateItem (job)", (job, &sk), expr, update, condition).await
    }

    /// Every item's update in one `TransactWriteItems`.
    async fn transact(&self, job: &JobKey, built: Vec<Built>) -> Result<Sent, BackendError> {
        let count = built.len();
        let items = built
            .into_iter()
            .map(|Built { sk, expr, update, condition }| {
                let update = Update::builder()
                    .table_name(&self.table)
                    .key("pk", s(schema::job_pk(job)))
                    .key("sk", s(sk))
                    .update_expression(update)
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(Some(expr.names))
                    .set_expression_attribute_values(Some(expr.values))
                    .build()?;
                Ok(TransactWriteItem::builder().update(update).build())
            })
            .collect::<Result<Vec<_>, aws_sdk_dynamodb::error::BuildError>>()
            .map_err(|e| BackendError::new(OPERATION, e))?;
        let error = match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => return Ok(Sent::Landed),
            Err(error) => error,
        };
        match error.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                let codes: Vec<&str> =
                    cancelled.cancellation_reasons().iter().map(|reason| reason.code().unwrap_or("None")).collect();
                let refused: Vec<bool> = codes.iter().map(|code| *code == "ConditionalCheckFailed").collect();
                let only_conditions = codes.iter().all(|code| matches!(*code, "None" | "ConditionalCheckFailed"));
                Ok(if codes.len() == count && only_conditions && refused.contains(&true) {
                    Sent::Refused(refused)
                } else {
                    Sent::Elsewise(format!("cancelled: {}", codes.join(", ")))
                })
            }
            Some(other) if other.code() == Some("UnknownOperationException") => {
                self.no_transactions.store(true, Ordering::Relaxed);
                Ok(Sent::Elsewise("this DynamoDB has no transactions".to_owned()))
            }
            _ => Err(BackendError::new(OPERATION, error)),
        }
    }
}

/// Every part of `plan`, with what it is to the outcome.
fn parts<'a>(job: &JobKey, plan: &'a Plan, delivery: &'a Delivery) -> Vec<(Role, PartUpdate<'a>)> {
    let mut parts = Vec::new();
    for (index, change) in plan.changes.iter().enumerate() {
        for (position, part) in PartUpdate::of_change(job, change).into_iter().enumerate() {
            parts.push((Role::Change { primary: index == plan.primary && position == 0 }, part));
        }
    }
    for (index, document) in plan.documents.iter().enumerate() {
        let part = if document.fetch { PartUpdate::Queue(document, delivery) } else { PartUpdate::Record(document) };
        parts.push((Role::Document(index), part));
    }
    parts.extend(plan.enrichment.as_ref().map(|e| (Role::Enrichment, PartUpdate::enrichment(e, delivery))));
    parts.extend(plan.lookup.as_ref().map(|l| (Role::Lookup, PartUpdate::lookup(l, delivery))));
    parts
}

/// What the writes decided means for the plan.
fn outcome(
    plan: &Plan,
    parts: &[(Role, PartUpdate<'_>)],
    decided: &[Option<bool>],
    primary: Option<usize>,
) -> PlanApplied {
    let landed = |role: Role| parts.iter().zip(decided).any(|((r, _), d)| *r == role && *d == Some(true));
    let queued = plan.documents.iter().enumerate().filter(|(d, document)| document.fetch && landed(Role::Document(*d)));
    PlanApplied {
        stale: primary.is_some_and(|p| decided[p] == Some(false)),
        queued: queued.map(|(_, document)| document.id).collect(),
        enrichment: landed(Role::Enrichment),
        lookup: landed(Role::Lookup),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value, json};

    use super::*;
    use domain::job::{Change, Part};

    fn summary(part: Part, version: i64) -> Change {
        let Value::Object(value) = json!({ "status": "SIGN" }) else { unreachable!() };
        Change::Summary { part, version, value }
    }

    fn job() -> JobKey {
        JobKey::default_tenant("34b6b5ee-f997-4044-86ae-0abbf611fc4d".parse().unwrap())
    }

    #[test]
    fn parts_of_one_item_share_one_update_with_their_conditions_joined() {
        let job = job();
        let (contract, current) = (summary(Part::Contract, 7), summary(Part::CurrentQuote, 8));
        let parts: Vec<PartUpdate<'_>> = [&contract, &current, &Change::Job { quotes: Vec::new() }]
            .into_iter()
            .flat_map(|change| PartUpdate::of_change(&job, change))
            .collect();
        let built = build(&job, &parts.iter().collect::<Vec<_>>()).expect("no attribute set twice");
        assert_eq!(built.sk, schema::JOB);
        let condition = built.condition.expect("the summary's parts are guarded");
        assert_eq!(condition.matches(" AND ").count(), 1, "{condition}");
        assert!(condition.starts_with('(') && condition.ends_with(')'), "{condition}");
        let names: Vec<&String> = built.expr.names.values().collect();
        for name in ["contract", "current_quote", "site", "tenant", "version"] {
            assert!(names.iter().any(|n| n.as_str() == name), "{name} in {names:?}");
        }
        assert!(built.update.starts_with("SET "), "{}", built.update);
    }

    #[test]
    fn two_parts_setting_the_same_attribute_cannot_share_an_update() {
        let job = job();
        let (older, newer) = (summary(Part::Contract, 7), summary(Part::Contract, 9));
        let parts: Vec<PartUpdate<'_>> =
            [&older, &newer].into_iter().flat_map(|change| PartUpdate::of_change(&job, change)).collect();
        assert!(build(&job, &parts.iter().collect::<Vec<_>>()).is_none());
    }

    #[test]
    fn parts_are_grouped_by_item_in_the_order_of_their_first_part() {
        let job = job();
        let task = Change::Task {
            task: "fb04303e-da8f-413a-b9fc-b91dedf10707".parse().unwrap(),
            version: 7,
            fields: Map::new(),
        };
        let changes = [summary(Part::Contract, 7), task, summary(Part::LastEvent, 9)];
        let parts: Vec<(Role, PartUpdate<'_>)> = changes
            .iter()
            .flat_map(|change| PartUpdate::of_change(&job, change))
            .map(|part| (Role::Change { primary: false }, part))
            .collect();
        assert_eq!(groups(&parts, &[0, 1, 2]), vec![vec![0, 2], vec![1]]);
        assert_eq!(groups(&parts, &[1, 2]), vec![vec![1], vec![2]]);
    }
}
