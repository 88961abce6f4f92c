//! The codec on its own: exact bytes, every rejection, and properties over arbitrary input.

use proptest::prelude::*;

use super::*;

/// The cap the properties run with: small enough that a wrongly trusted Size would show.
const CAP: usize = 64;

fn check(bytes: &[u8], expect: Result<Option<(Packet, usize)>, CodecError>) {
    assert_eq!(decode(bytes, DEFAULT_MAX_SIZE), expect, "decoding {bytes:02x?}");
}

#[test]
fn valves_auth_example_encodes_byte_for_byte() {
    let auth = Packet::new(0, Packet::AUTH, "passwrd");
    let expect =
        [0x11, 0, 0, 0, 0, 0, 0, 0, 0x03, 0, 0, 0, b'p', b'a', b's', b's', b'w', b'r', b'd', 0, 0];
    assert_eq!(auth.encode(), Ok(expect.to_vec()));
}

#[test]
fn frames_decode_or_fail_by_their_size_field_and_tail() {
    let empty = [0x0a, 0, 0, 0, 7, 0, 0, 0, 2, 0, 0, 0, 0, 0];
    check(&empty, Ok(Some((Packet::new(7, 2, ""), 14))));
    // Incomplete: nothing yet, part of the Size, part of the frame.
    check(&[], Ok(None));
    check(&empty[..3], Ok(None));
    check(&empty[..13], Ok(None));
    // Size 5, negative, 2^31 and an HTTP banner are refused from the Size field alone.
    check(&[5, 0, 0, 0], Err(CodecError::SizeTooSmall { size: 5 }));
    check(&(-1i32).to_le_bytes(), Err(CodecError::SizeTooSmall { size: -1 }));
    check(&[0, 0, 0, 0x80], Err(CodecError::SizeTooSmall { size: i32::MIN }));
    check(b"HTTP/1.1", Err(CodecError::SizeTooLarge { size: 0x5054_5448, max: DEFAULT_MAX_SIZE }));
    // The tail must be two NULs.
    let mut bad_tail = empty;
    bad_tail[13] = b'x';
    check(&bad_tail, Err(CodecError::BadTerminator));
    let mut one_nul = empty;
    one_nul[12] = b'x';
    check(&one_nul, Err(CodecError::BadTerminator));
}

#[test]
fn a_second_packet_in_the_same_bytes_is_left_for_the_next_decode() {
    let mut bytes = Packet::new(1, 0, "first").encode().unwrap();
    let second = Packet::new(2, 0, "second").encode().unwrap();
    bytes.extend_from_slice(&second);
    let (packet, used) = decode(&bytes, DEFAULT_MAX_SIZE).unwrap().unwrap();
    assert_eq!(packet.body, b"first");
    let (packet, rest) = decode(&bytes[used..], DEFAULT_MAX_SIZE).unwrap().unwrap();
    assert_eq!((packet.id, packet.body.as_slice(), rest), (2, &b"second"[..], second.len()));
}

#[test]
fn bodies_keep_inner_nuls_and_non_utf8_bytes() {
    let body = b"a\0b\xa7c\0".to_vec();
    let bytes = Packet::new(3, 0, body.clone()).encode().unwrap();
    let (packet, _) = decode(&bytes, DEFAULT_MAX_SIZE).unwrap().unwrap();
    assert_eq!(packet.body, body);
}

#[test]
fn a_full_minecraft_chunk_of_three_byte_chars_fits_the_default_cap() {
    let body = "€".repeat(4096).into_bytes();
    assert_eq!(body.len(), MINECRAFT_MAX_CHUNK_BODY);
    let bytes = Packet::new(4, 0, body.clone()).encode().unwrap();
    assert_eq!(decode(&bytes, DEFAULT_MAX_SIZE).unwrap().unwrap().0.body, body);
    // One byte more than the cap is refused before its frame is read.
    let over = i32::try_from(DEFAULT_MAX_SIZE + 1).unwrap().to_le_bytes();
    assert!(matches!(decode(&over, DEFAULT_MAX_SIZE), Err(CodecError::SizeTooLarge { .. })));
    // Valve's limit, when a client asks for it.
    assert!(matches!(
        frame_len(4097i32.to_le_bytes(), VALVE_MAX_SIZE),
        Err(CodecError::SizeTooLarge { size: 4097, max: 4096 })
    ));
}

fn any_packet() -> impl Strategy<Value = Packet> {
    (any::<i32>(), any::<i32>(), proptest::collection::vec(any::<u8>(), 0..CAP - MIN_SIZE))
        .prop_map(|(id, kind, body)| Packet { id, kind, body })
}

proptest! {
    #[test]
    fn decoding_an_encoded_packet_gives_it_back(packet in any_packet(), split in 0usize..CAP) {
        let bytes = packet.encode().unwrap();
        prop_assert_eq!(decode(&bytes, CAP), Ok(Some((packet.clone(), bytes.len()))));
        // Any proper prefix is "need more", never an error.
        let prefix = &bytes[..split.min(bytes.len() - 1)];
        prop_assert_eq!(decode(prefix, CAP), Ok(None));
    }

    #[test]
    fn arbitrary_bytes_never_panic_nor_decode_beyond_the_cap(
        bytes in proptest::collection::vec(any::<u8>(), 0..256)
    ) {
        if let Ok(Some((packet, used))) = decode(&bytes, CAP) {
            prop_assert!(packet.body.len() <= CAP - MIN_SIZE);
            prop_assert!(used <= CAP + SIZE_FIELD_LEN && used <= bytes.len());
            prop_assert_eq!(used, packet.size() + SIZE_FIELD_LEN);
        }
    }

    #[test]
    fn sizes_outside_the_bounds_fail_from_the_size_field_alone(size in any::<i32>()) {
        let verdict = frame_len(size.to_le_bytes(), CAP);
        let in_bounds = usize::try_from(size).is_ok_and(|len| (MIN_SIZE..=CAP).contains(&len));
        prop_assert_eq!(verdict.is_ok(), in_bounds);
        prop_assert_eq!(decode(&size.to_le_bytes(), CAP).is_err(), !in_bounds);
    }
}
