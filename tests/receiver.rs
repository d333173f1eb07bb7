//! The webhook receiver through its real handler, everything on moto (with its transactions and
//! its Secrets Manager). The cases are in `receiver/cases.rs`; `receiver_strict.rs` runs them
//! again with DynamoDB on dynalite.

use integration_tests::Backend;

async fn backend() -> Backend {
    Backend::new().await
}

#[path = "receiver/cases.rs"]
mod cases;
