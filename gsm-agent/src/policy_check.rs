//! `gsm-agent policy check`: test a job against a policy file, the way the agent would, and print
//! the verdict as one JSON object on stdout.
//!
//! The verdict comes from [`Policy::check`], the same call the agent makes before running a job,
//! so what this command allows is exactly what the agent would run. Exit status: 0 allowed,
//! 1 rejected, 2 when the policy or the job cannot be read (the JSON then carries the line and
//! column, and stderr a human line). An admin testing a policy should not have to invent UUIDs,
//! so the job may leave out `id`, `host` and `requested_by`, or be a bare command object
//! (`{"program": ..., "args": [...]}`).

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use gsm_core::job::{CommandSpec, HostId, JobId, JobKind, JobSpec, Requester, RequesterKind};
use gsm_core::policy::{ApprovedCommand, LoadError, Policy, Violation};
use serde::Deserialize;
use serde_json::{Value, json};

/// Arguments of `gsm-agent policy check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The policy file to test.
    #[arg(long)]
    pub policy: PathBuf,
    /// The job as JSON; `-` or nothing reads standard input.
    pub job: Option<PathBuf>,
}

/// Runs the check, prints the verdict and returns the exit code.
pub fn run(args: &Args) -> ExitCode {
    let verdict = evaluate(&args.policy, args.job.as_deref());
    print(&verdict);
    ExitCode::from(verdict.exit_code())
}

/// The outcome of a check.
#[derive(Debug)]
pub enum Verdict {
    /// The policy allows the job; this is what the agent would run.
    Allowed(Box<ApprovedCommand>),
    /// The policy refuses the job.
    Rejected(Violation),
    /// The policy or the job could not be read.
    Error(InputError),
}

impl Verdict {
    /// 0 allowed, 1 rejected, 2 malformed input.
    pub fn exit_code(&self) -> u8 {
        match self {
            Verdict::Allowed(_) => 0,
            Verdict::Rejected(_) => 1,
            Verdict::Error(_) => 2,
        }
    }

    /// The verdict as the JSON object the command prints.
    pub fn to_json(&self) -> Value {
        match self {
            Verdict::Allowed(command) => json!({ "verdict": "allowed", "command": command }),
            Verdict::Rejected(violation) => json!({
                "verdict": "rejected",
                "reason": violation.reason(),
                "message": violation.to_string(),
            }),
            Verdict::Error(error) => {
                let mut object = json!({
                    "verdict": "error",
                    "input": error.input.as_str(),
                    "error": error.message,
                });
                if let Some((line, column)) = error.position {
                    object["line"] = line.into();
                    object["column"] = column.into();
                }
                object
            }
        }
    }
}

/// Which input was malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// The policy file.
    Policy,
    /// The job.
    Job,
}

impl Input {
    fn as_str(self) -> &'static str {
        match self {
            Input::Policy => "policy",
            Input::Job => "job",
        }
    }
}

/// A policy or job that could not be read, with where in it the problem is when known.
#[derive(Debug)]
pub struct InputError {
    /// Which input.
    pub input: Input,
    /// What is wrong, including the location when known.
    pub message: String,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.input.as_str(), self.message)
    }
}

impl From<LoadError> for InputError {
    fn from(error: LoadError) -> Self {
        let position = error.location().map(|at| (at.line, at.column));
        Self { input: Input::Policy, message: error.to_string(), position }
    }
}

/// Loads the policy, reads the job (a file, or stdin for `-` or `None`) and checks it.
pub fn evaluate(policy: &Path, job: Option<&Path>) -> Verdict {
    let policy = match Policy::from_file(policy) {
        Ok(policy) => policy,
        Err(error) => return Verdict::Error(error.into()),
    };
    let job = match read_job(job).and_then(|text| parse_job(&text)) {
        Ok(job) => job,
        Err(error) => return Verdict::Error(error),
    };
    match policy.check(&job) {
        Ok(command) => Verdict::Allowed(Box::new(command)),
        Err(violation) => Verdict::Rejected(violation),
    }
}

fn read_job(path: Option<&Path>) -> Result<String, InputError> {
    let unreadable = |what: String, error: std::io::Error| InputError {
        input: Input::Job,
        message: format!("cannot read {what}: {error}"),
        position: None,
    };
    match path {
        Some(path) if path != Path::new("-") => {
            std::fs::read_to_string(path).map_err(|e| unreadable(path.display().to_string(), e))
        }
        _ => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| unreadable("standard input".to_owned(), e))?;
            Ok(text)
        }
    }
}

/// A [`JobSpec`] whose `id`, `host` and `requested_by` may be left out. Converting it names
/// every `JobSpec` field, so a field added there fails to compile here until it is handled.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobInput {
    id: Option<JobId>,
    host: Option<HostId>,
    kind: JobKind,
    #[serde(default)]
    timeout_secs: Option<u64>,
    #[serde(default)]
    output_cap_bytes: Option<u64>,
    #[serde(default)]
    idempotency_key: Option<String>,
    requested_by: Option<Requester>,
}

impl JobInput {
    fn into_spec(self) -> JobSpec {
        JobSpec {
            id: self.id.unwrap_or_default(),
            // The nil UUID: no real host.
            host: self.host.unwrap_or(HostId(Default::default())),
            kind: self.kind,
            timeout_secs: self.timeout_secs,
            output_cap_bytes: self.output_cap_bytes,
            idempotency_key: self.idempotency_key,
            requested_by: self.requested_by.unwrap_or_else(|| Requester {
                kind: RequesterKind::Local,
                id: "policy-check".to_owned(),
            }),
        }
    }
}

/// Parses a job: a [`JobSpec`] with `id`, `host` and `requested_by` optional, or a bare command
/// object. Errors carry the line and column of the job text.
pub fn parse_job(text: &str) -> Result<JobSpec, InputError> {
    let malformed = |error: serde_json::Error| InputError {
        input: Input::Job,
        message: error.to_string(),
        position: (error.line() > 0).then(|| (error.line(), error.column())),
    };
    // Peek at the shape first; the real parse below reports positions in the original text.
    let shape: Value = serde_json::from_str(text).map_err(malformed)?;
    let is_bare_command = shape.get("kind").is_none() && shape.get("program").is_some();
    if is_bare_command {
        let command: CommandSpec = serde_json::from_str(text).map_err(malformed)?;
        let input = JobInput {
            id: None,
            host: None,
            kind: JobKind::Command(command),
            timeout_secs: None,
            output_cap_bytes: None,
            idempotency_key: None,
            requested_by: None,
        };
        return Ok(input.into_spec());
    }
    let input: JobInput = serde_json::from_str(text).map_err(malformed)?;
    Ok(input.into_spec())
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
fn print(verdict: &Verdict) {
    // The verdict is the command's output: one JSON object on one line.
    println!("{}", verdict.to_json());
    if let Verdict::Error(error) = verdict {
        eprintln!("gsm-agent policy check: {error}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_job_spec_parses_unchanged() {
        let job = JobSpec {
            id: JobId::new(),
            host: HostId::new(),
            kind: JobKind::Command(CommandSpec {
                program: "/bin/echo".to_owned(),
                args: vec!["a; b".to_owned(), String::new()],
                cwd: Some("srv".to_owned()),
                env: [("TZ".to_owned(), "UTC".to_owned())].into(),
            }),
            timeout_secs: Some(5),
            output_cap_bytes: Some(10),
            idempotency_key: Some("k".to_owned()),
            requested_by: Requester { kind: RequesterKind::User, id: "alice".to_owned() },
        };
        let text = serde_json::to_string_pretty(&job).unwrap();
        assert_eq!(parse_job(&text).unwrap(), job);
    }

    #[test]
    fn a_job_without_ids_gets_a_fresh_id_the_nil_host_and_a_local_requester() {
        let job = parse_job(r#"{"kind": {"type": "command", "program": "/bin/true"}}"#).unwrap();
        assert_eq!(job.host.to_string(), "00000000-0000-0000-0000-000000000000");
        assert_ne!(job.id, JobId(Default::default()), "a fresh id, not the nil one");
        assert_eq!(
            job.requested_by,
            Requester { kind: RequesterKind::Local, id: "policy-check".to_owned() }
        );
    }

    #[test]
    fn a_bare_command_object_is_a_command_job() {
        let job = parse_job(r#"{"program": "/bin/echo", "args": ["hi"]}"#).unwrap();
        let JobKind::Command(command) = job.kind else { panic!("expected a command") };
        assert_eq!(command.program, "/bin/echo");
        assert_eq!(command.args, ["hi"]);
    }

    #[test]
    fn job_errors_carry_the_line_and_column_of_the_original_text() {
        let text = "{\n  \"kind\": {\"type\": \"command\", \"program\": \"/bin/true\"},\n  \"timeout_secs\": \"5\"\n}";
        let error = parse_job(text).unwrap_err();
        assert_eq!(error.input, Input::Job);
        assert_eq!(error.position, Some((3, 21)));
        let error = parse_job("{\n  \"kind\": {\"type\": \"command\", \"program\": \"/bin/true\"},\n  \"shell\": true\n}").unwrap_err();
        assert_eq!(error.position, Some((3, 9)));
        assert!(error.message.starts_with("unknown field `shell`"), "{}", error.message);
        let error = parse_job("{\"program\": \"/bin/true\",}").unwrap_err();
        assert_eq!(error.position, Some((1, 25)));
    }
}
