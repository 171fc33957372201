//! Trusted-contact privacy tokens: `tc_token` hash, JID -> sealed entry. The two writers (the
//! received token and our sender timestamp) each own their part of an entry; merges run under the
//! store's read-modify-write lock and commit in one fenced step.

use super::EncryptedStore;
use super::codec;
use super::error::StoreResult;
use whatsapp_rust::store::traits::TcTokenEntry;

impl EncryptedStore {
    pub(crate) async fn tc_token(&self, jid: &str) -> StoreResult<Option<TcTokenEntry>> {
        let key = self.layout.tc_token();
        let value = self.hget_sealed(&key, jid.as_bytes()).await?;
        value.map(|v| codec::decode(&key, &v)).transpose()
    }

    async fn write_tc_token(&self, jid: &str, entry: &TcTokenEntry) -> StoreResult<()> {
        let key = self.layout.tc_token();
        let record = codec::encode(&key, entry)?;
        let mut batch = self.batch();
        batch.hset(&key, jid.as_bytes(), &record);
        self.commit(batch).await
    }

    pub(crate) async fn put_tc_token_entry(
        &self,
        jid: &str,
        entry: &TcTokenEntry,
    ) -> StoreResult<()> {
        let _guard = self.rmw.lock().await;
        self.write_tc_token(jid, entry).await
    }

    pub(crate) async fn tc_token_jids(&self) -> StoreResult<Vec<String>> {
        Ok(self
            .hkeys(&self.layout.tc_token())
            .await?
            .into_iter()
            .map(|f| String::from_utf8_lossy(&f).into_owned())
            .collect())
    }

    /// Removes entries whose received token and sender bucket are both stale.
    pub(crate) async fn delete_stale_tc_tokens(
        &self,
        token_cutoff: i64,
        sender_cutoff: i64,
    ) -> StoreResult<u32> {
        let key = self.layout.tc_token();
        let _guard = self.rmw.lock().await;
        let mut batch = self.batch();
        let mut removed = 0u32;
        for (jid, value) in self.hgetall_sealed(&key).await? {
            let entry: TcTokenEntry = codec::decode(&key, &value)?;
            let token_live = !entry.token.is_empty() && entry.token_timestamp >= token_cutoff;
            let sender_live = entry.sender_timestamp.is_some_and(|ts| ts >= sender_cutoff);
            if !token_live && !sender_live {
                batch.hdel(&key, &jid);
                removed += 1;
            }
        }
        self.commit(batch).await?;
        Ok(removed)
    }

    /// Moves our sender timestamp forward (never back), creating a token-less entry if needed.
    pub(crate) async fn advance_tc_sender_timestamp(
        &self,
        jid: &str,
        sender_timestamp: i64,
    ) -> StoreResult<()> {
        let _guard = self.rmw.lock().await;
        let entry = match self.tc_token(jid).await? {
            Some(mut entry) => {
                entry.sender_timestamp = Some(
                    entry
                        .sender_timestamp
                        .map_or(sender_timestamp, |t| t.max(sender_timestamp)),
                );
                entry
            }
            None => TcTokenEntry {
                token: Vec::new(),
                token_timestamp: sender_timestamp,
                sender_timestamp: Some(sender_timestamp),
            },
        };
        self.write_tc_token(jid, &entry).await
    }

    /// Stores a received token unless a fresher real token is already there; keeps our sender
    /// timestamp.
    pub(crate) async fn accept_received_tc_token(
        &self,
        jid: &str,
        token: &[u8],
        token_timestamp: i64,
    ) -> StoreResult<()> {
        let _guard = self.rmw.lock().await;
        let existing = self.tc_token(jid).await?;
        if let Some(existing) = &existing
            && !existing.token.is_empty()
            && token_timestamp < existing.token_timestamp
        {
            return Ok(());
        }
        let entry = TcTokenEntry {
            token: token.to_vec(),
            token_timestamp,
            sender_timestamp: existing.and_then(|e| e.sender_timestamp),
        };
        self.write_tc_token(jid, &entry).await
    }
}
