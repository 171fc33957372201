//! The WhatsApp id an outbound message is sent under, derived from our message id: `3EB0` followed
//! by the UUID's 32 hex digits. Deriving it (instead of letting the library pick a random one)
//! means a send retried by a new owner goes out under the same id, and a receipt's id leads back to
//! our message without a lookup table.

const PREFIX: &str = "3EB0";

/// The WhatsApp id for our message id.
pub fn wa_message_id(message_id: &str) -> String {
    match uuid::Uuid::parse_str(message_id) {
        Ok(id) => format!("{PREFIX}{}", id.simple().to_string().to_ascii_uppercase()),
        // Our ids are UUIDs; anything else still maps to a stable id of the same shape.
        Err(_) => {
            let hex: String = message_id
                .bytes()
                .take(16)
                .map(|b| format!("{b:02X}"))
                .collect();
            format!("{PREFIX}{hex:0<32}")
        }
    }
}

/// Our message id for a WhatsApp id, when it is one of ours.
pub fn message_id_for(wa_id: &str) -> Option<String> {
    let hex = wa_id.strip_prefix(PREFIX)?;
    if hex.len() != 32 {
        return None;
    }
    uuid::Uuid::parse_str(hex).ok().map(|id| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        let ours = uuid::Uuid::now_v7().to_string();
        let wa = wa_message_id(&ours);
        assert!(wa.starts_with("3EB0") && wa.len() == 36, "{wa}");
        assert_eq!(message_id_for(&wa), Some(ours));
    }

    #[test]
    fn foreign_ids_are_not_ours() {
        assert_eq!(message_id_for("3EB0ABC"), None);
        assert_eq!(message_id_for("ABCDEF0123456789"), None);
        assert_eq!(wa_message_id("not-a-uuid").len(), 36);
    }
}
