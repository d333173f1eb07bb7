//! The demo's pipeline (receiver, SQS, fetcher, stand-in) on the sample events, end to end.

use everbright_sync::demo::{self, LOCAL_TOKEN};
use everbright_sync::local::Resources;
use everbright_sync::stand_in::{StandIn, small_pdf};
use integration_tests::{Backend, root};
use sha2::{Digest, Sha256};

#[tokio::test]
async fn the_demo_stores_every_signed_document_of_the_sample_contract_and_change_order() {
    let backend = Backend::new().await;
    let resources = Resources {
        table: backend.table.clone(),
        bucket: backend.bucket.clone(),
        queue_url: backend.queue_url.clone(),
        dlq_url: backend.dlq_url.clone(),
    };
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
    assert_eq!(report.refused(), 4, "the four bad sample requests");
    assert_eq!(report.failed(), 0);
    let rendered = demo::render(&report);
    assert!(rendered.contains("Job 34b6b5ee-f997-4044-86ae-0abbf611fc4d"));
    assert!(rendered.contains("STORED"));
}
