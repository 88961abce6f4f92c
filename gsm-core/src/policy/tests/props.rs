//! Properties over generated jobs and files. Each test builds its fixture once and drives a
//! `TestRunner` itself, so the tempdir lives exactly as long as the test.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::Component;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestCaseResult, TestRunner};

use super::{FIXTURE_POLICY, Fixture, JobExt, examples_dir, job, job_owned};
use crate::policy::Policy;
use crate::policy::rules::is_dangerous_env;

/// Runs `property` over `strategy`, panicking with the minimal failing input.
fn run<S>(cases: u32, strategy: S, property: impl Fn(S::Value) -> TestCaseResult)
where
    S: Strategy,
    S::Value: Debug,
    <S::Tree as ValueTree>::Value: Debug,
{
    let mut runner = TestRunner::new(Config { cases, ..Config::default() });
    if let Err(error) = runner.run(&strategy, property) {
        panic!("{error}");
    }
}

#[test]
fn any_argument_containing_nul_is_refused() {
    let fx = Fixture::new();
    let strategy = (prop::collection::vec(".*", 0..8), ".*", ".*", any::<Index>());
    run(256, strategy, |(mut args, before, after, at)| {
        let at = at.index(args.len() + 1);
        args.insert(at, format!("{before}\0{after}"));
        let refusal = fx.policy.check(&job_owned("/bin/echo", args)).unwrap_err();
        prop_assert_eq!(refusal.reason(), "nul_byte");
        Ok(())
    });
}

#[test]
fn any_argument_starting_with_a_dash_in_a_value_slot_is_refused() {
    let fx = Fixture::new();
    run(256, "-.*", |arg| {
        for program in ["/bin/true", "/bin/echo", "/bin/sleep"] {
            let refusal = fx.policy.check(&job(program, &[arg.as_str()])).unwrap_err();
            prop_assert!(
                ["option_not_allowed", "nul_byte", "arg_too_long"].contains(&refusal.reason()),
                "{program} {arg:?}: {refusal}"
            );
        }
        Ok(())
    });
}

/// Path components that tempt escapes in the fixture.
fn component() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "srv",
        "world",
        "inside",
        "escape",
        "escape_abs",
        "proc",
        "file.txt",
        "..",
        ".",
        "x",
        "",
        "..%2f",
        "etc",
    ])
}

#[test]
fn any_cwd_with_a_parent_component_is_refused() {
    let fx = Fixture::new();
    let strategy = (prop::collection::vec(component(), 0..6), any::<Index>(), any::<bool>());
    run(256, strategy, |(mut parts, at, absolute)| {
        parts.insert(at.index(parts.len() + 1), "..");
        let relative = parts.join("/");
        let cwd = if absolute { format!("{}/{relative}", fx.root.display()) } else { relative };
        let refusal = fx.policy.check(&job("/bin/true", &[]).cwd(&cwd)).unwrap_err();
        prop_assert_eq!(refusal.reason(), "invalid_path", "{}", cwd);
        Ok(())
    });
}

/// Which names the fixture allows a program's job to set.
fn fixture_allows(program: &str, name: &str) -> bool {
    let global = name == "TZ" || name.starts_with("GSM_");
    let by_rule = program == "/usr/bin/env"
        && (["PYTHONPATH", "PATH"].contains(&name) || name.starts_with("APP_"));
    by_rule || (global && !is_dangerous_env(name))
}

#[test]
fn an_approved_command_stays_inside_a_root_with_only_allowed_variables() {
    let fx = Fixture::new();
    let programs =
        vec!["/bin/echo", "/bin/true", "/bin/sleep", "/usr/bin/env", "/bin/tar", "/bin/sh"];
    let names = vec![
        "TZ",
        "GSM_A",
        "PATH",
        "HOME",
        "LANG",
        "LD_PRELOAD",
        "PYTHONPATH",
        "APP_X",
        "PERL5LIB",
        "SECRET",
        "GSM_",
        "IFS",
    ];
    let arg = prop::sample::select(vec![
        "",
        "5",
        "-5",
        "a",
        "a b",
        ";",
        "$(id)",
        "--create",
        "--file=a.tar",
        "..",
    ]);
    let cwd = prop::option::of((prop::collection::vec(component(), 1..4), any::<bool>()));
    let env = prop::collection::btree_map(prop::sample::select(names), "[ -~]{0,8}", 0..4);
    let strategy = (
        prop::sample::select(programs),
        prop::collection::vec(arg, 0..4),
        cwd,
        env,
        prop::option::of(0u64..700),
    );
    let approvals = Cell::new(0u32);
    // Few random jobs pass every check (about one in twenty-five): enough cases that the floor
    // below holds whatever the seed (512 cases once gave 9; 2,048 give 70-90).
    run(
        2048,
        strategy,
        |(program, args, cwd, env, timeout): (_, Vec<&str>, _, BTreeMap<&str, String>, _)| {
            let mut spec = job(program, &args);
            if let Some((parts, absolute)) = cwd {
                let relative = parts.join("/");
                let cwd =
                    if absolute { format!("{}/{relative}", fx.root.display()) } else { relative };
                spec = spec.cwd(&cwd);
            }
            for (name, value) in &env {
                spec = spec.env(name, value);
            }
            if let Some(secs) = timeout {
                spec = spec.timeout(secs);
            }
            let Ok(approved) = fx.policy.check(&spec) else { return Ok(()) };
            approvals.set(approvals.get() + 1);

            // The cwd lies inside a root, by a path with only plain components.
            prop_assert!(approved.cwd_root() == fx.root || approved.cwd_root() == fx.root2);
            prop_assert!(
                approved.cwd_relative().components().all(|c| matches!(c, Component::Normal(_)))
            );
            let real = std::fs::canonicalize(approved.cwd()).unwrap();
            prop_assert!(real.starts_with(approved.cwd_root()), "{} escapes", real.display());
            prop_assert!(real.is_dir());

            // Every variable is a fixed one or one the job set and the policy allows.
            for (name, value) in approved.env() {
                match env.get(name.as_str()) {
                    Some(requested) => {
                        prop_assert!(fixture_allows(program, name), "{name} was not allowed");
                        prop_assert_eq!(value, requested);
                    }
                    None => {
                        prop_assert!(["PATH", "HOME", "LANG"].contains(&name.as_str()), "{name}")
                    }
                }
            }
            prop_assert_eq!(approved.args(), args.as_slice());
            prop_assert!(approved.timeout().as_secs() >= 1 && approved.timeout().as_secs() <= 600);
            Ok(())
        },
    );
    assert!(approvals.get() >= 10, "only {} generated jobs were allowed", approvals.get());
}

#[test]
fn random_text_never_panics_the_loader() {
    run(1024, "(?s).{0,400}", |text| {
        let _ = Policy::from_toml_str(&text);
        Ok(())
    });
}

#[test]
fn mangled_policies_never_panic_the_loader_and_errors_point_into_the_text() {
    let fx = Fixture::new();
    let fixture = FIXTURE_POLICY
        .replace("{root}", fx.root.to_str().unwrap())
        .replace("{root2}", fx.root2.to_str().unwrap());
    let mut texts = vec![fixture];
    for name in ["example.toml", "demo.toml"] {
        texts.push(std::fs::read_to_string(examples_dir().join("policies").join(name)).unwrap());
    }
    let strategy = (prop::sample::select(texts), any::<Index>(), 0usize..40, "(?s).{0,12}");
    run(512, strategy, |(text, at, cut, insert)| {
        let mut start = at.index(text.len() + 1);
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (start + cut).min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let mangled = format!("{}{insert}{}", &text[..start], &text[end..]);
        if let Err(error) = Policy::from_toml_str(&mangled)
            && let Some(at) = error.location()
        {
            prop_assert!(at.line >= 1 && at.line <= mangled.lines().count() + 1, "{error}");
            prop_assert!(at.column >= 1);
        }
        Ok(())
    });
}
