//! Fuzzes the agent-side decoder of server frames: no input may panic, hang or allocate without
//! bound; a frame that decodes must still decode after re-encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(message) = gsm_proto::codec::decode_server(text) {
        let again = gsm_proto::codec::decode_server(&gsm_proto::codec::encode(&message));
        // Floats may move by an ulp through a text round trip, so only decodability is checked.
        assert!(again.is_ok(), "a decoded frame must decode again after encoding: {message:?}");
    }
});
