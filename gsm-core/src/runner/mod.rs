//! The runner: runs an approved command in its own process group and streams its output.
