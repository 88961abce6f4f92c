//! Discord webhook deliveries as pure code: the embed a delivery posts ([`payload`]), how to read
//! Discord's answer ([`classify`]) and how long to wait before a retry ([`backoff`]).
//!
//! A 429 waits exactly what Discord says (`retry_after` in the body, else the `Retry-After`
//! header) and, when the limit is global, holds every Discord delivery until then; a 5xx or a
//! network error retries with exponential backoff; any other 4xx (a deleted webhook, a bad
//! token) will not get better by retrying, so the webhook is marked broken with Discord's reason.
//! The embed never mentions anyone: user text from games could hold `@everyone`.

use std::time::Duration;

use gsm_core::rules::Severity;
use jiff::Timestamp;
use serde_json::{Value, json};

/// The longest wait a 429 can impose; a larger `retry_after` is capped (and retried then).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// The longest backoff between retries after errors.
pub const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// What Discord's answer means for the delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Accepted.
    Delivered,
    /// Rate-limited: try again after `wait`; `global` holds every Discord delivery that long.
    RateLimited {
        /// How long.
        wait: Duration,
        /// True for Discord's global limit.
        global: bool,
    },
    /// A transient failure: retry with backoff.
    Retry {
        /// Why, for the outbox row.
        reason: String,
    },
    /// Refused for good: mark the webhook broken.
    Broken {
        /// Why, with Discord's message when it sent one.
        reason: String,
    },
}

/// Reads an HTTP answer from Discord.
pub fn classify(
    status: u16,
    retry_after_header: Option<&str>,
    global_header: Option<&str>,
    body: &[u8],
) -> Answer {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    match status {
        200..=299 => Answer::Delivered,
        429 => {
            let from_body =
                json.as_ref().and_then(|b| b.get("retry_after")).and_then(Value::as_f64);
            let from_header = retry_after_header.and_then(|h| h.trim().parse::<f64>().ok());
            let secs = from_body.or(from_header).unwrap_or(1.0);
            let wait = if secs.is_finite() && secs > 0.0 {
                Duration::try_from_secs_f64(secs).unwrap_or(MAX_RETRY_AFTER).min(MAX_RETRY_AFTER)
            } else {
                Duration::ZERO
            };
            let global = json.as_ref().and_then(|b| b.get("global")).and_then(Value::as_bool)
                == Some(true)
                || global_header.is_some_and(|h| h.eq_ignore_ascii_case("true"));
            Answer::RateLimited { wait, global }
        }
        408 | 500..=599 => Answer::Retry { reason: format!("Discord answered HTTP {status}") },
        300..=399 => Answer::Broken {
            reason: format!("Discord answered a redirect (HTTP {status}); redirects are refused"),
        },
        400..=499 => {
            let message = json
                .as_ref()
                .and_then(|b| b.get("message"))
                .and_then(Value::as_str)
                .map(|m| format!(": {}", truncate(m, 200)))
                .unwrap_or_default();
            Answer::Broken {
                reason: format!("Discord refused the webhook (HTTP {status}){message}"),
            }
        }
        _ => Answer::Retry { reason: format!("unexpected HTTP {status}") },
    }
}

/// The wait before retry number `attempts` (1 after the first failure): 2, 4, 8 … seconds,
/// at most [`MAX_BACKOFF`].
pub fn backoff(attempts: u32) -> Duration {
    let secs = 1u64.checked_shl(attempts.min(20)).unwrap_or(u64::MAX);
    Duration::from_secs(secs).min(MAX_BACKOFF)
}

/// What an embed tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Embed<'a> {
    /// True for a resolve, false for a raise.
    pub resolved: bool,
    /// How loud.
    pub severity: Severity,
    /// The rule's name.
    pub rule: &'a str,
    /// What happened.
    pub message: &'a str,
    /// The host's name, if the alert is about one.
    pub host: Option<&'a str>,
    /// The game instance, if the alert is about one.
    pub game: Option<&'a str>,
    /// When it was raised or resolved.
    pub at: Timestamp,
    /// The dashboard's page for the alert, if the server knows its public URL.
    pub link: Option<&'a str>,
}

/// The embed's colour: green for a resolve, else by severity.
pub fn colour(resolved: bool, severity: Severity) -> u32 {
    match (resolved, severity) {
        (true, _) => 0x2E_CC_71,
        (false, Severity::Critical) => 0xE7_4C_3C,
        (false, Severity::Warning) => 0xF1_C4_0F,
        (false, Severity::Info) => 0x34_98_DB,
    }
}

/// The JSON body posted to the webhook.
pub fn payload(embed: &Embed<'_>) -> Value {
    let state = if embed.resolved { "Resolved" } else { "Alert" };
    let mut fields =
        vec![json!({"name": "Severity", "value": embed.severity.as_str(), "inline": true})];
    if let Some(host) = embed.host {
        fields.push(json!({"name": "Host", "value": truncate(host, 1024), "inline": true}));
    }
    if let Some(game) = embed.game {
        fields.push(json!({"name": "Game", "value": truncate(game, 1024), "inline": true}));
    }
    let mut body = json!({
        "title": truncate(&format!("{state}: {}", embed.rule), 256),
        "description": truncate(embed.message, 4096),
        "color": colour(embed.resolved, embed.severity),
        "timestamp": embed.at.to_string(),
        "fields": fields,
        "footer": {"text": "gsm"},
    });
    if let Some(link) = embed.link {
        body["url"] = json!(link);
    }
    json!({"username": "gsm", "embeds": [body], "allowed_mentions": {"parse": []}})
}

/// At most `max` characters of `text`, with an ellipsis when cut.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(status: u16, header: Option<&str>, global: Option<&str>, body: &str, expect: Answer) {
        assert_eq!(classify(status, header, global, body.as_bytes()), expect, "{status} {body}");
    }

    #[test]
    fn answers_are_classified() {
        let limited =
            |ms: u64, global: bool| Answer::RateLimited { wait: Duration::from_millis(ms), global };
        check(204, None, None, "", Answer::Delivered);
        check(
            429,
            Some("9"),
            None,
            r#"{"retry_after": 1.5, "global": false}"#,
            limited(1500, false),
        );
        check(429, Some("2"), None, "", limited(2000, false));
        check(429, None, Some("true"), "", limited(1000, true));
        check(429, None, None, r#"{"retry_after": 0.25, "global": true}"#, limited(250, true));
        check(
            429,
            None,
            None,
            r#"{"retry_after": 1e12}"#,
            Answer::RateLimited { wait: MAX_RETRY_AFTER, global: false },
        );
        check(503, None, None, "", Answer::Retry { reason: "Discord answered HTTP 503".into() });
        check(
            404,
            None,
            None,
            r#"{"message": "Unknown Webhook", "code": 10015}"#,
            Answer::Broken {
                reason: "Discord refused the webhook (HTTP 404): Unknown Webhook".into(),
            },
        );
        check(
            301,
            None,
            None,
            "",
            Answer::Broken {
                reason: "Discord answered a redirect (HTTP 301); redirects are refused".into(),
            },
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let secs: Vec<u64> = [1, 2, 3, 9, 10, 64].map(|a| backoff(a).as_secs()).to_vec();
        assert_eq!(secs, [2, 4, 8, 512, 600, 600]);
    }

    #[test]
    fn payload_carries_severity_host_game_time_and_link_and_mentions_nobody() {
        let at: Timestamp = "2026-11-28T10:00:00Z".parse().unwrap();
        let embed = Embed {
            resolved: false,
            severity: Severity::Critical,
            rule: "host offline",
            message: "@everyone eu-1 is offline",
            host: Some("eu-1"),
            game: Some("main"),
            at,
            link: Some("https://gsm.example/alerts/1"),
        };
        let body = payload(&embed);
        let e = &body["embeds"][0];
        assert_eq!(e["title"], "Alert: host offline");
        assert_eq!(e["color"], 0xE7_4C_3C);
        assert_eq!(e["timestamp"], "2026-11-28T10:00:00Z");
        assert_eq!(e["url"], "https://gsm.example/alerts/1");
        assert_eq!(e["fields"][1]["value"], "eu-1");
        assert_eq!(e["fields"][2]["value"], "main");
        assert_eq!(body["allowed_mentions"]["parse"], json!([]));
        let resolved = payload(&Embed { resolved: true, ..embed });
        assert_eq!(resolved["embeds"][0]["color"], 0x2E_CC_71);
        assert_eq!(resolved["embeds"][0]["title"], "Resolved: host offline");
    }

    #[test]
    fn long_text_is_cut_to_discords_limits() {
        let long = "x".repeat(5000);
        let at = Timestamp::UNIX_EPOCH;
        let embed = Embed {
            resolved: false,
            severity: Severity::Info,
            rule: &long,
            message: &long,
            host: None,
            game: None,
            at,
            link: None,
        };
        let body = payload(&embed);
        assert_eq!(body["embeds"][0]["title"].as_str().unwrap().chars().count(), 256);
        assert_eq!(body["embeds"][0]["description"].as_str().unwrap().chars().count(), 4096);
    }
}
