//! A stand-in for the Lambda Runtime API, to run a function's real `bootstrap` as Lambda would:
//! the process polls `GET /2018-06-01/runtime/invocation/next` for an event and posts its answer
//! to `.../invocation/<id>/response` (or `/error`). The stand-in notes when the first poll
//! arrives (the end of the function's init) and hands out one event per [`RuntimeApi::invoke`].

use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

const PREFIX: &str = "/2018-06-01/runtime";
const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:bench";

/// What the function answered to one invocation (or to its init, with `request_id` "init").
#[derive(Debug)]
pub struct Outcome {
    pub request_id: String,
    pub error: bool,
    pub body: Bytes,
}

struct State {
    first_poll: Mutex<Option<Instant>>,
    polled: Notify,
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, String)>>,
    outcomes: mpsc::UnboundedSender<Outcome>,
}

pub struct RuntimeApi {
    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    state: Arc<State>,
    events: mpsc::UnboundedSender<(String, String)>,
    outcomes: tokio::sync::Mutex<mpsc::UnboundedReceiver<Outcome>>,
    invocations: Mutex<u64>,
    task: JoinHandle<()>,
}

impl RuntimeApi {
    /// Listens on a free loopback port.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?.to_string();
        let (events, events_rx) = mpsc::unbounded_channel();
        let (outcomes_tx, outcomes) = mpsc::unbounded_channel();
        let state = Arc::new(State {
            first_poll: Mutex::new(None),
            polled: Notify::new(),
            events: tokio::sync::Mutex::new(events_rx),
            outcomes: outcomes_tx,
        });
        let serving = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = serving.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| answer(state.clone(), request));
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Ok(Self {
            address,
            state,
            events,
            outcomes: tokio::sync::Mutex::new(outcomes),
            invocations: Mutex::new(0),
            task,
        })
    }

    /// When the function first asked for an event, waiting up to `timeout` for it.
    pub async fn first_poll(&self, timeout: Duration) -> Option<Instant> {
        let wait = async {
            loop {
                let polled = self.state.polled.notified();
                if let Some(at) = *lock(&self.state.first_poll) {
                    return at;
                }
                polled.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.ok()
    }

    /// Hands `event` to the function and waits up to `timeout` for its answer.
    pub async fn invoke(&self, event: String, timeout: Duration) -> Result<Outcome, String> {
        let request_id = {
            let mut count = lock(&self.invocations);
            *count += 1;
            format!("bench-{:06}", *count)
        };
        self.events.send((request_id.clone(), event)).map_err(|_| "the runtime API stopped".to_owned())?;
        let mut outcomes = self.outcomes.lock().await;
        let outcome = tokio::time::timeout(timeout, outcomes.recv())
            .await
            .map_err(|_| format!("no answer to {request_id} within {timeout:?}"))?
            .ok_or("the runtime API stopped")?;
        if outcome.request_id == request_id {
            Ok(outcome)
        } else {
            Err(format!("expected an answer to {request_id}, got {outcome:?}"))
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
}

async fn answer(state: Arc<State>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().strip_prefix(PREFIX).unwrap_or_default().to_owned();
    let method = request.method().clone();
    if method == Method::GET && path == "/invocation/next" {
        lock(&state.first_poll).get_or_insert_with(Instant::now);
        state.polled.notify_waiters();
        let Some((request_id, event)) = state.events.lock().await.recv().await else {
            return Ok(reply(StatusCode::GONE, "stopped"));
        };
        let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default() + Duration::from_secs(900);
        let mut response = reply(StatusCode::OK, event);
        let headers = response.headers_mut();
        let mut set = |name: &'static str, value: String| {
            headers.insert(name, value.parse().expect("a valid header value"));
        };
        set("content-type", "application/json".into());
        set("lambda-runtime-aws-request-id", request_id);
        set("lambda-runtime-deadline-ms", deadline.as_millis().to_string());
        set("lambda-runtime-invoked-function-arn", FUNCTION_ARN.into());
        set("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000;Sampled=0".into());
        return Ok(response);
    }
    if method != Method::POST {
        return Ok(reply(StatusCode::NOT_FOUND, "unknown"));
    }
    let (request_id, error) = if path == "/init/error" {
        ("init".to_owned(), true)
    } else if let Some(rest) = path.strip_prefix("/invocation/") {
        match rest.rsplit_once('/') {
            Some((id, "response")) => (id.to_owned(), false),
            Some((id, "error")) => (id.to_owned(), true),
            _ => return Ok(reply(StatusCode::NOT_FOUND, "unknown")),
        }
    } else {
        return Ok(reply(StatusCode::NOT_FOUND, "unknown"));
    };
    let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let _ = state.outcomes.send(Outcome { request_id, error, body });
    Ok(reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#))
}
