//! The device record (identity, noise and signed pre-keys, account, counters): one sealed string
//! per session. A store holds exactly one device, so `create` only materialises it.

use super::EncryptedStore;
use super::codec;
use super::error::AuthStoreError;
use whatsapp_rust::async_trait;
use whatsapp_rust::store::error::Result;
use whatsapp_rust::store::traits::DeviceStore;
use whatsapp_rust::wacore::stats::StorageResourceReport;
use whatsapp_rust::wacore::store::Device;

/// The id `create` reports: one session's store holds one device.
const DEVICE_ID: i32 = 1;

#[async_trait]
impl DeviceStore for EncryptedStore {
    async fn save(&self, device: &Device) -> Result<()> {
        let key = self.layout.device();
        let record = codec::encode(&key, device)?;
        let mut batch = self.batch();
        batch.set(&key, &record);
        Ok(self.commit(batch).await?)
    }

    async fn load(&self) -> Result<Option<Device>> {
        let key = self.layout.device();
        let value = self.get_sealed(&key).await?;
        Ok(value.map(|v| codec::decode(&key, &v)).transpose()?)
    }

    async fn exists(&self) -> Result<bool> {
        let key = self.layout.device();
        Ok(redis::AsyncCommands::exists(&mut self.conn(), &key)
            .await
            .map_err(AuthStoreError::from)?)
    }

    async fn create(&self) -> Result<i32> {
        let _guard = self.rmw.lock().await;
        let key = self.layout.device();
        let present: bool = redis::AsyncCommands::exists(&mut self.conn(), &key)
            .await
            .map_err(AuthStoreError::from)?;
        if !present {
            let record = codec::encode(&key, &Device::new())?;
            let mut batch = self.batch();
            batch.set(&key, &record);
            self.commit(batch).await?;
        }
        Ok(DEVICE_ID)
    }

    async fn resource_report(&self) -> StorageResourceReport {
        StorageResourceReport {
            memory_bytes: Some(0),
            ..StorageResourceReport::default()
        }
    }
}
