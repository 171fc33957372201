//! End to end with real processes: Redis, `wa-api`, `wa-worker` and the fake WhatsApp server.
//! One session's life: link by QR, send with delivery and read receipts, receive, disconnect and
//! reconnect without a QR, every process restarted, a failed send, a send queued while
//! disconnected, a command whose doorbell was lost, a tampered auth state, a logout and deletes
//! (owned and unowned), QR codes left unscanned.

use std::time::Duration;

use serde_json::json;
use wa_tests::fake::FakeConfig;
use wa_tests::harness::gateway::{Gateway, PAIRING, STEP};
use wa_tests::harness::processes::ApiProcess;
use wa_tests::harness::wait_until;

const LEASE_TTL_MS: u64 = 3000;
const CONTACT: &str = "15559990000";
/// The client shows a first QR ref for 60 s; allow for a loaded machine beyond that.
const QR_BUDGET: Duration = Duration::from_secs(100);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_links_messages_both_ways_and_survives_restarts() {
    let gw = Gateway::start().await;
    let mut api = gw.api().await;
    let mut worker = gw.worker("w-1", LEASE_TTL_MS).await;
    let mut ws = gw.watch_all(&api).await;
    let (sid, phone) = ("alice", "15550001111");

    gw.link(&api, &mut ws, sid, phone).await;
    assert_eq!(gw.status(&api, sid).await, "connected");

    // Out: the contact receives it, then delivery and read receipts come back.
    gw.admin.create_contact(CONTACT).await.expect("contact");
    let (code, sent) = gw
        .post(
            &api,
            "/send-message",
            json!({"sessionId": sid, "phoneNumber": CONTACT, "message": "hello contact"}),
        )
        .await;
    assert!(code == 200 || code == 202, "{code} {sent}");
    let message_id = sent["messageId"].as_str().expect("messageId").to_string();
    let received = wait_until("the contact's inbox has the text", STEP, || async {
        let inbox = gw.admin.inbox(CONTACT).await.ok()?;
        inbox.into_iter().find(|m| m.text == "hello contact")
    })
    .await;
    assert_eq!(received.from, phone);
    gw.wait_message(&api, &message_id, "delivered", STEP).await;
    gw.admin
        .mark_read(CONTACT, phone, std::slice::from_ref(&received.id))
        .await
        .expect("read receipt");
    let record = gw.wait_message(&api, &message_id, "read", STEP).await;
    let history: Vec<&str> = record["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|h| h["status"].as_str())
        .collect();
    assert_eq!(history, ["queued", "sent", "delivered", "read"]);

    // In: the contact's message arrives as incoming_message with its text and type.
    gw.admin
        .contact_send(CONTACT, phone, "hi alice")
        .await
        .expect("contact sends");
    let incoming = Gateway::next_session_event(&mut ws, "incoming_message", sid, STEP).await;
    assert_eq!(incoming["data"]["message"], "hi alice");
    assert_eq!(incoming["data"]["type"], "text");
    assert_eq!(incoming["data"]["from"], CONTACT);

    // A number without WhatsApp: the send ends failed with a reason.
    let (_, nobody) = gw
        .post(
            &api,
            "/send-message",
            json!({"sessionId": sid, "phoneNumber": "15557770000", "message": "anyone?"}),
        )
        .await;
    if let Some(id) = nobody["messageId"].as_str() {
        let failed = gw.wait_message(&api, id, "failed", STEP).await;
        assert!(failed.to_string().contains("reason"), "{failed}");
    } else {
        assert_eq!(nobody["error"]["code"], "send_failed", "{nobody}");
    }

    // Disconnect keeps the device; reconnect needs no QR.
    let (code, body) = gw
        .post(&api, "/disconnect", json!({"sessionId": sid}))
        .await;
    assert_eq!(code, 200, "{body}");
    gw.wait_status(&api, sid, "disconnected", STEP).await;
    let (code, body) = gw
        .post(
            &api,
            "/reconnect",
            json!({"sessionId": sid, "sessionName": sid, "phoneNumber": phone}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let frame = wait_for_connect_without_qr(&mut ws, sid).await;
    assert_eq!(frame["data"]["phoneNumber"], phone);

    // Every process restarted: the session comes back connected, without a QR.
    let exit = worker.process.terminate(Duration::from_secs(25));
    assert!(
        exit.is_some_and(|s| s.success()),
        "worker exits 0 on SIGTERM:\n{}",
        worker.process.output()
    );
    api.process.kill();
    drop(ws);
    api = gw.api().await;
    let mut ws = gw.watch_all(&api).await;
    worker = gw.worker("w-2", LEASE_TTL_MS).await;
    wait_for_connect_without_qr(&mut ws, sid).await;
    gw.wait_status(&api, sid, "connected", STEP).await;

    // A send while the session is disconnected stays queued and goes out after reconnecting.
    let (code, _) = gw
        .post(&api, "/disconnect", json!({"sessionId": sid}))
        .await;
    assert_eq!(code, 200);
    gw.wait_status(&api, sid, "disconnected", STEP).await;
    let (code, body) = gw
        .post(
            &api,
            "/send-message",
            json!({"sessionId": sid, "phoneNumber": CONTACT, "message": "later"}),
        )
        .await;
    // The api refuses sends to a stopped session; reconnect first, then the send is accepted while
    // the client is still connecting and waits for the connection.
    assert_eq!(code, 409, "{body}");
    gw.post(
        &api,
        "/reconnect",
        json!({"sessionId": sid, "sessionName": sid, "phoneNumber": phone}),
    )
    .await;
    let (code, queued) = gw
        .post(
            &api,
            "/send-message",
            json!({"sessionId": sid, "phoneNumber": CONTACT, "message": "later"}),
        )
        .await;
    assert!(code == 200 || code == 202, "{code} {queued}");
    let later_id = queued["messageId"].as_str().expect("messageId").to_string();
    gw.wait_message(&api, &later_id, "delivered", PAIRING).await;

    let stats = gw.admin.stats().await.expect("stats");
    assert_eq!(stats.duplicate_deliveries, 0, "{stats:?}");
    assert_eq!(stats.overlapping_connections, 0, "{stats:?}");
    drop(worker);
}

/// Waits for `connection_success` of `sid`, failing if a `qr_code` for it comes first.
async fn wait_for_connect_without_qr(
    ws: &mut wa_tests::harness::ws_client::WsClient,
    sid: &str,
) -> serde_json::Value {
    let until = tokio::time::Instant::now() + PAIRING;
    loop {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        let frame = ws.next_json(left).await;
        if frame["data"]["sessionId"] != sid {
            continue;
        }
        assert_ne!(frame["event"], "qr_code", "a linked session was shown a QR");
        if frame["event"] == "connection_success" {
            return frame;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_command_whose_doorbell_was_lost_is_still_executed() {
    let gw = Gateway::start().await;
    let api = gw.api().await;
    let worker = gw.worker("d-1", LEASE_TTL_MS).await;
    let mut ws = gw.watch_all(&api).await;
    let (sid, phone) = ("unrung", "15550003333");
    gw.link(&api, &mut ws, sid, phone).await;
    // A second session whose command stream lost its consumer group (as when a session is deleted
    // while its owner still reads it): Redis refuses any read that names that stream, which must
    // not hold up the commands of the other sessions read together with it.
    gw.link(&api, &mut ws, "broken", "15550003334").await;
    let keys = gw.keys();
    let mut conn = gw.redis_conn().await.expect("redis");
    let destroyed: i64 = redis::cmd("XGROUP")
        .arg("DESTROY")
        .arg(keys.commands("broken"))
        .arg(wa_shared::commands::COMMAND_GROUP)
        .query_async(&mut conn)
        .await
        .expect("XGROUP DESTROY");
    assert_eq!(destroyed, 1);
    // The api's own disconnect step, without the doorbell it rings afterwards: the owner finds
    // the command at its next sweep of the streams it holds.
    let outcome: String = wa_shared::scripts::STOP_SESSION
        .key(keys.session(sid))
        .key(keys.running_sessions())
        .key(keys.lease(sid))
        .key(keys.commands(sid))
        .arg(sid)
        .arg(wa_tests::harness::gateway::TENANT)
        .arg(wa_shared::records::now_rfc3339())
        .invoke_async(&mut conn)
        .await
        .expect("stop_session");
    assert_eq!(outcome, "stopped");
    let inbox = keys.worker_inbox("d-1");
    let rung: u64 = redis::AsyncCommands::xlen(&mut conn, &inbox)
        .await
        .expect("inbox length");
    gw.wait_status(&api, sid, "disconnected", STEP).await;
    gw.wait_released(sid, STEP).await;
    let after: u64 = redis::AsyncCommands::xlen(&mut conn, &inbox)
        .await
        .expect("inbox length");
    assert_eq!(after, rung, "nothing rang the owner for this command");
    let metrics = worker.metrics().await.expect("worker metrics");
    let by_sweep: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("wa_worker_commands_by_sweep_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the sweep counter is exported");
    assert!(by_sweep >= 1, "the sweep found no command:\n{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tampered_auth_state_fails_the_session() {
    let gw = Gateway::start().await;
    let api = gw.api().await;
    let _worker = gw.worker("t-1", LEASE_TTL_MS).await;
    let mut ws = gw.watch_all(&api).await;
    let (sid, phone) = ("tampered", "15550004444");
    gw.link(&api, &mut ws, sid, phone).await;
    let (code, _) = gw
        .post(&api, "/disconnect", json!({"sessionId": sid}))
        .await;
    assert_eq!(code, 200);
    gw.wait_status(&api, sid, "disconnected", STEP).await;
    gw.wait_released(sid, STEP).await;

    // Flip one byte of the stored device record.
    let keys = gw.keys();
    let device_key = format!("{}device", keys.auth_prefix(sid));
    let mut conn = gw.redis_conn().await.expect("redis");
    let mut sealed: Vec<u8> = redis::AsyncCommands::get(&mut conn, &device_key)
        .await
        .expect("device record");
    let last = sealed.len() - 1;
    sealed[last] ^= 0x01;
    let _: () = redis::AsyncCommands::set(&mut conn, &device_key, sealed)
        .await
        .expect("tamper");

    gw.post(
        &api,
        "/reconnect",
        json!({"sessionId": sid, "sessionName": sid, "phoneNumber": phone}),
    )
    .await;
    let failed = Gateway::next_session_event(&mut ws, "session_failed", sid, STEP).await;
    assert_eq!(failed["data"]["code"], "auth_state_corrupt");
    gw.wait_status(&api, sid, "failed", STEP).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_whatsapp_logout_and_a_delete_wipe_the_auth_state() {
    let gw = Gateway::start().await;
    let api = gw.api().await;
    let mut worker = gw.worker("l-1", LEASE_TTL_MS).await;
    let mut ws = gw.watch_all(&api).await;
    let keys = gw.keys();
    let mut conn = gw.redis_conn().await.expect("redis");

    // WhatsApp logs the device out: logged_out, auth keys gone, the record kept as logged_out.
    let (kicked, kicked_phone) = ("kicked", "15550006666");
    gw.link(&api, &mut ws, kicked, kicked_phone).await;
    let registry = keys.auth_registry(kicked);
    let stored: u64 = redis::AsyncCommands::scard(&mut conn, &registry)
        .await
        .expect("registry");
    assert!(stored > 0, "a linked session has auth state");
    gw.admin
        .kick(kicked_phone, "logged_out")
        .await
        .expect("kick");
    Gateway::next_session_event(&mut ws, "logged_out", kicked, STEP).await;
    gw.wait_status(&api, kicked, "logged_out", STEP).await;
    let left: Vec<String> =
        redis::AsyncCommands::keys(&mut conn, format!("{}*", keys.auth_prefix(kicked)))
            .await
            .expect("keys");
    assert!(left.is_empty(), "auth state left after logout: {left:?}");

    // DELETE: the device is unlinked at WhatsApp and everything of the session goes.
    let (deleted, deleted_phone) = ("deleted", "15550007777");
    gw.link(&api, &mut ws, deleted, deleted_phone).await;
    assert_eq!(gw.fake.stats().devices_removed, 0);
    delete_session(&gw, &api, deleted).await;
    wait_until_gone(&conn, &keys, deleted).await;
    let (status, _) = gw.get(&api, &format!("/session-status/{deleted}")).await;
    assert_eq!(status, 404);
    assert_eq!(gw.fake.stats().devices_removed, 1);

    // DELETE while no worker runs: the worker that takes the session next connects only to unlink
    // the device at WhatsApp, then wipes it.
    let (parked, parked_phone) = ("parked", "15550009999");
    gw.link(&api, &mut ws, parked, parked_phone).await;
    assert!(
        worker.process.terminate(Duration::from_secs(30)).is_some(),
        "the worker did not stop"
    );
    delete_session(&gw, &api, parked).await;
    let _second = gw.worker("l-2", LEASE_TTL_MS).await;
    wait_until_gone(&conn, &keys, parked).await;
    assert_eq!(gw.fake.stats().devices_removed, 2);
}

async fn delete_session(gw: &Gateway, api: &ApiProcess, sid: &str) {
    let response = gw
        .http
        .delete(api.url(&format!("/sessions/{sid}")))
        .bearer_auth(&gw.token)
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status().as_u16(), 200);
}

/// Waits until neither auth keys nor the record of `sid` are left.
async fn wait_until_gone(
    conn: &redis::aio::MultiplexedConnection,
    keys: &wa_shared::keys::Keys,
    sid: &str,
) {
    wait_until("the deleted session's keys are gone", STEP, || async {
        let mut conn = conn.clone();
        let auth: Vec<String> =
            redis::AsyncCommands::keys(&mut conn, format!("{}*", keys.auth_prefix(sid)))
                .await
                .ok()?;
        let record: bool = redis::AsyncCommands::exists(&mut conn, keys.session(sid))
            .await
            .ok()?;
        (auth.is_empty() && !record).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unscanned_qr_codes_run_out_and_the_session_stops_until_asked_again() {
    // One ref per offer: the client shows it for its fixed 60 s, then reports the codes exhausted.
    let gw = Gateway::start_with(FakeConfig {
        qr_refs: 1,
        ..FakeConfig::default()
    })
    .await;
    let api = gw.api().await;
    let _worker = gw.worker("q-1", LEASE_TTL_MS).await;
    let mut ws = gw.watch_all(&api).await;
    let (sid, phone) = ("unscanned", "15550008888");
    gw.connect(&api, sid, phone).await;
    Gateway::next_session_event(&mut ws, "qr_code", sid, STEP).await;

    let lost = Gateway::next_session_event(&mut ws, "connection_lost", sid, QR_BUDGET).await;
    assert_eq!(lost["data"]["reason"], "qr_timeout");
    assert_eq!(lost["data"]["status"], "disconnected");
    // Stopped for good: the lease is released and nobody reconnects it in a loop.
    gw.wait_released(sid, STEP).await;
    let (code, record) = gw.get(&api, &format!("/session-status/{sid}")).await;
    assert_eq!(code, 200);
    assert_eq!(record["status"], "disconnected");
    assert!(
        record["qrCode"].as_str().is_none_or(str::is_empty),
        "a spent QR is no longer offered: {record}"
    );

    // Asking again starts a fresh pairing that links.
    gw.link(&api, &mut ws, sid, phone).await;
    assert_eq!(gw.status(&api, sid).await, "connected");
}
