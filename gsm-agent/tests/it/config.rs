//! The example agent config and systemd unit in `examples/agent/` stay valid.

use std::time::Duration;

use gsm_agent::config::{Layer, LogFormat, resolve};

use crate::harness::repo_path;

#[test]
fn the_example_agent_config_parses_and_validates() {
    let text = std::fs::read_to_string(repo_path("examples/agent/agent.toml")).unwrap();
    let file = Layer::from_toml(&text).unwrap();
    let config = resolve(file, Layer::default(), Layer::default()).unwrap();
    assert_eq!(config.backoff.max, Duration::from_secs(60));
    assert_eq!(config.log_format, LogFormat::Human);
    assert_eq!(config.state_dir, std::path::Path::new("/var/lib/gsm-agent"));
}

#[test]
fn the_example_systemd_unit_restarts_the_agent_and_runs_gsm_agent_run() {
    let unit = std::fs::read_to_string(repo_path("examples/agent/gsm-agent.service")).unwrap();
    let lines: Vec<&str> = unit.lines().map(str::trim).collect();
    assert!(lines.contains(&"Restart=always"), "{unit}");
    let exec = lines.iter().find(|line| line.starts_with("ExecStart=")).expect("ExecStart");
    assert!(exec.contains("gsm-agent run"), "{exec}");
}
