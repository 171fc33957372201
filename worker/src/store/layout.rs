//! Where each kind of auth state lives under a session's auth prefix (`wa:auth:{sid}:`), and how
//! composite hash fields are spelled.
//!
//! | key (after the prefix)   | type   | field                         | sealed value                     |
//! |--------------------------|--------|-------------------------------|----------------------------------|
//! | `device`                 | string | —                             | device record (JSON)             |
//! | `identity`               | hash   | signal address                | 32-byte identity key             |
//! | `session`                | hash   | signal address                | session record                   |
//! | `prekey`                 | hash   | pre-key id (decimal)          | pre-key record                   |
//! | `signed_prekey`          | hash   | signed pre-key id (decimal)   | signed pre-key record            |
//! | `sender_key`             | hash   | sender-key address            | sender-key record                |
//! | `sync_key`               | hash   | key id (raw bytes)            | app-state sync key (JSON)        |
//! | `sync_key_latest`        | string | —                             | latest sync key id               |
//! | `app_version`            | hash   | collection name               | hash state (JSON)                |
//! | `mutation_mac:<name>`    | hash   | index MAC (raw bytes)         | value MAC                        |
//! | `skd:<group>`            | hash   | device JID                    | `1` has sender key / `0` needs   |
//! | `lid_pn`                 | hash   | LID user                      | mapping entry (JSON)             |
//! | `pn_lid`                 | hash   | phone number                  | LID user                         |
//! | `base_key`               | hash   | address + message id          | base key                         |
//! | `device_list`            | hash   | user                          | device list record (JSON)        |
//! | `group_meta`             | hash   | group JID                     | metadata blob                    |
//! | `tc_token`               | hash   | JID                           | trusted-contact token (JSON)     |
//! | `sent_msg` / `sent_msg_age`     | hash / zset | chat + message id | payload / stored-at seconds    |
//! | `pending_in` / `pending_in_age` | hash / zset | chat + sender + id | message / stored-at seconds   |
//! | `msg_secret` / `msg_secret_exp` | hash / zset | chat + sender + id | secret, deadlines / expires-at |
//! | `registry` ([`Keys::auth_registry`]) | set | —                  | every key above that exists      |
//!
//! Field names are plaintext (Redis must address them); everything stored in a value is sealed
//! with the key name and field as associated data. The sorted sets hold only field names and
//! timestamps, so expiry sweeps run inside Redis without opening values.

use wa_shared::keys::Keys;

/// Key names of one session's auth state.
#[derive(Debug, Clone)]
pub struct AuthLayout {
    prefix: String,
    registry: String,
}

impl AuthLayout {
    pub fn new(keys: &Keys, sid: &str) -> Self {
        Self {
            prefix: keys.auth_prefix(sid),
            registry: keys.auth_registry(sid),
        }
    }

    fn kind(&self, kind: &str) -> String {
        format!("{}{kind}", self.prefix)
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }
    pub fn device(&self) -> String {
        self.kind("device")
    }
    pub fn identity(&self) -> String {
        self.kind("identity")
    }
    pub fn session(&self) -> String {
        self.kind("session")
    }
    pub fn prekey(&self) -> String {
        self.kind("prekey")
    }
    pub fn signed_prekey(&self) -> String {
        self.kind("signed_prekey")
    }
    pub fn sender_key(&self) -> String {
        self.kind("sender_key")
    }
    pub fn sync_key(&self) -> String {
        self.kind("sync_key")
    }
    pub fn sync_key_latest(&self) -> String {
        self.kind("sync_key_latest")
    }
    pub fn app_version(&self) -> String {
        self.kind("app_version")
    }
    pub fn mutation_mac(&self, collection: &str) -> String {
        self.kind(&format!("mutation_mac:{collection}"))
    }
    /// Prefix of every per-group sender-key device hash.
    pub fn sender_key_devices_prefix(&self) -> String {
        self.kind("skd:")
    }
    pub fn sender_key_devices(&self, group_jid: &str) -> String {
        format!("{}{group_jid}", self.sender_key_devices_prefix())
    }
    pub fn lid_to_pn(&self) -> String {
        self.kind("lid_pn")
    }
    pub fn pn_to_lid(&self) -> String {
        self.kind("pn_lid")
    }
    pub fn base_key(&self) -> String {
        self.kind("base_key")
    }
    pub fn device_list(&self) -> String {
        self.kind("device_list")
    }
    pub fn group_metadata(&self) -> String {
        self.kind("group_meta")
    }
    pub fn tc_token(&self) -> String {
        self.kind("tc_token")
    }
    pub fn sent_message(&self) -> String {
        self.kind("sent_msg")
    }
    pub fn sent_message_age(&self) -> String {
        self.kind("sent_msg_age")
    }
    pub fn pending_inbound(&self) -> String {
        self.kind("pending_in")
    }
    pub fn pending_inbound_age(&self) -> String {
        self.kind("pending_in_age")
    }
    pub fn msg_secret(&self) -> String {
        self.kind("msg_secret")
    }
    pub fn msg_secret_expiry(&self) -> String {
        self.kind("msg_secret_exp")
    }
}

/// Joins the parts of a composite field so that distinct part lists never collide: every part but
/// the last is written as `<byte length>:<part>`.
pub fn composite_field(parts: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some((last, init)) = parts.split_last() {
        for part in init {
            out.extend_from_slice(part.len().to_string().as_bytes());
            out.push(b':');
            out.extend_from_slice(part.as_bytes());
        }
        out.extend_from_slice(last.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composite_fields_do_not_collide() {
        assert_ne!(
            composite_field(&["a:b", "c"]),
            composite_field(&["a", "b:c"])
        );
        assert_ne!(composite_field(&["1", "2x"]), composite_field(&["12", "x"]));
        assert_eq!(composite_field(&["ab", "c"]), b"2:abc");
    }

    #[test]
    fn every_key_is_under_the_session_prefix() {
        let layout = AuthLayout::new(&Keys::new("wa:"), "s1");
        for key in [
            layout.device(),
            layout.session(),
            layout.mutation_mac("regular"),
            layout.sender_key_devices("123@g.us"),
            layout.registry().to_string(),
        ] {
            assert!(key.starts_with("wa:auth:{s1}:"), "{key}");
        }
    }
}
