//! The runner against real child processes: exit codes and signals, timeout and cancel, process
//! group cleanup, the output cap, byte-exact output, chunk numbering, the child's environment,
//! descriptors and working directory, and the refusals (swapped binary, escaping directory).
//!
//! Children are `/bin/sh -c` scripts and coreutils, approved directly through the crate-private
//! constructor. Nothing waits a fixed time: tests wait on the runner, on output, or poll with a
//! deadline.

use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::mpsc;

use super::*;
use crate::policy::{ApprovedParts, FileIdentity};

/// A generous bound on any one test, so a runner bug fails the test instead of hanging it.
const TEST_LIMIT: Duration = Duration::from_secs(60);

/// A command to approve, with defaults suited to short test children.
struct Job {
    program: PathBuf,
    args: Vec<String>,
    root: PathBuf,
    relative: PathBuf,
    env: Vec<(String, String)>,
    timeout: Duration,
    cap: u64,
    grace: Duration,
}

impl Job {
    fn new(program: &str, args: &[&str]) -> Self {
        Self {
            program: PathBuf::from(program),
            args: args.iter().map(|arg| (*arg).to_owned()).collect(),
            root: PathBuf::from("/"),
            relative: PathBuf::new(),
            env: vec![("PATH".to_owned(), "/usr/bin:/bin".to_owned())],
            timeout: Duration::from_secs(30),
            cap: 16 * 1024 * 1024,
            grace: Duration::from_secs(5),
        }
    }

    fn sh(script: &str) -> Self {
        Self::new("/bin/sh", &["-c", script])
    }

    fn approve(self) -> ApprovedCommand {
        let meta = std::fs::metadata(&self.program).expect("test program exists");
        ApprovedCommand::from_parts(ApprovedParts {
            program: self.program,
            program_identity: FileIdentity { dev: meta.dev(), ino: meta.ino() },
            args: self.args,
            cwd_root: self.root,
            cwd_relative: self.relative,
            env: self.env,
            timeout: self.timeout,
            output_cap_bytes: self.cap,
            kill_grace: self.grace,
        })
    }
}

/// Everything a run produced.
struct Ran {
    result: JobResult,
    chunks: Vec<OutputChunk>,
}

impl Ran {
    fn bytes(&self, stream: Stream) -> Vec<u8> {
        self.chunks
            .iter()
            .filter(|chunk| chunk.stream == stream)
            .flat_map(|c| c.data.clone())
            .collect()
    }

    fn stdout(&self) -> String {
        String::from_utf8(self.bytes(Stream::Stdout)).expect("utf-8 stdout")
    }

    fn stderr(&self) -> String {
        String::from_utf8(self.bytes(Stream::Stderr)).expect("utf-8 stderr")
    }
}

/// Runs `cmd` with a channel sink, collecting every chunk; `on_chunk` sees each as it arrives.
async fn run_with(
    cmd: &ApprovedCommand,
    cancel: &Cancel,
    mut on_chunk: impl FnMut(&OutputChunk) + Send + 'static,
) -> Result<Ran, Error> {
    let (tx, mut rx) = mpsc::channel(8);
    let collector = tokio::spawn(async move {
        let mut chunks = Vec::new();
        while let Some(chunk) = rx.recv().await {
            on_chunk(&chunk);
            chunks.push(chunk);
        }
        chunks
    });
    let result = tokio::time::timeout(TEST_LIMIT, run(cmd, tx, cancel)).await.expect("runner hung");
    let chunks = collector.await.expect("collector task");
    result.map(|result| Ran { result, chunks })
}

async fn run_ok(cmd: &ApprovedCommand) -> Ran {
    run_with(cmd, &Cancel::new(), |_| {}).await.expect("run succeeds")
}

/// Whether any process of group `pgid` is alive (zombies excluded), read straight from `/proc`.
fn live_in_group(pgid: i32) -> Vec<String> {
    let mut live = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let path = entry.path().join("stat");
        let Ok(stat) = std::fs::read_to_string(&path) else { continue };
        if let Some((state, group)) = kill::state_and_group(&stat)
            && group == pgid
            && state != 'Z'
            && state != 'X'
        {
            live.push(stat);
        }
    }
    live
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

fn canonical(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().canonicalize().expect("canonical tempdir")
}

#[tokio::test]
async fn exit_codes_are_reported() {
    async fn check(code: i32, state: crate::job::JobState) {
        let ran = run_ok(&Job::sh(&format!("exit {code}")).approve()).await;
        assert_eq!(ran.result.termination, Termination::Exited);
        assert_eq!(ran.result.exit_code, Some(code));
        assert_eq!(ran.result.signal, None);
        assert_eq!(ran.result.final_state(), state);
    }
    check(0, crate::job::JobState::Succeeded).await;
    check(1, crate::job::JobState::Failed).await;
    check(42, crate::job::JobState::Failed).await;
}

#[tokio::test]
async fn a_child_killed_by_a_signal_reports_the_signal() {
    let ran = run_ok(&Job::sh("kill -KILL $$").approve()).await;
    assert_eq!(ran.result.termination, Termination::Exited);
    assert_eq!(ran.result.exit_code, None);
    assert_eq!(ran.result.signal, Some(libc::SIGKILL));
}

#[tokio::test]
async fn a_child_past_its_timeout_is_stopped_and_its_partial_output_kept() {
    let mut job = Job::sh("echo before; sleep 300; echo after");
    job.timeout = Duration::from_millis(300);
    job.grace = Duration::from_secs(20);
    let ran = run_ok(&job.approve()).await;
    assert_eq!(ran.result.termination, Termination::TimedOut);
    assert_eq!(ran.result.signal, Some(libc::SIGTERM));
    assert_eq!(ran.stdout(), "before\n");
    assert!(ran.result.duration_ms >= 300, "{:?}", ran.result);
    // Everything died on SIGTERM, so the runner did not sit out the grace period.
    assert!(ran.result.duration_ms < 20_000, "{:?}", ran.result);
}

#[tokio::test]
async fn cancelling_a_running_job_stops_it() {
    let cancel = Cancel::new();
    let on_output = cancel.clone();
    let cmd = Job::sh("echo started; sleep 300").approve();
    // The first chunk proves the child is running; cancel then.
    let ran = run_with(&cmd, &cancel, move |_| on_output.cancel()).await.expect("run succeeds");
    assert_eq!(ran.result.termination, Termination::Cancelled);
    assert_eq!(ran.result.signal, Some(libc::SIGTERM));
    assert_eq!(ran.stdout(), "started\n");
}

#[tokio::test]
async fn a_job_cancelled_before_it_starts_never_runs() {
    let dir = tempdir();
    let marker = dir.path().join("ran");
    let cancel = Cancel::new();
    cancel.cancel();
    let cmd = Job::new("/bin/touch", &[marker.to_str().expect("utf-8 path")]).approve();
    let ran = run_with(&cmd, &cancel, |_| {}).await.expect("run succeeds");
    assert_eq!(ran.result.termination, Termination::Cancelled);
    assert_eq!(ran.result.exit_code, None);
    assert!(!marker.exists());
}

#[tokio::test]
async fn grandchildren_that_ignore_sigterm_do_not_survive_a_timeout() {
    let mut job = Job::sh(r#"trap "" TERM; sleep 300 & sleep 300 & echo $$; wait"#);
    job.timeout = Duration::from_secs(1);
    job.grace = Duration::from_millis(200);
    let ran = run_ok(&job.approve()).await;
    let pgid: i32 = ran.stdout().trim().parse().expect("the script prints its pid");
    assert_eq!(ran.result.termination, Termination::TimedOut);
    assert_eq!(ran.result.signal, Some(libc::SIGKILL));
    assert!(ran.result.duration_ms >= 1_200, "{:?}", ran.result);
    assert_eq!(live_in_group(pgid), Vec::<String>::new());
}

#[tokio::test]
async fn a_background_process_left_by_the_child_is_killed_and_does_not_hold_the_output_open() {
    // The child exits at once; its background sleep keeps stdout open and would otherwise keep
    // the runner waiting for end of file for five minutes.
    let ran = run_ok(&Job::sh("sleep 300 & echo $$").approve()).await;
    let pgid: i32 = ran.stdout().trim().parse().expect("the script prints its pid");
    assert_eq!(ran.result.termination, Termination::Exited);
    assert_eq!(ran.result.exit_code, Some(0));
    assert_eq!(live_in_group(pgid), Vec::<String>::new());
}

#[tokio::test]
async fn a_pipe_held_by_a_process_that_left_the_group_does_not_hang_the_runner() {
    let ran = run_ok(&Job::sh("setsid sleep 300 & echo $!").approve()).await;
    let escaped: i32 = ran.stdout().trim().parse().expect("the script prints the pid");
    // Out of the group, the runner cannot reach it; the test cleans up after itself.
    if let Some(pid) = rustix::process::Pid::from_raw(escaped) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    }
    assert_eq!(ran.result.exit_code, Some(0));
}

#[tokio::test]
async fn output_past_the_cap_is_counted_and_dropped_while_the_process_runs_on() {
    let total: u64 = 100 * 1024 * 1024;
    let mut job = Job::new("/usr/bin/head", &["-c", &total.to_string(), "/dev/zero"]);
    job.cap = 100_000;
    let ran = run_ok(&job.approve()).await;
    assert_eq!(ran.result.termination, Termination::Exited);
    assert_eq!(ran.result.exit_code, Some(0), "the process finished its work");
    assert!(ran.result.truncated);
    assert_eq!(ran.result.kept_bytes, 100_000);
    assert_eq!(ran.result.output_bytes, total);
    assert_eq!(ran.bytes(Stream::Stdout).len(), 100_000);
    assert!(ran.chunks.iter().all(|chunk| !chunk.data.is_empty() && chunk.data.len() <= MAX_CHUNK));
}

#[tokio::test]
async fn output_under_the_cap_is_kept_whole() {
    let ran = run_ok(&Job::sh("echo hello; echo world >&2").approve()).await;
    assert!(!ran.result.truncated);
    assert_eq!(ran.result.output_bytes, 12);
    assert_eq!(ran.result.kept_bytes, 12);
    assert_eq!(ran.stdout(), "hello\n");
    assert_eq!(ran.stderr(), "world\n");
}

#[tokio::test]
async fn binary_output_keeps_every_byte_value() {
    let dir = tempdir();
    let file = dir.path().join("bytes");
    let expected: Vec<u8> = (0..1_000).flat_map(|_| 0..=u8::MAX).collect();
    std::fs::write(&file, &expected).expect("write test bytes");
    let ran = run_ok(&Job::new("/bin/cat", &[file.to_str().expect("utf-8 path")]).approve()).await;
    assert_eq!(ran.result.exit_code, Some(0));
    assert!(ran.chunks.len() > 1, "more than one chunk was needed");
    assert_eq!(ran.bytes(Stream::Stdout), expected);
}

#[tokio::test]
async fn chunks_from_both_streams_are_numbered_densely_in_the_order_read() {
    let lines: Vec<String> = (0..200).map(|i| format!("echo out{i}; echo err{i} >&2")).collect();
    let ran = run_ok(&Job::sh(&lines.join("; ")).approve()).await;
    let seqs: Vec<u64> = ran.chunks.iter().map(|chunk| chunk.seq).collect();
    assert_eq!(seqs, (0..ran.chunks.len() as u64).collect::<Vec<_>>());
    let out: String = (0..200).map(|i| format!("out{i}\n")).collect();
    let err: String = (0..200).map(|i| format!("err{i}\n")).collect();
    assert_eq!(ran.stdout(), out);
    assert_eq!(ran.stderr(), err);
}

#[tokio::test]
async fn a_child_that_closes_stdout_early_runs_on_to_its_exit() {
    let ran = run_ok(
        &Job::sh("echo first; exec >&-; sleep 0.2; echo still running >&2; exit 7").approve(),
    )
    .await;
    assert_eq!(ran.result.termination, Termination::Exited);
    assert_eq!(ran.result.exit_code, Some(7));
    assert_eq!(ran.stdout(), "first\n");
    assert_eq!(ran.stderr(), "still running\n");
}

#[tokio::test]
async fn stdin_is_empty() {
    let ran = run_ok(&Job::new("/bin/cat", &[]).approve()).await;
    assert_eq!(ran.result.exit_code, Some(0));
    assert_eq!(ran.result.output_bytes, 0);
}

#[tokio::test]
async fn the_child_sees_exactly_the_approved_environment() {
    let mut job = Job::new("/usr/bin/env", &[]);
    job.env = vec![
        ("PATH".to_owned(), "/usr/bin:/bin".to_owned()),
        ("GSM_MARKER".to_owned(), "a b=c".to_owned()),
    ];
    // The test process has HOME and CARGO_* set; none of it may reach the child.
    let ran = run_ok(&job.approve()).await;
    let stdout = ran.stdout();
    let mut seen: Vec<&str> = stdout.lines().collect();
    seen.sort_unstable();
    assert_eq!(seen, ["GSM_MARKER=a b=c", "PATH=/usr/bin:/bin"]);
}

#[tokio::test]
async fn the_child_has_only_stdin_stdout_and_stderr_open() {
    // A descriptor this process opened without O_CLOEXEC must not leak either.
    let file = std::fs::File::open("/dev/null").expect("open /dev/null");
    let leaky = rustix::io::dup(file.as_fd()).expect("dup without cloexec");
    let ran = run_ok(&Job::new("/bin/ls", &["-l", "/proc/self/fd"]).approve()).await;
    drop(leaky);
    let mut open: Vec<String> = ran
        .stdout()
        .lines()
        .filter_map(|line| line.split_once(" -> "))
        // ls's own handle on the directory it lists.
        .filter(|(_, target)| !(target.starts_with("/proc/") && target.ends_with("/fd")))
        .filter_map(|(left, _)| left.split_whitespace().last().map(str::to_owned))
        .collect();
    open.sort();
    assert_eq!(open, ["0", "1", "2"], "{}", ran.stdout());
}

#[tokio::test]
async fn the_child_runs_without_core_dumps_or_new_privileges_and_leads_its_own_group() {
    let script =
        r#"ulimit -c; grep NoNewPrivs /proc/self/status; cut -d" " -f5 /proc/$$/stat; echo $$"#;
    let ran = run_ok(&Job::sh(script).approve()).await;
    let stdout = ran.stdout();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[..2], ["0", "NoNewPrivs:\t1"]);
    assert_eq!(lines[2], lines[3], "process group id equals the child's pid");
}

#[tokio::test]
async fn the_child_starts_in_its_working_directory_beneath_the_root() {
    let dir = tempdir();
    let root = canonical(&dir);
    std::fs::create_dir_all(root.join("a/b")).expect("mkdir");
    let mut job = Job::new("/bin/pwd", &["-P"]);
    job.root = root.clone();
    job.relative = PathBuf::from("a/b");
    let ran = run_ok(&job.approve()).await;
    assert_eq!(ran.stdout().trim_end(), root.join("a/b").to_str().expect("utf-8 path"));
}

#[tokio::test]
async fn a_working_directory_swapped_for_a_symlink_out_of_the_root_is_refused() {
    let outside = tempdir();
    let outside_path = canonical(&outside);
    let link_targets = [
        outside_path.clone(),
        Path::new("../..").join(outside_path.strip_prefix("/").expect("absolute")),
        PathBuf::from("/proc/self/cwd"),
    ];
    for target in link_targets {
        let dir = tempdir();
        let root = canonical(&dir);
        std::fs::create_dir(root.join("work")).expect("mkdir");
        let mut job = Job::new("/bin/touch", &["ran"]);
        job.root = root.clone();
        job.relative = PathBuf::from("work");
        let cmd = job.approve();
        // Approved; now the directory is swapped for a symlink leading out.
        std::fs::remove_dir(root.join("work")).expect("rmdir");
        std::os::unix::fs::symlink(&target, root.join("work")).expect("symlink");

        let outcome = run_with(&cmd, &Cancel::new(), |_| {}).await;
        assert!(
            matches!(outcome, Err(Error::WorkingDirectory { .. })),
            "link to {target:?}: {:?}",
            outcome.map(|ran| ran.result)
        );
        assert!(!outside_path.join("ran").exists(), "the program ran through {target:?}");
    }
}

#[test]
fn the_component_by_component_fallback_follows_no_symlink_and_no_parent_step() {
    let dir = tempdir();
    let root_path = canonical(&dir);
    std::fs::create_dir_all(root_path.join("a/b")).expect("mkdir");
    std::os::unix::fs::symlink("/tmp", root_path.join("a/link")).expect("symlink");
    std::os::unix::fs::symlink("b", root_path.join("a/inner")).expect("symlink");
    let root = spawn::open_beneath(&root_path, Path::new("")).expect("open root");

    let check = |relative: &str| spawn::open_components(&root, Path::new(relative)).map(|_| ());
    assert!(check("a/b").is_ok());
    assert!(check("./a/./b").is_ok());
    assert!(check("").is_ok());
    for refused in ["a/link", "a/inner", "a/link/x", "a/../a/b", "..", "/tmp"] {
        assert!(check(refused).is_err(), "{refused} was opened");
    }
}

#[tokio::test]
async fn a_program_swapped_after_approval_is_refused() {
    let dir = tempdir();
    let program = canonical(&dir).join("prog");
    std::fs::copy("/bin/true", &program).expect("copy");
    let cmd = Job::new(program.to_str().expect("utf-8 path"), &[]).approve();
    let replacement = canonical(&dir).join("prog.new");
    std::fs::copy("/bin/false", &replacement).expect("copy");
    std::fs::rename(&replacement, &program).expect("rename over");

    let outcome = run_with(&cmd, &Cancel::new(), |_| {}).await;
    assert!(
        matches!(outcome, Err(Error::BinaryChanged { .. })),
        "{:?}",
        outcome.map(|ran| ran.result)
    );
}

#[tokio::test]
async fn a_program_that_cannot_be_executed_is_a_spawn_error() {
    let dir = tempdir();
    let program = canonical(&dir).join("not-executable");
    std::fs::write(&program, "#!/bin/sh\n").expect("write");
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let cmd = Job::new(program.to_str().expect("utf-8 path"), &[]).approve();
    let outcome = run_with(&cmd, &Cancel::new(), |_| {}).await;
    assert!(matches!(outcome, Err(Error::Spawn { .. })), "{:?}", outcome.map(|ran| ran.result));
}

#[tokio::test]
async fn a_sink_dropped_mid_run_does_not_stall_the_runner() {
    let total: u64 = 10 * 1024 * 1024;
    let cmd = Job::new("/usr/bin/head", &["-c", &total.to_string(), "/dev/zero"]).approve();
    let (tx, mut rx) = mpsc::channel::<OutputChunk>(1);
    let reader = tokio::spawn(async move {
        // Take one chunk, then go away with the rest unread.
        rx.recv().await.map(|chunk| chunk.data.len())
    });
    let result = tokio::time::timeout(TEST_LIMIT, run(&cmd, tx, &Cancel::new()))
        .await
        .expect("runner hung")
        .expect("run succeeds");
    let first = reader.await.expect("reader task").expect("one chunk arrived");
    assert_eq!(result.exit_code, Some(0));
    assert_eq!(result.output_bytes, total);
    assert!(result.truncated);
    assert!(result.kept_bytes >= first as u64 && result.kept_bytes < total, "{result:?}");
}

#[tokio::test]
async fn the_stop_sequence_escalates_to_sigkill_after_the_grace() {
    // The shell ignores SIGTERM and so outlives the grace; it must end by SIGKILL.
    let mut job = Job::sh(r#"trap "" TERM; echo ready; while :; do sleep 1; done"#);
    job.grace = Duration::from_millis(100);
    let cancel = Cancel::new();
    let on_output = cancel.clone();
    let ran = run_with(&job.approve(), &cancel, move |_| on_output.cancel()).await.expect("run");
    assert_eq!(ran.result.termination, Termination::Cancelled);
    assert_eq!(ran.result.signal, Some(libc::SIGKILL));
}

#[test]
fn proc_stat_lines_are_parsed_past_odd_command_names() {
    assert_eq!(kill::state_and_group("42 (sh) S 1 42 42 0"), Some(('S', 42)));
    assert_eq!(kill::state_and_group("7 (a) b (c)) Z 1 99 9"), Some(('Z', 99)));
    assert_eq!(kill::state_and_group("garbage"), None);
}

#[tokio::test]
async fn run_observed_reports_the_childs_pid_which_leads_its_process_group() {
    let cmd = Job::sh("echo $$").approve();
    let (tx, mut rx) = mpsc::channel(8);
    let mut spawned = None;
    let result = tokio::time::timeout(
        TEST_LIMIT,
        run_observed(&cmd, tx, &Cancel::new(), |pid| spawned = Some(pid)),
    )
    .await
    .expect("runner hung")
    .expect("run succeeds");
    assert_eq!(result.exit_code, Some(0));
    let chunk = rx.recv().await.expect("the shell printed its pid");
    let printed: u32 = String::from_utf8(chunk.data).unwrap().trim().parse().unwrap();
    assert_eq!(spawned, Some(printed));
}

/// Runs `cmd`, which must fail to start, and returns why.
async fn spawn_error(cmd: &ApprovedCommand) -> io::Error {
    match run_with(cmd, &Cancel::new(), |_| {}).await {
        Err(Error::Spawn { source, .. }) => source,
        other => panic!("expected a spawn error, got {:?}", other.map(|ran| ran.result)),
    }
}

#[tokio::test]
async fn a_program_whose_interpreter_is_missing_fails_in_execve_with_enoent() {
    // The program exists (so the identity re-check passes); execve itself fails, in the child.
    let dir = tempdir();
    let program = canonical(&dir).join("orphan-script");
    std::fs::write(&program, "#!/nonexistent/interpreter\n").expect("write");
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let cmd = Job::new(program.to_str().expect("utf-8 path"), &[]).approve();
    let source = spawn_error(&cmd).await;
    assert_eq!(source.raw_os_error(), Some(libc::ENOENT), "{source}");
}

#[tokio::test]
async fn a_program_removed_after_approval_is_a_spawn_error_carrying_enoent() {
    let dir = tempdir();
    let program = canonical(&dir).join("gone");
    std::fs::copy("/bin/true", &program).expect("copy");
    let cmd = Job::new(program.to_str().expect("utf-8 path"), &[]).approve();
    std::fs::remove_file(&program).expect("rm");
    let source = spawn_error(&cmd).await;
    assert_eq!(source.raw_os_error(), Some(libc::ENOENT), "{source}");
}

#[tokio::test]
async fn an_exec_failure_reports_execves_errno_and_leaves_no_zombie() {
    let dir = tempdir();
    let program = canonical(&dir).join("not-executable");
    std::fs::write(&program, "#!/bin/sh\n").expect("write");
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let cmd = Job::new(program.to_str().expect("utf-8 path"), &[]).approve();
    let source = spawn_error(&cmd).await;
    assert_eq!(source.raw_os_error(), Some(libc::EACCES), "{source}");
    // The failed child was reaped by the runner: this process has no child left to wait for.
    let waited = rustix::process::waitpid(None, rustix::process::WaitOptions::NOHANG);
    assert!(matches!(waited, Err(rustix::io::Errno::CHILD) | Ok(None)), "{waited:?}");
}

#[tokio::test]
async fn a_nul_byte_in_an_argument_is_refused_before_anything_runs() {
    let cmd = Job::new("/bin/echo", &["a\0b"]).approve();
    let source = spawn_error(&cmd).await;
    assert_eq!(source.kind(), io::ErrorKind::InvalidInput);
    assert!(source.to_string().contains("NUL"), "{source}");
}

#[tokio::test]
async fn the_child_starts_with_no_blocked_signals_and_sigpipe_at_its_default() {
    // This thread blocks SIGUSR1 and the process ignores SIGPIPE (Rust's runtime does); the
    // program must see neither. `grep` reads its own status, so it is what the runner exec'd.
    let mut usr1: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: sigemptyset, sigaddset and pthread_sigmask only touch the local set.
    unsafe {
        libc::sigemptyset(&mut usr1);
        libc::sigaddset(&mut usr1, libc::SIGUSR1);
        libc::pthread_sigmask(libc::SIG_BLOCK, &usr1, std::ptr::null_mut());
    }
    let ran =
        run_ok(&Job::new("/bin/grep", &["^Sig\\(Blk\\|Ign\\)", "/proc/self/status"]).approve())
            .await;
    // SAFETY: as above.
    unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &usr1, std::ptr::null_mut()) };
    let stdout = ran.stdout();
    let field = |name: &str| {
        let line = stdout.lines().find(|line| line.starts_with(name)).expect("field present");
        u64::from_str_radix(line[name.len()..].trim(), 16).expect("hex mask")
    };
    assert_eq!(field("SigBlk:"), 0, "{stdout}");
    assert_eq!(field("SigIgn:") & (1 << (libc::SIGPIPE - 1)), 0, "{stdout}");
}

#[tokio::test]
async fn a_descriptor_opened_without_cloexec_does_not_reach_the_child() {
    let file = tempfile::tempfile().expect("tempfile");
    let leaky = rustix::io::dup(file.as_fd()).expect("dup without cloexec");
    let leaky_fd = std::os::fd::AsRawFd::as_raw_fd(&leaky);
    let script = format!("test -e /proc/self/fd/{leaky_fd} && echo leaked || echo closed");
    let ran = run_ok(&Job::sh(&script).approve()).await;
    drop(leaky);
    assert_eq!(ran.stdout(), "closed\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_spawns_each_get_their_own_output_and_status() {
    let runs = (0..64).map(|i| {
        tokio::spawn(async move {
            let cmd = Job::sh(&format!("echo {i}; exit {}", i % 7)).approve();
            (i, run_ok(&cmd).await)
        })
    });
    for run in runs.collect::<Vec<_>>() {
        let (i, ran) = run.await.expect("task");
        assert_eq!(ran.stdout(), format!("{i}\n"));
        assert_eq!(ran.result.exit_code, Some(i % 7));
    }
}

#[tokio::test]
async fn a_dropped_run_kills_its_group_and_reaps_its_child() {
    let cmd = Job::sh("sleep 300 & echo $$; wait").approve();
    let (tx, mut rx) = mpsc::channel(8);
    let cancel = Cancel::new();
    let running = run(&cmd, tx, &cancel);
    let pid = tokio::select! {
        _ = running => panic!("the run ended on its own"),
        chunk = rx.recv() => {
            let chunk = chunk.expect("the shell printed its pid");
            String::from_utf8(chunk.data).unwrap().trim().parse::<i32>().unwrap()
        }
    };
    // `running` is dropped here, mid-run.
    let deadline = std::time::Instant::now() + TEST_LIMIT;
    loop {
        let gone = live_in_group(pid).is_empty() && !Path::new(&format!("/proc/{pid}")).exists();
        if gone {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "group {pid} still alive or unreaped");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The signal masks (`SigBlk`, `SigIgn`, `SigCgt`) a program started by the runner sees in its
/// own `/proc` status, run while this process ignores SIGUSR2 and handles SIGURG (this test's own
/// process under nextest; both restored after).
async fn child_signal_masks() -> impl Fn(&str) -> u64 {
    extern "C" fn on_urg(_: libc::c_int) {}
    // SAFETY: signal only changes this process's dispositions of two signals no other test uses.
    unsafe {
        libc::signal(libc::SIGUSR2, libc::SIG_IGN);
        libc::signal(libc::SIGURG, on_urg as extern "C" fn(libc::c_int) as libc::sighandler_t);
    }
    let ran = run_ok(&Job::new("/bin/grep", &["^Sig", "/proc/self/status"]).approve()).await;
    // SAFETY: as above.
    unsafe {
        libc::signal(libc::SIGUSR2, libc::SIG_DFL);
        libc::signal(libc::SIGURG, libc::SIG_DFL);
    }
    let stdout = ran.stdout();
    move |name: &str| {
        let line = stdout.lines().find(|line| line.starts_with(name)).expect("field present");
        u64::from_str_radix(line[name.len()..].trim(), 16).expect("hex mask")
    }
}

fn bit(signal: libc::c_int) -> u64 {
    1 << (signal - 1)
}

#[tokio::test]
async fn ignored_signals_stay_ignored_and_the_kernel_clears_the_handlers() {
    let mask = child_signal_masks().await;
    // exec keeps an ignore, and resets handlers anyway: the clearing protects the time before it.
    assert_ne!(mask("SigIgn:") & bit(libc::SIGUSR2), 0);
    assert_eq!(mask("SigCgt:") & bit(libc::SIGURG), 0);
    assert_eq!(mask("SigIgn:") & bit(libc::SIGPIPE), 0);
    // The fast path is the one taken on the kernels gsm supports on x86-64 (5.5 and later).
    if cfg!(target_arch = "x86_64") && std::env::var_os("GSM_ALLOW_CLONE_FALLBACK").is_none() {
        assert!(
            super::clone3::works(),
            "clone3 with CLONE_CLEAR_SIGHAND was refused (a kernel before 5.5, or a seccomp \
             filter); the runner works, more slowly — set GSM_ALLOW_CLONE_FALLBACK=1 to accept"
        );
    }
}

#[tokio::test]
async fn without_clone3_the_child_still_gets_default_handlers_and_no_blocked_signals() {
    // The path kernels before 5.5 and sandboxes that refuse clone3 take (this test's own process).
    super::clone3::refuse();
    let mask = child_signal_masks().await;
    assert_eq!(mask("SigBlk:"), 0);
    assert_eq!(mask("SigIgn:") & bit(libc::SIGPIPE), 0);
    assert_ne!(mask("SigIgn:") & bit(libc::SIGUSR2), 0);
    assert!(!super::clone3::works());
    assert_eq!(run_ok(&Job::new("/bin/true", &[]).approve()).await.result.exit_code, Some(0));
}
