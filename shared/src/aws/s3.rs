use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;

use crate::ports::{Archive, BackendError};

/// The raw archive in an S3 bucket.
#[derive(Clone, Debug)]
pub struct S3Archive {
    client: Client,
    bucket: String,
}

impl S3Archive {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
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
