//! Policy tests: one fixture (a tempdir with roots, escapes and symlinks, and a policy over it)
//! and one `check` helper that every table and single case goes through.

mod accepted;
mod binary;
mod examples;
mod hostile;
mod load;
mod props;
mod summary;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::{ApprovedCommand, Policy, Violation};
use crate::job::{
    CommandSpec, GameAction, HostId, JobId, JobKind, JobSpec, Requester, RequesterKind,
};

/// A command job with no cwd, env or limits.
fn job(program: &str, args: &[&str]) -> JobSpec {
    JobSpec {
        id: JobId::new(),
        host: HostId::new(),
        kind: JobKind::Command(CommandSpec {
            program: program.to_owned(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            cwd: None,
            env: Default::default(),
        }),
        timeout_secs: None,
        output_cap_bytes: None,
        idempotency_key: None,
        requested_by: Requester { kind: RequesterKind::Local, id: "policy-tests".to_owned() },
    }
}

/// A job with owned arguments (for arguments built at run time).
fn job_owned(program: &str, args: Vec<String>) -> JobSpec {
    let mut spec = job(program, &[]);
    command_mut(&mut spec).args = args;
    spec
}

fn game_job() -> JobSpec {
    let mut spec = job("/bin/true", &[]);
    spec.kind = JobKind::Game(GameAction {
        game: "7dtd".to_owned(),
        action: "say".to_owned(),
        args: Default::default(),
    });
    spec
}

fn command_mut(spec: &mut JobSpec) -> &mut CommandSpec {
    match &mut spec.kind {
        JobKind::Command(command) => command,
        JobKind::Game(_) => panic!("test jobs built with job() are commands"),
    }
}

/// Builder steps on a test job.
trait JobExt: Sized {
    fn cwd(self, cwd: &str) -> Self;
    fn env(self, name: &str, value: &str) -> Self;
    fn timeout(self, secs: u64) -> Self;
    fn cap(self, bytes: u64) -> Self;
}

impl JobExt for JobSpec {
    fn cwd(mut self, cwd: &str) -> Self {
        command_mut(&mut self).cwd = Some(cwd.to_owned());
        self
    }
    fn env(mut self, name: &str, value: &str) -> Self {
        command_mut(&mut self).env.insert(name.to_owned(), value.to_owned());
        self
    }
    fn timeout(mut self, secs: u64) -> Self {
        self.timeout_secs = Some(secs);
        self
    }
    fn cap(mut self, bytes: u64) -> Self {
        self.output_cap_bytes = Some(bytes);
        self
    }
}

/// The one helper every case goes through: `expected` is a [`Violation::reason`] code, or
/// `"allowed"`. Returns the approved command when allowed, or a description of the mismatch.
fn check(
    policy: &Policy,
    job: &JobSpec,
    expected: &str,
) -> Result<Option<ApprovedCommand>, String> {
    let outcome = policy.check(job);
    match (&outcome, expected) {
        (Ok(approved), "allowed") => Ok(Some(approved.clone())),
        (Err(violation), _) if violation.reason() == expected => {
            sane_violation(violation)?;
            Ok(None)
        }
        (Ok(approved), _) => Err(format!("expected {expected}, but it was allowed: {approved:?}")),
        (Err(violation), _) => Err(format!(
            "expected {expected}, got {} ({violation:?}): {violation}",
            violation.reason()
        )),
    }
}

/// Every refusal names a known code and says something a human can act on.
fn sane_violation(violation: &Violation) -> Result<(), String> {
    let message = violation.to_string();
    if !Violation::REASONS.contains(&violation.reason()) {
        return Err(format!("{} is missing from Violation::REASONS", violation.reason()));
    }
    if message.len() < 20 || message.contains('\0') {
        return Err(format!("unhelpful message for {violation:?}: {message:?}"));
    }
    Ok(())
}

/// [`check`] for single cases: panics with the mismatch.
#[track_caller]
fn assert_check(policy: &Policy, job: &JobSpec, expected: &str) -> Option<ApprovedCommand> {
    match check(policy, job, expected) {
        Ok(approved) => approved,
        Err(mismatch) => panic!("{mismatch}"),
    }
}

/// [`check`] for allowed cases.
#[track_caller]
fn allowed(policy: &Policy, job: &JobSpec) -> ApprovedCommand {
    match assert_check(policy, job, "allowed") {
        Some(approved) => approved,
        None => panic!("check returned no command for an allowed job"),
    }
}

/// A tempdir laid out to tempt escapes, and a policy over it:
///
/// ```text
/// root/          the first root      root/srv/world/    nested dirs
/// root/file.txt  not a directory     root/inside -> srv  (a symlink that stays inside)
/// root/escape -> ../outside          root/escape_abs -> /etc
/// root/proc -> /proc/self/root       root2/             the second root
/// outside/       not a root          evil_sh -> /bin/sh   my_echo -> /bin/echo
/// ```
struct Fixture {
    _dir: TempDir,
    base: PathBuf,
    root: PathBuf,
    root2: PathBuf,
    policy: Policy,
}

/// The fixture's policy, with `{root}` and `{root2}` to fill in.
const FIXTURE_POLICY: &str = r#"
version = 1
roots = ["{root}", "{root2}"]

[limits]
max_timeout_secs = 600
default_timeout_secs = 60
max_output_cap_bytes = 1048576
default_output_cap_bytes = 65536
kill_grace_secs = 5
max_args = 16
max_arg_bytes = 1024
max_env_vars = 8
max_env_value_bytes = 256

[env]
allow = ["TZ", "GSM_*"]

# Anything as data, never an option.
[[program]]
path = "/bin/echo"
repeat = { regex = '(?s).*' }

# One plain word; shell metacharacters do not fit.
[[program]]
path = "/bin/true"
args = [{ regex = '[a-z0-9_]{1,16}' }]

# The same program, second shape: no arguments.
[[program]]
path = "/bin/true"

[[program]]
path = "/bin/sleep"
args = [{ int = { min = 0, max = 30 } }]
max_timeout_secs = 40
max_output_cap_bytes = 1024
kill_grace_secs = 1

# Options only where the rule lists them.
[[program]]
path = "/bin/tar"
args = [
    { enum = ["--create", "--list"] },
    { regex = '--file=[a-z0-9_]+\.tar', option = true },
    { regex = '[A-Za-z0-9_./=-]+' },
]

# A fixed option, then any further plain arguments (never options).
[[program]]
path = "/bin/ls"
args = [{ fixed = "-l" }]
allow_extra = true

# Dangerous names allowed only because this rule names them exactly; globs never grant them.
[[program]]
path = "/usr/bin/env"
env = ["PYTHONPATH", "PATH", "PERL5*", "APP_*"]
"#;

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let base = fs::canonicalize(dir.path()).unwrap();
        let root = base.join("root");
        let root2 = base.join("root2");
        fs::create_dir_all(root.join("srv/world")).unwrap();
        fs::create_dir_all(&root2).unwrap();
        fs::create_dir_all(base.join("outside")).unwrap();
        fs::write(root.join("file.txt"), "not a directory").unwrap();
        symlink("srv", root.join("inside")).unwrap();
        symlink("../outside", root.join("escape")).unwrap();
        symlink("/etc", root.join("escape_abs")).unwrap();
        symlink("/proc/self/root", root.join("proc")).unwrap();
        symlink("/bin/sh", base.join("evil_sh")).unwrap();
        symlink("/bin/echo", base.join("my_echo")).unwrap();
        let text = FIXTURE_POLICY
            .replace("{root}", root.to_str().unwrap())
            .replace("{root2}", root2.to_str().unwrap());
        let policy = Policy::from_toml_str(&text).unwrap();
        Self { _dir: dir, base, root, root2, policy }
    }

    fn path(&self, relative: &str) -> String {
        self.base.join(relative).to_str().unwrap().to_owned()
    }
}

/// The workspace's `examples/` directory.
fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}
