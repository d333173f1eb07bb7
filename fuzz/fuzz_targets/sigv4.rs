//! The AWS4 verifier (and its `Authorization` header parser) on any request: a refusal or a
//! verification, never a panic.
#![no_main]

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sigv4::{Request, SecretKey, Verifier};

#[derive(Arbitrary, Debug)]
struct Input {
    method: String,
    path: String,
    query: String,
    authorization: String,
    date: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn verifier() -> &'static Verifier {
    static VERIFIER: OnceLock<Verifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let keys =
            HashMap::from([("AKIDEXAMPLE".to_owned(), SecretKey::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"))]);
        Verifier::new("us-east-1", "execute-api", keys)
    })
}

fuzz_target!(|input: Input| {
    let mut headers = input.headers;
    headers.push(("authorization".into(), format!("AWS4-HMAC-SHA256 {}", input.authorization)));
    headers.push(("x-amz-date".into(), input.date));
    let request =
        Request { method: &input.method, path: &input.path, query: &input.query, headers: &headers, body: &input.body };
    let now = UNIX_EPOCH + Duration::from_secs(1_689_189_772);
    let _ = verifier().verify(&request, now);
});
