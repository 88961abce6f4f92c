//! `gsm-agent policy check` against the example policies and jobs, and against broken input:
//! exit codes 0/1/2 and one JSON object on stdout.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// The demo policy's root; `make demo` creates it, and so do these tests.
const DEMO_ROOT: &str = "/tmp/gsm-demo";

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn demo_policy() -> PathBuf {
    fs::create_dir_all(DEMO_ROOT).unwrap();
    examples().join("policies/demo.toml")
}

/// What one run of the command produced.
struct Run {
    code: i32,
    json: Value,
    stderr: String,
}

/// Runs `gsm-agent policy check --policy POLICY [JOB]`, feeding `stdin` when given.
fn policy_check(policy: &Path, job: Option<&str>, stdin: Option<&str>) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gsm-agent"));
    command.args(["policy", "check", "--policy"]).arg(policy);
    command.args(job);
    command.env_clear().stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    // The command may exit before reading (a bad policy), which closes the pipe early.
    if let Err(error) = input.write_all(stdin.unwrap_or("").as_bytes()) {
        assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe, "{error}");
    }
    drop(input);
    let Output { status, stdout, stderr } = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "stdout is one line of JSON: {stdout:?}");
    Run {
        code: status.code().unwrap(),
        json: serde_json::from_str(&stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

fn job_file(name: &str) -> String {
    examples().join("jobs").join(name).to_str().unwrap().to_owned()
}

#[test]
fn every_example_job_exits_with_its_verdict() {
    let policy = demo_policy();
    let mut failures = Vec::new();
    for entry in fs::read_dir(examples().join("jobs")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let run = policy_check(&policy, Some(path.to_str().unwrap()), None);
        let (code, verdict) =
            if name.starts_with("allowed-") { (0, "allowed") } else { (1, "rejected") };
        if run.code != code || run.json["verdict"] != verdict {
            failures.push(format!("{name}: exit {} {}", run.code, run.json));
        }
        if !run.stderr.is_empty() {
            failures.push(format!("{name}: unexpected stderr {:?}", run.stderr));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn an_allowed_job_prints_the_normalised_command() {
    let run =
        policy_check(&demo_policy(), Some(&job_file("allowed-echo-metacharacters.json")), None);
    assert_eq!(run.code, 0);
    let command = &run.json["command"];
    let echo = fs::canonicalize("/bin/echo").unwrap();
    assert_eq!(command["program"], echo.to_str().unwrap());
    assert_eq!(
        command["args"],
        serde_json::json!([
            "a; rm -rf /",
            "&& reboot",
            "$(id)",
            "`id`",
            "| nc evil 1",
            "with spaces",
            "",
            "*"
        ])
    );
    assert_eq!(command["cwd_root"], DEMO_ROOT);
    assert_eq!(command["cwd_relative"], "");
    assert_eq!(command["timeout_secs"], 10.0);
    assert_eq!(command["kill_grace_secs"], 2.0);
    assert_eq!(
        command["env"],
        serde_json::json!([
            ["HOME", DEMO_ROOT],
            ["LANG", "C.UTF-8"],
            ["PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        ])
    );
}

#[test]
fn a_rejected_job_prints_the_reason_and_a_message() {
    let run = policy_check(&demo_policy(), Some(&job_file("rejected-ld-preload.json")), None);
    assert_eq!(run.code, 1);
    assert_eq!(run.json["verdict"], "rejected");
    assert_eq!(run.json["reason"], "env_not_allowed");
    let message = run.json["message"].as_str().unwrap();
    assert!(message.contains("LD_PRELOAD"), "{message}");
    assert!(!message.contains("/tmp/evil.so"), "values are never echoed: {message}");

    for (file, reason) in [
        ("rejected-shell.json", "program_not_allowed"),
        ("rejected-option.json", "option_not_allowed"),
        ("rejected-cwd-escape.json", "invalid_path"),
        ("rejected-timeout.json", "timeout_above_limit"),
        ("rejected-game-action.json", "not_a_command"),
    ] {
        let run = policy_check(&demo_policy(), Some(&job_file(file)), None);
        assert_eq!((run.code, run.json["reason"].as_str()), (1, Some(reason)), "{file}");
    }
}

#[test]
fn the_job_is_read_from_stdin_for_a_dash_or_no_argument() {
    let job = r#"{"program": "/bin/sleep", "args": ["3"]}"#;
    let policy = demo_policy();
    assert_eq!(policy_check(&policy, Some("-"), Some(job)).code, 0);
    assert_eq!(policy_check(&policy, None, Some(job)).code, 0);
    let refused = r#"{"program": "/bin/sleep", "args": ["--help"]}"#;
    let run = policy_check(&policy, None, Some(refused));
    assert_eq!((run.code, run.json["reason"].as_str()), (1, Some("option_not_allowed")));
}

#[test]
fn a_malformed_policy_exits_2_with_its_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    fs::write(&policy, "version = 1\nroots = [\"/tmp\"]\n\n[[program]]\npath = \"bin/echo\"\n")
        .unwrap();
    let run = policy_check(&policy, Some(&job_file("allowed-echo.json")), None);
    assert_eq!(run.code, 2);
    assert_eq!(run.json["verdict"], "error");
    assert_eq!(run.json["input"], "policy");
    assert_eq!((run.json["line"].as_u64(), run.json["column"].as_u64()), (Some(5), Some(8)));
    let error = run.json["error"].as_str().unwrap();
    assert!(
        error.starts_with(&format!("{}:5:8: [[program]] #1 (bin/echo)", policy.display())),
        "{error}"
    );
    assert!(run.stderr.starts_with("gsm-agent policy check: policy: "), "{}", run.stderr);

    fs::write(&policy, "version = 1\nroots = [\"/tmp\"]\nallow_everything = true\n").unwrap();
    let run = policy_check(&policy, Some(&job_file("allowed-echo.json")), None);
    assert_eq!((run.code, run.json["line"].as_u64()), (2, Some(3)));
}

#[test]
fn a_missing_policy_exits_2() {
    let run = policy_check(Path::new("/nonexistent/policy.toml"), Some("-"), Some("{}"));
    assert_eq!((run.code, run.json["verdict"].as_str()), (2, Some("error")));
    assert_eq!(run.json["input"], "policy");
    assert!(run.json.get("line").is_none());
}

#[test]
fn a_malformed_job_exits_2_with_its_line_and_column() {
    let policy = demo_policy();
    let cases = [
        ("{\n  \"program\": \"/bin/echo\",\n  \"args\": [\"a\",]\n}", (3, 16)),
        (
            "{\"kind\": {\"type\": \"command\", \"program\": \"/bin/true\"}, \"sudo\": true}",
            (1, 60),
        ),
        ("{\"kind\": {\"type\": \"shell\", \"line\": \"id\"}}", (1, 25)),
        ("[]", (1, 2)),
    ];
    for (job, (line, column)) in cases {
        let run = policy_check(&policy, Some("-"), Some(job));
        assert_eq!((run.code, run.json["input"].as_str()), (2, Some("job")), "{job}: {}", run.json);
        assert_eq!(
            (run.json["line"].as_u64(), run.json["column"].as_u64()),
            (Some(line), Some(column)),
            "{job}: {}",
            run.json
        );
        assert!(!run.stderr.is_empty());
    }
    let run = policy_check(&policy, Some("/nonexistent/job.json"), None);
    assert_eq!((run.code, run.json["input"].as_str()), (2, Some("job")));
}

#[test]
fn a_policy_over_a_tempdir_confines_the_cwd() {
    let dir = tempfile::tempdir().unwrap();
    let base = fs::canonicalize(dir.path()).unwrap();
    fs::create_dir_all(base.join("root/srv")).unwrap();
    std::os::unix::fs::symlink("/etc", base.join("root/etc")).unwrap();
    let policy = base.join("policy.toml");
    let root = base.join("root");
    fs::write(
        &policy,
        format!(
            "version = 1\nroots = [{:?}]\n[[program]]\npath = \"/bin/true\"\n",
            root.to_str().unwrap()
        ),
    )
    .unwrap();
    let job = |cwd: &str| format!(r#"{{"program": "/bin/true", "cwd": {cwd:?}}}"#);

    let run = policy_check(&policy, None, Some(&job("srv")));
    assert_eq!(run.code, 0, "{}", run.json);
    assert_eq!(run.json["command"]["cwd_relative"], "srv");
    assert_eq!(run.json["command"]["cwd_root"], root.to_str().unwrap());
    for escape in ["../", "etc", "/etc", "srv/../..", "..%2f"] {
        let run = policy_check(&policy, None, Some(&job(escape)));
        assert_eq!((run.code, run.json["reason"].as_str()), (1, Some("invalid_path")), "{escape}");
    }
}
