//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of every route, generated from the code.
//!
//! Each handler carries `#[utoipa::path]` (its statuses, parameters and bodies); the schemas are
//! gsm-proto's `schemars` schemas ([`gsm_proto::openapi`]), so this document, the JSON Schemas in
//! `gsm-proto/schemas/` and the code cannot disagree. What every org route shares — the API-key
//! security and the 401 and 503 answers — is added here, once. `docs/openapi.json` is this document
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
        super::jobs::list,
        super::jobs::create,
        super::jobs::get,
        super::jobs::cancel,
        super::logs::page,
        super::logs::follow,
        super::games::types,
        super::games::list,
        super::games::get,
        super::games::put,
        super::games::delete,
        super::events::list,
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

/// Adds what every org route shares, so a handler cannot forget it.
struct Shared;

impl Modify for Shared {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        for (name, description) in [
            (API_KEY, "An org API key, `gsm_<id>_<secret>`."),
            (HOST_CREDENTIAL, "A host credential from `POST /agent/v1/enroll`."),
        ] {
            let scheme =
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some(description));
            components.add_security_scheme(name, SecurityScheme::Http(scheme.build()));
        }
        for (path, item) in doc.paths.paths.iter_mut() {
            if !path.starts_with(ORG_ROUTES) {
                continue;
            }
            let operations =
                [&mut item.get, &mut item.post, &mut item.put, &mut item.delete, &mut item.patch];
            for operation in operations.into_iter().flatten() {
                org_route(operation);
            }
        }
    }
}

fn org_route(operation: &mut Operation) {
    operation.security = Some(vec![SecurityRequirement::new(API_KEY, Vec::<String>::new())]);
    for (status, description) in [
        ("401", "No API key, or one that is malformed, unknown, revoked or wrong."),
        ("503", "The server cannot reach its database; retry shortly."),
    ] {
        let response = ResponseBuilder::new()
            .description(description)
            .content("application/json", error_content())
            .build();
        operation.responses.responses.entry(status.into()).or_insert(response.into());
    }
}

/// `ErrorBody` as response content.
fn error_content() -> Content {
    Content::new(Some(gsm_proto::rest::ErrorBody::schema()))
}
