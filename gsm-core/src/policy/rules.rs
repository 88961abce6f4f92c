//! The validated policy rules, and the pure decisions on them: does an argument fit a slot, may a
//! variable name be set, is a path written in canonical form.
//!
//! [`validate`] turns the raw file into these types and refuses anything doubtful at load
//! (invalid regex, relative path, a default above its limit), so a check never meets a rule it
//! has to interpret generously. Nothing here touches the filesystem; `load.rs` resolves paths.

use std::collections::BTreeSet;
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use regex::{Regex, RegexBuilder};
use toml::Spanned;

use super::file::{RawLimits, RawPolicy, RawProgram, RawSlot};

/// The only policy format version.
pub(crate) const FORMAT_VERSION: i64 = 1;

/// Longest path (cwd) a job may give: Linux's `PATH_MAX`.
pub(crate) const MAX_PATH_BYTES: usize = 4096;

/// The fixed `PATH` every child gets unless a rule allows the job to set its own.
pub(crate) const FIXED_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The fixed `LANG` every child gets.
pub(crate) const FIXED_LANG: &str = "C.UTF-8";

/// Variables that change how the loader, a shell or an interpreter behaves: setting one is a way
/// to run code the policy never saw. A job may set one only when a `[[program]]` rule names it
/// exactly; the global allow-list and globs never grant them.
const DANGEROUS_NAMES: &[&str] = &[
    "PATH",
    "IFS",
    "ENV",
    "BASH_ENV",
    "SHELLOPTS",
    "BASHOPTS",
    "PS4",
    "CDPATH",
    "GLIBC_TUNABLES",
    "GCONV_PATH",
    "HOSTALIASES",
    "LOCALDOMAIN",
    "RES_OPTIONS",
    "NODE_OPTIONS",
    "NODE_PATH",
    "PERLLIB",
    "RUBYOPT",
    "RUBYLIB",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS",
];

/// Prefixes of dangerous variable families (`LD_PRELOAD`, `PYTHONPATH`, `PERL5OPT`, ...).
const DANGEROUS_PREFIXES: &[&str] =
    &["LD_", "PYTHON", "PERL5", "BASH_FUNC_", "MALLOC_", "GIT_", "LUA_", "OPENSSL_"];

/// Whether a variable name is one only an exact per-program entry may allow.
pub(crate) fn is_dangerous_env(name: &str) -> bool {
    DANGEROUS_NAMES.contains(&name) || DANGEROUS_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// A portable environment variable name: `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn is_valid_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Whether `path` is absolute and written canonically: no empty (`//`), `.` or `..` component,
/// no trailing slash. Lexical only; symlinks are the resolver's business.
pub(crate) fn is_canonical_absolute(path: &str) -> bool {
    match path.strip_prefix('/') {
        Some(rest) => rest.split('/').all(|c| !c.is_empty() && c != "." && c != ".."),
        None => false,
    }
}

/// Global limits, validated.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub max_timeout_secs: u64,
    pub default_timeout_secs: u64,
    pub max_output_cap_bytes: u64,
    pub default_output_cap_bytes: u64,
    pub kill_grace: Duration,
    pub max_args: usize,
    pub max_arg_bytes: usize,
    pub max_env_vars: usize,
    pub max_env_value_bytes: usize,
}

/// A limit's default (when the file leaves it out) and ceiling (the most a file may configure:
/// a sanity bound, not a recommendation).
#[derive(Debug, Clone, Copy)]
struct Bound {
    default: u64,
    ceiling: u64,
}

const MAX_TIMEOUT_SECS: Bound = Bound { default: 3600, ceiling: 7 * 24 * 3600 };
/// Clamped to the max timeout when left out.
const DEFAULT_TIMEOUT_SECS: u64 = 300;
const MAX_OUTPUT_CAP_BYTES: Bound = Bound { default: 16 << 20, ceiling: 1 << 30 };
/// Clamped to the max output cap when left out.
const DEFAULT_OUTPUT_CAP_BYTES: u64 = 1 << 20;
const KILL_GRACE_SECS: Bound = Bound { default: 10, ceiling: 600 };
const MAX_ARGS: Bound = Bound { default: 64, ceiling: 4096 };
/// Linux refuses a single argv or environment string of 128 KiB (`MAX_ARG_STRLEN`, counting its
/// NUL), so the ceiling is one byte less.
const MAX_ARG_BYTES: Bound = Bound { default: 4096, ceiling: 128 * 1024 - 1 };
const MAX_ENV_VARS: Bound = Bound { default: 32, ceiling: 256 };
const MAX_ENV_VALUE_BYTES: Bound = Bound { default: 4096, ceiling: 128 * 1024 - 1 };

/// A value the file wrote, or the default, with where it was written (for error messages).
struct Setting {
    value: u64,
    span: Option<Range<usize>>,
}

fn setting(raw: &Option<Spanned<u64>>, default: u64) -> Setting {
    match raw {
        Some(s) => Setting { value: *s.get_ref(), span: Some(s.span()) },
        None => Setting { value: default, span: None },
    }
}

/// An argument pattern: what one argv position may hold.
#[derive(Debug, Clone)]
pub(crate) enum Pattern {
    /// Exactly this string.
    Fixed(String),
    /// One of these strings.
    OneOf(Vec<String>),
    /// A full match of this regex; `option` lets a value start with `-`.
    Regex { regex: Regex, source: String, option: bool },
    /// A decimal integer in canonical form (`-` only for negatives, no `+`, no leading zero).
    Int { min: i64, max: i64 },
}

/// Why an argument does not fit a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Misfit {
    /// It starts with `-` and the slot does not explicitly allow options.
    Option,
    /// It matches nothing the slot allows.
    NoMatch,
}

impl Pattern {
    /// Whether the slot explicitly allows a leading `-`: a fixed or enum value the admin wrote
    /// with one, a regex marked `option = true`, or an integer range reaching below zero.
    fn allows_dash(&self) -> bool {
        match self {
            Pattern::Fixed(value) => value.starts_with('-'),
            Pattern::OneOf(values) => values.iter().any(|v| v.starts_with('-')),
            Pattern::Regex { option, .. } => *option,
            Pattern::Int { min, .. } => *min < 0,
        }
    }

    /// Checks one argument against this slot.
    pub(crate) fn admit(&self, arg: &str) -> Result<(), Misfit> {
        if arg.starts_with('-') && !self.allows_dash() {
            return Err(Misfit::Option);
        }
        let fits = match self {
            Pattern::Fixed(value) => arg == value,
            Pattern::OneOf(values) => values.iter().any(|v| v == arg),
            Pattern::Regex { regex, .. } => regex.is_match(arg),
            Pattern::Int { min, max } => {
                arg.parse::<i64>().is_ok_and(|n| (*min..=*max).contains(&n) && n.to_string() == arg)
            }
        };
        if fits { Ok(()) } else { Err(Misfit::NoMatch) }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Fixed(value) => write!(f, "exactly {value:?}"),
            Pattern::OneOf(values) => write!(f, "one of {values:?}"),
            Pattern::Regex { source, option: false, .. } => write!(f, "the regex /{source}/"),
            Pattern::Regex { source, option: true, .. } => {
                write!(f, "the regex /{source}/ (options allowed)")
            }
            Pattern::Int { min, max } => write!(f, "an integer from {min} to {max}"),
        }
    }
}

/// An environment allow-list: exact names and `PREFIX*` globs. Globs never grant a dangerous name.
#[derive(Debug, Clone, Default)]
pub(crate) struct EnvAllow {
    exact: BTreeSet<String>,
    prefixes: Vec<String>,
}

impl EnvAllow {
    /// Whether the list names `name` exactly.
    pub(crate) fn names_exactly(&self, name: &str) -> bool {
        self.exact.contains(name)
    }

    /// Whether the list allows `name` as an ordinary (not dangerous) variable.
    pub(crate) fn allows(&self, name: &str) -> bool {
        self.exact.contains(name) || self.prefixes.iter().any(|p| name.starts_with(p.as_str()))
    }
}

/// A `[[program]]` rule, validated but not yet resolved on disk.
#[derive(Debug, Clone)]
pub(crate) struct ProgramRule {
    /// How messages name the rule: `[[program]] #2 (/usr/bin/tar)`.
    pub label: String,
    /// The path as written (absolute, canonical form).
    pub path: PathBuf,
    pub path_span: Range<usize>,
    pub args: Vec<Pattern>,
    pub repeat: Option<Pattern>,
    pub allow_extra: bool,
    pub env: EnvAllow,
    pub max_timeout_secs: u64,
    pub default_timeout_secs: u64,
    pub max_output_cap_bytes: u64,
    pub default_output_cap_bytes: u64,
    pub kill_grace: Duration,
}

impl ProgramRule {
    /// The slot for argument `index`: positional, then the repeat slot. `None` past both.
    pub(crate) fn slot(&self, index: usize) -> Option<&Pattern> {
        self.args.get(index).or(self.repeat.as_ref())
    }
}

/// A root as written in the file.
#[derive(Debug, Clone)]
pub(crate) struct RawRoot {
    pub path: PathBuf,
    pub span: Range<usize>,
}

/// The whole policy, validated but not yet resolved on disk.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    pub limits: Limits,
    /// The first root (the default working directory) and the others: never empty.
    pub roots: (RawRoot, Vec<RawRoot>),
    pub env: EnvAllow,
    pub programs: Vec<ProgramRule>,
}

/// A rule the file got wrong: where, which rule, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid {
    pub span: Range<usize>,
    pub rule: String,
    pub problem: String,
}

fn invalid(span: Range<usize>, rule: &str, problem: impl Into<String>) -> Invalid {
    Invalid { span, rule: rule.to_owned(), problem: problem.into() }
}

/// Validates the raw file into rules. `whole` is the span used when a problem has no better one.
pub(crate) fn validate(raw: RawPolicy, whole: Range<usize>) -> Result<Rules, Invalid> {
    if *raw.version.get_ref() != FORMAT_VERSION {
        return Err(invalid(
            raw.version.span(),
            "version",
            format!("unsupported policy format version; write `version = {FORMAT_VERSION}`"),
        ));
    }
    let limits = validate_limits(&raw.limits, whole)?;
    let roots = validate_roots(&raw.roots)?;
    refuse_dangerous_env(&raw.env.allow, "[env]")?;
    let env = validate_env(&raw.env.allow, "[env]")?;
    let programs = raw
        .programs
        .iter()
        .enumerate()
        .map(|(i, program)| validate_program(program, i + 1, &limits))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Rules { limits, roots, env, programs })
}

fn within(
    s: &Setting,
    ceiling: u64,
    rule: &str,
    key: &str,
    whole: &Range<usize>,
) -> Result<u64, Invalid> {
    if s.value > ceiling {
        let span = s.span.clone().unwrap_or_else(|| whole.clone());
        return Err(invalid(
            span,
            rule,
            format!("{key} = {} is above the ceiling {ceiling}", s.value),
        ));
    }
    Ok(s.value)
}

fn to_usize(value: u64) -> usize {
    // Every ceiling is far below 2^32, so the value always fits.
    usize::try_from(value).unwrap_or(usize::MAX)
}

fn validate_limits(raw: &RawLimits, whole: Range<usize>) -> Result<Limits, Invalid> {
    const RULE: &str = "[limits]";
    let max_timeout = setting(&raw.max_timeout_secs, MAX_TIMEOUT_SECS.default);
    let max_timeout_secs =
        within(&max_timeout, MAX_TIMEOUT_SECS.ceiling, RULE, "max_timeout_secs", &whole)?;
    if max_timeout_secs == 0 {
        let span = max_timeout.span.unwrap_or(whole);
        return Err(invalid(span, RULE, "max_timeout_secs must be at least 1"));
    }
    let default_timeout_secs = default_within(
        &raw.default_timeout_secs,
        DEFAULT_TIMEOUT_SECS,
        max_timeout_secs,
        RULE,
        "default_timeout_secs",
        "max_timeout_secs",
    )?;
    no_zero_timeout(&raw.default_timeout_secs, RULE)?;
    let max_cap = setting(&raw.max_output_cap_bytes, MAX_OUTPUT_CAP_BYTES.default);
    let max_output_cap_bytes =
        within(&max_cap, MAX_OUTPUT_CAP_BYTES.ceiling, RULE, "max_output_cap_bytes", &whole)?;
    let default_output_cap_bytes = default_within(
        &raw.default_output_cap_bytes,
        DEFAULT_OUTPUT_CAP_BYTES,
        max_output_cap_bytes,
        RULE,
        "default_output_cap_bytes",
        "max_output_cap_bytes",
    )?;
    let grace = setting(&raw.kill_grace_secs, KILL_GRACE_SECS.default);
    let kill_grace = within(&grace, KILL_GRACE_SECS.ceiling, RULE, "kill_grace_secs", &whole)?;
    let count = |raw: &Option<Spanned<u64>>, bound: Bound, key: &str| {
        within(&setting(raw, bound.default), bound.ceiling, RULE, key, &whole).map(to_usize)
    };
    Ok(Limits {
        max_timeout_secs,
        default_timeout_secs,
        max_output_cap_bytes,
        default_output_cap_bytes,
        kill_grace: Duration::from_secs(kill_grace),
        max_args: count(&raw.max_args, MAX_ARGS, "max_args")?,
        max_arg_bytes: count(&raw.max_arg_bytes, MAX_ARG_BYTES, "max_arg_bytes")?,
        max_env_vars: count(&raw.max_env_vars, MAX_ENV_VARS, "max_env_vars")?,
        max_env_value_bytes: count(
            &raw.max_env_value_bytes,
            MAX_ENV_VALUE_BYTES,
            "max_env_value_bytes",
        )?,
    })
}

/// A default: as written (then it must be within `limit`), or `fallback` clamped to `limit`.
fn default_within(
    raw: &Option<Spanned<u64>>,
    fallback: u64,
    limit: u64,
    rule: &str,
    key: &str,
    limit_key: &str,
) -> Result<u64, Invalid> {
    let Some(written) = raw else { return Ok(fallback.min(limit)) };
    let value = *written.get_ref();
    if value > limit {
        return Err(invalid(
            written.span(),
            rule,
            format!("{key} = {value} is above {limit_key} ({limit})"),
        ));
    }
    Ok(value)
}

fn validate_roots(raw: &Spanned<Vec<Spanned<String>>>) -> Result<(RawRoot, Vec<RawRoot>), Invalid> {
    const RULE: &str = "roots";
    let mut roots = raw
        .get_ref()
        .iter()
        .map(|root| {
            let path = root.get_ref();
            if !is_canonical_absolute(path) {
                return Err(invalid(
                    root.span(),
                    RULE,
                    format!(
                        "root {path:?} must be an absolute path in canonical form \
                         (no `.`, `..`, `//` or trailing `/`, and not `/` itself)"
                    ),
                ));
            }
            Ok(RawRoot { path: PathBuf::from(path), span: root.span() })
        })
        .collect::<Result<Vec<_>, _>>()?
        .into_iter();
    match roots.next() {
        Some(first) => Ok((first, roots.collect())),
        None => Err(invalid(raw.span(), RULE, "at least one working-directory root is required")),
    }
}

/// The global list may not name a dangerous variable: only the program that needs one may.
fn refuse_dangerous_env(raw: &[Spanned<String>], rule: &str) -> Result<(), Invalid> {
    match raw.iter().find(|entry| is_dangerous_env(entry.get_ref())) {
        Some(entry) => Err(invalid(
            entry.span(),
            rule,
            format!(
                "{} changes how programs load or interpret code; allow it only in the `env` list \
                 of the [[program]] rule that needs it",
                entry.get_ref()
            ),
        )),
        None => Ok(()),
    }
}

fn validate_env(raw: &[Spanned<String>], rule: &str) -> Result<EnvAllow, Invalid> {
    let mut allow = EnvAllow::default();
    for entry in raw {
        let text = entry.get_ref();
        if let Some(prefix) = text.strip_suffix('*') {
            if !is_valid_env_name(prefix) {
                return Err(invalid(
                    entry.span(),
                    rule,
                    format!(
                        "env glob {text:?} needs a valid name prefix before `*`, such as \"GSM_*\""
                    ),
                ));
            }
            allow.prefixes.push(prefix.to_owned());
            continue;
        }
        if !is_valid_env_name(text) {
            return Err(invalid(
                entry.span(),
                rule,
                format!("{text:?} is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)"),
            ));
        }
        allow.exact.insert(text.clone());
    }
    Ok(allow)
}

fn validate_program(
    raw: &RawProgram,
    number: usize,
    global: &Limits,
) -> Result<ProgramRule, Invalid> {
    let path = raw.path.get_ref();
    let label = format!("[[program]] #{number} ({path})");
    if !is_canonical_absolute(path) {
        return Err(invalid(
            raw.path.span(),
            &label,
            "path must be absolute and in canonical form (no `.`, `..`, `//` or trailing `/`); \
             PATH is never searched",
        ));
    }
    let args = raw
        .args
        .iter()
        .enumerate()
        .map(|(i, slot)| validate_slot(slot, &format!("{label} args[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let repeat = raw
        .repeat
        .as_ref()
        .map(|slot| validate_slot(slot, &format!("{label} repeat")))
        .transpose()?;
    let allow_extra = raw.allow_extra.as_ref().is_some_and(|a| *a.get_ref());
    if let (Some(_), Some(flag)) = (&raw.repeat, &raw.allow_extra)
        && *flag.get_ref()
    {
        return Err(invalid(
            flag.span(),
            &label,
            "allow_extra = true and a repeat slot contradict each other: the repeat slot already \
             takes every trailing argument",
        ));
    }
    let env = validate_env(&raw.env, &label)?;

    let max_timeout_secs =
        rule_limit(&raw.max_timeout_secs, global.max_timeout_secs, &label, "max_timeout_secs")?;
    if max_timeout_secs == 0 {
        let span = raw.max_timeout_secs.as_ref().map_or(raw.path.span(), Spanned::span);
        return Err(invalid(span, &label, "max_timeout_secs must be at least 1"));
    }
    let default_timeout_secs = default_within(
        &raw.default_timeout_secs,
        global.default_timeout_secs,
        max_timeout_secs,
        &label,
        "default_timeout_secs",
        "max_timeout_secs",
    )?;
    no_zero_timeout(&raw.default_timeout_secs, &label)?;
    let max_output_cap_bytes = rule_limit(
        &raw.max_output_cap_bytes,
        global.max_output_cap_bytes,
        &label,
        "max_output_cap_bytes",
    )?;
    let default_output_cap_bytes = default_within(
        &raw.default_output_cap_bytes,
        global.default_output_cap_bytes,
        max_output_cap_bytes,
        &label,
        "default_output_cap_bytes",
        "max_output_cap_bytes",
    )?;
    let kill_grace = match &raw.kill_grace_secs {
        Some(g) if *g.get_ref() > KILL_GRACE_SECS.ceiling => {
            return Err(invalid(
                g.span(),
                &label,
                format!(
                    "kill_grace_secs = {} is above the ceiling {}",
                    g.get_ref(),
                    KILL_GRACE_SECS.ceiling
                ),
            ));
        }
        Some(g) => Duration::from_secs(*g.get_ref()),
        None => global.kill_grace,
    };

    Ok(ProgramRule {
        label,
        path: PathBuf::from(path),
        path_span: raw.path.span(),
        args,
        repeat,
        allow_extra,
        env,
        max_timeout_secs,
        default_timeout_secs,
        max_output_cap_bytes,
        default_output_cap_bytes,
        kill_grace,
    })
}

/// A default timeout of zero would make every job that takes the default fail at once.
fn no_zero_timeout(raw: &Option<Spanned<u64>>, rule: &str) -> Result<(), Invalid> {
    match raw {
        Some(v) if *v.get_ref() == 0 => {
            Err(invalid(v.span(), rule, "default_timeout_secs must be at least 1"))
        }
        _ => Ok(()),
    }
}

/// A per-rule limit: at most the global one, which is also its default.
fn rule_limit(
    raw: &Option<Spanned<u64>>,
    global: u64,
    rule: &str,
    key: &str,
) -> Result<u64, Invalid> {
    match raw {
        Some(v) if *v.get_ref() > global => Err(invalid(
            v.span(),
            rule,
            format!(
                "{key} = {} is above the global [limits] {key} ({global}); a rule may only narrow",
                v.get_ref()
            ),
        )),
        Some(v) => Ok(*v.get_ref()),
        None => Ok(global),
    }
}

fn validate_slot(raw: &Spanned<RawSlot>, rule: &str) -> Result<Pattern, Invalid> {
    let span = raw.span();
    let slot = raw.get_ref();
    let kinds =
        [slot.fixed.is_some(), slot.one_of.is_some(), slot.regex.is_some(), slot.int.is_some()];
    if kinds.iter().filter(|k| **k).count() != 1 {
        return Err(invalid(
            span,
            rule,
            "an argument slot needs exactly one of `fixed`, `enum`, `regex` or `int`",
        ));
    }
    if slot.option.is_some() && slot.regex.is_none() {
        return Err(invalid(
            span,
            rule,
            "`option` applies only to `regex` slots; a `fixed` or `enum` value written with a \
             leading `-` is already an explicit option, and an `int` range below zero allows negatives",
        ));
    }
    if let Some(value) = &slot.fixed {
        return Ok(Pattern::Fixed(value.clone()));
    }
    if let Some(values) = &slot.one_of {
        if values.is_empty() {
            return Err(invalid(span, rule, "`enum` needs at least one value"));
        }
        return Ok(Pattern::OneOf(values.clone()));
    }
    if let Some(range) = &slot.int {
        if range.min > range.max {
            return Err(invalid(
                span,
                rule,
                format!("int range min {} is above max {}", range.min, range.max),
            ));
        }
        return Ok(Pattern::Int { min: range.min, max: range.max });
    }
    match &slot.regex {
        Some(source) => {
            compile_regex(source, slot.option.unwrap_or(false)).map_err(|e| invalid(span, rule, e))
        }
        None => Err(invalid(span, rule, "an argument slot needs a pattern")),
    }
}

/// Compiles a slot regex as an anchored full match.
///
/// The source must compile on its own first: wrapping an unbalanced source such as `a)|(b` in
/// `\A(?:…)\z` would otherwise parse, with the anchors bound to one branch only.
fn compile_regex(source: &str, option: bool) -> Result<Pattern, String> {
    const SIZE_LIMIT: usize = 1 << 20;
    let build = |pattern: &str| RegexBuilder::new(pattern).size_limit(SIZE_LIMIT).build();
    build(source).map_err(|e| format!("invalid regex: {e}"))?;
    let regex = build(&format!(r"\A(?:{source})\z")).map_err(|e| format!("invalid regex: {e}"))?;
    Ok(Pattern::Regex { regex, source: source.to_owned(), option })
}
