//! App-state sync: sync keys (and which one is latest), collection versions (hash states) and the
//! mutation MACs of each collection.

use super::EncryptedStore;
use super::codec;
use std::collections::HashMap;
use whatsapp_rust::async_trait;
use whatsapp_rust::store::error::Result;
use whatsapp_rust::store::traits::{AppStateSyncKey, AppSyncStore};
use whatsapp_rust::wacore::appstate::hash::HashState;
use whatsapp_rust::wacore::appstate::processor::AppStateMutationMAC;

#[async_trait]
impl AppSyncStore for EncryptedStore {
    async fn get_sync_key(&self, key_id: &[u8]) -> Result<Option<AppStateSyncKey>> {
        let key = self.layout.sync_key();
        let value = self.hget_sealed(&key, key_id).await?;
        Ok(value.map(|v| codec::decode(&key, &v)).transpose()?)
    }

    async fn set_sync_key(&self, key_id: &[u8], sync_key: AppStateSyncKey) -> Result<()> {
        let key = self.layout.sync_key();
        let record = codec::encode(&key, &sync_key)?;
        let mut batch = self.batch();
        batch.hset(&key, key_id, &record);
        batch.set(&self.layout.sync_key_latest(), key_id);
        Ok(self.commit(batch).await?)
    }

    async fn get_version(&self, name: &str) -> Result<HashState> {
        let key = self.layout.app_version();
        let value = self.hget_sealed(&key, name.as_bytes()).await?;
        Ok(value
            .map(|v| codec::decode(&key, &v))
            .transpose()?
            .unwrap_or_default())
    }

    async fn set_version(&self, name: &str, state: HashState) -> Result<()> {
        let key = self.layout.app_version();
        let record = codec::encode(&key, &state)?;
        let mut batch = self.batch();
        batch.hset(&key, name.as_bytes(), &record);
        Ok(self.commit(batch).await?)
    }

    async fn put_mutation_macs(
        &self,
        name: &str,
        _version: u64,
        mutations: &[AppStateMutationMAC],
    ) -> Result<()> {
        let key = self.layout.mutation_mac(name);
        let mut batch = self.batch();
        for m in mutations {
            batch.hset(&key, &m.index_mac, &m.value_mac);
        }
        Ok(self.commit(batch).await?)
    }

    async fn get_mutation_mac(&self, name: &str, index_mac: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self
            .hget_sealed(&self.layout.mutation_mac(name), index_mac)
            .await?)
    }

    async fn get_mutation_macs(
        &self,
        name: &str,
        index_macs: &[[u8; 32]],
    ) -> Result<HashMap<[u8; 32], Vec<u8>>> {
        let fields: Vec<Vec<u8>> = index_macs.iter().map(|m| m.to_vec()).collect();
        let values = self
            .hmget_sealed(&self.layout.mutation_mac(name), &fields)
            .await?;
        Ok(index_macs
            .iter()
            .zip(values)
            .filter_map(|(index, value)| value.map(|v| (*index, v)))
            .collect())
    }

    async fn delete_mutation_macs(&self, name: &str, index_macs: &[Vec<u8>]) -> Result<()> {
        let key = self.layout.mutation_mac(name);
        let mut batch = self.batch();
        for index in index_macs {
            batch.hdel(&key, index);
        }
        Ok(self.commit(batch).await?)
    }

    async fn clear_mutation_macs(&self, name: &str) -> Result<()> {
        let mut batch = self.batch();
        batch.del(&self.layout.mutation_mac(name));
        Ok(self.commit(batch).await?)
    }

    async fn get_latest_sync_key_id(&self) -> Result<Option<Vec<u8>>> {
        Ok(self.get_sealed(&self.layout.sync_key_latest()).await?)
    }
}
