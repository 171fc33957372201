//! Validation and normalisation of the identifiers clients send: session ids and phone numbers.

/// Why an identifier was refused; the message is meant for the API client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("sessionId must be 1-64 characters of letters, digits, '_' or '-'")]
    SessionId,
    #[error(
        "phoneNumber must be 7-15 digits, written as +E.164, bare digits or a number@s.whatsapp.net JID"
    )]
    Phone,
}

/// Checks a client-chosen session id: 1–64 characters of `[A-Za-z0-9_-]`.
pub fn validate_session_id(id: &str) -> Result<(), IdError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok { Ok(()) } else { Err(IdError::SessionId) }
}

/// Normalises a phone number to its digits. Accepts `+1234567890`, `1234567890` and
/// `1234567890@s.whatsapp.net` (a device suffix `:N` is dropped); spaces, dashes, dots and
/// parentheses between digits are tolerated. The result has 7–15 digits.
pub fn normalize_phone(raw: &str) -> Result<String, IdError> {
    let raw = raw.trim();
    let number = match raw.split_once('@') {
        Some((user, "s.whatsapp.net" | "c.us")) => user.split(':').next().unwrap_or(user),
        Some(_) => return Err(IdError::Phone),
        None => raw.strip_prefix('+').unwrap_or(raw),
    };
    let mut digits = String::with_capacity(number.len());
    for c in number.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return Err(IdError::Phone),
        }
    }
    if (7..=15).contains(&digits.len()) && !digits.starts_with('0') {
        Ok(digits)
    } else {
        Err(IdError::Phone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids() {
        assert!(validate_session_id("a").is_ok());
        assert!(validate_session_id("550e8400-e29b-41d4-a716-446655440000").is_ok());
        assert!(validate_session_id(&"x".repeat(64)).is_ok());
        assert!(validate_session_id(&"x".repeat(65)).is_err());
        assert!(validate_session_id("").is_err());
        assert!(validate_session_id("a b").is_err());
        assert!(validate_session_id("a/b").is_err());
        assert!(validate_session_id("é").is_err());
    }

    #[test]
    fn phone_numbers_are_normalised_to_digits() {
        assert_eq!(normalize_phone("+1234567890").unwrap(), "1234567890");
        assert_eq!(normalize_phone("1234567890").unwrap(), "1234567890");
        assert_eq!(
            normalize_phone("1234567890@s.whatsapp.net").unwrap(),
            "1234567890"
        );
        assert_eq!(
            normalize_phone("1234567890:3@s.whatsapp.net").unwrap(),
            "1234567890"
        );
        assert_eq!(normalize_phone("+1 (555) 123-4567").unwrap(), "15551234567");
    }

    #[test]
    fn bad_phone_numbers_are_refused() {
        for bad in [
            "",
            "+",
            "123456",
            "1234567890123456",
            "12345abc",
            "123@g.us",
            "0123456789",
            "++1234567",
        ] {
            assert_eq!(normalize_phone(bad), Err(IdError::Phone), "{bad:?}");
        }
    }
}
