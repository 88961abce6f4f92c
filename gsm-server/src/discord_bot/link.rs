//! `/link`'s one-time codes: made in Discord, redeemed over REST by the member themselves.
//!
//! A code is 60 random bits, written as `XXXX-XXXX-XXXX` in Crockford's base32 (no I, L, O, U),
//! so it survives being read aloud or retyped. It is stored only as a SHA-256 hash, works once,
//! for [`CODE_TTL`], and only in the org of the guild it was asked for in; redeeming it needs the
//! member's own access token, so whoever holds a code still cannot link without signing in.
//! 60 bits against a code that lives ten minutes and is tried once per authenticated request is
//! far beyond guessing.

use std::time::Duration;

use rand::RngCore;

use crate::secrets;
use crate::store::SecretHash;

/// How long a code works.
pub const CODE_TTL: Duration = Duration::from_secs(600);

/// Crockford's base32 alphabet.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters in a code, without the dashes.
const CODE_CHARS: usize = 12;

/// A new random code.
pub fn new_code() -> String {
    code_from_bits(rand::rng().next_u64())
}

/// The code spelling the low 60 bits of `bits` (tests make codes they know this way).
pub fn code_from_bits(bits: u64) -> String {
    let mut code = String::with_capacity(CODE_CHARS + 2);
    for i in 0..CODE_CHARS {
        if i > 0 && i % 4 == 0 {
            code.push('-');
        }
        let shift = 5 * (CODE_CHARS - 1 - i);
        code.push(char::from(ALPHABET[((bits >> shift) & 31) as usize]));
    }
    code
}

/// The hash of a code as typed: case, dashes and spaces do not matter, and the letters people
/// confuse with digits (`O`, `I`, `L`) read as those digits. `None` when it cannot be a code.
pub fn hash_typed(typed: &str) -> Option<SecretHash> {
    let mut code = String::with_capacity(CODE_CHARS);
    for ch in typed.chars().filter(|ch| !matches!(ch, '-' | ' ')) {
        let ch = match ch.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            ch => ch,
        };
        if !ch.is_ascii() || !ALPHABET.contains(&(ch as u8)) {
            return None;
        }
        code.push(ch);
    }
    (code.len() == CODE_CHARS).then(|| hash(&code))
}

/// The hash of a code as made (with its dashes).
pub fn hash_code(code: &str) -> SecretHash {
    hash(&code.replace('-', ""))
}

fn hash(canonical: &str) -> SecretHash {
    secrets::hash(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_reads_back_however_it_is_typed() {
        let code = code_from_bits(0x0fed_cba9_8765_4321);
        assert_eq!(code.len(), 14);
        let expected = hash_code(&code);
        assert_eq!(hash_typed(&code), Some(expected));
        assert_eq!(hash_typed(&code.to_lowercase().replace('-', " ")), Some(expected));
        assert_eq!(hash_typed(&code.replace('0', "o").replace('1', "l")), Some(expected));
    }

    #[test]
    fn what_cannot_be_a_code_is_refused() {
        for typed in ["", "ABCD", "ABCD-EFGH-JKMN-P", "ABCD-EFGH-JKMU", "ÄBCD-EFGH-JKMN"] {
            assert_eq!(hash_typed(typed), None, "{typed:?}");
        }
    }

    #[test]
    fn codes_differ() {
        assert_ne!(new_code(), new_code());
    }
}
