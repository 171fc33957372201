//! The AES-256-GCM envelope that seals every value of auth state and QR/pairing material at rest.
//!
//! # Keys
//!
//! A [`Keyring`] holds one or more 32-byte keys, each named by a short key id (`kid`). The first key
//! is *active*: every new value is sealed with it. The others only open values sealed earlier, so a
//! key can be rotated by putting the new key first and keeping the old one behind it until nothing
//! sealed with it is left. Configuration (see [`Keyring::from_env`]):
//!
//! - `SESSION_ENCRYPTION_KEY` = base64 of 32 bytes. Its key id is [`SINGLE_KEY_ID`], so
//!   `SESSION_ENCRYPTION_KEY=X` seals exactly like `SESSION_ENCRYPTION_KEYS=k0:X`.
//! - `SESSION_ENCRYPTION_KEYS` = `kid:base64,kid2:base64,…` (first active, the others still open).
//!
//! Exactly one of the two must be set. Parse errors name the variable and the position of the bad
//! entry, never the key material.
//!
//! # Sealed format (version 1)
//!
//! ```text
//! +---------+-----------+-----------------+-------------+----------------------------+
//! | 0x01    | kid_len   | kid             | nonce       | ciphertext ‖ GCM tag       |
//! | 1 byte  | 1 byte    | kid_len bytes   | 12 bytes    | len(plaintext) + 16 bytes  |
//! +---------+-----------+-----------------+-------------+----------------------------+
//! ```
//!
//! The nonce is 96 random bits drawn per value. The GCM associated data is the header
//! (`0x01 ‖ kid_len ‖ kid`) followed by the caller's associated data, so neither the key id nor the
//! context a value belongs to can be swapped without [`Keyring::open`] refusing it. Callers build the
//! associated data with [`aad`] from the Redis key name and field, which pins every value to the
//! place it was written: a value copied to another field, key or session does not open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use rand::RngCore as _;
use std::fmt;

/// First byte of every sealed value.
pub const FORMAT_VERSION: u8 = 1;
/// Key id of the key given by `SESSION_ENCRYPTION_KEY`.
pub const SINGLE_KEY_ID: &str = "k0";
/// Variable holding a single base64 key.
pub const KEY_VAR: &str = "SESSION_ENCRYPTION_KEY";
/// Variable holding `kid:base64,…`.
pub const KEYS_VAR: &str = "SESSION_ENCRYPTION_KEYS";

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const KEY_LEN: usize = 32;
const MAX_KID_LEN: usize = 32;

/// Why a keyring could not be built. Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    #[error("neither {KEY_VAR} nor {KEYS_VAR} is set: an encryption key is required")]
    Missing,
    #[error("both {KEY_VAR} and {KEYS_VAR} are set: set only one")]
    Ambiguous,
    #[error("{var}: {reason}")]
    Invalid { var: &'static str, reason: String },
}

/// Why a sealed value could not be opened. Every variant means "do not use this value".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("sealed value is malformed ({0})")]
    Malformed(&'static str),
    #[error("sealed value uses unknown format version {0}")]
    UnknownVersion(u8),
    #[error("sealed value names key id {0:?}, which is not in the keyring")]
    UnknownKey(String),
    #[error("sealed value failed authentication (tampered, or sealed for another place)")]
    Rejected,
}

struct KeyEntry {
    kid: String,
    cipher: Aes256Gcm,
}

/// The encryption keys of a deployment: the first seals, all of them open.
pub struct Keyring {
    keys: Vec<KeyEntry>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("key_ids", &self.key_ids().collect::<Vec<_>>())
            .finish()
    }
}

/// Associated data for a value stored at Redis `key`, hash `field` (empty for plain strings).
/// Length-prefixed so that no two (key, field) pairs produce the same bytes.
pub fn aad(key: &str, field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + key.len() + field.len());
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(&(field.len() as u32).to_be_bytes());
    out.extend_from_slice(field);
    out
}

impl Keyring {
    /// Builds the keyring from the process environment (`SESSION_ENCRYPTION_KEY` or
    /// `SESSION_ENCRYPTION_KEYS`). Empty variables count as unset.
    pub fn from_env() -> Result<Self, KeyringError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds the keyring from any variable lookup (the environment, a parsed config file, a test).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, KeyringError> {
        let single = lookup(KEY_VAR).filter(|v| !v.trim().is_empty());
        let many = lookup(KEYS_VAR).filter(|v| !v.trim().is_empty());
        match (single, many) {
            (Some(_), Some(_)) => Err(KeyringError::Ambiguous),
            (None, None) => Err(KeyringError::Missing),
            (Some(key), None) => {
                let key = decode_key(KEY_VAR, key.trim(), "the value")?;
                Self::from_keys(vec![(SINGLE_KEY_ID.to_string(), key)])
            }
            (None, Some(list)) => Self::parse_list(&list),
        }
    }

    /// Parses a `kid:base64,kid2:base64` list (the `SESSION_ENCRYPTION_KEYS` format).
    pub fn parse_list(list: &str) -> Result<Self, KeyringError> {
        let invalid = |reason: String| KeyringError::Invalid {
            var: KEYS_VAR,
            reason,
        };
        let mut keys = Vec::new();
        for (index, entry) in list.split(',').enumerate() {
            let position = index + 1;
            let entry = entry.trim();
            let Some((kid, key)) = entry.split_once(':') else {
                return Err(invalid(format!(
                    "entry {position} is not of the form kid:base64"
                )));
            };
            let kid = kid.trim();
            validate_kid(kid).map_err(|reason| invalid(format!("entry {position}: {reason}")))?;
            if keys.iter().any(|(k, _): &(String, [u8; KEY_LEN])| k == kid) {
                return Err(invalid(format!(
                    "entry {position}: key id {kid:?} appears twice"
                )));
            }
            let key = decode_key(KEYS_VAR, key.trim(), &format!("entry {position}"))?;
            keys.push((kid.to_string(), key));
        }
        Self::from_keys(keys)
    }

    /// Builds a keyring from raw keys; the first is active. Key ids must be 1–32 characters of
    /// `[A-Za-z0-9_.-]` and distinct.
    pub fn from_keys(keys: Vec<(String, [u8; KEY_LEN])>) -> Result<Self, KeyringError> {
        if keys.is_empty() {
            return Err(KeyringError::Missing);
        }
        let mut entries: Vec<KeyEntry> = Vec::with_capacity(keys.len());
        for (kid, key) in keys {
            validate_kid(&kid).map_err(|reason| KeyringError::Invalid {
                var: KEYS_VAR,
                reason,
            })?;
            if entries.iter().any(|e| e.kid == kid) {
                return Err(KeyringError::Invalid {
                    var: KEYS_VAR,
                    reason: format!("key id {kid:?} appears twice"),
                });
            }
            let cipher = Aes256Gcm::new_from_slice(&key).map_err(|_| KeyringError::Invalid {
                var: KEYS_VAR,
                reason: "key is not 32 bytes".into(),
            })?;
            entries.push(KeyEntry { kid, cipher });
        }
        Ok(Self { keys: entries })
    }

    /// Key id that new values are sealed with.
    pub fn active_key_id(&self) -> &str {
        &self.keys[0].kid
    }

    /// Every key id, active first.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|e| e.kid.as_str())
    }

    /// Seals `plaintext` with the active key, bound to `aad` (see [`aad`]).
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let active = &self.keys[0];
        let header_len = 2 + active.kid.len();
        let mut out = Vec::with_capacity(header_len + NONCE_LEN + plaintext.len() + TAG_LEN);
        out.push(FORMAT_VERSION);
        out.push(active.kid.len() as u8);
        out.extend_from_slice(active.kid.as_bytes());
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        out.extend_from_slice(&nonce);
        let full_aad = [&out[..header_len], aad].concat();
        let sealed = active
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &full_aad,
                },
            )
            // AES-GCM encryption fails only for plaintexts beyond 64 GiB, far outside any value
            // the store or the api writes.
            .expect("AES-GCM encryption of a bounded plaintext");
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens a value sealed by [`Keyring::seal`] with any key of this keyring and the same `aad`.
    /// Never panics: any input that is not an authentic value for `aad` is an [`OpenError`].
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        let (&version, rest) = sealed.split_first().ok_or(OpenError::Malformed("empty"))?;
        if version != FORMAT_VERSION {
            return Err(OpenError::UnknownVersion(version));
        }
        let (&kid_len, rest) = rest
            .split_first()
            .ok_or(OpenError::Malformed("no key id"))?;
        let kid_len = usize::from(kid_len);
        if kid_len == 0 || rest.len() < kid_len + NONCE_LEN + TAG_LEN {
            return Err(OpenError::Malformed("truncated"));
        }
        let (kid, rest) = rest.split_at(kid_len);
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let entry = self
            .keys
            .iter()
            .find(|e| e.kid.as_bytes() == kid)
            .ok_or_else(|| OpenError::UnknownKey(String::from_utf8_lossy(kid).into_owned()))?;
        let full_aad = [&sealed[..2 + kid_len], aad].concat();
        entry
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &full_aad,
                },
            )
            .map_err(|_| OpenError::Rejected)
    }
}

fn validate_kid(kid: &str) -> Result<(), String> {
    if kid.is_empty() {
        return Err("key id is empty".into());
    }
    if kid.len() > MAX_KID_LEN {
        return Err(format!("key id is longer than {MAX_KID_LEN} characters"));
    }
    if !kid
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return Err("key id may only use letters, digits, '_', '-' and '.'".into());
    }
    Ok(())
}

fn decode_key(var: &'static str, b64: &str, what: &str) -> Result<[u8; KEY_LEN], KeyringError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| KeyringError::Invalid {
            var,
            reason: format!("{what} is not valid base64"),
        })?;
    <[u8; KEY_LEN]>::try_from(bytes.as_slice()).map_err(|_| KeyringError::Invalid {
        var,
        reason: format!(
            "{what} decodes to {} bytes, expected {KEY_LEN}",
            bytes.len()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    fn ring(spec: &[(&str, u8)]) -> Keyring {
        Keyring::from_keys(
            spec.iter()
                .map(|(kid, fill)| (kid.to_string(), [*fill; 32]))
                .collect(),
        )
        .unwrap()
    }

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn seal_then_open_roundtrips_and_layout_matches_the_documented_format() {
        let ring = ring(&[("k1", 7)]);
        let aad = aad("wa:auth:{s}:session", b"123@s.whatsapp.net");
        let sealed = ring.seal(&aad, b"secret state");
        assert_eq!(sealed[0], FORMAT_VERSION);
        assert_eq!(sealed[1], 2);
        assert_eq!(&sealed[2..4], b"k1");
        assert_eq!(
            sealed.len(),
            4 + NONCE_LEN + b"secret state".len() + TAG_LEN
        );
        assert_eq!(ring.open(&aad, &sealed).unwrap(), b"secret state");
    }

    #[test]
    fn nonces_differ_between_seals_of_the_same_value() {
        let ring = ring(&[("k1", 7)]);
        let a = ring.seal(b"ctx", b"same");
        let b = ring.seal(b"ctx", b"same");
        assert_ne!(a, b);
    }

    #[test]
    fn wrong_aad_is_rejected() {
        let ring = ring(&[("k1", 7)]);
        let sealed = ring.seal(&aad("wa:auth:{a}:session", b"x"), b"v");
        assert_eq!(
            ring.open(&aad("wa:auth:{b}:session", b"x"), &sealed),
            Err(OpenError::Rejected)
        );
        assert_eq!(
            ring.open(&aad("wa:auth:{a}:session", b"y"), &sealed),
            Err(OpenError::Rejected)
        );
    }

    #[test]
    fn aad_is_unambiguous_between_key_and_field() {
        assert_ne!(aad("ab", b"c"), aad("a", b"bc"));
    }

    #[test]
    fn every_flipped_byte_is_refused() {
        let ring = ring(&[("k1", 7)]);
        let sealed = ring.seal(b"ctx", b"payload bytes");
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(ring.open(b"ctx", &bad).is_err(), "byte {i} flipped");
        }
    }

    #[test]
    fn truncated_and_garbage_inputs_are_errors_not_panics() {
        let ring = ring(&[("k1", 7)]);
        let sealed = ring.seal(b"ctx", b"payload");
        for len in 0..sealed.len() {
            assert!(ring.open(b"ctx", &sealed[..len]).is_err(), "len {len}");
        }
        assert_eq!(ring.open(b"ctx", &[]), Err(OpenError::Malformed("empty")));
        assert_eq!(
            ring.open(b"ctx", &[9, 1, 2]),
            Err(OpenError::UnknownVersion(9))
        );
        assert_eq!(
            ring.open(b"ctx", &[1, 0]),
            Err(OpenError::Malformed("truncated"))
        );
        assert!(ring.open(b"ctx", &[1, 255, 0, 0, 0]).is_err());
    }

    #[test]
    fn rotation_old_key_still_opens_as_secondary_and_new_values_use_the_new_key() {
        let old = ring(&[("old", 1)]);
        let sealed_old = old.seal(b"ctx", b"v1");
        let rotated = ring(&[("new", 2), ("old", 1)]);
        assert_eq!(rotated.open(b"ctx", &sealed_old).unwrap(), b"v1");
        let sealed_new = rotated.seal(b"ctx", b"v2");
        assert_eq!(&sealed_new[2..5], b"new");
        assert_eq!(
            old.open(b"ctx", &sealed_new),
            Err(OpenError::UnknownKey("new".into()))
        );
    }

    #[test]
    fn foreign_key_with_same_id_is_rejected() {
        let a = ring(&[("k1", 1)]);
        let b = ring(&[("k1", 2)]);
        assert_eq!(
            b.open(b"ctx", &a.seal(b"ctx", b"v")),
            Err(OpenError::Rejected)
        );
    }

    #[test]
    fn single_key_variable_uses_the_single_key_id() {
        let key = b64(&[3u8; 32]);
        let ring = Keyring::from_lookup(lookup(&[(KEY_VAR, &key)])).unwrap();
        assert_eq!(ring.active_key_id(), SINGLE_KEY_ID);
        let same = Keyring::from_lookup(lookup(&[(KEYS_VAR, &format!("k0:{key}"))])).unwrap();
        assert_eq!(same.open(b"c", &ring.seal(b"c", b"v")).unwrap(), b"v");
    }

    #[test]
    fn key_list_parses_in_order() {
        let list = format!("b:{}, a:{}", b64(&[1; 32]), b64(&[2; 32]));
        let ring = Keyring::from_lookup(lookup(&[(KEYS_VAR, &list)])).unwrap();
        assert_eq!(ring.key_ids().collect::<Vec<_>>(), ["b", "a"]);
    }

    #[test]
    fn config_errors_name_the_variable_and_never_echo_key_material() {
        let secretish = "c2VjcmV0LWtleS1tYXRlcmlhbA"; // not 32 bytes, not padded
        let cases = [
            vec![(KEY_VAR, secretish)],
            vec![(KEY_VAR, "c2VjcmV0LWtleS1tYXRlcmlhbA==")],
            vec![(KEYS_VAR, &*format!("k1:{secretish}"))],
            vec![(KEYS_VAR, &*format!("k1{secretish}"))],
            vec![(KEYS_VAR, &*format!("bad id:{}", b64(&[1; 32])))],
        ];
        for vars in cases {
            let err = Keyring::from_lookup(lookup(&vars)).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(vars[0].0), "{text}");
            assert!(!text.contains("c2VjcmV0"), "{text}");
        }
        let dup = format!("a:{k},a:{k}", k = b64(&[1; 32]));
        assert!(matches!(
            Keyring::from_lookup(lookup(&[(KEYS_VAR, &dup)])),
            Err(KeyringError::Invalid { var: KEYS_VAR, .. })
        ));
        assert_eq!(
            Keyring::from_lookup(lookup(&[])).unwrap_err(),
            KeyringError::Missing
        );
        let k = b64(&[1; 32]);
        assert_eq!(
            Keyring::from_lookup(lookup(&[(KEY_VAR, &k), (KEYS_VAR, &format!("a:{k}"))]))
                .unwrap_err(),
            KeyringError::Ambiguous
        );
    }

    #[test]
    fn debug_output_lists_key_ids_only() {
        let ring = ring(&[("k1", 0xAB)]);
        let text = format!("{ring:?}");
        assert!(text.contains("k1"));
        assert!(!text.to_lowercase().contains("ab, ab"));
    }
}
