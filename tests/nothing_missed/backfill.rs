//! The operator's backfill on moto, from the stand-in's paged site list: a job per site (never
//! twice), a site read queued per site, resumed where a stopped run left off, and the jobs with no
//! document named.

use aws::schema;
use domain::ids::SiteId;
use domain::tenant::TenantId;
use domain::timestamp::Timestamp;
use everbright::{ApiToken, ClientSettings, EverBright};
use everbright_sync::tenants::ApiSites;
use integration_tests::enrichment::{SITE, TOKEN, World};
use integration_tests::{event, kinds};
use lambda_http::http::StatusCode;
use webhook_receiver::AwsReceiver;

const OLD_SITES: [&str; 4] = [
    "0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3",
    "1b2c3d4e-5f6a-4b7c-9d8e-9fa0b1c2d3e4",
    "2c3d4e5f-6a7b-4c8d-8e9f-a0b1c2d3e4f5",
    "3d4e5f6a-7b8c-4d9e-9fa0-b1c2d3e4f5a6",
];
const OLD_QUOTE: &str = "4e5f6a7b-8c9d-4eaf-8b0c-c2d3e4f5a6b7";

#[tokio::test]
async fn a_stopped_backfill_resumes_where_it_was_creates_each_job_once_and_names_the_jobs_without_documents() {
    let world = World::new(&[]).await;
    let receiver = AwsReceiver::on_aws(&world.backend.receiver_config(), &world.backend.clients);
    assert_eq!(receiver.handle(event("rest-contract-signed")).await.status(), StatusCode::OK);
    let records = world.backend.take_records().await;
    assert!(world.fetch(&records).await.is_empty(), "the contract's documents are stored");
    let updated = Timestamp::now().plus_seconds(-86_400 * 400).to_string();
    let mut sites: Vec<(SiteId, &str)> =
        OLD_SITES.iter().map(|site| (site.parse().unwrap(), updated.as_str())).collect();
    sites.insert(1, (SITE.parse().unwrap(), updated.as_str()));
    world.stand_in.set_sites(&sites);
    world.stand_in.set_site_signed_quote(OLD_SITES[0].parse().unwrap(), OLD_QUOTE.parse().unwrap());
    // The run is stopped at its third page (EverBright answers it with an error).
    world.stand_in.fail_site_list(3, 200, r#"{"data": [], "messages": {"error": ["down"]}, "status_code": 503}"#);

    let client = EverBright::new(&world.stand_in.base_url, ApiToken::new(TOKEN), ClientSettings::default()).unwrap();
    let source = ApiSites { client, limit: 2 };
    let ops = world.backend.ops();
    let tenant = TenantId::default_tenant();
    let mut pages_heard = Vec::new();
    let stopped = ops.backfill(&tenant, &source, |done| pages_heard.push(done.pages)).await.unwrap_err();
    assert!(stopped.to_string().contains("page 3") && stopped.to_string().contains("down"), "{stopped}");
    assert_eq!(pages_heard, [1, 2], "progress after each page");
    let checkpoint = world.backend.item("TENANT#default", schema::BACKFILL_CHECKPOINT).await.unwrap();
    assert_eq!(checkpoint["next_page"], 3);
    assert_eq!(kinds(&world.backend.drain_queue().await), [("read_site".to_owned(), 4)].into());

    let resumed = ops.backfill(&tenant, &source, |_| {}).await.unwrap();
    assert_eq!((resumed.from_page, resumed.pages, resumed.sites), (3, 1, 1), "{resumed:?}");
    assert_eq!((resumed.created, resumed.existing, resumed.queued), (1, 0, 1));
    assert_eq!(resumed.without_documents, [OLD_SITES[3].parse::<SiteId>().unwrap()]);
    let records = world.backend.take_records().await;
    assert_eq!(records.len(), 1);

    // From the start again (the last run finished): every job is there, none created twice, no
    // read asked again for a change already asked for.
    let again = ops.backfill(&tenant, &source, |_| {}).await.unwrap();
    assert_eq!((again.from_page, again.sites, again.created, again.existing, again.queued), (1, 5, 0, 5, 0));
    assert_eq!(again.without_documents.len(), 4, "the contract's job has its documents: {again:?}");
    assert!(!again.without_documents.contains(&SITE.parse().unwrap()));
    let rendered = everbright_sync::missed::render(&tenant, &again);
    assert!(rendered.contains("no documents yet") && rendered.contains(OLD_SITES[2]), "{rendered}");

    // The read of the last page's site: no signed quote at EverBright yet, answered as such.
    let job = world.backend.item(&format!("SITE#{}", OLD_SITES[3]), "JOB").await.unwrap();
    assert_eq!(job["created_by"], "backfill");
    assert!(world.fetch(&records).await.is_empty());
    let read = world.backend.item(&format!("SITE#{}", OLD_SITES[3]), schema::SITE_READ).await.unwrap();
    assert!(read.get("pending").is_none() && read["signed_quote"].is_null(), "no signed quote: {read:?}");
}
