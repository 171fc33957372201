//! Every group of whatsapp-rust store methods written to and read back from a real Redis through
//! `EncryptedStore`, and the device record surviving a new store instance (a worker restart).

mod store_redis_server;

use std::sync::Arc;
use store_redis_server::{RedisServer, keyring, keys, keys_matching, owned_store};
use wa_worker::store::EncryptedStore;
use whatsapp_rust::bytes::Bytes;
use whatsapp_rust::store::persistence_manager::PersistenceManager;
use whatsapp_rust::store::traits::*;
use whatsapp_rust::wacore::appstate::hash::HashState;
use whatsapp_rust::wacore::appstate::processor::AppStateMutationMAC;

#[tokio::test]
async fn signal_state_roundtrips() {
    let server = RedisServer::start();
    let (store, _) = owned_store(&server, "s1", keyring(&[("k1", 1)])).await;

    store
        .put_identity("111@s.whatsapp.net", [7; 32])
        .await
        .unwrap();
    store
        .put_identities_batch(&[("222:3@lid".into(), [8; 32])])
        .await
        .unwrap();
    assert_eq!(
        store.load_identity("111@s.whatsapp.net").await.unwrap(),
        Some([7; 32])
    );
    assert_eq!(
        store.load_identity("222:3@lid").await.unwrap(),
        Some([8; 32])
    );
    store.delete_identity("111@s.whatsapp.net").await.unwrap();
    assert_eq!(
        store.load_identity("111@s.whatsapp.net").await.unwrap(),
        None
    );

    store
        .put_session("333@s.whatsapp.net", b"sess-a")
        .await
        .unwrap();
    store
        .put_sessions_batch(&[
            ("333@s.whatsapp.net".into(), Bytes::from_static(b"sess-a2")),
            ("444:1@s.whatsapp.net".into(), Bytes::from_static(b"sess-b")),
        ])
        .await
        .unwrap();
    assert_eq!(
        store
            .get_session("333@s.whatsapp.net")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"sess-a2"[..])
    );
    assert!(store.has_session("444:1@s.whatsapp.net").await.unwrap());
    assert!(store.has_signal_state_for_user("444").await.unwrap());
    assert!(store.has_signal_state_for_user("222").await.unwrap());
    assert!(!store.has_signal_state_for_user("44").await.unwrap());
    store.delete_session("444:1@s.whatsapp.net").await.unwrap();
    assert!(!store.has_session("444:1@s.whatsapp.net").await.unwrap());

    store.store_prekey(5, b"pk5", false).await.unwrap();
    store
        .store_prekeys_batch(
            &[
                (6, Bytes::from_static(b"pk6")),
                (90, Bytes::from_static(b"pk90")),
            ],
            true,
        )
        .await
        .unwrap();
    assert_eq!(
        store.load_prekey(6).await.unwrap().as_deref(),
        Some(&b"pk6"[..])
    );
    assert_eq!(store.get_max_prekey_id().await.unwrap(), 90);
    let batch = store.load_prekeys_batch(&[5, 7, 90]).await.unwrap();
    assert_eq!(
        batch,
        vec![
            (5, Bytes::from_static(b"pk5")),
            (90, Bytes::from_static(b"pk90"))
        ]
    );
    store.remove_prekey(90).await.unwrap();
    store.mark_prekeys_uploaded(&[90, 5]).await.unwrap();
    assert_eq!(
        store.load_prekey(90).await.unwrap(),
        None,
        "marking never resurrects"
    );
    assert_eq!(store.get_max_prekey_id().await.unwrap(), 6);

    store.store_signed_prekey(1, b"spk1").await.unwrap();
    store.store_signed_prekey(2, b"spk2").await.unwrap();
    assert_eq!(
        store.load_signed_prekey(2).await.unwrap(),
        Some(b"spk2".to_vec())
    );
    let mut all = store.load_all_signed_prekeys().await.unwrap();
    all.sort();
    assert_eq!(all, vec![(1, b"spk1".to_vec()), (2, b"spk2".to_vec())]);
    store.remove_signed_prekey(1).await.unwrap();
    assert_eq!(store.load_signed_prekey(1).await.unwrap(), None);

    store.put_sender_key("g1::555", b"sk1").await.unwrap();
    store
        .put_sender_keys_batch(&[("g1::666".into(), Bytes::from_static(b"sk2"))])
        .await
        .unwrap();
    assert_eq!(
        store.get_sender_key("g1::666").await.unwrap(),
        Some(b"sk2".to_vec())
    );
    store.delete_sender_key("g1::555").await.unwrap();
    assert_eq!(store.get_sender_key("g1::555").await.unwrap(), None);
}

#[tokio::test]
async fn app_state_roundtrips() {
    let server = RedisServer::start();
    let (store, _) = owned_store(&server, "s1", keyring(&[("k1", 1)])).await;

    assert_eq!(store.get_latest_sync_key_id().await.unwrap(), None);
    let sync_key = AppStateSyncKey {
        key_data: vec![1, 2, 3],
        fingerprint: vec![4],
        timestamp: 99,
    };
    store.set_sync_key(&[0xAA, 0x00], sync_key).await.unwrap();
    let got = store.get_sync_key(&[0xAA, 0x00]).await.unwrap().unwrap();
    assert_eq!((got.key_data, got.timestamp), (vec![1, 2, 3], 99));
    assert_eq!(
        store.get_latest_sync_key_id().await.unwrap(),
        Some(vec![0xAA, 0x00])
    );

    assert_eq!(store.get_version("regular").await.unwrap().version, 0);
    let mut state = HashState {
        version: 12,
        ..Default::default()
    };
    state.hash[0] = 9;
    state.index_value_map.insert("idx".into(), vec![5; 32]);
    store.set_version("regular", state).await.unwrap();
    let got = store.get_version("regular").await.unwrap();
    assert_eq!((got.version, got.hash[0]), (12, 9));
    assert_eq!(got.index_value_map["idx"], vec![5; 32]);

    let macs = vec![
        AppStateMutationMAC {
            index_mac: vec![1; 32],
            value_mac: vec![2; 32],
        },
        AppStateMutationMAC {
            index_mac: vec![3; 32],
            value_mac: vec![4; 32],
        },
    ];
    store.put_mutation_macs("regular", 12, &macs).await.unwrap();
    store
        .put_mutation_macs(
            "critical_block",
            1,
            &[AppStateMutationMAC {
                index_mac: vec![1; 32],
                value_mac: vec![8; 32],
            }],
        )
        .await
        .unwrap();
    assert_eq!(
        store.get_mutation_mac("regular", &[1; 32]).await.unwrap(),
        Some(vec![2; 32])
    );
    let batch = store
        .get_mutation_macs("regular", &[[1; 32], [3; 32], [9; 32]])
        .await
        .unwrap();
    assert_eq!(batch.len(), 2);
    assert_eq!(batch[&[3u8; 32]], vec![4; 32]);
    store
        .delete_mutation_macs("regular", &[vec![1; 32]])
        .await
        .unwrap();
    assert_eq!(
        store.get_mutation_mac("regular", &[1; 32]).await.unwrap(),
        None
    );
    store.clear_mutation_macs("regular").await.unwrap();
    assert_eq!(
        store.get_mutation_mac("regular", &[3; 32]).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .get_mutation_mac("critical_block", &[1; 32])
            .await
            .unwrap(),
        Some(vec![8; 32]),
        "clearing one collection leaves the others"
    );
}

fn mapping(lid: &str, phone: &str, at: i64) -> LidPnMappingEntry {
    LidPnMappingEntry {
        lid: lid.into(),
        phone_number: phone.into(),
        created_at: at,
        updated_at: at,
        learning_source: "usync".into(),
    }
}

#[tokio::test]
async fn protocol_state_roundtrips() {
    let server = RedisServer::start();
    let (store, _) = owned_store(&server, "s1", keyring(&[("k1", 1)])).await;

    // Sender-key device tracking.
    store
        .set_sender_key_status("g1@g.us", &[("a:1@lid", true), ("b:2@lid", false)])
        .await
        .unwrap();
    store
        .set_sender_key_status("g2@g.us", &[("a:1@lid", true)])
        .await
        .unwrap();
    let mut devices = store.get_sender_key_devices("g1@g.us").await.unwrap();
    devices.sort();
    assert_eq!(
        devices,
        vec![("a:1@lid".into(), true), ("b:2@lid".into(), false)]
    );
    store
        .delete_sender_key_device_rows(&["a:1@lid"])
        .await
        .unwrap();
    assert_eq!(
        store.get_sender_key_devices("g1@g.us").await.unwrap(),
        vec![("b:2@lid".into(), false)]
    );
    assert!(
        store
            .get_sender_key_devices("g2@g.us")
            .await
            .unwrap()
            .is_empty()
    );
    store
        .set_sender_key_status("g2@g.us", &[("c:1@lid", true)])
        .await
        .unwrap();
    store.clear_sender_key_devices("g1@g.us").await.unwrap();
    assert!(
        store
            .get_sender_key_devices("g1@g.us")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.get_sender_key_devices("g2@g.us").await.unwrap().len(),
        1
    );
    store.clear_all_sender_key_devices().await.unwrap();
    assert!(
        store
            .get_sender_key_devices("g2@g.us")
            .await
            .unwrap()
            .is_empty()
    );

    // LID <-> PN, including a LID moving to a new number.
    store
        .put_lid_mapping(&mapping("100", "5511", 1))
        .await
        .unwrap();
    store
        .put_lid_mappings(&[mapping("200", "5522", 2), mapping("100", "5533", 3)])
        .await
        .unwrap();
    assert_eq!(
        store
            .get_lid_mapping("100")
            .await
            .unwrap()
            .unwrap()
            .phone_number,
        "5533"
    );
    assert_eq!(
        store.get_pn_mapping("5533").await.unwrap().unwrap().lid,
        "100"
    );
    assert!(
        store.get_pn_mapping("5511").await.unwrap().is_none(),
        "stale reverse entry dropped"
    );
    assert_eq!(store.get_all_lid_mappings().await.unwrap().len(), 2);

    // Base keys.
    store.save_base_key("a@lid", "m1", b"base").await.unwrap();
    assert!(
        store
            .has_same_base_key("a@lid", "m1", b"base")
            .await
            .unwrap()
    );
    assert!(
        !store
            .has_same_base_key("a@lid", "m1", b"other")
            .await
            .unwrap()
    );
    store.delete_base_key("a@lid", "m1").await.unwrap();
    assert!(
        !store
            .has_same_base_key("a@lid", "m1", b"base")
            .await
            .unwrap()
    );

    // Device lists.
    let record = DeviceListRecord {
        user: "5511".into(),
        devices: vec![DeviceInfo::new(0, None), DeviceInfo::new(3, Some(2))],
        timestamp: 5,
        phash: Some("ph".into()),
        raw_id: Some(7),
    };
    store.update_device_list(record).await.unwrap();
    let got = store.get_devices("5511").await.unwrap().unwrap();
    assert_eq!(
        (got.devices.len(), got.raw_id, got.phash.as_deref()),
        (2, Some(7), Some("ph"))
    );
    store.delete_devices("5511").await.unwrap();
    assert!(store.get_devices("5511").await.unwrap().is_none());

    // Group metadata.
    store.put_group_metadata("g1@g.us", b"blob").await.unwrap();
    assert_eq!(
        store.get_group_metadata("g1@g.us").await.unwrap(),
        Some(b"blob".to_vec())
    );
    store.delete_group_metadata("g1@g.us").await.unwrap();
    assert_eq!(store.get_group_metadata("g1@g.us").await.unwrap(), None);

    // Trusted-contact tokens: newer wins, sender bucket only moves forward.
    store
        .store_received_tc_token("c@lid", b"t1", 100)
        .await
        .unwrap();
    store
        .touch_tc_token_sender_timestamp("c@lid", 50)
        .await
        .unwrap();
    store
        .store_received_tc_token("c@lid", b"stale", 90)
        .await
        .unwrap();
    store
        .touch_tc_token_sender_timestamp("c@lid", 40)
        .await
        .unwrap();
    let tok = store.get_tc_token("c@lid").await.unwrap().unwrap();
    assert_eq!(
        (
            tok.token.as_slice(),
            tok.token_timestamp,
            tok.sender_timestamp
        ),
        (&b"t1"[..], 100, Some(50))
    );
    store
        .put_tc_token(
            "d@lid",
            &TcTokenEntry {
                token: b"x".to_vec(),
                token_timestamp: 10,
                sender_timestamp: None,
            },
        )
        .await
        .unwrap();
    let mut jids = store.get_all_tc_token_jids().await.unwrap();
    jids.sort();
    assert_eq!(jids, vec!["c@lid".to_string(), "d@lid".to_string()]);
    assert_eq!(store.delete_expired_tc_tokens(60, 60).await.unwrap(), 1);
    assert!(store.get_tc_token("d@lid").await.unwrap().is_none());
    store.delete_tc_token("c@lid").await.unwrap();
    assert!(store.get_tc_token("c@lid").await.unwrap().is_none());

    // Sent messages: taken once; old ones swept.
    store
        .store_sent_message("c@s.whatsapp.net", "M1", b"payload")
        .await
        .unwrap();
    assert_eq!(
        store
            .take_sent_message("c@s.whatsapp.net", "M1")
            .await
            .unwrap(),
        Some(b"payload".to_vec())
    );
    assert_eq!(
        store
            .take_sent_message("c@s.whatsapp.net", "M1")
            .await
            .unwrap(),
        None
    );
    store
        .store_sent_message("c@s.whatsapp.net", "M2", b"p2")
        .await
        .unwrap();
    assert_eq!(store.delete_expired_sent_messages(0).await.unwrap(), 0);
    assert_eq!(
        store.delete_expired_sent_messages(i64::MAX).await.unwrap(),
        1
    );
    assert_eq!(
        store
            .take_sent_message("c@s.whatsapp.net", "M2")
            .await
            .unwrap(),
        None
    );

    // Pending inbound buffer.
    store
        .store_pending_inbound("chat", "sender", "id1", b"m1")
        .await
        .unwrap();
    store
        .store_pending_inbound_batch(&[PendingInboundRow {
            chat: "chat",
            sender: "sender",
            id: "id2",
            message: b"m2",
        }])
        .await
        .unwrap();
    assert_eq!(
        store
            .get_pending_inbound("chat", "sender", "id2")
            .await
            .unwrap(),
        Some(b"m2".to_vec())
    );
    store
        .delete_pending_inbound("chat", "sender", "id1")
        .await
        .unwrap();
    assert_eq!(
        store
            .get_pending_inbound("chat", "sender", "id1")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .delete_expired_pending_inbound(i64::MAX)
            .await
            .unwrap(),
        1
    );
    store
        .store_pending_inbound("chat", "sender", "id3", b"m3")
        .await
        .unwrap();
    store
        .delete_pending_inbound_batch(&[PendingInboundKey {
            chat: "chat",
            sender: "sender",
            id: "id3",
        }])
        .await
        .unwrap();
    assert_eq!(
        store
            .get_pending_inbound("chat", "sender", "id3")
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn message_secrets_merge_and_expire() {
    let server = RedisServer::start();
    let (store, _) = owned_store(&server, "s1", keyring(&[("k1", 1)])).await;

    store
        .put_msg_secret("chat", "me", "A", &[1; 32])
        .await
        .unwrap();
    let entry = |id: &str, secret: u8, expires_at: i64, message_ts: i64| MsgSecretEntry {
        chat: Arc::from("chat"),
        sender: Arc::from("me"),
        msg_id: Arc::from(id),
        secret: [secret; 32],
        expires_at,
        message_ts,
    };
    let stored = store
        .put_msg_secrets(vec![
            entry("B", 2, 100, 10),
            entry("B", 3, 50, 0),
            entry("C", 4, 200, 20),
        ])
        .await
        .unwrap();
    assert_eq!(stored, 3);
    assert_eq!(
        store.get_msg_secret("chat", "me", "A").await.unwrap(),
        Some(vec![1; 32])
    );
    // Later deadline and known parent time survive a weaker re-put.
    assert_eq!(
        store
            .get_msg_secret_with_ts("chat", "me", "B")
            .await
            .unwrap(),
        Some((vec![3; 32], 10))
    );
    assert_eq!(
        store.delete_expired_msg_secrets(100).await.unwrap(),
        1,
        "B (deadline 100) goes"
    );
    assert_eq!(store.get_msg_secret("chat", "me", "B").await.unwrap(), None);
    assert!(
        store
            .get_msg_secret("chat", "me", "C")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .get_msg_secret("chat", "me", "A")
            .await
            .unwrap()
            .is_some(),
        "no deadline, kept"
    );
    // A never-expiring re-put removes the deadline.
    store
        .put_msg_secrets(vec![entry("C", 4, 0, 0)])
        .await
        .unwrap();
    assert_eq!(store.delete_expired_msg_secrets(i64::MAX).await.unwrap(), 0);
    assert_eq!(
        store
            .get_msg_secret_with_ts("chat", "me", "C")
            .await
            .unwrap(),
        Some((vec![4; 32], 20))
    );
}

#[tokio::test]
async fn device_record_roundtrips_and_every_key_stays_under_the_session_prefix() {
    let server = RedisServer::start();
    let (store, mut conn) = owned_store(&server, "s1", keyring(&[("k1", 1)])).await;
    assert!(!store.exists().await.unwrap());
    assert!(store.load().await.unwrap().is_none());
    assert_eq!(store.create().await.unwrap(), 1);
    assert!(store.exists().await.unwrap());
    let mut device = store.load().await.unwrap().unwrap();
    device.push_name = "Ana".into();
    device.registration_id = 4242;
    store.save(&device).await.unwrap();
    let again = store.load().await.unwrap().unwrap();
    assert_eq!(
        (again.push_name.as_str(), again.registration_id),
        ("Ana", 4242)
    );
    assert_eq!(
        again.identity_key.public_key.serialize(),
        device.identity_key.public_key.serialize()
    );
    for key in keys_matching(&mut conn, "*").await {
        assert!(
            key == keys().lease("s1") || key.starts_with(&keys().auth_prefix("s1")),
            "{key}"
        );
    }
}

/// The client's persistence manager pairs a device, flushes it, and a brand-new store instance
/// (as after a worker restart) loads the very same identity.
#[tokio::test]
async fn device_survives_a_new_store_instance() {
    let server = RedisServer::start();
    let ring = keyring(&[("k1", 1)]);
    let (first, conn) = owned_store(&server, "s1", ring.clone()).await;
    let manager = PersistenceManager::new(Arc::new(first)).await.unwrap();
    manager
        .modify_device(|d| {
            d.push_name = "Restart Test".into();
            d.login_counter = 3;
        })
        .await;
    manager.flush().await.unwrap();
    let before = manager.get_device_snapshot();
    drop(manager);

    let second = EncryptedStore::new(
        conn,
        ring,
        &keys(),
        "s1",
        wa_worker::store::FenceToken::new("worker-2", 2),
    );
    let reloaded = PersistenceManager::new(Arc::new(second)).await.unwrap();
    let after = reloaded.get_device_snapshot();
    assert_eq!(after.push_name, "Restart Test");
    assert_eq!(after.login_counter, 3);
    assert_eq!(after.registration_id, before.registration_id);
    assert_eq!(
        after.identity_key.public_key.serialize(),
        before.identity_key.public_key.serialize()
    );
    assert_eq!(
        after.noise_key.private_key.serialize(),
        before.noise_key.private_key.serialize()
    );
    assert_eq!(after.adv_secret_key, before.adv_secret_key);
}
