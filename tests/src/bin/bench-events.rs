//! `bench-events`: event latency from a worker's publish to a WebSocket client's receipt, through a
//! real `wa-api` process and a private Redis. `--sockets N` clients each follow their own session;
//! events are published the way a worker publishes them (`publish_event.lua`: event stream +
//! tenant channel, fenced by a lease) at `--rate R` events/s spread over the sessions for
//! `--seconds S`. Each event carries its publish time; the client measures on receipt.
//!
//! ```text
//! cargo build --release --workspace --bins
//! target/release/bench-events --sockets 1000 --rate 1000 --seconds 30
//! ```

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use wa_shared::events::EVENT_STREAM_MAXLEN;
use wa_shared::keys::Keys;
use wa_shared::scripts::PUBLISH_EVENT;
use wa_tests::harness::RedisServer;
use wa_tests::harness::api::user_token;
use wa_tests::harness::bench::{connect_session, percentile};
use wa_tests::harness::processes::ApiProcess;
use wa_tests::harness::ws_client::WsClient;

const TENANT: &str = "bench";
const PREFIX: &str = "benchev:";
const FENCE: &str = "bench-publisher:1";

struct Args {
    sockets: usize,
    rate: u64,
    seconds: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        sockets: 1000,
        rate: 1000,
        seconds: 30,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let n = value
            .parse::<u64>()
            .map_err(|_| format!("{flag}: not a number"))?;
        match flag.as_str() {
            "--sockets" => args.sockets = n as usize,
            "--rate" => args.rate = n,
            "--seconds" => args.seconds = n,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("bench-events: {e}");
            std::process::exit(2);
        }
    };
    let redis = RedisServer::start();
    let keys = Keys::new(PREFIX);
    let mut conn = redis
        .client()
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    for i in 0..args.sockets {
        let sid = format!("e{i}");
        connect_session(&mut conn, &keys, TENANT, &sid, "15550001111")
            .await
            .expect("session");
        let _: () = redis::cmd("SET")
            .arg(keys.lease(&sid))
            .arg(FENCE)
            .query_async(&mut conn)
            .await
            .expect("lease");
    }
    let api = ApiProcess::start(&redis.url(), PREFIX).await;
    let token = user_token(TENANT);

    // Every socket follows its own session and reports each event's latency in microseconds.
    let (tx, mut rx) = mpsc::unbounded_channel::<u64>();
    let mut readers = Vec::new();
    for i in 0..args.sockets {
        let mut ws = WsClient::connect(&api.ws_url(), Some(&token)).await;
        ws.send_json(json!({"event": "subscribe", "data": {"sessionId": format!("e{i}")}}))
            .await;
        ws.next_event("subscribed", Duration::from_secs(30)).await;
        let tx = tx.clone();
        let mut stream = ws.into_stream();
        readers.push(tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                let received = now_us();
                let Ok(text) = message.to_text() else {
                    continue;
                };
                let Ok(frame) = serde_json::from_str::<Value>(text) else {
                    continue;
                };
                if let Some(sent) = frame["data"]["sentAtUs"].as_u64() {
                    let _ = tx.send(received.saturating_sub(sent));
                }
            }
        }));
    }
    drop(tx);
    println!("{} sockets subscribed", args.sockets);

    let total = args.rate * args.seconds;
    let interval = Duration::from_secs_f64(1.0 / args.rate as f64);
    let started = Instant::now();
    let channel = keys.tenant_channel(TENANT);
    for n in 0..total {
        tokio::time::sleep_until((started + interval.mul_f64(n as f64)).into()).await;
        let sid = format!("e{}", n as usize % args.sockets);
        let data = json!({"sessionId": sid, "messageId": format!("m{n}"), "status": "delivered", "sentAtUs": now_us()});
        let mut conn = conn.clone();
        let lease = keys.lease(&sid);
        let events = keys.events(&sid);
        let channel = channel.clone();
        tokio::spawn(async move {
            let _: redis::RedisResult<String> = PUBLISH_EVENT
                .key(lease)
                .key(events)
                .arg(FENCE)
                .arg(channel)
                .arg(&sid)
                .arg("message_status")
                .arg(data.to_string())
                .arg(EVENT_STREAM_MAXLEN)
                .invoke_async(&mut conn)
                .await;
        });
    }
    let published_in = started.elapsed();
    let mut latencies = Vec::with_capacity(total as usize);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while (latencies.len() as u64) < total {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(l)) => latencies.push(l),
            _ => break,
        }
    }
    for reader in readers {
        reader.abort();
    }
    latencies.sort_unstable();
    println!(
        "published {total} events in {published_in:.1?} ({:.0}/s); received {}",
        total as f64 / published_in.as_secs_f64(),
        latencies.len()
    );
    if !latencies.is_empty() {
        let ms = |us: u64| us as f64 / 1000.0;
        println!(
            "latency publish -> client: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
            ms(percentile(&latencies, 50.0)),
            ms(percentile(&latencies, 90.0)),
            ms(percentile(&latencies, 99.0)),
            ms(percentile(&latencies, 99.9)),
            ms(*latencies.last().unwrap_or(&0))
        );
    }
    drop(api);
}
