//! What the kernel says about a process: resident memory, CPU time, open-file limit.
//!
//! Read from `/proc/<pid>/status` and `/proc/<pid>/stat`, so the figures describe the real server
//! and agent processes from outside, the way an operator's `top` would.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

use super::server::Backend;

/// A field of `/proc/<pid>/status` in KiB (`VmRSS`, `VmHWM`).
pub fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let line = text
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .with_context(|| format!("{path} has no {field}"))?;
    let kib = line.trim().trim_end_matches("kB").trim();
    kib.parse().with_context(|| format!("parsing {field} {kib:?} in {path}"))
}

/// Resident memory now, in MiB.
pub fn rss_mib(pid: u32) -> anyhow::Result<f64> {
    Ok(status_kib(pid, "VmRSS")? as f64 / 1024.0)
}

/// Peak resident memory since the process started, in MiB.
pub fn peak_rss_mib(pid: u32) -> anyhow::Result<f64> {
    Ok(status_kib(pid, "VmHWM")? as f64 / 1024.0)
}

/// User + system CPU time the process has used.
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // The command name may hold spaces and parentheses; the fields start after the last ')'.
    let after = text.rfind(')').map(|i| &text[i + 1..]).context("no ')' in /proc/<pid>/stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the name: state is field 3 of the man page, utime 14 and stime 15.
    let (Some(utime), Some(stime)) = (fields.get(11), fields.get(12)) else {
        bail!("{path} has too few fields");
    };
    let ticks: u64 =
        utime.parse::<u64>().context("utime")? + stime.parse::<u64>().context("stime")?;
    let per_second = rustix::param::clock_ticks_per_second();
    Ok(Duration::from_secs_f64(ticks as f64 / per_second as f64))
}

/// Average CPU use of `pid` over a window, in percent of one core.
pub struct CpuWindow {
    pid: u32,
    cpu: Duration,
    wall: Instant,
}

impl CpuWindow {
    /// Opens the window now.
    pub fn start(pid: u32) -> anyhow::Result<Self> {
        Ok(Self { pid, cpu: cpu_time(pid)?, wall: Instant::now() })
    }

    /// Percent of one core used since [`start`](Self::start), and the window's length.
    pub fn percent(&self) -> anyhow::Result<(f64, Duration)> {
        let used = cpu_time(self.pid)?.saturating_sub(self.cpu);
        let wall = self.wall.elapsed();
        Ok((used.as_secs_f64() / wall.as_secs_f64() * 100.0, wall))
    }
}

/// CPU the whole machine used during a window, less what the watched processes used: how much
/// other work (builds, other benches) competed with a figure for the same cores. On PostgreSQL
/// the database server's processes, including backends forked during the window, are counted
/// apart.
pub struct Contention {
    backend: Backend,
    watched: Vec<u32>,
    database: HashMap<u32, Duration>,
    busy: Duration,
    cpu: Duration,
    wall: Instant,
}

impl Contention {
    /// Opens the window; `watched` are the figure's processes besides gsm-bench itself.
    pub fn start(backend: Backend, watched: &[u32]) -> anyhow::Result<Self> {
        let mut all = watched.to_vec();
        all.push(std::process::id());
        let database = match backend {
            Backend::Sqlite => HashMap::new(),
            Backend::Postgres => processes_named("postgres")
                .into_iter()
                .filter_map(|pid| Some((pid, cpu_time(pid).ok()?)))
                .collect(),
        };
        Ok(Self {
            backend,
            busy: machine_busy()?,
            cpu: total_cpu(&all),
            watched: all,
            database,
            wall: Instant::now(),
        })
    }

    /// A note for a figure's line: what else ran on the machine meanwhile, in percent of one
    /// core.
    pub fn note(&self) -> String {
        let busy = match machine_busy() {
            Ok(busy) => busy.saturating_sub(self.busy),
            Err(err) => return format!("other processes' CPU unknown: {err:#}"),
        };
        let ours = total_cpu(&self.watched).saturating_sub(self.cpu);
        let database = match self.backend {
            Backend::Sqlite => Duration::ZERO,
            // A backend forked during the window used all its CPU time inside it.
            Backend::Postgres => processes_named("postgres")
                .into_iter()
                .filter_map(|pid| {
                    let before = self.database.get(&pid).copied().unwrap_or_default();
                    Some(cpu_time(pid).ok()?.saturating_sub(before))
                })
                .sum(),
        };
        let others = busy.saturating_sub(ours).saturating_sub(database);
        let percent = |d: Duration| d.as_secs_f64() / self.wall.elapsed().as_secs_f64() * 100.0;
        match self.backend {
            Backend::Sqlite => {
                format!("other processes used {:.0} % of one core meanwhile", percent(others))
            }
            Backend::Postgres => format!(
                "PostgreSQL used {:.0} %, other processes {:.0} % of one core meanwhile",
                percent(database),
                percent(others)
            ),
        }
    }
}

/// CPU time of processes, skipping any that have exited.
fn total_cpu(pids: &[u32]) -> Duration {
    pids.iter().filter_map(|&pid| cpu_time(pid).ok()).sum()
}

/// Processes whose command name is `name`.
fn processes_named(name: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim_end() == name)
        })
        .collect()
}

/// CPU time the machine spent not idle, all cores together (`/proc/stat`).
fn machine_busy() -> anyhow::Result<Duration> {
    let text = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let line = text.lines().find(|l| l.starts_with("cpu ")).context("no cpu line in /proc/stat")?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|field| field.parse().context("parsing /proc/stat"))
        .collect::<anyhow::Result<_>>()?;
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let busy: u64 =
        ticks.iter().take(8).enumerate().filter(|(i, _)| *i != 3 && *i != 4).map(|(_, t)| t).sum();
    let per_second = rustix::param::clock_ticks_per_second();
    Ok(Duration::from_secs_f64(busy as f64 / per_second as f64))
}

/// Raises this process's open-file limit to its hard limit; children spawned afterwards inherit
/// it. Returns the new soft limit.
pub fn raise_nofile() -> anyhow::Result<u64> {
    let limit = getrlimit(Resource::Nofile);
    let raised = Rlimit { current: limit.maximum, maximum: limit.maximum };
    setrlimit(Resource::Nofile, raised).context("raising RLIMIT_NOFILE to its hard limit")?;
    Ok(getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_resident_memory_and_cpu_time() {
        let pid = std::process::id();
        assert!(rss_mib(pid).unwrap() > 0.0);
        assert!(peak_rss_mib(pid).unwrap() >= rss_mib(pid).unwrap() - 1.0);
        cpu_time(pid).unwrap();
    }
}
