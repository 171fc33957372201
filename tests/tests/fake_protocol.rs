//! Real `whatsapp-rust` clients against the fake server: QR pairing, IK resume, messaging with
//! receipts both ways, contacts, kicks and device replacement.

use std::time::Duration;

use wa_tests::fake::{AdminClient, FakeConfig, FakeHandle, FakeWhatsApp, RealClient};
use whatsapp_rust::Jid;
use whatsapp_rust::types::events::Event;
use whatsapp_rust::types::presence::ReceiptType;

/// Pairing is followed by the client's ~10 s app-state key-share grace before `Connected`.
const PAIRED_CONNECTED: Duration = Duration::from_secs(45);
const STEP: Duration = Duration::from_secs(20);

async fn start_fake() -> (FakeHandle, AdminClient) {
    let fake = FakeWhatsApp::start(FakeConfig::default())
        .await
        .expect("fake server starts");
    let admin = AdminClient::new(fake.admin_url());
    (fake, admin)
}

/// A fresh client scanned in as `phone`, waited until `Connected`.
async fn pair(fake: &FakeHandle, admin: &AdminClient, phone: &str) -> RealClient {
    let mut client = RealClient::start(&fake.ws_url(), RealClient::memory_backend())
        .await
        .expect("client starts");
    let qr = client.next_qr(STEP).await.expect("QR code");
    let jid = admin.scan(&qr, phone).await.expect("scan links the device");
    assert!(jid.starts_with(&format!("{phone}:")), "device jid {jid}");
    client
        .connected(PAIRED_CONNECTED)
        .await
        .expect("paired client connects");
    client
}

fn text_from(event: &Event, sender: &str, text: &str) -> Option<String> {
    let Event::Messages(batch) = event else {
        return None;
    };
    batch.messages.iter().find_map(|m| {
        use wacore::proto_helpers::MessageExt as _;
        (m.info.source.sender.user == sender && m.message.text_content() == Some(text))
            .then(|| m.info.id.to_string())
    })
}

fn receipt_for(event: &Event, id: &str, kind: ReceiptType) -> Option<()> {
    let Event::Receipt(receipt) = event else {
        return None;
    };
    (receipt.r#type == kind && receipt.message_ids.iter().any(|m| m.as_str() == id)).then_some(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pair_message_both_ways_with_receipts_and_resume_over_ik() {
    let (fake, admin) = start_fake().await;
    let (alice_phone, bob_phone, carol_phone) = ("15550001111", "15550002222", "15559990000");
    let (alice, bob) = tokio::join!(
        pair(&fake, &admin, alice_phone),
        pair(&fake, &admin, bob_phone)
    );
    let (mut alice, mut bob) = (alice, bob);
    let after_pairing = fake.stats();
    assert_eq!(after_pairing.accounts, 2);
    assert!(after_pairing.handshakes_xx >= 4, "{after_pairing:?}");
    alice.client().set_force_active_delivery_receipts(true);
    bob.client().set_force_active_delivery_receipts(true);

    // Alice -> Bob, delivered back to Alice.
    let sent = alice
        .client()
        .send_text(Jid::pn(bob_phone), "hello bob")
        .await
        .expect("alice sends");
    bob.wait_for(STEP, "alice's text", |e| {
        text_from(e, alice_phone, "hello bob")
    })
    .await
    .expect("bob receives");
    alice
        .wait_for(STEP, "delivery receipt from bob", |e| {
            receipt_for(e, &sent.message_id, ReceiptType::Delivered)
        })
        .await
        .expect("alice gets the delivery receipt");

    // Bob -> Alice.
    let reply = bob
        .client()
        .send_text(Jid::pn(alice_phone), "hi alice")
        .await
        .expect("bob sends");
    alice
        .wait_for(STEP, "bob's text", |e| text_from(e, bob_phone, "hi alice"))
        .await
        .expect("alice receives");
    bob.wait_for(STEP, "delivery receipt from alice", |e| {
        receipt_for(e, &reply.message_id, ReceiptType::Delivered)
    })
    .await
    .expect("bob gets the delivery receipt");

    // A contact run inside the server: both directions, then a read receipt on request.
    admin.create_contact(carol_phone).await.expect("contact");
    admin.create_contact(carol_phone).await.expect("idempotent");
    let from_carol = admin
        .contact_send(carol_phone, alice_phone, "from carol")
        .await
        .expect("contact sends");
    let got = alice
        .wait_for(STEP, "carol's text", |e| {
            text_from(e, carol_phone, "from carol")
        })
        .await
        .expect("alice receives the contact's text");
    assert_eq!(got, from_carol);
    let to_carol = alice
        .client()
        .send_text(Jid::pn(carol_phone), "to carol")
        .await
        .expect("alice sends to the contact");
    alice
        .wait_for(STEP, "carol's delivery receipt", |e| {
            receipt_for(e, &to_carol.message_id, ReceiptType::Delivered)
        })
        .await
        .expect("contact sends a delivery receipt by itself");
    let inbox = admin.inbox(carol_phone).await.expect("inbox");
    assert!(
        inbox
            .iter()
            .any(|m| m.id == to_carol.message_id && m.text == "to carol" && m.from == alice_phone),
        "{inbox:?}"
    );
    admin
        .mark_read(
            carol_phone,
            alice_phone,
            std::slice::from_ref(&to_carol.message_id),
        )
        .await
        .expect("read");
    alice
        .wait_for(STEP, "carol's read receipt", |e| {
            receipt_for(e, &to_carol.message_id, ReceiptType::Read)
        })
        .await
        .expect("read receipt arrives as Read");

    // A number without an account has no devices: the send fails in the client.
    let nobody = alice
        .client()
        .send_text(Jid::pn("15557770000"), "anyone?")
        .await;
    assert!(
        nobody.is_err(),
        "send to a number without account: {nobody:?}"
    );

    // Alice restarts on the same store: IK, no QR, and keeps messaging.
    let ik_before = fake.stats().handshakes_ik;
    let backend = alice.backend();
    alice.shutdown().await;
    let mut alice = RealClient::start(&fake.ws_url(), backend)
        .await
        .expect("restarted client");
    alice
        .wait_for(STEP, "Connected without QR", |e| match e {
            Event::PairingQrCode(_) => Some(Err("a restarted client was shown a QR")),
            Event::Connected(_) => Some(Ok(())),
            _ => None,
        })
        .await
        .expect("connects")
        .expect("no QR");
    assert!(fake.stats().handshakes_ik > ik_before, "{:?}", fake.stats());
    alice
        .client()
        .send_text(Jid::pn(bob_phone), "back again")
        .await
        .expect("alice sends after restart");
    bob.wait_for(STEP, "text after restart", |e| {
        text_from(e, alice_phone, "back again")
    })
    .await
    .expect("bob receives after alice's restart");

    let stats = admin.stats().await.expect("stats");
    assert_eq!(stats.duplicate_deliveries, 0, "{stats:?}");
    assert_eq!(stats.overlapping_connections, 0, "{stats:?}");
    assert!(stats.messages_routed >= 5, "{stats:?}");
    assert!(stats.receipts_routed >= 4, "{stats:?}");
    assert_eq!(stats.accounts, 3, "{stats:?}");

    alice.shutdown().await;
    bob.shutdown().await;
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kicks_surface_as_documented_events_and_second_login_replaces_the_first() {
    let (fake, admin) = start_fake().await;
    let phone = "15550003333";
    let mut first = pair(&fake, &admin, phone).await;

    // restart: the client reconnects by itself.
    let logins = fake.stats().handshakes_ik;
    admin.kick(phone, "restart").await.expect("kick restart");
    first
        .connected(STEP)
        .await
        .expect("reconnects after restart");
    assert!(fake.stats().handshakes_ik > logins);

    // drop: Disconnected, then the built-in reconnect.
    admin.kick(phone, "drop").await.expect("kick drop");
    first
        .wait_for(STEP, "Disconnected", |e| {
            matches!(e, Event::Disconnected(_)).then_some(())
        })
        .await
        .expect("drop surfaces as Disconnected");
    first.connected(STEP).await.expect("reconnects after drop");

    // A second client on the same device: the older socket is replaced.
    assert_eq!(fake.stats().overlapping_connections, 0);
    let mut second = RealClient::start(&fake.ws_url(), first.backend())
        .await
        .expect("second client");
    second.connected(STEP).await.expect("second connects");
    first
        .wait_for(STEP, "StreamReplaced", |e| {
            matches!(e, Event::StreamReplaced(_)).then_some(())
        })
        .await
        .expect("older connection is replaced");
    assert_eq!(fake.stats().overlapping_connections, 1);
    first.abort();

    // replaced by the admin: StreamReplaced.
    admin.kick(phone, "replaced").await.expect("kick replaced");
    second
        .wait_for(STEP, "StreamReplaced", |e| {
            matches!(e, Event::StreamReplaced(_)).then_some(())
        })
        .await
        .expect("replaced surfaces as StreamReplaced");
    let backend = second.backend();
    second.abort();

    // logged_out: LoggedOut, and the device is unlinked.
    let mut third = RealClient::start(&fake.ws_url(), backend)
        .await
        .expect("third client");
    third.connected(STEP).await.expect("third connects");
    admin
        .kick(phone, "logged_out")
        .await
        .expect("kick logged_out");
    third
        .wait_for(STEP, "LoggedOut", |e| {
            matches!(e, Event::LoggedOut(_)).then_some(())
        })
        .await
        .expect("logged_out surfaces as LoggedOut");
    let refused = admin.kick(phone, "restart").await;
    assert!(refused.is_err(), "no device left to kick");
    third.abort();
    fake.shutdown().await;
}
