//! One client socket on `/ws/chat`: the Noise handshake, then either QR pairing (no username in
//! the payload) or login, then the stanza loop until either side closes.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use bytes::BytesMut;
use futures::SinkExt;
use futures::stream::{SplitSink, SplitStream, StreamExt};
use tokio::sync::{mpsc, oneshot};
use wacore::framing::FrameDecoder;
use wacore_binary::Node;
use wacore_binary::builder::NodeBuilder;

use super::noise_responder::{self, FrameOpener, FrameSealer, HelloOutcome};
use super::server_state::{DeviceAddr, Outbound, ServerState};
use super::stanza::{self, attr};
use super::stats::Counters;
use super::{iq_answers, pairing, routing};

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

/// Reads whole frames off the socket.
struct FrameReader {
    stream: SplitStream<WebSocket>,
    decoder: FrameDecoder,
    saw_header: bool,
}

impl FrameReader {
    async fn next_frame(&mut self) -> Option<BytesMut> {
        loop {
            if let Some(frame) = self.decoder.decode_frame() {
                return Some(frame);
            }
            let data = match self.stream.next().await? {
                Ok(Message::Binary(b)) => b,
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            };
            if self.saw_header {
                self.decoder.feed(&data);
            } else {
                let rest = noise_responder::strip_conn_header(&data)?;
                self.saw_header = true;
                self.decoder.feed(rest);
            }
        }
    }
}

/// Decrypted stanzas from one client.
struct NodeReader {
    frames: FrameReader,
    opener: FrameOpener,
    /// Fires when the writer closed the socket (kick, replacement, shutdown).
    writer_done: oneshot::Receiver<()>,
}

impl NodeReader {
    /// The next stanza; `None` when the socket closed or sent garbage.
    async fn next_node(&mut self) -> Option<Node> {
        let frame = tokio::select! {
            frame = self.frames.next_frame() => frame?,
            _ = &mut self.writer_done => return None,
        };
        let plain = self.opener.open(frame).ok()?;
        match stanza::decode(&plain) {
            Ok(node) => Some(node),
            Err(e) => {
                tracing::debug!(error = %e, "fake server: undecodable stanza");
                None
            }
        }
    }
}

type WsSink = SplitSink<WebSocket, Message>;

async fn send_raw(sink: &mut WsSink, payload: &[u8]) -> Option<()> {
    let framed = wacore::framing::encode_frame(payload, None).ok()?;
    sink.send(Message::Binary(framed.into())).await.ok()
}

async fn write_loop(
    mut sink: WsSink,
    mut sealer: FrameSealer,
    mut rx: mpsc::UnboundedReceiver<Outbound>,
    done: oneshot::Sender<()>,
) {
    while let Some(item) = rx.recv().await {
        match item {
            Outbound::Node(node) => {
                let Ok(plain) = stanza::encode(&node) else {
                    continue;
                };
                let Ok(frame) = sealer.seal(plain) else {
                    break;
                };
                if sink.send(Message::Binary(frame.into())).await.is_err() {
                    break;
                }
            }
            Outbound::Close => break,
        }
    }
    let _ = sink.close().await;
    let _ = done.send(());
}

/// Serves one socket to completion.
pub async fn serve(state: Arc<ServerState>, socket: WebSocket) {
    let (mut sink, stream) = socket.split();
    let mut frames = FrameReader {
        stream,
        decoder: FrameDecoder::new(),
        saw_header: false,
    };

    let handshake = async {
        let hello = frames.next_frame().await?;
        match noise_responder::answer_client_hello(&state.identity, &hello) {
            Ok(HelloOutcome::Ik {
                server_hello,
                link,
                payload,
            }) => {
                send_raw(&mut sink, &server_hello).await?;
                Counters::bump(&state.counters.handshakes_ik);
                Some((link, payload))
            }
            Ok(HelloOutcome::Xx {
                server_hello,
                pending,
            }) => {
                send_raw(&mut sink, &server_hello).await?;
                let finish = frames.next_frame().await?;
                let (link, payload) = pending
                    .finish(&finish)
                    .map_err(|e| tracing::debug!(error = %e, "fake server: XX finish failed"))
                    .ok()?;
                Counters::bump(&state.counters.handshakes_xx);
                Some((link, payload))
            }
            Err(e) => {
                tracing::debug!(error = %e, "fake server: handshake refused");
                None
            }
        }
    };
    let Ok(Some((link, payload))) = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await else {
        return;
    };

    let (tx, rx) = mpsc::unbounded_channel::<Outbound>();
    let (done_tx, done_rx) = oneshot::channel();
    let writer = tokio::spawn(write_loop(sink, link.sealer, rx, done_tx));
    let mut reader = NodeReader {
        frames,
        opener: link.opener,
        writer_done: done_rx,
    };
    let conn_id = state.new_conn_id();

    match payload.username {
        None => match payload
            .device_pairing_data
            .as_option()
            .and_then(pairing::registration_keys)
        {
            Some(keys) => serve_unpaired(&state, conn_id, keys, tx.clone(), &mut reader).await,
            None => {
                let _ = tx.send(Outbound::Node(failure("400")));
                let _ = tx.send(Outbound::Close);
            }
        },
        Some(username) => {
            let device = u16::try_from(payload.device.unwrap_or(0)).unwrap_or(u16::MAX);
            let addr: DeviceAddr = (username.to_string(), device);
            serve_logged_in(&state, conn_id, addr, tx.clone(), &mut reader).await;
        }
    }
    drop(tx);
    let _ = writer.await;
}

fn failure(reason: &str) -> Node {
    NodeBuilder::new("failure")
        .attr("reason", reason.to_string())
        .build()
}

async fn serve_unpaired(
    state: &ServerState,
    conn_id: u64,
    keys: super::directory::DeviceKeys,
    tx: mpsc::UnboundedSender<Outbound>,
    reader: &mut NodeReader,
) {
    let offer = pairing::offer_refs(state, conn_id, tx.clone(), keys);
    let _ = tx.send(Outbound::Node(offer));
    while let Some(node) = reader.next_node().await {
        if node.tag != "iq" {
            continue;
        }
        let kind = attr(&node, "type").unwrap_or_default();
        if kind == "result" || kind == "error" {
            pairing::on_iq_answer(state, &node);
        } else if let Some(id) = attr(&node, "id") {
            let answer = if attr(&node, "xmlns").as_deref() == Some("w:p") {
                stanza::iq_result(&id, vec![])
            } else {
                stanza::iq_error(&id, 401, "not-authorized")
            };
            let _ = tx.send(Outbound::Node(answer));
        }
    }
    pairing::forget_connection(state, conn_id);
}

async fn serve_logged_in(
    state: &ServerState,
    conn_id: u64,
    addr: DeviceAddr,
    tx: mpsc::UnboundedSender<Outbound>,
    reader: &mut NodeReader,
) {
    let known = state
        .directory
        .lock()
        .expect("directory lock")
        .device(&addr.0, addr.1)
        .is_some();
    if !known {
        let _ = tx.send(Outbound::Node(failure("401")));
        let _ = tx.send(Outbound::Close);
        return;
    }
    let _ = tx.send(Outbound::Node(
        NodeBuilder::new("success")
            .attr("t", stanza::now_secs().to_string())
            .attr("props", "1")
            .attr("abprops", "1")
            .attr("location", "fake")
            .build(),
    ));
    state.attach_session(&addr, conn_id, tx.clone());
    let queued = state.take_offline(&addr);
    let count = queued.len();
    for node in queued {
        let _ = tx.send(Outbound::Node(node));
    }
    let _ = tx.send(Outbound::Node(
        NodeBuilder::new("ib")
            .children([NodeBuilder::new("offline")
                .attr("count", count.to_string())
                .build()])
            .build(),
    ));

    while let Some(node) = reader.next_node().await {
        match node.tag.as_ref() {
            "iq" => {
                if let Some(answer) = iq_answers::answer(state, &addr, &node) {
                    let _ = tx.send(Outbound::Node(answer));
                }
            }
            "message" => routing::route_message(state, &addr, &node),
            "receipt" => routing::route_receipt(state, &addr, &node),
            _ => {}
        }
    }
    state.detach_session(&addr, conn_id);
}
