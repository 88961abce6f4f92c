//! Command policy: which programs, arguments, working directories and environment a host allows.
//!
//! A [`Policy`] is loaded from a TOML file (format documented in
//! `examples/policies/example.toml`) and answers one question: [`Policy::check`] turns a
//! [`JobSpec`] into an [`ApprovedCommand`], the only thing the runner will run, or says why not
//! with a [`Violation`]. Nothing is allowed unless a rule says so, and a doubtful rule is a
//! [`LoadError`] at load, never a permissive default.
//!
//! The code map: `file.rs` is the TOML shape, `rules.rs` the validated rules and the pure
//! decisions on them, `load.rs` the loading pipeline, `resolve.rs` the only filesystem access
//! (canonicalise, stat), `check.rs` the decision for one job, `violation.rs` the refusals,
//! `summary.rs` the rules as a UI can offer them.
//! Programs are bound by identity, not name: each allowed path is canonicalised at load and its
//! (dev, inode) remembered; a job whose program no longer resolves to that file is refused as
//! `binary_changed`. The check is not the only guard: the runner re-opens the working directory
//! beneath its root with `openat2(RESOLVE_BENEATH)` and re-compares the program's identity.

mod approved;
mod check;
mod file;
mod load;
mod resolve;
mod rules;
mod summary;
mod violation;

use std::path::{Path, PathBuf};

#[allow(unused_imports)]
pub(crate) use approved::ApprovedParts;
pub use approved::{ApprovedCommand, FileIdentity};
pub use load::{LoadError, Location};
pub use summary::{ArgSlot, ProgramSummary};
pub use violation::Violation;

use crate::job::JobSpec;

/// A loaded host policy: validated rules with every path resolved on this machine.
#[derive(Debug, Clone)]
pub struct Policy {
    limits: rules::Limits,
    roots: Roots,
    env: rules::EnvAllow,
    programs: Vec<ResolvedProgram>,
}

/// The allowed working-directory roots; the first is the default. Never empty, by construction.
#[derive(Debug, Clone)]
struct Roots {
    first: Root,
    rest: Vec<Root>,
}

impl Roots {
    fn iter(&self) -> impl Iterator<Item = &Root> {
        std::iter::once(&self.first).chain(&self.rest)
    }
}

/// A working-directory root, canonicalised at load.
#[derive(Debug, Clone)]
struct Root {
    canonical: PathBuf,
}

/// A `[[program]]` rule bound to the file its path resolved to at load.
#[derive(Debug, Clone)]
struct ResolvedProgram {
    rule: rules::ProgramRule,
    canonical: PathBuf,
    identity: FileIdentity,
}

impl Policy {
    /// Parses and validates a policy, resolving its roots and programs on this machine.
    ///
    /// Malformed TOML, an unknown key, an invalid rule or a path this machine cannot honour is a
    /// [`LoadError`] that carries the line and column.
    pub fn from_toml_str(text: &str) -> Result<Policy, LoadError> {
        load::load(text, None, &resolve::Host)
    }

    /// Reads a policy file; errors name the file, line and column.
    pub fn from_file(path: &Path) -> Result<Policy, LoadError> {
        load::load_file(path, &resolve::Host)
    }

    /// Checks a job against the policy: the approved command, or the first reason to refuse it.
    ///
    /// Resolves the program and the working directory on the filesystem (read-only).
    pub fn check(&self, job: &JobSpec) -> Result<ApprovedCommand, Violation> {
        check::check(self, job, &resolve::Host)
    }

    /// Every `[[program]]` rule as a summary, in file order (a program may appear once per rule).
    pub fn programs(&self) -> Vec<ProgramSummary> {
        self.programs.iter().map(|program| ProgramSummary::of(&program.rule)).collect()
    }
}

#[cfg(test)]
mod tests;
