//! Ownership moves with real processes: a frozen worker (SIGSTOP past its lease) is taken over and,
//! once thawed, is refused by the fence and stops without reconnecting; a SIGTERMed worker hands
//! its sessions over gracefully, well inside the lease TTL.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use wa_tests::harness::gateway::{Gateway, PAIRING, STEP};
use wa_tests::harness::processes::WorkerProcess;
use wa_tests::harness::wait_until;
use wa_tests::harness::ws_client::WsClient;

/// Waits for `connection_success` of every session in `sids`; fails on a `qr_code` for any.
async fn all_connected_again(ws: &mut WsClient, sids: &[String], within: Duration) {
    let until = tokio::time::Instant::now() + within;
    let mut back = HashSet::new();
    while back.len() < sids.len() {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        let frame = ws.next_json(left).await;
        let sid = frame["data"]["sessionId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if !sids.contains(&sid) {
            continue;
        }
        assert_ne!(
            frame["event"], "qr_code",
            "{sid} was shown a QR after moving"
        );
        if frame["event"] == "connection_success" {
            back.insert(sid);
        }
    }
}

async fn held_sessions(worker: &WorkerProcess) -> Option<u64> {
    worker.health().await?["sessions"].as_u64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_frozen_worker_is_fenced_out_and_stops_without_reconnecting() {
    const TTL_MS: u64 = 3000;
    let gw = Gateway::start().await;
    let api = gw.api().await;
    let zombie = gw.worker("z-1", TTL_MS).await;
    let mut ws = gw.watch_all(&api).await;
    let sessions: Vec<(String, String)> = (0..3)
        .map(|i| (format!("zz-{i}"), format!("1555200{i:04}")))
        .collect();
    let sids: Vec<String> = sessions.iter().map(|(s, _)| s.clone()).collect();
    gw.link_many(&api, &mut ws, &sessions).await;
    let heir = gw.worker("z-2", TTL_MS).await;
    let before = gw.admin.stats().await.expect("stats");

    zombie.process.freeze();
    all_connected_again(&mut ws, &sids, Duration::from_millis(TTL_MS) + PAIRING).await;
    for sid in &sids {
        assert_eq!(gw.owner(sid).await.as_deref(), Some("z-2"));
    }
    let at_takeover = gw.admin.stats().await.expect("stats");
    // The frozen sockets were still open: the server replaced each once.
    assert_eq!(
        at_takeover.overlapping_connections - before.overlapping_connections,
        sids.len() as u64,
        "{at_takeover:?}"
    );

    zombie.process.thaw();
    wait_until("the thawed worker holds nothing", STEP, || async {
        (held_sessions(&zombie).await == Some(0)).then_some(())
    })
    .await;
    let after = gw.admin.stats().await.expect("stats");
    assert_eq!(
        after.overlapping_connections, at_takeover.overlapping_connections,
        "no further overlap"
    );
    assert_eq!(after.duplicate_deliveries, 0);
    for sid in &sids {
        assert_eq!(
            gw.owner(sid).await.as_deref(),
            Some("z-2"),
            "{sid} stays with its new owner"
        );
        assert_eq!(gw.status(&api, sid).await, "connected");
    }
    assert_eq!(held_sessions(&heir).await, Some(sids.len() as u64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_terminated_worker_hands_its_sessions_over_well_inside_the_ttl() {
    const TTL_MS: u64 = 30_000;
    let gw = Gateway::start().await;
    let api = gw.api().await;
    let mut leaving = gw.worker("g-1", TTL_MS).await;
    let mut ws = gw.watch_all(&api).await;
    let sessions: Vec<(String, String)> = (0..3)
        .map(|i| (format!("gr-{i}"), format!("1555300{i:04}")))
        .collect();
    let sids: Vec<String> = sessions.iter().map(|(s, _)| s.clone()).collect();
    gw.link_many(&api, &mut ws, &sessions).await;
    let _staying = gw.worker("g-2", TTL_MS).await;

    let started = Instant::now();
    let exit = leaving.process.terminate(Duration::from_secs(25));
    assert!(
        exit.is_some_and(|s| s.success()),
        "SIGTERM: exit 0 within 25 s\n{}",
        leaving.process.output()
    );
    all_connected_again(&mut ws, &sids, Duration::from_millis(TTL_MS)).await;
    let moved = started.elapsed();
    assert!(
        moved < Duration::from_millis(TTL_MS / 2),
        "handover took {moved:?}"
    );
    for sid in &sids {
        assert_eq!(gw.owner(sid).await.as_deref(), Some("g-2"));
    }
    let stats = gw.admin.stats().await.expect("stats");
    assert_eq!(stats.overlapping_connections, 0, "{stats:?}");
}
