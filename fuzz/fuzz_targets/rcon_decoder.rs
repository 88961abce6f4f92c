//! Fuzzes the Source RCON packet decoder: no input may panic, and a decoded packet must respect
//! the Size cap it was decoded under and encode back to the exact bytes it came from.
#![no_main]

use gsm_core::adapters::rcon::packet::{self, DEFAULT_MAX_SIZE, MIN_SIZE, VALVE_MAX_SIZE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for cap in [MIN_SIZE, VALVE_MAX_SIZE, DEFAULT_MAX_SIZE] {
        let mut rest = data;
        // Decode packet after packet, as a stream reader would with coalesced input.
        while let Ok(Some((decoded, used))) = packet::decode(rest, cap) {
            assert!(
                decoded.size() <= cap,
                "a decoded packet exceeds the cap {cap}: {}",
                decoded.size()
            );
            assert!(used > 0 && used <= rest.len(), "decode consumed {used} of {}", rest.len());
            let encoded = decoded.encode().expect("a decoded packet encodes");
            assert_eq!(encoded.as_slice(), &rest[..used], "re-encoding changed the bytes");
            rest = &rest[used..];
        }
    }
});
