//! [`ApprovedCommand`]: the only thing the runner will run.
//!
//! It can be built only by [`Policy::check`](super::Policy::check) (its constructor is
//! crate-private), so holding one is proof that a policy allowed it. It carries the program's file
//! identity as it was when checked, so the runner can refuse a binary swapped in afterwards.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

/// A file's identity on disk: device and inode. A rename or a symlink swap changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct FileIdentity {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
}

/// A command a policy has allowed, normalised: absolute canonical program, argv, working directory
/// inside an allowed root, the complete child environment, and the limits to run it under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApprovedCommand {
    program: PathBuf,
    #[serde(skip)]
    program_identity: FileIdentity,
    args: Vec<String>,
    cwd_root: PathBuf,
    cwd_relative: PathBuf,
    env: Vec<(String, String)>,
    #[serde(rename = "timeout_secs", serialize_with = "as_secs_f64")]
    timeout: Duration,
    output_cap_bytes: u64,
    #[serde(rename = "kill_grace_secs", serialize_with = "as_secs_f64")]
    kill_grace: Duration,
}

fn as_secs_f64<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// The parts of an [`ApprovedCommand`], gathered by the policy check.
#[derive(Debug, Clone)]
pub(crate) struct ApprovedParts {
    pub program: PathBuf,
    pub program_identity: FileIdentity,
    pub args: Vec<String>,
    pub cwd_root: PathBuf,
    pub cwd_relative: PathBuf,
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    pub output_cap_bytes: u64,
    pub kill_grace: Duration,
}

impl ApprovedCommand {
    /// Crate-private: only the policy (and this crate's own tests) may approve a command.
    pub(crate) fn from_parts(parts: ApprovedParts) -> Self {
        Self {
            program: parts.program,
            program_identity: parts.program_identity,
            args: parts.args,
            cwd_root: parts.cwd_root,
            cwd_relative: parts.cwd_relative,
            env: parts.env,
            timeout: parts.timeout,
            output_cap_bytes: parts.output_cap_bytes,
            kill_grace: parts.kill_grace,
        }
    }

    /// Canonical absolute path of the program.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// The program's file identity when the policy checked it.
    pub fn program_identity(&self) -> FileIdentity {
        self.program_identity
    }

    /// Arguments after the program name.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// The allowed root the working directory lies in (canonical).
    pub fn cwd_root(&self) -> &Path {
        &self.cwd_root
    }

    /// The working directory relative to [`cwd_root`](Self::cwd_root); empty for the root itself.
    pub fn cwd_relative(&self) -> &Path {
        &self.cwd_relative
    }

    /// The working directory as one absolute path (for display; the runner opens it beneath the root).
    pub fn cwd(&self) -> PathBuf {
        self.cwd_root.join(&self.cwd_relative)
    }

    /// The child's complete environment; nothing else is inherited.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// Wall-clock limit.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Output kept at most, stdout and stderr together.
    pub fn output_cap_bytes(&self) -> u64 {
        self.output_cap_bytes
    }

    /// Time between SIGTERM and SIGKILL when the job is stopped.
    pub fn kill_grace(&self) -> Duration {
        self.kill_grace
    }
}
