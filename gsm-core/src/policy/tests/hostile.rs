//! Hostile jobs: each must be refused with the expected reason (reliability.md §5.2, X1–X7).

use super::{Fixture, JobExt, check, game_job, job, job_owned};

#[test]
fn hostile_jobs_are_refused_with_the_expected_reason() {
    let fx = Fixture::new();
    let long_arg = "a".repeat(128 * 1024);
    let seventeen_args = vec!["x".to_owned(); 17];
    let long_cwd = "a".repeat(5000);
    let outside = fx.path("outside");
    let evil_sh = fx.path("evil_sh");
    let root2_escape = format!("{}/../outside", fx.root2.display());
    let nine_vars = (0..9).fold(job("/bin/echo", &[]), |j, i| j.env(&format!("GSM_{i}"), "x"));

    let cases = [
        // X1: shell metacharacters where the slot wants one plain word.
        ("semicolon", job("/bin/true", &["a;id"]), "argument_not_allowed"),
        ("and-and", job("/bin/true", &["a&&id"]), "argument_not_allowed"),
        ("pipe", job("/bin/true", &["a|id"]), "argument_not_allowed"),
        ("command substitution", job("/bin/true", &["$(id)"]), "argument_not_allowed"),
        ("backticks", job("/bin/true", &["`id`"]), "argument_not_allowed"),
        ("newline", job("/bin/true", &["a\nid"]), "argument_not_allowed"),
        ("glob", job("/bin/true", &["*"]), "argument_not_allowed"),
        ("space", job("/bin/true", &["a b"]), "argument_not_allowed"),
        ("redirect", job("/bin/true", &[">/etc/passwd"]), "argument_not_allowed"),
        // X2: options where the rule has a value.
        ("ssh proxy command", job("/bin/true", &["-oProxyCommand=sh -c id"]), "option_not_allowed"),
        (
            "git upload-pack",
            job("/bin/tar", &["--create", "--file=a.tar", "--upload-pack=touch /tmp/x"]),
            "option_not_allowed",
        ),
        (
            "output outside",
            job("/bin/tar", &["--create", "--file=a.tar", "--output=../x"]),
            "option_not_allowed",
        ),
        ("-e where echo takes text", job("/bin/echo", &["hello", "-e"]), "option_not_allowed"),
        (
            "negative number where only 0.. is allowed",
            job("/bin/sleep", &["-1"]),
            "option_not_allowed",
        ),
        ("option in a fixed-word slot", job("/usr/bin/env", &["-i"]), "argument_not_allowed"),
        (
            "option value outside its regex",
            job("/bin/tar", &["--create", "--file=/etc/shadow", "x"]),
            "argument_not_allowed",
        ),
        (
            "option not in the enum",
            job("/bin/tar", &["--delete", "--file=a.tar", "x"]),
            "argument_not_allowed",
        ),
        (
            "checkpoint action as the file option",
            job("/bin/tar", &["--create", "--checkpoint-action=exec=sh", "x"]),
            "argument_not_allowed",
        ),
        ("option among extra arguments", job("/bin/ls", &["-l", "x", "-a"]), "option_not_allowed"),
        ("fixed option missing before extras", job("/bin/ls", &["x"]), "argument_not_allowed"),
        // Argument shapes.
        ("int above range", job("/bin/sleep", &["31"]), "argument_not_allowed"),
        ("int with leading zeros", job("/bin/sleep", &["007"]), "argument_not_allowed"),
        ("int with plus", job("/bin/sleep", &["+5"]), "argument_not_allowed"),
        ("int with suffix", job("/bin/sleep", &["5m"]), "argument_not_allowed"),
        ("extra argument", job("/bin/sleep", &["5", "5"]), "argument_not_allowed"),
        ("missing argument", job("/bin/sleep", &[]), "argument_missing"),
        ("more than any rule takes", job("/bin/true", &["a", "b"]), "argument_not_allowed"),
        ("env running another program", job("/usr/bin/env", &["/bin/sh"]), "argument_not_allowed"),
        // X3: sizes.
        ("128 KiB argument", job_owned("/bin/echo", vec![long_arg]), "arg_too_long"),
        ("too many arguments", job_owned("/bin/echo", seventeen_args), "too_many_args"),
        // X4: programs.
        ("shell", job("/bin/sh", &["-c", "id"]), "program_not_allowed"),
        ("cat", job("/bin/cat", &["/etc/shadow"]), "program_not_allowed"),
        ("missing program", job("/nonexistent/prog", &[]), "program_not_allowed"),
        ("symlink to a program not allowed", job(&evil_sh, &[]), "program_not_allowed"),
        ("relative program", job("ls", &[]), "invalid_path"),
        ("program via PATH", job("ls", &[]).env("PATH", "/tmp/evil"), "invalid_path"),
        ("dot-relative program", job("./echo", &[]), "invalid_path"),
        ("empty program", job("", &[]), "invalid_path"),
        ("dot-dot in program", job("/usr/bin/../bin/echo", &[]), "invalid_path"),
        ("double slash in program", job("/bin//echo", &[]), "invalid_path"),
        ("trailing slash on program", job("/bin/echo/", &[]), "invalid_path"),
        ("dot in program", job("/bin/./echo", &[]), "invalid_path"),
        // NUL bytes anywhere.
        ("NUL in program", job("/bin/echo\0", &[]), "nul_byte"),
        ("NUL in argument", job("/bin/echo", &["a\0b"]), "nul_byte"),
        ("NUL in cwd", job("/bin/true", &[]).cwd("srv\0"), "nul_byte"),
        ("NUL in env name", job("/bin/true", &[]).env("GSM\0X", "x"), "nul_byte"),
        ("NUL in env value", job("/bin/true", &[]).env("TZ", "UTC\0x"), "nul_byte"),
        // X5: working directories.
        ("cwd parent", job("/bin/true", &[]).cwd("../"), "invalid_path"),
        ("cwd parent twice", job("/bin/true", &[]).cwd("../../etc"), "invalid_path"),
        ("cwd in and out", job("/bin/true", &[]).cwd("srv/../../outside"), "invalid_path"),
        (
            "cwd dot-dot inside an absolute path",
            job("/bin/true", &[]).cwd(&root2_escape),
            "invalid_path",
        ),
        (
            "cwd url-encoded dot-dot is a missing name",
            job("/bin/true", &[]).cwd("..%2f..%2fetc"),
            "invalid_path",
        ),
        ("cwd absolute outside", job("/bin/true", &[]).cwd(&outside), "invalid_path"),
        ("cwd /etc", job("/bin/true", &[]).cwd("/etc"), "invalid_path"),
        ("cwd /", job("/bin/true", &[]).cwd("/"), "invalid_path"),
        ("cwd symlink to outside", job("/bin/true", &[]).cwd("escape"), "invalid_path"),
        (
            "cwd beneath a symlink to outside",
            job("/bin/true", &[]).cwd("escape_abs/ssl"),
            "invalid_path",
        ),
        ("cwd magic link", job("/bin/true", &[]).cwd("proc"), "invalid_path"),
        ("cwd /proc/self/cwd", job("/bin/true", &[]).cwd("/proc/self/cwd"), "invalid_path"),
        ("cwd a file", job("/bin/true", &[]).cwd("file.txt"), "invalid_path"),
        ("cwd missing", job("/bin/true", &[]).cwd("missing"), "invalid_path"),
        ("cwd empty", job("/bin/true", &[]).cwd(""), "invalid_path"),
        ("cwd overlong", job("/bin/true", &[]).cwd(&long_cwd), "invalid_path"),
        // X7: environment.
        ("LD_PRELOAD", job("/bin/true", &[]).env("LD_PRELOAD", "/tmp/x.so"), "env_not_allowed"),
        (
            "LD_LIBRARY_PATH",
            job("/bin/true", &[]).env("LD_LIBRARY_PATH", "/tmp"),
            "env_not_allowed",
        ),
        ("LD_AUDIT", job("/bin/true", &[]).env("LD_AUDIT", "/tmp/x.so"), "env_not_allowed"),
        ("PATH", job("/bin/true", &[]).env("PATH", "/tmp/evil"), "env_not_allowed"),
        ("BASH_ENV", job("/bin/true", &[]).env("BASH_ENV", "/tmp/x"), "env_not_allowed"),
        ("ENV", job("/bin/true", &[]).env("ENV", "/tmp/x"), "env_not_allowed"),
        ("PYTHONPATH", job("/bin/true", &[]).env("PYTHONPATH", "/tmp"), "env_not_allowed"),
        ("PYTHONSTARTUP", job("/bin/true", &[]).env("PYTHONSTARTUP", "/tmp/x"), "env_not_allowed"),
        ("PERL5OPT", job("/bin/true", &[]).env("PERL5OPT", "-Mx"), "env_not_allowed"),
        ("NODE_OPTIONS", job("/bin/true", &[]).env("NODE_OPTIONS", "-r x"), "env_not_allowed"),
        ("IFS", job("/bin/true", &[]).env("IFS", "/"), "env_not_allowed"),
        ("GLIBC_TUNABLES", job("/bin/true", &[]).env("GLIBC_TUNABLES", "x"), "env_not_allowed"),
        (
            "LD_PRELOAD where the rule names others",
            job("/usr/bin/env", &[]).env("LD_PRELOAD", "x"),
            "env_not_allowed",
        ),
        (
            "dangerous name under a rule's glob",
            job("/usr/bin/env", &[]).env("PERL5LIB", "/tmp"),
            "env_not_allowed",
        ),
        ("variable not allowed", job("/bin/true", &[]).env("SECRET_TOKEN", "x"), "env_not_allowed"),
        (
            "bash function export",
            job("/bin/true", &[]).env("BASH_FUNC_id%%", "() { :; }"),
            "invalid_env_name",
        ),
        ("name with =", job("/bin/true", &[]).env("GSM_A=B", "x"), "invalid_env_name"),
        ("empty name", job("/bin/true", &[]).env("", "x"), "invalid_env_name"),
        ("name starting with a digit", job("/bin/true", &[]).env("1GSM", "x"), "invalid_env_name"),
        ("value too long", job("/bin/true", &[]).env("TZ", &"x".repeat(257)), "env_value_too_long"),
        ("too many variables", nine_vars, "too_many_env_vars"),
        // Limits.
        ("timeout above global limit", job("/bin/echo", &[]).timeout(601), "timeout_above_limit"),
        ("timeout above rule limit", job("/bin/sleep", &["1"]).timeout(41), "timeout_above_limit"),
        ("timeout zero", job("/bin/echo", &[]).timeout(0), "invalid_timeout"),
        ("cap above global limit", job("/bin/echo", &[]).cap(1_048_577), "output_cap_above_limit"),
        ("cap above rule limit", job("/bin/sleep", &["1"]).cap(1025), "output_cap_above_limit"),
        ("timeout far too big", job("/bin/echo", &[]).timeout(u64::MAX), "timeout_above_limit"),
        // Not a command at all.
        ("game action", game_job(), "not_a_command"),
    ];

    assert!(cases.len() >= 40, "the brief asks for at least 40 hostile cases");
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(name, job, expected)| {
            check(&fx.policy, job, expected).err().map(|why| format!("{name}: {why}"))
        })
        .collect();
    assert!(failures.is_empty(), "{} case(s) failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn the_first_failing_check_decides_so_the_reason_is_stable() {
    let fx = Fixture::new();
    // A relative program with a forbidden variable and a bad cwd: the program is checked first.
    let messy = job("ls", &["-la"]).env("LD_PRELOAD", "x").cwd("../..").timeout(0);
    check(&fx.policy, &messy, "invalid_path").unwrap();
    // An allowed program: then arguments, then the cwd, then the environment, then limits.
    let messy = job("/bin/true", &["a;b"]).env("LD_PRELOAD", "x").cwd("../..").timeout(0);
    check(&fx.policy, &messy, "argument_not_allowed").unwrap();
    let messy = job("/bin/true", &[]).env("LD_PRELOAD", "x").cwd("../..").timeout(0);
    check(&fx.policy, &messy, "invalid_path").unwrap();
    let messy = job("/bin/true", &[]).env("LD_PRELOAD", "x").timeout(0);
    check(&fx.policy, &messy, "env_not_allowed").unwrap();
}

#[test]
fn refusals_say_what_was_wrong() {
    let fx = Fixture::new();
    let message = |job| fx.policy.check(&job).unwrap_err().to_string();
    assert_eq!(
        message(job("/bin/tar", &["--create", "--file=a.tar", "--upload-pack=x"])),
        "argument 2 (\"--upload-pack=x\") starts with `-`, and [[program]] #5 (/bin/tar) does not \
         allow an option there; options are accepted only where the rule lists them"
    );
    assert_eq!(
        message(job("/bin/sleep", &["31"])),
        "argument 0 (\"31\") is not allowed: [[program]] #4 (/bin/sleep) expects an integer from \
         0 to 30 there"
    );
    assert_eq!(
        message(job("/bin/true", &[]).env("LD_PRELOAD", "/tmp/x.so")),
        "environment variable LD_PRELOAD changes how programs load or interpret code; it is \
         allowed only where a [[program]] rule names it exactly in its env list"
    );
    let long = message(job_owned("/bin/true", vec!["x;".repeat(100)]));
    assert!(long.contains("… (200 bytes)"), "long arguments are shortened: {long}");
    let secret = message(job("/bin/true", &[]).env("TZ", &"s3cr3t".repeat(100)));
    assert!(!secret.contains("s3cr3t"), "values are never echoed: {secret}");
}
