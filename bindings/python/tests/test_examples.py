"""The scripts in examples/python/, run as a user would run them, against real processes and
the stand-in console."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import List, Tuple

from conftest import REPO, start

EXAMPLES = REPO / "examples" / "python"
# The players gsm-sim-7dtd's script brings in (examples/sim-7dtd/src/script.rs).
SCRIPTED_JOINS = {"Catalysm joined", "Cata lysm joined", "Zoë joined", "Lake joined"}


def example(script: str, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True, text=True, timeout=timeout, env=env,
    )


def test_the_backup_example_archives_under_its_policy_and_streams_tars_output(tmp_path: Path) -> None:
    root = tmp_path / "srv"
    (root / "Saves" / "Navezgane").mkdir(parents=True)
    (root / "Saves" / "Navezgane" / "main.ttw").write_text("world data")
    shipped = (EXAMPLES / "backup-policy.toml").read_text()
    assert 'roots = ["/srv/7dtd"]' in shipped
    policy = tmp_path / "policy.toml"
    policy.write_text(shipped.replace("/srv/7dtd", str(root)))

    done = example("backup.py", "--policy", str(policy), "Saves")
    assert done.returncode == 0, done.stderr
    assert "Saves/Navezgane/main.ttw" in done.stdout
    assert ": succeeded (exit code 0)" in done.stdout
    [archive] = (root / "backups").iterdir()
    with tarfile.open(archive) as tar:
        assert "Saves/Navezgane/main.ttw" in tar.getnames()


def test_the_backup_example_reports_a_refusal(tmp_path: Path) -> None:
    root = tmp_path / "srv"
    root.mkdir()
    policy = tmp_path / "policy.toml"
    policy.write_text((EXAMPLES / "backup-policy.toml").read_text().replace("/srv/7dtd", str(root)))
    done = example("backup.py", "--policy", str(policy), "../etc")
    assert done.returncode == 2
    assert "refused (argument_not_allowed)" in done.stderr


def test_the_nightly_restart_warns_saves_and_shuts_down(sim_7dtd_binary: str) -> None:
    process, host, port = start([sim_7dtd_binary, "--listen", "127.0.0.1:0", "--password", "secret", "--script-speed", "0"])
    try:
        env = dict(os.environ, GSM_7DTD_PASSWORD="secret")
        done = example("nightly_restart.py", host, str(port), "--warnings", "2,1", env=env)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == [
            "warned: restart in 2 seconds", "warned: restart in 1 second", "world saved", "shutdown sent",
        ]
        assert process.wait(timeout=10) == 0, "the console did not shut down"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        assert process.stdout is not None
        process.stdout.close()


def test_the_nightly_restart_reports_a_wrong_password(sdtd_console: Tuple[str, int]) -> None:
    host, port = sdtd_console
    done = example("nightly_restart.py", host, str(port), "--warnings", "1", env=dict(os.environ, GSM_7DTD_PASSWORD="wrong"))
    assert done.returncode == 1
    assert "restart failed (game_auth_failed)" in done.stderr


def test_the_log_tail_prints_joins_from_a_file() -> None:
    corpus = REPO / "gsm-core" / "src" / "adapters" / "sdtd" / "testdata" / "log-corpus.txt"
    done = example("log_tail.py", "--file", str(corpus), "--once")
    assert done.returncode == 0, done.stderr
    joins: List[str] = done.stdout.splitlines()
    assert joins and all(line.endswith(" joined") for line in joins)
    expected = corpus.with_name("log-corpus.expected.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(joins) == sum(1 for line in expected if '"kind":"player_joined"' in line)


def test_the_log_tail_prints_joins_from_the_console(sdtd_console: Tuple[str, int]) -> None:
    host, port = sdtd_console
    done = example("log_tail.py", "--telnet", f"{host}:{port}", "--count", "2", env=dict(os.environ, GSM_7DTD_PASSWORD="secret"), timeout=30)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    assert all(line.split(" ", 1)[1] in SCRIPTED_JOINS for line in lines), lines
