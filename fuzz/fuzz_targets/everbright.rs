//! The fetcher's EverBright client on any answer from the network: a loopback server answers
//! each request with the fuzzer's bytes (status line, headers such as `Retry-After`, `Location`
//! and `Content-Length`, body), for a document download (read to its end) and for the data
//! API's signed-quote look-up. Never a panic, whatever comes back; an error never carries the
//! API token, and never a query string (a pre-signed URL's query is a credential).
#![no_main]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use everbright::{ApiToken, ClientSettings, EverBright};
use domain::ids::{DocumentId, QuoteId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

const TOKEN: &str = "fuzz-api-token-0123456789";
const SECRET_QUERY: &str = "X-Amz-Signature=fuzzsecret";

#[derive(Arbitrary, Debug)]
struct Input {
    /// What the server answers, one per request, in order (then 503 with `Retry-After: 0`).
    answers: Vec<Vec<u8>>,
    data_api: bool,
}

struct World {
    runtime: tokio::runtime::Runtime,
    answers: Arc<Mutex<VecDeque<Vec<u8>>>>,
    client: EverBright,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        let answers: Arc<Mutex<VecDeque<Vec<u8>>>> = Arc::default();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("a loopback port");
        let port = listener.local_addr().expect("an address").port();
        let queue = answers.clone();
        runtime.spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let queue = queue.clone();
                tokio::spawn(async move {
                    // Read the request head, then answer and close.
                    let mut head = Vec::new();
                    let mut buffer = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buffer[..n]),
                        }
                    }
                    let answer = queue.lock().expect("the queue").pop_front();
                    let answer = answer.unwrap_or_else(|| b"HTTP/1.1 503 Busy\r\nRetry-After: 0\r\n\r\n".to_vec());
                    let _ = stream.write_all(&answer).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        let settings = ClientSettings {
            connect_timeout: Duration::from_millis(200),
            read_timeout: Duration::from_millis(200),
            max_redirects: 3,
            max_attempts: 3,
            backoff_base: Duration::from_millis(1),
            backoff_cap: Duration::from_millis(2),
            // No name resolves: a redirect the fuzzer writes to a host name never leaves this
            // machine, not even as a DNS query.
            lookup: everbright::HostLookup::fixed([]),
        };
        let client = EverBright::new(&format!("http://127.0.0.1:{port}/"), ApiToken::new(TOKEN), settings)
            .expect("a client");
        World { runtime, answers, client }
    })
}

fn id<T: std::str::FromStr>(n: u128) -> T
where
    T::Err: std::fmt::Debug,
{
    format!("{:032x}", n).parse().expect("a UUID")
}

fuzz_target!(|input: Input| {
    let world = world();
    {
        let mut queue = world.answers.lock().expect("the queue");
        queue.clear();
        // A redirect to a pre-signed URL on the same loopback server comes first when the
        // fuzzer asks for one (an answer starting with `R`), so that its query is in play.
        for answer in input.answers.into_iter().take(8) {
            if answer.first() == Some(&b'R') {
                let location = format!("HTTP/1.1 302 Found\r\nLocation: /presigned/doc.pdf?{SECRET_QUERY}\r\n\r\n");
                queue.push_back(location.into_bytes());
                queue.push_back(answer[1..].to_vec());
            } else {
                queue.push_back(answer);
            }
        }
    }
    let deadline = Instant::now() + Duration::from_millis(500);
    let error = world.runtime.block_on(async {
        if input.data_api {
            // The answer as it came, then read as the enrichment reads it: neither may panic, and
            // an error says nothing secret.
            match world.client.workflow(id::<QuoteId>(7), deadline).await {
                Ok(answer) => answer.json().err().map(everbright::FetchError::Retryable),
                Err(error) => Some(error),
            }
        } else {
            match world.client.download(id::<DocumentId>(9), deadline).await {
                Ok(mut download) => {
                    let mut read = 0usize;
                    loop {
                        match download.chunk().await {
                            Ok(Some(chunk)) => read += chunk.len(),
                            Ok(None) => break None,
                            Err(error) => break Some(error),
                        }
                        if read > 1 << 20 {
                            break None;
                        }
                    }
                }
                Err(error) => Some(error),
            }
        }
    });
    if let Some(error) = error {
        let text = error.to_string();
        assert!(!text.contains(TOKEN), "the token in an error: {text}");
        assert!(!text.contains(&format!("?{SECRET_QUERY}")), "a pre-signed query in an error: {text}");
    }
});
