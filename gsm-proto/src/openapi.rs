//! The REST types as OpenAPI components (feature `openapi`), for the server's generated spec.
//!
//! The schemas come from the same `schemars` derives that produce the published JSON Schemas in
//! `schemas/`, so the OpenAPI document and the JSON Schemas cannot disagree, and gsm-core needs no
//! second schema derive. `utoipa` only needs each type's name: [`ToSchema`] here answers with a
//! `$ref` to `#/components/schemas/<name>`, and [`components`] supplies what those names point to.

use std::borrow::Cow;

use gsm_core::job::JobState;
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use crate::agent::{EnrollRequest, EnrollResponse};
use crate::rest::HostMetrics;
use crate::rest::{
    AcceptInvite, Alert, AlertRule, AlertRuleSpec, ApiKey, ApiKeyCreated, AuditEntry, CreateApiKey,
    CreateHost, CreateInvite, CreateJob, ErrorBody, Game, GameEvent, GameList, GameTypeList, Host,
    HostCreated, Invite, InviteAccepted, InviteCreated, Job, JobLogs, Login, MarkedRead, Me,
    Member, Notification, Org, OrgMembership, OrgName, OrgSettings, Page, PatchSchedule,
    PatchSettings, PutGame, RefreshRequest, Schedule, ScheduleFire, ScheduleSpec, SetRole,
    StreamEvent, TokenPair, UnreadCount,
};
use crate::rest::{DiscordBotSettings, DiscordLink, PutDiscordBotSettings, RedeemDiscordLink};

/// Where the components live in an OpenAPI document, as a JSON pointer.
const COMPONENTS_PATH: &str = "/components/schemas";

/// Implements utoipa's traits for wire types: the name is schemars' schema name, the schema a
/// reference to it.
macro_rules! bridge {
    ($($ty:ty),* $(,)?) => {
        $(
            impl PartialSchema for $ty {
                fn schema() -> RefOr<Schema> {
                    RefOr::Ref(Ref::from_schema_name(<$ty as JsonSchema>::schema_name()))
                }
            }

            impl ToSchema for $ty {
                fn name() -> Cow<'static, str> {
                    <$ty as JsonSchema>::schema_name()
                }
            }
        )*

        /// Every bridged type's schema (and those they contain), keyed by schema name, with
        /// references pointing into `#/components/schemas/`.
        pub fn components() -> Map<String, Value> {
            let mut generator = SchemaGenerator::new(SchemaSettings::draft2020_12().with(|s| {
                s.definitions_path = COMPONENTS_PATH.into();
            }));
            $(let _ = generator.subschema_for::<$ty>();)*
            generator.take_definitions(true)
        }
    };
}

bridge!(
    ErrorBody,
    CreateHost,
    HostCreated,
    Host,
    Page<Host>,
    HostMetrics,
    CreateJob,
    Job,
    Page<Job>,
    JobLogs,
    PutGame,
    Game,
    GameList,
    GameTypeList,
    Page<GameEvent>,
    EnrollRequest,
    EnrollResponse,
    Login,
    RefreshRequest,
    TokenPair,
    Me,
    Org,
    OrgName,
    Page<OrgMembership>,
    Page<Member>,
    SetRole,
    CreateInvite,
    InviteCreated,
    Page<Invite>,
    AcceptInvite,
    InviteAccepted,
    CreateApiKey,
    ApiKeyCreated,
    Page<ApiKey>,
    Page<AuditEntry>,
    ScheduleSpec,
    PatchSchedule,
    Schedule,
    Page<Schedule>,
    Page<ScheduleFire>,
    AlertRuleSpec,
    AlertRule,
    Page<AlertRule>,
    Page<Alert>,
    Notification,
    Page<Notification>,
    UnreadCount,
    MarkedRead,
    StreamEvent,
    OrgSettings,
    PatchSettings,
    DiscordBotSettings,
    PutDiscordBotSettings,
    RedeemDiscordLink,
    DiscordLink,
);

/// A page of hosts: `utoipa`'s route attributes name a generic body through an alias.
pub type HostPage = Page<Host>;

/// A page of jobs.
pub type JobPage = Page<Job>;

/// A page of the caller's orgs, with their role in each.
pub type OrgMembershipPage = Page<OrgMembership>;

/// A page of an org's members.
pub type MemberPage = Page<Member>;

/// A page of an org's invites.
pub type InvitePage = Page<Invite>;

/// A page of an org's API keys.
pub type ApiKeyPage = Page<ApiKey>;

/// A page of an org's audit log.
pub type AuditPage = Page<AuditEntry>;
/// A page of game events.
pub type GameEventPage = Page<GameEvent>;

/// A page of an org's schedules.
pub type SchedulePage = Page<Schedule>;

/// A page of a schedule's fires.
pub type ScheduleFirePage = Page<ScheduleFire>;

/// A page of an org's alert rules.
pub type AlertRulePage = Page<AlertRule>;

/// A page of an org's alerts.
pub type AlertPage = Page<Alert>;

/// A page of an org's notifications.
pub type NotificationPage = Page<Notification>;

/// Stands for [`JobState`] where a route takes one as a parameter: gsm-core has no utoipa traits,
/// and its schema is already among the [`components`] (a [`Job`] holds one).
pub struct JobStateRef;

impl PartialSchema for JobStateRef {
    fn schema() -> RefOr<Schema> {
        RefOr::Ref(Ref::from_schema_name(<JobState as JsonSchema>::schema_name()))
    }
}

impl ToSchema for JobStateRef {
    fn name() -> Cow<'static, str> {
        <JobState as JsonSchema>::schema_name()
    }
}
