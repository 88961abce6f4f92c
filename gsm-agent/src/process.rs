//! Finding a job's process group again after the agent restarted, and stopping it.
//!
//! A pid alone names nothing durable: once the job's process exits, the kernel may hand the same
//! number to an unrelated process. So the ledger records a [`ProcessIdentity`]: the pid, the
//! process's start time (field 22 of `/proc/<pid>/stat`, clock ticks since boot) and the boot id.
//! Only a live process with all three equal, still leading its own group, is the job's; anything
//! else is left alone.

use std::io::{self, Read};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::process::{Pid, Signal};
use serde::{Deserialize, Serialize};

/// How long [`kill_group`] waits for the killed group to be gone.
const GONE_LIMIT: Duration = Duration::from_secs(5);

/// Which process a job ran as: enough to tell it from a later process with the same pid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessIdentity {
    /// The pid, which is also the job's process group id (the runner makes the child a leader).
    pub pid: u32,
    /// The start time from `/proc/<pid>/stat` (field 22), in clock ticks since boot.
    pub start_time: u64,
    /// The kernel's boot id; pids and start times restart at every boot.
    pub boot_id: String,
}

/// What `/proc/<pid>/stat` says about a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// The state letter (`R`, `S`, `Z`, ...).
    pub state: char,
    /// The process group id.
    pub pgrp: i32,
    /// Field 22: start time in clock ticks since boot.
    pub start_time: u64,
}

impl ProcessIdentity {
    /// The identity of the live process `pid`.
    pub fn of(pid: u32) -> io::Result<ProcessIdentity> {
        let stat = read_stat(pid)?;
        Ok(ProcessIdentity { pid, start_time: stat.start_time, boot_id: boot_id()? })
    }

    /// True when this process still runs and still leads its group: same boot, same pid, same
    /// start time, not a zombie.
    pub fn is_running_group_leader(&self) -> bool {
        let Ok(current_boot) = boot_id() else { return false };
        if current_boot != self.boot_id {
            return false;
        }
        match read_stat(self.pid) {
            Ok(stat) => {
                stat.start_time == self.start_time
                    && i64::from(stat.pgrp) == i64::from(self.pid)
                    && !matches!(stat.state, 'Z' | 'X')
            }
            Err(_) => false,
        }
    }
}

/// Sends `SIGKILL` to the process group `pgid` and waits (up to a few seconds) until no live
/// process of it remains. Processes that are not our children cannot be reaped here; init reaps
/// them. Returns false if some process of the group was still alive at the end.
pub fn kill_group(pgid: u32) -> bool {
    let Some(pid) = i32::try_from(pgid).ok().and_then(Pid::from_raw) else { return true };
    match rustix::process::kill_process_group(pid, Signal::KILL) {
        Ok(()) | Err(Errno::SRCH) => {}
        Err(errno) => {
            tracing::warn!(pgid, %errno, "could not kill a leftover job process group");
            return false;
        }
    }
    let deadline = Instant::now() + GONE_LIMIT;
    let mut pause = Duration::from_millis(1);
    loop {
        if !group_has_live_member(pid.as_raw_nonzero().get()) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Whether any non-zombie process is in group `pgid`, by reading `/proc`.
fn group_has_live_member(pgid: i32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else { return true };
    entries.flatten().any(|entry| {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|name| name.parse::<u32>().ok()) else {
            return false;
        };
        read_stat(pid).is_ok_and(|stat| stat.pgrp == pgid && !matches!(stat.state, 'Z' | 'X'))
    })
}

/// Reads and parses `/proc/<pid>/stat`.
pub fn read_stat(pid: u32) -> io::Result<Stat> {
    let text = read_proc_file(&format!("/proc/{pid}/stat"))?;
    parse_stat(&text).ok_or_else(|| io::Error::other(format!("unparsable /proc/{pid}/stat")))
}

/// Reads a small `/proc` file. Such files report no size, so `read_to_string` starts with a
/// 32-byte read and grows from there (six reads for a `stat` line, each of which makes the
/// kernel format the whole file); a buffer that fits the file takes one read and the one that
/// says the end is reached. The spawn hook runs this on every job.
fn read_proc_file(path: &str) -> io::Result<String> {
    let mut text = String::with_capacity(1024);
    std::fs::File::open(path)?.read_to_string(&mut text)?;
    Ok(text)
}

/// Parses a `/proc/<pid>/stat` line. The command name in parentheses may hold spaces and
/// parentheses, so fields are counted after the last `)`: state is field 3, pgrp field 5 and the
/// start time field 22.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).copied();
    Some(Stat {
        state: field(3)?.chars().next()?,
        pgrp: field(5)?.parse().ok()?,
        start_time: field(22)?.parse().ok()?,
    })
}

/// The kernel's boot id, read once: it cannot change while this process runs.
fn boot_id() -> io::Result<String> {
    static BOOT_ID: OnceLock<String> = OnceLock::new();
    if let Some(id) = BOOT_ID.get() {
        return Ok(id.clone());
    }
    let id = read_proc_file("/proc/sys/kernel/random/boot_id")?.trim().to_owned();
    Ok(BOOT_ID.get_or_init(|| id).clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_last_parenthesis() {
        let line = "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 \
                    1000 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0";
        assert_eq!(parse_stat(line), Some(Stat { state: 'S', pgrp: 4242, start_time: 987654 }));
        assert_eq!(parse_stat("4242 (truncated"), None);
    }

    #[test]
    fn this_process_has_an_identity_that_matches_only_itself() {
        let me = ProcessIdentity::of(std::process::id()).unwrap();
        let older = ProcessIdentity { start_time: me.start_time.wrapping_sub(1), ..me.clone() };
        assert!(!older.is_running_group_leader());
        let other_boot = ProcessIdentity { boot_id: "another-boot".into(), ..me };
        assert!(!other_boot.is_running_group_leader());
    }
}
