//! The policy as a summary: every rule, in file order, with its argument slots.

use super::Fixture;
use crate::policy::{ArgSlot, ProgramSummary};

fn regex(pattern: &str, options: bool) -> ArgSlot {
    ArgSlot::Regex { pattern: pattern.to_owned(), options }
}

#[test]
fn every_program_rule_is_summarised_in_file_order_with_its_slots() {
    let fx = Fixture::new();
    let summary = fx.policy.programs();
    let paths: Vec<&str> = summary.iter().map(|program| program.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/bin/echo",
            "/bin/true",
            "/bin/true",
            "/bin/sleep",
            "/bin/tar",
            "/bin/ls",
            "/usr/bin/env"
        ]
    );
    let program = |path: &str, args: Vec<ArgSlot>, repeat: Option<ArgSlot>, allow_extra: bool| {
        ProgramSummary { path: path.to_owned(), args, repeat, allow_extra }
    };
    assert_eq!(summary[0], program("/bin/echo", vec![], Some(regex("(?s).*", false)), false));
    assert_eq!(summary[2], program("/bin/true", vec![], None, false));
    assert_eq!(summary[3].args, [ArgSlot::Int { min: 0, max: 30 }]);
    assert_eq!(
        summary[4].args,
        [
            ArgSlot::OneOf { values: vec!["--create".to_owned(), "--list".to_owned()] },
            regex(r"--file=[a-z0-9_]+\.tar", true),
            regex("[A-Za-z0-9_./=-]+", false),
        ]
    );
    assert_eq!(
        summary[5],
        program("/bin/ls", vec![ArgSlot::Fixed { value: "-l".to_owned() }], None, true)
    );
}

#[test]
fn a_summary_reads_as_tagged_json() {
    let slot = serde_json::to_value(ArgSlot::OneOf { values: vec!["start".to_owned()] }).unwrap();
    assert_eq!(slot, serde_json::json!({"kind": "one_of", "values": ["start"]}));
    let old: ProgramSummary = serde_json::from_str(r#"{"path": "/bin/true"}"#).unwrap();
    assert_eq!(
        old,
        ProgramSummary {
            path: "/bin/true".to_owned(),
            args: vec![],
            repeat: None,
            allow_extra: false
        }
    );
}

#[test]
fn a_slot_kind_from_a_newer_agent_still_parses() {
    let slot: ArgSlot = serde_json::from_str(r#"{"kind": "glob", "pattern": "*.tar"}"#).unwrap();
    assert_eq!(slot, ArgSlot::Other);
}
