//! Conformance behaviours of the Discord bot's half of the store: guild links, member links and
//! one-time link codes, and the by-name lookups the slash commands use.

use std::sync::Arc;

use gsm_core::job::{CommandSpec, JobKind};
use gsm_proto::rest::{ConcurrencyPolicy, ScheduleConditions, ScheduleSpec, ScheduleTemplate};
use gsm_server::store::access::{NewUser, UserId};
use gsm_server::store::discord::NewLinkCode;
use gsm_server::store::schedules::ScheduleRecord;
use gsm_server::store::{OrgId, SecretHash, Store};
use uuid::Uuid;

use super::{
    assert_conflict, assert_not_found, at, audit_of, audited_actions, create_host, new_org, secret,
};

async fn member_of(store: &dyn Store, org: OrgId, role: &str) -> UserId {
    let user = NewUser {
        id: UserId(Uuid::now_v7()),
        email: format!("{}@example.com", Uuid::new_v4().simple()),
        display_name: "A member".to_owned(),
        password_hash: "unused".to_owned(),
        now: at(0),
    };
    store.create_user(&user).await.unwrap();
    store.add_member(org, user.id, role, at(0)).await.unwrap();
    user.id
}

/// Stores a code for `discord_user` in `org`, made at `now_ms` and working for ten minutes.
async fn code_for(store: &dyn Store, org: OrgId, discord_user: &str, now_ms: i64) -> SecretHash {
    let hash = secret();
    let code = NewLinkCode {
        code_hash: hash,
        org,
        discord_user: discord_user.to_owned(),
        discord_name: format!("name-of-{discord_user}"),
        now: at(now_ms),
        expires_at: at(now_ms + 600_000),
    };
    store.create_link_code(&code).await.unwrap();
    hash
}

pub async fn a_guild_is_linked_to_one_org_at_a_time_with_audit(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let (a, b) = (new_org(store).await, new_org(store).await);
    assert_eq!(store.guild_org("100").await.unwrap(), None);
    let linked = store.link_guild(a, "100", at(1), &audit_of(a, "guild.link", "100")).await;
    assert_eq!(linked.unwrap().guild_id, "100");
    assert_eq!(store.guild_org("100").await.unwrap(), Some(a));
    assert_eq!(store.org_guild(a).await.unwrap().unwrap().linked_at, at(1));

    // Another org cannot take it, and the refusal writes nothing.
    let detail = assert_conflict(store.link_guild(b, "100", at(2), &audit_of(b, "x", "100")).await);
    assert!(detail.contains("another org"), "{detail}");
    assert_eq!(store.org_guild(b).await.unwrap(), None);
    assert!(audited_actions(store, b).await.is_empty());

    // Linking another guild replaces the org's first; the first is free again.
    store.link_guild(a, "200", at(3), &audit_of(a, "guild.link", "200")).await.unwrap();
    assert_eq!(store.guild_org("100").await.unwrap(), None);
    assert_eq!(store.guild_org("200").await.unwrap(), Some(a));
    store.link_guild(b, "100", at(4), &audit_of(b, "guild.link", "100")).await.unwrap();
    assert_eq!(store.guild_org("100").await.unwrap(), Some(b));

    store.unlink_guild(b, &audit_of(b, "guild.unlink", "100")).await.unwrap();
    assert_eq!(store.guild_org("100").await.unwrap(), None);
    assert_not_found(store.unlink_guild(b, &audit_of(b, "x", "100")).await, "discord guild");
    assert_eq!(
        audited_actions(store, a).await,
        [("guild.link".into(), "100".into()), ("guild.link".into(), "200".into())]
    );

    // A deleted org's guild answers for nobody and may be linked again.
    store.delete_org(a, &audit_of(a, "org.delete", a)).await.unwrap();
    assert_eq!(store.guild_org("200").await.unwrap(), None);
    store.link_guild(b, "200", at(5), &audit_of(b, "guild.link", "200")).await.unwrap();
    assert_eq!(store.guild_org("200").await.unwrap(), Some(b));
}

pub async fn a_link_code_links_its_discord_user_to_a_member_once_before_it_expires(
    store: Arc<dyn Store>,
) {
    let store = store.as_ref();
    let (org, other) = (new_org(store).await, new_org(store).await);
    store.link_guild(org, "1", at(0), &audit_of(org, "guild.link", "1")).await.unwrap();
    let member = member_of(store, org, "viewer").await;
    let outsider = member_of(store, other, "owner").await;
    let link = |code, user, now| {
        let audit = audit_of(org, "member.link", user);
        async move { store.redeem_link_code(org, code, user, at(now), &audit).await }
    };

    // Another org's path, or a non-member, cannot use the code; neither spends it.
    let code = code_for(store, org, "7", 0).await;
    let audit = audit_of(other, "member.link", outsider);
    let foreign = store.redeem_link_code(other, code, outsider, at(1), &audit).await;
    assert_not_found(foreign, "link code");
    assert_not_found(link(code, outsider, 1).await, "member");
    assert_eq!(store.discord_member(org, "7").await.unwrap(), None);

    // A refused attempt rolls back, so the member can still use it — once.
    let linked = link(code, member, 2).await.unwrap();
    assert_eq!((linked.discord_user.as_str(), linked.user), ("7", member));
    assert_eq!(linked.discord_name, "name-of-7");
    let (found, role) = store.discord_member(org, "7").await.unwrap().unwrap();
    assert_eq!((found, role.as_str()), (linked.clone(), "viewer"));
    assert_eq!(store.member_link(org, member).await.unwrap(), Some(linked));
    assert_not_found(link(code, member, 3).await, "link code");
    assert_eq!(store.discord_member(other, "7").await.unwrap(), None);

    // Expired, replaced by a newer code, or dropped with the guild: gone.
    let expired = code_for(store, org, "8", 0).await;
    assert_not_found(link(expired, member, 600_000).await, "link code");
    let relinked = code_for(store, org, "9", 10).await;
    store.link_guild(org, "2", at(20), &audit_of(org, "guild.link", "2")).await.unwrap();
    assert_not_found(link(relinked, member, 30).await, "link code");
    let older = code_for(store, org, "8", 40).await;
    let newer = code_for(store, org, "8", 50).await;
    assert_not_found(link(older, member, 60).await, "link code");

    // The member's second Discord account replaces the first.
    link(newer, member, 70).await.unwrap();
    assert_eq!(store.discord_member(org, "7").await.unwrap(), None);
    assert_eq!(store.discord_member(org, "8").await.unwrap().unwrap().1, "viewer");

    // The role is the membership's, now; a removed member acts as nobody.
    let role_audit = audit_of(org, "member.role", member);
    store.set_member_role(org, member, "operator", &role_audit).await.unwrap();
    assert_eq!(store.discord_member(org, "8").await.unwrap().unwrap().1, "operator");
    store.remove_member(org, member, &audit_of(org, "member.remove", member)).await.unwrap();
    assert_eq!(store.discord_member(org, "8").await.unwrap(), None);

    store.unlink_member(org, member, &audit_of(org, "member.unlink", member)).await.unwrap();
    let again = store.unlink_member(org, member, &audit_of(org, "x", member)).await;
    assert_not_found(again, "discord link");
    let actions: Vec<String> =
        audited_actions(store, org).await.into_iter().map(|(action, _)| action).collect();
    assert_eq!(actions.iter().filter(|a| *a == "member.link").count(), 2, "{actions:?}");
    assert_eq!(actions.last().map(String::as_str), Some("member.unlink"));
}

pub async fn hosts_and_schedules_are_found_by_name_in_their_own_org_only(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let (org, other) = (new_org(store).await, new_org(store).await);
    let host = create_host(store, org, "eu-1").await;
    create_host(store, other, "us-1").await;
    assert_eq!(store.host_by_name(org, "eu-1").await.unwrap().id, host.id);
    assert_not_found(store.host_by_name(org, "us-1").await, "host");
    assert_not_found(store.host_by_name(other, "eu-1").await, "host");
    store.delete_host(org, host.id, at(1), &audit_of(org, "host.delete", host.id)).await.unwrap();
    assert_not_found(store.host_by_name(org, "eu-1").await, "host");

    let spec = ScheduleSpec {
        name: "backup".to_owned(),
        cron: "0 * * * *".to_owned(),
        timezone: "UTC".to_owned(),
        template: ScheduleTemplate {
            hosts: vec![host.id],
            kind: JobKind::Command(CommandSpec {
                program: "/usr/bin/true".to_owned(),
                args: vec![],
                cwd: None,
                env: Default::default(),
            }),
            timeout_secs: Some(30),
            output_cap_bytes: None,
            deadline_secs: None,
        },
        conditions: ScheduleConditions::default(),
        concurrency_policy: ConcurrencyPolicy::Allow,
        starting_deadline_secs: None,
        history_limit: 3,
        suspend: false,
    };
    let schedule = ScheduleRecord {
        id: Uuid::now_v7(),
        org,
        spec,
        next_fire_at: Some(at(3_600_000)),
        last_fire_at: None,
        created_at: at(0),
        updated_at: at(0),
    };
    store.create_schedule(&schedule, &audit_of(org, "schedule.create", schedule.id)).await.unwrap();
    assert_eq!(store.schedule_by_name(org, "backup").await.unwrap(), schedule);
    assert_not_found(store.schedule_by_name(other, "backup").await, "schedule");
    assert_not_found(store.schedule_by_name(org, "Backup").await, "schedule");
}
