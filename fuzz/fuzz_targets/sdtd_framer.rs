//! Fuzzes the 7DTD Telnet line framer: no input may panic or hold more than the cap, lines never
//! carry CR, LF or NUL, and the lines do not depend on how the bytes were cut into reads.
#![no_main]

use gsm_core::adapters::sdtd::framing::{Frame, LineFramer};
use libfuzzer_sys::fuzz_target;

/// A small cap, so the fuzzer reaches the overlong path quickly.
const LIMIT: usize = 256;

fn frame(bytes: &[u8], chunk: usize) -> Vec<Frame> {
    let mut framer = LineFramer::new(LIMIT);
    let mut out = Vec::new();
    for piece in bytes.chunks(chunk) {
        framer.push(piece, &mut out);
        assert!(framer.pending_bytes() <= LIMIT, "the framer holds more than its cap");
    }
    out.extend(framer.finish());
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, bytes)) = data.split_first() else { return };
    let whole = frame(bytes, bytes.len().max(1));
    for frame in &whole {
        if let Frame::Line(line) = frame {
            assert!(!line.contains(['\r', '\n', '\0']), "a line carries a line end or NUL: {line:?}");
            // Lossy decoding turns each bad byte into U+FFFD, three bytes at most.
            assert!(line.len() <= LIMIT * 3, "a line is longer than the cap allows");
        }
    }
    let chunk = usize::from(split % 16) + 1;
    assert_eq!(frame(bytes, chunk), whole, "lines depend on {chunk}-byte reads");
    assert_eq!(frame(bytes, 1), whole, "lines depend on byte-by-byte reads");
});
