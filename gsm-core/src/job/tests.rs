use proptest::prelude::*;

use super::*;

fn check_transition(from: JobState, to: JobState, legal: bool) {
    assert_eq!(
        from.transition(to).is_ok(),
        legal,
        "{from} -> {to} should be {}",
        if legal { "legal" } else { "illegal" }
    );
}

#[test]
fn the_lifecycle_of_the_brief_is_legal() {
    use JobState::*;
    for (from, to) in [
        (Queued, Dispatched),
        (Dispatched, Running),
        (Running, Succeeded),
        (Running, Failed),
        (Running, TimedOut),
        (Running, Cancelled),
        (Running, Lost),
        (Queued, Rejected),
        (Dispatched, Rejected),
        (Queued, Cancelled),
        (Dispatched, Cancelled),
        (Queued, Lost),
        (Dispatched, Lost),
        (Dispatched, Queued),
        (Dispatched, Failed),
    ] {
        check_transition(from, to, true);
    }
}

#[test]
fn moves_that_skip_or_reverse_the_lifecycle_are_illegal() {
    use JobState::*;
    for (from, to) in [
        (Queued, Running),
        (Queued, Succeeded),
        (Queued, Failed),
        (Queued, TimedOut),
        (Running, Queued),
        (Running, Dispatched),
        (Running, Rejected),
        (Running, Running),
        (Queued, Queued),
        (Dispatched, Succeeded),
        (Dispatched, TimedOut),
    ] {
        check_transition(from, to, false);
    }
}

#[test]
fn terminal_states_never_move() {
    for from in JobState::ALL.into_iter().filter(|s| s.is_terminal()) {
        for to in JobState::ALL {
            check_transition(from, to, false);
        }
    }
}

#[test]
fn illegal_transition_names_both_states() {
    let err = JobState::Succeeded.transition(JobState::Running).unwrap_err();
    assert_eq!(err.to_string(), "a job cannot move from succeeded to running");
}

#[test]
fn state_names_round_trip_through_strings_and_json() {
    for state in JobState::ALL {
        assert_eq!(state.as_str().parse::<JobState>(), Ok(state));
        let json = serde_json::to_string(&state).unwrap();
        assert_eq!(json, format!("\"{}\"", state.as_str()));
    }
    assert!("finished".parse::<JobState>().is_err());
}

#[test]
fn result_maps_to_the_right_final_state() {
    let result = |termination, exit_code, signal| JobResult {
        termination,
        exit_code,
        signal,
        duration_ms: 1,
        output_bytes: 0,
        kept_bytes: 0,
        truncated: false,
    };
    assert_eq!(result(Termination::Exited, Some(0), None).final_state(), JobState::Succeeded);
    assert_eq!(result(Termination::Exited, Some(3), None).final_state(), JobState::Failed);
    assert_eq!(result(Termination::Exited, None, Some(9)).final_state(), JobState::Failed);
    assert_eq!(result(Termination::TimedOut, None, Some(15)).final_state(), JobState::TimedOut);
    assert_eq!(result(Termination::Cancelled, None, Some(9)).final_state(), JobState::Cancelled);
}

#[test]
fn job_spec_json_is_stable_and_strict() {
    let json = r#"{
        "id": "0190c4b2-8f6a-7cc1-9b0e-5c1b2a3d4e5f",
        "host": "0190c4b2-8f6a-7cc1-9b0e-000000000001",
        "kind": {"type": "command", "program": "/usr/bin/tar", "args": ["-czf", "backup.tgz", "world"], "cwd": "saves"},
        "timeout_secs": 600,
        "requested_by": {"kind": "user", "id": "alice"}
    }"#;
    let spec: JobSpec = serde_json::from_str(json).unwrap();
    let JobKind::Command(cmd) = &spec.kind else { panic!("expected a command job") };
    assert_eq!(cmd.args, ["-czf", "backup.tgz", "world"]);
    assert_eq!(spec.timeout_secs, Some(600));
    let back: JobSpec = serde_json::from_str(&serde_json::to_string(&spec).unwrap()).unwrap();
    assert_eq!(back, spec);

    let unknown_field = json.replace("\"timeout_secs\"", "\"timeout\"");
    let err = serde_json::from_str::<JobSpec>(&unknown_field).unwrap_err();
    assert!(err.to_string().contains("unknown field `timeout`"), "{err}");
}

#[test]
fn a_local_job_has_a_fresh_id_the_nil_host_and_a_local_requester() {
    let kind = JobKind::Command(CommandSpec {
        program: "/bin/true".to_owned(),
        args: Vec::new(),
        cwd: None,
        env: BTreeMap::new(),
    });
    let (a, b) = (JobSpec::local(kind.clone(), "python"), JobSpec::local(kind.clone(), "python"));
    assert_ne!(a.id, b.id);
    assert_eq!(a.host, HostId(Uuid::nil()));
    assert_eq!(a.kind, kind);
    assert_eq!(a.requested_by, Requester { kind: RequesterKind::Local, id: "python".to_owned() });
    assert_eq!((a.timeout_secs, a.output_cap_bytes, a.idempotency_key), (None, None, None));
}

#[test]
fn game_jobs_carry_their_action_and_arguments() {
    let json = r#"{"type": "game", "game": "7dtd", "action": "say", "args": {"message": "restart in 5 minutes"}}"#;
    let kind: JobKind = serde_json::from_str(json).unwrap();
    let JobKind::Game(action) = kind else { panic!("expected a game job") };
    assert_eq!(action.action, "say");
    assert_eq!(action.args["message"], "restart in 5 minutes");
}

fn any_state() -> impl Strategy<Value = JobState> {
    proptest::sample::select(JobState::ALL.to_vec())
}

proptest! {
    /// Whatever sequence of moves is attempted, applying only the legal ones never leaves the
    /// state machine's graph, and once terminal the state stays put.
    #[test]
    fn random_walks_stay_on_the_graph(moves in proptest::collection::vec(any_state(), 0..40)) {
        let mut state = JobState::Queued;
        let mut terminal_at: Option<JobState> = None;
        for to in moves {
            match state.transition(to) {
                Ok(next) => {
                    prop_assert!(terminal_at.is_none(), "moved out of terminal {state}");
                    prop_assert!(state.can_transition(next));
                    state = next;
                    if state.is_terminal() { terminal_at = Some(state); }
                }
                Err(err) => {
                    prop_assert_eq!(err.from, state);
                    prop_assert_eq!(err.to, to);
                }
            }
        }
        if let Some(t) = terminal_at { prop_assert_eq!(state, t); }
    }

    /// Every transition a terminal state could make is refused; every non-terminal state has
    /// at least one way to a terminal state, so no job can be stuck by the graph itself.
    #[test]
    fn every_live_state_can_reach_an_end(state in any_state()) {
        if state.is_terminal() {
            prop_assert!(JobState::ALL.iter().all(|to| !state.can_transition(*to)));
        } else {
            prop_assert!(state.can_transition(JobState::Lost));
            prop_assert!(state.can_transition(JobState::Cancelled));
        }
    }
}
