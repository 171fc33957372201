//! What an inbound WhatsApp message becomes on the wire: the `incoming_message` event's data.
//! Text travels as text; any other kind is named by its type, without content.

use serde_json::{Value, json};
use whatsapp_rust::types::events::InboundMessage;
use whatsapp_rust::wacore::proto_helpers::MessageExt;
use whatsapp_rust::waproto::whatsapp as wa;

/// The kind of a message, as the `type` field names it.
pub fn message_kind(message: &wa::Message) -> &'static str {
    let base = message.get_base_message();
    if message.text_content().is_some() {
        return "text";
    }
    let kinds: [(bool, &'static str); 11] = [
        (base.image_message.as_option().is_some(), "image"),
        (base.video_message.as_option().is_some(), "video"),
        (base.audio_message.as_option().is_some(), "audio"),
        (base.document_message.as_option().is_some(), "document"),
        (base.sticker_message.as_option().is_some(), "sticker"),
        (base.location_message.as_option().is_some(), "location"),
        (
            base.live_location_message.as_option().is_some(),
            "live_location",
        ),
        (base.contact_message.as_option().is_some(), "contact"),
        (
            base.contacts_array_message.as_option().is_some(),
            "contacts",
        ),
        (base.reaction_message.as_option().is_some(), "reaction"),
        (base.protocol_message.as_option().is_some(), "protocol"),
    ];
    kinds
        .into_iter()
        .find_map(|(present, kind)| present.then_some(kind))
        .unwrap_or("unknown")
}

/// The event data for an inbound message, or `None` for our own messages echoed back.
pub fn incoming_event(session_id: &str, item: &InboundMessage) -> Option<(String, Value)> {
    let info = &item.info;
    if info.source.is_from_me {
        return None;
    }
    let sender = &info.source.sender;
    // Prefer the phone-number form when the sender is addressed by LID.
    let from = match &info.source.sender_alt {
        Some(alt) if matches!(sender.server, whatsapp_rust::Server::Lid) => alt.user.to_string(),
        _ => sender.user.to_string(),
    };
    let kind = message_kind(&item.message);
    let text = (kind == "text")
        .then(|| item.message.text_content().map(str::to_string))
        .flatten();
    let wa_id = info.id.to_string();
    let data = json!({
        "sessionId": session_id,
        "messageId": wa_id,
        "from": from,
        "fromName": info.push_name,
        "chatId": info.source.chat.to_string(),
        "isGroup": info.source.is_group,
        "type": kind,
        "message": text,
        "timestamp": info.timestamp.timestamp(),
    });
    Some((wa_id, data))
}
