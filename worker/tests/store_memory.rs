//! Benchmark (ignored by default): Redis memory per paired session in `EncryptedStore`.
//!
//! Run: `cargo test --release -p wa-worker --test store_memory -- --ignored --nocapture`
//! (`STORE_BENCH_SESSIONS` sets the session count, default 200).
//!
//! Each session gets what pairing leaves behind: the device record, 812 one-time pre-keys (the
//! count whatsapp-rust uploads, encoded exactly as it encodes them) and the signed pre-key; the
//! "active" figure adds 20 contacts (identity, a 1 KiB Signal session record, a device list and a
//! LID mapping each), 5 app-state collection versions and 3 sync keys.

mod store_redis_server;

use std::sync::Arc;
use store_redis_server::{RedisServer, keyring, owned_store};
use wa_worker::store::EncryptedStore;
use whatsapp_rust::bytes::Bytes;
use whatsapp_rust::store::traits::*;
use whatsapp_rust::wacore::appstate::hash::HashState;
use whatsapp_rust::wacore::libsignal::store::record_helpers::encode_pre_key_record_to;

async fn used_memory(conn: &mut redis::aio::ConnectionManager) -> i64 {
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory in INFO")
}

async fn pair(store: &EncryptedStore) {
    store.create().await.unwrap();
    let device = store.load().await.unwrap().unwrap();
    let prekeys: Vec<(u32, Bytes)> = (1..=812u32)
        .map(|id| {
            let mut record = Vec::new();
            encode_pre_key_record_to(id, &device.signed_pre_key, &mut record);
            (id, Bytes::from(record))
        })
        .collect();
    store.store_prekeys_batch(&prekeys, true).await.unwrap();
    let mut signed = Vec::new();
    encode_pre_key_record_to(
        device.signed_pre_key_id,
        &device.signed_pre_key,
        &mut signed,
    );
    store
        .store_signed_prekey(device.signed_pre_key_id, &signed)
        .await
        .unwrap();
    store.save(&device).await.unwrap();
}

async fn activate(store: &EncryptedStore) {
    let mut sessions = Vec::new();
    let mut identities = Vec::new();
    for c in 0..20 {
        let address: Arc<str> = format!("55119{c:08}:0@s.whatsapp.net").into();
        sessions.push((address.clone(), Bytes::from(vec![c as u8; 1024])));
        identities.push((address, [c as u8; 32]));
        store
            .update_device_list(DeviceListRecord {
                user: format!("55119{c:08}"),
                devices: vec![DeviceInfo::new(0, None), DeviceInfo::new(1, Some(1))],
                timestamp: 1_700_000_000,
                phash: Some("2:abcdef".into()),
                raw_id: Some(1),
            })
            .await
            .unwrap();
        store
            .put_lid_mapping(&LidPnMappingEntry {
                lid: format!("1000000{c:08}"),
                phone_number: format!("55119{c:08}"),
                created_at: 1_700_000_000,
                updated_at: 1_700_000_000,
                learning_source: "usync".into(),
            })
            .await
            .unwrap();
    }
    store.put_sessions_batch(&sessions).await.unwrap();
    store.put_identities_batch(&identities).await.unwrap();
    for name in [
        "regular",
        "regular_low",
        "regular_high",
        "critical_block",
        "critical_unblock_low",
    ] {
        let state = HashState {
            version: 3,
            ..Default::default()
        };
        store.set_version(name, state).await.unwrap();
    }
    for k in 0..3u8 {
        let key = AppStateSyncKey {
            key_data: vec![k; 32],
            fingerprint: vec![k; 12],
            timestamp: 1_700_000_000,
        };
        store.set_sync_key(&[0, 0, 0, k], key).await.unwrap();
    }
}

#[tokio::test]
#[ignore = "benchmark; run with --ignored --nocapture"]
async fn redis_memory_per_paired_session() {
    let sessions: usize = std::env::var("STORE_BENCH_SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let server = RedisServer::start();
    let ring = keyring(&[("k1", 1)]);
    let (_, mut conn) = owned_store(&server, "warmup", ring.clone()).await;
    let base = used_memory(&mut conn).await;

    let mut stores = Vec::new();
    for i in 0..sessions {
        let (store, _) = owned_store(&server, &format!("sess-{i:05}"), ring.clone()).await;
        pair(&store).await;
        stores.push(store);
    }
    let paired = used_memory(&mut conn).await;
    for store in &stores {
        activate(store).await;
    }
    let active = used_memory(&mut conn).await;

    let per_paired = (paired - base) / sessions as i64;
    let per_active = (active - base) / sessions as i64;
    println!(
        "sessions={sessions} paired={per_paired} B/session ({:.1} KiB) active={per_active} B/session ({:.1} KiB)",
        per_paired as f64 / 1024.0,
        per_active as f64 / 1024.0
    );
    assert!(per_paired > 812 * 70, "every pre-key is stored");
    assert!(per_active > per_paired);
}
