//! Command policy: which programs, arguments, working directories and environment a host allows.
//!
//! Placeholder while the policy lands; see issue #2.

mod approved;

#[allow(unused_imports)]
pub(crate) use approved::ApprovedParts;
pub use approved::{ApprovedCommand, FileIdentity};

/// A loaded host policy.
#[derive(Debug)]
pub struct Policy {}

impl Policy {
    /// Checks a job against the policy.
    pub fn check(&self) {}
}
