//! The template's functions beyond the webhook: the event publisher, the sweeper and the
//! reconciliation schedule.

use aws::schema;
use integration_tests::cfn::{resource, strings, template};
use serde_yaml::Value;

#[test]
fn the_publisher_reads_the_tables_stream_gives_batches_back_bounded_and_may_put_events_on_its_bus_only() {
    let template = template();
    let table = resource(&template, "JobsTable");
    assert_eq!(table["StreamSpecification"]["StreamViewType"], "NEW_AND_OLD_IMAGES");
    let publisher = resource(&template, "EventPublisher");
    let stream = &publisher["Events"]["JobStream"]["Properties"];
    assert_eq!(strings(&stream["Stream"]), ["JobsTable.StreamArn"]);
    assert_eq!(stream["FunctionResponseTypes"][0], "ReportBatchItemFailures");
    assert_eq!(stream["BisectBatchOnFunctionError"], Value::Bool(true));
    assert!(stream["MaximumRetryAttempts"].as_u64().is_some_and(|n| n > 0 && n <= 10));
    assert!(stream["MaximumRecordAgeInSeconds"].as_u64().is_some_and(|age| age < 86_400), "before the stream forgets");
    assert_eq!(strings(&stream["DestinationConfig"]["OnFailure"]["Destination"]), ["PublishFailureQueue.Arn"]);
    assert_eq!(stream["BatchSize"].as_u64(), Some(local_stack::bus::BATCH as u64), "as the local stack plays it");
    assert_eq!(stream["MaximumRetryAttempts"].as_u64(), Some(local_stack::bus::MAX_RETRIES as u64));

    let role = resource(&template, "EventPublisherRole");
    let statements = role["Policies"][0]["PolicyDocument"]["Statement"].as_sequence().unwrap();
    let put: Vec<&Value> =
        statements.iter().filter(|s| strings(&s["Action"]).contains(&"events:PutEvents".to_owned())).collect();
    assert_eq!(put.len(), 1);
    let bus = strings(&put[0]["Resource"]).join(" ");
    assert!(bus.contains("EventBus.Arn") && bus.contains("event-bus/${EventBusName}"), "the stack's bus only: {bus}");
    let sends: Vec<String> = statements
        .iter()
        .filter(|s| strings(&s["Action"]).contains(&"sqs:SendMessage".to_owned()))
        .flat_map(|s| strings(&s["Resource"]))
        .collect();
    assert_eq!(sends, ["PublishFailureQueue.Arn"]);
    let archive = resource(&template, "EventArchive");
    assert!(strings(&archive["RetentionDays"]).contains(&"EventArchiveRetentionDays".to_owned()));
}

#[test]
fn the_sweeper_runs_on_a_schedule_reads_only_the_pending_index_and_never_doubles_a_message_in_the_queue() {
    let template = template();
    let sweeper = resource(&template, "Sweeper");
    let schedule = &sweeper["Events"]["Sweep"];
    assert_eq!(schedule["Type"], "ScheduleV2");
    assert!(strings(&schedule["Properties"]["ScheduleExpression"]).join("").contains("SweepIntervalMinutes"));
    assert_eq!(template["Parameters"]["SweepIntervalMinutes"]["Default"], 15);
    let visibility = resource(&template, "FetchQueue")["VisibilityTimeout"].as_i64().unwrap();
    let after = &template["Parameters"]["SweepAfterMinutes"];
    assert!(after["MinValue"].as_i64().unwrap() * 60 > visibility, "a message still in the queue is never swept");
    let environment = &sweeper["Environment"]["Variables"];
    assert_eq!(strings(&environment["SWEEP_AFTER_MINUTES"]), ["SweepAfterMinutes"]);
    let role = resource(&template, "SweeperRole");
    let statements = role["Policies"][0]["PolicyDocument"]["Statement"].as_sequence().unwrap();
    let query = statements.iter().find(|s| strings(&s["Action"]) == ["dynamodb:Query"]).expect("a query");
    assert_eq!(strings(&query["Resource"]).join(""), format!("${{JobsTable.Arn}}/index/{}", schema::PENDING_INDEX));
    assert!(!statements.iter().any(|s| strings(&s["Action"]).iter().any(|a| a == "dynamodb:Scan")), "never a scan");
}

#[test]
fn the_reconciliation_schedule_puts_a_reconcile_message_for_every_tenant_on_the_fetch_queue() {
    let template = template();
    let schedule = resource(&template, "ReconcileSchedule");
    assert_eq!(strings(&schedule["Target"]["Arn"]), ["FetchQueue.Arn"]);
    let input = schedule["Target"]["Input"].as_str().unwrap();
    let message: domain::message::WorkMessage = serde_json::from_str(input).unwrap();
    assert_eq!(message, domain::message::WorkMessage::Reconcile { tenant: None }, "every tenant the fetcher has");
    assert!(strings(&schedule["ScheduleExpression"]).join("").contains("ReconcileIntervalMinutes"));
    assert_eq!(template["Parameters"]["ReconcileIntervalMinutes"]["Default"], 60);
    let role = resource(&template, "ReconcileScheduleRole");
    let statement = &role["Policies"][0]["PolicyDocument"]["Statement"][0];
    assert_eq!(
        (strings(&statement["Action"]), strings(&statement["Resource"])),
        (vec!["sqs:SendMessage".to_owned()], vec!["FetchQueue.Arn".to_owned()])
    );
}
