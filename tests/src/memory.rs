//! The receiver's ports in memory, with the same conditions as the DynamoDB adapter's writes, for
//! property tests that run thousands of cases (the adapter itself is tested on moto, and the
//! scenario checks the same property there).

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use serde_json::{Map, Value};
use shared::ids::SiteId;
use shared::job::{self, DeliveryState, Guard, PlannedDocument, Write};
use shared::message::FetchMessage;
use shared::ports::{Applied, Archive, BackendError, Claim, Delivery, DeliveryLedger, FetchQueue, JobStore};

type Items = BTreeMap<(String, String), Map<String, Value>>;

/// A table: items by partition and sort key, attributes as JSON.
#[derive(Default)]
pub struct MemoryStore {
    items: Mutex<Items>,
}

impl MemoryStore {
    /// Every item, by key.
    pub fn items(&self) -> Items {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Items> {
        self.items.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn item<'a>(items: &'a mut Items, pk: String, sk: &str) -> &'a mut Map<String, Value> {
        items
            .entry((pk.clone(), sk.to_owned()))
            .or_insert_with(|| Map::from_iter([("pk".to_owned(), Value::from(pk)), ("sk".to_owned(), Value::from(sk))]))
    }
}

/// A string attribute, `""` when missing.
fn text<'a>(item: &'a Map<String, Value>, name: &str) -> &'a str {
    item.get(name).and_then(Value::as_str).unwrap_or_default()
}

fn at_path<'a>(item: &'a Map<String, Value>, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    rest.iter().try_fold(item.get(first)?, |value, name| value.get(name))
}

/// Sets an attribute, except that the index key given null is removed (as the adapter does).
fn set_or_remove(item: &mut Map<String, Value>, name: &str, value: Value) {
    if value.is_null() && name == job::QUOTE_INDEX_KEYS[0] {
        item.remove(name);
    } else {
        item.insert(name.to_owned(), value);
    }
}

fn document_fields(item: &mut Map<String, Value>, site: SiteId, document: &PlannedDocument) {
    let text = |value: Option<String>| value.map_or(Value::Null, Value::from);
    item.insert("document".into(), document.id.to_string().into());
    item.insert("site".into(), site.to_string().into());
    item.insert("task".into(), document.task.to_string().into());
    set_or_remove(item, "quote", text(document.quote.map(|q| q.to_string())));
    item.insert("name".into(), text(document.name.clone()));
    item.insert("creation_type".into(), text(document.creation_type.clone()));
    item.insert("document_group".into(), text(document.document_group.clone()));
    if let Some(stale) = document.stale {
        let stored = item.get("stale").and_then(Value::as_bool).unwrap_or(false);
        item.insert("stale".into(), Value::Bool(stale || stored));
    }
}

impl DeliveryLedger for MemoryStore {
    async fn claim_delivery(&self, delivery: &Delivery) -> Result<Claim, BackendError> {
        let mut items = self.lock();
        let (pk, sk) = job::delivery_key(delivery.event, &delivery.body_sha256);
        let item = Self::item(&mut items, pk, sk);
        Ok(match item.get("state").and_then(Value::as_str) {
            Some(s) if s == DeliveryState::Done.as_str() => {
                Claim::Duplicate { first_event_id: text(item, "event_id").to_owned() }
            }
            Some(_) if text(item, "event_id") != delivery.event_id => Claim::InProgress,
            _ => {
                item.insert("state".into(), DeliveryState::Applying.as_str().into());
                item.insert("event_id".into(), delivery.event_id.clone().into());
                Claim::New
            }
        })
    }

    async fn finish_delivery(&self, delivery: &Delivery) -> Result<(), BackendError> {
        let (pk, sk) = job::delivery_key(delivery.event, &delivery.body_sha256);
        // Only under the delivery's own claim (as the adapter's condition).
        if let Some(item) = self.lock().get_mut(&(pk, sk.to_owned()))
            && text(item, "event_id") == delivery.event_id
        {
            item.insert("state".into(), DeliveryState::Done.as_str().into());
        }
        Ok(())
    }

    /// Only a claim of the delivery's own, still applying (as the adapter's condition).
    async fn release_delivery(&self, delivery: &Delivery) -> Result<(), BackendError> {
        let (pk, sk) = job::delivery_key(delivery.event, &delivery.body_sha256);
        let key = (pk, sk.to_owned());
        let mut items = self.lock();
        let own = items.get(&key).is_some_and(|item| {
            text(item, "state") == DeliveryState::Applying.as_str() && text(item, "event_id") == delivery.event_id
        });
        if own {
            items.remove(&key);
        }
        Ok(())
    }
}

impl JobStore for MemoryStore {
    /// Lands when the guard's path is missing or holds a version not newer (as the adapter's
    /// `attribute_not_exists(path) OR path <= version`).
    async fn apply(&self, site: SiteId, write: &Write) -> Result<Applied, BackendError> {
        let mut items = self.lock();
        let item = Self::item(&mut items, job::site_pk(site), &write.sk);
        let lands = match &write.guard {
            None => true,
            Some(Guard::Version { path, version }) => {
                at_path(item, path).and_then(Value::as_i64).is_none_or(|stored| stored <= *version)
            }
            Some(Guard::From { path, from }) => match (at_path(item, path), from) {
                (None, _) => true,
                (Some(stored), Some(from)) => stored.as_str() == Some(from.as_str()),
                (Some(_), None) => false,
            },
        };
        if !lands {
            return Ok(Applied::Stale);
        }
        for (name, value) in &write.set {
            set_or_remove(item, name, value.clone());
        }
        if let Some((name, members)) = &write.add_to_set {
            let mut set: Vec<Value> = item.get(name).and_then(Value::as_array).cloned().unwrap_or_default();
            for member in members {
                if !set.iter().any(|m| m == member.as_str()) {
                    set.push(member.clone().into());
                }
            }
            set.sort_by_key(ToString::to_string);
            item.insert(name.clone(), Value::Array(set));
        }
        Ok(Applied::Landed)
    }

    async fn record_document(&self, site: SiteId, document: &PlannedDocument) -> Result<(), BackendError> {
        let mut items = self.lock();
        let item = Self::item(&mut items, job::site_pk(site), &job::document_sk(document.id));
        document_fields(item, site, document);
        item.entry("status").or_insert_with(|| "RECORDED".into());
        Ok(())
    }

    /// Queues when the document is new, only recorded, or queued by this same body.
    async fn queue_document(
        &self,
        site: SiteId,
        document: &PlannedDocument,
        delivery: &Delivery,
    ) -> Result<bool, BackendError> {
        let mut items = self.lock();
        let item = Self::item(&mut items, job::site_pk(site), &job::document_sk(document.id));
        let queueable = match item.get("status").and_then(Value::as_str) {
            None | Some("RECORDED") => true,
            Some("QUEUED") => text(item, "queued_by") == delivery.body_sha256,
            Some(_) => false,
        };
        if queueable {
            document_fields(item, site, document);
            item.insert("status".into(), "QUEUED".into());
            item.insert("queued_by".into(), delivery.body_sha256.clone().into());
        }
        Ok(queueable)
    }
}

/// An archive that keeps nothing.
pub struct NoArchive;

impl Archive for NoArchive {
    async fn put(&self, _: &str, _: Vec<u8>) -> Result<(), BackendError> {
        Ok(())
    }
}

/// A queue that keeps every message.
#[derive(Default)]
pub struct MemoryQueue {
    pub messages: Mutex<Vec<FetchMessage>>,
}

impl FetchQueue for MemoryQueue {
    async fn send(&self, messages: &[FetchMessage]) -> Result<(), BackendError> {
        self.messages.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(messages);
        Ok(())
    }
}
