//! Password hashing: argon2id, PHC strings, verification that costs the same whether or not the
//! account exists.
//!
//! Hashing is deliberately slow (see `AuthSettings::password_memory_kib` for the cost and why), so
//! callers run it on the blocking pool. When a login names an unknown email, [`Passwords::verify`]
//! is still run against a dummy hash made with the same parameters, so the answer's timing does
//! not tell which emails have accounts.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;

/// Shortest and longest accepted passwords (bytes).
pub const MIN_PASSWORD: usize = 12;
pub const MAX_PASSWORD: usize = 1024;

/// What went wrong hashing a password.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configured cost is not a valid argon2 parameter set.
    #[error("invalid argon2 parameters: {0}")]
    InvalidParams(String),
    /// Hashing failed.
    #[error("hashing failed: {0}")]
    HashFailed(String),
}

/// The server's password hasher.
#[derive(Clone)]
pub struct Passwords {
    argon2: Argon2<'static>,
    /// A hash of a random password with the same parameters, verified against when the user is
    /// unknown.
    dummy: String,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords").finish_non_exhaustive()
    }
}

impl Passwords {
    /// A hasher with `memory_kib` KiB and `iterations` passes, one lane.
    pub fn new(memory_kib: u32, iterations: u32) -> Result<Self, Error> {
        let params = Params::new(memory_kib, iterations, 1, None)
            .map_err(|err| Error::InvalidParams(err.to_string()))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut hasher = Self { argon2, dummy: String::new() };
        hasher.dummy = hasher.hash(&crate::secrets::random_token())?;
        Ok(hasher)
    }

    /// The PHC string of `password` with a fresh random salt.
    pub fn hash(&self, password: &str) -> Result<String, Error> {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let salt =
            SaltString::encode_b64(&salt).map_err(|err| Error::HashFailed(err.to_string()))?;
        let hash = self
            .argon2
            .hash_password(password.as_bytes(), &salt)
            .map_err(|err| Error::HashFailed(err.to_string()))?;
        Ok(hash.to_string())
    }

    /// Whether `password` matches the PHC string `stored` (a malformed one matches nothing).
    pub fn verify(&self, password: &str, stored: &str) -> bool {
        match PasswordHash::new(stored) {
            Ok(hash) => self.argon2.verify_password(password.as_bytes(), &hash).is_ok(),
            Err(_) => false,
        }
    }

    /// Spends the time a verification takes, for an unknown account; always false.
    pub fn verify_dummy(&self, password: &str) -> bool {
        let _ = self.verify(password, &self.dummy);
        false
    }
}

/// Checks a new password's length.
pub fn validate(password: &str) -> Result<(), String> {
    if password.len() < MIN_PASSWORD || password.len() > MAX_PASSWORD {
        return Err(format!("a password is {MIN_PASSWORD} to {MAX_PASSWORD} bytes long"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let passwords = Passwords::new(64, 1).unwrap();
        let hash = passwords.hash("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");
        assert!(passwords.verify("correct horse battery", &hash));
        assert!(!passwords.verify("correct horse batterz", &hash));
        assert!(!passwords.verify("correct horse battery", "not a phc string"));
        assert!(!passwords.verify_dummy("correct horse battery"));
    }
}
