//! The example policies load and every example job gets the verdict its file name promises.

use std::fs;
use std::path::Path;

use super::{check, examples_dir};
use crate::job::JobSpec;
use crate::policy::{LoadError, Policy};

/// The demo policy's root; `make demo` creates it, and so does this test.
const DEMO_ROOT: &str = "/tmp/gsm-demo";

fn demo_policy() -> Policy {
    fs::create_dir_all(DEMO_ROOT).unwrap();
    Policy::from_file(&examples_dir().join("policies/demo.toml")).unwrap()
}

#[test]
fn every_example_policy_is_valid() {
    demo_policy();
    let dir = examples_dir().join("policies");
    let mut seen = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        seen += 1;
        match Policy::from_file(&path) {
            Ok(_) => {}
            // Only this machine may disagree: every rule was validated before paths were resolved.
            Err(LoadError::PathUnusable { .. }) if !path.ends_with("demo.toml") => {}
            Err(error) => panic!("{error}"),
        }
    }
    assert!(seen >= 2, "expected example.toml and demo.toml in {}", dir.display());
}

/// Every file in `examples/jobs/` and its verdict under the demo policy.
const EXAMPLE_JOBS: &[(&str, &str)] = &[
    ("allowed-echo.json", "allowed"),
    ("allowed-echo-metacharacters.json", "allowed"),
    ("allowed-sleep.json", "allowed"),
    ("allowed-env.json", "allowed"),
    ("rejected-shell.json", "program_not_allowed"),
    ("rejected-relative-program.json", "invalid_path"),
    ("rejected-option.json", "option_not_allowed"),
    ("rejected-ld-preload.json", "env_not_allowed"),
    ("rejected-cwd-escape.json", "invalid_path"),
    ("rejected-timeout.json", "timeout_above_limit"),
    ("rejected-env-runs-another-program.json", "argument_not_allowed"),
    ("rejected-game-action.json", "not_a_command"),
];

/// Reads an example job, filling in `id`, `host` and `requested_by` when the file leaves them
/// out, as `gsm-agent policy check` does.
fn read_job(path: &Path) -> JobSpec {
    let text = fs::read_to_string(path).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let object = value.as_object_mut().unwrap();
    object.entry("id").or_insert_with(|| "0190f5c2-7a3e-7cc1-9d2b-3f4e5a6b7c8d".into());
    object.entry("host").or_insert_with(|| "00000000-0000-0000-0000-000000000000".into());
    object
        .entry("requested_by")
        .or_insert_with(|| serde_json::json!({ "kind": "local", "id": "policy-check" }));
    serde_json::from_value(value).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_example_job_gets_its_verdict_under_the_demo_policy() {
    let policy = demo_policy();
    let dir = examples_dir().join("jobs");
    let mut files: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut listed: Vec<String> = EXAMPLE_JOBS.iter().map(|(f, _)| (*f).to_owned()).collect();
    listed.sort();
    assert_eq!(files, listed, "EXAMPLE_JOBS must list every file in examples/jobs/");

    let failures: Vec<String> = EXAMPLE_JOBS
        .iter()
        .filter_map(|(file, expected)| {
            assert_eq!(file.starts_with("allowed-"), *expected == "allowed", "{file} is misnamed");
            let job = read_job(&dir.join(file));
            check(&policy, &job, expected).err().map(|why| format!("{file}: {why}"))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
