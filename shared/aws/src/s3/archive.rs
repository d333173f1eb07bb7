//! The raw archive: one JSON object per request under `raw/`, written by the receiver, read by
//! the operator's commands; and the data API's answers under `dal/`, each kept as it came.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;

use domain::archive::RawRequest;
use domain::dal::DataAnswer;
use domain::ports::{AnswerArchive, Archive, BackendError};
use domain::timestamp::Timestamp;

/// The raw archive in an S3 bucket.
#[derive(Clone, Debug)]
pub struct S3Archive {
    client: Client,
    bucket: String,
}

impl S3Archive {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self { client, bucket: bucket.into() }
    }
}

/// Reads for the operator's command (not used by the functions).
impl S3Archive {
    /// Every key under `prefix`, in key order.
    pub async fn keys(&self, prefix: &str) -> Result<Vec<String>, BackendError> {
        let pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(prefix).into_paginator().send();
        let pages: Vec<_> =
            pages.collect::<Result<_, _>>().await.map_err(|e| BackendError::new("S3 ListObjectsV2 (archive)", e))?;
        Ok(pages.iter().flat_map(|page| page.contents()).filter_map(|object| object.key().map(str::to_owned)).collect())
    }

    /// One archived request.
    pub async fn get(&self, key: &str) -> Result<RawRequest, BackendError> {
        let object = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| BackendError::new("S3 GetObject (archive)", e))?;
        let bytes = object.body.collect().await.map_err(|e| BackendError::new("S3 GetObject (archive body)", e))?;
        serde_json::from_slice(&bytes.into_bytes()).map_err(|e| BackendError::new("archive record", e))
    }
}

impl AnswerArchive for S3Archive {
    /// Keeps an answer of EverBright's API as it came: its bytes, to the last one, as the object,
    /// with its `Content-Type`; the URL asked, the HTTP status and when it was received as the
    /// object's metadata (`url`, `status`, `received-at`).
    async fn keep_answer(&self, key: &str, answer: &DataAnswer, received_at: Timestamp) -> Result<(), BackendError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(answer.content_type.as_deref().unwrap_or("application/octet-stream"))
            .metadata("url", &answer.url)
            .metadata("status", answer.status.to_string())
            .metadata("received-at", received_at.to_string())
            .body(ByteStream::from(answer.body.clone()))
            .send()
            .await
            .map_err(|e| BackendError::new("S3 PutObject (data API answer)", e))?;
        Ok(())
    }
}

impl Archive for S3Archive {
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), BackendError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| BackendError::new("S3 PutObject (archive)", e))?;
        Ok(())
    }
}
