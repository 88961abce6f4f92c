//! The job ledger: a job id is taken once, records survive reopening, and reopening after a
//! crash settles the jobs that were running (killing a leftover process group, but never a
//! process that merely reuses its pid).

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, SystemTime};

use gsm_agent::ledger::{End, JOURNAL, JobRecord, LOST_ON_RESTART, Ledger};
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

/// A job whose record takes about 64 KiB, to fill a journal quickly.
fn big_job() -> (JobRef, JobSpec) {
    let (job, mut spec) = job();
    if let gsm_core::job::JobKind::Command(command) = &mut spec.kind {
        command.args = vec!["x".repeat(64 << 10)];
    }
    (job, spec)
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
fn a_damaged_journal_stops_the_ledger_from_opening_and_a_torn_last_entry_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let (first, first_spec) = job();
    let (torn, torn_spec) = job();
    {
        let (ledger, _) = open(dir.path());
        ledger.accept(first, &first_spec, SystemTime::now()).unwrap();
        ledger.accept(torn, &torn_spec, SystemTime::now()).unwrap();
    }
    let path = dir.path().join(JOURNAL);
    let intact = std::fs::read(&path).unwrap();

    // The last entry's final bytes never reached the disk: a power loss mid-write.
    let mut bytes = intact.clone();
    let end = bytes.iter().rposition(|b| *b != 0).unwrap() + 1;
    bytes[end - 8..end].fill(0);
    std::fs::write(&path, &bytes).unwrap();
    let (ledger, recovery) = open(dir.path());
    assert_eq!(recovery.lost, [first], "the intact entry is read, the torn one dropped");
    assert!(!ledger.contains(torn.job));
    drop(ledger);

    // A byte changed inside the first entry, with intact entries after it: damage.
    let mut bytes = intact;
    let first_payload = bytes.windows(6).position(|w| w == b"\"entry").unwrap();
    bytes[first_payload + 20] ^= 0x55;
    std::fs::write(&path, &bytes).unwrap();
    let err = Ledger::open(dir.path(), SystemTime::now(), RETENTION).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("is damaged") && text.contains(JOURNAL), "{text}");
    assert!(text.contains("at byte 8"), "the message says where: {text}");
}

#[test]
fn a_record_file_of_an_older_agent_that_is_damaged_stops_the_ledger_from_opening() {
    let dir = tempfile::tempdir().unwrap();
    let (job, _) = job();
    std::fs::write(dir.path().join(format!("{}.json", job.job)), "{ not json").unwrap();
    let err = Ledger::open(dir.path(), SystemTime::now(), RETENTION).unwrap_err();
    assert!(err.to_string().contains("is damaged"), "{err}");
}

#[test]
fn the_journal_is_a_private_file_and_temporary_leftovers_are_swept() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".tmp-leftover.json"), "half").unwrap();
    std::fs::write(dir.path().join(format!(".tmp-{JOURNAL}")), "half").unwrap();
    let (ledger, _) = open(dir.path());
    let (job, spec) = job();
    ledger.accept(job, &spec, SystemTime::now()).unwrap();
    assert_eq!(names_in(dir.path()), [JOURNAL]);
    let mode = std::fs::metadata(dir.path().join(JOURNAL)).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_full_journal_is_replaced_by_a_snapshot_that_keeps_every_record_as_it_is_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let long_ago = SystemTime::now() - RETENTION - Duration::from_secs(60);
    let (old, old_spec) = job();
    let (staged, staged_spec) = job();
    let (ledger, _) = open(dir.path());
    ledger.accept(old, &old_spec, long_ago).unwrap();
    ledger.finish(old.job, result(), 0, long_ago).unwrap();
    ledger.ack_end(old.job).unwrap();
    ledger.accept(staged, &staged_spec, SystemTime::now()).unwrap();
    let end = End::Finished { result: result(), chunks: 0 };
    ledger.stage_end(staged.job, end.clone(), SystemTime::now()).unwrap();
    // Records of about 64 KiB each: the 4 MiB journal fills after some sixty of them.
    let mut filler = Vec::new();
    for _ in 0..100 {
        let (job, spec) = big_job();
        ledger.accept(job, &spec, SystemTime::now()).unwrap();
        filler.push(job.job);
    }
    assert!(!ledger.contains(old.job), "a new journal leaves out what the retention let go");
    assert_eq!(ledger.get(staged.job).unwrap().end, Some(end.clone()), "still staged in memory");
    drop(ledger);
    let (ledger, recovery) = open(dir.path());
    assert!(filler.iter().all(|job| ledger.contains(*job)), "every accepted job is kept");
    assert!(recovery.lost.contains(&staged), "an end never persisted is not in the snapshot");
    assert_eq!(recovery.lost.len(), 101, "{recovery:?}");
}

#[test]
fn concurrent_writers_through_several_new_journals_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, _) = open(dir.path());
    let ledger = std::sync::Arc::new(ledger);
    let me = ProcessIdentity::of(std::process::id()).unwrap();
    // Four threads, each taking 60 jobs of ~64 KiB and ending them: about 15 MiB of entries, so
    // the journal is replaced several times while other threads append and flush.
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (ledger, me) = (ledger.clone(), me.clone());
            std::thread::spawn(move || {
                let mut taken = Vec::new();
                for _ in 0..60 {
                    let (job, spec) = big_job();
                    ledger.accept(job, &spec, SystemTime::now()).unwrap();
                    ledger.record_process(job.job, me.clone()).unwrap();
                    let end = End::Finished { result: result(), chunks: 0 };
                    ledger.stage_end(job.job, end, SystemTime::now()).unwrap();
                    ledger.persist(job.job).unwrap();
                    ledger.ack_end(job.job).unwrap();
                    taken.push(job.job);
                }
                taken
            })
        })
        .collect();
    let taken: Vec<_> = threads.into_iter().flat_map(|thread| thread.join().unwrap()).collect();
    drop(ledger);
    let (ledger, recovery) = open(dir.path());
    assert!(recovery.lost.is_empty(), "every end was persisted: {recovery:?}");
    for job in taken {
        let record = ledger.get(job).expect("every accepted job survives");
        assert!(record.end_acked && record.process.is_some(), "{record:?}");
    }
    assert_eq!(names_in(dir.path()), [JOURNAL]);
}

#[test]
fn records_written_by_an_older_agent_are_taken_in_and_their_files_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (running, running_spec) = job();
    let (acked, acked_spec) = job();
    let (damaged_pid, damaged_pid_spec) = job();
    let mut child = sleeper();
    let an_hour_ago = gsm_agent::ledger::unix_ms(SystemTime::now()) - 3_600_000;
    let record = |job: JobRef, spec: &JobSpec, end: Option<End>| {
        let record = JobRecord {
            format: 1,
            job: job.job,
            attempt: job.attempt,
            spec: spec.clone(),
            recorded_at_ms: an_hour_ago,
            process: None,
            ended_at_ms: end.as_ref().map(|_| an_hour_ago + 500),
            end,
            end_acked: false,
        };
        let path = dir.path().join(format!("{}.json", job.job));
        std::fs::write(path, serde_json::to_vec_pretty(&record).unwrap()).unwrap();
    };
    let finished = End::Finished { result: result(), chunks: 3 };
    record(running, &running_spec, None);
    record(acked, &acked_spec, Some(finished.clone()));
    record(damaged_pid, &damaged_pid_spec, None);
    let identity = serde_json::to_vec(&ProcessIdentity::of(child.id()).unwrap()).unwrap();
    std::fs::write(dir.path().join(format!("{}.pid", running.job)), identity).unwrap();
    std::fs::write(dir.path().join(format!("{}.acked", acked.job)), "").unwrap();
    std::fs::write(dir.path().join(format!("{}.pid", damaged_pid.job)), "").unwrap();
    let orphan = gsm_core::job::JobId::new();
    std::fs::write(dir.path().join(format!("{orphan}.pid")), "{}").unwrap();

    let (ledger, recovery) = Ledger::open(dir.path(), SystemTime::now(), RETENTION).unwrap();
    assert_eq!(recovery.killed, [running], "the old layout's process record is honoured");
    assert_eq!(child.wait().unwrap().signal(), Some(9));
    let mut lost = recovery.lost.clone();
    lost.sort_by_key(|job| job.job);
    let mut expected = vec![running, damaged_pid];
    expected.sort_by_key(|job| job.job);
    assert_eq!(lost, expected, "a damaged process file is the remains of a power loss");
    let record = ledger.get(acked.job).unwrap();
    assert_eq!((record.end, record.end_acked), (Some(finished), true));
    assert_eq!(
        names_in(dir.path()),
        [JOURNAL],
        "the old files are gone once the journal holds them"
    );
    drop(ledger);
    let (ledger, recovery) = open(dir.path());
    assert!(recovery.lost.is_empty() && ledger.get(acked.job).unwrap().end_acked);
    assert!(ledger.accept(running, &running_spec, SystemTime::now()).is_err());
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
