//! The AWS adapters behind the ports, on the real AWS SDK. Clients are built once per container.
//!
//! When `AWS_ENDPOINT_URL` is set (a local AWS-protocol server such as moto), S3 is addressed
//! path-style, since such servers do not serve bucket subdomains.
//!
//! The outermost library layer: it depends on the domain (whose ports it implements), on
//! configuration (what the secrets hold: the tenants document, a webhook credential), on `sigv4`
//! (the AWS4 keys a secret holds) and on `everbright` (the API token a secret holds); nothing in
//! the domain, `config`, `sigv4` or `everbright` depends on it.

mod dynamodb;
mod eventbridge;
mod s3;
mod sdk;
mod secrets;
mod sqs;

pub use aws_sdk_secretsmanager::Client as SecretsClient;
pub use dynamodb::{DynamoJobStore, PUBLISHED_KEEP_DAYS, Requeued, scan_all, schema};
pub use eventbridge::EventBridgeBus;
pub use s3::{S3Archive, S3Documents, UploadSettings};
pub use sdk::{load_sdk_config, load_sdk_config_with, sdk_config_loader};
pub use secrets::{load_credential, load_tenants, read_sigv4_keys, read_token};
pub use sqs::{SqsFailureNotes, SqsWorkQueue};

use std::sync::OnceLock;

use aws_config::SdkConfig;

/// The clients the functions use, built once from one SDK configuration.
#[derive(Clone, Debug)]
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    /// Built on first use ([`Self::sqs`]): the fetcher sends no message, so its bootstrap does not
    /// carry the SQS client.
    sqs: OnceLock<aws_sdk_sqs::Client>,
    /// Built on first use ([`Self::eventbridge`]): only the publisher puts events.
    eventbridge: OnceLock<aws_sdk_eventbridge::Client>,
    sdk: SdkConfig,
}

impl Clients {
    pub fn new(sdk: &SdkConfig) -> Self {
        let s3 = aws_sdk_s3::config::Builder::from(sdk).force_path_style(sdk.endpoint_url().is_some()).build();
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            s3: aws_sdk_s3::Client::from_conf(s3),
            secrets: aws_sdk_secretsmanager::Client::new(sdk),
            sqs: OnceLock::new(),
            eventbridge: OnceLock::new(),
            sdk: sdk.clone(),
        }
    }

    /// The SQS client, built on first use.
    pub fn sqs(&self) -> &aws_sdk_sqs::Client {
        self.sqs.get_or_init(|| aws_sdk_sqs::Client::new(&self.sdk))
    }

    /// The EventBridge client, built on first use.
    pub fn eventbridge(&self) -> &aws_sdk_eventbridge::Client {
        self.eventbridge.get_or_init(|| aws_sdk_eventbridge::Client::new(&self.sdk))
    }
}
