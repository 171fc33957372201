//! Message and receipt routing between devices. The server never decrypts: each `<enc>` addressed
//! to a device is handed to that device as a `<message>` from the sending device; receipts go to
//! the devices of the user they name. Offline devices get them at their next login.

use wacore_binary::Node;
use wacore_binary::builder::NodeBuilder;

use super::jid_parts;
use super::server_state::{DeviceAddr, Outbound, ServerState};
use super::stanza::{self, attr, child, children};
use super::stats::Counters;

fn device_jid(addr: &DeviceAddr) -> String {
    if addr.1 == 0 {
        format!("{}@{}", addr.0, stanza::SERVER)
    } else {
        format!("{}:{}@{}", addr.0, addr.1, stanza::SERVER)
    }
}

/// Attributes of the sender's stanza that travel with each delivered copy.
const CARRIED_MESSAGE_ATTRS: [&str; 4] = ["type", "edit", "category", "addressing_mode"];

/// Routes a `<message>` from `sender`; answers the sender with a server ack.
pub fn route_message(state: &ServerState, sender: &DeviceAddr, message: &Node) {
    let Some(id) = attr(message, "id") else {
        return;
    };
    let to = attr(message, "to").unwrap_or_default();
    let t = stanza::now_secs().to_string();
    let device_identity = child(message, "device-identity").cloned();

    // (recipient device, the <enc> children addressed to it)
    let mut targets: Vec<(DeviceAddr, Vec<Node>)> = Vec::new();
    if let Some(participants) = child(message, "participants") {
        for to_node in children(participants).iter().filter(|n| n.tag == "to") {
            let Some(addr) = attr(to_node, "jid").and_then(|j| jid_parts(&j)) else {
                continue;
            };
            let encs: Vec<Node> = children(to_node)
                .iter()
                .filter(|n| n.tag == "enc")
                .cloned()
                .collect();
            if !encs.is_empty() {
                targets.push((addr, encs));
            }
        }
    } else if let Some(addr) = jid_parts(&to) {
        let encs: Vec<Node> = children(message)
            .iter()
            .filter(|n| n.tag == "enc")
            .cloned()
            .collect();
        if !encs.is_empty() {
            targets.push((addr, encs));
        }
    }

    let chat_phone = jid_parts(&to).map(|(p, _)| p);
    let sender_jid = device_jid(sender);
    let routed = !targets.is_empty();
    for (addr, encs) in targets {
        let mut delivered = NodeBuilder::new("message")
            .attr("from", sender_jid.clone())
            .attr("id", id.clone())
            .attr("t", t.clone());
        for key in CARRIED_MESSAGE_ATTRS {
            if let Some(v) = attr(message, key) {
                delivered = delivered.attr(key, v);
            }
        }
        if addr.0 == sender.0
            && let Some(chat) = &chat_phone
        {
            // A copy for the sender's own other device names the chat it belongs to.
            delivered = delivered.attr("recipient", format!("{chat}@{}", stanza::SERVER));
        }
        let mut content = encs;
        if let Some(identity) = &device_identity {
            content.push(identity.clone());
        }
        let is_retry = content
            .iter()
            .any(|n| n.tag == "enc" && n.attrs.get("count").is_some());
        if !is_retry {
            state.record_delivery(&addr, &id);
        }
        state.deliver_or_queue(&addr, delivered.children(content).build());
    }
    if routed {
        Counters::bump(&state.counters.messages_routed);
    }

    let mut ack = NodeBuilder::new("ack")
        .attr("class", "message")
        .attr("id", id)
        .attr("t", t);
    if !to.is_empty() {
        ack = ack.attr("from", to);
    }
    state.send_to(sender, vec![Outbound::Node(ack.build())]);
}

/// Routes a `<receipt>` from `sender` to the devices of the user it is addressed to.
pub fn route_receipt(state: &ServerState, sender: &DeviceAddr, receipt: &Node) {
    let Some(id) = attr(receipt, "id") else {
        return;
    };
    let to = attr(receipt, "to").unwrap_or_default();
    let Some((to_phone, to_device)) = jid_parts(&to) else {
        return;
    };
    let kind = attr(receipt, "type");
    let mut forwarded = NodeBuilder::new("receipt")
        .attr("from", device_jid(sender))
        .attr("id", id.clone())
        .attr(
            "t",
            attr(receipt, "t").unwrap_or_else(|| stanza::now_secs().to_string()),
        );
    if let Some(kind) = &kind {
        forwarded = forwarded.attr("type", kind.clone());
    }
    if to_phone == sender.0 {
        // A receipt for one's own other devices (e.g. read on another device of the account).
        if let Some(recipient) = attr(receipt, "recipient") {
            forwarded = forwarded.attr("recipient", recipient);
        }
    }
    let node = if children(receipt).is_empty() {
        forwarded.build()
    } else {
        forwarded.children(children(receipt).to_vec()).build()
    };

    let devices: Vec<u16> = if to_device != 0 {
        vec![to_device]
    } else {
        state
            .directory
            .lock()
            .expect("directory lock")
            .device_ids(&to_phone)
    };
    let mut routed = false;
    for device in devices {
        let addr = (to_phone.clone(), device);
        if &addr == sender {
            continue;
        }
        state.deliver_or_queue(&addr, node.clone());
        routed = true;
    }
    if routed {
        Counters::bump(&state.counters.receipts_routed);
    }

    let mut ack = NodeBuilder::new("ack")
        .attr("class", "receipt")
        .attr("id", id)
        .attr("from", to);
    if let Some(kind) = kind {
        ack = ack.attr("type", kind);
    }
    state.send_to(sender, vec![Outbound::Node(ack.build())]);
}
