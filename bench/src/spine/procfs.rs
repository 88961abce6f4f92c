//! What the kernel says about a process: resident memory, CPU time, open-file limit.
//!
//! Read from `/proc/<pid>/status` and `/proc/<pid>/stat`, so the figures describe the real server
//! and agent processes from outside, the way an operator's `top` would.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

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
/// other work (builds, other benches) competed with a figure for the same cores.
pub struct Contention {
    watched: Vec<u32>,
    busy: Duration,
    cpu: Duration,
    wall: Instant,
}

impl Contention {
    /// Opens the window; `watched` are the figure's processes besides gsm-bench itself.
    pub fn start(watched: &[u32]) -> anyhow::Result<Self> {
        let mut all = watched.to_vec();
        all.push(std::process::id());
        let cpu = all.iter().map(|&pid| cpu_time(pid)).sum::<anyhow::Result<Duration>>()?;
        Ok(Self { busy: machine_busy()?, cpu, watched: all, wall: Instant::now() })
    }

    /// Percent of one core that processes other than the watched ones used since the start.
    pub fn others_percent(&self) -> anyhow::Result<f64> {
        let cpu =
            self.watched.iter().map(|&pid| cpu_time(pid)).sum::<anyhow::Result<Duration>>()?;
        let busy = machine_busy()?.saturating_sub(self.busy);
        let others = busy.saturating_sub(cpu.saturating_sub(self.cpu));
        Ok(others.as_secs_f64() / self.wall.elapsed().as_secs_f64() * 100.0)
    }

    /// A note for a figure's line: what else ran on the machine.
    pub fn note(&self) -> String {
        match self.others_percent() {
            Ok(percent) => format!("other processes used {percent:.0} % of one core meanwhile"),
            Err(err) => format!("other processes' CPU unknown: {err:#}"),
        }
    }
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
