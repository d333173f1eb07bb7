//! The SAM template against the code: routes, auth, least privilege, queue timing, bucket safety,
//! and the definitions the local backend copies.

use aws::schema;
use domain::event::EventType;
use domain::metrics::{
    FETCHER_METRICS, NAMESPACE, PUBLISHER_METRICS, RECEIVER_METRICS, RECONCILE_METRICS, SWEEPER_METRICS,
};
use integration_tests::cfn::{of_type, rendered, resource, strings, template};
use local_stack::local::{MAX_RECEIVE_COUNT, VISIBILITY_TIMEOUT_SECONDS};
use serde_yaml::Value;

/// The functions beyond the webhook: the publisher, the sweeper, the reconciliation schedule.
mod template {
    mod beyond;
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
    let template = rendered(&[("EverBrightPrincipalArn", PRINCIPAL)]);
    let auth = &resource(&template, "WebhookApi")["Auth"];
    assert_eq!(auth["DefaultAuthorizer"], "AWS_IAM");
    let statements = auth["ResourcePolicy"]["CustomStatements"].as_sequence().unwrap();
    assert!(statements.iter().any(|s| {
        s["Effect"] == "Deny" && strings(&s["Condition"]["StringNotEquals"]["aws:PrincipalArn"]) == [PRINCIPAL]
    }));
}

/// The API's deny statement's condition, rendered.
fn api_deny(template: &Value) -> Value {
    let auth = &resource(template, "WebhookApi")["Auth"];
    let statements = auth["ResourcePolicy"]["CustomStatements"].as_sequence().unwrap();
    statements.iter().find(|s| s["Effect"] == "Deny").unwrap()["Condition"].clone()
}

/// The statements of a role that read secrets, by their resources.
fn secret_reads(template: &Value, role: &str) -> Vec<Vec<String>> {
    let statements = resource(template, role)["Policies"][0]["PolicyDocument"]["Statement"].as_sequence().unwrap();
    statements
        .iter()
        .filter(|s| strings(&s["Action"]).iter().any(|a| a.starts_with("secretsmanager:")))
        .map(|s| strings(&s["Resource"]))
        .collect()
}

const TENANTS_SECRET: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:tenants-AbCdEf";

#[test]
fn in_shared_secret_mode_a_function_url_reaches_the_receiver_which_alone_reads_the_generated_credential() {
    let template = rendered(&[("AuthMode", "shared-secret")]);
    let environment = &resource(&template, "WebhookReceiver")["Environment"]["Variables"];
    assert_eq!(environment["AUTH_MODE"], "shared-secret");
    assert_eq!(strings(&environment["WEBHOOK_CREDENTIAL_SECRET"]), ["SharedSecretCredential"]);
    for absent in ["SIGV4_CREDENTIALS_SECRET", "ALLOWED_PRINCIPALS", "TENANTS_SECRET"] {
        assert!(environment.get(absent).is_none(), "{absent}");
    }
    let secret = &resource(&template, "SharedSecretCredential")["GenerateSecretString"];
    let document: serde_json::Value = serde_json::from_str(secret["SecretStringTemplate"].as_str().unwrap()).unwrap();
    assert_eq!((document["type"].as_str(), secret["GenerateStringKey"].as_str()), (Some("headers"), Some("value")));
    assert_eq!(secret_reads(&template, "WebhookReceiverRole"), [["SharedSecretCredential"]]);
    assert!(!secret_reads(&template, "ContractFetcherRole").iter().flatten().any(|r| r == "SharedSecretCredential"));
    let urls = of_type(&template, "AWS::Lambda::Url");
    assert_eq!((urls.len(), &urls[0]["Properties"]["AuthType"]), (1, &Value::from("NONE")));
    assert!(template["Outputs"].get("WebhookFunctionUrl").is_some());
    assert!(of_type(&template, "AWS::IAM::User").is_empty());
    // The REST API stays closed: its deny names only the account's root, which never signs.
    let deny = api_deny(&template);
    assert_eq!(strings(&deny["StringNotEquals"]["aws:PrincipalArn"]).len(), 1);
    assert!(strings(&deny["StringNotEquals"]["aws:PrincipalArn"])[0].contains(":root"), "{deny:?}");
}

#[test]
fn with_a_tenants_secret_both_functions_read_it_and_nothing_single_tenant_is_made() {
    for mode in ["iam", "sigv4", "shared-secret"] {
        let template = rendered(&[("AuthMode", mode), ("TenantsSecretArn", TENANTS_SECRET)]);
        for function in ["WebhookReceiver", "ContractFetcher"] {
            let environment = &resource(&template, function)["Environment"]["Variables"];
            assert_eq!(strings(&environment["TENANTS_SECRET"]), [TENANTS_SECRET], "{mode} {function}");
        }
        let receiver = &resource(&template, "WebhookReceiver")["Environment"]["Variables"];
        for absent in ["ALLOWED_PRINCIPALS", "SIGV4_CREDENTIALS_SECRET", "WEBHOOK_CREDENTIAL_SECRET"] {
            assert!(receiver.get(absent).is_none(), "{mode}: {absent}");
        }
        let fetcher = &resource(&template, "ContractFetcher")["Environment"]["Variables"];
        assert!(fetcher.get("EVERBRIGHT_API_TOKEN_SECRET").is_none() && fetcher.get("EVERBRIGHT_BASE_URL").is_none());
        for made in ["EverBrightApiToken", "Sigv4CredentialsSecret", "SharedSecretCredential", "EverBrightUser"] {
            assert!(template["Resources"].get(made).is_none(), "{mode}: {made}");
        }
        assert_eq!(secret_reads(&template, "WebhookReceiverRole"), [[TENANTS_SECRET]], "{mode}");
        let fetcher_reads = secret_reads(&template, "ContractFetcherRole");
        assert_eq!(fetcher_reads.len(), 1);
        assert_eq!(fetcher_reads[0][0], TENANTS_SECRET);
        assert!(fetcher_reads[0][1].ends_with(":secret:${AWS::StackName}/tenants/*"), "{fetcher_reads:?}");
    }
    // In iam mode the API admits this account's principals; the receiver checks each against the
    // tenants document.
    let template = rendered(&[("AuthMode", "iam"), ("TenantsSecretArn", TENANTS_SECRET)]);
    assert_eq!(strings(&api_deny(&template)["StringNotEquals"]["aws:PrincipalAccount"]), ["AWS::AccountId"]);
}

#[test]
fn function_roles_name_no_wildcard_action_or_resource() {
    for (mode, function) in ["iam", "sigv4"].into_iter().flat_map(|m| [(m, "WebhookReceiver"), (m, "ContractFetcher")])
    {
        let template = rendered(&[("AuthMode", mode), ("EverBrightPrincipalArn", PRINCIPAL)]);
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
    assert_eq!(keys, schema::TABLE_KEYS);
    let index = &table["GlobalSecondaryIndexes"][0];
    assert_eq!(index["IndexName"], schema::QUOTE_INDEX);
    let index_keys: Vec<_> =
        index["KeySchema"].as_sequence().unwrap().iter().map(|k| k["AttributeName"].as_str().unwrap()).collect();
    assert_eq!(index_keys, schema::QUOTE_INDEX_KEYS);
    let pending = &table["GlobalSecondaryIndexes"][1];
    assert_eq!(pending["IndexName"], schema::PENDING_INDEX);
    let pending_keys: Vec<_> =
        pending["KeySchema"].as_sequence().unwrap().iter().map(|k| k["AttributeName"].as_str().unwrap()).collect();
    assert_eq!(pending_keys, schema::PENDING_INDEX_KEYS);
    assert_eq!(pending["Projection"]["ProjectionType"], "ALL", "the sweeper sends again from the index alone");
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
        } else if PUBLISHER_METRICS.contains(&metric) {
            "EventPublisher"
        } else if SWEEPER_METRICS.contains(&metric) {
            "Sweeper"
        } else {
            let fetcher = FETCHER_METRICS.contains(&metric) || RECONCILE_METRICS.contains(&metric);
            assert!(fetcher, "{name:?}: no function emits {metric}");
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
    for prefix in ["raw/", "contracts/", "dal/"] {
        let rule = rules
            .iter()
            .find(|rule| rule["Prefix"] == prefix && rule["Status"] == "Enabled")
            .unwrap_or_else(|| panic!("no lifecycle rule for {prefix}"));
        let days = &rule["NoncurrentVersionExpiration"]["NoncurrentDays"];
        assert_eq!(strings(days), ["NoncurrentVersionRetentionDays"], "{prefix}: {days:?}");
    }
    let parameter = &template["Parameters"]["NoncurrentVersionRetentionDays"];
    assert_eq!(parameter["Default"], 30);
    // The data API's answers (the homeowner's contacts and address) expire too, current or not.
    let dal = rules.iter().find(|rule| rule["Prefix"] == "dal/").unwrap();
    assert_eq!(strings(&dal["ExpirationInDays"]), ["DalRetentionDays"], "{dal:?}");
    assert_eq!(template["Parameters"]["DalRetentionDays"]["Default"], 365);
    let abort = rules.iter().find(|rule| !rule["AbortIncompleteMultipartUpload"].is_null()).expect("an abort rule");
    assert_eq!(abort["Status"], "Enabled");
}

/// The receiver role's statements.
fn receiver_statements(template: &Value) -> Vec<Value> {
    let role = resource(template, "WebhookReceiverRole");
    role["Policies"][0]["PolicyDocument"]["Statement"].as_sequence().unwrap().clone()
}

const PRINCIPAL: &str = "arn:aws:iam::123456789012:user/everbright-webhooks";
const GIVEN_SECRET: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:keys-AbCdEf";

#[test]
fn in_iam_mode_the_rest_api_checks_the_signature_and_no_function_url_or_key_secret_exists() {
    for given in
        [vec![("EverBrightPrincipalArn", PRINCIPAL)], vec![("AuthMode", "iam"), ("CreateEverBrightUser", "true")]]
    {
        let template = rendered(&given);
        let environment = &resource(&template, "WebhookReceiver")["Environment"]["Variables"];
        assert_eq!(environment["AUTH_MODE"], "iam");
        assert!(environment.get("ALLOWED_PRINCIPALS").is_some());
        assert!(environment.get("SIGV4_CREDENTIALS_SECRET").is_none());
        assert!(of_type(&template, "AWS::Lambda::Url").is_empty(), "{given:?}");
        assert!(template["Outputs"].get("WebhookFunctionUrl").is_none());
        let actions: Vec<String> = receiver_statements(&template).iter().flat_map(|s| strings(&s["Action"])).collect();
        assert!(!actions.iter().any(|a| a.starts_with("secretsmanager:")), "{actions:?}");
        assert_eq!(resource(&template, "WebhookApi")["Auth"]["DefaultAuthorizer"], "AWS_IAM");
    }
}

#[test]
fn in_sigv4_mode_a_function_url_without_iam_reaches_the_receiver_which_alone_may_read_the_key_secret() {
    for (given, secret) in [
        (vec![("AuthMode", "sigv4")], "Sigv4CredentialsSecret"),
        (vec![("AuthMode", "sigv4"), ("Sigv4CredentialsSecretArn", GIVEN_SECRET)], GIVEN_SECRET),
    ] {
        let template = rendered(&given);
        let environment = &resource(&template, "WebhookReceiver")["Environment"]["Variables"];
        assert_eq!(environment["AUTH_MODE"], "sigv4");
        assert_eq!(strings(&environment["SIGV4_CREDENTIALS_SECRET"]), [secret], "{given:?}");
        assert!(of_type(&template, "AWS::IAM::User").is_empty(), "no IAM user for EverBright in sigv4 mode");

        // The secret: readable by the receiver's role, on that secret only.
        let statements = receiver_statements(&template);
        let reads: Vec<&Value> = statements
            .iter()
            .filter(|s| strings(&s["Action"]).iter().any(|a| a.starts_with("secretsmanager:")))
            .collect();
        assert_eq!(reads.len(), 1, "{given:?}");
        assert_eq!(strings(&reads[0]["Action"]), ["secretsmanager:GetSecretValue"]);
        assert_eq!(strings(&reads[0]["Resource"]), [secret]);
        let fetcher = resource(&template, "ContractFetcherRole");
        for statement in fetcher["Policies"][0]["PolicyDocument"]["Statement"].as_sequence().unwrap() {
            assert!(!strings(&statement["Resource"]).contains(&secret.to_owned()), "the fetcher cannot read the keys");
        }
        if secret == "Sigv4CredentialsSecret" {
            assert_eq!(
                template["Resources"]["Sigv4CredentialsSecret"]["Type"], "AWS::SecretsManager::Secret",
                "a secret is made when none is given"
            );
        } else {
            assert!(template["Resources"].get("Sigv4CredentialsSecret").is_none());
        }

        // The Function URL: no IAM auth, invocable by anyone (the receiver checks the signature).
        let urls = of_type(&template, "AWS::Lambda::Url");
        assert_eq!(urls.len(), 1);
        assert_eq!(urls[0]["Properties"]["AuthType"], "NONE");
        assert_eq!(strings(&urls[0]["Properties"]["TargetFunctionArn"]), ["WebhookReceiver.Arn"]);
        let permissions = of_type(&template, "AWS::Lambda::Permission");
        let public = |action: &str| {
            permissions.iter().any(|p| {
                let p = &p["Properties"];
                p["Action"] == action && p["Principal"] == "*" && strings(&p["FunctionName"]) == ["WebhookReceiver"]
            })
        };
        assert!(public("lambda:InvokeFunctionUrl") && public("lambda:InvokeFunction"), "both permissions a URL needs");
        assert!(template["Outputs"].get("WebhookFunctionUrl").is_some());
    }
}

#[test]
fn each_role_allows_the_dynamodb_calls_its_adapter_makes() {
    // The adapter reads an item again (GetItem, consistent) when a failed condition comes back
    // without it: the receiver's delivery claim, the fetcher's document claim.
    let template = template();
    for (function, needed) in [
        (
            "WebhookReceiver",
            &["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:GetItem"][..],
        ),
        ("ContractFetcher", &["dynamodb:UpdateItem", "dynamodb:GetItem"][..]),
        ("EventPublisher", &["dynamodb:BatchWriteItem"][..]),
        ("Sweeper", &["dynamodb:UpdateItem"][..]),
    ] {
        let role = resource(&template, &format!("{function}Role"));
        let statements = role["Policies"][0]["PolicyDocument"]["Statement"].as_sequence().unwrap();
        let on_table: Vec<String> = statements
            .iter()
            .filter(|s| strings(&s["Resource"]) == ["JobsTable.Arn"])
            .flat_map(|s| strings(&s["Action"]))
            .collect();
        for action in needed {
            assert!(
                on_table.iter().any(|a| a == action),
                "{function}: {action} not allowed on the table: {on_table:?}"
            );
        }
    }
}

#[test]
fn every_box_of_the_readme_diagram_is_a_template_resource_and_every_function_box_its_crate() {
    let readme = std::fs::read_to_string(integration_tests::root().join("README.md")).unwrap();
    let diagram = readme.split("```mermaid").nth(1).and_then(|rest| rest.split("```").next()).expect("a diagram");
    let template = template();
    let mut boxes = 0;
    // A box: `Id[...]`, `Id([...])`, `Id[(...)]` or `Id[[...]]`.
    let ids = diagram.split_whitespace().filter_map(|token| token.split_once(['[', '(']).map(|(id, _)| id.to_owned()));
    for id in ids {
        boxes += 1;
        if id != "EverBright" && id != "Consumers" {
            assert!(
                template["Resources"].get(&id).is_some(),
                "the diagram names {id}, which the template does not define"
            );
        }
    }
    assert!(boxes >= 9, "{boxes} boxes found");
    for (function, krate) in [
        ("WebhookReceiver", "webhook-receiver"),
        ("ContractFetcher", "contract-fetcher"),
        ("EventPublisher", "event-publisher"),
        ("Sweeper", "sweeper"),
    ] {
        assert!(diagram.contains(&format!("{function}[\"{function}: {krate}\"]")), "{function}'s box names {krate}");
        let manifest = integration_tests::root().join("functions").join(krate).join("Cargo.toml");
        let manifest = std::fs::read_to_string(&manifest).unwrap();
        assert!(manifest.contains(&format!("name = \"{krate}\"")), "{krate} is a crate");
        assert_eq!(strings(&template["Resources"][function]["Metadata"]["BuildProperties"]["Binary"]), [krate]);
    }
}

#[test]
fn the_dashboard_shows_every_metric_the_functions_emit_the_queues_and_the_durations() {
    let template = template();
    let body = &template["Resources"]["Dashboard"]["Properties"]["DashboardBody"];
    let Value::Tagged(sub) = body else { panic!("DashboardBody is a !Sub") };
    // `${X}` and `${X.Attr}` become X, as CloudFormation would put a name there.
    let mut text = sub.value.as_str().unwrap().to_owned();
    while let Some(start) = text.find("${") {
        let end = start + text[start..].find('}').unwrap();
        let name = text[start + 2..end].split('.').next().unwrap().to_owned();
        text.replace_range(start..=end, &name);
    }
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("the body is JSON");
    let widgets = dashboard["widgets"].as_array().unwrap();
    let metrics: Vec<String> = widgets
        .iter()
        .flat_map(|w| w["properties"]["metrics"].as_array().unwrap().iter())
        .map(|m| m.to_string())
        .collect();
    let all = metrics.join("\n");
    for name in RECEIVER_METRICS {
        assert!(all.contains(&format!("\"{name}\"")), "the receiver's {name}");
    }
    for name in FETCHER_METRICS {
        assert!(all.contains(&format!("\"{name}\"")), "the fetcher's {name}");
    }
    for name in PUBLISHER_METRICS {
        assert!(all.contains(&format!("\"{name}\"")), "the publisher's {name}");
    }
    for name in SWEEPER_METRICS.iter().chain(&RECONCILE_METRICS) {
        assert!(all.contains(&format!("\"{name}\"")), "the sweeper's or reconciliation's {name}");
    }
    assert!(all.contains(&format!("[\"{NAMESPACE}\",\"Records\",\"Function\",\"EventPublisher\"]")));
    assert!(
        all.contains("\"IteratorAge\"") && all.contains("\"PublishFailureQueue\""),
        "the stream's age, the failures"
    );
    assert!(all.contains(&format!("[\"{NAMESPACE}\",\"Received\",\"Function\",\"WebhookReceiver\"]")));
    assert!(all.contains(&format!("[\"{NAMESPACE}\",\"Messages\",\"Function\",\"ContractFetcher\"]")));
    assert!(
        all.contains("Function=\\\"WebhookReceiver\\\"") && all.contains("EverBrightSync,Event,Function"),
        "per event"
    );
    assert!(all.contains("\"FetchDeadLetterQueue\""), "the DLQ's depth");
    assert!(all.contains("\"Duration\""), "durations");
    let url = strings(&template["Outputs"]["DashboardUrl"]["Value"]).join("");
    assert!(url.contains("#dashboards:name=${Dashboard}"), "{url}");
}
