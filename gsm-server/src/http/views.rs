//! The API views of stored alerts and notifications, shared by the REST handlers and the org's
//! live stream (`crate::live`), so a frame and a list item of the same thing are the same JSON.

use gsm_proto::rest::{Alert, AlertChange, AlertStatus, Notification};

use crate::http::time;
use crate::store::alerts::{self, AlertRecord, NotificationRecord};

/// The API's name for a stored alert status.
pub fn status(status: alerts::AlertStatus) -> AlertStatus {
    match status {
        alerts::AlertStatus::Open => AlertStatus::Open,
        alerts::AlertStatus::Resolved => AlertStatus::Resolved,
        alerts::AlertStatus::Fired => AlertStatus::Fired,
    }
}

/// The API's name for a stored alert change.
pub fn change(change: alerts::AlertChange) -> AlertChange {
    match change {
        alerts::AlertChange::Raised => AlertChange::Raised,
        alerts::AlertChange::Resolved => AlertChange::Resolved,
    }
}

/// An alert as the API shows it.
pub fn alert(record: AlertRecord) -> Alert {
    Alert {
        id: record.id,
        rule: record.rule,
        rule_name: record.rule_name,
        host: record.host,
        game: record.game,
        kind: record.kind,
        severity: record.severity,
        message: record.message,
        status: status(record.status),
        raised_at: time(record.raised_at),
        resolved_at: record.resolved_at.map(time),
    }
}

/// A notification as the API shows it.
pub fn notification(record: NotificationRecord) -> Notification {
    Notification {
        id: record.id,
        alert: record.alert,
        change: change(record.change),
        severity: record.severity,
        title: record.title,
        created_at: time(record.created_at),
        read_at: record.read_at.map(time),
    }
}
