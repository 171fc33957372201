//! The two primitives every store method is built from: sealed reads (fetch, open, refuse what
//! does not authenticate) and fenced write batches (seal, then one `fenced_batch_write.lua` call).

use super::EncryptedStore;
use super::error::{AuthStoreError, Corruption, StoreResult};
use redis::AsyncCommands;
use wa_shared::envelope::{Keyring, aad};
use wa_shared::scripts;

/// Writes collected for one atomic, fenced step. Values are sealed as they are added.
pub(crate) struct WriteBatch<'a> {
    keyring: &'a Keyring,
    keys: Vec<String>,
    args: Vec<Vec<u8>>,
}

impl<'a> WriteBatch<'a> {
    pub fn new(keyring: &'a Keyring) -> Self {
        Self {
            keyring,
            keys: Vec::new(),
            args: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.args.is_empty()
    }

    /// Index of `key` in the script's KEYS (the lease is 1 and the registry 2).
    fn key_ref(&mut self, key: &str) -> Vec<u8> {
        let pos = match self.keys.iter().position(|k| k == key) {
            Some(pos) => pos,
            None => {
                self.keys.push(key.to_string());
                self.keys.len() - 1
            }
        };
        (pos + 3).to_string().into_bytes()
    }

    fn op(&mut self, code: &[u8], key: &str, operands: Vec<Vec<u8>>) {
        let key_ref = self.key_ref(key);
        self.args.push(code.to_vec());
        self.args.push(key_ref);
        self.args.extend(operands);
    }

    /// SET `key` to `plaintext`, sealed.
    pub fn set(&mut self, key: &str, plaintext: &[u8]) {
        let sealed = self.keyring.seal(&aad(key, b""), plaintext);
        self.op(b"S", key, vec![sealed]);
    }

    /// HSET `key` `field` to `plaintext`, sealed.
    pub fn hset(&mut self, key: &str, field: &[u8], plaintext: &[u8]) {
        let sealed = self.keyring.seal(&aad(key, field), plaintext);
        self.op(b"H", key, vec![field.to_vec(), sealed]);
    }

    pub fn hdel(&mut self, key: &str, field: &[u8]) {
        self.op(b"D", key, vec![field.to_vec()]);
    }

    pub fn del(&mut self, key: &str) {
        self.op(b"X", key, Vec::new());
    }

    /// ZADD to an index (member is a field name, score a timestamp; neither is secret).
    pub fn zadd(&mut self, key: &str, member: &[u8], score: i64) {
        self.op(
            b"Z",
            key,
            vec![member.to_vec(), score.to_string().into_bytes()],
        );
    }

    pub fn zrem(&mut self, key: &str, member: &[u8]) {
        self.op(b"R", key, vec![member.to_vec()]);
    }
}

impl EncryptedStore {
    pub(crate) fn batch(&self) -> WriteBatch<'_> {
        WriteBatch::new(&self.keyring)
    }

    pub(crate) fn conn(&self) -> redis::aio::ConnectionManager {
        self.conn.clone()
    }

    pub(crate) fn lease_key(&self) -> &str {
        &self.lease_key
    }

    /// Applies `batch` in one fenced step; returns once Redis has acknowledged it.
    pub(crate) async fn commit(&self, batch: WriteBatch<'_>) -> StoreResult<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut invocation = scripts::FENCED_BATCH_WRITE.prepare_invoke();
        invocation.key(&self.lease_key).key(self.layout.registry());
        for key in &batch.keys {
            invocation.key(key);
        }
        let marks: String = {
            let registered = self.registered_keys();
            batch
                .keys
                .iter()
                .map(|key| if registered.contains(key) { '0' } else { '1' })
                .collect()
        };
        invocation.arg(self.fence.lease_value()).arg(marks);
        for arg in &batch.args {
            invocation.arg(arg.as_slice());
        }
        let applied: i64 = invocation.invoke_async(&mut self.conn()).await?;
        if applied == 1 {
            self.registered_keys().extend(batch.keys);
            Ok(())
        } else {
            Err(self.record_fenced())
        }
    }

    /// Opens a value read from `key`/`field`; a value that does not authenticate is recorded and
    /// refused.
    pub(crate) fn open_value(
        &self,
        key: &str,
        field: &[u8],
        sealed: &[u8],
    ) -> StoreResult<Vec<u8>> {
        self.keyring
            .open(&aad(key, field), sealed)
            .map_err(|reason| {
                let corruption = Corruption {
                    key: key.to_string(),
                    field: String::from_utf8_lossy(field).into_owned(),
                    reason,
                };
                self.record_corruption(&corruption);
                AuthStoreError::AuthStateCorrupt(corruption)
            })
    }

    /// GET and open a string key.
    pub(crate) async fn get_sealed(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        let raw: Option<Vec<u8>> = self.conn().get(key).await?;
        raw.map(|sealed| self.open_value(key, b"", &sealed))
            .transpose()
    }

    /// HGET and open one field.
    pub(crate) async fn hget_sealed(
        &self,
        key: &str,
        field: &[u8],
    ) -> StoreResult<Option<Vec<u8>>> {
        let raw: Option<Vec<u8>> = self.conn().hget(key, field).await?;
        raw.map(|sealed| self.open_value(key, field, &sealed))
            .transpose()
    }

    /// HMGET and open many fields, in the order asked.
    pub(crate) async fn hmget_sealed(
        &self,
        key: &str,
        fields: &[Vec<u8>],
    ) -> StoreResult<Vec<Option<Vec<u8>>>> {
        if fields.is_empty() {
            return Ok(Vec::new());
        }
        let raw: Vec<Option<Vec<u8>>> = redis::cmd("HMGET")
            .arg(key)
            .arg(fields)
            .query_async(&mut self.conn())
            .await?;
        raw.into_iter()
            .zip(fields)
            .map(|(value, field)| {
                value
                    .map(|sealed| self.open_value(key, field, &sealed))
                    .transpose()
            })
            .collect()
    }

    /// HGETALL and open every value.
    pub(crate) async fn hgetall_sealed(&self, key: &str) -> StoreResult<Vec<(Vec<u8>, Vec<u8>)>> {
        let raw: std::collections::HashMap<Vec<u8>, Vec<u8>> = self.conn().hgetall(key).await?;
        raw.into_iter()
            .map(|(field, sealed)| {
                let plain = self.open_value(key, &field, &sealed)?;
                Ok((field, plain))
            })
            .collect()
    }

    /// Field names of a hash (no values are opened).
    pub(crate) async fn hkeys(&self, key: &str) -> StoreResult<Vec<Vec<u8>>> {
        Ok(self.conn().hkeys(key).await?)
    }

    pub(crate) async fn hexists(&self, key: &str, field: &[u8]) -> StoreResult<bool> {
        Ok(self.conn().hexists(key, field).await?)
    }
}
