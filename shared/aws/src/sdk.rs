//! The SDK's configuration, with what a function does not need at start-up left out.
//!
//! - Credentials and region: Lambda puts both in the environment. When they are there, they are
//!   read from there; the SDK's default chain would also build an STS client (for web identity)
//!   and read profile files. Without them (an operator's shell), the default chain is used.
//! - HTTPS: one client, rustls on ring. The SDK builds a TLS connector, reading and parsing the
//!   system's trust roots, each time it validates a client: five times at start-up (four
//!   clients and the STS one), which was most of a function's init. Here the connector is built
//!   once, when the first request needs it (and the SDK caches it from then on).

use aws_config::environment::{EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider};
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

/// The SDK's configuration from the environment (region, credentials, `AWS_ENDPOINT_URL`).
pub async fn load_sdk_config() -> SdkConfig {
    sdk_config_loader().load().await
}

/// The same, with each attempt of a call given up after `attempt` (the SDK then retries it). The
/// SDK sets no such limit: without one, a connection that stops answering holds the invocation
/// until the function's own timeout.
pub async fn load_sdk_config_with(attempt: Duration) -> SdkConfig {
    let timeouts = TimeoutConfig::builder().operation_attempt_timeout(attempt).build();
    sdk_config_loader().timeout_config(timeouts).load().await
}

/// The SDK's configuration loader with this project's HTTPS client and, when the environment
/// holds them, the environment's credentials and region.
pub fn sdk_config_loader() -> ConfigLoader {
    let https = aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
    let loader = aws_config::defaults(BehaviorVersion::latest()).http_client(OnFirstRequest(https));
    let set = |name| std::env::var_os(name).is_some_and(|value| !value.is_empty());
    if set("AWS_ACCESS_KEY_ID") && set("AWS_SECRET_ACCESS_KEY") && (set("AWS_REGION") || set("AWS_DEFAULT_REGION")) {
        loader
            .credentials_provider(EnvironmentVariableCredentialsProvider::new())
            .region(EnvironmentVariableRegionProvider::new())
    } else {
        loader
    }
}

/// An HTTP client without the start-up check that builds a TLS connector: connectors are built
/// on the first request that needs one.
#[derive(Debug)]
struct OnFirstRequest(SharedHttpClient);

impl HttpClient for OnFirstRequest {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_attempt_has_a_time_limit() {
        let sdk = load_sdk_config_with(Duration::from_secs(5)).await;
        let timeouts = sdk.timeout_config().expect("timeouts");
        assert_eq!(timeouts.operation_attempt_timeout(), Some(Duration::from_secs(5)));
    }
}
