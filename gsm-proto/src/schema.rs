//! The list of wire types whose JSON Schemas are published in `gsm-proto/schemas/`.
//!
//! The schemas are generated from the Rust types (schemars) and committed, so reviewers see every
//! wire change as a diff; the `schemas_match_the_code` test fails when they drift. Regenerate with
//! `GSM_BLESS=1 cargo nextest run -p gsm-proto schemas`.

use schemars::{Schema, schema_for};

use crate::agent::{AgentMessage, EnrollRequest, EnrollResponse, ServerMessage};
use crate::rest::{
    CreateHost, CreateJob, ErrorBody, Host, HostCreated, Job, JobLogs, OrgInitialized, Page,
};

/// Every published schema, by file stem.
pub fn all() -> Vec<(&'static str, Schema)> {
    vec![
        ("agent-message", schema_for!(AgentMessage)),
        ("server-message", schema_for!(ServerMessage)),
        ("enroll-request", schema_for!(EnrollRequest)),
        ("enroll-response", schema_for!(EnrollResponse)),
        ("error", schema_for!(ErrorBody)),
        ("org-initialized", schema_for!(OrgInitialized)),
        ("create-host", schema_for!(CreateHost)),
        ("host-created", schema_for!(HostCreated)),
        ("host", schema_for!(Host)),
        ("host-page", schema_for!(Page<Host>)),
        ("create-job", schema_for!(CreateJob)),
        ("job", schema_for!(Job)),
        ("job-page", schema_for!(Page<Job>)),
        ("job-logs", schema_for!(JobLogs)),
    ]
}
