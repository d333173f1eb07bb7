//! Verifying the AWS4 signature of a 40 KB webhook (signed with the `aws-sigv4` crate).
//! `cargo bench -p sigv4 --bench verify`

use std::collections::HashMap;
use std::hint::black_box;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use criterion::{Criterion, criterion_group, criterion_main};
use sigv4::{Request, SecretKey, Verifier};

fn verify_40_kb(c: &mut Criterion) {
    let body: Vec<u8> = (0..40 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
    let now = SystemTime::now();
    let url = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod/webhooks/contract-status-change";
    let identity = Credentials::new("AKIDEXAMPLE", "secret", None, None, "bench").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("execute-api")
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let mut request = http::Request::builder()
        .method("POST")
        .uri(url)
        .header("host", "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com")
        .header("content-type", "application/json")
        .body(body.clone())
        .unwrap();
    let headers: Vec<(String, String)> =
        request.headers().iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned())).collect();
    let signable = SignableRequest::new(
        "POST",
        url,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(&body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    instructions.apply_to_request_http1x(&mut request);
    let headers: Vec<(String, String)> =
        request.headers().iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned())).collect();
    let verifier = Verifier::new(
        "us-east-1",
        "execute-api",
        HashMap::from([("AKIDEXAMPLE".to_owned(), SecretKey::new("secret"))]),
    );
    let signed = Request {
        method: "POST",
        path: "/prod/webhooks/contract-status-change",
        query: "",
        headers: &headers,
        body: &body,
    };
    assert!(verifier.verify(&signed, now).is_ok(), "the benchmark's request verifies");
    c.bench_function("verify a signed 40 KB request", |b| {
        b.iter(|| verifier.verify(black_box(&signed), now).unwrap());
    });
}

criterion_group!(benches, verify_40_kb);
criterion_main!(benches);
