//! `bench-api`: open-loop load on `GET /session-status/{id}` at a fixed request rate against a real
//! `wa-api` process and a private Redis, reporting latency percentiles measured from each request's
//! scheduled start (so a stalled server cannot hide its queueing delay).
//!
//! The load goes over `--connections` keep-alive HTTP/1.1 connections written by hand
//! ([`wa_tests::harness::http_load`]).
//!
//! ```text
//! cargo build --release --workspace --bins
//! target/release/bench-api --api-bin target/release/wa-api --rate 2000 --seconds 20 --sessions 500
//! ```

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::json;
use wa_tests::harness::http_load::{LoadRequest, run_open_loop};
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
    let sessions = args.sessions;
    let (results, elapsed) =
        run_open_loop(port, args.connections, &token, args.rate, total, move |i| {
            LoadRequest {
                path: format!("/session-status/bench-{}", i as usize % sessions),
                json_body: None,
            }
        })
        .await;
    let errors = results.iter().filter(|r| !r.ok).count();
    let mut latencies: Vec<Duration> = results.iter().map(|r| r.latency).collect();
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
