//! The commands that run jobs: `/run`, `/restart` and `/say`. Each creates its job as
//! `POST …/jobs` does (the store with its audit entry, then `dispatch::offer`) and answers at
//! once; the follow-up future waits for the job's end, woken by the server's job-change
//! announcements and re-reading every few seconds in case it missed one, for at most
//! [`FOLLOW_UP_LIMIT`] (Discord lets a reply be edited for 15 minutes).

use std::collections::BTreeMap;
use std::time::Duration;

use gsm_core::job::{GameAction, JobId, JobKind, JobState};
use jiff::Timestamp;

use super::commands::{
    Answer, Caller, FOLLOW_UP_LIMIT, MAX_RESTART_DELAY_SECS, MAX_SAY_CHARS, Refused, host_named,
    internal, unavailable,
};
use super::reply::{Reply, inert};
use crate::app::AppState;
use crate::dispatch;
use crate::store::{Created, HostRecord, JobRecord, NewJob, OrgId, StoreError};

/// How often a waiting follow-up reads its job again even without a change announced.
const RECHECK: Duration = Duration::from_secs(5);
/// The warnings a delayed restart gives before its delay, when they fit inside it.
const WARNING_LADDER: [u64; 6] = [600, 300, 120, 60, 30, 10];

pub(super) async fn run(
    state: &AppState,
    caller: &Caller,
    host: &str,
    template: &str,
) -> Result<Answer, Refused> {
    let host = host_named(state, caller, host).await?;
    let schedule = match state.store.schedule_by_name(caller.org, template).await {
        Ok(schedule) => schedule,
        Err(StoreError::NotFound { .. }) => {
            return Err(Reply::private(format!(
                "No schedule named {} in this org. `/run` runs the job template of one of \
                 the org's schedules (`GET /api/v1/orgs/<org>/schedules` lists them) on the host \
                 you name, now.",
                inert(template, 64)
            )));
        }
        Err(err) => return Err(unavailable(err)),
    };
    let spec = schedule.spec.template;
    let job = JobRequest {
        kind: spec.kind,
        timeout_secs: spec.timeout_secs,
        output_cap_bytes: spec.output_cap_bytes,
        deadline_secs: spec.deadline_secs,
    };
    start(state, caller, &host, job, inert(template, 64)).await
}

/// The game server a game action goes to: the one named, or the host's only one.
async fn game_of(
    state: &AppState,
    caller: &Caller,
    host: &HostRecord,
    named: Option<String>,
) -> Result<String, Refused> {
    let games = state.store.list_games(caller.org, host.id).await.map_err(unavailable)?;
    let host_name = inert(&host.name, 64);
    if let Some(named) = named {
        let known = games.iter().any(|game| {
            game.instance.name == named || game.instance.game.as_str() == named.as_str()
        });
        if !known {
            return Err(Reply::private(format!(
                "{host_name} has no game server {}.",
                inert(&named, 64)
            )));
        }
        return Ok(named);
    }
    match games.as_slice() {
        [] => Err(Reply::private(format!("{host_name} has no game server configured."))),
        [only] => Ok(only.instance.name.clone()),
        several => Err(Reply::private(format!(
            "{host_name} has several game servers ({}); say which with the `game` option.",
            several.iter().map(|g| inert(&g.instance.name, 64)).collect::<Vec<_>>().join(", ")
        ))),
    }
}

pub(super) async fn restart(
    state: &AppState,
    caller: &Caller,
    host: &str,
    delay_secs: Option<u64>,
    game: Option<String>,
) -> Result<Answer, Refused> {
    if let Some(delay) = delay_secs
        && delay > MAX_RESTART_DELAY_SECS
    {
        return Err(Reply::private(format!(
            "A restart delay is 0 to {MAX_RESTART_DELAY_SECS} seconds."
        )));
    }
    let host = host_named(state, caller, host).await?;
    let game = game_of(state, caller, &host, game).await?;
    let mut args = BTreeMap::new();
    if let Some(delay) = delay_secs {
        args.insert("warnings_secs".to_owned(), serde_json::json!(restart_warnings(delay)));
    }
    let kind = JobKind::Game(GameAction { game, action: "restart".to_owned(), args });
    let what = match delay_secs {
        Some(delay) => format!("restart in {delay} s"),
        None => "restart".to_owned(),
    };
    start(state, caller, &host, JobRequest::of(kind), what).await
}

/// The in-game warnings of a restart `delay` seconds away: one at the delay, then each step of
/// the ladder that fits inside it. No warnings for an immediate restart.
fn restart_warnings(delay: u64) -> Vec<u64> {
    if delay == 0 {
        return Vec::new();
    }
    std::iter::once(delay).chain(WARNING_LADDER.into_iter().filter(|&w| w < delay)).collect()
}

pub(super) async fn say(
    state: &AppState,
    caller: &Caller,
    host: &str,
    message: &str,
    game: Option<String>,
) -> Result<Answer, Refused> {
    let message = message.trim();
    if message.is_empty() || message.chars().count() > MAX_SAY_CHARS {
        return Err(Reply::private(format!("A message is 1 to {MAX_SAY_CHARS} characters.")));
    }
    if message.chars().any(char::is_control) {
        return Err(Reply::private("A message cannot hold line breaks or control characters."));
    }
    let host = host_named(state, caller, host).await?;
    let game = game_of(state, caller, &host, game).await?;
    let args = BTreeMap::from([("message".to_owned(), serde_json::json!(message))]);
    let kind = JobKind::Game(GameAction { game, action: "say".to_owned(), args });
    start(state, caller, &host, JobRequest::of(kind), "say".to_owned()).await
}

/// What a command asks to run.
struct JobRequest {
    kind: JobKind,
    timeout_secs: Option<u64>,
    output_cap_bytes: Option<u64>,
    deadline_secs: Option<u64>,
}

impl JobRequest {
    fn of(kind: JobKind) -> JobRequest {
        JobRequest { kind, timeout_secs: None, output_cap_bytes: None, deadline_secs: None }
    }
}

/// Creates the job as `POST …/jobs` does and answers at once; the follow-up waits for its end.
async fn start(
    state: &AppState,
    caller: &Caller,
    host: &HostRecord,
    request: JobRequest,
    what: String,
) -> Result<Answer, Refused> {
    let now = Timestamp::now();
    let deadline = request.deadline_secs.map_or(state.settings.job_deadline, Duration::from_secs);
    let deadline = jiff::SignedDuration::try_from(deadline).map_err(|_| internal())?;
    let new = NewJob {
        id: JobId::new(),
        host: host.id,
        kind: request.kind,
        timeout_secs: request.timeout_secs,
        output_cap_bytes: request.output_cap_bytes,
        requested_by: caller.requester(),
        idempotency_key: None,
        deadline_at: now.checked_add(deadline).map_err(|_| internal())?,
        now,
        dispatched: false,
    };
    let audit = caller.audit("job.create", "job", new.id);
    let (job, created) = match state.store.create_job(caller.org, &new, &audit).await {
        Ok(created) => created,
        Err(StoreError::NotFound { .. }) => {
            return Err(Reply::private("That host was deleted just now."));
        }
        Err(err) => return Err(unavailable(err)),
    };
    if created == Created::New {
        tracing::info!(org.id = %caller.org, job.id = %job.id, host.id = %job.host, member = %caller.user, "job created from Discord");
        dispatch::offer(state, &job).await.map_err(unavailable)?;
    }
    let host_name = inert(&host.name, 64);
    let first = Reply::public(format!(
        "{what} on **{host_name}** started as job `{}`; this message shows how it ends.",
        job.id
    ));
    let follow_up = follow_up(state.clone(), caller.org, job.id, what, host_name);
    Ok(Answer::Deferred { first, follow_up: Box::pin(follow_up) })
}

/// Waits for the job to end (or [`FOLLOW_UP_LIMIT`]) and says how it went.
async fn follow_up(state: AppState, org: OrgId, id: JobId, what: String, host: String) -> Reply {
    // Subscribed before the first read, so a change between the two is not missed.
    let mut changes = state.job_events.subscribe();
    let deadline = tokio::time::Instant::now() + FOLLOW_UP_LIMIT;
    loop {
        let job = match state.store.get_job(org, id).await {
            Ok(job) => job,
            Err(err) => return unavailable(err),
        };
        if job.state.is_terminal() {
            return ended(&job, &what, &host);
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Reply::public(format!(
                "{what} on **{host}** (job `{id}`) is still {} after {} minutes; \
                 `/jobs` shows it later.",
                job.state,
                FOLLOW_UP_LIMIT.as_secs() / 60
            ));
        }
        let wait = async {
            loop {
                match changes.recv().await {
                    Ok(changed) if changed == id => return,
                    Ok(_) => {}
                    // Missed some announcements: read the job again.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        std::future::pending::<()>().await;
                    }
                }
            }
        };
        let _ = tokio::time::timeout((deadline - now).min(RECHECK), wait).await;
    }
}

/// The edit for a job that ended.
fn ended(job: &JobRecord, what: &str, host: &str) -> Reply {
    let mut text = format!("{what} on **{host}** (job `{}`) {}", job.id, job.state);
    if let Some(result) = &job.result
        && let Some(code) = result.exit_code
        && job.state != JobState::Succeeded
    {
        text.push_str(&format!(", exit code {code}"));
    }
    if let Some(reason) = &job.reason {
        text.push_str(&format!(": {}", inert(reason, 500)));
    }
    text.push('.');
    Reply::public(text)
}

#[cfg(test)]
mod tests {
    use super::restart_warnings;

    #[test]
    fn a_delayed_restart_warns_at_its_delay_and_at_each_step_inside_it() {
        assert_eq!(restart_warnings(0), Vec::<u64>::new());
        assert_eq!(restart_warnings(5), [5]);
        assert_eq!(restart_warnings(60), [60, 30, 10]);
        assert_eq!(restart_warnings(3600), [3600, 600, 300, 120, 60, 30, 10]);
    }
}
