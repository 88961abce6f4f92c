//! The server's configuration: defaults < TOML file (`--config`) < `GSM_*` environment < flags.
//!
//! [`ServeArgs`] is what clap reads (flags and, through clap's `env`, the environment — the only
//! place the server reads its environment); [`FileConfig`] is the all-optional TOML; [`Settings`]
//! is the validated result the rest of the server uses. The database URL may hold a password, so
//! `Settings`' `Debug` redacts it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use gsm_core::presence::PresenceConfig;
use serde::Deserialize;

/// Flags (and their `GSM_*` variables) of `gsm-server serve`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// A TOML file with settings; flags and `GSM_*` variables override it.
    #[arg(long, env = "GSM_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "GSM_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory for the SQLite database and other state [default: ./gsm-data].
    #[arg(long, env = "GSM_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL URL (`postgres://…`); without it the server uses SQLite in the data dir.
    #[arg(long, env = "GSM_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Log format: `human` or `json` [default: human].
    #[arg(long, env = "GSM_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Agents' heartbeat interval in milliseconds [default: 5000].
    #[arg(long, env = "GSM_HEARTBEAT_INTERVAL_MS")]
    pub heartbeat_interval_ms: Option<u64>,
    /// Hosts besides discord.com and discordapp.com that webhook URLs may point at,
    /// comma-separated (for a self-hosted relay, or `127.0.0.1` for a local stand-in in tests).
    #[arg(long, env = "GSM_ALERT_WEBHOOK_HOSTS", value_delimiter = ',')]
    pub alert_webhook_hosts: Option<Vec<String>>,
    /// The dashboard's public URL, linked from Discord alerts (`https://gsm.example.com`).
    #[arg(long, env = "GSM_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// The Discord bot's token; the bot runs only when it is set. Prefer the variable (or the
    /// config file) to the flag, which other users of the machine can read in the process list.
    #[arg(long, env = "GSM_DISCORD_BOT_TOKEN", hide_env_values = true)]
    pub discord_bot_token: Option<String>,
}

/// The TOML configuration file; every key optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// See [`ServeArgs::listen`].
    pub listen: Option<SocketAddr>,
    /// See [`ServeArgs::data_dir`].
    pub data_dir: Option<PathBuf>,
    /// See [`ServeArgs::database_url`].
    pub database_url: Option<String>,
    /// See [`ServeArgs::log_format`].
    pub log_format: Option<String>,
    /// See [`ServeArgs::heartbeat_interval_ms`].
    pub heartbeat_interval_ms: Option<u64>,
    /// Missed heartbeats before a host is stale [default: 2].
    pub stale_after_missed: Option<u32>,
    /// Missed heartbeats before a host is offline [default: 3].
    pub offline_after_missed: Option<u32>,
    /// How long a join token works, in seconds [default: 3600].
    pub join_token_ttl_secs: Option<u64>,
    /// How long a job may wait for its host before it ends `lost`, in seconds [default: 3600].
    pub job_deadline_secs: Option<u64>,
    /// How often the latest heartbeats are written to the database, in milliseconds [default: 5000].
    pub heartbeat_flush_ms: Option<u64>,
    /// How often the scheduler looks for due schedules, in milliseconds [default: 1000].
    pub scheduler_tick_ms: Option<u64>,
    /// Lifetime of a user's access token, 1-900 seconds (default 900).
    pub access_token_ttl_secs: Option<u64>,
    /// The file holding the JWT signing secret (default `<data_dir>/jwt-secret`, made at first
    /// start with mode 0600).
    pub jwt_secret_file: Option<PathBuf>,
    /// See [`ServeArgs::alert_webhook_hosts`].
    pub alert_webhook_hosts: Option<Vec<String>>,
    /// See [`ServeArgs::public_url`].
    pub public_url: Option<String>,
    /// The Discord bot (`[discord]`).
    pub discord: Option<DiscordFileConfig>,
}

/// The `[discord]` table of the config file.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordFileConfig {
    /// See [`ServeArgs::discord_bot_token`].
    pub bot_token: Option<String>,
}

impl std::fmt::Debug for DiscordFileConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordFileConfig")
            .field("bot_token", &self.bot_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// How the server logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// Where the server keeps its data.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// SQLite, in this file.
    Sqlite(PathBuf),
    /// PostgreSQL at this URL.
    Postgres(String),
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Database::Postgres(_) => f.write_str("Postgres(<redacted>)"),
        }
    }
}

/// The validated settings of a running server.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The database.
    pub database: Database,
    /// Log format.
    pub log_format: LogFormat,
    /// Heartbeat interval and presence thresholds.
    pub presence: PresenceConfig,
    /// How long a join token works.
    pub join_token_ttl: Duration,
    /// Default time a job may wait for its host.
    pub job_deadline: Duration,
    /// How often the latest heartbeats are persisted.
    pub heartbeat_flush: Duration,
    /// How often the scheduler looks for due schedules; `None` runs no scheduler in this process
    /// (tests drive `scheduler::tick` with their own clock).
    pub scheduler_tick: Option<Duration>,
    /// Users' logins.
    pub auth: AuthSettings,
    /// Alert delivery.
    pub alerts: AlertSettings,
    /// The Discord bot's token; `None` runs no bot.
    pub discord_bot_token: Option<BotToken>,
}

/// The Discord bot's token: a secret, so its `Debug` shows nothing of it and it is never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct BotToken(String);

impl BotToken {
    /// The token, for the one call that logs in to Discord.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for BotToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BotToken(<redacted>)")
    }
}

/// Alert delivery: where webhooks may point and what alerts link to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertSettings {
    /// Webhook hosts allowed besides Discord's (host names or IP addresses, lowercase).
    pub webhook_hosts: Vec<String>,
    /// The dashboard's public URL, without a trailing slash.
    pub public_url: Option<String>,
}

/// Users' logins: token lifetimes, the JWT key, the password hashing cost, login rate limits.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Access token lifetime (at most 15 minutes).
    pub access_token_ttl: Duration,
    /// How long a login session lasts, however often it refreshes.
    pub session_ttl: Duration,
    /// How long an invite works.
    pub invite_ttl: Duration,
    /// The HS256 secret's file.
    pub jwt_secret_file: PathBuf,
    /// argon2id memory cost in KiB. The default, 19 MiB with 2 passes (OWASP's first choice), takes
    /// about 20-40 ms on one core of our benchmark machine: login p99 stays far below 250 ms at
    /// 10 logins/s on 2 cores (`gsm-bench auth`).
    pub password_memory_kib: u32,
    /// argon2id passes.
    pub password_iterations: u32,
    /// Logins per client address.
    pub login_per_ip: RateLimit,
    /// Logins per account (email), whoever tries.
    pub login_per_account: RateLimit,
}

/// A token bucket: `burst` at once, refilled at `per_minute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Bucket size.
    pub burst: u32,
    /// Refill rate.
    pub per_minute: u32,
}

impl Settings {
    /// Settings for tests and embedding: SQLite in `data_dir`, defaults otherwise.
    pub fn for_data_dir(data_dir: &Path) -> Settings {
        resolve(
            ServeArgs { data_dir: Some(data_dir.to_path_buf()), ..ServeArgs::default() },
            FileConfig::default(),
        )
        .unwrap_or_else(|err| {
            unreachable!("default settings are valid (invariant of config.rs): {err}")
        })
    }
}

/// Reads the file named by `--config` (if any) and merges it under the flags.
pub fn load(args: ServeArgs) -> anyhow::Result<Settings> {
    let file = match &args.config {
        Some(path) => read_file(path)?,
        None => FileConfig::default(),
    };
    resolve(args, file)
}

/// A secret from the first line of a file (for `init --password-file`).
pub fn read_secret_file(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the secret file {}", path.display()))?;
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

/// A secret from the environment variable `name` (for `init --password-env`): the one place
/// besides clap that reads the environment, and only for a variable the admin named.
pub fn read_secret_env(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| format!("reading the environment variable {name}"))
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
}

/// Merges flags/environment over the file over defaults, and validates the result.
pub fn resolve(args: ServeArgs, file: FileConfig) -> anyhow::Result<Settings> {
    let listen = args.listen.or(file.listen).unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080)));
    let data_dir = args.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from("gsm-data"));
    let database = match args.database_url.or(file.database_url) {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Database::Postgres(url)
        }
        Some(_) => bail!(
            "database URL must start with postgres:// or postgresql://; leave it unset to use SQLite in the data dir"
        ),
        None => Database::Sqlite(data_dir.join("gsm.sqlite3")),
    };
    let log_format = match args.log_format.or(file.log_format).as_deref() {
        None | Some("human") => LogFormat::Human,
        Some("json") => LogFormat::Json,
        Some(other) => bail!("log format {other:?} is not known; use `human` or `json`"),
    };
    let interval_ms = args.heartbeat_interval_ms.or(file.heartbeat_interval_ms).unwrap_or(5000);
    let defaults = PresenceConfig::default();
    let presence = PresenceConfig {
        interval: Duration::from_millis(interval_ms),
        stale_after_missed: file.stale_after_missed.unwrap_or(defaults.stale_after_missed),
        offline_after_missed: file.offline_after_missed.unwrap_or(defaults.offline_after_missed),
    };
    presence.validate().context("invalid presence settings")?;
    let secs = |value: Option<u64>, default: u64, name: &str| -> anyhow::Result<Duration> {
        match value.unwrap_or(default) {
            0 => bail!("{name} must be at least 1"),
            n => Ok(Duration::from_secs(n)),
        }
    };
    let heartbeat_flush_ms = file.heartbeat_flush_ms.unwrap_or(5000);
    if heartbeat_flush_ms == 0 {
        bail!("heartbeat_flush_ms must be at least 1");
    }
    let scheduler_tick_ms = file.scheduler_tick_ms.unwrap_or(1000);
    if !(10..=60_000).contains(&scheduler_tick_ms) {
        bail!("scheduler_tick_ms is {scheduler_tick_ms}; use 10 to 60000");
    }
    let jwt_secret_file = file.jwt_secret_file.unwrap_or_else(|| data_dir.join("jwt-secret"));
    let mut webhook_hosts = Vec::new();
    for host in args.alert_webhook_hosts.or(file.alert_webhook_hosts).unwrap_or_default() {
        let host = host.trim().to_ascii_lowercase();
        if host.is_empty() || (host.contains(['/', ':', '@']) && !host.starts_with('[')) {
            bail!(
                "alert webhook host {host:?} must be a bare host name or IP address, no scheme, port or path"
            );
        }
        webhook_hosts.push(host);
    }
    let public_url = match args.public_url.or(file.public_url) {
        Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
            Some(url.trim_end_matches('/').to_owned())
        }
        Some(url) => bail!("public_url {url:?} must start with https:// or http://"),
        None => None,
    };
    let discord_bot_token =
        match args.discord_bot_token.or(file.discord.and_then(|discord| discord.bot_token)) {
            Some(token) if token.trim().is_empty() => None,
            Some(token) if token.trim().chars().any(|c| c.is_whitespace() || c.is_control()) => {
                bail!("the Discord bot token holds spaces or control characters; paste it again")
            }
            Some(token) => Some(BotToken(token.trim().to_owned())),
            None => None,
        };
    Ok(Settings {
        listen,
        data_dir,
        database,
        log_format,
        presence,
        join_token_ttl: secs(file.join_token_ttl_secs, 3600, "join_token_ttl_secs")?,
        job_deadline: secs(file.job_deadline_secs, 3600, "job_deadline_secs")?,
        heartbeat_flush: Duration::from_millis(heartbeat_flush_ms),
        scheduler_tick: Some(Duration::from_millis(scheduler_tick_ms)),
        auth: AuthSettings {
            access_token_ttl: match file.access_token_ttl_secs.unwrap_or(900) {
                n @ 1..=900 => Duration::from_secs(n),
                n => bail!("access_token_ttl_secs is {n}; use 1 to 900 (at most 15 minutes)"),
            },
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            invite_ttl: Duration::from_secs(7 * 24 * 3600),
            jwt_secret_file,
            password_memory_kib: 19 * 1024,
            password_iterations: 2,
            login_per_ip: RateLimit { burst: 30, per_minute: 120 },
            login_per_account: RateLimit { burst: 10, per_minute: 10 },
        },
        alerts: AlertSettings { webhook_hosts, public_url },
        discord_bot_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let file: FileConfig = toml::from_str(
            "listen = \"127.0.0.1:9000\"\nheartbeat_interval_ms = 1000\njob_deadline_secs = 60",
        )
        .unwrap();
        let args =
            ServeArgs { listen: Some("127.0.0.1:9100".parse().unwrap()), ..ServeArgs::default() };
        let settings = resolve(args, file).unwrap();
        assert_eq!(settings.listen.port(), 9100);
        assert_eq!(settings.presence.interval, Duration::from_secs(1));
        assert_eq!(settings.job_deadline, Duration::from_secs(60));
        assert_eq!(settings.join_token_ttl, Duration::from_secs(3600));
        assert_eq!(settings.database, Database::Sqlite(PathBuf::from("gsm-data/gsm.sqlite3")));
    }

    #[test]
    fn bad_settings_are_refused_with_a_reason() {
        let err = |file: &str| {
            resolve(ServeArgs::default(), toml::from_str(file).unwrap()).unwrap_err().to_string()
        };
        assert!(err("database_url = \"mysql://x\"").contains("postgres://"));
        assert!(err("log_format = \"xml\"").contains("human"));
        assert!(err("job_deadline_secs = 0").contains("at least 1"));
        assert!(err("alert_webhook_hosts = [\"http://x\"]").contains("bare host"));
        assert!(err("public_url = \"gsm.example\"").contains("https://"));
        let unknown = toml::from_str::<FileConfig>("listn = \"x\"").unwrap_err().to_string();
        assert!(unknown.contains("unknown field"), "{unknown}");
    }

    #[test]
    fn the_database_url_never_reaches_debug_output() {
        let args = ServeArgs {
            database_url: Some("postgres://u:hunter2@db/gsm".into()),
            ..ServeArgs::default()
        };
        let settings = resolve(args, FileConfig::default()).unwrap();
        assert!(!format!("{settings:?}").contains("hunter2"));
    }

    #[test]
    fn the_discord_bot_token_comes_from_the_file_or_the_environment_and_never_reaches_debug() {
        let file: FileConfig = toml::from_str("[discord]\nbot_token = \"file-t0ken\"").unwrap();
        assert!(!format!("{file:?}").contains("file-t0ken"));
        let settings = resolve(ServeArgs::default(), file.clone()).unwrap();
        assert_eq!(settings.discord_bot_token.as_ref().map(BotToken::expose), Some("file-t0ken"));
        assert!(!format!("{settings:?}").contains("file-t0ken"));
        let args =
            ServeArgs { discord_bot_token: Some("env-t0ken".into()), ..ServeArgs::default() };
        let settings = resolve(args, file).unwrap();
        assert_eq!(settings.discord_bot_token.as_ref().map(BotToken::expose), Some("env-t0ken"));
        let none = resolve(ServeArgs::default(), FileConfig::default()).unwrap();
        assert_eq!(none.discord_bot_token, None);
        let bad = toml::from_str("[discord]\nbot_token = \"a b\"").unwrap();
        let err = resolve(ServeArgs::default(), bad).unwrap_err().to_string();
        assert!(err.contains("paste it again"), "{err}");
    }

    #[test]
    fn the_example_config_parses() {
        let text = include_str!("../../examples/server/gsm-server.toml");
        let file: FileConfig = toml::from_str(text).unwrap();
        resolve(ServeArgs::default(), file).unwrap();
    }
}
