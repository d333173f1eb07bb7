//! EverBright's API: document downloads, and the data API's and the site's answers as they come
//! (what they mean is [`domain::dal`]'s to say).
//!
//! The URL of every call is built from the configured base and a validated id, never from a
//! string in a payload. Redirects are followed by hand, a few hops at most, only to `https` (or to
//! `http` on a private address when the base is a local stand-in), and the `Authorization` header
//! goes only to the configured base's origin: a download that redirects to a pre-signed storage
//! URL works and the storage host never sees the token. No request goes to a loopback, private,
//! link-local, unique-local or unspecified address, given as such or resolved from a name, unless
//! the configured base is itself one (a local run): a redirect there is refused for good before
//! any connection is made ([`is_public`], [`HostLookup`]). Connection errors, timeouts, 429 (after its `Retry-After`)
//! and 5xx are retried with jittered exponential backoff, within the caller's deadline.
//!
//! An adapter beside the `aws` crate: it depends on the domain (ids, `DataAnswer`) and on reqwest and
//! rustls (ring), never on the AWS SDK or on configuration.

pub mod egress;
pub mod tls;

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use domain::ports::ChunkSource;
pub use domain::ports::FetchError;
use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::egress::is_public;
use crate::egress::{GuardedResolver, literal_address, refused_address};
pub use crate::egress::{HostLookup, RefusedAddress};
use domain::dal::DataAnswer;
use domain::ids::{DocumentId, QuoteId, SiteId};
use domain::reconcile::SitePage;

/// EverBright's API token. It never appears in a log or a debug print.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken(String);

impl ApiToken {
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    fn header(&self) -> String {
        format!("Token {}", self.0)
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(redacted)")
    }
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{base_url:?} is not a URL")]
    NotAUrl {
        base_url: String,
        #[source]
        source: url::ParseError,
    },
    #[error("{base_url:?} is not an http(s) URL")]
    NotHttp { base_url: String },
    #[error("cannot build the HTTP client")]
    Http(#[source] reqwest::Error),
}

/// Timeouts, redirects and retries.
#[derive(Clone, Debug)]
pub struct ClientSettings {
    pub connect_timeout: Duration,
    /// The longest wait for any read of a response (headers or the next body chunk).
    pub read_timeout: Duration,
    pub max_redirects: usize,
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// How host names are resolved (the system's resolver unless a test gives its own).
    pub lookup: HostLookup,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(30),
            max_redirects: 5,
            max_attempts: 5,
            backoff_base: Duration::from_millis(200),
            backoff_cap: Duration::from_secs(10),
            lookup: HostLookup::system(),
        }
    }
}

/// A client of EverBright's API.
#[derive(Clone, Debug)]
pub struct EverBright {
    http: reqwest::Client,
    base: Url,
    token: ApiToken,
    settings: ClientSettings,
}

/// A download under way: its headers are in, its body is read chunk by chunk.
#[derive(Debug)]
pub struct Download {
    response: reqwest::Response,
    pub content_length: Option<u64>,
    pub content_type: Option<String>,
}

impl Download {
    /// The next chunk of the body, `None` at its end. A body cut short is a retryable error.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, FetchError> {
        self.response.chunk().await.map_err(|e| {
            FetchError::Retryable(format!("reading the document failed: {}", domain::error::chain(&e.without_url())))
        })
    }
}

impl ChunkSource for Download {
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, FetchError> {
        self.chunk().await
    }

    fn declared_length(&self) -> Option<u64> {
        self.content_length
    }
}

impl EverBright {
    pub fn new(base_url: &str, token: ApiToken, settings: ClientSettings) -> Result<Self, ClientError> {
        let mut base =
            Url::parse(base_url).map_err(|source| ClientError::NotAUrl { base_url: base_url.to_owned(), source })?;
        if !matches!(base.scheme(), "https" | "http") || base.host().is_none() {
            return Err(ClientError::NotHttp { base_url: base_url.to_owned() });
        }
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        crate::tls::install_crypto_provider();
        let resolver = GuardedResolver {
            lookup: settings.lookup.clone(),
            base_host: base.host_str().unwrap_or_default().to_owned(),
            allow_private: literal_address(&base).is_some_and(|ip| !is_public(ip)),
        };
        let http = reqwest::Client::builder()
            .dns_resolver(resolver)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.connect_timeout)
            .read_timeout(settings.read_timeout)
            .user_agent(concat!("everbright-sync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ClientError::Http)?;
        Ok(Self { http, base, token, settings })
    }

    /// Whether both clients send the same token.
    pub fn same_token(&self, other: &Self) -> bool {
        self.token == other.token
    }

    /// `GET /api/v1/document/{uuid}/download/`.
    pub async fn download(&self, document: DocumentId, deadline: Instant) -> Result<Download, FetchError> {
        let url = self.url(&format!("api/v1/document/{document}/download/"));
        let response = self.get(url, deadline).await?;
        let header = |name| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let content_length = header(CONTENT_LENGTH).and_then(|v| v.parse().ok());
        let content_type = header(CONTENT_TYPE);
        Ok(Download { response, content_length, content_type })
    }

    /// `GET /api/data/workflow/?metrics=s_quote_id&quote_id={quote}`: which quote the given
    /// (original) quote was finally signed as ([`domain::dal::signed_quote`] reads it).
    pub async fn workflow(&self, quote: QuoteId, deadline: Instant) -> Result<DataAnswer, FetchError> {
        self.workflow_by(("quote_id", &quote.to_string()), deadline).await
    }

    /// `GET /api/data/workflow/?metrics=s_quote_id&site_id={site}`: the quote a site was signed as.
    /// Assumed (not published): the workflow option is filtered by `site_id` as it is by
    /// `quote_id`, as every option is by its ids.
    pub async fn site_workflow(&self, site: SiteId, deadline: Instant) -> Result<DataAnswer, FetchError> {
        self.workflow_by(("site_id", &site.to_string()), deadline).await
    }

    async fn workflow_by(&self, filter: (&str, &str), deadline: Instant) -> Result<DataAnswer, FetchError> {
        let mut url = self.url("api/data/workflow/");
        url.query_pairs_mut().append_pair("metrics", "s_quote_id").append_pair(filter.0, filter.1);
        self.get_answer(url, deadline).await
    }

    /// `GET /api/data/site/?metrics=site_id,site_last_updated&limit=..&page=..`: one page of the
    /// tenant's sites with their last update (EverBright's data API page names this query).
    pub async fn site_list(&self, page: u32, limit: u32, deadline: Instant) -> Result<DataAnswer, FetchError> {
        let mut url = self.url("api/data/site/");
        url.query_pairs_mut()
            .append_pair("metrics", &domain::reconcile::SITE_LIST_METRICS.join(","))
            .append_pair("limit", &limit.to_string())
            .append_pair("page", &page.to_string());
        self.get_answer(url, deadline).await
    }

    /// `GET /api/data/{option}/?{filter}&metrics=...&limit=..&page=..`: one page of the data
    /// API's answer for `metrics` (as asked: `s_` for the signed baseline).
    pub async fn data_page(
        &self,
        option: &str,
        filter: (&str, &str),
        metrics: &[String],
        page: (u32, u32),
        deadline: Instant,
    ) -> Result<DataAnswer, FetchError> {
        let mut url = self.url(&format!("api/data/{option}/"));
        url.query_pairs_mut()
            .append_pair(filter.0, filter.1)
            .append_pair("metrics", &metrics.join(","))
            .append_pair("limit", &page.1.to_string())
            .append_pair("page", &page.0.to_string());
        self.get_answer(url, deadline).await
    }

    /// One page of the site list, read ([`domain::reconcile::read_site_page`]): an error answer,
    /// or one this version cannot read, is a retryable failure in EverBright's words.
    pub async fn site_page(&self, page: u32, limit: u32, deadline: Instant) -> Result<SitePage, FetchError> {
        let json = self.site_list(page, limit, deadline).await?.json().map_err(FetchError::Retryable)?;
        domain::reconcile::read_site_page(&json, limit)
            .map_err(|reason| FetchError::Retryable(format!("the site list: {reason}")))
    }

    /// `GET /api/v1/site/{id}/`: the site, with its contacts and address.
    pub async fn site(&self, site: SiteId, deadline: Instant) -> Result<DataAnswer, FetchError> {
        self.get_answer(self.url(&format!("api/v1/site/{site}/")), deadline).await
    }

    /// `request`'s answer, as it came: one entry for every request of the data API (and the
    /// site), so that a caller that wraps each call (the fetcher's token refresh) wraps one.
    pub async fn answer(&self, request: &DataRequest, deadline: Instant) -> Result<DataAnswer, FetchError> {
        match request {
            DataRequest::WorkflowOfQuote(quote) => self.workflow(*quote, deadline).await,
            DataRequest::WorkflowOfSite(site) => self.site_workflow(*site, deadline).await,
            DataRequest::Page { option, filter, metrics, page, limit } => {
                self.data_page(option, (filter.0, &filter.1), metrics, (*page, *limit), deadline).await
            }
            DataRequest::Site(site) => self.site(*site, deadline).await,
            DataRequest::SiteList { page, limit } => self.site_list(*page, *limit, deadline).await,
        }
    }

    /// The answer as it came, whatever its status (but a 401, which is the token's), at most
    /// [`MAX_DATA_ANSWER_BYTES`] read: [`DataAnswer::json`] says what it means, so that an error
    /// answer keeps EverBright's words and is kept as evidence like any other.
    async fn get_answer(&self, url: Url, deadline: Instant) -> Result<DataAnswer, FetchError> {
        let shown = url.to_string();
        let mut response = self.get_final(url, deadline).await?;
        let status = response.status().as_u16();
        let content_type = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| {
            FetchError::Retryable(format!(
                "reading the data API answer failed: {}",
                domain::error::chain(&e.without_url())
            ))
        })? {
            if body.len() + chunk.len() > MAX_DATA_ANSWER_BYTES {
                return Err(FetchError::Retryable(format!(
                    "the data API answer is larger than {MAX_DATA_ANSWER_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(DataAnswer { url: shown, status, content_type, body })
    }

    /// One harmless call that needs the token: `GET /api/data/`, the data API's list of options.
    /// `Ok` when EverBright accepts the token.
    pub async fn check_token(&self, deadline: Instant) -> Result<(), FetchError> {
        self.get(self.url("api/data/"), deadline).await.map(drop)
    }

    fn url(&self, path: &str) -> Url {
        self.base.join(path).expect("a relative path of ids joins onto an http(s) base")
    }

    /// Why a redirect may not go to `url`, if it may not: only `https`, or, when the base itself
    /// is plain `http` on a private address (a local run against a stand-in), another `http`
    /// address of that kind; never a private address given literally unless the base is one too
    /// (a name is checked when it is resolved, by [`GuardedResolver`]).
    fn refused_target(&self, url: &Url) -> Option<String> {
        let private = |url: &Url| literal_address(url).is_some_and(|ip| !is_public(ip));
        let local_run = private(&self.base);
        match url.scheme() {
            "https" if private(url) && !local_run => {
                Some(format!("{} is not a public address", url.host_str().unwrap_or_default()))
            }
            "https" => None,
            "http" if self.base.scheme() == "http" && local_run && private(url) => None,
            _ => Some("only https is followed".to_owned()),
        }
    }

    /// GET with redirects and retries; answers the first 2xx response.
    async fn get(&self, url: Url, deadline: Instant) -> Result<reqwest::Response, FetchError> {
        let response = self.get_final(url, deadline).await?;
        match response.status() {
            status if status.is_success() => Ok(response),
            status => Err(classify(status, response.url())),
        }
    }

    /// GET with redirects and retries; answers the final response, whatever its status, but a
    /// 401 (the token's, see [`FetchError::Unauthorized`]).
    async fn get_final(&self, mut url: Url, deadline: Instant) -> Result<reqwest::Response, FetchError> {
        for _ in 0..=self.settings.max_redirects {
            let response = self.get_once_with_retries(&url, deadline).await?;
            let status = response.status();
            if status.is_redirection() {
                let location = response.headers().get(LOCATION).and_then(|v| v.to_str().ok());
                let next = location.and_then(|location| url.join(location).ok()).ok_or_else(|| {
                    FetchError::Permanent(format!("{status} from {} without a usable Location", redact(&url)))
                })?;
                if let Some(reason) = self.refused_target(&next) {
                    return Err(FetchError::Permanent(format!("refused a redirect to {}: {reason}", redact(&next))));
                }
                debug!(from = %redact(&url), to = %redact(&next), "following a redirect");
                url = next;
                continue;
            }
            if status == StatusCode::UNAUTHORIZED {
                return Err(classify(status, &url));
            }
            return Ok(response);
        }
        Err(FetchError::Permanent(format!("more than {} redirects", self.settings.max_redirects)))
    }

    async fn get_once_with_retries(&self, url: &Url, deadline: Instant) -> Result<reqwest::Response, FetchError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self.http.get(url.clone());
            if url.origin() == self.base.origin() {
                request = request.header(AUTHORIZATION, self.token.header());
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            let outcome = request.timeout(remaining.max(Duration::from_millis(1))).send().await;
            let (reason, retry_after) = match outcome {
                Ok(response)
                    if response.status() == StatusCode::TOO_MANY_REQUESTS || response.status().is_server_error() =>
                {
                    let retry_after = response
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    (format!("{} from {}", response.status(), redact(url)), retry_after)
                }
                Ok(response) => return Ok(response),
                Err(error) if refused_address(&error).is_some() => {
                    let refused = refused_address(&error).map(ToString::to_string).unwrap_or_default();
                    return Err(FetchError::Permanent(format!("refused GET {}: {refused}", redact(url))));
                }
                // reqwest's message ends with the full URL: a pre-signed one's query is a credential.
                Err(error) => {
                    (format!("GET {} failed: {}", redact(url), domain::error::chain(&error.without_url())), None)
                }
            };
            // `Retry-After` comes from the network: compare it with the time left, never add it
            // to an instant (a huge value would overflow).
            let wait = retry_after.unwrap_or_else(|| self.backoff(attempt));
            if attempt >= self.settings.max_attempts || wait >= deadline.saturating_duration_since(Instant::now()) {
                return Err(FetchError::Retryable(format!("{reason} (after {attempt} attempts)")));
            }
            warn!(attempt, wait_ms = wait.as_millis() as u64, "{reason}; retrying");
            tokio::time::sleep(wait).await;
        }
    }

    /// Full jitter: anywhere from zero to the attempt's ceiling.
    fn backoff(&self, attempt: u32) -> Duration {
        self.backoff_ceiling(attempt).mul_f64(fastrand::f64())
    }

    /// The base, doubled after each attempt, up to the cap.
    fn backoff_ceiling(&self, attempt: u32) -> Duration {
        let ceiling = self.settings.backoff_base.saturating_mul(1 << attempt.min(16).saturating_sub(1));
        ceiling.min(self.settings.backoff_cap)
    }
}

/// A request of the data API, or of the site (see [`EverBright::answer`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataRequest {
    /// Which quote an original quote was signed as.
    WorkflowOfQuote(QuoteId),
    /// Which quote a site was signed as.
    WorkflowOfSite(SiteId),
    /// One page of an option's metrics, filtered by `filter` (name, value).
    Page { option: String, filter: (&'static str, String), metrics: Vec<String>, page: u32, limit: u32 },
    /// The site, with its contacts and address.
    Site(SiteId),
    /// One page of the tenant's sites with their last update.
    SiteList { page: u32, limit: u32 },
}

/// 404, 403 and 410 (and any other 4xx but 408 and 429) will not change by retrying.
fn classify(status: StatusCode, url: &Url) -> FetchError {
    let reason = format!("{status} from {}", redact(url));
    match status {
        StatusCode::UNAUTHORIZED => FetchError::Unauthorized(reason),
        StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => FetchError::Retryable(reason),
        s if s.is_client_error() => FetchError::Permanent(reason),
        _ => FetchError::Retryable(reason),
    }
}

/// A URL without its query (a pre-signed URL's query is a credential).
fn redact(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.to_string()
}

/// The largest data API answer read: a look-up of one metric for one quote is a few hundred bytes,
/// a profile's page a few kilobytes.
const MAX_DATA_ANSWER_BYTES: usize = 1024 * 1024;

#[cfg(test)]
mod tests;
