//! Each tenant's EverBright: its base URL and token, and the client built from them on first use
//! and again after a 401 when the token was rotated.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws::{SecretsClient, read_token};
use config::TokenConfig;
use config::refresh::Refreshable;
use domain::error::chain;
use domain::ports::{AnswerArchive, BackendError, DocumentStore, FetchError};
use everbright::{ApiToken, EverBright};
use tracing::{info, warn};

use crate::Fetcher;

/// Where an API token comes from.
enum TokenSource {
    Plain(ApiToken),
    Secret { client: SecretsClient, secret_id: String },
}

/// One tenant's EverBright: its base URL and token, and the client built from them.
pub(crate) struct TenantApi {
    token: TokenSource,
    base_url: String,
    /// Built on first use (the token is read then), and again after a 401 (see
    /// [`Fetcher::with_client`]).
    everbright: Refreshable<EverBright>,
}

/// How often, at most, a 401 makes the fetcher read the token again.
const TOKEN_REREAD_INTERVAL: Duration = Duration::from_secs(60);

/// Why a tenant's EverBright client could not be built.
#[derive(Debug, thiserror::Error)]
enum ClientUnavailable {
    #[error("the API token could not be read")]
    Token(#[source] BackendError),
    #[error(transparent)]
    Client(#[from] everbright::ClientError),
}

impl TenantApi {
    pub(crate) fn new(token: &TokenConfig, base_url: &str, secrets: &SecretsClient) -> Self {
        let token = match token {
            TokenConfig::Plain(token) => TokenSource::Plain(token.clone()),
            TokenConfig::Secret(secret_id) => {
                TokenSource::Secret { client: secrets.clone(), secret_id: secret_id.clone() }
            }
        };
        Self { token, base_url: base_url.to_owned(), everbright: Refreshable::new(TOKEN_REREAD_INTERVAL) }
    }

    /// Reads the token again at most once per `interval` after a 401.
    pub(crate) fn reread_every(&mut self, interval: Duration) {
        self.everbright = Refreshable::new(interval);
    }
}

impl<L: crate::Ledger, D: DocumentStore, A: AnswerArchive> Fetcher<L, D, A> {
    async fn read_token(api: &TenantApi) -> Result<ApiToken, ClientUnavailable> {
        match &api.token {
            TokenSource::Plain(token) => Ok(token.clone()),
            TokenSource::Secret { client, secret_id } => {
                read_token(client, secret_id).await.map_err(ClientUnavailable::Token)
            }
        }
    }

    /// A client of the tenant's API with its token read now.
    async fn new_client(&self, api: &TenantApi) -> Result<EverBright, ClientUnavailable> {
        Ok(EverBright::new(&api.base_url, Self::read_token(api).await?, self.client_settings.clone())?)
    }

    /// `call` with the client (built with the token read on first use); after a 401, once more
    /// with the token read again, when it changed (a rotation) and was not read again in the last
    /// minute.
    pub(crate) async fn with_client<T, F, Fut>(&self, api: &TenantApi, call: F) -> Result<T, FetchError>
    where
        F: Fn(Arc<EverBright>) -> Fut,
        Fut: Future<Output = Result<T, FetchError>>,
    {
        let client = api.everbright.get(|| self.new_client(api)).await.map_err(|e| FetchError::Retryable(chain(&e)))?;
        let reason = match call(client.clone()).await {
            Err(FetchError::Unauthorized(reason)) => reason,
            other => return other,
        };
        let same = |old: &EverBright, new: &EverBright| old.same_token(new);
        match api.everbright.after_refusal(&client, || self.new_client(api), same).await {
            Ok(Some(fresh)) => {
                info!("after a 401, the API token was read again and has changed; trying with it");
                call(fresh).await
            }
            Ok(None) => Err(FetchError::Unauthorized(reason)),
            Err(error) => {
                warn!(error = %chain(&error), "after a 401, the API token could not be read again");
                Err(FetchError::Unauthorized(reason))
            }
        }
    }
}
