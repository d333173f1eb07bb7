//! A fault-injecting HTTP proxy on loopback, for the reliability tests.
//!
//! It stands between a function and a dependency (moto's server, or the EverBright stand-in),
//! tells which service and operation each request is for, and at configured rates answers in the
//! dependency's place with a failure instead of forwarding: a 500 or a 503, a throttle in the
//! service's own words (DynamoDB `ProvisionedThroughputExceededException`, S3 `SlowDown`, SQS
//! `RequestThrottled`, EverBright 429), a connection reset before or after the request reached
//! the dependency, a delay past the client's timeout (the request still lands, late), or an
//! answer cut short. Every forward runs in its own task, so a request the client gave up on still
//! reaches the dependency, as it would on a real network. It counts what it did.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// 500, not forwarded.
    InternalError,
    /// 503, not forwarded.
    Unavailable,
    /// The service's throttling answer, not forwarded.
    Throttle,
    /// The connection closed before the request was forwarded.
    ResetBefore,
    /// The request forwarded and applied, then the connection closed: the answer is lost.
    ResetAfter,
    /// The request held past the client's timeout, then forwarded anyway.
    Delay,
    /// The request forwarded, its answer cut short (half the declared `Content-Length`).
    Truncate,
    /// The request neither forwarded nor answered, ever: the caller is stuck in it (to stop the
    /// caller at a known point, as a crash would).
    Hold,
    /// DynamoDB's answer to a transaction that met another one on an item: cancelled, for a
    /// `TransactionConflict` (not forwarded; a 500 for the other services).
    Conflict,
}

impl Fault {
    pub const ALL: [Self; 9] = [
        Self::InternalError,
        Self::Unavailable,
        Self::Throttle,
        Self::ResetBefore,
        Self::ResetAfter,
        Self::Delay,
        Self::Truncate,
        Self::Hold,
        Self::Conflict,
    ];
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::InternalError => "500",
            Self::Unavailable => "503",
            Self::Throttle => "throttle",
            Self::ResetBefore => "reset before",
            Self::ResetAfter => "reset after",
            Self::Delay => "delay",
            Self::Truncate => "truncated",
            Self::Hold => "held",
            Self::Conflict => "conflict",
        };
        f.write_str(name)
    }
}

/// A fault at a rate, for a service (`dynamodb`, `s3`, `sqs`, `everbright`) and optionally one
/// of its operations (`UpdateItem`, `UploadPart`, `download`, ...).
#[derive(Clone, Debug)]
pub struct Rule {
    pub service: &'static str,
    pub operation: Option<&'static str>,
    pub fault: Fault,
    pub rate: f64,
    /// At most this many times (none: no limit).
    pub times: Option<u32>,
}

impl Rule {
    /// `fault` on the next `times` requests for `operation` of `service`.
    pub fn next(service: &'static str, operation: &'static str, fault: Fault, times: u32) -> Self {
        Self { service, operation: Some(operation), fault, rate: 1.0, times: Some(times) }
    }
}

/// The rules in force, and how long a [`Fault::Delay`] holds a request.
#[derive(Clone, Debug)]
pub struct FaultPlan {
    pub rules: Vec<Rule>,
    pub delay: Duration,
    pub seed: u64,
    /// Forward one request at a time. moto evaluates a condition and writes without a lock, so
    /// two requests on one item at once (a late attempt landing beside its retry) can both pass;
    /// DynamoDB's conditional writes and transactions are atomic. One at a time gives moto that.
    pub one_at_a_time: bool,
}

impl FaultPlan {
    /// No faults.
    pub fn none() -> Self {
        Self { rules: Vec::new(), delay: Duration::ZERO, seed: 0, one_at_a_time: false }
    }

    /// `total` spread over the given faults, on every operation of `service`.
    pub fn spread(mut self, service: &'static str, total: f64, faults: &[(Fault, f64)]) -> Self {
        let weight: f64 = faults.iter().map(|(_, w)| w).sum();
        for &(fault, w) in faults {
            self.rules.push(Rule { service, operation: None, fault, rate: total * w / weight, times: None });
        }
        self
    }

    /// The fault for a request, if any: `roll` in [0, 1) against the rules that apply and have
    /// not fired their `times` yet (`fired` counts, rule by rule).
    fn pick(&self, service: &str, operation: &str, roll: f64, fired: &mut Vec<u32>) -> Option<Fault> {
        fired.resize(self.rules.len(), 0);
        let mut cumulative = 0.0;
        for (rule, fired) in self.rules.iter().zip(fired.iter_mut()) {
            let applies = rule.service == service && rule.operation.is_none_or(|op| op == operation);
            if !applies || rule.times.is_some_and(|times| *fired >= times) {
                continue;
            }
            cumulative += rule.rate;
            if roll < cumulative {
                *fired += 1;
                return Some(rule.fault);
            }
        }
        None
    }
}

/// What the proxy did, by service.
#[derive(Clone, Debug, Default)]
pub struct FaultStats {
    pub requests: BTreeMap<String, u64>,
    /// Requests by service and operation (`("dynamodb", "UpdateItem")`).
    pub operations: BTreeMap<(String, String), u64>,
    pub faults: BTreeMap<(String, Fault), u64>,
}

impl FaultStats {
    pub fn total_faults(&self) -> u64 {
        self.faults.values().sum()
    }

    pub fn total_requests(&self) -> u64 {
        self.requests.values().sum()
    }

    /// The requests for each operation, as `service operation` and a count.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.operations.iter().map(|((service, operation), n)| (format!("{service} {operation}"), *n)).collect()
    }

    /// Faults of one kind, over every service.
    pub fn of(&self, fault: Fault) -> u64 {
        self.faults.iter().filter(|((_, f), _)| *f == fault).map(|(_, n)| n).sum()
    }

    /// One line per service: requests, and faults by kind.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (service, requests) in &self.requests {
            let faults: Vec<String> = Fault::ALL
                .iter()
                .filter_map(|fault| {
                    let n = self.faults.get(&(service.clone(), *fault)).copied().unwrap_or(0);
                    (n > 0).then(|| format!("{fault} {n}"))
                })
                .collect();
            let total: u64 = self.faults.iter().filter(|((s, _), _)| s == service).map(|(_, n)| n).sum();
            out.push_str(&format!(
                "  {service:<11} {requests:>6} requests, {total:>5} faults ({:.1}%): {}\n",
                100.0 * total as f64 / (*requests).max(1) as f64,
                faults.join(", ")
            ));
        }
        out
    }
}

struct State {
    target: String,
    gate: Arc<tokio::sync::Mutex<()>>,
    plan: FaultPlan,
    rng: fastrand::Rng,
    fired: Vec<u32>,
    stats: FaultStats,
}

type Shared = Arc<Mutex<State>>;

fn lock(state: &Shared) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running proxy.
pub struct FaultProxy {
    /// `http://127.0.0.1:<port>`, to use in place of the target's endpoint.
    pub endpoint: String,
    state: Shared,
    task: JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Forwards to `target` (`http://host:port`) under `plan`.
    pub async fn start(target: &str, plan: FaultPlan) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let rng = fastrand::Rng::with_seed(plan.seed);
        let state = Arc::new(Mutex::new(State {
            target: target.trim_end_matches('/').to_owned(),
            gate: Arc::default(),
            plan,
            rng,
            fired: Vec::new(),
            stats: FaultStats::default(),
        }));
        everbright::tls::install_crypto_provider();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(std::io::Error::other)?;
        let served = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = served.clone();
                let client = client.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| proxy(state.clone(), client.clone(), request));
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Ok(Self { endpoint, state, task })
    }

    /// Replaces the plan (the counts stay).
    pub fn set_plan(&self, plan: FaultPlan) {
        let mut state = lock(&self.state);
        state.rng = fastrand::Rng::with_seed(plan.seed);
        state.fired.clear();
        state.plan = plan;
    }

    pub fn stats(&self) -> FaultStats {
        lock(&self.state).stats.clone()
    }
}

type Body = BoxBody<Bytes, std::io::Error>;

/// The connection is closed without an answer.
#[derive(Debug)]
struct Reset;

impl fmt::Display for Reset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection reset by the fault proxy")
    }
}

impl std::error::Error for Reset {}

/// What the dependency answered.
struct Forwarded {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

async fn proxy(state: Shared, client: reqwest::Client, request: Request<Incoming>) -> Result<Response<Body>, Reset> {
    let (parts, body) = request.into_parts();
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or_default().to_owned();
    let (service, operation) = classify(&method, &path, &query, &parts.headers);
    let body = body.collect().await.map_err(|_| Reset)?.to_bytes();

    let (fault, delay, target, gate) = {
        let mut guard = lock(&state);
        let state = &mut *guard;
        let roll = state.rng.f64();
        let fault = state.plan.pick(service, &operation, roll, &mut state.fired);
        *state.stats.requests.entry(service.to_owned()).or_default() += 1;
        *state.stats.operations.entry((service.to_owned(), operation.clone())).or_default() += 1;
        if let Some(fault) = fault {
            *state.stats.faults.entry((service.to_owned(), fault)).or_default() += 1;
        }
        let gate = state.plan.one_at_a_time.then(|| state.gate.clone());
        (fault, state.plan.delay, state.target.clone(), gate)
    };
    match fault {
        Some(fault @ (Fault::InternalError | Fault::Unavailable | Fault::Throttle | Fault::Conflict)) => {
            return Ok(failure(service, fault));
        }
        Some(Fault::ResetBefore) => return Err(Reset),
        Some(Fault::Hold) => std::future::pending::<()>().await,
        _ => {}
    }

    let url = if query.is_empty() { format!("{target}{path}") } else { format!("{target}{path}?{query}") };
    let mut outbound = client.request(parts.method.clone(), url).body(body);
    for (name, value) in &parts.headers {
        if !matches!(name.as_str(), "host" | "content-length" | "connection" | "transfer-encoding") {
            outbound = outbound.header(name, value);
        }
    }
    let late = if fault == Some(Fault::Delay) { delay } else { Duration::ZERO };
    // In a task of its own: it lands even when the client has given up and hung up.
    let forwarded = tokio::spawn(async move {
        tokio::time::sleep(late).await;
        let _turn = match &gate {
            Some(gate) => Some(gate.lock().await),
            None => None,
        };
        let response = outbound.send().await.ok()?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.ok()?;
        Some(Forwarded { status, headers, body })
    })
    .await
    .ok()
    .flatten()
    .ok_or(Reset)?;

    if fault == Some(Fault::ResetAfter) {
        return Err(Reset);
    }
    let declared = forwarded.body.len();
    let body: Body = if fault == Some(Fault::Truncate) && declared > 1 {
        let half = forwarded.body.slice(..declared / 2);
        let frames = futures_util::stream::iter([
            Ok(Frame::data(half)),
            Err(std::io::Error::other("answer cut short by the fault proxy")),
        ]);
        BodyExt::boxed(StreamBody::new(frames))
    } else {
        Full::new(forwarded.body).map_err(|e: Infallible| match e {}).boxed()
    };
    let mut response = Response::new(body);
    *response.status_mut() = forwarded.status;
    for (name, value) in &forwarded.headers {
        if !matches!(name.as_str(), "content-length" | "connection" | "transfer-encoding") {
            response.headers_mut().append(name, value.clone());
        }
    }
    response.headers_mut().insert("content-length", declared.into());
    Ok(response)
}

mod answers;
#[cfg(test)]
mod tests;

pub use answers::classify;
use answers::failure;
