//! Conformance behaviours of the alert half of the store: rules, alerts, the outbox,
//! notifications, webhooks and settings.

use std::sync::Arc;

use gsm_core::job::HostId;
use gsm_core::rules::Severity;
use gsm_proto::rest::AlertRuleSpec;
use gsm_server::store::alerts::{
    AlertChange, AlertFilter, AlertStatus, DeliveryOutcome, NewAlert, NotificationFilter,
};
use gsm_server::store::{OrgId, Store};
use uuid::Uuid;

use super::{assert_conflict, assert_not_found, at, audit_log, audit_of, new_org};

fn spec(name: &str) -> AlertRuleSpec {
    AlertRuleSpec {
        name: name.to_owned(),
        kind: "host.offline".to_owned(),
        host: None,
        game: None,
        text: None,
        players_above: None,
        players_below: None,
        threshold: None,
        resolve_kind: None,
        cooldown_secs: 60,
        severity: Severity::Critical,
        channels: Some(vec!["in_app".to_owned(), "discord:ops".to_owned()]),
        remediation: None,
        enabled: true,
    }
}

fn new_alert(org: OrgId, rule: Uuid, host: HostId, open: bool, ms: i64) -> NewAlert {
    NewAlert {
        id: Uuid::now_v7(),
        org,
        rule,
        rule_name: "offline".to_owned(),
        host: Some(host),
        game: None,
        kind: "host.offline".to_owned(),
        severity: Severity::Critical,
        message: "host box is offline".to_owned(),
        open,
        at: at(ms),
    }
}

fn channels() -> Vec<String> {
    vec!["in_app".to_owned(), "discord:ops".to_owned()]
}

pub(super) async fn alert_rules_are_created_listed_replaced_and_deleted_with_audit(
    store: Arc<dyn Store>,
) {
    let org = new_org(store.as_ref()).await;
    let other = new_org(store.as_ref()).await;
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let created =
        store.create_alert_rule(org, a, &spec("offline"), &audit_of(org, "rule.create", a)).await;
    assert_eq!(created.unwrap().spec, spec("offline"));
    let detail = assert_conflict(
        store.create_alert_rule(org, b, &spec("offline"), &audit_of(org, "rule.create", b)).await,
    );
    assert!(detail.contains("\"offline\""), "{detail}");
    store
        .create_alert_rule(org, b, &spec("stale"), &audit_of(org, "rule.create", b))
        .await
        .unwrap();
    // The same name in another org is another rule.
    let c = Uuid::now_v7();
    store.create_alert_rule(other, c, &spec("offline"), &audit_of(other, "r", c)).await.unwrap();

    let page = store.list_alert_rules(org, None, 1).await.unwrap();
    assert_eq!(page.iter().map(|r| r.id).collect::<Vec<_>>(), vec![a]);
    let next = store.list_alert_rules(org, Some(a), 10).await.unwrap();
    assert_eq!(next.iter().map(|r| r.id).collect::<Vec<_>>(), vec![b]);

    let mut changed = spec("offline-eu");
    changed.cooldown_secs = 5;
    let replaced =
        store.replace_alert_rule(org, a, &changed, &audit_of(org, "rule.update", a)).await.unwrap();
    assert_eq!(replaced.spec, changed);
    assert_eq!(store.get_alert_rule(org, a).await.unwrap().spec, changed);
    assert_not_found(store.get_alert_rule(other, a).await, "alert rule");
    assert_not_found(
        store.replace_alert_rule(other, a, &changed, &audit_of(other, "r", a)).await,
        "alert rule",
    );
    assert_not_found(
        store.delete_alert_rule(other, a, &audit_of(other, "r", a)).await,
        "alert rule",
    );
    store.delete_alert_rule(org, a, &audit_of(org, "rule.delete", a)).await.unwrap();
    assert_not_found(store.get_alert_rule(org, a).await, "alert rule");

    let all = store.all_alert_rules().await.unwrap();
    assert!(all.iter().any(|r| r.id == b) && all.iter().any(|r| r.id == c));
    assert!(!all.iter().any(|r| r.id == a));
    let actions: Vec<String> =
        audit_log(store.as_ref(), org).await.into_iter().map(|e| e.action).collect();
    assert_eq!(actions, ["rule.delete", "rule.update", "rule.create", "rule.create"]);
}

pub(super) async fn an_open_alert_is_raised_once_resolved_once_with_a_delivery_per_channel(
    store: Arc<dyn Store>,
) {
    let org = new_org(store.as_ref()).await;
    let (rule, host) = (Uuid::now_v7(), HostId::new());
    let raised = store.raise_alert(&new_alert(org, rule, host, true, 0), &channels()).await;
    let raised = raised.unwrap().expect("the first raise is stored");
    assert_eq!(raised.status, AlertStatus::Open);
    let again = store.raise_alert(&new_alert(org, rule, host, true, 10), &channels()).await;
    assert_eq!(again.unwrap(), None, "one open alert per rule and subject");
    // Another host is another subject.
    let other = store.raise_alert(&new_alert(org, rule, HostId::new(), true, 0), &[]).await;
    assert!(other.unwrap().is_some());
    assert_eq!(store.open_alerts().await.unwrap().len(), 2);

    let resolved = store.resolve_alert(org, rule, Some(host), None, at(50), &channels()).await;
    let resolved = resolved.unwrap().expect("the open alert resolves");
    assert_eq!((resolved.id, resolved.status), (raised.id, AlertStatus::Resolved));
    assert_eq!(resolved.resolved_at, Some(at(50)));
    let twice = store.resolve_alert(org, rule, Some(host), None, at(60), &channels()).await;
    assert_eq!(twice.unwrap(), None);
    // Resolved, the subject may raise again.
    let anew = store.raise_alert(&new_alert(org, rule, host, true, 70), &[]).await;
    assert!(anew.unwrap().is_some());

    let claimed = store.claim_deliveries(at(100), 30_000, 10).await.unwrap();
    let mut seen: Vec<(AlertChange, String)> =
        claimed.iter().map(|d| (d.change, d.channel.clone())).collect();
    seen.sort_by(|a, b| (a.0.as_str(), &a.1).cmp(&(b.0.as_str(), &b.1)));
    assert_eq!(
        seen,
        vec![
            (AlertChange::Raised, "discord:ops".to_owned()),
            (AlertChange::Raised, "in_app".to_owned()),
            (AlertChange::Resolved, "discord:ops".to_owned()),
            (AlertChange::Resolved, "in_app".to_owned()),
        ]
    );
    assert!(claimed.iter().all(|d| d.alert.id == raised.id && d.attempts == 1));

    let history = store.list_alerts(org, &page(None, 2)).await.unwrap();
    assert_eq!(history.len(), 2);
    let rest = store.list_alerts(org, &page(Some(history[1].id), 10)).await.unwrap();
    assert_eq!(rest.iter().map(|a| a.id).collect::<Vec<_>>(), vec![raised.id]);
    let empty = store.list_alerts(new_org(store.as_ref()).await, &page(None, 10)).await;
    assert!(empty.unwrap().is_empty());

    // Filters: status, rule and host, each alone and together.
    let other_rule = Uuid::now_v7();
    let other_host = HostId::new();
    store.raise_alert(&new_alert(org, other_rule, other_host, true, 80), &[]).await.unwrap();
    let ids = |filter: AlertFilter| {
        let store = store.clone();
        async move {
            let alerts = store.list_alerts(org, &filter).await.unwrap();
            alerts.into_iter().map(|a| a.id).collect::<Vec<_>>()
        }
    };
    let resolved = AlertFilter { status: Some(AlertStatus::Resolved), ..page(None, 10) };
    assert_eq!(ids(resolved).await, vec![raised.id]);
    let open = AlertFilter { status: Some(AlertStatus::Open), ..page(None, 10) };
    // The other host's, the re-raised one and the other rule's.
    assert_eq!(ids(open).await.len(), 3);
    let by_rule = AlertFilter { rule: Some(other_rule), ..page(None, 10) };
    assert_eq!(ids(by_rule).await.len(), 1);
    let by_host = AlertFilter { host: Some(host), ..page(None, 10) };
    assert_eq!(ids(by_host).await.len(), 2);
    let none = AlertFilter { host: Some(other_host), rule: Some(rule), ..page(None, 10) };
    assert!(ids(none).await.is_empty());
}

fn page(before: Option<Uuid>, limit: u32) -> AlertFilter {
    AlertFilter { status: None, rule: None, host: None, before, limit }
}

fn notifications(unread_only: bool) -> NotificationFilter {
    NotificationFilter { unread_only, before: None, limit: 10 }
}

pub(super) async fn a_claimed_delivery_is_hidden_for_its_lease_retried_and_finished_once(
    store: Arc<dyn Store>,
) {
    let org = new_org(store.as_ref()).await;
    let alert = new_alert(org, Uuid::now_v7(), HostId::new(), false, 0);
    let fired = store.raise_alert(&alert, &["discord:ops".to_owned()]).await.unwrap().unwrap();
    assert_eq!(fired.status, AlertStatus::Fired);
    assert!(store.claim_deliveries(at(-1), 1_000, 10).await.unwrap().is_empty(), "not yet due");
    let first = store.claim_deliveries(at(0), 1_000, 10).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(store.claim_deliveries(at(999), 1_000, 10).await.unwrap().is_empty(), "leased");
    // The lease ran out (the claimer died): claimed again, a second attempt.
    let second = store.claim_deliveries(at(1_000), 1_000, 10).await.unwrap();
    assert_eq!((second[0].id, second[0].attempts), (first[0].id, 2));
    let retry = DeliveryOutcome::Retry { next_at: at(5_000), error: "429".to_owned() };
    store.finish_delivery(second[0].id, &retry, at(1_001)).await.unwrap();
    assert!(store.claim_deliveries(at(4_999), 1_000, 10).await.unwrap().is_empty());
    let third = store.claim_deliveries(at(5_000), 1_000, 10).await.unwrap();
    assert_eq!(third[0].attempts, 3);
    store.finish_delivery(third[0].id, &DeliveryOutcome::Delivered, at(5_001)).await.unwrap();
    assert!(store.claim_deliveries(at(99_999), 1_000, 10).await.unwrap().is_empty());
    assert_not_found(
        store.finish_delivery(third[0].id, &DeliveryOutcome::Delivered, at(5_002)).await,
        "pending delivery",
    );
}

pub(super) async fn concurrent_claims_take_each_delivery_once(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    for _ in 0..20 {
        let alert = new_alert(org, Uuid::now_v7(), HostId::new(), false, 0);
        store.raise_alert(&alert, &["in_app".to_owned()]).await.unwrap();
    }
    let claims: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.claim_deliveries(at(0), 60_000, 7).await.unwrap() })
        })
        .collect();
    let mut ids = Vec::new();
    for claim in claims {
        ids.extend(claim.await.unwrap().into_iter().map(|d| d.id));
    }
    // A claimer that lost rows to another may take fewer than its limit; what is left is
    // still there for the next claim.
    ids.extend(store.claim_deliveries(at(0), 60_000, 20).await.unwrap().into_iter().map(|d| d.id));
    let total = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!((total, ids.len()), (20, 20));
}

pub(super) async fn an_in_app_delivery_stores_one_notification_that_is_marked_read(
    store: Arc<dyn Store>,
) {
    let org = new_org(store.as_ref()).await;
    let alert = new_alert(org, Uuid::now_v7(), HostId::new(), true, 0);
    store.raise_alert(&alert, &["in_app".to_owned()]).await.unwrap();
    let delivery = store.claim_deliveries(at(0), 1_000, 10).await.unwrap().remove(0);
    let first = store.deliver_in_app(&delivery, "box is offline", at(1)).await.unwrap();
    // A retry of the same delivery (a lost answer) stores nothing twice.
    let again = store.deliver_in_app(&delivery, "box is offline", at(2)).await.unwrap();
    assert_eq!(first, again);
    assert_eq!((first.title.as_str(), first.severity), ("box is offline", Severity::Critical));
    assert!(store.claim_deliveries(at(10_000), 1_000, 10).await.unwrap().is_empty());

    let listed = store.list_notifications(org, &notifications(false)).await.unwrap();
    assert_eq!(listed, vec![first.clone()]);
    assert_eq!(store.list_notifications(org, &notifications(true)).await.unwrap(), listed);
    assert_eq!(store.unread_notifications(org).await.unwrap(), 1);
    let other = new_org(store.as_ref()).await;
    assert_not_found(store.mark_notification_read(other, first.id, at(3)).await, "notification");
    let read = store.mark_notification_read(org, first.id, at(3)).await.unwrap();
    assert_eq!(read.read_at, Some(at(3)));
    let reread = store.mark_notification_read(org, first.id, at(4)).await.unwrap();
    assert_eq!(reread.read_at, Some(at(3)), "the first read time stays");
    assert_eq!(store.unread_notifications(org).await.unwrap(), 0);
    assert!(store.list_notifications(org, &notifications(true)).await.unwrap().is_empty());

    // Two more; marking all read marks those two and leaves the first read time alone.
    for ms in [10, 20] {
        let alert = new_alert(org, Uuid::now_v7(), HostId::new(), true, ms);
        store.raise_alert(&alert, &["in_app".to_owned()]).await.unwrap();
    }
    for delivery in store.claim_deliveries(at(20), 1_000, 10).await.unwrap() {
        store.deliver_in_app(&delivery, "another", at(21)).await.unwrap();
    }
    assert_eq!(store.unread_notifications(org).await.unwrap(), 2);
    assert_eq!(store.unread_notifications(other).await.unwrap(), 0);
    assert_eq!(store.mark_all_notifications_read(other, at(30)).await.unwrap(), 0);
    assert_eq!(store.mark_all_notifications_read(org, at(30)).await.unwrap(), 2);
    assert_eq!(store.mark_all_notifications_read(org, at(31)).await.unwrap(), 0);
    let all = store.list_notifications(org, &notifications(false)).await.unwrap();
    let read_at: Vec<_> = all.iter().map(|n| n.read_at).collect();
    assert_eq!(read_at, vec![Some(at(30)), Some(at(30)), Some(at(3))]);
}

pub(super) async fn webhooks_and_default_channels_are_kept_per_org(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let other = new_org(store.as_ref()).await;
    assert_eq!(store.default_channels(org).await.unwrap(), vec!["in_app".to_owned()]);
    let url = "https://discord.com/api/webhooks/1/secretTOKEN";
    let hook = store.put_discord_webhook(org, "ops", url, &audit_of(org, "w", "ops")).await;
    assert_eq!(hook.unwrap().url, url);
    assert!(
        !format!("{:?}", store.get_discord_webhook(org, "ops").await.unwrap())
            .contains("secretTOKEN")
    );
    assert_not_found(store.get_discord_webhook(other, "ops").await, "webhook");
    store.mark_webhook_broken(org, "ops", "404 Unknown Webhook", at(5)).await.unwrap();
    let broken = store.get_discord_webhook(org, "ops").await.unwrap();
    assert_eq!(broken.broken_reason.as_deref(), Some("404 Unknown Webhook"));
    // Setting it again mends it.
    let url2 = "https://discord.com/api/webhooks/2/def";
    store.put_discord_webhook(org, "ops", url2, &audit_of(org, "w", "ops")).await.unwrap();
    let mended = store.list_discord_webhooks(org).await.unwrap();
    assert_eq!(mended.len(), 1);
    assert_eq!((mended[0].url.as_str(), mended[0].broken_reason.clone()), (url2, None));
    assert!(store.list_discord_webhooks(other).await.unwrap().is_empty());
    assert_not_found(
        store.delete_discord_webhook(other, "ops", &audit_of(other, "w", "ops")).await,
        "webhook",
    );
    store.delete_discord_webhook(org, "ops", &audit_of(org, "w", "ops")).await.unwrap();
    assert!(store.list_discord_webhooks(org).await.unwrap().is_empty());

    let set = vec!["in_app".to_owned(), "discord:ops".to_owned()];
    store.set_default_channels(org, &set, &audit_of(org, "settings", org)).await.unwrap();
    assert_eq!(store.default_channels(org).await.unwrap(), set);
    assert_eq!(store.default_channels(other).await.unwrap(), vec!["in_app".to_owned()]);
}
