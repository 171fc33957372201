//! Binary-node helpers: decoding a decrypted frame into a node, encoding a node for the wire,
//! reading attributes, and the small iq/stream-error shapes the server answers with.

use wacore_binary::builder::NodeBuilder;
use wacore_binary::{Node, NodeContent};

/// The server's own JID as it appears in `from` attributes.
pub const SERVER: &str = "s.whatsapp.net";

/// Decodes a decrypted frame (flag byte, optionally zlib) into an owned node.
pub fn decode(plaintext: &[u8]) -> Result<Node, String> {
    let unpacked = wacore_binary::util::unpack(plaintext).map_err(|e| e.to_string())?;
    let node = wacore_binary::marshal::unmarshal_ref(&unpacked).map_err(|e| e.to_string())?;
    Ok(node.to_owned())
}

/// Encodes a node (with the leading flag byte) ready for encryption.
pub fn encode(node: &Node) -> Result<Vec<u8>, String> {
    wacore_binary::marshal::marshal(node).map_err(|e| e.to_string())
}

/// An attribute as a string, if present.
pub fn attr(node: &Node, key: &str) -> Option<String> {
    node.attrs.get(key).map(|v| v.as_str().into_owned())
}

/// Children of a node (empty when it has none).
pub fn children(node: &Node) -> &[Node] {
    node.children().unwrap_or(&[])
}

/// The first child with this tag.
pub fn child<'a>(node: &'a Node, tag: &str) -> Option<&'a Node> {
    node.get_optional_child(tag)
}

/// Raw byte content of a node.
pub fn bytes(node: &Node) -> Option<&[u8]> {
    match node.content.as_ref()? {
        NodeContent::Bytes(b) => Some(b),
        NodeContent::String(s) => Some(s.as_bytes()),
        NodeContent::Nodes(_) => None,
    }
}

/// `<iq type="result" id from="s.whatsapp.net">` with the given children.
pub fn iq_result(id: &str, content: Vec<Node>) -> Node {
    let builder = NodeBuilder::new("iq")
        .attr("type", "result")
        .attr("id", id.to_string())
        .attr("from", SERVER);
    if content.is_empty() {
        builder.build()
    } else {
        builder.children(content).build()
    }
}

/// `<iq type="error" id from><error code text/></iq>`.
pub fn iq_error(id: &str, code: u16, text: &str) -> Node {
    NodeBuilder::new("iq")
        .attr("type", "error")
        .attr("id", id.to_string())
        .attr("from", SERVER)
        .children([NodeBuilder::new("error")
            .attr("code", code.to_string())
            .attr("text", text.to_string())
            .build()])
        .build()
}

/// A `<stream:error code="…"/>`.
pub fn stream_error_code(code: &str) -> Node {
    NodeBuilder::new("stream:error")
        .attr("code", code.to_string())
        .build()
}

/// `<stream:error><conflict type="replaced"/></stream:error>`.
pub fn stream_error_replaced() -> Node {
    NodeBuilder::new("stream:error")
        .children([NodeBuilder::new("conflict")
            .attr("type", "replaced")
            .build()])
        .build()
}

/// Unix seconds now, as the `t` attribute string.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
