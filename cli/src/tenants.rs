//! `everbright-sync tenants`: the tenants the stack is configured with (the tenants document of
//! `TENANTS_SECRET` or `TENANTS`, and the default tenant of the single-tenant variables), each
//! with the identities that speak for it (never a secret), and whether its API token works: one
//! harmless call (`GET /api/data/`, the data API's list of options) to its EverBright.

use std::time::Duration;

use aws::{Clients, load_sdk_config, load_tenants, read_token};
use clap::Args;
use config::tenant::Tenant;
use config::{Env, TenantsSource, TokenConfig};
use domain::tenant::{Environment, TenantId};
use everbright::{ClientSettings, EverBright, FetchError};
use tokio::time::Instant;

use crate::ops::OpsError;

#[derive(Args, Clone, Debug)]
pub struct TenantsArgs {
    /// List only: make no call to EverBright.
    #[arg(long)]
    pub no_check: bool,
}

/// One configured tenant, with what speaks for it as listed (the `default` tenant's credentials
/// are the receiver's variables, some of them secrets named, not read).
#[derive(Clone, Debug)]
pub struct Listed {
    pub tenant: Tenant,
    pub identities: Vec<String>,
}

impl Listed {
    fn of(tenant: &Tenant) -> Self {
        let identities = tenant.webhooks.iter().map(|credential| credential.describe()).collect();
        Self { tenant: tenant.clone(), identities }
    }

    /// The default tenant, from the single-tenant variables both functions read, if they are set.
    fn default_of<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Option<Self> {
        let var = |name| env.required(name).ok();
        let token = match (var("EVERBRIGHT_API_TOKEN_SECRET"), var("EVERBRIGHT_API_TOKEN")) {
            (Some(secret), _) => Some(TokenConfig::Secret(secret)),
            (None, Some(token)) => Some(TokenConfig::Plain(everbright::ApiToken::new(token))),
            (None, None) => None,
        };
        let mut identities = Vec::new();
        identities.extend(var("ALLOWED_PRINCIPALS").map(|p| format!("iam {p}")));
        identities.extend(var("SIGV4_CREDENTIALS").map(|list| {
            let ids: Vec<&str> =
                list.split(',').filter_map(|pair| pair.split_once(':').map(|(id, _)| id.trim())).collect();
            format!("aws4 {}", ids.join(","))
        }));
        identities.extend(var("SIGV4_CREDENTIALS_SECRET").map(|id| format!("aws4 keys in secret {id}")));
        identities.extend(var("WEBHOOK_CREDENTIAL_SECRET").map(|id| format!("shared secret in secret {id}")));
        let base_url = var("EVERBRIGHT_BASE_URL");
        if base_url.is_none() && token.is_none() && identities.is_empty() {
            return None;
        }
        let base_url = base_url.unwrap_or_default();
        let tenant = Tenant {
            id: TenantId::default_tenant(),
            name: "the single-tenant variables".to_owned(),
            environment: Environment::of_base_url(&base_url),
            base_url,
            organizations: Vec::new(),
            token,
            webhooks: Vec::new(),
        };
        Some(Self { tenant, identities })
    }
}

/// Every configured tenant: the default one (when its variables are set) first.
pub async fn configured<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
    clients: &Clients,
) -> Result<Vec<Listed>, OpsError> {
    let source = TenantsSource::from(env)?;
    let tenants = load_tenants(&clients.secrets, source.as_ref()).await?;
    let mut listed: Vec<Listed> = Listed::default_of(env).into_iter().collect();
    listed.extend(tenants.iter().map(Listed::of));
    if listed.is_empty() {
        return Err("no tenant is configured: set TENANTS_SECRET (or TENANTS), or the single-tenant variables".into());
    }
    Ok(listed)
}

/// Whether the tenant's token works against its base URL: `Err` says why not.
pub async fn check(listed: &Listed, clients: &Clients) -> Result<(), String> {
    let client = client_of(listed, clients).await?;
    match client.check_token(Instant::now() + Duration::from_secs(20)).await {
        Ok(()) => Ok(()),
        Err(FetchError::Unauthorized(reason)) => Err(format!("the token is refused: {reason}")),
        Err(FetchError::Permanent(reason) | FetchError::Retryable(reason)) => Err(reason),
    }
}

/// A client of the tenant's EverBright with its token (read from its secret when it is in one).
pub async fn client_of(listed: &Listed, clients: &Clients) -> Result<EverBright, String> {
    let tenant = &listed.tenant;
    let token = match &tenant.token {
        None => return Err("no API token is configured".into()),
        Some(TokenConfig::Plain(token)) => token.clone(),
        Some(TokenConfig::Secret(secret_id)) => {
            read_token(&clients.secrets, secret_id).await.map_err(|e| domain::error::chain(&e))?
        }
    };
    if tenant.base_url.is_empty() {
        return Err("no base URL is configured (EVERBRIGHT_BASE_URL)".into());
    }
    EverBright::new(&tenant.base_url, token, ClientSettings::default()).map_err(|e| domain::error::chain(&e))
}

/// A tenant's site list through its EverBright, `limit` sites a page (the backfill's source).
pub struct ApiSites {
    pub client: EverBright,
    pub limit: u32,
}

impl domain::ports::SiteSource for ApiSites {
    async fn page(&self, page: u32) -> Result<domain::reconcile::SitePage, FetchError> {
        self.client.site_page(page, self.limit, Instant::now() + Duration::from_secs(120)).await
    }
}

/// The listing, with each check's answer when checked.
pub fn render(listed: &[(Listed, Option<Result<(), String>>)]) -> String {
    let mut out = String::new();
    for (Listed { tenant, identities }, checked) in listed {
        out.push_str(&format!("{}  {}\n", tenant.id, tenant.name));
        out.push_str(&format!("  environment     {}  {}\n", tenant.environment.name(), tenant.base_url));
        if !tenant.organizations.is_empty() {
            out.push_str(&format!("  organizations   {}\n", tenant.organizations.join(", ")));
        }
        for identity in identities {
            out.push_str(&format!("  webhook         {identity}\n"));
        }
        match checked {
            None => {}
            Some(Ok(())) => out.push_str("  API token       works\n"),
            Some(Err(reason)) => out.push_str(&format!("  API token       FAILS: {reason}\n")),
        }
    }
    let failing = listed.iter().filter(|(_, checked)| matches!(checked, Some(Err(_)))).count();
    if listed.iter().any(|(_, checked)| checked.is_some()) {
        out.push_str(&format!("{} tenant(s), {failing} with a token that does not work", listed.len()));
    } else {
        out.push_str(&format!("{} tenant(s), tokens not checked", listed.len()));
    }
    out
}

/// The command: the listing, and an error when a token does not work (so that scripts notice).
pub async fn tenants(args: &TenantsArgs) -> Result<String, OpsError> {
    let clients = Clients::new(&load_sdk_config().await);
    let mut listed = Vec::new();
    for tenant in configured(&Env::process(), &clients).await? {
        let checked = if args.no_check { None } else { Some(check(&tenant, &clients).await) };
        listed.push((tenant, checked));
    }
    let out = render(&listed);
    if listed.iter().any(|(_, checked)| matches!(checked, Some(Err(_)))) {
        return Err(out.into());
    }
    Ok(out)
}
