//! The receiver's cases in `AUTH_MODE=sigv4`: requests signed as botocore and the AWS SDKs sign
//! them, refused signatures, keys from Secrets Manager read again after an unknown key id.

use std::time::Duration;

use super::*;

/// A re-read interval no test outlasts.
const AN_HOUR: Duration = Duration::from_secs(3600);

const SIGNING_KEY: &str = "AKIAEVERBRIGHTLOCAL";
const SIGNING_SECRET: &str = "everbright-local-secret";

fn sigv4_receiver(backend: &Backend) -> AwsReceiver {
    let mut config = backend.receiver_config();
    config.auth = AuthConfig::Sigv4 {
        region: "us-east-1".into(),
        service: "execute-api".into(),
        keys: KeysConfig::Plain(parse_keys(&format!("{SIGNING_KEY}:{SIGNING_SECRET}")).unwrap()),
    };
    AwsReceiver::on_aws(&config, &backend.clients)
}

/// A sample event as a client signing with `secret` at `at` would send it through the gateway at
/// `endpoint`; `tamper` changes the event after signing.
fn signed_event(name: &str, endpoint: &str, secret: &str, tamper: impl FnOnce(&mut Value)) -> lambda_http::Request {
    signed_event_as(name, endpoint, SIGNING_KEY, secret, tamper)
}

const REST_ENDPOINT: &str = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod";

/// Names and values, in order.
type Pairs = Vec<(String, String)>;

/// What botocore's `SigV4Auth` signs for a POST to `url` with a query of spaces, `+`, non-ASCII and
/// a repeated name, and a repeated header: the query as sent, the query as API Gateway's REST API
/// decodes it (`+` is a space, `%2B` a plus), and the headers in order, repeats included.
fn botocore_signed(url: &str, secret: &str, body: &str) -> (String, Pairs, Pairs) {
    let script = r#"
import json, sys
from urllib.parse import quote, urlencode, urlsplit, parse_qsl
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
url, key, secret, body = sys.argv[1:5]
params = [("note", "two words"), ("sum", "1+1"), ("name", "Zoë"), ("tag", "b"), ("tag", "a")]
request = AWSRequest(method="POST", url=url, data=body.encode(), params=params, headers={"Content-Type": "application/json"})
request.headers.add_header("X-Everbright-Trace", "one")
request.headers.add_header("X-Everbright-Trace", "two")
SigV4Auth(Credentials(key, secret), "execute-api", "us-east-1").add_auth(request)
query = urlencode(params, quote_via=quote, safe="-_.~")
headers = [["Host", urlsplit(url).netloc]] + [[k, v] for k, v in request.headers.items()]
print(json.dumps({"query": query, "decoded": parse_qsl(query, keep_blank_values=True), "headers": headers}))
"#;
    let output = std::process::Command::new(integration_tests::root().join(".venv/bin/python"))
        .args(["-c", script, url, SIGNING_KEY, secret, body])
        .output()
        .expect("botocore runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let signed: Value = serde_json::from_slice(&output.stdout).unwrap();
    let pairs = |v: &Value| -> Vec<(String, String)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_str().unwrap().to_owned(), p[1].as_str().unwrap().to_owned()))
            .collect()
    };
    let headers = pairs(&signed["headers"]);
    let authorization = &headers.iter().find(|(n, _)| n == "Authorization").unwrap().1;
    assert!(authorization.contains("x-everbright-trace"), "the repeated header is signed: {authorization}");
    (signed["query"].as_str().unwrap().to_owned(), pairs(&signed["decoded"]), headers)
}

/// The event API Gateway's REST API hands the function for `headers` and the decoded query:
/// `headers` holds the last value of a repeated name, `multiValueHeaders` all of them.
fn rest_event(body: &str, decoded: &[(String, String)], headers: &[(String, String)]) -> Value {
    let mut json = event_json("rest-contract-signed");
    let (mut single, mut multi) = (serde_json::Map::new(), serde_json::Map::new());
    for (name, value) in headers {
        single.insert(name.clone(), json!(value));
        multi.entry(name.clone()).or_insert_with(|| json!([])).as_array_mut().unwrap().push(json!(value));
    }
    let (mut last, mut all) = (serde_json::Map::new(), serde_json::Map::new());
    for (name, value) in decoded {
        last.insert(name.clone(), json!(value));
        all.entry(name.clone()).or_insert_with(|| json!([])).as_array_mut().unwrap().push(json!(value));
    }
    json["headers"] = Value::Object(single);
    json["multiValueHeaders"] = Value::Object(multi);
    json["queryStringParameters"] = Value::Object(last);
    json["multiValueQueryStringParameters"] = Value::Object(all);
    json["body"] = json!(body);
    json
}

#[tokio::test]
async fn in_sigv4_mode_a_botocore_signed_request_with_a_repeated_header_and_an_encoded_query_is_accepted() {
    let backend = super::backend().await;
    let receiver = sigv4_receiver(&backend);
    let body = event_json("rest-contract-signed")["body"].as_str().unwrap().to_owned();

    // Behind the REST API: the function sees the gateway's maps, not the wire.
    let url = format!("{REST_ENDPOINT}/webhooks/contract-status-change");
    let (_, decoded, headers) = botocore_signed(&url, SIGNING_SECRET, &body);
    let event = rest_event(&body, &decoded, &headers);
    let response = receiver.handle(webhook_receiver::request_from_event(&event.to_string()).unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK, "REST API: {:?}", json_body(&response));

    // Behind a Function URL: the raw query, repeated headers joined with commas.
    let endpoint = "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws";
    let (query, _, headers) =
        botocore_signed(&format!("{endpoint}/webhooks/contract-status-change"), SIGNING_SECRET, &body);
    let mut event = event_json("url-contract-signed");
    let mut joined = serde_json::Map::new();
    for (name, value) in &headers {
        let name = name.to_ascii_lowercase();
        let merged = match joined.get(&name).and_then(Value::as_str) {
            Some(before) => format!("{before},{value}"),
            None => value.clone(),
        };
        joined.insert(name, json!(merged));
    }
    event["headers"] = Value::Object(joined);
    event["rawQueryString"] = json!(query);
    event["body"] = json!(body);
    let response = receiver.handle(webhook_receiver::request_from_event(&event.to_string()).unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK, "Function URL: {:?}", json_body(&response));

    // The same REST request with the second value of the repeated header changed is refused.
    let (_, decoded, mut headers) = botocore_signed(&url, SIGNING_SECRET, &body);
    let first = headers.iter().position(|(n, _)| n == "X-Everbright-Trace").unwrap();
    headers[first].1 = "changed".into();
    let event = rest_event(&body, &decoded, &headers);
    let response = receiver.handle(webhook_receiver::request_from_event(&event.to_string()).unwrap()).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "a changed first value");
}

#[tokio::test]
async fn in_sigv4_mode_a_correctly_signed_request_is_applied_and_its_key_archived() {
    let backend = super::backend().await;
    let response = sigv4_receiver(&backend)
        .handle(signed_event("rest-contract-signed", REST_ENDPOINT, SIGNING_SECRET, |_| {}))
        .await;
    assert_eq!(response.status(), StatusCode::OK, "{:?}", json_body(&response));
    assert_eq!(json_body(&response)["queued"].as_array().unwrap().len(), 9);
    let keys = backend.keys("raw/").await;
    let archived: Value = serde_json::from_slice(&backend.object(&keys[0]).await).unwrap();
    assert_eq!(archived["caller"]["access_key"], SIGNING_KEY);
    assert!(archived["headers"].get("authorization").is_none());
}

#[tokio::test]
async fn in_sigv4_mode_a_function_url_request_is_verified_on_its_raw_path() {
    let backend = super::backend().await;
    let endpoint = "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws";
    let response =
        sigv4_receiver(&backend).handle(signed_event("url-contract-signed", endpoint, SIGNING_SECRET, |_| {})).await;
    assert_eq!(response.status(), StatusCode::OK, "{:?}", json_body(&response));
}

#[tokio::test]
async fn in_sigv4_mode_unsigned_or_badly_signed_requests_are_refused_before_anything_is_written() {
    let backend = super::backend().await;
    let receiver = sigv4_receiver(&backend);
    let cases: Vec<(&str, lambda_http::Request, StatusCode)> = vec![
        (
            "unsigned",
            signed_event("rest-contract-signed", REST_ENDPOINT, SIGNING_SECRET, |e| {
                e["headers"].as_object_mut().unwrap().retain(|n, _| n != "authorization");
                e["multiValueHeaders"].as_object_mut().unwrap().retain(|n, _| n != "authorization");
            }),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "wrong secret",
            signed_event("rest-contract-signed", REST_ENDPOINT, "not-the-secret", |_| {}),
            StatusCode::FORBIDDEN,
        ),
        (
            "body changed",
            signed_event("rest-contract-signed", REST_ENDPOINT, SIGNING_SECRET, |e| {
                e["body"] = json!(e["body"].as_str().unwrap().replacen("SIGN", "VOID", 1));
            }),
            StatusCode::FORBIDDEN,
        ),
        (
            "another stage",
            signed_event("rest-contract-signed", REST_ENDPOINT, SIGNING_SECRET, |e| {
                e["requestContext"]["path"] = json!("/test/webhooks/contract-status-change");
            }),
            StatusCode::FORBIDDEN,
        ),
    ];
    for (case, request, status) in cases {
        let response = receiver.handle(request).await;
        assert_eq!(response.status(), status, "{case}");
        let error = json_body(&response)["error"].as_str().unwrap().to_owned();
        assert!(error.contains("AWS4") && !error.contains("Signature"), "{case}: {error}");
    }
    assert!(backend.keys("").await.is_empty(), "nothing archived");
    assert!(backend.items().await.is_empty(), "nothing written");
    assert!(backend.drain_queue().await.is_empty(), "nothing queued");
}

#[tokio::test]
async fn in_sigv4_mode_the_keys_can_come_from_secrets_manager() {
    let backend = super::backend().await;
    let secret = backend
        .clients
        .secrets
        .create_secret()
        .name(format!("everbright-sigv4-{}", backend.table))
        .secret_string(json!({ SIGNING_KEY: SIGNING_SECRET }).to_string())
        .send()
        .await
        .unwrap();
    let mut config = backend.receiver_config();
    config.auth = AuthConfig::Sigv4 {
        region: "us-east-1".into(),
        service: "execute-api".into(),
        keys: KeysConfig::Secret(secret.arn().unwrap().to_owned()),
    };
    let receiver = AwsReceiver::on_aws(&config, &backend.clients);
    let response = receiver.handle(signed_event("rest-stage-transition", REST_ENDPOINT, SIGNING_SECRET, |_| {})).await;
    assert_eq!(response.status(), StatusCode::OK, "{:?}", json_body(&response));
    let response = receiver.handle(signed_event("rest-site-archived", REST_ENDPOINT, SIGNING_SECRET, |_| {})).await;
    assert_eq!(response.status(), StatusCode::OK, "a PATCH, signed as one: {:?}", json_body(&response));
    let response = receiver.handle(signed_event("rest-milestone-approved", REST_ENDPOINT, "wrong", |_| {})).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

/// A receiver in sigv4 mode whose keys are in the Secrets Manager secret `secret_id`.
fn receiver_with_key_secret(backend: &Backend, secret_id: &str) -> AwsReceiver {
    let mut config = backend.receiver_config();
    config.auth = AuthConfig::Sigv4 {
        region: "us-east-1".into(),
        service: "execute-api".into(),
        keys: KeysConfig::Secret(secret_id.to_owned()),
    };
    AwsReceiver::on_aws(&config, &backend.clients)
}

#[tokio::test]
async fn in_sigv4_mode_a_key_added_to_the_secret_is_read_after_an_unknown_key_id_at_most_once_an_interval() {
    let backend = super::backend().await;
    let secrets = &backend.clients.secrets;
    let secret_id = format!("everbright-sigv4-rotation-{}", backend.table);
    let keys = |pairs: &[(&str, &str)]| Value::Object(pairs.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect());
    let first = [(SIGNING_KEY, SIGNING_SECRET)];
    secrets.create_secret().name(&secret_id).secret_string(keys(&first).to_string()).send().await.unwrap();
    let receiver = receiver_with_key_secret(&backend, &secret_id).with_keys_reread_interval(AN_HOUR);
    let send = |key: &str, secret: &str| {
        let request = signed_event_as("rest-stage-transition", REST_ENDPOINT, key, secret, |json| {
            json["requestContext"]["requestId"] = json!(uuid::Uuid::new_v4().to_string());
        });
        receiver.handle(request)
    };
    assert_eq!(send(SIGNING_KEY, SIGNING_SECRET).await.status(), StatusCode::OK);

    let second = [(SIGNING_KEY, SIGNING_SECRET), ("AKIAEVERBRIGHTNEW1", "second-secret")];
    secrets.put_secret_value().secret_id(&secret_id).secret_string(keys(&second).to_string()).send().await.unwrap();
    let response = send("AKIAEVERBRIGHTNEW1", "second-secret").await;
    assert_eq!(response.status(), StatusCode::OK, "a key added under a running function: {:?}", json_body(&response));

    // Within the interval, an unknown key id does not read the secret again.
    let third = [(SIGNING_KEY, SIGNING_SECRET), ("AKIAEVERBRIGHTNEW2", "third-secret")];
    secrets.put_secret_value().secret_id(&secret_id).secret_string(keys(&third).to_string()).send().await.unwrap();
    assert_eq!(send("AKIAEVERBRIGHTNEW2", "third-secret").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(send(SIGNING_KEY, SIGNING_SECRET).await.status(), StatusCode::OK, "the known keys still work");

    // With no interval, each unknown key id reads the secret again.
    let receiver = receiver_with_key_secret(&backend, &secret_id).with_keys_reread_interval(Duration::ZERO);
    let send = |key: &str, secret: &str| {
        let request = signed_event_as("rest-stage-transition", REST_ENDPOINT, key, secret, |json| {
            json["requestContext"]["requestId"] = json!(uuid::Uuid::new_v4().to_string());
        });
        receiver.handle(request)
    };
    assert_eq!(send(SIGNING_KEY, SIGNING_SECRET).await.status(), StatusCode::OK);
    for (n, key) in ["AKIAEVERBRIGHTNEW3", "AKIAEVERBRIGHTNEW4"].into_iter().enumerate() {
        let mut pairs = third.to_vec();
        pairs.push((key, "later-secret"));
        let document = keys(&pairs).to_string();
        secrets.put_secret_value().secret_id(&secret_id).secret_string(document).send().await.unwrap();
        assert_eq!(send(key, "later-secret").await.status(), StatusCode::OK, "key {n} added later is read");
    }
}

#[tokio::test]
async fn in_sigv4_mode_while_the_keys_cannot_be_read_a_request_without_authorization_reads_nothing() {
    let backend = super::backend().await;
    let secret_id = format!("everbright-sigv4-missing-{}", backend.table);
    let receiver = receiver_with_key_secret(&backend, &secret_id).with_keys_reread_interval(AN_HOUR);
    let signed = || {
        signed_event("rest-stage-transition", REST_ENDPOINT, SIGNING_SECRET, |json| {
            json["requestContext"]["requestId"] = json!(uuid::Uuid::new_v4().to_string());
        })
    };
    let unsigned = signed_event("rest-stage-transition", REST_ENDPOINT, SIGNING_SECRET, |json| {
        json["headers"].as_object_mut().unwrap().retain(|name, _| !name.eq_ignore_ascii_case("authorization"));
        json["multiValueHeaders"]
            .as_object_mut()
            .unwrap()
            .retain(|name, _| !name.eq_ignore_ascii_case("authorization"));
    });
    assert_eq!(receiver.handle(unsigned).await.status(), StatusCode::UNAUTHORIZED, "refused before any read");
    assert_eq!(receiver.handle(signed()).await.status(), StatusCode::SERVICE_UNAVAILABLE, "the secret is missing");

    // The secret appears, but a failed read is not tried again within the interval.
    let keys = json!({ SIGNING_KEY: SIGNING_SECRET }).to_string();
    backend.clients.secrets.create_secret().name(&secret_id).secret_string(keys).send().await.unwrap();
    assert_eq!(receiver.handle(signed()).await.status(), StatusCode::SERVICE_UNAVAILABLE);
}
