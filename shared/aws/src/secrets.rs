//! Secrets Manager: EverBright's API tokens and the AWS4 keys of `AUTH_MODE=sigv4`, read on use;
//! the tenants document and the default tenant's shared-secret credential, read at start-up.

use std::collections::HashMap;

use config::credential::Credential;
use config::tenant::Tenants;
use config::{ConfigError, TenantsSource};
use domain::ports::BackendError;
use everbright::ApiToken;
use sigv4::SecretKey;

async fn secret_string(client: &aws_sdk_secretsmanager::Client, secret_id: &str) -> Result<String, BackendError> {
    let output = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| BackendError::new("Secrets Manager GetSecretValue", e))?;
    Ok(output.secret_string().unwrap_or_default().to_owned())
}

/// Reads EverBright's API token from a Secrets Manager secret: either the token itself, or a JSON
/// object with a `token` field.
pub async fn read_token(client: &aws_sdk_secretsmanager::Client, secret_id: &str) -> Result<ApiToken, BackendError> {
    let secret = secret_string(client, secret_id).await?;
    let text = secret.trim();
    let token = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => map.get("token").and_then(|t| t.as_str()).unwrap_or_default().to_owned(),
        _ => text.to_owned(),
    };
    if token.is_empty() {
        return Err(BackendError::new("Secrets Manager GetSecretValue", format!("secret {secret_id} holds no token")));
    }
    Ok(ApiToken::new(token))
}

/// Reads the access keys EverBright may sign with from a Secrets Manager secret holding a JSON
/// object `{"<access key id>": "<secret access key>", ...}`.
pub async fn read_sigv4_keys(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
) -> Result<HashMap<String, SecretKey>, BackendError> {
    let secret = secret_string(client, secret_id).await?;
    let invalid = || {
        BackendError::new(
            "Secrets Manager GetSecretValue",
            format!("secret {secret_id} is not a JSON object of access key ids to secrets"),
        )
    };
    let map: HashMap<String, String> = serde_json::from_str(&secret).map_err(|_| invalid())?;
    if map.is_empty() {
        return Err(invalid());
    }
    Ok(map.into_iter().map(|(id, secret)| (id, SecretKey::new(secret))).collect())
}

/// The tenants of `source`, the secret read and checked now (at start-up): an error names the
/// variable and the entry.
pub async fn load_tenants(
    client: &aws_sdk_secretsmanager::Client,
    source: Option<&TenantsSource>,
) -> Result<Tenants, ConfigError> {
    let Some(TenantsSource::Secret(secret_id)) = source else {
        return Ok(TenantsSource::inline(source));
    };
    let invalid = |reason: String| ConfigError::Invalid { name: "TENANTS_SECRET", reason };
    let document = secret_string(client, secret_id).await.map_err(|e| invalid(domain::error::chain(&e)))?;
    Tenants::parse(&document).map_err(|reason| invalid(format!("secret {secret_id}: {reason}")))
}

/// The default tenant's shared-secret credential (`WEBHOOK_CREDENTIAL_SECRET`): one `webhooks`
/// entry of the tenants document, read and checked at start-up.
pub async fn load_credential(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
) -> Result<Credential, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid { name: "WEBHOOK_CREDENTIAL_SECRET", reason };
    let document = secret_string(client, secret_id).await.map_err(|e| invalid(domain::error::chain(&e)))?;
    let value: serde_json::Value =
        serde_json::from_str(&document).map_err(|e| invalid(format!("secret {secret_id} is not JSON: {e}")))?;
    Credential::from_json(&value).map_err(|reason| invalid(format!("secret {secret_id}: {reason}")))
}
