//! Decoding and encoding agent-protocol frames, defensively.
//!
//! Peer input is hostile until proven otherwise: the size bound is checked before any parsing, the
//! message kind is read before the body so an unknown kind gets an explicit `unsupported` (a newer
//! peer, not garbage), and every failure is a typed [`ProtocolError`], never a panic.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::agent::{AgentMessage, ServerMessage};

/// The largest frame either side accepts, in bytes. A 64 KiB log chunk is about 88 KiB in base64.
pub const MAX_FRAME_BYTES: usize = 1024 * 1024;

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The frame is larger than [`MAX_FRAME_BYTES`].
    #[error("frame of {size} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// The frame's size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The frame is not a JSON object with a string `"type"`.
    #[error("malformed frame: {detail}")]
    Malformed {
        /// What the parser said.
        detail: String,
    },
    /// The frame names a message kind this build does not know.
    #[error("unsupported message type {kind:?}; this side speaks: {known}")]
    Unsupported {
        /// The kind the peer sent.
        kind: String,
        /// The kinds this side knows, comma-separated.
        known: String,
    },
    /// A binary frame where only text frames are used.
    #[error("binary frames are not part of the agent protocol; send JSON text frames")]
    BinaryFrame,
}

impl ProtocolError {
    /// A stable code for the error, sent to the peer in an error message.
    pub fn code(&self) -> &'static str {
        match self {
            ProtocolError::TooLarge { .. } => "frame_too_large",
            ProtocolError::Malformed { .. } => "malformed",
            ProtocolError::Unsupported { .. } => "unsupported",
            ProtocolError::BinaryFrame => "binary_frame",
        }
    }
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
}

fn decode<T: DeserializeOwned>(text: &str, known: &[&str]) -> Result<T, ProtocolError> {
    if text.len() > MAX_FRAME_BYTES {
        return Err(ProtocolError::TooLarge { size: text.len(), max: MAX_FRAME_BYTES });
    }
    let envelope: Envelope = serde_json::from_str(text)
        .map_err(|err| ProtocolError::Malformed { detail: err.to_string() })?;
    if !known.contains(&envelope.kind.as_str()) {
        // Echo at most 64 bytes of the peer's kind, cut on a character boundary.
        let kind: String = envelope
            .kind
            .chars()
            .scan(0, |len, c| {
                *len += c.len_utf8();
                (*len <= 64).then_some(c)
            })
            .collect();
        return Err(ProtocolError::Unsupported { kind, known: known.join(", ") });
    }
    serde_json::from_str(text).map_err(|err| ProtocolError::Malformed { detail: err.to_string() })
}

/// Decodes a frame the agent sent.
pub fn decode_agent(text: &str) -> Result<AgentMessage, ProtocolError> {
    decode(text, AgentMessage::KINDS)
}

/// Decodes a frame the server sent.
pub fn decode_server(text: &str) -> Result<ServerMessage, ProtocolError> {
    decode(text, ServerMessage::KINDS)
}

/// Encodes a message as one JSON text frame.
pub fn encode<T: serde::Serialize>(message: &T) -> String {
    // Serialising these types cannot fail: every map key is a string and no Serialize impl errors.
    serde_json::to_string(message).unwrap_or_else(|err| {
        unreachable!("wire types always serialise to JSON (invariant of gsm-proto): {err}")
    })
}
