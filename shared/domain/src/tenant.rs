//! A tenant's identity, as the jobs, messages and archived requests carry it: its id and its
//! EverBright environment. What a tenant may do (its credentials, token, organizations) is
//! configuration, in the `config` crate.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A tenant's id: lowercase letters, digits and `-`, at most 40; it is written on each job and
/// each queued message.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TenantId(String);

impl TenantId {
    /// The tenant of the single-tenant variables, and of messages queued before tenants existed.
    pub const DEFAULT: &'static str = "default";

    pub fn default_tenant() -> Self {
        Self(Self::DEFAULT.to_owned())
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let valid = !text.is_empty()
            && text.len() <= 40
            && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !text.starts_with('-');
        if valid { Ok(Self(text.to_owned())) } else { Err(format!("{text:?} is not 1 to 40 of a-z, 0-9 and -")) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_default(&self) -> bool {
        self.0 == Self::DEFAULT
    }
}

impl Default for TenantId {
    fn default() -> Self {
        Self::default_tenant()
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// EverBright's two environments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Onboard, where test webhooks and test credentials live.
    Test,
    /// Engine.
    Production,
}

impl Environment {
    pub fn base_url(self) -> &'static str {
        match self {
            Self::Test => "https://onboard.goeverbright.com",
            Self::Production => "https://engine.goeverbright.com",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Test => "test (Onboard)",
            Self::Production => "production (Engine)",
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "test" | "onboard" => Ok(Self::Test),
            "production" | "engine" => Ok(Self::Production),
            other => Err(format!("environment {other:?} is not test (Onboard) or production (Engine)")),
        }
    }

    /// The environment of an EverBright base URL; production for any other URL (a stand-in).
    pub fn of_base_url(base_url: &str) -> Self {
        if base_url.trim_end_matches('/') == Self::Test.base_url() { Self::Test } else { Self::Production }
    }
}
