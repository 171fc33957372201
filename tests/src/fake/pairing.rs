//! QR pairing: the refs offered to an unpaired connection, their expiry, the fake phone's scan
//! (`POST /admin/scan`) that links the device to a number, and the `pair-device-sign` answer that
//! completes it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use tokio::sync::{mpsc, oneshot};
use wacore_binary::Node;
use wacore_binary::builder::NodeBuilder;

use super::directory::{DeviceKeys, DeviceRecord};
use super::server_state::{Outbound, ServerState};
use super::{adv_identity, stanza};

/// Why a scan was refused; each maps to an HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("{0}")]
    BadRequest(String),
    #[error("unknown QR ref")]
    UnknownRef,
    #[error("QR ref expired")]
    Expired,
    #[error("the device did not confirm the pairing: {0}")]
    NotConfirmed(String),
}

/// An unpaired connection waiting for a scan.
struct WaitingDevice {
    tx: mpsc::UnboundedSender<Outbound>,
    keys: DeviceKeys,
}

struct QrRef {
    conn_id: u64,
    expires_at: Instant,
}

/// A pair-success sent, waiting for the device's `pair-device-sign`.
struct SignTicket {
    phone: String,
    device: u16,
    key_index: u32,
    keys: DeviceKeys,
    tx: mpsc::UnboundedSender<Outbound>,
    reply: oneshot::Sender<Result<(), String>>,
}

/// All pairing state of the server.
#[derive(Default)]
pub struct PairingBook {
    waiting: HashMap<u64, WaitingDevice>,
    refs: HashMap<String, QrRef>,
    awaiting_sign: HashMap<String, SignTicket>,
}

fn random_token(bytes: usize) -> String {
    use signal_rand::Rng as _;
    let mut raw = vec![0u8; bytes];
    signal_rand::rng().fill_bytes(&mut raw);
    BASE64_STANDARD.encode(raw)
}

/// Reads the registration data of an unpaired client's payload.
pub fn registration_keys(
    data: &waproto::whatsapp::client_payload::DevicePairingRegistrationData,
) -> Option<DeviceKeys> {
    let regid: [u8; 4] = data.e_regid.as_deref()?.try_into().ok()?;
    let skey_id = data.e_skey_id.as_deref()?;
    if skey_id.len() != 3 {
        return None;
    }
    Some(DeviceKeys {
        registration_id: u32::from_be_bytes(regid),
        identity: data.e_ident.clone()?,
        signed_prekey_id: u32::from_be_bytes([0, skey_id[0], skey_id[1], skey_id[2]]),
        signed_prekey: data.e_skey_val.clone()?,
        signed_prekey_signature: data.e_skey_sig.clone()?,
        one_time: Default::default(),
    })
}

/// Registers an unpaired connection and builds the `<pair-device>` iq with its refs.
pub fn offer_refs(
    state: &ServerState,
    conn_id: u64,
    tx: mpsc::UnboundedSender<Outbound>,
    keys: DeviceKeys,
) -> Node {
    let now = Instant::now();
    let mut book = state.pairing.lock().expect("pairing lock");
    book.waiting.insert(conn_id, WaitingDevice { tx, keys });
    let mut ref_nodes = Vec::new();
    for i in 0..state.config.qr_refs.max(1) {
        let r = random_token(18);
        let lifetime = state.config.qr_first_ref_ttl + state.config.qr_next_ref_ttl * i;
        book.refs.insert(
            r.clone(),
            QrRef {
                conn_id,
                expires_at: now + lifetime,
            },
        );
        ref_nodes.push(NodeBuilder::new("ref").bytes(r.into_bytes()).build());
    }
    NodeBuilder::new("iq")
        .attr("type", "set")
        .attr("id", random_token(6))
        .attr("from", stanza::SERVER)
        .attr("xmlns", "md")
        .children([NodeBuilder::new("pair-device").children(ref_nodes).build()])
        .build()
}

/// Forgets a connection that closed before pairing.
pub fn forget_connection(state: &ServerState, conn_id: u64) {
    let mut book = state.pairing.lock().expect("pairing lock");
    book.waiting.remove(&conn_id);
}

struct ParsedQr {
    pairing_ref: String,
    identity_pub: Vec<u8>,
    adv_secret: [u8; 32],
}

fn parse_qr(qr: &str) -> Result<ParsedQr, ScanError> {
    let fields: Vec<&str> = qr.trim().split(',').collect();
    if fields.len() < 4 || fields[..4].iter().any(|f| f.is_empty()) {
        return Err(ScanError::BadRequest(
            "qr must be the PairingQrCode string: ref,noiseKey,identityKey,advSecret[,platform]"
                .into(),
        ));
    }
    let decode = |field: &str, what: &str| -> Result<Vec<u8>, ScanError> {
        let raw = BASE64_STANDARD
            .decode(field)
            .map_err(|_| ScanError::BadRequest(format!("qr {what} is not base64")))?;
        if raw.len() != 32 {
            return Err(ScanError::BadRequest(format!("qr {what} is not 32 bytes")));
        }
        Ok(raw)
    };
    decode(fields[1], "noise key")?;
    let identity_pub = decode(fields[2], "identity key")?;
    let adv_secret: [u8; 32] = decode(fields[3], "ADV secret")?
        .try_into()
        .map_err(|_| ScanError::BadRequest("qr ADV secret is not 32 bytes".into()))?;
    Ok(ParsedQr {
        pairing_ref: fields[0].to_string(),
        identity_pub,
        adv_secret,
    })
}

/// The fake phone scans `qr` and links that device to `phone`; resolves to the device JID once the
/// device has answered `pair-device-sign`.
pub async fn scan(state: &ServerState, qr: &str, phone: &str) -> Result<String, ScanError> {
    let parsed = parse_qr(qr)?;
    let (reply_rx, jid) = {
        let mut book = state.pairing.lock().expect("pairing lock");
        let qr_ref = book
            .refs
            .get(&parsed.pairing_ref)
            .ok_or(ScanError::UnknownRef)?;
        let conn_id = qr_ref.conn_id;
        if Instant::now() >= qr_ref.expires_at {
            return Err(ScanError::Expired);
        }
        let waiting = book.waiting.get(&conn_id).ok_or(ScanError::Expired)?;
        if waiting.keys.identity != parsed.identity_pub {
            return Err(ScanError::BadRequest(
                "qr identity key does not match the device that showed this ref".into(),
            ));
        }
        let waiting = book.waiting.remove(&conn_id).ok_or(ScanError::Expired)?;
        book.refs.retain(|_, r| r.conn_id != conn_id);

        let mut directory = state.directory.lock().expect("directory lock");
        let account = directory.account_mut(phone, false);
        let device = account.allocate_device();
        let key_index = u32::from(device);
        let identity_hmac = adv_identity::pairing_identity_hmac(
            account,
            &parsed.identity_pub,
            key_index,
            &parsed.adv_secret,
        )
        .map_err(ScanError::NotConfirmed)?;
        drop(directory);

        let jid = format!("{phone}:{device}@{}", stanza::SERVER);
        let iq_id = random_token(6);
        let node = NodeBuilder::new("iq")
            .attr("type", "set")
            .attr("id", iq_id.clone())
            .attr("from", stanza::SERVER)
            .attr("xmlns", "md")
            .attr("t", stanza::now_secs().to_string())
            .children([NodeBuilder::new("pair-success")
                .children([
                    NodeBuilder::new("device-identity")
                        .bytes(identity_hmac)
                        .build(),
                    NodeBuilder::new("device").attr("jid", jid.clone()).build(),
                    NodeBuilder::new("platform").attr("name", "android").build(),
                ])
                .build()])
            .build();
        let (reply_tx, reply_rx) = oneshot::channel();
        if waiting.tx.send(Outbound::Node(node)).is_err() {
            return Err(ScanError::Expired);
        }
        book.awaiting_sign.insert(
            iq_id,
            SignTicket {
                phone: phone.to_string(),
                device,
                key_index,
                keys: waiting.keys,
                tx: waiting.tx,
                reply: reply_tx,
            },
        );
        (reply_rx, jid)
    };
    match tokio::time::timeout(Duration::from_secs(15), reply_rx).await {
        Ok(Ok(Ok(()))) => Ok(jid),
        Ok(Ok(Err(e))) => Err(ScanError::NotConfirmed(e)),
        Ok(Err(_)) => Err(ScanError::NotConfirmed("connection closed".into())),
        Err(_) => Err(ScanError::NotConfirmed("timed out".into())),
    }
}

/// Handles an iq answer from an unpaired connection; returns true if it completed a pairing.
pub fn on_iq_answer(state: &ServerState, node: &Node) -> bool {
    let Some(id) = stanza::attr(node, "id") else {
        return false;
    };
    let ticket = {
        let mut book = state.pairing.lock().expect("pairing lock");
        match book.awaiting_sign.remove(&id) {
            Some(t) => t,
            None => return false,
        }
    };
    let signed = stanza::child(node, "pair-device-sign")
        .and_then(|sign| stanza::child(sign, "device-identity"))
        .and_then(stanza::bytes)
        .map(<[u8]>::to_vec);
    let Some(signed_identity) = signed else {
        let reason = stanza::child(node, "error")
            .and_then(|e| stanza::attr(e, "text"))
            .unwrap_or_else(|| "no pair-device-sign in the answer".into());
        let _ = ticket.reply.send(Err(reason));
        return true;
    };
    {
        let mut directory = state.directory.lock().expect("directory lock");
        let account = directory.account_mut(&ticket.phone, false);
        account.devices.insert(
            ticket.device,
            DeviceRecord {
                keys: ticket.keys,
                signed_identity: Some(signed_identity),
                key_index: ticket.key_index,
            },
        );
    }
    let _ = ticket.reply.send(Ok(()));
    // Like the real server: the device restarts its stream and logs in as the new companion.
    let tx = ticket.tx;
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = tx.send(Outbound::Node(stanza::stream_error_code("515")));
        let _ = tx.send(Outbound::Close);
    });
    true
}
