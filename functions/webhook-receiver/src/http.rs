//! The HTTP edge: what the gateway tells about a request, the routes, and the answers.

use std::collections::BTreeMap;

use domain::archive::{Caller, RawRequest, SECRET_HEADERS, is_safe_key_segment};
use domain::event::EventType;
use domain::timestamp::Timestamp;
use lambda_http::http::header::{ALLOW, CONTENT_TYPE, RETRY_AFTER};
use lambda_http::http::{Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;
use sha2::{Digest, Sha256};
use tracing::{error, warn};

use crate::{Accepted, Refusal, known_events};

/// The route of a request: `<any prefix>/webhooks/<event slug>`, so that it works with the REST
/// API's stage in the path (`/prod/webhooks/...`), a custom domain's base path, or a Function URL.
pub fn route(method: &Method, path: &str) -> Result<EventType, Refusal> {
    if let Some(reason) = unsafe_path(path) {
        let path: String = path.chars().take(200).collect();
        return Err(Refusal::BadPath { path, reason });
    }
    let trimmed = path.trim_end_matches('/');
    let event = trimmed
        .rsplit_once('/')
        .filter(|(prefix, _)| prefix == &"/webhooks" || prefix.ends_with("/webhooks"))
        .and_then(|(_, slug)| EventType::from_slug(slug));
    let Some(event) = event else {
        let path: String = path.chars().take(200).collect();
        return Err(Refusal::UnknownEvent { path, known: known_events() });
    };
    if [Method::PUT, Method::POST, Method::PATCH].contains(method) {
        Ok(event)
    } else {
        Err(Refusal::MethodNotAllowed { method: method.to_string() })
    }
}

/// Why a path is refused before it is routed: what one reader resolves and another does not
/// (dot segments, encoded dots or separators, backslashes, empty segments) has no place in a
/// webhook URL. A trailing `/` is fine.
fn unsafe_path(path: &str) -> Option<&'static str> {
    let lower = path.to_ascii_lowercase();
    if path.contains('\\') || lower.contains("%5c") {
        return Some("a backslash");
    }
    if lower.contains("%2e") || lower.contains("%2f") {
        return Some("an encoded dot or slash");
    }
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    if segments.iter().any(|segment| matches!(*segment, "." | "..")) {
        return Some("a dot segment");
    }
    if segments.iter().any(|segment| segment.is_empty()) {
        return Some("an empty segment");
    }
    None
}

/// A body sent with a `Content-Type` other than JSON (`application/json`, `text/json` or any
/// `+json` type) is refused; without one, it is read as JSON.
pub(crate) fn accept_content_type(content_type: Option<&str>) -> Result<(), Refusal> {
    let Some(content_type) = content_type else { return Ok(()) };
    let media = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if media.is_empty() || media == "application/json" || media == "text/json" || media.ends_with("+json") {
        return Ok(());
    }
    Err(Refusal::UnsupportedMediaType { content_type: content_type.chars().take(100).collect() })
}

/// A request, read once at the edge: what the gateway reports (request id, time, caller), what
/// was signed (method, path, query, every header, body), where it routes, and the body's SHA-256.
/// Authentication, the archive and the logic after it all read this, never the request again.
pub(crate) struct Inbound {
    pub event_id: String,
    pub received_at: Timestamp,
    /// The caller the gateway reports (checked by the authenticator).
    pub caller: Caller,
    pub method: Method,
    /// The path as the client sent and signed it (see [`signed_path`]).
    pub path: String,
    /// The query as the client signed it (see [`signed_query`]).
    pub query: String,
    /// Every header, names lowercase, repeated names in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub body_sha256: String,
    /// The event the path routes to, or why it routes nowhere.
    pub route: Result<EventType, Refusal>,
}

impl Inbound {
    pub fn read(request: Request, now: Timestamp) -> Self {
        let (request_id, epoch_ms, caller) = match request.request_context_ref() {
            Some(RequestContext::ApiGatewayV1(cx)) => {
                let identity = &cx.identity;
                let caller = Caller {
                    arn: identity.user_arn.clone(),
                    access_key: identity.access_key.clone(),
                    account: identity.account_id.clone(),
                    source_ip: identity.source_ip.clone(),
                    ..Caller::default()
                };
                (cx.request_id.clone(), cx.request_time_epoch, caller)
            }
            Some(RequestContext::ApiGatewayV2(cx)) => {
                let iam = cx.authorizer.as_ref().and_then(|authorizer| authorizer.iam.as_ref());
                let caller = Caller {
                    arn: iam.and_then(|iam| iam.user_arn.clone()),
                    access_key: iam.and_then(|iam| iam.access_key.clone()),
                    account: iam.and_then(|iam| iam.account_id.clone()),
                    source_ip: cx.http.source_ip.clone(),
                    ..Caller::default()
                };
                (cx.request_id.clone(), cx.time_epoch, caller)
            }
            _ => (None, 0, Caller::default()),
        };
        let event_id =
            request_id.filter(|id| is_safe_key_segment(id)).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let received_at = if epoch_ms > 0 { Timestamp::from_millis(epoch_ms) } else { now };
        let path = signed_path(&request);
        let (method, query, headers) = (request.method().clone(), signed_query(&request), headers(&request));
        // Routed on the path that was signed (and that the verifier reads), not on the URI
        // lambda_http rebuilt.
        let route = route(&method, &path);
        // The body is taken, not copied.
        let body = match request.into_body() {
            Body::Empty => Vec::new(),
            Body::Text(text) => text.into_bytes(),
            Body::Binary(bytes) => bytes,
            other => other.as_ref().to_vec(),
        };
        Self {
            event_id,
            received_at,
            caller,
            method,
            route,
            path,
            query,
            headers,
            body_sha256: hex::encode(Sha256::digest(&body)),
            body,
        }
    }

    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The archive record of the request: headers without credentials (`Authorization`, the
    /// session token, and each shared secret's header; repeated ones joined),
    /// the body as received.
    pub(crate) fn raw_request<'a>(&self, caller: Caller, secret_headers: impl Iterator<Item = &'a str>) -> RawRequest {
        let secret: Vec<&str> = SECRET_HEADERS.into_iter().chain(secret_headers).collect();
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in &self.headers {
            if secret.contains(&name.as_str()) {
                continue;
            }
            headers
                .entry(name.clone())
                .and_modify(|joined| {
                    joined.push_str(", ");
                    joined.push_str(value);
                })
                .or_insert_with(|| value.clone());
        }
        RawRequest {
            event_id: self.event_id.clone(),
            event: self.route.as_ref().ok().map_or("unrouted", |event| event.slug()).to_owned(),
            received_at: self.received_at,
            method: self.method.to_string(),
            path: self.path.clone(),
            headers,
            caller,
            body_sha256: self.body_sha256.clone(),
            body_base64: RawRequest::encode_body(&self.body),
        }
    }
}

/// Every header of the request, as name and value, repeated names in order.
fn headers(request: &Request) -> Vec<(String, String)> {
    request
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect()
}

/// The path as the client sent it: for the REST API, `requestContext.path` (with the stage, or a
/// custom domain's base path); for a Function URL, the raw path.
fn signed_path(request: &Request) -> String {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(cx)) => cx.path.clone().unwrap_or_else(|| request.uri().path().to_owned()),
        _ => request.uri().path().to_owned(),
    }
}

/// The query as the client signed it. Behind the REST API the function gets the parameters
/// decoded (the URI lambda_http rebuilds from them is form-encoded: a space becomes `+`), so they
/// are encoded again as SigV4 does (RFC 3986); a Function URL's query is the raw one.
fn signed_query(request: &Request) -> String {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(_)) => {
            sigv4::encode_query(request.query_string_parameters_ref().into_iter().flat_map(|q| q.iter()))
        }
        _ => request.uri().query().unwrap_or_default().to_owned(),
    }
}

/// How long a 503 asks the sender to wait, in seconds: a delivery being applied is done within a
/// few seconds, and a failed dependency is retried by then.
const RETRY_AFTER_SECONDS: &str = "5";

/// The HTTP answer for a result; refusals are logged here, once.
pub(crate) fn answer(event_id: &str, result: Result<Accepted, Refusal>) -> Response<Body> {
    let (status, body) = match result {
        Ok(accepted) => (StatusCode::OK, json!(accepted)),
        Err(refusal) => {
            match &refusal {
                Refusal::NotArchived(source) | Refusal::NotApplied(source) | Refusal::AuthUnavailable(source) => {
                    error!(event_id, error = %source, "{refusal}");
                }
                // The client hears the short phrase; the log says which check refused it (a key
                // id or a date, never a secret or a signature).
                Refusal::Unauthenticated(reason) => {
                    warn!(event_id, status = refusal.status().as_u16(), reason = %reason, "{refusal}")
                }
                Refusal::Forbidden { caller } => {
                    warn!(event_id, caller = caller.as_deref(), "{refusal}")
                }
                _ => warn!(event_id, status = refusal.status().as_u16(), "{refusal}"),
            }
            (refusal.status(), json!({ "error": refusal.to_string(), "event_id": event_id }))
        }
    };
    let mut response = Response::builder().status(status).header(CONTENT_TYPE, "application/json");
    if status == StatusCode::METHOD_NOT_ALLOWED {
        response = response.header(ALLOW, "PUT, POST, PATCH");
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response = response.header(RETRY_AFTER, RETRY_AFTER_SECONDS);
    }
    response
        .body(Body::Text(body.to_string()))
        .unwrap_or_else(|_| Response::new(Body::Text(String::from("{\"error\":\"internal\"}"))))
}

#[cfg(test)]
mod tests {
    use domain::ports::BackendError;

    use super::*;

    #[test]
    fn routes_match_with_any_prefix_and_a_trailing_slash() {
        for path in
            ["/webhooks/stage-transition", "/prod/webhooks/stage-transition", "/prod/webhooks/stage-transition/"]
        {
            assert_eq!(route(&Method::POST, path).unwrap(), EventType::StageTransition, "{path}");
        }
    }

    #[test]
    fn an_unknown_route_lists_the_known_events() {
        let err = route(&Method::POST, "/prod/webhooks/contract-signed").unwrap_err();
        assert_eq!(err.status(), StatusCode::NOT_FOUND);
        let message = err.to_string();
        assert!(message.contains("/prod/webhooks/contract-signed") && message.contains("workflow-status-change"));
        assert!(route(&Method::POST, "/prod/stage-transition").is_err());
        assert!(route(&Method::POST, "/prod/xwebhooks/stage-transition").is_err());
    }

    #[test]
    fn paths_that_readers_resolve_differently_are_refused_before_routing() {
        for path in [
            "/prod/webhooks/../webhooks/site-archived",
            "/prod/webhooks/%2e%2e/site-archived",
            "/prod/webhooks%2fsite-archived",
            "/prod/./webhooks/site-archived",
            "/prod//webhooks/site-archived",
            "/prod/webhooks\\site-archived",
            "/prod/webhooks%5Csite-archived",
        ] {
            let refusal = route(&Method::POST, path).unwrap_err();
            assert_eq!(refusal.status(), StatusCode::BAD_REQUEST, "{path}");
            assert!(refusal.to_string().contains(path), "{refusal}");
        }
        assert!(route(&Method::POST, "/prod/webhooks/site-archived/").is_ok());
    }

    #[test]
    fn only_put_post_and_patch_are_allowed() {
        for method in [Method::PUT, Method::POST, Method::PATCH] {
            assert!(route(&method, "/webhooks/site-archived").is_ok());
        }
        for method in [Method::GET, Method::DELETE, Method::HEAD] {
            let err = route(&method, "/webhooks/site-archived").unwrap_err();
            assert_eq!(err.status(), StatusCode::METHOD_NOT_ALLOWED);
        }
    }

    #[test]
    fn json_in_any_of_its_spellings_is_accepted_and_anything_else_refused_with_415() {
        for accepted in [None, Some("application/json"), Some("Application/JSON; charset=utf-8"), Some("text/json")] {
            assert!(accept_content_type(accepted).is_ok(), "{accepted:?}");
        }
        assert!(accept_content_type(Some("application/vnd.everbright+json")).is_ok());
        for refused in ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x"] {
            let refusal = accept_content_type(Some(refused)).unwrap_err();
            assert_eq!(refusal.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
            let message = refusal.to_string();
            assert!(message.contains(refused) && message.contains("choose JSON"), "{message}");
        }
    }

    /// What `f` logs, and what it returns.
    fn logged<T>(f: impl FnOnce() -> T) -> (String, T) {
        #[derive(Clone, Default)]
        struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Captured {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
        let result = tracing::subscriber::with_default(subscriber, f);
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        (text, result)
    }

    fn body(response: &Response<Body>) -> String {
        String::from_utf8(response.body().to_vec()).unwrap()
    }

    #[test]
    fn a_refused_signature_logs_its_precise_reason_and_answers_only_the_short_phrase() {
        let refusals = [
            sigv4::Refusal::Skew("20200101T000000Z".into()),
            sigv4::Refusal::Scope("20260101/eu-west-1/execute-api/aws4_request".into()),
            sigv4::Refusal::UnknownKey("AKIAUNKNOWN".into()),
            sigv4::Refusal::Signature,
        ];
        for reason in refusals {
            let precise = reason.to_string();
            let (logs, response) = logged(|| answer("id", Err(Refusal::Unauthenticated(reason))));
            assert!(logs.contains(&precise), "{precise:?} not in {logs}");
            assert!(!body(&response).contains(&precise), "the client gets the phrase only: {}", body(&response));
        }
    }

    #[test]
    fn an_authentication_that_cannot_be_checked_logs_its_cause() {
        let cause = BackendError::new("Secrets Manager GetSecretValue", "AccessDeniedException: not authorized");
        let (logs, response) = logged(|| answer("id", Err(Refusal::AuthUnavailable(cause))));
        assert!(logs.contains("AccessDeniedException") && logs.contains("GetSecretValue"), "{logs}");
        assert!(!body(&response).contains("AccessDenied"));
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn a_method_not_allowed_answer_says_which_are() {
        let response = answer("id", Err(Refusal::MethodNotAllowed { method: "GET".into() }));
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()[ALLOW], "PUT, POST, PATCH");
    }
}
