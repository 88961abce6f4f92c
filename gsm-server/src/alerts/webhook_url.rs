//! Which webhook URLs gsm will store and call: the SSRF guard.
//!
//! A URL is accepted only when its host is on the allow-list (Discord's hosts by default, plus
//! any the server's config adds, such as `127.0.0.1` for a local stand-in in tests), it carries
//! no user name or password, and — unless its host was added explicitly — it is `https`, points
//! at Discord's webhook path and names no IP address. The same check runs on every resolved
//! address before a delivery ([`address_allowed`]), so a DNS name that later resolves to a
//! private address is refused too; redirects are never followed (the HTTP client is built with
//! redirects disabled).

use std::net::IpAddr;

use reqwest::Url;

/// Discord's webhook hosts, allowed by default.
pub const DISCORD_HOSTS: &[&str] = &["discord.com", "discordapp.com"];

/// Why a webhook URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookUrlError {
    /// Not a URL at all.
    #[error("webhook URL is not a valid URL; paste the URL Discord shows under Integrations")]
    Invalid,
    /// A scheme other than https.
    #[error("webhook URL must use https (got {scheme:?})")]
    NotHttps {
        /// The scheme given.
        scheme: String,
    },
    /// User name or password in the URL.
    #[error("webhook URL must not carry a user name or password")]
    Credentials,
    /// A host not on the allow-list.
    #[error(
        "webhook host {host:?} is not allowed; use a discord.com webhook, or add the host to \
         the server's alert_webhook_hosts setting"
    )]
    HostNotAllowed {
        /// The host given.
        host: String,
    },
    /// A Discord host, but not a webhook path.
    #[error("webhook URL must have the path /api/webhooks/<id>/<token>")]
    NotWebhookPath,
}

/// The allow-list: Discord's hosts and the ones the server's config adds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    extra: Vec<String>,
}

impl AllowList {
    /// Discord's hosts plus `extra` (host names or IP addresses, compared case-insensitively).
    pub fn new(extra: &[String]) -> Self {
        Self {
            extra: extra.iter().map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase()).collect(),
        }
    }

    fn is_extra(&self, host: &str) -> bool {
        self.extra.iter().any(|h| h == host)
    }

    /// Checks `url` and returns it parsed.
    pub fn check(&self, url: &str) -> Result<Url, WebhookUrlError> {
        let parsed = Url::parse(url.trim()).map_err(|_| WebhookUrlError::Invalid)?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(WebhookUrlError::Credentials);
        }
        let host = parsed
            .host_str()
            .ok_or(WebhookUrlError::Invalid)?
            .trim_matches(['[', ']'])
            .to_ascii_lowercase();
        if self.is_extra(&host) {
            return match parsed.scheme() {
                "https" | "http" => Ok(parsed),
                scheme => Err(WebhookUrlError::NotHttps { scheme: scheme.to_owned() }),
            };
        }
        let discord = DISCORD_HOSTS
            .iter()
            .any(|d| host == *d || host.strip_suffix(d).is_some_and(|sub| sub.ends_with('.')));
        if !discord {
            return Err(WebhookUrlError::HostNotAllowed { host });
        }
        if parsed.scheme() != "https" {
            return Err(WebhookUrlError::NotHttps { scheme: parsed.scheme().to_owned() });
        }
        if parsed.port().is_some() || !parsed.path().starts_with("/api/webhooks/") {
            return Err(WebhookUrlError::NotWebhookPath);
        }
        Ok(parsed)
    }

    /// True when a delivery to `host` may connect to `ip`: a host added explicitly may resolve
    /// anywhere (the admin vouched for it); any other must resolve to a public address.
    pub fn address_allowed(&self, host: &str, ip: IpAddr) -> bool {
        self.is_extra(&host.trim_matches(['[', ']']).to_ascii_lowercase()) || is_public(ip)
    }
}

/// True for addresses on the public internet: not loopback, private, link-local, shared,
/// unspecified, multicast, documentation or unique-local.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

/// The last four characters of a URL, the only part of a webhook ever shown or logged.
pub fn redacted(url: &str) -> String {
    let tail: String = url.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    format!("…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(extra: &[&str], url: &str, expect: Result<(), WebhookUrlError>) {
        let extra: Vec<String> = extra.iter().map(|h| (*h).to_owned()).collect();
        assert_eq!(AllowList::new(&extra).check(url).map(|_| ()), expect, "{url}");
    }

    #[test]
    fn only_allowed_hosts_pass() {
        let host = |h: &str| Err(WebhookUrlError::HostNotAllowed { host: h.to_owned() });
        check(&[], "https://discord.com/api/webhooks/1/abc", Ok(()));
        check(&[], "https://ptb.discord.com/api/webhooks/1/abc", Ok(()));
        check(&[], "https://DISCORDAPP.com/api/webhooks/1/abc", Ok(()));
        check(&[], "https://evildiscord.com/api/webhooks/1/abc", host("evildiscord.com"));
        check(&[], "https://discord.com.evil.net/api/webhooks/1/a", host("discord.com.evil.net"));
        check(&[], "https://127.0.0.1/api/webhooks/1/abc", host("127.0.0.1"));
        check(&[], "https://[::1]/api/webhooks/1/abc", host("::1"));
        check(&[], "https://169.254.169.254/latest/meta-data", host("169.254.169.254"));
        check(&[], "not a url", Err(WebhookUrlError::Invalid));
        check(
            &[],
            "http://discord.com/api/webhooks/1/abc",
            Err(WebhookUrlError::NotHttps { scheme: "http".to_owned() }),
        );
        check(&[], "https://u:p@discord.com/api/webhooks/1/a", Err(WebhookUrlError::Credentials));
        check(&[], "https://discord.com/api/users/@me", Err(WebhookUrlError::NotWebhookPath));
        check(
            &[],
            "https://discord.com:8443/api/webhooks/1/a",
            Err(WebhookUrlError::NotWebhookPath),
        );
        check(&["127.0.0.1"], "http://127.0.0.1:9000/hook", Ok(()));
        check(
            &["127.0.0.1"],
            "ftp://127.0.0.1/hook",
            Err(WebhookUrlError::NotHttps { scheme: "ftp".to_owned() }),
        );
    }

    #[test]
    fn only_public_addresses_unless_the_host_was_added() {
        let list = AllowList::new(&["127.0.0.1".to_owned()]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(list.address_allowed("discord.com", ip("162.159.128.233")));
        for private in [
            "10.0.0.1",
            "192.168.1.1",
            "172.16.0.1",
            "127.0.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!list.address_allowed("discord.com", ip(private)), "{private}");
        }
        assert!(list.address_allowed("127.0.0.1", ip("127.0.0.1")));
    }

    #[test]
    fn redaction_keeps_the_last_four_characters() {
        assert_eq!(redacted("https://discord.com/api/webhooks/1/secretTOKN"), "…TOKN");
        assert_eq!(redacted("ab"), "…ab");
    }
}
