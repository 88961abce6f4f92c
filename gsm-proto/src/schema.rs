//! The list of wire types whose JSON Schemas are published in `gsm-proto/schemas/`.
//!
//! The schemas are generated from the Rust types (schemars) and committed, so reviewers see every
//! wire change as a diff; the `schemas_match_the_code` test fails when they drift. Regenerate with
//! `GSM_BLESS=1 cargo nextest run -p gsm-proto schemas`.

use schemars::{Schema, schema_for};

use crate::agent::{AgentMessage, EnrollRequest, EnrollResponse, ServerMessage};
use crate::rest::HostMetrics;
use crate::rest::{
    AcceptInvite, Alert, AlertRule, AlertRuleSpec, ApiKey, ApiKeyCreated, AuditEntry, CreateApiKey,
    CreateHost, CreateInvite, CreateJob, ErrorBody, Game, GameEvent, GameList, GameTypeList, Host,
    HostCreated, Invite, InviteAccepted, InviteCreated, Job, JobLogs, Login, MarkedRead, Me,
    Member, Notification, Org, OrgInitialized, OrgMembership, OrgName, OrgSettings, Page,
    PatchSchedule, PatchSettings, PutGame, RefreshRequest, Schedule, ScheduleFire, ScheduleSpec,
    SetRole, StreamEvent, TokenPair, UnreadCount, User,
};
use crate::rest::{DiscordBotSettings, DiscordLink, PutDiscordBotSettings, RedeemDiscordLink};

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
        ("host-metrics", schema_for!(HostMetrics)),
        ("create-job", schema_for!(CreateJob)),
        ("job", schema_for!(Job)),
        ("job-page", schema_for!(Page<Job>)),
        ("job-logs", schema_for!(JobLogs)),
        ("put-game", schema_for!(PutGame)),
        ("game", schema_for!(Game)),
        ("game-list", schema_for!(GameList)),
        ("game-type-list", schema_for!(GameTypeList)),
        ("game-event-page", schema_for!(Page<GameEvent>)),
        ("login", schema_for!(Login)),
        ("refresh-request", schema_for!(RefreshRequest)),
        ("token-pair", schema_for!(TokenPair)),
        ("user", schema_for!(User)),
        ("me", schema_for!(Me)),
        ("org", schema_for!(Org)),
        ("org-name", schema_for!(OrgName)),
        ("org-membership-page", schema_for!(Page<OrgMembership>)),
        ("member-page", schema_for!(Page<Member>)),
        ("set-role", schema_for!(SetRole)),
        ("create-invite", schema_for!(CreateInvite)),
        ("invite", schema_for!(Invite)),
        ("invite-created", schema_for!(InviteCreated)),
        ("invite-page", schema_for!(Page<Invite>)),
        ("accept-invite", schema_for!(AcceptInvite)),
        ("invite-accepted", schema_for!(InviteAccepted)),
        ("create-api-key", schema_for!(CreateApiKey)),
        ("api-key", schema_for!(ApiKey)),
        ("api-key-created", schema_for!(ApiKeyCreated)),
        ("api-key-page", schema_for!(Page<ApiKey>)),
        ("audit-entry", schema_for!(AuditEntry)),
        ("audit-page", schema_for!(Page<AuditEntry>)),
        ("schedule-spec", schema_for!(ScheduleSpec)),
        ("patch-schedule", schema_for!(PatchSchedule)),
        ("schedule", schema_for!(Schedule)),
        ("schedule-page", schema_for!(Page<Schedule>)),
        ("schedule-fire-page", schema_for!(Page<ScheduleFire>)),
        ("alert-rule-spec", schema_for!(AlertRuleSpec)),
        ("alert-rule", schema_for!(AlertRule)),
        ("alert-rule-page", schema_for!(Page<AlertRule>)),
        ("alert-page", schema_for!(Page<Alert>)),
        ("notification", schema_for!(Notification)),
        ("notification-page", schema_for!(Page<Notification>)),
        ("unread-count", schema_for!(UnreadCount)),
        ("marked-read", schema_for!(MarkedRead)),
        ("stream-event", schema_for!(StreamEvent)),
        ("org-settings", schema_for!(OrgSettings)),
        ("patch-settings", schema_for!(PatchSettings)),
        ("discord-bot-settings", schema_for!(DiscordBotSettings)),
        ("put-discord-bot-settings", schema_for!(PutDiscordBotSettings)),
        ("redeem-discord-link", schema_for!(RedeemDiscordLink)),
        ("discord-link", schema_for!(DiscordLink)),
    ]
}
