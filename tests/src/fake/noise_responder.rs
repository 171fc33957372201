//! Server side of the WhatsApp Noise handshake (XX for pairing and first login, IK for a device
//! that cached our static key) and the per-frame transport cipher that follows it.

use bytes::BytesMut;
use wacore::libsignal::protocol::KeyPair;
use wacore::noise::NoiseCipher;
use wacore_binary::consts::{NOISE_PATTERN_IK, NOISE_PATTERN_XX, WA_CONN_HEADER};
use wacore_noise::NoiseHandshake;
use waproto::buffa::Message as _;
use waproto::whatsapp as wa;

/// Long-lived identity of the fake server: its Noise static key and the certificate chain that
/// vouches for it (accepted by clients built with `danger-skip-cert-chain-verify`).
pub struct ServerIdentity {
    static_key: KeyPair,
    cert_chain: Vec<u8>,
}

impl ServerIdentity {
    pub fn generate() -> Self {
        let static_key = KeyPair::generate(&mut signal_rand::rng());
        let public: [u8; 32] = static_key
            .public_key
            .public_key_bytes()
            .try_into()
            .expect("curve25519 public keys are 32 bytes");
        let cert_chain = wacore_noise::test_util::build_cert_chain_bytes(&public);
        Self {
            static_key,
            cert_chain,
        }
    }

    fn static_public(&self) -> &[u8] {
        self.static_key.public_key.public_key_bytes()
    }

    fn static_private(&self) -> &[u8] {
        self.static_key.private_key.serialize()
    }
}

/// Failure of a handshake; the connection is closed without an answer.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeFailure {
    #[error("malformed handshake message: {0}")]
    Malformed(String),
    #[error("noise crypto failed: {0}")]
    Crypto(String),
}

fn crypto(e: impl std::fmt::Display) -> HandshakeFailure {
    HandshakeFailure::Crypto(e.to_string())
}

/// State between our ServerHello and the client's ClientFinish (XX only).
pub struct XxAwaitingFinish {
    noise: NoiseHandshake,
    ephemeral: KeyPair,
}

/// What the first client message leads to.
pub enum HelloOutcome {
    /// XX: send `server_hello`, then feed the ClientFinish to [`XxAwaitingFinish::finish`].
    Xx {
        server_hello: Vec<u8>,
        pending: XxAwaitingFinish,
    },
    /// IK: send `server_hello`; the link is ready and the login payload was in the hello.
    Ik {
        server_hello: Vec<u8>,
        link: FrameCipher,
        payload: wa::ClientPayload,
    },
}

fn decode_payload(bytes: &[u8]) -> Result<wa::ClientPayload, HandshakeFailure> {
    wa::ClientPayload::decode_from_slice(bytes)
        .map_err(|e| HandshakeFailure::Malformed(format!("client payload: {e}")))
}

fn key32(bytes: &[u8], what: &str) -> Result<[u8; 32], HandshakeFailure> {
    bytes
        .try_into()
        .map_err(|_| HandshakeFailure::Malformed(format!("{what} is not 32 bytes")))
}

fn server_hello_bytes(ephemeral: &[u8], static_ct: Option<Vec<u8>>, payload: Vec<u8>) -> Vec<u8> {
    wa::HandshakeMessage {
        server_hello: waproto::buffa::MessageField::some(wa::handshake_message::ServerHello {
            ephemeral: Some(ephemeral.to_vec()),
            r#static: static_ct,
            payload: Some(payload),
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

/// Answers the ClientHello (first frame after the connection header).
pub fn answer_client_hello(
    identity: &ServerIdentity,
    frame: &[u8],
) -> Result<HelloOutcome, HandshakeFailure> {
    let msg = wa::HandshakeMessage::decode_from_slice(frame)
        .map_err(|e| HandshakeFailure::Malformed(format!("handshake message: {e}")))?;
    let hello = msg
        .client_hello
        .into_option()
        .ok_or_else(|| HandshakeFailure::Malformed("no client hello".into()))?;
    let client_eph = key32(
        hello
            .ephemeral
            .as_deref()
            .ok_or_else(|| HandshakeFailure::Malformed("no ephemeral key".into()))?,
        "client ephemeral",
    )?;
    let ephemeral = KeyPair::generate(&mut signal_rand::rng());
    let eph_pub = ephemeral.public_key.public_key_bytes().to_vec();

    match (hello.r#static, hello.payload) {
        (Some(enc_static), Some(enc_payload)) => {
            let mut noise =
                NoiseHandshake::new(NOISE_PATTERN_IK, &WA_CONN_HEADER).map_err(crypto)?;
            noise.authenticate(identity.static_public());
            noise.authenticate(&client_eph);
            noise
                .mix_shared_secret(identity.static_private(), &client_eph)
                .map_err(crypto)?;
            let client_static = key32(
                &noise.decrypt(&enc_static).map_err(crypto)?,
                "client static",
            )?;
            noise
                .mix_shared_secret(identity.static_private(), &client_static)
                .map_err(crypto)?;
            let payload = decode_payload(&noise.decrypt(&enc_payload).map_err(crypto)?)?;
            noise.authenticate(&eph_pub);
            noise
                .mix_shared_secret(ephemeral.private_key.serialize(), &client_eph)
                .map_err(crypto)?;
            noise
                .mix_shared_secret(ephemeral.private_key.serialize(), &client_static)
                .map_err(crypto)?;
            let enc_cert = noise.encrypt(&identity.cert_chain).map_err(crypto)?;
            let (client_write, server_write) = noise.finish().map_err(crypto)?;
            Ok(HelloOutcome::Ik {
                server_hello: server_hello_bytes(&eph_pub, None, enc_cert),
                link: FrameCipher::new(client_write, server_write),
                payload,
            })
        }
        _ => {
            let mut noise =
                NoiseHandshake::new(NOISE_PATTERN_XX, &WA_CONN_HEADER).map_err(crypto)?;
            noise.authenticate(&client_eph);
            noise.authenticate(&eph_pub);
            noise
                .mix_shared_secret(ephemeral.private_key.serialize(), &client_eph)
                .map_err(crypto)?;
            let enc_static = noise.encrypt(identity.static_public()).map_err(crypto)?;
            noise
                .mix_shared_secret(identity.static_private(), &client_eph)
                .map_err(crypto)?;
            let enc_cert = noise.encrypt(&identity.cert_chain).map_err(crypto)?;
            Ok(HelloOutcome::Xx {
                server_hello: server_hello_bytes(&eph_pub, Some(enc_static), enc_cert),
                pending: XxAwaitingFinish { noise, ephemeral },
            })
        }
    }
}

impl XxAwaitingFinish {
    /// Reads the ClientFinish; returns the transport cipher and the client's payload.
    pub fn finish(
        mut self,
        frame: &[u8],
    ) -> Result<(FrameCipher, wa::ClientPayload), HandshakeFailure> {
        let msg = wa::HandshakeMessage::decode_from_slice(frame)
            .map_err(|e| HandshakeFailure::Malformed(format!("handshake message: {e}")))?;
        let finish = msg
            .client_finish
            .into_option()
            .ok_or_else(|| HandshakeFailure::Malformed("no client finish".into()))?;
        let enc_static = finish
            .r#static
            .ok_or_else(|| HandshakeFailure::Malformed("client finish without static".into()))?;
        let enc_payload = finish
            .payload
            .ok_or_else(|| HandshakeFailure::Malformed("client finish without payload".into()))?;
        let client_static = key32(
            &self.noise.decrypt(&enc_static).map_err(crypto)?,
            "client static",
        )?;
        self.noise
            .mix_shared_secret(self.ephemeral.private_key.serialize(), &client_static)
            .map_err(crypto)?;
        let payload = decode_payload(&self.noise.decrypt(&enc_payload).map_err(crypto)?)?;
        let (client_write, server_write) = self.noise.finish().map_err(crypto)?;
        Ok((FrameCipher::new(client_write, server_write), payload))
    }
}

/// Decrypts inbound frames (client → server) in counter order.
pub struct FrameOpener {
    cipher: NoiseCipher,
    counter: u32,
}

/// Encrypts outbound frames (server → client) in counter order.
pub struct FrameSealer {
    cipher: NoiseCipher,
    counter: u32,
}

/// Both directions of an established link.
pub struct FrameCipher {
    pub opener: FrameOpener,
    pub sealer: FrameSealer,
}

impl FrameCipher {
    fn new(read: NoiseCipher, write: NoiseCipher) -> Self {
        Self {
            opener: FrameOpener {
                cipher: read,
                counter: 0,
            },
            sealer: FrameSealer {
                cipher: write,
                counter: 0,
            },
        }
    }
}

impl FrameOpener {
    /// Decrypts one inbound frame body in place.
    pub fn open(&mut self, mut frame: BytesMut) -> Result<BytesMut, HandshakeFailure> {
        let counter = self.counter;
        self.counter = counter
            .checked_add(1)
            .ok_or_else(|| HandshakeFailure::Crypto("read counter exhausted".into()))?;
        self.cipher
            .decrypt_in_place_with_counter(counter, &mut frame)
            .map_err(crypto)?;
        Ok(frame)
    }
}

impl FrameSealer {
    /// Encrypts a plaintext (marshalled node) and returns the wire frame with its length prefix.
    pub fn seal(&mut self, plaintext: Vec<u8>) -> Result<Vec<u8>, HandshakeFailure> {
        let counter = self.counter;
        self.counter = counter
            .checked_add(1)
            .ok_or_else(|| HandshakeFailure::Crypto("write counter exhausted".into()))?;
        let mut body = plaintext;
        self.cipher
            .encrypt_in_place_with_counter(counter, &mut body)
            .map_err(crypto)?;
        wacore::framing::encode_frame(&body, None).map_err(crypto)
    }
}

/// Strips the connection header (`WA` magic + dictionary version) from the first bytes a client
/// sends; returns the rest, or `None` if the prologue is not ours.
pub fn strip_conn_header(first: &[u8]) -> Option<&[u8]> {
    first.strip_prefix(&WA_CONN_HEADER[..])
}
