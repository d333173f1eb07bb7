//! The configuration read from environments given as lists.

use std::collections::HashMap;

use super::*;

fn env(pairs: &[(&str, &str)]) -> Env<impl Fn(&str) -> Option<String>> {
    let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Env::new(move |name| map.get(name).cloned())
}

const FULL: [(&str, &str); 4] = [
    ("JOBS_TABLE", "jobs"),
    ("DOCUMENTS_BUCKET", "docs"),
    ("FETCH_QUEUE_URL", "http://q"),
    (
        "ALLOWED_PRINCIPALS",
        "arn:aws:iam::123456789012:user/everbright, arn:aws:sts::123456789012:assumed-role/EverBright/*",
    ),
];

#[test]
fn a_complete_environment_gives_defaults_for_the_optional_variables() {
    let config = ReceiverConfig::from(&env(&FULL)).unwrap();
    assert_eq!(config.jobs_table, "jobs");
    assert!(config.fetch_milestone_documents);
    assert_eq!(config.dedupe, DedupeConfig { ttl_days: 14, retry_window_minutes: 15 });
}

#[test]
fn a_wildcard_is_accepted_only_as_the_whole_last_segment_and_refused_elsewhere_naming_the_entry() {
    let sessions = AllowedPrincipals::parse("arn:aws:sts::123456789012:assumed-role/EverBright/*").unwrap();
    assert!(sessions.allows("arn:aws:sts::123456789012:assumed-role/EverBright/webhooks"));
    assert!(!sessions.allows("arn:aws:sts::123456789012:assumed-role/EverBrightEvil/webhooks"));
    for entry in [
        "arn:aws:sts::123456789012:assumed-role/EverBright*",
        "arn:*",
        "arn:aws:iam::*:user/everbright",
        "arn:aws:sts::123456789012:assumed-role/*/x",
        "arn:aws:sts::123456789012:assumed-role/EverBright/web*",
    ] {
        let list = format!("arn:aws:iam::123456789012:user/everbright,{entry}");
        let err = AllowedPrincipals::parse(&list).unwrap_err();
        assert!(err.contains(entry) && err.contains("last segment"), "{entry}: {err}");
    }
}

#[test]
fn each_missing_variable_is_named() {
    for (name, _) in FULL {
        let pairs: Vec<_> = FULL.iter().filter(|(n, _)| *n != name).copied().collect();
        let err = ReceiverConfig::from(&env(&pairs)).unwrap_err();
        assert_eq!(err, ConfigError::Missing(name));
        assert!(err.to_string().contains(name));
    }
}

#[test]
fn invalid_values_are_named_with_the_reason() {
    let mut pairs = FULL.to_vec();
    pairs.push(("FETCH_MILESTONE_DOCUMENTS", "sometimes"));
    let err = ReceiverConfig::from(&env(&pairs)).unwrap_err().to_string();
    assert!(err.contains("FETCH_MILESTONE_DOCUMENTS") && err.contains("sometimes"), "{err}");
    pairs[3] = ("ALLOWED_PRINCIPALS", "everbright");
    let err = ReceiverConfig::from(&env(&pairs)).unwrap_err().to_string();
    assert!(err.contains("not an ARN"), "{err}");
}

#[test]
fn principals_match_exactly_or_by_a_starred_prefix() {
    let AuthConfig::Iam(allowed) = ReceiverConfig::from(&env(&FULL)).unwrap().auth else {
        panic!("iam is the default mode");
    };
    assert!(allowed.allows("arn:aws:iam::123456789012:user/everbright"));
    assert!(!allowed.allows("arn:aws:iam::123456789012:user/everbright2"));
    assert!(allowed.allows("arn:aws:sts::123456789012:assumed-role/EverBright/session-1"));
    assert!(!allowed.allows("arn:aws:sts::123456789012:assumed-role/Other/session-1"));
}

#[test]
fn an_allowed_role_allows_its_sessions_and_nothing_else() {
    let allowed = AllowedPrincipals::parse("arn:aws:iam::123456789012:role/integrations/EverBright").unwrap();
    assert!(allowed.allows("arn:aws:iam::123456789012:role/integrations/EverBright"));
    assert!(allowed.allows("arn:aws:sts::123456789012:assumed-role/EverBright/webhooks"));
    assert!(!allowed.allows("arn:aws:sts::123456789012:assumed-role/EverBrightX/webhooks"));
    assert!(!allowed.allows("arn:aws:sts::999999999999:assumed-role/EverBright/webhooks"));
    let user = AllowedPrincipals::parse("arn:aws:iam::123456789012:user/EverBright").unwrap();
    assert!(!user.allows("arn:aws:sts::123456789012:assumed-role/EverBright/webhooks"));
}

#[test]
fn sigv4_mode_needs_keys_and_a_region_and_defaults_the_service() {
    let mut pairs: Vec<_> = FULL[..3].to_vec();
    pairs.push(("AUTH_MODE", "sigv4"));
    assert_eq!(ReceiverConfig::from(&env(&pairs)).unwrap_err(), ConfigError::Missing("SIGV4_CREDENTIALS_SECRET"));
    pairs.push(("SIGV4_CREDENTIALS", "AKIDEXAMPLE:secret"));
    assert_eq!(ReceiverConfig::from(&env(&pairs)).unwrap_err(), ConfigError::Missing("AWS_REGION"));
    pairs.push(("AWS_REGION", "us-east-1"));
    let AuthConfig::Sigv4 { region, service, keys: KeysConfig::Plain(keys) } =
        ReceiverConfig::from(&env(&pairs)).unwrap().auth
    else {
        panic!("not sigv4 with plain keys");
    };
    assert_eq!((region.as_str(), service.as_str(), keys.len()), ("us-east-1", "execute-api", 1));
    pairs.push(("AUTH_MODE", "hmac"));
    let err = ReceiverConfig::from(&env(&[FULL[0], FULL[1], FULL[2], ("AUTH_MODE", "hmac")])).unwrap_err();
    assert!(err.to_string().contains("AUTH_MODE"), "{err}");
}

#[test]
fn a_variable_the_mode_does_not_read_is_refused_naming_it() {
    let base = [FULL[0], FULL[1], FULL[2], ("AWS_REGION", "us-east-1")];
    for (mode, own, foreign) in [
        ("iam", ("ALLOWED_PRINCIPALS", "arn:aws:iam::123456789012:user/e"), "WEBHOOK_CREDENTIAL_SECRET"),
        ("iam", ("ALLOWED_PRINCIPALS", "arn:aws:iam::123456789012:user/e"), "SIGV4_CREDENTIALS"),
        ("sigv4", ("SIGV4_CREDENTIALS", "AKID:s"), "WEBHOOK_CREDENTIAL_SECRET"),
        ("sigv4", ("SIGV4_CREDENTIALS", "AKID:s"), "ALLOWED_PRINCIPALS"),
        ("shared-secret", ("WEBHOOK_CREDENTIAL_SECRET", "arn:x"), "SIGV4_CREDENTIALS"),
    ] {
        let mut pairs = base.to_vec();
        pairs.extend([("AUTH_MODE", mode), own]);
        assert!(ReceiverConfig::from(&env(&pairs)).is_ok(), "{mode} alone");
        pairs.push((foreign, "x"));
        let ConfigError::Invalid { name, reason } = ReceiverConfig::from(&env(&pairs)).unwrap_err() else {
            panic!("{mode}: {foreign} is refused");
        };
        assert_eq!(name, foreign);
        assert!(reason.contains(&format!("AUTH_MODE={mode} does not read it")), "{reason}");
    }
}

#[test]
fn the_fetcher_needs_a_token_from_a_secret_or_the_environment() {
    let base = [
        ("JOBS_TABLE", "jobs"),
        ("DOCUMENTS_BUCKET", "docs"),
        ("EVERBRIGHT_BASE_URL", "https://onboard.goeverbright.com"),
    ];
    let err = FetcherConfig::from(&env(&base)).unwrap_err();
    assert_eq!(err, ConfigError::Missing("EVERBRIGHT_API_TOKEN_SECRET"));
    let mut pairs = base.to_vec();
    pairs.push(("EVERBRIGHT_API_TOKEN", "t0k3n"));
    let config = FetcherConfig::from(&env(&pairs)).unwrap();
    assert!(matches!(config.default_tenant.as_ref().unwrap().token, TokenConfig::Plain(_)));
    assert!(!format!("{config:?}").contains("t0k3n"), "the token is never printed");
    pairs.push(("EVERBRIGHT_API_TOKEN_SECRET", "everbright/api-token"));
    assert!(matches!(FetcherConfig::from(&env(&pairs)).unwrap().default_tenant.unwrap().token, TokenConfig::Secret(_)));
    assert_eq!(config.part_mib, 8);
}

const TENANTS: &str = r#"{"tenants": [{"id": "acme", "environment": "test", "api_token": "t",
    "webhooks": [{"type": "headers", "header": "X-K", "value": "v"}]}]}"#;

#[test]
fn with_tenants_the_single_tenant_credentials_are_optional_and_without_them_required() {
    let base = [FULL[0], FULL[1], FULL[2], ("AWS_REGION", "us-east-1")];
    for mode in ["iam", "sigv4", "shared-secret"] {
        let mut pairs = base.to_vec();
        pairs.push(("AUTH_MODE", mode));
        let missing = ReceiverConfig::from(&env(&pairs)).unwrap_err();
        assert!(matches!(missing, ConfigError::Missing(_)), "{mode}: {missing}");
        pairs.push(("TENANTS", TENANTS));
        let config = ReceiverConfig::from(&env(&pairs)).unwrap_or_else(|e| panic!("{mode}: {e}"));
        assert!(matches!(config.tenants, Some(TenantsSource::Inline(_))));
    }
    let mut pairs = base.to_vec();
    pairs.extend([("AUTH_MODE", "shared-secret"), ("WEBHOOK_CREDENTIAL_SECRET", "arn:x")]);
    let config = ReceiverConfig::from(&env(&pairs)).unwrap();
    assert_eq!(config.webhook_credential_secret.as_deref(), Some("arn:x"));
    assert!(matches!(config.auth, AuthConfig::SharedSecret { .. }));
}

#[test]
fn a_bad_tenants_document_is_refused_naming_the_variable_and_the_entry() {
    let mut pairs = FULL.to_vec();
    pairs.push(("TENANTS", r#"{"tenants": [{"id": "acme", "environment": "staging"}]}"#));
    let ConfigError::Invalid { name, reason } = ReceiverConfig::from(&env(&pairs)).unwrap_err() else {
        panic!("invalid");
    };
    assert_eq!(name, "TENANTS");
    assert!(reason.starts_with(r#"tenants[0] ("acme"): environment "staging""#), "{reason}");
}

#[test]
fn the_fetcher_with_tenants_has_a_default_tenant_only_when_its_variables_are_set() {
    let base = [("JOBS_TABLE", "jobs"), ("DOCUMENTS_BUCKET", "docs"), ("TENANTS", TENANTS)];
    assert!(FetcherConfig::from(&env(&base)).unwrap().default_tenant.is_none());
    let mut pairs = base.to_vec();
    pairs.push(("EVERBRIGHT_BASE_URL", "https://engine.goeverbright.com"));
    let err = FetcherConfig::from(&env(&pairs)).unwrap_err();
    assert_eq!(err, ConfigError::Missing("EVERBRIGHT_API_TOKEN_SECRET"), "half a default tenant is named");
    pairs.push(("EVERBRIGHT_API_TOKEN", "t"));
    assert!(FetcherConfig::from(&env(&pairs)).unwrap().default_tenant.is_some());
}
