#!/usr/bin/env python3
"""Writes the Lambda test events in events/ from the payloads in events/payloads/.

Each event is what API Gateway's REST API (payload 1.0, stage `prod`, AWS_IAM auth) or a Lambda
Function URL (payload 2.0, IAM auth) hands the receiver for one webhook. Run it after editing a
payload: `python3 scripts/make-events.py`. The output is deterministic.
"""
import json
import pathlib
import uuid

ROOT = pathlib.Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
ACCOUNT = "123456789012"
CALLER_ARN = f"arn:aws:iam::{ACCOUNT}:user/everbright-webhooks"
ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
API_ID = "a1b2c3d4e5"
HOST = f"{API_ID}.execute-api.us-east-1.amazonaws.com"

# (event file, payload file, event slug, method, received at in epoch milliseconds)
REST = [
    ("rest-contract-signed", "contract-signed", "contract-status-change", "POST", 1689189772000),
    ("rest-contract-signed-sighten", "contract-signed-sighten", "contract-status-change", "POST", 1574800000000),
    ("rest-change-order-signed", "change-order-signed", "change-order-status-change", "POST", 1622522150000),
    ("rest-milestone-approved", "milestone-approved", "milestone-status-change", "POST", 1536081125000),
    ("rest-stage-transition", "stage-transition", "stage-transition", "POST", 1689200000000),
    ("rest-site-archived", "site-archived", "site-archived", "PATCH", 1575280805000),
    ("rest-bad-malformed-json", "malformed", "contract-status-change", "POST", 1689189773000),
    ("rest-bad-missing-site", "contract-missing-site", "contract-status-change", "POST", 1689189774000),
    ("rest-bad-wrong-method", "contract-signed", "contract-status-change", "GET", 1689189775000),
    ("rest-bad-unknown-route", "contract-signed", "contract-signed", "POST", 1689189776000),
]
URL = [("url-contract-signed", "contract-signed", "contract-status-change", "POST", 1689189772000)]


def request_id(name):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"everbright-sync/events/{name}"))


def headers(body, host):
    return {
        "Content-Type": "application/json",
        "Host": host,
        "User-Agent": "EverBright-Webhooks/1.0",
        "X-Amz-Date": "20230712T192252Z",
        "X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD",
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20230712/us-east-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000",
        "X-Forwarded-Proto": "https",
        "Content-Length": str(len(body.encode())),
    }


def body_of(payload):
    text = (EVENTS / "payloads" / f"{payload}.json").read_text()
    try:
        return json.dumps(json.loads(text), separators=(",", ":"))
    except json.JSONDecodeError:
        return text  # the malformed sample stays as it is


def rest_event(name, payload, slug, method, epoch_ms):
    body = body_of(payload)
    hdrs = headers(body, HOST)
    path = f"/webhooks/{slug}"
    return {
        "resource": "/webhooks/{event}",
        "path": path,
        "httpMethod": method,
        "headers": hdrs,
        "multiValueHeaders": {k: [v] for k, v in hdrs.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"event": slug},
        "stageVariables": None,
        "requestContext": {
            "resourceId": "r3s0rc",
            "resourcePath": "/webhooks/{event}",
            "httpMethod": method,
            "path": f"/prod{path}",
            "accountId": ACCOUNT,
            "protocol": "HTTP/1.1",
            "stage": "prod",
            "domainPrefix": API_ID,
            "domainName": HOST,
            "apiId": API_ID,
            "requestTimeEpoch": epoch_ms,
            "requestId": request_id(name),
            "identity": {
                "accessKey": ACCESS_KEY,
                "accountId": ACCOUNT,
                "caller": "AIDAJQABLZS4A3QDU576Q",
                "user": "AIDAJQABLZS4A3QDU576Q",
                "userArn": CALLER_ARN,
                "sourceIp": "203.0.113.10",
                "userAgent": "EverBright-Webhooks/1.0",
            },
        },
        "body": body,
        "isBase64Encoded": False,
    }


def url_event(name, payload, slug, method, epoch_ms):
    host = "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws"
    body = body_of(payload)
    path = f"/webhooks/{slug}"
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {k.lower(): v for k, v in headers(body, host).items()},
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "abcdefghijklmnopqrstuvwxyz012345",
            "authorizer": {
                "iam": {
                    "accessKey": ACCESS_KEY,
                    "accountId": ACCOUNT,
                    "callerId": "AIDAJQABLZS4A3QDU576Q",
                    "cognitoIdentity": None,
                    "principalOrgId": None,
                    "userArn": CALLER_ARN,
                    "userId": "AIDAJQABLZS4A3QDU576Q",
                }
            },
            "domainName": host,
            "domainPrefix": "abcdefghijklmnopqrstuvwxyz012345",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": "EverBright-Webhooks/1.0",
            },
            "requestId": request_id(name),
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": epoch_ms,
        },
        "body": body,
        "isBase64Encoded": False,
    }


def sqs_event(name, bodies):
    """An SQS event as the event source mapping hands it to the contract fetcher."""
    records = []
    for i, body in enumerate(bodies):
        message_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"everbright-sync/events/{name}/{i}"))
        records.append({
            "messageId": message_id,
            "receiptHandle": f"local-receipt-{message_id}",
            "body": json.dumps(body, separators=(",", ":")),
            "attributes": {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": "1689189773000",
                "SenderId": "AROAEXAMPLE:webhook-receiver",
                "ApproximateFirstReceiveTimestamp": "1689189773100",
            },
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": f"arn:aws:sqs:us-east-1:{ACCOUNT}:everbright-sync-FetchQueue",
            "awsRegion": "us-east-1",
        })
    return {"Records": records}


SQS = [
    ("sqs-fetch-document", [{
        "kind": "fetch_document",
        "site": "34b6b5ee-f997-4044-86ae-0abbf611fc4d",
        "quote": "042e6753-6b06-457d-9efd-70f047f4d348",
        "task": "fb04303e-da8f-413a-b9fc-b91dedf10707",
        "document": "6588bff2-16ad-43a0-86b1-4985f5100fdd",
        "name": "Installation Agreement - Signed.pdf",
        "event_id": request_id("rest-contract-signed"),
    }]),
    ("sqs-resolve-signed-quote", [{
        "kind": "resolve_signed_quote",
        "site": "157802b4-99aa-4437-b250-934df337766a",
        "quote": "8ba871ae-3282-420c-af3f-ddc41ac50273",
        "milestone": "7a605ec8-d276-4d6c-bd47-52a483e28783",
    }]),
]


def main():
    for rows, make in ((REST, rest_event), (URL, url_event)):
        for name, payload, slug, method, epoch_ms in rows:
            event = make(name, payload, slug, method, epoch_ms)
            (EVENTS / f"{name}.json").write_text(json.dumps(event, indent=2) + "\n")
            print(f"events/{name}.json")
    for name, bodies in SQS:
        (EVENTS / f"{name}.json").write_text(json.dumps(sqs_event(name, bodies), indent=2) + "\n")
        print(f"events/{name}.json")


if __name__ == "__main__":
    main()
