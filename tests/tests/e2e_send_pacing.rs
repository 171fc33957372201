//! End to end with real processes: a worker started with `SEND_INTERVAL_MS` spaces one session's
//! sends by at least that long, sends them in the order they were accepted, and loses none.

use std::time::Duration;

use serde_json::json;
use wa_tests::harness::gateway::{Gateway, STEP};
use wa_tests::harness::processes::{WorkerProcess, WorkerSettings};
use wa_tests::harness::wait_until;

const LEASE_TTL_MS: u64 = 3000;
const INTERVAL_MS: u64 = 500;
const CONTACT: &str = "15559991111";
const SENDS: usize = 4;

/// When the record of message `body` went `sent`, in milliseconds since the epoch.
fn sent_at_ms(body: &serde_json::Value) -> i64 {
    let at = body["history"]
        .as_array()
        .expect("history")
        .iter()
        .find(|h| h["status"] == "sent")
        .and_then(|h| h["at"].as_str())
        .expect("a sent step with its time");
    chrono::DateTime::parse_from_rfc3339(at)
        .expect("RFC 3339 time")
        .timestamp_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paced_session_spaces_its_sends_and_keeps_their_order() {
    let gw = Gateway::start().await;
    let api = gw.api().await;
    let settings = WorkerSettings {
        send_interval_ms: INTERVAL_MS,
        ..gw.worker_settings(LEASE_TTL_MS)
    };
    let _worker = WorkerProcess::start("paced-1", &settings).await;
    let mut ws = gw.watch_all(&api).await;
    let (sid, phone) = ("paced", "15550005555");
    gw.link(&api, &mut ws, sid, phone).await;
    gw.admin.create_contact(CONTACT).await.expect("contact");

    // Accepted back to back: far faster than the pace allows.
    let mut ids = Vec::new();
    for n in 0..SENDS {
        let (code, body) = gw
            .post(
                &api,
                "/send-message",
                json!({"sessionId": sid, "phoneNumber": CONTACT, "message": format!("paced {n}")}),
            )
            .await;
        assert!(code == 200 || code == 202, "{code} {body}");
        ids.push(body["messageId"].as_str().expect("messageId").to_string());
    }

    let budget = STEP + Duration::from_millis(INTERVAL_MS * SENDS as u64);
    let mut texts: Vec<String> = wait_until(
        "every paced send in the contact's inbox",
        budget,
        || async {
            let inbox = gw.admin.inbox(CONTACT).await.ok()?;
            let texts: Vec<String> = inbox
                .into_iter()
                .map(|m| m.text)
                .filter(|t| t.starts_with("paced "))
                .collect();
            (texts.len() >= SENDS).then_some(texts)
        },
    )
    .await;
    texts.sort();
    let expected: Vec<String> = (0..SENDS).map(|n| format!("paced {n}")).collect();
    assert_eq!(texts, expected, "a send lost or delivered twice");

    let mut sent = Vec::new();
    for id in &ids {
        let record = gw.wait_message(&api, id, "delivered", STEP).await;
        sent.push(sent_at_ms(&record));
    }
    // In the order accepted, and spaced. Each `sent` is recorded when WhatsApp took the message, a
    // little after the send began, so the gaps between records may be shorter than the pace by
    // that much: half of it is allowed. Unpaced, these four are a few milliseconds apart.
    for pair in sent.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= (INTERVAL_MS / 2) as i64,
            "sends {gap} ms apart under a {INTERVAL_MS} ms pace: {sent:?}"
        );
    }

    let stats = gw.admin.stats().await.expect("stats");
    assert_eq!(stats.duplicate_deliveries, 0, "{stats:?}");
}
