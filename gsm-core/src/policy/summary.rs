//! What a policy allows, in a shape a UI can offer ([`ProgramSummary`]): each `[[program]]`
//! rule's program and argument slots.
//!
//! The agent reports these in its host facts so the dashboard can offer programs instead of
//! making people type them blind. A summary is a hint, never a grant: the agent still checks every
//! job against the policy itself, and a summary says nothing about roots, environment or limits.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::rules::{Pattern, ProgramRule};

/// One `[[program]]` rule: the program and the arguments it takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProgramSummary {
    /// The program's absolute path, as the policy names it.
    pub path: String,
    /// The positional argument slots, in order.
    #[serde(default)]
    pub args: Vec<ArgSlot>,
    /// The slot every argument past `args` must fit, when the rule has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<ArgSlot>,
    /// Whether plain arguments (not starting with `-`) beyond the slots are accepted as they are.
    #[serde(default)]
    pub allow_extra: bool,
}

/// What one argument position accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ArgSlot {
    /// Exactly this string.
    Fixed {
        /// The string.
        value: String,
    },
    /// One of these strings.
    OneOf {
        /// The strings, as the policy lists them.
        values: Vec<String>,
    },
    /// A full match of this regular expression (Rust regex syntax).
    Regex {
        /// The expression, as the policy writes it.
        pattern: String,
        /// Whether a value may start with `-`.
        #[serde(default)]
        options: bool,
    },
    /// A decimal integer in a range.
    Int {
        /// The smallest allowed.
        min: i64,
        /// The largest allowed.
        max: i64,
    },
    /// A kind of slot this build does not know (a newer agent's): it still parses, so a new kind
    /// never breaks an older server's reading of the whole list.
    #[serde(other)]
    Other,
}

impl ArgSlot {
    fn of(pattern: &Pattern) -> Self {
        match pattern {
            Pattern::Fixed(value) => ArgSlot::Fixed { value: value.clone() },
            Pattern::OneOf(values) => ArgSlot::OneOf { values: values.clone() },
            Pattern::Regex { source, option, .. } => {
                ArgSlot::Regex { pattern: source.clone(), options: *option }
            }
            Pattern::Int { min, max } => ArgSlot::Int { min: *min, max: *max },
        }
    }
}

impl ProgramSummary {
    pub(super) fn of(rule: &ProgramRule) -> Self {
        ProgramSummary {
            path: rule.path.to_string_lossy().into_owned(),
            args: rule.args.iter().map(ArgSlot::of).collect(),
            repeat: rule.repeat.as_ref().map(ArgSlot::of),
            allow_extra: rule.allow_extra,
        }
    }
}
