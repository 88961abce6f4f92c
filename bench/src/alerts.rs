//! Alert figures (issue #6): how many events per second the rule engine evaluates against 1,000
//! rules on one core.
//!
//! The rules are a plausible fleet's: spread over ten kinds and 100 hosts, half pinned to a host,
//! some with a text regex, a player-count filter, a threshold or a cooldown. The events cycle
//! through the same hosts and kinds with advancing time, so rules raise, absorb repeats, resolve
//! and count windows as they would in production. Time is the events' own (`at_ms`).

use std::hint::black_box;
use std::time::Instant;

use anyhow::ensure;
use gsm_core::job::HostId;
use gsm_core::rules::{Engine, Event, Rule, RuleId, Severity, Threshold, default_resolving_kind};
use regex::Regex;
use uuid::Uuid;

const RULES: usize = 1_000;
const HOSTS: usize = 100;
const EVENTS: usize = 2_000_000;
const ROUNDS: usize = 5;
const TARGET_PER_SEC: f64 = 200_000.0;

const KINDS: [&str; 10] = [
    "host.offline",
    "host.stale",
    "host.online",
    "job.failed",
    "job.timed_out",
    "job.lost",
    "game.chat",
    "game.player_connected",
    "game.player_died",
    "game.server_stopping",
];

pub fn run() -> anyhow::Result<()> {
    let hosts: Vec<HostId> = (0..HOSTS).map(|_| HostId::new()).collect();
    let rules = rules(&hosts)?;
    let events = events(&hosts);
    let mut rates = Vec::with_capacity(ROUNDS);
    let mut raised = 0;
    for _ in 0..ROUNDS {
        let mut engine = Engine::new(rules.clone());
        let mut actions = Vec::new();
        let started = Instant::now();
        for event in &events {
            actions.clear();
            engine.evaluate_into(event, &mut actions);
            raised += black_box(&actions).len();
        }
        let elapsed = started.elapsed();
        rates.push(EVENTS as f64 / elapsed.as_secs_f64());
    }
    ensure!(raised > 0, "the rules should have raised something");
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    let verdict = if median >= TARGET_PER_SEC { "met" } else { "MISSED" };
    println!(
        "alerts: {RULES} rules over {HOSTS} hosts, {EVENTS} events, median of {ROUNDS} rounds"
    );
    println!(
        "  rule evaluation, one core          median {:>12.0} events/s  worst {:>12.0} events/s  \
         (target ≥ {TARGET_PER_SEC:.0}/s: {verdict})",
        median, rates[0]
    );
    println!("  {} actions per round", raised / ROUNDS);
    Ok(())
}

fn rules(hosts: &[HostId]) -> anyhow::Result<Vec<Rule>> {
    let chat = Regex::new(r"(?i)\b(admin|help|cheat(er|ing)?)\b")?;
    Ok((0..RULES)
        .map(|i| {
            let kind = KINDS[i % KINDS.len()];
            Rule {
                id: RuleId(Uuid::from_u128(i as u128 + 1)),
                kind: kind.to_owned(),
                host: (i % 2 == 0).then(|| hosts[i % hosts.len()]),
                game: None,
                text: (kind == "game.chat").then(|| chat.clone()),
                players_above: (kind == "game.player_connected").then_some(20),
                players_below: None,
                threshold: (kind == "job.failed")
                    .then_some(Threshold { count: 3, window_ms: 600_000 }),
                resolve_kind: default_resolving_kind(kind).map(str::to_owned),
                cooldown_ms: if i % 3 == 0 { 60_000 } else { 0 },
                severity: Severity::Warning,
                remediation: None,
            }
        })
        .collect())
}

fn events(hosts: &[HostId]) -> Vec<Event> {
    let texts = ["hello all", "can an admin help", "gg", "he is cheating"];
    (0..EVENTS)
        .map(|i| Event {
            kind: KINDS[(i * 7) % KINDS.len()].to_owned(),
            host: Some(hosts[(i * 13) % hosts.len()]),
            game: Some("main".to_owned()),
            text: texts[i % texts.len()].to_owned(),
            players: Some((i % 40) as u32),
            at_ms: 1_700_000_000_000 + (i as i64) * 5,
        })
        .collect()
}
