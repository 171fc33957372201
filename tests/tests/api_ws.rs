//! WebSocket events against a real Redis and a real client: the three ways to authenticate and
//! their failures, subscribe/unsubscribe, `*`, tenant isolation, malformed frames, replay with and
//! without `lastEventId` (no gap, no duplicate), truncation, and the slow-client bound.

use std::time::Duration;

use redis::AsyncCommands;
use serde_json::{Value, json};
use wa_shared::{events::EVENT_STREAM_MAXLEN, scripts::PUBLISH_EVENT};
use wa_tests::harness::{
    api::{TestApi, user_token},
    wait_until,
    ws_client::{Ended, WsClient},
};

const T: Duration = Duration::from_secs(5);

async fn session(api: &TestApi, tenant: &str, sid: &str) {
    let r = api
        .http
        .post(api.url("/connect"))
        .bearer_auth(user_token(tenant))
        .json(&json!({"sessionId": sid}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut conn = api.redis().await;
    let _: () = conn.set(api.keys.lease(sid), "w1:1").await.unwrap();
}

/// Publishes an event the way a worker does; returns its stream id.
async fn publish(api: &TestApi, tenant: &str, sid: &str, event: &str, data: Value) -> String {
    publish_capped(api, tenant, sid, event, data, EVENT_STREAM_MAXLEN).await
}

async fn publish_capped(
    api: &TestApi,
    tenant: &str,
    sid: &str,
    event: &str,
    data: Value,
    cap: usize,
) -> String {
    let mut conn = api.redis().await;
    PUBLISH_EVENT
        .key(api.keys.lease(sid))
        .key(api.keys.events(sid))
        .arg("w1:1")
        .arg(api.keys.tenant_channel(tenant))
        .arg(sid)
        .arg(event)
        .arg(data.to_string())
        .arg(cap)
        .invoke_async(&mut conn)
        .await
        .unwrap()
}

async fn authed(api: &TestApi, tenant: &str) -> WsClient {
    let mut ws = WsClient::connect(&format!("{}/", api.ws_base), Some(&user_token(tenant))).await;
    assert_eq!(ws.next_json(T).await["event"], "authenticated");
    ws
}

async fn subscribe(ws: &mut WsClient, sid: &str, last: Option<&str>) -> Value {
    let mut data = json!({"sessionId": sid});
    if let Some(id) = last {
        data["lastEventId"] = json!(id);
    }
    ws.send_json(json!({"event": "subscribe", "data": data}))
        .await;
    ws.next_json(T).await
}

#[tokio::test]
async fn all_three_ways_to_authenticate_work_on_both_endpoints() {
    let api = TestApi::start().await;
    let token = user_token("acme");
    let rest_ws = api.base.replace("http://", "ws://") + "/ws";
    let mut open = Vec::new();
    for base in [format!("{}/", api.ws_base), rest_ws] {
        let mut by_header = WsClient::connect(&base, Some(&token)).await;
        assert_eq!(by_header.next_json(T).await["data"]["tenant"], "acme");
        let mut by_query = WsClient::connect(&format!("{base}?token={token}"), None).await;
        assert_eq!(by_query.next_json(T).await["event"], "authenticated");
        let mut by_frame = WsClient::connect(&base, None).await;
        by_frame
            .send_json(json!({"event": "auth", "data": {"token": token}}))
            .await;
        assert_eq!(by_frame.next_json(T).await["event"], "authenticated");
        open.extend([by_header, by_query, by_frame]);
    }
    wait_until("three sockets per endpoint counted", T, || {
        let req = api.http.get(api.url("/health"));
        async move {
            let body: Value = req.send().await.ok()?.json().await.ok()?;
            (body["websocketClients"] == 6).then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn authentication_failures_send_an_error_then_close_4401() {
    let api = TestApi::start().await;
    let base = format!("{}/", api.ws_base);
    let mut bad_header = WsClient::connect(&base, Some("not-a-token")).await;
    let frame = bad_header.next_json(T).await;
    assert_eq!(
        (frame["event"].as_str(), frame["data"]["code"].as_str()),
        (Some("error"), Some("unauthorized"))
    );
    assert_eq!(bad_header.until_end(T).await, Ended::Close(4401));

    let mut bad_query = WsClient::connect(&format!("{base}?token=nope"), None).await;
    assert_eq!(bad_query.next_json(T).await["event"], "error");
    assert_eq!(bad_query.until_end(T).await, Ended::Close(4401));

    let mut wrong_first = WsClient::connect(&base, None).await;
    wrong_first
        .send_json(json!({"event": "subscribe", "data": {"sessionId": "x"}}))
        .await;
    assert_eq!(
        wrong_first.next_json(T).await["data"]["code"],
        "unauthorized"
    );
    assert_eq!(wrong_first.until_end(T).await, Ended::Close(4401));

    let mut silent = WsClient::connect(&base, None).await; // auth deadline is 1.5 s in tests
    assert_eq!(silent.next_json(T).await["data"]["code"], "unauthorized");
    assert_eq!(silent.until_end(T).await, Ended::Close(4401));
}

#[tokio::test]
async fn subscribers_get_their_sessions_events_and_nobody_else_does() {
    let api = TestApi::start().await;
    session(&api, "acme", "a1").await;
    session(&api, "acme", "a2").await;
    session(&api, "globex", "g1").await;
    let mut one = authed(&api, "acme").await;
    let mut star = authed(&api, "acme").await;
    let mut other = authed(&api, "globex").await;

    let ack = subscribe(&mut one, "a1", None).await;
    assert_eq!(
        ack,
        json!({"event": "subscribed", "data": {"sessionId": "a1", "status": "connecting"}})
    );
    assert_eq!(subscribe(&mut star, "*", None).await["event"], "subscribed");
    assert_eq!(
        subscribe(&mut other, "*", None).await["event"],
        "subscribed"
    );
    let denied = subscribe(&mut other, "a1", None).await;
    assert_eq!(
        (denied["event"].as_str(), denied["data"]["code"].as_str()),
        (Some("error"), Some("session_not_found"))
    );
    let unknown = subscribe(&mut other, "nope", None).await;
    assert_eq!(unknown["data"]["code"], "session_not_found");

    let id1 = publish(
        &api,
        "acme",
        "a1",
        "connection_success",
        json!({"sessionId": "a1", "status": "connected"}),
    )
    .await;
    let id2 = publish(&api, "acme", "a2", "qr_code", json!({"sessionId": "a2"})).await;
    let frame = one.next_json(T).await;
    assert_eq!(
        frame,
        json!({"event": "connection_success", "data": {"sessionId": "a1", "status": "connected"}, "id": id1})
    );
    assert_eq!(star.next_json(T).await["id"], id1);
    assert_eq!(star.next_json(T).await["id"], id2);
    // a session created after subscribing to `*` is covered too
    session(&api, "acme", "a3").await;
    let id3 = publish(&api, "acme", "a3", "qr_code", json!({"sessionId": "a3"})).await;
    assert_eq!(star.next_json(T).await["id"], id3);
    // globex saw none of acme's events: its next frame is its own event
    session(&api, "globex", "g1").await;
    let idg = publish(&api, "globex", "g1", "qr_code", json!({"sessionId": "g1"})).await;
    assert_eq!(other.next_json(T).await["id"], idg);
    // one (subscribed to a1 only) did not get a2 or a3: its next frame is a1's next event
    let id4 = publish(
        &api,
        "acme",
        "a1",
        "connection_lost",
        json!({"sessionId": "a1"}),
    )
    .await;
    assert_eq!(one.next_json(T).await["id"], id4);
}

#[tokio::test]
async fn unsubscribe_stops_events_and_malformed_frames_leave_the_socket_usable() {
    let api = TestApi::start().await;
    session(&api, "acme", "a1").await;
    session(&api, "acme", "a2").await;
    let mut ws = authed(&api, "acme").await;
    for bad in [
        "not json",
        "[1,2]",
        r#"{"event":"subscribe"}"#,
        r#"{"event":"dance","data":{}}"#,
        r#"{"event":"subscribe","data":{"sessionId":"a1","lastEventId":"x"}}"#,
    ] {
        ws.send_text(bad).await;
        let frame = ws.next_json(T).await;
        assert_eq!(frame["event"], "error", "{bad}");
        assert!(frame["data"]["code"].is_string());
    }
    assert_eq!(subscribe(&mut ws, "a1", None).await["event"], "subscribed");
    assert_eq!(subscribe(&mut ws, "a2", None).await["event"], "subscribed");
    ws.send_json(json!({"event": "unsubscribe", "data": {"sessionId": "a1"}}))
        .await;
    assert_eq!(ws.next_json(T).await["event"], "unsubscribed");
    publish(&api, "acme", "a1", "qr_code", json!({})).await;
    let id = publish(&api, "acme", "a2", "qr_code", json!({})).await;
    assert_eq!(
        ws.next_json(T).await["id"],
        id,
        "a1's event must not arrive after unsubscribe"
    );
    ws.send_json(json!({"event": "ping", "data": {}})).await;
    assert_eq!(ws.next_json(T).await["event"], "pong");
}

#[tokio::test]
async fn replay_after_last_event_id_then_live_without_gap_or_duplicate() {
    let api = TestApi::start().await;
    session(&api, "acme", "a1").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(publish(&api, "acme", "a1", "message_status", json!({"n": i})).await);
    }
    // without lastEventId: only live events
    let mut live_only = authed(&api, "acme").await;
    subscribe(&mut live_only, "a1", None).await;

    let mut ws = authed(&api, "acme").await;
    // events keep arriving while the client replays
    let publisher = {
        let api_keys = api.keys.clone();
        let client = api.redis.client();
        tokio::spawn(async move {
            let mut conn = client.get_multiplexed_async_connection().await.unwrap();
            let mut out = Vec::new();
            for i in 5..25 {
                let id: String = PUBLISH_EVENT
                    .key(api_keys.lease("a1"))
                    .key(api_keys.events("a1"))
                    .arg("w1:1")
                    .arg(api_keys.tenant_channel("acme"))
                    .arg("a1")
                    .arg("message_status")
                    .arg(json!({"n": i}).to_string())
                    .arg(EVENT_STREAM_MAXLEN)
                    .invoke_async(&mut conn)
                    .await
                    .unwrap();
                out.push(id);
            }
            out
        })
    };
    let ack = subscribe(&mut ws, "a1", Some(&ids[1])).await;
    assert_eq!(ack["event"], "subscribed");
    ids.extend(publisher.await.unwrap());
    let mut got = Vec::new();
    while got.len() < ids.len() - 2 {
        let frame = ws.next_json(T).await;
        got.push(frame["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(got, ids[2..], "events 2.. exactly once, in order");
    let last = publish(&api, "acme", "a1", "message_status", json!({"n": "last"})).await;
    assert_eq!(
        ws.next_json(T).await["id"],
        last,
        "no duplicate after the replay"
    );
    let mut live = Vec::new();
    loop {
        let id = live_only.next_json(T).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        live.push(id.clone());
        if id == last {
            break;
        }
    }
    assert!(
        !live.contains(&ids[0]) && !live.contains(&ids[4]),
        "no replay without lastEventId"
    );
}

#[tokio::test]
async fn a_last_event_id_older_than_the_stream_keeps_says_replay_truncated() {
    let api = TestApi::start().await;
    session(&api, "acme", "a1").await;
    let first = publish_capped(&api, "acme", "a1", "qr_code", json!({}), 10).await;
    for _ in 0..300 {
        publish_capped(&api, "acme", "a1", "qr_code", json!({}), 10).await;
    }
    let mut ws = authed(&api, "acme").await;
    subscribe(&mut ws, "a1", Some(&first)).await;
    let frame = ws.next_json(T).await;
    assert_eq!(frame["event"], "replay_truncated");
    let oldest = frame["data"]["oldestEventId"].as_str().unwrap().to_owned();
    assert_eq!(
        ws.next_json(T).await["id"],
        oldest,
        "replay starts at the oldest kept event"
    );
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_with_1013() {
    let api = TestApi::start_with(|c| c.ws_send_buffer = 8).await;
    session(&api, "acme", "a1").await;
    let mut ws = authed(&api, "acme").await;
    subscribe(&mut ws, "a1", None).await;
    let mut conn = api.redis().await;
    let big = "x".repeat(64 * 1024);
    let slow_closed = |text: String| text.contains("wa_api_websocket_slow_closes_total 1");
    let mut flagged = false;
    for i in 0..4000 {
        let payload = json!({"id": format!("{}-0", i + 1), "sessionId": "a1", "event": "incoming_message", "data": {"pad": big}});
        let _: () = conn
            .publish(api.keys.tenant_channel("acme"), payload.to_string())
            .await
            .unwrap();
        if i % 20 == 19 {
            let text = api
                .http
                .get(api.url("/metrics"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            if slow_closed(text) {
                flagged = true;
                break;
            }
        }
    }
    assert!(
        flagged,
        "the server flagged the socket as slow instead of buffering without bound"
    );
    assert_eq!(
        ws.until_end(Duration::from_secs(20)).await,
        Ended::Close(1013)
    );
    wait_until("the slow socket is gone", T, || {
        let req = api.http.get(api.url("/health"));
        async move {
            let body: Value = req.send().await.ok()?.json().await.ok()?;
            (body["websocketClients"] == 0).then_some(())
        }
    })
    .await;
}
