//! The frame format of an append-only journal file: checksummed records written one after
//! another into space that was zero-filled beforehand (the agent's job ledger uses it; the file
//! handling lives with its user). Pure: bytes in, bytes out.
//!
//! Layout: an 8-byte [`MAGIC`], then frames of `length: u32 LE | crc32(payload): u32 LE |
//! payload`, then zeros. A zero length ends the log. A frame that is not intact (its length runs
//! past the end of the image, or its checksum is wrong) followed by nothing but zeros is the tail
//! of a write cut by a power loss — one nobody waited for, since flushing any later frame would
//! have flushed it too — and is dropped ([`Contents::torn_at`]). The same followed by other data
//! is damage ([`ParseError`]): its reader must not guess what it held.

/// The first bytes of every journal image; a new layout gets a new magic.
pub const MAGIC: &[u8; 8] = b"GSMJRNL1";
/// Bytes of a frame's header: the payload length and its checksum.
pub const HEADER: usize = 8;

/// Why a journal image cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} at byte {offset}")]
pub struct ParseError {
    /// Where.
    pub offset: u64,
    /// What is wrong there.
    pub what: &'static str,
}

/// What [`parse`] found in an image.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Contents {
    /// Every intact frame's payload, in order.
    pub frames: Vec<Vec<u8>>,
    /// The offset of a torn last frame that was dropped, if there was one.
    pub torn_at: Option<u64>,
    /// Where the next frame would go: the end of the last intact frame.
    pub end: u64,
}

/// Builds one frame around `payload`; `None` for an empty payload (a zero length ends the log)
/// or one of 4 GiB or more.
pub fn frame(payload: &[u8]) -> Option<Vec<u8>> {
    let len = u32::try_from(payload.len()).ok().filter(|len| *len > 0)?;
    let mut frame = Vec::with_capacity(HEADER + payload.len());
    frame.extend_from_slice(&len.to_le_bytes());
    frame.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    frame.extend_from_slice(payload);
    Some(frame)
}

/// Reads the frames of a journal image (see the module docs). An empty or all-zero image is an
/// empty journal: one created but never written.
pub fn parse(bytes: &[u8]) -> Result<Contents, ParseError> {
    let mut contents = Contents { end: MAGIC.len() as u64, ..Contents::default() };
    if bytes.iter().all(|b| *b == 0) {
        return Ok(contents);
    }
    if bytes.get(..MAGIC.len()) != Some(MAGIC.as_slice()) {
        return Err(ParseError { offset: 0, what: "not a gsm journal" });
    }
    let mut at = MAGIC.len();
    while let Some(header) = bytes.get(at..at + HEADER) {
        let (len, crc) = header.split_at(4);
        let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
        if len == 0 {
            break;
        }
        let crc = u32::from_le_bytes(crc.try_into().expect("4 bytes"));
        let start = at + HEADER;
        let payload = start
            .checked_add(len)
            .and_then(|stop| bytes.get(start..stop))
            .filter(|payload| crc32fast::hash(payload) == crc);
        match payload {
            Some(payload) => {
                contents.frames.push(payload.to_vec());
                at = start + len;
            }
            None => {
                let rest = start.saturating_add(len).min(bytes.len());
                if bytes[rest..].iter().any(|b| *b != 0) {
                    return Err(ParseError {
                        offset: at as u64,
                        what: "a damaged frame followed by more data",
                    });
                }
                contents.torn_at = Some(at as u64);
                break;
            }
        }
    }
    contents.end = at as u64;
    Ok(contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(frames: &[&[u8]], tail: usize) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        for payload in frames {
            bytes.extend_from_slice(&frame(payload).unwrap());
        }
        bytes.resize(bytes.len() + tail, 0);
        bytes
    }

    #[test]
    fn frames_read_back_in_order_and_the_end_is_where_the_next_goes() {
        let bytes = image(&[b"one", b"two"], 64);
        let read = parse(&bytes).unwrap();
        assert_eq!(read.frames, [b"one".to_vec(), b"two".to_vec()]);
        assert_eq!(read.torn_at, None);
        assert_eq!(read.end, (MAGIC.len() + 2 * HEADER + 6) as u64);
        assert_eq!(frame(b""), None, "a zero length would end the log");
    }

    #[test]
    fn a_torn_last_frame_is_dropped_and_damage_in_the_middle_is_refused() {
        let mut torn = image(&[b"kept", b"torn-frame"], 64);
        let last = torn.len() - 64 - 3;
        torn[last..last + 3].fill(0);
        let read = parse(&torn).unwrap();
        assert_eq!(read.frames, [b"kept".to_vec()]);
        assert_eq!(read.torn_at, Some((MAGIC.len() + HEADER + 4) as u64));

        // A header whose length runs past the end of the image: torn too.
        let mut cut = image(&[b"kept"], 0);
        cut.extend_from_slice(&1000u32.to_le_bytes());
        cut.extend_from_slice(&[1, 2, 3, 4, 5]);
        assert_eq!(parse(&cut).unwrap().frames, [b"kept".to_vec()]);

        let mut damaged = image(&[b"first", b"second", b"third"], 16);
        damaged[MAGIC.len() + HEADER + 2] ^= 0xff;
        let err = parse(&damaged).unwrap_err();
        assert_eq!(err.offset, MAGIC.len() as u64, "{err}");
    }

    #[test]
    fn an_empty_or_all_zero_image_is_an_empty_journal_and_a_stranger_is_refused() {
        assert!(parse(&[]).unwrap().frames.is_empty());
        assert!(parse(&[0; 4096]).unwrap().frames.is_empty());
        let err = parse(b"{\"format\":1}").unwrap_err();
        assert_eq!(err.offset, 0, "{err}");
        assert!(parse(b"GSMJ").is_err(), "a cut magic is not a journal");
    }
}
