//! Secrets the server hands out: API keys, join tokens and host credentials.
//!
//! Each is 256 random bits from the OS generator, shown once, and stored only as its SHA-256: the
//! values are high-entropy, so a fast hash is right (no per-request argon2), and a database leak
//! reveals nothing usable. API keys read `gsm_<key_id>_<secret>`: the id is public and indexed so a
//! key is found without scanning, and the `gsm_` prefix lets secret scanners spot leaked keys.
//! Comparisons of hashes are constant-time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::store::SecretHash;

/// The prefix of every API key.
pub const API_KEY_PREFIX: &str = "gsm_";
/// The prefix of every join token. Prefixes let secret scanners recognise leaked values, and keep
/// a token from starting with `-`, which a command line would read as a flag.
pub const JOIN_TOKEN_PREFIX: &str = "gsmj_";
/// The prefix of every host credential.
pub const CREDENTIAL_PREFIX: &str = "gsmh_";

/// 32 random bytes, URL-safe base64 without padding (43 characters).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A new one-time join token.
pub fn join_token() -> String {
    format!("{JOIN_TOKEN_PREFIX}{}", random_token())
}

/// A new host credential.
pub fn credential() -> String {
    format!("{CREDENTIAL_PREFIX}{}", random_token())
}

/// SHA-256 of a secret.
pub fn hash(secret: &str) -> SecretHash {
    SecretHash(Sha256::digest(secret.as_bytes()).into())
}

/// Constant-time equality of two hashes.
pub fn hashes_equal(a: &SecretHash, b: &SecretHash) -> bool {
    a.0.iter().zip(b.0.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A freshly made API key: the full key (shown once), its public id and the hash of its secret.
#[derive(Debug)]
pub struct NewApiKey {
    /// `gsm_<key_id>_<secret>`.
    pub full: String,
    /// The public, indexed part.
    pub key_id: String,
    /// What the store keeps.
    pub secret_hash: SecretHash,
}

/// Makes a new API key.
pub fn new_api_key() -> NewApiKey {
    let mut id_bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut id_bytes);
    let key_id: String = id_bytes.iter().map(|b| format!("{b:02x}")).collect();
    let secret = random_token();
    NewApiKey {
        full: format!("{API_KEY_PREFIX}{key_id}_{secret}"),
        key_id,
        secret_hash: hash(&secret),
    }
}

/// Splits `gsm_<key_id>_<secret>` into its id and secret; `None` when it has another shape.
pub fn parse_api_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix(API_KEY_PREFIX)?;
    let (key_id, secret) = rest.split_once('_')?;
    let id_ok = key_id.len() == 16 && key_id.bytes().all(|b| b.is_ascii_hexdigit());
    (id_ok && !secret.is_empty() && secret.len() <= 128).then_some((key_id, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_parse_back_into_id_and_secret() {
        let key = new_api_key();
        let (id, secret) = parse_api_key(&key.full).unwrap();
        assert_eq!(id, key.key_id);
        assert!(hashes_equal(&hash(secret), &key.secret_hash));
    }

    #[test]
    fn malformed_api_keys_are_refused() {
        for key in [
            "",
            "gsm_",
            "gsm_abc_def",
            "xyz_0123456789abcdef_s",
            "gsm_0123456789abcdef_",
            "gsm_0123456789abcdeg_s",
        ] {
            assert_eq!(parse_api_key(key), None, "{key}");
        }
    }

    #[test]
    fn handed_out_secrets_never_look_like_command_line_flags() {
        for _ in 0..1000 {
            assert!(join_token().starts_with(JOIN_TOKEN_PREFIX));
            assert!(credential().starts_with(CREDENTIAL_PREFIX));
            assert!(!new_api_key().full.starts_with('-'));
        }
    }

    #[test]
    fn tokens_are_long_and_distinct() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(!hashes_equal(&hash(&a), &hash(&b)));
    }
}
