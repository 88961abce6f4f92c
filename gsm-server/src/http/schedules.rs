//! `…/schedules`: cron schedules (create, list, get, replace, patch — suspend and resume are a
//! patch of `suspend` — and delete) and `…/schedules/{schedule}/fires`, what became of each due
//! time. The scheduler (`scheduler.rs`) does the firing; this module validates definitions and
//! keeps `next_fire_at` true: it is recomputed from now whenever the expression, the time zone or
//! `suspend` changes, so a resumed schedule never replays the time it was suspended.

use std::collections::HashSet;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use gsm_core::cron::Schedule as Cron;
use gsm_proto::openapi::{ScheduleFirePage, SchedulePage};
use gsm_proto::rest::{
    CreateJob, ErrorBody, Page, PatchSchedule, Schedule, ScheduleFire, ScheduleSpec,
};
use jiff::Timestamp;
use serde::Deserialize;
use uuid::Uuid;

use crate::app::AppState;
use crate::http::auth::{Action, ClientIp, authenticate};
use crate::http::openapi::{OrgPath, SchedulePath};
use crate::http::{ApiError, page_limit, query_text, time};
use crate::scheduler::next_fire;
use crate::store::OrgId;
use crate::store::schedules::{FireRecord, ScheduleRecord};

/// Longest schedule name.
const MAX_NAME: usize = 64;
/// Most hosts one schedule runs on.
const MAX_HOSTS: usize = 100;
/// Largest fire history.
const MAX_HISTORY: u32 = 1000;

fn view(record: ScheduleRecord) -> Schedule {
    Schedule {
        id: record.id,
        spec: record.spec,
        next_fire_at: record.next_fire_at.map(time),
        last_fire_at: record.last_fire_at.map(time),
        created_at: time(record.created_at),
        updated_at: time(record.updated_at),
    }
}

fn fire_view(record: FireRecord) -> ScheduleFire {
    ScheduleFire {
        due_at: time(record.due_at),
        claimed_at: time(record.claimed_at),
        outcome: record.outcome,
        reason: record.reason,
        jobs: record.jobs,
    }
}

fn parse_schedule(id: &str) -> Result<Uuid, ApiError> {
    id.parse().map_err(|_| ApiError::not_found("schedule"))
}

/// Checks a definition; its hosts must be hosts of the org (404 otherwise). Returns the parsed
/// expression, with the time zone's canonical name written back into `spec`.
async fn validate(state: &AppState, org: OrgId, spec: &mut ScheduleSpec) -> Result<Cron, ApiError> {
    let invalid = |message: String| ApiError::unprocessable("invalid_schedule", message);
    if spec.name.is_empty() || spec.name.len() > MAX_NAME || spec.name.chars().any(char::is_control)
    {
        return Err(invalid(format!("name must be 1-{MAX_NAME} bytes without control characters")));
    }
    let cron = Cron::parse(&spec.cron, &spec.timezone).map_err(|err| invalid(err.to_string()))?;
    spec.timezone = cron.timezone().to_owned();
    spec.cron = cron.expression().to_owned();
    let hosts = &spec.template.hosts;
    if hosts.is_empty() || hosts.len() > MAX_HOSTS {
        return Err(invalid(format!("template.hosts must list 1 to {MAX_HOSTS} hosts")));
    }
    if hosts.iter().collect::<HashSet<_>>().len() != hosts.len() {
        return Err(invalid("template.hosts lists a host twice".into()));
    }
    super::jobs::validate(&CreateJob {
        host: hosts[0],
        kind: spec.template.kind.clone(),
        timeout_secs: spec.template.timeout_secs,
        output_cap_bytes: spec.template.output_cap_bytes,
        deadline_secs: spec.template.deadline_secs,
    })?;
    let conditions = &spec.conditions;
    if let (Some(min), Some(max)) = (conditions.min_players, conditions.max_players)
        && min > max
    {
        return Err(invalid(format!(
            "conditions.min_players ({min}) is above conditions.max_players ({max}): no host \
             could ever pass"
        )));
    }
    if let Some(deadline) = spec.starting_deadline_secs
        && (deadline == 0 || i64::try_from(deadline).is_err())
    {
        return Err(invalid(format!(
            "starting_deadline_secs must be 1 to {}; leave it out for no deadline",
            i64::MAX
        )));
    }
    if !(1..=MAX_HISTORY).contains(&spec.history_limit) {
        return Err(invalid(format!("history_limit must be 1 to {MAX_HISTORY}")));
    }
    for &host in hosts {
        state.store.get_host(org, host).await?;
    }
    Ok(cron)
}

fn body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(value)| value)
        .map_err(|err| ApiError::bad_request("invalid_request", err.body_text()))
}

#[utoipa::path(
    post,
    path = "/api/v1/orgs/{org}/schedules",
    tag = "schedules",
    params(OrgPath),
    request_body = ScheduleSpec,
    responses(
        (status = 201, description = "The schedule, with its first due time.", body = Schedule),
        (status = 400, description = "The body is not a `ScheduleSpec`.", body = ErrorBody),
        (status = 403, description = "The role may not manage schedules.", body = ErrorBody),
        (status = 404, description = "No such org, or a template host is not a host of the org.", body = ErrorBody),
        (status = 409, description = "The org already has a schedule of that name.", body = ErrorBody),
        (status = 422, description = "An invalid expression, time zone, template or limit; the message says which.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "POST /api/v1/orgs/{org}/schedules"))]
pub(super) async fn create(
    State(state): State<AppState>,
    Path(org): Path<String>,
    client: ClientIp,
    headers: HeaderMap,
    request: Result<Json<ScheduleSpec>, JsonRejection>,
) -> Result<(StatusCode, Json<Schedule>), ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    access.require(Action::ManageSchedules)?;
    let mut spec = body(request)?;
    let cron = validate(&state, access.org, &mut spec).await?;
    let now = Timestamp::now();
    let record = ScheduleRecord {
        id: Uuid::now_v7(),
        org: access.org,
        next_fire_at: next_fire(&cron, spec.suspend, now),
        spec,
        last_fire_at: None,
        created_at: now,
        updated_at: now,
    };
    let audit = access.audit(&client, "schedule.create", "schedule", record.id);
    let record = state.store.create_schedule(&record, &audit).await?;
    tracing::info!(org.id = %access.org, schedule.id = %record.id, "schedule created");
    Ok((StatusCode::CREATED, Json(view(record))))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Schedules per page.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/schedules",
    tag = "schedules",
    params(OrgPath, ListQuery),
    responses(
        (status = 200, description = "One page of schedules, by name.", body = SchedulePage),
        (status = 400, description = "Invalid query parameters.", body = ErrorBody),
        (status = 404, description = "No such org for this credential.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "GET /api/v1/orgs/{org}/schedules"))]
pub(super) async fn list(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Page<Schedule>>, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    let Query(query) =
        query.map_err(|err| ApiError::bad_request("invalid_query", err.body_text()))?;
    query_text(query.cursor.as_deref(), "cursor")?;
    let limit = page_limit(query.limit)?;
    let records = state.store.list_schedules(access.org, query.cursor.as_deref(), limit).await?;
    let next_cursor = (records.len() == limit as usize)
        .then(|| records.last().map(|r| r.spec.name.clone()))
        .flatten();
    Ok(Json(Page { items: records.into_iter().map(view).collect(), next_cursor }))
}

#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/schedules/{schedule}",
    tag = "schedules",
    params(SchedulePath),
    responses(
        (status = 200, description = "The schedule.", body = Schedule),
        (status = 404, description = "No such org or schedule for this credential.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "GET /api/v1/orgs/{org}/schedules/{schedule}"))]
pub(super) async fn get(
    State(state): State<AppState>,
    Path((org, schedule)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Schedule>, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    Ok(Json(view(state.store.get_schedule(access.org, parse_schedule(&schedule)?).await?)))
}

/// Stores `spec` over `current`, recomputing the next due time when the timing changed.
async fn store_change(
    state: &AppState,
    access_org: OrgId,
    current: ScheduleRecord,
    mut spec: ScheduleSpec,
    audit: crate::store::access::AuditEntry,
) -> Result<Schedule, ApiError> {
    let cron = validate(state, access_org, &mut spec).await?;
    let now = Timestamp::now();
    let timing_changed = spec.cron != current.spec.cron
        || spec.timezone != current.spec.timezone
        || spec.suspend != current.spec.suspend;
    let next_fire_at =
        if timing_changed { next_fire(&cron, spec.suspend, now) } else { current.next_fire_at };
    let record = ScheduleRecord { spec, next_fire_at, updated_at: now, ..current };
    let record = state.store.replace_schedule(&record, &audit).await?;
    Ok(view(record))
}

#[utoipa::path(
    put,
    path = "/api/v1/orgs/{org}/schedules/{schedule}",
    tag = "schedules",
    params(SchedulePath),
    request_body = ScheduleSpec,
    responses(
        (status = 200, description = "The schedule, replaced.", body = Schedule),
        (status = 400, description = "The body is not a `ScheduleSpec`.", body = ErrorBody),
        (status = 403, description = "The role may not manage schedules.", body = ErrorBody),
        (status = 404, description = "No such org, schedule or template host for this credential.", body = ErrorBody),
        (status = 409, description = "Another schedule of the org has that name.", body = ErrorBody),
        (status = 422, description = "An invalid expression, time zone, template or limit.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "PUT /api/v1/orgs/{org}/schedules/{schedule}"))]
pub(super) async fn replace(
    State(state): State<AppState>,
    Path((org, schedule)): Path<(String, String)>,
    client: ClientIp,
    headers: HeaderMap,
    request: Result<Json<ScheduleSpec>, JsonRejection>,
) -> Result<Json<Schedule>, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    access.require(Action::ManageSchedules)?;
    let current = state.store.get_schedule(access.org, parse_schedule(&schedule)?).await?;
    let spec = body(request)?;
    let audit = access.audit(&client, "schedule.replace", "schedule", current.id);
    Ok(Json(store_change(&state, access.org, current, spec, audit).await?))
}

#[utoipa::path(
    patch,
    path = "/api/v1/orgs/{org}/schedules/{schedule}",
    tag = "schedules",
    params(SchedulePath),
    request_body = PatchSchedule,
    responses(
        (status = 200, description = "The schedule, changed (`suspend: true` suspends, `false` resumes from the next due time).", body = Schedule),
        (status = 400, description = "The body is not a `PatchSchedule`.", body = ErrorBody),
        (status = 403, description = "The role may not manage schedules.", body = ErrorBody),
        (status = 404, description = "No such org, schedule or template host for this credential.", body = ErrorBody),
        (status = 409, description = "Another schedule of the org has that name.", body = ErrorBody),
        (status = 422, description = "An invalid expression, time zone, template or limit.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "PATCH /api/v1/orgs/{org}/schedules/{schedule}"))]
pub(super) async fn patch(
    State(state): State<AppState>,
    Path((org, schedule)): Path<(String, String)>,
    client: ClientIp,
    headers: HeaderMap,
    request: Result<Json<PatchSchedule>, JsonRejection>,
) -> Result<Json<Schedule>, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    access.require(Action::ManageSchedules)?;
    let current = state.store.get_schedule(access.org, parse_schedule(&schedule)?).await?;
    let change = body(request)?;
    let mut spec = current.spec.clone();
    if let Some(name) = change.name {
        spec.name = name;
    }
    if let Some(cron) = change.cron {
        spec.cron = cron;
    }
    if let Some(timezone) = change.timezone {
        spec.timezone = timezone;
    }
    if let Some(template) = change.template {
        spec.template = template;
    }
    if let Some(conditions) = change.conditions {
        spec.conditions = conditions;
    }
    if let Some(policy) = change.concurrency_policy {
        spec.concurrency_policy = policy;
    }
    if let Some(deadline) = change.starting_deadline_secs {
        spec.starting_deadline_secs = (deadline > 0).then_some(deadline);
    }
    if let Some(limit) = change.history_limit {
        spec.history_limit = limit;
    }
    let action = match change.suspend {
        Some(true) if !spec.suspend => "schedule.suspend",
        Some(false) if spec.suspend => "schedule.resume",
        _ => "schedule.update",
    };
    if let Some(suspend) = change.suspend {
        spec.suspend = suspend;
    }
    let audit = access.audit(&client, action, "schedule", current.id);
    Ok(Json(store_change(&state, access.org, current, spec, audit).await?))
}

#[utoipa::path(
    delete,
    path = "/api/v1/orgs/{org}/schedules/{schedule}",
    tag = "schedules",
    params(SchedulePath),
    responses(
        (status = 204, description = "Deleted with its history; jobs it started are left alone."),
        (status = 403, description = "The role may not manage schedules.", body = ErrorBody),
        (status = 404, description = "No such org or schedule for this credential.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "DELETE /api/v1/orgs/{org}/schedules/{schedule}"))]
pub(super) async fn delete(
    State(state): State<AppState>,
    Path((org, schedule)): Path<(String, String)>,
    client: ClientIp,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    access.require(Action::ManageSchedules)?;
    let id = parse_schedule(&schedule)?;
    let audit = access.audit(&client, "schedule.delete", "schedule", id);
    state.store.delete_schedule(access.org, id, &audit).await?;
    tracing::info!(org.id = %access.org, schedule.id = %id, "schedule deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct FiresQuery {
    /// The `next_cursor` of the previous page (a due time, RFC 3339).
    cursor: Option<String>,
    /// Fires per page.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/schedules/{schedule}/fires",
    tag = "schedules",
    params(SchedulePath, FiresQuery),
    responses(
        (status = 200, description = "One page of the schedule's fires, newest first: the jobs each started, or why it was skipped or missed.", body = ScheduleFirePage),
        (status = 400, description = "Invalid query parameters.", body = ErrorBody),
        (status = 404, description = "No such org or schedule for this credential.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "GET /api/v1/orgs/{org}/schedules/{schedule}/fires"))]
pub(super) async fn fires(
    State(state): State<AppState>,
    Path((org, schedule)): Path<(String, String)>,
    headers: HeaderMap,
    query: Result<Query<FiresQuery>, QueryRejection>,
) -> Result<Json<Page<ScheduleFire>>, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    let Query(query) =
        query.map_err(|err| ApiError::bad_request("invalid_query", err.body_text()))?;
    let limit = page_limit(query.limit)?;
    let before = match query.cursor.as_deref() {
        None => None,
        Some(cursor) => Some(cursor.parse::<Timestamp>().map_err(|_| {
            ApiError::bad_request(
                "invalid_query",
                "cursor must be the next_cursor of a previous page (an RFC 3339 time)",
            )
        })?),
    };
    let schedule = state.store.get_schedule(access.org, parse_schedule(&schedule)?).await?;
    let fires = state.store.list_fires(access.org, schedule.id, before, limit).await?;
    let next_cursor = (fires.len() == limit as usize)
        .then(|| fires.last().map(|fire| time(fire.due_at)))
        .flatten();
    Ok(Json(Page { items: fires.into_iter().map(fire_view).collect(), next_cursor }))
}
