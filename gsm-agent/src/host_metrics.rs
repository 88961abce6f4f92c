//! What the agent reports about its host: [`facts`] once per connection (hello, enrollment), with
//! the policy's program rules ([`allowed_programs`] in the hello, [`enrollment_programs`] at
//! enrollment), and [`sample`] every heartbeat.
//!
//! Figures come straight from `/proc` and `statvfs`; a figure that cannot be read is left out
//! (`None`, or a disk missing from the list) rather than failing the heartbeat, because liveness
//! matters more than any one number. The parsers are plain functions over text so they are tested
//! without the machine's own `/proc`.

use std::collections::HashSet;
use std::path::Path;

use gsm_core::heartbeat::{Disk, LoadAvg, Memory};
use gsm_core::policy::{Policy, ProgramSummary};
use gsm_proto::agent::{HostFacts, MAX_ALLOWED_PROGRAMS, program_fits};

/// The agent's version, as it reports itself.
pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Facts about this host.
pub fn facts() -> HostFacts {
    let uname = rustix::system::uname();
    HostFacts {
        hostname: uname.nodename().to_string_lossy().into_owned(),
        os: std::env::consts::OS.to_owned(),
        arch: std::env::consts::ARCH.to_owned(),
        cpus: std::thread::available_parallelism()
            .ok()
            .and_then(|n| u32::try_from(n.get()).ok())
            .unwrap_or(0),
        memory_total_bytes: read_proc("meminfo")
            .and_then(|text| parse_meminfo(&text))
            .map_or(0, |memory| memory.total_bytes),
        agent_version: AGENT_VERSION.to_owned(),
        allowed_programs: Vec::new(),
    }
}

/// The program rules of the policy at `path`, for enrollment, where no policy is required yet: a
/// policy that is missing, untrusted or invalid reports none (and says so), since `gsm-agent run`
/// refuses to start without a good one and its hello reports the rules then.
pub fn enrollment_programs(path: &Path) -> Vec<ProgramSummary> {
    let loaded = crate::policy_file::verify(path)
        .map_err(|err| err.to_string())
        .and_then(|()| Policy::from_file(path).map_err(|err| err.to_string()));
    match loaded {
        Ok(policy) => allowed_programs(&policy),
        Err(reason) => {
            tracing::info!(
                policy = %path.display(),
                %reason,
                "no allowed programs reported at enrollment; `gsm-agent run` reports them"
            );
            Vec::new()
        }
    }
}

/// The policy's program rules as the hello reports them: rules too large for the wire's bounds
/// are left out (they are still allowed, just not offered), and at most
/// [`MAX_ALLOWED_PROGRAMS`] are kept, in file order.
pub fn allowed_programs(policy: &Policy) -> Vec<ProgramSummary> {
    let all = policy.programs();
    let total = all.len();
    let kept: Vec<ProgramSummary> =
        all.into_iter().filter(program_fits).take(MAX_ALLOWED_PROGRAMS).collect();
    if kept.len() < total {
        tracing::warn!(
            reported = kept.len(),
            rules = total,
            "some program rules are too large or too many to report to the server; they still apply"
        );
    }
    kept
}

/// The heartbeat's host figures at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Seconds since boot.
    pub uptime_secs: u64,
    /// Load averages.
    pub load: Option<LoadAvg>,
    /// Memory.
    pub memory: Option<Memory>,
    /// The file systems holding `/` and the watched paths, each once.
    pub disks: Vec<Disk>,
}

/// Reads the host figures now; `watched` are paths whose file systems are reported besides `/`.
pub fn sample(watched: &[&Path]) -> Sample {
    Sample {
        uptime_secs: read_proc("uptime").and_then(|text| parse_uptime(&text)).unwrap_or(0),
        load: read_proc("loadavg").and_then(|text| parse_loadavg(&text)),
        memory: read_proc("meminfo").and_then(|text| parse_meminfo(&text)),
        disks: disks(watched),
    }
}

fn read_proc(name: &str) -> Option<String> {
    std::fs::read_to_string(Path::new("/proc").join(name)).ok()
}

/// `/` and every watched path, one entry per file system (by its id), in that order.
fn disks(watched: &[&Path]) -> Vec<Disk> {
    let mut seen = HashSet::new();
    let mut disks = Vec::new();
    for path in std::iter::once(Path::new("/")).chain(watched.iter().copied()) {
        let Ok(stat) = rustix::fs::statvfs(path) else { continue };
        if !seen.insert(stat.f_fsid) {
            continue;
        }
        let total_bytes = stat.f_blocks.saturating_mul(stat.f_frsize);
        let available_bytes = stat.f_bavail.saturating_mul(stat.f_frsize).min(total_bytes);
        disks.push(Disk { mount: path.display().to_string(), total_bytes, available_bytes });
    }
    disks
}

/// `/proc/uptime`: "12345.67 54321.00" → 12345.
fn parse_uptime(text: &str) -> Option<u64> {
    let seconds: f64 = text.split_whitespace().next()?.parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then_some(seconds as u64)
}

/// `/proc/loadavg`: "0.52 0.58 0.59 1/467 12345".
fn parse_loadavg(text: &str) -> Option<LoadAvg> {
    let mut fields = text.split_whitespace().map(str::parse::<f64>);
    let load = LoadAvg {
        one: fields.next()?.ok()?,
        five: fields.next()?.ok()?,
        fifteen: fields.next()?.ok()?,
    };
    [load.one, load.five, load.fifteen].iter().all(|v| v.is_finite() && *v >= 0.0).then_some(load)
}

/// `/proc/meminfo`: the `MemTotal` and `MemAvailable` lines, in kB.
fn parse_meminfo(text: &str) -> Option<Memory> {
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find_map(|line| line.strip_prefix(name))?;
        let kb: u64 = line.trim_start_matches(':').split_whitespace().next()?.parse().ok()?;
        Some(kb.saturating_mul(1024))
    };
    let total_bytes = field("MemTotal")?;
    let available_bytes = field("MemAvailable").unwrap_or(0).min(total_bytes);
    Some(Memory { total_bytes, available_bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_parse_into_figures() {
        assert_eq!(parse_uptime("12345.67 54321.00\n"), Some(12345));
        assert_eq!(parse_uptime("garbage"), None);
        assert_eq!(
            parse_loadavg("0.52 0.58 0.59 1/467 12345\n"),
            Some(LoadAvg { one: 0.52, five: 0.58, fifteen: 0.59 })
        );
        assert_eq!(parse_loadavg("0.52 NaN 0.59"), None);
        let meminfo = "MemTotal:       16303428 kB\nMemFree:         1043852 kB\nMemAvailable:    9712064 kB\n";
        assert_eq!(
            parse_meminfo(meminfo),
            Some(Memory { total_bytes: 16303428 * 1024, available_bytes: 9712064 * 1024 })
        );
    }

    #[test]
    fn allowed_programs_are_the_policy_rules_that_fit_the_wire() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let long = "a".repeat(gsm_proto::agent::MAX_PROGRAM_TEXT_BYTES + 1);
        let policy = Policy::from_toml_str(&format!(
            r#"
            version = 1
            roots = ["{}"]

            [[program]]
            path = "/bin/echo"
            args = [{{ enum = ["start", "stop"] }}]

            [[program]]
            path = "/bin/true"
            args = [{{ regex = '{long}' }}]

            [[program]]
            path = "/bin/true"
            "#,
            root.display()
        ))
        .unwrap();
        let programs = allowed_programs(&policy);
        let paths: Vec<&str> = programs.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["/bin/echo", "/bin/true"], "the rule with the huge regex is left out");
        assert_eq!(
            programs[0].args,
            [gsm_core::policy::ArgSlot::OneOf { values: vec!["start".into(), "stop".into()] }]
        );
        assert!(programs[1].args.is_empty());
    }

    #[test]
    fn enrollment_reports_the_programs_of_a_policy_it_can_load_and_none_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let path = root.join("policy.toml");
        let text = format!(
            "version = 1\nroots = [\"{}\"]\n\n[[program]]\npath = \"/bin/echo\"\n",
            root.display()
        );
        std::fs::write(&path, &text).unwrap();
        let paths = |programs: Vec<ProgramSummary>| -> Vec<String> {
            programs.into_iter().map(|p| p.path).collect()
        };
        assert_eq!(paths(enrollment_programs(&path)), ["/bin/echo"]);
        assert!(enrollment_programs(&root.join("missing.toml")).is_empty());
        std::fs::write(&path, "version = 1\nroots = []\n").unwrap();
        assert!(enrollment_programs(&path).is_empty(), "an invalid policy reports none");
        std::fs::write(&path, &text).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .unwrap();
        assert!(enrollment_programs(&path).is_empty(), "an untrusted policy reports none");
    }

    #[test]
    fn facts_and_samples_describe_this_machine() {
        let facts = facts();
        assert!(!facts.hostname.is_empty());
        assert!(facts.cpus >= 1);
        let dir = tempfile::tempdir().unwrap();
        let sample = sample(&[dir.path(), dir.path()]);
        assert!(sample.disks.iter().any(|disk| disk.mount == "/"));
        let mounts: HashSet<_> = sample.disks.iter().map(|disk| disk.mount.clone()).collect();
        assert_eq!(mounts.len(), sample.disks.len(), "each file system is listed once");
    }
}
