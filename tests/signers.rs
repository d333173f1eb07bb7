//! Requests signed by independent AWS4 clients are accepted by the project's verifier, and the
//! same requests with one thing changed are refused. The clients: botocore's `SigV4Auth` and
//! `awscurl` (both pinned in `.venv`, installed by the test command), and `curl --aws-sigv4`.
//! Each signs its own set of headers; the verifier follows the request's `SignedHeaders`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, SystemTime};

use integration_tests::root;
use sigv4::{Refusal, Request, SecretKey, Verifier};

const ACCESS_KEY: &str = "AKIAEVERBRIGHTTEST";
const SECRET_KEY: &str = "everbright/test+secret";
const PATH: &str = "/prod/webhooks/contract-status-change";

/// A request as it reached the server.
#[derive(Clone, Debug)]
struct Captured {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Captured {
    fn request(&self) -> Request<'_> {
        Request { method: &self.method, path: &self.path, query: &self.query, headers: &self.headers, body: &self.body }
    }

    fn signed_headers(&self) -> String {
        let authorization = &self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("authorization")).unwrap().1;
        authorization.split("SignedHeaders=").nth(1).unwrap().split(',').next().unwrap().to_owned()
    }

    fn header_mut(&mut self, name: &str) -> &mut String {
        &mut self.headers.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)).unwrap().1
    }
}

fn verifier(region: &str) -> Verifier {
    Verifier::new(region, "execute-api", HashMap::from([(ACCESS_KEY.to_owned(), SecretKey::new(SECRET_KEY))]))
}

fn body() -> Vec<u8> {
    let text = std::fs::read_to_string(root().join("events/payloads/contract-signed.json")).unwrap();
    serde_json::to_vec(&serde_json::from_str::<serde_json::Value>(&text).unwrap()).unwrap()
}

/// Runs `client` against a one-shot HTTP server on loopback and answers what it sent.
fn capture(client: impl FnOnce(&str) -> Command) -> Captured {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}{PATH}", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap().to_owned();
        let target = parts.next().unwrap().to_owned();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap();
            headers.push((name.to_owned(), value.trim().to_owned()));
        }
        let header = |name: &str| {
            headers.iter().find(|(n, _): &&(String, String)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
        };
        let mut writer = stream;
        if header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
            writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").unwrap();
        }
        let length: usize = header("content-length").map_or(0, |v| v.parse().unwrap());
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        writer.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}").unwrap();
        let (path, query) =
            target.split_once('?').map_or((target.clone(), String::new()), |(p, q)| (p.to_owned(), q.to_owned()));
        Captured { method, path, query, headers, body }
    });
    let output = client(&url).output().expect("the signing client runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    server.join().unwrap()
}

/// The request is accepted now; each change is refused; so is it 6 minutes early or late.
fn accepted_and_tamper_proof(client: &str, captured: Captured) {
    let now = SystemTime::now();
    let verified = verifier("us-east-1").verify(&captured.request(), now);
    assert!(verified.is_ok(), "{client} ({}): {verified:?}", captured.signed_headers());

    let refused = |changed: &Captured| verifier("us-east-1").verify(&changed.request(), now).unwrap_err();
    let mut body = captured.clone();
    body.body[10] ^= 1;
    assert!(matches!(refused(&body), Refusal::Signature | Refusal::BodyHash), "{client}: body");
    let mut header = captured.clone();
    header.header_mut("content-type").push_str("; charset=latin1");
    assert_eq!(refused(&header), Refusal::Signature, "{client}: a signed header");
    let mut path = captured.clone();
    path.path = "/prod/webhooks/change-order-status-change".into();
    assert_eq!(refused(&path), Refusal::Signature, "{client}: path");
    let mut query = captured.clone();
    query.query = "replay=1".into();
    assert_eq!(refused(&query), Refusal::Signature, "{client}: query");
    let mut date = captured.clone();
    let original = date.header_mut("x-amz-date").clone();
    let earlier = if original.ends_with("0Z") {
        original.replace("0Z", "1Z")
    } else {
        format!("{}0Z", &original[..original.len() - 2])
    };
    *date.header_mut("x-amz-date") = earlier;
    assert_eq!(refused(&date), Refusal::Signature, "{client}: date");
    assert!(
        matches!(verifier("eu-west-1").verify(&captured.request(), now), Err(Refusal::Scope(_))),
        "{client}: scope"
    );
    for minutes in [6, -6] {
        let at = if minutes > 0 { now + Duration::from_secs(360) } else { now - Duration::from_secs(360) };
        assert!(
            matches!(verifier("us-east-1").verify(&captured.request(), at), Err(Refusal::Skew(_))),
            "{client}: {minutes} min"
        );
    }
}

#[test]
fn botocore_sigv4auth_requests_are_accepted_and_tamper_proof() {
    let body_file = std::env::temp_dir().join(format!("signers-body-{}.json", std::process::id()));
    std::fs::write(&body_file, body()).unwrap();
    // botocore signs the request; a small Python client then sends exactly what it signed.
    let script = r#"
import sys, urllib.request
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
url, path, key, secret = sys.argv[1:5]
body = open(path, "rb").read()
request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
SigV4Auth(Credentials(key, secret), "execute-api", "us-east-1").add_auth(request)
urllib.request.urlopen(urllib.request.Request(url, data=body, headers=dict(request.headers.items()), method="POST")).read()
"#;
    let captured = capture(|url| {
        let mut command = Command::new(root().join(".venv/bin/python"));
        command.args(["-c", script, url, body_file.to_str().unwrap(), ACCESS_KEY, SECRET_KEY]);
        command
    });
    assert_eq!(captured.signed_headers(), "content-type;host;x-amz-date");
    accepted_and_tamper_proof("botocore", captured);
}

#[test]
fn awscurl_requests_are_accepted_and_tamper_proof() {
    let body = String::from_utf8(body()).unwrap();
    let captured = capture(|url| {
        let mut command = Command::new(root().join(".venv/bin/awscurl"));
        command.args(["--service", "execute-api", "--region", "us-east-1", "--access_key", ACCESS_KEY]);
        command.args([
            "--secret_key",
            SECRET_KEY,
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            &body,
            url,
        ]);
        command
    });
    assert!(captured.signed_headers().contains("x-amz-content-sha256"), "{}", captured.signed_headers());
    accepted_and_tamper_proof("awscurl", captured);
}

#[test]
fn curl_aws_sigv4_requests_are_accepted_and_tamper_proof() {
    let body_file = std::env::temp_dir().join(format!("signers-curl-{}.json", std::process::id()));
    std::fs::write(&body_file, body()).unwrap();
    let captured = capture(|url| {
        let mut command = Command::new("curl");
        command.args(["--silent", "--show-error", "--fail", "--aws-sigv4", "aws:amz:us-east-1:execute-api"]);
        command.args(["--user", &format!("{ACCESS_KEY}:{SECRET_KEY}"), "-H", "Content-Type: application/json"]);
        command.args(["--data-binary", &format!("@{}", body_file.display()), url]);
        command
    });
    accepted_and_tamper_proof("curl", captured);
}
