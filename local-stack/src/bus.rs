//! The job table's stream and the installer's bus, played locally on moto: the stream turned on,
//! a bus with a rule that sends every event to a consumer's queue, the publisher's failure
//! queue; and the event source mapping that reads the stream (shard iterator, `GetRecords`, the
//! same event JSON Lambda hands over), invokes the publisher, retries a batch from the record it
//! gives back, and after [`MAX_RETRIES`] sends its on-failure record, as Lambda does.

use std::time::{Duration, SystemTime};

use aws::Clients;
use aws_sdk_dynamodb::types::{StreamSpecification, StreamViewType};
use aws_sdk_sqs::types::QueueAttributeName;
use event_publisher::Publisher;
use serde_json::{Value, json};

use crate::local::{Resources, SetupError};
use everbright_sync::send::sign_request;

/// Records per invocation, as in the template.
pub const BATCH: usize = 100;
/// Retries of a batch the publisher gives back, as in the template (`MaximumRetryAttempts`).
pub const MAX_RETRIES: usize = 3;
/// Attempts at one read of the stream.
const READ_ATTEMPTS: u32 = 8;

/// The bus, its consumer and the publisher's failure queue.
#[derive(Clone, Debug)]
pub struct EventResources {
    pub bus: String,
    pub consumer_queue_url: String,
    pub failures_queue_url: String,
    pub stream_arn: String,
}

fn failed<E: std::error::Error + 'static>(operation: &'static str) -> impl Fn(E) -> SetupError {
    move |error| format!("{operation}: {}", domain::error::chain(&error)).into()
}

impl EventResources {
    /// Turns the table's stream on (`NEW_AND_OLD_IMAGES`, as the template does) and creates the bus,
    /// a rule for every event of [`domain::bus::SOURCE`] to a consumer queue, and the failure queue.
    pub async fn create(clients: &Clients, resources: &Resources, suffix: &str) -> Result<Self, SetupError> {
        let stream = StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(StreamViewType::NewAndOldImages)
            .build()
            .map_err(failed("DynamoDB UpdateTable"))?;
        let table = clients
            .dynamodb
            .update_table()
            .table_name(&resources.table)
            .stream_specification(stream)
            .send()
            .await
            .map_err(failed("DynamoDB UpdateTable (stream)"))?;
        let stream_arn = table.table_description().and_then(|t| t.latest_stream_arn()).unwrap_or_default().to_owned();
        let bus = format!("installer-{suffix}");
        let events = clients.eventbridge();
        events.create_event_bus().name(&bus).send().await.map_err(failed("EventBridge CreateEventBus"))?;
        let sqs = clients.sqs();
        let consumer_queue_url = create_queue(sqs, &format!("consumer-{suffix}")).await?;
        let failures_queue_url = create_queue(sqs, &format!("publish-failures-{suffix}")).await?;
        let consumer_arn = queue_arn(sqs, &consumer_queue_url).await?;
        let rule = format!("consumer-{suffix}");
        let pattern = json!({ "source": [domain::bus::SOURCE] }).to_string();
        events
            .put_rule()
            .name(&rule)
            .event_bus_name(&bus)
            .event_pattern(pattern)
            .send()
            .await
            .map_err(failed("EventBridge PutRule"))?;
        let target = aws_sdk_eventbridge::types::Target::builder()
            .id("consumer")
            .arn(consumer_arn)
            .build()
            .map_err(failed("EventBridge PutTargets"))?;
        events
            .put_targets()
            .rule(&rule)
            .event_bus_name(&bus)
            .targets(target)
            .send()
            .await
            .map_err(failed("EventBridge PutTargets"))?;
        Ok(Self { bus, consumer_queue_url, failures_queue_url, stream_arn })
    }

    /// The publisher's environment for this bus and `resources`.
    pub fn publisher_config(&self, resources: &Resources) -> config::PublisherConfig {
        config::PublisherConfig {
            jobs_table: resources.table.clone(),
            documents_bucket: resources.bucket.clone(),
            event_bus: self.bus.clone(),
            failures_queue_url: self.failures_queue_url.clone(),
            attempts: 3,
        }
    }
}

async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> Result<String, SetupError> {
    let output = sqs.create_queue().queue_name(name).send().await.map_err(failed("SQS CreateQueue"))?;
    Ok(output.queue_url().unwrap_or_default().to_owned())
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String, SetupError> {
    let output = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(failed("SQS GetQueueAttributes"))?;
    Ok(output.attributes().and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned()).unwrap_or_default())
}

/// The stream, read as the event source mapping reads it: DynamoDB Streams' own API (the SDK here
/// has no client for it), signed with AWS4.
pub struct StreamReader {
    http: reqwest::Client,
    endpoint: String,
    stream_arn: String,
    iterator: Option<String>,
}

impl StreamReader {
    /// From the stream's first record (`TRIM_HORIZON`).
    pub async fn open(endpoint: &str, stream_arn: &str) -> Result<Self, SetupError> {
        everbright::tls::install_crypto_provider();
        let mut reader = Self {
            http: reqwest::Client::new(),
            endpoint: endpoint.to_owned(),
            stream_arn: stream_arn.to_owned(),
            iterator: None,
        };
        let described = reader.call("DescribeStream", json!({ "StreamArn": stream_arn })).await?;
        let shard = described["StreamDescription"]["Shards"][0]["ShardId"]
            .as_str()
            .ok_or("the stream has no shard")?
            .to_owned();
        let request = json!({ "StreamArn": stream_arn, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON" });
        let iterator = reader.call("GetShardIterator", request).await?;
        reader.iterator = iterator["ShardIterator"].as_str().map(str::to_owned);
        Ok(reader)
    }

    /// The next records (at most `limit`), each with the fields Lambda adds (`eventSourceARN`).
    pub async fn read(&mut self, limit: usize) -> Result<Vec<Value>, SetupError> {
        let Some(iterator) = self.iterator.clone() else { return Ok(Vec::new()) };
        let answer = self.call("GetRecords", json!({ "ShardIterator": iterator, "Limit": limit })).await?;
        self.iterator = answer["NextShardIterator"].as_str().map(str::to_owned);
        let mut records = answer["Records"].as_array().cloned().unwrap_or_default();
        for record in &mut records {
            record["eventSourceARN"] = self.stream_arn.clone().into();
            // moto writes the time as text; Lambda hands over seconds since the epoch.
            let at = &mut record["dynamodb"]["ApproximateCreationDateTime"];
            if let Some(seconds) = at.as_str().and_then(epoch_seconds) {
                *at = seconds.into();
            }
        }
        Ok(records)
    }

    /// One call, tried again (up to [`READ_ATTEMPTS`] times, backing off) when it fails, as the
    /// event source mapping keeps reading: a read changes nothing, so a lost answer is asked again.
    async fn call(&self, action: &str, body: Value) -> Result<Value, SetupError> {
        let mut backoff = Duration::from_millis(20);
        let mut attempt = 1;
        loop {
            match self.call_once(action, &body).await {
                Ok(answer) => return Ok(answer),
                Err(error) if attempt == READ_ATTEMPTS => return Err(error),
                Err(_) => {
                    tokio::time::sleep(backoff).await;
                    (backoff, attempt) = (backoff * 2, attempt + 1);
                }
            }
        }
    }

    async fn call_once(&self, action: &str, body: &Value) -> Result<Value, SetupError> {
        let mut request = http::Request::builder()
            .method("POST")
            .uri(format!("{}/", self.endpoint))
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", format!("DynamoDBStreams_20120810.{action}"))
            .body(body.to_string().into_bytes())?;
        sign_request(&mut request, ("local", "local"), ("us-east-1", "dynamodb"), SystemTime::now())?;
        let answer = self.http.execute(reqwest::Request::try_from(request)?).await?;
        let status = answer.status();
        let text = answer.text().await?;
        if !status.is_success() {
            return Err(format!("DynamoDB Streams {action}: {status} {text}").into());
        }
        Ok(serde_json::from_str(&text)?)
    }
}

fn epoch_seconds(text: &str) -> Option<f64> {
    let parsed = time::PrimitiveDateTime::parse(text, &time::format_description::well_known::Iso8601::DEFAULT)
        .map(time::PrimitiveDateTime::assume_utc)
        .or_else(|_| time::OffsetDateTime::parse(text, &time::format_description::well_known::Iso8601::DEFAULT))
        .ok()?;
    Some(parsed.unix_timestamp_nanos() as f64 / 1e9)
}

/// What draining the stream did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Streamed {
    pub invocations: usize,
    pub records: usize,
    pub published: usize,
    /// Records the publisher could not read or map (logged, counted, skipped).
    pub unmapped: usize,
    pub retried_batches: usize,
    /// Batches given up after [`MAX_RETRIES`] (their on-failure records are on the failure queue).
    pub given_up: usize,
}

/// Reads the stream to its end through `publisher`, batch by batch, as the event source mapping
/// does: a batch given back from a record is retried from it, at most [`MAX_RETRIES`] times.
pub async fn drain_stream<S, L, N>(
    publisher: &Publisher<S, L, N>,
    reader: &mut StreamReader,
    clients: &Clients,
    events: &EventResources,
) -> Result<Streamed, SetupError>
where
    S: domain::ports::EventSink,
    L: domain::ports::PublicationLog,
    N: domain::ports::FailureNotes,
{
    let mut streamed = Streamed::default();
    loop {
        let mut batch = reader.read(BATCH).await?;
        if batch.is_empty() {
            return Ok(streamed);
        }
        streamed.records += batch.len();
        let mut retries = 0;
        loop {
            streamed.invocations += 1;
            let (response, published) = publisher.publish(&json!({ "Records": batch })).await;
            streamed.published += published.events.len();
            streamed.unmapped += published.unreadable;
            let Some(failure) = response.batch_item_failures.first() else { break };
            let from = batch
                .iter()
                .position(|record| record["dynamodb"]["SequenceNumber"].as_str() == Some(&failure.item_identifier))
                .unwrap_or(0);
            if retries == MAX_RETRIES {
                send_on_failure(clients, events, &batch[from..]).await?;
                streamed.given_up += 1;
                break;
            }
            retries += 1;
            streamed.retried_batches += 1;
            batch.drain(..from);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The event source mapping's on-failure record: the shard and the sequence numbers, no records.
async fn send_on_failure(clients: &Clients, events: &EventResources, batch: &[Value]) -> Result<(), SetupError> {
    let sequence =
        |record: Option<&Value>| record.and_then(|r| r["dynamodb"]["SequenceNumber"].as_str()).map(str::to_owned);
    let record = json!({
        "requestContext": { "condition": "RetryAttemptsExhausted", "approximateInvokeCount": MAX_RETRIES + 1 },
        "DDBStreamBatchInfo": {
            "shardId": "shardId-local",
            "startSequenceNumber": sequence(batch.first()),
            "endSequenceNumber": sequence(batch.last()),
            "batchSize": batch.len(),
            "streamArn": events.stream_arn,
        },
    });
    clients
        .sqs()
        .send_message()
        .queue_url(&events.failures_queue_url)
        .message_body(record.to_string())
        .send()
        .await
        .map_err(failed("SQS SendMessage (on-failure record)"))?;
    Ok(())
}

/// Every message on `queue_url` (waiting up to `wait` for the first), deleted as read: what a
/// consumer received, oldest first as SQS hands them out.
pub async fn receive_all(clients: &Clients, queue_url: &str, wait: Duration) -> Result<Vec<Value>, SetupError> {
    let sqs = clients.sqs();
    let deadline = tokio::time::Instant::now() + wait;
    let mut received = Vec::new();
    loop {
        let output = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .map_err(failed("SQS ReceiveMessage"))?;
        let messages = output.messages();
        if messages.is_empty() {
            if !received.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(received);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        for message in messages {
            received.push(serde_json::from_str(message.body().unwrap_or_default())?);
            if let Some(handle) = message.receipt_handle() {
                sqs.delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .map_err(failed("SQS DeleteMessage"))?;
            }
        }
    }
}
