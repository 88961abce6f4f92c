//! The output spool: chunks survive reopening, acks delete below the mark only, duplicate and
//! stale acks are harmless, and the byte limit holds.

use std::path::Path;

use gsm_agent::spool::{Error, Spool};
use gsm_core::job::JobId;
use gsm_core::runner::{OutputChunk, Stream};

fn chunk(seq: u64, stream: Stream, data: &[u8]) -> OutputChunk {
    OutputChunk { seq, stream, data: data.to_vec() }
}

fn fill(spool: &Spool, job: JobId, count: u64) -> Vec<OutputChunk> {
    (0..count)
        .map(|seq| {
            let stream = if seq % 2 == 0 { Stream::Stdout } else { Stream::Stderr };
            let chunk = chunk(seq, stream, format!("chunk {seq}\n").as_bytes());
            spool.write(job, &chunk).unwrap();
            chunk
        })
        .collect()
}

fn read_all(spool: &Spool, job: JobId) -> Vec<OutputChunk> {
    spool
        .pending(job)
        .unwrap()
        .into_iter()
        .map(|seq| spool.read(job, seq).unwrap().unwrap())
        .collect()
}

fn open(dir: &Path) -> Spool {
    Spool::open(dir, 1 << 20).unwrap()
}

#[test]
fn spooled_chunks_survive_reopening_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let job = JobId::new();
    let written = {
        let spool = open(dir.path());
        let written = fill(&spool, job, 12);
        spool.sync(job).unwrap();
        written
    };
    let spool = open(dir.path());
    assert_eq!(read_all(&spool, job), written);
    assert_eq!(spool.jobs().unwrap(), [job]);
    let bytes: usize = written.iter().map(|chunk| chunk.data.len()).sum();
    assert_eq!(spool.used_bytes(), bytes as u64, "reopening counts what is held");
}

#[test]
fn an_ack_deletes_the_chunks_below_the_mark_and_no_others() {
    let dir = tempfile::tempdir().unwrap();
    let spool = open(dir.path());
    let job = JobId::new();
    let written = fill(&spool, job, 5);
    assert_eq!(spool.ack(job, 3).unwrap(), 3);
    assert_eq!(read_all(&spool, job), written[3..]);
    assert_eq!(spool.read(job, 1).unwrap(), None);
}

#[test]
fn duplicate_and_stale_acks_are_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let spool = open(dir.path());
    let job = JobId::new();
    let written = fill(&spool, job, 4);
    assert_eq!(spool.ack(job, 2).unwrap(), 2);
    assert_eq!(spool.ack(job, 2).unwrap(), 0, "the same ack again");
    assert_eq!(spool.ack(job, 1).unwrap(), 0, "an older ack after a newer one");
    assert_eq!(spool.ack(JobId::new(), 10).unwrap(), 0, "an ack for an unknown job");
    assert_eq!(read_all(&spool, job), written[2..]);
    spool.remove(job).unwrap();
    spool.remove(job).unwrap();
    assert_eq!(spool.ack(job, 4).unwrap(), 0, "an ack after the job was forgotten");
    assert_eq!(spool.used_bytes(), 0);
    assert!(spool.jobs().unwrap().is_empty());
}

#[test]
fn a_chunk_past_the_byte_limit_is_refused_until_acks_free_space() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), 10).unwrap();
    let job = JobId::new();
    spool.write(job, &chunk(0, Stream::Stdout, b"123456")).unwrap();
    let err = spool.write(job, &chunk(1, Stream::Stdout, b"123456")).unwrap_err();
    assert!(matches!(err, Error::Full { limit: 10 }), "{err}");
    spool.ack(job, 1).unwrap();
    spool.write(job, &chunk(1, Stream::Stdout, b"123456")).unwrap();
    assert_eq!(spool.used_bytes(), 6);
}

#[test]
fn an_ack_far_past_the_spooled_chunks_deletes_them_all_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let spool = open(dir.path());
    let job = JobId::new();
    fill(&spool, job, 3);
    assert_eq!(spool.ack(job, 1).unwrap(), 1);
    for seq in 3..6 {
        spool.write(job, &chunk(seq, Stream::Stdout, b"more")).unwrap();
    }
    assert_eq!(
        spool.ack(job, u64::MAX).unwrap(),
        5,
        "the chunks left, found without a walk to u64::MAX"
    );
    assert_eq!(spool.used_bytes(), 0);
}
