//! Integrity of stored auth state: a tampered or misplaced value is refused (and recorded as
//! corruption), old keys still open after rotation, and a wipe removes exactly one session.

mod store_redis_server;

use redis::AsyncCommands;
use store_redis_server::{RedisServer, keyring, keys, keys_matching, owned_store};
use wa_shared::envelope::OpenError;
use wa_worker::store::{AuthStoreError, EncryptedStore, FenceToken, auth_store_error, wipe};
use whatsapp_rust::store::traits::*;

fn corrupt_reason(err: &whatsapp_rust::store::error::StoreError) -> OpenError {
    match auth_store_error(err) {
        Some(AuthStoreError::AuthStateCorrupt(c)) => c.reason.clone(),
        other => panic!("expected AuthStateCorrupt, got {other:?} from {err:?}"),
    }
}

#[tokio::test]
async fn a_flipped_byte_fails_the_read_with_the_corrupt_error() {
    let server = RedisServer::start();
    let (store, mut conn) = owned_store(&server, "s1", keyring(&[("k1", 1)])).await;
    store.put_session("a@lid", b"ratchet state").await.unwrap();
    store.put_session("b@lid", b"other state").await.unwrap();
    store.create().await.unwrap();
    let session_key = store.layout().session();

    let mut raw: Vec<u8> = conn.hget(&session_key, "a@lid").await.unwrap();
    let last = raw.len() - 1;
    raw[last / 2] ^= 0x40;
    let _: () = conn.hset(&session_key, "a@lid", raw).await.unwrap();
    let device_before: Vec<u8> = conn.get(store.layout().device()).await.unwrap();

    let err = store.get_session("a@lid").await.unwrap_err();
    assert_eq!(corrupt_reason(&err), OpenError::Rejected);
    let corruption = store.corruption().expect("recorded for the runtime");
    assert_eq!(corruption.key, session_key);
    assert_eq!(
        auth_store_error(&err).unwrap().session_error_code(),
        Some("auth_state_corrupt")
    );
    // The message never quotes the field (a contact address) or any value byte.
    let text = auth_store_error(&err).unwrap().to_string();
    assert!(
        text.contains("failed authentication") && !text.contains("a@lid"),
        "{text}"
    );

    // Nothing else is touched: the other values still open, the corrupt one is left in place.
    assert_eq!(
        store.get_session("b@lid").await.unwrap().as_deref(),
        Some(&b"other state"[..])
    );
    let device_after: Vec<u8> = conn.get(store.layout().device()).await.unwrap();
    assert_eq!(device_before, device_after);
    assert!(
        conn.hexists::<_, _, bool>(&session_key, "a@lid")
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_tampered_device_record_fails_load() {
    let server = RedisServer::start();
    let (store, mut conn) = owned_store(&server, "s1", keyring(&[("k1", 1)])).await;
    store.create().await.unwrap();
    let key = store.layout().device();
    let mut raw: Vec<u8> = conn.get(&key).await.unwrap();
    raw.truncate(10);
    let _: () = conn.set(&key, raw).await.unwrap();
    let Err(err) = store.load().await else {
        panic!("a truncated device record must not load")
    };
    assert!(matches!(corrupt_reason(&err), OpenError::Malformed(_)));
    assert!(store.corruption().is_some());
}

#[tokio::test]
async fn a_value_moved_to_another_field_or_session_does_not_open() {
    let server = RedisServer::start();
    let ring = keyring(&[("k1", 1)]);
    let (s1, mut conn) = owned_store(&server, "s1", ring.clone()).await;
    let (s2, _) = owned_store(&server, "s2", ring.clone()).await;
    s1.put_identity("a@lid", [9; 32]).await.unwrap();
    let raw: Vec<u8> = conn.hget(s1.layout().identity(), "a@lid").await.unwrap();

    let _: () = conn
        .hset(s1.layout().identity(), "b@lid", &raw)
        .await
        .unwrap();
    assert_eq!(
        corrupt_reason(&s1.load_identity("b@lid").await.unwrap_err()),
        OpenError::Rejected
    );

    let _: () = conn
        .hset(s2.layout().identity(), "a@lid", &raw)
        .await
        .unwrap();
    assert_eq!(
        corrupt_reason(&s2.load_identity("a@lid").await.unwrap_err()),
        OpenError::Rejected
    );
}

#[tokio::test]
async fn values_sealed_with_an_old_key_open_while_it_is_a_secondary_key() {
    let server = RedisServer::start();
    let (old_store, mut conn) = owned_store(&server, "s1", keyring(&[("old", 1)])).await;
    old_store.create().await.unwrap();
    old_store
        .put_session("a@lid", b"sealed with old")
        .await
        .unwrap();
    let device = old_store.load().await.unwrap().unwrap();

    let fence = FenceToken::new("worker-1", 1);
    let rotated = EncryptedStore::new(
        conn.clone(),
        keyring(&[("new", 2), ("old", 1)]),
        &keys(),
        "s1",
        fence.clone(),
    );
    assert_eq!(
        rotated.get_session("a@lid").await.unwrap().as_deref(),
        Some(&b"sealed with old"[..])
    );
    assert_eq!(
        rotated.load().await.unwrap().unwrap().registration_id,
        device.registration_id
    );

    // New writes use the new active key.
    rotated
        .put_session("b@lid", b"sealed with new")
        .await
        .unwrap();
    let raw: Vec<u8> = conn
        .hget(rotated.layout().session(), "b@lid")
        .await
        .unwrap();
    assert_eq!(&raw[1..5], b"\x03new");

    // Without the old key, old values are refused as corrupt (unknown key id), never misread.
    let new_only = EncryptedStore::new(conn.clone(), keyring(&[("new", 2)]), &keys(), "s1", fence);
    assert_eq!(
        new_only.get_session("b@lid").await.unwrap().as_deref(),
        Some(&b"sealed with new"[..])
    );
    let err = new_only.get_session("a@lid").await.unwrap_err();
    assert_eq!(corrupt_reason(&err), OpenError::UnknownKey("old".into()));
}

#[tokio::test]
async fn wipe_removes_every_key_of_one_session_and_nothing_of_another() {
    let server = RedisServer::start();
    let ring = keyring(&[("k1", 1)]);
    let (s1, mut conn) = owned_store(&server, "s1", ring.clone()).await;
    let (s2, _) = owned_store(&server, "s2", ring.clone()).await;
    for store in [&s1, &s2] {
        store.create().await.unwrap();
        store.put_session("a@lid", b"x").await.unwrap();
        store
            .set_sender_key_status("g@g.us", &[("d@lid", true)])
            .await
            .unwrap();
        store
            .put_mutation_macs(
                "regular",
                1,
                &[
                    whatsapp_rust::wacore::appstate::processor::AppStateMutationMAC {
                        index_mac: vec![1; 32],
                        value_mac: vec![2; 32],
                    },
                ],
            )
            .await
            .unwrap();
        store.store_sent_message("c", "M", b"p").await.unwrap();
        store
            .put_msg_secret("c", "me", "M", &[1; 32])
            .await
            .unwrap();
    }
    let _: () = conn.set("wa:session:{s1}", "not auth state").await.unwrap();
    let s1_pattern = format!("{}*", keys().auth_prefix("s1"));
    let s2_before = {
        let pattern = format!("{}*", keys().auth_prefix("s2"));
        keys_matching(&mut conn, &pattern).await
    };
    assert!(keys_matching(&mut conn, &s1_pattern).await.len() >= 7);

    let deleted = wipe(&mut conn, &keys(), "s1").await.unwrap();
    assert!(deleted >= 7, "{deleted}");
    assert!(keys_matching(&mut conn, &s1_pattern).await.is_empty());
    let pattern = format!("{}*", keys().auth_prefix("s2"));
    assert_eq!(keys_matching(&mut conn, &pattern).await, s2_before);
    assert_eq!(
        s2.get_session("a@lid").await.unwrap().as_deref(),
        Some(&b"x"[..])
    );
    assert!(conn.exists::<_, bool>("wa:session:{s1}").await.unwrap());
    assert!(conn.exists::<_, bool>(keys().lease("s1")).await.unwrap());
    assert!(s1.load().await.unwrap().is_none());
    // Wiping again is harmless.
    assert_eq!(wipe(&mut conn, &keys(), "s1").await.unwrap(), 0);
}
