//! Fuzzes the journal format the agent's job ledger is written in: no image may panic the
//! parser; whatever it reads is a prefix of intact frames that reads back the same once written
//! again; and appending a frame to what it read yields exactly one more frame.
#![no_main]

use gsm_core::journal::{MAGIC, frame, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(contents) = parse(data) else { return };
    let end = usize::try_from(contents.end).expect("the end fits in memory");
    assert!(end >= MAGIC.len() && (end <= data.len() || contents.frames.is_empty()));
    let mut rewritten = MAGIC.to_vec();
    for payload in &contents.frames {
        assert!(!payload.is_empty(), "an empty frame was read");
        rewritten.extend_from_slice(&frame(payload).expect("a read frame can be written"));
    }
    let again = parse(&rewritten).expect("frames the parser read parse again");
    assert_eq!(again.frames, contents.frames);
    assert_eq!(again.torn_at, None);
    rewritten.extend_from_slice(&frame(b"{\"entry\":\"acked\"}").unwrap());
    rewritten.extend_from_slice(&[0; 16]);
    let appended = parse(&rewritten).expect("an appended frame parses");
    assert_eq!(appended.frames.len(), contents.frames.len() + 1);
});
