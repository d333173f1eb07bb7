//! The reliability scenario: deliveries generated from the sample payloads, shuffled and
//! repeated, sent signed through the local gateway while a fault proxy breaks DynamoDB, S3, SQS
//! and EverBright's API at 10-20%; the sender re-sends whatever was not answered 2xx/4xx, as
//! EverBright would; the fetcher runs until the queue is empty; then the event publisher reads the
//! table's stream, its reads and its `PutEvents` broken too. The end state must be that of the
//! same events delivered once each, in order, without faults; the consumer must have received
//! the event of every committed change, of nothing else, a duplicate only with the same id.
//!
//! CI runs it small. The full size (1,000 deliveries over 100 sites):
//!
//! ```text
//! SCENARIO_SITES=100 SCENARIO_DELIVERIES=1000 cargo test -p integration-tests --test scenario -- --nocapture
//! ```
//!
//! `SCENARIO_FAULT_RATE` (default 0.15) and `SCENARIO_SEED` (default 8) change the faults and
//! the deliveries.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use aws::{Clients, S3Archive};
use everbright_sync::send::{self, Aws4};
use futures_util::future::join_all;
use integration_tests::events::Bus;
use integration_tests::fault_proxy::{Fault, FaultPlan, FaultProxy, FaultStats};
use integration_tests::scenario::{Event, Generated, generate, job_state};
use integration_tests::{Backend, moto, root, sdk_config_through};
use local_stack::demo::{LOCAL_TOKEN, functions_with};
use local_stack::gateway::{Gateway, LocalPrincipal};
use local_stack::queue::{Drained, Pace, drain_paced};
use local_stack::stand_in::{Behaviour, StandIn};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One answer the sender got.
#[derive(Debug)]
struct Answer {
    event: usize,
    status: u16,
    event_id: Option<String>,
}

#[derive(Debug, Default)]
struct Run {
    answers: Vec<Answer>,
    /// Requests sent again after a 5xx or no answer at all.
    resends: usize,
    drained: Drained,
}

/// Sends `event` until it is answered with anything but a 5xx, as EverBright retries.
async fn deliver(aws4: &Aws4, events: &[Event], index: usize, run: &mut Run) {
    let event = &events[index];
    let started = Instant::now();
    let mut backoff = Duration::from_millis(50);
    loop {
        let sent = send::deliver(aws4, event.method, event.slug, event.body.clone()).await;
        let (status, text) = match sent {
            Ok(answer) => answer,
            Err(error) => (0, error.to_string()),
        };
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let event_id = answer["event_id"].as_str().map(str::to_owned);
        run.answers.push(Answer { event: index, status, event_id });
        if status != 0 && status < 500 {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(300), "event {index} never got through: {status} {text}");
        run.resends += 1;
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Delivers `order` with `workers` senders, sites side by side, each site's deliveries through
/// one sender in `order` (as one site's events come from one workflow at EverBright).
async fn deliver_all(aws4: &Aws4, generated: &Generated, order: &[usize], workers: usize) -> Run {
    let lanes = join_all((0..workers).map(|lane| async move {
        let mut run = Run::default();
        for &index in order.iter().filter(|&&i| generated.events[i].site % workers == lane) {
            deliver(aws4, &generated.events, index, &mut run).await;
        }
        run
    }))
    .await;
    let mut run = Run::default();
    for lane in lanes {
        run.answers.extend(lane.answers);
        run.resends += lane.resends;
    }
    run
}

/// Runs the deliveries and the fetcher on `backend`: the functions' AWS calls through `sdk`
/// (direct to moto, or through the proxy), EverBright at `everbright`.
async fn run(
    backend: &Backend,
    functions_clients: &Clients,
    everbright: &str,
    generated: &Generated,
    order: &[usize],
    workers: usize,
) -> Run {
    let principal = LocalPrincipal::default();
    let settings =
        [("EVERBRIGHT_READ_TIMEOUT_SECONDS", "2".to_owned()), ("EVERBRIGHT_CONNECT_TIMEOUT_SECONDS", "2".to_owned())];
    let (receiver, fetcher) =
        functions_with(functions_clients, &backend.resources(), everbright, &principal, &settings).expect("functions");
    let gateway = Gateway::start(receiver, principal.clone()).await.expect("gateway");
    let aws4 = principal.aws4(&gateway.endpoint);
    let mut run = deliver_all(&aws4, generated, order, workers).await;
    // The event source mapping is AWS's own: its receives and deletes go straight to moto. As
    // in the template, a failure comes back only after its claim's lease has ended (visibility
    // timeout > invocation time + the 60 s lease margin): a claim that landed after its owner
    // gave up (a late attempt) holds the document until then.
    let pace = Pace { budget: Duration::from_secs(15), redelivery: Duration::from_secs(80) };
    run.drained = drain_paced(&fetcher, &backend.clients, &backend.resources(), pace).await.expect("drain");
    run
}

fn first_difference(
    expected: &BTreeMap<(String, String), Map<String, Value>>,
    actual: &BTreeMap<(String, String), Map<String, Value>>,
) -> Option<String> {
    let keys: BTreeSet<_> = expected.keys().chain(actual.keys()).collect();
    keys.into_iter().find_map(|key| {
        let (e, a) = (expected.get(key), actual.get(key));
        (e != a).then(|| format!("{key:?}\n  in order, no faults: {e:?}\n  under faults:       {a:?}"))
    })
}

/// Every DLQ message, left there.
async fn dead_letters(backend: &Backend) -> Vec<Value> {
    let mut messages = Vec::new();
    loop {
        let output = backend
            .clients
            .sqs()
            .receive_message()
            .queue_url(&backend.dlq_url)
            .max_number_of_messages(10)
            .visibility_timeout(60)
            .send()
            .await
            .expect("receive from the DLQ");
        if output.messages().is_empty() {
            return messages;
        }
        for message in output.messages() {
            messages.push(serde_json::from_str(message.body().unwrap_or_default()).expect("a JSON message"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_shuffled_repeated_and_broken_end_as_the_same_deliveries_in_order() {
    let sites: usize = setting("SCENARIO_SITES", 16);
    let deliveries: usize = setting("SCENARIO_DELIVERIES", 160);
    let rate: f64 = setting("SCENARIO_FAULT_RATE", 0.15);
    let seed: u64 = setting("SCENARIO_SEED", 8);
    let generated = generate(&root().join("events/payloads"), sites, deliveries, seed);

    let stand_in = StandIn::start(LOCAL_TOKEN).await.expect("stand-in");
    for document in generated.documents.iter().filter(|d| d.hopeless) {
        stand_in.set(document.document, Behaviour::NotFound);
    }
    for &(quote, signed) in &generated.signed_quotes {
        stand_in.set_signed_quote(quote, signed);
    }

    // Without faults, each event once, in order; through a proxy too, for its one request at a
    // time (moto loses one of two `ADD`s on an item at once: a count came out one short).
    let reference = Backend::new().await;
    let mut reference_bus = Bus::on(&reference).await;
    let calm_plan = FaultPlan { one_at_a_time: true, ..FaultPlan::none() };
    let calm_proxy = FaultProxy::start(&moto().endpoint, calm_plan).await.expect("proxy");
    let calm_clients = Clients::new(&sdk_config_through(&calm_proxy.endpoint, Duration::from_secs(30)).await);
    let in_order: Vec<usize> = (0..generated.events.len()).collect();
    let started = Instant::now();
    let calm = run(&reference, &calm_clients, &stand_in.base_url, &generated, &in_order, 1).await;
    let calm_time = started.elapsed();
    assert_eq!(calm.resends, 0, "no faults, no re-sends");

    // Under faults: shuffled, repeated, every dependency failing at `rate`.
    let faults = [
        (Fault::InternalError, 1.0),
        (Fault::Unavailable, 1.0),
        (Fault::Throttle, 1.0),
        (Fault::ResetBefore, 1.0),
        (Fault::ResetAfter, 1.0),
        (Fault::Delay, 0.3),
        (Fault::Truncate, 1.0),
    ];
    let mut plan = FaultPlan { delay: Duration::from_millis(2_500), seed, one_at_a_time: true, ..FaultPlan::none() };
    for service in ["dynamodb", "s3", "sqs", "events", "streams"] {
        plan = plan.spread(service, rate, &faults);
    }
    let aws_proxy = FaultProxy::start(&moto().endpoint, plan).await.expect("proxy");
    let everbright_plan = FaultPlan { delay: Duration::from_millis(2_500), seed: seed + 1, ..FaultPlan::none() }
        .spread("everbright", rate, &faults);
    let everbright_proxy = FaultProxy::start(&stand_in.base_url, everbright_plan).await.expect("proxy");
    let faulty = Backend::new().await;
    let mut faulty_bus = Bus::on(&faulty).await;
    let through_proxy = Clients::new(&sdk_config_through(&aws_proxy.endpoint, Duration::from_secs(2)).await);
    let started = Instant::now();
    let stormy = run(&faulty, &through_proxy, &everbright_proxy.endpoint, &generated, &generated.deliveries, 8).await;
    let stormy_time = started.elapsed();

    // The stream through the publisher: without faults for the reference, through the proxy (its
    // reads and PutEvents broken too) for the stormy run.
    let calm_streamed = reference_bus.drain(&reference_bus.publisher(&reference), &reference).await;
    let calm_received = reference_bus.consumed(&reference).await;
    faulty_bus.read_through(&aws_proxy.endpoint).await;
    let config = faulty_bus.resources.publisher_config(&faulty.resources());
    let publisher = event_publisher::Publisher::on_aws(&config, &through_proxy)
        .with_metrics(domain::metrics::discard_sink())
        .with_backoff(Duration::from_millis(10));
    let streamed = faulty_bus.drain(&publisher, &faulty).await;
    let received = faulty_bus.consumed(&faulty).await;
    let aws_stats = aws_proxy.stats();
    let everbright_stats = everbright_proxy.stats();

    // What the run did, to be quoted.
    let stored: Vec<_> = generated.documents.iter().filter(|d| !d.hopeless).collect();
    let hopeless: Vec<_> = generated.documents.iter().filter(|d| d.hopeless).collect();
    let dead = dead_letters(&faulty).await;
    let mut all = FaultStats::default();
    for stats in [&aws_stats, &everbright_stats] {
        all.requests.extend(stats.requests.clone());
        all.faults.extend(stats.faults.clone());
    }
    println!("Scenario: {sites} sites, seed {seed}, fault rate {rate}");
    println!(
        "  deliveries {} ({} distinct events, {} delivered twice or more), re-sent {} times",
        generated.deliveries.len(),
        generated.events.len(),
        generated.duplicated,
        stormy.resends
    );
    let by_status = stormy.answers.iter().fold(BTreeMap::<u16, usize>::new(), |mut counts, a| {
        *counts.entry(a.status).or_default() += 1;
        counts
    });
    println!("  answers by status (0: no answer): {by_status:?}");
    println!("  faults injected: {} of {} requests", all.total_faults(), all.total_requests());
    print!("{}", all.render());
    for fault in Fault::ALL {
        println!("    {fault:<12} {}", all.of(fault));
    }
    println!(
        "  fetcher: {} batches, {} messages, {} retried, {} to the DLQ",
        stormy.drained.batches, stormy.drained.handled, stormy.drained.retried, stormy.drained.dead_lettered
    );
    println!("  documents: {} stored, {} failed for good (EverBright answers 404)", stored.len(), hopeless.len());
    println!("  time: in order without faults {calm_time:.1?}, under faults {stormy_time:.1?}");
    let mut by_id: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for event in &received {
        by_id.entry(event["detail"]["id"].as_str().expect("an id").to_owned()).or_default().push(event);
    }
    let duplicates: usize = by_id.values().map(|copies| copies.len() - 1).sum();
    println!(
        "  publisher: {} stream records in {} invocations, {} retried, {} given up; {} events received, {} of them duplicates (without faults: {} events)",
        streamed.records,
        streamed.invocations,
        streamed.retried_batches,
        streamed.given_up,
        received.len(),
        duplicates,
        calm_received.len()
    );

    // 1. The table: the same state as in order without faults.
    let expected = job_state(reference.items().await);
    let actual = job_state(faulty.items().await);
    if let Some(difference) = first_difference(&expected, &actual) {
        let site = difference.split('"').nth(1).unwrap_or_default().to_owned();
        for item in faulty.items().await.into_iter().filter(|item| item["pk"] == site.as_str()) {
            eprintln!("under faults, as stored: {}", Value::Object(item));
        }
        panic!("the job state differs from the in-order run at {difference}");
    }

    // 2. The documents: each one that can be stored is, once, with the right bytes; no other.
    let expected_keys: BTreeSet<String> = stored.iter().map(|d| d.key.clone()).collect();
    for backend in [&reference, &faulty] {
        let keys: BTreeSet<String> = backend.keys("contracts/").await.into_iter().collect();
        assert_eq!(keys, expected_keys, "the documents in {}", backend.bucket);
    }
    for document in &stored {
        let bytes = faulty.object(&document.key).await;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        assert_eq!(bytes, stand_in.served_bytes(document.document), "{}", document.key);
        assert_eq!(faulty.metadata(&document.key).await["sha256"], sha256, "{}", document.key);
        let item = &actual[&(format!("SITE#{}", document.site), format!("DOC#{}", document.document))];
        assert_eq!(item["status"], "STORED", "{}", document.key);
        assert_eq!(item["sha256"], sha256.as_str());
    }
    for site in &generated.sites {
        let stored = stored.iter().filter(|d| d.site == *site).count();
        let job = &actual[&(format!("SITE#{site}"), "JOB".to_owned())];
        assert_eq!(job["documents_stored"].as_u64().unwrap_or(0), stored as u64, "each document counted once: {site}");
    }
    for document in &hopeless {
        let item = &actual[&(format!("SITE#{}", document.site), format!("DOC#{}", document.document))];
        assert_eq!((&item["status"], &item["has_failure"]), (&Value::from("FAILED"), &Value::Bool(true)));
    }
    let unfinished = faulty.clients.s3.list_multipart_uploads().bucket(&faulty.bucket).send().await.expect("list");
    println!("  multipart uploads left open (the bucket's lifecycle rule ends them): {}", unfinished.uploads().len());

    // 3. The archive: every request that was answered (not 5xx) is in it, with its body.
    let archive = S3Archive::new(faulty.clients.s3.clone(), &faulty.bucket);
    let archived: HashMap<String, String> = archive
        .keys("raw/")
        .await
        .expect("archive keys")
        .into_iter()
        .filter_map(|key| Some((key.rsplit('/').next()?.strip_suffix(".json")?.to_owned(), key)))
        .collect();
    let answered: Vec<_> = stormy.answers.iter().filter(|a| a.status != 0 && a.status < 500).collect();
    for answer in &answered {
        let event_id = answer.event_id.as_deref().expect("every answer names its event_id");
        let key = archived.get(event_id).unwrap_or_else(|| panic!("{event_id} ({}) is not archived", answer.status));
        let record = archive.get(key).await.expect("an archive record");
        assert_eq!(record.body().expect("base64"), generated.events[answer.event].body, "{key}");
    }
    println!("  archived: {} requests, all {} answered ones among them", archived.len(), answered.len());

    // 4. The DLQ: only documents that can never succeed (none expected: those are recorded
    //    FAILED with their reason and acknowledged).
    let hopeless_ids: BTreeSet<String> = hopeless.iter().map(|d| d.document.to_string()).collect();
    for message in &dead {
        let document = message["document"].as_str().unwrap_or_default();
        assert!(hopeless_ids.contains(document), "a document that can succeed is in the DLQ: {message}");
    }
    println!("  dead letters: {}", dead.len());

    // 5. The events: each committed change's event received (the stream read again without
    //    faults says which), nothing else; a duplicate is the same event with the same id.
    assert_eq!(streamed.given_up, 0, "{streamed:?}");
    let expected_ids = faulty_bus.expected_ids(&faulty).await;
    let received_ids: BTreeSet<String> = by_id.keys().cloned().collect();
    assert_eq!(
        received_ids.difference(&expected_ids).count() + expected_ids.difference(&received_ids).count(),
        0,
        "received but no committed change means it: {:?}; committed but not received: {:?}",
        received_ids.difference(&expected_ids).collect::<Vec<_>>(),
        expected_ids.difference(&received_ids).collect::<Vec<_>>()
    );
    for copies in by_id.values() {
        assert!(copies.iter().all(|copy| copy["detail"] == copies[0]["detail"]), "{copies:?}");
    }
    let calm_ids: BTreeSet<String> =
        calm_received.iter().map(|e| e["detail"]["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(calm_ids, reference_bus.expected_ids(&reference).await);
    assert_eq!((calm_streamed.retried_batches, calm_streamed.given_up), (0, 0));
    assert!(all.total_faults() > 0, "the proxy injected faults");
}
