//! whatsapp-rust's `ProtocolStore`: sender-key device tracking, LID/PN mappings, base-key
//! collision detection, device lists, group metadata, trusted-contact tokens, sent messages and
//! the pending-inbound buffer. The larger concerns live in their own files; this maps the trait.

use super::EncryptedStore;
use super::codec;
use super::layout::composite_field;
use whatsapp_rust::async_trait;
use whatsapp_rust::store::error::Result;
use whatsapp_rust::store::traits::{
    DeviceListRecord, LidPnMappingEntry, PendingInboundKey, PendingInboundRow, ProtocolStore,
    TcTokenEntry,
};

#[async_trait]
impl ProtocolStore for EncryptedStore {
    async fn get_sender_key_devices(&self, group_jid: &str) -> Result<Vec<(String, bool)>> {
        Ok(self.sender_key_devices_of(group_jid).await?)
    }

    async fn set_sender_key_status(&self, group_jid: &str, entries: &[(&str, bool)]) -> Result<()> {
        Ok(self.set_sender_key_devices(group_jid, entries).await?)
    }

    async fn clear_sender_key_devices(&self, group_jid: &str) -> Result<()> {
        Ok(self.clear_sender_key_devices_of(group_jid).await?)
    }

    async fn delete_sender_key_device_rows(&self, device_jids: &[&str]) -> Result<()> {
        Ok(self
            .delete_sender_key_device_rows_everywhere(device_jids)
            .await?)
    }

    async fn clear_all_sender_key_devices(&self) -> Result<()> {
        Ok(self.clear_every_sender_key_device().await?)
    }

    async fn get_lid_mapping(&self, lid: &str) -> Result<Option<LidPnMappingEntry>> {
        Ok(self.lid_mapping(lid).await?)
    }

    async fn get_pn_mapping(&self, phone: &str) -> Result<Option<LidPnMappingEntry>> {
        Ok(self.pn_mapping(phone).await?)
    }

    async fn put_lid_mapping(&self, entry: &LidPnMappingEntry) -> Result<()> {
        Ok(self
            .put_lid_mapping_entries(std::slice::from_ref(entry))
            .await?)
    }

    async fn put_lid_mappings(&self, entries: &[LidPnMappingEntry]) -> Result<()> {
        Ok(self.put_lid_mapping_entries(entries).await?)
    }

    async fn get_all_lid_mappings(&self) -> Result<Vec<LidPnMappingEntry>> {
        Ok(self.all_lid_mappings().await?)
    }

    async fn save_base_key(&self, address: &str, message_id: &str, base_key: &[u8]) -> Result<()> {
        let mut batch = self.batch();
        batch.hset(
            &self.layout.base_key(),
            &composite_field(&[address, message_id]),
            base_key,
        );
        Ok(self.commit(batch).await?)
    }

    async fn has_same_base_key(
        &self,
        address: &str,
        message_id: &str,
        current_base_key: &[u8],
    ) -> Result<bool> {
        let stored = self
            .hget_sealed(
                &self.layout.base_key(),
                &composite_field(&[address, message_id]),
            )
            .await?;
        Ok(stored.is_some_and(|s| s == current_base_key))
    }

    async fn delete_base_key(&self, address: &str, message_id: &str) -> Result<()> {
        Ok(self
            .delete_field(
                &self.layout.base_key(),
                &composite_field(&[address, message_id]),
            )
            .await?)
    }

    async fn update_device_list(&self, record: DeviceListRecord) -> Result<()> {
        self.update_device_lists(vec![record]).await
    }

    async fn update_device_lists(&self, records: Vec<DeviceListRecord>) -> Result<()> {
        let key = self.layout.device_list();
        let mut batch = self.batch();
        for record in &records {
            batch.hset(&key, record.user.as_bytes(), &codec::encode(&key, record)?);
        }
        Ok(self.commit(batch).await?)
    }

    async fn get_devices(&self, user: &str) -> Result<Option<DeviceListRecord>> {
        let key = self.layout.device_list();
        let value = self.hget_sealed(&key, user.as_bytes()).await?;
        Ok(value.map(|v| codec::decode(&key, &v)).transpose()?)
    }

    async fn delete_devices(&self, user: &str) -> Result<()> {
        Ok(self
            .delete_field(&self.layout.device_list(), user.as_bytes())
            .await?)
    }

    async fn get_group_metadata(&self, group_jid: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .hget_sealed(&self.layout.group_metadata(), group_jid.as_bytes())
            .await?)
    }

    async fn put_group_metadata(&self, group_jid: &str, blob: &[u8]) -> Result<()> {
        let mut batch = self.batch();
        batch.hset(&self.layout.group_metadata(), group_jid.as_bytes(), blob);
        Ok(self.commit(batch).await?)
    }

    async fn delete_group_metadata(&self, group_jid: &str) -> Result<()> {
        Ok(self
            .delete_field(&self.layout.group_metadata(), group_jid.as_bytes())
            .await?)
    }

    async fn get_tc_token(&self, jid: &str) -> Result<Option<TcTokenEntry>> {
        Ok(self.tc_token(jid).await?)
    }

    async fn put_tc_token(&self, jid: &str, entry: &TcTokenEntry) -> Result<()> {
        Ok(self.put_tc_token_entry(jid, entry).await?)
    }

    async fn delete_tc_token(&self, jid: &str) -> Result<()> {
        let _guard = self.rmw.lock().await;
        Ok(self
            .delete_field(&self.layout.tc_token(), jid.as_bytes())
            .await?)
    }

    async fn get_all_tc_token_jids(&self) -> Result<Vec<String>> {
        Ok(self.tc_token_jids().await?)
    }

    async fn delete_expired_tc_tokens(&self, token_cutoff: i64, sender_cutoff: i64) -> Result<u32> {
        Ok(self
            .delete_stale_tc_tokens(token_cutoff, sender_cutoff)
            .await?)
    }

    async fn touch_tc_token_sender_timestamp(
        &self,
        jid: &str,
        sender_timestamp: i64,
    ) -> Result<()> {
        Ok(self
            .advance_tc_sender_timestamp(jid, sender_timestamp)
            .await?)
    }

    async fn store_received_tc_token(
        &self,
        jid: &str,
        token: &[u8],
        token_timestamp: i64,
    ) -> Result<()> {
        Ok(self
            .accept_received_tc_token(jid, token, token_timestamp)
            .await?)
    }

    async fn store_sent_message(
        &self,
        chat_jid: &str,
        message_id: &str,
        payload: &[u8],
    ) -> Result<()> {
        Ok(self.put_sent_message(chat_jid, message_id, payload).await?)
    }

    async fn take_sent_message(&self, chat_jid: &str, message_id: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.take_sent(chat_jid, message_id).await?)
    }

    async fn delete_expired_sent_messages(&self, cutoff_timestamp: i64) -> Result<u32> {
        // Rows stored strictly before the cutoff go.
        Ok(self
            .delete_aged(
                &self.layout.sent_message(),
                &self.layout.sent_message_age(),
                format!("({cutoff_timestamp}"),
            )
            .await?)
    }

    async fn store_pending_inbound(
        &self,
        chat: &str,
        sender: &str,
        id: &str,
        message: &[u8],
    ) -> Result<()> {
        Ok(self
            .put_pending_inbound(&[PendingInboundRow {
                chat,
                sender,
                id,
                message,
            }])
            .await?)
    }

    async fn get_pending_inbound(
        &self,
        chat: &str,
        sender: &str,
        id: &str,
    ) -> Result<Option<Vec<u8>>> {
        Ok(self.pending_inbound(chat, sender, id).await?)
    }

    async fn delete_pending_inbound(&self, chat: &str, sender: &str, id: &str) -> Result<()> {
        Ok(self
            .remove_pending_inbound(&[PendingInboundKey { chat, sender, id }])
            .await?)
    }

    async fn delete_expired_pending_inbound(&self, cutoff_timestamp: i64) -> Result<u32> {
        Ok(self
            .delete_aged(
                &self.layout.pending_inbound(),
                &self.layout.pending_inbound_age(),
                format!("({cutoff_timestamp}"),
            )
            .await?)
    }

    async fn store_pending_inbound_batch(&self, rows: &[PendingInboundRow<'_>]) -> Result<()> {
        Ok(self.put_pending_inbound(rows).await?)
    }

    async fn delete_pending_inbound_batch(&self, keys: &[PendingInboundKey<'_>]) -> Result<()> {
        Ok(self.remove_pending_inbound(keys).await?)
    }
}
