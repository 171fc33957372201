//! Signal protocol state: identities, sessions, pre-keys, signed pre-keys and sender keys. Raw
//! records are sealed as they come; batches are one fenced step each.

use super::EncryptedStore;
use super::codec;
use super::error::StoreResult;
use std::sync::Arc;
use whatsapp_rust::async_trait;
use whatsapp_rust::bytes::Bytes;
use whatsapp_rust::store::error::Result;
use whatsapp_rust::store::traits::SignalStore;

fn id_field(id: u32) -> Vec<u8> {
    id.to_string().into_bytes()
}

/// Whether a Signal address (`user@server` or `user:device@server`) belongs to `user`.
fn address_belongs_to(address: &[u8], user: &str) -> bool {
    address
        .strip_prefix(user.as_bytes())
        .is_some_and(|rest| rest.first().is_some_and(|b| *b == b'@' || *b == b':'))
}

impl EncryptedStore {
    async fn put_fields(&self, key: &str, entries: &[(Arc<str>, Bytes)]) -> StoreResult<()> {
        let mut batch = self.batch();
        for (field, value) in entries {
            batch.hset(key, field.as_bytes(), value);
        }
        self.commit(batch).await
    }

    async fn put_field(&self, key: &str, field: &[u8], value: &[u8]) -> StoreResult<()> {
        let mut batch = self.batch();
        batch.hset(key, field, value);
        self.commit(batch).await
    }

    pub(crate) async fn delete_field(&self, key: &str, field: &[u8]) -> StoreResult<()> {
        let mut batch = self.batch();
        batch.hdel(key, field);
        self.commit(batch).await
    }

    async fn any_field_of_user(&self, key: &str, user: &str) -> StoreResult<bool> {
        Ok(self
            .hkeys(key)
            .await?
            .iter()
            .any(|address| address_belongs_to(address, user)))
    }
}

#[async_trait]
impl SignalStore for EncryptedStore {
    async fn put_identity(&self, address: &str, key: [u8; 32]) -> Result<()> {
        Ok(self
            .put_field(&self.layout.identity(), address.as_bytes(), &key)
            .await?)
    }

    async fn put_identities_batch(&self, identities: &[(Arc<str>, [u8; 32])]) -> Result<()> {
        let key = self.layout.identity();
        let mut batch = self.batch();
        for (address, identity) in identities {
            batch.hset(&key, address.as_bytes(), identity);
        }
        Ok(self.commit(batch).await?)
    }

    async fn load_identity(&self, address: &str) -> Result<Option<[u8; 32]>> {
        let key = self.layout.identity();
        let value = self.hget_sealed(&key, address.as_bytes()).await?;
        Ok(value.map(|v| codec::fixed::<32>(&key, &v)).transpose()?)
    }

    async fn delete_identity(&self, address: &str) -> Result<()> {
        Ok(self
            .delete_field(&self.layout.identity(), address.as_bytes())
            .await?)
    }

    async fn get_session(&self, address: &str) -> Result<Option<Bytes>> {
        let value = self
            .hget_sealed(&self.layout.session(), address.as_bytes())
            .await?;
        Ok(value.map(Bytes::from))
    }

    async fn put_session(&self, address: &str, session: &[u8]) -> Result<()> {
        Ok(self
            .put_field(&self.layout.session(), address.as_bytes(), session)
            .await?)
    }

    async fn put_sessions_batch(&self, sessions: &[(Arc<str>, Bytes)]) -> Result<()> {
        Ok(self.put_fields(&self.layout.session(), sessions).await?)
    }

    async fn delete_session(&self, address: &str) -> Result<()> {
        Ok(self
            .delete_field(&self.layout.session(), address.as_bytes())
            .await?)
    }

    async fn has_session(&self, address: &str) -> Result<bool> {
        // Existence alone does not prove the value is intact; the client reads it before use,
        // and that read is where a corrupt value is refused.
        Ok(self
            .hexists(&self.layout.session(), address.as_bytes())
            .await?)
    }

    async fn has_signal_state_for_user(&self, user: &str) -> Result<bool> {
        Ok(self.any_field_of_user(&self.layout.session(), user).await?
            || self
                .any_field_of_user(&self.layout.identity(), user)
                .await?)
    }

    async fn store_prekey(&self, id: u32, record: &[u8], _uploaded: bool) -> Result<()> {
        Ok(self
            .put_field(&self.layout.prekey(), &id_field(id), record)
            .await?)
    }

    async fn store_prekeys_batch(&self, keys: &[(u32, Bytes)], _uploaded: bool) -> Result<()> {
        let key = self.layout.prekey();
        let mut batch = self.batch();
        for (id, record) in keys {
            batch.hset(&key, &id_field(*id), record);
        }
        Ok(self.commit(batch).await?)
    }

    async fn load_prekey(&self, id: u32) -> Result<Option<Bytes>> {
        let value = self
            .hget_sealed(&self.layout.prekey(), &id_field(id))
            .await?;
        Ok(value.map(Bytes::from))
    }

    async fn load_prekeys_batch(&self, ids: &[u32]) -> Result<Vec<(u32, Bytes)>> {
        let fields: Vec<Vec<u8>> = ids.iter().map(|id| id_field(*id)).collect();
        let values = self.hmget_sealed(&self.layout.prekey(), &fields).await?;
        Ok(ids
            .iter()
            .zip(values)
            .filter_map(|(id, value)| value.map(|v| (*id, Bytes::from(v))))
            .collect())
    }

    async fn mark_prekeys_uploaded(&self, _ids: &[u32]) -> Result<()> {
        // No store method reads the uploaded flag back (the device record's pre-key watermarks
        // carry that state), so there is nothing to update; and never inserting anything here is
        // exactly the contract: a consumed pre-key stays deleted.
        Ok(())
    }

    async fn remove_prekey(&self, id: u32) -> Result<()> {
        Ok(self
            .delete_field(&self.layout.prekey(), &id_field(id))
            .await?)
    }

    async fn get_max_prekey_id(&self) -> Result<u32> {
        let ids = self.hkeys(&self.layout.prekey()).await?;
        Ok(ids
            .iter()
            .filter_map(|f| std::str::from_utf8(f).ok()?.parse::<u32>().ok())
            .max()
            .unwrap_or(0))
    }

    async fn store_signed_prekey(&self, id: u32, record: &[u8]) -> Result<()> {
        Ok(self
            .put_field(&self.layout.signed_prekey(), &id_field(id), record)
            .await?)
    }

    async fn load_signed_prekey(&self, id: u32) -> Result<Option<Vec<u8>>> {
        Ok(self
            .hget_sealed(&self.layout.signed_prekey(), &id_field(id))
            .await?)
    }

    async fn load_all_signed_prekeys(&self) -> Result<Vec<(u32, Vec<u8>)>> {
        let all = self.hgetall_sealed(&self.layout.signed_prekey()).await?;
        Ok(all
            .into_iter()
            .filter_map(|(field, record)| {
                let id = std::str::from_utf8(&field).ok()?.parse::<u32>().ok()?;
                Some((id, record))
            })
            .collect())
    }

    async fn remove_signed_prekey(&self, id: u32) -> Result<()> {
        Ok(self
            .delete_field(&self.layout.signed_prekey(), &id_field(id))
            .await?)
    }

    async fn put_sender_key(&self, address: &str, record: &[u8]) -> Result<()> {
        Ok(self
            .put_field(&self.layout.sender_key(), address.as_bytes(), record)
            .await?)
    }

    async fn put_sender_keys_batch(&self, sender_keys: &[(Arc<str>, Bytes)]) -> Result<()> {
        Ok(self
            .put_fields(&self.layout.sender_key(), sender_keys)
            .await?)
    }

    async fn get_sender_key(&self, address: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .hget_sealed(&self.layout.sender_key(), address.as_bytes())
            .await?)
    }

    async fn delete_sender_key(&self, address: &str) -> Result<()> {
        Ok(self
            .delete_field(&self.layout.sender_key(), address.as_bytes())
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::address_belongs_to;

    #[test]
    fn addresses_match_their_user_only() {
        assert!(address_belongs_to(b"123@s.whatsapp.net", "123"));
        assert!(address_belongs_to(b"123:4@lid", "123"));
        assert!(!address_belongs_to(b"1234@s.whatsapp.net", "123"));
        assert!(!address_belongs_to(b"123", "123"));
    }
}
