//! The contract rules from EverBright's pages, as functions of a task.
//!
//! - The sub-task to read is the one with `category: DOCUMENT` (a task has at most one), not the
//!   first one.
//! - The contract is executed when that sub-task's `document_status` is `SIGN`.
//! - The documents to fetch are that sub-task's documents with `creation_type: UPLOADED`.
//! - The signing date is the `date_signed` of that sub-task's completed envelope, else the time the
//!   webhook was received.

use crate::payload::{Category, CreationType, Document, DocumentStatus, EnvelopeStatus, SubTask, Task};
use crate::timestamp::Timestamp;

impl SubTask {
    pub(crate) fn is_document(&self) -> bool {
        self.category == Some(Category::Document)
    }

    pub fn documents(&self) -> &[Document] {
        self.data.as_ref().map_or(&[], |data| &data.documents)
    }

    /// A DOCUMENT sub-task whose envelope is signed.
    pub(crate) fn is_signed_document(&self) -> bool {
        self.is_document() && self.document_status == Some(DocumentStatus::Signed)
    }

    /// The documents uploaded to this sub-task: for a contract, the signed copies.
    pub(crate) fn uploaded_documents(&self) -> impl Iterator<Item = &Document> {
        self.documents().iter().filter(|document| document.creation_type == Some(CreationType::Uploaded))
    }

    /// The latest `date_signed` among the completed envelopes.
    pub fn date_signed(&self) -> Option<Timestamp> {
        self.data
            .as_ref()?
            .envelopes
            .iter()
            .filter(|envelope| envelope.status == Some(EnvelopeStatus::Complete))
            .filter_map(|envelope| envelope.date_signed)
            .max()
    }

    /// The latest instant this sub-task shows: envelopes sent, signed or voided, documents created.
    fn last_activity(&self) -> Option<Timestamp> {
        let data = self.data.as_ref()?;
        let envelopes =
            data.envelopes.iter().flat_map(|envelope| [envelope.date_sent, envelope.date_signed, envelope.date_voided]);
        let documents = data.documents.iter().map(|document| document.date_created);
        envelopes.chain(documents).flatten().max()
    }
}

impl Task {
    /// The sub-task with `category: DOCUMENT`.
    pub(crate) fn document_sub_task(&self) -> Option<&SubTask> {
        self.sub_tasks.iter().find(|sub_task| sub_task.is_document())
    }

    pub fn document_status(&self) -> Option<&DocumentStatus> {
        self.document_sub_task()?.document_status.as_ref()
    }

    /// Fully executed: every party has signed.
    pub(crate) fn is_executed(&self) -> bool {
        self.document_status() == Some(&DocumentStatus::Signed)
    }

    /// The documents to copy into S3: the DOCUMENT sub-task's uploaded documents, once executed.
    pub(crate) fn documents_to_fetch(&self) -> impl Iterator<Item = &Document> {
        self.document_sub_task().filter(|_| self.is_executed()).into_iter().flat_map(SubTask::uploaded_documents)
    }

    /// Signed, after an envelope of it was voided: a re-sign, perhaps of another quote.
    pub(crate) fn is_signed_again_after_a_void(&self) -> bool {
        let voided = |sub_task: &SubTask| {
            sub_task.data.as_ref().is_some_and(|data| {
                data.envelopes.iter().any(|envelope| envelope.status == Some(EnvelopeStatus::Voided))
            })
        };
        self.is_executed() && self.document_sub_task().is_some_and(voided)
    }

    /// The signed copies: the uploaded documents of the DOCUMENT sub-task that belong to its
    /// completed (`COMP`) envelope (same `document_group`), once executed. A voided envelope's
    /// documents never are.
    pub fn signed_copies(&self) -> impl Iterator<Item = &Document> {
        let sub_task = self.document_sub_task().filter(|_| self.is_executed());
        let completed: Vec<&str> = sub_task
            .and_then(|sub_task| sub_task.data.as_ref())
            .map(|data| &data.envelopes[..])
            .unwrap_or_default()
            .iter()
            .filter(|envelope| envelope.status == Some(EnvelopeStatus::Complete))
            .filter_map(|envelope| envelope.document_group.as_deref())
            .collect();
        sub_task
            .into_iter()
            .flat_map(SubTask::uploaded_documents)
            .filter(move |document| document.document_group.as_deref().is_some_and(|group| completed.contains(&group)))
    }

    /// When the contract was signed, if it is executed: the completed envelope's `date_signed`,
    /// else `received_at` (EverBright's advice when the envelope does not say).
    pub fn signed_at(&self, received_at: Timestamp) -> Option<Timestamp> {
        if !self.is_executed() {
            return None;
        }
        Some(self.document_sub_task().and_then(SubTask::date_signed).unwrap_or(received_at))
    }

    /// The latest instant the task shows. EverBright does not always move `date_updated` when a
    /// contract is sent or signed (the signed sample's `date_updated` is weeks before its
    /// signatures), so the version of a task is the latest of `date_updated`, its comments (one is
    /// added for every action), its envelopes and its documents.
    pub(crate) fn last_activity(&self) -> Option<Timestamp> {
        let comments = self.comments.iter().map(|comment| comment.timestamp);
        let sub_tasks = self.sub_tasks.iter().map(SubTask::last_activity);
        comments.chain(sub_tasks).chain([self.date_updated]).flatten().max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventType, Payload};

    fn contract(json: &str) -> Task {
        match EventType::ContractStatusChange.parse(json.as_bytes()).unwrap() {
            Payload::Contract(task) => task,
            other => panic!("not a contract: {other:?}"),
        }
    }

    fn seed_002() -> Task {
        contract(include_str!("../../../events/payloads/contract-signed.json"))
    }

    #[test]
    fn the_signed_seed_contract_is_executed_with_nine_uploaded_documents() {
        let task = seed_002();
        assert!(task.is_executed());
        let names: Vec<_> = task.documents_to_fetch().filter_map(|d| d.name.as_deref()).collect();
        assert_eq!(names.len(), 9);
        assert!(!names.contains(&"Contract.pdf"), "the generated document is not fetched");
    }

    #[test]
    fn the_document_sub_task_is_found_by_category_not_position() {
        let task = contract(
            r#"{"uuid":"060d5cb4-374a-4c31-8f41-9e530c71ffff","site":"b0c16879-5c5f-4dd9-8442-65cc594372ed",
            "sub_tasks":[
              {"category":"CHECKBOX","document_status":"NOSTART","data":false},
              {"category":"DOCUMENT","document_status":"SIGN","data":{"documents":[
                {"uuid":"e24f5a7a-1d6d-4417-8af2-22da3d67d4cc","creation_type":"UPLOADED"}],"envelopes":[]}}]}"#,
        );
        assert!(task.is_executed());
        assert_eq!(task.documents_to_fetch().count(), 1);
    }

    #[test]
    fn nothing_is_fetched_before_signing() {
        let body = include_str!("../../../events/payloads/contract-signed.json")
            .replace(r#""document_status": "SIGN""#, r#""document_status": "SENT""#);
        let task = contract(&body);
        assert!(!task.is_executed());
        assert_eq!(task.documents_to_fetch().count(), 0);
        assert_eq!(task.signed_at(Timestamp::now()), None);
    }

    #[test]
    fn signing_date_is_the_completed_envelopes_date_signed() {
        let task = seed_002();
        let received = Timestamp::now();
        assert_eq!(task.signed_at(received).unwrap().to_string(), "2023-07-12T19:22:17.752365Z");
    }

    #[test]
    fn a_voided_envelope_does_not_give_the_signing_date() {
        let body = include_str!("../../../events/payloads/change-order-signed.json");
        let Payload::ChangeOrder(task) = EventType::ChangeOrderStatusChange.parse(body.as_bytes()).unwrap() else {
            panic!("not a change order");
        };
        assert_eq!(task.signed_at(Timestamp::now()).unwrap().to_string(), "2021-06-01T04:35:39.002284Z");
    }

    #[test]
    fn without_a_completed_envelope_the_signing_date_is_the_time_of_receipt() {
        let task = contract(include_str!("../../../events/payloads/contract-signed-sighten.json"));
        let received: Timestamp = "2019-11-26T20:30:00Z".parse().unwrap();
        assert_eq!(task.signed_at(received), Some(received));
    }

    #[test]
    fn the_signed_copy_is_the_completed_envelopes_upload_never_the_voided_envelopes() {
        let body = include_str!("../../../events/payloads/change-order-signed.json");
        let Payload::ChangeOrder(task) = EventType::ChangeOrderStatusChange.parse(body.as_bytes()).unwrap() else {
            panic!("not a change order");
        };
        let copies: Vec<String> = task.signed_copies().map(|d| d.uuid.to_string()).collect();
        assert_eq!(copies, ["af7f4ab9-1839-40a5-9f09-6196bec521fa"]);
        let seed_002: Vec<_> = seed_002().signed_copies().map(|d| d.uuid).collect();
        assert_eq!(seed_002.len(), 9, "every upload of the one completed envelope");
    }

    #[test]
    fn last_activity_sees_signatures_that_date_updated_misses() {
        let task = seed_002();
        assert_eq!(task.date_updated.unwrap().to_string(), "2023-06-19T20:11:47.348506Z");
        assert_eq!(task.last_activity().unwrap().to_string(), "2023-07-12T19:22:47.921491Z");
    }
}
