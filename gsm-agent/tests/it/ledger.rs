//! The job ledger: a job id is taken once, records survive reopening, and reopening after a
//! crash settles the jobs that were running (killing a leftover process group, but never a
//! process that merely reuses its pid).

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, SystemTime};

use gsm_agent::ledger::{End, LOST_ON_RESTART, Ledger};
use gsm_agent::process::ProcessIdentity;
use gsm_core::job::{HostId, JobResult, JobSpec, Termination};
use gsm_proto::agent::JobRef;

const RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

fn open(dir: &Path) -> (Ledger, gsm_agent::ledger::Recovery) {
    Ledger::open(dir, SystemTime::now(), RETENTION).unwrap()
}

fn job() -> (JobRef, JobSpec) {
    let spec: JobSpec = serde_json::from_value(serde_json::json!({
        "id": gsm_core::job::JobId::new(),
        "host": HostId::new(),
        "kind": {"type": "command", "program": "/bin/true"},
        "requested_by": {"kind": "user", "id": "tester"},
    }))
    .unwrap();
    (JobRef { job: spec.id, attempt: 1 }, spec)
}

fn result() -> JobResult {
    JobResult {
        termination: Termination::Exited,
        exit_code: Some(0),
        signal: None,
        duration_ms: 3,
        output_bytes: 0,
        kept_bytes: 0,
        truncated: false,
    }
}

/// `sleep 30` leading its own process group, as the runner starts jobs.
fn sleeper() -> Child {
    Command::new("/bin/sleep").arg("30").process_group(0).spawn().unwrap()
}

#[test]
fn a_job_id_in_the_ledger_is_refused_a_second_time() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, _) = open(dir.path());
    let (job, spec) = job();
    ledger.accept(job, &spec, SystemTime::now()).unwrap();
    let again = JobRef { attempt: 2, ..job };
    let err = ledger.accept(again, &spec, SystemTime::now()).unwrap_err();
    assert!(matches!(err, gsm_agent::ledger::Error::AlreadyRecorded { .. }), "{err}");
    let err =
        ledger.reject(job, &spec, "program_not_allowed", "no", SystemTime::now()).unwrap_err();
    assert!(matches!(err, gsm_agent::ledger::Error::AlreadyRecorded { .. }), "{err}");
}

#[test]
fn records_survive_reopening_and_still_refuse_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let (job, spec) = job();
    {
        let (ledger, _) = open(dir.path());
        ledger.accept(job, &spec, SystemTime::now()).unwrap();
        ledger.finish(job.job, result(), 2, SystemTime::now()).unwrap();
    }
    let (ledger, recovery) = open(dir.path());
    assert!(recovery.lost.is_empty());
    let record = ledger.get(job.job).unwrap();
    assert_eq!(record.end, Some(End::Finished { result: result(), chunks: 2 }));
    assert!(!record.end_acked);
    assert_eq!(ledger.unacked().len(), 1, "an unacknowledged end is still to be sent");
    assert!(ledger.accept(job, &spec, SystemTime::now()).is_err());
    assert!(ledger.ack_end(job.job).unwrap());
    assert!(!ledger.ack_end(job.job).unwrap(), "a second ack changes nothing");
    assert!(ledger.unacked().is_empty());
}

#[test]
fn a_job_accepted_without_an_end_is_reported_lost_on_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let (job, spec) = job();
    {
        let (ledger, _) = open(dir.path());
        ledger.accept(job, &spec, SystemTime::now()).unwrap();
    }
    let (ledger, recovery) = open(dir.path());
    assert_eq!(recovery.lost, [job]);
    assert!(recovery.killed.is_empty());
    let record = ledger.get(job.job).unwrap();
    assert_eq!(record.end, Some(End::Lost { reason: LOST_ON_RESTART.to_owned() }));
    assert_eq!(ledger.unacked(), [record]);
}

#[test]
fn a_process_group_left_running_by_a_crashed_agent_is_killed_on_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let (job, spec) = job();
    let mut child = sleeper();
    {
        let (ledger, _) = open(dir.path());
        ledger.accept(job, &spec, SystemTime::now()).unwrap();
        ledger.record_process(job.job, ProcessIdentity::of(child.id()).unwrap()).unwrap();
    }
    let (_ledger, recovery) = open(dir.path());
    assert_eq!(recovery.killed, [job]);
    assert_eq!(recovery.lost, [job]);
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "killed with SIGKILL: {status:?}");
}

#[test]
fn a_reused_pid_with_another_start_time_is_not_killed() {
    let dir = tempfile::tempdir().unwrap();
    let (job, spec) = job();
    let mut child = sleeper();
    let mut identity = ProcessIdentity::of(child.id()).unwrap();
    identity.start_time += 1;
    {
        let (ledger, _) = open(dir.path());
        ledger.accept(job, &spec, SystemTime::now()).unwrap();
        ledger.record_process(job.job, identity).unwrap();
    }
    let (_ledger, recovery) = open(dir.path());
    assert_eq!(recovery.lost, [job], "the job is still reported lost");
    assert!(recovery.killed.is_empty());
    assert!(child.try_wait().unwrap().is_none(), "the unrelated process still runs");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn acknowledged_records_are_pruned_after_the_retention_and_not_before() {
    let dir = tempfile::tempdir().unwrap();
    let (acked, acked_spec) = job();
    let (unacked, unacked_spec) = job();
    let long_ago = SystemTime::now() - RETENTION - Duration::from_secs(60);
    {
        let (ledger, _) = open(dir.path());
        for (job, spec) in [(acked, &acked_spec), (unacked, &unacked_spec)] {
            ledger.accept(job, spec, long_ago).unwrap();
            ledger.finish(job.job, result(), 0, long_ago).unwrap();
        }
        ledger.ack_end(acked.job).unwrap();
    }
    let (ledger, recovery) = Ledger::open(dir.path(), long_ago + RETENTION, RETENTION).unwrap();
    assert_eq!(recovery.pruned, 0, "not yet past the retention");
    assert!(ledger.contains(acked.job));
    drop(ledger);
    let (ledger, recovery) = open(dir.path());
    assert_eq!(recovery.pruned, 1);
    assert!(!ledger.contains(acked.job));
    assert!(ledger.contains(unacked.job), "an end the server never acknowledged is kept");
}

#[test]
fn a_damaged_record_stops_the_ledger_from_opening() {
    let dir = tempfile::tempdir().unwrap();
    let (job, _) = job();
    std::fs::write(dir.path().join(format!("{}.json", job.job)), "{ not json").unwrap();
    let err = Ledger::open(dir.path(), SystemTime::now(), RETENTION).unwrap_err();
    assert!(err.to_string().contains("is damaged"), "{err}");
}

#[test]
fn records_are_private_files_and_temporary_leftovers_are_swept() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".tmp-leftover.json"), "half").unwrap();
    let (ledger, _) = open(dir.path());
    let (job, spec) = job();
    ledger.accept(job, &spec, SystemTime::now()).unwrap();
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, [format!("{}.json", job.job)]);
    let mode = std::fs::metadata(dir.path().join(&names[0])).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn a_staged_end_is_sent_from_memory_and_a_crash_before_it_is_persisted_reports_the_job_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (job, spec) = job();
    {
        let (ledger, _) = open(dir.path());
        ledger.accept(job, &spec, SystemTime::now()).unwrap();
        let end = End::Finished { result: result(), chunks: 0 };
        assert!(ledger.stage_end(job.job, end.clone(), SystemTime::now()).unwrap());
        assert!(!ledger.stage_end(job.job, end.clone(), SystemTime::now()).unwrap());
        assert_eq!(ledger.get(job.job).unwrap().end, Some(end), "the end can be sent at once");
        // The agent dies before `persist`.
    }
    let (ledger, recovery) = open(dir.path());
    assert_eq!(recovery.lost, [job], "an end that never reached the disk is a lost job");
    assert!(ledger.accept(job, &spec, SystemTime::now()).is_err(), "and it never runs again");
}

#[test]
fn a_persisted_end_survives_and_an_ack_persists_a_staged_end_first() {
    let dir = tempfile::tempdir().unwrap();
    let (persisted, persisted_spec) = job();
    let (acked, acked_spec) = job();
    let end = End::Finished { result: result(), chunks: 1 };
    {
        let (ledger, _) = open(dir.path());
        for (job, spec) in [(persisted, &persisted_spec), (acked, &acked_spec)] {
            ledger.accept(job, spec, SystemTime::now()).unwrap();
            ledger.stage_end(job.job, end.clone(), SystemTime::now()).unwrap();
        }
        ledger.persist(persisted.job).unwrap();
        ledger.persist(persisted.job).unwrap();
        // The server's ack can overtake the background persist.
        assert!(ledger.ack_end(acked.job).unwrap());
        ledger.persist(acked.job).unwrap();
    }
    let (ledger, recovery) = open(dir.path());
    assert!(recovery.lost.is_empty(), "{recovery:?}");
    assert_eq!(ledger.get(persisted.job).unwrap().end, Some(end.clone()));
    let record = ledger.get(acked.job).unwrap();
    assert_eq!(record.end, Some(end));
    assert!(record.end_acked, "the ack mark survives the agent");
    assert_eq!(ledger.unacked().iter().map(|r| r.job).collect::<Vec<_>>(), [persisted.job]);
}

#[test]
fn a_damaged_process_record_is_the_remains_of_a_power_loss_and_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let (job, spec) = job();
    {
        let (ledger, _) = open(dir.path());
        ledger.accept(job, &spec, SystemTime::now()).unwrap();
    }
    std::fs::write(dir.path().join(format!("{}.pid", job.job)), "").unwrap();
    let (ledger, recovery) = open(dir.path());
    assert_eq!(recovery.lost, [job]);
    assert!(recovery.killed.is_empty());
    assert_eq!(ledger.get(job.job).unwrap().process, None);
}

#[test]
fn pruning_removes_side_files_with_their_record_and_sweeps_orphans() {
    let dir = tempfile::tempdir().unwrap();
    let (job, spec) = job();
    let long_ago = SystemTime::now() - RETENTION - Duration::from_secs(60);
    let child = sleeper();
    let identity = ProcessIdentity::of(child.id()).unwrap();
    {
        let (ledger, _) = open(dir.path());
        ledger.accept(job, &spec, long_ago).unwrap();
        ledger.record_process(job.job, identity.clone()).unwrap();
        ledger.finish(job.job, result(), 0, long_ago).unwrap();
        ledger.ack_end(job.job).unwrap();
    }
    let id = job.job;
    assert_eq!(
        names_in(dir.path()),
        [format!("{id}.acked"), format!("{id}.json"), format!("{id}.pid")]
    );
    let orphan = gsm_core::job::JobId::new();
    std::fs::write(dir.path().join(format!("{orphan}.pid")), "{}").unwrap();
    let (ledger, recovery) = open(dir.path());
    assert_eq!(recovery.pruned, 1);
    assert!(!ledger.contains(job.job));
    assert!(names_in(dir.path()).is_empty(), "{:?}", names_in(dir.path()));
    let mut child = child;
    child.kill().unwrap();
    child.wait().unwrap();
}
