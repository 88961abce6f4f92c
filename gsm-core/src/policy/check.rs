//! The decision for one job: program, arguments, working directory, environment, limits.
//!
//! Checks run in that order and the first failure is the answer, so a job with several problems
//! always gets the same reason. Filesystem facts come through [`Resolve`]; everything else is
//! plain logic. The child environment is built from scratch here: nothing the agent inherited
//! can reach it.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use super::approved::{ApprovedCommand, ApprovedParts, FileIdentity};
use super::resolve::{FileKind, Resolve};
use super::rules::{
    self, FIXED_LANG, FIXED_PATH, MAX_PATH_BYTES, Misfit, ProgramRule, is_canonical_absolute,
};
use super::violation::Violation;
use super::{Policy, Root};
use crate::job::{CommandSpec, JobKind, JobSpec};

/// Checks `job` against `policy`.
pub(crate) fn check(
    policy: &Policy,
    job: &JobSpec,
    fs: &dyn Resolve,
) -> Result<ApprovedCommand, Violation> {
    let command = match &job.kind {
        JobKind::Command(command) => command,
        JobKind::Game(game) => {
            return Err(Violation::NotACommand {
                game: game.game.clone(),
                action: game.action.clone(),
            });
        }
    };
    reject_nul(command)?;
    let program = resolve_program(policy, &command.program, fs)?;
    check_arg_sizes(policy, &command.args)?;
    let rule = match_args(&program, &command.args)?;
    let (root, cwd_relative) = resolve_cwd(policy, command.cwd.as_deref(), fs)?;
    let env = build_env(policy, rule, &command.env, root)?;
    let timeout = timeout(rule, job.timeout_secs)?;
    let output_cap_bytes = output_cap(rule, job.output_cap_bytes)?;
    Ok(ApprovedCommand::from_parts(ApprovedParts {
        program: program.canonical,
        program_identity: program.identity,
        args: command.args.clone(),
        cwd_root: root.canonical.clone(),
        cwd_relative,
        env,
        timeout,
        output_cap_bytes,
        kill_grace: rule.kill_grace,
    }))
}

fn reject_nul(command: &CommandSpec) -> Result<(), Violation> {
    let nul = |field: String| Err(Violation::NulByte { field });
    if command.program.contains('\0') {
        return nul("program".to_owned());
    }
    if let Some(index) = command.args.iter().position(|a| a.contains('\0')) {
        return nul(format!("args[{index}]"));
    }
    if command.cwd.as_deref().is_some_and(|c| c.contains('\0')) {
        return nul("cwd".to_owned());
    }
    for (name, value) in &command.env {
        if name.contains('\0') {
            return nul(format!("env name {name:?}"));
        }
        if value.contains('\0') {
            return nul(format!("env {name}"));
        }
    }
    Ok(())
}

/// The program the job names, bound to the rules that allow its canonical file.
struct Program<'p> {
    canonical: PathBuf,
    identity: FileIdentity,
    /// The rules allowing this file, in file order.
    first_rule: &'p ProgramRule,
    other_rules: Vec<&'p ProgramRule>,
}

fn resolve_program<'p>(
    policy: &'p Policy,
    program: &str,
    fs: &dyn Resolve,
) -> Result<Program<'p>, Violation> {
    if program.is_empty() {
        return Err(Violation::EmptyProgram);
    }
    if !program.starts_with('/') {
        return Err(Violation::ProgramNotAbsolute { program: program.to_owned() });
    }
    if !is_canonical_absolute(program) {
        return Err(Violation::ProgramNotCanonical { program: program.to_owned() });
    }
    let path = Path::new(program);
    // A rule that names this path as written: if it now resolves elsewhere, the allowed binary was
    // swapped (symlink re-pointed, file removed), which is worth saying precisely.
    let named = policy.programs.iter().find(|p| p.rule.path == path || p.canonical == path);
    let changed = |detail: String| Violation::BinaryChanged { program: program.to_owned(), detail };

    let canonical = match (fs.canonicalize(path), named) {
        (Ok(canonical), _) => canonical,
        (Err(e), Some(_)) => return Err(changed(format!("it can no longer be resolved: {e}"))),
        (Err(_), None) => return Err(Violation::ProgramNotAllowed { program: program.to_owned() }),
    };
    let mut matching = policy.programs.iter().filter(|p| p.canonical == canonical);
    let Some(first) = matching.next() else {
        return Err(match named {
            Some(approved) => changed(format!(
                "it now resolves to {} instead of {}",
                canonical.display(),
                approved.canonical.display()
            )),
            None if canonical != path => Violation::ProgramResolvesElsewhere {
                program: program.to_owned(),
                target: canonical,
            },
            None => Violation::ProgramNotAllowed { program: program.to_owned() },
        });
    };
    let facts = fs.stat(&canonical).map_err(|e| changed(format!("it cannot be read: {e}")))?;
    if facts.identity != first.identity {
        return Err(changed(format!(
            "{} is now inode {} on device {}, approved was inode {} on device {}",
            canonical.display(),
            facts.identity.ino,
            facts.identity.dev,
            first.identity.ino,
            first.identity.dev
        )));
    }
    if facts.kind != FileKind::File || facts.writable_by_others() {
        return Err(changed(format!(
            "{} is no longer a regular file writable only by its owner",
            canonical.display()
        )));
    }
    let other_rules = matching.map(|p| &p.rule).collect();
    Ok(Program { canonical, identity: facts.identity, first_rule: &first.rule, other_rules })
}

fn check_arg_sizes(policy: &Policy, args: &[String]) -> Result<(), Violation> {
    let limits = &policy.limits;
    if args.len() > limits.max_args {
        return Err(Violation::TooManyArgs { count: args.len(), max: limits.max_args });
    }
    match args.iter().position(|a| a.len() > limits.max_arg_bytes) {
        Some(index) => {
            Err(Violation::ArgTooLong { index, len: args[index].len(), max: limits.max_arg_bytes })
        }
        None => Ok(()),
    }
}

/// The first rule that accepts every argument; failing that, the refusal from the rule that got
/// furthest (the earliest such rule on a tie), which is the most useful one to report.
fn match_args<'p>(program: &Program<'p>, args: &[String]) -> Result<&'p ProgramRule, Violation> {
    let (mut furthest, mut refusal) = match match_rule(program.first_rule, args) {
        Ok(()) => return Ok(program.first_rule),
        Err(failure) => failure,
    };
    for rule in &program.other_rules {
        match match_rule(rule, args) {
            Ok(()) => return Ok(rule),
            Err((reached, violation)) if reached > furthest => {
                (furthest, refusal) = (reached, violation);
            }
            Err(_) => {}
        }
    }
    Err(refusal)
}

/// Matches `args` against one rule; on failure, how many arguments fitted before it.
fn match_rule(rule: &ProgramRule, args: &[String]) -> Result<(), (usize, Violation)> {
    for (index, arg) in args.iter().enumerate() {
        let misfit = match rule.slot(index) {
            Some(pattern) => match pattern.admit(arg) {
                Ok(()) => continue,
                Err(misfit) => misfit,
            },
            // Extra arguments have no slot, so no slot can declare them an option.
            None if rule.allow_extra && !arg.starts_with('-') => continue,
            None if rule.allow_extra => Misfit::Option,
            None => {
                return Err((
                    index,
                    Violation::UnexpectedArgument {
                        index,
                        value: arg.clone(),
                        rule: rule.label.clone(),
                        max: rule.args.len(),
                    },
                ));
            }
        };
        let violation = match (misfit, rule.slot(index)) {
            (Misfit::NoMatch, Some(pattern)) => Violation::ArgumentNotAllowed {
                index,
                value: arg.clone(),
                rule: rule.label.clone(),
                expected: pattern.to_string(),
            },
            _ => {
                Violation::OptionNotAllowed { index, value: arg.clone(), rule: rule.label.clone() }
            }
        };
        return Err((index, violation));
    }
    match rule.args.get(args.len()) {
        Some(pattern) => Err((
            args.len(),
            Violation::MissingArgument {
                index: args.len(),
                rule: rule.label.clone(),
                expected: pattern.to_string(),
            },
        )),
        None => Ok(()),
    }
}

/// The root the working directory lies in, and the directory relative to that root's canonical
/// path (empty for the root itself; never containing `..` or a symlink).
///
/// `..%2f` and friends are not decoded: a job's cwd is a path, not a URL, so `..%2f` is an
/// ordinary directory name that must exist beneath the root like any other.
fn resolve_cwd<'p>(
    policy: &'p Policy,
    cwd: Option<&str>,
    fs: &dyn Resolve,
) -> Result<(&'p Root, PathBuf), Violation> {
    let Some(cwd) = cwd else { return Ok((&policy.roots.first, PathBuf::new())) };
    if cwd.is_empty() {
        return Err(Violation::EmptyCwd);
    }
    if cwd.len() > MAX_PATH_BYTES {
        return Err(Violation::CwdTooLong { len: cwd.len(), max: MAX_PATH_BYTES });
    }
    let path = Path::new(cwd);
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(Violation::CwdHasParentComponent { cwd: cwd.to_owned() });
    }
    // A relative cwd is beneath the first root; joining an absolute one yields it unchanged.
    let joined = policy.roots.first.canonical.join(path);
    let resolved = fs
        .canonicalize(&joined)
        .map_err(|e| Violation::CwdNotFound { cwd: cwd.to_owned(), problem: e.to_string() })?;
    // The deepest root containing it, compared component-wise on canonical paths.
    let root = policy
        .roots
        .iter()
        .filter(|root| resolved.starts_with(&root.canonical))
        .max_by_key(|root| root.canonical.components().count());
    let Some(root) = root else {
        return Err(Violation::CwdEscapesRoot { cwd: cwd.to_owned(), resolved });
    };
    let facts = fs
        .stat(&resolved)
        .map_err(|e| Violation::CwdNotFound { cwd: cwd.to_owned(), problem: e.to_string() })?;
    if facts.kind != FileKind::Directory {
        return Err(Violation::CwdNotADirectory { cwd: cwd.to_owned() });
    }
    let relative = match resolved.strip_prefix(&root.canonical) {
        Ok(relative) => relative.to_path_buf(),
        Err(_) => return Err(Violation::CwdEscapesRoot { cwd: cwd.to_owned(), resolved }),
    };
    Ok((root, relative))
}

/// The child's whole environment: fixed `PATH`, `HOME` (the cwd's root) and `LANG`, then the
/// job's variables, each of which the policy must allow. Sorted by name.
fn build_env(
    policy: &Policy,
    rule: &ProgramRule,
    requested: &BTreeMap<String, String>,
    root: &Root,
) -> Result<Vec<(String, String)>, Violation> {
    let limits = &policy.limits;
    if requested.len() > limits.max_env_vars {
        return Err(Violation::TooManyEnvVars { count: requested.len(), max: limits.max_env_vars });
    }
    for (name, value) in requested {
        if !rules::is_valid_env_name(name) {
            return Err(Violation::InvalidEnvName { name: name.clone() });
        }
        if rules::is_dangerous_env(name) {
            if !rule.env.names_exactly(name) {
                return Err(Violation::DangerousEnv { name: name.clone() });
            }
        } else if !policy.env.allows(name) && !rule.env.allows(name) {
            return Err(Violation::EnvNotAllowed { name: name.clone() });
        }
        if value.len() > limits.max_env_value_bytes {
            return Err(Violation::EnvValueTooLong {
                name: name.clone(),
                len: value.len(),
                max: limits.max_env_value_bytes,
            });
        }
    }
    // Roots are checked to be UTF-8 at load, so HOME is exact.
    let home = root.canonical.to_string_lossy().into_owned();
    let mut env = BTreeMap::from([
        ("PATH".to_owned(), FIXED_PATH.to_owned()),
        ("HOME".to_owned(), home),
        ("LANG".to_owned(), FIXED_LANG.to_owned()),
    ]);
    env.extend(requested.iter().map(|(name, value)| (name.clone(), value.clone())));
    Ok(env.into_iter().collect())
}

fn timeout(rule: &ProgramRule, requested: Option<u64>) -> Result<Duration, Violation> {
    let secs = match requested {
        None => rule.default_timeout_secs,
        Some(0) => return Err(Violation::TimeoutZero),
        Some(secs) if secs > rule.max_timeout_secs => {
            return Err(Violation::TimeoutAboveLimit {
                requested: secs,
                limit: rule.max_timeout_secs,
                rule: rule.label.clone(),
            });
        }
        Some(secs) => secs,
    };
    Ok(Duration::from_secs(secs))
}

fn output_cap(rule: &ProgramRule, requested: Option<u64>) -> Result<u64, Violation> {
    match requested {
        None => Ok(rule.default_output_cap_bytes),
        Some(bytes) if bytes > rule.max_output_cap_bytes => Err(Violation::OutputCapAboveLimit {
            requested: bytes,
            limit: rule.max_output_cap_bytes,
            rule: rule.label.clone(),
        }),
        Some(bytes) => Ok(bytes),
    }
}
