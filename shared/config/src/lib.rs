//! Configuration from the environment, typed once at start-up. A missing or invalid variable stops
//! the function with a message that names it.
//!
//! It holds what each function reads at start-up (`ReceiverConfig`, `FetcherConfig`), the tenants
//! document (`tenant`), webhook credentials (`credential`) and secrets that refresh (`refresh`). It
//! depends on the domain, the `sigv4` keys and the `everbright` client's settings; the `aws` crate
//! reads its secrets from Secrets Manager.

pub mod credential;
pub mod refresh;
pub mod tenant;

mod auth;

pub use auth::{AllowedPrincipals, AuthConfig, KeysConfig};

use crate::tenant::Tenants;
use domain::dal::Profile;
use domain::job::Identity;
use domain::timestamp::Timestamp;
use everbright::ApiToken;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Reads variables through a lookup function, so tests need not touch the process environment.
pub struct Env<F>(F);

impl<F: Fn(&str) -> Option<String>> Env<F> {
    pub fn new(lookup: F) -> Self {
        Self(lookup)
    }

    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).map(|value| value.trim().to_owned()).filter(|value| !value.is_empty())
    }

    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.get(name).ok_or(ConfigError::Missing(name))
    }

    pub fn flag(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => Ok(true),
            Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => Ok(false),
            Some(v) => Err(ConfigError::Invalid { name, reason: format!("{v:?} is not true or false") }),
        }
    }

    pub fn number(
        &self,
        name: &'static str,
        default: i64,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<i64, ConfigError> {
        let Some(text) = self.get(name) else {
            return Ok(default);
        };
        match text.parse::<i64>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(ConfigError::Invalid {
                name,
                reason: format!("{text:?} is not a whole number from {} to {}", range.start(), range.end()),
            }),
        }
    }
}

impl Env<fn(&str) -> Option<String>> {
    /// The process environment.
    pub fn process() -> Self {
        Self(|name| std::env::var(name).ok())
    }
}

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

/// Where the tenants document comes from.
#[derive(Clone, Debug)]
pub enum TenantsSource {
    /// `TENANTS_SECRET`: a Secrets Manager secret, read and checked at start-up.
    Secret(String),
    /// `TENANTS`: the document itself, for local runs (in Lambda its secrets would show in the
    /// function's configuration).
    Inline(Tenants),
}

impl TenantsSource {
    pub fn from<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Option<Self>, ConfigError> {
        if let Ok(secret) = env.required("TENANTS_SECRET") {
            return Ok(Some(Self::Secret(secret)));
        }
        env.required("TENANTS")
            .ok()
            .map(|document| {
                Tenants::parse(&document)
                    .map(Self::Inline)
                    .map_err(|reason| ConfigError::Invalid { name: "TENANTS", reason })
            })
            .transpose()
    }

    /// The tenants of an inline document; none for a secret not read yet.
    pub fn inline(source: Option<&Self>) -> Tenants {
        match source {
            Some(Self::Inline(tenants)) => tenants.clone(),
            _ => Tenants::default(),
        }
    }
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

/// Where the fetcher gets EverBright's API token.
#[derive(Clone, Debug)]
pub enum TokenConfig {
    /// `EVERBRIGHT_API_TOKEN_SECRET` (a tenant's `api_token_secret`): a Secrets Manager secret (id
    /// or ARN), read on first use and again after a 401.
    Secret(String),
    /// `EVERBRIGHT_API_TOKEN` (a tenant's `api_token`): the token itself, for local runs or inside
    /// the tenants document (a secret itself).
    Plain(ApiToken),
}

/// The default tenant's EverBright API.
#[derive(Clone, Debug)]
pub struct DefaultApi {
    /// `EVERBRIGHT_BASE_URL`: `https://engine.goeverbright.com` (production) or
    /// `https://onboard.goeverbright.com` (test).
    pub base_url: String,
    /// `EVERBRIGHT_API_TOKEN_SECRET` or `EVERBRIGHT_API_TOKEN`.
    pub token: TokenConfig,
}

/// The contract fetcher's configuration.
#[derive(Clone, Debug)]
pub struct FetcherConfig {
    /// `JOBS_TABLE`
    pub jobs_table: String,
    /// `DOCUMENTS_BUCKET`
    pub documents_bucket: String,
    /// The default tenant's EverBright: always there without `tenants`; with them, only when
    /// its base URL and token are both set.
    pub default_tenant: Option<DefaultApi>,
    /// `FETCH_CONCURRENCY` (default 4): messages of a batch handled at once.
    pub concurrency: usize,
    /// `UPLOAD_PART_MIB` (default 8): single-put threshold and multipart part size.
    pub part_mib: usize,
    /// `UPLOAD_PARTS_IN_FLIGHT` (default 2): parts uploading at once per document.
    pub parts_in_flight: usize,
    /// `EVERBRIGHT_CONNECT_TIMEOUT_SECONDS` (default 5).
    pub connect_timeout_seconds: u64,
    /// `EVERBRIGHT_READ_TIMEOUT_SECONDS` (default 30): the longest wait for any read.
    pub read_timeout_seconds: u64,
    /// `TENANTS_SECRET` or `TENANTS`: the tenants beside the default one, if any.
    pub tenants: Option<TenantsSource>,
    /// `DAL_PROFILE`: a file of the data API metrics to read after a SIGN; the one shipped with
    /// the domain (`shared/domain/dal-profile.txt`) unless given.
    pub dal_profile: Profile,
    /// `DAL_PAGE_SIZE` (default 100): the `limit` of each data API request; a full page asks for
    /// the next, ten pages at most.
    pub dal_page_size: u32,
}

impl FetcherConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from(&Env::process())
    }

    pub fn from<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let tenants = TenantsSource::from(env)?;
        let token = match (env.required("EVERBRIGHT_API_TOKEN_SECRET"), env.required("EVERBRIGHT_API_TOKEN")) {
            (Ok(secret), _) => Ok(TokenConfig::Secret(secret)),
            (Err(_), Ok(token)) => Ok(TokenConfig::Plain(ApiToken::new(token))),
            (Err(missing), Err(_)) => Err(missing),
        };
        let base_url = env.required("EVERBRIGHT_BASE_URL");
        let default_tenant = match (token, base_url) {
            (Err(_), Err(_)) if tenants.is_some() => None,
            (token, base_url) => Some(DefaultApi { token: token?, base_url: base_url? }),
        };
        if let Some(DefaultApi { base_url, .. }) = &default_tenant
            && !(base_url.starts_with("https://") || base_url.starts_with("http://"))
        {
            return Err(ConfigError::Invalid {
                name: "EVERBRIGHT_BASE_URL",
                reason: format!("{base_url:?} is not an http(s) URL"),
            });
        }
        let count = |name, default, range| env.number(name, default, range).map(|n| n as usize);
        Ok(Self {
            jobs_table: env.required("JOBS_TABLE")?,
            documents_bucket: env.required("DOCUMENTS_BUCKET")?,
            concurrency: count("FETCH_CONCURRENCY", 4, 1..=32)?,
            part_mib: count("UPLOAD_PART_MIB", 8, 5..=64)?,
            parts_in_flight: count("UPLOAD_PARTS_IN_FLIGHT", 2, 1..=8)?,
            connect_timeout_seconds: env.number("EVERBRIGHT_CONNECT_TIMEOUT_SECONDS", 5, 1..=60)? as u64,
            read_timeout_seconds: env.number("EVERBRIGHT_READ_TIMEOUT_SECONDS", 30, 1..=900)? as u64,
            tenants,
            default_tenant,
            dal_profile: match env.required("DAL_PROFILE") {
                Ok(path) => std::fs::read_to_string(&path)
                    .map_err(|e| format!("{path}: {e}"))
                    .and_then(|text| Profile::parse(&text).map_err(|reason| format!("{path}: {reason}")))
                    .map_err(|reason| ConfigError::Invalid { name: "DAL_PROFILE", reason })?,
                Err(_) => Profile::parse(Profile::DEFAULT).expect("the shipped profile reads (a test checks it)"),
            },
            dal_page_size: env.number("DAL_PAGE_SIZE", 100, 1..=1000)? as u32,
        })
    }
}

#[cfg(test)]
mod tests;
