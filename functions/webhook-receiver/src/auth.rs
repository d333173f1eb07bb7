//! Authentication, before anything is written: the caller's IAM principal (`AUTH_MODE=iam`, the
//! gateway checked the signature) or the AWS4 signature itself (`AUTH_MODE=sigv4`).

use std::collections::HashMap;
use std::time::SystemTime;

use lambda_http::Request;
use shared::archive::Caller;
use shared::aws::{Clients, SecretsClient, read_sigv4_keys};
use shared::config::{AllowedPrincipals, AuthConfig, KeysConfig};
use shared::sigv4::{self, SecretKey, Verifier};
use tokio::sync::OnceCell;

use crate::Refusal;
use crate::http;

/// How requests are authenticated.
#[derive(Debug)]
pub enum Authenticator {
    Iam(AllowedPrincipals),
    Sigv4(Box<Sigv4>),
}

/// The sigv4 mode: the scope to expect and the keys, the verifier built on first use.
#[derive(Debug)]
pub struct Sigv4 {
    region: String,
    service: String,
    keys: KeySource,
    verifier: OnceCell<Verifier>,
}

/// Where the sigv4 mode's access keys come from.
#[derive(Debug)]
pub enum KeySource {
    Plain(HashMap<String, SecretKey>),
    /// Read once per container, on the first request.
    Secret {
        client: SecretsClient,
        secret_id: String,
    },
}

impl Authenticator {
    pub fn from_config(auth: &AuthConfig, clients: &Clients) -> Self {
        match auth {
            AuthConfig::Iam(allowed) => Self::Iam(allowed.clone()),
            AuthConfig::Sigv4 { region, service, keys } => Self::Sigv4(Box::new(Sigv4 {
                region: region.clone(),
                service: service.clone(),
                keys: match keys {
                    KeysConfig::Plain(keys) => KeySource::Plain(keys.clone()),
                    KeysConfig::Secret(secret_id) => {
                        KeySource::Secret { client: clients.secrets.clone(), secret_id: secret_id.clone() }
                    }
                },
                verifier: OnceCell::new(),
            })),
        }
    }

    /// Checks `request`; answers who called, as the archive records it.
    pub async fn check(&self, request: &Request, reported: &Caller, now: SystemTime) -> Result<Caller, Refusal> {
        match self {
            Self::Iam(allowed) => {
                let arn = reported.arn.as_deref();
                if arn.is_some_and(|arn| allowed.allows(arn)) {
                    Ok(reported.clone())
                } else {
                    Err(Refusal::Forbidden { caller: arn.map(str::to_owned) })
                }
            }
            Self::Sigv4(sigv4) => {
                let Sigv4 { region, service, keys, verifier } = sigv4.as_ref();
                let verifier = verifier
                    .get_or_try_init(|| async {
                        let keys = match keys {
                            KeySource::Plain(keys) => keys.clone(),
                            KeySource::Secret { client, secret_id } => read_sigv4_keys(client, secret_id).await?,
                        };
                        Ok::<_, shared::ports::BackendError>(Verifier::new(region, service, keys))
                    })
                    .await
                    .map_err(Refusal::AuthUnavailable)?;
                let headers = http::headers(request);
                let path = http::signed_path(request);
                let signed = sigv4::Request {
                    method: request.method().as_str(),
                    path: &path,
                    query: request.uri().query().unwrap_or_default(),
                    headers: &headers,
                    body: request.body().as_ref(),
                };
                let verified = verifier.verify(&signed, now).map_err(Refusal::Unauthenticated)?;
                Ok(Caller { access_key: Some(verified.access_key), ..reported.clone() })
            }
        }
    }
}
