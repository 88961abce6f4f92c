//! The alert service: the event bus, the task that runs the rule engine over it, and the task
//! that works the delivery outbox.
//!
//! Events come from presence changes, job ends and game events through [`AlertBus::emit`], a
//! bounded queue that never blocks the caller (a full queue drops the event and counts it). One
//! task owns one [`Engine`] per org, so a rule only ever sees its org's events; it persists each
//! decision (the alert and its outbox rows in one transaction) before it looks at the next event.
//! Another task claims due outbox rows and delivers them: in-app rows become notifications (and
//! are published to the org's live streams, like each raise and resolve), Discord rows are posted with redirects disabled to an
//! address checked against the allow-list after resolution.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gsm_core::job::HostId;
use gsm_core::rules::{Action, Engine, Event, Remediation, Rule, RuleId, Subject, Threshold};
use gsm_proto::rest::AlertRuleSpec;
use jiff::Timestamp;
use regex::RegexBuilder;
use tokio::sync::{Notify, mpsc};
use uuid::Uuid;

use crate::alerts::discord::{self, Answer, Embed};
use crate::alerts::remediation::{self, RemediationJob};
use crate::alerts::webhook_url::AllowList;
use crate::app::AppState;
use crate::store::alerts::{AlertChange, Delivery, DeliveryOutcome, NewAlert};
use crate::store::{OrgId, StoreResult};

/// Events waiting for the rule engine at most; more are dropped and counted.
const QUEUE: usize = 16_384;
/// Longest regex source a rule may hold.
pub const MAX_REGEX_LEN: usize = 1024;
/// How long a claimed delivery is hidden from other claims.
const LEASE_MS: i64 = 60_000;
/// Deliveries claimed per round.
const CLAIM_BATCH: u32 = 32;
/// Attempts after which a delivery that keeps failing transiently is given up.
const MAX_ATTEMPTS: u32 = 20;

/// An event of an org.
#[derive(Debug, Clone)]
pub struct OrgEvent {
    /// The org whose rules see it.
    pub org: OrgId,
    /// The event.
    pub event: Event,
}

/// The bus between event sources and the rule engine, and the wake-ups of the two tasks.
pub struct AlertBus {
    tx: mpsc::Sender<OrgEvent>,
    rx: Mutex<Option<mpsc::Receiver<OrgEvent>>>,
    /// Rules changed: the engine reloads them.
    pub rules_changed: Notify,
    /// Deliveries were queued: the outbox worker looks at once.
    pub outbox: Notify,
    /// Each connected host's org (presence knows hosts only).
    hosts: Mutex<HashMap<HostId, OrgId>>,
    /// Events dropped because the queue was full.
    pub dropped: AtomicU64,
}

impl Default for AlertBus {
    fn default() -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        Self {
            tx,
            rx: Mutex::new(Some(rx)),
            rules_changed: Notify::new(),
            outbox: Notify::new(),
            hosts: Mutex::new(HashMap::new()),
            dropped: AtomicU64::new(0),
        }
    }
}

impl AlertBus {
    /// Queues an event for the org's rules; never waits.
    pub fn emit(&self, org: OrgId, event: Event) {
        if self.tx.try_send(OrgEvent { org, event }).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(org.id = %org, "alert event queue full; event dropped");
        }
    }

    /// Remembers a connected host's org, so its presence changes reach its org's rules.
    pub fn know_host(&self, host: HostId, org: OrgId) {
        self.hosts.lock().unwrap_or_else(|p| p.into_inner()).insert(host, org);
    }

    /// The org of a host connected to this process since it started.
    pub fn org_of(&self, host: HostId) -> Option<OrgId> {
        self.hosts.lock().unwrap_or_else(|p| p.into_inner()).get(&host).copied()
    }

    /// Forgets a deleted host.
    pub fn forget_host(&self, host: HostId) {
        self.hosts.lock().unwrap_or_else(|p| p.into_inner()).remove(&host);
    }

    /// Queues a host event (`host.online`, …) for the host's org, if the host is known.
    pub fn emit_host(&self, host: HostId, kind: &str, at: Timestamp) {
        let event = Event {
            kind: kind.to_owned(),
            host: Some(host),
            game: None,
            text: String::new(),
            players: None,
            at_ms: at.as_millisecond(),
        };
        self.emit_for_host(host, event);
    }

    /// Queues an event of a connected host for the host's org, if the host is known.
    pub fn emit_for_host(&self, host: HostId, event: Event) {
        if let Some(org) = self.org_of(host) {
            self.emit(org, event);
        }
    }

    fn take_receiver(&self) -> Option<mpsc::Receiver<OrgEvent>> {
        self.rx.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// What is wrong with a rule's spec: the field (a dotted path into the spec) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecProblem {
    /// The field, e.g. `threshold` or `text`.
    pub field: &'static str,
    /// What is wrong, for people.
    pub message: String,
}

impl std::fmt::Display for SpecProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The spec field a rule error is about.
fn problem_field(error: &gsm_core::rules::RuleError) -> &'static str {
    use gsm_core::rules::RuleError;
    match error {
        RuleError::UnknownKind { .. } => "kind",
        RuleError::EmptyThreshold => "threshold",
        RuleError::NegativeCooldown => "cooldown_secs",
        RuleError::EmptyPlayerRange { .. } => "players_below",
        RuleError::EmptyRemediationLimit => "remediation",
        _ => "spec",
    }
}

/// Turns a stored rule's spec into the engine's rule, or says what is wrong with it.
pub fn compile(id: Uuid, spec: &AlertRuleSpec) -> Result<Rule, SpecProblem> {
    let text = match &spec.text {
        Some(source) if source.len() > MAX_REGEX_LEN => {
            return Err(SpecProblem {
                field: "text",
                message: format!("text regex is {} bytes; at most {MAX_REGEX_LEN}", source.len()),
            });
        }
        Some(source) => {
            Some(RegexBuilder::new(source).size_limit(1 << 20).build().map_err(|e| {
                SpecProblem {
                    field: "text",
                    message: format!("text is not a valid regular expression: {e}"),
                }
            })?)
        }
        None => None,
    };
    let secs_ms = |secs: u64| i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let rule = Rule {
        id: RuleId(id),
        kind: spec.kind.clone(),
        host: spec.host,
        game: spec.game.clone(),
        text,
        players_above: spec.players_above,
        players_below: spec.players_below,
        threshold: spec
            .threshold
            .map(|t| Threshold { count: t.count, window_ms: secs_ms(t.window_secs) }),
        resolve_kind: spec
            .resolve_kind
            .clone()
            .or_else(|| gsm_core::rules::default_resolving_kind(&spec.kind).map(str::to_owned)),
        cooldown_ms: secs_ms(spec.cooldown_secs),
        severity: spec.severity,
        remediation: spec.remediation.as_ref().map(|r| Remediation {
            action: r.action.clone(),
            max_runs: r.max_runs,
            per_ms: secs_ms(r.per_secs),
        }),
    };
    rule.validate()
        .map_err(|e| SpecProblem { field: problem_field(&e), message: e.to_string() })?;
    Ok(rule)
}

/// One org's engine and what the engine does not hold of its rules.
#[derive(Default)]
struct OrgRules {
    engine: Engine,
    specs: HashMap<RuleId, AlertRuleSpec>,
}

/// Starts the rule engine and the outbox worker.
pub fn spawn(state: &AppState, tasks: &mut tokio::task::JoinSet<()>) {
    if let Some(rx) = state.alerts.take_receiver() {
        tasks.spawn(run_rules(state.clone(), rx));
    }
    tasks.spawn(run_outbox(state.clone()));
}

async fn run_rules(state: AppState, mut rx: mpsc::Receiver<OrgEvent>) {
    let mut orgs: HashMap<OrgId, OrgRules> = HashMap::new();
    if let Err(err) = reload(&state, &mut orgs, true).await {
        tracing::warn!(error = %err, "could not load alert rules; retrying on the next change");
    }
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            event = rx.recv() => {
                let Some(OrgEvent { org, event }) = event else { return };
                let Some(rules) = orgs.get_mut(&org) else { continue };
                let actions = rules.engine.evaluate(&event);
                act(&state, org, rules, &event, actions).await;
            }
            () = state.alerts.rules_changed.notified() => {
                if let Err(err) = reload(&state, &mut orgs, false).await {
                    tracing::warn!(error = %err, "could not reload alert rules");
                }
            }
            _ = ticker.tick() => {
                let now = Timestamp::now().as_millisecond();
                for (org, rules) in &mut orgs {
                    let actions = rules.engine.tick(now);
                    rules.engine.prune(now);
                    if actions.is_empty() {
                        continue;
                    }
                    let event = Event {
                        kind: String::new(),
                        host: None,
                        game: None,
                        text: String::new(),
                        players: None,
                        at_ms: now,
                    };
                    act(&state, *org, rules, &event, actions).await;
                }
            }
        }
    }
}

/// Loads every enabled rule into its org's engine (keeping what the engines remember), and on
/// start the open alerts too.
async fn reload(
    state: &AppState,
    orgs: &mut HashMap<OrgId, OrgRules>,
    restore: bool,
) -> StoreResult<()> {
    let mut by_org: HashMap<OrgId, (Vec<Rule>, HashMap<RuleId, AlertRuleSpec>)> = HashMap::new();
    for record in state.store.all_alert_rules().await? {
        if !record.spec.enabled {
            continue;
        }
        match compile(record.id, &record.spec) {
            Ok(rule) => {
                let entry = by_org.entry(record.org).or_default();
                entry.1.insert(rule.id, record.spec);
                entry.0.push(rule);
            }
            Err(reason) => {
                tracing::warn!(org.id = %record.org, rule.id = %record.id, %reason, "alert rule skipped")
            }
        }
    }
    orgs.retain(|org, _| by_org.contains_key(org));
    for (org, (rules, specs)) in by_org {
        let entry = orgs.entry(org).or_default();
        entry.engine.set_rules(rules);
        entry.specs = specs;
    }
    if restore {
        for alert in state.store.open_alerts().await? {
            if let Some(rules) = orgs.get_mut(&alert.org) {
                let subject = Subject { host: alert.host, game: alert.game };
                rules.engine.restore_open(
                    RuleId(alert.rule),
                    subject,
                    alert.raised_at.as_millisecond(),
                );
            }
        }
    }
    Ok(())
}

async fn act(state: &AppState, org: OrgId, rules: &OrgRules, event: &Event, actions: Vec<Action>) {
    // The alerts this batch raised, so a remediation that follows its raise is keyed by it.
    let mut raised: HashMap<(RuleId, Subject), Uuid> = HashMap::new();
    for action in actions {
        if let Err(err) = act_one(state, org, rules, event, action, &mut raised).await {
            tracing::warn!(org.id = %org, error = %err, "could not record an alert decision");
        }
    }
    state.alerts.outbox.notify_one();
}

async fn act_one(
    state: &AppState,
    org: OrgId,
    rules: &OrgRules,
    event: &Event,
    action: Action,
    raised_now: &mut HashMap<(RuleId, Subject), Uuid>,
) -> StoreResult<()> {
    match action {
        Action::Raise { rule, subject, severity, open } => {
            let Some(spec) = rules.specs.get(&rule) else { return Ok(()) };
            let channels = channels(state, org, spec).await?;
            let at = Timestamp::from_millisecond(event.at_ms).unwrap_or_else(|_| Timestamp::now());
            let alert = NewAlert {
                id: Uuid::now_v7(),
                org,
                rule: rule.0,
                rule_name: spec.name.clone(),
                host: subject.host,
                game: subject.game.clone(),
                kind: spec.kind.clone(),
                severity,
                message: describe(&spec.kind, &subject, &event.text),
                open,
                at,
            };
            if let Some(raised) = state.store.raise_alert(&alert, &channels).await? {
                tracing::info!(org.id = %org, alert.id = %raised.id, rule = %spec.name, "alert raised");
                crate::live::alert_changed(state, AlertChange::Raised, &raised);
                raised_now.insert((rule, subject), raised.id);
            }
        }
        Action::Resolve { rule, subject } => {
            let Some(spec) = rules.specs.get(&rule) else { return Ok(()) };
            let channels = channels(state, org, spec).await?;
            let at = Timestamp::from_millisecond(event.at_ms).unwrap_or_else(|_| Timestamp::now());
            let resolved = state
                .store
                .resolve_alert(org, rule.0, subject.host, subject.game.as_deref(), at, &channels)
                .await?;
            if let Some(resolved) = resolved {
                tracing::info!(org.id = %org, alert.id = %resolved.id, "alert resolved");
                crate::live::alert_changed(state, AlertChange::Resolved, &resolved);
            }
        }
        Action::Remediate { rule, subject, action } => {
            let key = match raised_now.get(&(rule, subject.clone())) {
                Some(alert) => remediation::key_for_alert(*alert),
                None => remediation::key_for_event(rule, &subject, event.at_ms),
            };
            let job = RemediationJob { org, rule, subject: &subject, action: &action, key };
            remediation::start(state, &job).await?;
        }
        Action::RemediationLimited { rule, subject, max_runs } => {
            tracing::warn!(
                org.id = %org, rule.id = %rule, ?subject, max_runs,
                "remediation limit reached; not starting another"
            );
        }
    }
    Ok(())
}

async fn channels(state: &AppState, org: OrgId, spec: &AlertRuleSpec) -> StoreResult<Vec<String>> {
    match &spec.channels {
        Some(channels) => Ok(channels.clone()),
        None => state.store.default_channels(org).await,
    }
}

/// What an alert says, for people.
fn describe(kind: &str, subject: &Subject, text: &str) -> String {
    let mut message = kind.to_owned();
    if let Some(host) = subject.host {
        message.push_str(&format!(" on host {host}"));
    }
    if let Some(game) = &subject.game {
        message.push_str(&format!(" (game {game})"));
    }
    if !text.is_empty() {
        message.push_str(": ");
        message.extend(text.chars().take(500));
    }
    message
}

async fn run_outbox(state: AppState) {
    let allow = AllowList::new(&state.settings.alerts.webhook_hosts);
    let mut hold_discord_until: Option<Timestamp> = None;
    loop {
        let now = Timestamp::now();
        let due = match state.store.claim_deliveries(now, LEASE_MS, CLAIM_BATCH).await {
            Ok(due) => due,
            Err(err) => {
                tracing::warn!(error = %err, "could not claim alert deliveries");
                Vec::new()
            }
        };
        let idle = due.is_empty();
        for delivery in due {
            let outcome = deliver(&state, &allow, &mut hold_discord_until, &delivery).await;
            if let Some(outcome) = outcome
                && let Err(err) =
                    state.store.finish_delivery(delivery.id, &outcome, Timestamp::now()).await
            {
                tracing::warn!(error = %err, "could not record a delivery's outcome");
            }
        }
        if idle {
            tokio::select! {
                () = state.alerts.outbox.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    }
}

/// Delivers one row; `None` when the store already recorded the outcome (in-app).
async fn deliver(
    state: &AppState,
    allow: &AllowList,
    hold_discord_until: &mut Option<Timestamp>,
    delivery: &Delivery,
) -> Option<DeliveryOutcome> {
    let alert = &delivery.alert;
    let resolved = delivery.change == AlertChange::Resolved;
    if delivery.channel == "in_app" {
        let title = format!("{}: {}", if resolved { "Resolved" } else { "Alert" }, alert.rule_name);
        return match state.store.deliver_in_app(delivery, &title, Timestamp::now()).await {
            Ok(notification) => {
                crate::live::notification_stored(state, &notification);
                None
            }
            Err(err) => Some(retry(delivery, format!("storing the notification: {err}"))),
        };
    }
    let Some(name) = delivery.channel.strip_prefix("discord:") else {
        return Some(DeliveryOutcome::Failed {
            error: format!("unknown channel {:?}", delivery.channel),
        });
    };
    if let Some(until) = *hold_discord_until {
        if until > Timestamp::now() {
            return Some(DeliveryOutcome::Retry {
                next_at: until,
                error: "Discord global rate limit".into(),
            });
        }
        *hold_discord_until = None;
    }
    let hook = match state.store.get_discord_webhook(alert.org, name).await {
        Ok(hook) => hook,
        Err(err) => {
            return Some(DeliveryOutcome::Failed { error: format!("webhook {name:?}: {err}") });
        }
    };
    if let Some(reason) = &hook.broken_reason {
        return Some(DeliveryOutcome::Failed {
            error: format!("webhook {name:?} is broken: {reason}"),
        });
    }
    let at = alert.resolved_at.filter(|_| resolved).unwrap_or(alert.raised_at);
    let host_name = match alert.host {
        Some(host) => state.store.get_host(alert.org, host).await.ok().map(|h| h.name),
        None => None,
    };
    let link = state.settings.alerts.public_url.as_ref().map(|base| {
        format!("{}/orgs/{}/alerts/{}", base.trim_end_matches('/'), alert.org, alert.id)
    });
    let body = discord::payload(&Embed {
        resolved,
        severity: alert.severity,
        rule: &alert.rule_name,
        message: &alert.message,
        host: host_name.as_deref(),
        game: alert.game.as_deref(),
        at,
        link: link.as_deref(),
    });
    let answer = match post(allow, &hook.url, &body).await {
        Ok(answer) => answer,
        Err(reason) => return Some(retry(delivery, reason)),
    };
    Some(match answer {
        Answer::Delivered => DeliveryOutcome::Delivered,
        Answer::RateLimited { wait, global } => {
            let next_at = Timestamp::now()
                .checked_add(jiff::SignedDuration::try_from(wait).unwrap_or_default())
                .unwrap_or_else(|_| Timestamp::now());
            if global {
                *hold_discord_until = Some(next_at);
            }
            DeliveryOutcome::Retry { next_at, error: "Discord rate limit (429)".into() }
        }
        Answer::Retry { reason } => retry(delivery, reason),
        Answer::Broken { reason } => {
            if let Err(err) =
                state.store.mark_webhook_broken(alert.org, name, &reason, Timestamp::now()).await
            {
                tracing::warn!(error = %err, "could not mark a webhook broken");
            }
            DeliveryOutcome::Failed { error: reason }
        }
    })
}

/// A retry after backoff, or giving up after [`MAX_ATTEMPTS`].
fn retry(delivery: &Delivery, error: String) -> DeliveryOutcome {
    if delivery.attempts >= MAX_ATTEMPTS {
        return DeliveryOutcome::Failed {
            error: format!("{error} (gave up after {MAX_ATTEMPTS} attempts)"),
        };
    }
    let wait =
        jiff::SignedDuration::try_from(discord::backoff(delivery.attempts)).unwrap_or_default();
    let next_at = Timestamp::now().checked_add(wait).unwrap_or_else(|_| Timestamp::now());
    DeliveryOutcome::Retry { next_at, error }
}

/// Posts `body` to the webhook: the URL re-checked, its host resolved and every address checked
/// against the allow-list, the connection pinned to a checked address, no redirects followed.
async fn post(allow: &AllowList, url: &str, body: &serde_json::Value) -> Result<Answer, String> {
    let parsed = allow.check(url).map_err(|e| e.to_string())?;
    let host = parsed.host_str().ok_or("webhook URL has no host")?.to_owned();
    let port = parsed.port_or_known_default().unwrap_or(443);
    let bare = host.trim_matches(['[', ']']).to_owned();
    let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((bare.as_str(), port))
        .await
        .map_err(|e| format!("resolving the webhook host: {e}"))?
        .collect();
    if addrs.is_empty() || addrs.iter().any(|a| !allow.address_allowed(&host, a.ip())) {
        return Err("the webhook host resolves to an address that is not allowed".into());
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .resolve(&bare, addrs[0])
        .build()
        .map_err(|e| format!("building the HTTP client: {e}"))?;
    let response = client
        .post(parsed)
        .json(body)
        .send()
        .await
        .map_err(|e| format!("posting to Discord: {}", e.without_url()))?;
    let status = response.status().as_u16();
    let header =
        |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let retry_after = header("retry-after");
    let global = header("x-ratelimit-global");
    let bytes = response.bytes().await.unwrap_or_default();
    Ok(discord::classify(status, retry_after.as_deref(), global.as_deref(), &bytes))
}
