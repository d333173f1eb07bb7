//! A stand-in for EverBright's API on loopback, for the demo and the tests: document downloads
//! (`/api/v1/document/{uuid}/download/`) and the data API's signed-quote look-up. Each document
//! can be told how to behave: a PDF of any size (streamed, never held whole), a redirect to a
//! second "storage" host, failures before success, throttling, 404, a non-PDF, a body cut short.
//! Unless told otherwise it serves a small, real PDF naming the document.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use domain::ids::{DocumentId, QuoteId};
use futures_util::stream;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

pub use crate::data_api::Dal;
use crate::data_api::dal_answer;
use crate::pdf::{CHUNK, pdf_range};
pub use crate::pdf::{pdf_bytes, pdf_sha256, small_pdf};

/// How the stand-in answers for one document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// 200 with a PDF of `size` bytes (see [`pdf_bytes`]).
    Pdf {
        size: usize,
    },
    /// Answers with the PDF's headers and holds its body until [`StandIn::release`] (a download
    /// under way for as long as a test needs it).
    Held {
        size: usize,
    },
    /// 302 to the storage host, which serves the PDF without asking for the token.
    Redirect {
        size: usize,
    },
    /// 302 to a pre-signed storage URL on `port`, where nothing may answer (a storage host
    /// that cannot be reached).
    RedirectTo {
        port: u16,
    },
    /// 302 to any URL (where nothing must connect: a refused target).
    RedirectToUrl {
        url: String,
    },
    /// 500 `failures` times, then the PDF.
    FailThen {
        failures: u32,
        size: usize,
    },
    /// 429 with `Retry-After: seconds` once, then the PDF.
    Throttle {
        seconds: u64,
        size: usize,
    },
    NotFound,
    /// 200 with an HTML page.
    NotPdf,
    /// Declares `size` bytes in `Content-Length` but sends only `sent`, then closes.
    CutShort {
        size: usize,
        sent: usize,
    },
}

/// Which of the stand-in's two hosts a request reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host {
    Api,
    Storage,
}

/// A request the stand-in saw.
#[derive(Clone, Debug)]
pub struct Seen {
    pub host: Host,
    pub path: String,
    /// The query string, as sent (percent-encoded).
    pub query: String,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct State {
    /// The API tokens accepted (each tenant's, when tenants share a stand-in).
    tokens: Vec<String>,
    behaviours: HashMap<DocumentId, Behaviour>,
    failures_served: HashMap<DocumentId, u32>,
    signed_quotes: HashMap<QuoteId, QuoteId>,
    /// Data API answers given as they are, by quote (an error, an oversized answer).
    data_answers: HashMap<QuoteId, String>,
    seen: Vec<Seen>,
    storage_base: String,
    /// What [`Behaviour::Held`] bodies wait for: a permit, given back at once, once released.
    gate: Arc<Gate>,
    /// The data API's options other than the workflow: see [`Dal`].
    dal: Dal,
    /// The site list (`GET /api/data/site/` without `site_id`): one row per site, paged.
    site_list: Vec<serde_json::Value>,
    /// Answers a page of the site list gives first, one per request of it, as they are (a 429,
    /// an error page).
    site_list_failures: Vec<(usize, u16, String)>,
    /// What the workflow answers for `site_id=<site>`: the quote the site was signed as.
    site_signed: HashMap<domain::ids::SiteId, QuoteId>,
}

type Shared = Arc<Mutex<State>>;

/// Closed until released: no permit at first.
struct Gate(Semaphore);

impl Default for Gate {
    fn default() -> Self {
        Self(Semaphore::new(0))
    }
}

/// A running stand-in: an API host and a storage host on two loopback ports.
pub struct StandIn {
    pub base_url: String,
    pub storage_url: String,
    state: Shared,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn lock(state: &Shared) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl StandIn {
    /// Starts both hosts on free loopback ports; the API host accepts `Authorization: Token <token>`.
    pub async fn start(token: &str) -> std::io::Result<Self> {
        let api = TcpListener::bind("127.0.0.1:0").await?;
        let storage = TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}", api.local_addr()?);
        let storage_url = format!("http://{}", storage.local_addr()?);
        let state: Shared = Arc::new(Mutex::new(State {
            tokens: vec![token.to_owned()],
            storage_base: storage_url.clone(),
            ..State::default()
        }));
        let tasks = vec![serve(api, Host::Api, state.clone()), serve(storage, Host::Storage, state.clone())];
        Ok(Self { base_url, storage_url, state, tasks })
    }

    /// Lets every [`Behaviour::Held`] body go, now and from now on.
    pub fn release(&self) {
        lock(&self.state).gate.0.add_permits(1);
    }

    pub fn set(&self, document: DocumentId, behaviour: Behaviour) {
        lock(&self.state).behaviours.insert(document, behaviour);
    }

    /// What the data API answers for `quote`: the quote it was signed as.
    pub fn set_signed_quote(&self, quote: QuoteId, signed: QuoteId) {
        lock(&self.state).signed_quotes.insert(quote, signed);
    }

    /// The site list: each site with its last update, as the data API lists them.
    pub fn set_sites(&self, sites: &[(domain::ids::SiteId, &str)]) {
        lock(&self.state).site_list = sites
            .iter()
            .map(|(site, updated)| serde_json::json!({"site_id": site.to_string(), "site_last_updated": updated}))
            .collect();
    }

    /// The next request of `page` of the site list is answered `status` with `body` (once per
    /// call).
    pub fn fail_site_list(&self, page: usize, status: u16, body: &str) {
        lock(&self.state).site_list_failures.push((page, status, body.to_owned()));
    }

    /// What the workflow answers for `site`: the quote it was signed as.
    pub fn set_site_signed_quote(&self, site: domain::ids::SiteId, signed: QuoteId) {
        lock(&self.state).site_signed.insert(site, signed);
    }

    /// The API token accepted from now on (a rotation at EverBright).
    pub fn set_token(&self, token: &str) {
        lock(&self.state).tokens = vec![token.to_owned()];
    }

    /// Accepts `token` too (another organization's, at the same EverBright).
    pub fn accept_token(&self, token: &str) {
        lock(&self.state).tokens.push(token.to_owned());
    }

    /// What the data API answers for `quote`, as it is (an error, say).
    pub fn set_data_answer(&self, quote: QuoteId, body: String) {
        lock(&self.state).data_answers.insert(quote, body);
    }

    /// Changes how the data API answers.
    pub fn dal(&self, change: impl FnOnce(&mut Dal)) {
        change(&mut lock(&self.state).dal);
    }

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        lock(&self.state).seen.clone()
    }

    /// The bytes served for `document` (to compare with what was stored).
    pub fn served_bytes(&self, document: DocumentId) -> Vec<u8> {
        let behaviour = lock(&self.state).behaviours.get(&document).cloned();
        match behaviour.and_then(|b| b.pdf_size()) {
            Some(size) => pdf_bytes(document, size),
            None => small_pdf(&document.to_string()),
        }
    }
}

impl Behaviour {
    fn pdf_size(&self) -> Option<usize> {
        match self {
            Self::Pdf { size }
            | Self::Redirect { size }
            | Self::FailThen { size, .. }
            | Self::Throttle { size, .. } => Some(*size),
            _ => None,
        }
    }
}

fn serve(listener: TcpListener, host: Host, state: Shared) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let state = state.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| answer(host, state.clone(), request));
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    })
}

pub(crate) type Body = BoxBody<Bytes, Infallible>;

pub(crate) fn full(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, content_type.parse().expect("a valid header value"));
    response
}

async fn answer(host: Host, state: Shared, request: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = request.uri().path().to_owned();
    let authorization = request.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let query = request.uri().query().unwrap_or_default().to_owned();
    let mut state_guard = lock(&state);
    state_guard.seen.push(Seen {
        host,
        path: path.clone(),
        query: query.clone(),
        authorization: authorization.clone(),
    });
    let known = |token: &String| authorization.as_deref() == Some(&format!("Token {token}"));
    if host == Host::Api && !state_guard.tokens.iter().any(known) {
        return Ok(full(StatusCode::UNAUTHORIZED, "application/json", r#"{"detail":"Invalid token."}"#));
    }
    if host == Host::Api && path == "/api/data/" {
        let options = r#"{"data": ["site", "quote", "system", "product", "credit_qualification", "workflow"]}"#;
        return Ok(full(StatusCode::OK, "application/json", options));
    }
    if host == Host::Api && path == "/api/data/site/" && !query.contains("site_id=") {
        return Ok(site_list(&mut state_guard, &query));
    }
    if host == Host::Api
        && let Some(option) = path.strip_prefix("/api/data/").and_then(|rest| rest.strip_suffix('/'))
        && option != "workflow"
        && !option.is_empty()
    {
        return Ok(dal_answer(&mut state_guard.dal, option, &query));
    }
    if host == Host::Api && path.starts_with("/api/v1/site/") {
        return Ok(full(StatusCode::OK, "application/json", state_guard.dal.site.to_string()));
    }
    if host == Host::Api && path == "/api/data/workflow/" {
        let quote = query.split('&').find_map(|pair| pair.strip_prefix("quote_id=")).and_then(|q| q.parse().ok());
        if let Some(answer) = quote.and_then(|q| state_guard.data_answers.get(&q)) {
            return Ok(full(StatusCode::OK, "application/json", answer.clone()));
        }
        let site = query.split('&').find_map(|pair| pair.strip_prefix("site_id=")).and_then(|q| q.parse().ok());
        let signed = quote
            .and_then(|q| state_guard.signed_quotes.get(&q))
            .or_else(|| site.and_then(|s| state_guard.site_signed.get(&s)))
            .map(ToString::to_string);
        let body = serde_json::json!({"data": [{
            "quote_id": quote.map(|q: QuoteId| q.to_string()),
            "s_quote_id": signed.unwrap_or_else(|| "APPROVED_BASELINE_NONEXISTANT".into()),
        }]});
        return Ok(full(StatusCode::OK, "application/json", body.to_string()));
    }
    let document = match host {
        Host::Api => path.strip_prefix("/api/v1/document/").and_then(|rest| rest.strip_suffix("/download/")),
        Host::Storage => path.strip_prefix("/storage/").and_then(|rest| rest.strip_suffix(".pdf")),
    };
    let Some(document) = document.and_then(|id| id.parse::<DocumentId>().ok()) else {
        return Ok(full(StatusCode::NOT_FOUND, "application/json", r#"{"detail":"Not found."}"#));
    };
    let behaviour = state_guard.behaviours.get(&document).cloned();
    if host == Host::Storage {
        let size = behaviour.and_then(|b| b.pdf_size()).unwrap_or(0);
        return Ok(pdf(document, size));
    }
    let response = match behaviour {
        None => full(StatusCode::OK, "application/pdf", small_pdf(&document.to_string())),
        Some(Behaviour::Pdf { size }) => pdf(document, size),
        Some(Behaviour::Redirect { .. }) => {
            let location = format!("{}/storage/{document}.pdf?X-Amz-Signature=presigned", state_guard.storage_base);
            let mut response = full(StatusCode::FOUND, "text/plain", "");
            response.headers_mut().insert(LOCATION, location.parse().expect("a valid header value"));
            response
        }
        Some(Behaviour::RedirectTo { port }) => {
            let location = format!(
                "http://127.0.0.1:{port}/storage/{document}.pdf?X-Amz-Credential=AKIASTORAGE&X-Amz-Signature=presigned"
            );
            let mut response = full(StatusCode::FOUND, "text/plain", "");
            response.headers_mut().insert(LOCATION, location.parse().expect("a valid header value"));
            response
        }
        Some(Behaviour::RedirectToUrl { url }) => {
            let mut response = full(StatusCode::FOUND, "text/plain", "");
            response.headers_mut().insert(LOCATION, url.parse().expect("a valid header value"));
            response
        }
        Some(Behaviour::FailThen { failures, size }) => {
            let served = state_guard.failures_served.entry(document).or_default();
            if *served < failures {
                *served += 1;
                full(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", "upstream trouble")
            } else {
                pdf(document, size)
            }
        }
        Some(Behaviour::Throttle { seconds, size }) => {
            let served = state_guard.failures_served.entry(document).or_default();
            if *served == 0 {
                *served += 1;
                let mut response = full(StatusCode::TOO_MANY_REQUESTS, "text/plain", "slow down");
                response.headers_mut().insert(RETRY_AFTER, seconds.into());
                response
            } else {
                pdf(document, size)
            }
        }
        Some(Behaviour::NotFound) => full(StatusCode::NOT_FOUND, "application/json", r#"{"detail":"Not found."}"#),
        Some(Behaviour::NotPdf) => full(StatusCode::OK, "text/html", "<html><body>Please log in</body></html>"),
        Some(Behaviour::Held { size }) => {
            let mut response = streamed(document, size, size, Some(state_guard.gate.clone()));
            response.headers_mut().insert(CONTENT_LENGTH, size.into());
            response
        }
        Some(Behaviour::CutShort { size, sent }) => {
            let mut response = streamed(document, size, sent, None);
            response.headers_mut().insert(CONTENT_LENGTH, size.into());
            response
        }
    };
    Ok(response)
}

/// A PDF of `size` bytes, streamed in 64 KiB chunks.
fn pdf(document: DocumentId, size: usize) -> Response<Body> {
    let mut response = streamed(document, size, size, None);
    response.headers_mut().insert(CONTENT_LENGTH, size.into());
    response
}

/// The first `sent` bytes of the `size`-byte PDF of `document`, generated chunk by chunk, the
/// first one once `gate` (if any) is open.
fn streamed(document: DocumentId, size: usize, sent: usize, gate: Option<Arc<Gate>>) -> Response<Body> {
    let chunks = stream::unfold(0usize, move |offset| {
        let gate = gate.clone();
        async move {
            if offset >= sent {
                return None;
            }
            if let (0, Some(gate)) = (offset, gate) {
                drop(gate.0.acquire().await.expect("the gate is never closed"));
            }
            let end = (offset + CHUNK).min(sent);
            let bytes = pdf_range(document, size, offset, end);
            Some((Ok::<_, Infallible>(Frame::data(Bytes::from(bytes))), end))
        }
    });
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(chunks)));
    response.headers_mut().insert(CONTENT_TYPE, "application/pdf".parse().expect("a valid header value"));
    response
}

/// The site list, paged by `limit` and `page`, after any failure set to come first.
fn site_list(state: &mut State, query: &str) -> Response<Body> {
    let param = |name: &str| query.split('&').find_map(|pair| pair.strip_prefix(&format!("{name}=")));
    let number = |name: &str, default: usize| param(name).and_then(|v| v.parse().ok()).unwrap_or(default);
    let (limit, page) = (number("limit", 100).max(1), number("page", 1).max(1));
    if let Some(at) = state.site_list_failures.iter().position(|(failing, ..)| *failing == page) {
        let (_, status, body) = state.site_list_failures.remove(at);
        let mut response = full(StatusCode::from_u16(status).unwrap_or(StatusCode::OK), "application/json", body);
        if status == 429 {
            response.headers_mut().insert(hyper::header::RETRY_AFTER, 1.into());
        }
        return response;
    }
    let rows: Vec<_> = state.site_list.iter().skip((page - 1) * limit).take(limit).cloned().collect();
    let body = serde_json::json!({"data": rows, "messages": {"warning": [], "error": [], "info": [], "critical": []},
        "status_code": 200});
    full(StatusCode::OK, "application/json", body.to_string())
}
