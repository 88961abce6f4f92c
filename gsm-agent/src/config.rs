//! The agent's configuration: defaults < TOML file (`--config`) < `GSM_AGENT_*` environment <
//! flags, validated into typed values.
//!
//! Each source is read into the same all-optional [`Layer`]; [`resolve`] merges layers and
//! validates once, so the precedence is one pure function that tests call with explicit layers.
//! This module is the only place the agent reads its environment ([`load_run`] and
//! [`load_enroll`] take `std::env::vars_os()` there). The variables carry an `AGENT` infix
//! (`GSM_AGENT_LOG_FORMAT`) because the server's `GSM_*` names mean other things and both
//! binaries may share a shell or a unit file's environment. Secrets (the join token) are
//! [`Secret`]s, which never print.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Url;
use serde::Deserialize;

use crate::credential::Secret;

/// Where the agent keeps its credential, ledger and spool unless told otherwise.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/gsm-agent";
/// The policy file the agent loads unless told otherwise.
pub const DEFAULT_POLICY: &str = "/etc/gsm-agent/policy.toml";
/// The first reconnect delay's upper bound.
pub const DEFAULT_BACKOFF_INITIAL: Duration = Duration::from_secs(1);
/// The cap on reconnect delays.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(60);
/// How much disk the spool may use for unacknowledged output.
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 1 << 30;
/// How long finished job ids are kept so a re-delivery is recognised.
pub const DEFAULT_LEDGER_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// The environment variable that names the config file.
const ENV_CONFIG: &str = "GSM_AGENT_CONFIG";
/// The environment variable that may carry the join token, so it stays out of `ps` and history.
const ENV_JOIN_TOKEN: &str = "GSM_AGENT_JOIN_TOKEN";

/// Flags of `gsm-agent run`. Each setting may also come from the config file or a
/// `GSM_AGENT_*` variable (named after the flag: `--log-format` is `GSM_AGENT_LOG_FORMAT`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RunArgs {
    /// A TOML file with settings (see examples/agent/agent.toml) [env: GSM_AGENT_CONFIG].
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Directory for the credential, the job ledger and the output spool
    /// [default: /var/lib/gsm-agent].
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// The host policy file [default: /etc/gsm-agent/policy.toml].
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Server URL, overriding the one recorded at enrollment.
    #[arg(long)]
    pub server: Option<String>,
    /// Heartbeat interval in milliseconds, overriding the server's.
    #[arg(long)]
    pub heartbeat_interval_ms: Option<u64>,
    /// Upper bound of the first reconnect delay, in milliseconds [default: 1000].
    #[arg(long)]
    pub reconnect_backoff_initial_ms: Option<u64>,
    /// Cap on the reconnect delay, in milliseconds [default: 60000].
    #[arg(long)]
    pub reconnect_backoff_max_ms: Option<u64>,
    /// Disk the spool may use for output the server has not acknowledged [default: 1073741824].
    #[arg(long)]
    pub spool_max_bytes: Option<u64>,
    /// How long finished job ids are remembered, in seconds [default: 604800].
    #[arg(long)]
    pub ledger_retention_secs: Option<u64>,
    /// Log format: `human` or `json` [default: human].
    #[arg(long)]
    pub log_format: Option<String>,
}

/// Flags of `gsm-agent enroll`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct EnrollArgs {
    /// The server's URL, e.g. https://gsm.example.com [env: GSM_AGENT_SERVER].
    #[arg(long)]
    pub server: Option<String>,
    /// The one-time join token the server gave when the host was created
    /// [env: GSM_AGENT_JOIN_TOKEN].
    #[arg(long)]
    pub token: Option<String>,
    /// Where to keep the credential [default: /var/lib/gsm-agent; env: GSM_AGENT_STATE_DIR].
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Enroll again even though this state dir already holds a credential.
    #[arg(long)]
    pub force: bool,
    /// A TOML file to take the state dir and server from [env: GSM_AGENT_CONFIG].
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Log format: `human` or `json` [default: human].
    #[arg(long)]
    pub log_format: Option<String>,
    /// The host policy file whose program rules enrollment reports, when it can be read
    /// [default: /etc/gsm-agent/policy.toml; env: GSM_AGENT_POLICY].
    #[arg(long)]
    pub policy: Option<PathBuf>,
}

/// One source of settings: every key optional. Also the config file's shape.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    /// See [`RunArgs::state_dir`].
    pub state_dir: Option<PathBuf>,
    /// See [`RunArgs::policy`].
    pub policy: Option<PathBuf>,
    /// See [`RunArgs::server`].
    pub server: Option<String>,
    /// See [`RunArgs::heartbeat_interval_ms`].
    pub heartbeat_interval_ms: Option<u64>,
    /// See [`RunArgs::reconnect_backoff_initial_ms`].
    pub reconnect_backoff_initial_ms: Option<u64>,
    /// See [`RunArgs::reconnect_backoff_max_ms`].
    pub reconnect_backoff_max_ms: Option<u64>,
    /// See [`RunArgs::spool_max_bytes`].
    pub spool_max_bytes: Option<u64>,
    /// See [`RunArgs::ledger_retention_secs`].
    pub ledger_retention_secs: Option<u64>,
    /// See [`RunArgs::log_format`].
    pub log_format: Option<String>,
}

impl Layer {
    /// Parses a config file's text.
    pub fn from_toml(text: &str) -> Result<Layer, toml::de::Error> {
        toml::from_str(text)
    }

    /// Reads the `GSM_AGENT_*` variables among `vars`; others are ignored.
    pub fn from_env(vars: impl IntoIterator<Item = (OsString, OsString)>) -> Result<Layer, Error> {
        let mut layer = Layer::default();
        for (name, value) in vars {
            let Some(name) = name.to_str() else { continue };
            let Some(key) = name.strip_prefix("GSM_AGENT_") else { continue };
            let text = || {
                value
                    .to_str()
                    .map(str::to_owned)
                    .ok_or_else(|| Error::Env { name: name.to_owned(), problem: "is not UTF-8" })
            };
            let number = || {
                text()?.parse::<u64>().map_err(|_| Error::Env {
                    name: name.to_owned(),
                    problem: "is not a whole number",
                })
            };
            match key {
                "STATE_DIR" => layer.state_dir = Some(PathBuf::from(&value)),
                "POLICY" => layer.policy = Some(PathBuf::from(&value)),
                "SERVER" => layer.server = Some(text()?),
                "HEARTBEAT_INTERVAL_MS" => layer.heartbeat_interval_ms = Some(number()?),
                "RECONNECT_BACKOFF_INITIAL_MS" => {
                    layer.reconnect_backoff_initial_ms = Some(number()?);
                }
                "RECONNECT_BACKOFF_MAX_MS" => layer.reconnect_backoff_max_ms = Some(number()?),
                "SPOOL_MAX_BYTES" => layer.spool_max_bytes = Some(number()?),
                "LEDGER_RETENTION_SECS" => layer.ledger_retention_secs = Some(number()?),
                "LOG_FORMAT" => layer.log_format = Some(text()?),
                // Read where they are needed, or not settings at all.
                _ => {}
            }
        }
        Ok(layer)
    }

    /// The settings given as flags of `gsm-agent run`.
    pub fn from_run_args(args: &RunArgs) -> Layer {
        Layer {
            state_dir: args.state_dir.clone(),
            policy: args.policy.clone(),
            server: args.server.clone(),
            heartbeat_interval_ms: args.heartbeat_interval_ms,
            reconnect_backoff_initial_ms: args.reconnect_backoff_initial_ms,
            reconnect_backoff_max_ms: args.reconnect_backoff_max_ms,
            spool_max_bytes: args.spool_max_bytes,
            ledger_retention_secs: args.ledger_retention_secs,
            log_format: args.log_format.clone(),
        }
    }

    /// `self` over `lower`: every key `self` sets wins.
    pub fn over(self, lower: Layer) -> Layer {
        Layer {
            state_dir: self.state_dir.or(lower.state_dir),
            policy: self.policy.or(lower.policy),
            server: self.server.or(lower.server),
            heartbeat_interval_ms: self.heartbeat_interval_ms.or(lower.heartbeat_interval_ms),
            reconnect_backoff_initial_ms: self
                .reconnect_backoff_initial_ms
                .or(lower.reconnect_backoff_initial_ms),
            reconnect_backoff_max_ms: self
                .reconnect_backoff_max_ms
                .or(lower.reconnect_backoff_max_ms),
            spool_max_bytes: self.spool_max_bytes.or(lower.spool_max_bytes),
            ledger_retention_secs: self.ledger_retention_secs.or(lower.ledger_retention_secs),
            log_format: self.log_format.or(lower.log_format),
        }
    }
}

/// How the agent logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (no colour unless standard error is a terminal).
    Human,
    /// One JSON object per line.
    Json,
}

/// Reconnect delays: exponential from `initial`, capped at `max`, with full jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Upper bound of the first delay.
    pub initial: Duration,
    /// Cap on every delay.
    pub max: Duration,
}

/// The validated settings of `gsm-agent run`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunConfig {
    /// Credential, ledger and spool live here.
    pub state_dir: PathBuf,
    /// The host policy file.
    pub policy: PathBuf,
    /// The server to connect to instead of the one recorded at enrollment.
    pub server: Option<Url>,
    /// Heartbeat interval instead of the server's.
    pub heartbeat_interval: Option<Duration>,
    /// Reconnect delays.
    pub backoff: Backoff,
    /// Most bytes of unacknowledged output kept on disk.
    pub spool_max_bytes: u64,
    /// How long finished job ids are remembered.
    pub ledger_retention: Duration,
    /// Log format.
    pub log_format: LogFormat,
}

/// The validated settings of `gsm-agent enroll`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollConfig {
    /// The server to enroll with.
    pub server: Url,
    /// The one-time join token.
    pub token: Secret,
    /// Where the credential goes.
    pub state_dir: PathBuf,
    /// Replace an existing enrollment.
    pub force: bool,
    /// Log format.
    pub log_format: LogFormat,
    /// The host policy file, read (if it can be) to report its program rules.
    pub policy: PathBuf,
}

/// Why the configuration is not usable.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config file could not be read.
    #[error("cannot read config file {}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The config file is not valid TOML of the expected shape.
    #[error("config file {}: {message}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A `GSM_AGENT_*` variable holds something unusable.
    #[error("environment variable {name} {problem}")]
    Env {
        /// The variable.
        name: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A setting holds something unusable.
    #[error("setting `{key}` {problem}")]
    Invalid {
        /// The setting's name in the config file.
        key: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// A required setting is missing.
    #[error("{what} is required: {hint}")]
    Missing {
        /// The setting.
        what: &'static str,
        /// How to give it.
        hint: &'static str,
    },
}

/// Loads the settings of `gsm-agent run` from the process environment, the config file and the
/// flags.
pub fn load_run(args: &RunArgs) -> Result<RunConfig, Error> {
    let env = Layer::from_env(std::env::vars_os())?;
    let file = read_file(args.config.clone().or_else(config_from_env).as_deref())?;
    resolve(file, env, Layer::from_run_args(args))
}

/// Loads the settings of `gsm-agent enroll`.
pub fn load_enroll(args: &EnrollArgs) -> Result<EnrollConfig, Error> {
    let env = Layer::from_env(std::env::vars_os())?;
    let file = read_file(args.config.clone().or_else(config_from_env).as_deref())?;
    let token = args.token.clone().or_else(|| std::env::var(ENV_JOIN_TOKEN).ok());
    let flags = Layer {
        state_dir: args.state_dir.clone(),
        server: args.server.clone(),
        log_format: args.log_format.clone(),
        policy: args.policy.clone(),
        ..Layer::default()
    };
    resolve_enroll(file, env, flags, token, args.force)
}

fn config_from_env() -> Option<PathBuf> {
    std::env::var_os(ENV_CONFIG).map(PathBuf::from)
}

fn read_file(path: Option<&Path>) -> Result<Layer, Error> {
    let Some(path) = path else { return Ok(Layer::default()) };
    let text = std::fs::read_to_string(path)
        .map_err(|source| Error::Unreadable { path: path.to_path_buf(), source })?;
    Layer::from_toml(&text)
        .map_err(|err| Error::Malformed { path: path.to_path_buf(), message: err.to_string() })
}

/// Merges `flags` over `env` over `file` over the defaults, and validates the result.
pub fn resolve(file: Layer, env: Layer, flags: Layer) -> Result<RunConfig, Error> {
    let merged = flags.over(env).over(file);
    let backoff = Backoff {
        initial: positive_ms(
            "reconnect_backoff_initial_ms",
            merged.reconnect_backoff_initial_ms,
            DEFAULT_BACKOFF_INITIAL,
        )?,
        max: positive_ms(
            "reconnect_backoff_max_ms",
            merged.reconnect_backoff_max_ms,
            DEFAULT_BACKOFF_MAX,
        )?,
    };
    if backoff.initial > backoff.max {
        return Err(Error::Invalid {
            key: "reconnect_backoff_initial_ms",
            problem: format!(
                "({} ms) is above reconnect_backoff_max_ms ({} ms)",
                backoff.initial.as_millis(),
                backoff.max.as_millis()
            ),
        });
    }
    let heartbeat_interval = match merged.heartbeat_interval_ms {
        None => None,
        Some(ms) => Some(positive_ms("heartbeat_interval_ms", Some(ms), Duration::ZERO)?),
    };
    let spool_max_bytes = merged.spool_max_bytes.unwrap_or(DEFAULT_SPOOL_MAX_BYTES);
    if spool_max_bytes == 0 {
        return Err(Error::Invalid {
            key: "spool_max_bytes",
            problem: "must be at least 1".into(),
        });
    }
    let ledger_retention = match merged.ledger_retention_secs {
        None => DEFAULT_LEDGER_RETENTION,
        Some(0) => {
            return Err(Error::Invalid {
                key: "ledger_retention_secs",
                problem: "must be at least 1: a job id forgotten at once could run twice".into(),
            });
        }
        Some(secs) => Duration::from_secs(secs),
    };
    Ok(RunConfig {
        state_dir: merged.state_dir.unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR)),
        policy: merged.policy.unwrap_or_else(|| PathBuf::from(DEFAULT_POLICY)),
        server: merged.server.as_deref().map(server_url).transpose()?,
        heartbeat_interval,
        backoff,
        spool_max_bytes,
        ledger_retention,
        log_format: log_format(merged.log_format.as_deref())?,
    })
}

/// Merges the enrollment settings like [`resolve`] and checks the server URL and the token.
pub fn resolve_enroll(
    file: Layer,
    env: Layer,
    flags: Layer,
    token: Option<String>,
    force: bool,
) -> Result<EnrollConfig, Error> {
    let merged = flags.over(env).over(file);
    let server = merged.server.as_deref().map(server_url).transpose()?.ok_or(Error::Missing {
        what: "the server URL",
        hint: "pass --server https://your-gsm-server",
    })?;
    let token = token.filter(|token| !token.trim().is_empty()).ok_or(Error::Missing {
        what: "a join token",
        hint: "pass --token (or set GSM_AGENT_JOIN_TOKEN) with the token the server gave when the host was created",
    })?;
    Ok(EnrollConfig {
        server,
        token: Secret::new(token.trim().to_owned()),
        state_dir: merged.state_dir.unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR)),
        force,
        log_format: log_format(merged.log_format.as_deref())?,
        policy: merged.policy.unwrap_or_else(|| PathBuf::from(DEFAULT_POLICY)),
    })
}

/// Parses and checks a server URL: `http` or `https`, with a host, no query or fragment.
pub fn server_url(text: &str) -> Result<Url, Error> {
    let invalid = |problem: String| Error::Invalid { key: "server", problem };
    let url = Url::parse(text.trim()).map_err(|err| {
        invalid(format!("{text:?} is not a URL ({err}); give one like https://gsm.example.com"))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "{text:?} uses the scheme {:?}; use http:// or https://",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(format!("{text:?} names no host")));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(format!(
            "{text:?} has a query or fragment; give the server's base URL"
        )));
    }
    Ok(url)
}

fn positive_ms(
    key: &'static str,
    value: Option<u64>,
    default: Duration,
) -> Result<Duration, Error> {
    match value {
        None => Ok(default),
        Some(0) => Err(Error::Invalid { key, problem: "must be at least 1".into() }),
        Some(ms) => Ok(Duration::from_millis(ms)),
    }
}

fn log_format(value: Option<&str>) -> Result<LogFormat, Error> {
    match value {
        None | Some("human") => Ok(LogFormat::Human),
        Some("json") => Ok(LogFormat::Json),
        Some(other) => Err(Error::Invalid {
            key: "log_format",
            problem: format!("{other:?} is not known; use `human` or `json`"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(toml: &str) -> Layer {
        Layer::from_toml(toml).unwrap()
    }

    fn env(vars: &[(&str, &str)]) -> Layer {
        Layer::from_env(vars.iter().map(|(k, v)| (OsString::from(k), OsString::from(v)))).unwrap()
    }

    #[test]
    fn defaults_apply_when_nothing_is_given() {
        let config = resolve(Layer::default(), Layer::default(), Layer::default()).unwrap();
        assert_eq!(config.state_dir, Path::new(DEFAULT_STATE_DIR));
        assert_eq!(config.policy, Path::new(DEFAULT_POLICY));
        assert_eq!(config.server, None);
        assert_eq!(config.heartbeat_interval, None);
        assert_eq!(
            config.backoff,
            Backoff { initial: DEFAULT_BACKOFF_INITIAL, max: DEFAULT_BACKOFF_MAX }
        );
        assert_eq!(config.log_format, LogFormat::Human);
        assert_eq!(config.ledger_retention, DEFAULT_LEDGER_RETENTION);
    }

    #[test]
    fn flags_beat_environment_beats_file_beats_defaults() {
        let file = layer(
            r#"
            state_dir = "/file/state"
            policy = "/file/policy.toml"
            server = "https://file.example"
            reconnect_backoff_max_ms = 1000
            log_format = "json"
            "#,
        );
        let env = env(&[
            ("GSM_AGENT_POLICY", "/env/policy.toml"),
            ("GSM_AGENT_SERVER", "https://env.example"),
            ("GSM_AGENT_RECONNECT_BACKOFF_MAX_MS", "2000"),
            ("GSM_LOG_FORMAT", "human"),
        ]);
        let flags = Layer { server: Some("https://flag.example".into()), ..Layer::default() };
        let config = resolve(file, env, flags).unwrap();
        assert_eq!(config.state_dir, Path::new("/file/state"), "file over default");
        assert_eq!(config.policy, Path::new("/env/policy.toml"), "env over file");
        assert_eq!(config.server.unwrap().as_str(), "https://flag.example/", "flag over env");
        assert_eq!(config.backoff.max, Duration::from_secs(2), "env over file");
        assert_eq!(config.log_format, LogFormat::Json, "the server's GSM_LOG_FORMAT is not ours");
        assert_eq!(config.backoff.initial, DEFAULT_BACKOFF_INITIAL, "default");
    }

    #[test]
    fn unusable_values_are_refused_with_the_setting_named() {
        let check = |flags: Layer, expected: &str| {
            let err = resolve(Layer::default(), Layer::default(), flags).unwrap_err();
            assert_eq!(err.to_string(), expected);
        };
        check(
            Layer { log_format: Some("xml".into()), ..Layer::default() },
            "setting `log_format` \"xml\" is not known; use `human` or `json`",
        );
        check(
            Layer { heartbeat_interval_ms: Some(0), ..Layer::default() },
            "setting `heartbeat_interval_ms` must be at least 1",
        );
        check(
            Layer {
                reconnect_backoff_initial_ms: Some(5000),
                reconnect_backoff_max_ms: Some(100),
                ..Layer::default()
            },
            "setting `reconnect_backoff_initial_ms` (5000 ms) is above reconnect_backoff_max_ms (100 ms)",
        );
        check(
            Layer { server: Some("ftp://gsm.example".into()), ..Layer::default() },
            "setting `server` \"ftp://gsm.example\" uses the scheme \"ftp\"; use http:// or https://",
        );
        check(
            Layer { server: Some("gsm.example".into()), ..Layer::default() },
            "setting `server` \"gsm.example\" is not a URL (relative URL without a base); give one like https://gsm.example.com",
        );
    }

    #[test]
    fn a_misspelt_key_in_the_file_is_an_error_not_ignored() {
        let err = Layer::from_toml("stat_dir = \"/x\"").unwrap_err();
        assert!(err.to_string().contains("unknown field `stat_dir`"), "{err}");
    }

    #[test]
    fn a_non_numeric_environment_value_names_the_variable() {
        let err = Layer::from_env([(
            OsString::from("GSM_AGENT_HEARTBEAT_INTERVAL_MS"),
            OsString::from("5s"),
        )])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable GSM_AGENT_HEARTBEAT_INTERVAL_MS is not a whole number"
        );
    }

    #[test]
    fn enrollment_needs_a_server_and_a_token() {
        let err = resolve_enroll(Layer::default(), Layer::default(), Layer::default(), None, false)
            .unwrap_err();
        assert!(err.to_string().starts_with("the server URL is required"), "{err}");
        let flags = Layer { server: Some("http://127.0.0.1:1".into()), ..Layer::default() };
        let err = resolve_enroll(Layer::default(), Layer::default(), flags.clone(), None, false)
            .unwrap_err();
        assert!(err.to_string().starts_with("a join token is required"), "{err}");
        let config =
            resolve_enroll(Layer::default(), Layer::default(), flags, Some("tok".into()), true)
                .unwrap();
        assert_eq!(config.token.expose(), "tok");
        assert!(config.force);
        assert!(!format!("{config:?}").contains("tok\""), "the token never prints");
        assert_eq!(config.policy, Path::new(DEFAULT_POLICY));
    }

    #[test]
    fn enrollment_reads_the_policy_path_like_run_does() {
        let base = Layer {
            server: Some("http://127.0.0.1:1".into()),
            policy: Some("/file/policy.toml".into()),
            ..Layer::default()
        };
        let env = Layer { policy: Some("/env/policy.toml".into()), ..Layer::default() };
        let token = || Some("tok".to_owned());
        let from_env =
            resolve_enroll(base.clone(), env.clone(), Layer::default(), token(), false).unwrap();
        assert_eq!(from_env.policy, Path::new("/env/policy.toml"), "env over file");
        let flags = Layer { policy: Some("/flag/policy.toml".into()), ..Layer::default() };
        let from_flag = resolve_enroll(base, env, flags, token(), false).unwrap();
        assert_eq!(from_flag.policy, Path::new("/flag/policy.toml"), "flag over env");
    }
}
