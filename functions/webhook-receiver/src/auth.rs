//! Authentication, before anything is written: the caller's IAM principal (`AUTH_MODE=iam`, the
//! gateway checked the signature) or the AWS4 signature itself (`AUTH_MODE=sigv4`).

use std::collections::HashMap;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use lambda_http::Request;
use shared::archive::Caller;
use shared::aws::{Clients, SecretsClient, read_sigv4_keys};
use shared::config::{AllowedPrincipals, AuthConfig, KeysConfig};
use shared::ports::BackendError;
use shared::sigv4::{self, SecretKey, Verifier};

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
    verifier: VerifierCache,
}

/// Where the sigv4 mode's access keys come from.
#[derive(Debug)]
pub enum KeySource {
    Plain(HashMap<String, SecretKey>),
    /// Read on the first signed request, and again after an unknown key id (see
    /// [`Sigv4::verifier_after_unknown_key`]).
    Secret {
        client: SecretsClient,
        secret_id: String,
    },
}

/// How often, at most, the keys are read again: after an unknown key id, or after a read failed.
const KEYS_REREAD_INTERVAL: Duration = Duration::from_secs(60);

/// The verifier of this container, and when its keys were last read again or failed to read.
#[derive(Debug, Default)]
struct VerifierCache {
    current: std::sync::Mutex<Option<Arc<Verifier>>>,
    /// Held while the keys are read.
    reads: tokio::sync::Mutex<Reads>,
}

#[derive(Debug, Default)]
struct Reads {
    /// When the keys were last read again after an unknown key id.
    reread_at: Option<Instant>,
    /// When a read last failed, and why.
    failed: Option<(Instant, String)>,
}

impl VerifierCache {
    fn current(&self) -> Option<Arc<Verifier>> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn replace(&self, verifier: Arc<Verifier>) {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(verifier);
    }
}

impl Sigv4 {
    async fn read_keys(&self) -> Result<HashMap<String, SecretKey>, BackendError> {
        match &self.keys {
            KeySource::Plain(keys) => Ok(keys.clone()),
            KeySource::Secret { client, secret_id } => read_sigv4_keys(client, secret_id).await,
        }
    }

    /// The verifier, its keys read on first use. A read that failed is not tried again for a
    /// minute: meanwhile every signed request answers 503, without a read of its own.
    async fn verifier(&self) -> Result<Arc<Verifier>, BackendError> {
        if let Some(verifier) = self.verifier.current() {
            return Ok(verifier);
        }
        let mut reads = self.verifier.reads.lock().await;
        if let Some(verifier) = self.verifier.current() {
            return Ok(verifier);
        }
        if let Some((at, reason)) = reads.failed.as_ref().filter(|(at, _)| at.elapsed() < KEYS_REREAD_INTERVAL) {
            let waited = at.elapsed().as_secs();
            return Err(BackendError::new(
                "Secrets Manager GetSecretValue",
                format!("the keys could not be read {waited} s ago ({reason}); not read again before a minute"),
            ));
        }
        match self.read_keys().await {
            Ok(keys) => {
                reads.failed = None;
                let verifier = Arc::new(Verifier::new(&self.region, &self.service, keys));
                self.verifier.replace(verifier.clone());
                Ok(verifier)
            }
            Err(error) => {
                reads.failed = Some((Instant::now(), error.to_string()));
                Err(error)
            }
        }
    }

    /// After `refused` did not know a request's key id: a verifier with the keys read again (a
    /// key may have been added), unless another request already did that or they were read again
    /// less than a minute ago. The first read does not count toward the minute.
    async fn verifier_after_unknown_key(&self, refused: &Arc<Verifier>) -> Option<Arc<Verifier>> {
        let mut reads = self.verifier.reads.lock().await;
        if let Some(current) = self.verifier.current().filter(|current| !Arc::ptr_eq(current, refused)) {
            return Some(current);
        }
        if reads.reread_at.is_some_and(|at| at.elapsed() < KEYS_REREAD_INTERVAL) {
            return None;
        }
        reads.reread_at = Some(Instant::now());
        match self.read_keys().await {
            Ok(keys) => {
                let verifier = Arc::new(Verifier::new(&self.region, &self.service, keys));
                self.verifier.replace(verifier.clone());
                tracing::info!("an unknown access key id: the keys were read again");
                Some(verifier)
            }
            Err(error) => {
                tracing::warn!(error = %error, "an unknown access key id: the keys could not be read again");
                None
            }
        }
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
                verifier: VerifierCache::default(),
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
            Self::Sigv4(mode) => {
                // No `Authorization`, no read of the keys: an unsigned request costs nothing.
                if request.headers().get(lambda_http::http::header::AUTHORIZATION).is_none() {
                    return Err(Refusal::Unauthenticated(sigv4::Refusal::Missing));
                }
                let verifier = mode.verifier().await.map_err(Refusal::AuthUnavailable)?;
                let headers = http::headers(request);
                let path = http::signed_path(request);
                let signed = sigv4::Request {
                    method: request.method().as_str(),
                    path: &path,
                    query: request.uri().query().unwrap_or_default(),
                    headers: &headers,
                    body: request.body().as_ref(),
                };
                let verified = match verifier.verify(&signed, now) {
                    Err(sigv4::Refusal::UnknownKey(key)) => match mode.verifier_after_unknown_key(&verifier).await {
                        Some(fresh) => fresh.verify(&signed, now),
                        None => Err(sigv4::Refusal::UnknownKey(key)),
                    },
                    other => other,
                }
                .map_err(Refusal::Unauthenticated)?;
                Ok(Caller { access_key: Some(verified.access_key), ..reported.clone() })
            }
        }
    }
}
