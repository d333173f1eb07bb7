//! The verifier against AWS's own Signature Version 4 test suite (the aws-sigv4 crate's
//! `aws-signing-test-suite/v4`, copied to `aws-sigv4-v4/`).
//!
//! Not applicable to an API Gateway request, so not copied:
//! - `get-relative-unnormalized`, `get-relative-relative-unnormalized`,
//!   `get-slash-dot-slash-unnormalized`, `get-slash-pointless-dot-unnormalized`,
//!   `get-slash-unnormalized`, `get-slashes-unnormalized`, `get-space-unnormalized`: signed with
//!   S3's rules (`"normalize": false`: the path neither normalised nor encoded twice);
//! - every case's `query-*` files: pre-signed URLs (the signature in the query string), while
//!   EverBright signs in the `Authorization` header.
//!
//! `double-encode-path` and `double-url-encode` have no context (credentials, time): only their
//! canonical requests are checked.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sigv4::{Refusal, Request, SecretKey, Verifier, canonical_request};

struct Case {
    name: String,
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    canonical: String,
    context: Option<serde_json::Value>,
}

fn suite() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/aws-sigv4-v4")
}

/// Reads a case's `header-signed-request.txt` (a raw HTTP/1.1 request; header lines that start
/// with white space continue the previous value).
fn case(dir: &Path) -> Case {
    let text = std::fs::read_to_string(dir.join("header-signed-request.txt")).unwrap();
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let request_line = lines.next().unwrap();
    let target = request_line.split_once(' ').unwrap().1;
    let target = target.rsplit_once(" HTTP/").map_or(target, |(target, _)| target);
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            let last = headers.last_mut().unwrap();
            last.1.push('\n');
            last.1.push_str(line);
        } else {
            let (name, value) = line.split_once(':').unwrap();
            headers.push((name.to_owned(), value.trim().to_owned()));
        }
    }
    let context = std::fs::read_to_string(dir.join("context.json")).ok().map(|t| serde_json::from_str(&t).unwrap());
    Case {
        name: dir.file_name().unwrap().to_string_lossy().into_owned(),
        method: request_line.split(' ').next().unwrap().to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
        body: body.as_bytes().to_vec(),
        canonical: std::fs::read_to_string(dir.join("header-canonical-request.txt")).unwrap(),
        context,
    }
}

fn cases() -> Vec<Case> {
    let mut dirs: Vec<_> =
        std::fs::read_dir(suite()).unwrap().filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    dirs.iter().map(|d| case(d)).collect()
}

impl Case {
    fn request(&self) -> Request<'_> {
        Request { method: &self.method, path: &self.path, query: &self.query, headers: &self.headers, body: &self.body }
    }

    fn verifier(&self) -> (Verifier, SystemTime) {
        let context = self.context.as_ref().unwrap();
        let credentials = &context["credentials"];
        let keys = HashMap::from([(
            credentials["access_key_id"].as_str().unwrap().to_owned(),
            SecretKey::new(credentials["secret_access_key"].as_str().unwrap()),
        )]);
        let verifier = Verifier::new(context["region"].as_str().unwrap(), context["service"].as_str().unwrap(), keys);
        let at = time::OffsetDateTime::parse(
            context["timestamp"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        (verifier, SystemTime::UNIX_EPOCH + Duration::from_secs(at.unix_timestamp() as u64))
    }

    fn signed_headers(&self) -> Vec<String> {
        let authorization = &self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("authorization")).unwrap().1;
        let signed = authorization.split("SignedHeaders=").nth(1).unwrap().split(',').next().unwrap();
        signed.split(';').map(str::to_owned).collect()
    }

    fn payload_hash(&self) -> String {
        self.canonical.lines().last().unwrap().to_owned()
    }
}

#[test]
fn every_applicable_case_of_the_suite_is_accepted_with_the_suites_time_and_credentials() {
    let cases: Vec<_> = cases().into_iter().filter(|c| c.context.is_some()).collect();
    assert_eq!(cases.len(), 31);
    for case in cases {
        let (verifier, now) = case.verifier();
        let verified = verifier.verify(&case.request(), now);
        assert!(verified.is_ok(), "{}: {:?}", case.name, verified);
    }
}

#[test]
fn the_canonical_requests_are_the_suites_to_the_byte() {
    for case in cases() {
        let signed = case.signed_headers();
        let signed: Vec<&str> = signed.iter().map(String::as_str).collect();
        let ours = canonical_request(&case.request(), &signed, &case.payload_hash()).unwrap();
        // The two cases without a context carry an X-Amz-Date other than the one their canonical
        // request was made with; compare all but that line there.
        let expected = if case.context.is_none() {
            let date = case.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("x-amz-date")).unwrap().1.clone();
            let suite_date = case.canonical.lines().find_map(|l| l.strip_prefix("x-amz-date:")).unwrap();
            case.canonical.replace(suite_date, &date)
        } else {
            case.canonical.clone()
        };
        assert_eq!(ours, expected, "{}", case.name);
    }
}

fn post_case() -> Case {
    case(&suite().join("post-x-www-form-urlencoded"))
}

fn refusal(case: &Case, now: SystemTime) -> Refusal {
    let (verifier, _) = case.verifier();
    verifier.verify(&case.request(), now).unwrap_err()
}

#[test]
fn any_change_to_a_signed_request_is_refused() {
    let original = post_case();
    let (_, at) = original.verifier();

    let mut body = post_case();
    body.body[0] ^= 1;
    assert_eq!(refusal(&body, at), Refusal::BodyHash, "the body (covered by X-Amz-Content-Sha256)");

    let mut body = post_case();
    body.headers.retain(|(n, _)| n != "x-amz-content-sha256");
    body.body[0] ^= 1;
    assert_eq!(refusal(&body, at), Refusal::MissingHeader("x-amz-content-sha256".into()));

    let mut header = post_case();
    header.headers.iter_mut().find(|(n, _)| n == "Content-Type").unwrap().1.push('x');
    assert_eq!(refusal(&header, at), Refusal::Signature, "a signed header");

    let mut path = post_case();
    path.path = "/other".into();
    assert_eq!(refusal(&path, at), Refusal::Signature, "the path");

    let mut query = post_case();
    query.query = "a=1".into();
    assert_eq!(refusal(&query, at), Refusal::Signature, "the query");

    let mut date = post_case();
    date.headers.iter_mut().find(|(n, _)| n == "X-Amz-Date").unwrap().1 = "20150830T123700Z".into();
    assert_eq!(refusal(&date, at), Refusal::Signature, "the date");
}

#[test]
fn the_scope_must_be_this_endpoints_and_the_days() {
    let case = post_case();
    let (_, at) = case.verifier();
    let context = case.context.as_ref().unwrap();
    let keys = HashMap::from([(
        "AKIDEXAMPLE".to_owned(),
        SecretKey::new(context["credentials"]["secret_access_key"].as_str().unwrap()),
    )]);
    for (region, service) in [("us-west-2", "service"), ("us-east-1", "execute-api")] {
        let verifier = Verifier::new(region, service, keys.clone());
        assert!(matches!(verifier.verify(&case.request(), at), Err(Refusal::Scope(_))), "{region} {service}");
    }
    let mut other_day = post_case();
    for (name, value) in &mut other_day.headers {
        if name == "Authorization" {
            *value = value.replace("/20150830/", "/20150831/");
        }
    }
    assert!(matches!(refusal(&other_day, at), Refusal::Scope(_)));
}

#[test]
fn requests_six_minutes_old_or_early_are_refused_and_five_minutes_is_fine() {
    let case = post_case();
    let (_, at) = case.verifier();
    let minutes = |m: u64| Duration::from_secs(60 * m);
    assert!(matches!(refusal(&case, at + minutes(6)), Refusal::Skew(_)));
    assert!(matches!(refusal(&case, at - minutes(6)), Refusal::Skew(_)));
    let (verifier, _) = case.verifier();
    assert!(verifier.verify(&case.request(), at + minutes(5)).is_ok());
    assert!(verifier.verify(&case.request(), at - minutes(5)).is_ok());
}

#[test]
fn unknown_keys_unsigned_host_or_date_and_missing_headers_are_refused() {
    let case = post_case();
    let (_, at) = case.verifier();
    let verifier = Verifier::new("us-east-1", "service", HashMap::from([("OTHER".to_owned(), SecretKey::new("x"))]));
    assert_eq!(verifier.verify(&case.request(), at), Err(Refusal::UnknownKey("AKIDEXAMPLE".into())));

    for unsigned in ["host", "x-amz-date"] {
        let mut stripped = post_case();
        for (name, value) in &mut stripped.headers {
            if name == "Authorization" {
                *value = value.replace(&format!("{unsigned};"), "").replace(&format!(";{unsigned}"), "");
            }
        }
        assert_eq!(refusal(&stripped, at), Refusal::Unsigned(unsigned.into()));
    }
    let mut none = post_case();
    none.headers.retain(|(n, _)| n != "Authorization");
    let refused = refusal(&none, at);
    assert_eq!((refused.status(), refused.clone()), (401, Refusal::Missing));
    assert!(!refused.phrase().contains("Authorization"));
}
