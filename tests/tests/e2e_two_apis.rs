//! Events reach every api pod: two `wa-api` processes on one Redis with a worker and the fake
//! WhatsApp server. A client on the second api sees what happens to a session driven through the
//! first; a client whose api is killed reconnects to the other with `lastEventId` and misses
//! nothing, with no duplicate between replay and live.

use serde_json::json;
use wa_tests::harness::gateway::{Gateway, STEP};
use wa_tests::harness::ws_client::WsClient;

const CONTACT: &str = "15559990002";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_reach_both_apis_and_a_reconnecting_client_misses_nothing() {
    let gw = Gateway::start().await;
    let mut first = gw.api().await;
    let second = gw.api().await;
    let _worker = gw.worker("two-1", 3000).await;
    let (sid, phone) = ("shared", "15550005555");

    // Driven through the first api, watched on the second.
    let mut on_second = gw.watch_all(&second).await;
    gw.link(&first, &mut on_second, sid, phone).await;
    gw.admin.create_contact(CONTACT).await.expect("contact");
    let (code, sent) = gw
        .post(
            &first,
            "/send-message",
            json!({"sessionId": sid, "phoneNumber": CONTACT, "message": "via the first api"}),
        )
        .await;
    assert!(code == 200 || code == 202, "{code} {sent}");
    let message_id = sent["messageId"].as_str().expect("messageId");
    loop {
        let frame = Gateway::next_session_event(&mut on_second, "message_status", sid, STEP).await;
        if frame["data"]["messageId"] == message_id && frame["data"]["status"] == "delivered" {
            break;
        }
    }

    // A client on the first api follows the session, then its api dies.
    let mut on_first = WsClient::connect(&first.ws_url(), Some(&gw.token)).await;
    on_first
        .send_json(json!({"event": "subscribe", "data": {"sessionId": sid}}))
        .await;
    on_first.next_event("subscribed", STEP).await;
    gw.admin
        .contact_send(CONTACT, phone, "before the crash")
        .await
        .expect("contact sends");
    let seen = Gateway::next_session_event(&mut on_first, "incoming_message", sid, STEP).await;
    let last_event_id = seen["id"].as_str().expect("event id").to_string();
    first.process.kill();

    // Events while the client is away (the second api sees them live).
    let missed = ["missed 1", "missed 2", "missed 3"];
    for text in missed {
        gw.admin
            .contact_send(CONTACT, phone, text)
            .await
            .expect("contact sends");
        loop {
            let frame =
                Gateway::next_session_event(&mut on_second, "incoming_message", sid, STEP).await;
            if frame["data"]["message"] == text {
                break;
            }
        }
    }

    // It reconnects to the second api with lastEventId: replay, then live, each event once.
    let mut back = WsClient::connect(&second.ws_url(), Some(&gw.token)).await;
    back.send_json(
        json!({"event": "subscribe", "data": {"sessionId": sid, "lastEventId": last_event_id}}),
    )
    .await;
    let mut texts = Vec::new();
    let mut ids = Vec::new();
    let mut live_sent = false;
    while texts.len() < missed.len() + 1 {
        let frame = back.next_json(STEP).await;
        if frame["event"] == "subscribed" && !live_sent {
            gw.admin
                .contact_send(CONTACT, phone, "live again")
                .await
                .expect("contact sends");
            live_sent = true;
        }
        if frame["event"] == "incoming_message" {
            texts.push(
                frame["data"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
            ids.push(frame["id"].as_str().unwrap_or_default().to_string());
        }
    }
    assert_eq!(texts, ["missed 1", "missed 2", "missed 3", "live again"]);
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "no event twice: {ids:?}");
}
