//! The policy file's TOML shape, exactly as serde reads it, before any validation.
//!
//! Every table denies unknown keys, so a misspelt key is a load error and never a silently ignored
//! restriction. Every value a later check may refuse is [`Spanned`], so that error can name its
//! line and column. `examples/policies/example.toml` documents the format for humans; keep the
//! two in step.

use serde::Deserialize;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    /// Format version; only `1` exists.
    pub version: Spanned<i64>,
    /// Allowed working-directory roots, absolute; the first is the default.
    pub roots: Spanned<Vec<Spanned<String>>>,
    /// Global limits.
    #[serde(default)]
    pub limits: RawLimits,
    /// Global environment allow-list.
    #[serde(default)]
    pub env: RawEnv,
    /// `[[program]]` rules.
    #[serde(default, rename = "program")]
    pub programs: Vec<RawProgram>,
}

/// `[limits]`: every key optional, the defaults live in `rules.rs`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    pub max_timeout_secs: Option<Spanned<u64>>,
    pub default_timeout_secs: Option<Spanned<u64>>,
    pub max_output_cap_bytes: Option<Spanned<u64>>,
    pub default_output_cap_bytes: Option<Spanned<u64>>,
    pub kill_grace_secs: Option<Spanned<u64>>,
    pub max_args: Option<Spanned<u64>>,
    pub max_arg_bytes: Option<Spanned<u64>>,
    pub max_env_vars: Option<Spanned<u64>>,
    pub max_env_value_bytes: Option<Spanned<u64>>,
}

/// `[env]`: variable names any program's job may set.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEnv {
    #[serde(default)]
    pub allow: Vec<Spanned<String>>,
}

/// One `[[program]]` rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProgram {
    pub path: Spanned<String>,
    /// Free text for humans; shown nowhere but the file.
    #[serde(default)]
    #[allow(dead_code)]
    pub description: Option<String>,
    #[serde(default)]
    pub args: Vec<Spanned<RawSlot>>,
    pub repeat: Option<Spanned<RawSlot>>,
    pub allow_extra: Option<Spanned<bool>>,
    #[serde(default)]
    pub env: Vec<Spanned<String>>,
    pub max_timeout_secs: Option<Spanned<u64>>,
    pub default_timeout_secs: Option<Spanned<u64>>,
    pub max_output_cap_bytes: Option<Spanned<u64>>,
    pub default_output_cap_bytes: Option<Spanned<u64>>,
    pub kill_grace_secs: Option<Spanned<u64>>,
}

/// One argument slot: exactly one of `fixed`, `enum`, `regex`, `int`; `option` only with `regex`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSlot {
    pub fixed: Option<String>,
    #[serde(rename = "enum")]
    pub one_of: Option<Vec<String>>,
    pub regex: Option<String>,
    pub int: Option<RawIntRange>,
    pub option: Option<bool>,
}

/// `int = { min = .., max = .. }`, both bounds inclusive and required.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIntRange {
    pub min: i64,
    pub max: i64,
}
