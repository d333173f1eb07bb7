//! Who may send webhooks, as configured: `AUTH_MODE` and what each mode reads (IAM principals,
//! AWS4 keys, or the default tenant's shared credential), refusing a variable the mode would
//! ignore.

use std::collections::HashMap;
use std::fmt;

use super::{ConfigError, Env};
use sigv4::{SecretKey, parse_keys};

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
    pub(crate) fn overlaps(&self, other: &Self) -> bool {
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
