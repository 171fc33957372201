//! Scale benchmark of the fake WhatsApp server: logs in many devices over the real protocol
//! (WebSocket, Noise XX, binary nodes) and routes messages between them at a target rate.
//!
//! `fake-whatsapp-bench [--devices 2000] [--rate 5000] [--seconds 10]`
//!
//! The load clients are lean protocol clients (no Signal, opaque `<enc>` payloads) so that the
//! server, not the client library, is what gets measured. Server and clients share the machine,
//! so the figures are a lower bound for the server alone.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;
use wa_tests::fake::{FakeConfig, FakeWhatsApp, stanza};
use wacore::framing::{FrameDecoder, encode_frame};
use wacore::handshake::XxHandshakeState;
use wacore::noise::NoiseCipher;
use wacore_binary::builder::NodeBuilder;
use wacore_binary::consts::WA_CONN_HEADER;
use waproto::buffa::Message as _;
use waproto::whatsapp as wa;

struct Args {
    devices: usize,
    rate: u64,
    seconds: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        devices: 2000,
        rate: 5000,
        seconds: 10,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let n: u64 = value
            .parse()
            .map_err(|_| format!("{flag} wants a number, got {value:?}"))?;
        match flag.as_str() {
            "--devices" => args.devices = n as usize,
            "--rate" => args.rate = n,
            "--seconds" => args.seconds = n,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if args.devices < 2 || args.rate == 0 || args.seconds == 0 {
        return Err("need --devices >= 2, --rate > 0, --seconds > 0".into());
    }
    Ok(args)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A logged-in lean device.
struct LeanDevice {
    ws: Ws,
    decoder: FrameDecoder,
    read: NoiseCipher,
    read_counter: u32,
    write: NoiseCipher,
    write_counter: u32,
}

async fn next_frame<S>(ws: &mut S, decoder: &mut FrameDecoder) -> anyhow::Result<bytes::BytesMut>
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        if let Some(frame) = decoder.decode_frame() {
            return Ok(frame);
        }
        match ws.next().await {
            Some(Ok(Message::Binary(data))) => decoder.feed(&data),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => anyhow::bail!("socket closed"),
        }
    }
}

impl LeanDevice {
    async fn login(url: &str, device: &wacore::store::Device) -> anyhow::Result<Self> {
        let pn = device.pn.clone().ok_or_else(|| anyhow::anyhow!("no pn"))?;
        let payload = wa::ClientPayload {
            username: pn.user.parse().ok(),
            device: Some(u32::from(pn.device)),
            passive: Some(false),
            pull: Some(true),
            ..Default::default()
        }
        .encode_to_vec();
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
        let mut hs = XxHandshakeState::new(device.noise_key.clone(), payload, &WA_CONN_HEADER)?;
        let hello = encode_frame(&hs.build_client_hello()?, Some(&WA_CONN_HEADER[..]))?;
        ws.send(Message::Binary(hello.into())).await?;
        let mut decoder = FrameDecoder::new();
        let server_hello = next_frame(&mut ws, &mut decoder).await?;
        let finish = hs.read_server_hello_and_build_client_finish(&server_hello)?;
        ws.send(Message::Binary(encode_frame(&finish, None)?.into()))
            .await?;
        let outcome = hs.finish()?;
        let mut lean = Self {
            ws,
            decoder,
            read: outcome.read_cipher,
            read_counter: 0,
            write: outcome.write_cipher,
            write_counter: 0,
        };
        loop {
            let node = lean.next_node().await?;
            match node.tag.as_ref() {
                "success" => return Ok(lean),
                "failure" => anyhow::bail!("login refused"),
                _ => {}
            }
        }
    }

    async fn next_node(&mut self) -> anyhow::Result<wacore_binary::Node> {
        let mut frame = next_frame(&mut self.ws, &mut self.decoder).await?;
        self.read
            .decrypt_in_place_with_counter(self.read_counter, &mut frame)?;
        self.read_counter += 1;
        stanza::decode(&frame).map_err(anyhow::Error::msg)
    }
}

fn message_to(peer: &str, id: String) -> wacore_binary::Node {
    NodeBuilder::new("message")
        .attr("to", format!("{peer}@s.whatsapp.net"))
        .attr("id", id)
        .attr("type", "text")
        .children([NodeBuilder::new("participants")
            .children([NodeBuilder::new("to")
                .attr("jid", format!("{peer}:1@s.whatsapp.net"))
                .children([NodeBuilder::new("enc")
                    .attr("v", "2")
                    .attr("type", "msg")
                    .bytes(vec![0xA5u8; 120])
                    .build()])
                .build()])
            .build()])
        .build()
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args().map_err(|e| {
        anyhow::anyhow!(
            "{e}\nusage: fake-whatsapp-bench [--devices N] [--rate MSG_PER_S] [--seconds S]"
        )
    })?;
    let fake = FakeWhatsApp::start(FakeConfig::default()).await?;
    let url = fake.ws_url();
    let rss_idle = rss_mib();

    let phones: Vec<String> = (0..args.devices)
        .map(|i| format!("{}", 19_000_000_000u64 + i as u64))
        .collect();
    let mut records = Vec::with_capacity(args.devices);
    for phone in &phones {
        records.push(fake.provision_device(phone)?);
    }

    // Log in every device (bounded concurrency), keep the sockets.
    let login_started = Instant::now();
    let gate = Arc::new(Semaphore::new(64));
    let mut logins = Vec::with_capacity(args.devices);
    for record in records {
        let url = url.clone();
        let gate = gate.clone();
        logins.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await?;
            LeanDevice::login(&url, &record).await
        }));
    }
    let mut devices = Vec::with_capacity(args.devices);
    for login in logins {
        devices.push(login.await??);
    }
    let login_secs = login_started.elapsed().as_secs_f64();
    let logged_in = fake.stats().connections;
    let rss_logged_in = rss_mib();
    println!(
        "logged in {logged_in} devices in {login_secs:.1} s ({:.0} logins/s); RSS {rss_idle:.0} -> {rss_logged_in:.0} MiB (server and clients)",
        args.devices as f64 / login_secs
    );

    // Each device sends to the next one at rate/devices messages per second.
    let received = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let per_device_interval = Duration::from_secs_f64(args.devices as f64 / args.rate as f64);
    let run_for = Duration::from_secs(args.seconds);
    let routed_before = fake.stats().messages_routed;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(args.devices);
    for (i, device) in devices.into_iter().enumerate() {
        let peer = phones[(i + 1) % phones.len()].clone();
        let received = received.clone();
        let sent = sent.clone();
        // Spread the first sends over one interval so the load is smooth.
        let offset = per_device_interval.mul_f64(i as f64 / args.devices as f64);
        tasks.push(tokio::spawn(drive(
            device,
            peer,
            i,
            offset,
            per_device_interval,
            run_for,
            sent,
            received,
        )));
    }
    let drain_deadline = started + run_for + Duration::from_secs(10);
    loop {
        let s = sent.load(Ordering::Relaxed);
        let r = received.load(Ordering::Relaxed);
        if started.elapsed() >= run_for && r >= s {
            break;
        }
        if Instant::now() >= drain_deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed().as_secs_f64().max(args.seconds as f64);
    for t in &tasks {
        t.abort();
    }
    let s = sent.load(Ordering::Relaxed);
    let r = received.load(Ordering::Relaxed);
    let stats = fake.stats();
    let routed = stats.messages_routed - routed_before;
    println!(
        "sent {s}, routed {routed}, received {r} in {elapsed:.1} s: {:.0} msg/s routed and delivered (target {} msg/s); duplicates {}; RSS {:.0} MiB",
        r as f64 / elapsed,
        args.rate,
        stats.duplicate_deliveries,
        rss_mib()
    );
    fake.shutdown().await;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    device: LeanDevice,
    peer: String,
    index: usize,
    offset: Duration,
    interval: Duration,
    run_for: Duration,
    sent: Arc<AtomicU64>,
    received: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let LeanDevice {
        ws,
        decoder,
        read,
        read_counter,
        write,
        mut write_counter,
    } = device;
    let (mut sink, stream) = ws.split();
    let reader = tokio::spawn(count_messages(
        stream,
        decoder,
        read,
        read_counter,
        received,
    ));
    let start = tokio::time::Instant::now() + offset;
    let stop = tokio::time::Instant::now() + run_for;
    let mut ticker = tokio::time::interval_at(start, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut n = 0u64;
    while ticker.tick().await < stop {
        n += 1;
        let mut body = stanza::encode(&message_to(&peer, format!("B{index}X{n}")))
            .map_err(anyhow::Error::msg)?;
        write.encrypt_in_place_with_counter(write_counter, &mut body)?;
        write_counter += 1;
        sink.send(Message::Binary(encode_frame(&body, None)?.into()))
            .await?;
        sent.fetch_add(1, Ordering::Relaxed);
    }
    reader.await?
}

/// Counts the `<message>` stanzas a device receives until its socket closes.
async fn count_messages(
    mut stream: futures::stream::SplitStream<Ws>,
    mut decoder: FrameDecoder,
    read: NoiseCipher,
    mut counter: u32,
    received: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    loop {
        let mut frame = next_frame(&mut stream, &mut decoder).await?;
        read.decrypt_in_place_with_counter(counter, &mut frame)?;
        counter += 1;
        let node = stanza::decode(&frame).map_err(anyhow::Error::msg)?;
        if node.tag == "message" {
            received.fetch_add(1, Ordering::Relaxed);
        }
    }
}
