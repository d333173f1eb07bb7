//! Authentication, before anything is written: the caller's IAM principal (`AUTH_MODE=iam`, the
//! gateway checked the signature) or the AWS4 signature itself (`AUTH_MODE=sigv4`).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use shared::archive::Caller;
use shared::aws::{Clients, SecretsClient, read_sigv4_keys};
use shared::config::{AllowedPrincipals, AuthConfig, KeysConfig};
use shared::ports::BackendError;
use shared::refresh::Refreshable;
use shared::sigv4::{self, SecretKey, Verifier};

use crate::Refusal;
use crate::http::Inbound;

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
    verifier: Refreshable<Verifier>,
}

/// Where the sigv4 mode's access keys come from.
#[derive(Debug)]
pub enum KeySource {
    Plain(HashMap<String, SecretKey>),
    /// Read on the first signed request, and again after an unknown key id (see
    /// [`Sigv4::verify`]).
    Secret {
        client: SecretsClient,
        secret_id: String,
    },
}

/// How often, at most, the keys are read again: after an unknown key id, or after a read failed.
const KEYS_REREAD_INTERVAL: Duration = Duration::from_secs(60);

impl Sigv4 {
    /// A verifier with the keys read now.
    async fn read_verifier(&self) -> Result<Verifier, BackendError> {
        let keys = match &self.keys {
            KeySource::Plain(keys) => keys.clone(),
            KeySource::Secret { client, secret_id } => read_sigv4_keys(client, secret_id).await?,
        };
        Ok(Verifier::new(&self.region, &self.service, keys))
    }

    /// Verifies `request`; a key id the verifier does not know makes it read the keys again (at
    /// most once a minute), in case the key was just added.
    async fn verify(&self, request: &sigv4::Request<'_>, now: SystemTime) -> Result<sigv4::Verified, Refusal> {
        let unavailable = |reason| Refusal::AuthUnavailable(BackendError::new("reading the AWS4 keys", reason));
        let verifier = self.verifier.get(|| self.read_verifier()).await.map_err(unavailable)?;
        match verifier.verify(request, now) {
            Err(sigv4::Refusal::UnknownKey(key)) => {
                match self.verifier.after_refusal(&verifier, || self.read_verifier(), |_, _| false).await {
                    Ok(Some(fresh)) => {
                        tracing::info!(key, "an unknown access key id: the keys were read again");
                        fresh.verify(request, now)
                    }
                    Ok(None) => Err(sigv4::Refusal::UnknownKey(key)),
                    Err(error) => {
                        tracing::warn!(error, "an unknown access key id: the keys could not be read again");
                        Err(sigv4::Refusal::UnknownKey(key))
                    }
                }
            }
            other => other,
        }
        .map_err(Refusal::Unauthenticated)
    }
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
                verifier: Refreshable::new(KEYS_REREAD_INTERVAL),
            })),
        }
    }

    /// Checks `request`; answers who called, as the archive records it.
    pub(crate) async fn check(&self, request: &Inbound, now: SystemTime) -> Result<Caller, Refusal> {
        let reported = &request.caller;
        match self {
            Self::Iam(allowed) => {
                let arn = reported.arn.as_deref();
                if arn.is_some_and(|arn| allowed.allows(arn)) {
                    Ok(reported.clone())
                } else {
                    Err(Refusal::Forbidden { caller: arn.map(str::to_owned) })
                }
            }
            Self::Sigv4(mode) => {
                // No `Authorization`, no read of the keys: an unsigned request costs nothing.
                if request.header("authorization").is_none() {
                    return Err(Refusal::Unauthenticated(sigv4::Refusal::Missing));
                }
                let signed = sigv4::Request {
                    method: request.method.as_str(),
                    path: &request.path,
                    query: &request.query,
                    headers: &request.headers,
                    body: &request.body,
                };
                let verified = mode.verify(&signed, now).await?;
                Ok(Caller { access_key: Some(verified.access_key), ..reported.clone() })
            }
        }
    }
}
