"""Fixtures: a policy over a temporary root, and the real protocol stand-ins (gsm-sim-7dtd,
gsm-sim-rcon) started as processes on 127.0.0.1:0.

The tests import the installed wheel, never the source tree: ``make python`` installs the wheel
into a fresh virtualenv and runs pytest there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator, Tuple

import pytest

import gsm

REPO = Path(__file__).resolve().parents[3]
PYTHON = os.path.realpath(sys.executable)

POLICY = """
version = 1
roots = ["{root}"]

[limits]
max_timeout_secs = 600
default_timeout_secs = 60
max_output_cap_bytes = 1048576
default_output_cap_bytes = 65536
kill_grace_secs = 1
max_args = 16
max_arg_bytes = 4096

[env]
allow = ["TZ", "GSM_*"]

[[program]]
path = "/bin/echo"
repeat = {{ regex = '(?s).*' }}

[[program]]
path = "/bin/true"

[[program]]
path = "/bin/sleep"
args = [{{ int = {{ min = 0, max = 30 }} }}]
max_timeout_secs = 40

[[program]]
path = "{python}"
args = [{{ fixed = "-c" }}, {{ regex = '(?s).*' }}]
"""


def installed() -> bool:
    return "site-packages" in (gsm.__file__ or "")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "root"
    path.mkdir()
    return path.resolve()


@pytest.fixture
def policy(root: Path) -> gsm.Policy:
    return gsm.Policy.from_toml(POLICY.format(root=root, python=PYTHON))


def python_job(code: str, **kwargs: object) -> gsm.JobSpec:
    """A job running ``code`` in this Python (allowed by the fixture policy)."""
    return gsm.JobSpec.command(PYTHON, ["-c", code], **kwargs)  # type: ignore[arg-type]


def simulator(name: str) -> str:
    """The stand-in binary: from $GSM_SIM_7DTD / $GSM_SIM_RCON (set by ``make python``), or
    built with cargo."""
    variable = "GSM_SIM_7DTD" if name == "gsm-sim-7dtd" else "GSM_SIM_RCON"
    if os.environ.get(variable):
        return os.environ[variable]
    subprocess.run(["cargo", "build", "--locked", "-q", "-p", name], cwd=REPO, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return str(target / "debug" / name)


def start(argv: list[str], env: dict[str, str] | None = None) -> Tuple[subprocess.Popen[str], str, int]:
    """Starts a stand-in and reads the address it printed (no sleeping)."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line:
        process.kill()
        process.wait()
        raise RuntimeError(f"{argv[0]} printed no address")
    host, _, port = line.rpartition(":")
    return process, host, int(port)


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


@pytest.fixture(scope="session")
def sim_7dtd_binary() -> str:
    return simulator("gsm-sim-7dtd")


@pytest.fixture(scope="session")
def sim_rcon_binary() -> str:
    return simulator("gsm-sim-rcon")


@pytest.fixture
def sdtd_console(sim_7dtd_binary: str) -> Iterator[Tuple[str, int]]:
    """A 7DTD console with password ``secret`` whose script plays a step every 250 ms."""
    process, host, port = start(
        [sim_7dtd_binary, "--listen", "127.0.0.1:0", "--password", "secret", "--script-speed", "20"]
    )
    yield host, port
    stop(process)


@pytest.fixture
def rcon_console(sim_rcon_binary: str) -> Iterator[Tuple[str, int]]:
    """A Minecraft RCON console with password ``hunter2`` and two players online."""
    env = dict(os.environ, GSM_SIM_RCON_PASSWORD="hunter2")
    process, host, port = start(
        [sim_rcon_binary, "--listen", "127.0.0.1:0", "--players", "Alice,Bob"], env=env
    )
    yield host, port
    stop(process)
