//! Configuration from the environment, typed once at start-up. A missing or invalid variable stops
//! the function with a message that names it.
//!
//! It holds what each function reads at start-up (`receiver.rs`: `ReceiverConfig`, with `auth.rs`
//! for `AUTH_MODE`; `fetcher.rs`: `FetcherConfig`), the environment's reader (`env.rs`), the
//! tenants document (`tenant`), webhook credentials (`credential`) and secrets that refresh
//! (`refresh`). It depends on the domain, the `sigv4` keys and the `everbright` client's token;
//! the `aws` crate reads its secrets from Secrets Manager.

pub mod credential;
pub mod refresh;
pub mod tenant;

mod auth;
mod env;
mod fetcher;
mod publisher;
mod receiver;
mod sweeper;

pub use auth::{AllowedPrincipals, AuthConfig, KeysConfig};
pub use env::{ConfigError, Env};
pub use fetcher::{DefaultApi, FetcherConfig, TokenConfig};
pub use publisher::PublisherConfig;
pub use receiver::{DedupeConfig, ReceiverConfig};
pub use sweeper::SweeperConfig;

use crate::tenant::Tenants;

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

#[cfg(test)]
mod tests;
