//! The documents: each streamed from EverBright into `contracts/` in parts (one `PutObject`, or
//! a multipart upload for a large one), checked against its declared size, with its SHA-256 in
//! the object's metadata.

use std::collections::HashMap;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, MetadataDirective};
use bytes::{Bytes, BytesMut};
use sha2::{Digest, Sha256};
use tokio::task::JoinSet;

use domain::ports::{ChunkSource, DocumentStore, FetchError, StoredDocument};

/// Where the documents go, and how they are uploaded.
#[derive(Clone, Debug)]
pub struct S3Documents {
    client: Client,
    bucket: String,
    settings: UploadSettings,
}

/// Part size and how many parts may be uploading at once: together they bound the memory an
/// upload takes, whatever the document's size (at most `parts_in_flight + 1` parts).
#[derive(Clone, Copy, Debug)]
pub struct UploadSettings {
    /// A document no larger than this goes in one `PutObject`; a larger one (or one whose length
    /// is unknown and turns out larger) is uploaded in parts of this size. S3's minimum is 5 MiB.
    pub part_size: usize,
    pub parts_in_flight: usize,
}

impl Default for UploadSettings {
    fn default() -> Self {
        Self { part_size: 8 * 1024 * 1024, parts_in_flight: 2 }
    }
}

/// Every PDF starts with these bytes.
const PDF_MAGIC: &[u8] = b"%PDF-";

fn s3_error(operation: &str, error: impl std::error::Error + 'static) -> FetchError {
    FetchError::Retryable(format!("S3 {operation} failed: {}", domain::error::chain(&error)))
}

impl DocumentStore for S3Documents {
    async fn store<S: ChunkSource>(
        &self,
        key: &str,
        metadata: HashMap<String, String>,
        source: &mut S,
        content_type: Option<&str>,
    ) -> Result<StoredDocument, FetchError> {
        self.put_streamed(key, metadata, source, content_type).await
    }
}

impl S3Documents {
    pub fn new(client: Client, bucket: impl Into<String>, settings: UploadSettings) -> Self {
        Self { client, bucket: bucket.into(), settings }
    }

    /// [`DocumentStore::store`]: a single `PutObject` for a document of one part, else a
    /// multipart upload with a few parts in flight, aborted on any failure.
    async fn put_streamed(
        &self,
        key: &str,
        mut metadata: HashMap<String, String>,
        source: &mut impl ChunkSource,
        content_type: Option<&str>,
    ) -> Result<StoredDocument, FetchError> {
        let mut hasher = Sha256::new();
        let declared = source.declared_length();
        let mut reader = PartReader { source, size: self.settings.part_size, carry: None };
        let (first, ended) = reader.next_part().await?;
        if !first.starts_with(PDF_MAGIC) {
            let start = String::from_utf8_lossy(&first[..first.len().min(16)]).into_owned();
            return Err(FetchError::Permanent(format!(
                "not a PDF: content type {}, first bytes {start:?}",
                content_type.unwrap_or("not given")
            )));
        }
        hasher.update(&first);
        let (size, parts, version_id) = if ended {
            let size = first.len() as u64;
            check_length(declared, size)?;
            metadata.insert("sha256".into(), hex::encode(hasher.clone().finalize()));
            let put = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_type("application/pdf")
                .set_metadata(Some(metadata))
                .content_length(i64::try_from(size).unwrap_or(i64::MAX))
                .body(ByteStream::from(first.freeze()))
                .send()
                .await
                .map_err(|e| s3_error("PutObject", e))?;
            (size, 1, put.version_id().map(str::to_owned))
        } else {
            self.multipart(key, metadata, &mut reader, first.freeze(), &mut hasher).await?
        };
        Ok(StoredDocument {
            key: key.to_owned(),
            size,
            sha256: hex::encode(hasher.finalize()),
            parts,
            content_type: content_type.map(str::to_owned),
            version_id,
        })
    }

    async fn multipart(
        &self,
        key: &str,
        mut metadata: HashMap<String, String>,
        reader: &mut PartReader<'_, impl ChunkSource>,
        first: Bytes,
        hasher: &mut Sha256,
    ) -> Result<(u64, u32, Option<String>), FetchError> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/pdf")
            .set_metadata(Some(metadata.clone()))
            .send()
            .await
            .map_err(|e| s3_error("CreateMultipartUpload", e))?;
        let upload_id = created.upload_id().unwrap_or_default().to_owned();
        let result = self.upload_parts(key, &upload_id, reader, first, hasher).await;
        let (size, count) = match result {
            Ok((parts, size)) => {
                let count = parts.len() as u32;
                let completed = CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
                let done = self
                    .client
                    .complete_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .multipart_upload(completed)
                    .send()
                    .await;
                match done {
                    Ok(_) => (size, count),
                    Err(error) => {
                        self.abort(key, &upload_id).await;
                        return Err(s3_error("CompleteMultipartUpload", error));
                    }
                }
            }
            Err(error) => {
                self.abort(key, &upload_id).await;
                return Err(error);
            }
        };
        // Multipart uploads take their metadata up front; the SHA-256 is known only now, so the
        // object is copied onto itself with it (a server-side copy, no bytes move through here).
        metadata.insert("sha256".into(), hex::encode(hasher.clone().finalize()));
        let copied = self
            .client
            .copy_object()
            .bucket(&self.bucket)
            .key(key)
            .copy_source(format!("{}/{}", self.bucket, encode_key(key)))
            .metadata_directive(MetadataDirective::Replace)
            .content_type("application/pdf")
            .set_metadata(Some(metadata))
            .send()
            .await;
        match copied {
            // The copy is the object's current version.
            Ok(copy) => Ok((size, count, copy.version_id().map(str::to_owned))),
            Err(error) => {
                // Without its SHA-256 the object is not what was promised: remove it, retry later.
                let _ = self.client.delete_object().bucket(&self.bucket).key(key).send().await;
                Err(s3_error("CopyObject (metadata)", error))
            }
        }
    }

    /// Uploads `first` and the rest of `source` as parts, at most `parts_in_flight` at once.
    async fn upload_parts(
        &self,
        key: &str,
        upload_id: &str,
        reader: &mut PartReader<'_, impl ChunkSource>,
        first: Bytes,
        hasher: &mut Sha256,
    ) -> Result<(Vec<CompletedPart>, u64), FetchError> {
        let mut uploads: JoinSet<Result<CompletedPart, FetchError>> = JoinSet::new();
        let mut parts = Vec::new();
        let mut size = first.len() as u64;
        let mut pending = Some(first);
        let mut ended = false;
        let mut number = 0;
        while let Some(part) = pending.take() {
            number += 1;
            while uploads.len() >= self.settings.parts_in_flight.max(1) {
                parts.push(joined(uploads.join_next().await)?);
            }
            let request = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .content_length(part.len() as i64)
                .body(ByteStream::from(part));
            uploads.spawn(async move {
                let output = request.send().await.map_err(|e| s3_error("UploadPart", e))?;
                Ok(CompletedPart::builder().set_e_tag(output.e_tag().map(str::to_owned)).part_number(number).build())
            });
            if !ended {
                let (next, end) = reader.next_part().await?;
                ended = end;
                if !next.is_empty() {
                    hasher.update(&next);
                    size += next.len() as u64;
                    pending = Some(next.freeze());
                }
            }
        }
        while let Some(result) = uploads.join_next().await {
            parts.push(joined(Some(result))?);
        }
        check_length(reader.source.declared_length(), size)?;
        parts.sort_by_key(|part| part.part_number());
        Ok((parts, size))
    }

    async fn abort(&self, key: &str, upload_id: &str) {
        let aborted =
            self.client.abort_multipart_upload().bucket(&self.bucket).key(key).upload_id(upload_id).send().await;
        if let Err(error) = aborted {
            tracing::warn!(key, error = %domain::error::chain(&error), "could not abort a multipart upload; the bucket's lifecycle rule removes it");
        }
    }
}

fn joined(
    result: Option<Result<Result<CompletedPart, FetchError>, tokio::task::JoinError>>,
) -> Result<CompletedPart, FetchError> {
    match result {
        Some(Ok(part)) => part,
        Some(Err(error)) => Err(FetchError::Retryable(format!("a part upload stopped: {error}"))),
        None => Err(FetchError::Retryable("a part upload went missing".into())),
    }
}

/// Cuts a source into parts of exactly `size` bytes (the last one shorter), whatever the sizes
/// of the chunks it gives: a chunk that would run past a part's end is split and its rest
/// carried into the next part. Each part is allocated once at its full size and never grows.
struct PartReader<'a, S> {
    source: &'a mut S,
    size: usize,
    carry: Option<Bytes>,
}

impl<S: ChunkSource> PartReader<'_, S> {
    /// The next part; `true` when the source has ended (the part may then be short or empty).
    async fn next_part(&mut self) -> Result<(BytesMut, bool), FetchError> {
        let mut part = BytesMut::with_capacity(self.size);
        loop {
            let mut chunk = match self.carry.take() {
                Some(chunk) => chunk,
                None => match self.source.next_chunk().await? {
                    Some(chunk) => chunk,
                    None => return Ok((part, true)),
                },
            };
            let room = self.size - part.len();
            if chunk.len() > room {
                self.carry = Some(chunk.split_off(room));
            }
            part.extend_from_slice(&chunk);
            if part.len() == self.size {
                return Ok((part, false));
            }
        }
    }
}

fn check_length(declared: Option<u64>, actual: u64) -> Result<(), FetchError> {
    match declared {
        Some(declared) if declared != actual => {
            Err(FetchError::Retryable(format!("the body was {actual} bytes but Content-Length said {declared}")))
        }
        _ => Ok(()),
    }
}

/// A key as `CopySource` wants it: percent-encoded but for `/`.
fn encode_key(key: &str) -> String {
    let mut encoded = String::with_capacity(key.len());
    for byte in key.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'/') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    struct Chunks(VecDeque<Bytes>);

    impl ChunkSource for Chunks {
        async fn next_chunk(&mut self) -> Result<Option<Bytes>, FetchError> {
            Ok(self.0.pop_front())
        }

        fn declared_length(&self) -> Option<u64> {
            None
        }
    }

    #[tokio::test]
    async fn parts_are_cut_exactly_whatever_the_chunk_sizes() {
        let bytes: Vec<u8> = (0..100u8).collect();
        let mut source = Chunks(bytes.chunks(7).map(Bytes::copy_from_slice).collect());
        let mut reader = PartReader { source: &mut source, size: 16, carry: None };
        let mut parts = Vec::new();
        loop {
            let (part, ended) = reader.next_part().await.unwrap();
            parts.push(part);
            if ended {
                break;
            }
        }
        let sizes: Vec<_> = parts.iter().map(BytesMut::len).collect();
        assert_eq!(sizes, [16, 16, 16, 16, 16, 16, 4]);
        assert_eq!(parts.concat(), bytes);
    }

    #[test]
    fn copy_sources_are_percent_encoded_but_for_slashes() {
        assert_eq!(encode_key("contracts/a b/(2).pdf"), "contracts/a%20b/%282%29.pdf");
    }

    #[test]
    fn a_length_other_than_declared_is_retryable() {
        assert!(check_length(Some(10), 9).is_err_and(|e| !e.is_permanent()));
        assert!(check_length(Some(10), 10).is_ok() && check_length(None, 3).is_ok());
    }
}
