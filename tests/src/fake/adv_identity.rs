//! Account-side ADV (device identity) signing: what a phone does when it links a companion, and the
//! key-index list that tells peers which companion devices are current.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use wacore::libsignal::protocol::KeyPair;
use waproto::buffa::Message as _;
use waproto::whatsapp as wa;

use super::directory::Account;

const ACCOUNT_SIGNATURE_PREFIX: [u8; 2] = [6, 0];
const DEVICE_SIGNATURE_PREFIX: [u8; 2] = [6, 1];

fn details_bytes(account: &Account, key_index: u32) -> Vec<u8> {
    wa::ADVDeviceIdentity {
        raw_id: Some(account.raw_id),
        timestamp: Some(super::stanza::now_secs()),
        key_index: Some(key_index),
        account_type: Some(wa::ADVEncryptionType::E2EE),
        device_type: Some(wa::ADVEncryptionType::E2EE),
    }
    .encode_to_vec()
}

fn signed_by_account(
    account: &Account,
    device_identity_pub: &[u8],
    key_index: u32,
) -> Result<wa::ADVSignedDeviceIdentity, String> {
    let details = details_bytes(account, key_index);
    let mut message = Vec::with_capacity(2 + details.len() + 32);
    message.extend_from_slice(&ACCOUNT_SIGNATURE_PREFIX);
    message.extend_from_slice(&details);
    message.extend_from_slice(device_identity_pub);
    let signature = account
        .account_key
        .private_key
        .calculate_signature(&message, &mut signal_rand::rng())
        .map_err(|e| format!("account signature: {e}"))?;
    Ok(wa::ADVSignedDeviceIdentity {
        details: Some(details),
        account_signature_key: Some(account.account_key.public_key.public_key_bytes().to_vec()),
        account_signature: Some(signature.to_vec()),
        device_signature: None,
    })
}

/// The `ADVSignedDeviceIdentityHMAC` a phone sends in `<pair-success>`: the account signs the new
/// device's identity key, and the ADV secret from the QR authenticates the whole container.
pub fn pairing_identity_hmac(
    account: &Account,
    device_identity_pub: &[u8],
    key_index: u32,
    adv_secret: &[u8; 32],
) -> Result<Vec<u8>, String> {
    let signed = signed_by_account(account, device_identity_pub, key_index)?.encode_to_vec();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(adv_secret).map_err(|e| e.to_string())?;
    mac.update(&signed);
    let hmac = mac.finalize().into_bytes().to_vec();
    Ok(wa::ADVSignedDeviceIdentityHMAC {
        details: Some(signed),
        hmac: Some(hmac),
        account_type: Some(wa::ADVEncryptionType::E2EE),
    }
    .encode_to_vec())
}

/// A complete `ADVSignedDeviceIdentity` (account and device signatures) for a device whose identity
/// key the server holds itself: used to provision the server's own contact devices.
pub fn provisioned_identity(
    account: &Account,
    device_identity: &KeyPair,
    key_index: u32,
) -> Result<wa::ADVSignedDeviceIdentity, String> {
    let device_pub = device_identity.public_key.public_key_bytes();
    let mut signed = signed_by_account(account, device_pub, key_index)?;
    let details = signed.details.clone().unwrap_or_default();
    let mut message = Vec::with_capacity(2 + details.len() + 64);
    message.extend_from_slice(&DEVICE_SIGNATURE_PREFIX);
    message.extend_from_slice(&details);
    message.extend_from_slice(device_pub);
    message.extend_from_slice(account.account_key.public_key.public_key_bytes());
    let signature = device_identity
        .private_key
        .calculate_signature(&message, &mut signal_rand::rng())
        .map_err(|e| format!("device signature: {e}"))?;
    signed.device_signature = Some(signature.to_vec());
    Ok(signed)
}

/// `ADVSignedKeyIndexList` naming the account's current companion key indexes.
pub fn key_index_list(account: &Account) -> Vec<u8> {
    let valid: Vec<u32> = account.devices.values().map(|d| d.key_index).collect();
    let list = wa::ADVKeyIndexList {
        raw_id: Some(account.raw_id),
        timestamp: Some(super::stanza::now_secs()),
        current_index: Some(valid.iter().copied().max().unwrap_or(0)),
        valid_indexes: valid,
        ..Default::default()
    };
    let details = list.encode_to_vec();
    let signature = account
        .account_key
        .private_key
        .calculate_signature(&details, &mut signal_rand::rng())
        .map(|s| s.to_vec())
        .ok();
    wa::ADVSignedKeyIndexList {
        details: Some(details),
        account_signature: signature,
        ..Default::default()
    }
    .encode_to_vec()
}
