//! Answers to the iqs a logged-in client sends: keepalive, passive/active, prekey upload and
//! fetch (`encrypt`), device lists (`usync`), app-state sync and a companion's logout
//! (`md` / `remove-companion-device`). Anything else gets an iq error, which the client logs and
//! moves past.

use wacore_binary::Node;
use wacore_binary::builder::NodeBuilder;

use super::directory::{DeviceKeys, OneTimePreKey};
use super::server_state::{DeviceAddr, ServerState};
use super::stanza::{self, attr, bytes, child, children};
use super::{adv_identity, jid_parts};

/// The answer to an iq from a logged-in device (`None` for answers to our own iqs).
pub fn answer(state: &ServerState, me: &DeviceAddr, iq: &Node) -> Option<Node> {
    let id = attr(iq, "id")?;
    let kind = attr(iq, "type").unwrap_or_default();
    if kind == "result" || kind == "error" {
        return None;
    }
    let xmlns = attr(iq, "xmlns").unwrap_or_default();
    Some(match xmlns.as_str() {
        "w:p" | "passive" => stanza::iq_result(&id, vec![]),
        "encrypt" => encrypt(state, me, &id, iq),
        "usync" => usync(state, &id, iq),
        "w:sync:app:state" => app_state(&id, iq),
        "md" if child(iq, "remove-companion-device").is_some() => remove_companion(state, me, &id),
        _ => {
            tracing::debug!(xmlns, "fake server: unanswered iq");
            stanza::iq_error(&id, 501, "feature-not-implemented")
        }
    })
}

/// A logged-in companion unlinks itself: the device is forgotten, so its next login fails with 401.
fn remove_companion(state: &ServerState, me: &DeviceAddr, id: &str) -> Node {
    let removed = state
        .directory
        .lock()
        .expect("directory lock")
        .get_mut(&me.0)
        .and_then(|account| account.devices.remove(&me.1))
        .is_some();
    if removed {
        super::stats::Counters::bump(&state.counters.devices_removed);
    }
    stanza::iq_result(id, vec![])
}

fn be_uint(raw: &[u8]) -> u32 {
    raw.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b))
}

fn encrypt(state: &ServerState, me: &DeviceAddr, id: &str, iq: &Node) -> Node {
    if child(iq, "count").is_some() {
        let count = state
            .directory
            .lock()
            .expect("directory lock")
            .device(&me.0, me.1)
            .map_or(0, |d| d.keys.one_time.len());
        return stanza::iq_result(
            id,
            vec![
                NodeBuilder::new("count")
                    .attr("value", count.to_string())
                    .build(),
            ],
        );
    }
    if child(iq, "registration").is_some() {
        return match parse_upload(iq) {
            Some(keys) => {
                let mut directory = state.directory.lock().expect("directory lock");
                if let Some(device) = directory.device_mut(&me.0, me.1) {
                    device.keys = keys;
                }
                stanza::iq_result(id, vec![])
            }
            None => stanza::iq_error(id, 400, "bad-request"),
        };
    }
    if let Some(rotate) = child(iq, "rotate") {
        if let Some((skey_id, value, signature)) = child(rotate, "skey").and_then(parse_skey) {
            let mut directory = state.directory.lock().expect("directory lock");
            if let Some(device) = directory.device_mut(&me.0, me.1) {
                device.keys.signed_prekey_id = skey_id;
                device.keys.signed_prekey = value;
                device.keys.signed_prekey_signature = signature;
            }
        }
        return stanza::iq_result(id, vec![]);
    }
    if let Some(key) = child(iq, "key") {
        return prekey_bundles(state, id, key);
    }
    if child(iq, "digest").is_some() {
        return digest(state, me, id);
    }
    stanza::iq_error(id, 404, "item-not-found")
}

/// The digest of the bundle a device uploaded (WhatsApp's `<digest>` answer), which the client
/// checks against its own keys at every login. 404 only when nothing was uploaded: that answer
/// makes the client upload a fresh batch, so answering it always would grow the client's store
/// by a batch of pre-keys per login.
fn digest(state: &ServerState, me: &DeviceAddr, id: &str) -> Node {
    let directory = state.directory.lock().expect("directory lock");
    let Some(keys) = directory
        .device(&me.0, me.1)
        .map(|d| &d.keys)
        .filter(|k| !k.identity.is_empty())
    else {
        return stanza::iq_error(id, 404, "item-not-found");
    };
    let public_keys: Vec<&[u8]> = keys.one_time.iter().map(|(_, pk)| pk.as_slice()).collect();
    let hash = wacore::prekeys::compute_key_bundle_digest(
        &keys.identity,
        &keys.signed_prekey,
        &keys.signed_prekey_signature,
        &public_keys,
    );
    let ids = keys.one_time.iter().map(|(pk_id, _)| key_id_node(*pk_id));
    let mut nodes = bundle_head(keys);
    nodes.push(NodeBuilder::new("list").children(ids).build());
    nodes.push(NodeBuilder::new("hash").bytes(hash).build());
    super::stats::Counters::bump(&state.counters.digests_answered);
    let digest = NodeBuilder::new("digest").children(nodes).build();
    stanza::iq_result(id, vec![digest])
}

/// What a device's bundle and its digest both start with: registration id, key type, identity and
/// signed pre-key.
fn bundle_head(keys: &DeviceKeys) -> Vec<Node> {
    vec![
        NodeBuilder::new("registration")
            .bytes(keys.registration_id.to_be_bytes().to_vec())
            .build(),
        NodeBuilder::new("type").bytes(vec![5u8]).build(),
        NodeBuilder::new("identity")
            .bytes(keys.identity.clone())
            .build(),
        NodeBuilder::new("skey")
            .children([
                key_id_node(keys.signed_prekey_id),
                NodeBuilder::new("value")
                    .bytes(keys.signed_prekey.clone())
                    .build(),
                NodeBuilder::new("signature")
                    .bytes(keys.signed_prekey_signature.clone())
                    .build(),
            ])
            .build(),
    ]
}

/// A pre-key id as the wire carries it: `<id>` with 3 big-endian bytes.
fn key_id_node(id: u32) -> Node {
    NodeBuilder::new("id")
        .bytes(id.to_be_bytes()[1..].to_vec())
        .build()
}

fn parse_skey(skey: &Node) -> Option<(u32, Vec<u8>, Vec<u8>)> {
    Some((
        be_uint(bytes(child(skey, "id")?)?),
        bytes(child(skey, "value")?)?.to_vec(),
        bytes(child(skey, "signature")?)?.to_vec(),
    ))
}

fn parse_upload(iq: &Node) -> Option<DeviceKeys> {
    let registration = bytes(child(iq, "registration")?)?;
    let identity = bytes(child(iq, "identity")?)?.to_vec();
    let (signed_prekey_id, signed_prekey, signed_prekey_signature) =
        parse_skey(child(iq, "skey")?)?;
    let one_time = child(iq, "list")
        .map(|list| {
            children(list)
                .iter()
                .filter_map(|key| -> Option<OneTimePreKey> {
                    Some((
                        be_uint(bytes(child(key, "id")?)?),
                        bytes(child(key, "value")?)?.to_vec(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    Some(DeviceKeys {
        registration_id: be_uint(registration),
        identity,
        signed_prekey_id,
        signed_prekey,
        signed_prekey_signature,
        one_time,
    })
}

fn prekey_bundles(state: &ServerState, id: &str, key: &Node) -> Node {
    let mut directory = state.directory.lock().expect("directory lock");
    let mut users = Vec::new();
    for user in children(key) {
        let Some(jid) = attr(user, "jid") else {
            continue;
        };
        let Some((phone, device)) = jid_parts(&jid) else {
            continue;
        };
        let Some(record) = directory.device_mut(&phone, device) else {
            users.push(
                NodeBuilder::new("user")
                    .attr("jid", jid)
                    .children([NodeBuilder::new("error")
                        .attr("code", "406")
                        .attr("text", "not-acceptable")
                        .build()])
                    .build(),
            );
            continue;
        };
        let keys = &mut record.keys;
        let mut nodes = bundle_head(keys);
        if let Some((pk_id, pk)) = keys.one_time.pop_front() {
            nodes.push(
                NodeBuilder::new("key")
                    .children([
                        key_id_node(pk_id),
                        NodeBuilder::new("value").bytes(pk).build(),
                    ])
                    .build(),
            );
        }
        if device != 0
            && let Some(identity) = record.signed_identity.clone()
        {
            nodes.push(NodeBuilder::new("device-identity").bytes(identity).build());
        }
        users.push(
            NodeBuilder::new("user")
                .attr("jid", jid)
                .children(nodes)
                .build(),
        );
    }
    stanza::iq_result(id, vec![NodeBuilder::new("list").children(users).build()])
}

fn usync(state: &ServerState, id: &str, iq: &Node) -> Node {
    let Some(sync) = child(iq, "usync") else {
        return stanza::iq_error(id, 400, "bad-request");
    };
    let protocols: Vec<String> = child(sync, "query")
        .map(|q| children(q).iter().map(|p| p.tag.to_string()).collect())
        .unwrap_or_default();
    let listed = child(sync, "list").map(children).unwrap_or(&[]);
    if listed
        .iter()
        .any(|u| attr(u, "jid").is_some_and(|j| j.ends_with("@lid")))
    {
        return stanza::iq_error(id, 404, "item-not-found");
    }
    let directory = state.directory.lock().expect("directory lock");
    let mut users = Vec::new();
    for user in listed {
        let phone = match attr(user, "jid") {
            Some(jid) => match jid_parts(&jid) {
                Some((phone, _)) => phone,
                None => continue,
            },
            None => match child(user, "contact").and_then(bytes) {
                Some(raw) => String::from_utf8_lossy(raw)
                    .trim()
                    .trim_start_matches('+')
                    .to_string(),
                None => continue,
            },
        };
        let account = directory.get(&phone).filter(|a| !a.devices.is_empty());
        let mut results = Vec::new();
        for protocol in &protocols {
            match protocol.as_str() {
                "devices" => {
                    let mut devices = Vec::new();
                    let mut nodes = Vec::new();
                    if let Some(account) = account {
                        for (dev_id, record) in &account.devices {
                            let mut d = NodeBuilder::new("device").attr("id", dev_id.to_string());
                            if *dev_id != 0 {
                                d = d.attr("key-index", record.key_index.to_string());
                            }
                            devices.push(d.build());
                        }
                        nodes.push(NodeBuilder::new("device-list").children(devices).build());
                        nodes.push(
                            NodeBuilder::new("key-index-list")
                                .attr("ts", stanza::now_secs().to_string())
                                .bytes(adv_identity::key_index_list(account))
                                .build(),
                        );
                    } else {
                        nodes.push(NodeBuilder::new("device-list").build());
                    }
                    results.push(NodeBuilder::new("devices").children(nodes).build());
                }
                "contact" => {
                    let kind = if account.is_some() { "in" } else { "out" };
                    results.push(NodeBuilder::new("contact").attr("type", kind).build());
                }
                _ => {}
            }
        }
        users.push(
            NodeBuilder::new("user")
                .attr("jid", format!("{phone}@{}", stanza::SERVER))
                .children(results)
                .build(),
        );
    }
    let mut usync_node = NodeBuilder::new("usync");
    for key in ["sid", "mode", "context", "index"] {
        if let Some(v) = attr(sync, key) {
            usync_node = usync_node.attr(key, v);
        }
    }
    stanza::iq_result(
        id,
        vec![
            usync_node
                .attr("last", "true")
                .children([NodeBuilder::new("list").children(users).build()])
                .build(),
        ],
    )
}

fn app_state(id: &str, iq: &Node) -> Node {
    let collections = child(iq, "sync")
        .map(children)
        .unwrap_or(&[])
        .iter()
        .filter(|c| c.tag == "collection")
        .filter_map(|c| {
            let name = attr(c, "name")?;
            Some(
                NodeBuilder::new("collection")
                    .attr("name", name)
                    .attr("version", attr(c, "version").unwrap_or_else(|| "0".into()))
                    .build(),
            )
        })
        .collect::<Vec<_>>();
    stanza::iq_result(
        id,
        vec![NodeBuilder::new("sync").children(collections).build()],
    )
}
