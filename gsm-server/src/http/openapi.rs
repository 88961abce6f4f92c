//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of every route, generated from the code.
//!
//! Each handler carries `#[utoipa::path]` (its statuses, parameters and bodies); the schemas are
//! gsm-proto's `schemars` schemas ([`gsm_proto::openapi`]), so this document, the JSON Schemas in
//! `gsm-proto/schemas/` and the code cannot disagree. What routes share — their security (an API
//! key or a user's access token on org routes, a user's token on the user routes) and the 401 and
//! 503 answers — is added here, once, by path, so a handler cannot forget it. `docs/openapi.json` is this document
//! checked in; a test fails when it drifts, and the isolation and role suites enumerate its paths.

use axum::Json;
use serde_json::Value;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, OpenApi as Document};
use utoipa::{Modify, OpenApi, PartialSchema};
use uuid::Uuid;

use crate::http::ApiError;

/// The prefix of every org-scoped route.
const ORG_ROUTES: &str = "/api/v1/orgs/";
/// The security scheme of org routes: an org API key.
const API_KEY: &str = "api_key";
/// The security scheme of a signed-in user: an access token from login.
const USER_TOKEN: &str = "user_token";
/// Routes that act as a signed-in user, outside any one org.
const USER_ROUTES: [&str; 3] = ["/api/v1/me", "/api/v1/orgs", "/api/v1/auth/logout"];
/// Accepting an invite: as a signed-in user, or anonymously as a new user.
const ACCEPT_ROUTE: &str = "/api/v1/invites/accept";
/// Routes with no credential that still reach the database.
const OPEN_ROUTES: [&str; 2] = ["/api/v1/auth/login", "/api/v1/auth/refresh"];
/// The security scheme of the agent WebSocket: a host credential.
const HOST_CREDENTIAL: &str = "host_credential";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "gsm",
        description = "gsm's control plane: hosts, jobs and their output, per organisation. \
            Every error answer is an `ErrorBody`: `{\"error\": {\"code\", \"message\"}}`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        super::health::healthz,
        super::health::readyz,
        super::health::metrics,
        openapi_json,
        super::hosts::list,
        super::hosts::create,
        super::hosts::get,
        super::hosts::delete,
        super::hosts::new_join_token,
        super::hosts::metrics,
        super::jobs::list,
        super::jobs::create,
        super::jobs::get,
        super::jobs::cancel,
        super::logs::page,
        super::logs::follow,
        super::users::login,
        super::users::refresh,
        super::users::logout,
        super::users::me,
        super::orgs::list,
        super::orgs::create,
        super::orgs::get,
        super::orgs::update,
        super::orgs::delete,
        super::members::list,
        super::members::set_role,
        super::members::remove,
        super::invites::list,
        super::invites::create,
        super::invites::revoke,
        super::invites::accept,
        super::api_keys::list,
        super::api_keys::create,
        super::api_keys::revoke,
        super::audit::list,
        super::games::types,
        super::games::list,
        super::games::get,
        super::games::put,
        super::games::delete,
        super::events::list,
        super::schedules::list,
        super::schedules::create,
        super::schedules::get,
        super::schedules::replace,
        super::schedules::patch,
        super::schedules::delete,
        super::schedules::fires,
        super::stream::connect,
        super::alert_rules::list,
        super::alert_rules::create,
        super::alert_rules::get,
        super::alert_rules::replace,
        super::alert_rules::delete,
        super::alerts::list,
        super::notifications::list,
        super::notifications::unread_count,
        super::notifications::mark_read,
        super::notifications::mark_all_read,
        super::settings::get,
        super::settings::patch,
        super::discord_bot::get_settings,
        super::discord_bot::put_settings,
        super::discord_bot::delete_settings,
        super::discord_bot::link,
        super::discord_bot::unlink,
    ),
    modifiers(&Shared),
)]
struct ApiDoc;

/// The whole document: the REST routes, the agent gateway's, and the schemas.
pub fn document() -> Result<Value, serde_json::Error> {
    let mut doc = ApiDoc::openapi();
    doc.merge(crate::gateway::GatewayApi::openapi());
    let mut value = serde_json::to_value(&doc)?;
    value["components"]["schemas"] = Value::Object(gsm_proto::openapi::components());
    Ok(value)
}

/// Path parameters of org routes.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code, reason = "described in the document, never extracted")]
pub(super) struct OrgPath {
    /// The org's id.
    org: Uuid,
}

/// Path parameters of one host.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code, reason = "described in the document, never extracted")]
pub(super) struct HostPath {
    /// The org's id.
    org: Uuid,
    /// The host's id.
    host: Uuid,
}

/// Path parameters of one game server of a host.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code, reason = "described in the document, never extracted")]
pub(super) struct GamePath {
    /// The org's id.
    org: Uuid,
    /// The host's id.
    host: Uuid,
    /// The game server's name on the host (letters, digits, `-`, `_`, `.`; at most 64).
    game: String,
}

/// Path parameters of one job.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code, reason = "described in the document, never extracted")]
pub(super) struct JobPath {
    /// The org's id.
    org: Uuid,
    /// The job's id.
    job: Uuid,
}

/// Path parameters of one schedule.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code, reason = "described in the document, never extracted")]
pub(super) struct SchedulePath {
    /// The org's id.
    org: Uuid,
    /// The schedule's id.
    schedule: Uuid,
}

/// Path parameters of one alert rule.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code, reason = "described in the document, never extracted")]
pub(super) struct AlertRulePath {
    /// The org's id.
    org: Uuid,
    /// The rule's id.
    rule: Uuid,
}

/// Path parameters of one notification.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code, reason = "described in the document, never extracted")]
pub(super) struct NotificationPath {
    /// The org's id.
    org: Uuid,
    /// The notification's id.
    notification: Uuid,
}

/// Path parameters of one member.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code, reason = "described in the document, never extracted")]
pub(super) struct MemberPath {
    /// The org's id.
    org: Uuid,
    /// The member's user id.
    user: Uuid,
}

/// Path parameters of one invite.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code, reason = "described in the document, never extracted")]
pub(super) struct InvitePath {
    /// The org's id.
    org: Uuid,
    /// The invite's id.
    invite: Uuid,
}

/// Path parameters of one API key.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code, reason = "described in the document, never extracted")]
pub(super) struct ApiKeyPath {
    /// The org's id.
    org: Uuid,
    /// The key's id (the part between `gsm_` and the next `_`).
    key: String,
}

/// The `Idempotency-Key` header of create routes: a repeat with the same key answers with the
/// first result instead of creating again.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code, reason = "described in the document, never extracted")]
pub(super) struct IdempotencyKey {
    /// 1-255 visible ASCII characters, kept per org.
    #[param(rename = "Idempotency-Key", pattern = "^[!-~]{1,255}$")]
    idempotency_key: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    responses((status = 200, description = "This document.", content_type = "application/json")),
)]
pub(super) async fn openapi_json() -> Result<Json<Value>, ApiError> {
    Ok(Json(document().map_err(ApiError::internal)?))
}

/// Adds what routes share, by path, so a handler cannot forget it.
struct Shared;

impl Modify for Shared {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        for (name, description, format) in [
            (API_KEY, "An org API key, `gsm_<id>_<secret>`.", None),
            (USER_TOKEN, "A user's access token from `POST /api/v1/auth/login`.", Some("JWT")),
            (HOST_CREDENTIAL, "A host credential from `POST /agent/v1/enroll`.", None),
        ] {
            let mut scheme =
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some(description));
            if let Some(format) = format {
                scheme = scheme.bearer_format(format);
            }
            components.add_security_scheme(name, SecurityScheme::Http(scheme.build()));
        }
        for (path, item) in doc.paths.paths.iter_mut() {
            let Some(shape) = Shape::of(path) else { continue };
            let operations =
                [&mut item.get, &mut item.post, &mut item.put, &mut item.delete, &mut item.patch];
            for operation in operations.into_iter().flatten() {
                shape.apply(operation);
            }
        }
    }
}

/// What a route's security and shared answers are, decided by its path.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// An org route: an API key of the org or a member's access token.
    Org,
    /// A signed-in user's route.
    User,
    /// Invite acceptance: a user's token, or none for a new user.
    Accept,
    /// No credential, but the database answers.
    Open,
}

impl Shape {
    fn of(path: &str) -> Option<Shape> {
        if path.starts_with(ORG_ROUTES) {
            Some(Shape::Org)
        } else if USER_ROUTES.contains(&path) {
            Some(Shape::User)
        } else if path == ACCEPT_ROUTE {
            Some(Shape::Accept)
        } else if OPEN_ROUTES.contains(&path) {
            Some(Shape::Open)
        } else {
            None
        }
    }

    fn apply(self, operation: &mut Operation) {
        let key = || SecurityRequirement::new(API_KEY, Vec::<String>::new());
        let user = || SecurityRequirement::new(USER_TOKEN, Vec::<String>::new());
        let (security, unauthorized) = match self {
            Shape::Org => (
                Some(vec![key(), user()]),
                Some(
                    "No credential, or one that is malformed, unknown, expired, revoked or wrong.",
                ),
            ),
            Shape::User => (
                Some(vec![user()]),
                Some("No access token, or one that is invalid, expired or of an ended session."),
            ),
            Shape::Accept => (
                Some(vec![SecurityRequirement::default(), user()]),
                Some("An access token was sent but is invalid, expired or of an ended session."),
            ),
            Shape::Open => (None, None),
        };
        if security.is_some() {
            operation.security = security;
        }
        let unavailable = Some("The server cannot reach its database; retry shortly.");
        for (status, description) in [("401", unauthorized), ("503", unavailable)] {
            let Some(description) = description else { continue };
            let response = ResponseBuilder::new()
                .description(description)
                .content("application/json", error_content())
                .build();
            operation.responses.responses.entry(status.into()).or_insert(response.into());
        }
    }
}

/// `ErrorBody` as response content.
fn error_content() -> Content {
    Content::new(Some(gsm_proto::rest::ErrorBody::schema()))
}
