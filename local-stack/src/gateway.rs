//! The local gateway: an HTTP server on loopback standing in for API Gateway's REST API with
//! `AWS_IAM` auth. It checks each request's AWS4 signature with the project's verifier against
//! local credentials (as IAM would), answers what API Gateway answers when that fails, builds the
//! proxy event API Gateway would (the stage in the path, the caller's identity in
//! `requestContext.identity`) and calls the receiver's real handler in-process.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::SystemTime;

use aws_lambda_events::query_map::QueryMap;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use sigv4::{self, SecretKey, Verifier};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use webhook_receiver::AwsReceiver;

use everbright_sync::send::Aws4;

/// The stage the local API serves, as in the template.
pub const STAGE: &str = "prod";
/// API Gateway's largest payload.
const MAX_BODY: usize = 10 * 1024 * 1024;

/// The local IAM principal: its access key signs, its ARN is what the receiver is told.
#[derive(Clone, Debug)]
pub struct LocalPrincipal {
    pub arn: String,
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
}

impl Default for LocalPrincipal {
    /// Documented defaults (docs/local-runs.md); override with `everbright-local serve` flags.
    fn default() -> Self {
        Self {
            arn: "arn:aws:iam::000000000000:user/everbright-local".into(),
            access_key: "AKIAEVERBRIGHTLOCAL0".into(),
            secret_key: "everbright-local-secret-key".into(),
            region: "us-east-1".into(),
        }
    }
}

impl LocalPrincipal {
    /// The AWS4 fields a client signs with to reach the gateway at `endpoint`.
    pub fn aws4(&self, endpoint: &str) -> Aws4 {
        Aws4 {
            access_key: self.access_key.clone(),
            secret_key: self.secret_key.clone(),
            region: self.region.clone(),
            service: "execute-api".into(),
            endpoint: endpoint.to_owned(),
        }
    }
}

/// A running gateway.
pub struct Gateway {
    /// The base endpoint to give a signing client: `http://127.0.0.1:<port>/prod`.
    pub endpoint: String,
    task: JoinHandle<()>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct State {
    receiver: AwsReceiver,
    /// The principal IAM knows and its verifier (`AWS_IAM` auth); `None`: a REST API without
    /// the IAM authorizer (or a Function URL with auth `NONE`), where the function checks.
    iam: Option<(LocalPrincipal, Verifier)>,
}

impl Gateway {
    /// Serves `receiver` on a free loopback port.
    pub async fn start(receiver: AwsReceiver, principal: LocalPrincipal) -> std::io::Result<Self> {
        Self::start_on(receiver, principal, 0).await
    }

    /// Serves `receiver` on `port` of 127.0.0.1 (0: a free one).
    pub async fn start_on(receiver: AwsReceiver, principal: LocalPrincipal, port: u16) -> std::io::Result<Self> {
        let keys =
            std::collections::HashMap::from([(principal.access_key.clone(), SecretKey::new(&principal.secret_key))]);
        let verifier = Verifier::new(&principal.region, "execute-api", keys);
        Self::serve(State { receiver, iam: Some((principal, verifier)) }, port).await
    }

    /// Serves `receiver` without the IAM authorizer, on a free loopback port: every request
    /// reaches the function, which checks its credential (`AUTH_MODE=sigv4` or `shared-secret`).
    pub async fn start_open(receiver: AwsReceiver) -> std::io::Result<Self> {
        Self::serve(State { receiver, iam: None }, 0).await
    }

    async fn serve(state: State, port: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let endpoint = format!("http://{}/{STAGE}", listener.local_addr()?);
        let state = Arc::new(state);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(state.answer(request).await) }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Ok(Self { endpoint, task })
    }
}

fn message(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(json!({ "message": text }).to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert("content-type", "application/json".parse().expect("a valid header value"));
    response
}

impl State {
    async fn answer(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        let body = match Limited::new(body, MAX_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return message(StatusCode::PAYLOAD_TOO_LARGE, "Request Too Long"),
        };
        let path = parts.uri.path().to_owned();
        let query = parts.uri.query().unwrap_or_default().to_owned();
        let headers: Vec<(String, String)> = parts
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();

        // API Gateway answers 403 "Missing Authentication Token" for an unsigned request, and
        // 403 for a signature it refuses; it never calls the function then.
        let signed = sigv4::Request {
            method: parts.method.as_str(),
            path: &path,
            query: &query,
            headers: &headers,
            body: &body,
        };
        let verified =
            self.iam.as_ref().map_or(Ok(()), |(_, verifier)| verifier.verify(&signed, SystemTime::now()).map(drop));
        if let Err(refusal) = verified {
            tracing::warn!(reason = %refusal, path, "local gateway: refused");
            return match refusal {
                sigv4::Refusal::Missing => message(StatusCode::FORBIDDEN, "Missing Authentication Token"),
                sigv4::Refusal::Skew(_) => message(StatusCode::FORBIDDEN, "Signature expired"),
                _ => message(
                    StatusCode::FORBIDDEN,
                    "The request signature we calculated does not match the signature you provided.",
                ),
            };
        }
        let Some(resource_path) = path.strip_prefix(&format!("/{STAGE}")).filter(|p| p.starts_with('/')) else {
            return message(StatusCode::FORBIDDEN, "Missing Authentication Token");
        };

        let event = self.proxy_event(parts.method.as_str(), resource_path, &path, &query, &parts.headers, &body);
        let response = match webhook_receiver::request_from_event(&event.to_string()) {
            Ok(request) => self.receiver.handle(request).await,
            Err(error) => {
                return message(StatusCode::BAD_GATEWAY, &format!("could not build the proxy event: {error}"));
            }
        };
        let (parts, body) = response.into_parts();
        let mut answer = Response::new(Full::new(Bytes::copy_from_slice(body.as_ref())));
        *answer.status_mut() = parts.status;
        *answer.headers_mut() = parts.headers;
        answer
    }

    /// The event API Gateway's REST API (payload 1.0) hands the function.
    fn proxy_event(
        &self,
        method: &str,
        resource_path: &str,
        full_path: &str,
        query: &str,
        headers: &hyper::HeaderMap,
        body: &[u8],
    ) -> Value {
        let mut single = Map::new();
        let mut multi: Map<String, Value> = Map::new();
        for (name, value) in headers {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            single.insert(name.as_str().to_owned(), json!(value));
            if let Some(values) = multi.entry(name.as_str().to_owned()).or_insert_with(|| json!([])).as_array_mut() {
                values.push(json!(value));
            }
        }
        // The REST API decodes the query (`+` is a space): the last value of each name, and all.
        let decoded: QueryMap = query.parse().unwrap_or_default();
        let (mut parameters, mut all) = (Map::new(), Map::new());
        for (name, value) in decoded.iter() {
            parameters.insert(name.to_owned(), json!(value));
            if let Some(values) = all.entry(name.to_owned()).or_insert_with(|| json!([])).as_array_mut() {
                values.push(json!(value));
            }
        }
        let (body, base64) = match std::str::from_utf8(body) {
            Ok(text) => (text.to_owned(), false),
            Err(_) => (domain::archive::RawRequest::encode_body(body), true),
        };
        let now_ms = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        json!({
            "resource": "/webhooks/{event}",
            "path": resource_path,
            "httpMethod": method,
            "headers": single,
            "multiValueHeaders": multi,
            "queryStringParameters": if parameters.is_empty() { Value::Null } else { Value::Object(parameters) },
            "multiValueQueryStringParameters": if all.is_empty() { Value::Null } else { Value::Object(all) },
            "pathParameters": { "event": resource_path.rsplit('/').next().unwrap_or_default() },
            "requestContext": {
                "resourcePath": "/webhooks/{event}",
                "httpMethod": method,
                "path": full_path,
                "stage": STAGE,
                "accountId": "000000000000",
                "apiId": "local",
                "protocol": "HTTP/1.1",
                "requestTimeEpoch": now_ms,
                "requestId": uuid::Uuid::new_v4().to_string(),
                "identity": match &self.iam {
                    Some((principal, _)) => json!({
                        "accessKey": principal.access_key,
                        "accountId": "000000000000",
                        "userArn": principal.arn,
                        "sourceIp": "127.0.0.1",
                    }),
                    None => json!({ "sourceIp": "127.0.0.1" }),
                },
            },
            "body": body,
            "isBase64Encoded": base64,
        })
    }
}
