//! Loading a policy: TOML → raw file → validated rules → paths resolved on disk.
//!
//! Every failure is a [`LoadError`] that names the line and column it comes from; nothing is
//! skipped or defaulted permissively. Pure validation of the whole file runs before any path is
//! resolved, so a [`LoadError::PathUnusable`] means the file is well formed and only this
//! machine's filesystem disagrees with it.

use std::fmt;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::approved::FileIdentity;
use super::file::RawPolicy;
use super::resolve::{FileKind, Resolve};
use super::rules::{self, Invalid, ProgramRule, RawRoot};
use super::{Policy, ResolvedProgram, Root, Roots};

/// Where in a policy file something is: 1-based line and column (in characters).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Location {
    /// The file, when the policy came from one.
    pub origin: Option<PathBuf>,
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1, counted in characters.
    pub column: usize,
}

impl Location {
    fn at(text: &str, offset: usize, origin: Option<&Path>) -> Self {
        let offset = floor_char_boundary(text, offset.min(text.len()));
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Self { origin: origin.map(Path::to_path_buf), line, column }
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Some(path) => write!(f, "{}:{}:{}", path.display(), self.line, self.column),
            None => write!(f, "line {}, column {}", self.line, self.column),
        }
    }
}

/// Why a policy could not be loaded. Every variant but [`Unreadable`](Self::Unreadable) says
/// where in the file the problem is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read (missing, unreadable, not UTF-8).
    #[error("cannot read policy {}: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The operating system's answer.
        #[source]
        source: io::Error,
    },

    /// Not valid TOML, or not the policy's shape: a syntax error, a wrong type, an unknown or
    /// missing key.
    #[error("{at}: {message}")]
    Malformed {
        /// Where.
        at: Location,
        /// The parser's message.
        message: String,
    },

    /// Well-formed TOML with a rule that makes no sense: an invalid regex, a relative path, a
    /// default above its limit.
    #[error("{at}: {rule}: {problem}")]
    InvalidRule {
        /// Where.
        at: Location,
        /// Which rule (`[limits]`, `roots`, `[[program]] #2 (/usr/bin/tar)`, ...).
        rule: String,
        /// What is wrong.
        problem: String,
    },

    /// A valid rule whose path this machine cannot honour: missing, not a directory or a
    /// regular file, writable by others.
    #[error("{at}: {rule}: {problem}")]
    PathUnusable {
        /// Where.
        at: Location,
        /// Which rule.
        rule: String,
        /// The path as written.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
}

impl LoadError {
    /// Where in the file the problem is, when the file could be read.
    pub fn location(&self) -> Option<&Location> {
        match self {
            LoadError::Unreadable { .. } => None,
            LoadError::Malformed { at, .. }
            | LoadError::InvalidRule { at, .. }
            | LoadError::PathUnusable { at, .. } => Some(at),
        }
    }
}

/// Reads and loads a policy file.
pub(crate) fn load_file(path: &Path, fs: &dyn Resolve) -> Result<Policy, LoadError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| LoadError::Unreadable { path: path.to_path_buf(), source })?;
    load(&text, Some(path), fs)
}

/// Loads a policy from its text; `origin` names the file in error locations.
pub(crate) fn load(
    text: &str,
    origin: Option<&Path>,
    fs: &dyn Resolve,
) -> Result<Policy, LoadError> {
    let raw: RawPolicy = toml::from_str(text).map_err(|e| LoadError::Malformed {
        at: Location::at(text, e.span().map_or(0, |s| s.start), origin),
        message: e.message().trim_end().to_owned(),
    })?;
    let rules =
        rules::validate(raw, 0..text.len()).map_err(|Invalid { span, rule, problem }| {
            LoadError::InvalidRule { at: Location::at(text, span.start, origin), rule, problem }
        })?;
    let unusable =
        |span: &Range<usize>, rule: &str, path: &Path, problem: String| LoadError::PathUnusable {
            at: Location::at(text, span.start, origin),
            rule: rule.to_owned(),
            path: path.to_path_buf(),
            problem,
        };

    let root = |root: &RawRoot| {
        resolve_root(root, fs).map_err(|problem| unusable(&root.span, "roots", &root.path, problem))
    };
    let (first, rest) = &rules.roots;
    let first = root(first)?;
    let rest = rest.iter().map(root).collect::<Result<Vec<_>, _>>()?;

    let programs = rules
        .programs
        .into_iter()
        .map(|rule| match resolve_program(&rule, fs) {
            Ok((canonical, identity)) => Ok(ResolvedProgram { rule, canonical, identity }),
            Err(problem) => Err(unusable(&rule.path_span, &rule.label, &rule.path, problem)),
        })
        .collect::<Result<Vec<_>, _>>()?;

    Ok(Policy { limits: rules.limits, roots: Roots { first, rest }, env: rules.env, programs })
}

fn resolve_root(root: &RawRoot, fs: &dyn Resolve) -> Result<Root, String> {
    let shown = root.path.display();
    let canonical = fs
        .canonicalize(&root.path)
        .map_err(|e| format!("root {shown} cannot be resolved ({e}); create it first"))?;
    let facts = fs.stat(&canonical).map_err(|e| format!("root {shown} cannot be read ({e})"))?;
    if facts.kind != FileKind::Directory {
        return Err(format!("root {shown} is not a directory"));
    }
    if canonical.parent().is_none() {
        return Err(format!("root {shown} resolves to `/`, which would allow every directory"));
    }
    if canonical.to_str().is_none() {
        return Err(format!(
            "root {shown} resolves to {}, which is not UTF-8 and cannot become HOME",
            canonical.display()
        ));
    }
    Ok(Root { canonical })
}

/// The program's canonical path and identity, checked to be a regular executable file that
/// only its owner can write.
fn resolve_program(
    rule: &ProgramRule,
    fs: &dyn Resolve,
) -> Result<(PathBuf, FileIdentity), String> {
    let shown = rule.path.display();
    let canonical = fs
        .canonicalize(&rule.path)
        .map_err(|e| format!("program {shown} cannot be resolved ({e})"))?;
    let facts = fs.stat(&canonical).map_err(|e| format!("program {shown} cannot be read ({e})"))?;
    if facts.kind != FileKind::File {
        return Err(format!("program {shown} is not a regular file"));
    }
    if facts.mode & 0o111 == 0 {
        return Err(format!("program {shown} is not executable"));
    }
    if facts.writable_by_others() {
        return Err(format!(
            "program {shown} (resolved to {}) is writable by group or others (mode {:o}); \
             anyone who can write it could change what the policy allows",
            canonical.display(),
            facts.mode
        ));
    }
    Ok((canonical, facts.identity))
}
