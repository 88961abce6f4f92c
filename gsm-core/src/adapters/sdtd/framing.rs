//! Telnet framing for the 7DTD console: raw bytes in, text lines out. Pure: no I/O.
//!
//! The 7DTD console is "not a real Telnet server but a raw text interface": it sends UTF-8 text,
//! each line ending in CR LF, in 64-character slices, so one line — and one UTF-8 character — may
//! span several TCP reads. [`LineFramer`] therefore assembles lines from bytes first and decodes
//! each complete line to text afterwards, never a read at a time.
//!
//! The rules, all of them chosen so a hostile or broken peer costs bounded memory and never an
//! error the caller must handle specially:
//! - CR LF, LF and a lone CR each end a line; an LF right after a CR is part of the same line end,
//!   even when the two arrive in different reads. Empty lines are kept (the banner has them).
//! - NUL bytes are dropped wherever they appear: the server sends one per log line to a session
//!   that has not logged in yet.
//! - Telnet IAC sequences (`0xFF` and what follows: a two-byte command, a three-byte option
//!   negotiation, or a subnegotiation up to `IAC SE`) are dropped. 7DTD never sends them; `0xFF`
//!   cannot occur in UTF-8, so nothing legitimate is lost.
//! - At most [`LineFramer::limit`] raw bytes may arrive between two line ends, counting the dropped
//!   NUL and IAC bytes, so a flood of either also hits the cap. Past it the framer yields
//!   [`Frame::TooLong`] once, forgets the partial line and skips to the next line end; the
//!   console client treats that as a protocol error and closes the connection.
//! - Invalid UTF-8 decodes lossily (U+FFFD), never as a failure.

/// The default cap on one line: 64 KiB of raw bytes between two line ends.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

const IAC: u8 = 0xFF;
const SB: u8 = 250;
const SE: u8 = 240;

/// What the framer produced from the bytes it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete line, without its line end, decoded from UTF-8 (lossily).
    Line(String),
    /// More than `limit` bytes arrived without a line end; the partial line was dropped and the
    /// framer skips to the next line end.
    TooLong {
        /// The cap that was exceeded, in bytes.
        limit: usize,
    },
}

/// Where the framer is inside a Telnet IAC sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Iac {
    /// Plain data.
    Data,
    /// After `IAC`.
    Command,
    /// After `IAC WILL|WONT|DO|DONT`: the option byte is next.
    Option,
    /// Inside `IAC SB …`.
    Sub,
    /// Inside a subnegotiation, after an `IAC`.
    SubCommand,
}

/// Assembles console lines from raw bytes. See the module documentation for the rules.
#[derive(Debug, Clone)]
pub struct LineFramer {
    line: Vec<u8>,
    raw_len: usize,
    limit: usize,
    iac: Iac,
    after_cr: bool,
    skipping: bool,
}

impl Default for LineFramer {
    fn default() -> Self {
        LineFramer::new(MAX_LINE_BYTES)
    }
}

impl LineFramer {
    /// A framer that allows at most `limit` raw bytes between two line ends.
    pub fn new(limit: usize) -> Self {
        LineFramer {
            line: Vec::new(),
            raw_len: 0,
            limit,
            iac: Iac::Data,
            after_cr: false,
            skipping: false,
        }
    }

    /// The cap on raw bytes between two line ends.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes of the partial line held back for the next read; never more than the limit.
    pub fn pending_bytes(&self) -> usize {
        self.line.len()
    }

    /// Feeds bytes as they came off the socket and appends what they complete to `out`.
    pub fn push(&mut self, mut input: &[u8], out: &mut Vec<Frame>) {
        while let Some((&first, rest)) = input.split_first() {
            if self.iac != Iac::Data {
                self.iac_byte(first, out);
                input = rest;
                continue;
            }
            let (plain, rest) = input.split_at(find_special(input));
            let whole_line = !plain.is_empty()
                && self.line.is_empty()
                && !self.skipping
                && self.raw_len + plain.len() <= self.limit;
            if let (true, Some((&end @ (b'\r' | b'\n'), rest))) = (whole_line, rest.split_first()) {
                // The common case, a whole line in one read: decode it straight from the input.
                out.push(Frame::Line(String::from_utf8_lossy(plain).into_owned()));
                self.raw_len = 0;
                self.after_cr = end == b'\r';
                input = rest;
                continue;
            }
            if !plain.is_empty() {
                self.after_cr = false;
                if self.account(plain.len(), out) {
                    self.line.extend_from_slice(plain);
                }
            }
            let Some((&byte, rest)) = rest.split_first() else { return };
            input = rest;
            match byte {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\n' => self.end_line(out),
                b'\r' => {
                    self.end_line(out);
                    self.after_cr = true;
                }
                0 => {
                    // Invisible: a NUL between CR and LF must not turn one line end into two.
                    self.account(1, out);
                }
                _ => {
                    self.after_cr = false;
                    self.account(1, out);
                    self.iac = Iac::Command;
                }
            }
        }
    }

    /// Ends the input: returns the partial line held back, if any (a file that does not end in a
    /// newline). A socket closed mid-line should ignore it: the line is incomplete.
    pub fn finish(&mut self) -> Option<Frame> {
        let partial = (!self.skipping && !self.line.is_empty()).then(|| self.decode());
        self.line.clear();
        self.raw_len = 0;
        self.iac = Iac::Data;
        self.after_cr = false;
        self.skipping = false;
        partial.map(Frame::Line)
    }

    fn iac_byte(&mut self, byte: u8, out: &mut Vec<Frame>) {
        self.account(1, out);
        self.iac = match (self.iac, byte) {
            (Iac::Command, 251..=254) => Iac::Option,
            (Iac::Command, SB) => Iac::Sub,
            (Iac::Sub, IAC) => Iac::SubCommand,
            (Iac::Sub, _) => Iac::Sub,
            (Iac::SubCommand, SE) => Iac::Data,
            (Iac::SubCommand, _) => Iac::Sub,
            // `IAC IAC` (a literal 0xFF, never valid UTF-8), a two-byte command, an option byte,
            // or a byte that makes no sense after IAC: all dropped.
            (Iac::Command | Iac::Option | Iac::Data, _) => Iac::Data,
        };
    }

    /// Counts `n` raw bytes towards the current line; false when they must be dropped.
    fn account(&mut self, n: usize, out: &mut Vec<Frame>) -> bool {
        self.raw_len = self.raw_len.saturating_add(n);
        if self.skipping {
            return false;
        }
        if self.raw_len > self.limit {
            self.skipping = true;
            // Give the memory back: a peer that sent one huge line may well send another.
            self.line = Vec::new();
            out.push(Frame::TooLong { limit: self.limit });
            return false;
        }
        true
    }

    fn end_line(&mut self, out: &mut Vec<Frame>) {
        if self.skipping {
            self.skipping = false;
        } else {
            out.push(Frame::Line(self.decode()));
        }
        self.line.clear();
        self.raw_len = 0;
    }

    fn decode(&self) -> String {
        String::from_utf8_lossy(&self.line).into_owned()
    }
}

fn is_special(byte: u8) -> bool {
    matches!(byte, b'\r' | b'\n' | 0 | IAC)
}

/// The index of the first CR, LF, NUL or IAC byte, or `bytes.len()`. Eight bytes at a time: a
/// word has a zero byte exactly when `(w - 0x01…) & !w & 0x80…` is non-zero, and XOR with a
/// repeated byte turns that byte into zero.
fn find_special(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let has_zero = |word: u64| word.wrapping_sub(ONES) & !word & HIGHS != 0;
    let mut start = 0;
    for chunk in bytes.chunks_exact(8) {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_ne_bytes(word);
        let special = has_zero(word)
            || has_zero(!word)
            || has_zero(word ^ (ONES * u64::from(b'\r')))
            || has_zero(word ^ (ONES * u64::from(b'\n')));
        if special {
            break;
        }
        start += 8;
    }
    let tail = &bytes[start..];
    start + tail.iter().position(|&b| is_special(b)).unwrap_or(tail.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(framer: &mut LineFramer, chunks: &[&[u8]]) -> Vec<Frame> {
        let mut out = Vec::new();
        for chunk in chunks {
            framer.push(chunk, &mut out);
        }
        out
    }

    fn check(chunks: &[&[u8]], expected: &[&str]) {
        let got = frames(&mut LineFramer::default(), chunks);
        let expected: Vec<Frame> = expected.iter().map(|l| Frame::Line((*l).to_owned())).collect();
        assert_eq!(got, expected, "chunks {chunks:?}");
        // Byte by byte gives the same lines: framing never depends on how reads fall.
        let joined: Vec<u8> = chunks.concat();
        let singles: Vec<&[u8]> = joined.chunks(1).collect();
        assert_eq!(frames(&mut LineFramer::default(), &singles), expected, "byte by byte");
    }

    #[test]
    fn crlf_lf_and_lone_cr_each_end_one_line() {
        check(&[b"a\r\nb\nc\rd\r\n"], &["a", "b", "c", "d"]);
        check(&[b"a\r", b"\nb\r\n"], &["a", "b"]);
        check(&[b"\r\n\r\n"], &["", ""]);
        check(&[b"partial"], &[]);
        check(&[b"par", b"tial\r\n"], &["partial"]);
    }

    #[test]
    fn nul_bytes_vanish_even_between_cr_and_lf() {
        check(&[b"Please enter password:\r\n\0\0"], &["Please enter password:"]);
        check(&[b"\0\0Logon successful.\r\0\n"], &["Logon successful."]);
        check(&[b"a\0b\r\n"], &["ab"]);
    }

    #[test]
    fn iac_sequences_are_dropped_wherever_they_fall() {
        check(&[b"\xff\xfb\x01Please\xff\xf1 enter\r\n"], &["Please enter"]);
        check(&[b"a\xff\xfa\x18\x01ter\nm\xff\xf0b\r\n"], &["ab"]);
        check(&[b"a\xff", b"\xfd", b"\x03b\n"], &["ab"]);
        check(&[b"a\xff\xffb\n"], &["ab"]);
    }

    #[test]
    fn utf8_split_across_reads_decodes_whole_and_invalid_bytes_decode_lossily() {
        check(&[b"Zo\xc3", b"\xab\r\n"], &["Zoë"]);
        check(&[b"caf\xe9 [FF0000]red[-]\r\n"], &["caf\u{fffd} [FF0000]red[-]"]);
    }

    #[test]
    fn an_overlong_line_is_reported_once_and_the_next_line_is_intact() {
        let mut framer = LineFramer::new(8);
        let got = frames(&mut framer, &[b"12345678", b"9abc", b"def\r\nok\r\n"]);
        assert_eq!(got, [Frame::TooLong { limit: 8 }, Frame::Line("ok".to_owned())]);
        let exact = frames(&mut framer, &[b"12345678\n"]);
        assert_eq!(exact, [Frame::Line("12345678".to_owned())]);
    }

    #[test]
    fn ten_mib_without_a_newline_never_holds_more_than_the_cap() {
        let mut framer = LineFramer::default();
        let chunk = vec![b'x'; 8192];
        let mut out = Vec::new();
        for _ in 0..(10 * 1024 * 1024 / chunk.len()) {
            framer.push(&chunk, &mut out);
            assert!(framer.pending_bytes() <= MAX_LINE_BYTES);
        }
        assert_eq!(out, [Frame::TooLong { limit: MAX_LINE_BYTES }]);
    }

    #[test]
    fn nul_and_iac_floods_count_towards_the_cap() {
        let mut framer = LineFramer::new(16);
        let got = frames(&mut framer, &[&[0u8; 17], b"\n"]);
        assert_eq!(got, [Frame::TooLong { limit: 16 }]);
        let flood: Vec<u8> = [IAC, 251, 1].repeat(10);
        let got = frames(&mut framer, &[&flood, b"\n"]);
        assert_eq!(got, [Frame::TooLong { limit: 16 }]);
        let got = frames(&mut framer, &[b"\xff\xfaendless subnegotiation\r\n"]);
        assert_eq!(got, [Frame::TooLong { limit: 16 }]);
    }

    #[test]
    fn the_word_scan_finds_the_first_special_byte_at_every_offset() {
        for special in [b'\r', b'\n', 0, IAC] {
            for at in 0..40 {
                let mut bytes = vec![b'a'; 40];
                bytes[at] = special;
                if at + 3 < 40 {
                    bytes[at + 3] = b'\n';
                }
                assert_eq!(find_special(&bytes), at, "byte {special:#x} at {at}");
            }
        }
        assert_eq!(find_special(&[0x7f, 0xfe, 0x0c, 0x0e, 0x01, 0x80, 0x09, 0x0b, 0xc3, 0xab]), 10);
        assert_eq!(find_special(b""), 0);
    }

    #[test]
    fn finish_returns_an_unterminated_last_line() {
        let mut framer = LineFramer::default();
        assert_eq!(frames(&mut framer, &[b"a\nlast"]), [Frame::Line("a".to_owned())]);
        assert_eq!(framer.finish(), Some(Frame::Line("last".to_owned())));
        assert_eq!(framer.finish(), None);
    }
}
