//! `bench-api`: open-loop load on `GET /session-status/{id}` at a fixed request rate against a real
//! `wa-api` process and a private Redis, reporting latency percentiles measured from each request's
//! scheduled start (so a stalled server cannot hide its queueing delay).
//!
//! The load goes over `--connections` keep-alive HTTP/1.1 connections written by hand (request
//! line, headers, read to the end of the body): a general HTTP client's pool and a task per request
//! cost more CPU than the api call being measured, on the same cores. Request `i` is scheduled at
//! `i / rate` and queued on connection `i % connections`, so a slow answer delays the requests
//! behind it on that connection and their latency shows it.
//!
//! ```text
//! cargo build --release --workspace --bins
//! target/release/bench-api --api-bin target/release/wa-api --rate 2000 --seconds 20 --sessions 500
//! ```

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::json;
use tokio::sync::mpsc;
use wa_tests::harness::{RedisServer, free_port, wait_until};

struct Args {
    api_bin: String,
    rate: u64,
    seconds: u64,
    sessions: usize,
    connections: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        api_bin: "target/release/wa-api".into(),
        rate: 2000,
        seconds: 30,
        sessions: 1000,
        connections: 32,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag}: not a number"))
        };
        match flag.as_str() {
            "--api-bin" => args.api_bin = value.clone(),
            "--rate" => args.rate = number()?,
            "--seconds" => args.seconds = number()?,
            "--sessions" => args.sessions = number()? as usize,
            "--connections" => args.connections = number()? as usize,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench-api: {e}");
            std::process::exit(2);
        }
    };
    let redis = RedisServer::start();
    let port = free_port();
    let secret = "bench-secret-0123456789abcdef";
    let _api = KillOnDrop(
        Command::new(&args.api_bin)
            .env("REDIS_URL", redis.url())
            .env("BIND_ADDR", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("WS_PORT", free_port().to_string())
            .env("JWT_SECRET", secret)
            .env("LOG_LEVEL", "warn")
            .env("RATE_LIMIT_REQUESTS", "0")
            .stdout(Stdio::null())
            .spawn()
            .expect("wa-api starts"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.connections)
        .build()
        .unwrap();
    wait_until("the api is ready", Duration::from_secs(20), || {
        let req = http.get(format!("{base}/ready"));
        async move { (req.send().await.ok()?.status() == 200).then_some(()) }
    })
    .await;
    let token = wa_api::token::mint(secret, "bench", wa_shared::claims::Role::User, 3600);
    for i in 0..args.sessions {
        let r = http
            .post(format!("{base}/connect"))
            .bearer_auth(&token)
            .json(&json!({"sessionId": format!("bench-{i}"), "sessionName": "bench"}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    let total = args.rate * args.seconds;
    let interval = Duration::from_secs_f64(1.0 / args.rate as f64);
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(Duration, bool)>();
    let mut queues = Vec::with_capacity(args.connections);
    for _ in 0..args.connections.max(1) {
        let (tx, rx) = mpsc::unbounded_channel::<(Instant, String)>();
        queues.push(tx);
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connects to the api");
        stream.set_nodelay(true).expect("nodelay");
        tokio::spawn(run_connection(stream, rx, done_tx.clone(), token.clone()));
    }
    drop(done_tx);
    // The schedule runs on its own thread: an OS sleep wakes within tens of microseconds, where the
    // runtime's timer rounds every wake-up to the next millisecond and would add that to each latency.
    let started = Instant::now();
    let sessions = args.sessions;
    let pacer = std::thread::spawn(move || {
        for i in 0..total {
            let scheduled = started + interval.mul_f64(i as f64);
            std::thread::sleep(scheduled.saturating_duration_since(Instant::now()));
            let path = format!("/session-status/bench-{}", i as usize % sessions);
            let _ = queues[i as usize % queues.len()].send((scheduled, path));
        }
    });
    let mut latencies = Vec::with_capacity(total as usize);
    let mut errors = 0u64;
    while let Some((latency, ok)) = done_rx.recv().await {
        latencies.push(latency);
        errors += u64::from(!ok);
    }
    pacer.join().expect("the pacer thread finishes");
    let elapsed = started.elapsed();
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "GET /session-status: {} requests in {:.1}s ({:.0}/s offered {}/s), errors {errors}",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        args.rate
    );
    println!(
        "latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 90.0)),
        ms(percentile(&latencies, 99.0)),
        ms(percentile(&latencies, 99.9)),
        ms(*latencies.last().unwrap())
    );
}

/// Sends the queued requests on one keep-alive connection, one at a time, and reports each one's
/// latency from its scheduled start to the last byte of its body.
async fn run_connection(
    stream: tokio::net::TcpStream,
    mut queue: mpsc::UnboundedReceiver<(Instant, String)>,
    done: mpsc::UnboundedSender<(Duration, bool)>,
    token: String,
) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let mut stream = BufReader::new(stream);
    let mut line = String::new();
    while let Some((scheduled, path)) = queue.recv().await {
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n\r\n");
        let mut ok = stream.get_mut().write_all(request.as_bytes()).await.is_ok();
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
            if header.starts_with("HTTP/1.1 ") {
                status_ok = header.starts_with("HTTP/1.1 200");
            } else if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        ok = ok && stream.read_exact(&mut body).await.is_ok();
        let _ = done.send((scheduled.elapsed(), ok && status_ok));
        if !ok {
            // The connection is gone: what is still queued on it counts as failed.
            while let Some((scheduled, _)) = queue.recv().await {
                let _ = done.send((scheduled.elapsed(), false));
            }
            return;
        }
    }
}
