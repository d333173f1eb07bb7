//! Configuration from the environment, typed once at start-up. A missing or invalid variable stops
//! the function with a message that names it.

use std::fmt;

use std::collections::HashMap;

use crate::dal::Profile;
use crate::everbright::ApiToken;
use crate::job::Identity;
use crate::sigv4::{SecretKey, parse_keys};
use crate::tenant::Tenants;
use crate::timestamp::Timestamp;

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

/// IAM principals allowed to call the receiver: exact ARNs, or prefixes ending in `*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedPrincipals(Vec<String>);

impl AllowedPrincipals {
    /// Nobody: for a receiver that takes no live requests (the operator's replays).
    pub fn nobody() -> Self {
        Self(Vec::new())
    }

    pub fn parse(list: &str) -> Result<Self, String> {
        let entries: Vec<String> = list.split([',', ' ', '\n']).filter(|s| !s.is_empty()).map(str::to_owned).collect();
        if entries.is_empty() {
            return Err("the list is empty".into());
        }
        if let Some(bad) = entries.iter().find(|e| !e.starts_with("arn:")) {
            return Err(format!("{bad:?} is not an ARN"));
        }
        // `*` only as the whole last segment (`.../assumed-role/EverBright/*`): anywhere else it
        // would admit more than meant (`.../EverBright*` admits `EverBrightEvil`, `arn:*` anyone).
        let wildcard_elsewhere = |entry: &&String| entry.strip_suffix("/*").unwrap_or(entry).contains('*');
        if let Some(bad) = entries.iter().find(wildcard_elsewhere) {
            return Err(format!(
                "{bad:?} has a * that is not the whole last segment; write `.../<name>/*` to allow every session or \
                 user under <name>, or the exact ARN"
            ));
        }
        Ok(Self(entries))
    }

    /// Whether `arn` (the caller the gateway reports) is allowed. An allowed IAM role
    /// (`arn:aws:iam::<account>:role/[path/]<name>`) also allows its sessions, which the gateway
    /// reports as `arn:aws:sts::<account>:assumed-role/<name>/<session>`.
    pub fn allows(&self, arn: &str) -> bool {
        self.0.iter().any(|allowed| match allowed.strip_suffix('*') {
            Some(prefix) => arn.starts_with(prefix),
            None => arn == allowed || assumed_role_prefix(allowed).is_some_and(|prefix| arn.starts_with(&prefix)),
        })
    }
}

impl AllowedPrincipals {
    /// Whether one caller could be allowed by both lists.
    pub fn overlaps(&self, other: &Self) -> bool {
        let caller = |pattern: &String| pattern.strip_suffix('*').unwrap_or(pattern).to_owned();
        self.0.iter().any(|p| other.allows(&caller(p))) || other.0.iter().any(|p| self.allows(&caller(p)))
    }
}

/// `arn:<partition>:iam::<account>:role/[path/]<name>` -> `arn:<partition>:sts::<account>:assumed-role/<name>/`.
fn assumed_role_prefix(role_arn: &str) -> Option<String> {
    let rest = role_arn.strip_prefix("arn:")?;
    let (partition, rest) = rest.split_once(':')?;
    let rest = rest.strip_prefix("iam::")?;
    let (account, resource) = rest.split_once(':')?;
    let name = resource.strip_prefix("role/")?.rsplit('/').next().filter(|n| !n.is_empty())?;
    Some(format!("arn:{partition}:sts::{account}:assumed-role/{name}/"))
}

impl fmt::Display for AllowedPrincipals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(","))
    }
}

/// How the receiver authenticates a webhook (`AUTH_MODE`).
#[derive(Clone, Debug)]
pub enum AuthConfig {
    /// `iam` (the default): API Gateway or the Function URL checked the AWS4 signature; the
    /// caller it reports must be in `ALLOWED_PRINCIPALS` (comma-separated IAM ARNs; a last
    /// segment of `*` matches every name under the rest).
    Iam(AllowedPrincipals),
    /// `sigv4`: the function checks the AWS4 signature itself.
    Sigv4 {
        /// `SIGV4_REGION` (default: `AWS_REGION`): the region EverBright's settings name.
        region: String,
        /// `SIGV4_SERVICE` (default `execute-api`): the service EverBright's settings name.
        service: String,
        keys: KeysConfig,
    },
    /// `shared-secret`: the function checks each tenant's credential itself, whatever its type
    /// (headers, basic, token, or aws4 with the region and service as in `sigv4`).
    SharedSecret { region: String, service: String },
}

/// Where the access keys EverBright may sign with come from.
#[derive(Clone, Debug)]
pub enum KeysConfig {
    /// `SIGV4_CREDENTIALS_SECRET`: a Secrets Manager secret holding `{"<access key id>": "<secret>"}`,
    /// read once per container.
    Secret(String),
    /// `SIGV4_CREDENTIALS`: `ACCESS_KEY:SECRET[,ACCESS_KEY:SECRET...]`, for local runs.
    Plain(HashMap<String, SecretKey>),
}

impl AuthConfig {
    /// The mode and the single-tenant credentials. With `tenants` configured, those are optional:
    /// without them there is no default tenant.
    pub fn from<F: Fn(&str) -> Option<String>>(env: &Env<F>, tenants: bool) -> Result<Self, ConfigError> {
        let mode = env.required("AUTH_MODE").unwrap_or_else(|_| "iam".to_owned()).to_ascii_lowercase();
        // A variable another mode reads would be ignored in this one: refused, so that what is
        // configured is what runs.
        let unused = |names: &[&'static str], reason: &str| -> Result<(), ConfigError> {
            match names.iter().find(|name| env.required(name).is_ok()) {
                Some(name) => Err(ConfigError::Invalid {
                    name,
                    reason: format!("is set, but AUTH_MODE={mode} does not read it: {reason}"),
                }),
                None => Ok(()),
            }
        };
        match mode.as_str() {
            "iam" => unused(
                &["SIGV4_CREDENTIALS", "SIGV4_CREDENTIALS_SECRET", "WEBHOOK_CREDENTIAL_SECRET"],
                "API Gateway checks the AWS4 signature against ALLOWED_PRINCIPALS",
            )?,
            "sigv4" => unused(
                &["ALLOWED_PRINCIPALS", "WEBHOOK_CREDENTIAL_SECRET"],
                "the function admits AWS4 signatures with SIGV4_CREDENTIALS[_SECRET] alone",
            )?,
            "shared-secret" => unused(
                &["ALLOWED_PRINCIPALS", "SIGV4_CREDENTIALS", "SIGV4_CREDENTIALS_SECRET"],
                "the default tenant's credential is WEBHOOK_CREDENTIAL_SECRET (AWS4 keys go in a tenant's webhooks)",
            )?,
            _ => {}
        }
        let scope = || -> Result<(String, String), ConfigError> {
            let region = env.required("SIGV4_REGION").or_else(|_| env.required("AWS_REGION"))?;
            Ok((region, env.required("SIGV4_SERVICE").unwrap_or_else(|_| "execute-api".to_owned())))
        };
        match mode.as_str() {
            "iam" => match env.required("ALLOWED_PRINCIPALS") {
                Err(_) if tenants => Ok(Self::Iam(AllowedPrincipals::nobody())),
                principals => AllowedPrincipals::parse(&principals?)
                    .map(Self::Iam)
                    .map_err(|reason| ConfigError::Invalid { name: "ALLOWED_PRINCIPALS", reason }),
            },
            "sigv4" => {
                let keys = match (env.required("SIGV4_CREDENTIALS_SECRET"), env.required("SIGV4_CREDENTIALS")) {
                    (Ok(secret), _) => KeysConfig::Secret(secret),
                    (Err(_), Ok(list)) => KeysConfig::Plain(
                        parse_keys(&list)
                            .map_err(|reason| ConfigError::Invalid { name: "SIGV4_CREDENTIALS", reason })?,
                    ),
                    (Err(_), Err(_)) if tenants => KeysConfig::Plain(HashMap::new()),
                    (Err(missing), Err(_)) => return Err(missing),
                };
                let (region, service) = scope()?;
                Ok(Self::Sigv4 { region, service, keys })
            }
            "shared-secret" => {
                if !tenants && env.required("WEBHOOK_CREDENTIAL_SECRET").is_err() {
                    return Err(ConfigError::Missing("WEBHOOK_CREDENTIAL_SECRET"));
                }
                let (region, service) = scope()?;
                Ok(Self::SharedSecret { region, service })
            }
            other => Err(ConfigError::Invalid {
                name: "AUTH_MODE",
                reason: format!("{other:?} is not iam, sigv4 or shared-secret"),
            }),
        }
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

/// The contract fetcher's configuration.
#[derive(Clone, Debug)]
pub struct FetcherConfig {
    /// `JOBS_TABLE`
    pub jobs_table: String,
    /// `DOCUMENTS_BUCKET`
    pub documents_bucket: String,
    /// `EVERBRIGHT_BASE_URL`: `https://engine.goeverbright.com` (production) or
    /// `https://onboard.goeverbright.com` (test).
    pub everbright_base_url: String,
    /// `EVERBRIGHT_API_TOKEN_SECRET` or `EVERBRIGHT_API_TOKEN`.
    pub token: TokenConfig,
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
    /// Whether `EVERBRIGHT_BASE_URL` and the token make the default tenant (always, without
    /// `tenants`; with them, only when both are set).
    pub default_tenant: bool,
    /// `DAL_PROFILE`: a file of the data API metrics to read after a SIGN; the one shipped with
    /// the function (`functions/contract-fetcher/dal-profile.txt`) unless given.
    pub dal_profile: Profile,
    /// `DAL_PAGE_SIZE` (default 100): the `limit` of each data API request; a full page asks for
    /// the next, ten pages at most.
    pub dal_page_size: u32,
}

/// The profile shipped with the fetcher.
pub const DEFAULT_DAL_PROFILE: &str = include_str!("../../functions/contract-fetcher/dal-profile.txt");

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
        let (token, base_url, default_tenant) = match (token, base_url) {
            (Ok(token), Ok(base_url)) => (token, base_url, true),
            (Err(_), Err(_)) if tenants.is_some() => (TokenConfig::Plain(ApiToken::new("")), String::new(), false),
            (token, base_url) => (token?, base_url?, true),
        };
        if default_tenant && !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            return Err(ConfigError::Invalid {
                name: "EVERBRIGHT_BASE_URL",
                reason: format!("{base_url:?} is not an http(s) URL"),
            });
        }
        let count = |name, default, range| env.number(name, default, range).map(|n| n as usize);
        Ok(Self {
            jobs_table: env.required("JOBS_TABLE")?,
            documents_bucket: env.required("DOCUMENTS_BUCKET")?,
            everbright_base_url: base_url,
            token,
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
                Err(_) => Profile::parse(DEFAULT_DAL_PROFILE).expect("the shipped profile reads (a test checks it)"),
            },
            dal_page_size: env.number("DAL_PAGE_SIZE", 100, 1..=1000)? as u32,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env<impl Fn(&str) -> Option<String>> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Env::new(move |name| map.get(name).cloned())
    }

    const FULL: [(&str, &str); 4] = [
        ("JOBS_TABLE", "jobs"),
        ("DOCUMENTS_BUCKET", "docs"),
        ("FETCH_QUEUE_URL", "http://q"),
        (
            "ALLOWED_PRINCIPALS",
            "arn:aws:iam::123456789012:user/everbright, arn:aws:sts::123456789012:assumed-role/EverBright/*",
        ),
    ];

    #[test]
    fn a_complete_environment_gives_defaults_for_the_optional_variables() {
        let config = ReceiverConfig::from(&env(&FULL)).unwrap();
        assert_eq!(config.jobs_table, "jobs");
        assert!(config.fetch_milestone_documents);
        assert_eq!(config.dedupe, DedupeConfig { ttl_days: 14, retry_window_minutes: 15 });
    }

    #[test]
    fn a_wildcard_is_accepted_only_as_the_whole_last_segment_and_refused_elsewhere_naming_the_entry() {
        let sessions = AllowedPrincipals::parse("arn:aws:sts::123456789012:assumed-role/EverBright/*").unwrap();
        assert!(sessions.allows("arn:aws:sts::123456789012:assumed-role/EverBright/webhooks"));
        assert!(!sessions.allows("arn:aws:sts::123456789012:assumed-role/EverBrightEvil/webhooks"));
        for entry in [
            "arn:aws:sts::123456789012:assumed-role/EverBright*",
            "arn:*",
            "arn:aws:iam::*:user/everbright",
            "arn:aws:sts::123456789012:assumed-role/*/x",
            "arn:aws:sts::123456789012:assumed-role/EverBright/web*",
        ] {
            let list = format!("arn:aws:iam::123456789012:user/everbright,{entry}");
            let err = AllowedPrincipals::parse(&list).unwrap_err();
            assert!(err.contains(entry) && err.contains("last segment"), "{entry}: {err}");
        }
    }

    #[test]
    fn each_missing_variable_is_named() {
        for (name, _) in FULL {
            let pairs: Vec<_> = FULL.iter().filter(|(n, _)| *n != name).copied().collect();
            let err = ReceiverConfig::from(&env(&pairs)).unwrap_err();
            assert_eq!(err, ConfigError::Missing(name));
            assert!(err.to_string().contains(name));
        }
    }

    #[test]
    fn invalid_values_are_named_with_the_reason() {
        let mut pairs = FULL.to_vec();
        pairs.push(("FETCH_MILESTONE_DOCUMENTS", "sometimes"));
        let err = ReceiverConfig::from(&env(&pairs)).unwrap_err().to_string();
        assert!(err.contains("FETCH_MILESTONE_DOCUMENTS") && err.contains("sometimes"), "{err}");
        pairs[3] = ("ALLOWED_PRINCIPALS", "everbright");
        let err = ReceiverConfig::from(&env(&pairs)).unwrap_err().to_string();
        assert!(err.contains("not an ARN"), "{err}");
    }

    #[test]
    fn principals_match_exactly_or_by_a_starred_prefix() {
        let AuthConfig::Iam(allowed) = ReceiverConfig::from(&env(&FULL)).unwrap().auth else {
            panic!("iam is the default mode");
        };
        assert!(allowed.allows("arn:aws:iam::123456789012:user/everbright"));
        assert!(!allowed.allows("arn:aws:iam::123456789012:user/everbright2"));
        assert!(allowed.allows("arn:aws:sts::123456789012:assumed-role/EverBright/session-1"));
        assert!(!allowed.allows("arn:aws:sts::123456789012:assumed-role/Other/session-1"));
    }

    #[test]
    fn an_allowed_role_allows_its_sessions_and_nothing_else() {
        let allowed = AllowedPrincipals::parse("arn:aws:iam::123456789012:role/integrations/EverBright").unwrap();
        assert!(allowed.allows("arn:aws:iam::123456789012:role/integrations/EverBright"));
        assert!(allowed.allows("arn:aws:sts::123456789012:assumed-role/EverBright/webhooks"));
        assert!(!allowed.allows("arn:aws:sts::123456789012:assumed-role/EverBrightX/webhooks"));
        assert!(!allowed.allows("arn:aws:sts::999999999999:assumed-role/EverBright/webhooks"));
        let user = AllowedPrincipals::parse("arn:aws:iam::123456789012:user/EverBright").unwrap();
        assert!(!user.allows("arn:aws:sts::123456789012:assumed-role/EverBright/webhooks"));
    }

    #[test]
    fn sigv4_mode_needs_keys_and_a_region_and_defaults_the_service() {
        let mut pairs: Vec<_> = FULL[..3].to_vec();
        pairs.push(("AUTH_MODE", "sigv4"));
        assert_eq!(ReceiverConfig::from(&env(&pairs)).unwrap_err(), ConfigError::Missing("SIGV4_CREDENTIALS_SECRET"));
        pairs.push(("SIGV4_CREDENTIALS", "AKIDEXAMPLE:secret"));
        assert_eq!(ReceiverConfig::from(&env(&pairs)).unwrap_err(), ConfigError::Missing("AWS_REGION"));
        pairs.push(("AWS_REGION", "us-east-1"));
        let AuthConfig::Sigv4 { region, service, keys: KeysConfig::Plain(keys) } =
            ReceiverConfig::from(&env(&pairs)).unwrap().auth
        else {
            panic!("not sigv4 with plain keys");
        };
        assert_eq!((region.as_str(), service.as_str(), keys.len()), ("us-east-1", "execute-api", 1));
        pairs.push(("AUTH_MODE", "hmac"));
        let err = ReceiverConfig::from(&env(&[FULL[0], FULL[1], FULL[2], ("AUTH_MODE", "hmac")])).unwrap_err();
        assert!(err.to_string().contains("AUTH_MODE"), "{err}");
    }

    #[test]
    fn a_variable_the_mode_does_not_read_is_refused_naming_it() {
        let base = [FULL[0], FULL[1], FULL[2], ("AWS_REGION", "us-east-1")];
        for (mode, own, foreign) in [
            ("iam", ("ALLOWED_PRINCIPALS", "arn:aws:iam::123456789012:user/e"), "WEBHOOK_CREDENTIAL_SECRET"),
            ("iam", ("ALLOWED_PRINCIPALS", "arn:aws:iam::123456789012:user/e"), "SIGV4_CREDENTIALS"),
            ("sigv4", ("SIGV4_CREDENTIALS", "AKID:s"), "WEBHOOK_CREDENTIAL_SECRET"),
            ("sigv4", ("SIGV4_CREDENTIALS", "AKID:s"), "ALLOWED_PRINCIPALS"),
            ("shared-secret", ("WEBHOOK_CREDENTIAL_SECRET", "arn:x"), "SIGV4_CREDENTIALS"),
        ] {
            let mut pairs = base.to_vec();
            pairs.extend([("AUTH_MODE", mode), own]);
            assert!(ReceiverConfig::from(&env(&pairs)).is_ok(), "{mode} alone");
            pairs.push((foreign, "x"));
            let ConfigError::Invalid { name, reason } = ReceiverConfig::from(&env(&pairs)).unwrap_err() else {
                panic!("{mode}: {foreign} is refused");
            };
            assert_eq!(name, foreign);
            assert!(reason.contains(&format!("AUTH_MODE={mode} does not read it")), "{reason}");
        }
    }

    #[test]
    fn the_fetcher_needs_a_token_from_a_secret_or_the_environment() {
        let base = [
            ("JOBS_TABLE", "jobs"),
            ("DOCUMENTS_BUCKET", "docs"),
            ("EVERBRIGHT_BASE_URL", "https://onboard.goeverbright.com"),
        ];
        let err = FetcherConfig::from(&env(&base)).unwrap_err();
        assert_eq!(err, ConfigError::Missing("EVERBRIGHT_API_TOKEN_SECRET"));
        let mut pairs = base.to_vec();
        pairs.push(("EVERBRIGHT_API_TOKEN", "t0k3n"));
        let config = FetcherConfig::from(&env(&pairs)).unwrap();
        assert!(matches!(config.token, TokenConfig::Plain(_)));
        assert!(!format!("{config:?}").contains("t0k3n"), "the token is never printed");
        pairs.push(("EVERBRIGHT_API_TOKEN_SECRET", "everbright/api-token"));
        assert!(matches!(FetcherConfig::from(&env(&pairs)).unwrap().token, TokenConfig::Secret(_)));
        assert_eq!(config.part_mib, 8);
    }

    const TENANTS: &str = r#"{"tenants": [{"id": "acme", "environment": "test", "api_token": "t",
        "webhooks": [{"type": "headers", "header": "X-K", "value": "v"}]}]}"#;

    #[test]
    fn with_tenants_the_single_tenant_credentials_are_optional_and_without_them_required() {
        let base = [FULL[0], FULL[1], FULL[2], ("AWS_REGION", "us-east-1")];
        for mode in ["iam", "sigv4", "shared-secret"] {
            let mut pairs = base.to_vec();
            pairs.push(("AUTH_MODE", mode));
            let missing = ReceiverConfig::from(&env(&pairs)).unwrap_err();
            assert!(matches!(missing, ConfigError::Missing(_)), "{mode}: {missing}");
            pairs.push(("TENANTS", TENANTS));
            let config = ReceiverConfig::from(&env(&pairs)).unwrap_or_else(|e| panic!("{mode}: {e}"));
            assert!(matches!(config.tenants, Some(TenantsSource::Inline(_))));
        }
        let mut pairs = base.to_vec();
        pairs.extend([("AUTH_MODE", "shared-secret"), ("WEBHOOK_CREDENTIAL_SECRET", "arn:x")]);
        let config = ReceiverConfig::from(&env(&pairs)).unwrap();
        assert_eq!(config.webhook_credential_secret.as_deref(), Some("arn:x"));
        assert!(matches!(config.auth, AuthConfig::SharedSecret { .. }));
    }

    #[test]
    fn a_bad_tenants_document_is_refused_naming_the_variable_and_the_entry() {
        let mut pairs = FULL.to_vec();
        pairs.push(("TENANTS", r#"{"tenants": [{"id": "acme", "environment": "staging"}]}"#));
        let ConfigError::Invalid { name, reason } = ReceiverConfig::from(&env(&pairs)).unwrap_err() else {
            panic!("invalid");
        };
        assert_eq!(name, "TENANTS");
        assert!(reason.starts_with(r#"tenants[0] ("acme"): environment "staging""#), "{reason}");
    }

    #[test]
    fn the_fetcher_with_tenants_has_a_default_tenant_only_when_its_variables_are_set() {
        let base = [("JOBS_TABLE", "jobs"), ("DOCUMENTS_BUCKET", "docs"), ("TENANTS", TENANTS)];
        assert!(!FetcherConfig::from(&env(&base)).unwrap().default_tenant);
        let mut pairs = base.to_vec();
        pairs.push(("EVERBRIGHT_BASE_URL", "https://engine.goeverbright.com"));
        let err = FetcherConfig::from(&env(&pairs)).unwrap_err();
        assert_eq!(err, ConfigError::Missing("EVERBRIGHT_API_TOKEN_SECRET"), "half a default tenant is named");
        pairs.push(("EVERBRIGHT_API_TOKEN", "t"));
        assert!(FetcherConfig::from(&env(&pairs)).unwrap().default_tenant);
    }
}
