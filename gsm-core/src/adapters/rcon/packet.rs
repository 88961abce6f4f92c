//! The Source RCON packet codec: one [`Packet`] to bytes and back, pure (no I/O, no clock).
//!
//! A packet on the wire is `Size` (i32 LE, the bytes after it), `ID` (i32 LE), `Type` (i32 LE),
//! the body, and two NUL bytes: the body's terminator and the empty string Valve's layout ends
//! with. `Size` is therefore `4 + 4 + body + 2`, at least [`MIN_SIZE`].
//!
//! # Decisions
//!
//! - **The Size field is judged before anything is allocated.** A peer that is not an RCON
//!   server (an HTTP banner read as a length), a negative Size, or one above the configured
//!   maximum is a [`CodecError`] as soon as the four Size bytes are in: the frame buffer is only
//!   ever as large as a Size that passed the check.
//! - **The default maximum is Minecraft's, not Valve's.** Valve caps Size at 4096, but Minecraft
//!   splits output every 4096 Java chars and then encodes UTF-8, so one chunk carries up to
//!   4096 × 3 body bytes (a BMP char is at most 3 bytes; a surrogate pair is 2 chars and 4 bytes).
//!   [`DEFAULT_MAX_SIZE`] admits exactly that; a stricter client configures a smaller one.
//! - **The body is bytes, framed by Size, never by the first NUL.** Servers have sent NULs inside
//!   bodies and bytes that are not UTF-8 (Latin-1 `§`), so decoding keeps the body as it came and
//!   text is made of it later, lossily, by the client. The only check on content is the
//!   two-NUL tail: a frame that does not end `00 00` is a [`CodecError::BadTerminator`].
//! - **One packet, one buffer.** [`Packet::encode`] returns the whole packet in one `Vec`, so a
//!   client can hand it to a single `write` (Minecraft closes the connection when a request
//!   arrives in pieces).

#[cfg(test)]
mod tests;

/// The length of the Size field that starts every packet.
pub const SIZE_FIELD_LEN: usize = 4;
/// The smallest legal Size: ID, Type and the two NULs of an empty body.
pub const MIN_SIZE: usize = 10;
/// Valve's documented maximum Size (Source servers).
pub const VALVE_MAX_SIZE: usize = 4096;
/// The most body bytes one Minecraft response chunk carries: 4096 Java chars, each at most three
/// UTF-8 bytes.
pub const MINECRAFT_MAX_CHUNK_BODY: usize = 4096 * 3;
/// The default maximum Size a decoder accepts: one full Minecraft chunk.
pub const DEFAULT_MAX_SIZE: usize = MINECRAFT_MAX_CHUNK_BODY + MIN_SIZE;

/// One RCON packet. `kind` stays an `i32` because type 2 means `AUTH_RESPONSE` from the server
/// and `EXECCOMMAND` from the client, and servers answer types they do not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The request id the client chose; the server echoes it (`-1` answers a refused password).
    pub id: i32,
    /// The packet type, see the associated constants.
    pub kind: i32,
    /// The body, without its terminating NUL. May contain NULs and non-UTF-8 bytes.
    pub body: Vec<u8>,
}

/// Why bytes are not an RCON packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// Size is below [`MIN_SIZE`] (negative sizes included: a non-RCON peer, or garbage).
    #[error("packet size {size} is below the minimum of 10")]
    SizeTooSmall {
        /// The Size field as read.
        size: i32,
    },
    /// Size is above the configured maximum.
    #[error("packet size {size} is above the maximum of {max}")]
    SizeTooLarge {
        /// The Size field as read.
        size: i32,
        /// The decoder's maximum.
        max: usize,
    },
    /// The frame does not end with the two NUL bytes.
    #[error("packet does not end with two NUL bytes")]
    BadTerminator,
    /// A body too long for the Size field to describe.
    #[error("a body of {len} bytes does not fit in one packet")]
    BodyTooLong {
        /// The body's length.
        len: usize,
    },
}

impl Packet {
    /// `SERVERDATA_AUTH`: client → server, the body is the password.
    pub const AUTH: i32 = 3;
    /// `SERVERDATA_AUTH_RESPONSE`: server → client, the id is the request's or `-1`.
    pub const AUTH_RESPONSE: i32 = 2;
    /// `SERVERDATA_EXECCOMMAND`: client → server, the body is the command line.
    pub const EXEC_COMMAND: i32 = 2;
    /// `SERVERDATA_RESPONSE_VALUE`: server → client command output (and Valve's end probe).
    pub const RESPONSE_VALUE: i32 = 0;
    /// The id a server answers a refused password (or an unauthenticated command) with.
    pub const AUTH_FAILED_ID: i32 = -1;

    /// A packet with a body.
    pub fn new(id: i32, kind: i32, body: impl Into<Vec<u8>>) -> Self {
        Self { id, kind, body: body.into() }
    }

    /// The value of this packet's Size field.
    pub fn size(&self) -> usize {
        self.body.len() + MIN_SIZE
    }

    /// The whole packet as one buffer, ready for a single write.
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        let size = i32::try_from(self.size())
            .map_err(|_| CodecError::BodyTooLong { len: self.body.len() })?;
        let mut bytes = Vec::with_capacity(self.size() + SIZE_FIELD_LEN);
        bytes.extend_from_slice(&size.to_le_bytes());
        bytes.extend_from_slice(&self.id.to_le_bytes());
        bytes.extend_from_slice(&self.kind.to_le_bytes());
        bytes.extend_from_slice(&self.body);
        bytes.extend_from_slice(&[0, 0]);
        Ok(bytes)
    }
}

/// Checks a Size field against the bounds and returns how many bytes follow it.
///
/// This is the check that runs before a frame buffer is allocated: a stream reader reads the
/// four Size bytes, calls this, and only then reads exactly the returned number of bytes.
pub fn frame_len(size_field: [u8; SIZE_FIELD_LEN], max_size: usize) -> Result<usize, CodecError> {
    let size = i32::from_le_bytes(size_field);
    let Ok(len) = usize::try_from(size) else {
        return Err(CodecError::SizeTooSmall { size });
    };
    if len < MIN_SIZE {
        return Err(CodecError::SizeTooSmall { size });
    }
    if len > max_size {
        return Err(CodecError::SizeTooLarge { size, max: max_size });
    }
    Ok(len)
}

/// Parses the bytes after the Size field (exactly Size of them, as [`frame_len`] returned).
pub fn parse_frame(frame: &[u8]) -> Result<Packet, CodecError> {
    let Some((header, rest)) = frame.split_first_chunk::<8>() else {
        let size = i32::try_from(frame.len()).unwrap_or(i32::MAX);
        return Err(CodecError::SizeTooSmall { size });
    };
    let Some((body, [0, 0])) = rest.split_last_chunk::<2>() else {
        return Err(CodecError::BadTerminator);
    };
    let [i0, i1, i2, i3, k0, k1, k2, k3] = *header;
    let id = i32::from_le_bytes([i0, i1, i2, i3]);
    let kind = i32::from_le_bytes([k0, k1, k2, k3]);
    Ok(Packet { id, kind, body: body.to_vec() })
}

/// Decodes the first packet of `bytes`.
///
/// Returns `Ok(None)` while the packet is incomplete (more bytes are needed), and the packet with
/// the number of bytes it took otherwise; the bytes after it belong to the next packet. The Size
/// field is checked as soon as it is complete, so an absurd Size fails without waiting for (or
/// allocating) its body.
pub fn decode(bytes: &[u8], max_size: usize) -> Result<Option<(Packet, usize)>, CodecError> {
    let Some((size_field, rest)) = bytes.split_first_chunk::<SIZE_FIELD_LEN>() else {
        return Ok(None);
    };
    let len = frame_len(*size_field, max_size)?;
    let Some(frame) = rest.get(..len) else {
        return Ok(None);
    };
    Ok(Some((parse_frame(frame)?, SIZE_FIELD_LEN + len)))
}
