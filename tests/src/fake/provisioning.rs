//! Server-side provisioning of a linked device without a QR scan: the server creates the device's
//! keys and signs its ADV identity as the account's phone would. Used for contacts and benchmarks.

use std::sync::Arc;

use whatsapp_rust::Jid;

use super::adv_identity;
use super::directory::{DeviceKeys, DeviceRecord};
use super::server_state::ServerState;

/// Why a device could not be provisioned.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("{0} is a linked account, not a contact")]
    NotAContact(String),
    #[error("signing the device identity failed: {0}")]
    Signing(String),
}

/// Links a new device to `phone` (creating the account) and returns its full store record, ready
/// to be saved into a client backend: the client then logs in directly.
pub fn provision_device(
    state: &ServerState,
    phone: &str,
    is_contact: bool,
) -> Result<wacore::store::Device, ProvisionError> {
    let mut device = wacore::store::Device::new();
    let mut directory = state.directory.lock().expect("directory lock");
    if is_contact
        && let Some(existing) = directory.get(phone)
        && !existing.is_contact
    {
        return Err(ProvisionError::NotAContact(phone.to_string()));
    }
    let account = directory.account_mut(phone, is_contact);
    let device_id = account.allocate_device();
    let key_index = u32::from(device_id);
    let signed = adv_identity::provisioned_identity(account, &device.identity_key, key_index)
        .map_err(ProvisionError::Signing)?;
    let encoded = waproto::buffa::Message::encode_to_vec(&signed);
    device.pn = Some(Jid::pn_device(phone, device_id));
    device.account = Some(Arc::new(signed));
    device.push_name = format!("Fake {phone}");
    account.devices.insert(
        device_id,
        DeviceRecord {
            keys: DeviceKeys {
                registration_id: device.registration_id,
                identity: device.identity_key.public_key.public_key_bytes().to_vec(),
                signed_prekey_id: device.signed_pre_key_id,
                signed_prekey: device.signed_pre_key.public_key.public_key_bytes().to_vec(),
                signed_prekey_signature: device.signed_pre_key_signature.to_vec(),
                one_time: Default::default(),
            },
            signed_identity: Some(encoded),
            key_index,
        },
    );
    Ok(device)
}
