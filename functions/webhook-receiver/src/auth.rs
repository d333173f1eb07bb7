//! Authentication, before anything is written, and the tenant it decides: the caller's IAM
//! principal (`AUTH_MODE=iam`, the gateway checked the signature), or a credential the function
//! checks itself (`sigv4`, `shared-secret`): an AWS4 signature, or a shared header, Basic or token
//! value compared in constant time.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aws::{Clients, SecretsClient, read_sigv4_keys};
use config::credential::Credential;
use config::refresh::{Refreshable, Unavailable};
use config::tenant::Tenants;
use config::{AllowedPrincipals, AuthConfig, KeysConfig};
use domain::archive::Caller;
use domain::ports::BackendError;
use domain::tenant::TenantId;
use sigv4::{self, SecretKey, Verifier};

use crate::Refusal;
use crate::http::Inbound;

/// How requests are authenticated, and which tenant each credential speaks for.
#[derive(Debug)]
pub struct Authenticator {
    mode: Mode,
    /// The tenants, for the organization check after the archive.
    tenants: Tenants,
}

#[derive(Debug)]
enum Mode {
    /// The gateway checked the signature; the principal it reports decides the tenant.
    Iam(Vec<(AllowedPrincipals, TenantId)>),
    /// The function checks.
    Function(Box<FunctionCheck>),
}

#[derive(Debug)]
struct FunctionCheck {
    /// `None` when no tenant signs with AWS4.
    sigv4: Option<Sigv4>,
    /// The header, Basic and token credentials, with their tenants.
    shared: Vec<(Credential, TenantId)>,
}

/// The sigv4 check: the scope to expect and the keys, the verifier built on first use.
#[derive(Debug)]
pub struct Sigv4 {
    region: String,
    service: String,
    /// The default tenant's keys (`SIGV4_CREDENTIALS[_SECRET]`), if any.
    keys: KeySource,
    /// The tenants' keys, each with its tenant (a key not here is the default tenant's).
    tenant_keys: HashMap<String, (SecretKey, TenantId)>,
    verifier: Refreshable<Verifier>,
}

/// Where the default tenant's AWS4 keys come from.
#[derive(Debug)]
pub(crate) enum KeySource {
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
        let mut keys = match &self.keys {
            KeySource::Plain(keys) => keys.clone(),
            KeySource::Secret { client, secret_id } => read_sigv4_keys(client, secret_id).await?,
        };
        if let Some((id, (_, tenant))) = self.tenant_keys.iter().find(|(id, _)| keys.contains_key(*id)) {
            let reason = format!(
                "the default tenant's access key {id} (SIGV4_CREDENTIALS_SECRET) is also tenant {tenant:?}'s; a \
                 request must decide one tenant"
            );
            return Err(BackendError::new("reading the AWS4 keys", reason));
        }
        keys.extend(self.tenant_keys.iter().map(|(id, (secret, _))| (id.clone(), secret.clone())));
        Ok(Verifier::new(&self.region, &self.service, keys))
    }

    /// Verifies `request`; a key id the verifier does not know makes it read the keys again (at
    /// most once a minute), in case the key was just added.
    async fn verify(&self, request: &sigv4::Request<'_>, now: SystemTime) -> Result<sigv4::Verified, Refusal> {
        let unavailable = |error| Refusal::AuthUnavailable(BackendError::new("reading the AWS4 keys", error));
        let verifier = self.verifier.get(|| self.read_verifier()).await.map_err(unavailable)?;
        match verifier.verify(request, now) {
            Err(sigv4::Refusal::UnknownKey(key)) if matches!(self.keys, KeySource::Secret { .. }) => {
                match self.verifier.after_refusal(&verifier, || self.read_verifier(), |_, _| false).await {
                    Ok(Some(fresh)) => {
                        tracing::info!(key, "an unknown access key id: the keys were read again");
                        fresh.verify(request, now)
                    }
                    Ok(None) => Err(sigv4::Refusal::UnknownKey(key)),
                    Err(error) => {
                        let error = domain::error::chain(&error);
                        tracing::warn!(error, "an unknown access key id: the keys could not be read again");
                        Err(sigv4::Refusal::UnknownKey(key))
                    }
                }
            }
            other => other,
        }
        .map_err(Refusal::Unauthenticated)
    }

    fn tenant_of(&self, access_key: &str) -> TenantId {
        self.tenant_keys.get(access_key).map_or_else(TenantId::default_tenant, |(_, tenant)| tenant.clone())
    }
}

impl Authenticator {
    /// One tenant, the default, with the single-tenant configuration.
    pub fn from_config(auth: &AuthConfig, clients: &Clients) -> Self {
        Self::with_tenants(auth, Tenants::default(), None, clients)
            .expect("the single-tenant configuration has no tenants to disagree with")
    }

    /// An `iam` authenticator allowing `principals` as the default tenant (tests, fuzzing).
    pub fn iam(principals: AllowedPrincipals) -> Self {
        Self { mode: Mode::Iam(vec![(principals, TenantId::default_tenant())]), tenants: Tenants::default() }
    }

    /// An authenticator that accepts nobody, with the tenants for the checks after the archive
    /// (the operator's replays).
    pub fn nobody(tenants: Tenants) -> Self {
        Self { mode: Mode::Iam(Vec::new()), tenants }
    }

    /// The default tenant's credentials from `auth` (and `shared`, the `WEBHOOK_CREDENTIAL_SECRET`
    /// one) beside `tenants`'. Each tenant's credentials must be of the kind the mode checks:
    /// the error names the tenant and the credential.
    pub fn with_tenants(
        auth: &AuthConfig,
        tenants: Tenants,
        shared: Option<Credential>,
        clients: &Clients,
    ) -> Result<Self, String> {
        let credentials = tenants.iter().flat_map(|t| t.webhooks.iter().map(move |c| (c, t.id.clone())));
        let sigv4_mode = matches!(auth, AuthConfig::Sigv4 { .. });
        let mode = match auth {
            AuthConfig::Iam(principals) => {
                tenants.check_default(&Credential::Iam(principals.clone()), "ALLOWED_PRINCIPALS")?;
                let mut allowed = vec![(principals.clone(), TenantId::default_tenant())];
                for (credential, tenant) in credentials {
                    match credential {
                        Credential::Iam(principals) => allowed.push((principals.clone(), tenant)),
                        Credential::Aws4 { .. } => {
                            return Err(wrong_mode(
                                &tenant,
                                credential,
                                "sigv4 or shared-secret (the function checks it)",
                            ));
                        }
                        other => return Err(wrong_mode(&tenant, other, "shared-secret (the function checks it)")),
                    }
                }
                Mode::Iam(allowed)
            }
            AuthConfig::Sigv4 { region, service, .. } | AuthConfig::SharedSecret { region, service } => {
                let keys = match auth {
                    AuthConfig::Sigv4 { keys: KeysConfig::Plain(keys), .. } => KeySource::Plain(keys.clone()),
                    AuthConfig::Sigv4 { keys: KeysConfig::Secret(secret_id), .. } => {
                        KeySource::Secret { client: clients.secrets.clone(), secret_id: secret_id.clone() }
                    }
                    _ => KeySource::Plain(HashMap::new()),
                };
                if let KeySource::Plain(keys) = &keys {
                    for (access_key_id, secret) in keys {
                        let credential =
                            Credential::Aws4 { access_key_id: access_key_id.clone(), secret: secret.clone() };
                        tenants.check_default(&credential, "SIGV4_CREDENTIALS")?;
                    }
                }
                if let Some(shared) = &shared {
                    if sigv4_mode {
                        return Err(format!(
                            "the default tenant's credential {} (WEBHOOK_CREDENTIAL_SECRET) is a shared secret, which \
                             AUTH_MODE=sigv4 does not admit; use AUTH_MODE=shared-secret",
                            shared.describe()
                        ));
                    }
                    tenants.check_default(shared, "WEBHOOK_CREDENTIAL_SECRET")?;
                }
                let mut tenant_keys = HashMap::new();
                let mut shared_credentials: Vec<_> =
                    shared.into_iter().map(|c| (c, TenantId::default_tenant())).collect();
                for (credential, tenant) in credentials {
                    match credential {
                        Credential::Iam(_) => {
                            return Err(wrong_mode(&tenant, credential, "iam (API Gateway checks it)"));
                        }
                        Credential::Aws4 { access_key_id, secret } => {
                            tenant_keys.insert(access_key_id.clone(), (secret.clone(), tenant));
                        }
                        // sigv4 admits AWS4 signatures alone: a shared secret is weaker, and is
                        // the shared-secret mode's.
                        other if sigv4_mode => return Err(wrong_mode(&tenant, other, "shared-secret")),
                        other => shared_credentials.push((other.clone(), tenant)),
                    }
                }
                let any_keys = !tenant_keys.is_empty() || !matches!(&keys, KeySource::Plain(k) if k.is_empty());
                let sigv4 = any_keys.then(|| Sigv4 {
                    region: region.clone(),
                    service: service.clone(),
                    keys,
                    tenant_keys,
                    verifier: Refreshable::new(KEYS_REREAD_INTERVAL),
                });
                Mode::Function(Box::new(FunctionCheck { sigv4, shared: shared_credentials }))
            }
        };
        Ok(Self { mode, tenants })
    }

    /// Reads the AWS4 keys of a `SIGV4_CREDENTIALS_SECRET` now (they are read on first use
    /// otherwise), so that a secret that cannot be read, or that names a tenant's key, stops the
    /// start-up with the reason.
    pub(crate) async fn read_keys(&self) -> Result<(), Unavailable<BackendError>> {
        match &self.mode {
            Mode::Function(check) => match &check.sigv4 {
                Some(sigv4 @ Sigv4 { keys: KeySource::Secret { .. }, .. }) => {
                    sigv4.verifier.get(|| sigv4.read_verifier()).await.map(drop)
                }
                _ => Ok(()),
            },
            Mode::Iam(_) => Ok(()),
        }
    }

    /// Reads the AWS4 keys again at most once per `interval` after an unknown key id (60 s unless
    /// a test says otherwise).
    pub(crate) fn with_reread_interval(mut self, interval: Duration) -> Self {
        if let Mode::Function(check) = &mut self.mode
            && let Some(sigv4) = &mut check.sigv4
        {
            sigv4.verifier = Refreshable::new(interval);
        }
        self
    }

    /// The tenants, for the checks after the archive.
    pub fn tenants(&self) -> &Tenants {
        &self.tenants
    }

    /// The headers that carry a shared secret: never archived.
    pub(crate) fn secret_headers(&self) -> impl Iterator<Item = &str> {
        let shared = match &self.mode {
            Mode::Function(check) => check.shared.as_slice(),
            Mode::Iam(_) => &[],
        };
        shared.iter().filter_map(|(credential, _)| credential.secret_header())
    }

    /// Checks `request`; answers who called, as the archive records it, and the tenant.
    pub(crate) async fn check(&self, request: &Inbound, now: SystemTime) -> Result<(Caller, TenantId), Refusal> {
        let reported = &request.caller;
        let (tenant, credential, access_key) = match &self.mode {
            Mode::Iam(allowed) => {
                let arn = reported.arn.as_deref();
                let tenant = arn.and_then(|arn| allowed.iter().find(|(principals, _)| principals.allows(arn)));
                let Some((_, tenant)) = tenant else {
                    return Err(Refusal::Forbidden { caller: arn.map(str::to_owned) });
                };
                (tenant.clone(), format!("iam {}", arn.unwrap_or_default()), reported.access_key.clone())
            }
            Mode::Function(check) => {
                let authorization = request.header("authorization");
                let aws4 = authorization.is_some_and(|value| value.starts_with("AWS4-"));
                match &check.sigv4 {
                    Some(sigv4) if aws4 || check.shared.is_empty() => {
                        // No `Authorization`, no read of the keys: an unsigned request costs nothing.
                        if authorization.is_none() {
                            return Err(Refusal::Unauthenticated(sigv4::Refusal::Missing));
                        }
                        let signed = sigv4::Request {
                            method: request.method.as_str(),
                            path: &request.path,
                            query: &request.query,
                            headers: &request.headers,
                            body: &request.body,
                        };
                        let verified = sigv4.verify(&signed, now).await?;
                        let tenant = sigv4.tenant_of(&verified.access_key);
                        (tenant, format!("aws4 {}", verified.access_key), Some(verified.access_key))
                    }
                    _ => {
                        let (credential, tenant) = check.shared_match(request)?;
                        (tenant.clone(), credential.describe(), None)
                    }
                }
            }
        };
        let caller = Caller {
            access_key: access_key.or_else(|| reported.access_key.clone()),
            tenant: Some(tenant.to_string()),
            credential: Some(credential),
            ..reported.clone()
        };
        Ok((caller, tenant))
    }
}

impl FunctionCheck {
    /// The shared credential `request` carries. Every credential is compared, each in constant
    /// time, so that the time taken tells nothing of which came close.
    fn shared_match(&self, request: &Inbound) -> Result<&(Credential, TenantId), Refusal> {
        let mut presented = false;
        let mut matched = None;
        for entry in &self.shared {
            let answer = entry.0.compare(|name| single_header(request, name));
            if let Some(ok) = answer {
                presented = true;
                if ok && matched.is_none() {
                    matched = Some(entry);
                }
            }
        }
        match matched {
            Some(entry) => Ok(entry),
            None if presented => Err(Refusal::CredentialRefused),
            None => Err(Refusal::NoCredential),
        }
    }
}

/// The value of header `name`, if it is sent exactly once (a credential sent twice is refused).
fn single_header<'a>(request: &'a Inbound, name: &str) -> Option<&'a str> {
    let mut values = request.headers.iter().filter(|(n, _)| n == name);
    match (values.next(), values.next()) {
        (Some((_, value)), None) => Some(value),
        (Some(_), Some(_)) => Some(""),
        _ => None,
    }
}

fn wrong_mode(tenant: &TenantId, credential: &Credential, modes: &str) -> String {
    format!(
        "tenant \"{tenant}\": the credential {} cannot be used with this AUTH_MODE; it needs AUTH_MODE={modes}",
        credential.describe()
    )
}
