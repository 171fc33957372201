//! The server's memory of accounts: per phone number an account signing key and its linked
//! devices, each with the Signal material the device uploaded (identity, signed prekey, one-time
//! prekeys) and the ADV identity the device signed at pairing.

use std::collections::{BTreeMap, HashMap, VecDeque};

use wacore::libsignal::protocol::KeyPair;

/// One uploaded one-time prekey: (id, 32-byte public key).
pub type OneTimePreKey = (u32, Vec<u8>);

/// Signal material a device publishes through the server.
#[derive(Clone, Debug, Default)]
pub struct DeviceKeys {
    pub registration_id: u32,
    pub identity: Vec<u8>,
    pub signed_prekey_id: u32,
    pub signed_prekey: Vec<u8>,
    pub signed_prekey_signature: Vec<u8>,
    pub one_time: VecDeque<OneTimePreKey>,
}

/// A linked device of an account.
pub struct DeviceRecord {
    pub keys: DeviceKeys,
    /// `ADVSignedDeviceIdentity` (with the device's own signature) as the device sent it back.
    pub signed_identity: Option<Vec<u8>>,
    pub key_index: u32,
}

/// An account (one phone number).
pub struct Account {
    pub raw_id: u32,
    /// Stands for the phone's identity: signs each companion's ADV device identity.
    pub account_key: KeyPair,
    pub devices: BTreeMap<u16, DeviceRecord>,
    next_device: u16,
    /// True for accounts whose device is a contact run inside the server.
    pub is_contact: bool,
}

impl Account {
    fn new(raw_id: u32, is_contact: bool) -> Self {
        Self {
            raw_id,
            account_key: KeyPair::generate(&mut signal_rand::rng()),
            devices: BTreeMap::new(),
            next_device: 1,
            is_contact,
        }
    }

    /// Reserves the next companion device id.
    pub fn allocate_device(&mut self) -> u16 {
        let id = self.next_device;
        self.next_device = self.next_device.wrapping_add(1).max(1);
        id
    }
}

/// All accounts by phone number.
#[derive(Default)]
pub struct Directory {
    accounts: HashMap<String, Account>,
    next_raw_id: u32,
}

impl Directory {
    /// The account for `phone`, created when missing.
    pub fn account_mut(&mut self, phone: &str, is_contact: bool) -> &mut Account {
        if !self.accounts.contains_key(phone) {
            self.next_raw_id += 1;
            let account = Account::new(self.next_raw_id, is_contact);
            self.accounts.insert(phone.to_string(), account);
        }
        self.accounts
            .get_mut(phone)
            .expect("account inserted just above")
    }

    pub fn get(&self, phone: &str) -> Option<&Account> {
        self.accounts.get(phone)
    }

    pub fn get_mut(&mut self, phone: &str) -> Option<&mut Account> {
        self.accounts.get_mut(phone)
    }

    pub fn device(&self, phone: &str, device: u16) -> Option<&DeviceRecord> {
        self.accounts.get(phone)?.devices.get(&device)
    }

    pub fn device_mut(&mut self, phone: &str, device: u16) -> Option<&mut DeviceRecord> {
        self.accounts.get_mut(phone)?.devices.get_mut(&device)
    }

    /// Number of accounts that have at least one linked device.
    pub fn account_count(&self) -> usize {
        self.accounts
            .values()
            .filter(|a| !a.devices.is_empty())
            .count()
    }

    /// Ids of the linked devices of `phone` (empty for an unknown number).
    pub fn device_ids(&self, phone: &str) -> Vec<u16> {
        self.accounts
            .get(phone)
            .map(|a| a.devices.keys().copied().collect())
            .unwrap_or_default()
    }
}
