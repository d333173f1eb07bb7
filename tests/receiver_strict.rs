//! The webhook receiver's cases (`receiver/cases.rs`) with DynamoDB on dynalite, which refuses what
//! DynamoDB refuses and moto accepts: an index key written as NULL or of the wrong type, a reserved
//! word or overlapping paths in an expression, an empty set. S3, SQS and Secrets Manager stay on moto.

use integration_tests::Backend;

async fn backend() -> Backend {
    Backend::strict().await
}

#[path = "receiver/cases.rs"]
mod cases;
