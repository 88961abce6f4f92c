use uuid::Uuid;

use super::*;

fn host(n: u128) -> HostId {
    HostId(Uuid::from_u128(n))
}

fn rule_id(n: u128) -> RuleId {
    RuleId(Uuid::from_u128(n))
}

/// A rule matching `kind` for any host, no threshold, no cooldown, the default resolving kind.
fn rule(n: u128, kind: &str) -> Rule {
    Rule {
        id: rule_id(n),
        kind: kind.to_owned(),
        host: None,
        game: None,
        text: None,
        players_above: None,
        players_below: None,
        threshold: None,
        resolve_kind: default_resolving_kind(kind).map(str::to_owned),
        cooldown_ms: 0,
        severity: Severity::Warning,
        remediation: None,
    }
}

fn event(kind: &str, h: u128, at_ms: i64) -> Event {
    Event {
        kind: kind.to_owned(),
        host: Some(host(h)),
        game: None,
        text: String::new(),
        players: None,
        at_ms,
    }
}

fn subject(h: u128) -> Subject {
    Subject { host: Some(host(h)), game: None }
}

/// A compact rendering of actions: `raise r1` / `resolve r1` / `remediate r1 restart` /
/// `limited r1`.
fn names(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .map(|a| match a {
            Action::Raise { rule, open, .. } => {
                format!("raise {}{}", rule.0.as_u128(), if *open { "" } else { " once" })
            }
            Action::Resolve { rule, .. } => format!("resolve {}", rule.0.as_u128()),
            Action::Remediate { rule, action, .. } => {
                format!("remediate {} {action}", rule.0.as_u128())
            }
            Action::RemediationLimited { rule, .. } => format!("limited {}", rule.0.as_u128()),
        })
        .collect()
}

/// Feeds `events` in order and returns each event's actions, rendered.
fn run(engine: &mut Engine, events: &[Event]) -> Vec<Vec<String>> {
    events.iter().map(|e| names(&engine.evaluate(e))).collect()
}

fn none() -> Vec<String> {
    Vec::new()
}

fn one(s: &str) -> Vec<String> {
    vec![s.to_owned()]
}

#[test]
fn host_offline_raises_once_and_online_resolves_it() {
    let mut engine = Engine::new(vec![rule(1, kinds::HOST_OFFLINE)]);
    let got = run(
        &mut engine,
        &[
            event(kinds::HOST_OFFLINE, 7, 1_000),
            event(kinds::HOST_OFFLINE, 7, 2_000),
            event(kinds::HOST_ONLINE, 7, 3_000),
            event(kinds::HOST_ONLINE, 7, 4_000),
        ],
    );
    assert_eq!(got, vec![one("raise 1"), none(), one("resolve 1"), none()]);
    assert!(!engine.is_open(rule_id(1), &subject(7)));
}

#[test]
fn alerts_are_per_host() {
    let mut engine = Engine::new(vec![rule(1, kinds::HOST_OFFLINE)]);
    let got = run(
        &mut engine,
        &[
            event(kinds::HOST_OFFLINE, 1, 0),
            event(kinds::HOST_OFFLINE, 2, 0),
            event(kinds::HOST_ONLINE, 1, 10),
        ],
    );
    assert_eq!(got, vec![one("raise 1"), one("raise 1"), one("resolve 1")]);
    assert!(engine.is_open(rule_id(1), &subject(2)));
}

#[test]
fn a_flapping_host_raises_at_most_once_per_cooldown() {
    let mut r = rule(1, kinds::HOST_OFFLINE);
    r.cooldown_ms = 60_000;
    let mut engine = Engine::new(vec![r]);
    let mut raises = 0;
    let mut resolves = 0;
    // Offline and back every 5 s for 50 s: one raise, one resolve.
    for i in 0..10 {
        for a in engine.evaluate(&event(kinds::HOST_OFFLINE, 1, i * 5_000)) {
            raises += usize::from(matches!(a, Action::Raise { .. }));
        }
        for a in engine.evaluate(&event(kinds::HOST_ONLINE, 1, i * 5_000 + 2_500)) {
            resolves += usize::from(matches!(a, Action::Resolve { .. }));
        }
    }
    assert_eq!((raises, resolves), (1, 1));
    // Past the cooldown, a new outage raises again.
    let got = names(&engine.evaluate(&event(kinds::HOST_OFFLINE, 1, 61_000)));
    assert_eq!(got, one("raise 1"));
}

#[test]
fn threshold_fires_on_the_countth_event_within_the_window() {
    let mut r = rule(1, kinds::JOB_FAILED);
    r.threshold = Some(Threshold { count: 3, window_ms: 600_000 });
    let mut engine = Engine::new(vec![r]);
    let got = run(
        &mut engine,
        &[
            event(kinds::JOB_FAILED, 1, 0),
            event(kinds::JOB_FAILED, 1, 100_000),
            // The first failure left the window (10 min) before the third came.
            event(kinds::JOB_FAILED, 1, 600_000),
            event(kinds::JOB_FAILED, 1, 650_000),
            // The window was emptied by the raise: three more are needed.
            event(kinds::JOB_FAILED, 1, 660_000),
        ],
    );
    assert_eq!(got, vec![none(), none(), none(), one("raise 1 once"), none()]);
}

#[test]
fn one_shot_alerts_repeat_only_after_the_cooldown() {
    let mut r = rule(1, kinds::JOB_LOST);
    r.cooldown_ms = 1_000;
    let mut engine = Engine::new(vec![r]);
    let got = run(
        &mut engine,
        &[
            event(kinds::JOB_LOST, 1, 0),
            event(kinds::JOB_LOST, 1, 999),
            event(kinds::JOB_LOST, 1, 1_000),
        ],
    );
    assert_eq!(got, vec![one("raise 1 once"), none(), one("raise 1 once")]);
}

#[test]
fn filters_are_checked() {
    fn check(configure: impl Fn(&mut Rule), e: Event, expect: bool) {
        let mut r = rule(1, "game.chat");
        configure(&mut r);
        let fired = !Engine::new(vec![r]).evaluate(&e).is_empty();
        assert_eq!(fired, expect, "{e:?}");
    }
    let chat = |text: &str, players: Option<u32>, game: Option<&str>| Event {
        kind: "game.chat".to_owned(),
        host: Some(host(1)),
        game: game.map(str::to_owned),
        text: text.to_owned(),
        players,
        at_ms: 0,
    };
    let re = |r: &mut Rule| r.text = Some(Regex::new("(?i)admin").unwrap());
    check(re, chat("call an ADMIN", None, None), true);
    check(re, chat("hello", None, None), false);
    let above = |r: &mut Rule| r.players_above = Some(10);
    check(above, chat("", Some(11), None), true);
    check(above, chat("", Some(10), None), false);
    check(above, chat("", None, None), false);
    let below = |r: &mut Rule| r.players_below = Some(1);
    check(below, chat("", Some(0), None), true);
    check(below, chat("", Some(1), None), false);
    let game = |r: &mut Rule| r.game = Some("eu-1".to_owned());
    check(game, chat("", None, Some("eu-1")), true);
    check(game, chat("", None, Some("eu-2")), false);
    check(game, chat("", None, None), false);
    let pinned = |r: &mut Rule| r.host = Some(host(1));
    check(pinned, chat("", None, None), true);
    let other = |r: &mut Rule| r.host = Some(host(2));
    check(other, chat("", None, None), false);
    check(|_| {}, Event { kind: "game.death".to_owned(), ..chat("", None, None) }, false);
}

#[test]
fn a_host_pinned_rule_resolves_only_its_host() {
    let mut r = rule(1, kinds::HOST_OFFLINE);
    r.host = Some(host(1));
    let mut engine = Engine::new(vec![r]);
    let got = run(
        &mut engine,
        &[
            event(kinds::HOST_OFFLINE, 2, 0),
            event(kinds::HOST_OFFLINE, 1, 0),
            event(kinds::HOST_ONLINE, 2, 1),
            event(kinds::HOST_ONLINE, 1, 2),
        ],
    );
    assert_eq!(got, vec![none(), one("raise 1"), none(), one("resolve 1")]);
}

#[test]
fn remediation_is_limited_so_a_crash_loop_is_not_a_restart_loop() {
    let mut r = rule(1, "game.server_stopping");
    r.remediation =
        Some(Remediation { action: "restart".to_owned(), max_runs: 2, per_ms: 3_600_000 });
    let mut engine = Engine::new(vec![r]);
    let mut got = Vec::new();
    for i in 0..4 {
        let at = i * 60_000;
        let mut stop = event("game.server_stopping", 1, at);
        stop.game = Some("eu-1".to_owned());
        got.push(names(&engine.evaluate(&stop)));
        let mut start = event("game.server_started", 1, at + 30_000);
        start.game = Some("eu-1".to_owned());
        got.push(names(&engine.evaluate(&start)));
    }
    let raise_and = |second: &str| vec!["raise 1".to_owned(), second.to_owned()];
    assert_eq!(
        got,
        vec![
            raise_and("remediate 1 restart"),
            one("resolve 1"),
            raise_and("remediate 1 restart"),
            one("resolve 1"),
            raise_and("limited 1"),
            one("resolve 1"),
            raise_and("limited 1"),
            one("resolve 1"),
        ]
    );
    // An hour after the first run, one run is allowed again.
    let mut stop = event("game.server_stopping", 1, 3_600_000);
    stop.game = Some("eu-1".to_owned());
    assert_eq!(names(&engine.evaluate(&stop)), raise_and("remediate 1 restart"));
}

#[test]
fn restored_open_alerts_are_not_raised_again_and_resolve() {
    let mut engine = Engine::new(vec![rule(1, kinds::HOST_OFFLINE)]);
    engine.restore_open(rule_id(1), subject(3), 0);
    let got =
        run(&mut engine, &[event(kinds::HOST_OFFLINE, 3, 10), event(kinds::HOST_ONLINE, 3, 20)]);
    assert_eq!(got, vec![none(), one("resolve 1")]);
}

#[test]
fn replacing_rules_keeps_memory_of_rules_that_remain() {
    let mut engine = Engine::new(vec![rule(1, kinds::HOST_OFFLINE), rule(2, kinds::HOST_STALE)]);
    engine.evaluate(&event(kinds::HOST_OFFLINE, 1, 0));
    engine.evaluate(&event(kinds::HOST_STALE, 1, 0));
    engine.set_rules(vec![rule(1, kinds::HOST_OFFLINE)]);
    assert!(engine.is_open(rule_id(1), &subject(1)));
    assert!(!engine.is_open(rule_id(2), &subject(1)));
    assert_eq!(names(&engine.evaluate(&event(kinds::HOST_ONLINE, 1, 5))), one("resolve 1"));
}

#[test]
fn prune_forgets_only_what_cannot_matter() {
    let mut one_shot = rule(1, kinds::JOB_FAILED);
    one_shot.cooldown_ms = 100;
    let mut engine = Engine::new(vec![one_shot, rule(2, kinds::HOST_OFFLINE)]);
    engine.evaluate(&event(kinds::JOB_FAILED, 1, 0));
    engine.evaluate(&event(kinds::HOST_OFFLINE, 1, 0));
    assert_eq!(engine.remembered(), 2);
    engine.prune(50);
    assert_eq!(engine.remembered(), 2, "cooldown still running");
    engine.prune(100);
    assert_eq!(engine.remembered(), 1, "the open alert stays");
    assert!(engine.is_open(rule_id(2), &subject(1)));
}

#[test]
fn validation_names_what_is_wrong() {
    fn check(configure: impl Fn(&mut Rule), expect: Result<(), RuleError>) {
        let mut r = rule(1, kinds::JOB_FAILED);
        configure(&mut r);
        assert_eq!(r.validate(), expect);
    }
    check(|_| {}, Ok(()));
    check(|r| r.kind = "game.player_connected".to_owned(), Ok(()));
    check(
        |r| r.kind = "host.exploded".to_owned(),
        Err(RuleError::UnknownKind { kind: "host.exploded".to_owned() }),
    );
    check(
        |r| r.kind = "game.Bad Kind".to_owned(),
        Err(RuleError::UnknownKind { kind: "game.Bad Kind".to_owned() }),
    );
    check(
        |r| r.resolve_kind = Some("game.".to_owned()),
        Err(RuleError::UnknownKind { kind: "game.".to_owned() }),
    );
    check(
        |r| r.threshold = Some(Threshold { count: 0, window_ms: 10 }),
        Err(RuleError::EmptyThreshold),
    );
    check(
        |r| r.threshold = Some(Threshold { count: 1, window_ms: 0 }),
        Err(RuleError::EmptyThreshold),
    );
    check(|r| r.cooldown_ms = -1, Err(RuleError::NegativeCooldown));
    check(
        |r| {
            r.players_above = Some(3);
            r.players_below = Some(4);
        },
        Err(RuleError::EmptyPlayerRange { above: 3, below: 4 }),
    );
    check(
        |r| {
            r.players_above = Some(3);
            r.players_below = Some(5);
        },
        Ok(()),
    );
    check(
        |r| {
            r.remediation =
                Some(Remediation { action: "restart".to_owned(), max_runs: 0, per_ms: 1 });
        },
        Err(RuleError::EmptyRemediationLimit),
    );
}

#[test]
fn every_server_kind_is_known() {
    for kind in kinds::SERVER {
        assert!(is_known_kind(kind), "{kind}");
    }
    assert_eq!(default_resolving_kind(kinds::HOST_OFFLINE), Some(kinds::HOST_ONLINE));
    assert_eq!(default_resolving_kind(kinds::JOB_FAILED), None);
}

#[test]
fn a_host_that_flaps_then_stays_down_is_raised_when_the_cooldown_ends() {
    let mut r = rule(1, kinds::HOST_OFFLINE);
    r.cooldown_ms = 60_000;
    let mut engine = Engine::new(vec![r]);
    let got = run(
        &mut engine,
        &[
            event(kinds::HOST_OFFLINE, 1, 0),
            event(kinds::HOST_ONLINE, 1, 1_000),
            // Down again within the cooldown, and it stays down.
            event(kinds::HOST_OFFLINE, 1, 2_000),
        ],
    );
    assert_eq!(got, vec![one("raise 1"), one("resolve 1"), none()]);
    assert_eq!(names(&engine.tick(59_999)), none());
    assert_eq!(names(&engine.tick(60_000)), one("raise 1"));
    assert_eq!(names(&engine.tick(120_000)), none());
    assert!(engine.is_open(rule_id(1), &subject(1)));
}

#[test]
fn a_condition_that_clears_within_the_cooldown_is_not_raised_later() {
    let mut r = rule(1, kinds::HOST_OFFLINE);
    r.cooldown_ms = 60_000;
    let mut engine = Engine::new(vec![r]);
    run(
        &mut engine,
        &[
            event(kinds::HOST_OFFLINE, 1, 0),
            event(kinds::HOST_ONLINE, 1, 1_000),
            event(kinds::HOST_OFFLINE, 1, 2_000),
            event(kinds::HOST_ONLINE, 1, 3_000),
        ],
    );
    assert_eq!(names(&engine.tick(60_000)), none());
}
