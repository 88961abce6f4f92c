//! Presence figures (issue #2): how long the tracker takes to take in 100,000 hosts and to
//! evaluate them all in one `tick`, the median of several rounds on fresh trackers.
//!
//! Time is injected as in production (`base + offset`), so each tick does exactly the work named:
//! nothing changes, or every host goes stale at once.

use std::hint::black_box;
use std::time::{Duration, Instant};

use anyhow::ensure;
use gsm_core::job::HostId;
use gsm_core::presence::{PresenceConfig, PresenceTracker};

const HOSTS: usize = 100_000;
const ROUNDS: usize = 20;
const TICK_TARGET: Duration = Duration::from_millis(20);

#[derive(Default)]
struct Samples {
    intake: Vec<Duration>,
    quiet_tick: Vec<Duration>,
    stale_tick: Vec<Duration>,
    offline_tick: Vec<Duration>,
}

pub fn run() -> anyhow::Result<()> {
    let config = PresenceConfig::default();
    let hosts: Vec<HostId> = (0..HOSTS).map(|_| HostId::new()).collect();
    let mut samples = Samples::default();
    for _ in 0..ROUNDS {
        round(config, &hosts, &mut samples)?;
    }

    println!("presence: {HOSTS} hosts, median of {ROUNDS} rounds");
    print_figure("register + heartbeat every host", &mut samples.intake, None);
    print_figure("tick, nothing changes", &mut samples.quiet_tick, Some(TICK_TARGET));
    print_figure("tick, every host goes stale", &mut samples.stale_tick, Some(TICK_TARGET));
    print_figure("tick, every host goes offline", &mut samples.offline_tick, Some(TICK_TARGET));
    Ok(())
}

fn round(config: PresenceConfig, hosts: &[HostId], samples: &mut Samples) -> anyhow::Result<()> {
    let base = Instant::now();
    let heard = base + Duration::from_secs(1);
    let mut tracker = PresenceTracker::new(config)?;

    let started = Instant::now();
    for &host in hosts {
        tracker.register(host, base);
    }
    for &host in hosts {
        black_box(tracker.heartbeat(host, heard));
    }
    samples.intake.push(started.elapsed());
    ensure!(tracker.counts() == (HOSTS, 0, 0), "every host should be online");

    let quiet = timed_tick(&mut tracker, heard + Duration::from_secs(2), &mut samples.quiet_tick);
    ensure!(quiet == 0, "nothing should change {quiet} hosts");

    let stale = timed_tick(&mut tracker, heard + Duration::from_secs(11), &mut samples.stale_tick);
    ensure!(stale == HOSTS, "every host should go stale, {stale} did");

    let offline =
        timed_tick(&mut tracker, heard + Duration::from_secs(16), &mut samples.offline_tick);
    ensure!(offline == HOSTS, "every host should go offline, {offline} did");
    Ok(())
}

/// Runs one tick at `now`, records how long it took and returns how many transitions it made.
fn timed_tick(tracker: &mut PresenceTracker, now: Instant, into: &mut Vec<Duration>) -> usize {
    let started = Instant::now();
    let transitions = tracker.tick(now);
    into.push(started.elapsed());
    black_box(transitions).len()
}

fn print_figure(what: &str, samples: &mut [Duration], target: Option<Duration>) {
    samples.sort_unstable();
    let median = samples[samples.len() / 2];
    let worst = samples[samples.len() - 1];
    let verdict = match target {
        Some(target) if median <= target => format!("target ≤ {} ms: met", target.as_millis()),
        Some(target) => format!("target ≤ {} ms: MISSED", target.as_millis()),
        None => "no target".to_owned(),
    };
    println!(
        "  {what:<34} median {:>8.3} ms  worst {:>8.3} ms  ({verdict})",
        ms(median),
        ms(worst)
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
