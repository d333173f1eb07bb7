//! Tenants: one EverBright organization (or several, for an installer with sub-organizations) in
//! one environment, with its API base URL and token and the webhook credentials that speak for it.
//!
//! One JSON document configures them all (`TENANTS_SECRET`, a Secrets Manager secret; `TENANTS`
//! inline for local runs), checked whole at start-up: every error names the entry. Without one,
//! the single-tenant variables make the one tenant [`TenantId::DEFAULT`].

use std::collections::HashMap;

use domain::tenant::{Environment, TenantId};
use serde_json::{Map, Value};

use crate::TokenConfig;
use crate::credential::Credential;
use crate::credential::overlap;
use everbright::ApiToken;

/// One tenant.
#[derive(Clone, Debug)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub environment: Environment,
    /// EverBright's API: the environment's, unless the entry names another (a stand-in).
    pub base_url: String,
    /// The organizations whose sites this tenant's webhooks may name (`site_owned_by_organization`);
    /// empty: any but another tenant's.
    pub organizations: Vec<String>,
    /// `None` for the default tenant of a receiver (which needs no token).
    pub token: Option<TokenConfig>,
    pub webhooks: Vec<Credential>,
}

/// The configured tenants, checked together.
#[derive(Clone, Debug, Default)]
pub struct Tenants(Vec<Tenant>);

impl Tenants {
    pub fn new(tenants: Vec<Tenant>) -> Result<Self, String> {
        let tenants = Self(tenants);
        tenants.check()?;
        Ok(tenants)
    }

    /// Reads the tenants document: `{"tenants": [{...}, ...]}`.
    pub fn parse(document: &str) -> Result<Self, String> {
        let value: Value = serde_json::from_str(document).map_err(|e| format!("not JSON: {e}"))?;
        let list = value.get("tenants").and_then(Value::as_array).ok_or("the document is not {\"tenants\": [...]}")?;
        if list.is_empty() {
            return Err("tenants is empty".into());
        }
        let tenants = list
            .iter()
            .enumerate()
            .map(|(index, entry)| {
                let label = entry.get("id").and_then(Value::as_str).map_or(String::new(), |id| format!(" ({id:?})"));
                parse_tenant(entry).map_err(|reason| format!("tenants[{index}]{label}: {reason}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(tenants)
    }

    /// Two tenants may not share an id or a credential: who calls must decide one tenant.
    fn check(&self) -> Result<(), String> {
        let mut ids: HashMap<&str, usize> = HashMap::new();
        for (index, tenant) in self.0.iter().enumerate() {
            if let Some(first) = ids.insert(tenant.id.as_str(), index) {
                return Err(format!("tenants[{index}] ({:?}): the id is also tenants[{first}]'s", tenant.id.as_str()));
            }
        }
        let all: Vec<(&Tenant, &Credential)> =
            self.0.iter().flat_map(|tenant| tenant.webhooks.iter().map(move |c| (tenant, c))).collect();
        for (i, (a_tenant, a)) in all.iter().enumerate() {
            for (b_tenant, b) in &all[i + 1..] {
                if overlap(a, b) {
                    return Err(format!(
                        "tenants {:?} and {:?}: the credentials {} and {} overlap; a request must decide one tenant",
                        a_tenant.id.as_str(),
                        b_tenant.id.as_str(),
                        a.describe(),
                        b.describe()
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether a credential of the default tenant (named by `source`, the variable it comes from)
    /// could match a request that one of the tenants' does: a request must decide one tenant, so
    /// the error names both.
    pub fn check_default(&self, credential: &Credential, source: &str) -> Result<(), String> {
        for tenant in &self.0 {
            if let Some(theirs) = tenant.webhooks.iter().find(|theirs| overlap(credential, theirs)) {
                return Err(format!(
                    "the default tenant's credential {} ({source}) and tenant {:?}'s {} overlap; a request must decide \
                     one tenant",
                    credential.describe(),
                    tenant.id.as_str(),
                    theirs.describe()
                ));
            }
        }
        Ok(())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Tenant> {
        self.0.iter()
    }

    pub fn get(&self, id: &TenantId) -> Option<&Tenant> {
        self.0.iter().find(|tenant| &tenant.id == id)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Why a webhook of `tenant` naming `organization` as its site's owner is refused, if it is:
    /// the organization is not one of the tenant's (when it lists any), or is another tenant's.
    /// The default tenant (never in the document) lists none: it takes any but a tenant's.
    pub fn foreign_organization(&self, tenant: &TenantId, organization: &str) -> Option<String> {
        let own = self.get(tenant).map_or(&[][..], |this| this.organizations.as_slice());
        if own.iter().any(|o| o.eq_ignore_ascii_case(organization)) {
            return None;
        }
        let elsewhere = self.0.iter().any(|other| {
            other.id != *tenant && other.organizations.iter().any(|o| o.eq_ignore_ascii_case(organization))
        });
        (elsewhere || !own.is_empty()).then(|| {
            format!(
                "the payload's site_owned_by_organization {organization} is not an organization of the tenant whose \
                 credential signed it ({tenant})"
            )
        })
    }
}

fn parse_tenant(entry: &Value) -> Result<Tenant, String> {
    let object: &Map<String, Value> = entry.as_object().ok_or("is not a JSON object")?;
    let known = ["id", "name", "environment", "base_url", "organizations", "api_token", "api_token_secret", "webhooks"];
    if let Some(unknown) = object.keys().find(|key| !known.contains(&key.as_str())) {
        return Err(format!("{unknown:?} is not a tenant field (the fields: {})", known.join(", ")));
    }
    let text = |field: &str| object.get(field).and_then(Value::as_str).map(str::trim).filter(|t| !t.is_empty());
    let id = TenantId::parse(text("id").ok_or("id is missing")?).map_err(|reason| format!("id: {reason}"))?;
    let environment = Environment::parse(text("environment").ok_or("environment is missing (test or production)")?)?;
    let base_url = match text("base_url") {
        Some(url) if url.starts_with("https://") || url.starts_with("http://") => url.trim_end_matches('/').to_owned(),
        Some(url) => return Err(format!("base_url {url:?} is not an http(s) URL")),
        None => environment.base_url().to_owned(),
    };
    let organizations = match object.get("organizations") {
        None => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|o| o.as_str().map(str::to_owned).ok_or("organizations is not a list of organization ids"))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("organizations is not a list of organization ids".into()),
    };
    let token = match (text("api_token_secret"), text("api_token")) {
        (Some(_), Some(_)) => return Err("give api_token_secret or api_token, not both".into()),
        (Some(secret), None) => TokenConfig::Secret(secret.to_owned()),
        (None, Some(token)) => TokenConfig::Plain(ApiToken::new(token)),
        (None, None) => return Err("api_token_secret (or api_token) is missing".into()),
    };
    let webhooks = object
        .get("webhooks")
        .and_then(Value::as_array)
        .filter(|list| !list.is_empty())
        .ok_or("webhooks is missing or empty: name at least one credential EverBright signs with")?
        .iter()
        .enumerate()
        .map(|(index, credential)| {
            Credential::from_json(credential).map_err(|reason| format!("webhooks[{index}]: {reason}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Tenant {
        name: text("name").unwrap_or(id.as_str()).to_owned(),
        id,
        environment,
        base_url,
        organizations,
        token: Some(token),
        webhooks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const TWO: &str = r#"{"tenants": [
        {"id": "acme-test", "name": "Acme (test)", "environment": "test", "api_token": "t-acme",
         "organizations": ["825bca13-d78e-483a-96b3-6a18fb5779b4"],
         "webhooks": [{"type": "aws4", "access_key_id": "AKIDACME", "secret_access_key": "s1"}]},
        {"id": "sunco", "environment": "production", "api_token_secret": "arn:aws:secretsmanager:us-east-1:1:secret:x",
         "webhooks": [{"type": "headers", "header": "X-Webhook-Key", "value": "v2"},
                      {"type": "basic", "username": "everbright", "password": "p3"}]}
    ]}"#;

    #[test]
    fn a_complete_document_reads_with_defaults_from_the_environment() {
        let tenants = Tenants::parse(TWO).unwrap();
        let acme = tenants.get(&TenantId::parse("acme-test").unwrap()).unwrap();
        assert_eq!(acme.base_url, "https://onboard.goeverbright.com");
        assert_eq!(acme.name, "Acme (test)");
        let sunco = tenants.get(&TenantId::parse("sunco").unwrap()).unwrap();
        assert_eq!((sunco.environment, sunco.name.as_str()), (Environment::Production, "sunco"));
        assert_eq!(sunco.webhooks[0].describe(), "headers x-webhook-key");
        assert!(!format!("{tenants:?}").contains("v2") && !format!("{tenants:?}").contains("t-acme"));
    }

    #[test]
    fn every_error_names_its_entry() {
        let cases = [
            (r#"{"tenants": [{"id": "a", "environment": "staging"}]}"#, r#"tenants[0] ("a"): environment "staging""#),
            (r#"{"tenants": [{"id": "A b", "environment": "test"}]}"#, "tenants[0]"),
            (
                r#"{"tenants": [{"id": "a", "environment": "test", "api_token": "t", "webhooks": [{"type": "hmac-sha256"}]}]}"#,
                r#"tenants[0] ("a"): webhooks[0]: HMAC-SHA256 cannot be checked"#,
            ),
            (
                r#"{"tenants": [{"id": "a", "environment": "test", "api_token": "t", "webhooks": [{"type": "none"}]}]}"#,
                "refused by design",
            ),
            (
                r#"{"tenants": [{"id": "a", "environment": "test", "api_token": "t", "webhooks": []}]}"#,
                "webhooks is missing or empty",
            ),
            (r#"{"tenants": [{"id": "a", "environment": "test", "webhooks": [{"type": "basic"}]}]}"#, "api_token"),
            (r#"{"tenants": [{"id": "a", "environment": "test", "colour": 1}]}"#, r#""colour" is not a tenant field"#),
            (
                r#"{"tenants": [{"id": "a", "environment": "test", "api_token": "t", "webhooks": [{"type": "headers", "value": "v"}]}]}"#,
                "webhooks[0]: header is missing",
            ),
            (r#"{"tenants": []}"#, "tenants is empty"),
        ];
        for (document, expected) in cases {
            let err = Tenants::parse(document).unwrap_err();
            assert!(err.contains(expected), "{document}\n  gave: {err}\n  want: {expected}");
        }
    }

    #[test]
    fn two_tenants_may_not_share_an_id_or_a_credential() {
        let tenant = |id: &str, credential: &str| {
            format!(r#"{{"id": "{id}", "environment": "test", "api_token": "t", "webhooks": [{credential}]}}"#)
        };
        let key = r#"{"type": "aws4", "access_key_id": "AKID1", "secret_access_key": "s"}"#;
        let header = r#"{"type": "headers", "header": "X-K", "value": "same"}"#;
        let role = r#"{"type": "iam", "principal": "arn:aws:iam::123456789012:role/EverBright"}"#;
        let sessions = r#"{"type": "iam", "principal": "arn:aws:sts::123456789012:assumed-role/EverBright/*"}"#;
        for (a, b, expected) in [
            (tenant("a", key), tenant("a", header), "the id is also tenants[0]'s"),
            (tenant("a", key), tenant("b", key), "overlap"),
            (tenant("a", header), tenant("b", header), "overlap"),
            (tenant("a", role), tenant("b", sessions), "overlap"),
        ] {
            let err = Tenants::parse(&format!(r#"{{"tenants": [{a}, {b}]}}"#)).unwrap_err();
            assert!(err.contains(expected), "{err}");
        }
        let other_value = r#"{"type": "headers", "header": "X-K", "value": "other"}"#;
        assert!(
            Tenants::parse(&format!(r#"{{"tenants": [{}, {}]}}"#, tenant("a", header), tenant("b", other_value)))
                .is_ok()
        );
    }

    #[test]
    fn an_organization_is_refused_when_it_is_not_the_tenants_or_is_anothers() {
        let tenants = Tenants::parse(TWO).unwrap();
        let (acme, sunco) = (TenantId::parse("acme-test").unwrap(), TenantId::parse("sunco").unwrap());
        let acme_org = "825bca13-d78e-483a-96b3-6a18fb5779b4";
        assert_eq!(tenants.foreign_organization(&acme, acme_org), None);
        assert!(tenants.foreign_organization(&acme, "b7534251-dd34-4ab2-994d-3cdd6d83ec8f").is_some());
        // A tenant that lists no organization takes any but another tenant's.
        assert_eq!(tenants.foreign_organization(&sunco, "b7534251-dd34-4ab2-994d-3cdd6d83ec8f"), None);
        let refused = tenants.foreign_organization(&sunco, acme_org).unwrap();
        assert!(refused.contains(acme_org) && refused.contains("sunco"), "{refused}");
        // So does the default tenant, which is never in the document.
        let default = TenantId::default_tenant();
        assert_eq!(tenants.foreign_organization(&default, "b7534251-dd34-4ab2-994d-3cdd6d83ec8f"), None);
        let refused = tenants.foreign_organization(&default, acme_org).unwrap();
        assert!(refused.contains(acme_org) && refused.contains("default"), "{refused}");
    }

    #[test]
    fn a_principal_that_is_not_a_string_is_an_error_not_dropped() {
        for (principals, expected) in [
            (r#"["arn:aws:iam::123456789012:user/a", 42]"#, "principals[1] is not a string: 42"),
            (r#""arn:aws:iam::123456789012:user/a""#, "principals is not a list"),
        ] {
            let document = format!(
                r#"{{"tenants": [{{"id": "a", "environment": "test", "api_token": "t",
                   "webhooks": [{{"type": "iam", "principals": {principals}}}]}}]}}"#
            );
            let err = Tenants::parse(&document).unwrap_err();
            assert!(err.contains(expected), "{err}");
        }
    }
}
