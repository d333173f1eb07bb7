//! `everbright-local serve`: the local stack, kept running: moto, the EverBright stand-in, the
//! gateway in front of the receiver, the fetcher polling the queue, and the publisher reading the
//! table's stream (each event the consumer's queue receives printed), until Ctrl-C.

use std::time::Duration;

use aws::Clients;

use crate::bus::{EventResources, StreamReader, drain_stream, receive_all};
use crate::demo::{LOCAL_TOKEN, consumed_line, functions};
use crate::gateway::{Gateway, LocalPrincipal};
use crate::local::{Moto, Resources, SetupError};
use crate::queue::drain;
use crate::stand_in::StandIn;

/// Runs until `stop` resolves.
pub async fn run(
    port: u16,
    principal: LocalPrincipal,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), SetupError> {
    let moto = tokio::task::spawn_blocking(Moto::start).await??;
    let clients = Clients::new(&moto.sdk_config().await);
    let resources = Resources::create(&clients, "local").await?;
    let events = EventResources::create(&clients, &resources, "local").await?;
    let publisher = event_publisher::Publisher::on_aws(&events.publisher_config(&resources), &clients)
        .with_metrics(domain::metrics::discard_sink());
    let mut stream = StreamReader::open(&moto.endpoint, &events.stream_arn).await?;
    let stand_in = StandIn::start(LOCAL_TOKEN).await?;
    // Its site list: the sample contract's site and one nobody sent a webhook for, changed two
    // hours ago (for `backfill`, and a `reconcile` message).
    let changed = domain::timestamp::Timestamp::now().plus_seconds(-7200).to_string();
    let listed = [crate::demo::SAMPLE_SITE, crate::missed::MISSED_SITE];
    let sites: Vec<_> = listed.iter().filter_map(|site| Some((site.parse().ok()?, changed.as_str()))).collect();
    stand_in.set_sites(&sites);
    let (receiver, fetcher) = functions(&clients, &resources, &stand_in, &principal)?;
    let gateway = Gateway::start_on(receiver, principal.clone(), port).await?;
    println!("{}", instructions(&gateway.endpoint, &principal, &moto.endpoint, &stand_in.base_url, &resources));
    println!("{}", bus_instructions(&events));

    let poll = async {
        loop {
            match drain(&fetcher, &clients, &resources).await {
                Ok(drained) if drained.handled > 0 => println!(
                    "fetcher: {} message(s) handled, {} retried, {} moved to the DLQ",
                    drained.handled, drained.retried, drained.dead_lettered
                ),
                Ok(_) => {}
                Err(error) => eprintln!("fetcher: {error}"),
            }
            if let Err(error) = drain_stream(&publisher, &mut stream, &clients, &events).await {
                eprintln!("publisher: {error}");
            }
            match receive_all(&clients, &events.consumer_queue_url, Duration::ZERO).await {
                Ok(received) => received.iter().for_each(|event| println!("event: {}", consumed_line(event))),
                Err(error) => eprintln!("consumer: {error}"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    };
    tokio::select! {
        () = poll => {}
        () = stop => println!("stopping: moto, the stand-in and the gateway"),
    }
    Ok(())
}

fn instructions(
    endpoint: &str,
    principal: &LocalPrincipal,
    moto: &str,
    stand_in: &str,
    resources: &Resources,
) -> String {
    format!(
        "everbright-sync is running locally. Ctrl-C stops everything.

  gateway (API Gateway stand-in, AWS4 checked): {endpoint}
  region {region}, service execute-api, access key {key}, secret key {secret}
  moto (DynamoDB, S3, SQS): {moto}   table {table}   bucket {bucket}
  fetch queue: {queue}
  EverBright stand-in: {stand_in}   API token {token}

Send a sample event with the signing client:
  cargo run -q -p everbright-sync -- send events/rest-contract-signed.json --event contract-status-change \\
    --endpoint {endpoint} --region {region} --access-key {key} --secret-key {secret}

or with curl's own AWS4 signing:
  curl --aws-sigv4 aws:amz:{region}:execute-api --user {key}:{secret} -H 'Content-Type: application/json' \\
    --data-binary @events/payloads/stage-transition.json {endpoint}/webhooks/stage-transition

Inspect and repair with the operator's commands, in the functions' environment:
  export AWS_ENDPOINT_URL={moto} AWS_REGION={region} AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local \\
    JOBS_TABLE={table} DOCUMENTS_BUCKET={bucket} FETCH_QUEUE_URL={queue} FETCH_DLQ_URL={dlq}
  cargo run -q -p everbright-sync -- job 34b6b5ee-f997-4044-86ae-0abbf611fc4d
  cargo run -q -p everbright-sync -- replay --dry-run
  cargo run -q -p everbright-sync -- dlq

Nothing missed: import the stand-in's site list (two sites), then see what needs an operator:
  export EVERBRIGHT_BASE_URL={stand_in} EVERBRIGHT_API_TOKEN={token}
  cargo run -q -p everbright-sync -- backfill --tenant default
  cargo run -q -p everbright-sync -- attention
",
        region = principal.region,
        key = principal.access_key,
        secret = principal.secret_key,
        table = resources.table,
        bucket = resources.bucket,
        token = LOCAL_TOKEN,
        queue = resources.queue_url,
        dlq = resources.dlq_url,
    )
}

fn bus_instructions(events: &EventResources) -> String {
    format!(
        "The publisher reads the table's stream; each event the consumer's queue receives is printed.
  bus {bus}   failure queue {failures}
  export EVENT_BUS_NAME={bus} PUBLISH_FAILURES_QUEUE_URL={failures}
  cargo run -q -p everbright-sync -- published 34b6b5ee-f997-4044-86ae-0abbf611fc4d
  cargo run -q -p everbright-sync -- republish 34b6b5ee-f997-4044-86ae-0abbf611fc4d
",
        bus = events.bus,
        failures = events.failures_queue_url,
    )
}
