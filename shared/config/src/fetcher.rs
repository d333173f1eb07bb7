//! The contract fetcher's configuration.

use domain::dal::Profile;
use everbright::ApiToken;

use crate::{ConfigError, Env, TenantsSource};

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
    /// `RECONCILE_GRACE_MINUTES` (default 30, 5 to 1440): a site's change is judged this long
    /// after it, so that its webhook has had time to come.
    pub reconcile_grace_minutes: i64,
    /// `RECONCILE_LOOKBACK_HOURS` (default 24, 1 to 720): how far back a tenant's first
    /// reconciliation looks (older sites are the backfill's).
    pub reconcile_lookback_hours: i64,
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
            reconcile_grace_minutes: env.number("RECONCILE_GRACE_MINUTES", 30, 5..=1440)?,
            reconcile_lookback_hours: env.number("RECONCILE_LOOKBACK_HOURS", 24, 1..=720)?,
        })
    }
}
