//! LID <-> phone-number mappings: `lid_pn` (LID -> sealed entry) and its reverse index `pn_lid`
//! (phone -> sealed LID), kept consistent in one fenced step per update.

use super::EncryptedStore;
use super::codec;
use super::error::StoreResult;
use std::collections::HashMap;
use whatsapp_rust::store::traits::LidPnMappingEntry;

impl EncryptedStore {
    pub(crate) async fn lid_mapping(&self, lid: &str) -> StoreResult<Option<LidPnMappingEntry>> {
        let key = self.layout.lid_to_pn();
        let value = self.hget_sealed(&key, lid.as_bytes()).await?;
        value.map(|v| codec::decode(&key, &v)).transpose()
    }

    pub(crate) async fn pn_mapping(&self, phone: &str) -> StoreResult<Option<LidPnMappingEntry>> {
        let lid = self
            .hget_sealed(&self.layout.pn_to_lid(), phone.as_bytes())
            .await?;
        match lid {
            Some(lid) => self.lid_mapping(&String::from_utf8_lossy(&lid)).await,
            None => Ok(None),
        }
    }

    /// Stores the entries in order (a later entry for the same LID wins) and drops a phone
    /// number's reverse entry when its LID moves to another number.
    pub(crate) async fn put_lid_mapping_entries(
        &self,
        entries: &[LidPnMappingEntry],
    ) -> StoreResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let forward = self.layout.lid_to_pn();
        let reverse = self.layout.pn_to_lid();
        let _guard = self.rmw.lock().await;
        // The phone number each LID maps to now, as this batch goes along.
        let mut current: HashMap<&str, Option<String>> = HashMap::new();
        let mut batch = self.batch();
        for entry in entries {
            let old_phone = match current.get(entry.lid.as_str()) {
                Some(phone) => phone.clone(),
                None => self.lid_mapping(&entry.lid).await?.map(|e| e.phone_number),
            };
            if let Some(old_phone) = old_phone.filter(|p| *p != entry.phone_number) {
                batch.hdel(&reverse, old_phone.as_bytes());
            }
            batch.hset(
                &forward,
                entry.lid.as_bytes(),
                &codec::encode(&forward, entry)?,
            );
            batch.hset(
                &reverse,
                entry.phone_number.as_bytes(),
                entry.lid.as_bytes(),
            );
            current.insert(&entry.lid, Some(entry.phone_number.clone()));
        }
        self.commit(batch).await
    }

    pub(crate) async fn all_lid_mappings(&self) -> StoreResult<Vec<LidPnMappingEntry>> {
        let key = self.layout.lid_to_pn();
        self.hgetall_sealed(&key)
            .await?
            .into_iter()
            .map(|(_, v)| codec::decode(&key, &v))
            .collect()
    }
}
