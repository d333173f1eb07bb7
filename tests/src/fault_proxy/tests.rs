//! How the proxy tells requests apart and what its faults do to them.

use super::*;

#[test]
fn requests_are_told_apart_by_service_and_operation() {
    let mut headers = HeaderMap::new();
    headers.insert("x-amz-target", "DynamoDB_20120810.UpdateItem".parse().unwrap());
    assert_eq!(classify("POST", "/", "", &headers), ("dynamodb", "UpdateItem".to_owned()));
    headers.insert("x-amz-target", "AmazonSQS.SendMessageBatch".parse().unwrap());
    assert_eq!(classify("POST", "/", "", &headers), ("sqs", "SendMessageBatch".to_owned()));
    let mut s3 = HeaderMap::new();
    s3.insert("authorization", "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/s3/aws4_request".parse().unwrap());
    assert_eq!(classify("PUT", "/b/k", "partNumber=2&uploadId=u", &s3).1, "UploadPart");
    assert_eq!(classify("POST", "/b/k", "uploads", &s3).1, "CreateMultipartUpload");
    assert_eq!(classify("POST", "/b/k", "uploadId=u", &s3).1, "CompleteMultipartUpload");
    assert_eq!(classify("PUT", "/b/k", "", &s3).1, "PutObject");
    let everbright = classify("GET", "/api/v1/document/x/download/", "", &HeaderMap::new());
    assert_eq!(everbright, ("everbright", "download".to_owned()));
}

#[test]
fn rates_add_up_and_operation_rules_apply_only_to_their_operation() {
    let mut plan = FaultPlan::none().spread("s3", 0.2, &[(Fault::Unavailable, 1.0), (Fault::Throttle, 1.0)]);
    plan.rules.push(Rule::next("s3", "UploadPart", Fault::ResetAfter, 2));
    let fired = &mut Vec::new();
    assert_eq!(plan.pick("s3", "PutObject", 0.05, fired), Some(Fault::Unavailable));
    assert_eq!(plan.pick("s3", "PutObject", 0.15, fired), Some(Fault::Throttle));
    assert_eq!(plan.pick("s3", "PutObject", 0.5, fired), None);
    assert_eq!(plan.pick("dynamodb", "PutItem", 0.0, fired), None);
    assert_eq!(plan.pick("s3", "UploadPart", 0.5, fired), Some(Fault::ResetAfter));
    assert_eq!(plan.pick("s3", "UploadPart", 0.5, fired), Some(Fault::ResetAfter));
    assert_eq!(plan.pick("s3", "UploadPart", 0.5, fired), None, "a rule fires its times, no more");
}
