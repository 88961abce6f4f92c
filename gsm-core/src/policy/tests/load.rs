//! Loading: every bad file is an error that names its line and column, never a permissive default.

use std::fs;
use std::os::unix::fs::symlink;

use super::Fixture;
use crate::policy::{LoadError, Policy};

/// A valid file to break: `{root}` is a directory that exists.
const BASE: &str = r#"version = 1
roots = ["{root}"]

[[program]]
path = "/bin/echo"
"#;

/// Loads `text` (with `{root}` filled in) and returns the error message.
fn load_error(text: &str) -> String {
    let fx = Fixture::new();
    let text = text.replace("{root}", fx.root.to_str().unwrap());
    match Policy::from_toml_str(&text) {
        Ok(policy) => panic!("expected a load error, got {policy:?}"),
        Err(error) => {
            let location = error.location().expect("text errors have a location");
            let message = error.to_string();
            let prefix = format!("line {}, column {}: ", location.line, location.column);
            assert!(message.starts_with(&prefix), "{message:?} should start with {prefix:?}");
            message.replace(fx.root.to_str().unwrap(), "{root}")
        }
    }
}

/// `BASE` with `extra` appended to the program rule.
fn with_program(extra: &str) -> String {
    format!("{BASE}{extra}\n")
}

#[test]
fn the_base_policy_loads() {
    let fx = Fixture::new();
    Policy::from_toml_str(&BASE.replace("{root}", fx.root.to_str().unwrap())).unwrap();
}

/// Loads each text and compares its error message; reports every mismatch at once.
#[track_caller]
fn check_load_errors(cases: &[(String, &str)]) {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(text, expected)| {
            let got = load_error(text);
            (got != *expected)
                .then(|| format!("{text:?}\n  expected {expected:?}\n  got      {got:?}"))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A root-and-version preamble followed by `rest`.
fn with_root(rest: &str) -> String {
    format!("version = 1\nroots = [\"{{root}}\"]\n{rest}")
}

#[test]
fn a_syntax_error_names_its_line_and_column() {
    check_load_errors(&[
        (
            "version = 1\nroots = [\"/tmp\"\n[limits]\n".to_owned(),
            "line 3, column 1: missing comma between array elements, expected `,`",
        ),
        (with_root("[limits]\nmax_args = = 3\n"), "line 4, column 12: extra `=`, expected nothing"),
        (with_root("[limits\n"), "line 3, column 8: unclosed table, expected `]`"),
        (
            with_root("[[program]]\npath = \"/bin/echo\"\npath = \"/bin/sh\"\n"),
            "line 5, column 1: duplicate key",
        ),
        (
            "version = 1\nroots = ['unterminated\n".to_owned(),
            "line 2, column 23: unclosed array, expected `]`",
        ),
    ]);
}

#[test]
fn an_unknown_key_is_an_error_not_ignored() {
    check_load_errors(&[
        (
            format!("{BASE}allow_shell = true\n"),
            "line 6, column 1: unknown field `allow_shell`, expected one of `path`, `description`, `args`, `repeat`, `allow_extra`, `env`, `max_timeout_secs`, `default_timeout_secs`, `max_output_cap_bytes`, `default_output_cap_bytes`, `kill_grace_secs`",
        ),
        (
            with_root("[limits]\nmax_timeout = 5\n"),
            "line 4, column 1: unknown field `max_timeout`, expected one of `max_timeout_secs`, `default_timeout_secs`, `max_output_cap_bytes`, `default_output_cap_bytes`, `kill_grace_secs`, `max_args`, `max_arg_bytes`, `max_env_vars`, `max_env_value_bytes`",
        ),
        (
            "version = 1\nroot = [\"{root}\"]\n".to_owned(),
            "line 2, column 1: unknown field `root`, expected one of `version`, `roots`, `limits`, `env`, `program`",
        ),
        (
            with_program("args = [{ fixd = \"x\" }]"),
            "line 6, column 11: unknown field `fixd`, expected one of `fixed`, `enum`, `regex`, `int`, `option`",
        ),
        (
            with_program("repeat = { regex = '.*', optional = true }"),
            "line 6, column 26: unknown field `optional`, expected one of `fixed`, `enum`, `regex`, `int`, `option`",
        ),
        (
            with_root("[env]\ndeny = [\"X\"]\n"),
            "line 4, column 1: unknown field `deny`, expected `allow`",
        ),
    ]);
}

#[test]
fn a_missing_or_mistyped_key_is_an_error() {
    check_load_errors(&[
        ("roots = [\"{root}\"]\n".to_owned(), "line 1, column 1: missing field `version`"),
        ("version = 1\n".to_owned(), "line 1, column 1: missing field `roots`"),
        (
            "version = 1\nroots = \"{root}\"\n".to_owned(),
            "line 2, column 9: invalid type: string \"{root}\", expected a sequence",
        ),
        (
            with_root("[limits]\nmax_args = -1\n"),
            "line 4, column 12: invalid value: integer `-1`, expected u64",
        ),
        (
            with_root("[limits]\nmax_timeout_secs = 1.5\n"),
            "line 4, column 20: invalid type: floating point `1.5`, expected u64",
        ),
        (
            with_program("allow_extra = \"yes\""),
            "line 6, column 15: invalid type: string \"yes\", expected a boolean",
        ),
        (with_root("[[program]]\nargs = []\n"), "line 3, column 1: missing field `path`"),
        (with_program("args = [{ int = { min = 1 } }]"), "line 6, column 17: missing field `max`"),
    ]);
}

#[test]
fn invalid_rules_are_errors_naming_the_rule() {
    check_load_errors(&[
        (
            "version = 2\nroots = [\"{root}\"]\n".to_owned(),
            "line 1, column 11: version: unsupported policy format version; write `version = 1`",
        ),
        (
            "version = 1\nroots = []\n".to_owned(),
            "line 2, column 9: roots: at least one working-directory root is required",
        ),
        (
            "version = 1\nroots = [\"relative/dir\"]\n".to_owned(),
            "line 2, column 10: roots: root \"relative/dir\" must be an absolute path in canonical form (no `.`, `..`, `//` or trailing `/`, and not `/` itself)",
        ),
        (
            "version = 1\nroots = [\"/\"]\n".to_owned(),
            "line 2, column 10: roots: root \"/\" must be an absolute path in canonical form (no `.`, `..`, `//` or trailing `/`, and not `/` itself)",
        ),
        (
            "version = 1\nroots = [\"{root}/../x\"]\n".to_owned(),
            "line 2, column 10: roots: root \"{root}/../x\" must be an absolute path in canonical form (no `.`, `..`, `//` or trailing `/`, and not `/` itself)",
        ),
        (
            "version = 1\nroots = [\"{root}/\"]\n".to_owned(),
            "line 2, column 10: roots: root \"{root}/\" must be an absolute path in canonical form (no `.`, `..`, `//` or trailing `/`, and not `/` itself)",
        ),
        (
            with_root("[[program]]\npath = \"echo\"\n"),
            "line 4, column 8: [[program]] #1 (echo): path must be absolute and in canonical form (no `.`, `..`, `//` or trailing `/`); PATH is never searched",
        ),
        (
            with_root("[[program]]\npath = \"/usr/bin/../bin/echo\"\n"),
            "line 4, column 8: [[program]] #1 (/usr/bin/../bin/echo): path must be absolute and in canonical form (no `.`, `..`, `//` or trailing `/`); PATH is never searched",
        ),
        (
            with_root("[[program]]\npath = \"/bin//echo\"\n"),
            "line 4, column 8: [[program]] #1 (/bin//echo): path must be absolute and in canonical form (no `.`, `..`, `//` or trailing `/`); PATH is never searched",
        ),
        (
            with_root("[env]\nallow = [\"LD_PRELOAD\"]\n"),
            "line 4, column 10: [env]: LD_PRELOAD changes how programs load or interpret code; allow it only in the `env` list of the [[program]] rule that needs it",
        ),
        (
            with_root("[env]\nallow = [\"PATH\"]\n"),
            "line 4, column 10: [env]: PATH changes how programs load or interpret code; allow it only in the `env` list of the [[program]] rule that needs it",
        ),
        (
            with_root("[env]\nallow = [\"A=B\"]\n"),
            "line 4, column 10: [env]: \"A=B\" is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)",
        ),
        (
            with_root("[env]\nallow = [\"*\"]\n"),
            "line 4, column 10: [env]: env glob \"*\" needs a valid name prefix before `*`, such as \"GSM_*\"",
        ),
        (
            with_root("[limits]\nmax_timeout_secs = 0\n"),
            "line 4, column 20: [limits]: max_timeout_secs must be at least 1",
        ),
        (
            with_root("[limits]\nmax_timeout_secs = 10\ndefault_timeout_secs = 11\n"),
            "line 5, column 24: [limits]: default_timeout_secs = 11 is above max_timeout_secs (10)",
        ),
        (
            with_root("[limits]\ndefault_timeout_secs = 0\n"),
            "line 4, column 24: [limits]: default_timeout_secs must be at least 1",
        ),
        (
            with_root("[limits]\nmax_arg_bytes = 131072\n"),
            "line 4, column 17: [limits]: max_arg_bytes = 131072 is above the ceiling 131071",
        ),
        (
            with_root("[limits]\nmax_output_cap_bytes = 10\ndefault_output_cap_bytes = 11\n"),
            "line 5, column 28: [limits]: default_output_cap_bytes = 11 is above max_output_cap_bytes (10)",
        ),
        (
            with_program("args = [{ regex = '[a-z' }]"),
            "line 6, column 9: [[program]] #1 (/bin/echo) args[0]: invalid regex: regex parse error:\n    [a-z\n    ^\nerror: unclosed character class",
        ),
        (
            with_program("args = [{ regex = 'a)|(b' }]"),
            "line 6, column 9: [[program]] #1 (/bin/echo) args[0]: invalid regex: regex parse error:\n    a)|(b\n     ^\nerror: unopened group",
        ),
        (
            with_program("args = [{ fixed = 'a', regex = 'b' }]"),
            "line 6, column 9: [[program]] #1 (/bin/echo) args[0]: an argument slot needs exactly one of `fixed`, `enum`, `regex` or `int`",
        ),
        (
            with_program("args = [{}]"),
            "line 6, column 9: [[program]] #1 (/bin/echo) args[0]: an argument slot needs exactly one of `fixed`, `enum`, `regex` or `int`",
        ),
        (
            with_program("args = [{ fixed = '-x', option = true }]"),
            "line 6, column 9: [[program]] #1 (/bin/echo) args[0]: `option` applies only to `regex` slots; a `fixed` or `enum` value written with a leading `-` is already an explicit option, and an `int` range below zero allows negatives",
        ),
        (
            with_program("args = [{ enum = [] }]"),
            "line 6, column 9: [[program]] #1 (/bin/echo) args[0]: `enum` needs at least one value",
        ),
        (
            with_program("args = [{ int = { min = 5, max = 1 } }]"),
            "line 6, column 9: [[program]] #1 (/bin/echo) args[0]: int range min 5 is above max 1",
        ),
        (
            with_program("repeat = { regex = '.*' }\nallow_extra = true"),
            "line 7, column 15: [[program]] #1 (/bin/echo): allow_extra = true and a repeat slot contradict each other: the repeat slot already takes every trailing argument",
        ),
        (
            with_program("max_timeout_secs = 3601"),
            "line 6, column 20: [[program]] #1 (/bin/echo): max_timeout_secs = 3601 is above the global [limits] max_timeout_secs (3600); a rule may only narrow",
        ),
        (
            with_program("max_output_cap_bytes = 16777217"),
            "line 6, column 24: [[program]] #1 (/bin/echo): max_output_cap_bytes = 16777217 is above the global [limits] max_output_cap_bytes (16777216); a rule may only narrow",
        ),
        (
            with_program("max_timeout_secs = 10\ndefault_timeout_secs = 20"),
            "line 7, column 24: [[program]] #1 (/bin/echo): default_timeout_secs = 20 is above max_timeout_secs (10)",
        ),
        (
            with_program("default_timeout_secs = 0"),
            "line 6, column 24: [[program]] #1 (/bin/echo): default_timeout_secs must be at least 1",
        ),
        (
            with_program("kill_grace_secs = 601"),
            "line 6, column 19: [[program]] #1 (/bin/echo): kill_grace_secs = 601 is above the ceiling 600",
        ),
        (
            with_program("env = [\"BAD NAME\"]"),
            "line 6, column 8: [[program]] #1 (/bin/echo): \"BAD NAME\" is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)",
        ),
    ]);
}

#[test]
fn paths_this_machine_cannot_honour_are_errors_naming_the_rule() {
    let fx = Fixture::new();
    let root = fx.root.to_str().unwrap();
    symlink("/", fx.root.join("slash")).unwrap();
    fs::create_dir(fx.root.join("dir")).unwrap();
    let cases = [
        (
            format!("version = 1\nroots = [\"{root}/missing\"]\n"),
            "line 2, column 10: roots: root {root}/missing cannot be resolved (No such file or directory (os error 2)); create it first",
        ),
        (
            format!("version = 1\nroots = [\"{root}/file.txt\"]\n"),
            "line 2, column 10: roots: root {root}/file.txt is not a directory",
        ),
        (
            format!("version = 1\nroots = [\"{root}/slash\"]\n"),
            "line 2, column 10: roots: root {root}/slash resolves to `/`, which would allow every directory",
        ),
        (
            format!(
                "version = 1\nroots = [\"{root}\"]\n[[program]]\npath = \"/nonexistent/tool\"\n"
            ),
            "line 4, column 8: [[program]] #1 (/nonexistent/tool): program /nonexistent/tool cannot be resolved (No such file or directory (os error 2))",
        ),
        (
            format!("version = 1\nroots = [\"{root}\"]\n[[program]]\npath = \"{root}/dir\"\n"),
            "line 4, column 8: [[program]] #1 ({root}/dir): program {root}/dir is not a regular file",
        ),
        (
            format!("version = 1\nroots = [\"{root}\"]\n[[program]]\npath = \"{root}/file.txt\"\n"),
            "line 4, column 8: [[program]] #1 ({root}/file.txt): program {root}/file.txt is not executable",
        ),
    ];
    let mut failures = Vec::new();
    for (text, expected) in cases {
        match Policy::from_toml_str(&text) {
            Err(error @ LoadError::PathUnusable { .. }) => {
                let got = error.to_string().replace(root, "{root}");
                if got != expected {
                    failures.push(format!("{text:?}\n  expected {expected:?}\n  got      {got:?}"));
                }
            }
            other => failures.push(format!("{text:?}: expected PathUnusable, got {other:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_file_error_names_the_file() {
    let fx = Fixture::new();
    let path = fx.root.join("policy.toml");
    fs::write(&path, "version = 1\nroots = [\"/tmp\"]\nbogus = 1\n").unwrap();
    let error = Policy::from_file(&path).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}:3:1: unknown field `bogus`, expected one of `version`, `roots`, `limits`, `env`, `program`",
            path.display()
        )
    );

    let missing = fx.root.join("missing.toml");
    let error = Policy::from_file(&missing).unwrap_err();
    assert!(matches!(error, LoadError::Unreadable { .. }), "{error:?}");
    assert!(error.location().is_none());
    assert_eq!(
        error.to_string(),
        format!("cannot read policy {}: No such file or directory (os error 2)", missing.display())
    );
}

#[test]
fn columns_count_characters_not_bytes() {
    let message = load_error(&with_program("args = [{ fixed = \"äöü\" }, { regex = '[' }]"));
    assert!(message.starts_with("line 6, column 28: "), "{message}");
}
