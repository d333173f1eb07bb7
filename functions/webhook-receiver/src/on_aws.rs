//! The receiver on AWS: DynamoDB, S3 and SQS, its configuration read from the environment and the
//! secrets read at start-up (the tenants document, the shared credential, the AWS4 keys).

use aws::{Clients, DynamoJobStore, S3Archive, SqsWorkQueue, load_credential, load_tenants};
use config::credential::Credential;
use config::tenant::Tenants;
use config::{ConfigError, ReceiverConfig, TenantsSource};
use domain::error::chain;

use crate::{Authenticator, Receiver, Settings};

/// How long one attempt of an AWS call may take: the receiver's calls are small, and API Gateway
/// gives up on the whole request after 29 s.
const AWS_ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The receiver on DynamoDB, S3 and SQS.
pub type AwsReceiver = Receiver<DynamoJobStore, S3Archive, SqsWorkQueue>;

impl AwsReceiver {
    /// Builds the receiver from its configuration and the SDK's clients, with the tenants of an
    /// inline `TENANTS` (see [`Self::load`] for the secrets read at start-up).
    ///
    /// # Panics
    /// When a tenant's credential does not fit `AUTH_MODE`, or the tenants are in a secret;
    /// [`Self::load`] answers the first as an error and reads the second.
    pub fn on_aws(config: &ReceiverConfig, clients: &Clients) -> Self {
        assert!(
            !matches!(config.tenants, Some(TenantsSource::Secret(_))),
            "TENANTS_SECRET is read by AwsReceiver::load"
        );
        let tenants = TenantsSource::inline(config.tenants.as_ref());
        Self::with_tenants(config, tenants, None, clients).unwrap_or_else(|error| panic!("{error}"))
    }

    /// The receiver with `tenants` and the default tenant's shared credential.
    pub fn with_tenants(
        config: &ReceiverConfig,
        tenants: Tenants,
        shared: Option<Credential>,
        clients: &Clients,
    ) -> Result<Self, ConfigError> {
        let auth = Authenticator::with_tenants(&config.auth, tenants, shared, clients)
            .map_err(|reason| ConfigError::Invalid { name: "TENANTS", reason })?;
        Ok(Receiver::new(
            Settings { auth, fetch_milestone_documents: config.fetch_milestone_documents, dedupe: config.dedupe },
            DynamoJobStore::new(clients.dynamodb.clone(), &config.jobs_table),
            S3Archive::new(clients.s3.clone(), &config.documents_bucket),
            SqsWorkQueue::new(clients.sqs().clone(), &config.fetch_queue_url),
        ))
    }

    /// The receiver, with the tenants document and the shared credential read from Secrets
    /// Manager now and checked: an error names the variable and the entry.
    pub async fn load(config: &ReceiverConfig, clients: &Clients) -> Result<Self, ConfigError> {
        let tenants = load_tenants(&clients.secrets, config.tenants.as_ref()).await?;
        let shared = match &config.webhook_credential_secret {
            Some(secret_id) => Some(load_credential(&clients.secrets, secret_id).await?),
            None => None,
        };
        let receiver = Self::with_tenants(config, tenants, shared, clients)?;
        receiver
            .settings
            .auth
            .read_keys()
            .await
            .map_err(|error| ConfigError::Invalid { name: "SIGV4_CREDENTIALS_SECRET", reason: chain(&error) })?;
        Ok(receiver)
    }

    /// Reads the configuration from the environment and builds the clients once.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = ReceiverConfig::from_env()?;
        let sdk = aws::load_sdk_config_with(AWS_ATTEMPT_TIMEOUT).await;
        Self::load(&config, &Clients::new(&sdk)).await
    }
}
