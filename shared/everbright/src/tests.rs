//! The client's unit tests: URLs, redirects, classification, backoff.

use domain::tenant::Environment;

use super::*;

#[test]
fn the_token_never_prints() {
    let token = ApiToken::new("s3cr3t");
    assert!(!format!("{token:?}").contains("s3cr3t"));
}

#[test]
fn client_errors_are_permanent_but_throttling_and_server_errors_are_not() {
    let url = Url::parse("https://engine.goeverbright.com/x?X-Amz-Signature=abc").unwrap();
    for status in [404, 403, 410, 400] {
        assert!(classify(StatusCode::from_u16(status).unwrap(), &url).is_permanent(), "{status}");
    }
    for status in [429, 408, 500, 503] {
        assert!(!classify(StatusCode::from_u16(status).unwrap(), &url).is_permanent(), "{status}");
    }
    assert!(!classify(StatusCode::NOT_FOUND, &url).to_string().contains("Signature"), "queries are not shown");
    assert!(matches!(classify(StatusCode::UNAUTHORIZED, &url), FetchError::Unauthorized(_)));
}

#[test]
fn redirects_go_only_to_https_or_the_base() {
    let allowed = |client: &EverBright, url: &str| client.refused_target(&Url::parse(url).unwrap()).is_none();
    let client = EverBright::new("http://127.0.0.1:9000", ApiToken::new("t"), ClientSettings::default()).unwrap();
    assert!(allowed(&client, "https://bucket.s3.amazonaws.com/doc.pdf"));
    assert!(allowed(&client, "http://127.0.0.1:9001/doc.pdf"));
    assert!(!allowed(&client, "http://203.0.113.7/doc.pdf"));
    assert!(!allowed(&client, "file:///etc/passwd"));
    let production =
        EverBright::new(Environment::Production.base_url(), ApiToken::new("t"), ClientSettings::default()).unwrap();
    assert!(!allowed(&production, "http://127.0.0.1:9001/doc.pdf"));
    assert!(!allowed(&production, "http://storage.example.com/doc.pdf"));
}

#[test]
fn a_redirect_to_a_private_address_given_literally_is_refused_unless_the_base_is_one() {
    let production =
        EverBright::new(Environment::Production.base_url(), ApiToken::new("t"), ClientSettings::default()).unwrap();
    for target in [
        "https://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "https://10.0.0.1/doc.pdf",
        "https://172.16.5.4/doc.pdf",
        "https://192.168.1.1/doc.pdf",
        "https://127.0.0.1/doc.pdf",
        "https://localhost/doc.pdf",
        "https://0.0.0.0/doc.pdf",
        "https://100.64.0.1/doc.pdf",
        "https://[::1]/doc.pdf",
        "https://[fd00:ec2::254]/latest/meta-data/",
        "https://[fe80::1]/doc.pdf",
        "https://[::]/doc.pdf",
        "https://[::ffff:169.254.169.254]/latest/meta-data/",
        "https://[64:ff9b::a00:1]/doc.pdf",
    ] {
        let reason = production.refused_target(&Url::parse(target).unwrap());
        assert!(reason.as_deref().is_some_and(|r| r.contains("not a public address")), "{target}: {reason:?}");
    }
    assert_eq!(production.refused_target(&Url::parse("https://203.0.113.7/doc.pdf").unwrap()), None);
    assert_eq!(production.refused_target(&Url::parse("https://[2001:db8::1]/doc.pdf").unwrap()), None);
    // A local run: the base is itself on loopback.
    let local = EverBright::new("http://127.0.0.1:9000", ApiToken::new("t"), ClientSettings::default()).unwrap();
    assert_eq!(local.refused_target(&Url::parse("https://10.0.0.1/doc.pdf").unwrap()), None);
}

#[test]
fn backoff_grows_and_is_capped() {
    let settings = ClientSettings::default();
    let (base, cap) = (settings.backoff_base, settings.backoff_cap);
    let client = EverBright::new(Environment::Production.base_url(), ApiToken::new("t"), settings).unwrap();
    assert_eq!(client.backoff_ceiling(1), base);
    assert_eq!(client.backoff_ceiling(2), base * 2);
    assert_eq!(client.backoff_ceiling(3), base * 4);
    assert_eq!(client.backoff_ceiling(39), cap);
    for attempt in [1, 3, 39] {
        let ceiling = client.backoff_ceiling(attempt);
        let waits: Vec<Duration> = (0..200).map(|_| client.backoff(attempt)).collect();
        assert!(waits.iter().all(|wait| *wait <= ceiling), "attempt {attempt}: over {ceiling:?}");
        // Jittered over the whole range: 200 draws all in its lower half happen once in 2^200.
        assert!(waits.iter().any(|wait| *wait > ceiling / 2), "attempt {attempt}: never above half");
        assert!(waits.iter().any(|wait| *wait < ceiling / 2), "attempt {attempt}: never below half");
    }
}
