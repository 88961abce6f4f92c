//! Fuzzes the 7DTD log-line parser and the command-output parsers: no input may panic or hang,
//! an event keeps its raw line, and every event survives a JSON round trip (a NaN or an infinity
//! would not: JSON has no such numbers).
#![no_main]

use gsm_core::adapters::sdtd::events::{self, LogEvent};
use gsm_core::adapters::sdtd::{delimit, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(event) = events::parse_line(&text) {
        assert_eq!(event.raw, text.strip_suffix('\r').unwrap_or(&text));
        let json = serde_json::to_string(&event).expect("an event always serialises");
        let back: LogEvent = serde_json::from_str(&json).expect("a serialised event parses back");
        // Floats may move by an ulp through a text round trip (serde_json's default parser), so
        // the rest is compared exactly and the numbers only for being finite, which JSON needs.
        assert_eq!((&back.raw, &back.time, &back.level), (&event.raw, &event.time, &event.level));
        assert_eq!(back.event.kind(), event.event.kind(), "{json}");
    }
    let _ = delimit::is_log_line(&text);
    let _ = parse::version(&text);
    let _ = parse::players(&text);
    let _ = parse::world_time(&text);
    let _ = parse::mem(&text);
    let lines: Vec<&str> = text.lines().collect();
    let _ = parse::banner(&lines);
});
