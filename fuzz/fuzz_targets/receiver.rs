//! The receiver's handler on any API Gateway request from an allowed caller (any method, path,
//! headers and body) over ports that keep nothing: an answer for every request, never a panic,
//! and a 5xx only when a port fails (these never do).
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};
use config::AllowedPrincipals;
use domain::ports::inert::Inert;
use webhook_receiver::{Authenticator, Receiver, Settings};

const CALLER: &str = "arn:aws:iam::123456789012:user/everbright-webhooks";

#[derive(Arbitrary, Debug)]
struct Input {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    base64: bool,
}

struct World {
    runtime: tokio::runtime::Runtime,
    receiver: Receiver<Inert, Inert, Inert>,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let principals = AllowedPrincipals::parse(CALLER).expect("an ARN");
        let settings = Settings {
            auth: Authenticator::iam(principals),
            fetch_milestone_documents: true,
            dedupe: Default::default(),
        };
        World {
            runtime: tokio::runtime::Builder::new_current_thread().build().expect("a runtime"),
            receiver: Receiver::new(settings, Inert, Inert, Inert).with_metrics(domain::metrics::discard_sink()),
        }
    })
}

fuzz_target!(|input: Input| {
    let headers: Map<String, Value> = input.headers.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let body = if input.base64 {
        domain::archive::RawRequest::encode_body(&input.body)
    } else {
        String::from_utf8_lossy(&input.body).into_owned()
    };
    let event = json!({
        "resource": "/webhooks/{event}",
        "path": input.path,
        "httpMethod": input.method,
        "headers": headers,
        "requestContext": {
            "path": format!("/prod{}", input.path),
            "stage": "prod",
            "httpMethod": input.method,
            "requestId": "fuzz",
            "requestTimeEpoch": 1_689_189_772_000i64,
            "identity": { "userArn": CALLER },
        },
        "body": body,
        "isBase64Encoded": input.base64,
    });
    // What lambda_http cannot decode never reaches the handler (the runtime answers it).
    let Ok(request) = lambda_http::request::from_str(&event.to_string()) else { return };
    let world = world();
    let response = world.runtime.block_on(world.receiver.handle(request));
    assert!(response.status().as_u16() < 500, "{:?}", response.body());
});
