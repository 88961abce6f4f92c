//! Policy provenance: the agent runs only a policy file it can trust.
//!
//! Whoever can write the policy decides what the agent runs, so `gsm-agent run` refuses a policy
//! file that someone other than root or the agent's own user could have changed: the file and its
//! directory must be owned by one of them and not writable by group or others. Directories further
//! up need the same owners and must not be writable by others; group-writable ones are tolerated
//! there, because a common umask (002) makes every checkout so, and replacing a directory that far
//! up still needs write access to the policy's own directory or file. The check reads metadata only;
//! [`check_trust`] is a pure decision over it so every case is tested without changing owners.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Why a policy file is not trusted.
#[derive(Debug, thiserror::Error)]
pub enum Untrusted {
    /// The file or a directory above it could not be inspected.
    #[error("cannot inspect {path}: {source}")]
    Unreadable {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Owned by a user other than root and the agent's user.
    #[error(
        "{path} is owned by uid {owner}; a policy and the directories above it must be owned by root \
         or by the agent's user (uid {agent}) — `chown root {path}`"
    )]
    ForeignOwner {
        /// The path.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The agent's effective uid.
        agent: u32,
    },
    /// Writable by group or others.
    #[error("{path} is writable by group or others (mode {mode:o}); `chmod go-w {path}`")]
    Writable {
        /// The path.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

/// What the trust decision needs to know about one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ownership {
    /// Owner uid.
    pub uid: u32,
    /// Permission bits (including sticky).
    pub mode: u32,
    /// Whether it is a directory.
    pub is_dir: bool,
}

/// How strictly a path is judged: the policy file and its directory, or a directory further up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// The policy file or the directory that holds it: no group or other write.
    Near,
    /// A directory further up: no other write.
    Far,
}

/// The trust decision for one path: owned by root or `agent_uid`, and not writable by others (nor
/// by group at [`Level::Near`]) — except a sticky, root-owned directory such as `/tmp`, where
/// others cannot replace entries they do not own.
pub fn check_trust(
    path: &Path,
    meta: Ownership,
    level: Level,
    agent_uid: u32,
) -> Result<(), Untrusted> {
    if meta.uid != 0 && meta.uid != agent_uid {
        return Err(Untrusted::ForeignOwner {
            path: path.to_owned(),
            owner: meta.uid,
            agent: agent_uid,
        });
    }
    let sticky_root_dir = meta.is_dir && meta.uid == 0 && meta.mode & 0o1000 != 0;
    let forbidden = match level {
        Level::Near => 0o022,
        Level::Far => 0o002,
    };
    if meta.mode & forbidden != 0 && !sticky_root_dir {
        return Err(Untrusted::Writable { path: path.to_owned(), mode: meta.mode & 0o7777 });
    }
    Ok(())
}

/// Checks the policy file and every directory above it.
pub fn verify(policy: &Path) -> Result<(), Untrusted> {
    let agent_uid = rustix::process::geteuid().as_raw();
    let canonical = policy
        .canonicalize()
        .map_err(|source| Untrusted::Unreadable { path: policy.to_owned(), source })?;
    for (depth, path) in canonical.ancestors().enumerate() {
        let meta = std::fs::metadata(path)
            .map_err(|source| Untrusted::Unreadable { path: path.to_owned(), source })?;
        let ownership = Ownership { uid: meta.uid(), mode: meta.mode(), is_dir: meta.is_dir() };
        let level = if depth < 2 { Level::Near } else { Level::Far };
        check_trust(path, ownership, level, agent_uid)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(uid: u32, mode: u32, is_dir: bool, expected: Option<&str>) {
        check_at(Level::Near, uid, mode, is_dir, expected);
    }

    fn check_at(level: Level, uid: u32, mode: u32, is_dir: bool, expected: Option<&str>) {
        let meta = Ownership { uid, mode, is_dir };
        let result = check_trust(Path::new("/etc/gsm/policy.toml"), meta, level, 1000);
        match (result, expected) {
            (Ok(()), None) => {}
            (Err(err), Some(fragment)) => assert!(err.to_string().contains(fragment), "{err}"),
            (other, expected) => {
                panic!("uid {uid} mode {mode:o}: got {other:?}, expected {expected:?}")
            }
        }
    }

    #[test]
    fn only_root_or_the_agent_may_own_and_write_the_policy() {
        check(0, 0o100644, false, None);
        check(1000, 0o100600, false, None);
        check(0, 0o040755, true, None);
        check(0, 0o041777, true, None); // /tmp: sticky and root-owned
        check(1001, 0o100644, false, Some("owned by uid 1001"));
        check(0, 0o100664, false, Some("writable by group or others"));
        check(0, 0o100646, false, Some("chmod go-w"));
        check(1000, 0o040777, true, Some("writable by group or others"));
        check(1001, 0o041777, true, Some("owned by uid 1001"));
        check_at(Level::Far, 1000, 0o040775, true, None);
        check_at(Level::Far, 1000, 0o040777, true, Some("writable by group or others"));
        check_at(Level::Far, 1001, 0o040755, true, Some("owned by uid 1001"));
    }

    #[test]
    fn a_world_writable_policy_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.toml");
        std::fs::write(&path, "version = 1\n").unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .unwrap();
        let err = verify(&path).unwrap_err();
        assert!(matches!(err, Untrusted::Writable { .. }), "{err}");
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .unwrap();
        verify(&path).unwrap();
    }
}
