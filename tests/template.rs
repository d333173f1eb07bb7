//! The SAM template against the code: routes, auth, least privilege, queue timing, bucket safety,
//! and the definitions the local backend copies.

use everbright_sync::local::{MAX_RECEIVE_COUNT, VISIBILITY_TIMEOUT_SECONDS};
use serde_yaml::Value;
use shared::event::EventType;
use shared::job;
use shared::metrics::{FETCHER_METRICS, NAMESPACE, RECEIVER_METRICS};

fn template() -> Value {
    let path = integration_tests::root().join("infra/template.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn resource<'a>(template: &'a Value, name: &str) -> &'a Value {
    &template["Resources"][name]["Properties"]
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items.iter().flat_map(strings).collect(),
        Value::Tagged(tagged) => strings(&tagged.value),
        _ => Vec::new(),
    }
}

#[test]
fn every_event_the_code_knows_has_put_post_and_patch_routes_and_no_other_route_exists() {
    let template = template();
    let events = resource(&template, "WebhookReceiver")["Events"].as_mapping().unwrap();
    let mut routes: Vec<(String, String)> = events
        .values()
        .filter(|e| e["Type"] == "Api")
        .map(|e| {
            (
                e["Properties"]["Path"].as_str().unwrap().to_owned(),
                e["Properties"]["Method"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    routes.sort();
    let mut expected: Vec<(String, String)> = EventType::ALL
        .iter()
        .flat_map(|event| ["PATCH", "POST", "PUT"].map(|m| (format!("/webhooks/{}", event.slug()), m.to_owned())))
        .collect();
    expected.sort();
    assert_eq!(routes, expected);
}

#[test]
fn the_api_authenticates_with_aws_iam_and_lets_only_the_everbright_principal_invoke() {
    let template = template();
    let auth = &resource(&template, "WebhookApi")["Auth"];
    assert_eq!(auth["DefaultAuthorizer"], "AWS_IAM");
    let statements = auth["ResourcePolicy"]["CustomStatements"].as_sequence().unwrap();
    assert!(
        statements
            .iter()
            .any(|s| { s["Effect"] == "Deny" && s["Condition"]["StringNotEquals"].get("aws:PrincipalArn").is_some() })
    );
}

#[test]
fn function_roles_name_no_wildcard_action_or_resource() {
    let template = template();
    for function in ["WebhookReceiver", "ContractFetcher"] {
        let properties = resource(&template, function);
        assert_eq!(strings(&properties["Role"]), [format!("{function}Role.Arn")], "{function} has its own role");
        assert!(properties.get("Policies").is_none(), "{function}: no role made by SAM");
        let role = resource(&template, &format!("{function}Role"));
        for policy in role["Policies"].as_sequence().unwrap() {
            for statement in policy["PolicyDocument"]["Statement"].as_sequence().unwrap() {
                for action in strings(&statement["Action"]) {
                    assert!(!action.contains('*'), "{function}: action {action}");
                }
                let resources = strings(&statement["Resource"]);
                assert!(!resources.is_empty(), "{function}: a statement without a resource");
                assert!(!resources.iter().any(|r| r == "*"), "{function}: resource *");
            }
        }
    }
}

#[test]
fn the_queue_waits_six_fetcher_timeouts_and_dead_letters_after_five_receives() {
    let template = template();
    let timeout = resource(&template, "ContractFetcher")["Timeout"].as_u64().unwrap();
    let queue = resource(&template, "FetchQueue");
    let visibility = queue["VisibilityTimeout"].as_u64().unwrap();
    assert!(visibility >= 6 * timeout, "{visibility} < 6 x {timeout}");
    assert_eq!(queue["RedrivePolicy"]["maxReceiveCount"].as_u64(), Some(u64::from(MAX_RECEIVE_COUNT)));
    assert_eq!(visibility, u64::from(VISIBILITY_TIMEOUT_SECONDS), "the local backend uses the template's value");
    let mapping = &resource(&template, "ContractFetcher")["Events"]["FetchQueue"]["Properties"];
    assert_eq!(strings(&mapping["FunctionResponseTypes"]), ["ReportBatchItemFailures"]);
}

#[test]
fn the_bucket_is_private_and_refuses_plain_http() {
    let template = template();
    let block = &resource(&template, "DocumentsBucket")["PublicAccessBlockConfiguration"];
    for setting in ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"] {
        assert_eq!(block[setting], Value::Bool(true), "{setting}");
    }
    let statements = resource(&template, "DocumentsBucketPolicy")["PolicyDocument"]["Statement"].as_sequence().unwrap();
    assert!(
        statements.iter().any(|s| s["Effect"] == "Deny" && s["Condition"]["Bool"]["aws:SecureTransport"] == "false")
    );
}

#[test]
fn the_table_is_the_one_the_local_backend_creates() {
    let template = template();
    let table = resource(&template, "JobsTable");
    let keys: Vec<_> =
        table["KeySchema"].as_sequence().unwrap().iter().map(|k| k["AttributeName"].as_str().unwrap()).collect();
    assert_eq!(keys, job::TABLE_KEYS);
    let index = &table["GlobalSecondaryIndexes"][0];
    assert_eq!(index["IndexName"], job::QUOTE_INDEX);
    let index_keys: Vec<_> =
        index["KeySchema"].as_sequence().unwrap().iter().map(|k| k["AttributeName"].as_str().unwrap()).collect();
    assert_eq!(index_keys, job::QUOTE_INDEX_KEYS);
    assert_eq!(table["TimeToLiveSpecification"]["AttributeName"], "expires_at");
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], Value::Bool(true));
}

#[test]
fn the_alarms_on_the_functions_metrics_name_metrics_they_emit_under_their_function_name() {
    let template = template();
    let mut seen = 0;
    for (name, resource) in template["Resources"].as_mapping().unwrap() {
        let properties = &resource["Properties"];
        if resource["Type"] != "AWS::CloudWatch::Alarm" || properties["Namespace"] != NAMESPACE {
            continue;
        }
        let metric = properties["MetricName"].as_str().unwrap();
        let dimension = &properties["Dimensions"][0];
        assert_eq!(dimension["Name"], "Function", "{name:?}");
        let function = strings(&dimension["Value"]);
        let expected = if RECEIVER_METRICS.contains(&metric) {
            "WebhookReceiver"
        } else {
            assert!(FETCHER_METRICS.contains(&metric), "{name:?}: no function emits {metric}");
            "ContractFetcher"
        };
        assert_eq!(function, [expected], "{name:?}");
        seen += 1;
    }
    assert!(seen >= 4, "alarms on Failed, Refused, PermanentFailures and Retries");
}

#[test]
fn every_prefix_that_holds_personal_data_loses_its_old_versions_and_incomplete_uploads_are_aborted() {
    let template = template();
    let rules = resource(&template, "DocumentsBucket")["LifecycleConfiguration"]["Rules"].clone();
    let rules = rules.as_sequence().expect("lifecycle rules");
    for prefix in ["raw/", "contracts/"] {
        let rule = rules
            .iter()
            .find(|rule| rule["Prefix"] == prefix && rule["Status"] == "Enabled")
            .unwrap_or_else(|| panic!("no lifecycle rule for {prefix}"));
        let days = &rule["NoncurrentVersionExpiration"]["NoncurrentDays"];
        assert_eq!(strings(days), ["NoncurrentVersionRetentionDays"], "{prefix}: {days:?}");
    }
    let parameter = &template["Parameters"]["NoncurrentVersionRetentionDays"];
    assert_eq!(parameter["Default"], 30);
    let abort = rules.iter().find(|rule| !rule["AbortIncompleteMultipartUpload"].is_null()).expect("an abort rule");
    assert_eq!(abort["Status"], "Enabled");
}
