//! The receiver's delivery ledger: one `EVENT#<event>#<sha256>` item per delivery (and tenant),
//! claimed before a delivery is applied, marked done after, released when applying it failed.

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;

use super::expression::Expression;
use super::schema;
use super::{DynamoJobStore, conditional_failed, n, s, string_attribute};
use domain::job::DeliveryState;
use domain::ports::{BackendError, Claim, Delivery, DeliveryLedger};

/// How long a claimed delivery is reserved for the request applying it: well over the
/// receiver's timeout, so that only a request that died leaves its claim to expire.
const CLAIM_LEASE_SECONDS: i64 = 60;

const APPLYING: &str = DeliveryState::Applying.as_str();
const DONE: &str = DeliveryState::Done.as_str();

impl DeliveryLedger for DynamoJobStore {
    async fn was_applied(&self, delivery: &Delivery) -> Result<bool, BackendError> {
        let (pk, sk) = schema::delivery_key(&delivery.tenant, delivery.event, &delivery.body_sha256);
        let item = self.read(pk, sk.to_owned(), "DynamoDB GetItem (delivery)").await?;
        let done = string_attribute(item.as_ref(), "state").as_deref() == Some(DONE);
        // A record past its expiry counts as gone, as in the claim.
        let expires = item.as_ref().and_then(|item| item.get(schema::TTL_ATTRIBUTE)?.as_n().ok()?.parse::<i64>().ok());
        Ok(done && expires.is_none_or(|expires| expires >= delivery.now.unix_seconds()))
    }

    async fn claim_delivery(&self, delivery: &Delivery) -> Result<Claim, BackendError> {
        let (pk, sk) = schema::delivery_key(&delivery.tenant, delivery.event, &delivery.body_sha256);
        let now = delivery.now.unix_seconds();
        let mut expr = Expression::default();
        let (pk_name, state, lease_until, expires) =
            (expr.name("pk"), expr.name("state"), expr.name("lease_until"), expr.name(schema::TTL_ATTRIBUTE));
        let (applying, now_value) = (expr.value(s(APPLYING)), expr.value(n(now)));
        // A record past its expiry counts as gone: DynamoDB's TTL deletes it only later.
        let condition = format!(
            "attribute_not_exists({pk_name}) OR ({state} = {applying} AND {lease_until} < {now_value}) \
             OR {expires} < {now_value}"
        );
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(pk))
            .item("sk", s(sk))
            .item("state", s(APPLYING))
            .item("event_id", s(&delivery.event_id))
            .item("event", s(delivery.event.slug()))
            .item("claimed_at", s(delivery.now.to_string()))
            .item("lease_until", n(now + CLAIM_LEASE_SECONDS))
            .item(schema::TTL_ATTRIBUTE, n(delivery.remember_until.unix_seconds()))
            .condition_expression(condition)
            .set_expression_attribute_names(Some(expr.names))
            .set_expression_attribute_values(Some(expr.values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::New),
            Err(error) if conditional_failed(&error) => {
                let returned = match error.as_service_error() {
                    Some(PutItemError::ConditionalCheckFailedException(e)) => e.item(),
                    _ => None,
                };
                let (pk, sk) = schema::delivery_key(&delivery.tenant, delivery.event, &delivery.body_sha256);
                let item = self.item_behind(returned, pk, sk.to_owned(), "DynamoDB GetItem (claimed delivery)").await?;
                let field = |name| string_attribute(item.as_ref(), name);
                Ok(match field("state").as_deref() {
                    Some(DONE) => Claim::Duplicate { first_event_id: field("event_id").unwrap_or_default() },
                    // Our own claim: an earlier attempt of this request landed but its answer
                    // was lost, and the SDK sent it again.
                    Some(APPLYING) if field("event_id").as_deref() == Some(delivery.event_id.as_str()) => Claim::New,
                    _ => Claim::InProgress,
                })
            }
            Err(error) => Err(BackendError::new("DynamoDB PutItem (claim delivery)", error)),
        }
    }

    async fn finish_delivery(&self, delivery: &Delivery) -> Result<(), BackendError> {
        let (pk, sk) = schema::delivery_key(&delivery.tenant, delivery.event, &delivery.body_sha256);
        let mut expr = Expression::default();
        let update = format!(
            "SET {} = {}, {} = {} REMOVE {}",
            expr.name("state"),
            expr.value(s(DONE)),
            expr.name("done_at"),
            expr.value(s(delivery.now.to_string())),
            expr.name("lease_until")
        );
        // Only our own claim: an attempt that lands late, after the claim was released, must not
        // leave a record (without its expiry) behind.
        let condition = format!("{} = {}", expr.name("event_id"), expr.value(s(&delivery.event_id)));
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(expr.names))
            .set_expression_attribute_values(Some(expr.values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Our lease ran out and another delivery of the same body holds it: it applies the
            // same plan, and finishes it.
            Err(error) if conditional_failed(&error) => Ok(()),
            Err(error) => Err(BackendError::new("DynamoDB UpdateItem (finish delivery)", error)),
        }
    }

    async fn release_delivery(&self, delivery: &Delivery) -> Result<(), BackendError> {
        let (pk, sk) = schema::delivery_key(&delivery.tenant, delivery.event, &delivery.body_sha256);
        let mut expr = Expression::default();
        let condition = format!(
            "{} = {} AND {} = {}",
            expr.name("state"),
            expr.value(s(APPLYING)),
            expr.name("event_id"),
            expr.value(s(&delivery.event_id))
        );
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .condition_expression(condition)
            .set_expression_attribute_names(Some(expr.names))
            .set_expression_attribute_values(Some(expr.values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) if conditional_failed(&error) => Ok(()),
            Err(error) => Err(BackendError::new("DynamoDB DeleteItem (release delivery)", error)),
        }
    }
}
