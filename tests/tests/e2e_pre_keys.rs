//! End to end with real processes: `PRE_KEY_COUNT` sets how many one-time pre-keys a session
//! links with (most of its auth state in Redis), and logging in again does not add a batch.

use serde_json::json;
use wa_tests::harness::gateway::{Gateway, STEP};
use wa_tests::harness::processes::{WorkerProcess, WorkerSettings};
use wa_worker::store::AuthLayout;

const LEASE_TTL_MS: u64 = 3000;
const PRE_KEYS: u64 = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_keeps_the_configured_number_of_pre_keys_across_logins() {
    let gw = Gateway::start().await;
    let api = gw.api().await;
    let settings = WorkerSettings {
        pre_key_count: Some(PRE_KEYS as usize),
        ..gw.worker_settings(LEASE_TTL_MS)
    };
    let _worker = WorkerProcess::start("keys-1", &settings).await;
    let mut ws = gw.watch_all(&api).await;
    let sid = "few-keys";
    gw.link(&api, &mut ws, sid, "15550006666").await;

    let layout = AuthLayout::new(&gw.keys(), sid);
    let mut conn = gw.redis_conn().await.expect("redis");
    let stored: u64 = redis::AsyncCommands::hlen(&mut conn, layout.prekey())
        .await
        .expect("HLEN");
    // The default batch (812, as WhatsApp Web) would leave 812 here.
    assert_eq!(stored, PRE_KEYS, "pre-keys stored after linking");

    // A new login checks the server's digest of the bundle; it matches, so nothing is uploaded
    // (and stored) again.
    let digests_before = gw.admin.stats().await.expect("stats").digests_answered;
    let (code, _) = gw
        .post(&api, "/disconnect", json!({"sessionId": sid}))
        .await;
    assert_eq!(code, 200);
    gw.wait_status(&api, sid, "disconnected", STEP).await;
    let (code, body) = gw.post(&api, "/connect", json!({"sessionId": sid})).await;
    assert!(code < 300, "{code} {body}");
    gw.wait_status(&api, sid, "connected", STEP).await;
    wa_tests::harness::wait_until("the second login's digest check", STEP, || async {
        let stats = gw.admin.stats().await.ok()?;
        (stats.digests_answered > digests_before).then_some(())
    })
    .await;
    let again: u64 = redis::AsyncCommands::hlen(&mut conn, layout.prekey())
        .await
        .expect("HLEN");
    assert_eq!(again, PRE_KEYS, "pre-keys stored after a second login");
}
