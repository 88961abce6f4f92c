//! `gsm-agent game parse --type 7dtd` with the real binary: the 7DTD log corpus in, one JSON event
//! per recognised line out, and hostile input handled without failing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../gsm-core/src/adapters/sdtd/testdata").join(name)
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn game_parse(args: &[&str], stdin: &[u8]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gsm-agent"))
        .args(["game", "parse"])
        .args(args)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    // A usage error exits before reading, which closes the pipe early.
    if let Err(error) = input.write_all(stdin) {
        assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe, "{error}");
    }
    drop(input);
    let Output { status, stdout, stderr } = child.wait_with_output().unwrap();
    Run {
        code: status.code().unwrap(),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

#[test]
fn the_corpus_prints_exactly_the_expected_events() {
    let corpus = std::fs::read(testdata("log-corpus.txt")).unwrap();
    let expected = std::fs::read_to_string(testdata("log-corpus.expected.jsonl")).unwrap();
    let expected: Vec<Value> = expected
        .lines()
        .filter(|line| *line != "null")
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let run = game_parse(&["--type", "7dtd"], &corpus);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let printed: Vec<Value> =
        run.stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(printed, expected);
    assert!(run.stderr.contains(&format!("{} events", expected.len())), "{}", run.stderr);
}

#[test]
fn crlf_nul_bytes_invalid_utf8_and_an_overlong_line_do_not_stop_the_run() {
    let mut input = Vec::new();
    input.extend_from_slice(
        b"2024-06-01T12:02:00 119.500 INF GMSG: Player 'Zo\xe9' joined the game\r\n",
    );
    input.extend_from_slice(b"\0\0");
    input.extend(std::iter::repeat_n(b'x', 100 * 1024));
    input.extend_from_slice(b"\n[NET] ServerShutdown\r\n");
    let run = game_parse(&["--type", "7dtd"], &input);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let kinds: Vec<Value> = run
        .stdout
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .map(|event| event["kind"].clone())
        .collect();
    assert_eq!(kinds, ["player_joined", "server_stopping"]);
    assert!(run.stdout.contains("Zo\u{fffd}"), "{}", run.stdout);
    assert!(run.stderr.contains("1 lines over 64 KiB skipped"), "{}", run.stderr);
}

#[test]
fn an_unknown_game_type_is_a_usage_error() {
    let run = game_parse(&["--type", "minecraft"], b"");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stdout.is_empty());
}
