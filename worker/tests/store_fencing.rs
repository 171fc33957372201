//! Fencing: once the session's lease names another owner (or is gone), every kind of write of the
//! old store fails with `Fenced` and leaves Redis exactly as it was.

mod store_redis_server;

use store_redis_server::{RedisServer, dump_all, keyring, keys, owned_store, set_lease};
use wa_worker::store::{AuthStoreError, FenceToken, auth_store_error};
use whatsapp_rust::bytes::Bytes;
use whatsapp_rust::store::error::StoreError;
use whatsapp_rust::store::traits::*;

fn assert_fenced(result: Result<impl std::fmt::Debug, StoreError>) {
    let err = result.expect_err("write must be refused");
    assert!(
        matches!(auth_store_error(&err), Some(AuthStoreError::Fenced { .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn writes_after_the_lease_moves_fail_and_write_nothing() {
    let server = RedisServer::start();
    let (store, mut conn) = owned_store(&server, "s1", keyring(&[("k1", 1)])).await;
    store.put_session("a@lid", b"v1").await.unwrap();
    store.store_sent_message("c", "M1", b"p").await.unwrap();
    assert!(!store.is_fenced());

    // Another worker claims the session (epoch 2).
    set_lease(&mut conn, "s1", &FenceToken::new("worker-2", 2)).await;
    let before = dump_all(&mut conn).await;

    assert_fenced(store.put_session("a@lid", b"v2").await);
    assert_fenced(
        store
            .put_sessions_batch(&[
                ("a@lid".into(), Bytes::from_static(b"v3")),
                ("b@lid".into(), Bytes::from_static(b"v3")),
            ])
            .await,
    );
    assert_fenced(
        store
            .put_sender_keys_batch(&[("g::a".into(), Bytes::from_static(b"sk"))])
            .await,
    );
    assert_fenced(
        store
            .store_prekeys_batch(&[(1, Bytes::from_static(b"pk"))], false)
            .await,
    );
    assert_fenced(store.delete_session("a@lid").await);
    assert_fenced(store.take_sent_message("c", "M1").await);
    assert_fenced(store.delete_expired_sent_messages(i64::MAX).await);
    assert_fenced(store.put_msg_secret("c", "me", "X", &[1; 32]).await);
    assert_fenced(
        store
            .put_lid_mapping(&LidPnMappingEntry {
                lid: "1".into(),
                phone_number: "2".into(),
                created_at: 0,
                updated_at: 0,
                learning_source: "usync".into(),
            })
            .await,
    );
    // The device does not exist yet, so create() has to write: fenced as well.
    assert_fenced(store.create().await);
    assert!(store.is_fenced());

    assert_eq!(dump_all(&mut conn).await, before, "nothing was written");
    // Reads still work and see the old owner's last committed value.
    assert_eq!(
        store.get_session("a@lid").await.unwrap().as_deref(),
        Some(&b"v1"[..])
    );
}

#[tokio::test]
async fn an_expired_lease_fences_too_and_the_new_owner_writes() {
    let server = RedisServer::start();
    let (old, mut conn) = owned_store(&server, "s1", keyring(&[("k1", 1)])).await;
    let _: () = redis::AsyncCommands::del(&mut conn, keys().lease("s1"))
        .await
        .unwrap();
    assert_fenced(old.put_identity("a@lid", [1; 32]).await);
    assert_eq!(old.load_identity("a@lid").await.unwrap(), None);

    let fence = FenceToken::new("worker-2", 2);
    set_lease(&mut conn, "s1", &fence).await;
    let new = wa_worker::store::EncryptedStore::new(
        conn.clone(),
        keyring(&[("k1", 1)]),
        &keys(),
        "s1",
        fence,
    );
    new.put_identity("a@lid", [2; 32]).await.unwrap();
    assert_eq!(old.load_identity("a@lid").await.unwrap(), Some([2; 32]));
    assert_fenced(old.put_identity("a@lid", [3; 32]).await);
    assert_eq!(new.load_identity("a@lid").await.unwrap(), Some([2; 32]));
}
