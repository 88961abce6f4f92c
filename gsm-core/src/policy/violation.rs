//! [`Violation`]: why the policy refused a job.
//!
//! Variants say what happened and carry what a human needs to fix it; [`Violation::reason`] maps
//! them to a small set of stable snake_case codes that the wire, the UI and tests match on. Codes
//! are a compatibility promise: several variants may share one (every path problem is
//! `invalid_path`), but a code never changes meaning. Messages never echo an environment value,
//! which may be a secret, and shorten long arguments.

use std::fmt;
use std::path::PathBuf;

/// Why a job was refused. Its [`Display`](fmt::Display) says what was wrong and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Violation {
    /// The job is a game action; the command policy governs only commands.
    #[error(
        "the job is a game action ({game}/{action}), not a command; game actions are governed by \
         the game adapter's rules, not by the command policy"
    )]
    NotACommand {
        /// The game type.
        game: String,
        /// The action name.
        action: String,
    },

    /// A NUL byte somewhere in the command: no argv element, path or variable can carry one.
    #[error("{field} contains a NUL byte; remove it (no argument, path or variable can hold one)")]
    NulByte {
        /// Which part of the command: `program`, `args[2]`, `cwd`, `env name`, `env FOO`.
        field: String,
    },

    /// The program is the empty string.
    #[error("the program is empty; give the absolute path of a program the policy allows")]
    EmptyProgram,

    /// The program is not an absolute path (`PATH` is never searched).
    #[error(
        "program {program:?} is not an absolute path; give the full path the policy allows \
         (PATH is never searched)"
    )]
    ProgramNotAbsolute {
        /// The program as the job gave it.
        program: String,
    },

    /// The program path is absolute but not written canonically.
    #[error(
        "program {program:?} is not written in canonical form; drop `.` and `..` components, \
         doubled and trailing slashes, and give the path exactly as the policy lists it"
    )]
    ProgramNotCanonical {
        /// The program as the job gave it.
        program: String,
    },

    /// No `[[program]]` rule allows the program.
    #[error(
        "program {program:?} is not allowed by this host's policy; use an allowed program or add \
         a [[program]] rule for it"
    )]
    ProgramNotAllowed {
        /// The program as the job gave it.
        program: String,
    },

    /// The program path is a symlink (or passes through one) to a binary no rule allows.
    #[error(
        "program {program:?} resolves to {}, which no rule allows; call an allowed program by \
         its own path",
        target.display()
    )]
    ProgramResolvesElsewhere {
        /// The program as the job gave it.
        program: String,
        /// Where it resolves.
        target: PathBuf,
    },

    /// The allowed binary is no longer the file the policy approved at load.
    #[error(
        "program {program:?} is not the file the policy approved when it was loaded ({detail}); \
         if the change is legitimate, reload the policy"
    )]
    BinaryChanged {
        /// The program as the job gave it.
        program: String,
        /// What changed.
        detail: String,
    },

    /// More arguments than `[limits] max_args`.
    #[error("{count} arguments given; the policy allows at most {max}")]
    TooManyArgs {
        /// Arguments given.
        count: usize,
        /// The limit.
        max: usize,
    },

    /// An argument longer than `[limits] max_arg_bytes`.
    #[error("argument {index} is {len} bytes; the policy allows at most {max} bytes per argument")]
    ArgTooLong {
        /// Zero-based position after the program.
        index: usize,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },

    /// An argument starting with `-` where the rule's slot is not explicitly an option.
    #[error(
        "argument {index} ({}) starts with `-`, and {rule} does not allow an option there; \
         options are accepted only where the rule lists them",
        Preview(value)
    )]
    OptionNotAllowed {
        /// Zero-based position after the program.
        index: usize,
        /// The argument.
        value: String,
        /// The rule that came closest to allowing the command.
        rule: String,
    },

    /// An argument matching nothing its slot allows.
    #[error(
        "argument {index} ({}) is not allowed: {rule} expects {expected} there",
        Preview(value)
    )]
    ArgumentNotAllowed {
        /// Zero-based position after the program.
        index: usize,
        /// The argument.
        value: String,
        /// The rule that came closest to allowing the command.
        rule: String,
        /// What the slot allows.
        expected: String,
    },

    /// An argument past the rule's last slot, which has no repeat slot and no `allow_extra`.
    #[error(
        "argument {index} ({}) is one too many: {rule} takes {max} argument(s); remove the extra ones",
        Preview(value)
    )]
    UnexpectedArgument {
        /// Zero-based position after the program.
        index: usize,
        /// The argument.
        value: String,
        /// The rule that came closest to allowing the command.
        rule: String,
        /// How many arguments the rule takes.
        max: usize,
    },

    /// Fewer arguments than the rule's positional slots.
    #[error("argument {index} is missing: {rule} expects {expected} there")]
    MissingArgument {
        /// Zero-based position of the first missing argument.
        index: usize,
        /// The rule that came closest to allowing the command.
        rule: String,
        /// What the slot allows.
        expected: String,
    },

    /// The working directory is the empty string.
    #[error("the working directory is empty; leave it out to use the first root")]
    EmptyCwd,

    /// The working directory is longer than `PATH_MAX`.
    #[error("the working directory is {len} bytes; at most {max} are allowed")]
    CwdTooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },

    /// The working directory has a `..` component.
    #[error(
        "working directory {cwd:?} contains `..`; name the directory beneath its root directly"
    )]
    CwdHasParentComponent {
        /// The working directory as the job gave it.
        cwd: String,
    },

    /// The working directory resolves outside every allowed root.
    #[error(
        "working directory {cwd:?} resolves to {}, outside every allowed root; use a directory \
         beneath a root the policy lists",
        resolved.display()
    )]
    CwdEscapesRoot {
        /// The working directory as the job gave it.
        cwd: String,
        /// Where it resolves.
        resolved: PathBuf,
    },

    /// The working directory does not exist or cannot be resolved.
    #[error(
        "working directory {cwd:?} cannot be resolved ({problem}); create it first or fix the path"
    )]
    CwdNotFound {
        /// The working directory as the job gave it.
        cwd: String,
        /// The operating system's answer.
        problem: String,
    },

    /// The working directory is not a directory.
    #[error("working directory {cwd:?} is not a directory")]
    CwdNotADirectory {
        /// The working directory as the job gave it.
        cwd: String,
    },

    /// More environment variables than `[limits] max_env_vars`.
    #[error("{count} environment variables given; the policy allows at most {max}")]
    TooManyEnvVars {
        /// Variables given.
        count: usize,
        /// The limit.
        max: usize,
    },

    /// A variable name that is not `[A-Za-z_][A-Za-z0-9_]*`.
    #[error(
        "{name:?} is not a valid environment variable name (letters, digits and `_`, not starting with a digit)"
    )]
    InvalidEnvName {
        /// The name as the job gave it.
        name: String,
    },

    /// A variable the policy does not allow.
    #[error(
        "environment variable {name} is not allowed; add it to [env] allow or the program rule's \
         env list, or leave it out"
    )]
    EnvNotAllowed {
        /// The name.
        name: String,
    },

    /// A variable that changes how code is loaded or interpreted, not named by the program's rule.
    #[error(
        "environment variable {name} changes how programs load or interpret code; it is allowed \
         only where a [[program]] rule names it exactly in its env list"
    )]
    DangerousEnv {
        /// The name.
        name: String,
    },

    /// A variable value longer than `[limits] max_env_value_bytes`.
    #[error("environment variable {name} is {len} bytes long; the policy allows at most {max}")]
    EnvValueTooLong {
        /// The name.
        name: String,
        /// The value's length in bytes (the value itself is never shown: it may be a secret).
        len: usize,
        /// The limit.
        max: usize,
    },

    /// A timeout of zero seconds.
    #[error("a timeout of 0 seconds would kill the job at once; give at least 1 or leave it out")]
    TimeoutZero,

    /// A timeout above the rule's (or global) limit.
    #[error(
        "timeout {requested}s is above the limit of {limit}s for {rule}; ask for less or leave it out"
    )]
    TimeoutAboveLimit {
        /// Seconds asked for.
        requested: u64,
        /// The limit.
        limit: u64,
        /// The rule whose limit applies.
        rule: String,
    },

    /// An output cap above the rule's (or global) limit.
    #[error(
        "output cap {requested} bytes is above the limit of {limit} bytes for {rule}; ask for \
         less or leave it out"
    )]
    OutputCapAboveLimit {
        /// Bytes asked for.
        requested: u64,
        /// The limit.
        limit: u64,
        /// The rule whose limit applies.
        rule: String,
    },
}

impl Violation {
    /// Every code [`reason`](Self::reason) can return.
    pub const REASONS: &'static [&'static str] = &[
        "not_a_command",
        "nul_byte",
        "invalid_path",
        "program_not_allowed",
        "binary_changed",
        "too_many_args",
        "arg_too_long",
        "option_not_allowed",
        "argument_not_allowed",
        "argument_missing",
        "too_many_env_vars",
        "invalid_env_name",
        "env_not_allowed",
        "env_value_too_long",
        "invalid_timeout",
        "timeout_above_limit",
        "output_cap_above_limit",
    ];

    /// A stable snake_case code for the kind of refusal, for the wire, the UI and tests.
    pub fn reason(&self) -> &'static str {
        match self {
            Violation::NotACommand { .. } => "not_a_command",
            Violation::NulByte { .. } => "nul_byte",
            Violation::EmptyProgram
            | Violation::ProgramNotAbsolute { .. }
            | Violation::ProgramNotCanonical { .. }
            | Violation::EmptyCwd
            | Violation::CwdTooLong { .. }
            | Violation::CwdHasParentComponent { .. }
            | Violation::CwdEscapesRoot { .. }
            | Violation::CwdNotFound { .. }
            | Violation::CwdNotADirectory { .. } => "invalid_path",
            Violation::ProgramNotAllowed { .. } | Violation::ProgramResolvesElsewhere { .. } => {
                "program_not_allowed"
            }
            Violation::BinaryChanged { .. } => "binary_changed",
            Violation::TooManyArgs { .. } => "too_many_args",
            Violation::ArgTooLong { .. } => "arg_too_long",
            Violation::OptionNotAllowed { .. } => "option_not_allowed",
            Violation::ArgumentNotAllowed { .. } | Violation::UnexpectedArgument { .. } => {
                "argument_not_allowed"
            }
            Violation::MissingArgument { .. } => "argument_missing",
            Violation::TooManyEnvVars { .. } => "too_many_env_vars",
            Violation::InvalidEnvName { .. } => "invalid_env_name",
            Violation::EnvNotAllowed { .. } | Violation::DangerousEnv { .. } => "env_not_allowed",
            Violation::EnvValueTooLong { .. } => "env_value_too_long",
            Violation::TimeoutZero => "invalid_timeout",
            Violation::TimeoutAboveLimit { .. } => "timeout_above_limit",
            Violation::OutputCapAboveLimit { .. } => "output_cap_above_limit",
        }
    }
}

/// An argument as a message shows it: quoted and escaped, cut after 64 characters.
struct Preview<'a>(&'a str);

impl fmt::Display for Preview<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 64;
        match self.0.char_indices().nth(SHOWN) {
            Some((cut, _)) => {
                write!(f, "{:?}… ({} bytes)", &self.0[..cut], self.0.len())
            }
            None => write!(f, "{:?}", self.0),
        }
    }
}
