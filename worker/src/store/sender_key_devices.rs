//! Per-group sender-key distribution status: one hash per group (`skd:<group>`), device JID ->
//! sealed `1` (has our sender key) or `0` (needs a fresh distribution message).

use super::EncryptedStore;
use super::error::StoreResult;

const HAS_KEY: &[u8] = b"1";
const NEEDS_KEY: &[u8] = b"0";

impl EncryptedStore {
    pub(crate) async fn sender_key_devices_of(
        &self,
        group_jid: &str,
    ) -> StoreResult<Vec<(String, bool)>> {
        let all = self
            .hgetall_sealed(&self.layout.sender_key_devices(group_jid))
            .await?;
        Ok(all
            .into_iter()
            .map(|(device, flag)| {
                (
                    String::from_utf8_lossy(&device).into_owned(),
                    flag == HAS_KEY,
                )
            })
            .collect())
    }

    pub(crate) async fn set_sender_key_devices(
        &self,
        group_jid: &str,
        entries: &[(&str, bool)],
    ) -> StoreResult<()> {
        let key = self.layout.sender_key_devices(group_jid);
        let mut batch = self.batch();
        for (device, has_key) in entries {
            batch.hset(
                &key,
                device.as_bytes(),
                if *has_key { HAS_KEY } else { NEEDS_KEY },
            );
        }
        self.commit(batch).await
    }

    pub(crate) async fn clear_sender_key_devices_of(&self, group_jid: &str) -> StoreResult<()> {
        let mut batch = self.batch();
        batch.del(&self.layout.sender_key_devices(group_jid));
        self.commit(batch).await
    }

    /// Every group hash that may exist, from the session's key registry.
    async fn sender_key_device_keys(&self) -> StoreResult<Vec<String>> {
        let prefix = self.layout.sender_key_devices_prefix();
        let members: Vec<String> =
            redis::AsyncCommands::smembers(&mut self.conn(), self.layout.registry()).await?;
        Ok(members
            .into_iter()
            .filter(|k| k.starts_with(&prefix))
            .collect())
    }

    pub(crate) async fn delete_sender_key_device_rows_everywhere(
        &self,
        device_jids: &[&str],
    ) -> StoreResult<()> {
        if device_jids.is_empty() {
            return Ok(());
        }
        let _guard = self.rmw.lock().await;
        let mut batch = self.batch();
        for key in self.sender_key_device_keys().await? {
            for device in device_jids {
                batch.hdel(&key, device.as_bytes());
            }
        }
        self.commit(batch).await
    }

    pub(crate) async fn clear_every_sender_key_device(&self) -> StoreResult<()> {
        let _guard = self.rmw.lock().await;
        let mut batch = self.batch();
        for key in self.sender_key_device_keys().await? {
            batch.del(&key);
        }
        self.commit(batch).await
    }
}
