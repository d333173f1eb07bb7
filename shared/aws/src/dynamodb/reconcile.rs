//! Reconciliation's and backfill's items: a tenant's checkpoints (`TENANT#<tenant>`, `RECONCILE`
//! and `BACKFILL`), the last webhook of many jobs at once, what was found (on the job, and as a
//! `MISSED#` item in the operator's list), and a site read asked for (`LOOKUP#site`) and answered.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::KeysAndAttributes;
use serde_json::json;

use super::expression::{Clauses, Expression};
use super::schema;
use super::{DynamoJobStore, Item, n, pending, s, to_attribute};
use domain::ids::{QuoteId, SiteId};
use domain::job::JobKey;
use domain::ports::{BackendError, ReconcileLedger};
use domain::reconcile::{Checkpoint, Pass, SiteChange};
use domain::tenant::TenantId;
use domain::timestamp::Timestamp;

/// How long a finding stays in the operator's list.
pub const MISSED_KEEP_DAYS: i64 = 90;
/// DynamoDB's most keys in one `BatchGetItem`.
const BATCH_GET_KEYS: usize = 100;

fn text(item: &Item, name: &str) -> Option<String> {
    item.get(name)?.as_s().ok().cloned()
}

impl ReconcileLedger for DynamoJobStore {
    async fn checkpoint(&self, tenant: &TenantId) -> Result<Option<Checkpoint>, BackendError> {
        let (pk, sk) = (schema::tenant_pk(tenant), schema::RECONCILE_CHECKPOINT.to_owned());
        let Some(item) = self.read(pk, sk, "DynamoDB GetItem (checkpoint)").await? else { return Ok(None) };
        let time = |name| text(&item, name).and_then(|t| t.parse::<Timestamp>().ok());
        let Some(since) = time("since") else { return Ok(None) };
        let page = item.get("next_page").and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok());
        let pass = time("cut").zip(page).map(|(cut, next_page)| Pass { cut, next_page });
        Ok(Some(Checkpoint { since, pass }))
    }

    async fn save_checkpoint(
        &self,
        tenant: &TenantId,
        expected: Option<&Checkpoint>,
        next: &Checkpoint,
        error: Option<&str>,
    ) -> Result<bool, BackendError> {
        let mut expr = Expression::default();
        let mut clauses = Clauses::default();
        let (since, cut, page) = (expr.name("since"), expr.name("cut"), expr.name("next_page"));
        clauses.set.push(format!("{since} = {}", expr.value(s(next.since.to_string()))));
        match &next.pass {
            Some(pass) => {
                clauses.set.push(format!("{cut} = {}", expr.value(s(pass.cut.to_string()))));
                clauses.set.push(format!("{page} = {}", expr.value(n(i64::from(pass.next_page)))));
            }
            None => clauses.remove.extend([cut.clone(), page.clone()]),
        }
        clauses.set.push(format!("{} = {}", expr.name("updated_at"), expr.value(s(Timestamp::now().to_string()))));
        match error {
            Some(error) => clauses.set.push(format!("{} = {}", expr.name("last_error"), expr.value(s(error)))),
            None => clauses.remove.push(expr.name("last_error")),
        }
        let condition = match expected {
            None => format!("attribute_not_exists({since})"),
            Some(expected) => {
                let mut condition = format!("{since} = {}", expr.value(s(expected.since.to_string())));
                match &expected.pass {
                    Some(pass) => condition.push_str(&format!(
                        " AND {cut} = {} AND {page} = {}",
                        expr.value(s(pass.cut.to_string())),
                        expr.value(n(i64::from(pass.next_page)))
                    )),
                    None => condition.push_str(&format!(" AND attribute_not_exists({cut})")),
                }
                condition
            }
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(schema::tenant_pk(tenant)))
            .key("sk", s(schema::RECONCILE_CHECKPOINT))
            .update_expression(clauses.expression())
            .condition_expression(condition)
            .set_expression_attribute_names(Some(expr.names))
            .set_expression_attribute_values(Some(expr.values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) if super::conditional_failed(&error) => Ok(false),
            Err(error) => Err(BackendError::new("DynamoDB UpdateItem (checkpoint)", error)),
        }
    }

    /// One `GetItem` per site, in turn: the sites judged in a pass are the few changed in its
    /// window; a `BatchGetItem` added 34 KB to the fetcher's zipped bootstrap, over its 6 MB
    /// bound (docs/performance.md).
    async fn last_webhooks(
        &self,
        tenant: &TenantId,
        sites: &[SiteId],
    ) -> Result<HashMap<SiteId, Timestamp>, BackendError> {
        let mut found = HashMap::new();
        for site in sites {
            let job = JobKey::new(tenant.clone(), *site);
            let output = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("pk", s(schema::job_pk(&job)))
                .key("sk", s(schema::JOB))
                .projection_expression("last_event")
                .send()
                .await
                .map_err(|e| BackendError::new("DynamoDB GetItem (last webhook)", e))?;
            let at = output.item.as_ref().and_then(|item| text(item.get("last_event")?.as_m().ok()?, "at"));
            if let Some(at) = at.and_then(|at| at.parse().ok()) {
                found.insert(*site, at);
            }
        }
        Ok(found)
    }

    async fn record_missed(
        &self,
        job: &JobKey,
        change: &SiteChange,
        last_webhook: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<bool, BackendError> {
        let request = domain::reconcile::request_id("reconcile", job.tenant.as_str(), change);
        self.request_site_read(job, change.last_updated.micros(), &request, now).await?;
        let finding = json!({
            "site": job.site.to_string(),
            "tenant": job.tenant.as_str(),
            "last_updated": change.last_updated.to_string(),
            "last_webhook": last_webhook.map(|t| t.to_string()),
            "found_at": now.to_string(),
        });
        // An update, not a put: the fetcher's bootstrap carries no PutItem.
        let mut expr = Expression::default();
        let mut clauses = Clauses::default();
        let serde_json::Value::Object(fields) = &finding else { unreachable!("an object") };
        for (name, value) in fields {
            clauses.set.push(format!("{} = {}", expr.name(name), expr.value(to_attribute(value))));
        }
        for (name, value) in [("pending", s(schema::MISSED)), ("pending_since", s(now.to_string()))] {
            clauses.set.push(format!("{} = {}", expr.name(name), expr.value(value)));
        }
        let expires = n(now.plus_seconds(MISSED_KEEP_DAYS * 86_400).unix_seconds());
        clauses.set.push(format!("{} = {}", expr.name(schema::TTL_ATTRIBUTE), expr.value(expires)));
        let sk = schema::missed_sk(&change.last_updated.to_string());
        self.write_job_item("DynamoDB UpdateItem (finding)", (job, &sk), expr, clauses.expression(), None).await?;
        // On the job last: it says "found", so a run stopped before it finds the change again.
        let mut expr = Expression::default();
        let missed = expr.name("missed");
        let update = format!(
            "SET {} = {}, {} = {}, {missed} = {}",
            expr.name(schema::TENANT_ATTRIBUTE),
            expr.value(s(job.tenant.as_str())),
            expr.name("site"),
            expr.value(s(job.site.to_string())),
            expr.value(to_attribute(&finding)),
        );
        let last = format!("{missed}.{}", expr.name("last_updated"));
        let condition =
            format!("attribute_not_exists({missed}) OR {last} < {}", expr.value(s(change.last_updated.to_string())));
        self.write_job_item("DynamoDB UpdateItem (missed)", (job, schema::JOB), expr, update, Some(condition)).await
    }

    async fn request_site_read(
        &self,
        job: &JobKey,
        version: i64,
        request: &str,
        now: Timestamp,
    ) -> Result<bool, BackendError> {
        let mut expr = Expression::default();
        let mut clauses = Clauses::default();
        let version_name = expr.name("version");
        let version = expr.value(n(version));
        clauses.set.push(format!("{version_name} = {version}"));
        for (name, value) in
            [("event_id", request.to_owned()), ("site", job.site.to_string()), ("requested_at", now.to_string())]
        {
            clauses.set.push(format!("{} = {}", expr.name(name), expr.value(s(value))));
        }
        pending::start_waiting(&mut expr, &mut clauses, now);
        let condition = format!("attribute_not_exists({version_name}) OR {version_name} < {version}");
        let operation = "DynamoDB UpdateItem (site read)";
        self.write_job_item(operation, (job, schema::SITE_READ), expr, clauses.expression(), Some(condition)).await
    }

    async fn site_read_asked(&self, job: &JobKey, version: i64) -> Result<bool, BackendError> {
        let (pk, sk) = (schema::job_pk(job), schema::SITE_READ.to_owned());
        let item = self.read(pk, sk, "DynamoDB GetItem (site read)").await?;
        let asked = item.as_ref().and_then(|item| item.get("version")?.as_n().ok()?.parse::<i64>().ok());
        Ok(asked.is_some_and(|asked| asked >= version))
    }

    async fn record_site_read(
        &self,
        job: &JobKey,
        version: i64,
        signed: Option<QuoteId>,
        now: Timestamp,
    ) -> Result<(), BackendError> {
        self.answer_request(job, schema::SITE_READ, version, signed, now).await
    }

    async fn record_site_read_error(&self, job: &JobKey, reason: &str, now: Timestamp) -> Result<(), BackendError> {
        self.touch_request(job, schema::SITE_READ, reason, now).await
    }
}

impl DynamoJobStore {
    /// The summaries (`JOB`) of `sites`' jobs that exist, `projection` of each, in batches of a
    /// hundred keys; what DynamoDB leaves unprocessed is asked again a few times.
    async fn job_summaries(
        &self,
        tenant: &TenantId,
        sites: &[SiteId],
        projection: &str,
    ) -> Result<Vec<Item>, BackendError> {
        const OPERATION: &str = "DynamoDB BatchGetItem (jobs)";
        let mut found = Vec::new();
        for chunk in sites.chunks(BATCH_GET_KEYS) {
            let keys = chunk.iter().map(|site| {
                let pk = schema::job_pk(&JobKey::new(tenant.clone(), *site));
                HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(schema::JOB))])
            });
            let mut request = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys.collect()))
                    .projection_expression(projection)
                    .build()
                    .map_err(|e| BackendError::new(OPERATION, e))?,
            );
            for attempt in 0..5 {
                let Some(keys) = request.take() else { break };
                if attempt > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
                }
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, keys)
                    .send()
                    .await
                    .map_err(|e| BackendError::new(OPERATION, e))?;
                found.extend(output.responses().and_then(|r| r.get(&self.table)).into_iter().flatten().cloned());
                request = output.unprocessed_keys.and_then(|mut left| left.remove(&self.table));
            }
            if request.is_some() {
                return Err(BackendError::new(OPERATION, "keys were left unprocessed after 5 attempts"));
            }
        }
        Ok(found)
    }

    /// Of `sites`, those whose job has no stored document (or no job at all).
    pub async fn without_documents(&self, tenant: &TenantId, sites: &[SiteId]) -> Result<Vec<SiteId>, BackendError> {
        let items = self.job_summaries(tenant, sites, "pk, documents_stored").await?;
        let stored: Vec<SiteId> = items
            .iter()
            .filter(|item| item.get("documents_stored").and_then(|n| n.as_n().ok()).is_some_and(|n| n != "0"))
            .filter_map(|item| Some(schema::job_of_pk(&text(item, "pk")?)?.site))
            .collect();
        Ok(sites.iter().copied().filter(|site| !stored.contains(site)).collect())
    }

    /// Creates the job of `job` unless it exists (a backfill's import): `true` when it created it.
    pub async fn create_job(&self, job: &JobKey, source: &str, now: Timestamp) -> Result<bool, BackendError> {
        let mut expr = Expression::default();
        let update = format!(
            "SET {} = {}, {} = {}, {} = {}, {} = {}",
            expr.name(schema::TENANT_ATTRIBUTE),
            expr.value(s(job.tenant.as_str())),
            expr.name("site"),
            expr.value(s(job.site.to_string())),
            expr.name("created_by"),
            expr.value(s(source)),
            expr.name("created_at"),
            expr.value(s(now.to_string())),
        );
        let condition = format!("attribute_not_exists({})", expr.name("pk"));
        self.write_job_item("DynamoDB UpdateItem (create job)", (job, schema::JOB), expr, update, Some(condition)).await
    }

    /// The page a tenant's backfill reads next (1 when it never ran or finished).
    pub async fn backfill_page(&self, tenant: &TenantId) -> Result<u32, BackendError> {
        let (pk, sk) = (schema::tenant_pk(tenant), schema::BACKFILL_CHECKPOINT.to_owned());
        let item = self.read(pk, sk, "DynamoDB GetItem (backfill)").await?;
        let page = item.as_ref().and_then(|item| item.get("next_page")?.as_n().ok()?.parse().ok());
        Ok(page.unwrap_or(1))
    }

    /// Where the backfill stands: `next_page`, or done (back to 1 for the next run).
    pub async fn save_backfill(&self, tenant: &TenantId, next_page: Option<u32>) -> Result<(), BackendError> {
        let mut item = HashMap::from([
            ("pk".to_owned(), s(schema::tenant_pk(tenant))),
            ("sk".to_owned(), s(schema::BACKFILL_CHECKPOINT)),
            ("updated_at".to_owned(), s(Timestamp::now().to_string())),
        ]);
        match next_page {
            Some(page) => item.insert("next_page".into(), n(i64::from(page))),
            None => item.insert("finished_at".into(), s(Timestamp::now().to_string())),
        };
        self.put(item, "DynamoDB PutItem (backfill)").await
    }

    /// One item written whole, unconditionally.
    async fn put(&self, item: Item, operation: &'static str) -> Result<(), BackendError> {
        let put = self.client.put_item().table_name(&self.table).set_item(Some(item));
        put.send().await.map_err(|e| BackendError::new(operation, e)).map(drop)
    }
}
