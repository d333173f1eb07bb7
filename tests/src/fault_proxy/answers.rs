//! What a request is (its service and operation, from its target header, its signature's scope or
//! its path), and each service's own answer for an injected failure.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Response, StatusCode};

use super::{Body, Fault};

/// Which service and operation a request is for.
pub fn classify(method: &str, path: &str, query: &str, headers: &HeaderMap) -> (&'static str, String) {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let target = header("x-amz-target");
    if let Some(operation) = target.strip_prefix("DynamoDB_20120810.") {
        return ("dynamodb", operation.to_owned());
    }
    if let Some(operation) = target.strip_prefix("AmazonSQS.") {
        return ("sqs", operation.to_owned());
    }
    if let Some(operation) = target.strip_prefix("AWSEvents.") {
        return ("events", operation.to_owned());
    }
    if let Some(operation) = target.strip_prefix("DynamoDBStreams_20120810.") {
        return ("streams", operation.to_owned());
    }
    if header("authorization").contains("/s3/aws4_request") {
        let has = |name: &str| query.split('&').any(|pair| pair == name || pair.starts_with(&format!("{name}=")));
        let operation = match method {
            "PUT" if has("partNumber") => "UploadPart",
            "PUT" if !header("x-amz-copy-source").is_empty() => "CopyObject",
            "PUT" => "PutObject",
            "POST" if has("uploads") => "CreateMultipartUpload",
            "POST" if has("uploadId") => "CompleteMultipartUpload",
            "DELETE" if has("uploadId") => "AbortMultipartUpload",
            "DELETE" => "DeleteObject",
            "GET" if has("list-type") => "ListObjectsV2",
            "GET" => "GetObject",
            "HEAD" => "HeadObject",
            _ => "other",
        };
        return ("s3", operation.to_owned());
    }
    let operation = if path.contains("/download/") {
        "download"
    } else if path.contains("/api/data/workflow") {
        "signed-quote"
    } else {
        "other"
    };
    ("everbright", operation.to_owned())
}

/// The service's own answer for an injected failure.
pub(super) fn failure(service: &str, fault: Fault) -> Response<Body> {
    let (status, code) = match (service, fault) {
        ("dynamodb", Fault::Throttle) => (StatusCode::BAD_REQUEST, "ProvisionedThroughputExceededException"),
        ("dynamodb", Fault::Unavailable) => (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable"),
        ("dynamodb", Fault::Conflict) => (StatusCode::BAD_REQUEST, "TransactionCanceledException"),
        ("dynamodb", _) => (StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError"),
        ("s3", Fault::Throttle) => (StatusCode::SERVICE_UNAVAILABLE, "SlowDown"),
        ("s3", Fault::Unavailable) => (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable"),
        ("s3", _) => (StatusCode::INTERNAL_SERVER_ERROR, "InternalError"),
        ("sqs", Fault::Throttle) => (StatusCode::BAD_REQUEST, "RequestThrottled"),
        ("sqs", Fault::Unavailable) => (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable"),
        ("sqs", _) => (StatusCode::INTERNAL_SERVER_ERROR, "InternalError"),
        ("events", Fault::Throttle) => (StatusCode::BAD_REQUEST, "ThrottlingException"),
        ("streams", Fault::Throttle) => (StatusCode::BAD_REQUEST, "LimitExceededException"),
        ("events" | "streams", Fault::Unavailable) => (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable"),
        ("events" | "streams", _) => (StatusCode::INTERNAL_SERVER_ERROR, "InternalException"),
        (_, Fault::Throttle) => (StatusCode::TOO_MANY_REQUESTS, "throttled"),
        (_, Fault::Unavailable) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    };
    let message = "injected by the fault proxy";
    let (content_type, body) = match service {
        "dynamodb" if fault == Fault::Conflict => (
            "application/x-amz-json-1.0",
            format!(
                r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{code}","message":"{message}","CancellationReasons":[{{"Code":"TransactionConflict","Message":"Transaction is ongoing for the item"}}]}}"#
            ),
        ),
        "dynamodb" => (
            "application/x-amz-json-1.0",
            format!(r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{code}","message":"{message}"}}"#),
        ),
        "sqs" => {
            ("application/x-amz-json-1.0", format!(r#"{{"__type":"com.amazonaws.sqs#{code}","message":"{message}"}}"#))
        }
        "events" | "streams" => {
            ("application/x-amz-json-1.1", format!(r#"{{"__type":"{code}","message":"{message}"}}"#))
        }
        "s3" => (
            "application/xml",
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"#
            ),
        ),
        _ => ("text/plain", format!("{code}: {message}")),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)).map_err(|e: Infallible| match e {}).boxed());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert("content-type", content_type.parse().expect("a valid header value"));
    if service == "sqs" {
        let query_error = format!("AWS.SimpleQueueService.{code};Receiver");
        headers.insert("x-amzn-query-error", query_error.parse().expect("a valid header value"));
    }
    if service == "everbright" && fault == Fault::Throttle {
        headers.insert("retry-after", "1".parse().expect("a valid header value"));
    }
    response
}
