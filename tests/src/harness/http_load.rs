//! Open-loop HTTP load for the benchmarks: requests paced on an OS thread and written by hand on a
//! fixed set of keep-alive HTTP/1.1 connections (request line, headers, body; read to the end of
//! the answer's body). A general HTTP client's pool and a task per request cost more CPU than the
//! api call being measured, on the same cores.
//!
//! Request `i` is scheduled at `i / rate` and queued on connection `i % connections`, so a slow
//! answer delays the requests behind it on that connection, and their latency (measured from the
//! scheduled start) shows it.

use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// One request: `POST` when it has a JSON body, else `GET`.
pub struct LoadRequest {
    pub path: String,
    pub json_body: Option<String>,
}

/// Each request's latency from its scheduled start to the last byte of its answer, and whether it
/// was answered with a 2xx status.
pub struct LoadResult {
    pub latency: Duration,
    pub ok: bool,
}

/// Sends `total` requests at `rate` per second over `connections` keep-alive connections to
/// `127.0.0.1:port`, authenticated with `token`; `request(i)` builds the `i`-th. Returns every
/// result (in completion order) and the time the whole run took.
pub async fn run_open_loop(
    port: u16,
    connections: usize,
    token: &str,
    rate: u64,
    total: u64,
    request: impl Fn(u64) -> LoadRequest + Send + 'static,
) -> (Vec<LoadResult>, Duration) {
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<LoadResult>();
    let mut queues = Vec::with_capacity(connections.max(1));
    for _ in 0..connections.max(1) {
        let (tx, rx) = mpsc::unbounded_channel::<(Instant, LoadRequest)>();
        queues.push(tx);
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connects to the api");
        stream.set_nodelay(true).expect("nodelay");
        tokio::spawn(run_connection(
            stream,
            rx,
            done_tx.clone(),
            token.to_owned(),
        ));
    }
    drop(done_tx);
    // The schedule runs on its own thread: an OS sleep wakes within tens of microseconds, where the
    // runtime's timer rounds every wake-up to the next millisecond and would add that to each latency.
    let started = Instant::now();
    let pacer = std::thread::spawn(move || {
        for i in 0..total {
            let scheduled = started + interval.mul_f64(i as f64);
            std::thread::sleep(scheduled.saturating_duration_since(Instant::now()));
            let _ = queues[i as usize % queues.len()].send((scheduled, request(i)));
        }
    });
    let mut results = Vec::with_capacity(total as usize);
    while let Some(result) = done_rx.recv().await {
        results.push(result);
    }
    pacer.join().expect("the pacer thread finishes");
    (results, started.elapsed())
}

/// Sends the queued requests on one keep-alive connection, one at a time.
async fn run_connection(
    stream: tokio::net::TcpStream,
    mut queue: mpsc::UnboundedReceiver<(Instant, LoadRequest)>,
    done: mpsc::UnboundedSender<LoadResult>,
    token: String,
) {
    let mut stream = BufReader::new(stream);
    let mut line = String::new();
    while let Some((scheduled, request)) = queue.recv().await {
        let path = &request.path;
        let head = match &request.json_body {
            Some(body) => format!(
                "POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
            None => {
                format!(
                    "GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n\r\n"
                )
            }
        };
        let mut ok = stream.get_mut().write_all(head.as_bytes()).await.is_ok();
        let mut status_ok = false;
        let mut length = 0usize;
        // Status line and headers, up to the blank line.
        loop {
            line.clear();
            match stream.read_line(&mut line).await {
                Ok(0) | Err(_) => {
                    ok = false;
                    break;
                }
                Ok(_) => {}
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some(status) = header.strip_prefix("HTTP/1.1 ") {
                status_ok = status.starts_with('2');
            } else if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        ok = ok && stream.read_exact(&mut body).await.is_ok();
        let _ = done.send(LoadResult {
            latency: scheduled.elapsed(),
            ok: ok && status_ok,
        });
        if !ok {
            // The connection is gone: what is still queued on it counts as failed.
            while let Some((scheduled, _)) = queue.recv().await {
                let _ = done.send(LoadResult {
                    latency: scheduled.elapsed(),
                    ok: false,
                });
            }
            return;
        }
    }
}
