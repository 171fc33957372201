//! Failover with real processes: three workers share the sessions; one is SIGKILLed; its sessions
//! come back on the others within the lease TTL plus a few seconds, and every send accepted
//! before, during and after arrives exactly once.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;
use wa_tests::harness::gateway::{Gateway, STEP};
use wa_tests::harness::processes::WorkerProcess;
use wa_tests::harness::wait_until;

const LEASE_TTL_MS: u64 = 3000;
const SESSIONS: usize = 30;
const CONTACT: &str = "15559990001";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_workers_sessions_move_and_no_send_is_lost_or_doubled() {
    let gw = Gateway::start().await;
    let api = gw.api().await;
    let mut workers: Vec<WorkerProcess> = Vec::new();
    for id in ["w-a", "w-b", "w-c"] {
        workers.push(gw.worker(id, LEASE_TTL_MS).await);
    }
    let mut ws = gw.watch_all(&api).await;
    let sessions: Vec<(String, String)> = (0..SESSIONS)
        .map(|i| (format!("fo-{i}"), format!("1555100{i:04}")))
        .collect();
    gw.link_many(&api, &mut ws, &sessions).await;
    gw.admin.create_contact(CONTACT).await.expect("contact");

    // Spread: every worker holds some of the sessions.
    let mut owners: HashMap<String, Vec<String>> = HashMap::new();
    for (sid, _) in &sessions {
        let owner = gw.owner(sid).await.expect("owned");
        owners.entry(owner).or_default().push(sid.clone());
    }
    assert_eq!(
        owners.len(),
        3,
        "sessions spread over all workers: {owners:?}"
    );

    let mut texts = Vec::new();
    let mut send_round = |round: &'static str| {
        let batch: Vec<(String, String)> = sessions
            .iter()
            .map(|(sid, _)| (sid.clone(), format!("{round}-{sid}")))
            .collect();
        texts.extend(batch.iter().map(|(_, t)| t.clone()));
        batch
    };
    for (sid, text) in send_round("before") {
        send(&gw, &api, &sid, &text).await;
    }

    // Kill the busiest worker.
    let (victim_id, victim_sessions) = owners
        .iter()
        .max_by_key(|(_, s)| s.len())
        .map(|(w, s)| (w.clone(), s.clone()))
        .expect("a worker");
    let victim = workers
        .iter_mut()
        .find(|w| w.id == victim_id)
        .expect("victim process");
    victim.process.kill();
    let killed_at = Instant::now();
    // Sends accepted while the sessions move (answered 202 queued until their new owner sends),
    // concurrently with watching them come back, so the failover time is not the sends' time.
    let during = send_round("during");
    let sends =
        futures::future::join_all(during.iter().map(|(sid, text)| send(&gw, &api, sid, text)));
    // Its sessions are connected on the survivors within TTL + 5 s.
    let limit = Duration::from_millis(LEASE_TTL_MS) + Duration::from_secs(5);
    let moved = async {
        let mut back = std::collections::HashSet::new();
        while back.len() < victim_sessions.len() {
            let left = (limit * 3).saturating_sub(killed_at.elapsed());
            let frame = ws.next_json(left).await;
            let sid = frame["data"]["sessionId"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if frame["event"] == "connection_success" && victim_sessions.contains(&sid) {
                back.insert(sid);
            }
        }
        killed_at.elapsed()
    };
    let (_, failover) = tokio::join!(sends, moved);
    for sid in &victim_sessions {
        let owner = gw.owner(sid).await.expect("owned again");
        assert_ne!(owner, victim_id, "{sid} moved");
    }
    assert!(
        failover <= limit,
        "failover took {failover:?} (limit {limit:?})"
    );

    for (sid, text) in send_round("after") {
        send(&gw, &api, &sid, &text).await;
    }

    // Every text arrives exactly once.
    wait_until("every text in the contact's inbox", STEP * 2, || async {
        let inbox = gw.admin.inbox(CONTACT).await.ok()?;
        texts
            .iter()
            .all(|t| inbox.iter().any(|m| &m.text == t))
            .then_some(())
    })
    .await;
    let inbox = gw.admin.inbox(CONTACT).await.expect("inbox");
    for text in &texts {
        let copies = inbox.iter().filter(|m| &m.text == text).count();
        assert_eq!(copies, 1, "{text} arrived {copies} times");
    }
    let stats = gw.admin.stats().await.expect("stats");
    assert_eq!(stats.duplicate_deliveries, 0, "{stats:?}");
    assert_eq!(stats.overlapping_connections, 0, "{stats:?}");
}

async fn send(gw: &Gateway, api: &wa_tests::harness::processes::ApiProcess, sid: &str, text: &str) {
    let (code, body) = gw
        .post(
            api,
            "/send-message",
            json!({"sessionId": sid, "phoneNumber": CONTACT, "message": text}),
        )
        .await;
    assert!(code == 200 || code == 202, "send {text}: {code} {body}");
}
