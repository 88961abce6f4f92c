use std::collections::HashMap;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use uuid::Uuid;

use super::*;

use Presence::{Offline, Online, Stale};

fn host(n: u128) -> HostId {
    HostId(Uuid::from_u128(n))
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

fn tracker() -> PresenceTracker {
    PresenceTracker::new(PresenceConfig::default()).unwrap()
}

/// A tracker whose one host heartbeated at `base`.
fn heard_at(base: Instant) -> PresenceTracker {
    let mut t = tracker();
    t.heartbeat(host(1), base);
    t
}

fn moved(h: HostId, from: Presence, to: Presence, last_seen: Option<Instant>) -> Transition {
    Transition { host: h, from, to, last_seen }
}

#[test]
fn a_silent_host_goes_stale_after_two_missed_intervals_and_offline_after_three() {
    let base = Instant::now();
    let mut t = heard_at(base);
    assert_eq!(t.status(host(1)), Some(Online));

    assert_eq!(t.tick(base + secs(10)), vec![], "exactly on the deadline is still online");
    assert_eq!(t.tick(base + secs(10) + ms(1)), vec![moved(host(1), Online, Stale, Some(base))]);
    assert_eq!(t.tick(base + secs(15)), vec![]);
    assert_eq!(t.tick(base + secs(15) + ms(1)), vec![moved(host(1), Stale, Offline, Some(base))]);
    assert_eq!(t.status(host(1)), Some(Offline));
}

#[test]
fn each_change_is_reported_once_however_often_tick_runs() {
    let base = Instant::now();
    let mut t = heard_at(base);
    let mut all = Vec::new();
    for step in 0..100 {
        all.extend(t.tick(base + ms(step * 300)));
    }
    assert_eq!(
        all,
        vec![moved(host(1), Online, Stale, Some(base)), moved(host(1), Stale, Offline, Some(base)),]
    );
    assert_eq!(t.tick(base + secs(3600)), vec![]);
}

#[test]
fn a_long_pause_between_ticks_moves_straight_to_offline_in_one_transition() {
    let base = Instant::now();
    let mut t = heard_at(base);
    assert_eq!(t.tick(base + secs(60)), vec![moved(host(1), Online, Offline, Some(base))]);
}

#[test]
fn a_heartbeat_brings_an_offline_host_back_online_with_one_transition() {
    let base = Instant::now();
    let mut t = heard_at(base);
    t.tick(base + secs(60));
    let back = base + secs(61);
    assert_eq!(t.heartbeat(host(1), back), Some(moved(host(1), Offline, Online, Some(back))));
    assert_eq!(t.heartbeat(host(1), back + secs(5)), None);
    assert_eq!(t.tick(back + secs(6)), vec![]);
    assert_eq!(t.status(host(1)), Some(Online));
}

#[test]
fn a_heartbeat_brings_a_stale_host_back_online() {
    let base = Instant::now();
    let mut t = heard_at(base);
    t.tick(base + secs(12));
    assert_eq!(t.status(host(1)), Some(Stale));
    let back = base + secs(13);
    assert_eq!(t.heartbeat(host(1), back), Some(moved(host(1), Stale, Online, Some(back))));
}

#[test]
fn regular_heartbeats_keep_a_host_online_without_transitions() {
    let base = Instant::now();
    let mut t = heard_at(base);
    for beat in 1..100 {
        let now = base + secs(5 * beat);
        assert_eq!(t.heartbeat(host(1), now), None);
        assert_eq!(t.tick(now + secs(4)), vec![]);
    }
}

#[test]
fn a_registered_host_is_stale_until_heard_from_and_offline_only_after_the_start_grace() {
    let start = Instant::now();
    let mut t = tracker();
    assert!(t.register(host(1), start));
    assert!(t.register(host(2), start));
    assert_eq!(t.status(host(1)), Some(Stale));
    assert_eq!(t.last_seen(host(1)), None);
    assert_eq!(t.counts(), (0, 2, 0));

    // Past the ordinary offline threshold (15 s) but inside the grace (2 × 15 s): nothing moves.
    assert_eq!(t.tick(start + secs(20)), vec![]);
    let back = start + secs(21);
    assert_eq!(t.heartbeat(host(1), back), Some(moved(host(1), Stale, Online, Some(back))));
    assert_eq!(t.tick(start + secs(30)), vec![]);
    assert_eq!(t.tick(start + secs(30) + ms(1)), vec![moved(host(2), Stale, Offline, None)]);
    assert_eq!(t.counts(), (1, 0, 1));
}

#[test]
fn registering_a_known_host_changes_nothing() {
    let base = Instant::now();
    let mut t = heard_at(base);
    assert!(!t.register(host(1), base + secs(1)));
    assert_eq!(t.status(host(1)), Some(Online));
    assert_eq!(t.last_seen(host(1)), Some(base));
    assert_eq!(t.len(), 1);
}

#[test]
fn a_heartbeat_from_an_unknown_host_registers_it_online() {
    let base = Instant::now();
    let mut t = tracker();
    assert_eq!(t.heartbeat(host(7), base), Some(moved(host(7), Stale, Online, Some(base))));
    assert_eq!(t.len(), 1);
    assert_eq!(t.counts(), (1, 0, 0));
}

#[test]
fn a_removed_host_is_forgotten_and_the_others_keep_their_state() {
    let base = Instant::now();
    let mut t = tracker();
    for n in 1..=4 {
        t.heartbeat(host(n), base + secs(n as u64));
    }
    assert_eq!(t.remove(host(2)), Some(Online));
    assert_eq!(t.remove(host(2)), None);
    assert_eq!(t.status(host(2)), None);
    assert_eq!(t.len(), 3);
    assert_eq!(t.counts(), (3, 0, 0));
    // Host 4 moved into host 2's slot when it was removed; it must still be found.
    assert_eq!(t.last_seen(host(4)), Some(base + secs(4)));
    assert_eq!(t.heartbeat(host(4), base + secs(5)), None);

    let transitions = t.tick(base + secs(13));
    assert_eq!(transitions, vec![moved(host(1), Online, Stale, Some(base + secs(1)))]);
    assert_eq!(t.remove(host(1)), Some(Stale));
    assert_eq!(t.counts(), (2, 0, 0));
    let mut hosts: Vec<_> = t.iter().collect();
    hosts.sort_by_key(|(h, _)| *h);
    assert_eq!(hosts, vec![(host(3), Online), (host(4), Online)]);
}

#[test]
fn thresholds_follow_the_configuration() {
    let config =
        PresenceConfig { interval: secs(1), stale_after_missed: 3, offline_after_missed: 10 };
    let base = Instant::now();
    let mut t = PresenceTracker::new(config).unwrap();
    t.heartbeat(host(1), base);
    assert_eq!(t.tick(base + secs(3)), vec![]);
    assert_eq!(t.tick(base + ms(3001)).len(), 1);
    assert_eq!(t.status(host(1)), Some(Stale));
    assert_eq!(t.tick(base + secs(10)), vec![]);
    assert_eq!(t.tick(base + ms(10_001)).len(), 1);
    assert_eq!(t.status(host(1)), Some(Offline));

    assert!(t.register(host(2), base + secs(20)));
    assert_eq!(t.tick(base + secs(40)), vec![], "grace is 2 × 10 s");
    assert_eq!(t.tick(base + ms(40_001)).len(), 1);
    assert_eq!(t.status(host(2)), Some(Offline));
}

#[test]
fn default_config_matches_the_design_brief() {
    let config = PresenceConfig::default();
    assert_eq!(config.interval, secs(5));
    assert_eq!(config.stale_after(), Some(secs(10)));
    assert_eq!(config.offline_after(), Some(secs(15)));
    assert_eq!(config.start_grace(), Some(secs(30)));
    assert_eq!(config.validate(), Ok(()));
}

fn check(config: PresenceConfig, expected: &str) {
    let err = config.validate().unwrap_err();
    assert_eq!(err.to_string(), expected);
    assert_eq!(PresenceTracker::new(config).unwrap_err(), err);
}

#[test]
fn configs_that_cannot_work_are_refused_with_a_reason() {
    let base = PresenceConfig::default();
    check(
        PresenceConfig { interval: Duration::ZERO, ..base },
        "presence interval is 0; expected a positive duration such as 5s",
    );
    check(
        PresenceConfig { stale_after_missed: 0, ..base },
        "presence stale_after_missed is 0; expected at least 1 missed heartbeat",
    );
    check(
        PresenceConfig { stale_after_missed: 3, offline_after_missed: 3, ..base },
        "presence offline_after_missed (3) must be greater than stale_after_missed (3)",
    );
    check(
        PresenceConfig { stale_after_missed: 4, offline_after_missed: 2, ..base },
        "presence offline_after_missed (2) must be greater than stale_after_missed (4)",
    );
    check(
        PresenceConfig { interval: Duration::MAX, ..base },
        "presence thresholds overflow: 3 × 18446744073709551615.999999999s (× 2 for the start \
         grace) is too long",
    );
}

#[test]
fn a_heartbeat_with_an_older_timestamp_does_not_move_last_seen_back() {
    let base = Instant::now();
    let mut t = heard_at(base + secs(20));
    assert_eq!(t.heartbeat(host(1), base + secs(5)), None);
    assert_eq!(t.last_seen(host(1)), Some(base + secs(20)));
    // Measured from the latest heartbeat (20 s), 29 s is still online.
    assert_eq!(t.tick(base + secs(29)), vec![]);
    assert_eq!(t.tick(base + secs(31)).len(), 1);
}

#[test]
fn a_tick_with_an_older_now_does_not_move_time_back() {
    let base = Instant::now();
    let mut t = heard_at(base);
    assert_eq!(t.tick(base + secs(12)).len(), 1);
    // An earlier `now` is read as the latest time seen, so nothing changes back or twice.
    assert_eq!(t.tick(base + secs(1)), vec![]);
    assert_eq!(t.status(host(1)), Some(Stale));
    // A heartbeat stamped before the tick's time is measured against that later time.
    assert_eq!(t.heartbeat(host(1), base + secs(1)), None);
    assert_eq!(t.status(host(1)), Some(Stale));
    assert_eq!(t.last_seen(host(1)), Some(base + secs(1)));
}

#[test]
fn a_late_stamped_heartbeat_for_an_offline_host_counts_only_if_recent_enough() {
    let base = Instant::now();
    let mut t = heard_at(base);
    t.tick(base + secs(100));
    assert_eq!(t.status(host(1)), Some(Offline));
    // Stamped 8 s before the latest time seen: within the stale threshold, so online.
    assert_eq!(
        t.heartbeat(host(1), base + secs(92)),
        Some(moved(host(1), Offline, Online, Some(base + secs(92))))
    );
}

#[test]
fn counts_follow_every_change() {
    let base = Instant::now();
    let mut t = tracker();
    for n in 0..10 {
        t.heartbeat(host(n), base);
    }
    t.register(host(100), base);
    assert_eq!(t.counts(), (10, 1, 0));
    for n in 0..3 {
        t.heartbeat(host(n), base + secs(9));
    }
    t.tick(base + secs(12));
    assert_eq!(t.counts(), (3, 8, 0));
    t.tick(base + secs(31));
    assert_eq!(t.counts(), (0, 0, 11));
}

#[derive(Debug, Clone)]
enum Op {
    Heartbeat { host: u8, at_ms: u64 },
    Register { host: u8, at_ms: u64 },
    Remove { host: u8 },
    Tick { at_ms: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    // Times within a minute, so every status is reachable; out of order on purpose.
    let host = 0u8..5;
    let at = 0u64..60_000;
    prop_oneof![
        4 => (host.clone(), at.clone()).prop_map(|(host, at_ms)| Op::Heartbeat { host, at_ms }),
        1 => (host.clone(), at.clone()).prop_map(|(host, at_ms)| Op::Register { host, at_ms }),
        1 => host.prop_map(|host| Op::Remove { host }),
        4 => at.prop_map(|at_ms| Op::Tick { at_ms }),
    ]
}

/// Checks that `tr` starts where the host's previous transition ended, and records where it ends.
fn follow(current: &mut HashMap<HostId, Presence>, tr: Transition) -> Result<(), TestCaseError> {
    let from = current.get(&tr.host).copied();
    prop_assert_eq!(from, Some(tr.from), "transition {:?} does not chain", tr);
    prop_assert_ne!(tr.from, tr.to);
    current.insert(tr.host, tr.to);
    Ok(())
}

proptest! {
    #[test]
    fn each_hosts_transitions_form_a_chain_that_never_repeats_a_state(
        ops in prop::collection::vec(op(), 1..200),
    ) {
        let base = Instant::now();
        let mut t = tracker();
        // What the transitions seen so far say each tracked host's status is.
        let mut current: HashMap<HostId, Presence> = HashMap::new();
        for op in ops {
            match op {
                Op::Heartbeat { host: n, at_ms } => {
                    current.entry(host(n.into())).or_insert(Stale);
                    if let Some(tr) = t.heartbeat(host(n.into()), base + ms(at_ms)) {
                        follow(&mut current, tr)?;
                    }
                }
                Op::Register { host: n, at_ms } => {
                    let new = t.register(host(n.into()), base + ms(at_ms));
                    prop_assert_eq!(new, !current.contains_key(&host(n.into())));
                    current.entry(host(n.into())).or_insert(Stale);
                }
                Op::Remove { host: n } => {
                    prop_assert_eq!(t.remove(host(n.into())), current.remove(&host(n.into())));
                }
                Op::Tick { at_ms } => {
                    for tr in t.tick(base + ms(at_ms)) {
                        follow(&mut current, tr)?;
                    }
                }
            }
            for (&h, &status) in &current {
                prop_assert_eq!(t.status(h), Some(status));
            }
            let tally = |p| current.values().filter(|&&s| s == p).count();
            prop_assert_eq!(t.counts(), (tally(Online), tally(Stale), tally(Offline)));
            prop_assert_eq!(t.len(), current.len());
        }
    }
}
