"""gsm.Policy through Python: loading, its errors, the normalised command, and the hostile jobs
of gsm-core's policy table (gsm-core/src/policy/tests/hostile.rs), refused with the same reasons."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

import gsm
from conftest import PYTHON, POLICY

HOSTILE_POLICY = r"""
version = 1
roots = ["{root}", "{root2}"]

[limits]
max_timeout_secs = 600
default_timeout_secs = 60
max_output_cap_bytes = 1048576
default_output_cap_bytes = 65536
kill_grace_secs = 5
max_args = 16
max_arg_bytes = 1024
max_env_vars = 8
max_env_value_bytes = 256

[env]
allow = ["TZ", "GSM_*"]

[[program]]
path = "/bin/echo"
repeat = {{ regex = '(?s).*' }}

[[program]]
path = "/bin/true"
args = [{{ regex = '[a-z0-9_]{{1,16}}' }}]

[[program]]
path = "/bin/true"

[[program]]
path = "/bin/sleep"
args = [{{ int = {{ min = 0, max = 30 }} }}]
max_timeout_secs = 40
max_output_cap_bytes = 1024
kill_grace_secs = 1

[[program]]
path = "/bin/tar"
args = [
    {{ enum = ["--create", "--list"] }},
    {{ regex = '--file=[a-z0-9_]+\.tar', option = true }},
    {{ regex = '[A-Za-z0-9_./=-]+' }},
]

[[program]]
path = "/bin/ls"
args = [{{ fixed = "-l" }}]
allow_extra = true

[[program]]
path = "/usr/bin/env"
env = ["PYTHONPATH", "PATH", "PERL5*", "APP_*"]
"""


class Fixture:
    """gsm-core's hostile fixture: a root laid out to tempt escapes."""

    def __init__(self, base: Path) -> None:
        self.base = base.resolve()
        self.root = self.base / "root"
        self.root2 = self.base / "root2"
        (self.root / "srv" / "world").mkdir(parents=True)
        self.root2.mkdir()
        (self.base / "outside").mkdir()
        (self.root / "file.txt").write_text("not a directory")
        os.symlink("srv", self.root / "inside")
        os.symlink("../outside", self.root / "escape")
        os.symlink("/etc", self.root / "escape_abs")
        os.symlink("/proc/self/root", self.root / "proc")
        os.symlink("/bin/sh", self.base / "evil_sh")
        self.policy = gsm.Policy.from_toml(HOSTILE_POLICY.format(root=self.root, root2=self.root2))


def job(
    program: str,
    args: List[str] = [],
    cwd: Optional[str] = None,
    env: Optional[Dict[str, str]] = None,
    timeout: Optional[int] = None,
    cap: Optional[int] = None,
) -> gsm.JobSpec:
    return gsm.JobSpec.command(program, args, cwd=cwd, env=env, timeout_secs=timeout, output_cap_bytes=cap)


def hostile_cases(fx: Fixture) -> List[Tuple[str, gsm.JobSpec, str]]:
    nine = {f"GSM_{i}": "x" for i in range(9)}
    game = gsm.JobSpec.from_dict(
        {
            "id": "0190f5c2-7a3e-7cc1-9d2b-3f4e5a6b7c8d",
            "host": "0190f5c2-7a3e-7cc1-9d2b-000000000001",
            "kind": {"type": "game", "game": "7dtd", "action": "say", "args": {"message": "hi"}},
            "requested_by": {"kind": "user", "id": "alice"},
        }
    )
    return [
        ("semicolon", job("/bin/true", ["a;id"]), "argument_not_allowed"),
        ("and-and", job("/bin/true", ["a&&id"]), "argument_not_allowed"),
        ("pipe", job("/bin/true", ["a|id"]), "argument_not_allowed"),
        ("command substitution", job("/bin/true", ["$(id)"]), "argument_not_allowed"),
        ("backticks", job("/bin/true", ["`id`"]), "argument_not_allowed"),
        ("newline", job("/bin/true", ["a\nid"]), "argument_not_allowed"),
        ("glob", job("/bin/true", ["*"]), "argument_not_allowed"),
        ("redirect", job("/bin/true", [">/etc/passwd"]), "argument_not_allowed"),
        ("ssh proxy command", job("/bin/true", ["-oProxyCommand=sh -c id"]), "option_not_allowed"),
        ("tar upload-pack", job("/bin/tar", ["--create", "--file=a.tar", "--upload-pack=touch /tmp/x"]), "option_not_allowed"),
        ("-e where echo takes text", job("/bin/echo", ["hello", "-e"]), "option_not_allowed"),
        ("negative sleep", job("/bin/sleep", ["-1"]), "option_not_allowed"),
        ("option in a fixed-word slot", job("/usr/bin/env", ["-i"]), "argument_not_allowed"),
        ("option value outside its regex", job("/bin/tar", ["--create", "--file=/etc/shadow", "x"]), "argument_not_allowed"),
        ("checkpoint action", job("/bin/tar", ["--create", "--checkpoint-action=exec=sh", "x"]), "argument_not_allowed"),
        ("option among extras", job("/bin/ls", ["-l", "x", "-a"]), "option_not_allowed"),
        ("int above range", job("/bin/sleep", ["31"]), "argument_not_allowed"),
        ("int with leading zeros", job("/bin/sleep", ["007"]), "argument_not_allowed"),
        ("missing argument", job("/bin/sleep", []), "argument_missing"),
        ("env running another program", job("/usr/bin/env", ["/bin/sh"]), "argument_not_allowed"),
        ("128 KiB argument", job("/bin/echo", ["a" * 128 * 1024]), "arg_too_long"),
        ("too many arguments", job("/bin/echo", ["x"] * 17), "too_many_args"),
        ("shell", job("/bin/sh", ["-c", "id"]), "program_not_allowed"),
        ("cat", job("/bin/cat", ["/etc/shadow"]), "program_not_allowed"),
        ("missing program", job("/nonexistent/prog"), "program_not_allowed"),
        ("symlink to a shell", job(str(fx.base / "evil_sh")), "program_not_allowed"),
        ("relative program", job("ls"), "invalid_path"),
        ("empty program", job(""), "invalid_path"),
        ("dot-dot in program", job("/usr/bin/../bin/echo"), "invalid_path"),
        ("double slash in program", job("/bin//echo"), "invalid_path"),
        ("NUL in program", job("/bin/echo\0"), "nul_byte"),
        ("NUL in argument", job("/bin/echo", ["a\0b"]), "nul_byte"),
        ("NUL in cwd", job("/bin/true", cwd="srv\0"), "nul_byte"),
        ("NUL in env value", job("/bin/true", env={"TZ": "UTC\0x"}), "nul_byte"),
        ("cwd parent", job("/bin/true", cwd="../"), "invalid_path"),
        ("cwd in and out", job("/bin/true", cwd="srv/../../outside"), "invalid_path"),
        ("cwd absolute outside", job("/bin/true", cwd=str(fx.base / "outside")), "invalid_path"),
        ("cwd /", job("/bin/true", cwd="/"), "invalid_path"),
        ("cwd symlink to outside", job("/bin/true", cwd="escape"), "invalid_path"),
        ("cwd beneath a symlink out", job("/bin/true", cwd="escape_abs/ssl"), "invalid_path"),
        ("cwd magic link", job("/bin/true", cwd="proc"), "invalid_path"),
        ("cwd a file", job("/bin/true", cwd="file.txt"), "invalid_path"),
        ("cwd missing", job("/bin/true", cwd="missing"), "invalid_path"),
        ("LD_PRELOAD", job("/bin/true", env={"LD_PRELOAD": "/tmp/x.so"}), "env_not_allowed"),
        ("PATH", job("/bin/true", env={"PATH": "/tmp/evil"}), "env_not_allowed"),
        ("PYTHONPATH", job("/bin/true", env={"PYTHONPATH": "/tmp"}), "env_not_allowed"),
        ("glob does not grant a dangerous name", job("/usr/bin/env", env={"PERL5LIB": "/tmp"}), "env_not_allowed"),
        ("bash function export", job("/bin/true", env={"BASH_FUNC_id%%": "() { :; }"}), "invalid_env_name"),
        ("name with =", job("/bin/true", env={"GSM_A=B": "x"}), "invalid_env_name"),
        ("value too long", job("/bin/true", env={"TZ": "x" * 257}), "env_value_too_long"),
        ("too many variables", job("/bin/echo", env=nine), "too_many_env_vars"),
        ("timeout above global limit", job("/bin/echo", timeout=601), "timeout_above_limit"),
        ("timeout above rule limit", job("/bin/sleep", ["1"], timeout=41), "timeout_above_limit"),
        ("timeout zero", job("/bin/echo", timeout=0), "invalid_timeout"),
        ("cap above rule limit", job("/bin/sleep", ["1"], cap=1025), "output_cap_above_limit"),
        ("timeout far too big", job("/bin/echo", timeout=2**64 - 1), "timeout_above_limit"),
        ("game action", game, "not_a_command"),
    ]


def test_hostile_jobs_are_refused_with_the_same_reasons_as_in_rust(tmp_path: Path) -> None:
    fx = Fixture(tmp_path)
    cases = hostile_cases(fx)
    assert len(cases) >= 40
    failures = []
    for name, spec, expected in cases:
        try:
            approved = fx.policy.check(spec)
        except gsm.PolicyViolation as violation:
            if violation.reason != expected:
                failures.append(f"{name}: expected {expected}, got {violation.reason}: {violation}")
            elif len(str(violation)) < 20:
                failures.append(f"{name}: unhelpful message {violation}")
        else:
            failures.append(f"{name}: expected {expected}, but it was allowed: {approved!r}")
    assert not failures, "\n".join(failures)


def test_a_hostile_job_never_runs(tmp_path: Path) -> None:
    fx = Fixture(tmp_path)
    with pytest.raises(gsm.PolicyViolation) as raised:
        gsm.run(job("/bin/sh", ["-c", f"touch {tmp_path}/pwned"]), fx.policy)
    assert raised.value.reason == "program_not_allowed"
    assert not (tmp_path / "pwned").exists()


def test_an_allowed_job_is_normalised(tmp_path: Path) -> None:
    fx = Fixture(tmp_path)
    approved = fx.policy.check(job("/bin/echo", ["a;b", "$(id)"], cwd="inside", env={"TZ": "UTC"}))
    assert approved.program == Path(os.path.realpath("/bin/echo"))
    assert approved.args == ["a;b", "$(id)"]
    assert approved.cwd == fx.root / "srv"
    assert approved.env["TZ"] == "UTC"
    assert "LD_PRELOAD" not in approved.env
    assert approved.timeout == 60.0
    assert approved.output_cap_bytes == 65536
    assert approved.kill_grace == 5.0
    as_dict: Dict[str, Any] = approved.to_dict()
    assert as_dict["program"] == str(approved.program)
    assert as_dict["timeout_secs"] == 60.0
    assert "program_identity" not in as_dict
    assert "ApprovedCommand" in repr(approved)


def test_a_policy_loads_from_a_file(tmp_path: Path, root: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(POLICY.format(root=root, python=PYTHON))
    for given in (path, str(path)):
        policy = gsm.Policy.from_file(given)
        assert policy.check(gsm.JobSpec.command("/bin/true")).program == Path(os.path.realpath("/bin/true"))
    assert repr(policy) == "<gsm.Policy>"


def test_a_malformed_policy_says_where(root: Path) -> None:
    with pytest.raises(gsm.PolicyError) as raised:
        gsm.Policy.from_toml(f'version = 1\nroots = ["{root}"]\nshell = true\n')
    assert (raised.value.line, raised.value.column) == (3, 1)
    assert "unknown field `shell`" in str(raised.value)


def test_a_permissive_default_is_a_load_error_not_a_policy() -> None:
    with pytest.raises(gsm.PolicyError, match="root"):
        gsm.Policy.from_toml('version = 1\nroots = ["/nonexistent/root"]\n')


def test_a_missing_policy_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(gsm.PolicyError, match="nope.toml") as raised:
        gsm.Policy.from_file(missing)
    assert raised.value.line is None
