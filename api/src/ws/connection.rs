//! One WebSocket client: authenticate (header, `?token=` or a first `auth` frame within the
//! deadline), then serve subscribe/unsubscribe frames, replay from the event stream, forward live
//! events without gap or duplicate, keep the socket alive with pings, and close slow or idle clients.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::{SinkExt, StreamExt, stream::SplitSink};
use wa_shared::{errors::ErrorCode, ids::validate_session_id};

use super::{
    frames::{self, ClientFrame, stream_id},
    hub::{Delivery, SocketEntry},
    replay,
};
use crate::{auth::Caller, sessions, state::AppState};

/// How a client presented its token on the upgrade request.
pub enum Credential {
    Header(String),
    Token(String),
}

/// Close code for authentication failures.
pub const CLOSE_UNAUTHORIZED: u16 = 4401;
/// Close code for clients that cannot keep up ("try again later").
pub const CLOSE_TRY_AGAIN_LATER: u16 = 1013;
const CLOSE_GOING_AWAY: u16 = 1001;
/// A single frame write that takes longer than this means the client stopped reading.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a slow client has to read what is pending before the socket is dropped.
const SLOW_CLOSE_GRACE: Duration = Duration::from_secs(10);

type Sink = SplitSink<WebSocket, Message>;

pub async fn run(state: AppState, socket: WebSocket, credential: Option<Credential>) {
    let (mut sink, mut stream) = socket.split();
    let caller = match authenticate(&state, &mut sink, &mut stream, credential).await {
        Some(caller) => caller,
        None => return,
    };
    let (registration, mut events) = state
        .bus
        .hub
        .register(&caller.tenant, state.config.ws_send_buffer);
    let entry = registration.entry.clone();
    if send(&mut sink, frames::authenticated(&caller.tenant))
        .await
        .is_err()
    {
        return;
    }
    let mut cursors: HashMap<String, (u64, u64)> = HashMap::new();
    let idle = state.config.ws_idle_timeout;
    let mut ping = tokio::time::interval(idle / 3);
    ping.reset();
    let mut last_seen = Instant::now();
    let mut shutdown = state.shutdown.clone();
    loop {
        tokio::select! {
            biased;
            _ = shutdown.changed() => {
                close(&mut sink, CLOSE_GOING_AWAY, "server shutting down").await;
                break;
            }
            _ = entry.wait_overflow() => {
                close_slow(&mut sink).await;
                break;
            }
            incoming = stream.next() => {
                let Some(Ok(message)) = incoming else { break };
                last_seen = Instant::now();
                let keep = match message {
                    Message::Text(text) => {
                        handle_frame(&state, &caller, &entry, &mut cursors, &mut sink, text.as_str()).await
                    }
                    Message::Binary(_) => send(&mut sink, frames::error("invalid_frame", "Send JSON text frames.")).await.is_ok(),
                    Message::Close(_) => false,
                    Message::Ping(_) | Message::Pong(_) => true,
                };
                if !keep { break; }
            }
            event = events.recv() => {
                let Some(delivery) = event else { break };
                if !deliverable(&entry, &mut cursors, &delivery) { continue; }
                let frame = Message::Text(delivery.event.to_frame().to_string().into());
                tokio::select! {
                    sent = timed_send(&mut sink, frame) => if sent.is_err() { break },
                    _ = entry.wait_overflow() => {
                        close_slow(&mut sink).await;
                        break;
                    }
                }
            }
            _ = ping.tick() => {
                if last_seen.elapsed() >= idle {
                    close(&mut sink, CLOSE_GOING_AWAY, "idle timeout").await;
                    break;
                }
                if timed_send(&mut sink, Message::Ping(Default::default())).await.is_err() { break; }
            }
        }
    }
    drop(registration);
}

async fn authenticate(
    state: &AppState,
    sink: &mut Sink,
    stream: &mut futures::stream::SplitStream<WebSocket>,
    credential: Option<Credential>,
) -> Option<Caller> {
    let verdict = match credential {
        Some(Credential::Header(h)) => state.auth.verify_header(Some(&h)),
        Some(Credential::Token(t)) => state.auth.verify(&t),
        None => {
            let first = tokio::time::timeout(state.config.ws_auth_timeout, stream.next()).await;
            match first {
                Ok(Some(Ok(Message::Text(text)))) => match frames::parse(text.as_str()) {
                    Ok(ClientFrame::Auth { token }) => state.auth.verify(&token),
                    _ => Err(crate::error::ApiError::unauthorized(
                        "The first frame must be {\"event\":\"auth\",\"data\":{\"token\":\"…\"}}.",
                    )),
                },
                Ok(_) => return None,
                Err(_) => Err(crate::error::ApiError::unauthorized(
                    "No credentials within the authentication deadline.",
                )),
            }
        }
    };
    match verdict {
        Ok(caller) => Some(caller),
        Err(e) => {
            let _ = send(sink, frames::error(e.code.as_str(), &e.message)).await;
            close(sink, CLOSE_UNAUTHORIZED, "unauthorized").await;
            None
        }
    }
}

/// Whether a live event should go out: subscribed, and newer than what was replayed or sent.
fn deliverable(
    entry: &SocketEntry,
    cursors: &mut HashMap<String, (u64, u64)>,
    delivery: &Delivery,
) -> bool {
    let event = &delivery.event;
    if !entry.wants(&delivery.tenant, &event.session_id) {
        return false;
    }
    let Some(id) = stream_id(&event.id) else {
        return true;
    };
    match cursors.get_mut(&event.session_id) {
        Some(cursor) if id <= *cursor => false,
        Some(cursor) => {
            *cursor = id;
            true
        }
        None => true,
    }
}

async fn handle_frame(
    state: &AppState,
    caller: &Caller,
    entry: &Arc<SocketEntry>,
    cursors: &mut HashMap<String, (u64, u64)>,
    sink: &mut Sink,
    text: &str,
) -> bool {
    let frame = match frames::parse(text) {
        Ok(f) => f,
        Err(message) => {
            return send(sink, frames::error("invalid_frame", &message))
                .await
                .is_ok();
        }
    };
    let reply = match frame {
        ClientFrame::Ping => frames::pong(),
        ClientFrame::Auth { .. } => frames::error(
            "already_authenticated",
            "This socket is already authenticated.",
        ),
        ClientFrame::Unsubscribe { session_id } => {
            entry.unsubscribe((session_id != "*").then_some(session_id.as_str()));
            cursors.remove(&session_id);
            frames::unsubscribed(&session_id)
        }
        ClientFrame::Subscribe { session_id, .. } if session_id == "*" => {
            entry.subscribe(None);
            frames::subscribed("*", None, None, None)
        }
        ClientFrame::Subscribe {
            session_id,
            last_event_id,
        } => {
            return subscribe(
                state,
                caller,
                entry,
                cursors,
                sink,
                &session_id,
                last_event_id.as_deref(),
            )
            .await;
        }
    };
    send(sink, reply).await.is_ok()
}

async fn subscribe(
    state: &AppState,
    caller: &Caller,
    entry: &Arc<SocketEntry>,
    cursors: &mut HashMap<String, (u64, u64)>,
    sink: &mut Sink,
    session_id: &str,
    last_event_id: Option<&str>,
) -> bool {
    let not_found = || {
        frames::error(
            ErrorCode::SessionNotFound.as_str(),
            "No session with this sessionId exists.",
        )
    };
    if validate_session_id(session_id).is_err() {
        return send(sink, not_found()).await.is_ok();
    }
    let last = match last_event_id.map(|id| (id, stream_id(id))) {
        Some((_, None)) => {
            return send(
                sink,
                frames::error(
                    "invalid_frame",
                    "lastEventId must be a stream id like 1700000000000-0.",
                ),
            )
            .await
            .is_ok();
        }
        Some((raw, Some(parsed))) => Some((raw, parsed)),
        None => None,
    };
    let record = match sessions::load_visible(state, caller, session_id).await {
        Ok(r) => r,
        Err(e) if e.code == ErrorCode::SessionNotFound => {
            return send(sink, not_found()).await.is_ok();
        }
        Err(e) => {
            return send(sink, frames::error(e.code.as_str(), &e.message))
                .await
                .is_ok();
        }
    };
    // Live events start queueing now; anything older comes from the stream below.
    entry.subscribe(Some(session_id));
    let qr = record.sealed_qr.as_deref().and_then(|sealed| {
        wa_shared::qr::open(
            state.keyring.as_deref()?,
            &state.keys.session(session_id),
            sealed,
        )
        .ok()
    });
    let qr_code = qr.as_deref().and_then(wa_shared::qr::png_data_url);
    if send(
        sink,
        frames::subscribed(
            session_id,
            Some(record.status.as_str()),
            qr_code.as_deref(),
            qr.as_deref(),
        ),
    )
    .await
    .is_err()
    {
        return false;
    }
    let Some((raw_last, parsed_last)) = last else {
        cursors.remove(session_id);
        return true;
    };
    let replay = match state.dedicated_redis().await {
        Ok(mut conn) => replay::read_after(
            &mut conn,
            &state.keys.events(session_id),
            session_id,
            raw_last,
        )
        .await
        .ok(),
        Err(_) => None,
    };
    let Some(replay) = replay else {
        return send(
            sink,
            frames::error(
                ErrorCode::RedisUnavailable.as_str(),
                "Replay is unavailable right now.",
            ),
        )
        .await
        .is_ok();
    };
    if replay.truncated
        && send(
            sink,
            frames::replay_truncated(session_id, replay.oldest.as_deref()),
        )
        .await
        .is_err()
    {
        return false;
    }
    let mut cursor = parsed_last;
    for event in &replay.events {
        if let Some(id) = stream_id(&event.id) {
            cursor = cursor.max(id);
        }
        if send(sink, event.to_frame().to_string()).await.is_err() {
            return false;
        }
    }
    cursors.insert(session_id.to_owned(), cursor);
    true
}

async fn send(sink: &mut Sink, text: String) -> Result<(), ()> {
    timed_send(sink, Message::Text(text.into())).await
}

async fn timed_send(sink: &mut Sink, message: Message) -> Result<(), ()> {
    match tokio::time::timeout(WRITE_TIMEOUT, sink.send(message)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// Closes a client that fell behind. Frames already handed to the socket go first, so the close
/// frame reaches the client once it reads again (within `SLOW_CLOSE_GRACE`).
async fn close_slow(sink: &mut Sink) {
    close_within(
        sink,
        CLOSE_TRY_AGAIN_LATER,
        "client too slow; reconnect with lastEventId",
        SLOW_CLOSE_GRACE,
    )
    .await;
}

async fn close(sink: &mut Sink, code: u16, reason: &str) {
    close_within(sink, code, reason, WRITE_TIMEOUT).await;
}

async fn close_within(sink: &mut Sink, code: u16, reason: &str, limit: Duration) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = tokio::time::timeout(limit, sink.send(Message::Close(Some(frame)))).await;
}
