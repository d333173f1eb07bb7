//! The signing client: sends a payload to a webhook route signed with AWS Signature Version 4,
//! from the five fields EverBright's AWS4 webhook settings ask for (access key, secret key, AWS
//! region, AWS service, base endpoint), with the `aws-sigv4` crate. It is how a deployed stack is
//! smoke-tested and how the local runs send their events.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;

/// EverBright's AWS4 credential fields.
#[derive(Clone, Debug)]
pub struct Aws4 {
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
    pub service: String,
    /// The base endpoint, e.g. `https://abc123.execute-api.us-east-1.amazonaws.com/prod`.
    pub endpoint: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("{0} is not a method EverBright sends (PUT, POST or PATCH)")]
    Method(String),
    #[error("cannot sign the request: {0}")]
    Sign(String),
    #[error("the request failed: {0}")]
    Http(#[from] reqwest::Error),
}

/// The body to send for `file`: an API Gateway or Function URL event's `body`, or the file as it is.
pub fn body_of(file: &[u8]) -> Vec<u8> {
    let event: Option<serde_json::Value> = serde_json::from_slice(file).ok();
    match event.as_ref().and_then(|e| e.get("requestContext").and(e.get("body"))).and_then(|b| b.as_str()) {
        Some(body) => body.as_bytes().to_vec(),
        None => file.to_vec(),
    }
}

/// The request for `event` (a slug) with `body`, signed at `now`.
pub fn signed_request(
    aws4: &Aws4,
    method: &str,
    event: &str,
    body: Vec<u8>,
    now: SystemTime,
) -> Result<http::Request<Vec<u8>>, SendError> {
    let method = method.to_ascii_uppercase();
    let url = format!("{}/webhooks/{event}", aws4.endpoint.trim_end_matches('/'));
    let mut request = http::Request::builder()
        .method(method.as_str())
        .uri(&url)
        .header("content-type", "application/json")
        .body(body)
        .map_err(|e| SendError::Sign(e.to_string()))?;
    let key = (aws4.access_key.as_str(), aws4.secret_key.as_str());
    sign_request(&mut request, key, (&aws4.region, &aws4.service), now)?;
    Ok(request)
}

/// Signs `request` with AWS4 as the key `(access key, secret)` for `(region, service)` at `now`,
/// every header it has signed: the webhooks here, and the local stack's calls the SDK has no
/// client for.
pub fn sign_request(
    request: &mut http::Request<Vec<u8>>,
    (access_key, secret_key): (&str, &str),
    (region, service): (&str, &str),
    now: SystemTime,
) -> Result<(), SendError> {
    let identity = Credentials::new(access_key, secret_key, None, None, "everbright-sync").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| SendError::Sign(e.to_string()))?
        .into();
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let (method, url) = (request.method().as_str().to_owned(), request.uri().to_string());
    let signable = SignableRequest::new(
        &method,
        url.as_str(),
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(request.body()),
    )
    .map_err(|e| SendError::Sign(e.to_string()))?;
    let (instructions, _signature) = sign(signable, &params).map_err(|e| SendError::Sign(e.to_string()))?.into_parts();
    instructions.apply_to_request_http1x(request);
    Ok(())
}

/// Signs and sends with one of the methods EverBright uses (PUT, POST, PATCH); answers the
/// status and the body.
pub async fn send(aws4: &Aws4, method: &str, event: &str, body: Vec<u8>) -> Result<(u16, String), SendError> {
    if !["PUT", "POST", "PATCH"].contains(&method.to_ascii_uppercase().as_str()) {
        return Err(SendError::Method(method.to_owned()));
    }
    deliver(aws4, method, event, body).await
}

/// Signs and sends with any method (the demo sends a wrong one on purpose).
pub async fn deliver(aws4: &Aws4, method: &str, event: &str, body: Vec<u8>) -> Result<(u16, String), SendError> {
    let request = signed_request(aws4, method, event, body, SystemTime::now())?;
    let request = reqwest::Request::try_from(request)?;
    everbright::tls::install_crypto_provider();
    let response = reqwest::Client::new().execute(request).await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn aws4() -> Aws4 {
        Aws4 {
            access_key: "AKIDEXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            region: "us-east-1".into(),
            service: "execute-api".into(),
            endpoint: "https://abc123.execute-api.us-east-1.amazonaws.com/prod/".into(),
        }
    }

    #[test]
    fn requests_are_signed_for_the_route_with_the_settings_scope() {
        let now = UNIX_EPOCH + Duration::from_secs(1_689_189_772);
        let request = signed_request(&aws4(), "post", "stage-transition", b"{}".to_vec(), now).unwrap();
        assert_eq!(request.uri(), "https://abc123.execute-api.us-east-1.amazonaws.com/prod/webhooks/stage-transition");
        let authorization = request.headers()["authorization"].to_str().unwrap();
        assert!(authorization.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20230712/us-east-1/execute-api/aws4_request, SignedHeaders="
        ));
        assert!(authorization.contains("host") && authorization.contains("x-amz-date"), "{authorization}");
        assert_eq!(request.headers()["x-amz-date"], "20230712T192252Z");
    }

    #[tokio::test]
    async fn only_everbrights_methods_are_sent() {
        assert!(matches!(send(&aws4(), "GET", "x", Vec::new()).await, Err(SendError::Method(_))));
    }

    #[test]
    fn an_events_file_sends_its_body_and_a_payload_file_itself() {
        assert_eq!(body_of(br#"{"requestContext":{},"body":"{\"a\":1}"}"#), br#"{"a":1}"#);
        assert_eq!(body_of(br#"{"site":"x"}"#), br#"{"site":"x"}"#);
    }
}
