//! Streams one large document from the EverBright stand-in through the contract fetcher into
//! moto's S3, and reports the throughput and this process's peak resident memory (VmHWM).
//!
//! `cargo bench -p integration-tests --bench fetch_large` (256 MiB; `FETCH_BENCH_MIB` to change).
//! The process holds the fetcher, the stand-in (which generates the document chunk by chunk)
//! and the SDK clients; moto runs in its own process.

use std::time::{Duration, Instant};

use contract_fetcher::Fetcher;
use domain::ids::DocumentId;
use integration_tests::bench::{peak_rss_mib, write_figures};
use integration_tests::{Backend, event};
use local_stack::stand_in::{Behaviour, StandIn, pdf_sha256};
use serde_json::json;
use webhook_receiver::AwsReceiver;

const TOKEN: &str = "bench-token";
const DOCUMENT: &str = "6588bff2-16ad-43a0-86b1-4985f5100fdd";

#[tokio::main]
async fn main() {
    let mib: usize = std::env::var("FETCH_BENCH_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    let size = mib * 1024 * 1024;
    let backend = Backend::new().await;
    let stand_in = StandIn::start(TOKEN).await.expect("stand-in");
    let document: DocumentId = DOCUMENT.parse().unwrap();
    stand_in.set(document, Behaviour::Pdf { size });

    let receiver = AwsReceiver::on_aws(&backend.receiver_config(), &backend.clients);
    receiver.handle(event("rest-contract-signed")).await;
    let records: Vec<_> = backend
        .take_records()
        .await
        .into_iter()
        .filter(|r| r.body.as_deref().unwrap_or_default().contains(DOCUMENT))
        .collect();
    let fetcher = Fetcher::on_aws(&backend.fetcher_config(&stand_in.base_url, TOKEN), &backend.clients);
    let before = peak_rss_mib(None);

    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(900);
    let response = fetcher.handle_batch(&records, deadline).await;
    let elapsed = started.elapsed();
    assert!(response.batch_item_failures.is_empty(), "the fetch failed");

    let item = backend.item("SITE#34b6b5ee-f997-4044-86ae-0abbf611fc4d", &format!("DOC#{DOCUMENT}")).await.unwrap();
    assert_eq!(item["status"], "STORED");
    assert_eq!(item["sha256"], pdf_sha256(document, size), "the stored SHA-256 matches what was served");
    println!("fetch_large: {mib} MiB document, {} parts", item["parts"]);
    println!(
        "fetch_large: {:.2} s, {:.1} MiB/s (download from the stand-in + upload to moto)",
        elapsed.as_secs_f64(),
        mib as f64 / elapsed.as_secs_f64()
    );
    let peak = peak_rss_mib(None);
    println!("fetch_large: peak resident memory {peak:.1} MiB (before the fetch: {before:.1} MiB)");
    write_figures(
        "fetch_large",
        &json!({
            "mib": mib,
            "seconds": elapsed.as_secs_f64(),
            "mib_per_second": mib as f64 / elapsed.as_secs_f64(),
            "peak_rss_mib": peak,
            "rss_before_mib": before,
        }),
    );
}
