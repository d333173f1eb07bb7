//! The Lambda event the receiver is invoked with, made into a request without losing what the
//! signature covers.
//!
//! lambda_http merges the REST API's single-value `headers` over its `multiValueHeaders`, so a
//! header sent twice would keep only its last value and a signature over both would be refused.
//! [`keep_repeated_headers`] drops those names from the single-value map first: the multi-value
//! map holds every value, in order. (The query is read from the decoded parameters; see
//! `http::signed_query`.)

use lambda_http::lambda_runtime::{self, LambdaEvent};
use lambda_http::request::LambdaRequest;
use lambda_http::tower::ServiceBuilder;
use lambda_http::{Adapter, Error, Request, service_fn};

use crate::AwsReceiver;

/// Keeps every value of a repeated header of a REST API event.
pub(crate) fn keep_repeated_headers(event: &mut LambdaRequest) {
    if let LambdaRequest::ApiGatewayV1(event) = event {
        let repeated: Vec<_> = event
            .multi_value_headers
            .keys()
            .filter(|name| event.multi_value_headers.get_all(*name).iter().nth(1).is_some())
            .cloned()
            .collect();
        for name in repeated {
            event.headers.remove(name);
        }
    }
}

/// The request for an API Gateway or Function URL event (JSON), as the function sees it.
pub fn request_from_event(json: &str) -> Result<Request, serde_json::Error> {
    let mut event: LambdaRequest = serde_json::from_str(json)?;
    keep_repeated_headers(&mut event);
    Ok(Request::from(event))
}

/// Serves `receiver` on the Lambda runtime.
pub async fn run(receiver: AwsReceiver) -> Result<(), Error> {
    let receiver = &receiver;
    let handler = service_fn(|request: Request| async move { Ok::<_, Error>(receiver.handle(request).await) });
    let service = ServiceBuilder::new()
        .map_request(|mut event: LambdaEvent<LambdaRequest>| {
            keep_repeated_headers(&mut event.payload);
            event
        })
        .service(Adapter::from(handler));
    lambda_runtime::run(service).await
}
