//! Is the game server alive? A pure verdict from what the agent observed: whether the process
//! still runs, when the console last said anything, and whether a stop was asked for.
//!
//! Time is a parameter (`now`), never read here. A connected 7DTD console is never quiet for
//! long: the server logs a `Time:` stats line every 30 s while a client is connected, and the
//! client's own keepalive commands (`gettime`) get answers. So silence well past that — the
//! suggested threshold is [`DEFAULT_SILENCE_THRESHOLD`] — means a hung main thread or a half-open
//! TCP connection (7DTD has no idle timeout, so a dead peer is otherwise never noticed).

use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Console silence after which a running server counts as unresponsive: three missed `Time:`
/// lines.
pub const DEFAULT_SILENCE_THRESHOLD: Duration = Duration::from_secs(90);

/// What the agent knows about the game server's process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    /// The process is running.
    Running,
    /// The process is gone (exited or killed).
    Gone,
    /// The agent does not manage the process (the server runs elsewhere, or under another
    /// supervisor): only the console can tell.
    Unknown,
}

/// One observation to judge.
#[derive(Debug, Clone, Copy)]
pub struct Observation {
    /// The process, as far as the agent knows.
    pub process: Process,
    /// When the console last sent anything; `None` if it never has.
    pub last_output: Option<Instant>,
    /// When watching began (the adapter was started): silence is measured from here when the
    /// console has said nothing yet.
    pub watching_since: Instant,
    /// A stop was asked for or announced (`shutdown` sent, or `[NET] ServerShutdown` seen), so
    /// the process going away is expected.
    pub stop_expected: bool,
}

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Health {
    /// Running and talking.
    Up,
    /// The process runs (or cannot be seen) but the console has been silent too long.
    Unresponsive {
        /// How long the console has been silent, in whole seconds.
        silent_s: u64,
    },
    /// The process is gone and nobody asked it to stop.
    Crashed,
    /// The process is gone after a stop was asked for or announced.
    Stopped,
}

/// Judges one observation against `threshold` at `now`. Silence exactly at the threshold is
/// still `Up`: the verdict flips only once it is exceeded.
pub fn assess(observation: &Observation, threshold: Duration, now: Instant) -> Health {
    match observation.process {
        Process::Gone if observation.stop_expected => return Health::Stopped,
        Process::Gone => return Health::Crashed,
        Process::Running | Process::Unknown => {}
    }
    let since = observation
        .last_output
        .map_or(observation.watching_since, |last| last.max(observation.watching_since));
    let silent = now.saturating_duration_since(since);
    if silent > threshold {
        Health::Unresponsive { silent_s: silent.as_secs() }
    } else {
        Health::Up
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const THRESHOLD: Duration = Duration::from_secs(90);

    fn check(observation: Observation, now_after_start: u64, expected: Health) {
        let now = observation.watching_since + Duration::from_secs(now_after_start);
        assert_eq!(assess(&observation, THRESHOLD, now), expected, "{observation:?}");
    }

    fn observed(
        process: Process,
        last_output_after_start: Option<u64>,
        stop_expected: bool,
    ) -> Observation {
        let start = Instant::now();
        Observation {
            process,
            last_output: last_output_after_start.map(|s| start + Duration::from_secs(s)),
            watching_since: start,
            stop_expected,
        }
    }

    #[test]
    fn a_talking_server_is_up_until_silence_exceeds_the_threshold() {
        check(observed(Process::Running, Some(10), false), 100, Health::Up);
        check(
            observed(Process::Running, Some(10), false),
            101,
            Health::Unresponsive { silent_s: 91 },
        );
        check(
            observed(Process::Unknown, Some(0), false),
            500,
            Health::Unresponsive { silent_s: 500 },
        );
    }

    #[test]
    fn a_console_that_never_spoke_is_measured_from_the_start_of_watching() {
        check(observed(Process::Running, None, false), 90, Health::Up);
        check(observed(Process::Running, None, false), 91, Health::Unresponsive { silent_s: 91 });
    }

    #[test]
    fn a_vanished_process_is_a_crash_unless_a_stop_was_expected() {
        check(observed(Process::Gone, Some(89), false), 90, Health::Crashed);
        check(observed(Process::Gone, Some(89), true), 90, Health::Stopped);
        check(
            observed(Process::Running, Some(0), true),
            200,
            Health::Unresponsive { silent_s: 200 },
        );
    }

    #[test]
    fn a_clock_reading_before_the_last_output_counts_as_no_silence() {
        let observation = observed(Process::Running, Some(50), false);
        assert_eq!(assess(&observation, THRESHOLD, observation.watching_since), Health::Up);
    }
}
