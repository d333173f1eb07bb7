//! The webhook receiver's configuration.

use domain::job::Identity;
use domain::timestamp::Timestamp;

use crate::{AuthConfig, ConfigError, Env, TenantsSource};

/// The webhook receiver's configuration.
#[derive(Clone, Debug)]
pub struct ReceiverConfig {
    /// `JOBS_TABLE`: the DynamoDB table of jobs and deliveries.
    pub jobs_table: String,
    /// `DOCUMENTS_BUCKET`: the S3 bucket for the raw archive and the documents.
    pub documents_bucket: String,
    /// `FETCH_QUEUE_URL`: the SQS queue the contract fetcher reads.
    pub fetch_queue_url: String,
    /// `AUTH_MODE` and what the mode needs.
    pub auth: AuthConfig,
    /// `FETCH_MILESTONE_DOCUMENTS` (default true): also queue milestone tasks' uploaded documents.
    pub fetch_milestone_documents: bool,
    /// `DEDUPE_TTL_DAYS` and `DEDUPE_RETRY_WINDOW_MINUTES`.
    pub dedupe: DedupeConfig,
    /// `TENANTS_SECRET` or `TENANTS`: the tenants beside the default one, if any.
    pub tenants: Option<TenantsSource>,
    /// `WEBHOOK_CREDENTIAL_SECRET` (`shared-secret` mode): a secret holding the default tenant's
    /// credential, as one `webhooks` entry of the tenants document.
    pub webhook_credential_secret: Option<String>,
}

/// How long a delivery is remembered as seen, by how it is told apart ([`Identity`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DedupeConfig {
    /// `DEDUPE_TTL_DAYS` (default 14): an event with a time of its own.
    pub ttl_days: i64,
    /// `DEDUPE_RETRY_WINDOW_MINUTES` (default 15): an event without one; a repeat after this is
    /// a new event with the same content.
    pub retry_window_minutes: i64,
}

impl Default for DedupeConfig {
    fn default() -> Self {
        Self { ttl_days: 14, retry_window_minutes: 15 }
    }
}

impl DedupeConfig {
    fn from<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        Ok(Self {
            ttl_days: env.number("DEDUPE_TTL_DAYS", 14, 1..=365)?,
            retry_window_minutes: env.number("DEDUPE_RETRY_WINDOW_MINUTES", 15, 1..=1440)?,
        })
    }

    /// Until when a delivery received `now` is a duplicate of a repeat; `None` for an event that
    /// keeps no delivery record.
    pub fn remember_until(self, identity: Identity, now: Timestamp) -> Option<Timestamp> {
        match identity {
            Identity::Body => Some(now.plus_seconds(self.ttl_days * 86_400)),
            Identity::RetryWindow => Some(now.plus_seconds(self.retry_window_minutes * 60)),
            Identity::Chain => None,
        }
    }
}

impl ReceiverConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from(&Env::process())
    }

    pub fn from<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let tenants = TenantsSource::from(env)?;
        Ok(Self {
            auth: AuthConfig::from(env, tenants.is_some())?,
            jobs_table: env.required("JOBS_TABLE")?,
            documents_bucket: env.required("DOCUMENTS_BUCKET")?,
            fetch_queue_url: env.required("FETCH_QUEUE_URL")?,
            fetch_milestone_documents: env.flag("FETCH_MILESTONE_DOCUMENTS", true)?,
            dedupe: DedupeConfig::from(env)?,
            tenants,
            webhook_credential_secret: env.required("WEBHOOK_CREDENTIAL_SECRET").ok(),
        })
    }
}
