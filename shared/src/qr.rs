//! Pairing QR codes: rendering the raw QR string as a PNG data URL (what front ends put in an
//! `<img>`), and sealing the raw string for the session record so pairing material is encrypted at
//! rest.

use base64::Engine as _;
use image::{ImageEncoder, Luma, codecs::png::PngEncoder};
use qrcode::QrCode;

use crate::envelope::{Keyring, OpenError, aad};

/// Field name used in the associated data of the sealed QR.
const QR_FIELD: &[u8] = b"qr";

/// Renders `raw` as `data:image/png;base64,…`; `None` when the string cannot be a QR code.
pub fn png_data_url(raw: &str) -> Option<String> {
    let code = QrCode::new(raw.as_bytes()).ok()?;
    let image = code
        .render::<Luma<u8>>()
        .min_dimensions(256, 256)
        .quiet_zone(true)
        .build();
    let mut png = Vec::new();
    PngEncoder::new(&mut png)
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            image::ExtendedColorType::L8,
        )
        .ok()?;
    Some(format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    ))
}

/// Seals the raw QR string for the `qr` field of the session hash `session_key` (base64 text).
pub fn seal(keyring: &Keyring, session_key: &str, raw: &str) -> String {
    let sealed = keyring.seal(&aad(session_key, QR_FIELD), raw.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sealed)
}

/// Opens what [`seal`] produced.
pub fn open(keyring: &Keyring, session_key: &str, sealed_b64: &str) -> Result<String, OpenError> {
    let sealed = base64::engine::general_purpose::STANDARD
        .decode(sealed_b64)
        .map_err(|_| OpenError::Malformed("not base64 or not UTF-8"))?;
    let raw = keyring.open(&aad(session_key, QR_FIELD), &sealed)?;
    String::from_utf8(raw).map_err(|_| OpenError::Malformed("not base64 or not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_png_data_url() {
        let url = png_data_url("2@abc,def,ghi,jkl,1").unwrap();
        assert!(url.starts_with("data:image/png;base64,iVBORw0KGgo"));
    }

    #[test]
    fn sealed_qr_opens_only_for_its_session() {
        let keyring = Keyring::from_keys(vec![("k1".into(), [7u8; 32])]).unwrap();
        let sealed = seal(&keyring, "wa:session:{a}", "2@ref,x,y,z,1");
        assert_eq!(
            open(&keyring, "wa:session:{a}", &sealed).unwrap(),
            "2@ref,x,y,z,1"
        );
        assert!(open(&keyring, "wa:session:{b}", &sealed).is_err());
        assert!(open(&keyring, "wa:session:{a}", "not base64!").is_err());
    }
}
