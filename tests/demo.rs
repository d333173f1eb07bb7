//! The demo's pipeline (receiver, SQS, fetcher, stand-in) on the sample events, end to end.

use everbright_sync::send::{self, Aws4};
use integration_tests::{Backend, root};
use local_stack::demo::{self, LOCAL_TOKEN};
use local_stack::gateway::{Gateway, LocalPrincipal};
use local_stack::stand_in::{StandIn, small_pdf};
use sha2::{Digest, Sha256};

#[tokio::test]
async fn the_demo_stores_every_signed_document_of_the_sample_contract_and_change_order() {
    let backend = Backend::new().await;
    let resources = backend.resources();
    let stand_in = StandIn::start(LOCAL_TOKEN).await.unwrap();
    let report = demo::run_on(&root(), &backend.clients, &resources, &stand_in).await.unwrap();

    for (site, expected) in [("34b6b5ee-f997-4044-86ae-0abbf611fc4d", 9), ("dc6ca696-819e-44a2-9371-2650a0b37251", 1)] {
        let items = &report.items[&format!("SITE#{site}")];
        let stored: Vec<_> = items.iter().filter(|i| i.get("status").is_some_and(|s| s == "STORED")).collect();
        assert_eq!(stored.len(), expected, "{site}");
        for document in stored {
            let id = document["document"].as_str().unwrap();
            assert_eq!(document["sha256"], hex::encode(Sha256::digest(small_pdf(id))));
            let bytes = backend.object(document["s3_key"].as_str().unwrap()).await;
            assert_eq!(hex::encode(Sha256::digest(&bytes)), document["sha256"].as_str().unwrap());
        }
    }
    assert_eq!(report.drained.dead_lettered, 0);
    assert_eq!(report.duplicates(), 1, "the Function URL copy of the signed contract");
    assert_eq!(report.refused(), 5, "the four bad sample requests and the unsigned one");
    assert_eq!(report.failed(), 0);
    let rendered = demo::render(&report);
    assert_summary_shows_the_truth(&rendered, &resources.bucket);
}

#[tokio::test]
async fn the_demo_runs_three_tenants_each_job_under_its_tenant_with_its_documents_from_its_own_everbright() {
    let backend = Backend::new().await;
    let resources = backend.resources();
    let onboard = StandIn::start(demo::ONBOARD_TOKEN).await.unwrap();
    let engine = StandIn::start(demo::ENGINE_TOKEN).await.unwrap();
    let report = demo::run_tenants_on(&root(), &backend.clients, &resources, (&onboard, &engine), true).await.unwrap();
    assert_eq!(report.refused(), 5, "the four bad sample requests and the one without a credential");
    assert_eq!((report.failed(), report.drained.dead_lettered), (0, 0));
    let unsigned = report.deliveries.last().unwrap();
    assert_eq!(unsigned.status, 401, "{:?}", unsigned.answer);

    let rendered = demo::render(&report);
    let jobs: Vec<&str> = rendered.split("\nJob ").skip(1).collect();
    let tenant_of = |site: &str| {
        let job = jobs.iter().find(|job| job.starts_with(site)).unwrap_or_else(|| panic!("{site}: {rendered}"));
        job.lines().find_map(|line| line.trim().strip_prefix("tenant")).unwrap().trim().to_owned()
    };
    assert_eq!(tenant_of(demo::SAMPLE_SITE), "installer-test");
    assert_eq!(tenant_of(demo::ENGINE_SITE), "installer-prod");
    assert_eq!(tenant_of(demo::PARTNER_SITE), "partner-prod");
    let installer_jobs = jobs.iter().filter(|job| job.contains("tenant          installer-test")).count();
    assert_eq!(installer_jobs, 5, "the samples' four and the site reconciliation found: {rendered}");

    // A fetch message was lost: the sweeper sent its document again and it is stored; the site
    // EverBright changed without a webhook was found, recorded and read.
    let missed = report.missed.as_ref().expect("the demo's nothing-missed part");
    let (document, status) = missed.lost.as_ref().expect("a message was lost");
    assert_eq!(status, "STORED", "{document}: {rendered}");
    assert!(missed.swept.requeued >= 1 && missed.swept.given_up == 0, "{:?}", missed.swept);
    assert!(missed.swept.items_read <= missed.swept.pending + 5, "the index, not the table: {:?}", missed.swept);
    let found: Vec<&serde_json::Value> = missed.found.iter().filter(|item| item["pending"] == "MISSED").collect();
    assert_eq!(found.len(), 1, "{:?}", missed.found);
    assert_eq!(found[0]["site"], local_stack::missed::MISSED_SITE);
    assert!(rendered.contains("Reconciliation (installer-test): site e3e3e3e3"), "{rendered}");
    let found_job = jobs.iter().find(|job| job.starts_with(local_stack::missed::MISSED_SITE)).unwrap();
    assert!(found_job.contains("system 7.2 kW"), "its details read: {found_job}");

    // Each stand-in served its own tenants' documents: the Engine one the two copies of the
    // signed contract (nine each), Onboard every sample's.
    let stored = |site: &str, tenant: &str| {
        let job = domain::job::JobKey::new(domain::tenant::TenantId::parse(tenant).unwrap(), site.parse().unwrap());
        let items = &report.items[&aws::schema::job_pk(&job)];
        items.iter().filter(|i| i.get("status").is_some_and(|s| s == "STORED")).count()
    };
    assert_eq!((stored(demo::ENGINE_SITE, "installer-prod"), stored(demo::PARTNER_SITE, "partner-prod")), (9, 9));
    let downloads = |stand_in: &StandIn| {
        stand_in.seen().iter().filter(|s| s.path.ends_with("/download/") && s.authorization.is_some()).count()
    };
    assert_eq!(downloads(&engine), 18);
    let onboard_stored = report.documents().filter(|d| d["status"] == "STORED").count() - 18;
    assert_eq!(downloads(&onboard), onboard_stored);
    assert!(engine.seen().iter().all(|s| s.authorization.as_deref() != Some("Token local-demo-token")));

    // Each signed job shows its signature's details from the data API, read with its tenant's token.
    let signed =
        ["34b6b5ee", "b0c16879", "dc6ca696", demo::ENGINE_SITE, demo::PARTNER_SITE, local_stack::missed::MISSED_SITE];
    for site in signed {
        let job = jobs.iter().find(|job| job.starts_with(site)).unwrap();
        assert!(job.contains("system 7.2 kW, contract date 2023-07-12"), "{site}: {job}");
    }
    assert_eq!(rendered.matches("  details  quote").count(), signed.len(), "{rendered}");
}

/// The demo's summary, job by job: what each sample payload says, and where each document went.
fn assert_summary_shows_the_truth(rendered: &str, bucket: &str) {
    let jobs: Vec<&str> = rendered.split("\nJob ").skip(1).collect();
    let job =
        |site: &str| *jobs.iter().find(|job| job.starts_with(site)).unwrap_or_else(|| panic!("{site}: {rendered}"));
    let count = |job: &str, text: &str| job.lines().filter(|line| line.contains(text)).count();
    let expected: [(&str, &[&str]); 4] = [
        (
            // Seed 001: a milestone, approved, with its inspection upload.
            "157802b4-99aa-4437-b250-934df337766a",
            &["current quote   8ba871ae-3282-420c-af3f-ddc41ac50273", "Construction & Signoff APPROVED"],
        ),
        (
            // Seed 002: the signed contract, then a stage transition.
            "34b6b5ee-f997-4044-86ae-0abbf611fc4d",
            &[
                "current quote   042e6753-6b06-457d-9efd-70f047f4d348",
                "contract        SIGN signed 2023-07-12T19:22:17.752365Z",
                "stage           Installation",
                "document RECORDED Contract.pdf  [completed envelope]",
            ],
        ),
        (
            // The Sighten-era contract, then the site archived.
            "b0c16879-5c5f-4dd9-8442-65cc594372ed",
            &["current quote   7cf8d5db-bb05-4a39-a40b-c83e17988c37", "contract        SIGN", "archived        yes"],
        ),
        (
            // Seed 003: the change order, signed after a voided envelope.
            "dc6ca696-819e-44a2-9371-2650a0b37251",
            &[
                "current quote   f402dbad-d8c1-4791-8ce1-b5b585027ffb",
                "change order    SIGN new quote f402dbad-d8c1-4791-8ce1-b5b585027ffb",
                "document RECORDED Contract.pdf  [voided envelope]",
                "document RECORDED Contract.pdf  [completed envelope]",
            ],
        ),
    ];
    assert_eq!(jobs.len(), expected.len(), "{rendered}");
    for (site, lines) in expected {
        for line in lines {
            assert_eq!(count(job(site), line), 1, "{site}: {line:?} in {rendered}");
        }
    }
    assert_eq!(count(job("34b6b5ee"), "[signed copy]"), 9, "{rendered}");
    assert_eq!(count(job("dc6ca696"), "[signed copy]"), 1, "the completed envelope's upload: {rendered}");
    assert_eq!(count(job("157802b4"), "document STORED"), 1, "{rendered}");
    assert_eq!(count(rendered, "current quote   -"), 0, "every job's payloads name a quote: {rendered}");
    let locations: Vec<&str> = rendered.lines().filter(|line| line.contains("s3://")).collect();
    assert_eq!(locations.len(), 12, "{rendered}");
    let prefix = format!("s3://{bucket}/contracts/");
    assert!(locations.iter().all(|line| line.trim().starts_with(&prefix)), "{locations:?}");
}

#[tokio::test]
async fn the_local_gateway_accepts_curl_and_the_signing_client_and_refuses_unsigned_requests() {
    let backend = Backend::new().await;
    let resources = backend.resources();
    let stand_in = StandIn::start(LOCAL_TOKEN).await.unwrap();
    let principal = LocalPrincipal::default();
    let (receiver, _) = demo::functions(&backend.clients, &resources, &stand_in, &principal).unwrap();
    let gateway = Gateway::start(receiver, principal.clone()).await.unwrap();

    let url = format!("{}/webhooks/stage-transition", gateway.endpoint);
    let payload = root().join("events/payloads/stage-transition.json");
    let curl = {
        let (url, principal) = (url.clone(), principal.clone());
        tokio::task::spawn_blocking(move || {
            std::process::Command::new("curl")
                .args(["--silent", "--show-error", "--fail", "--aws-sigv4", "aws:amz:us-east-1:execute-api"])
                .args(["--user", &format!("{}:{}", principal.access_key, principal.secret_key)])
                .args(["-H", "Content-Type: application/json", "--data-binary"])
                .arg(format!("@{}", payload.display()))
                .arg(&url)
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    };
    assert!(curl.status.success(), "{}", String::from_utf8_lossy(&curl.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&curl.stdout).unwrap();
    assert_eq!(answer["site"], "34b6b5ee-f997-4044-86ae-0abbf611fc4d");

    let aws4 = principal.aws4(&gateway.endpoint);
    let body = std::fs::read(root().join("events/payloads/site-archived.json")).unwrap();
    let (status, text) = send::send(&aws4, "PATCH", "site-archived", body.clone()).await.unwrap();
    assert_eq!(status, 200, "{text}");

    everbright::tls::install_crypto_provider();
    let unsigned = reqwest::Client::new().post(&url).body(body.clone()).send().await.unwrap();
    assert_eq!(unsigned.status().as_u16(), 403);
    assert!(unsigned.text().await.unwrap().contains("Missing Authentication Token"));
    let wrong = Aws4 { secret_key: "not-the-secret".into(), ..aws4 };
    let (status, text) = send::send(&wrong, "POST", "site-archived", body).await.unwrap();
    assert_eq!(status, 403, "{text}");
    assert_eq!(backend.keys("raw/").await.len(), 2, "only the two signed requests reached the receiver");
}

#[tokio::test]
async fn the_local_moto_serves_one_request_at_a_time() {
    // moto's threaded server applies an UpdateItem as read-modify-write without a lock: when
    // several reach an item that does not exist yet, each creates it afresh and the last one
    // wins (measured: 4 of 720 updates lost, 12 at a time on new items), so a new job could lose,
    // say, its current quote, as the demo once showed. DynamoDB applies each update atomically;
    // the local moto does too, because it takes one request at a time: while one is being read,
    // the next waits.
    use std::io::Write as _;
    let endpoint = integration_tests::moto().endpoint.trim_start_matches("http://").to_owned();
    let mut held = std::net::TcpStream::connect(&endpoint).unwrap();
    held.write_all(b"POST / HTTP/1.1\r\nHost: moto\r\nContent-Length: 100\r\n\r\n{").unwrap();
    let clients = aws::Clients::new(&integration_tests::sdk_config().await);
    let list = || clients.dynamodb.list_tables().send();
    let waited = tokio::time::timeout(std::time::Duration::from_secs(2), list()).await;
    assert!(waited.is_err(), "answered while another request was being read: {waited:?}");
    drop(held);
    tokio::time::timeout(std::time::Duration::from_secs(30), list()).await.expect("answered once it is done").unwrap();
}
